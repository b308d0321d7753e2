"""Tests of hdrlab.imaging.merge: Debevec-Malik radiance merge and Mertens exposure fusion."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hdrlab.errors import ChoiceError, DTypeError, ExposureError, RangeError, ShapeError
from hdrlab.imaging import merge as merge_module
from hdrlab.imaging.camera import simulate_brackets
from hdrlab.imaging.crf import get_response_curve
from hdrlab.imaging.merge import merge_debevec, mertens_fusion
from hdrlab.imaging.tonemap import luminance
from hdrlab.imaging.weights import WEIGHTS, weight_lut

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CURVES = ("srgb", "gamma2.2", "film-negative", "film-reversal", "digital-knee", "aces-filmic")
EVS = (-4.0, -2.0, 0.0, 2.0, 4.0)  # 5 exposures 2 EV apart


def scene(seed: int = 0, size: int = 64, batch: tuple[int, ...] = ()) -> torch.Tensor:
    """Smooth lognormal illumination x lognormal texture, tinted: ~18 stops, like a real HDR scene."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(math.prod(batch), 1, size // 8, size // 8, generator=g)
    light = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    light = light.reshape(*batch, 1, size, size)
    texture = 0.4 * torch.randn(*batch, 1, size, size, generator=g)
    tint = 0.2 * torch.randn(*batch, 3, 1, 1, generator=g)
    return torch.exp(2.0 * light + texture + tint)


def true_g(curve: str, bits: int = 8) -> tuple[torch.Tensor, float]:
    """The camera's own inverse response ``ln f^-1(z)``, anchored at the middle code, and that anchor's exposure.

    Code 0 (``ln 0 = -inf``) gets half of code 1's exposure: any finite value
    works, it has zero hat weight. Radiance from this ``g`` times the anchor is absolute.
    """
    lut = get_response_curve(curve).inverse_lut(bits).double()
    lut[0] = lut[1] / 2
    anchor = lut[2 ** (bits - 1)]
    return (lut / anchor).log().float().expand(3, -1).contiguous(), float(anchor)


def half_code_error(curve: str, bits: int = 8) -> torch.Tensor:
    """Per code, the largest ``|ln x - g(z)|`` of a linear exposure x that rounds to code z (NaN at code 0)."""
    top = 2**bits - 1
    inverse = get_response_curve(curve).inverse
    z = torch.arange(top + 1, dtype=torch.float64)
    x = inverse(z / top)
    above, below = inverse(((z + 0.5) / top).clamp(max=1)), inverse(((z - 0.5) / top).clamp(min=0))
    return torch.maximum((above / x).log(), (x / below).log())


def to_opencv(stack: torch.Tensor) -> list[np.ndarray]:
    """A quantised (N, 3, H, W) stack as OpenCV's list of uint8 BGR H x W x 3 frames."""
    frames = (stack * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()[..., ::-1]
    return [np.ascontiguousarray(frame) for frame in frames]


def from_opencv(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image[..., ::-1].copy()).permute(2, 0, 1)


def brackets(curve: str = "srgb", seed: int = 0, size: int = 64, evs=EVS, batch=()):
    radiance = scene(seed, size, batch)
    stack, times = simulate_brackets(radiance, list(evs), curve, unit="ev")
    return radiance, stack, times


class TestMergeDebevec:
    def test_smoke(self):
        _, stack, times = brackets()
        g, _ = true_g("srgb")
        hdr = merge_debevec(stack, times, g)
        assert hdr.shape == (3, 64, 64) and hdr.dtype == torch.float32
        assert torch.isfinite(hdr).all() and (hdr > 0).all()

    def test_cardinality(self):
        _, stack, times = brackets(batch=(2,), size=32)
        g, _ = true_g("srgb")
        assert merge_debevec(stack, times, g).shape == (2, 3, 32, 32)
        assert merge_debevec(stack, times[0], g).shape == (2, 3, 32, 32)  # one shared (N,) bracket
        odd = stack[..., :17, :5]
        assert merge_debevec(odd, times, g).shape == (2, 3, 17, 5)

    @pytest.mark.parametrize("curve", CURVES)
    def test_true_response_recovers_radiance(self, curve):
        """With the camera's own g, the only error left is 8-bit quantisation, and it stays within its bound.

        Per element: |ln E - ln E_true| <= sum_j w_j e(z_j) / sum_j w_j, where e(z) is the
        largest log error of rounding to code z. Stated in stops: median < 0.01 over elements
        unclipped in some frame, max < 0.06 where some frame's hat weight is >= 0.25 (code 32..223).
        """
        radiance, stack, times = brackets(curve)
        g, anchor = true_g(curve)
        log_error = (merge_debevec(stack, times, g) * anchor / radiance).log().abs()
        codes = (stack * 255).round().long()
        w = weight_lut("hat")[codes]
        unclipped = (w > 0).any(0)
        bound = (w * half_code_error(curve)[codes].nan_to_num(0.0)).sum(0) / w.sum(0).clamp_min(1e-12)
        assert unclipped.float().mean() > 0.98
        assert (log_error - bound)[unclipped].max() <= 1e-4
        stops = log_error / math.log(2)
        assert stops[unclipped].median() < 0.01
        assert stops[w.amax(0) >= 0.25].max() < 0.06

    def test_batched_equals_unbatched(self):
        _, stack, times = brackets("film-soft", batch=(3,), size=32)
        g, _ = true_g("film-soft")
        batched = merge_debevec(stack, times, g)
        for b in range(3):
            torch.testing.assert_close(batched[b], merge_debevec(stack[b], times[b], g), rtol=0, atol=0)

    def test_doubling_times_halves_radiance(self):
        radiance = scene(1, 32) * torch.tensor([1.0, 1e-6, 1e6]).view(3, 1, 1)  # incl. black and saturated everywhere
        stack, times = simulate_brackets(radiance, list(EVS), "srgb", unit="ev", t_ref=0.01)
        g, _ = true_g("srgb")
        halved = merge_debevec(stack, times, g) / 2
        torch.testing.assert_close(merge_debevec(stack, 2 * times, g), halved, rtol=1e-5, atol=0)

    def test_clipped_everywhere_rule(self):
        """Saturated: g(top) - ln t_min (a lower bound); black: g(1) - ln t_max (an upper bound); mixed: between."""
        radiance = torch.tensor([1e6, 1e-9, 5.0, 0.5]).view(1, 1, 4).expand(3, 1, 4).contiguous()
        times = torch.tensor([1e-5, 1.0])  # 16.6 stops apart: the 5.0 pixel is black, then saturated
        stack, _ = simulate_brackets(radiance, times, "srgb")
        g, anchor = true_g("srgb")
        hdr = merge_debevec(stack, times, g)[0, 0] * anchor
        assert torch.isfinite(hdr).all()
        lower = math.exp(g[0, 255] - math.log(1e-5)) * anchor  # shortest saturated frame (t_min here)
        assert float(hdr[0]) == pytest.approx(lower, rel=1e-5) and hdr[0] <= 1e6
        upper = math.exp(g[0, 1] - math.log(1.0)) * anchor  # longest black frame
        assert float(hdr[1]) == pytest.approx(upper, rel=1e-5) and hdr[1] >= 1e-9
        mixed_lower, mixed_upper = math.exp(g[0, 255]) * anchor, math.exp(g[0, 1] - math.log(1e-5)) * anchor
        assert float(hdr[2]) == pytest.approx(math.sqrt(mixed_lower * mixed_upper), rel=1e-5)
        assert mixed_lower <= 5.0 <= mixed_upper
        assert 0.5 * 0.97 < hdr[3] < 0.5 * 1.03  # well exposed at t = 1

    def test_all_saturated_stack(self):
        stack, times = torch.ones(3, 3, 8, 8), torch.tensor([0.01, 0.1, 1.0])
        g, _ = true_g("srgb")
        hdr = merge_debevec(stack, times, g)
        torch.testing.assert_close(hdr, torch.full_like(hdr, math.exp(float(g[0, 255]) - math.log(0.01))))
        black = merge_debevec(torch.zeros(3, 3, 8, 8), times, g)
        torch.testing.assert_close(black, torch.full_like(black, math.exp(float(g[0, 1]))))

    @given(seed=st.integers(0, 10_000), n=st.integers(2, 5), weight=st.sampled_from(WEIGHTS))
    @settings(max_examples=25, deadline=None)
    def test_between_the_frames_votes(self, seed, n, weight):
        """ln E is a weighted mean of the votes g(z_j) - ln t_j, so it lies between their min and max."""
        gen = torch.Generator().manual_seed(seed)
        stack = torch.randint(0, 256, (n, 3, 4, 5), generator=gen).float() / 255
        times = torch.rand(n, generator=gen).add(0.01).cumsum(0)
        g = torch.randn(3, 256, generator=gen).cumsum(1) * 0.05
        log_e = merge_debevec(stack, times, g, weight=weight).log()
        codes = (stack * 255).round().long()
        votes = g[torch.arange(3).view(1, 3, 1, 1), codes] - times.log().view(n, 1, 1, 1)
        counted = weight_lut(weight)[codes] > 0
        some = counted.any(0)  # elements clipped in every frame follow their own rule (test above)
        low, high = votes.where(counted, math.inf).amin(0), votes.where(counted, -math.inf).amax(0)
        assert torch.isfinite(log_e).all()
        assert (log_e >= low - 1e-4)[some].all() and (log_e <= high + 1e-4)[some].all()

    def test_float64_and_non_contiguous_inputs(self):
        _, stack, times = brackets(size=32)
        g, _ = true_g("srgb")
        expected = merge_debevec(stack, times, g)
        torch.testing.assert_close(merge_debevec(stack.double(), times.double(), g.double()), expected)
        transposed = stack.transpose(-1, -2).contiguous().transpose(-1, -2)
        torch.testing.assert_close(merge_debevec(transposed, times, g), expected, rtol=0, atol=0)

    def test_agrees_with_opencv(self):
        """OpenCV's MergeDebevec (triangle weights averaged over channels) given the same g agrees to ~0.01 stops."""
        radiance, stack, times = brackets("srgb", evs=(-2.0, 0.0, 2.0))
        g, _ = true_g("srgb")
        response = np.ascontiguousarray(g.exp().T[:, None, :].numpy()[..., ::-1])
        theirs = from_opencv(cv2.createMergeDebevec().process(to_opencv(stack), times.numpy(), response))
        ours = merge_debevec(stack, times, g)
        codes = (stack * 255).round()
        well = ((codes > 0) & (codes < 255)).any(0)
        assert (ours / theirs).log2()[well].abs().median() < 0.01

    def test_exception(self):
        _, stack, times = brackets(size=8, evs=(-2.0, 0.0, 2.0))
        g, _ = true_g("srgb")
        with pytest.raises(DTypeError, match="255"):
            merge_debevec((stack * 255).round().to(torch.int32), times, g)
        with pytest.raises(DTypeError):
            merge_debevec(stack.numpy(), times, g)
        with pytest.raises(DTypeError):
            merge_debevec(stack, torch.tensor([1, 2, 4]), g)
        with pytest.raises(DTypeError):
            merge_debevec(stack, times, g.long())
        with pytest.raises(ShapeError):
            merge_debevec(stack[0], times, g)  # one image, not a stack
        with pytest.raises(ShapeError):
            merge_debevec(stack[:, :2], times, g)  # two channels
        with pytest.raises(ShapeError, match="N >= 2"):
            merge_debevec(stack[:1], times[:1], g)
        with pytest.raises(ShapeError):
            merge_debevec(stack.expand(2, -1, -1, -1, -1), times.expand(3, -1), g)  # 3 rows of times for 2 stacks
        with pytest.raises(ShapeError):
            merge_debevec(stack, times.expand(2, -1), g)  # rows of times for a single stack
        with pytest.raises(ShapeError):
            merge_debevec(stack, times, g[:, :100])
        with pytest.raises(ShapeError):
            merge_debevec(stack, times, g[:1])
        with pytest.raises(ExposureError):
            merge_debevec(stack, times[:2], g)  # count mismatch
        with pytest.raises(ExposureError, match="ascending"):
            merge_debevec(stack, times.flip(0), g)
        with pytest.raises(ExposureError):
            merge_debevec(stack, torch.tensor([0.1, 0.1, 0.2]), g)  # duplicate
        with pytest.raises(ExposureError):
            merge_debevec(stack, torch.tensor([0.0, 0.1, 0.2]), g)
        with pytest.raises(ExposureError):
            merge_debevec(stack, torch.tensor([0.1, float("nan"), 0.2]), g)
        with pytest.raises(RangeError, match="NaN"):
            merge_debevec(stack.clone().index_fill_(-1, torch.tensor([3]), float("nan")), times, g)
        with pytest.raises(RangeError):
            merge_debevec(stack * 255, times, g)
        with pytest.raises(RangeError, match="code 0"):
            merge_debevec(stack, times, get_response_curve("srgb").inverse_lut(8).log().expand(3, -1))  # -inf at code 0
        with pytest.raises(RangeError, match="float32"):
            merge_debevec(stack, times * 1e-40, g)
        with pytest.raises(ChoiceError):
            merge_debevec(stack, times, g, weight="triangle")

    def test_integer_stacks_equal_the_float_path(self):
        """uint8 codes, and 12-bit codes in uint16 with bits=12, merge exactly as their float stacks."""
        _, stack, times = brackets("film-soft", batch=(2,), size=32)
        g, _ = true_g("film-soft")
        codes = (stack * 255).round().to(torch.uint8)
        assert torch.equal(merge_debevec(codes, times, g), merge_debevec(stack, times, g))
        radiance = scene(3, 32)
        stack12, times12 = simulate_brackets(radiance, list(EVS), "film-soft", unit="ev", bits=12)
        g12, _ = true_g("film-soft", bits=12)
        codes12 = (stack12 * 4095).round().to(torch.uint16)
        assert torch.equal(merge_debevec(codes12, times12, g12, bits=12), merge_debevec(stack12, times12, g12))

    def test_integer_stack_known_values(self):
        """Clipped codes follow the same rule; a mid code votes g(z) - ln t (2 frames x 3 pixels)."""
        g = torch.linspace(-5.0, 0.5, 256).expand(3, 256)
        frames = torch.tensor([[0, 255, 128], [0, 255, 128]], dtype=torch.uint8)
        stack = frames.view(2, 1, 1, 3).expand(2, 3, 1, 3)
        hdr = merge_debevec(stack, torch.tensor([0.5, 2.0]), g)[0, 0]
        expected = [math.exp(float(g[0, 1]) - math.log(2.0)), math.exp(float(g[0, 255]) - math.log(0.5)),
                    math.exp(float(g[0, 128]))]  # ln t averages to 0 over the two equal weights
        assert hdr.tolist() == pytest.approx(expected, rel=1e-6)

    def test_large_stacks_are_chunked_consistently(self, monkeypatch):
        """Chunks shared among the workers give the result of one block (any chunk size)."""
        import hdrlab.imaging.merge as merge_module

        _, stack, times = brackets("srgb", size=64)
        g, _ = true_g("srgb")
        whole = merge_debevec(stack, times, g)
        monkeypatch.setattr(merge_module, "_BLOCK_CODES", 3 * 5 * 97)  # 97 pixels a chunk, ~43 chunks
        assert torch.equal(merge_debevec(stack, times, g), whole)
        assert torch.equal(merge_debevec((stack * 255).round().to(torch.uint8), times, g), whole)

    def test_integer_exceptions(self):
        _, stack, times = brackets(size=8, evs=(-2.0, 0.0, 2.0))
        g, _ = true_g("srgb")
        codes = (stack * 255).round()
        with pytest.raises(ChoiceError, match="uint16"):
            merge_debevec(codes.to(torch.uint16), times, g)  # uint16 without bits
        with pytest.raises(ChoiceError, match="float stack"):
            merge_debevec(stack, times, g, bits=8)  # a float stack takes its codes from g
        with pytest.raises(ChoiceError):
            merge_debevec(codes.to(torch.uint8), times, g, bits=12)  # uint8 holds 8-bit codes
        with pytest.raises(ChoiceError):
            merge_debevec(codes.to(torch.uint16), times, g, bits=9)
        with pytest.raises(ShapeError, match="12-bit"):
            merge_debevec(codes.to(torch.uint16), times, g, bits=12)  # g has 256 codes, not 4096
        g12, _ = true_g("srgb", bits=12)
        with pytest.raises(ShapeError):
            merge_debevec(codes.to(torch.uint8), times, g12)  # uint8 codes need a (3, 256) g
        too_high = codes.to(torch.int32).mul(16).index_fill_(-1, torch.tensor([2]), 4096).to(torch.uint16)
        with pytest.raises(RangeError, match="4096"):
            merge_debevec(too_high, times, g12, bits=12)
        with pytest.raises(DTypeError):
            merge_debevec(codes.to(torch.int16), times, g)

    @CUDA
    def test_cuda_matches_cpu(self):
        _, stack, times = brackets(batch=(2,), size=32)
        g, _ = true_g("srgb")
        gpu = merge_debevec(stack.cuda(), times.cuda(), g.cuda())
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), merge_debevec(stack, times, g), rtol=1e-5, atol=0)


class TestMertensFusion:
    def test_smoke_range_and_shape(self):
        _, stack, _ = brackets(evs=(-2.0, 0.0, 2.0))
        fused = mertens_fusion(stack)
        assert fused.shape == (3, 64, 64) and fused.dtype == torch.float32
        assert fused.min() >= 0 and fused.max() <= 1

    def test_cardinality(self):
        _, stack, _ = brackets(batch=(2,), size=32, evs=(-2.0, 0.0, 2.0))
        assert mertens_fusion(stack).shape == (2, 3, 32, 32)
        assert mertens_fusion(stack[..., :17, :5]).shape == (2, 3, 17, 5)
        assert mertens_fusion(stack[..., :1, :1]).shape == (2, 3, 1, 1)

    def test_batched_equals_unbatched(self):
        _, stack, _ = brackets(batch=(2,), size=32, evs=(-2.0, 0.0, 2.0))
        fused = mertens_fusion(stack)
        for b in range(2):
            torch.testing.assert_close(fused[b], mertens_fusion(stack[b]))

    @pytest.mark.parametrize("size", [(1, 1), (2, 2), (6, 5), (130, 9), (300, 17)])
    def test_contrast_is_the_reflect_101_laplacian_in_every_row(self, size):
        """Contrast alone (exposedness and saturation off) is |3x3 Laplacian| of the grey, mirrored at all four edges.

        Compared row band by row band, as the weights are computed; the last row once read the wrong mirror row.
        """
        frame = torch.rand(3, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        grey = luminance(frame)[0]  # (H, W)
        padded = grey
        for dim in (-1, -2):
            padded = merge_module._pad_reflect(padded, dim, 1)
        neighbours = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
        expected = (neighbours - 4 * grey).abs() + 1e-12
        height = size[0]
        for start in range(0, height, 128):
            rows = (start, min(start + 128, height))
            weight = torch.empty(rows[1] - rows[0], size[1], dtype=frame.dtype)
            merge_module._fusion_weight(frame, rows, 1.0, 0.0, 0.0, out=weight)
            torch.testing.assert_close(weight, expected[slice(*rows)])

    @pytest.mark.parametrize("size", [(31, 45), (64, 64), (2, 7), (33, 8)])
    def test_row_bands_do_not_show(self, size, monkeypatch):
        """The finest level is blended in row bands; bands of 1-4 rows (odd, even, at the edges) change nothing."""
        _, stack, _ = brackets(size=64, evs=(-2.0, 0.0, 2.0))
        stack = stack[..., : size[0], : size[1]].double()
        whole = mertens_fusion(stack)
        for rows in (1, 2, 3, 4):
            monkeypatch.setattr(merge_module, "_FUSION_BAND_PIXELS", rows * size[1])
            torch.testing.assert_close(mertens_fusion(stack), whole, rtol=0, atol=1e-12)

    @pytest.mark.parametrize("size", [(31, 45), (64, 64), (1, 7)])
    def test_identical_frames_give_the_frame(self, size):
        """Weights sum to 1 and the pyramid collapses exactly: any odd or even size."""
        frame = torch.rand(3, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        torch.testing.assert_close(mertens_fusion(torch.stack([frame, frame, frame])), frame)

    @pytest.mark.parametrize("seed, size", [(0, (64, 64)), (1, (31, 45)), (2, (17, 64))])
    def test_matches_opencv(self, seed, size):
        """Mean |ours - cv2.createMergeMertens(1, 1, 1)| < 0.003 (OpenCV clipped to [0, 1] likewise).

        Residual differences: OpenCV's grey is 0.299 B + 0.587 G + 0.114 R (RGB2GRAY on
        BGR frames) against our Rec. 709 luminance, so contrast weights differ; and where
        a weight product is ~0 (flat or grey areas) the 1e-12 epsilon meets OpenCV's float
        rounding noise. Its default exposure weight is 0, hence (1, 1, 1) here.
        """
        radiance = scene(seed, 64)[:, : size[0], : size[1]].contiguous()
        stack, _ = simulate_brackets(radiance, [-2.0, 0.0, 2.0], "srgb", unit="ev")
        theirs = from_opencv(cv2.createMergeMertens(1.0, 1.0, 1.0).process(to_opencv(stack))).clamp(0, 1)
        assert (mertens_fusion(stack) - theirs).abs().mean() < 0.003

    def test_prefers_well_exposed_frames(self):
        """Where the long frame is clipped white and the middle one well exposed, the result follows the middle one."""
        _, stack, _ = brackets("srgb", seed=1, evs=(-2.0, 0.0, 2.0))
        fused = mertens_fusion(stack)
        middle, long = stack[1], stack[2]
        chosen = ((long == 1).all(0) & ((middle > 0.1) & (middle < 0.9)).all(0)).expand(3, -1, -1)
        assert chosen.sum() > 300
        assert (fused - middle)[chosen].abs().mean() < 0.2 * (fused - long)[chosen].abs().mean()

    def test_exponents_and_levels(self):
        _, stack, _ = brackets(size=32, evs=(-2.0, 0.0, 2.0))
        exposedness_only = mertens_fusion(stack, contrast=0, saturation=0)
        assert not torch.allclose(exposedness_only, mertens_fusion(stack))
        per_pixel = mertens_fusion(stack, levels=1)  # no pyramid: a per-pixel weighted mean, inside the frames' range
        assert (per_pixel >= stack.amin(0) - 1e-6).all() and (per_pixel <= stack.amax(0) + 1e-6).all()
        torch.testing.assert_close(mertens_fusion(stack, levels=6), mertens_fusion(stack))  # 32 px: 6 levels is all

    def test_exception(self):
        _, stack, _ = brackets(size=16, evs=(-2.0, 0.0, 2.0))
        with pytest.raises(DTypeError):
            mertens_fusion((stack * 255).to(torch.uint8))
        with pytest.raises(ShapeError):
            mertens_fusion(stack[:1])
        with pytest.raises(ShapeError):
            mertens_fusion(stack[0])
        with pytest.raises(RangeError):
            mertens_fusion(stack.clone().index_fill_(-1, torch.tensor([0]), float("nan")))
        with pytest.raises(RangeError):
            mertens_fusion(stack, contrast=-1.0)
        with pytest.raises(RangeError):
            mertens_fusion(stack, saturation=math.inf)
        with pytest.raises(DTypeError):
            mertens_fusion(stack, exposedness="1")
        with pytest.raises(RangeError):
            mertens_fusion(stack, levels=0)
        with pytest.raises(RangeError):
            mertens_fusion(stack, levels=6)  # 16 px: at most 5
        with pytest.raises(DTypeError):
            mertens_fusion(stack, levels=2.5)

    @CUDA
    def test_cuda_matches_cpu(self):
        _, stack, _ = brackets(size=32, evs=(-2.0, 0.0, 2.0))
        gpu = mertens_fusion(stack.cuda())
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), mertens_fusion(stack), rtol=0, atol=1e-5)
