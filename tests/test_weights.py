"""hdrlab.imaging.weights: exposure weights and their lookup tables."""

import math

import pytest
import torch

from hdrlab.errors import ChoiceError, DTypeError, RangeError
from hdrlab.imaging.weights import WEIGHTS, exposure_weight, weight_lut


@pytest.mark.parametrize("kind", WEIGHTS)
class TestExposureWeight:
    def test_range_shape_symmetry(self, kind):
        x = torch.linspace(0, 1, 101, dtype=torch.float64)
        w = exposure_weight(x, kind)
        assert w.shape == x.shape and w.min() >= 0 and w.max() <= 1
        torch.testing.assert_close(w, w.flip(0))  # symmetric about 0.5
        assert float(w[50]) == pytest.approx(1.0)

    def test_lut_matches_function(self, kind):
        lut = weight_lut(kind, 10)
        codes = torch.arange(1024, dtype=torch.float64) / 1023
        torch.testing.assert_close(lut, exposure_weight(codes, kind).float())

    def test_bad_values(self, kind):
        with pytest.raises(RangeError):
            exposure_weight(torch.tensor([1.5]), kind)
        with pytest.raises(RangeError):
            exposure_weight(torch.tensor([float("nan")]), kind)


def test_clipped_codes_get_no_weight():
    for kind in ("hat", "trapezoid", "uniform", "robertson"):
        assert exposure_weight(torch.tensor([0.0, 1.0]), kind).tolist() == [0.0, 0.0]


def test_known_values():
    x = torch.tensor([0.05, 0.25, 0.5])
    assert exposure_weight(x, "hat").tolist() == pytest.approx([0.1, 0.5, 1.0])
    assert exposure_weight(x, "trapezoid").tolist() == pytest.approx([0.5, 1.0, 1.0])
    assert float(exposure_weight(torch.tensor(0.9), "gaussian")) == pytest.approx(0.1353, abs=1e-4)
    e4 = math.exp(4)  # OpenCV's RobertsonWeights: exp(-(4 x - 2)^2), shifted and scaled to [0, 1]
    assert float(exposure_weight(torch.tensor(0.75, dtype=torch.float64), "robertson")) == pytest.approx(
        (e4 * math.exp(-1) - 1) / (e4 - 1))


def test_bad_kind_and_dtype():
    with pytest.raises(ChoiceError, match="hat"):
        exposure_weight(torch.rand(3), "triangle")
    with pytest.raises(DTypeError):
        exposure_weight(torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(ChoiceError):
        weight_lut("hat", 9)
