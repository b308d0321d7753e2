"""hdrlab.nn.losses: known values, gradchecks (float64, away from kinks) and input validation for every loss."""

import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

from hdrlab.errors import ChoiceError, DTypeError, RangeError, ShapeError
from hdrlab.nn import losses
from hdrlab.nn.features import IMAGENET_STD


def rand64(*shape, low=0.0, high=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(*shape, generator=generator, dtype=torch.float64)).requires_grad_()


class TestL1:
    def test_constant_offset(self):
        x = torch.rand(2, 3, 4, 4)
        assert float(losses.l1_loss(x + 0.25, x)) == pytest.approx(0.25)
        assert float(losses.l1_loss(x, x)) == 0.0

    def test_mask_is_a_mean_over_selected_pixels(self):
        pred, target = torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
        pred[..., 0, 0], pred[..., 1, 1] = 2.0, 100.0
        mask = torch.tensor([[True, False], [True, False]]).view(1, 1, 2, 2)  # (0, 0) and (1, 0)
        assert float(losses.l1_loss(pred, target, mask)) == pytest.approx(1.0)
        weights = torch.tensor([[1.0, 0.0], [0.0, 0.5]]).view(1, 1, 2, 2)  # (2 * 1 + 100 * 0.5) / 1.5
        assert float(losses.l1_loss(pred, target, weights)) == pytest.approx(52 / 1.5)

    def test_gradcheck(self):
        pred, target = rand64(2, 3, 3, 3), rand64(2, 3, 3, 3, seed=1).detach()
        mask = torch.rand(2, 1, 3, 3, dtype=torch.float64)
        assert gradcheck(lambda p: losses.l1_loss(p, target), (pred,))
        assert gradcheck(lambda p: losses.l1_loss(p, target, mask), (pred,))

    def test_errors(self):
        x = torch.rand(1, 3, 2, 2)
        with pytest.raises(ShapeError, match="same shape"):
            losses.l1_loss(x, torch.rand(1, 3, 2, 3))
        with pytest.raises(RangeError, match="empty"):
            losses.l1_loss(x, x, torch.zeros(1, 1, 2, 2, dtype=torch.bool))
        with pytest.raises(ShapeError, match="broadcastable"):
            losses.l1_loss(x, x, torch.ones(1, 1, 3, 2, dtype=torch.bool))
        with pytest.raises(ShapeError, match="broadcastable"):
            losses.l1_loss(x, x, torch.ones(2, 1, 2, 2, dtype=torch.bool))  # would enlarge the loss' shape
        with pytest.raises(DTypeError, match="mask"):
            losses.l1_loss(x, x, torch.ones(1, 1, 2, 2, dtype=torch.int64))
        with pytest.raises(RangeError, match=r"\[0, 1\]"):
            losses.l1_loss(x, x, torch.full((1, 1, 2, 2), 2.0))
        with pytest.raises(RangeError, match="NaN"):
            losses.l1_loss(torch.full_like(x, math.nan), x)
        with pytest.raises(DTypeError):
            losses.l1_loss(torch.ones(3, 2, 2, dtype=torch.uint8), x[0])


class TestCosine:
    def test_known_values(self):
        red, green = torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1), torch.tensor([0, 1.0, 0]).view(1, 3, 1, 1)
        assert float(losses.cosine_loss(red, 3 * red)) == pytest.approx(0.0, abs=1e-7)
        assert float(losses.cosine_loss(red, green)) == pytest.approx(1.0)
        assert float(losses.cosine_loss(red, -red)) == pytest.approx(2.0)
        two_pixels = torch.cat([red, red], dim=-1), torch.cat([red, green], dim=-1)
        assert float(losses.cosine_loss(*two_pixels)) == pytest.approx(0.5)

    def test_black_pixels_are_finite(self):
        black = torch.zeros(1, 3, 1, 1, requires_grad=True)
        loss = losses.cosine_loss(black, torch.zeros(1, 3, 1, 1))
        loss.backward()
        assert float(loss.detach()) == 1.0 and torch.isfinite(black.grad).all()

    def test_gradcheck(self):
        target = rand64(1, 3, 2, 2, seed=1).detach()
        assert gradcheck(lambda p: losses.cosine_loss(p, target), (rand64(1, 3, 2, 2, low=0.1),))

    def test_errors(self):
        with pytest.raises(ShapeError):
            losses.cosine_loss(torch.rand(3, 4), torch.rand(3, 4))
        with pytest.raises(RangeError):
            losses.cosine_loss(torch.rand(3, 2, 2), torch.rand(3, 2, 2), eps=0.0)


class TestExpandNet:
    def test_known_value(self):
        pred, target = torch.tensor([1.0, 0, 0]).view(3, 1, 1), torch.tensor([0, 1.0, 0]).view(3, 1, 1)
        # l1 = (1 + 1 + 0) / 3, cosine term = 1
        assert float(losses.expandnet_loss(pred, target)) == pytest.approx(2 / 3 + 5.0)
        assert float(losses.expandnet_loss(pred, target, cosine_weight=0.5)) == pytest.approx(2 / 3 + 0.5)

    def test_gradcheck(self):
        target = rand64(1, 3, 2, 2, seed=1).detach()
        assert gradcheck(lambda p: losses.expandnet_loss(p, target), (rand64(1, 3, 2, 2, low=0.1),))

    def test_errors(self):
        with pytest.raises(RangeError):
            losses.expandnet_loss(torch.rand(3, 2, 2), torch.rand(3, 2, 2), cosine_weight=-1.0)
        with pytest.raises(ShapeError):
            losses.expandnet_loss(torch.rand(3, 2, 2), torch.rand(3, 2, 1))


class TestPerceptual:
    def test_function_known_value(self):
        pred = {"a": torch.zeros(2, 4, 2, 2), "b": torch.zeros(2, 8, 1, 1)}
        target = {"a": torch.full((2, 4, 2, 2), 0.5), "b": torch.full((2, 8, 1, 1), -3.0)}
        assert float(losses.perceptual_loss(pred, target)) == pytest.approx(3.5)
        assert float(losses.perceptual_loss(pred, target, [2.0, 0.0])) == pytest.approx(1.0)

    def test_function_gradcheck(self):
        target = {"a": rand64(1, 2, 2, 2, seed=1).detach(), "b": rand64(1, 3, 1, 1, seed=2).detach()}
        for reduction in losses.PERCEPTUAL_REDUCTIONS:
            assert gradcheck(lambda a, b, r=reduction: losses.perceptual_loss({"a": a, "b": b}, target, [1.0, 0.3], r),
                             (rand64(1, 2, 2, 2), rand64(1, 3, 1, 1, seed=3)))

    def test_channel_sum_known_value(self):
        # layer a: 4 channels at |diff| 0.5 -> 2.0 per image; layer b: 8 channels at 3 -> 24; weights 1 and 0.5
        pred = {"a": torch.zeros(2, 4, 2, 2), "b": torch.zeros(2, 8, 1, 1)}
        target = {"a": torch.full((2, 4, 2, 2), 0.5), "b": torch.full((2, 8, 1, 1), -3.0)}
        assert float(losses.perceptual_loss(pred, target, [1.0, 0.5], "channel_sum")) == pytest.approx(14.0)

    def test_channel_sum_is_piqs_content_loss_reduction(self):
        # piq's ContentLoss: per image, |diff| averaged over H, W and summed over channels; then the batch mean
        generator = torch.Generator().manual_seed(5)
        pred = {k: torch.rand(3, c, h, h, generator=generator) for k, c, h in (("a", 5, 4), ("b", 7, 2))}
        target = {k: torch.rand(v.shape, generator=generator) for k, v in pred.items()}
        piq = sum(w * (pred[k] - target[k]).abs().mean(dim=(2, 3)).sum(dim=1).mean()
                  for k, w in (("a", 1.0), ("b", 0.25)))
        ours = losses.perceptual_loss(pred, target, [1.0, 0.25], "channel_sum")
        assert float(ours) == pytest.approx(float(piq), rel=1e-6)
        assert float(losses.perceptual_loss(pred, target, [1.0, 0.25])) < float(ours) / 4  # "mean" is not it

    def test_module_reduction_equals_the_function(self):
        loss = losses.PerceptualLoss(layers=("pool1", "pool2"), pretrained=False, reduction="channel_sum")
        x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
        expected = losses.perceptual_loss(loss.vgg(x), loss.vgg(y), reduction="channel_sum")
        assert float(loss(x, y)) == pytest.approx(float(expected), rel=1e-6)
        assert losses.PerceptualLoss(layers=("pool1",), pretrained=False).reduction == "mean"

    def test_module_known_value(self):
        # conv1_1 set to copy the three (ImageNet-normalised) input channels, the other 61 channels zero
        loss = losses.PerceptualLoss(layers=("conv1_1",), pretrained=False)
        conv = loss.vgg.features[0]
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.zero_()
            for c in range(3):
                conv.weight[c, c, 1, 1] = 1.0
        x = torch.rand(1, 3, 4, 4) * 0.5
        expected = sum(0.25 / s for s in IMAGENET_STD) / 64
        assert float(loss(x + 0.25, x)) == pytest.approx(expected, rel=1e-5)

    def test_module_default_layers_and_gradient(self):
        loss = losses.PerceptualLoss(pretrained=False)
        assert loss.vgg.layers == ("pool1", "pool2", "pool3") and len(loss.vgg.features) == 19
        x = torch.rand(1, 3, 16, 16)
        pred = torch.rand(1, 3, 16, 16, requires_grad=True)
        assert float(loss(x, x)) == 0.0
        loss(pred, x).backward()
        assert pred.grad.abs().sum() > 0 and not any(p.requires_grad for p in loss.parameters())

    def test_errors(self):
        with pytest.raises(ShapeError, match="one weight per layer"):
            losses.PerceptualLoss(layers=("pool1",), weights=[1.0, 2.0], pretrained=False)
        with pytest.raises(ShapeError, match="same layer names"):
            losses.perceptual_loss({"a": torch.zeros(1)}, {"b": torch.zeros(1)})
        with pytest.raises(ShapeError):
            losses.perceptual_loss({"a": torch.zeros(1, 2)}, {"a": torch.zeros(1, 3)})
        loss = losses.PerceptualLoss(layers=("relu1_1",), pretrained=False)
        with pytest.raises(ShapeError):
            loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 4))
        with pytest.raises(RangeError):
            loss(torch.rand(1, 3, 8, 8) + 1, torch.rand(1, 3, 8, 8))
        with pytest.raises(ChoiceError, match="channel_sum"):
            losses.PerceptualLoss(layers=("pool1",), pretrained=False, reduction="sum")
        with pytest.raises(ChoiceError, match="reduction"):
            losses.perceptual_loss({"a": torch.zeros(1, 2)}, {"a": torch.zeros(1, 2)}, reduction="none")


class TestTotalVariation:
    def test_known_values(self):
        ramp = torch.arange(4.0).view(1, 1, 4).expand(2, 3, 4)  # +1 per column: 3 x 3 per channel
        assert float(losses.total_variation(ramp)) == 1.0
        assert float(losses.total_variation(ramp, "sum")) == 2 * 3 * 3
        checker = (torch.arange(3).view(3, 1) + torch.arange(3).view(1, 3)) % 2
        x = checker.float().expand(3, 3, 3)
        assert float(losses.total_variation(x)) == 2.0 and float(losses.total_variation(x, "sum")) == 36.0
        assert float(losses.total_variation(torch.full((3, 4, 4), 7.0))) == 0.0

    def test_gradcheck(self):
        assert gradcheck(losses.total_variation, (rand64(1, 2, 3, 3),))
        assert gradcheck(lambda x: losses.total_variation(x, "sum"), (rand64(2, 3, 3),))

    def test_errors(self):
        with pytest.raises(ShapeError, match="H, W >= 2"):
            losses.total_variation(torch.rand(3, 1, 5))
        with pytest.raises(ShapeError):
            losses.total_variation(torch.rand(4, 4))
        with pytest.raises(ChoiceError):
            losses.total_variation(torch.rand(3, 4, 4), "max")


class TestMuLaw:
    def test_known_values(self):
        assert float(losses.mu_law_loss(torch.zeros(3, 2, 2), torch.ones(3, 2, 2))) == pytest.approx(1.0)
        half = torch.full((3, 2, 2), 0.5)
        expected = math.log(1 + 50) / math.log(101)
        assert float(losses.mu_law_loss(half, torch.zeros(3, 2, 2), mu=100.0)) == pytest.approx(expected, rel=1e-6)
        assert float(losses.mu_law_loss(half, half)) == 0.0

    def test_compresses_bright_errors(self):
        dark, bright = torch.full((3, 1, 1), 0.01), torch.full((3, 1, 1), 0.9)
        assert losses.mu_law_loss(dark + 0.05, dark) > 5 * losses.mu_law_loss(bright + 0.05, bright)

    def test_gradcheck(self):
        target = rand64(1, 3, 2, 2, seed=1).detach()
        assert gradcheck(lambda p: losses.mu_law_loss(p, target), (rand64(1, 3, 2, 2),))

    def test_errors(self):
        with pytest.raises(RangeError, match="normalize_hdr"):
            losses.mu_law_loss(torch.full((3, 2, 2), 4.0), torch.rand(3, 2, 2))
        with pytest.raises(ShapeError):
            losses.mu_law_loss(torch.rand(3, 2, 2), torch.rand(1, 3, 2, 2))
        with pytest.raises(RangeError):
            losses.mu_law_loss(torch.rand(3, 2, 2), torch.rand(3, 2, 2), mu=0.0)


class TestSoftHistogram:
    def test_sums_to_one_inside_the_range(self):
        x = 0.1 + 0.8 * torch.rand(2, 3, 8, 8)
        hist = losses.soft_histogram(x)
        assert hist.shape == (2, 3, 64)
        assert torch.allclose(hist.sum(-1), torch.ones(2, 3), atol=1e-5)

    def test_matches_hard_histogram_for_a_small_bandwidth(self):
        bins = 16
        centres = (torch.arange(bins) + 0.5) / bins
        x = centres[torch.randint(0, bins, (3, 5, 7))]  # values at bin centres: no edge effects
        hard = torch.stack([torch.histc(c, bins, 0.0, 1.0) for c in x]) / 35
        assert torch.allclose(losses.soft_histogram(x, bins, bandwidth=1e-3), hard, atol=1e-6)

    def test_value_range_and_outside_values(self):
        x = torch.tensor([2.5, 7.5, 100.0]).view(1, 1, 3)
        hist = losses.soft_histogram(x, bins=2, value_range=(0.0, 10.0), bandwidth=0.1)
        assert hist[0].tolist() == pytest.approx([1 / 3, 1 / 3], abs=1e-6)  # 100 is outside: not counted

    def test_gradcheck(self):
        assert gradcheck(lambda x: losses.soft_histogram(x, bins=5), (rand64(1, 2, 2, 3),))

    @pytest.mark.parametrize(("kwargs", "error"), [
        ({"bins": 0}, RangeError), ({"bins": 2.5}, DTypeError), ({"value_range": (1.0, 0.0)}, RangeError),
        ({"value_range": (0.0, math.inf)}, RangeError), ({"value_range": "01"}, DTypeError),
        ({"value_range": 1.0}, DTypeError), ({"bandwidth": -0.1}, RangeError),
    ])
    def test_errors(self, kwargs, error):
        with pytest.raises(error):
            losses.soft_histogram(torch.rand(3, 4, 4), **kwargs)


class TestHistogramLoss:
    def test_constants_move_by_their_distance(self):
        a, b = torch.full((2, 3, 4, 4), 16.5 / 64), torch.full((2, 3, 4, 4), 48.5 / 64)
        assert float(losses.histogram_loss(a, b)) == pytest.approx(0.5, abs=1e-5)
        assert float(losses.histogram_loss(a, a)) == 0.0

    def test_ignores_positions_and_size(self):
        x = torch.rand(1, 3, 4, 4)
        shuffled = x.flatten(-2)[..., torch.randperm(16)].view(1, 3, 4, 4)
        assert float(losses.histogram_loss(shuffled, x)) == pytest.approx(0.0, abs=1e-6)
        assert float(losses.histogram_loss(x.repeat(1, 1, 2, 1), x)) == pytest.approx(0.0, abs=1e-6)

    @pytest.mark.parametrize("distance", ["emd", "l1"])
    def test_gradcheck(self, distance):
        target = rand64(1, 2, 3, 3, seed=1).detach()
        assert gradcheck(lambda p: losses.histogram_loss(p, target, bins=6, distance=distance), (rand64(1, 2, 3, 3),))

    def test_l1_is_the_l1_between_hard_histograms_for_a_small_bandwidth(self):
        bins = 16
        centres = (torch.arange(bins) + 0.5) / bins
        generator = torch.Generator().manual_seed(2)
        a, b = (centres[torch.randint(0, bins, (3, 5, 7), generator=generator)] for _ in range(2))
        hard = [torch.stack([torch.histc(c, bins, 0.0, 1.0) for c in x]) / 35 for x in (a, b)]
        want = (hard[0] - hard[1]).abs().sum(-1).mean()
        got = losses.histogram_loss(a, b, bins, bandwidth=1e-3, distance="l1")
        assert float(want) > 0.1 and float(got) == pytest.approx(float(want), abs=1e-5)

    def test_l1_does_not_see_how_far_values_move_but_emd_does(self):
        a, near, far = (torch.full((3, 4, 4), (k + 0.5) / 64) for k in (16, 24, 48))
        l1 = [float(losses.histogram_loss(a, other, distance="l1")) for other in (near, far)]
        emd = [float(losses.histogram_loss(a, other)) for other in (near, far)]
        assert l1 == pytest.approx([2.0, 2.0], abs=1e-4) and float(losses.histogram_loss(a, a, distance="l1")) == 0.0
        assert emd == pytest.approx([8 / 64, 32 / 64], abs=1e-5)

    def test_errors(self):
        with pytest.raises(ShapeError, match=r"\(\*, C\)"):
            losses.histogram_loss(torch.rand(2, 3, 4, 4), torch.rand(1, 3, 4, 4))
        with pytest.raises(RangeError):
            losses.histogram_loss(torch.rand(3, 4, 4), torch.rand(3, 4, 4), bins=0)
        with pytest.raises(ChoiceError, match="Expected distance in"):
            losses.histogram_loss(torch.rand(3, 4, 4), torch.rand(3, 4, 4), distance="wasserstein")


class TestSobelAndEdge:
    def test_ramps(self):
        horizontal = 0.3 * torch.arange(6.0).expand(2, 6, 6)
        vertical = horizontal.transpose(-1, -2)
        for ramp in (horizontal, vertical):
            assert torch.allclose(losses.sobel_edges(ramp)[:, 1:-1, 1:-1], torch.full((2, 4, 4), 0.3), atol=1e-4)
        flat = losses.sobel_edges(torch.ones(3, 4, 4))
        assert torch.allclose(flat, torch.full((3, 4, 4), 1e-3))

    def test_one_pixel_by_hand(self):
        x = torch.rand(1, 1, 3, 3)
        p = x[0, 0]
        gx = ((p[0, 2] - p[0, 0]) + 2 * (p[1, 2] - p[1, 0]) + (p[2, 2] - p[2, 0])) / 8
        gy = ((p[2, 0] - p[0, 0]) + 2 * (p[2, 1] - p[0, 1]) + (p[2, 2] - p[0, 2])) / 8
        expected = torch.sqrt(gx**2 + gy**2 + 1e-6)
        assert float(losses.sobel_edges(x)[0, 0, 1, 1]) == pytest.approx(float(expected), rel=1e-5)

    def test_channels_are_independent(self):
        x = torch.rand(2, 3, 5, 5)
        per_channel = torch.cat([losses.sobel_edges(x[:, c:c + 1]) for c in range(3)], dim=1)
        assert torch.allclose(losses.sobel_edges(x), per_channel)

    def test_edge_loss_known_value(self):
        ramp = 0.2 * torch.arange(4.0).expand(1, 1, 4, 4)  # gx: 0.1 at the (replicated) borders, 0.2 inside
        magnitude = torch.tensor([0.1, 0.2, 0.2, 0.1]).pow(2).add(1e-6).sqrt()
        expected = float((magnitude - 1e-3).mean())
        assert float(losses.edge_loss(torch.zeros(1, 1, 4, 4), ramp)) == pytest.approx(expected, rel=1e-5)
        assert float(losses.edge_loss(ramp, ramp)) == 0.0

    def test_gradcheck(self):
        target = rand64(1, 2, 4, 4, seed=1).detach()
        assert gradcheck(lambda p: losses.edge_loss(p, target), (rand64(1, 2, 4, 4),))
        assert gradcheck(losses.sobel_edges, (rand64(2, 3, 3),))

    def test_errors(self):
        with pytest.raises(ShapeError):
            losses.edge_loss(torch.rand(3, 4, 4), torch.rand(3, 4, 5))
        with pytest.raises(ShapeError):
            losses.sobel_edges(torch.rand(4, 4))
        with pytest.raises(RangeError):
            losses.sobel_edges(torch.rand(3, 4, 4), eps=0.0)


def cobi_reference(pred, target, spatial_weight, bandwidth):
    """The authors' TF computation (CX/CSFlow.py), written with loops in NumPy for one image (C, H, W)."""
    channels, height, width = target.shape
    p = pred.reshape(channels, -1).T.astype(np.float64)
    t = target.reshape(channels, -1).T.astype(np.float64)
    centre = t.mean(axis=0)
    p = (p - centre) / np.linalg.norm(p - centre, axis=1, keepdims=True)
    t = (t - centre) / np.linalg.norm(t - centre, axis=1, keepdims=True)
    n = height * width
    feature, spatial = np.empty((n, n)), np.empty((n, n))
    for i in range(n):
        for j in range(n):
            feature[i, j] = (1 - p[i] @ t[j]) / 2
            spatial[i, j] = ((i // width - j // width) / height) ** 2 + ((i % width - j % width) / width) ** 2

    def contextual(distance):
        relative = distance / (distance.min(axis=1, keepdims=True) + 1e-3)
        weights = np.exp((1 - relative) / bandwidth)
        return weights / weights.sum(axis=1, keepdims=True)

    combined = (1 - spatial_weight) * contextual(feature) + spatial_weight * contextual(spatial)
    return -np.log(combined.max(axis=0).mean())


class TestContextualBilateral:
    @pytest.mark.parametrize(("spatial_weight", "bandwidth"), [(0.1, 0.5), (0.0, 1.0), (0.5, 0.2)])
    def test_matches_the_reference_computation(self, spatial_weight, bandwidth):
        torch.manual_seed(0)
        pred, target = torch.randn(2, 4, 3, 4), torch.randn(2, 4, 3, 4)
        expected = np.mean([cobi_reference(pred[b].numpy(), target[b].numpy(), spatial_weight, bandwidth)
                            for b in range(2)])
        loss = losses.contextual_bilateral_loss(pred, target, spatial_weight, bandwidth)
        assert float(loss) == pytest.approx(expected, rel=1e-5)

    def test_distinct_features_matched_in_place_give_zero(self):
        target = torch.eye(4).view(1, 4, 2, 2) - 0.25  # four distinct directions after centring
        assert float(losses.contextual_bilateral_loss(target, target)) == pytest.approx(0.0, abs=1e-6)

    def test_spatial_term_penalises_moves_only_when_weighted(self):
        torch.manual_seed(0)
        target = torch.randn(1, 8, 4, 4)
        moved = target.roll(2, dims=-1)
        same = losses.contextual_bilateral_loss(target, target, spatial_weight=0.0)
        assert float(losses.contextual_bilateral_loss(moved, target, spatial_weight=0.0)) == pytest.approx(float(same))
        assert losses.contextual_bilateral_loss(moved, target) > losses.contextual_bilateral_loss(target, target)

    def test_bounds(self):
        loss = losses.contextual_bilateral_loss(torch.randn(3, 5, 4, 4), torch.randn(3, 5, 4, 4))
        assert 0 < float(loss) <= math.log(16)

    def test_gradcheck(self):
        target = rand64(1, 3, 2, 3, seed=1).detach()
        assert gradcheck(lambda p: losses.contextual_bilateral_loss(p, target), (rand64(1, 3, 2, 3),))

    def test_errors(self):
        x = torch.rand(1, 2, 4, 4)
        with pytest.raises(ShapeError, match=r"at most 15 .*avg_pool2d"):
            losses.contextual_bilateral_loss(x, x, max_positions=15)
        with pytest.raises(ShapeError, match=r"4096.*65 x 64"):
            losses.contextual_bilateral_loss(torch.rand(1, 1, 65, 64), torch.rand(1, 1, 65, 64))
        with pytest.raises(ShapeError):
            losses.contextual_bilateral_loss(x, torch.rand(1, 2, 4, 3))
        with pytest.raises(ShapeError):
            losses.contextual_bilateral_loss(x[0], x[0])
        with pytest.raises(RangeError):
            losses.contextual_bilateral_loss(x, x, spatial_weight=1.5)
        with pytest.raises(RangeError):
            losses.contextual_bilateral_loss(x, x, bandwidth=0.0)


class TestCoBiModule:
    def test_defaults_and_values(self):
        loss = losses.CoBiLoss(pretrained=False)
        assert loss.vgg.layers == ("relu3_4", "relu4_4") and len(loss.vgg.features) == 27
        x = torch.rand(1, 3, 16, 16)
        pred = torch.rand(1, 3, 16, 16, requires_grad=True)
        value = loss(pred, x)
        assert float(loss(x, x)) < float(value.detach()) <= 2 * math.log(4 * 4)
        value.backward()
        assert pred.grad.abs().sum() > 0

    def test_weighted_sum_of_layers(self):
        loss = losses.CoBiLoss(layers=("relu1_1", "relu2_1"), weights=[1.0, 0.5], pretrained=False)
        x, y = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
        fx, fy = loss.vgg(x), loss.vgg(y)
        expected = (losses.contextual_bilateral_loss(fx["relu1_1"], fy["relu1_1"])
                    + 0.5 * losses.contextual_bilateral_loss(fx["relu2_1"], fy["relu2_1"]))
        assert torch.allclose(loss(x, y), expected)

    def test_errors(self):
        loss = losses.CoBiLoss(layers=("relu1_1",), pretrained=False, max_positions=16)
        with pytest.raises(ShapeError, match="feature positions"):
            loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
        with pytest.raises(ShapeError):
            loss(torch.rand(3, 4, 4), torch.rand(3, 4, 4))
        with pytest.raises(ChoiceError):
            losses.CoBiLoss(layers=("relu9_9",), pretrained=False)
