"""hdrlab.methods.metahdr: the U-Net of the reference, labels, losses, both MAML back ends, tasks, training, the CLI."""

import dataclasses
import json
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import default_collate

from hdrlab import __main__ as cli
from hdrlab import train
from hdrlab.data.scenes import split_scenes
from hdrlab.errors import ChoiceError, DTypeError, MissingFileError, RangeError, ShapeError
from hdrlab.methods import expandnet
from hdrlab.methods import metahdr as mh
from hdrlab.metrics import psnr


def _reference_unet(w: int = 8) -> nn.Module:
    """The released code's UNet(in_size=3, out_size=3, num_filters=8) layer list, written out independently."""

    def conv(i, o):
        return [nn.Conv2d(i, o, 3, 1, 1), nn.BatchNorm2d(o), nn.ReLU()]

    def up(i, o):
        return [nn.ConvTranspose2d(i, o, 3, 2, 1, 1), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(
        *conv(3, w), *conv(w, w), *conv(w, 2 * w), *conv(2 * w, 2 * w),
        *conv(2 * w, 4 * w), *conv(4 * w, 4 * w), *conv(4 * w, 8 * w), *conv(8 * w, 8 * w),
        *conv(8 * w, 16 * w), *conv(16 * w, 16 * w), *up(16 * w, 8 * w),
        *conv(16 * w, 8 * w), *conv(8 * w, 8 * w), *up(8 * w, 4 * w),
        *conv(8 * w, 4 * w), *conv(4 * w, 4 * w), *up(4 * w, 2 * w),
        *conv(4 * w, 2 * w), *conv(2 * w, 2 * w), *up(2 * w, w),
        *conv(2 * w, 3), nn.Conv2d(3, 3, 3, 1, 1),
    )


def _shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


@pytest.fixture(scope="module")
def tasks():
    return mh.held_out_tasks("quick", samples=2)


@pytest.fixture(scope="module")
def batch(tasks):
    return default_collate([tasks[0], tasks[1]])


@pytest.fixture
def fast_eval(monkeypatch):
    """Quick profile with 2 held-out tasks, so training tests spend their time training."""
    monkeypatch.setitem(mh.PROFILES, "quick", dataclasses.replace(mh.PROFILES["quick"], eval_tasks=2))


class TestArchitecture:
    def test_reference_head_has_the_reference_layers(self):
        ours, reference = mh.MetaUNet(head="reference"), _reference_unet()
        assert _shapes(ours) == _shapes(reference)
        assert sum(p.numel() for p in ours.parameters()) == 540_669

    def test_paper_head_ends_in_a_1x1_conv_to_rgb(self):
        model = mh.MetaUNet()
        body = _shapes(_reference_unet())[:-6]  # all but the reference's top block (conv, BN, conv)
        head = [(8, 16, 3, 3), (8,), (8,), (8,), (8, 8, 3, 3), (8,), (8,), (8,), (3, 8, 1, 1), (3,)]
        assert _shapes(model) == body + head
        assert sum(p.numel() for p in model.parameters()) == 541_947

    def test_shapes_and_range(self):
        with torch.no_grad():
            out = mh.MetaUNet(base_width=4)(torch.rand(2, 3, 16, 48))
        assert out.shape == (2, 3, 16, 48)
        assert 0 <= float(out.min()) and float(out.max()) <= 1

    def test_sides_must_be_multiples_of_two_to_the_levels(self):
        with pytest.raises(ShapeError, match="multiples of 2\\*\\*levels = 16"):
            mh.MetaUNet()(torch.rand(1, 3, 24, 32))
        with pytest.raises(ShapeError):
            mh.MetaUNet()(torch.rand(3, 32, 32))
        assert mh.MetaUNet(levels=2)(torch.rand(1, 3, 4, 8)).shape == (1, 3, 4, 8)
        with pytest.raises(ShapeError, match="2 values per channel"):
            mh.MetaUNet()(torch.rand(1, 3, 16, 16))  # the bottom level would be 1 x 1

    def test_bad_arguments(self):
        with pytest.raises(DTypeError):
            mh.MetaUNet()(torch.ones(1, 3, 16, 16, dtype=torch.int64))
        with pytest.raises(RangeError):
            mh.MetaUNet(base_width=0)
        with pytest.raises(DTypeError):
            mh.MetaUNet(levels=2.0)
        with pytest.raises(ChoiceError, match="head"):
            mh.MetaUNet(head="tf")


class TestBatchNorm:
    def test_no_running_statistics_so_eval_mode_changes_nothing(self):
        torch.manual_seed(0)
        model, x = mh.MetaUNet(base_width=4), torch.rand(2, 3, 16, 16)
        assert not any("running" in name for name in model.state_dict())
        train_out = model.train()(x)
        assert torch.equal(model.eval()(x), train_out)

    def test_statistics_are_those_of_the_batch(self):
        torch.manual_seed(0)
        model, x = mh.MetaUNet(base_width=4), torch.rand(2, 3, 32, 32)
        alone = model(x[:1])
        assert not torch.allclose(model(x)[:1], alone, atol=1e-4)  # transductive: the batch matters
        assert torch.allclose(model(torch.cat((x[:1], x[:1])))[:1], alone, atol=1e-5)


class TestLabels:
    def test_label_and_decode_are_inverse(self):
        hdr = torch.rand(2, 3, 4, 4) * 50
        assert torch.allclose(mh.label(torch.ones(3, 1, 1)), torch.full((3, 1, 1), 0.5))
        assert torch.allclose(mh.decode(mh.label(hdr)), hdr, rtol=1e-4)

    def test_bad_values(self):
        with pytest.raises(RangeError):
            mh.label(-torch.ones(3, 2, 2))
        with pytest.raises(RangeError, match="logits"):
            mh.decode(torch.ones(3, 2, 2))
        with pytest.raises(RangeError):
            mh.decode(torch.full((3, 2, 2), 1.5))


class TestLosses:
    def test_expandnet_loss_known_value(self):
        red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
        green = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
        assert float(mh.make_loss("expandnet")(red, green)) == pytest.approx(2 / 3 + 5 * 1.0)
        assert float(mh.make_loss("expandnet", cosine_weight=0)(red, 0.5 * red)) == pytest.approx(0.5 / 3)

    @pytest.mark.parametrize("name", ["lpips", "lpips+l1"])
    def test_lpips_variants(self, name):
        torch.manual_seed(0)
        loss = mh.make_loss(name, lpips_pretrained=False)
        x = torch.rand(1, 3, 16, 16)
        assert float(loss(x, x)) == 0.0
        pred = torch.rand(1, 3, 16, 16, requires_grad=True)
        loss(pred, x).backward()
        assert pred.grad is not None and float(pred.grad.abs().sum()) > 0

    def test_lpips_plus_l1_weighs_both_terms_half_as_the_reference(self):
        torch.manual_seed(0)
        both = mh.make_loss("lpips+l1", lpips_pretrained=False)
        x, y = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
        perceptual, l1 = float(both.lpips(x, y).mean()), float((x - y).abs().mean())
        assert mh.LPIPS_L1_WEIGHT == 0.5
        assert float(both(x, y)) == pytest.approx(0.5 * perceptual + 0.5 * l1, rel=1e-6)
        assert float(both(x, y)) != pytest.approx(perceptual + l1, rel=1e-3)  # not the unweighted sum

    def test_bad_choices(self):
        with pytest.raises(ChoiceError, match="loss"):
            mh.make_loss("mse")
        with pytest.raises(RangeError):
            mh.make_loss("expandnet", cosine_weight=-1.0)
        with pytest.raises(DTypeError):
            mh.meta_loss(mh.MetaUNet(base_width=4), _small_batch(), loss=3)


def _small_batch():
    torch.manual_seed(1)
    support_hdr = torch.rand(2, 2, 3, 16, 16) * 4
    return {"support_ldr": torch.rand(2, 2, 3, 16, 16), "support_hdr": support_hdr,
            "query_ldr": torch.rand(2, 1, 3, 16, 32), "query_hdr": torch.rand(2, 1, 3, 16, 32) * 4}


class TestMAML:
    @pytest.mark.parametrize("first_order", [False, True])
    def test_backends_agree_on_outputs_and_meta_gradients(self, first_order, batch):
        pytest.importorskip("learn2learn")
        torch.manual_seed(0)
        model = mh.MetaUNet(base_width=4)
        support, labels, query = batch["support_ldr"][0], mh.label(batch["support_hdr"][0]), batch["query_ldr"][0]
        outputs, grads = {}, {}
        for backend in mh.BACKENDS:
            learner = mh.adapt(model, support, labels, steps=2, inner_lr=0.01, backend=backend, first_order=first_order)
            outputs[backend] = learner(query).detach()
            loss = mh.meta_loss(model, batch, steps=2, inner_lr=0.01, backend=backend, first_order=first_order)
            grads[backend] = torch.autograd.grad(loss, list(model.parameters()))
        assert torch.allclose(outputs["functional"], outputs["learn2learn"], atol=1e-5)
        with torch.no_grad():
            assert float((outputs["functional"] - model(query)).abs().max()) > 1e-4  # it did adapt
        for ours, theirs in zip(grads["functional"], grads["learn2learn"]):
            assert torch.allclose(ours, theirs, atol=1e-5)

    def test_second_order_differs_from_first_order(self):
        torch.manual_seed(0)
        model, batch = mh.MetaUNet(base_width=4), _small_batch()
        first, second = (torch.autograd.grad(mh.meta_loss(model, batch, steps=2, inner_lr=0.1, first_order=order),
                                             list(model.parameters())) for order in (True, False))
        assert max(float((a - b).abs().max()) for a, b in zip(first, second)) > 1e-4

    def test_first_order_gradient_is_the_query_gradient_at_the_adapted_weights(self):
        torch.manual_seed(0)
        model, batch = mh.MetaUNet(base_width=4), _small_batch()
        batch = {key: value[:1] for key, value in batch.items()}
        loss = mh.meta_loss(model, batch, steps=1, inner_lr=0.1, first_order=True)
        meta = torch.autograd.grad(loss, list(model.parameters()))
        learner = mh.adapt(model, batch["support_ldr"][0], mh.label(batch["support_hdr"][0]), steps=1, inner_lr=0.1,
                           create_graph=False)
        query = mh.make_loss("expandnet")(learner(batch["query_ldr"][0]), mh.label(batch["query_hdr"][0]))
        manual = torch.autograd.grad(query, list(learner.params.values()))
        for a, b in zip(meta, manual):
            assert torch.allclose(a, b, atol=1e-6)

    def test_adaptation_lowers_the_support_loss_and_leaves_the_model(self):
        torch.manual_seed(0)
        model, batch = mh.MetaUNet(base_width=4), _small_batch()
        support, labels = batch["support_ldr"][0], mh.label(batch["support_hdr"][0])
        before = [p.detach().clone() for p in model.parameters()]
        loss = mh.make_loss("expandnet")
        learner = mh.adapt(model, support, labels, steps=3, inner_lr=0.1, create_graph=False)
        with torch.no_grad():
            assert float(loss(learner(support), labels)) < float(loss(model(support), labels))
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
        assert all(p.grad_fn is None for p in learner.params.values())
        unchanged = mh.adapt(model, support, labels, steps=0, inner_lr=0.1)
        assert torch.equal(unchanged(support), model(support))

    def test_bad_arguments(self):
        model, batch = mh.MetaUNet(base_width=4), _small_batch()
        support, labels = batch["support_ldr"][0], mh.label(batch["support_hdr"][0])
        with pytest.raises(ChoiceError, match="backend"):
            mh.adapt(model, support, labels, steps=1, inner_lr=0.1, backend="torchmeta")
        with pytest.raises(RangeError):
            mh.adapt(model, support, labels, steps=-1, inner_lr=0.1)
        with pytest.raises(RangeError):
            mh.adapt(model, support, labels, steps=1, inner_lr=0.0)
        with pytest.raises(ShapeError):
            mh.adapt(model, support, labels[:1], steps=1, inner_lr=0.1)
        with pytest.raises(RangeError):
            mh.adapt(model, support, batch["support_hdr"][0], steps=1, inner_lr=0.1)  # labels must be encoded
        with pytest.raises(ShapeError, match="batch dict"):
            mh.meta_loss(model, {"support_ldr": support})

    def test_missing_learn2learn_names_the_install_and_the_functional_backend(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "learn2learn", None)
        batch = _small_batch()
        with pytest.raises(ChoiceError, match="build_ext learn2learn==0.2.0.*backend='functional'"):
            mh.adapt(mh.MetaUNet(base_width=4), batch["support_ldr"][0], mh.label(batch["support_hdr"][0]),
                     steps=1, inner_lr=0.1, backend="learn2learn")


class TestTasks:
    def test_held_out_tasks_layout(self, tasks):
        task = tasks[0]
        assert task["support_ev"].tolist() == [-2.0, 2.0] and task["query_ev"].tolist() == [0.0]
        assert task["support_ldr"].shape == task["support_hdr"].shape == (2, 3, 32, 32)
        assert task["query_ldr"].shape == task["query_hdr"].shape == (1, 3, 32, 32)
        assert torch.equal(task["support_hdr"][0], task["query_hdr"][0])  # one EV-0 HDR per task

    def test_validation_tasks_come_from_the_validation_scenes(self, tasks):
        val = mh.held_out_tasks("quick", samples=2, split="val")
        assert val.scenes == split_scenes()["val"] and tasks.scenes == split_scenes()["test"]
        assert not set(val.scenes) & set(tasks.scenes)
        assert val[0]["scene"] in val.scenes and not torch.equal(val[0]["query_hdr"], tasks[0]["query_hdr"])
        with pytest.raises(ChoiceError, match="split"):
            mh.held_out_tasks("quick", split="train")
        with pytest.raises(ChoiceError, match="query"):
            mh.held_out_tasks("quick", query="first")

    def test_random_query_holds_out_each_exposure_of_the_same_shots(self):
        middle = mh.held_out_tasks("quick", query="middle")
        random_query = mh.held_out_tasks("quick", query="random")
        assert isinstance(random_query, mh.RandomQueryTasks) and len(random_query) == len(middle)
        assert {float(random_query[i]["query_ev"][0]) for i in range(len(middle))} == {-2.0, 0.0, 2.0}
        for index in range(4):
            item, shots = random_query[index], middle[index]
            by_ev = {-2.0: shots["support_ldr"][0], 0.0: shots["query_ldr"][0], 2.0: shots["support_ldr"][1]}
            query_ev = float(item["query_ev"][0])
            assert torch.equal(item["query_ldr"][0], by_ev[query_ev])
            assert item["support_ev"].tolist() == sorted(set(by_ev) - {query_ev})
            for ldr, ev in zip(item["support_ldr"], item["support_ev"].tolist()):
                assert torch.equal(ldr, by_ev[ev])
            assert torch.equal(item["support_hdr"][1], shots["query_hdr"][0])
            assert torch.equal(item["query_hdr"], shots["query_hdr"])
        again, other = mh.RandomQueryTasks(middle), mh.RandomQueryTasks(middle, seed=1)
        queries = [[float(t[i]["query_ev"][0]) for i in range(len(middle))] for t in (random_query, again, other)]
        assert queries[0] == queries[1] and queries[0] != queries[2]

    def test_random_query_needs_distinct_exposures(self, tasks):
        item = dict(tasks[0], query_ev=torch.tensor([2.0]))
        with pytest.raises(ShapeError, match="distinct exposures"):
            mh.RandomQueryTasks([item])[0]
        with pytest.raises(RangeError):
            mh.RandomQueryTasks(tasks, seed=-1)

    def test_profiles_protocols(self):
        assert (mh.PROFILES["full"].query, mh.PROFILES["full"].select) == ("random", "meta_val")
        assert (mh.PROFILES["quick"].query, mh.PROFILES["quick"].select) == ("middle", "last")

    def test_simulated_labels_replace_the_support_labels_in_ev0_units(self, tasks):
        torch.manual_seed(0)
        net = expandnet.ExpandNet(width=4)
        simulated = mh.WithSimulatedLabels(tasks, net)
        item, true = simulated[0], tasks[0]
        exposure_units = expandnet.predict(net, true["support_ldr"])
        assert torch.allclose(item["support_hdr"][0], exposure_units[0] * 4)  # EV -2: times 2**2
        assert torch.allclose(item["support_hdr"][1], exposure_units[1] / 4)  # EV +2: divided by 2**2
        for key in ("support_ldr", "query_ldr", "query_hdr", "support_ev"):
            assert torch.equal(item[key], true[key])
        assert simulated[0] is item and len(simulated) == len(tasks)

    def test_simulated_labels_need_an_exposure_expandnet(self, tasks, tmp_path):
        with pytest.raises(DTypeError, match="train_expandnet"):
            mh.WithSimulatedLabels(tasks, None)
        with pytest.raises(ChoiceError, match="exposure"):
            mh.WithSimulatedLabels(tasks, expandnet.ExpandNet(width=4, target="max"))
        with pytest.raises(DTypeError, match="load_trained"):
            mh.train_metahdr(tmp_path, "quick", labels="simulated", progress="none")
        assert not (tmp_path / "settings.json").exists()

    def test_supervised_loss_is_the_mean_over_all_images(self, batch):
        l1 = lambda pred, target: (pred - target).abs().mean()  # noqa: E731
        ldr = torch.cat((batch["support_ldr"], batch["query_ldr"]), 1)
        labels = mh.label(torch.cat((batch["support_hdr"], batch["query_hdr"]), 1))
        assert float(mh.supervised_loss(nn.Identity(), batch, loss=l1)) == pytest.approx(
            float((ldr - labels).abs().mean()), rel=1e-6)


class TestEvaluation:
    def test_rows_and_the_ldr_row_by_hand(self, tasks):
        torch.manual_seed(0)
        scores = mh.evaluate_tasks(mh.MetaUNet(base_width=4), tasks, steps=1, inner_lr=0.1)
        assert set(scores) == set(mh.ROWS)
        by_hand = [float(psnr(mh.label(t["query_ldr"]) ** (1 / 2.2), mh.label(t["query_hdr"]) ** (1 / 2.2)))
                   for t in (tasks[0], tasks[1])]
        assert scores["ldr"]["psnr"] == pytest.approx(sum(by_hand) / 2, rel=1e-5)
        clipped = [float(psnr(t["query_ldr"], t["query_hdr"].clamp(max=1))) for t in (tasks[0], tasks[1])]
        assert scores["ldr"]["psnr_linear"] == pytest.approx(sum(clipped) / 2, rel=1e-4)

    def test_expandnet_row_by_hand_in_ev0_units(self):
        torch.manual_seed(0)
        net = expandnet.ExpandNet(width=4)
        tasks = mh.RandomQueryTasks(mh.held_out_tasks("quick", samples=2, query="middle"))
        assert float(tasks[0]["query_ev"][0]) != 0.0  # the division by 2**EV matters
        by_hand = []
        for task in (tasks[0], tasks[1]):
            radiance = expandnet.predict(net, task["query_ldr"]) / 2.0 ** float(task["query_ev"][0])
            by_hand.append(float(psnr(mh.label(radiance) ** (1 / 2.2), mh.label(task["query_hdr"]) ** (1 / 2.2))))
        scores = mh.evaluate_expandnet(net, tasks)
        assert scores["psnr"] == pytest.approx(sum(by_hand) / 2, rel=1e-5)
        with pytest.raises(DTypeError, match="train_expandnet"):
            mh.evaluate_expandnet(None, tasks)

    def test_bad_label_source(self, tasks):
        with pytest.raises(ChoiceError):
            mh.evaluate_tasks(mh.MetaUNet(), tasks, steps=1, inner_lr=0.1, adapt_labels="hdrcnn")
        with pytest.raises(DTypeError, match="train_expandnet"):
            mh.evaluate_tasks(mh.MetaUNet(), tasks, steps=1, inner_lr=0.1, adapt_labels="simulated")

    def test_results_table(self):
        table = mh.results_table({"ldr": {"psnr": 16.44, "ssim": 0.81893}, "adapted": {"psnr": 18.7}}, title="T")
        assert table.splitlines() == ["T", "row          psnr    ssim", "ldr         16.44  0.8189",
                                      "adapted     18.70       -"]
        with pytest.raises(DTypeError):
            mh.results_table({"ldr": 16.4})
        with pytest.raises(DTypeError):
            mh.results_table({"ldr": {"psnr": "high"}})


class TestTraining:
    def test_resume_gives_the_straight_run(self, tmp_path, fast_eval):
        straight, _ = mh.train_metahdr(tmp_path / "a", "quick", steps=3, progress="none")
        mh.train_metahdr(tmp_path / "b", "quick", steps=2, progress="none")
        resumed, result = mh.train_metahdr(tmp_path / "b", "quick", steps=3, resume=True, progress="none")
        assert result.step == 3
        for a, b in zip(straight.parameters(), resumed.parameters()):
            assert torch.equal(a, b)
        loaded = mh.load_trained(tmp_path / "b")  # the checkpoint holds the meta-parameters
        assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), resumed.parameters()))

    def test_conventional_baseline_trains_with_simulated_labels(self, tmp_path, fast_eval):
        net = expandnet.ExpandNet(width=4)
        model, result = mh.train_conventional(tmp_path, "quick", steps=2, labels="simulated", expandnet_model=net,
                                              progress="none")
        assert result.step == 2 and set(result.last_eval) >= {"psnr/adapted", "psnr/single_shot", "psnr/ldr"}
        assert '"method": "conventional"' in (tmp_path / "settings.json").read_text()
        assert '"labels": "simulated"' in (tmp_path / "settings.json").read_text()
        with pytest.raises(MissingFileError, match="train metahdr"):
            mh.load_trained(tmp_path / "nothing")

    def test_quick_profile_adaptation_beats_single_shot_and_ldr(self, tmp_path):
        _, result = mh.train_metahdr(tmp_path, "quick", progress="none")
        scores = result.last_eval
        assert scores["psnr/adapted"] > max(scores["psnr/single_shot"], scores["psnr/ldr"])

    def test_explicit_settings_are_used_and_recorded(self, tmp_path, fast_eval):
        settings = dataclasses.replace(mh.PROFILES["quick"], inner_lr=0.123, eval_tasks=2)
        mh.train_metahdr(tmp_path / "a", "quick", settings=settings, steps=1, progress="none")
        record = json.loads((tmp_path / "a" / "settings.json").read_text())
        assert record["inner_lr"] == 0.123 and record["evaluate_on"] == "test" and record["select"] == "last"
        with pytest.raises(DTypeError, match="Settings"):
            mh.train_metahdr(tmp_path / "b", "quick", settings={"inner_lr": 0.1}, progress="none")
        with pytest.raises(ChoiceError, match="select"):
            mh.train_metahdr(tmp_path / "b", "quick", settings=dataclasses.replace(settings, select="best"))
        with pytest.raises(ChoiceError, match="evaluate_on"):
            mh.train_metahdr(tmp_path / "b", "quick", evaluate_on="train", progress="none")

    def test_evaluate_on_val_scores_the_validation_tasks(self, tmp_path, fast_eval):
        _, on_test = mh.train_metahdr(tmp_path / "t", "quick", steps=1, progress="none")
        _, on_val = mh.train_metahdr(tmp_path / "v", "quick", steps=1, evaluate_on="val", progress="none")
        settings = mh.PROFILES["quick"]
        ldr = {split: mh.evaluate_tasks(mh.MetaUNet(base_width=4), mh.held_out_tasks(split=split, settings=settings),
                                        steps=0, inner_lr=0.1)["ldr"]["psnr"] for split in ("val", "test")}
        assert on_val.last_eval["psnr/ldr"] == pytest.approx(ldr["val"], rel=1e-6)
        assert on_test.last_eval["psnr/ldr"] == pytest.approx(ldr["test"], rel=1e-6)
        assert ldr["val"] != pytest.approx(ldr["test"], rel=1e-3)

    def test_meta_val_selection_returns_the_best_evaluated_checkpoint(self, tmp_path, fast_eval):
        settings = dataclasses.replace(mh.PROFILES["quick"], eval_tasks=2, eval_every=1, select="meta_val")
        model, result = mh.train_metahdr(tmp_path, "quick", settings=settings, steps=3, progress="none")
        scores = {row["step"]: row["meta_val/ssim"] for row in result.history if row["phase"] == "eval"}
        assert sorted(scores) == [1, 2, 3]
        best = max(sorted(scores), key=scores.get)
        assert mh.selected_checkpoint(tmp_path).name == f"step_{best:08d}.pt"
        wanted = train.load_weights(tmp_path / "checkpoints" / f"step_{best:08d}.pt", mh.MetaUNet())
        for a, b, c in zip(model.parameters(), wanted.parameters(), mh.load_trained(tmp_path).parameters()):
            assert torch.equal(a, b) and torch.equal(a, c)

    def test_selected_checkpoint_is_the_best_meta_validation_step_not_the_last(self, tmp_path):
        for step in (1, 2, 3):
            train.save_checkpoint(tmp_path / "checkpoints" / f"step_{step:08d}.pt", model=nn.Linear(1, 1), step=step)
        rows = ["step,phase,name,value,lr,elapsed_s"] + [f"{step},eval,meta_val/ssim,{value},0.1,1.0"
                                                         for step, value in ((1, 0.5), (2, 0.9), (3, 0.7))]
        (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n")
        (tmp_path / "settings.json").write_text(json.dumps({"select": "meta_val"}))
        assert mh.selected_checkpoint(tmp_path).name == "step_00000002.pt"
        (tmp_path / "settings.json").write_text(json.dumps({"select": "last"}))
        assert mh.selected_checkpoint(tmp_path).name == "step_00000003.pt"
        (tmp_path / "settings.json").write_text(json.dumps({"select": "meta_val"}))
        (tmp_path / "metrics.csv").write_text(rows[0] + "\n")
        with pytest.raises(MissingFileError, match="meta_val/ssim"):
            mh.selected_checkpoint(tmp_path)

    def test_cli(self, tmp_path, fast_eval, capsys):
        assert cli.main(["train", "metahdr", "--profile", "quick", "--out", str(tmp_path), "--steps", "2"]) == 0
        out = capsys.readouterr().out
        assert "metahdr: 2 steps" in out and "psnr/adapted" in out
        assert train.latest_checkpoint(tmp_path) is not None
