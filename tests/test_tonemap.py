"""hdrlab.imaging.tonemap: luminance, sRGB, Reinhard global."""

import pytest
import torch

from hdrlab.errors import RangeError, ShapeError
from hdrlab.imaging import tonemap


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
