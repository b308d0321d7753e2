"""The differentiable merge layer: forward equality with merge_debevec, gradients, batching, the response solve."""

import numpy as np
import pytest
import torch

from hdrlab.errors import ChoiceError, RangeError, ShapeError
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


def _merge_left_difference_grad(stack: np.ndarray, times: np.ndarray, g: np.ndarray, w: np.ndarray,
                                 upstream: np.ndarray) -> np.ndarray:
    """d(sum(upstream * E))/d stack by Kim et al.'s Eq. 3 in NumPy: weights constant, g' = g(z) - g(z - 1)."""
    levels = g.shape[-1]
    z = np.floor(stack * (levels - 1) + 0.5).astype(int)
    g_z = np.stack([g[c][z[:, c]] for c in range(3)], axis=1)
    slope = np.stack([g[c][np.maximum(z[:, c], 1)] - g[c][np.maximum(z[:, c], 1) - 1] for c in range(3)], axis=1)
    w_z = w[z]
    radiance = np.exp((w_z * (g_z - np.log(times)[:, None, None, None])).sum(0) / w_z.sum(0))
    return upstream * radiance * w_z * slope * (levels - 1) / w_z.sum(0)


def _merge_interpolated(stack: np.ndarray, times: np.ndarray, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The merge with g and w read by linear interpolation between codes, in float64 (independent of hdrlab)."""
    codes = np.arange(g.shape[-1]) / (g.shape[-1] - 1)
    g_x = np.stack([np.interp(stack[:, c], codes, g[c]) for c in range(3)], axis=1)
    w_x = np.interp(stack, codes, w)
    return np.exp((w_x * (g_x - np.log(times)[:, None, None, None])).sum(0) / w_x.sum(0))


class TestLookup:
    X = [0.0, 0.1, 0.2, 1 / 3, 0.45, 0.5, 2 / 3, 0.9, 1.0]  # codes (L = 4): 0, 0, 1, 1, 1, 2, 2, 3, 3

    def _grad(self, backward: str | None) -> tuple[list[float], list[float]]:
        table = torch.tensor([0.0, 1.0, 4.0, 9.0], dtype=torch.float64)  # codes 0..3
        x = torch.tensor(self.X, dtype=torch.float64, requires_grad=True)
        kwargs = {} if backward is None else {"backward": backward}
        y = piecewise_linear_lookup(x, table, **kwargs)
        y.sum().backward()
        return y.tolist(), x.grad.tolist()

    def test_forward_reads_the_code_and_backward_the_left_difference_by_default(self):
        y, grad = self._grad(None)
        assert y == [0.0, 0.0, 1.0, 1.0, 1.0, 4.0, 4.0, 9.0, 9.0]  # round half up: 0.5 * 3 = 1.5 -> code 2
        # Eq. 3: (table[z] - table[z - 1]) * (L - 1) at the code z; code 0 takes the first segment
        assert grad == pytest.approx([3.0, 3.0, 3.0, 3.0, 3.0, 9.0, 9.0, 15.0, 15.0])
        assert self._grad("left_difference") == (y, grad)

    def test_piecewise_linear_backward_is_the_segment_holding_x(self):
        y, grad = self._grad("piecewise_linear")
        assert y == self._grad(None)[0]  # the same forward
        # slope * (L - 1) of the segment holding x (at a code: the one to its right); the top code takes the last
        assert grad == pytest.approx([3.0, 3.0, 3.0, 9.0, 9.0, 9.0, 15.0, 15.0, 15.0])
        assert grad != pytest.approx(self._grad(None)[1])  # the two rules differ at and just above a code

    def test_left_difference_equals_an_independent_numpy_rule(self):
        generator = torch.Generator().manual_seed(5)
        table = torch.cumsum(torch.rand(3, 1, 256, generator=generator, dtype=torch.float64), -1)
        x = torch.rand(3, 4, 9, generator=generator, dtype=torch.float64).requires_grad_(True)
        piecewise_linear_lookup(x, table).sum().backward()
        z = np.clip(np.floor(x.detach().numpy() * 255 + 0.5).astype(int), 1, 255)
        rows = table[:, 0].numpy()
        want = np.stack([rows[c][z[c]] - rows[c][z[c] - 1] for c in range(3)]) * 255
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)

    def test_piecewise_linear_backward_equals_finite_differences_of_the_interpolant(self):
        generator = torch.Generator().manual_seed(1)
        table = torch.cumsum(torch.rand(3, 1, 32, generator=generator, dtype=torch.float64), -1)
        inside = 0.2 + 0.6 * torch.rand(3, 5, 7, generator=generator, dtype=torch.float64)  # away from the kinks
        x = ((torch.randint(0, 31, (3, 5, 7), generator=generator) + inside) / 31).requires_grad_(True)
        piecewise_linear_lookup(x, table, backward="piecewise_linear").sum().backward()
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
        with pytest.raises(ChoiceError, match="Expected backward in"):
            piecewise_linear_lookup(torch.rand(4), torch.rand(3), backward="right_difference")


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
    @staticmethod
    def _probed(backward: str | None = None):
        """A 6 px bracket (every pixel seen by some frame), float64, and the gradient of sum(probe * E)."""
        stack, times = _bracket(2, size=6, stops=6.0)
        stack = stack.double()
        g = log_inverse_response("film-soft").double()
        w = weight_lut("hat").double()
        assert ((stack > 0) & (stack < 1)).any(0).all()  # every pixel has weight in some frame
        probe = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        leaf = stack.clone().requires_grad_(True)
        kwargs = {} if backward is None else {"backward": backward}
        (merge_debevec_differentiable(leaf, times, g, **kwargs) * probe).sum().backward()
        return stack, times, g, w, probe, leaf.grad

    def test_default_is_eq_3_left_difference_with_constant_weights(self):
        stack, times, g, w, probe, grad = self._probed()
        want = _merge_left_difference_grad(stack.numpy(), times.double().numpy(), g.numpy(), w.numpy(), probe.numpy())
        np.testing.assert_allclose(grad.numpy(), want, rtol=1e-10, atol=1e-12)
        assert torch.equal(self._probed("left_difference")[-1], grad)
        old = self._probed("piecewise_linear")[-1]  # differentiating w (and g's other segment) is another gradient
        assert not np.allclose(old.numpy(), want, rtol=1e-3, atol=1e-6)

    def test_piecewise_linear_equals_one_sided_differences_of_the_interpolated_merge(self):
        """At the codes (the layer's real inputs) this rule's gradient is the derivative of the interpolated merge."""
        stack, times, g, w, probe, grad = self._probed("piecewise_linear")
        seen = (stack > 0) & (stack < 1)
        x, t, h = stack.numpy(), times.double().numpy(), 1e-7
        base = (_merge_interpolated(x, t, g.numpy(), w.numpy()) * probe.numpy()).sum()
        fd = np.zeros_like(x)
        for index in np.ndindex(*x.shape):
            if x[index] < 1:  # the top code has no segment to its right
                moved = x.copy()
                moved[index] += h
                fd[index] = ((_merge_interpolated(moved, t, g.numpy(), w.numpy()) * probe.numpy()).sum() - base) / h
        inside = torch.from_numpy(x < 1)
        np.testing.assert_allclose(grad[inside].numpy(), fd[inside.numpy()], rtol=1e-4, atol=1e-6)
        assert grad[seen].abs().gt(0).any()

    @pytest.mark.parametrize("backward", ["left_difference", "piecewise_linear"])
    def test_pixels_clipped_in_every_frame_get_no_gradient(self, backward):
        stack, times = _bracket()
        g = recover_debevec(stack, times)
        leaf = stack.clone().requires_grad_(True)
        merge_debevec_differentiable(leaf, times, g, backward=backward).sum().backward()
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
        with pytest.raises(ChoiceError, match="Expected backward in"):
            merge_debevec_differentiable(stack, times, g, backward="segment")
        with pytest.raises(ChoiceError, match="Expected backward in"):
            synthesize_hdr(stack, times, backward="segment")


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
        g = recover_debevec(stack, times, generator=torch.Generator().manual_seed(0))
        for backward in ("left_difference", "piecewise_linear"):  # the backward option reaches the merge
            solved, fixed_g = stack.clone().requires_grad_(True), stack.clone().requires_grad_(True)
            synthesize_hdr(solved, times, backward=backward).log().mean().backward()
            merge_debevec_differentiable(fixed_g, times, g, backward=backward).log().mean().backward()
            assert torch.equal(solved.grad, fixed_g.grad)
        fixed = log_inverse_response("gamma2.2")
        assert torch.equal(synthesize_hdr(stack, times, g=fixed), merge_debevec(stack, times, fixed))

    def test_flat_frames_have_nothing_to_solve(self):
        _, times = _bracket()
        with pytest.raises(RangeError, match="nothing to fit|informative|two different"):
            synthesize_hdr(torch.full((3, 3, 16, 16), 0.5), times)
