"""hdrlab.methods.multiexposure (Le et al. WACV 2023) and hdrlab.data.datasets.StackPairs.

The architecture is checked against the reference's ``BaseUNet`` channel rules
(VinAIResearch/single_image_hdr, src/architectures/base_unet.py), written out
independently below; losses against hand-computed values and gradcheck;
training through hdrlab.train (one step, checkpoints, exact resume) on a tiny
profile; generation, the naive baseline, the merge and the evaluation rows;
StackPairs on simulated and on fixture DrTMO brackets; the CLI.
"""

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import default_collate

from hdrlab import __main__ as cli
from hdrlab import metrics, train
from hdrlab.data.datasets import DRTMO_EVS, DRTMO_TIMES, BracketStacks, ExposurePairs, StackPairs
from hdrlab.data.public import DRTMO_FILES, DrTMOBrackets
from hdrlab.errors import ChoiceError, DTypeError, ExposureError, MissingFileError, RangeError, ShapeError
from hdrlab.imaging.camera import simulate_brackets
from hdrlab.io import write_ldr
from hdrlab.methods import expandnet
from hdrlab.methods import multiexposure as me
from hdrlab.metrics import log_error_stops
from hdrlab.nn.blocks import count_parameters

# ----------------------------------------------------------------------------- helpers


def _reference_unet_shapes(base: int, cap: int, levels: int, in_c: int = 3, out_c: int = 3,
                           concat: bool = True) -> list[tuple[int, ...]]:
    """Parameter shapes of the reference's BaseUNet (enc/dec blocks: two 3x3 conv without bias + BN each;
    SubPixelUpsampling: 1x1 conv c -> 4c without bias + BN(4c); head: 1x1 conv with bias), from its rules."""
    feats = [(in_c, base)]  # (input, output) channels of each encoder block
    for _ in range(1, levels):
        feats.append((feats[-1][1], min(2 * feats[-1][1], cap)))

    def block(c_in, c_out):
        return [(c_out, c_in, 3, 3), (c_out,), (c_out,), (c_out, c_out, 3, 3), (c_out,), (c_out,)]

    shapes = [s for c_in, c_out in feats for s in block(c_in, c_out)]
    channels = feats[-1][1]
    for i in range(levels - 1, 0, -1):  # decoder block joining encoder block i - 1 (0-based)
        shapes += [(4 * channels, channels, 1, 1), (4 * channels,), (4 * channels,)]
        prev_in, prev_out = feats[i - 1]
        out = prev_in if prev_in != in_c else channels  # the previous block's input, except at the top
        shapes += block(channels + prev_out, out)
        channels = out
    head_in = in_c + base if concat else base
    return shapes + [(out_c, head_in, 1, 1), (out_c,)]


def _reference_count(*args, **kwargs) -> int:
    return sum(math.prod(shape) for shape in _reference_unet_shapes(*args, **kwargs))


def _tiny_model(shared: bool = False, seed: int = 0) -> me.MultiExposureNet:
    torch.manual_seed(seed)
    return me.MultiExposureNet(n1_width=4, n23_width=4, levels=3, shared=shared)


def _grey(values) -> torch.Tensor:
    """A (3, 1, N) grey image with the given values."""
    return torch.tensor(values, dtype=torch.float32).view(1, 1, -1).expand(3, 1, -1).contiguous()


def _smooth_radiance(side: int = 32) -> torch.Tensor:
    """A smooth coloured radiance spanning about 8 stops."""
    y, x = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    stops = 7 * (0.6 * x + 0.4 * y) - 3.5 + 0.5 * torch.sin(6 * x)
    return torch.stack([stops, stops - 0.3, stops + 0.2]).exp2()


def _drtmo_frame(ev: float, side: int, shift: float) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    radiance = torch.stack([x, y, (x + y) / 2]) * 0.8 + 0.05 + shift
    return (radiance * 2.0**ev).clamp(0, 1) ** (1 / 2.2)


def make_drtmo(root: Path, stacks: int = 2, side: int = 24) -> Path:
    """DrTMO layout: <stack>/a.png ... i.png, file k a gamma-2.2 shot of one ramp at DRTMO_EVS[k]."""
    for s in range(stacks):
        folder = root / f"hdr{s}_srgb"
        folder.mkdir(parents=True)
        for name, ev in zip(DRTMO_FILES, DRTMO_EVS):
            write_ldr(folder / name, _drtmo_frame(ev, side, 0.05 * s))
    return root


@pytest.fixture
def tiny(monkeypatch):
    """The quick profile shrunk so that a training run takes about a second (same code paths)."""
    small = dataclasses.replace(
        me.PROFILES["quick"], n1_width=2, n1_max_width=4, n23_width=4, n23_max_width=8, levels=3, size=16,
        batch_size=2, train_max_side=64, samples=8, log_every=1, eval_max_side=32, eval_crfs=("srgb",),
        eval_evs=(-1.0, 0.0, 1.0), eval_every=100, checkpoint_every=100,
    )
    monkeypatch.setitem(me.PROFILES, "quick", small)
    return small


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


# ----------------------------------------------------------------------------- architecture


class TestArchitecture:
    def test_reference_size_counts(self):
        n1 = me.ExposureUNet(base_width=16, max_width=256, levels=7, head="tanh", concat_input=False)
        n23 = me.ExposureUNet(base_width=32, max_width=512, levels=7)
        assert count_parameters(n1) == _reference_count(16, 256, 7, concat=False) == 6_916_131
        assert count_parameters(n23) == _reference_count(32, 512, 7) == 27_639_372
        full = me.build_model(me.PROFILES["full"])
        assert count_parameters(full.up_net) == count_parameters(full.down_net) == 27_639_372
        expected = _reference_count(16, 256, 7, concat=False) + 2 * _reference_count(32, 512, 7)
        assert count_parameters(full) == expected == 62_194_875

    def test_shared_ablation_has_n1_and_n2_only(self):
        shared = me.build_model(me.PROFILES["full"], "shared_net")
        assert not hasattr(shared, "down_net") and shared.shared
        expected = _reference_count(16, 256, 7, concat=False) + _reference_count(32, 512, 7)
        assert count_parameters(shared) == expected == 34_555_503

    @pytest.mark.parametrize(("base", "cap", "levels", "concat"),
                             [(4, 32, 7, False), (8, 64, 7, True), (4, 8, 4, True), (6, 100, 3, False), (5, 5, 2, True),
                              (4, 16, 1, True)])
    def test_parameter_shapes_follow_the_reference_rules(self, base, cap, levels, concat):
        net = me.ExposureUNet(base_width=base, max_width=cap, levels=levels, concat_input=concat)
        assert net.widths == [min(base * 2**i, cap) for i in range(levels)]
        ours = sorted(tuple(p.shape) for p in net.parameters())
        assert ours == sorted(_reference_unet_shapes(base, cap, levels, concat=concat))

    def test_quick_profile_keeps_the_architecture(self):
        quick = me.PROFILES["quick"]
        model = me.build_model(quick)
        assert quick.levels == 7 and model.multiple == 64
        expected = (_reference_count(quick.n1_width, quick.n1_max_width, 7, concat=False)
                    + 2 * _reference_count(quick.n23_width, quick.n23_max_width, 7))
        assert count_parameters(model) == expected

    def test_building_blocks_of_the_reference(self):
        net = me.ExposureUNet(base_width=4, max_width=8, levels=3)
        mish = [m for m in net.modules() if isinstance(m, torch.nn.Mish)]
        norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert len(mish) == len(norms) == 3 * 2 + 2 * 2 + 2  # enc convs, dec convs, upsamplers
        assert sum(isinstance(m, torch.nn.PixelShuffle) for m in net.modules()) == 2
        assert isinstance(net.head[1], me.NormalizedTanh) and net.head[0].bias is not None
        n1 = me.ExposureUNet(base_width=4, max_width=8, levels=3, head="tanh", concat_input=False)
        assert isinstance(n1.head[1], torch.nn.Tanh)


class TestSubPixelUpsample:
    def test_parameters_and_shape(self):
        up = me.SubPixelUpsample(5)
        assert count_parameters(up) == 4 * 5 * 5 + 8 * 5
        assert up.up.conv.bias is None and up.up.conv.weight.shape == (20, 5, 1, 1)
        assert up(torch.rand(2, 5, 3, 7)).shape == (2, 5, 6, 14)

    def test_icnr_groups_are_equal(self):
        torch.manual_seed(0)
        weight = me.SubPixelUpsample(6).up.conv.weight.detach().view(6, 4, 6)  # PixelShuffle groups of 4
        assert torch.equal(weight, weight[:, :1].expand(6, 4, 6))
        assert not torch.equal(weight[0, 0], weight[1, 0])  # the groups themselves differ

    @pytest.mark.parametrize("mode", ["eval", "train"])
    def test_starts_as_nearest_upsampling(self, mode):
        torch.manual_seed(0)
        up = me.SubPixelUpsample(4)
        up.train(mode == "train")
        out = up(torch.randn(2, 4, 3, 5))
        blocks = out.view(2, 4, 3, 2, 5, 2)  # (B, C, H, 2, W, 2): each 2x2 output block
        assert torch.allclose(blocks, blocks[:, :, :, :1, :, :1].expand_as(blocks), atol=1e-6)
        assert float(out.detach().std()) > 0.01

    def test_bad_channels(self):
        with pytest.raises(RangeError):
            me.SubPixelUpsample(0)


class TestHeads:
    def test_n1_in_minus_one_one_and_n23_in_zero_one(self):
        torch.manual_seed(0)
        model = _tiny_model().eval()
        x = torch.rand(2, 3, 16, 16)
        with torch.no_grad():
            n1 = model.hdr_net(x)
            n2, n3 = model.up_net(x * 4), model.down_net(x * 4)
        assert float(n1.min()) > -1 and float(n1.max()) < 1 and float(n1.min()) < 0 < float(n1.max())
        for out in (n2, n3):
            assert 0 < float(out.min()) and float(out.max()) < 1

    @pytest.mark.parametrize(("height", "width"), [(4, 4), (8, 12), (16, 4), (20, 32)])
    def test_forward_shapes(self, height, width):
        net = me.ExposureUNet(base_width=4, max_width=8, levels=3).eval()
        assert net.multiple == 4
        assert net(torch.rand(2, 3, height, width)).shape == (2, 3, height, width)

    @pytest.mark.parametrize("shape", [(1, 3, 6, 8), (1, 3, 8, 10), (1, 3, 2, 2)])
    def test_non_multiples_are_a_shape_error(self, shape):
        with pytest.raises(ShapeError, match="multiples of 4"):
            me.ExposureUNet(base_width=4, max_width=8, levels=3)(torch.rand(shape))

    def test_bad_inputs_and_choices(self):
        net = me.ExposureUNet(base_width=4, max_width=8, levels=3)
        with pytest.raises(ShapeError):
            net(torch.rand(1, 4, 8, 8))
        with pytest.raises(ShapeError):
            net(torch.rand(3, 8, 8))
        with pytest.raises(DTypeError):
            net(torch.ones(1, 3, 8, 8, dtype=torch.int64))
        with pytest.raises(ChoiceError, match="head"):
            me.ExposureUNet(head="sigmoid")
        with pytest.raises(RangeError):
            me.ExposureUNet(levels=0)
        with pytest.raises(DTypeError):
            me.ExposureUNet(base_width=4.0)


# ----------------------------------------------------------------------------- the mask


class TestExposureMask:
    def test_known_values_on_grey(self):
        tau = 0.95
        grey = _grey([0.0, (1 - tau) / 2, 0.5, tau + (1 - tau) / 2, 1.0, 0.05, 0.95])
        assert me.exposure_mask(grey, tau).flatten().tolist() == pytest.approx([0, 0.5, 1, 0.5, 0, 1, 1], abs=1e-5)

    def test_other_threshold(self):
        mask = me.exposure_mask(_grey([0.1, 0.15, 0.9, 0.95]), threshold=0.8)
        assert mask.flatten().tolist() == pytest.approx([0.5, 0.75, 0.5, 0.25], abs=1e-5)

    def test_colour_uses_bt601_luma(self):
        torch.manual_seed(0)
        ldr = torch.rand(2, 3, 5, 6)
        ldr[0, :, 0, 0] = torch.tensor([0.0, 0.0, 0.2])  # Y = 0.0228: in the lower ramp
        ldr[0, :, 0, 1] = torch.tensor([1.0, 1.0, 0.6])  # Y = 0.9544: in the upper ramp
        luma = 0.299 * ldr[:, 0:1] + 0.587 * ldr[:, 1:2] + 0.114 * ldr[:, 2:3]
        expected = 1 - torch.maximum((0.05 - luma).clamp(min=0), (luma - 0.95).clamp(min=0)) / 0.05
        mask = me.exposure_mask(ldr)
        assert mask.shape == (2, 1, 5, 6)
        assert torch.allclose(mask, expected, atol=1e-5)
        assert float(mask[0, 0, 0, 0]) == pytest.approx(1 - (0.05 - 0.0228) / 0.05, abs=1e-4)
        assert float(mask[0, 0, 0, 1]) == pytest.approx(1 - (0.9544 - 0.95) / 0.05, abs=1e-4)

    @pytest.mark.parametrize("shape", [(3, 4, 4), (2, 3, 4, 4), (2, 2, 3, 1, 7)])
    def test_shape_and_range(self, shape):
        torch.manual_seed(0)
        mask = me.exposure_mask(torch.rand(shape) ** 3)
        assert mask.shape == (*shape[:-3], 1, *shape[-2:])
        assert 0 <= float(mask.min()) and float(mask.max()) <= 1
        assert float(me.exposure_mask(torch.ones(shape)).max()) == 0.0

    @pytest.mark.parametrize("threshold", [0.5, 1.0, 0.3, 1.2, -0.95, float("nan")])
    def test_threshold_outside_the_open_interval(self, threshold):
        with pytest.raises(RangeError, match="threshold"):
            me.exposure_mask(torch.rand(3, 2, 2), threshold)

    def test_non_ldr_inputs(self):
        with pytest.raises(RangeError):
            me.exposure_mask(torch.rand(3, 2, 2) * 2)
        with pytest.raises(RangeError):
            me.exposure_mask(torch.full((3, 2, 2), float("nan")))
        with pytest.raises(ShapeError):
            me.exposure_mask(torch.rand(4, 2, 2))
        with pytest.raises(DTypeError):
            me.exposure_mask(torch.ones(3, 2, 2, dtype=torch.uint8))


# ----------------------------------------------------------------------------- the full model


class TestForward:
    @pytest.mark.parametrize("ratio", [2**-3.3, 1.7, 2**2.5, 1.0])
    def test_any_ratio(self, ratio):
        model = _tiny_model().eval()
        with torch.no_grad():
            out, latent = model(torch.rand(2, 3, 8, 12), ratio)
        assert out.shape == latent.shape == (2, 3, 8, 12)
        assert torch.isfinite(out).all() and 0 < float(out.min()) and float(out.max()) < 1

    def test_up_net_for_ratios_from_one_down_net_below(self):
        model = _tiny_model().eval()
        ldr = torch.rand(2, 3, 8, 8)
        with torch.no_grad():
            before = {r: model(ldr, r)[0] for r in (0.5, 1.0, 2.0)}
            for p in model.down_net.parameters():
                p.add_(0.1)
            after_down = {r: model(ldr, r)[0] for r in (0.5, 1.0, 2.0)}
            for p in model.up_net.parameters():
                p.add_(0.1)
            after_up = {r: model(ldr, r)[0] for r in (0.5, 1.0, 2.0)}
        assert torch.equal(after_down[2.0], before[2.0]) and torch.equal(after_down[1.0], before[1.0])
        assert not torch.allclose(after_down[0.5], before[0.5])
        assert torch.equal(after_up[0.5], after_down[0.5])
        assert not torch.allclose(after_up[2.0], after_down[2.0]) and not torch.allclose(after_up[1.0], after_down[1.0])

    def test_shared_model_renders_both_directions_with_up_net(self):
        model = _tiny_model(shared=True).eval()
        ldr = torch.rand(1, 3, 8, 8)
        with torch.no_grad():
            latent = model.encode(ldr)
            assert torch.equal(model(ldr, 0.25)[0], model.up_net(latent * 0.25))

    def test_mixed_batches_route_per_image(self):
        model = _tiny_model().eval()
        torch.manual_seed(1)
        ldr = torch.rand(4, 3, 8, 8)
        ratios = torch.tensor([2**-3.3, 1.7, 2**2.5, 0.5])
        with torch.no_grad():
            mixed, latent = model(ldr, ratios)
            for i in range(4):
                alone, alone_latent = model(ldr[i : i + 1], ratios[i : i + 1])
                assert torch.allclose(mixed[i], alone[0], atol=1e-6)
                assert torch.allclose(latent[i], alone_latent[0], atol=1e-6)
            up = model.up_net(latent[[1, 2]] * ratios[[1, 2]].view(-1, 1, 1, 1))
            down = model.down_net(latent[[0, 3]] * ratios[[0, 3]].view(-1, 1, 1, 1))
        assert torch.allclose(mixed[[1, 2]], up, atol=1e-6) and torch.allclose(mixed[[0, 3]], down, atol=1e-6)

    def test_latent_is_relu_of_input_plus_n1_of_masked_input(self):
        model = _tiny_model().eval()
        torch.manual_seed(2)
        ldr = torch.rand(2, 3, 8, 8)
        ldr[:, :, :3, :3] = 1.0  # a clipped patch: mask 0 there, so N1 sees a different input than ldr
        ldr[1, :, 5:, 5:] = 0.01  # and an under-exposed one
        with torch.no_grad():
            for p in model.hdr_net.head[0].parameters():
                p.mul_(30)  # a strong N1 so that the relu clips somewhere
            _, latent = model(ldr, 2.0)
            residual = model.hdr_net(ldr * me.exposure_mask(ldr))
        manual = torch.relu(ldr + residual)
        assert torch.allclose(latent, manual, atol=1e-6)
        with torch.no_grad():
            assert not torch.allclose(latent, torch.relu(ldr + model.hdr_net(ldr)), atol=1e-4)  # the mask matters
        assert float(latent.min()) >= 0 and bool((ldr + residual < 0).any())
        assert torch.equal(model.encode(ldr).detach(), latent)

    def test_unmasked_n1_sees_the_input_itself(self):
        masked = _tiny_model().eval()
        unmasked = _tiny_model().eval()
        unmasked.masked_input = False
        ldr = torch.rand(1, 3, 8, 8)
        ldr[:, :, :3, :3] = 1.0  # clipped: the mask is 0 there, so the two inputs of N1 differ
        with torch.no_grad():
            assert torch.allclose(unmasked.encode(ldr), torch.relu(ldr + unmasked.hdr_net(ldr)), atol=1e-6)
            assert not torch.allclose(unmasked.encode(ldr), masked.encode(ldr), atol=1e-4)
        assert me.MultiExposureNet(n1_width=2, n23_width=2, levels=2, masked_input=False).masked_input is False

    def test_scalar_and_tensor_ratios_broadcast(self):
        model = _tiny_model().eval()
        ldr = torch.rand(3, 3, 8, 8)
        with torch.no_grad():
            full = model(ldr, torch.full((3,), 2.0))[0]
            assert torch.equal(model(ldr, 2.0)[0], full)
            assert torch.equal(model(ldr, 2)[0], full)
            assert torch.equal(model(ldr, torch.tensor(2.0))[0], full)
            assert torch.equal(model(ldr, [2.0, 2.0, 2.0])[0], full)

    @pytest.mark.parametrize("ratio", [0.0, -1.0, float("inf"), float("nan"), [1.0, 0.0]])
    def test_bad_ratios(self, ratio):
        with pytest.raises(ExposureError, match="ratio"):
            _tiny_model()(torch.rand(2, 3, 8, 8), ratio)

    @pytest.mark.parametrize("ratio", [torch.ones(3), torch.ones(2, 1), [1.0, 2.0, 3.0]])
    def test_wrong_ratio_shape(self, ratio):
        with pytest.raises(ShapeError, match="ratio"):
            _tiny_model()(torch.rand(2, 3, 8, 8), ratio)

    def test_bad_images(self):
        model = _tiny_model()
        with pytest.raises(RangeError):
            model(torch.rand(1, 3, 8, 8) + 1, 2.0)
        with pytest.raises(ShapeError):
            model(torch.rand(1, 3, 6, 8), 2.0)
        with pytest.raises(DTypeError):
            model(torch.rand(1, 3, 8, 8), True)

    def test_invalid_threshold_is_rejected_not_nan(self):
        with pytest.raises(RangeError, match="threshold"):
            model = me.MultiExposureNet(n1_width=2, n23_width=2, levels=2, threshold=1.0).eval()
            out, _ = model(torch.rand(1, 3, 4, 4), 2.0)
            assert torch.isfinite(out).all()


# ----------------------------------------------------------------------------- losses


class TestRepresentationLoss:
    def test_consistent_latents_give_zero(self):
        torch.manual_seed(0)
        short = torch.rand(2, 3, 4, 4) + 0.1
        ratio = torch.tensor([4.0, 2.0**1.5])
        long = short * ratio.view(-1, 1, 1, 1)
        assert float(me.representation_loss(short, long, ratio)) == pytest.approx(0.0, abs=1e-6)

    def test_one_wrong_pixel_by_hand(self):
        short, long = torch.full((1, 3, 2, 2), 0.5), torch.ones(1, 3, 2, 2)
        long[0, 1, 0, 1] = 3.0
        eps, n = 1 / 255, 12
        down = abs(math.log(3.0 / 2 + eps) - math.log(0.5 + eps)) / n
        up = abs(math.log(0.5 * 2 + eps) - math.log(3.0 + eps)) / n
        assert float(me.representation_loss(short, long, torch.tensor([2.0]))) == pytest.approx(down + up, rel=1e-5)
        assert me.LOG_EPS == eps
        larger_eps = float(me.representation_loss(short, long, torch.tensor([2.0]), eps=0.5))
        assert larger_eps == pytest.approx((abs(math.log(2.0) - math.log(1.0)) + abs(math.log(1.5) - math.log(3.5))) / n)

    def test_symmetric_in_the_two_directions(self):
        torch.manual_seed(0)
        a, b = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4) * 3
        ratio = torch.tensor([2.0, 8.0])
        forward = me.representation_loss(a, b, ratio)
        assert float(forward) > 0
        assert float(me.representation_loss(b, a, 1 / ratio)) == pytest.approx(float(forward), rel=1e-5)

    def test_gradcheck(self):
        torch.manual_seed(0)
        short = (torch.rand(2, 3, 3, 3, dtype=torch.float64) + 0.2).requires_grad_()
        long = (torch.rand(2, 3, 3, 3, dtype=torch.float64) * 2 + 0.2).requires_grad_()
        ratio = torch.tensor([2.0, 4.0])
        assert torch.autograd.gradcheck(lambda s, lo: me.representation_loss(s, lo, ratio), (short, long))

    def test_bad_inputs(self):
        x = torch.rand(1, 3, 2, 2)
        with pytest.raises(RangeError):
            me.representation_loss(-x - 0.1, x, torch.tensor([2.0]))
        with pytest.raises(ShapeError):
            me.representation_loss(x, torch.rand(1, 3, 2, 3), torch.tensor([2.0]))
        with pytest.raises(ExposureError):
            me.representation_loss(x, x, torch.tensor([0.0]))
        with pytest.raises(ShapeError):
            me.representation_loss(x, x, torch.tensor([2.0, 2.0]))


class TestReconstructionAndTV:
    def test_reconstruction_known_values(self):
        a, b = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
        assert float(me.reconstruction_loss(a, b, torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]]))) == pytest.approx(0.5)
        rendered, target = torch.full((2, 3, 1, 2), 0.25), torch.full((2, 3, 1, 2), 0.75)
        mask = torch.tensor([1.0, 0.5, 0.0, 0.25]).view(2, 1, 1, 2)  # broadcast over the 3 channels
        assert float(me.reconstruction_loss(rendered, target, mask)) == pytest.approx(0.5 * 1.75 / 4)

    def test_reconstruction_gradcheck(self):
        torch.manual_seed(0)
        rendered = (torch.rand(2, 3, 3, 3, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
        target = torch.rand(2, 3, 3, 3, dtype=torch.float64) * 0.8 + 0.1
        mask = torch.rand(2, 1, 3, 3, dtype=torch.float64)
        assert torch.autograd.gradcheck(lambda r: me.reconstruction_loss(r, target, mask), (rendered,))

    def test_reconstruction_bad_inputs(self):
        x = torch.rand(1, 3, 2, 2)
        with pytest.raises(ShapeError, match="mask"):
            me.reconstruction_loss(x, x, torch.ones(1, 3, 2, 2))
        with pytest.raises(ShapeError):
            me.reconstruction_loss(x, torch.rand(1, 3, 2, 3), torch.ones(1, 1, 2, 2))
        with pytest.raises(RangeError):
            me.reconstruction_loss(x + 1, x, torch.ones(1, 1, 2, 2))

    def test_tv_is_a_per_image_sum_averaged_over_the_batch(self):
        images = torch.zeros(2, 3, 2, 3)
        images[0] = torch.arange(3.0).view(1, 1, 3)  # +1 per column: 3 channels x 2 rows x 2 steps = 12
        images[1, 1, 1, 2] = 0.5  # one bump: 0.5 to its left, 0.5 above
        assert float(me.tv_loss(images)) == pytest.approx((12 + 1.0) / 2)
        assert float(me.tv_loss(images[:1])) == pytest.approx(12.0)

    def test_tv_gradcheck(self):
        torch.manual_seed(0)
        x = torch.rand(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(me.tv_loss, (x,))


def _rendered_and_batch(seed: int = 0):
    torch.manual_seed(seed)
    batch = {"x": torch.rand(2, 3, 16, 16) * 0.6, "y": torch.rand(2, 3, 16, 16) * 0.5 + 0.5,
             "ratio": torch.tensor([2.0, 4.0])}
    rendered = {"x_hat": torch.rand(2, 3, 16, 16), "y_hat": torch.rand(2, 3, 16, 16),
                "latent_x": torch.rand(2, 3, 16, 16), "latent_y": torch.rand(2, 3, 16, 16) * 3}
    return rendered, batch


class TestMultiExposureLoss:
    def test_terms_by_hand_and_weights_applied(self):
        rendered, batch = _rendered_and_batch()
        weights = {"recon": 2.0, "hdr": 3.0, "perceptual": 0.5, "tv": 0.01}
        torch.manual_seed(0)
        criterion = me.MultiExposureLoss(weights, pretrained=False)
        terms = criterion(rendered, batch)
        assert set(terms) == {"loss", "recon", "hdr", "perceptual", "tv"}
        x, y, x_hat, y_hat = batch["x"], batch["y"], rendered["x_hat"], rendered["y_hat"]
        mx, my = me.exposure_mask(x), me.exposure_mask(y)
        expected = {
            "recon": me.reconstruction_loss(y_hat, y, my) + me.reconstruction_loss(x_hat, x, mx),
            "hdr": me.representation_loss(rendered["latent_x"], rendered["latent_y"], batch["ratio"]),
            "tv": me.tv_loss(y_hat) + me.tv_loss(x_hat),
            "perceptual": criterion.perceptual(y_hat * my, y * my) + criterion.perceptual(x_hat * mx, x * mx),
        }
        for name, value in expected.items():
            assert float(terms[name]) == pytest.approx(float(value), rel=1e-5), name
            assert float(terms[name]) > 0 and terms[name].grad_fn is None
        total = sum(weights[name] * float(value) for name, value in expected.items())
        assert float(terms["loss"]) == pytest.approx(total, rel=1e-5)

    def test_perceptual_term_is_summed_over_channels_as_the_reference(self):
        rendered, batch = _rendered_and_batch()
        criterion = me.MultiExposureLoss({"recon": 0.0, "hdr": 0.0, "perceptual": 1.0, "tv": 0.0}, pretrained=False)
        assert criterion.perceptual.reduction == "channel_sum"
        x, y, x_hat = batch["x"], batch["y"], rendered["x_hat"]
        mx = me.exposure_mask(x)
        features = [criterion.perceptual.vgg(image) for image in (x_hat * mx, x * mx)]
        # piq's ContentLoss, written out: per image, L1 averaged over positions and summed over channels; batch mean
        piq = sum((features[0][k] - features[1][k]).abs().mean(dim=(-2, -1)).sum(dim=1).mean() for k in features[0])
        assert float(criterion.perceptual(x_hat * mx, x * mx)) == pytest.approx(float(piq), rel=1e-5)
        averaged = sum(float((features[0][k] - features[1][k]).abs().mean()) for k in features[0])
        assert float(piq) > 50 * averaged  # what the element-mean reduction got wrong: pool1-3 have 64-256 channels
        terms = criterion(rendered, batch)
        assert float(terms["loss"]) == pytest.approx(float(terms["perceptual"]), rel=1e-6)
        assert float(terms["perceptual"]) == pytest.approx(
            float(criterion.perceptual(rendered["y_hat"] * me.exposure_mask(y), y * me.exposure_mask(y)) + piq),
            rel=1e-5)

    def test_perceptual_reduction_choice(self):
        weights = {"recon": 1.0, "hdr": 1.0, "perceptual": 0.1, "tv": 0.0}
        criterion = me.MultiExposureLoss(weights, pretrained=False, perceptual_reduction="mean")
        assert criterion.perceptual.reduction == "mean"
        assert all(s.perceptual_reduction == "channel_sum" for s in me.PROFILES.values())
        with pytest.raises(ChoiceError, match="perceptual_reduction"):
            me.MultiExposureLoss(weights, pretrained=False, perceptual_reduction="sum")

    def test_default_weights_are_the_reference_training_weights(self):
        assert me.LOSS_WEIGHTS == {"recon": 100.0, "hdr": 1.0, "perceptual": 0.1, "tv": 1e-5}
        assert me.PROFILES["full"].weights == me.LOSS_WEIGHTS
        assert me.PROFILES["full"].perceptual_layers == ("pool1", "pool2", "pool3")

    def test_zero_perceptual_weight_builds_no_vgg(self):
        rendered, batch = _rendered_and_batch()
        weights = {"recon": 1.0, "hdr": 0.0, "perceptual": 0.0, "tv": 1.0}
        criterion = me.MultiExposureLoss(weights, pretrained=False)
        assert criterion.perceptual is None and not list(criterion.parameters())
        terms = criterion(rendered, batch)
        assert float(terms["perceptual"]) == 0.0 and float(terms["hdr"]) > 0
        assert float(terms["loss"]) == pytest.approx(float(terms["recon"] + terms["tv"]), rel=1e-6)

    @pytest.mark.parametrize("weights", [
        {"recon": -1.0, "hdr": 1.0, "perceptual": 0.0, "tv": 0.0},
        {"recon": 1.0, "hdr": 1.0, "perceptual": 0.0},
        {"recon": 1.0, "hdr": 1.0, "perceptual": 0.0, "tv": 0.0, "ssim": 1.0},
        {"recon": "1", "hdr": 1.0, "perceptual": 0.0, "tv": 0.0},
    ])
    def test_bad_weights(self, weights):
        with pytest.raises(RangeError, match="weights"):
            me.MultiExposureLoss(weights, pretrained=False)

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_non_finite_weights_are_rejected(self, bad):
        with pytest.raises(RangeError, match="weights"):
            me.MultiExposureLoss({"recon": 1.0, "hdr": bad, "perceptual": 0.0, "tv": 0.0}, pretrained=False)


class TestOrderPairs:
    def test_shorter_exposure_first(self):
        a, b = torch.rand(2, 3, 2, 2), torch.rand(2, 3, 2, 2)
        ordered = me.order_pairs({"ldr_a": a, "ldr_b": b, "time_a": torch.tensor([1.0, 4.0]),
                                  "time_b": torch.tensor([2.0, 1.0])})
        assert torch.equal(ordered["x"], torch.stack([a[0], b[1]]))
        assert torch.equal(ordered["y"], torch.stack([b[0], a[1]]))
        assert ordered["ratio"].tolist() == [2.0, 4.0]

    def test_equal_times(self):
        a = torch.rand(2, 3, 2, 2)
        with pytest.raises(ExposureError, match="different exposure times"):
            me.order_pairs({"ldr_a": a, "ldr_b": a, "time_a": torch.tensor([1.0, 2.0]),
                            "time_b": torch.tensor([2.0, 2.0])})

    def test_render_pairs_runs_both_directions(self):
        model = _tiny_model().eval()
        torch.manual_seed(3)
        ordered = {"x": torch.rand(2, 3, 8, 8) * 0.5, "y": torch.rand(2, 3, 8, 8), "ratio": torch.tensor([2.0, 3.0])}
        with torch.no_grad():
            out = me.render_pairs(model, ordered)
            y_hat, latent_x = model(ordered["x"], ordered["ratio"])
            x_hat, latent_y = model(ordered["y"], 1 / ordered["ratio"])
        for key, value in (("y_hat", y_hat), ("x_hat", x_hat), ("latent_x", latent_x), ("latent_y", latent_y)):
            assert torch.allclose(out[key], value, atol=1e-6), key


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def pair_batch():
    pairs = ExposurePairs(["pmndrs_sky", "room_windows"], size=16, max_side=64, samples=4, min_gap=1.0, max_gap=3.0)
    return default_collate([pairs[i] for i in range(4)])


class TestTrainingStep:
    def test_loss_terms_keys_and_gradients_reach_the_three_nets(self, pair_batch):
        model = _tiny_model()
        terms = me.loss_terms(model, pair_batch, me.MultiExposureLoss(me.PROFILES["quick"].weights, pretrained=False))
        assert set(terms) == {"loss", "recon", "hdr", "perceptual", "tv"}
        terms["loss"].backward()
        for net in (model.hdr_net, model.up_net, model.down_net):
            assert sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None) > 0

    def test_optimizer_steps_lower_the_loss_on_a_fixed_batch(self, pair_batch):
        model = _tiny_model()
        criterion = me.MultiExposureLoss(me.PROFILES["quick"].weights, pretrained=False)
        optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
        first = float(me.loss_terms(model, pair_batch, criterion)["loss"].detach())
        for _ in range(3):
            optimiser.zero_grad()
            me.loss_terms(model, pair_batch, criterion)["loss"].backward()
            optimiser.step()
        assert float(me.loss_terms(model, pair_batch, criterion)["loss"].detach()) < 0.95 * first


class TestSettings:
    def test_ablations(self):
        reference = me.settings_for("quick", steps=10)
        assert (reference.steps, reference.eval_every, reference.checkpoint_every) == (10, 10, 10)
        assert me.settings_for("quick", steps=10, ablation="no_representation_loss") == dataclasses.replace(
            reference, hdr_weight=0.0)
        assert me.settings_for("quick", steps=10, ablation="shared_net") == reference
        assert me.build_model(reference, "shared_net").shared and not me.build_model(reference).shared
        both = me.settings_for("quick", steps=10, ablation="shared_net_no_representation_loss")
        assert both == dataclasses.replace(reference, hdr_weight=0.0)
        assert me.build_model(both, "shared_net_no_representation_loss").shared
        assert me.settings_for("quick", steps=10, ablation="unmasked_n1") == reference
        assert not me.build_model(reference, "unmasked_n1").masked_input and me.build_model(reference).masked_input
        assert set(me.ABLATIONS) == {"reference", "shared_net", "no_representation_loss",
                                     "shared_net_no_representation_loss", "unmasked_n1"}
        # every row of the paper's Tables 4 and 5 has its ablation
        assert {row[-1] for row in me.TABLE4_ROWS + me.TABLE5_ROWS} == set(me.ABLATIONS)

    def test_overrides(self):
        changed = me.settings_for("quick", steps=10, overrides={"lr": 1e-3, "max_gap": 1.5})
        assert changed == dataclasses.replace(me.settings_for("quick", steps=10), lr=1e-3, max_gap=1.5)
        ablated = me.settings_for("quick", ablation="no_representation_loss", overrides={"hdr_weight": 5.0})
        assert ablated.hdr_weight == 0  # the ablation wins
        with pytest.raises(ChoiceError, match="Settings"):
            me.settings_for("quick", overrides={"learning_rate": 1e-3})

    def test_unknown_ablation_and_profile(self):
        with pytest.raises(ChoiceError, match="ablation"):
            me.settings_for("quick", ablation="no_mask")
        with pytest.raises(ChoiceError):
            me.settings_for("medium")
        with pytest.raises(RangeError):
            me.settings_for("quick", steps=0)

    def test_build_model_unknown_ablation_is_a_choice_error(self):
        with pytest.raises(ChoiceError, match="ablation"):
            me.build_model(me.PROFILES["quick"], "no_mask")


class TestTraining:
    def test_run_files_and_load_trained(self, tmp_path, tiny):
        model, result = me.train_multiexposure(tmp_path, "quick", steps=2, progress="none", device="cpu")
        assert result.step == 2 and not model.training
        assert {"tm_psnr/generated", "tm_psnr/true_bracket", "stack_psnr/+1/naive"} <= set(result.last_eval)
        settings = json.loads((tmp_path / "settings.json").read_text())
        assert settings["steps"] == 2 and settings["ablation"] == "reference" and settings["data_root"] is None
        assert settings["n23_width"] == tiny.n23_width and settings["levels"] == 3
        assert (tmp_path / "metrics.csv").read_text().count("\n") >= 3
        assert train.latest_checkpoint(tmp_path) is not None
        loaded = me.load_trained(tmp_path)
        assert not loaded.training and _same_state(loaded, model)

    def test_resume_equals_the_uninterrupted_run(self, tmp_path, tiny):
        straight, _ = me.train_multiexposure(tmp_path / "a", "quick", steps=4, progress="none", device="cpu")
        me.train_multiexposure(tmp_path / "b", "quick", steps=2, progress="none", device="cpu")
        resumed, result = me.train_multiexposure(tmp_path / "b", "quick", steps=4, resume=True, progress="none",
                                                 device="cpu")
        assert result.step == 4
        assert _same_state(straight, resumed)
        assert _same_state(me.load_trained(tmp_path / "b"), straight)

    def test_shared_ablation_run_reloads_as_shared(self, tmp_path, tiny):
        model, _ = me.train_multiexposure(tmp_path, "quick", steps=1, ablation="shared_net", progress="none",
                                          device="cpu")
        loaded = me.load_trained(tmp_path)
        assert loaded.shared and not hasattr(loaded, "down_net") and _same_state(loaded, model)
        assert json.loads((tmp_path / "settings.json").read_text())["ablation"] == "shared_net"

    def test_eval_split_and_overrides_are_recorded(self, tmp_path, tiny):
        runs = {split: me.train_multiexposure(tmp_path / split, "quick", steps=1, progress="none", device="cpu",
                                              eval_split=split, overrides={"lr": 1e-3}) for split in ("val", "test")}
        assert _same_state(runs["val"][0], runs["test"][0])  # the split changes what is scored, not the training
        assert runs["val"][1].last_eval != runs["test"][1].last_eval
        val = me.evaluate(runs["val"][0], me.held_out_brackets("val", tiny.eval_max_side, tiny.eval_crfs,
                                                               tiny.eval_evs))
        assert runs["val"][1].last_eval == pytest.approx(val)
        recorded = json.loads((tmp_path / "val" / "settings.json").read_text())
        assert recorded["eval_split"] == "val" and recorded["lr"] == 1e-3
        assert _same_state(me.load_trained(tmp_path / "val"), runs["val"][0])
        with pytest.raises(ChoiceError, match="eval_split"):
            me.train_multiexposure(tmp_path / "x", "quick", steps=1, progress="none", eval_split="train")

    def test_unmasked_ablation_run_reloads_unmasked(self, tmp_path, tiny):
        model, _ = me.train_multiexposure(tmp_path, "quick", steps=1, ablation="unmasked_n1", progress="none",
                                          device="cpu")
        loaded = me.load_trained(tmp_path)
        assert not model.masked_input and not loaded.masked_input and _same_state(loaded, model)

    def test_unknown_ablation_and_missing_run(self, tmp_path, tiny):
        with pytest.raises(ChoiceError, match="ablation"):
            me.train_multiexposure(tmp_path / "x", "quick", steps=1, ablation="no_mask", progress="none")
        with pytest.raises(MissingFileError, match="train multiexposure"):
            me.load_trained(tmp_path)
        with pytest.raises(MissingFileError):
            me.train_multiexposure(tmp_path / "y", "quick", steps=1, resume=True, progress="none", device="cpu")

    def test_trains_on_drtmo_brackets(self, tmp_path, tiny):
        root = make_drtmo(tmp_path / "drtmo")
        _, result = me.train_multiexposure(tmp_path / "run", "quick", steps=1, data_root=root, progress="none",
                                           device="cpu")
        assert result.step == 1
        assert json.loads((tmp_path / "run" / "settings.json").read_text())["data_root"] == str(root)
        with pytest.raises(MissingFileError):
            me.train_multiexposure(tmp_path / "run2", "quick", steps=1, data_root=tmp_path / "nothing",
                                   progress="none", device="cpu")


# ----------------------------------------------------------------------------- generating and merging


class TestGenerate:
    def test_shapes_ev0_and_range(self):
        model = _tiny_model()
        torch.manual_seed(0)
        ldr = torch.rand(3, 10, 13)
        stack = me.generate(model, ldr, [-2.5, -1.0, 0.0, 0.7, 3.0])
        assert stack.shape == (5, 3, 10, 13)
        assert torch.equal(stack[2], ldr)
        assert 0 <= float(stack.min()) and float(stack.max()) <= 1
        assert not torch.equal(stack[0], stack[4])

    def test_pads_and_crops_like_a_manual_replicate_pad(self):
        model = _tiny_model().eval()
        ldr = torch.rand(3, 10, 13)
        stack = me.generate(model, ldr, [-1.0, 2.0])
        padded = torch.nn.functional.pad(ldr.unsqueeze(0), (0, 3, 0, 2), mode="replicate")
        with torch.no_grad():
            down = model(padded, 0.5)[0][0, :, :10, :13]
            up = model(padded, 4.0)[0][0, :, :10, :13]
        assert torch.allclose(stack[0], down, atol=1e-6) and torch.allclose(stack[1], up, atol=1e-6)

    @pytest.mark.parametrize("training", [True, False])
    def test_mode_is_restored(self, training):
        model = _tiny_model().train(training)
        me.generate(model, torch.rand(3, 8, 8), [1.0])
        assert model.training is training
        assert all(m.training is training for m in model.modules())

    def test_eval_mode_makes_it_independent_of_batch_statistics(self):
        model = _tiny_model().train()
        ldr = torch.rand(3, 8, 8)
        a = me.generate(model, ldr, [1.0])
        b = me.generate(model, ldr, [1.0])
        assert torch.equal(a, b)
        assert all(p.grad is None for p in model.parameters())

    def test_hdr_estimate_is_the_padded_latent_cropped_back(self):
        model = _tiny_model().train()
        ldr = torch.rand(3, 10, 13)
        estimate = me.hdr_estimate(model, ldr)
        padded = torch.nn.functional.pad(ldr.unsqueeze(0), (0, 3, 0, 2), mode="replicate")
        model.eval()
        with torch.no_grad():
            assert torch.allclose(estimate, model.encode(padded)[0, :, :10, :13], atol=1e-6)
        assert estimate.shape == (3, 10, 13) and float(estimate.min()) >= 0
        model.train()
        me.hdr_estimate(model, ldr)
        assert model.training
        with pytest.raises(ShapeError):
            me.hdr_estimate(model, torch.rand(1, 3, 8, 8))
        with pytest.raises(RangeError):
            me.hdr_estimate(model, torch.rand(3, 8, 8) + 1)

    @pytest.mark.parametrize("evs", [[float("inf")], [0.0, float("nan")], [-float("inf"), 1.0]])
    def test_non_finite_evs(self, evs):
        with pytest.raises(ExposureError, match="finite"):
            me.generate(_tiny_model(), torch.rand(3, 8, 8), evs)

    def test_bad_images(self):
        with pytest.raises(ShapeError, match="one image"):
            me.generate(_tiny_model(), torch.rand(2, 3, 8, 8), [1.0])
        with pytest.raises(RangeError):
            me.generate(_tiny_model(), torch.rand(3, 8, 8) * 3, [1.0])


class TestNaiveReexposure:
    def test_known_values(self):
        ldr = torch.full((3, 1, 1), 0.5)
        assert float(me.naive_reexposure(ldr, 1.0)[0, 0, 0]) == pytest.approx((0.5**2.2 * 2) ** (1 / 2.2), rel=1e-6)
        assert float(me.naive_reexposure(ldr, -2.0, gamma=1.0)[0, 0, 0]) == pytest.approx(0.125)

    def test_clips_at_one(self):
        out = me.naive_reexposure(_grey([0.2, 0.9, 1.0]), 2.0)
        assert out.flatten().tolist()[3:6] == pytest.approx([(0.2**2.2 * 4) ** (1 / 2.2), 1.0, 1.0])
        assert float(out.max()) == 1.0

    def test_ev0_is_the_identity(self):
        torch.manual_seed(0)
        ldr = torch.rand(2, 3, 4, 4)
        assert torch.allclose(me.naive_reexposure(ldr, 0.0), ldr, atol=1e-6)

    def test_bad_arguments(self):
        with pytest.raises(ExposureError):
            me.naive_reexposure(torch.rand(3, 2, 2), float("inf"))
        with pytest.raises(ExposureError):
            me.naive_reexposure(torch.rand(3, 2, 2), 1.0, gamma=0.0)
        with pytest.raises(RangeError):
            me.naive_reexposure(torch.rand(3, 2, 2) + 1, 1.0)


class TestMergeBracket:
    def test_recovers_a_smooth_radiance_up_to_scale(self):
        hdr = _smooth_radiance()
        evs = (-2.0, -1.0, 0.0, 1.0, 2.0)
        stack, _ = simulate_brackets(hdr, evs, "srgb", unit="ev", t_ref=1.0)
        merged = me.merge_bracket(stack, evs)
        assert merged.shape == (3, 32, 32) and float(merged.min()) >= 0
        assert float(log_error_stops(merged, hdr, align_scale=True, reduction="mean")) < 0.1
        assert float(log_error_stops(merged, hdr, align_scale=False)) > 0  # only up to a global scale
        naive = torch.stack([me.naive_reexposure(stack[2], ev) for ev in evs])
        assert float(log_error_stops(me.merge_bracket(naive, evs), hdr, align_scale=True, reduction="mean")) > 0.1

    def test_a_pure_function_of_the_bracket(self):
        # merge_bracket draws no random numbers: the same bracket gives the same bits, another bracket another merge
        evs = (-2.0, 0.0, 2.0)
        stack, _ = simulate_brackets(_smooth_radiance(16), evs, "srgb", unit="ev", t_ref=1.0)
        torch.manual_seed(0)
        first = me.merge_bracket(stack, evs)
        torch.manual_seed(1)
        assert torch.equal(first, me.merge_bracket(stack, evs))
        brighter, _ = simulate_brackets(_smooth_radiance(16) * 2, evs, "srgb", unit="ev", t_ref=1.0)
        assert not torch.equal(first, me.merge_bracket(brighter, evs))


# ----------------------------------------------------------------------------- evaluation


@pytest.fixture(scope="module")
def one_scene():
    return me.held_out_brackets(["room_windows"], max_side=48, crfs=("srgb",))


def _expected_keys(evs, methods):
    stack = {f"stack_{m}/{ev:+g}/{k}" for m in ("psnr", "ssim") for ev in evs if ev != 0 for k in ("generated", "naive")}
    hdr = {f"{m}/{k}" for m in ("hdr_psnr", "hdr_ssim", "tm_psnr", "tm_ssim", "rd_psnr", "rd_ssim") for k in methods}
    return stack | hdr


class TestHeldOutAndEvaluate:
    def test_held_out_brackets(self, one_scene):
        item = one_scene[0]
        assert set(item) == {"stack", "evs", "ldr", "hdr", "scene", "crf"}
        assert item["evs"] == (-2.0, -1.0, 0.0, 1.0, 2.0) and (item["scene"], item["crf"]) == ("room_windows", "srgb")
        assert item["stack"].shape[:2] == (5, 3) and max(item["stack"].shape[-2:]) == 48
        assert torch.equal(item["ldr"], item["stack"][2])
        assert item["hdr"].shape == item["ldr"].shape and float(item["hdr"].min()) >= 0
        items = me.held_out_brackets(["room_windows"], max_side=32, crfs=("srgb", "film-soft"), evs=(-1.0, 0.0))
        assert [i["crf"] for i in items] == ["srgb", "film-soft"] and torch.equal(items[0]["ldr"], items[0]["stack"][1])

    def test_evs_without_zero(self):
        with pytest.raises(ExposureError, match="0"):
            me.held_out_brackets(["room_windows"], max_side=32, evs=(-2.0, 2.0))

    def test_evaluate_rows_without_and_with_expandnet(self, one_scene):
        torch.manual_seed(0)
        model = me.MultiExposureNet(n1_width=2, n23_width=2, levels=3)
        evs = one_scene[0]["evs"]
        scores = me.evaluate(model, one_scene)
        assert set(scores) == _expected_keys(evs, ("ldr", "naive", "n1_latent", "generated", "true_bracket"))
        assert all(math.isfinite(v) for v in scores.values())
        assert scores["tm_psnr/true_bracket"] > scores["tm_psnr/ldr"] + 10
        assert scores["hdr_psnr/true_bracket"] > scores["hdr_psnr/ldr"]
        assert scores["rd_psnr/true_bracket"] > scores["rd_psnr/ldr"] + 10
        item = one_scene[0]
        latent = me.hdr_estimate(model, item["ldr"])
        assert scores["hdr_psnr/n1_latent"] == pytest.approx(
            float(metrics.psnr(me.hdr_display(latent), me.hdr_display(item["hdr"]))))
        assert scores["rd_psnr/generated"] == pytest.approx(float(metrics.tonemapped_psnr(
            me.merge_bracket(me.generate(model, item["ldr"], evs), evs), item["hdr"], "reinhard_devlin")))
        with_expandnet = me.evaluate(model, one_scene, expandnet_model=expandnet.ExpandNet(width=4))
        assert set(with_expandnet) == _expected_keys(evs, me.HDR_METHODS)
        assert with_expandnet["tm_psnr/generated"] == pytest.approx(scores["tm_psnr/generated"])

        stack_lines = me.stack_table(scores).splitlines()
        assert stack_lines[0].split() == ["method", "-2", "EV", "-1", "EV", "+1", "EV", "+2", "EV"]
        assert [line.split()[0] for line in stack_lines[1:]] == ["generated", "naive"]
        assert f"{scores['stack_psnr/+2/naive']:.2f}" in stack_lines[2]
        hdr_lines = me.hdr_table(with_expandnet).splitlines()
        assert hdr_lines[0].split() == ["method", "HDR", "PSNR", "HDR", "SSIM", "TM", "PSNR", "TM", "SSIM",
                                        "RD", "PSNR", "RD", "SSIM"]
        assert [line.split()[0] for line in hdr_lines[1:]] == list(me.HDR_METHODS)
        assert f"{with_expandnet['tm_psnr/true_bracket']:.2f}" in hdr_lines[-1]

    def test_evaluate_averages_over_brackets(self, one_scene):
        model = me.MultiExposureNet(n1_width=2, n23_width=2, levels=3)
        single = me.evaluate(model, one_scene)
        assert me.evaluate(model, one_scene * 2) == pytest.approx(single)

    def test_ablation_tables_in_the_papers_layout(self):
        keys = ["hdr_psnr/generated", "hdr_ssim/generated", "rd_psnr/generated", "rd_ssim/generated",
                "stack_psnr/+2/generated", "stack_psnr/-2/generated", "hdr_psnr/n1_latent", "hdr_ssim/n1_latent"]
        runs = {name: {key: 10.0 * i + j / 100 for j, key in enumerate(keys)} for i, name in enumerate(me.ABLATIONS)}
        lines = me.ablation_tables(runs, "demo").splitlines()
        assert lines[0].startswith("Table 4 (") and lines[0].endswith("ours: demo") and lines[7].startswith("Table 5 (")
        assert [line.split()[:2] for line in lines[2:6]] == [["no", "no"], ["no", "yes"], ["yes", "no"], ["yes", "yes"]]
        index = list(me.ABLATIONS).index
        assert lines[2].split()[2] == f"{runs['shared_net_no_representation_loss']['hdr_psnr/generated']:.2f}"
        assert lines[5].split()[2] == f"{10.0 * index('reference'):.2f}"
        assert lines[9].split() == ["no", f"{10.0 * index('unmasked_n1') + 0.06:.2f}",
                                    f"{10.0 * index('unmasked_n1') + 0.07:.3f}"]
        partial = me.ablation_tables({"reference": runs["reference"]}, "demo").splitlines()
        assert len(partial) == 3 + 1 + 3  # one row in each table

    def test_hdr_display_is_scale_free(self):
        hdr = _smooth_radiance(8)
        assert torch.allclose(me.hdr_display(hdr), me.hdr_display(hdr * 37), atol=1e-6)


# ----------------------------------------------------------------------------- StackPairs


@pytest.fixture(scope="module")
def bracket_stacks():
    return BracketStacks(["pmndrs_sky", "room_windows"], size=16, max_side=64, samples=2)


class TestStackPairs:
    def test_items_of_bracket_stacks(self, bracket_stacks):
        pairs = StackPairs(bracket_stacks, samples=12, min_gap=1.0, max_gap=2.0, augment=False)
        assert len(pairs) == 12
        drawn = set()
        for i in range(12):
            item = pairs[i]
            drawn.add((float(item["ev_a"]), float(item["ev_b"])))
            assert set(item) == {"ldr_a", "ldr_b", "time_a", "time_b", "ev_a", "ev_b", "scene"}
            gap = float(item["ev_b"] - item["ev_a"])
            assert 1.0 <= abs(gap) <= 2.0
            assert float(item["time_b"] / item["time_a"]) == pytest.approx(2.0**gap, rel=1e-5)
            stack = bracket_stacks[i % 2]
            assert item["scene"] == stack["scene"]
            a = int(torch.argmin((stack["evs"] - item["ev_a"]).abs()))
            b = int(torch.argmin((stack["evs"] - item["ev_b"]).abs()))
            assert torch.equal(item["ldr_a"], stack["stack"][a]) and torch.equal(item["ldr_b"], stack["stack"][b])
        assert len(drawn) > 3  # each index draws its own pair
        assert any(ev_a > ev_b for ev_a, ev_b in drawn) and any(ev_a < ev_b for ev_a, ev_b in drawn)

    def test_deterministic_per_seed_and_index(self, bracket_stacks):
        pairs, again, other = (StackPairs(bracket_stacks, samples=6, seed=s) for s in (3, 3, 4))
        for i in range(6):
            assert all(torch.equal(pairs[i][k], again[i][k]) for k in ("ldr_a", "ldr_b", "time_a", "time_b"))
        assert any(not torch.equal(pairs[i]["ldr_a"], other[i]["ldr_a"]) or float(pairs[i]["ev_b"]) != float(
            other[i]["ev_b"]) for i in range(6))

    def test_augment_is_one_dihedral_transform_of_both_images(self, bracket_stacks):
        plain, augmented = (StackPairs(bracket_stacks, samples=8, augment=flag, seed=1) for flag in (False, True))
        changed = 0
        for i in range(8):
            p, q = plain[i], augmented[i]
            assert (float(p["ev_a"]), float(p["ev_b"])) == (float(q["ev_a"]), float(q["ev_b"]))
            variants = [torch.rot90(img, k, (-2, -1)) for k in range(4) for img in (p["ldr_a"], p["ldr_a"].flip(-1))]
            index = next(j for j, v in enumerate(variants) if torch.equal(v, q["ldr_a"]))
            k, flipped = divmod(index, 2)
            b = torch.rot90(p["ldr_b"].flip(-1) if flipped else p["ldr_b"], k, (-2, -1))
            assert torch.equal(b, q["ldr_b"])
            changed += index != 0
        assert changed > 0

    def test_impossible_gaps(self, bracket_stacks):
        with pytest.raises(RangeError, match="gap"):
            StackPairs(bracket_stacks, min_gap=5.0)[0]  # DrTMO brackets span 4 stops
        with pytest.raises(RangeError, match="max_gap"):
            StackPairs(bracket_stacks, min_gap=2.0, max_gap=1.0)
        with pytest.raises(RangeError):
            StackPairs(bracket_stacks, min_gap=-1.0)
        with pytest.raises(DTypeError):
            StackPairs(bracket_stacks, samples=2.0)
        with pytest.raises(IndexError):
            StackPairs(bracket_stacks, samples=2)[2]

    def test_on_drtmo_fixture_brackets(self, tmp_path):
        stacks = DrTMOBrackets(make_drtmo(tmp_path), size=16, crop="random")
        pairs = StackPairs(stacks, samples=8, min_gap=1.0, max_gap=3.0, seed=2)
        seen = set()
        for i in range(8):
            item = pairs[i]
            gap = float(item["ev_b"] - item["ev_a"])
            assert 1.0 - 1e-5 <= abs(gap) <= 3.0 + 1e-5
            assert float(item["time_b"] / item["time_a"]) == pytest.approx(2.0**gap, rel=1e-5)
            assert float(item["time_a"]) in [pytest.approx(t) for t in DRTMO_TIMES]
            assert item["ldr_a"].shape == (3, 16, 16) and item["scene"] == stacks.scenes[i % 2]
            assert torch.equal(pairs[i]["ldr_b"], item["ldr_b"])
            seen.add(item["scene"])
        assert seen == set(stacks.scenes)
        batch = me.order_pairs(default_collate([pairs[0], pairs[1]]))
        assert bool((batch["ratio"] > 1).all())

    def test_half_stop_pairs_are_drawn_at_min_gap_one_half(self, tmp_path):
        item = DrTMOBrackets(make_drtmo(tmp_path, stacks=1, side=4))[0]
        pairs = StackPairs([item], samples=300, min_gap=0.5, max_gap=0.5, augment=False)
        drawn = {(round(float(pairs[i]["ev_a"]) * 2), round(float(pairs[i]["ev_b"]) * 2)) for i in range(300)}
        neighbours = {(k, k + s) for k in range(-4, 5) for s in (-1, 1) if -4 <= k + s <= 4}
        assert drawn == neighbours  # all 16 ordered half-stop pairs of the 9 exposures

    def test_random_crops_differ_between_visits_of_a_stack(self, tmp_path):
        folder = tmp_path / "hdr0_srgb"
        folder.mkdir()
        y, x = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
        position = torch.stack([x / 23, y / 23, (x + y) / 46])  # each pixel's value names its position
        for name in DRTMO_FILES:
            write_ldr(folder / name, position)
        pairs = StackPairs(DrTMOBrackets(tmp_path), size=8, samples=16)
        corners = {tuple(pairs[i]["ldr_a"][:, 0, 0].tolist()) for i in range(16)}
        assert len(corners) > 1


# ----------------------------------------------------------------------------- command line


class TestCommandLine:
    def test_train_one_step(self, tmp_path, tiny, capsys):
        assert cli.main(["train", "multiexposure", "--profile", "quick", "--steps", "1", "--out", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert "multiexposure: 1 steps" in out and "tm_psnr/generated" in out
        assert train.latest_checkpoint(tmp_path) is not None
        assert json.loads((tmp_path / "settings.json").read_text())["n1_width"] == tiny.n1_width

    def test_train_on_a_data_root(self, tmp_path, tiny, capsys):
        root = make_drtmo(tmp_path / "drtmo")
        argv = ["train", "multiexposure", "--profile", "quick", "--steps", "1", "--out", str(tmp_path / "run"),
                "--data-root", str(root)]
        assert cli.main(argv) == 0
        assert "multiexposure: 1 steps" in capsys.readouterr().out
        assert json.loads((tmp_path / "run" / "settings.json").read_text())["data_root"] == str(root)

    def test_data_root_is_refused_for_methods_that_ignore_it(self, tmp_path, capsys):
        argv = ["train", "expandnet", "--steps", "1", "--out", str(tmp_path / "run"), "--data-root", str(tmp_path)]
        assert cli.main(argv) == 2
        assert "--data-root is not supported for expandnet" in capsys.readouterr().err
        assert not (tmp_path / "run").exists()
