"""Tests of hdrlab.methods.hybrid: part 1 (cleaning, alignment, log-HDR domain, checkerboard score) and part 2
(frozen MobileNetV3 encoder, hybrid autoencoder, L1 + LPIPS loss)."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from hdrlab import __main__ as cli
from hdrlab import io
from hdrlab.data import scenes
from hdrlab.errors import ChoiceError, DTypeError, MissingFileError, MissingWeightsError, RangeError, ShapeError
from hdrlab.imaging import camera
from hdrlab.methods.expandnet import ExpandNet
from hdrlab.methods.hybrid import (
    ABLATIONS,
    DIHEDRAL,
    DIHEDRAL_INVERSE,
    ENCODER_CHANNELS,
    ENCODER_PARAMETERS,
    ENCODER_STRIDES,
    MAX_HDR_VALUE,
    MOBILENET_V3_LARGE_URL,
    PROFILES,
    UPSAMPLERS,
    CleanedPairs,
    HybridAutoencoder,
    HybridLoss,
    LogStats,
    MobileNetEncoder,
    align_pair,
    alignment_display,
    best_constant,
    build_model,
    checkerboard_score,
    crop_to_stride,
    dihedral,
    evaluate,
    from_log_domain,
    held_out_pairs,
    keep_pair,
    ldr_to_input,
    load_trained,
    predict,
    project_log_psnr,
    reinhard_display,
    results_table,
    saturation_weight,
    settings_for,
    to_log_domain,
    train_hybrid,
    training_data,
    undo_dihedral,
    upsampler_table,
)
from hdrlab.metrics import psnr
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
    out = ldr_to_input(ldr, rescale=False)
    assert out.dtype == torch.float32 and torch.allclose(out, (ldr - mean) / std)
    zeros, ones = torch.zeros(3, 1, 1), torch.ones(3, 1, 1)
    low, high = ldr_to_input(zeros, rescale=False).flatten(), ldr_to_input(ones, rescale=False).flatten()
    assert torch.allclose(low, torch.tensor([-2.1179, -2.0357, -1.8044]), atol=1e-4)
    assert torch.allclose(high, torch.tensor([2.2489, 2.4286, 2.6400]), atol=1e-4)
    with pytest.raises(RangeError):
        ldr_to_input(ldr * 2)
    with pytest.raises(ShapeError):
        ldr_to_input(torch.rand(4, 8, 8))


def test_ldr_to_input_rescale_is_per_image_min_max_of_the_normalised_image() -> None:
    ldr = torch.rand(2, 3, 8, 8) * torch.tensor([0.5, 1.0]).view(2, 1, 1, 1)
    z = ldr_to_input(ldr, rescale=False)
    out = ldr_to_input(ldr)
    for image, normalised in zip(out, z):
        assert float(image.min()) == pytest.approx(-1.0) and float(image.max()) == pytest.approx(1.0)
        expected = 2 * (normalised - normalised.min()) / (normalised.max() - normalised.min()) - 1
        assert torch.allclose(image, expected, atol=1e-6)
    constant = ldr_to_input(torch.full((3, 4, 4), 0.3))  # one value per channel, but channels differ after ImageNet
    assert torch.isfinite(constant).all() and float(constant.min()) == -1.0
    grey = ldr_to_input(torch.tensor(IMAGENET_MEAN).view(3, 1, 1).expand(3, 4, 4))
    assert torch.equal(grey, -torch.ones(3, 4, 4))  # the ImageNet mean normalises to 0 everywhere: no span, -1


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


# ============================================================================= part 2: encoder, autoencoder, loss

TINY = 4  # decoder width for fast CPU tests


def _smooth_ldr(side: int = 64, batch: int = 1) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(float(side)), torch.arange(float(side)), indexing="ij")
    image = torch.stack([torch.sin(xx / 6), torch.cos(yy / 5), (xx - yy) / (2 * side)]) * 0.4 + 0.5
    return image.clamp(0, 1).expand(batch, 3, side, side).contiguous()


@functools.cache
def _lpips_loss(alpha: float | None = None) -> HybridLoss:
    return HybridLoss(alpha=alpha, pretrained=False)


# ----------------------------------------------------------------------------- encoder


def test_encoder_stages_match_torchvision_and_are_frozen() -> None:
    from torchvision.models import mobilenet_v3_large

    torch.manual_seed(0)
    encoder = MobileNetEncoder(pretrained=False)
    assert encoder.pretrained_backbone is False
    assert not any(p.requires_grad for p in encoder.parameters())
    reference = mobilenet_v3_large(weights=None).features.eval()
    reference.load_state_dict(encoder.features.state_dict())
    assert sum(p.numel() for p in reference.parameters()) == ENCODER_PARAMETERS == 2_971_952
    x = ldr_to_input(_smooth_ldr(64, batch=2))
    feats = encoder(x)
    assert [tuple(f.shape) for f in feats] == [(2, c, 64 // s, 64 // s) for c, s in zip(ENCODER_CHANNELS, ENCODER_STRIDES)]
    with torch.no_grad():  # the same maps as running torchvision's stack by hand
        y, expected = x, {}
        for index, layer in enumerate(reference):
            y = layer(y)
            expected[index] = y
    for feat, index in zip(feats, (1, 3, 6, 12, 16)):
        assert torch.allclose(feat, expected[index], atol=1e-5)
    encoder.train()
    assert encoder.training and not any(m.training for m in encoder.features.modules())
    with pytest.raises(ShapeError):
        encoder(torch.rand(3, 64, 64))


def test_encoder_url_is_torchvisions() -> None:
    from torchvision.models import MobileNet_V3_Large_Weights

    assert MOBILENET_V3_LARGE_URL == MobileNet_V3_Large_Weights.IMAGENET1K_V1.url
    assert MOBILENET_V3_LARGE_URL.endswith("/mobilenet_v3_large-8738ca79.pth")


def test_encoder_pretrained_offline(offline_hub, capsys) -> None:
    with pytest.raises(MissingWeightsError, match="mobilenet_v3_large-8738ca79.pth"):
        MobileNetEncoder(pretrained=True)
    with pytest.raises(MissingWeightsError):
        HybridAutoencoder(width=TINY, pretrained=True)
    capsys.readouterr()
    model = HybridAutoencoder(width=TINY, pretrained="auto")
    assert model.pretrained_backbone is False and model.encoder.pretrained_backbone is False
    assert "RANDOM" in capsys.readouterr().out
    with pytest.raises(ChoiceError):
        MobileNetEncoder(pretrained="yes")


@pytest.mark.parametrize("drop_counters", [False, True])
def test_encoder_loads_cached_torchvision_file(offline_hub, drop_counters: bool) -> None:
    from torchvision.models import mobilenet_v3_large

    torch.manual_seed(1)
    state = mobilenet_v3_large(weights=None).state_dict()  # torchvision's layout: features.*, classifier.*
    if drop_counters:  # older checkpoints have no BatchNorm num_batches_tracked
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    offline_hub.mkdir(parents=True)
    torch.save(state, offline_hub / "mobilenet_v3_large-8738ca79.pth")
    torch.manual_seed(2)
    encoder = MobileNetEncoder(pretrained=True)
    assert encoder.pretrained_backbone is True
    assert torch.equal(encoder.features[16][0].weight, state["features.16.0.weight"])
    assert torch.equal(encoder.features[4].block[0][1].running_var, state["features.4.block.0.1.running_var"])
    assert not any(p.requires_grad for p in encoder.parameters())


# ----------------------------------------------------------------------------- autoencoder


@pytest.mark.parametrize("upsampler", UPSAMPLERS)
def test_autoencoder_shapes_and_range(upsampler: str) -> None:
    torch.manual_seed(0)
    model = HybridAutoencoder(upsampler, width=TINY, pretrained=False)
    for shape in ((2, 3, 64, 64), (3, 32, 96), (1, 2, 3, 64, 32)):
        out = model(torch.rand(shape))
        assert out.shape == shape and out.dtype == torch.float32
        assert torch.isfinite(out).all() and out.abs().max() < 1
    assert model.upsampler == upsampler
    assert all(level.up.mode == upsampler for level in model.levels) and model.final_up.mode == upsampler


def test_autoencoder_validates() -> None:
    model = HybridAutoencoder(width=TINY, pretrained=False)
    for shape in ((1, 3, 48, 64), (1, 3, 64, 40), (1, 3, 32, 32)):
        with pytest.raises(ShapeError):
            model(torch.rand(shape))
    with pytest.raises(RangeError):
        model(torch.rand(1, 3, 64, 64) + 1)  # the input is an LDR in [0, 1]
    with pytest.raises(DTypeError):
        model(torch.rand(1, 3, 64, 64).double().to(torch.uint8))
    with pytest.raises(ChoiceError):
        HybridAutoencoder("bilinear", width=TINY, pretrained=False)
    with pytest.raises((DTypeError, RangeError)):
        HybridAutoencoder(width=0, pretrained=False)


def _expected_trainable(width: int, upsampler: str) -> int:
    """Hand count: conv weights + biases, InstanceNorm affine (2 per channel; its conv has no bias)."""

    def up(cin: int, cout: int) -> int:
        if upsampler == "transposed":
            return cin * cout * 2 * 2 + cout
        if upsampler == "resize_conv":
            return cin * cout * 3 * 3 + cout
        return cin * (4 * cout) * 3 * 3 + 4 * cout  # both pixel shuffles

    def conv_in(cin: int, cout: int, k: int) -> int:
        return cin * cout * k * k + 2 * cout

    c = [8 * width, 4 * width, 2 * width, width, width, width]
    total = conv_in(960, c[0], 1)
    for i, skip in enumerate((112, 40, 24, 16)):
        total += up(c[i], c[i + 1]) + conv_in(c[i + 1] + skip, c[i + 1], 3)
    return total + up(c[4], c[5]) + c[5] * 3 * 3 * 3 + 3


@pytest.mark.parametrize(("upsampler", "full", "quick"), [
    ("pixel_shuffle", 2_237_155, 217_147), ("pixel_shuffle_icnr", 2_237_155, 217_147),
    ("resize_conv", 1_019_779, 140_899), ("transposed", 794_499, 126_819),
])
def test_autoencoder_parameter_counts(upsampler: str, full: int, quick: int) -> None:
    for width, documented in ((32, full), (8, quick), (TINY, None)):
        model = HybridAutoencoder(upsampler, width=width, pretrained=False)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        assert trainable == _expected_trainable(width, upsampler)
        assert documented is None or trainable == documented
        assert frozen == 2_971_952
        assert not any(p.requires_grad for p in model.encoder.parameters())


def test_one_training_step_changes_only_the_decoder() -> None:
    torch.manual_seed(0)
    model = HybridAutoencoder(width=TINY, pretrained=False)
    model.train()
    assert not any(m.training for m in model.encoder.features.modules())
    assert model.levels[0].fuse.norm.training  # the decoder does train
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    ldr = _smooth_ldr(64, batch=2)
    target, _ = to_log_domain(4 * ldr**2.2)
    terms = HybridLoss(lpips_weight=0.0, pretrained=False)(model(ldr), target)
    optimizer.zero_grad()
    terms["loss"].backward()
    optimizer.step()
    after = model.state_dict()
    encoder_keys = [k for k in before if k.startswith("encoder.")]
    assert any("running_mean" in k for k in encoder_keys) and any("running_var" in k for k in encoder_keys)
    assert all(torch.equal(before[k], after[k]) for k in encoder_keys)  # weights, running stats, counters
    assert all(p.grad is None for p in model.encoder.parameters())
    decoder_keys = [k for k in before if not k.startswith("encoder.")]
    changed = [k for k in decoder_keys if not torch.equal(before[k], after[k])]
    assert set(changed) == {k for k, p in model.named_parameters() if p.requires_grad}


# ----------------------------------------------------------------------------- ICNR and the checkerboard


def test_icnr_upsampler_is_nearest_neighbour_at_init() -> None:
    from hdrlab.nn.blocks import Upsample2x

    x = _smooth_ldr(32) * 2 - 1
    torch.manual_seed(0)
    icnr, plain = Upsample2x(3, 3, "pixel_shuffle_icnr"), Upsample2x(3, 3, "pixel_shuffle")
    with torch.no_grad():
        out_icnr, out_plain = icnr(x), plain(x)

    def nearest(y: torch.Tensor) -> torch.Tensor:
        return F.interpolate(y[..., ::2, ::2], scale_factor=2, mode="nearest")

    assert torch.equal(out_icnr, nearest(out_icnr))
    assert not torch.allclose(out_plain, nearest(out_plain), atol=1e-3)
    assert checkerboard_score(out_icnr) < 0.05 < 0.1 < checkerboard_score(out_plain)


def test_icnr_autoencoder_has_less_checkerboard_at_init() -> None:
    ldr = _smooth_ldr(64)
    scores = {}
    for upsampler in ("pixel_shuffle_icnr", "pixel_shuffle"):
        torch.manual_seed(0)
        with torch.no_grad():
            scores[upsampler] = checkerboard_score(HybridAutoencoder(upsampler, width=8, pretrained=False)(ldr))
    assert scores["pixel_shuffle_icnr"] < 0.02 and scores["pixel_shuffle"] > 0.1, scores


# ----------------------------------------------------------------------------- loss


def test_saturation_weight() -> None:
    ldr = torch.tensor([0.0, 0.95, 0.97, 1.0]).view(1, 1, 4).expand(3, 1, 4).clone()
    ldr[1, 0, 0] = 0.99  # max over channels
    assert saturation_weight(ldr, 2.0).flatten().tolist() == pytest.approx([2.6, 1.0, 1.8, 3.0])
    assert saturation_weight(ldr, 0.0).eq(1).all()
    with pytest.raises(RangeError):
        saturation_weight(ldr, -1.0)
    with pytest.raises(RangeError):
        saturation_weight(ldr + 0.5, 1.0)


def test_loss_known_values() -> None:
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    pred = (target + 0.25 * torch.randn(2, 3, 32, 32, generator=gen)).clamp(-1, 1)
    loss = _lpips_loss()
    same = loss(target, target)
    assert float(same["l1"]) == 0.0 and float(same["lpips"]) == pytest.approx(0.0, abs=1e-7)
    assert float(same["loss"]) == pytest.approx(0.0, abs=1e-6)
    terms = loss(pred, target)
    l1 = (pred - target).abs().mean()
    assert torch.allclose(terms["l1"], l1, rtol=0, atol=0)
    expected_lpips = loss.lpips((pred + 1) / 2, (target + 1) / 2).mean()
    assert float(terms["lpips"]) == pytest.approx(float(expected_lpips), rel=1e-6) and float(terms["lpips"]) > 0
    assert float(terms["loss"]) == pytest.approx(2.0 * float(l1) + 3.0 * float(expected_lpips), rel=1e-6)
    assert set(terms) == {"loss", "l1", "lpips"} and not terms["l1"].requires_grad
    assert loss.lpips.net == "vgg" and loss.pretrained_backbone is False
    # the saturation weight: pixels of a saturated LDR weigh 1 + alpha in L1
    ldr = torch.rand(2, 3, 32, 32, generator=gen) * 0.9
    ldr[..., :16, :] = 1.0
    weighted_loss = _lpips_loss(4.0)
    weighted = weighted_loss(pred, target, ldr)
    w = torch.ones(2, 1, 32, 32)
    w[..., :16, :] = 5.0
    assert float(weighted["l1"]) == pytest.approx(float((w * (pred - target).abs()).mean()), rel=1e-6)
    unweighted_lpips = weighted_loss.lpips((pred + 1) / 2, (target + 1) / 2).mean()  # alpha leaves LPIPS alone
    assert float(weighted["lpips"]) == pytest.approx(float(unweighted_lpips), rel=1e-6)
    only_l1 = HybridLoss(l1_weight=1.5, lpips_weight=0.0, pretrained=False)
    assert only_l1.lpips is None and float(only_l1(pred, target)["loss"]) == pytest.approx(1.5 * float(l1))


def test_loss_validates() -> None:
    loss = HybridLoss(alpha=1.0, lpips_weight=0.0, pretrained=False)
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(DTypeError):
        loss(x, x)  # alpha needs the LDR
    with pytest.raises(ShapeError):
        loss(x, x, torch.zeros(1, 3, 16, 16))
    with pytest.raises(RangeError):
        loss(x + 1.5, x, x)
    with pytest.raises(ShapeError):
        loss(x, torch.zeros(1, 3, 32, 16), x)
    with pytest.raises(RangeError):
        HybridLoss(alpha=-1.0, pretrained=False)
    with pytest.raises(DTypeError):
        HybridLoss(l1_weight="2", pretrained=False)


def test_loss_pretrained_offline(offline_hub) -> None:
    with pytest.raises(MissingWeightsError):
        HybridLoss(pretrained=True)


def test_loss_gradient_reaches_the_decoder() -> None:
    torch.manual_seed(0)
    model = HybridAutoencoder(width=TINY, pretrained=False).train()
    ldr = _smooth_ldr(64)
    target, _ = to_log_domain(8 * ldr**2.2)
    terms = _lpips_loss(2.0)(model(ldr), target, ldr)
    assert terms["loss"].requires_grad and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert float(model.head[1].weight.grad.abs().sum()) > 0 and float(model.bottleneck.conv.weight.grad.abs().sum()) > 0
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is None for p in _lpips_loss(2.0).parameters())


# ----------------------------------------------------------------------------- part 3: data, training, evaluation


def test_crop_to_stride() -> None:
    image = torch.arange(100 * 70, dtype=torch.float32).view(1, 100, 70).expand(3, 100, 70)
    crop = crop_to_stride(image)
    assert crop.shape == (3, 96, 64) and torch.equal(crop, image[:, 2:98, 3:67])
    assert crop_to_stride(image, 10).shape == (3, 100, 70)
    with pytest.raises(ShapeError):
        crop_to_stride(torch.zeros(3, 31, 64))
    with pytest.raises(RangeError):
        crop_to_stride(image, 0)


def _write_pair_folder(root, pairs: dict) -> None:
    (root / "LDR_in").mkdir(parents=True)
    (root / "HDR_gt").mkdir()
    for name, (ldr, hdr) in pairs.items():
        io.write_ldr(root / "LDR_in" / f"{name}.png", ldr)
        io.write_hdr(root / "HDR_gt" / f"{name}.hdr", hdr)


def test_cleaned_pairs_drop_bright_pairs_and_undo_flips(tmp_path) -> None:
    ldr, hdr = _pair("room_windows", square=False)  # (3, 64, 96)
    ldr_sq, hdr_sq = _pair("room_windows")
    _write_pair_folder(tmp_path, {
        "a_rotated": (ldr, dihedral(hdr, 1)),  # non-square: the HDR is stored transposed
        "b_flipped": (ldr_sq, dihedral(hdr_sq, 4)),
        "c_too_bright": (ldr_sq, hdr_sq * (MAX_HDR_VALUE * 2 / float(hdr_sq.max()))),
    })
    data = CleanedPairs(tmp_path, size=32, seed=3)
    assert len(data) == 2 and data.dropped == ["c_too_bright"]
    stored = {name: io.read_hdr(tmp_path / "HDR_gt" / f"{name}.hdr") for name in ("a_rotated", "b_flipped")}
    # rot90 is undone by rot270 (k = 3); the flip is its own inverse
    for index, (name, k) in enumerate((("a_rotated", 3), ("b_flipped", 4))):
        item = data[index]
        assert item["scene"] == name and int(item["transform"]) == k
        assert item["ldr"].shape == item["hdr"].shape == (3, 32, 32)
        aligned = dihedral(stored[name], k)
        # the crop of the aligned HDR sits where the LDR crop sits: find it by exact match of the LDR crop
        full_ldr = io.read_ldr(tmp_path / "LDR_in" / f"{name}.png")
        hits = [(y, x) for y in range(full_ldr.shape[1] - 31) for x in range(full_ldr.shape[2] - 31)
                if torch.equal(full_ldr[:, y:y + 32, x:x + 32], item["ldr"])]
        assert any(torch.equal(aligned[:, y:y + 32, x:x + 32], item["hdr"]) for y, x in hits)
    assert torch.equal(data[1]["ldr"], CleanedPairs(tmp_path, size=32, seed=3)[1]["ldr"])  # deterministic in (seed, i)
    assert data[-1]["scene"] == "b_flipped"
    with pytest.raises(IndexError):
        data[2]
    with pytest.raises(ShapeError, match="Lower size"):
        CleanedPairs(tmp_path, size=96)[0]
    assert CleanedPairs(tmp_path, size=32, max_side=48)[0]["ldr"].shape == (3, 32, 32)


def test_cleaned_pairs_downsampled_white_ldr_stays_in_range(tmp_path) -> None:
    white = torch.ones(3, 64, 91)  # area averages round above 1 at 64 x 91 -> 45 x 64 (see tests/test_scenes.py)
    _write_pair_folder(tmp_path, {"white": (white, white * 8)})
    item = CleanedPairs(tmp_path, size=32, max_side=64)[0]
    assert float(item["ldr"].max()) == 1.0 and float(item["hdr"].max()) > 1


def test_cleaned_pairs_errors(tmp_path) -> None:
    with pytest.raises(MissingFileError):
        CleanedPairs(tmp_path / "missing", size=32)
    ldr, hdr = _pair("room_windows")
    _write_pair_folder(tmp_path, {"bright": (ldr, hdr * (MAX_HDR_VALUE * 2 / float(hdr.max())))})
    with pytest.raises(MissingFileError, match="all 1 dropped"):
        CleanedPairs(tmp_path, size=32)
    with pytest.raises(RangeError):
        CleanedPairs(tmp_path, size=16)


def test_held_out_pairs_are_multiples_of_32() -> None:
    pairs = held_out_pairs(96, evs=(0.0,), crfs=("srgb",))
    assert len(pairs) == 4
    for pair in pairs:
        assert pair["ldr"].shape == pair["hdr"].shape
        assert all(side % 32 == 0 for side in pair["ldr"].shape[-2:])


def test_settings_profiles_and_ablations() -> None:
    full = settings_for("full")
    assert (full.upsampler, full.lr, full.betas, full.batch_size, full.epochs, full.size) == (
        "pixel_shuffle", 9e-4, (0.5, 0.999), 16, 100, 512)
    assert (full.l1_weight, full.lpips_weight, full.width) == (2.0, 3.0, 32)
    assert set(ABLATIONS) == {*UPSAMPLERS, "code_loss_weights"}
    assert {name: settings_for("quick", name).upsampler for name in UPSAMPLERS} == {n: n for n in UPSAMPLERS}
    for profile in PROFILES:  # the code's weighting swaps the poster's 2 L1 + 3 LPIPS and changes nothing else
        poster, code = settings_for(profile), settings_for(profile, "code_loss_weights")
        assert (poster.l1_weight, poster.lpips_weight, code.l1_weight, code.lpips_weight) == (2.0, 3.0, 3.0, 2.0)
        assert replace(code, l1_weight=2.0, lpips_weight=3.0) == poster
    for bad in ("bilinear", ["resize_conv"]):
        with pytest.raises(ChoiceError, match="ablation None or one of"):
            settings_for("quick", bad)
    quick = settings_for("quick")
    assert build_model(quick, pretrained=False).width == quick.width


@pytest.mark.parametrize("profile", ["quick", "gpu", "full"])
def test_profiles_embedded_crops_fit_every_training_scene(profile: str) -> None:
    settings = settings_for(profile)
    data = training_data(settings)  # raises ShapeError when a scene is smaller than the crop
    assert data[0]["ldr"].shape == (3, settings.embedded_size, settings.embedded_size)
    assert settings.size % 32 == 0 and settings.embedded_size % 32 == 0


@pytest.fixture
def small_quick(monkeypatch):
    """The quick profile evaluated on one curve, one EV and 64 px scenes (fast)."""
    quick = replace(PROFILES["quick"], eval_max_side=64, eval_evs=(0.0,), eval_crfs=("srgb",))
    monkeypatch.setitem(PROFILES, "quick", quick)
    return quick


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_train_resume_and_load(tmp_path, small_quick) -> None:
    model, result = train_hybrid(tmp_path / "a", "quick", steps=3, progress="none", pretrained=False, device="cpu")
    assert result.step == 3 and result.last_eval["psnr_log/hybrid"] > 0
    record = json.loads((tmp_path / "a" / "settings.json").read_text())
    assert record["steps"] == 3 and record["imagenet_encoder"] is False and record["ablation"] is None
    train_hybrid(tmp_path / "b", "quick", steps=2, progress="none", pretrained=False, device="cpu")
    resumed, _ = train_hybrid(tmp_path / "b", "quick", steps=3, resume=True, progress="none", pretrained=False,
                              device="cpu")
    straight, resumed_weights = _weights(model), _weights(resumed)
    assert straight.keys() == resumed_weights.keys()
    assert all(torch.equal(straight[k], resumed_weights[k]) for k in straight)
    loaded = load_trained(tmp_path / "a")
    assert all(torch.equal(straight[k], v) for k, v in loaded.state_dict().items())
    ldr = torch.rand(1, 3, 64, 64)
    assert torch.equal(predict(loaded, ldr), predict(model, ldr))
    with pytest.raises(MissingFileError, match="train hybrid"):
        load_trained(tmp_path / "none")


def test_train_with_ablation_and_data_root(tmp_path, small_quick) -> None:
    ldr, hdr = _pair("room_windows")  # 64 x 64, the quick crop size; a batch needs 4 pairs
    _write_pair_folder(tmp_path / "real", {f"p{k}": (ldr, dihedral(hdr, k)) for k in range(4)})
    model, result = train_hybrid(tmp_path / "run", "quick", steps=1, progress="none", pretrained=False,
                                 device="cpu", ablation="resize_conv", data_root=tmp_path / "real")
    assert model.upsampler == "resize_conv" and result.step == 1
    record = json.loads((tmp_path / "run" / "settings.json").read_text())
    assert record["data_root"] == str(tmp_path / "real") and record["upsampler"] == "resize_conv"
    data = training_data(small_quick, tmp_path / "real")
    assert isinstance(data, CleanedPairs) and [int(data[i]["transform"]) for i in range(4)] == [0, 3, 2, 1]


def test_train_with_the_codes_loss_weights(tmp_path, small_quick) -> None:
    _, result = train_hybrid(tmp_path / "code", "quick", steps=1, progress="none", pretrained=False, device="cpu",
                             ablation="code_loss_weights")
    record = json.loads((tmp_path / "code" / "settings.json").read_text())
    assert (record["l1_weight"], record["lpips_weight"], record["upsampler"]) == (3.0, 2.0, "pixel_shuffle")
    step = next(row for row in result.history if row["phase"] == "train")
    assert step["lpips"] > 0 and step["l1"] > 0
    # the code's 3 L1 + 2 LPIPS, not the poster's 2 L1 + 3 LPIPS
    assert step["loss"] == pytest.approx(3 * step["l1"] + 2 * step["lpips"], rel=1e-5)


def test_evaluate_rows_and_tables(small_quick) -> None:
    pairs = held_out_pairs(64, evs=(0.0,), crfs=("srgb",))
    net = ExpandNet(width=4)
    scores = evaluate(HybridAutoencoder("resize_conv", width=4, pretrained=False), pairs, expandnet_model=net,
                      constant=-0.5)
    for method in ("hybrid", "ldr", "ldr_gamma", "expandnet"):
        for metric in ("psnr_log", "psnr_log_project", "ssim_log", "l1_log", "psnr_tm", "ssim_tm"):
            assert math.isfinite(scores[f"{metric}/{method}"])
    for method in ("constant", "target_mean"):  # input-free: log-domain scores only
        assert math.isfinite(scores[f"psnr_log/{method}"]) and f"psnr_tm/{method}" not in scores
    # the project's PSNR is on [-1, 1] with peak 1: 20 log10(2) below ours, image by image
    assert scores["psnr_log_project/ldr"] == pytest.approx(scores["psnr_log/ldr"] - 20 * math.log10(2), abs=1e-4)
    assert 0 <= scores["checkerboard/hybrid"] <= 1 and scores["checkerboard/target"] < 0.05
    # the LDR row is to_log_domain of the LDR itself: check one pair by hand
    pair = pairs[0]
    target, _ = to_log_domain(pair["hdr"])
    one = evaluate(HybridAutoencoder(width=4, pretrained=False), pairs[:1])
    assert one["l1_log/ldr"] == pytest.approx(float((to_log_domain(pair["ldr"])[0] - target).abs().mean()), rel=1e-6)
    gamma = to_log_domain(pair["ldr"] ** 2.2)[0]
    assert one["l1_log/ldr_gamma"] == pytest.approx(float((gamma - target).abs().mean()), rel=1e-6)
    text = results_table(scores)
    assert "project (paper: SingleHDR real pairs, validation)" in text and "14.06" in text and "expandnet" in text
    assert "log PSNR (project's def.)" in text and "target_mean" in text
    assert "resize_conv" in upsampler_table({"resize_conv": scores})


def test_project_log_psnr_by_hand() -> None:
    # x = 0 against a target of 0.5 everywhere: MSE 0.25 on [-1, 1], 10 log10(1 / 0.25) = 6.0206 dB;
    # on (x + 1) / 2 the MSE is 0.0625 and the PSNR 12.0412 dB
    x, target = torch.zeros(3, 4, 4), torch.full((3, 4, 4), 0.5)
    assert project_log_psnr(x, target) == pytest.approx(6.0206, abs=1e-4)
    assert float(psnr((x + 1) / 2, (target + 1) / 2)) == pytest.approx(12.0412, abs=1e-4)


def test_best_constant_is_the_mean_of_the_log_targets_and_is_checked() -> None:
    pairs = held_out_pairs(64, evs=(0.0,), crfs=("srgb",), split="val")
    targets = torch.cat([to_log_domain(pair["hdr"])[0].flatten() for pair in pairs])
    assert best_constant(pairs) == pytest.approx(float(targets.double().mean()), abs=1e-9)
    with pytest.raises(RangeError, match="constant as a number in"):
        evaluate(HybridAutoencoder(width=4, pretrained=False), pairs[:1], constant=2.0)


def test_cli_trains_hybrid(tmp_path, small_quick, offline_hub, capsys) -> None:
    assert cli.main(["train", "hybrid", "--profile", "quick", "--out", str(tmp_path / "a"), "--steps", "1",
                     "--device", "cpu", "--ablation", "transposed"]) == 0
    out = capsys.readouterr()
    assert "hybrid: 1 steps" in out.out and "RANDOM" in out.out + out.err
    assert json.loads((tmp_path / "a" / "settings.json").read_text())["upsampler"] == "transposed"
    assert cli.main(["train", "hybrid", "--out", str(tmp_path / "b"), "--ablation", "bilinear"]) == 2
    assert "'bilinear' is not a variant of hybrid" in capsys.readouterr().err
