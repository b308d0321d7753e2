"""hdrlab.methods.recursive (Kim, Lee & Kang, AAAI 2021): recursive bracket generation through a differentiable merge.

Architecture: shapes of each network and of the recursion, weight sharing across
steps, the GRU state carried between steps, CIN selecting by step, parameter
counts against a count written out independently from the architecture rules;
losses against hand-computed values and their gradients; Canny edges; training
(one step lowers the loss, stages, exact resume) on a tiny profile; generation,
evaluation, tables; typed errors; the CLI.
"""

import dataclasses
import json

import pytest
import torch

from hdrlab import __main__ as cli
from hdrlab import train
from hdrlab.errors import ChoiceError, DTypeError, MissingFileError, RangeError, ShapeError
from hdrlab.imaging.merge import synthesize_hdr
from hdrlab.imaging.tonemap import mu_law
from hdrlab.methods import multiexposure
from hdrlab.methods import recursive as rc
from hdrlab.nn.blocks import count_parameters
from hdrlab.nn.losses import histogram_loss

TIMES = torch.exp2(torch.arange(-3.0, 4.0))


def small_model(**kwargs) -> rc.RecursiveHDRNet:
    args = dict(global_width=2, edge_width=2, refine_width=2, global_levels=3, edge_levels=2, refine_levels=2)
    return rc.RecursiveHDRNet(**{**args, **kwargs})


@pytest.fixture
def tiny(monkeypatch):
    """The quick profile shrunk so that a whole three-stage run takes a second or two (same code paths)."""
    small = dataclasses.replace(
        rc.PROFILES["quick"], global_width=2, edge_width=2, refine_width=2, global_levels=3, edge_levels=2,
        refine_levels=2, size=16, batch_size=2, steps_a=2, steps_b=2, steps_c=1, train_max_side=48, samples=8,
        log_every=1, eval_max_side=32, eval_crfs=("srgb",), eval_every=100, checkpoint_every=1,
    )
    monkeypatch.setitem(rc.PROFILES, "quick", small)
    return small


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def _bracket(batch: int = 1, side: int = 16, seed: int = 0) -> dict:
    """A smooth synthetic bracket at EVs -3..+3 (informative for the response solve)."""
    from hdrlab.imaging.camera import simulate_brackets

    gen = torch.Generator().manual_seed(seed)
    stacks = []
    for _ in range(batch):
        ramp = torch.linspace(-4, 4, side).view(1, 1, side) + torch.linspace(-2, 2, side).view(1, side, 1)
        radiance = (ramp + 0.3 * torch.rand(3, side, side, generator=gen)).exp2()
        stacks.append(simulate_brackets(radiance, rc.EVS, "film-soft", unit="ev")[0])
    return {"stack": torch.stack(stacks), "times": TIMES.expand(batch, 7).clone()}


# ----------------------------------------------------------------------------- parameter counts from the rules


def _conv3(a: int, b: int) -> int:  # 3x3 conv with bias
    return 9 * a * b + b


def _conv3_in(a: int, b: int) -> int:  # 3x3 conv without bias + instance-norm affine
    return 9 * a * b + 2 * b


def _recurrent_unet(c_in, c_out, levels, width, k=3, n=2, recurrent=True, conditional=True) -> int:
    w = [width * 2**i for i in range(levels)]
    total = _conv3(c_in, w[0]) + (n - 1) * _conv3(w[0], w[0])
    total += sum(_conv3(w[i - 1], w[i]) + (n - 1) * _conv3(w[i], w[i]) for i in range(1, levels))
    total += sum(_conv3(w[i + 1], w[i]) + _conv3(2 * w[i], w[i]) + (n - 1) * _conv3(w[i], w[i])
                 for i in range(levels - 1))  # resize-conv upsampler, then the level's stack
    total += w[0] * c_out + c_out  # 1x1 head
    c = w[-1]
    if recurrent:
        total += _conv3(2 * c, 2 * c) + _conv3(2 * c, c)  # gates (z, r) and candidate on [x, h]
    if conditional:
        total += 2 * k * sum(w[:-1])
    return total


def _refine_unet(levels, width, n=2, c_in=7, c_out=3) -> int:
    w = [width * 2**i for i in range(levels)]
    total = _conv3_in(c_in, w[0]) + (n - 1) * _conv3_in(w[0], w[0])
    total += sum(_conv3_in(w[i - 1], w[i]) + (n - 1) * _conv3_in(w[i], w[i]) for i in range(1, levels))
    total += sum(_conv3(w[i + 1], w[i]) + _conv3_in(2 * w[i], w[i]) + (n - 1) * _conv3_in(w[i], w[i])
                 for i in range(levels - 1))
    return total + w[0] * c_out + c_out


def _expected_count(s: rc.Settings) -> int:
    n = s.convs_per_level
    stop = (_recurrent_unet(3, 3, s.global_levels, s.global_width, n=n)
            + _recurrent_unet(2, 1, s.edge_levels, s.edge_width, n=n)
            + _refine_unet(s.refine_levels, s.refine_width, n=n))
    return 2 * stop


class TestParameterCounts:
    @pytest.mark.parametrize("profile", ["quick", "gpu", "full"])
    def test_against_the_architecture_rules(self, profile):
        settings = rc.PROFILES[profile]
        assert count_parameters(rc.build_model(settings)) == _expected_count(settings)

    def test_full_size_count_is_stated(self):
        assert count_parameters(rc.build_model(rc.PROFILES["full"])) == 49_498_606

    def test_ablation_models(self):
        s = rc.PROFILES["full"]
        n = s.convs_per_level
        global_only = 2 * _recurrent_unet(3, 3, 5, 32, n=n, conditional=False)
        assert count_parameters(rc.build_model(s, "+recurrence")) == global_only
        assert count_parameters(rc.build_model(s, "+cin")) == 2 * _recurrent_unet(3, 3, 5, 32, n=n)
        for name in ("+decomposition", "+hdr_layer", "no_hdr_layer"):
            assert count_parameters(rc.build_model(s, name)) == _expected_count(s)
        direct = rc.build_model(s, "baseline")
        assert isinstance(direct, rc.DirectStackNet)
        assert count_parameters(direct) == 2 * (_refine_unet(5, 32, n=n, c_in=3, c_out=9))

    def test_one_recurrent_unet_by_hand(self):
        # levels 2, widths [1, 2], in 1, out 1, one condition: encoder level 0: (9+1) + (9+1), level 1:
        # (9*2+2) + (9*4+2); upsampler 2 -> 1: 9*2+1; decoder stack (2 -> 1) + (1 -> 1): 19 + 10; head 1+1;
        # GRU on C = 2: gates [x, h] 4 -> 4: 9*16+4, candidate 4 -> 2: 9*8+2; CIN 2*1*1.
        net = rc.RecurrentUNet(1, 1, levels=2, base_width=1, num_conditions=1)
        assert count_parameters(net) == 20 + 58 + 19 + 29 + 2 + 148 + 74 + 2


# ----------------------------------------------------------------------------- architecture


class TestArchitecture:
    def test_recurrent_unet_shapes(self):
        net = rc.RecurrentUNet(3, 3, levels=5, base_width=2)
        y, h = net(torch.rand(2, 3, 32, 48), 1)
        assert y.shape == (2, 3, 32, 48) and h.shape == (2, 32, 2, 3)
        plain = rc.RecurrentUNet(3, 3, levels=3, base_width=2, recurrent=False, conditional=False)
        y, h = plain(torch.rand(1, 3, 8, 8))
        assert y.shape == (1, 3, 8, 8) and h is None and plain.gru is None and plain.cin is None

    def test_stop_net_step_shapes_and_ranges(self):
        net = rc.StopNet(2, 2, 2, global_levels=3, edge_levels=2, refine_levels=2)
        out = net.step(torch.rand(2, 3, 8, 8), 0)
        assert out["frame"].shape == out["global"].shape == (2, 3, 8, 8)
        assert out["edge"].shape == (2, 1, 8, 8)
        for key in ("frame", "global", "edge"):
            assert 0 <= float(out[key].detach().min()) and float(out[key].detach().max()) <= 1
        unrefined = net.step(torch.rand(2, 3, 8, 8), 0, refine=False)
        assert unrefined["frame"] is unrefined["global"]

    def test_recursion_gives_seven_frames_with_the_input_in_the_middle(self):
        model = small_model()
        ldr = torch.rand(2, 3, 8, 8)
        out = model(ldr)
        assert out["frames"].shape == out["global"].shape == (2, 7, 3, 8, 8)
        assert out["edges"].shape == (2, 7, 1, 8, 8)
        assert torch.equal(out["frames"][:, 3], ldr)
        assert torch.equal(out["edges"][:, 3], rc.canny_edges(ldr))

    def test_recursion_feeds_each_frame_to_the_next_step(self):
        model = small_model()
        ldr = torch.rand(1, 3, 8, 8)
        ups = model.run_direction(ldr, up=True)
        again = model.up.step(ups[0]["frame"], 1, ups[0]["state"])
        assert torch.allclose(again["frame"], ups[1]["frame"])
        out = model(ldr)
        assert torch.equal(out["frames"][:, 4], ups[0]["frame"]) and torch.equal(out["frames"][:, 6], ups[2]["frame"])
        downs = model.run_direction(ldr, up=False)
        assert torch.equal(out["frames"][:, 2], downs[0]["frame"]) and torch.equal(out["frames"][:, 0], downs[2]["frame"])

    def test_weights_are_shared_across_steps(self):
        model = small_model()
        calls = []
        hook = model.up.global_net.register_forward_hook(lambda module, args, output: calls.append(module))
        model(torch.rand(1, 3, 8, 8))
        hook.remove()
        assert len(calls) == 3 and all(module is model.up.global_net for module in calls)
        # one set of weights per direction: the model holds exactly two StopNets' parameters
        assert count_parameters(model) == 2 * count_parameters(model.up)
        assert not {id(p) for p in model.up.parameters()} & {id(p) for p in model.down.parameters()}

    def test_every_step_sends_gradient_to_the_shared_weights(self):
        model = small_model()
        ldr = torch.rand(1, 3, 8, 8)
        weight = model.up.global_net.unet.head[0].weight
        grads = []
        for index in range(3):
            model.zero_grad()
            model(ldr)["frames"][:, 4 + index].sum().backward()
            grads.append(weight.grad.clone())
        assert all(g.abs().sum() > 0 for g in grads)

    def test_gru_state_is_carried_to_the_next_step(self):
        net = rc.StopNet(2, 2, 2, global_levels=3, edge_levels=2, refine_levels=2)
        x = torch.rand(1, 3, 8, 8)
        first = net.step(x, 0)
        second = net.step(first["frame"], 1, first["state"])
        fresh = net.step(first["frame"], 1, None)
        assert not torch.allclose(second["frame"], fresh["frame"])
        state = tuple(s.detach().requires_grad_(True) for s in first["state"])
        net.step(first["frame"].detach(), 1, state)["frame"].sum().backward()
        assert state[0].grad.abs().sum() > 0 and state[1].grad.abs().sum() > 0

    def test_cin_selects_gamma_and_beta_by_step(self):
        net = rc.RecurrentUNet(3, 3, levels=3, base_width=2)
        with torch.no_grad():
            for cin in net.cin:
                cin.beta[1] += 0.5
        x = torch.rand(1, 3, 8, 8)
        y0, _ = net(x, 0)
        y1, _ = net(x, 1)
        y2, _ = net(x, 2)
        assert not torch.allclose(y0, y1) and torch.allclose(y0, y2)
        with pytest.raises(RangeError):
            net(x, 3)

    def test_steps_use_their_own_condition(self):
        model = small_model()
        seen = []
        cin = model.up.global_net.cin[0]
        original = cin.forward
        cin.forward = lambda x, condition: seen.append(condition) or original(x, condition)
        model(torch.rand(1, 3, 8, 8))
        assert seen == [0, 1, 2]

    def test_direct_baseline(self):
        model = rc.DirectStackNet(2, levels=2)
        ldr = torch.rand(2, 3, 4, 4)
        out = model(ldr)
        assert out["frames"].shape == (2, 7, 3, 4, 4) and out["edges"] is None
        assert torch.equal(out["frames"][:, 3], ldr)

    def test_bad_inputs_are_typed_errors(self):
        model = small_model()
        with pytest.raises(ShapeError):
            model(torch.rand(3, 8, 8))  # no batch dim
        with pytest.raises(ShapeError):
            model(torch.rand(1, 3, 6, 8))  # not a multiple of 4
        with pytest.raises(ShapeError):
            model(torch.rand(1, 1, 8, 8))
        with pytest.raises(RangeError):
            model(torch.rand(1, 3, 8, 8) + 1)
        with pytest.raises(DTypeError):
            model(torch.ones(1, 3, 8, 8, dtype=torch.int64))
        with pytest.raises(RangeError):
            model(torch.full((1, 3, 8, 8), float("nan")))
        with pytest.raises((DTypeError, RangeError)):
            rc.RecurrentUNet(3, 3, levels=2, base_width=0)


# ----------------------------------------------------------------------------- Canny edges


class TestCanny:
    def test_shape_range_and_a_known_edge(self):
        image = torch.zeros(2, 3, 24, 24)
        image[:, :, :, 12:] = 1.0
        edges = rc.canny_edges(image)
        assert edges.shape == (2, 1, 24, 24) and edges.dtype == torch.float32
        assert set(edges.unique().tolist()) <= {0.0, 1.0}
        columns = edges[0, 0].sum(0).nonzero().flatten().tolist()
        assert columns and all(10 <= c <= 13 for c in columns)
        assert rc.canny_edges(image[0]).shape == (1, 24, 24)

    def test_flat_image_has_no_edges_and_no_gradient(self):
        x = torch.full((1, 3, 16, 16), 0.5, requires_grad=True)
        edges = rc.canny_edges(x)
        assert float(edges.sum()) == 0 and not edges.requires_grad

    def test_blur_sigma_removes_weak_texture(self):
        noise = 0.5 + 0.08 * torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        assert rc.canny_edges(noise, sigma=4.0).sum() <= rc.canny_edges(noise, sigma=0.5).sum()

    def test_bad_arguments(self):
        with pytest.raises(RangeError):
            rc.canny_edges(torch.rand(3, 8, 8), sigma=0)
        with pytest.raises(RangeError):
            rc.canny_edges(torch.rand(3, 8, 8), thresholds=(100, 50))
        with pytest.raises(ShapeError):
            rc.canny_edges(torch.rand(1, 1, 3, 8, 8))
        with pytest.raises(RangeError):
            rc.canny_edges(torch.rand(3, 8, 8) * 2)


# ----------------------------------------------------------------------------- losses


class TestLosses:
    def test_hdr_loss_known_value(self):
        target = torch.full((1, 3, 2, 2), 4.0)
        target[..., 0, 0] = 8.0  # max 8
        pred = target / 2
        expected = (mu_law(target / 8, 100.0) - mu_law(pred / 8, 100.0)).abs().mean()
        assert torch.isclose(rc.hdr_loss(pred, target), expected)
        assert float(rc.hdr_loss(target, target)) == 0.0

    def test_hdr_loss_is_scale_consistent_and_clips_above_the_target_max(self):
        target = torch.rand(2, 3, 4, 4) + 0.1
        pred = target * 1.5
        assert torch.isclose(rc.hdr_loss(pred * 10, target * 10), rc.hdr_loss(pred, target))
        huge = target * 100
        assert torch.isclose(rc.hdr_loss(huge, target), rc.hdr_loss(huge * 2, target))

    def test_hdr_loss_gradient(self):
        target = torch.rand(1, 3, 4, 4, dtype=torch.float64) + 0.5
        pred = (target * 0.7).requires_grad_(True)
        assert torch.autograd.gradcheck(lambda p: rc.hdr_loss(p, target), (pred,))
        rc.hdr_loss(pred, target).backward()
        assert (pred.grad < 0).all()  # raising a too-dark prediction lowers the loss

    def test_hdr_loss_bad_inputs(self):
        with pytest.raises(ShapeError):
            rc.hdr_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))
        with pytest.raises(RangeError):
            rc.hdr_loss(torch.rand(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))

    def _fake_output(self, stack):
        frames = (stack * 0.8).requires_grad_(True)
        return frames, {"frames": frames, "global": frames, "edges": torch.zeros(*stack.shape[:2], 1,
                                                                                  *stack.shape[-2:])}

    def test_terms_by_stage_with_known_values(self):
        batch = _bracket()
        stack = batch["stack"]
        frames, out = self._fake_output(stack)
        criterion = rc.RecursiveLoss({**rc.LOSS_WEIGHTS, "cobi": 0.0})
        keep = [0, 1, 2, 4, 5, 6]
        l1 = (0.2 * stack[:, keep]).mean()
        terms_a = criterion(out, batch, "a")
        assert sorted(terms_a) == ["edge", "global", "hist", "loss"]
        assert torch.isclose(terms_a["global"], l1)
        edge_target = rc.canny_edges(stack[:, keep].flatten(0, 1))
        assert torch.isclose(terms_a["edge"], edge_target.mean())
        assert torch.isclose(terms_a["loss"], terms_a["global"] + 0.01 * terms_a["hist"] + terms_a["edge"])
        terms_b = criterion(out, batch, "b")
        assert sorted(terms_b) == ["edge", "global", "hist", "loss", "refine"]
        assert torch.isclose(terms_b["refine"], l1)
        terms_c = criterion(out, batch, "c")
        assert "hdr" in terms_c and float(terms_c["hdr"]) > 0
        assert torch.isclose(terms_c["loss"], terms_b["loss"] + terms_c["hdr"])
        no_layer = rc.RecursiveLoss({**rc.LOSS_WEIGHTS, "cobi": 0.0, "hdr": 0.0})
        assert "hdr" not in no_layer(out, batch, "c")

    def test_histogram_options_hdrlabs_emd_and_the_papers_l1(self):
        batch = _bracket()
        _, out = self._fake_output(batch["stack"])
        tone = out["global"][:, [0, 1, 2, 4, 5, 6]].flatten(0, 1)
        target = batch["stack"][:, [0, 1, 2, 4, 5, 6]].flatten(0, 1)
        weights = {**rc.LOSS_WEIGHTS, "cobi": 0.0}
        emd = rc.RecursiveLoss(weights)(out, batch, "a")["hist"]
        l1 = rc.RecursiveLoss(weights, histogram="l1")(out, batch, "a")["hist"]
        assert torch.isclose(emd, histogram_loss(tone, target, bins=64))
        assert torch.isclose(l1, histogram_loss(tone, target, bins=256, distance="l1"))
        assert not torch.isclose(l1, emd, rtol=0.1)  # another loss, not a renamed one
        paper = rc.settings_for("quick", ablation="paper_histogram")
        assert (paper.hist_loss, paper.hist_weight) == ("l1", 0.1)
        assert (rc.PROFILES["quick"].hist_loss, rc.PROFILES["quick"].hist_weight) == ("emd", 0.01)

    def test_hdr_backward_option_reaches_the_layer(self):
        batch = _bracket()
        weights = {name: 0.0 for name in rc.LOSS_WEIGHTS} | {"hdr": 1.0}
        grads = {}
        for backward in ("left_difference", "piecewise_linear"):
            frames, out = self._fake_output(batch["stack"])
            rc.RecursiveLoss(weights, backward=backward)(out, batch, "c")["loss"].backward()
            leaf = (batch["stack"] * 0.8).requires_grad_(True)  # the same loss, written out with the layer's option
            with torch.no_grad():
                true_hdr = synthesize_hdr(batch["stack"], batch["times"])
            rc.hdr_loss(synthesize_hdr(leaf, batch["times"], backward=backward), true_hdr).backward()
            assert torch.equal(frames.grad, leaf.grad)
            grads[backward] = frames.grad
        default_frames, out = self._fake_output(batch["stack"])
        rc.RecursiveLoss(weights)(out, batch, "c")["loss"].backward()
        assert torch.equal(default_frames.grad, grads["left_difference"])  # the paper's Eq. 3 is the default
        assert not torch.allclose(grads["left_difference"], grads["piecewise_linear"])
        variant = rc.settings_for("quick", ablation="piecewise_linear_layer")
        assert variant.hdr_backward == "piecewise_linear" and rc.PROFILES["quick"].hdr_backward == "left_difference"
        assert dataclasses.replace(variant, hdr_backward="left_difference") == rc.PROFILES["quick"]  # one difference

    def test_hdr_term_sends_gradient_through_the_merge(self):
        batch = _bracket()
        frames, out = self._fake_output(batch["stack"])
        criterion = rc.RecursiveLoss({name: 0.0 for name in rc.LOSS_WEIGHTS} | {"hdr": 1.0})
        terms = criterion(out, batch, "c")
        terms["loss"].backward()
        assert frames.grad.abs().sum() > 0 and torch.isfinite(frames.grad).all()

    def test_true_bracket_gives_zero_hdr_loss(self):
        batch = _bracket()
        out = {"frames": batch["stack"], "global": batch["stack"], "edges": None}
        criterion = rc.RecursiveLoss({**rc.LOSS_WEIGHTS, "cobi": 0.0})
        assert float(criterion(out, batch, "c")["hdr"]) == 0.0

    def test_cobi_term_when_weighted(self):
        batch = _bracket(side=32)
        frames, out = self._fake_output(batch["stack"])
        terms = rc.RecursiveLoss(pretrained=False)(out, batch, "b")
        assert "cobi" in terms and float(terms["cobi"]) > 0

    def test_bad_weights_and_stage(self):
        with pytest.raises(RangeError):
            rc.RecursiveLoss({"global": 1.0})
        with pytest.raises(RangeError):
            rc.RecursiveLoss({**rc.LOSS_WEIGHTS, "hdr": -1.0})
        batch = _bracket()
        _, out = self._fake_output(batch["stack"])
        with pytest.raises(ChoiceError):
            rc.RecursiveLoss({**rc.LOSS_WEIGHTS, "cobi": 0.0})(out, batch, "d")
        with pytest.raises(ChoiceError):
            rc.stage_parameters(small_model(), "x")
        with pytest.raises(ChoiceError, match="Expected histogram in"):
            rc.RecursiveLoss(histogram="wasserstein")
        with pytest.raises(ChoiceError, match="Expected histogram in"):
            rc.RecursiveLoss(backward="segment")


# ----------------------------------------------------------------------------- training


class TestTraining:
    def test_optimizer_steps_lower_the_loss_on_a_fixed_batch(self):
        torch.manual_seed(0)
        model = small_model()
        batch = _bracket(batch=2)
        criterion = rc.RecursiveLoss({**rc.LOSS_WEIGHTS, "cobi": 0.0})
        settings = dataclasses.replace(rc.PROFILES["quick"], lr=1e-2, refine_lr=1e-2)
        optimizer = rc._optimizer(None, model, "b", settings)
        losses = []
        for _ in range(8):
            terms = rc.loss_terms(model, batch, criterion, "b")
            optimizer.zero_grad()
            terms["loss"].backward()
            optimizer.step()
            losses.append(float(terms["loss"].detach()))
        assert losses[-1] < losses[0]

    def test_stage_a_leaves_the_refinement_network_alone(self):
        model = small_model()
        main, refine = rc.stage_parameters(model, "a")
        refine_ids = {id(p) for p in model.up.refine_net.parameters()} | {id(p) for p in model.down.refine_net.parameters()}
        assert not refine and not refine_ids & {id(p) for p in main}
        main_b, refine_b = rc.stage_parameters(model, "b")
        assert {id(p) for p in refine_b} == refine_ids and len(main_b) + len(refine_b) == len(list(model.parameters()))

    def test_settings_split_and_ablations(self):
        s = rc.settings_for("quick", steps=12)
        assert s.steps == 12 and s.steps_c == 12 - s.steps_a - s.steps_b
        assert rc.settings_for("quick", steps=1).stage_steps() == {"a": 0, "b": 0, "c": 1}
        assert rc.settings_for("quick", ablation="no_hdr_layer").hdr_weight == 0.0
        assert rc.settings_for("quick", ablation="reference").hdr_weight > 0
        weights = {name: (rc.settings_for("full", ablation=name).hdr_weight,
                          rc.settings_for("full", ablation=name).cobi_weight) for name in rc.ABLATIONS}
        assert weights["+decomposition"] == weights["baseline"] == (0.0, 0.0) and weights["+hdr_layer"] == (1.0, 0.0)
        assert weights["no_hdr_layer"] == (0.0, 0.1) and weights["reference"] == (1.0, 0.1)
        with pytest.raises(ChoiceError):
            rc.settings_for("quick", ablation="nope")
        with pytest.raises(ChoiceError):
            rc.build_model(rc.PROFILES["quick"], "nope")
        with pytest.raises(ChoiceError):
            rc.settings_for("medium")

    def test_three_stage_run_files_and_load_trained(self, tmp_path, tiny):
        model, result = rc.train_recursive(tmp_path, "quick", progress="none", device="cpu")
        assert result.step == 5 and "tm_psnr/generated" in result.last_eval
        assert {row["stage"] for row in result.history} == {"a", "b", "c"}
        train_rows = [row for row in result.history if row["phase"] == "train"]
        assert [row["step"] for row in train_rows] == [1, 2, 3, 4, 5]
        assert "refine" not in train_rows[0] and "refine" in train_rows[2] and "hdr" in train_rows[-1]
        for stage in "abc":
            assert train.latest_checkpoint(tmp_path / f"stage_{stage}") is not None
        assert json.loads((tmp_path / "settings.json").read_text())["ablation"] == "reference"
        assert _same_state(rc.load_trained(tmp_path), model)

    def test_resume_equals_the_uninterrupted_run(self, tmp_path, tiny):
        straight, _ = rc.train_recursive(tmp_path / "a", "quick", progress="none", device="cpu")
        rc.train_recursive(tmp_path / "b", "quick", progress="none", device="cpu")
        # interrupt the second run after step 1 of stage b: drop its later checkpoint and all of stage c
        stage_b = tmp_path / "b" / "stage_b" / "checkpoints"
        for file in stage_b.glob("step_00000002.*"):
            file.unlink()
        for file in (tmp_path / "b" / "stage_c" / "checkpoints").glob("*"):
            file.unlink()
        resumed, result = rc.train_recursive(tmp_path / "b", "quick", resume=True, progress="none", device="cpu")
        assert result.step == 5
        assert _same_state(straight, resumed)
        again, result = rc.train_recursive(tmp_path / "b", "quick", resume=True, progress="none", device="cpu")
        assert result.step == 5 and result.last_eval and _same_state(again, straight)  # finished: nothing to do
        with pytest.raises(ChoiceError):
            rc.train_recursive(tmp_path / "b", "quick", progress="none", device="cpu")  # fresh run into a used folder

    def test_resume_auto_trains_then_loads_and_overwrite_retrains(self, tmp_path, tiny):
        """What the notebook does: resume="auto" trains an empty folder, then loads it; FRESH (overwrite) retrains."""
        first, result = rc.train_recursive(tmp_path, "quick", resume="auto", progress="none", device="cpu")
        assert result.step == 5 and [r["step"] for r in result.history if r["phase"] == "train"] == [1, 2, 3, 4, 5]
        loaded, again = rc.train_recursive(tmp_path, "quick", resume="auto", progress="none", device="cpu")
        assert again.step == 5 and again.last_eval == result.last_eval and _same_state(loaded, first)
        assert [r["step"] for r in again.history if r["phase"] == "train"] == [1, 2, 3, 4, 5]
        fresh, retrained = rc.train_recursive(tmp_path, "quick", resume="auto", overwrite=True, progress="none",
                                              device="cpu")
        assert retrained.step == 5 and _same_state(fresh, first)  # same seed: the same weights again
        with pytest.raises(ChoiceError, match="ablation"):  # another variant in the same folder: named
            rc.train_recursive(tmp_path, "quick", ablation="baseline", resume="auto", progress="none", device="cpu")

    def test_ablation_runs_and_missing_runs(self, tmp_path, tiny):
        model, _ = rc.train_recursive(tmp_path / "base", "quick", ablation="baseline", steps=1, progress="none",
                                      device="cpu")
        assert isinstance(rc.load_trained(tmp_path / "base"), rc.DirectStackNet)
        with pytest.raises(ChoiceError, match="ablation"):
            rc.train_recursive(tmp_path / "x", "quick", ablation="no_gru", progress="none")
        with pytest.raises(MissingFileError, match="train recursive"):
            rc.load_trained(tmp_path / "none")
        with pytest.raises(MissingFileError):
            rc.train_recursive(tmp_path / "y", "quick", resume=True, progress="none", device="cpu")

    def test_cli(self, tmp_path, tiny, capsys):
        assert cli.main(["train", "recursive", "--profile", "quick", "--out", str(tmp_path), "--steps", "1",
                         "--device", "cpu"]) == 0
        assert "recursive: 1 steps" in capsys.readouterr().out
        assert cli.main(["train", "recursive", "--out", str(tmp_path / "r"), "--data-root", str(tmp_path)]) == 2
        assert "--data-root is not supported for recursive" in capsys.readouterr().err
        assert not (tmp_path / "r").exists()
        assert cli.main(["train", "recursive", "--profile", "quick", "--out", str(tmp_path / "a"), "--steps", "1",
                         "--device", "cpu", "--ablation", "no_hdr_layer"]) == 0
        assert json.loads((tmp_path / "a" / "settings.json").read_text())["ablation"] == "no_hdr_layer"
        assert cli.main(["train", "recursive", "--out", str(tmp_path / "b"), "--ablation", "shared_net"]) == 2
        assert "'shared_net' is not a variant of recursive" in capsys.readouterr().err
        assert cli.main(["train", "expandnet", "--out", str(tmp_path / "c"), "--ablation", "baseline"]) == 2
        assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


# ----------------------------------------------------------------------------- generation and evaluation


class TestEvaluation:
    def test_generate_pads_and_keeps_the_input(self):
        model = small_model()
        ldr = torch.rand(3, 10, 13)
        stack = rc.generate(model, ldr)
        assert stack.shape == (7, 3, 10, 13) and torch.equal(stack[3], ldr)
        assert model.training  # mode restored
        with pytest.raises(ShapeError):
            rc.generate(model, torch.rand(1, 3, 8, 8))

    def test_evaluate_rows_and_tables(self):
        model = small_model()
        brackets = rc.held_out_brackets(["room_windows"], max_side=32, crfs=("srgb",))
        assert brackets[0]["stack"].shape[0] == 7 and brackets[0]["evs"] == rc.EVS

        def gamma2(ldr, evs):
            return torch.stack([multiexposure.naive_reexposure(ldr, ev, gamma=2.0) for ev in evs])

        def as_radiance(ldr):
            return ldr ** 2.2

        scores = rc.evaluate(model, brackets, other_generators={"other": small_model(), "gamma2": gamma2},
                             hdr_predictors={"single_shot": as_radiance})
        assert "tm_psnr/single_shot" in scores and not any(k.startswith("stack_psnr") and "single_shot" in k
                                                            for k in scores)
        for method in ("generated", "naive", "other", "gamma2"):
            for ev in ("-3", "-1", "+1", "+3"):
                assert f"stack_psnr/{ev}/{method}" in scores and f"stack_ssim/{ev}/{method}" in scores
            assert f"tm_psnr/{method}" in scores and f"mu_psnr/{method}" in scores
        assert "tm_psnr/true_bracket" in scores and not any(k.startswith("stack_msssim") for k in scores)
        assert scores["hdr_loss/generated"] > 0 and "hdr_loss/single_shot" not in scores
        perfect = rc.evaluate(model, brackets, other_generators={"truth": lambda ldr, evs: brackets[0]["stack"]})
        assert perfect["hdr_loss/truth"] == 0
        assert scores["tm_psnr/true_bracket"] > scores["tm_psnr/naive"]
        assert "+3 EV" in rc.stack_table(scores) and "true_bracket" in rc.hdr_table(scores)
        assert "reference" in rc.ablation_table({"reference": scores})


class TestControlledComparison:
    def test_checker_on_real_runs(self, tmp_path, tiny, capsys):
        from hdrlab import checks

        for name, ablation, seed in (("with", "reference", 0), ("without", "no_hdr_layer", 0),
                                     ("other_seed", "no_hdr_layer", 1)):
            rc.train_recursive(tmp_path / name, "quick", ablation=ablation, seed=seed, progress="none", device="cpu")
        assert checks.check_controlled_comparison(tmp_path / "with", tmp_path / "without")
        assert capsys.readouterr().out.startswith("PASS: controlled comparison")
        assert not checks.check_controlled_comparison(tmp_path / "with", tmp_path / "other_seed")
        assert not checks.check_controlled_comparison(tmp_path / "without", tmp_path / "with")  # weights swapped
        assert not checks.check_controlled_comparison(tmp_path / "with", tmp_path / "missing")
        out = capsys.readouterr().out.splitlines()
        assert "differ already after stage (b)" in out[0]
        assert "(want only the HDR weight, > 0 vs 0)" in out[1] and "finished train_recursive run" in out[2]

        import json
        import shutil

        shutil.copytree(tmp_path / "without", tmp_path / "extra_key")
        settings = json.loads((tmp_path / "extra_key" / "settings.json").read_text())
        (tmp_path / "extra_key" / "settings.json").write_text(json.dumps({**settings, "new_knob": 1}))
        assert not checks.check_controlled_comparison(tmp_path / "with", tmp_path / "extra_key")  # a key one run lacks
        assert "'new_knob'" in capsys.readouterr().out
        shutil.copytree(tmp_path / "without", tmp_path / "corrupt")
        for checkpoint in (tmp_path / "corrupt" / "stage_c" / "checkpoints").glob("*.pt"):
            checkpoint.write_bytes(b"not a checkpoint")
        assert not checks.check_controlled_comparison(tmp_path / "with", tmp_path / "corrupt")  # FAIL, no exception
        assert "cannot read" in capsys.readouterr().out


def test_stage_a_freezes_the_refinement_for_ddp(tmp_path, tiny, monkeypatch):
    """DDP (torchrun) syncs every parameter that requires grad: stage (a), which leaves refinement out, freezes it."""
    seen, fit = [], rc.train.fit

    def recording_fit(model, *args, **kwargs):
        seen.append({p.requires_grad for name, p in model.named_parameters() if ".refine_net." in f".{name}"})
        return fit(model, *args, **kwargs)

    monkeypatch.setattr(rc.train, "fit", recording_fit)
    model, _ = rc.train_recursive(tmp_path, "quick", progress="none", device="cpu")
    assert seen == [{False}, {True}, {True}]
    assert all(p.requires_grad for p in model.parameters())
