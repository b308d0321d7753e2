"""Tests of hdrlab.methods.hybrid, part 1: cleaning, alignment, the log-HDR domain and the checkerboard score."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from hdrlab.data import scenes
from hdrlab.errors import ChoiceError, DTypeError, RangeError, ShapeError
from hdrlab.imaging import camera
from hdrlab.methods.hybrid import (
    DIHEDRAL,
    DIHEDRAL_INVERSE,
    MAX_HDR_VALUE,
    LogStats,
    align_pair,
    alignment_display,
    checkerboard_score,
    dihedral,
    from_log_domain,
    keep_pair,
    ldr_to_input,
    reinhard_display,
    to_log_domain,
    undo_dihedral,
)
from hdrlab.nn.features import IMAGENET_MEAN, IMAGENET_STD


@functools.lru_cache(maxsize=None)
def _pair(name: str, square: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """A real scene as (LDR, HDR): radiance scaled to EV 0 of an auto-exposed shot, LDR an 8-bit sRGB photo of it."""
    radiance = scenes.load_scene(name, max_side=96)
    if square:
        side = min(radiance.shape[-2:])
        radiance = scenes.center_crop(radiance, (side, side)).contiguous()
    hdr = radiance * float(camera.auto_exposure(radiance))
    return camera.expose(hdr, 1.0, "srgb"), hdr


def _checker(height: int, width: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return (-1.0) ** (yy + xx)


# ----------------------------------------------------------------------------- data cleaning


def test_keep_pair_threshold() -> None:
    assert MAX_HDR_VALUE == 4096.0
    hdr = torch.rand(2, 3, 8, 8)
    assert keep_pair(hdr)
    hdr[1, 0, 3, 3] = MAX_HDR_VALUE
    assert keep_pair(hdr)  # the limit itself is kept
    hdr[1, 0, 3, 3] = MAX_HDR_VALUE * 1.001
    assert not keep_pair(hdr)


def test_keep_pair_validates() -> None:
    with pytest.raises(RangeError):
        keep_pair(-torch.ones(3, 4, 4))
    with pytest.raises(RangeError):
        keep_pair(torch.full((3, 4, 4), float("nan")))
    with pytest.raises(DTypeError):
        keep_pair(torch.ones(3, 4, 4, dtype=torch.int32))
    with pytest.raises(ShapeError):
        keep_pair(torch.ones(4, 4, 4))


# ----------------------------------------------------------------------------- the dihedral group


def test_dihedral_group_and_exact_inverses() -> None:
    x = torch.rand(2, 3, 6, 6)
    outs = [dihedral(x, k) for k in range(8)]
    assert len(DIHEDRAL) == 8 == len({tuple(o.flatten().tolist()) for o in outs})  # 8 distinct transforms
    assert torch.equal(outs[0], x)
    assert torch.equal(outs[1], torch.rot90(x, 1, dims=(-2, -1)))
    assert torch.equal(outs[4], torch.flip(x, dims=(-1,)))
    for k in range(8):
        assert torch.equal(undo_dihedral(outs[k], k), x)
        assert torch.equal(dihedral(outs[k], DIHEDRAL_INVERSE[k]), x)


def test_dihedral_non_square_shapes() -> None:
    x = torch.rand(3, 5, 7)
    for k in range(8):
        y = dihedral(x, k)
        assert y.shape == ((3, 7, 5) if k % 2 else (3, 5, 7))
        assert torch.equal(undo_dihedral(y, k), x)
    mask = torch.rand(4, 9) > 0.5  # any dtype, any leading dims
    assert torch.equal(undo_dihedral(dihedral(mask, 7), 7), mask)


def test_dihedral_validates() -> None:
    x = torch.rand(3, 4, 4)
    with pytest.raises(ChoiceError):
        dihedral(x, 8)
    with pytest.raises(ChoiceError):
        undo_dihedral(x, -1)
    with pytest.raises(DTypeError):
        dihedral(x, 1.0)  # type: ignore[arg-type]
    with pytest.raises(DTypeError):
        dihedral(x.numpy(), 1)  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        dihedral(torch.rand(4), 1)


# ----------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("name", ["room_windows", "pmndrs_apartment", "blender_forest", "pmndrs_sky"])
def test_align_pair_restores_all_eight_transforms(name: str) -> None:
    ldr, hdr = _pair(name)
    assert ldr.shape[-1] == ldr.shape[-2] >= 48
    for j in range(8):
        aligned, k = align_pair(ldr, dihedral(hdr, j))
        assert k == DIHEDRAL_INVERSE[j], (name, j, k)
        assert torch.equal(aligned, hdr)


def test_align_pair_non_square_skips_shape_changing_transforms() -> None:
    ldr, hdr = _pair("room_windows", square=False)
    assert ldr.shape[-2] != ldr.shape[-1]
    aligned, k = align_pair(ldr, dihedral(hdr, 1))  # transposed shape: only odd k apply
    assert k == 3 and torch.equal(aligned, hdr)
    aligned, k = align_pair(ldr, dihedral(hdr, 4))  # same shape: only even k apply
    assert k == 4 and torch.equal(aligned, hdr)
    with pytest.raises(ShapeError):
        align_pair(ldr, hdr[:, :-2])  # no transform matches the LDR's shape


def test_align_pair_is_scale_free() -> None:
    ldr, hdr = _pair("pmndrs_apartment")
    for scale in (1e-3, 1.0, 1e3):
        assert align_pair(ldr, dihedral(hdr * scale, 6), patch=32)[1] == 6
    assert torch.allclose(alignment_display(hdr), alignment_display(hdr * 1e3), atol=1e-6)


def test_align_pair_validates() -> None:
    ldr, hdr = _pair("room_windows")
    with pytest.raises(ShapeError):
        align_pair(ldr[:, :10, :10], hdr[:, :10, :10])  # below SSIM's 11-px window
    with pytest.raises(RangeError):
        align_pair(ldr, hdr, patch=8)
    with pytest.raises(DTypeError):
        align_pair(ldr, hdr, patch=32.0)  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        align_pair(ldr[None], hdr[None])  # one pair at a time
    with pytest.raises(RangeError):
        align_pair(hdr, hdr)  # an HDR passed as the LDR
    with pytest.raises(RangeError):
        align_pair(ldr, -hdr)
    with pytest.raises(RangeError):
        alignment_display(torch.zeros(3, 16, 16))  # all black: no scale to divide by


# ----------------------------------------------------------------------------- the log-HDR domain


def test_log_domain_round_trip_and_range() -> None:
    gen = torch.Generator().manual_seed(0)
    hdr = torch.exp(torch.empty(4, 3, 32, 32).uniform_(math.log(1e-4), math.log(MAX_HDR_VALUE), generator=gen))
    hdr[0, 0, 0, 0] = 0.0
    x, stats = to_log_domain(hdr)
    assert x.dtype == torch.float32 and x.shape == hdr.shape
    assert stats.low.shape == stats.high.shape == (4, 1, 1, 1)
    assert torch.equal(x.amin(dim=(1, 2, 3)), -torch.ones(4)) and torch.equal(x.amax(dim=(1, 2, 3)), torch.ones(4))
    back = from_log_domain(x, stats)
    assert back.dtype == torch.float32 and (back >= 0).all()
    assert torch.allclose(back, hdr, rtol=1e-5, atol=1e-6)
    assert torch.allclose(from_log_domain(*to_log_domain(hdr[1])), hdr[1], rtol=1e-5, atol=1e-6)  # unbatched


def test_log_domain_constant_images_have_no_nan() -> None:
    for value in (0.0, 1.0, 37.5):
        hdr = torch.full((3, 8, 8), value)
        x, stats = to_log_domain(hdr)
        assert torch.isfinite(x).all() and torch.equal(x, -torch.ones_like(x))
        assert float(stats.high - stats.low) == 0.0
        assert torch.allclose(from_log_domain(x, stats), hdr, rtol=1e-6)
    mixed = torch.stack([torch.full((3, 4, 4), 2.0), torch.rand(3, 4, 4)])  # one constant image in a batch
    x, stats = to_log_domain(mixed)
    assert torch.isfinite(x).all() and torch.allclose(from_log_domain(x, stats), mixed, rtol=1e-5, atol=1e-6)


def test_log_domain_given_stats() -> None:
    fixed = LogStats(torch.tensor(0.0, dtype=torch.float64), torch.tensor(math.log1p(MAX_HDR_VALUE)))
    hdr = torch.rand(2, 3, 8, 8) * 100
    x, stats = to_log_domain(hdr, fixed)
    assert stats.high.dtype == torch.float64
    assert float(x.max()) == pytest.approx(2 * math.log1p(float(hdr.max())) / math.log1p(MAX_HDR_VALUE) - 1, abs=1e-6)
    assert torch.allclose(from_log_domain(x, stats), hdr, rtol=1e-5, atol=1e-6)
    with pytest.raises(RangeError):
        to_log_domain(hdr * 100, fixed)  # 10 000 is outside the stats
    with pytest.raises(RangeError):
        to_log_domain(hdr, LogStats(torch.tensor(2.0), torch.tensor(1.0)))  # low > high
    with pytest.raises(DTypeError):
        to_log_domain(hdr, (0.0, 1.0))  # type: ignore[arg-type]


def test_from_log_domain_validates_and_differentiates() -> None:
    x, stats = to_log_domain(torch.rand(3, 8, 8) * 10)
    with pytest.raises(RangeError):
        from_log_domain(x * 1.5, stats)  # outside [-1, 1]
    with pytest.raises(RangeError):
        from_log_domain(torch.full_like(x, float("nan")), stats)
    with pytest.raises(ShapeError):
        from_log_domain(x[:2], stats)
    with pytest.raises(RangeError):
        to_log_domain(-torch.ones(3, 4, 4))
    pred = (x * 0.9).requires_grad_()
    from_log_domain(pred, stats).sum().backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and (pred.grad > 0).all()


def test_ldr_to_input_is_imagenet_normalisation() -> None:
    ldr = torch.rand(2, 3, 8, 8)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    out = ldr_to_input(ldr)
    assert out.dtype == torch.float32 and torch.allclose(out, (ldr - mean) / std)
    low, high = ldr_to_input(torch.zeros(3, 1, 1)).flatten(), ldr_to_input(torch.ones(3, 1, 1)).flatten()
    assert torch.allclose(low, torch.tensor([-2.1179, -2.0357, -1.8044]), atol=1e-4)
    assert torch.allclose(high, torch.tensor([2.2489, 2.4286, 2.6400]), atol=1e-4)
    with pytest.raises(RangeError):
        ldr_to_input(ldr * 2)
    with pytest.raises(ShapeError):
        ldr_to_input(torch.rand(4, 8, 8))


def test_reinhard_display() -> None:
    hdr = torch.tensor([0.0, 1.0, 1e6]).view(3, 1, 1)
    out = reinhard_display(hdr).flatten()
    assert out[0] == 0 and out[1] == 0.5 and 0.999 < out[2] < 1
    with pytest.raises(RangeError):
        reinhard_display(-hdr)


# ----------------------------------------------------------------------------- checkerboard score


def test_checkerboard_smooth_images_score_near_zero() -> None:
    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    smooth = torch.stack([torch.sin(xx / 6) + 2, torch.cos(yy / 9) + 2, (xx + yy) / 100])
    assert checkerboard_score(smooth) < 1e-3
    assert checkerboard_score(torch.full((3, 16, 16), 0.3)) == 0.0  # no residual at all: defined as 0
    assert checkerboard_score(xx.expand(3, 48, 64).contiguous()) == 0.0  # a ramp: the blur keeps it exactly
    ldr, _ = _pair("room_windows")
    assert checkerboard_score(ldr) < 0.01  # a real photo


def test_checkerboard_grows_with_amplitude() -> None:
    ldr, _ = _pair("room_windows")
    pattern = _checker(*ldr.shape[-2:])
    scores = [checkerboard_score(ldr + a * pattern) for a in (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.3)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] < 0.01 and scores[4] > 0.5 and scores[-1] > 0.95
    assert checkerboard_score(pattern.expand(3, -1, -1)) == pytest.approx(1.0)  # a pure pattern


def test_checkerboard_nearest_upsampling_with_subpixel_offsets() -> None:
    gen = torch.Generator().manual_seed(0)
    offsets = torch.tensor([[1.0, -0.6], [-0.4, 0.0]])  # one offset per position in each 2x2 block
    noise = torch.rand(3, 32, 32, generator=gen)
    smooth = F.interpolate(torch.rand(1, 3, 8, 8, generator=gen), size=(32, 32), mode="bilinear")[0]
    for low_res, amplitude, floor in ((noise, 0.3, 0.5), (smooth, 0.1, 0.8)):
        up = low_res.repeat_interleave(2, -1).repeat_interleave(2, -2)
        assert checkerboard_score(up) < 0.01  # nearest upsampling alone has no energy at the 2-px period
        assert checkerboard_score(up + amplitude * offsets.repeat(32, 32)) > floor


def test_checkerboard_scale_invariant_and_batched() -> None:
    ldr, _ = _pair("pmndrs_apartment")
    image = ldr + 0.02 * _checker(*ldr.shape[-2:])
    score = checkerboard_score(image)
    for scale in (1e-3, 7.0, 1e4):
        assert checkerboard_score(image * scale) == pytest.approx(score, rel=1e-5)  # float32 rounding of image * scale
    assert checkerboard_score(image + 5.0) == pytest.approx(score, rel=1e-5)  # offsets too
    assert checkerboard_score(image[:, :-1, :-3]) == pytest.approx(score, abs=0.1)  # odd sizes are cropped
    assert checkerboard_score(torch.stack([image, image])) == pytest.approx(score, rel=1e-9)


def test_checkerboard_validates() -> None:
    with pytest.raises(DTypeError):
        checkerboard_score(torch.ones(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(DTypeError):
        checkerboard_score([[0.0]])  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        checkerboard_score(torch.rand(8, 8))
    with pytest.raises(ShapeError):
        checkerboard_score(torch.rand(3, 3, 8))
    with pytest.raises(RangeError):
        checkerboard_score(torch.full((3, 8, 8), float("inf")))
