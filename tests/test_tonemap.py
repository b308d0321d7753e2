"""hdrlab.imaging.tonemap: luminance, sRGB/gamma, Reinhard global/local, mu-law, log display, normalisation."""

import math

import pytest
import torch

from hdrlab.errors import ChoiceError, RangeError, ShapeError
from hdrlab.imaging import tonemap


def grey(values, dtype=torch.float32):
    """A (3, 1, N) image whose three channels all hold ``values``."""
    return torch.tensor(values, dtype=dtype).view(1, 1, -1).expand(3, 1, -1).contiguous()


class TestLuminance:
    def test_weights_sum_to_one(self):
        assert sum(tonemap.REC709_LUMA) == pytest.approx(1.0)

    def test_shape_and_values(self):
        x = torch.rand(2, 3, 5, 4)
        lum = tonemap.luminance(x)
        assert lum.shape == (2, 1, 5, 4)
        expected = 0.2126 * x[:, 0] + 0.7152 * x[:, 1] + 0.0722 * x[:, 2]
        assert torch.allclose(lum[:, 0], expected)

    def test_bad_shape(self):
        with pytest.raises(ShapeError):
            tonemap.luminance(torch.rand(4, 4))


class TestSrgb:
    def test_known_values(self):
        x = torch.tensor([0.0, 0.0031308, 0.5, 1.0]).view(1, 1, 4).expand(3, 1, 4)
        y = tonemap.srgb_encode(x)[0, 0]
        assert torch.allclose(y, torch.tensor([0.0, 0.04045, 0.735357, 1.0]), atol=1e-5)

    def test_round_trip(self):
        x = torch.linspace(0, 1, 300).view(1, 1, 300).expand(3, 1, 300)
        assert torch.allclose(tonemap.srgb_decode(tonemap.srgb_encode(x)), x, atol=1e-6)

    def test_monotone(self):
        y = tonemap.srgb_encode(torch.linspace(0, 1, 1000).view(1, 1, -1).expand(3, 1, -1))
        assert (y.diff(dim=-1) > 0).all()

    @pytest.mark.parametrize("fn", [tonemap.srgb_encode, tonemap.srgb_decode])
    def test_range(self, fn):
        with pytest.raises(RangeError, match=r"\[0, 1\]"):
            fn(torch.full((3, 2, 2), 1.5))

    def test_gradcheck(self):
        x = (torch.rand(3, 2, 2, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
        assert torch.autograd.gradcheck(tonemap.srgb_encode, (x,))


class TestReinhardGlobal:
    def test_output_range_and_shape(self):
        radiance = torch.rand(2, 3, 8, 8).pow(4) * 1e4
        out = tonemap.reinhard_global(radiance)
        assert out.shape == radiance.shape and out.min() >= 0 and out.max() <= 1

    def test_scale_invariant(self):
        radiance = torch.rand(3, 8, 8) + 0.01
        assert torch.allclose(tonemap.reinhard_global(radiance), tonemap.reinhard_global(radiance * 1000), atol=1e-5)

    def test_white_point_maps_to_one(self):
        radiance = torch.tensor([1.0, 1.0, 1.0, 100.0]).view(1, 1, 4).expand(3, 1, 4).contiguous()
        l_avg = tonemap.log_average_luminance(radiance).flatten()[0]
        white = float(0.18 * 100 / l_avg)
        out = tonemap.reinhard_global(radiance, white=white)
        assert out[0, 0, 3] == pytest.approx(1.0, abs=1e-4)

    def test_black_stays_black(self):
        radiance = torch.rand(3, 4, 4)
        radiance[:, 0, 0] = 0
        assert (tonemap.reinhard_global(radiance)[:, 0, 0] == 0).all()

    @pytest.mark.parametrize("kwargs", [{"key": 0.0}, {"key": 1.5}, {"white": -1.0}])
    def test_bad_parameters(self, kwargs):
        with pytest.raises(RangeError):
            tonemap.reinhard_global(torch.rand(3, 4, 4), **kwargs)

    def test_negative_radiance(self):
        with pytest.raises(RangeError, match="negative"):
            tonemap.reinhard_global(-torch.rand(3, 4, 4))


class TestGammaEncode:
    def test_known_values(self):
        assert torch.allclose(tonemap.gamma_encode(grey([0.0, 0.5, 1.0]))[0, 0], torch.tensor([0, 0.5 ** (1 / 2.2), 1]))

    def test_gamma_one_is_identity(self):
        x = torch.rand(2, 3, 4, 4)
        assert torch.equal(tonemap.gamma_encode(x, gamma=1.0), x)

    def test_range(self):
        with pytest.raises(RangeError, match=r"\[0, 1\]"):
            tonemap.gamma_encode(torch.full((3, 2, 2), 2.0))

    def test_bad_gamma(self):
        with pytest.raises(RangeError, match="gamma"):
            tonemap.gamma_encode(torch.rand(3, 2, 2), gamma=0.0)

    def test_gradcheck(self):
        x = (torch.rand(3, 2, 2, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
        assert torch.autograd.gradcheck(tonemap.gamma_encode, (x,))


class TestReinhardLocal:
    def test_output_range_and_shape(self):
        radiance = torch.rand(2, 3, 16, 24).pow(4) * 1e4
        out = tonemap.reinhard_local(radiance)
        assert out.shape == radiance.shape and out.min() >= 0 and out.max() <= 1

    @pytest.mark.parametrize("white", [None, 0.5])
    def test_uniform_image_equals_global(self, white):
        radiance = torch.full((2, 3, 12, 12), 7.0)
        expected = tonemap.reinhard_global(radiance, white=white)
        assert torch.allclose(tonemap.reinhard_local(radiance, white=white), expected, atol=1e-6)

    def test_scale_invariant(self):
        radiance = torch.rand(3, 16, 16) + 0.01
        assert torch.allclose(tonemap.reinhard_local(radiance), tonemap.reinhard_local(radiance * 1000), atol=1e-5)

    def test_keeps_fine_texture_contrast(self):
        # a 4:1 checkerboard: the global curve compresses it to ~3.2:1, dodging-and-burning keeps ~4:1
        board = torch.ones(3, 32, 32)
        board[:, ::2, ::2] = board[:, 1::2, 1::2] = 4
        local, global_ = tonemap.reinhard_local(board), tonemap.reinhard_global(board)
        assert float(local[0, 0, 0] / local[0, 0, 1]) == pytest.approx(4.0, abs=0.05)
        assert float(global_[0, 0, 0] / global_[0, 0, 1]) < 3.3

    def test_one_scale_is_nearly_global(self):
        # the smallest Gaussian (sigma 0.25 px) barely blurs: V1 ~ L, so L / (1 + V1) ~ L / (1 + L)
        radiance = torch.rand(3, 16, 16, dtype=torch.float64) + 0.01
        out = tonemap.reinhard_local(radiance, scales=1)
        assert torch.allclose(out, tonemap.reinhard_global(radiance), atol=2e-4)

    def test_colour_ratio_and_black_kept(self):
        radiance = (torch.rand(1, 8, 8) + 0.01) * torch.tensor([0.6, 0.5, 0.4]).view(3, 1, 1)
        radiance[:, 0, 0] = 0
        out = tonemap.reinhard_local(radiance)
        assert (out[:, 0, 0] == 0).all()
        unclipped = (out < 1).all(dim=0) & (radiance[0] > 0)
        assert torch.allclose((out[1] / out[0])[unclipped], torch.tensor(0.5 / 0.6), rtol=1e-5)

    def test_input_not_modified_and_grad_flows(self):
        radiance = (torch.rand(3, 8, 8) + 0.1).requires_grad_()
        before = radiance.detach().clone()
        tonemap.reinhard_local(radiance).sum().backward()
        assert torch.equal(radiance.detach(), before) and torch.isfinite(radiance.grad).all()

    @pytest.mark.parametrize(
        "kwargs", [{"key": 0.0}, {"phi": -1.0}, {"epsilon": 0.0}, {"scales": 0}, {"scales": 2.5}, {"white": -1.0}]
    )
    def test_bad_parameters(self, kwargs):
        with pytest.raises(RangeError):
            tonemap.reinhard_local(torch.rand(3, 4, 4), **kwargs)

    def test_negative_radiance(self):
        with pytest.raises(RangeError, match="negative"):
            tonemap.reinhard_local(-torch.rand(3, 4, 4))


class TestMuLaw:
    def test_known_values(self):
        out = tonemap.mu_law(grey([0.0, 0.5, 1.0]))[0, 0]
        assert out.tolist() == pytest.approx([0.0, math.log1p(2500) / math.log1p(5000), 1.0])

    def test_one_maps_to_one(self):
        assert float(tonemap.mu_law(torch.ones(3, 1, 1), mu=100.0)[0, 0, 0]) == 1.0

    def test_monotone(self):
        assert (tonemap.mu_law(grey(torch.linspace(0, 1, 500).tolist())).diff(dim=-1) > 0).all()

    @pytest.mark.parametrize("value", [1.5, -0.1])
    def test_range_names_the_fix(self, value):
        with pytest.raises(RangeError, match="normalize_hdr"):
            tonemap.mu_law(torch.full((3, 2, 2), value))

    def test_nan(self):
        with pytest.raises(RangeError, match="NaN"):
            tonemap.mu_law(torch.full((3, 2, 2), math.nan))

    def test_bad_mu(self):
        with pytest.raises(RangeError, match="mu"):
            tonemap.mu_law(torch.rand(3, 2, 2), mu=0.0)

    def test_gradcheck(self):
        x = torch.rand(2, 3, 2, 2, dtype=torch.float64).requires_grad_()
        assert torch.autograd.gradcheck(tonemap.mu_law, (x,))


class TestLogDisplay:
    def test_equal_steps_per_stop(self):
        out = tonemap.log_display(grey([1.0, 2.0, 4.0, 8.0, 16.0]), 0, 100, colour=False)
        assert out[0, 0].tolist() == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])

    def test_range_shape_and_black(self):
        radiance = torch.rand(2, 3, 8, 8).pow(6) * 1e3
        radiance[0, :, 0, 0] = 0
        out = tonemap.log_display(radiance)
        assert out.shape == radiance.shape and out.min() >= 0 and out.max() <= 1
        assert (out[0, :, 0, 0] == 0).all()

    def test_per_image_and_scale_invariant(self):
        radiance = torch.rand(3, 8, 8) + 0.01
        both = tonemap.log_display(torch.stack([radiance, radiance * 1000]))
        assert torch.allclose(both[0], both[1], atol=1e-5)

    def test_grey_channels_equal_and_colour_kept(self):
        radiance = (torch.rand(1, 8, 8) + 0.01) * torch.tensor([1.0, 0.5, 0.25]).view(3, 1, 1)
        grey_out = tonemap.log_display(radiance, colour=False)
        assert torch.equal(grey_out[0], grey_out[1]) and torch.equal(grey_out[1], grey_out[2])
        coloured = tonemap.log_display(radiance)  # an orange scene stays orange (red >= green >= blue)
        assert (coloured[0] >= coloured[1]).all() and (coloured[1] >= coloured[2]).all()

    def test_uniform_and_black_images(self):
        assert torch.equal(tonemap.log_display(torch.full((3, 4, 4), 3.0), colour=False), torch.full((3, 4, 4), 0.5))
        assert torch.equal(tonemap.log_display(torch.zeros(3, 4, 4)), torch.zeros(3, 4, 4))

    @pytest.mark.parametrize("low, high", [(50.0, 10.0), (-1.0, 99.0), (1.0, 101.0)])
    def test_bad_percentiles(self, low, high):
        with pytest.raises(RangeError, match="percentile"):
            tonemap.log_display(torch.rand(3, 4, 4), low, high)


class TestNormalizeHdr:
    def hot_pixel_image(self):
        hdr = torch.rand(3, 32, 32) * 0.5 + 0.5
        hdr[:, 3, 4] = 1e6
        return hdr

    def test_percentile_robust_to_one_hot_pixel(self):
        hdr = self.hot_pixel_image()
        robust = tonemap.normalize_hdr(hdr)
        assert float(robust.median()) > 0.5 and float(robust.max()) == 1.0
        assert float(tonemap.normalize_hdr(hdr, method="max").median()) < 1e-5

    def test_max_maps_max_to_one(self):
        hdr = torch.rand(2, 3, 8, 8) * 50
        out = tonemap.normalize_hdr(hdr, method="max")
        assert torch.allclose(out.amax(dim=(-3, -2, -1)), torch.ones(2))

    def test_mean_and_clip(self):
        hdr = torch.rand(3, 8, 8) * 10
        out = tonemap.normalize_hdr(hdr, method="mean", clip=False)
        assert float(tonemap.luminance(out).mean()) == pytest.approx(1.0, rel=1e-5) and out.max() > 1
        assert tonemap.normalize_hdr(hdr, method="mean").max() == 1

    def test_scale_matches_hdr_scale_and_input_kept(self):
        hdr = torch.rand(2, 3, 8, 8) * 10
        before = hdr.clone()
        out = tonemap.normalize_hdr(hdr, clip=False)
        assert torch.allclose(out * tonemap.hdr_scale(hdr), hdr, rtol=1e-6) and torch.equal(hdr, before)
        lum = tonemap.luminance(hdr).flatten(-3)
        assert torch.allclose(tonemap.hdr_scale(hdr).flatten(), torch.quantile(lum, 0.99, dim=-1))

    def test_reference_scale(self):
        target = torch.rand(3, 8, 8) + 0.1
        out = tonemap.normalize_hdr(2 * target, reference=target, clip=False)
        assert torch.allclose(out, 2 * tonemap.normalize_hdr(target, clip=False))

    def test_reference_shape(self):
        with pytest.raises(ShapeError, match="reference"):
            tonemap.normalize_hdr(torch.rand(2, 3, 4, 4), reference=torch.rand(3, 4, 4))

    def test_bad_method(self):
        with pytest.raises(ChoiceError, match="percentile"):
            tonemap.normalize_hdr(torch.rand(3, 4, 4), method="median")

    @pytest.mark.parametrize("percentile", [0.0, 120.0])
    def test_bad_percentile(self, percentile):
        with pytest.raises(RangeError, match="percentile"):
            tonemap.normalize_hdr(torch.rand(3, 4, 4), percentile=percentile)

    def test_black_image(self):
        with pytest.raises(RangeError, match="scale 0"):
            tonemap.normalize_hdr(torch.zeros(3, 4, 4))

    def test_negative(self):
        with pytest.raises(RangeError, match="negative"):
            tonemap.normalize_hdr(-torch.rand(3, 4, 4))


class TestTonemapRegistry:
    @pytest.mark.parametrize("name", sorted(tonemap.TONEMAPS))
    def test_display_range(self, name):
        radiance = torch.rand(2, 3, 8, 8).pow(4) * 1e3
        out = tonemap.apply_tonemap(name, radiance)
        assert out.shape == radiance.shape and out.min() >= 0 and out.max() <= 1

    def test_expected_names(self):
        assert set(tonemap.TONEMAPS) == {"reinhard", "reinhard_local", "mu_law", "log", "gamma", "reinhard_devlin"}

    def test_kwargs_forwarded(self):
        radiance = torch.rand(3, 8, 8) * 10
        assert torch.equal(tonemap.apply_tonemap("reinhard", radiance, key=0.5), tonemap.reinhard_global(radiance, 0.5))
        expected = tonemap.mu_law(tonemap.normalize_hdr(radiance, method="max"), mu=10.0)
        assert torch.equal(tonemap.apply_tonemap("mu_law", radiance, mu=10.0, method="max"), expected)

    def test_unknown_name(self):
        with pytest.raises(ChoiceError, match="reinhard"):
            tonemap.apply_tonemap("drago", torch.rand(3, 4, 4))


def opencv_rgb(radiance: torch.Tensor):
    """(3, H, W) radiance as an H x W x 3 float32 array in RGB order (so OpenCV's RGB2GRAY weighs R, G, B)."""
    return radiance.permute(1, 2, 0).contiguous().numpy()


def hdr_scene(seed: int = 0, size: tuple[int, int] = (48, 64)) -> torch.Tensor:
    """Smooth log-normal illumination times a tinted texture: ~14 stops."""
    g = torch.Generator().manual_seed(seed)
    light = torch.nn.functional.interpolate(torch.randn(1, 1, 6, 8, generator=g), size=size, mode="bilinear")[0]
    return torch.exp(2.5 * light + 0.3 * torch.randn(3, *size, generator=g))


@pytest.mark.parametrize("operator", ["drago", "mantiuk"])
class TestDragoMantiuk:
    def test_range_monotone_and_shape(self, operator):
        radiance = torch.logspace(-3, 3, 64).view(1, 8, 8).expand(3, 8, 8)
        out = getattr(tonemap, operator)(radiance)
        assert out.shape == (3, 8, 8) and float(out.min()) == 0.0 and float(out.max()) == pytest.approx(1.0)
        if operator == "drago":  # a global curve: brighter radiance, brighter display (Mantiuk's is local)
            assert (out[0].flatten().diff() >= -1e-6).all()
        assert out[0, -1, -1] > out[0, 4, 4] > out[0, 2, 2]

    def test_batch_equals_per_image(self, operator):
        fn = getattr(tonemap, operator)
        batch = torch.stack([hdr_scene(0, (24, 32)), hdr_scene(1, (24, 32)) * 100])
        out = fn(batch)
        for b in range(2):
            torch.testing.assert_close(out[b], fn(batch[b]))

    def test_scale_invariant_and_black_stays_black(self, operator):
        fn = getattr(tonemap, operator)
        radiance = hdr_scene(2)
        torch.testing.assert_close(fn(radiance * 1000), fn(radiance), rtol=1e-4, atol=1e-4)
        radiance[:, 5, 7] = 0
        out = fn(radiance)
        assert torch.isfinite(out).all() and (out[:, 5, 7] == 0).all()

    def test_agrees_with_opencv(self, operator):
        """OpenCV's defaults reproduced: max |ours - OpenCV| < 5e-3 (with its grey weights, RGB order)."""
        cv2 = pytest.importorskip("cv2")
        radiance = hdr_scene(3)
        ours = getattr(tonemap, operator)(radiance, luma=tonemap.OPENCV_LUMA)
        theirs_op = cv2.createTonemapDrago() if operator == "drago" else cv2.createTonemapMantiuk()
        theirs = torch.from_numpy(theirs_op.process(opencv_rgb(radiance))).permute(2, 0, 1)
        assert (ours - theirs).abs().max() < 5e-3

    def test_exceptions(self, operator):
        fn = getattr(tonemap, operator)
        radiance = hdr_scene(4, (8, 8))
        with pytest.raises(RangeError):
            fn(-radiance)
        with pytest.raises(ShapeError):
            fn(radiance[:2])
        with pytest.raises(RangeError):
            fn(radiance, gamma=0.0)
        with pytest.raises(RangeError):
            fn(radiance, saturation=-1.0)
        with pytest.raises(RangeError):
            fn(radiance, luma=(1.0, 2.0))


def test_drago_bias_and_mantiuk_scale():
    radiance = hdr_scene(5)
    with pytest.raises(RangeError):
        tonemap.drago(radiance, bias=1.0)
    with pytest.raises(RangeError):
        tonemap.mantiuk(radiance, scale=0.0)
    # a lower bias brightens the dark end (Drago et al.'s fig. 4): the median display value rises
    assert tonemap.drago(radiance, bias=0.6).median() > tonemap.drago(radiance, bias=0.95).median()
    # less contrast scale, less spread of the display log-luminance
    spread = [tonemap.mantiuk(radiance, scale=s, luma=tonemap.OPENCV_LUMA).clamp_min(1e-4).log().std()
              for s in (0.4, 0.9)]
    assert spread[0] < spread[1]


class TestReinhardDevlin:
    def test_hand_computed_grey_ramp(self):
        # radiance 1, 2, 5 -> normalised I = L = 0, 0.25, 1; logs of max(L, 1e-4); key k; contrast m = 0.3 + 0.7 k^1.4
        logs = [math.log(1e-4), math.log(0.25), 0.0]
        k = (0.0 - sum(logs) / 3) / (0.0 - logs[0])
        m = 0.3 + 0.7 * k**1.4
        assert (k, m) == (pytest.approx(0.383505), pytest.approx(0.482969))
        radiance = grey([1.0, 2.0, 5.0])
        # the reference's parameters (gamma 2.2, f' = 0, a = 0.5, c = 0): I_a = 0.5 L + 0.5 mean(L), mean(L) = 5 / 12
        mid = 0.25 / (0.25 + (0.5 * 0.25 + 0.5 * 5 / 12) ** m)
        top = 1.0 / (1.0 + (0.5 + 0.5 * 5 / 12) ** m)
        expected = [0.0, (mid / top) ** (1 / 2.2), 1.0]
        assert tonemap.reinhard_devlin(radiance)[0, 0].tolist() == pytest.approx(expected, abs=1e-6)
        assert expected[1] == pytest.approx(0.762504, abs=1e-6)
        # a = 1, gamma 1 (OpenCV's defaults): each pixel adapts to itself, I / (I + I^m)
        local = [0.0, (0.25 / (0.25 + 0.25**m)) / 0.5, 1.0]
        out = tonemap.reinhard_devlin(radiance, gamma=1.0, light_adapt=1.0)
        assert out[0, 0].tolist() == pytest.approx(local, abs=1e-6) and local[1] == pytest.approx(0.656215, abs=1e-6)

    def test_colour_adaptation_adapts_each_channel_to_itself(self):
        radiance = torch.tensor([[1.0, 2.0, 5.0], [1.0, 4.0, 5.0], [1.0, 1.5, 5.0]]).view(3, 1, 3)
        out = tonemap.reinhard_devlin(radiance, gamma=1.0, light_adapt=1.0, color_adapt=1.0)
        image = (radiance - 1) / 4
        m = float(0.3 + 0.7 * ((0 - torch.log(tonemap._grey(image, tonemap.REC709_LUMA).clamp_min(1e-4)).mean())
                               / (0 - math.log(1e-4))) ** 1.4)
        mapped = torch.where(image > 0, image / (image + image**m), 0.0)
        torch.testing.assert_close(out, mapped / mapped.max(), atol=1e-6, rtol=1e-5)
        grey_adapted = tonemap.reinhard_devlin(radiance, gamma=1.0, light_adapt=1.0, color_adapt=0.0)
        assert not torch.allclose(out, grey_adapted, atol=1e-3)

    @pytest.mark.parametrize("args", [(2.2, 0.0, 0.5, 0.0), (1.0, 0.0, 1.0, 0.0), (1.5, 1.0, 0.3, 0.6)])
    def test_agrees_with_opencv(self, args):
        """The reference's call (2.2, 0, 0.5, 0), OpenCV's defaults and a mixed one: max |ours - OpenCV| < 1e-3."""
        cv2 = pytest.importorskip("cv2")
        radiance = hdr_scene(3)
        ours = tonemap.reinhard_devlin(radiance, *args, luma=tonemap.OPENCV_LUMA)
        theirs = torch.from_numpy(cv2.createTonemapReinhard(*args).process(opencv_rgb(radiance))).permute(2, 0, 1)
        valid = ~theirs.isnan()  # OpenCV leaves a NaN at the darkest pixel in some settings; ours gives 0 there
        assert valid.float().mean() > 0.999 and (ours - theirs)[valid].abs().max() < 1e-3
        assert torch.isfinite(ours).all()

    def test_scale_invariant_batch_and_black(self):
        radiance = hdr_scene(2)
        torch.testing.assert_close(tonemap.reinhard_devlin(radiance * 1000), tonemap.reinhard_devlin(radiance),
                                   rtol=1e-4, atol=1e-4)
        batch = torch.stack([hdr_scene(0, (24, 32)), hdr_scene(1, (24, 32)) * 100])
        out = tonemap.reinhard_devlin(batch)
        for b in range(2):
            torch.testing.assert_close(out[b], tonemap.reinhard_devlin(batch[b]))
        radiance[:, 5, 7] = 0
        out = tonemap.reinhard_devlin(radiance, light_adapt=1.0)  # OpenCV divides 0 by 0 there
        assert torch.isfinite(out).all() and (out[:, 5, 7] == 0).all()
        flat = tonemap.reinhard_devlin(torch.full((3, 4, 4), 2.0))  # one grey level: k = 0, no NaN
        assert torch.isfinite(flat).all()

    def test_intensity_brightens(self):
        radiance = hdr_scene(5)
        assert tonemap.reinhard_devlin(radiance, intensity=2.0).median() > tonemap.reinhard_devlin(radiance).median()

    def test_in_the_registry_for_metrics(self):
        radiance = hdr_scene(6)
        torch.testing.assert_close(tonemap.apply_tonemap("reinhard_devlin", radiance, gamma=1.0),
                                   tonemap.reinhard_devlin(radiance, gamma=1.0))

    @pytest.mark.parametrize("kwargs", [{"gamma": 0.0}, {"light_adapt": 1.5}, {"color_adapt": -0.1},
                                        {"intensity": float("nan")}, {"intensity": True}, {"luma": (1.0, 2.0)}])
    def test_exceptions(self, kwargs):
        with pytest.raises(RangeError):
            tonemap.reinhard_devlin(hdr_scene(4, (8, 8)), **kwargs)

    def test_bad_radiance(self):
        with pytest.raises(RangeError):
            tonemap.reinhard_devlin(-hdr_scene(4, (8, 8)))
        with pytest.raises(ShapeError):
            tonemap.reinhard_devlin(hdr_scene(4, (8, 8))[:2])
