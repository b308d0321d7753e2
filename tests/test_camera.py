"""Tests of hdrlab.imaging.camera: exposure arithmetic, noise, quantisation, image formation, brackets."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hdrlab.errors import ChoiceError, DTypeError, ExposureError, RangeError, ShapeError
from hdrlab.imaging.camera import (
    ClippedFraction,
    NoiseModel,
    auto_exposure,
    clipped_fraction,
    ev_to_time,
    expose,
    linearize,
    quantize,
    simulate_brackets,
    time_to_ev,
)
from hdrlab.imaging.crf import BIT_DEPTHS, RESPONSE_CURVES, get_response_curve
from hdrlab.imaging.tonemap import log_average_luminance, srgb_encode

NAMES = list(RESPONSE_CURVES)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def scene(seed: int = 0, size: int = 64, batch: tuple[int, ...] = ()) -> torch.Tensor:
    """A real-looking radiance map: smooth lognormal illumination x lognormal texture, tinted (~15 stops)."""
    g = torch.Generator().manual_seed(seed)
    light = F.interpolate(torch.randn(*batch, 1, size // 8, size // 8, generator=g).reshape(-1, 1, size // 8, size // 8),
                          size=(size, size), mode="bilinear", align_corners=False)
    light = light.reshape(*batch, 1, size, size)
    texture = 0.4 * torch.randn(*batch, 1, size, size, generator=g)
    tint = 0.2 * torch.randn(*batch, 3, 1, 1, generator=g)
    return torch.exp(2.0 * light + texture + tint)


def uniform(value: float, size: int = 4, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.full((3, size, size), value, dtype=dtype)


class TestEvTime:
    def test_known_values(self):
        assert ev_to_time(0.0, t_ref=0.02) == 0.02
        assert ev_to_time(1, t_ref=0.01) == 0.02
        assert ev_to_time(-2.0) == 0.25
        assert time_to_ev(0.04, t_ref=0.01) == 2.0
        assert time_to_ev(1.0) == 0.0

    def test_cardinality(self):
        ev = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0]])
        t_ref = torch.tensor([[0.01], [0.1]])
        times = ev_to_time(ev, t_ref)
        assert times.shape == (2, 3)
        torch.testing.assert_close(times[1], torch.tensor([0.025, 0.1, 0.4]))
        torch.testing.assert_close(time_to_ev(times, t_ref), ev)

    @given(ev=st.floats(-12, 12), t_ref=st.floats(1e-4, 10))
    @settings(max_examples=50, deadline=None)
    def test_back_and_forth(self, ev, t_ref):
        assert time_to_ev(ev_to_time(ev, t_ref), t_ref) == pytest.approx(ev, abs=1e-9)

    @pytest.mark.parametrize("ev", [float("nan"), float("inf"), torch.tensor([0.0, float("nan")])])
    def test_exception_ev(self, ev):
        with pytest.raises(ExposureError):
            ev_to_time(ev)

    @pytest.mark.parametrize("bad", [0.0, -0.01, float("nan"), torch.tensor([0.01, 0.0])])
    def test_exception_times(self, bad):
        with pytest.raises(ExposureError):
            ev_to_time(0.0, t_ref=bad)
        with pytest.raises(ExposureError):
            time_to_ev(bad)
        with pytest.raises(ExposureError):
            time_to_ev(1.0, t_ref=bad)

    @pytest.mark.parametrize("bad", ["1", None, True, torch.tensor([1, 2])])
    def test_exception_dtype(self, bad):
        with pytest.raises(DTypeError):
            ev_to_time(bad)
        with pytest.raises(DTypeError):
            time_to_ev(bad)


class TestAutoExposure:
    @pytest.mark.parametrize(("batch", "shape"), [((), ()), ((2,), (2,)), ((2, 4), (2, 4))])
    def test_cardinality(self, batch, shape):
        assert auto_exposure(torch.rand(*batch, 3, 8, 8) + 0.1).shape == shape

    def test_known_values(self):
        assert auto_exposure(uniform(2.0)).item() == pytest.approx(0.09, rel=1e-5)
        assert auto_exposure(uniform(2.0), key=0.5).item() == pytest.approx(0.25, rel=1e-5)

    def test_maps_log_average_to_key(self):
        radiance = scene()
        exposed = radiance * auto_exposure(radiance)
        assert log_average_luminance(exposed).item() == pytest.approx(0.18, rel=1e-3)

    def test_scale_invariant(self):
        radiance = scene(batch=(3,))
        torch.testing.assert_close(auto_exposure(100 * radiance), auto_exposure(radiance) / 100, rtol=1e-4, atol=0)

    @pytest.mark.parametrize("key", [0.0, -0.18, 1.5, float("nan"), "0.18"])
    def test_exception_key(self, key):
        with pytest.raises(RangeError):
            auto_exposure(uniform(1.0), key=key)

    def test_exception_black(self):
        with pytest.raises(RangeError, match="black"):
            auto_exposure(torch.zeros(3, 4, 4))

    def test_exception_radiance(self):
        with pytest.raises(RangeError):
            auto_exposure(-uniform(1.0))
        with pytest.raises(ShapeError):
            auto_exposure(torch.ones(4, 4))


class TestNoiseModel:
    def test_smoke(self):
        noise = NoiseModel(shot=1e-4, read=1e-3)
        assert noise.variance(torch.tensor(0.5)).item() == pytest.approx(1e-4 * 0.5 + 1e-6)

    def test_from_electrons(self):
        assert NoiseModel.from_electrons(full_well=10_000, read_electrons=5) == NoiseModel(shot=1e-4, read=5e-4)

    def test_presets(self):
        x = torch.linspace(0, 1, 11)
        low, high = NoiseModel.low_iso(), NoiseModel.high_iso()
        assert (low.variance(x) < high.variance(x)).all()
        assert low.variance(torch.tensor(0.18)).sqrt() < 0.005  # clean at base ISO
        assert high.variance(torch.tensor(0.18)).sqrt() > 0.01  # visibly grainy at ISO 3200

    def test_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            NoiseModel.low_iso().shot = 0.0

    @pytest.mark.parametrize(("shot", "read"), [(-1e-4, 0.0), (0.0, -1e-3), (math.nan, 0.0), (0.0, math.inf)])
    def test_exception_range(self, shot, read):
        with pytest.raises(RangeError):
            NoiseModel(shot=shot, read=read)

    @pytest.mark.parametrize(("shot", "read"), [("1e-4", 0.0), (0.0, None), (True, 0.0)])
    def test_exception_dtype(self, shot, read):
        with pytest.raises(DTypeError):
            NoiseModel(shot=shot, read=read)

    def test_exception_full_well(self):
        with pytest.raises(RangeError):
            NoiseModel.from_electrons(0, 2)


class TestQuantize:
    @pytest.mark.parametrize("bits", BIT_DEPTHS)
    def test_exact_number_of_levels(self, bits):
        ramp = torch.linspace(0, 1, 4 * 2**bits + 1).expand(3, 1, -1)
        q = quantize(ramp, bits)
        assert q.unique().numel() == 2**bits
        assert (q - ramp).abs().max() <= 0.5 / (2**bits - 1) + 1e-7
        codes = q * (2**bits - 1)
        torch.testing.assert_close(codes, codes.round(), atol=1e-3, rtol=0)

    def test_idempotent(self):
        q = quantize(torch.rand(2, 3, 8, 8))
        assert torch.equal(quantize(q), q)

    def test_continuous(self):
        x = torch.rand(3, 4, 4)
        assert quantize(x, None) is x

    def test_cardinality(self):
        x = torch.rand(2, 5, 3, 4, 4, dtype=torch.float64)
        q = quantize(x, 10)
        assert q.shape == x.shape and q.dtype == torch.float64

    @pytest.mark.parametrize("bits", [0, 9, 32, True, "8"])
    def test_exception_bits(self, bits):
        with pytest.raises(ChoiceError):
            quantize(torch.rand(3, 4, 4), bits)

    def test_exception_values(self):
        with pytest.raises(RangeError):
            quantize(torch.full((3, 4, 4), 1.5))
        with pytest.raises(ShapeError):
            quantize(torch.rand(4, 4))
        with pytest.raises(DTypeError):
            quantize(torch.zeros(3, 4, 4, dtype=torch.uint8))


class TestExpose:
    def test_smoke(self):
        ldr = expose(scene(), 0.1)
        assert ldr.shape == (3, 64, 64) and ldr.dtype == torch.float32
        assert ldr.min() >= 0 and ldr.max() <= 1

    def test_known_values(self):
        radiance = torch.tensor([0.1, 1.0, 10.0]).view(3, 1, 1)
        ldr = expose(radiance, 0.5, "srgb", bits=None)
        torch.testing.assert_close(ldr, srgb_encode(torch.tensor([0.05, 0.5, 1.0]).view(3, 1, 1)))

    def test_codes_are_integers(self):
        codes = expose(scene(), 0.2, "film-soft", bits=10) * 1023
        torch.testing.assert_close(codes, codes.round(), atol=1e-3, rtol=0)

    @pytest.mark.parametrize(("radiance_shape", "time", "out_shape"), [
        ((3, 4, 4), 0.1, (3, 4, 4)),
        ((3, 4, 4), torch.tensor([0.1, 0.2]), (2, 3, 4, 4)),
        ((2, 3, 4, 4), torch.tensor([0.1, 0.2]), (2, 3, 4, 4)),
        ((2, 1, 3, 4, 4), torch.tensor([[0.1, 0.2, 0.4]]), (2, 3, 3, 4, 4)),
    ])
    def test_cardinality(self, radiance_shape, time, out_shape):
        assert expose(torch.rand(radiance_shape), time).shape == out_shape

    def test_per_image_times(self):
        radiance = uniform(0.2).expand(2, 3, 4, 4)
        ldr = expose(radiance, torch.tensor([1.0, 2.0]), "linear", bits=None)
        assert ldr[0].unique().tolist() == pytest.approx([0.2]) and ldr[1].unique().tolist() == pytest.approx([0.4])

    def test_keeps_dtype(self):
        assert expose(uniform(0.3, dtype=torch.float64), 1.0).dtype == torch.float64

    @pytest.mark.parametrize("name", NAMES)
    def test_monotone_in_exposure_time(self, name):
        times = torch.logspace(-3, 1, 25)
        stack = expose(scene().unsqueeze(0), times, name, bits=8)
        assert (stack.diff(dim=0) >= 0).all()
        assert (stack[-1] > stack[0]).any()

    @pytest.mark.parametrize("name", NAMES)
    def test_exact_inverse_on_unclipped_pixels(self, name):
        radiance, time = scene().double(), 0.05
        recovered = linearize(expose(radiance, time, name, bits=None), name) / time
        unclipped = radiance * time < 1
        assert 0.5 < unclipped.double().mean() < 1  # the test sees both kinds of pixels
        torch.testing.assert_close(recovered[unclipped], radiance[unclipped], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(recovered[~unclipped], torch.full_like(recovered[~unclipped], 1 / time))

    def test_exact_inverse_float32(self):
        radiance, time = scene(), 0.05
        recovered = linearize(expose(radiance, time, "film-reversal", bits=None), "film-reversal") / time
        unclipped = radiance * time < 1
        torch.testing.assert_close(recovered[unclipped], radiance[unclipped], rtol=1e-4, atol=1e-6)

    @pytest.mark.parametrize("name", ["srgb", "film-soft", "aces-filmic"])
    def test_gradcheck(self, name):
        radiance = (0.05 + 0.8 * torch.rand(3, 3, 3, dtype=torch.float64)).requires_grad_()
        time = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda e, t: expose(e, t, name, bits=None), (radiance, time))

    def test_gradient_zero_where_clipped(self):
        radiance = torch.tensor([0.2, 0.5, 5.0]).view(3, 1, 1).requires_grad_()
        expose(radiance, 1.0, "srgb", bits=None).sum().backward()
        assert radiance.grad[2].item() == 0 and (radiance.grad[:2] > 0).all()

    def test_exception_radiance(self):
        with pytest.raises(RangeError):
            expose(-uniform(1.0), 1.0)
        with pytest.raises(RangeError):
            expose(uniform(float("nan")), 1.0)
        with pytest.raises(ShapeError):
            expose(torch.rand(4, 8, 8), 1.0)
        with pytest.raises(DTypeError):
            expose(torch.ones(3, 4, 4, dtype=torch.int64), 1.0)

    @pytest.mark.parametrize("time", [0.0, -1.0, float("nan"), float("inf"), torch.tensor([0.1, 0.0])])
    def test_exception_time(self, time):
        with pytest.raises(ExposureError):
            expose(uniform(1.0), time)

    def test_exception_time_shape(self):
        with pytest.raises(ShapeError):
            expose(torch.rand(2, 3, 4, 4), torch.tensor([0.1, 0.2, 0.3]))
        with pytest.raises(DTypeError):
            expose(uniform(1.0), "1/60")

    def test_exception_choices(self):
        with pytest.raises(ChoiceError):
            expose(uniform(1.0), 1.0, "kodachrome")
        with pytest.raises(ChoiceError):
            expose(uniform(1.0), 1.0, bits=7)

    def test_exception_noise_arguments(self):
        with pytest.raises(DTypeError):
            expose(uniform(1.0), 1.0, noise="high")
        with pytest.raises(DTypeError):
            expose(uniform(1.0), 1.0, noise=NoiseModel.high_iso(), generator=0)

    @CUDA
    def test_cuda_matches_cpu(self):
        radiance = scene()
        cpu = expose(radiance, 0.1, "film-negative", bits=None)
        torch.testing.assert_close(expose(radiance.cuda(), 0.1, "film-negative", bits=None).cpu(), cpu, atol=1e-6, rtol=0)


class TestNoise:
    def test_reproducible(self):
        radiance, noise = scene(), NoiseModel.high_iso()

        def shot(seed):
            return expose(radiance, 0.05, noise=noise, generator=torch.Generator().manual_seed(seed))

        assert torch.equal(shot(1), shot(1))
        assert not torch.equal(shot(1), shot(2))

    def test_generator_leaves_global_rng_alone(self):
        state = torch.random.get_rng_state()
        expose(scene(), 0.05, noise=NoiseModel.high_iso(), generator=torch.Generator().manual_seed(0))
        assert torch.equal(torch.random.get_rng_state(), state)

    @pytest.mark.parametrize("level", [0.05, 0.3, 0.7])
    def test_variance(self, level):
        noise = NoiseModel.high_iso()
        radiance = torch.full((3, 200, 200), level)
        ldr = expose(radiance, 1.0, "linear", bits=None, noise=noise, generator=torch.Generator().manual_seed(0))
        residual = (ldr - level).double()
        expected = noise.variance(torch.tensor(level, dtype=torch.float64))
        assert residual.mean().abs() < 4 * expected.sqrt() / math.sqrt(residual.numel())
        assert residual.var().item() == pytest.approx(expected.item(), rel=0.03)

    def test_saturated_pixels_are_noise_free(self):
        ldr = expose(uniform(5.0), 1.0, noise=NoiseModel.high_iso(), generator=torch.Generator().manual_seed(0))
        assert (ldr == 1).all()

    def test_curve_reshapes_noise(self):
        """Noise is added before the response: sRGB's steep shadows amplify it."""
        noise, generator = NoiseModel.low_iso(), torch.Generator().manual_seed(0)
        dark = expose(uniform(0.01, 128), 1.0, "srgb", bits=None, noise=noise, generator=generator)
        linear = expose(uniform(0.01, 128), 1.0, "linear", bits=None, noise=noise, generator=generator)
        assert dark.std() > 3 * linear.std()

    @CUDA
    def test_cpu_generator_drives_cuda(self):
        radiance, noise = scene(), NoiseModel.high_iso()
        cpu = expose(radiance, 0.05, noise=noise, generator=torch.Generator().manual_seed(3))
        cuda = expose(radiance.cuda(), 0.05, noise=noise, generator=torch.Generator().manual_seed(3))
        assert (cuda.cpu() - cpu).abs().max() <= 1 / 255 + 1e-6


class TestLinearize:
    def test_known_values(self):
        x = torch.rand(2, 3, 4, 4)
        torch.testing.assert_close(linearize(srgb_encode(x), "srgb"), x, atol=1e-6, rtol=0)

    def test_accepts_curve_object(self):
        curve = get_response_curve("rec709")
        y = torch.rand(3, 4, 4)
        assert torch.equal(linearize(y, curve), curve.inverse(y))

    def test_exception(self):
        with pytest.raises(RangeError):
            linearize(torch.full((3, 2, 2), 255.0), "srgb")
        with pytest.raises(ShapeError):
            linearize(torch.rand(2, 2), "srgb")
        with pytest.raises(ChoiceError):
            linearize(torch.rand(3, 2, 2), "sRGB")


class TestSimulateBrackets:
    def test_single(self):
        stack, times = simulate_brackets(scene(), [0.01, 0.1, 1.0])
        assert stack.shape == (3, 3, 64, 64) and times.shape == (3,)
        torch.testing.assert_close(times, torch.tensor([0.01, 0.1, 1.0]))
        torch.testing.assert_close(stack[1], expose(scene(), 0.1), atol=0, rtol=0)

    def test_batch(self):
        radiance = scene(batch=(2,))
        stack, times = simulate_brackets(radiance, torch.tensor([0.01, 0.1]), "film-soft", bits=12)
        assert stack.shape == (2, 2, 3, 64, 64) and times.shape == (2, 2)
        torch.testing.assert_close(stack[1, 0], expose(radiance[1], 0.01, "film-soft", bits=12), atol=0, rtol=0)

    def test_per_image_exposures(self):
        stack, times = simulate_brackets(scene(batch=(2,)), torch.tensor([[0.01, 0.1], [0.02, 0.2]]))
        assert stack.shape == (2, 2, 3, 64, 64)
        torch.testing.assert_close(times, torch.tensor([[0.01, 0.1], [0.02, 0.2]]))

    def test_ev_with_t_ref(self):
        _, times = simulate_brackets(scene(), [-2.0, 0.0, 2.0], unit="ev", t_ref=0.01)
        torch.testing.assert_close(times, torch.tensor([0.0025, 0.01, 0.04]))

    def test_ev_auto_exposure(self):
        radiance = scene(batch=(3,))
        _, times = simulate_brackets(radiance, [-1.0, 0.0, 1.0], unit="ev")
        torch.testing.assert_close(times[:, 1], auto_exposure(radiance))
        torch.testing.assert_close(times[:, 2] / times[:, 0], torch.full((3,), 4.0))

    def test_monotone_along_the_bracket(self):
        stack, _ = simulate_brackets(scene(), torch.linspace(-4, 4, 9).tolist(), "digital-knee", unit="ev")
        assert (stack.diff(dim=0) >= 0).all()

    def test_noise_reproducible(self):
        def bracket():
            generator = torch.Generator().manual_seed(7)
            return simulate_brackets(scene(), [-1.0, 1.0], unit="ev", noise=NoiseModel.high_iso(), generator=generator)

        assert torch.equal(bracket()[0], bracket()[0])

    def test_exception_evs_given_as_seconds(self):
        with pytest.raises(ExposureError, match="unit='ev'"):
            simulate_brackets(scene(), [-2.0, 0.0, 2.0])

    @pytest.mark.parametrize("unit", ["s", "ev"])
    def test_exception_unsorted(self, unit):
        with pytest.raises(ExposureError, match="ascending"):
            simulate_brackets(scene(), [1.0, 0.5, 2.0], unit=unit)

    def test_exception_unit(self):
        with pytest.raises(ChoiceError):
            simulate_brackets(scene(), [1.0, 2.0], unit="stops")

    def test_exception_t_ref(self):
        with pytest.raises(ExposureError, match="t_ref"):
            simulate_brackets(scene(), [0.1, 0.2], unit="s", t_ref=0.1)
        with pytest.raises(ExposureError):
            simulate_brackets(scene(), [-1.0, 1.0], unit="ev", t_ref=0.0)

    def test_exception_shapes(self):
        with pytest.raises(ShapeError):
            simulate_brackets(torch.rand(1, 1, 3, 4, 4), [0.1, 0.2])
        with pytest.raises(ShapeError):
            simulate_brackets(torch.rand(3, 4, 4), torch.tensor([[0.1, 0.2]]))
        with pytest.raises(ShapeError):
            simulate_brackets(torch.rand(2, 3, 4, 4), torch.tensor([[0.1, 0.2]] * 3))
        with pytest.raises(ShapeError):
            simulate_brackets(torch.rand(3, 4, 4), torch.ones(2, 2, 2))

    def test_exception_values(self):
        with pytest.raises(DTypeError):
            simulate_brackets(scene(), ["fast", "slow"])
        with pytest.raises(RangeError):
            simulate_brackets(-scene(), [0.1, 0.2])
        with pytest.raises(ChoiceError):
            simulate_brackets(scene(), [0.1, 0.2], bits=9)


class TestClippedFraction:
    def test_known_values(self):
        ldr = torch.tensor([[0.0, 0.5], [0.5, 1.0]]).expand(3, 2, 2)
        assert clipped_fraction(ldr) == ClippedFraction(torch.tensor(0.25), torch.tensor(0.25))

    def test_any_channel(self):
        ldr = torch.full((3, 2, 2), 0.5)
        ldr[0, 0, 0], ldr[2, 1, 1] = 1.0, 0.0
        over, under = clipped_fraction(ldr)
        assert over.item() == 0.25 and under.item() == 0.25

    def test_thresholds(self):
        half = 0.5 / 255
        ldr = torch.tensor([[1 - 0.9 * half, 1 - 1.1 * half], [0.9 * half, 1.1 * half]], dtype=torch.float64).expand(3, 2, 2)
        over, under = clipped_fraction(ldr, bits=8)
        assert over.item() == 0.25 and under.item() == 0.25
        over, under = clipped_fraction(ldr, bits=None)
        assert over.item() == 0 and under.item() == 0

    def test_cardinality(self):
        result = clipped_fraction(torch.rand(2, 5, 3, 4, 4))
        assert result.over.shape == (2, 5) and result.under.shape == (2, 5)

    def test_grows_with_ev(self):
        radiance = scene(size=128)
        stack, _ = simulate_brackets(radiance, torch.arange(-4.0, 5.0).tolist(), unit="ev")
        over, under = clipped_fraction(stack)
        assert (over.diff() > 0).all() and (under.diff() <= 0).all()
        assert over[0] < 0.01 and over[-1] > 0.5 and under[0] > 0.001 and under[-1] == 0

    def test_continuous_output(self):
        stack, _ = simulate_brackets(scene(), [-2.0, 2.0], "film-soft", unit="ev", bits=None)
        over, _ = clipped_fraction(stack, bits=None)
        assert over[0] < over[1]

    def test_exception(self):
        with pytest.raises(ChoiceError):
            clipped_fraction(torch.rand(3, 4, 4), bits=9)
        with pytest.raises(RangeError):
            clipped_fraction(torch.full((3, 4, 4), 2.0))
        with pytest.raises(ShapeError):
            clipped_fraction(torch.rand(4, 4))
