"""hdrlab.methods.expandnet: the architecture of the paper, its loss, training through hdrlab.train, the CLI."""

import json
import math

import pytest
import torch
from torch import nn

from hdrlab import __main__ as cli
from hdrlab import train
from hdrlab.errors import ChoiceError, MissingFileError, RangeError
from hdrlab.imaging import camera
from hdrlab.methods import expandnet
from hdrlab.metrics import tonemapped_psnr


def _reference_expandnet() -> nn.Module:
    """The authors' layer list (expand.py), written out independently of hdrlab's builder."""

    def layer(n_in, n_out, k, s, p, d=1):
        return nn.Sequential(nn.Conv2d(n_in, n_out, k, s, p, d), nn.SELU(inplace=True))

    model = nn.Module()
    model.local_net = nn.Sequential(layer(3, 64, 3, 1, 1), layer(64, 128, 3, 1, 1))
    model.mid_net = nn.Sequential(layer(3, 64, 3, 1, 2, 2), layer(64, 64, 3, 1, 2, 2), layer(64, 64, 3, 1, 2, 2),
                                  nn.Conv2d(64, 64, 3, 1, 2, 2))
    model.glob_net = nn.Sequential(layer(3, 64, 3, 2, 1), *[layer(64, 64, 3, 2, 1) for _ in range(5)],
                                   nn.Conv2d(64, 64, 4, 1, 0))
    model.end_net = nn.Sequential(layer(256, 64, 1, 1, 0), nn.Conv2d(64, 3, 1, 1, 0), nn.Sigmoid())
    return model


class TestArchitecture:
    def test_state_dict_matches_the_reference_layout(self):
        ours = {k: v.shape for k, v in expandnet.ExpandNet().state_dict().items()}
        reference = {k: v.shape for k, v in _reference_expandnet().state_dict().items()}
        assert ours == reference
        assert sum(p.numel() for p in expandnet.ExpandNet().parameters()) == 456_899

    def test_forward_matches_the_reference_computation(self):
        torch.manual_seed(0)
        reference = _reference_expandnet()
        ours = expandnet.ExpandNet()
        ours.load_state_dict(reference.state_dict())
        x = torch.rand(2, 3, 20, 28)
        glob = reference.glob_net(nn.functional.interpolate(x, size=(256, 256), mode="bilinear"))
        fused = torch.cat((reference.local_net(x), reference.mid_net(x), glob.expand(2, 64, 20, 28)), 1)
        assert torch.allclose(ours(x), reference.end_net(fused), atol=1e-6)

    def test_any_size_and_range(self):
        with torch.no_grad():
            out = expandnet.ExpandNet(width=4)(torch.rand(1, 3, 7, 300))
        assert out.shape == (1, 3, 7, 300)
        assert 0 <= float(out.min()) and float(out.max()) <= 1

    @pytest.mark.parametrize("width", [0, -1, 2.5, True])
    def test_bad_width(self, width):
        with pytest.raises(RangeError, match="width"):
            expandnet.ExpandNet(width=width)


class TestTargetAndLoss:
    def test_max_target_divides_by_the_maximum_per_image(self):
        hdr = torch.rand(2, 3, 4, 4) * torch.tensor([2.0, 50.0]).view(2, 1, 1, 1)
        target = expandnet.encode_target(hdr, "max")
        assert torch.allclose(target.flatten(1).amax(1), torch.ones(2))
        assert torch.allclose(target * hdr.flatten(1).amax(1).view(2, 1, 1, 1), hdr)

    def test_exposure_target_is_the_sigmoid_of_log_radiance(self):
        hdr = torch.rand(2, 3, 4, 4) * 30 + 1e-3
        assert torch.allclose(expandnet.encode_target(hdr), torch.sigmoid(hdr.log()), atol=1e-6)

    def test_bad_targets_are_rejected(self):
        with pytest.raises(RangeError, match="black"):
            expandnet.encode_target(torch.zeros(3, 4, 4), "max")
        with pytest.raises(RangeError):
            expandnet.encode_target(-torch.ones(3, 4, 4))
        with pytest.raises(ChoiceError, match="exposure"):
            expandnet.encode_target(torch.ones(3, 4, 4), "min")
        with pytest.raises(ChoiceError):
            expandnet.ExpandNet(target="log")

    def test_loss_terms_known_value(self):
        class Constant(nn.Module):  # predicts 0.5 everywhere
            target = "max"

            def forward(self, ldr):
                return torch.full_like(ldr, 0.5)

        hdr = torch.ones(1, 3, 2, 2)
        hdr[..., 0, 0] = 2.0  # relative target: 1 at one pixel, 0.5 elsewhere; colours all grey
        terms = expandnet.loss_terms(Constant(), {"ldr": torch.rand(1, 3, 2, 2), "hdr": hdr}, cosine_weight=5.0)
        assert float(terms["l1"]) == pytest.approx(0.125)  # 1 of 4 pixels off by 0.5
        assert float(terms["cosine"]) == pytest.approx(0.0, abs=1e-6)  # same colour direction
        assert float(terms["loss"]) == pytest.approx(0.125 + 5 * float(terms["cosine"]))

    def test_training_steps_lower_the_loss(self):
        torch.manual_seed(0)
        model = expandnet.ExpandNet(width=8)
        hdr = torch.rand(4, 3, 16, 16) * 4
        batch = {"ldr": (hdr.clamp(0, 1)) ** (1 / 2.2), "hdr": hdr}
        optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
        first = float(expandnet.loss_terms(model, batch)["loss"].detach())
        for _ in range(30):
            optimiser.zero_grad()
            expandnet.loss_terms(model, batch)["loss"].backward()
            optimiser.step()
        assert float(expandnet.loss_terms(model, batch)["loss"].detach()) < 0.8 * first


class TestPredictAndEvaluate:
    def test_predict_decodes_each_target(self):
        torch.manual_seed(0)
        ldr = torch.rand(2, 3, 8, 8)
        model = expandnet.ExpandNet(width=4)
        radiance = expandnet.predict(model, ldr)
        with torch.no_grad():
            assert torch.allclose(expandnet.encode_target(radiance), model(ldr), atol=1e-6)
            model.target = "max"
            assert torch.equal(expandnet.predict(model, ldr), model(ldr))

    def test_predict_validates_and_keeps_shape(self):
        model = expandnet.ExpandNet(width=4)
        assert expandnet.predict(model, torch.rand(2, 3, 8, 8)).shape == (2, 3, 8, 8)
        with pytest.raises(RangeError):
            expandnet.predict(model, torch.rand(3, 8, 8) * 2)

    def test_held_out_pairs_follow_the_exposure_convention(self):
        pairs = expandnet.held_out_pairs(["room_windows"], max_side=32, evs=(0.0, 1.0), crfs=("srgb",))
        assert [p["ev"] for p in pairs] == [0.0, 1.0]
        # the +1 EV shot's HDR is twice the EV 0 one, and each LDR is its own HDR through the curve
        assert torch.allclose(pairs[1]["hdr"], 2 * pairs[0]["hdr"])
        assert torch.equal(pairs[0]["ldr"], camera.expose(pairs[0]["hdr"], 1.0, "srgb"))

    def test_evaluate_scores_the_baselines_exactly(self):
        pairs = expandnet.held_out_pairs(["room_windows"], max_side=32, evs=(0.0,), crfs=("srgb", "film-soft"))
        scores = expandnet.evaluate(expandnet.ExpandNet(width=4), pairs)
        expected = sum(float(tonemapped_psnr(p["ldr"] ** 2.2, p["hdr"])) for p in pairs) / 2
        assert scores["psnr_tm/ldr_gamma"] == pytest.approx(expected)
        assert set(scores) == {f"{m}/{k}" for m in ("psnr_tm", "ssim_tm") for k in ("expandnet", "ldr", "ldr_gamma")}


class TestWeights:
    def test_reference_weights_load(self, tmp_path):
        reference = _reference_expandnet()
        torch.save(reference.state_dict(), tmp_path / "weights.pth")
        model = expandnet.load_reference_weights(tmp_path / "weights.pth")
        assert model.target == "max"
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))

    def test_missing_reference_weights_name_the_download(self, tmp_path):
        with pytest.raises(MissingFileError, match="hdr-expandnet"):
            expandnet.load_reference_weights(tmp_path / "weights.pth")

    def test_load_trained_without_a_run(self, tmp_path):
        with pytest.raises(MissingFileError, match="python -m hdrlab train expandnet"):
            expandnet.load_trained(tmp_path)


def _train_cli(out, *extra):
    return cli.main(["train", "expandnet", "--profile", "quick", "--out", str(out), *extra])


class TestCommandLine:
    def test_train_checkpoints_evaluates_and_resumes(self, tmp_path, capsys):
        assert _train_cli(tmp_path / "a", "--steps", "4") == 0
        assert _train_cli(tmp_path / "a", "--steps", "6", "--resume") == 0
        assert _train_cli(tmp_path / "b", "--steps", "6") == 0
        out = capsys.readouterr().out
        assert "psnr_tm/expandnet" in out
        assert json.loads((tmp_path / "a" / "settings.json").read_text())["steps"] == 6
        resumed, straight = expandnet.load_trained(tmp_path / "a"), expandnet.load_trained(tmp_path / "b")
        assert (resumed.width, resumed.target) == (32, "exposure")
        for a, b in zip(resumed.parameters(), straight.parameters()):
            assert torch.equal(a, b)
        assert train.latest_checkpoint(tmp_path / "a").name == train.latest_checkpoint(tmp_path / "b").name

    def test_resume_without_a_run_fails_clearly(self, tmp_path):
        with pytest.raises(MissingFileError):
            _train_cli(tmp_path, "--steps", "2", "--resume")


def test_quick_profile_beats_the_ldr_input_on_held_out_scenes(tmp_path):
    """The issue's proof: the quick profile (under 2 CPU minutes) beats the LDR input and its naive inverse gamma."""
    _, result = expandnet.train_expandnet(tmp_path, "quick", progress="none")
    scores = result.last_eval
    assert scores["psnr_tm/expandnet"] > scores["psnr_tm/ldr"]
    assert scores["ssim_tm/expandnet"] > scores["ssim_tm/ldr"]
    assert scores["psnr_tm/expandnet"] > scores["psnr_tm/ldr_gamma"]
    assert scores["ssim_tm/expandnet"] > scores["ssim_tm/ldr_gamma"]
    assert all(math.isfinite(v) for v in scores.values())
