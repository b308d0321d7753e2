"""Tests of response recovery in hdrlab.imaging.crf: sampling, the Debevec-Malik system and solve, Robertson.

Round trips simulate brackets with every curve of RESPONSE_CURVES (hdrlab.imaging.camera.simulate_brackets,
8-bit, no noise), recover ``g`` and compare it with the curve's true ``g`` (``log_inverse_response``) by
``response_error_stops`` over the codes 0.05 .. 0.95 of full scale.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hdrlab.data.scenes import load_scene
from hdrlab.errors import ChoiceError, DTypeError, ExposureError, RangeError, ShapeError
from hdrlab.imaging import crf
from hdrlab.imaging.camera import simulate_brackets
from hdrlab.imaging.crf import (
    RESPONSE_CURVES,
    SAMPLING_METHODS,
    debevec_system,
    log_inverse_response,
    recover_debevec,
    recover_robertson,
    response_error_stops,
    sample_pixels,
)
from hdrlab.imaging.weights import weight_lut

NAMES = list(RESPONSE_CURVES)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# Brackets. With equal steps a wiggle of g whose period is one step of ln t changes no ratio between
# exposures: only Debevec's smoothness rows damp it and Robertson's iteration does not remove it (OpenCV's
# Robertson neither: ~0.1 stops). Unequal steps pin g down, so the round trips use them ("better data").
UNEQUAL_EV = [-4.5, -2.0, -0.5, 1.5, 3.5]
EQUAL_EV = [-4.0, -2.0, 0.0, 2.0, 4.0]

# Tolerances in stops (RMS over channels and codes 0.05 .. 0.95 of full scale, offset removed): each 1.5-2x
# the largest error measured on these data over all curves and 4 seeds, so a real regression (a wrong row,
# a lost anchor, swapped channels: > 0.1 stops) fails while seeds and platforms do not.
DEBEVEC_TOL = 0.008  # unequal bracket: measured max 0.0042 (lognormal), 0.0047 (room_windows, quantile sampling)
DEBEVEC_EQUAL_STEPS_TOL = 0.03  # 2-EV steps, the periodic ambiguity left to the smoothness rows: max 0.017
DEBEVEC_10BIT_TOL = 0.002  # 10-bit codes, unequal bracket: measured max 0.0009
ROBERTSON_TOL = 0.06  # unequal bracket, 30 rounds from a linear start (it converges slowly): max 0.040


def lognormal_radiance(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Radiance with a log-normal distribution whose +-3 sigma span 16 stops, independent per pixel and channel."""
    noise = torch.randn(3, height, width, generator=torch.Generator().manual_seed(seed))
    return torch.exp(noise * 16 * math.log(2) / 6)


@pytest.fixture(scope="module")
def lognormal() -> torch.Tensor:
    return lognormal_radiance(64, 128)


@pytest.fixture(scope="module")
def room() -> torch.Tensor:
    return load_scene("room_windows", max_side=256)


def bracket(radiance: torch.Tensor, curve: str, evs: list[float] = UNEQUAL_EV, bits: int = 8):
    return simulate_brackets(radiance, evs, curve, unit="ev", bits=bits)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def srgb_stack(lognormal):
    return bracket(lognormal, "srgb")


class TestSamplePixels:
    @pytest.mark.parametrize("method", SAMPLING_METHODS)
    def test_smoke(self, srgb_stack, method):
        stack, _ = srgb_stack
        index = sample_pixels(stack, 100, method, seeded())
        assert index.dtype == torch.long and index.dim() == 1
        assert index.unique().numel() == index.numel()
        assert 0 <= index.min() and index.max() < stack.shape[-2] * stack.shape[-1]

    @pytest.mark.parametrize("count", [1, 7, 100, 500])
    def test_cardinality(self, srgb_stack, count):
        stack, _ = srgb_stack
        assert sample_pixels(stack, count, "quantile", seeded()).numel() == count
        stratified = sample_pixels(stack, count, "stratified", seeded()).numel()
        assert abs(stratified - count) <= math.sqrt(count) + 1  # within a row or a column of the grid

    def test_stratified_one_per_cell(self):
        stack = torch.rand(2, 3, 40, 60)
        index = sample_pixels(stack, 24, "stratified", seeded())  # rows = 4, cols = 6: 10 x 10 cells
        y, x = index // 60, index % 60
        cells = (y // 10) * 6 + x // 10
        assert sorted(cells.tolist()) == list(range(24))

    def test_all_pixels(self):
        stack = torch.rand(2, 3, 5, 7)
        for method in SAMPLING_METHODS:
            assert sorted(sample_pixels(stack, 35, method, seeded()).tolist()) == list(range(35))

    def test_quantile_spans_intensities(self, srgb_stack):
        stack, _ = srgb_stack
        intensity = stack[len(UNEQUAL_EV) // 2].mean(dim=0).flatten()
        picked = intensity[sample_pixels(stack, 128, "quantile", seeded())].sort().values
        ranks = torch.searchsorted(intensity.sort().values, picked, right=True).double() / intensity.numel()
        assert ranks[0] <= 1 / 128 and ranks[-1] >= 1 - 1 / 128  # darkest and brightest tones are sampled
        assert (ranks.diff() <= 2 / 128).all()  # evenly spaced quantiles: no gap above one quantile step

    def test_quantile_covers_codes(self, srgb_stack):
        stack, _ = srgb_stack
        codes = torch.round(stack * 255).long().flatten(2)  # (N, 3, H * W)
        sampled = codes[:, :, sample_pixels(stack, 1024, "quantile", seeded())]
        for c in range(3):
            shown = codes[:, c].unique()
            shown = shown[(shown > 0) & (shown < 255)]
            covered = torch.isin(shown, sampled[:, c].unique()).double().mean()
            assert covered > 0.98, (c, float(covered))  # measured >= 0.988 on three scenes, 5 seeds

    @pytest.mark.parametrize("method", SAMPLING_METHODS)
    def test_determinism(self, srgb_stack, method):
        stack, _ = srgb_stack
        first, again = (sample_pixels(stack, 64, method, seeded(3)) for _ in range(2))
        assert torch.equal(first, again)
        assert not torch.equal(first, sample_pixels(stack, 64, method, seeded(4)))

    def test_exception(self, srgb_stack):
        stack, _ = srgb_stack
        with pytest.raises(ChoiceError):
            sample_pixels(stack, 10, "random")
        with pytest.raises(RangeError):
            sample_pixels(stack, 0)
        with pytest.raises(RangeError):
            sample_pixels(stack, stack.shape[-1] * stack.shape[-2] + 1)
        with pytest.raises(DTypeError):
            sample_pixels(stack, 10.0)
        with pytest.raises(DTypeError):
            sample_pixels(stack, 10, generator=0)
        with pytest.raises(DTypeError, match="255"):
            sample_pixels((stack * 255).to(torch.int32), 10)
        with pytest.raises(ShapeError):
            sample_pixels(stack[None], 10)

    @CUDA
    def test_gpu(self, srgb_stack):
        stack, _ = srgb_stack
        for method in SAMPLING_METHODS:
            index = sample_pixels(stack.cuda(), 64, method, seeded())
            assert index.is_cuda and torch.equal(index.cpu(), sample_pixels(stack, 64, method, seeded()))


def gsolve_reference(codes, log_times, smoothness, weights):
    """Row-by-row transliteration of Debevec & Malik's gsolve.m (0-based, anchor at L // 2)."""
    (pixels, exposures), levels = codes.shape, weights.numel()
    A = torch.zeros(pixels * exposures + levels - 1, levels + pixels, dtype=torch.float64)
    b = torch.zeros(A.shape[0], dtype=torch.float64)
    k = 0
    for i in range(pixels):
        for j in range(exposures):
            w = float(weights[codes[i, j]])
            A[k, codes[i, j]], A[k, levels + i], b[k] = w, -w, w * float(log_times[j])
            k += 1
    A[k, levels // 2] = 1.0
    k += 1
    for z in range(1, levels - 1):
        w = smoothness * float(weights[z])
        A[k, z - 1], A[k, z], A[k, z + 1] = w, -2 * w, w
        k += 1
    return A, b


class TestDebevecSystem:
    def test_known_values(self):
        # P = 1 pixel with codes (1, 2) at t = (1, 2) s, L = 4 codes, weights (0, 0.5, 1, 0), lambda = 2.
        A, b = debevec_system(torch.tensor([[1, 2]]), torch.tensor([0.0, math.log(2)]), 2.0,
                              torch.tensor([0.0, 0.5, 1.0, 0.0]))
        expected_A = torch.tensor([
            # g0   g1    g2   g3  lnE0
            [0.0, 0.5, 0.0, 0.0, -0.5],  # data: pixel 0, exposure 0, code 1, w = 0.5
            [0.0, 0.0, 1.0, 0.0, -1.0],  # data: pixel 0, exposure 1, code 2, w = 1
            [0.0, 0.0, 1.0, 0.0, 0.0],  # anchor g(2) = 0
            [1.0, -2.0, 1.0, 0.0, 0.0],  # smoothness z = 1: lambda * w(1) = 1
            [0.0, 2.0, -4.0, 2.0, 0.0],  # smoothness z = 2: lambda * w(2) = 2
        ], dtype=torch.float64)
        torch.testing.assert_close(A, expected_A, rtol=0, atol=0)
        torch.testing.assert_close(b, torch.tensor([0.0, math.log(2), 0, 0, 0], dtype=torch.float64))

    def test_known_solution(self):
        # Consistent data: g = (-1, -ln 2, 0, ln 2 - 1/2 ...) is not needed; two pixels with codes (1, 2) and
        # (2, 3) at t = (1, 2): the least-squares g has g(2) - g(1) = g(3) - g(2) = ln 2 exactly (zero residual).
        A, b = debevec_system(torch.tensor([[1, 2], [2, 3]]), torch.tensor([0.0, math.log(2)]), 1.0,
                              torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))
        x = torch.linalg.lstsq(A, b, driver="gelsd").solution
        torch.testing.assert_close(x[:4], torch.tensor([-2, -1, 0, 1], dtype=torch.float64) * math.log(2))
        torch.testing.assert_close(A @ x, b)

    @pytest.mark.parametrize(("pixels", "exposures", "levels"), [(1, 2, 4), (3, 4, 8), (20, 5, 256)])
    def test_cardinality(self, pixels, exposures, levels):
        codes = torch.randint(0, levels, (pixels, exposures), generator=seeded())
        A, b = debevec_system(codes, torch.zeros(exposures), 1.0, torch.ones(levels))
        assert A.shape == (pixels * exposures + levels - 1, levels + pixels) and b.shape == (A.shape[0],)
        assert A.dtype == b.dtype == torch.float64

    @given(pixels=st.integers(1, 4), exposures=st.integers(2, 4), levels=st.integers(3, 9),
           smoothness=st.floats(0.0, 50.0), seed=st.integers(0, 2**16))
    @settings(max_examples=30, deadline=None)
    def test_matches_gsolve(self, pixels, exposures, levels, smoothness, seed):
        generator = seeded(seed)
        codes = torch.randint(0, levels, (pixels, exposures), generator=generator)
        log_times = torch.randn(exposures, generator=generator, dtype=torch.float64).sort().values
        weights = torch.rand(levels, generator=generator, dtype=torch.float64)
        A, b = debevec_system(codes, log_times, smoothness, weights)
        expected_A, expected_b = gsolve_reference(codes, log_times, smoothness, weights)
        torch.testing.assert_close(A, expected_A, rtol=0, atol=1e-12)
        torch.testing.assert_close(b, expected_b, rtol=0, atol=1e-12)

    def test_row_order_and_anchor(self):
        codes = torch.tensor([[10, 20, 30], [40, 50, 60]])
        weights = weight_lut("hat", 8)
        A, b = debevec_system(codes, torch.tensor([0.0, 1.0, 2.0]), 5.0, weights)
        for i in range(2):
            for j in range(3):
                row, z = A[i * 3 + j], int(codes[i, j])
                assert row[z] == weights[z] and row[256 + i] == -weights[z] and row.count_nonzero() == 2
                assert b[i * 3 + j] == pytest.approx(float(weights[z]) * j)
        assert A[6].count_nonzero() == 1 and A[6, 128] == 1 and b[6] == 0

    def test_smoothness_rows(self):
        weights = weight_lut("hat", 8).double()
        A, b = debevec_system(torch.tensor([[100, 150]]), torch.tensor([0.0, 1.0]), 3.0, weights)
        z = torch.arange(256, dtype=torch.float64)
        smooth, rhs = A[3:, :256], b[3:]  # rows 2 + z for z = 1 .. 254 after 2 data rows and the anchor
        assert smooth.shape[0] == 254 and (rhs == 0).all()
        torch.testing.assert_close(smooth @ (0.7 * z - 3), torch.zeros(254, dtype=torch.float64))  # linear: 0
        torch.testing.assert_close(smooth @ z**2, 2 * 3.0 * weights[1:-1])  # second difference of z**2 is 2
        assert (A[3:, 256:] == 0).all()

    def test_exception(self):
        codes, log_times, weights = torch.tensor([[1, 2]]), torch.zeros(2), torch.ones(4)
        with pytest.raises(DTypeError):
            debevec_system(codes.float(), log_times, 1.0, weights)
        with pytest.raises(DTypeError):
            debevec_system(codes, log_times, 1.0, weights.long())
        with pytest.raises(DTypeError):
            debevec_system(codes, log_times, "10", weights)
        with pytest.raises(ShapeError):
            debevec_system(codes, torch.zeros(3), 1.0, weights)
        with pytest.raises(ShapeError):
            debevec_system(codes[0], log_times, 1.0, weights)
        with pytest.raises(RangeError):
            debevec_system(codes + 3, log_times, 1.0, weights)
        with pytest.raises(RangeError):
            debevec_system(codes, log_times, 1.0, -weights)
        with pytest.raises(RangeError):
            debevec_system(codes, torch.tensor([0.0, float("nan")]), 1.0, weights)
        with pytest.raises(RangeError):
            debevec_system(codes, log_times, -1.0, weights)


class TestRecoverDebevec:
    def test_smoke(self, srgb_stack):
        g = recover_debevec(*srgb_stack, generator=seeded())
        assert g.shape == (3, 256) and g.dtype == torch.float32 and torch.isfinite(g).all()
        assert (g[:, 128] == 0).all()
        assert (g[:, 13:243].diff(dim=-1) > 0).all()

    @pytest.mark.parametrize("curve", NAMES)
    def test_round_trip_lognormal(self, lognormal, curve):
        g = recover_debevec(*bracket(lognormal, curve), generator=seeded())
        assert response_error_stops(g, log_inverse_response(curve)) < DEBEVEC_TOL

    @pytest.mark.parametrize("curve", NAMES)
    def test_round_trip_scene(self, room, curve):
        g = recover_debevec(*bracket(room, curve), sampling="quantile", generator=seeded())
        assert response_error_stops(g, log_inverse_response(curve)) < DEBEVEC_TOL

    @pytest.mark.parametrize("curve", NAMES)
    def test_round_trip_equal_steps(self, lognormal, curve):
        g = recover_debevec(*bracket(lognormal, curve, EQUAL_EV), generator=seeded())
        assert response_error_stops(g, log_inverse_response(curve)) < DEBEVEC_EQUAL_STEPS_TOL

    @pytest.mark.parametrize("curve", ["srgb", "film-reversal"])
    def test_round_trip_10_bits(self, lognormal, curve):
        g = recover_debevec(*bracket(lognormal, curve, bits=10), bits=10, generator=seeded())
        assert g.shape == (3, 1024) and (g[:, 512] == 0).all()
        assert response_error_stops(g, log_inverse_response(curve, 10)) < DEBEVEC_10BIT_TOL

    @pytest.mark.parametrize("weight", ["gaussian", "trapezoid"])  # measured 0.0049, 0.0028 ("uniform": 0.018)
    def test_other_weights(self, srgb_stack, weight):
        g = recover_debevec(*srgb_stack, weight=weight, generator=seeded())
        assert response_error_stops(g, log_inverse_response("srgb")) < DEBEVEC_TOL

    def test_matches_lstsq_on_the_system(self, srgb_stack):
        stack, times = srgb_stack
        g = recover_debevec(stack, times, samples=80, smoothness=20.0, generator=seeded(5))
        index = sample_pixels(stack, 80, generator=seeded(5))
        weights = weight_lut("hat", 8)
        for c in range(3):
            codes = torch.round(stack[:, c].flatten(1)[:, index].T * 255).long()
            A, b = debevec_system(codes, times.log(), 20.0, weights)
            x = torch.linalg.lstsq(A, b, driver="gelsd").solution
            torch.testing.assert_close(g[c], x[:256].float(), rtol=0, atol=1e-5)

    def test_determinism(self, srgb_stack):
        first, again = (recover_debevec(*srgb_stack, generator=seeded(7)) for _ in range(2))
        assert torch.equal(first, again)

    def test_times_as_list(self, srgb_stack):
        stack, times = srgb_stack
        torch.testing.assert_close(recover_debevec(stack, times.tolist(), generator=seeded()),
                                   recover_debevec(stack, times, generator=seeded()))

    def test_exception(self, srgb_stack):
        stack, times = srgb_stack
        with pytest.raises(ExposureError, match="at least 2"):
            recover_debevec(stack[:1], times[:1])
        with pytest.raises(ExposureError):
            recover_debevec(stack, times.flip(0))
        with pytest.raises(ExposureError):
            recover_debevec(stack, torch.cat([times[:1], times[:-1]]))  # a duplicate
        with pytest.raises(ExposureError):
            recover_debevec(stack, times - times[2])  # non-positive
        with pytest.raises(ExposureError):
            recover_debevec(stack, times[:-1])
        with pytest.raises(DTypeError, match="65535"):
            recover_debevec((stack * 65535).round().to(torch.int32), times)
        with pytest.raises(ShapeError):
            recover_debevec(stack[None], times[None])
        with pytest.raises(RangeError):
            recover_debevec(stack.clone().index_fill_(0, torch.tensor([1]), float("nan")), times)
        with pytest.raises(ChoiceError):
            recover_debevec(stack, times, sampling="random")
        with pytest.raises(ChoiceError):
            recover_debevec(stack, times, weight="tent")
        with pytest.raises(ChoiceError):
            recover_debevec(stack, times, bits=14)
        with pytest.raises(ChoiceError):
            recover_debevec(stack, times, bits=9)
        with pytest.raises(RangeError, match=r"P \* \(N - 1\) >= L"):
            recover_debevec(stack, times, samples=63)  # 63 * 4 < 256
        with pytest.raises(RangeError):
            recover_debevec(stack, times, smoothness=0.0)

    def test_integer_stacks_equal_the_float_path(self, lognormal):
        """uint8 codes (and 10-bit codes in uint16 with bits=10) give the float stack's g exactly."""
        stack, times = bracket(lognormal, "film-soft")
        codes = (stack * 255).round().to(torch.uint8)
        assert torch.equal(recover_debevec(codes, times, generator=seeded()),
                           recover_debevec(stack, times, generator=seeded()))
        assert torch.equal(recover_debevec(codes, times, sampling="quantile", generator=seeded()),
                           recover_debevec(stack, times, sampling="quantile", generator=seeded()))
        stack10, times10 = bracket(lognormal, "film-soft", bits=10)
        codes10 = (stack10 * 1023).round().to(torch.uint16)
        assert torch.equal(recover_debevec(codes10, times10, bits=10, generator=seeded()),
                           recover_debevec(stack10, times10, bits=10, generator=seeded()))
        assert torch.equal(recover_robertson(codes10, times10, bits=10), recover_robertson(stack10, times10, bits=10))

    def test_integer_exceptions(self, srgb_stack):
        stack, times = srgb_stack
        codes = (stack * 255).round()
        with pytest.raises(ChoiceError, match="uint16"):
            recover_debevec(codes.to(torch.uint16), times)  # uint16 without bits
        with pytest.raises(ChoiceError, match="uint8"):
            recover_debevec(codes.to(torch.uint8), times, bits=10)
        with pytest.raises(RangeError, match="<= 1023"):
            recover_debevec(codes.to(torch.int32).mul(8).to(torch.uint16), times, bits=10)  # codes up to 2040
        with pytest.raises(DTypeError):
            recover_debevec(codes.to(torch.int64), times)
        with pytest.raises(DTypeError):
            recover_debevec(codes.bool(), times)

    def test_chunked_value_check_finds_one_bad_value(self, srgb_stack, monkeypatch):
        """The value check runs in chunks on the workers: a single NaN or 1.5 anywhere is still found."""
        stack, times = srgb_stack
        monkeypatch.setattr(crf, "_CHECK_CODES", 1000)
        for bad in (float("nan"), 1.5, -0.25):
            spoiled = stack.clone()
            spoiled[3, 2, 40, 77] = bad
            with pytest.raises(RangeError, match="NaN" if bad != bad else r"\[0, 1\]"):
                recover_debevec(spoiled, times)

    @pytest.mark.parametrize("value", [0.0, 1.0])
    def test_nothing_to_fit(self, srgb_stack, value):
        stack, times = srgb_stack
        with pytest.raises(RangeError, match="Nothing to fit"):
            recover_debevec(torch.full_like(stack, value), times)

    @CUDA
    def test_gpu(self, srgb_stack):
        stack, times = srgb_stack
        g = recover_debevec(stack.cuda(), times.cuda(), generator=seeded())
        assert g.is_cuda
        torch.testing.assert_close(g.cpu(), recover_debevec(stack, times, generator=seeded()), rtol=0, atol=1e-6)


class TestRecoverRobertson:
    def test_smoke(self, srgb_stack):
        g = recover_robertson(*srgb_stack)
        assert g.shape == (3, 256) and g.dtype == torch.float32 and torch.isfinite(g).all()
        assert (g[:, 128] == 0).all()
        # Increasing on a coarse grid only: nothing smooths g, and with ~40 observations per code the
        # estimates of neighbouring codes can cross (measured: 6 of 690 steps here).
        assert (g[:, 13:243:8].diff(dim=-1) > 0).all()

    @pytest.mark.parametrize("curve", NAMES)
    def test_round_trip(self, lognormal, curve):
        g = recover_robertson(*bracket(lognormal, curve))
        assert response_error_stops(g, log_inverse_response(curve)) < ROBERTSON_TOL

    def test_default_matches_opencv_accuracy(self):
        """The default weight is OpenCV's: on a 2-EV bracket, its error is at most CalibrateRobertson's."""
        cv2 = pytest.importorskip("cv2")
        np = pytest.importorskip("numpy")
        radiance = load_scene("blender_city", max_side=256)
        stack, times = bracket(radiance, "film-soft", EQUAL_EV)
        codes = (stack * 255).round().to(torch.uint8)
        truth = log_inverse_response("film-soft")
        ours = response_error_stops(recover_robertson(codes, times), truth)
        frames = [np.ascontiguousarray(f.permute(1, 2, 0).numpy()[..., ::-1]) for f in codes]
        response = cv2.createCalibrateRobertson().process(frames, times.numpy())
        theirs = response_error_stops(torch.from_numpy(np.log(response[:, 0, ::-1].T.copy())), truth)
        assert ours <= theirs + 1e-4
        assert response_error_stops(recover_robertson(codes, times, weight="gaussian"), truth) > ours

    def test_iterations_improve(self, srgb_stack):
        truth = log_inverse_response("srgb")
        errors = [response_error_stops(recover_robertson(*srgb_stack, iterations=k), truth) for k in (1, 5, 30)]
        assert errors[0] > errors[1] > errors[2]

    def test_tolerance_stops_early(self, srgb_stack):
        # Rounds 1 and 2 always run (the change needs two estimates); a huge tolerance stops there.
        torch.testing.assert_close(recover_robertson(*srgb_stack, tolerance=1e9),
                                   recover_robertson(*srgb_stack, iterations=2), rtol=0, atol=0)

    def test_unobserved_codes_interpolated(self, srgb_stack):
        stack, times = srgb_stack  # 8-bit codes read as 10-bit: only every 4th (or 5th) code occurs
        g = recover_robertson(stack, times, bits=10, iterations=5).double()
        shown = torch.zeros(1024, dtype=torch.bool)
        shown[torch.round(stack[:, 0] * 1023).long().unique()] = True
        z = int((~shown[100:900]).nonzero()[0]) + 100
        left, right = int(shown[:z].nonzero()[-1]), z + int(shown[z:].nonzero()[0])
        fraction = (z - left) / (right - left)
        assert float(g[0, z]) == pytest.approx(float(g[0, left] + fraction * (g[0, right] - g[0, left])), abs=1e-5)

    def test_exception(self, srgb_stack):
        stack, times = srgb_stack
        with pytest.raises(ExposureError, match="at least 2"):
            recover_robertson(stack[:1], times[:1])
        with pytest.raises(ExposureError):
            recover_robertson(stack, times.flip(0))
        with pytest.raises(DTypeError, match="255"):
            recover_robertson((stack * 255).round().to(torch.int16), times)
        with pytest.raises(ChoiceError, match="uint16"):
            recover_robertson((stack * 255).round().to(torch.uint16), times)
        with pytest.raises(RangeError):
            recover_robertson(stack, times, iterations=0)
        with pytest.raises(DTypeError):
            recover_robertson(stack, times, iterations=2.5)
        with pytest.raises(RangeError):
            recover_robertson(stack, times, tolerance=-1.0)
        with pytest.raises(ChoiceError):
            recover_robertson(stack, times, weight="tent")
        with pytest.raises(ChoiceError):
            recover_robertson(stack, times, bits=9)
        with pytest.raises(RangeError, match="Nothing to fit"):
            recover_robertson(torch.ones_like(stack), times)

    @CUDA
    def test_gpu(self, srgb_stack):
        stack, times = srgb_stack
        g = recover_robertson(stack.cuda(), times.cuda())
        assert g.is_cuda
        torch.testing.assert_close(g.cpu(), recover_robertson(stack, times), rtol=0, atol=1e-5)


class TestLogInverseResponse:
    def test_known_values(self):
        g = log_inverse_response("linear")
        expected = torch.log(torch.arange(256, dtype=torch.float64) / 128).float()
        torch.testing.assert_close(g[:, 1:], expected[1:].expand(3, -1))
        assert (g[:, 0] == g[:, 1]).all()

    @pytest.mark.parametrize("curve", NAMES)
    @pytest.mark.parametrize("bits", [8, 12])
    def test_every_curve(self, curve, bits):
        g = log_inverse_response(curve, bits)
        assert g.shape == (3, 2**bits) and torch.isfinite(g).all() and (g[:, 2 ** (bits - 1)] == 0).all()
        assert (g[:, 1:].diff(dim=-1) > 0).all()

    def test_exception(self):
        with pytest.raises(ChoiceError):
            log_inverse_response("kodachrome")
        with pytest.raises(ChoiceError):
            log_inverse_response("srgb", bits=9)


class TestResponseErrorStops:
    def test_offset_is_no_error(self):
        g = log_inverse_response("srgb")
        assert response_error_stops(g + torch.tensor([[1.0], [-2.0], [0.5]]), g) == pytest.approx(0, abs=1e-6)

    def test_known_value(self):
        g_true = torch.zeros(3, 256)
        g_est = g_true.clone()
        g_est[:, 128:] = math.log(2)  # one stop up on the codes from 128: a fraction p of the window
        z = torch.arange(256) / 255
        window = (z >= 0.05) & (z <= 0.95)
        p = float((window & (torch.arange(256) >= 128)).sum() / window.sum())
        assert response_error_stops(g_est, g_true) == pytest.approx(math.sqrt(p * (1 - p)), rel=1e-6)

    def test_outside_window_ignored(self):
        g = log_inverse_response("srgb")
        g_est = g.clone()
        g_est[:, :5], g_est[:, -5:] = float("-inf"), 100.0
        assert response_error_stops(g_est, g) == pytest.approx(0, abs=1e-6)

    def test_exception(self):
        g = log_inverse_response("srgb")
        with pytest.raises(ShapeError):
            response_error_stops(g[:, :128], g)
        with pytest.raises(ShapeError):
            response_error_stops(g[0], g[0])
        with pytest.raises(DTypeError):
            response_error_stops(g.long(), g)
        with pytest.raises(RangeError):
            response_error_stops(g, g, low=0.9, high=0.1)
        with pytest.raises(RangeError):
            response_error_stops(g, g, low=0.5, high=0.501)  # no code in the window
        nan = g.clone()
        nan[:, 128] = float("nan")
        with pytest.raises(RangeError):
            response_error_stops(nan, g)


def test_public_names():
    for name in ("sample_pixels", "debevec_system", "recover_debevec", "recover_robertson",
                 "log_inverse_response", "response_error_stops", "SAMPLING_METHODS"):
        assert name in crf.__all__ and hasattr(crf, name)
