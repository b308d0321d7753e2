"""The differentiable merge layer: forward equality with merge_debevec, gradients, batching, the response solve."""

import numpy as np
import pytest
import torch

from hdrlab.errors import RangeError, ShapeError
from hdrlab.imaging.camera import simulate_brackets
from hdrlab.imaging.crf import log_inverse_response, recover_debevec
from hdrlab.imaging.merge import (
    merge_debevec,
    merge_debevec_differentiable,
    piecewise_linear_lookup,
    synthesize_hdr,
)
from hdrlab.imaging.weights import weight_lut

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
EVS = [-2.0, 0.0, 2.0]


def _bracket(seed: int = 0, size: int = 24, crf: str = "film-soft", stops: float = 22.0):
    """A bracket of a random radiance spanning ``stops`` stops around 1 (22: some pixels clip in every frame)."""
    radiance = torch.rand(3, size, size, generator=torch.Generator().manual_seed(seed)).sub(0.5).mul(stops).exp2()
    return simulate_brackets(radiance, EVS, crf, unit="ev")


def _merge_interpolated(stack: np.ndarray, times: np.ndarray, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The merge with g and w read by linear interpolation between codes, in float64 (independent of hdrlab)."""
    codes = np.arange(g.shape[-1]) / (g.shape[-1] - 1)
    g_x = np.stack([np.interp(stack[:, c], codes, g[c]) for c in range(3)], axis=1)
    w_x = np.interp(stack, codes, w)
    return np.exp((w_x * (g_x - np.log(times)[:, None, None, None])).sum(0) / w_x.sum(0))


class TestLookup:
    def test_forward_reads_the_code_and_backward_the_neighbouring_slope(self):
        table = torch.tensor([0.0, 1.0, 4.0, 9.0], dtype=torch.float64)  # codes 0..3
        x = torch.tensor([0.0, 0.1, 0.2, 0.5, 0.9, 1.0], dtype=torch.float64, requires_grad=True)
        y = piecewise_linear_lookup(x, table)
        assert y.tolist() == [0.0, 0.0, 1.0, 4.0, 9.0, 9.0]  # round half up: 0.5 * 3 = 1.5 -> code 2
        y.sum().backward()
        # slope * (L - 1) of the segment holding x; the top code takes the last segment
        assert x.grad.tolist() == pytest.approx([3.0, 3.0, 3.0, 9.0, 15.0, 15.0])

    def test_backward_equals_finite_differences_of_the_interpolant(self):
        generator = torch.Generator().manual_seed(1)
        table = torch.cumsum(torch.rand(3, 1, 32, generator=generator, dtype=torch.float64), -1)
        inside = 0.2 + 0.6 * torch.rand(3, 5, 7, generator=generator, dtype=torch.float64)  # away from the kinks
        x = ((torch.randint(0, 31, (3, 5, 7), generator=generator) + inside) / 31).requires_grad_(True)
        piecewise_linear_lookup(x, table).sum().backward()
        codes, h = np.arange(32) / 31, 1e-6
        fd = [(np.interp(v + h, codes, table[c, 0].numpy()) - np.interp(v - h, codes, table[c, 0].numpy())) / (2 * h)
              for c in range(3) for v in x.detach()[c].flatten().numpy()]
        np.testing.assert_allclose(x.grad.flatten().numpy(), fd, rtol=1e-6)

    def test_bad_input(self):
        with pytest.raises(ValueError, match="detach"):
            piecewise_linear_lookup(torch.rand(4), torch.rand(3, requires_grad=True))
        with pytest.raises(RangeError):
            piecewise_linear_lookup(torch.tensor([1.5]), torch.rand(3))
        with pytest.raises(ShapeError):
            piecewise_linear_lookup(torch.rand(2, 4), torch.rand(3, 8))
        with pytest.raises(ShapeError):
            piecewise_linear_lookup(torch.rand(4), torch.rand(1))


class TestForwardEqualsTheMerge:
    @pytest.mark.parametrize("weight", ["hat", "gaussian"])
    def test_one_stack(self, weight):
        stack, times = _bracket()
        g = recover_debevec(stack, times)
        assert (stack == 1).all(0).any() and (stack == 0).all(0).any()  # pixels clipped in every frame are covered
        assert torch.equal(merge_debevec_differentiable(stack, times, g, weight=weight),
                           merge_debevec(stack, times, g, weight=weight))

    def test_batched_with_per_stack_times_and_responses(self):
        (a, times), (b, _) = _bracket(0), _bracket(1, crf="digital-knee")
        stacks, batch_times = torch.stack([a, b]), torch.stack([times, times * 4])
        g = torch.stack([log_inverse_response("film-soft"), log_inverse_response("digital-knee")])
        merged = merge_debevec_differentiable(stacks, batch_times, g)
        assert merged.shape == (2, 3, 24, 24)
        for i in range(2):
            assert torch.equal(merged[i], merge_debevec(stacks[i], batch_times[i], g[i]))
        assert torch.equal(merge_debevec_differentiable(stacks, times, g[0]), merge_debevec(stacks, times, g[0]))

    @CUDA
    def test_cuda_matches_cpu(self):
        stack, times = _bracket()
        g = recover_debevec(stack, times)
        gpu = merge_debevec_differentiable(stack.cuda().requires_grad_(True), times.cuda(), g.cuda())
        gpu.sum().backward()
        torch.testing.assert_close(gpu.detach().cpu(), merge_debevec(stack, times, g), rtol=1e-5, atol=0)


class TestGradient:
    def test_equals_one_sided_differences_of_the_interpolated_merge(self):
        """At the codes (the layer's real inputs) the gradient is the derivative of the piecewise-linear merge."""
        stack, times = _bracket(2, size=6, stops=6.0)
        stack = stack.double()
        g = log_inverse_response("film-soft").double()
        w = weight_lut("hat").double()
        seen = (stack > 0) & (stack < 1)
        assert seen.any(0).all()  # every pixel has weight in some frame
        probe = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        leaf = stack.clone().requires_grad_(True)
        (merge_debevec_differentiable(leaf, times, g) * probe).sum().backward()
        x, t, h = stack.numpy(), times.double().numpy(), 1e-7
        base = (_merge_interpolated(x, t, g.numpy(), w.numpy()) * probe.numpy()).sum()
        fd = np.zeros_like(x)
        for index in np.ndindex(*x.shape):
            if x[index] < 1:  # the top code has no segment to its right
                moved = x.copy()
                moved[index] += h
                fd[index] = ((_merge_interpolated(moved, t, g.numpy(), w.numpy()) * probe.numpy()).sum() - base) / h
        inside = torch.from_numpy(x < 1)
        np.testing.assert_allclose(leaf.grad[inside].numpy(), fd[inside.numpy()], rtol=1e-4, atol=1e-6)
        assert leaf.grad[seen].abs().gt(0).any()

    def test_pixels_clipped_in_every_frame_get_no_gradient(self):
        stack, times = _bracket()
        g = recover_debevec(stack, times)
        leaf = stack.clone().requires_grad_(True)
        merge_debevec_differentiable(leaf, times, g).sum().backward()
        clipped = ((stack == 0) | (stack == 1)).all(0, keepdim=True).expand_as(stack)
        assert clipped.any() and leaf.grad[clipped].eq(0).all() and torch.isfinite(leaf.grad).all()

    def test_batched_gradients_equal_separate_ones(self):
        (a, times), (b, _) = _bracket(0), _bracket(1)
        g = log_inverse_response("film-soft")
        batch = torch.stack([a, b]).requires_grad_(True)
        merge_debevec_differentiable(batch, times, g).log().sum().backward()
        for i, single in enumerate((a, b)):
            leaf = single.clone().requires_grad_(True)
            merge_debevec_differentiable(leaf, times, g).log().sum().backward()
            torch.testing.assert_close(batch.grad[i], leaf.grad)

    def test_bad_responses(self):
        stack, times = _bracket()
        g = recover_debevec(stack, times)
        with pytest.raises(ValueError, match="detach"):
            merge_debevec_differentiable(stack, times, g.clone().requires_grad_(True))
        with pytest.raises(ShapeError):
            merge_debevec_differentiable(torch.stack([stack] * 2), times, torch.stack([g] * 3))
        with pytest.raises(ShapeError):
            merge_debevec_differentiable(stack, times, g[:, :100])


class TestSynthesizeHdr:
    def test_solves_per_stack_and_merges(self):
        (a, times), (b, _) = _bracket(0), _bracket(1, crf="digital-knee")
        merged = synthesize_hdr(torch.stack([a, b]), times, seed=4)
        for i, stack in enumerate((a, b)):
            g = recover_debevec(stack, times, generator=torch.Generator().manual_seed(4))
            assert torch.equal(merged[i], merge_debevec(stack, times, g))

    def test_gradient_reaches_the_generator_and_a_fixed_response_is_the_alternative(self):
        stack, times = _bracket()
        leaf = stack.clone().requires_grad_(True)
        synthesize_hdr(leaf, times).log().mean().backward()
        assert leaf.grad.abs().sum() > 0
        fixed = log_inverse_response("gamma2.2")
        assert torch.equal(synthesize_hdr(stack, times, g=fixed), merge_debevec(stack, times, fixed))

    def test_flat_frames_have_nothing_to_solve(self):
        _, times = _bracket()
        with pytest.raises(RangeError, match="nothing to fit|informative|two different"):
            synthesize_hdr(torch.full((3, 3, 16, 16), 0.5), times)
