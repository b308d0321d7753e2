"""Tests of hdrlab.imaging.crf: response-curve families, their inverses and the registry."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hdrlab.errors import ChoiceError, DTypeError, RangeError
from hdrlab.imaging.crf import BIT_DEPTHS, RESPONSE_CURVES, ResponseCurve, check_bit_depth, get_response_curve
from hdrlab.imaging.tonemap import srgb_encode

NAMES = list(RESPONSE_CURVES)
BASIC = ("linear", "gamma2.2", "srgb")
# Points away from every kink (sRGB 0.0031, Rec. 709 0.018, knee 0.25) for gradcheck.
SMOOTH_POINTS = (0.05, 0.1, 0.3, 0.5, 0.7, 0.9)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
unit_floats = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=64)


def dense_grid(dtype: torch.dtype = torch.float64, n: int = 20_001) -> torch.Tensor:
    return torch.linspace(0, 1, n, dtype=dtype)


class TestRegistry:
    def test_smoke(self):
        assert len(RESPONSE_CURVES) >= 8
        assert set(BASIC) | {"rec709"} <= set(RESPONSE_CURVES)

    def test_realistic_curves(self):
        realistic = [name for name in NAMES if name not in BASIC]
        assert len(realistic) >= 5

    @pytest.mark.parametrize("name", NAMES)
    def test_names_and_descriptions(self, name):
        curve = RESPONSE_CURVES[name]
        assert curve.name == name
        assert len(curve.description) > 30
        assert get_response_curve(name) is curve

    def test_curve_passes_through(self):
        custom = ResponseCurve("sqrt", "square root", fn=torch.sqrt)
        assert get_response_curve(custom) is custom

    def test_unknown_name(self):
        with pytest.raises(ChoiceError, match="film-negative"):
            get_response_curve("velvia")

    def test_wrong_type(self):
        with pytest.raises(DTypeError):
            get_response_curve(2.2)

    def test_pairwise_distinct(self):
        x = dense_grid()
        values = {name: RESPONSE_CURVES[name].forward(x) for name in NAMES}
        for a, b in itertools.combinations(NAMES, 2):
            assert (values[a] - values[b]).abs().max() > 0.03, (a, b)


class TestCheckBitDepth:
    @pytest.mark.parametrize("bits", BIT_DEPTHS)
    def test_accepts(self, bits):
        check_bit_depth(bits)

    @pytest.mark.parametrize("bits", [0, 7, 9, 32, True, "8", 8.5, None])
    def test_exception(self, bits):
        with pytest.raises(ChoiceError):
            check_bit_depth(bits)


@pytest.mark.parametrize("name", NAMES)
class TestForward:
    @pytest.mark.parametrize("shape", [(), (5,), (7, 2), (2, 3, 4, 4), (0,)])
    def test_cardinality(self, name, shape):
        x = torch.rand(shape)
        y = RESPONSE_CURVES[name].forward(x)
        assert y.shape == x.shape and y.dtype == x.dtype

    @pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan"), float("inf")])
    def test_exception_range(self, name, bad):
        x = torch.tensor([0.5, bad])
        with pytest.raises(RangeError):
            RESPONSE_CURVES[name].forward(x)

    @pytest.mark.parametrize("bad", [torch.tensor([0, 1]), [0.5], 0.5])
    def test_exception_dtype(self, name, bad):
        with pytest.raises(DTypeError):
            RESPONSE_CURVES[name].forward(bad)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_in_range(self, name, dtype):
        y = RESPONSE_CURVES[name].forward(dense_grid(dtype))
        assert y.min() >= 0 and y.max() <= 1

    def test_strictly_monotone(self, name):
        assert (RESPONSE_CURVES[name].forward(dense_grid()).diff() > 0).all()

    @given(values=unit_floats)
    @settings(max_examples=25, deadline=None)
    def test_back_and_forth(self, name, values):
        x = torch.tensor(values, dtype=torch.float64)
        curve = RESPONSE_CURVES[name]
        torch.testing.assert_close(curve.inverse(curve.forward(x)), x, atol=1e-9, rtol=0)

    def test_back_and_forth_float32(self, name):
        x = dense_grid(torch.float32)
        curve = RESPONSE_CURVES[name]
        torch.testing.assert_close(curve.inverse(curve.forward(x)), x, atol=2e-6, rtol=0)

    def test_gradcheck(self, name):
        x = torch.tensor(SMOOTH_POINTS, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(RESPONSE_CURVES[name].forward, (x,))

    def test_gradient_finite_at_ends(self, name):
        x = torch.tensor([0.0, 1.0], requires_grad=True)
        RESPONSE_CURVES[name].forward(x).sum().backward()
        assert torch.isfinite(x.grad).all()

    @CUDA
    def test_cuda_matches_cpu(self, name):
        x = dense_grid(torch.float32)
        curve = RESPONSE_CURVES[name]
        torch.testing.assert_close(curve.forward(x.cuda()).cpu(), curve.forward(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exact_ends(name, dtype):
    ends = torch.tensor([0.0, 1.0], dtype=dtype)
    curve = RESPONSE_CURVES[name]
    assert curve.forward(ends).tolist() == [0.0, 1.0]
    assert curve.inverse(ends).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exact_ends_in_large_tensors(dtype):
    """Vectorised kernels handle the bulk of a tensor, scalar ones the tail: both must be exact."""
    ones = torch.ones(1003, dtype=dtype)
    for name in NAMES:
        if name != "srgb":
            assert (RESPONSE_CURVES[name].forward(ones) == 1).all(), name


class TestKnownValues:
    def test_linear(self):
        x = torch.rand(10)
        assert torch.equal(RESPONSE_CURVES["linear"].forward(x), x)

    def test_gamma(self):
        assert RESPONSE_CURVES["gamma2.2"].forward(torch.tensor(0.5)).item() == pytest.approx(0.5 ** (1 / 2.2))

    def test_srgb_is_tonemap(self):
        x = torch.rand(2, 3, 4, 4)
        torch.testing.assert_close(RESPONSE_CURVES["srgb"].forward(x), srgb_encode(x), atol=0, rtol=0)

    def test_rec709(self):
        rec709 = RESPONSE_CURVES["rec709"]
        x = torch.tensor([0.01, 0.5], dtype=torch.float64)
        nominal = torch.tensor([0.045, 1.099 * 0.5**0.45 - 0.099], dtype=torch.float64)
        torch.testing.assert_close(rec709.forward(x), nominal, atol=2e-4, rtol=0)  # BT.709 rounds alpha to 1.099

    def test_film_negative(self):
        value = RESPONSE_CURVES["film-negative"].forward(torch.tensor(0.18, dtype=torch.float64)).item()
        assert value == pytest.approx(torch.log2(torch.tensor(1 + 63 * 0.18)).item() / 6)

    @pytest.mark.parametrize(("name", "grey"), [("film-reversal", 0.45), ("film-soft", 0.42)])
    def test_film_mid_grey(self, name, grey):
        assert RESPONSE_CURVES[name].forward(torch.tensor(0.18, dtype=torch.float64)).item() == pytest.approx(grey)

    def test_reversal_has_more_contrast_than_soft(self):
        x = torch.tensor([0.02, 0.5], dtype=torch.float64)
        reversal, soft = RESPONSE_CURVES["film-reversal"].forward(x), RESPONSE_CURVES["film-soft"].forward(x)
        assert reversal[0] < soft[0] and reversal[1] > soft[1]  # darker shadows, brighter highlights

    def test_digital_knee(self):
        y = RESPONSE_CURVES["digital-knee"].forward(torch.tensor([0.1, 0.25], dtype=torch.float64))
        torch.testing.assert_close(y, torch.tensor([0.3, 0.75], dtype=torch.float64))

    def test_knee_is_c1(self):
        knee = torch.tensor([0.25 - 1e-7, 0.25 + 1e-7], dtype=torch.float64, requires_grad=True)
        RESPONSE_CURVES["digital-knee"].forward(knee).sum().backward()
        torch.testing.assert_close(knee.grad[0], knee.grad[1], atol=1e-5, rtol=0)

    def test_aces_filmic_follows_narkowicz(self):
        def aces(v):
            return v * (2.51 * v + 0.03) / (v * (2.43 * v + 0.59) + 0.14)

        x = torch.linspace(0, 1, 101, dtype=torch.float64)
        expected = aces(2 * x) / aces(torch.tensor(2.0, dtype=torch.float64))
        torch.testing.assert_close(RESPONSE_CURVES["aces-filmic"].forward(x), expected, atol=1e-3, rtol=0)


@pytest.mark.parametrize("name", NAMES)
class TestInverse:
    @given(values=unit_floats)
    @settings(max_examples=25, deadline=None)
    def test_forward_of_inverse(self, name, values):
        y = torch.tensor(values, dtype=torch.float64)
        curve = RESPONSE_CURVES[name]
        torch.testing.assert_close(curve.forward(curve.inverse(y)), y, atol=1e-9, rtol=0)

    def test_cardinality(self, name):
        y = torch.rand(2, 5, 3, 4, 4)
        x = RESPONSE_CURVES[name].inverse(y)
        assert x.shape == y.shape and x.dtype == y.dtype
        assert x.min() >= 0 and x.max() <= 1

    @pytest.mark.parametrize("bad", [-1e-3, 1.001, float("nan")])
    def test_exception_range(self, name, bad):
        with pytest.raises(RangeError):
            RESPONSE_CURVES[name].inverse(torch.tensor([bad]))

    def test_exception_dtype(self, name):
        with pytest.raises(DTypeError):
            RESPONSE_CURVES[name].inverse(torch.tensor([128], dtype=torch.uint8))

    def test_gradcheck(self, name):
        y = torch.tensor(SMOOTH_POINTS, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(RESPONSE_CURVES[name].inverse, (y,))

    @pytest.mark.parametrize("bits", BIT_DEPTHS)
    def test_inverse_lut(self, name, bits):
        curve = RESPONSE_CURVES[name]
        lut = curve.inverse_lut(bits)
        assert lut.shape == (2**bits,) and lut.dtype == torch.float32
        assert lut[0] == 0 and lut[-1] == 1 and (lut.diff() >= 0).all()
        codes = torch.tensor([1, 2**bits // 3, 2**bits - 2])
        expected = curve.inverse(codes.double() / (2**bits - 1)).float()
        torch.testing.assert_close(lut[codes], expected)

    @pytest.mark.parametrize("bits", [7, 9, None, True])
    def test_inverse_lut_exception(self, name, bits):
        with pytest.raises(ChoiceError):
            RESPONSE_CURVES[name].inverse_lut(bits)


class TestBisection:
    """The generic inverse, used by curves without a closed form (and by custom curves)."""

    curve = ResponseCurve("sqrt", "square root", fn=torch.sqrt)

    def test_known_values(self):
        y = torch.linspace(0, 1, 1001, dtype=torch.float64)
        torch.testing.assert_close(self.curve.inverse(y), y**2, atol=1e-8, rtol=0)  # sqrt' is unbounded at 0
        smooth = y[y > 0.1]
        torch.testing.assert_close(self.curve.inverse(smooth), smooth**2, atol=1e-13, rtol=0)

    def test_exact_ends(self):
        assert self.curve.inverse(torch.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]

    def test_float32_in_float32_out(self):
        y = torch.rand(3, 8, 8)
        x = self.curve.inverse(y)
        assert x.dtype == torch.float32
        torch.testing.assert_close(x, y**2, atol=1e-7, rtol=0)

    def test_no_graph_without_grad(self):
        assert not self.curve.inverse(torch.rand(4)).requires_grad

    def test_implicit_gradient(self):
        y = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64, requires_grad=True)
        self.curve.inverse(y).sum().backward()
        torch.testing.assert_close(y.grad, 2 * y.detach())  # d(y**2)/dy
