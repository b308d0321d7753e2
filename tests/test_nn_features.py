"""hdrlab.nn.pretrained (hub weights, offline behaviour) and hdrlab.nn.features (named VGG19 layers)."""

import os

import pytest
import torch
from torch import nn

from hdrlab.errors import ChoiceError, MissingWeightsError, RangeError, ShapeError
from hdrlab.nn import pretrained
from hdrlab.nn.features import IMAGENET_MEAN, IMAGENET_STD, VGG19_LAYERS, VGG19_URL, VGG19Features

VGG_FILE = "vgg19-dcbb9e9d.pth"


def _save(state, folder, name):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / name)


class TestLoadHubWeights:
    URL = "https://example.org/models/tiny-0123abcd.pth"

    def test_false_does_not_try(self, monkeypatch):
        def fail(*args, **kwargs):
            raise AssertionError("must not be called")

        monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fail)
        assert pretrained.load_hub_weights(self.URL, "tiny weights", False) is None

    def test_cached_file_is_used(self, offline_hub):
        _save({"w": torch.arange(3.0)}, offline_hub, "tiny-0123abcd.pth")
        state = pretrained.load_hub_weights(self.URL, "tiny weights", True)
        assert torch.equal(state["w"], torch.arange(3.0))
        assert pretrained.checkpoint_path(self.URL) == str(offline_hub / "tiny-0123abcd.pth")

    def test_file_name(self, offline_hub):
        _save({"w": torch.ones(1)}, offline_hub, "renamed.pth")
        assert pretrained.load_hub_weights(self.URL, "tiny weights", "auto", file_name="renamed.pth") is not None

    def test_download_route(self, monkeypatch, tmp_path):
        def fake_download(url, dst, *args, **kwargs):
            torch.save({"w": torch.zeros(2)}, dst)

        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
        assert torch.equal(pretrained.load_hub_weights(self.URL, "tiny weights", True)["w"], torch.zeros(2))
        assert (tmp_path / "hub" / "checkpoints" / "tiny-0123abcd.pth").exists()

    def test_required_offline_names_file_and_route(self, offline_hub):
        with pytest.raises(MissingWeightsError) as info:
            pretrained.load_hub_weights(self.URL, "tiny weights", True)
        message = str(info.value)
        assert str(offline_hub / "tiny-0123abcd.pth") in message and self.URL in message
        assert "pretrained=False" in message and "TORCH_HOME" in message

    def test_auto_offline_prints_one_line(self, offline_hub, capsys):
        assert pretrained.load_hub_weights(self.URL, "tiny weights", "auto") is None
        notices = [line for line in capsys.readouterr().out.splitlines() if "RANDOM" in line]  # torch hub logs too
        assert len(notices) == 1 and notices[0].startswith("tiny weights unavailable: RANDOM weights are used.")
        assert pretrained.load_hub_weights(self.URL, "tiny weights", "auto", notice="Custom notice.") is None
        assert "\nCustom notice. Expected tiny weights at" in capsys.readouterr().out

    def test_corrupt_cache_file(self, offline_hub, capsys):
        offline_hub.mkdir(parents=True)
        (offline_hub / "tiny-0123abcd.pth").write_bytes(b"not a checkpoint")
        with pytest.raises(MissingWeightsError, match="readable cached file"):
            pretrained.load_hub_weights(self.URL, "tiny weights", True)
        assert pretrained.load_hub_weights(self.URL, "tiny weights", "auto") is None
        assert "RANDOM" in capsys.readouterr().out

    @pytest.mark.parametrize("value", ["yes", 1, None])
    def test_bad_choice(self, value):
        with pytest.raises(ChoiceError, match="'auto'"):
            pretrained.load_hub_weights(self.URL, "tiny weights", value)

    def test_load_matching(self):
        layer = nn.Linear(2, 1)
        pretrained.load_matching(layer, {"x.weight": torch.ones(1, 2), "x.bias": torch.zeros(1)}, self.URL, "w",
                                 key_map={"weight": "x.weight", "bias": "x.bias"})
        assert torch.equal(layer.weight, torch.ones(1, 2))
        with pytest.raises(MissingWeightsError, match="Delete the file"):
            pretrained.load_matching(layer, {"weight": torch.ones(1, 2)}, self.URL, "w")
        with pytest.raises(MissingWeightsError, match="tiny-0123abcd.pth"):
            pretrained.load_matching(layer, {"weight": torch.ones(2, 2), "bias": torch.zeros(1)}, self.URL, "w")


@pytest.fixture(scope="module")
def meta_vgg19_features():
    """torchvision's own vgg19().features, built on the meta device (no memory, no init cost)."""
    import torchvision  # after hdrlab (its shim makes torchvision importable beside a CPU torch)

    with torch.device("meta"):
        return torchvision.models.vgg19().features


class TestLayerNames:
    def test_names_match_torchvision_layer_types(self, meta_vgg19_features):
        assert len(VGG19_LAYERS) == len(meta_vgg19_features) == 37
        kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
        for name, index in VGG19_LAYERS.items():
            assert isinstance(meta_vgg19_features[index], kinds[name[:4]]), name

    def test_known_indices(self):
        assert [VGG19_LAYERS[n] for n in ("conv1_1", "relu1_2", "pool1", "relu2_2", "relu3_4", "relu4_4", "pool5")] \
            == [0, 3, 4, 8, 17, 26, 36]

    def test_conv_widths_follow_blocks(self, meta_vgg19_features):
        widths = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
        for name, index in VGG19_LAYERS.items():
            if name.startswith("conv"):
                assert meta_vgg19_features[index].out_channels == widths[int(name[4])]


@pytest.fixture(scope="module")
def vgg_to_relu2_2():
    return VGG19Features(("conv1_2", "relu1_2", "relu2_2"), pretrained=False)


class TestVGG19Features:
    def test_built_only_to_the_deepest_layer(self, meta_vgg19_features):
        vgg = VGG19Features(("relu2_1", "conv1_1"), pretrained=False)
        assert len(list(vgg.features.children())) == VGG19_LAYERS["relu2_1"] + 1 == 7
        ours = {k: v.shape for k, v in vgg.features.state_dict().items()}
        assert ours == {k: v.shape for k, v in meta_vgg19_features[:7].state_dict().items()}
        assert len(VGG19Features("relu3_4", pretrained=False).features) == 18

    def test_matches_torchvision_computation(self, vgg_to_relu2_2):
        from torchvision.models.vgg import cfgs, make_layers

        reference = make_layers(cfgs["E"])[:9]  # torchvision's layers (in-place ReLU), our weights
        reference.load_state_dict(vgg_to_relu2_2.features.state_dict())
        x = torch.rand(2, 3, 16, 16)
        normalized = (x - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
        conv1_2 = reference[:3](normalized).clone()
        out = vgg_to_relu2_2(x)
        assert list(out) == ["conv1_2", "relu1_2", "relu2_2"]
        assert torch.allclose(out["conv1_2"], conv1_2, atol=1e-5)
        assert (out["conv1_2"] < 0).any()  # not overwritten by the in-place ReLU that follows in torchvision
        assert torch.allclose(out["relu1_2"], conv1_2.relu(), atol=1e-5)
        assert torch.allclose(out["relu2_2"], reference(normalized), atol=1e-4)

    def test_without_normalisation(self):
        vgg = VGG19Features("conv1_1", pretrained=False, normalize=False)
        x = torch.rand(1, 3, 4, 4)
        expected = nn.functional.conv2d(x, vgg.features[0].weight, vgg.features[0].bias, padding=1)
        assert torch.allclose(vgg(x)["conv1_1"], expected, atol=1e-6)

    def test_leading_dims(self, vgg_to_relu2_2):
        out = vgg_to_relu2_2(torch.rand(2, 2, 3, 8, 8))
        assert out["relu1_2"].shape == (2, 2, 64, 8, 8) and out["relu2_2"].shape == (2, 2, 128, 4, 4)

    def test_frozen_eval_and_differentiable(self, vgg_to_relu2_2):
        vgg_to_relu2_2.train()
        assert vgg_to_relu2_2.training and not vgg_to_relu2_2.features.training
        assert not any(p.requires_grad for p in vgg_to_relu2_2.parameters())
        x = torch.rand(1, 3, 8, 8, requires_grad=True)
        vgg_to_relu2_2(x)["relu2_2"].sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0

    def test_unknown_layer_lists_the_names(self):
        with pytest.raises(ChoiceError, match=r"relu5_4.*pool5.*got \['relu6_1'\]"):
            VGG19Features(("relu1_1", "relu6_1"), pretrained=False)
        with pytest.raises(ChoiceError):
            VGG19Features((), pretrained=False)
        with pytest.raises(ChoiceError):
            VGG19Features("conv1_1", pretrained="maybe")

    def test_input_errors(self, vgg_to_relu2_2):
        with pytest.raises(RangeError, match=r"\[0, 1\]"):
            vgg_to_relu2_2(torch.rand(1, 3, 8, 8) * 2)
        with pytest.raises(ShapeError, match="H and W >= 2"):
            vgg_to_relu2_2(torch.rand(1, 3, 1, 8))
        with pytest.raises(ShapeError):
            vgg_to_relu2_2(torch.rand(1, 4, 8, 8))

    def test_pretrained_offline_raises(self, offline_hub):
        with pytest.raises(MissingWeightsError) as info:
            VGG19Features("relu1_1", pretrained=True)
        assert VGG_FILE in str(info.value) and str(offline_hub) in str(info.value)

    def test_auto_offline_prints_and_is_random(self, offline_hub, capsys):
        vgg = VGG19Features("relu1_1", pretrained="auto")
        assert vgg.pretrained_weights is False
        assert "VGG19 weights unavailable: RANDOM weights are used" in capsys.readouterr().out

    def test_cached_weights_are_used(self, offline_hub):
        source = VGG19Features("relu1_2", pretrained=False)
        state = {f"features.{k}": v for k, v in source.features.state_dict().items()}
        state["classifier.0.weight"] = torch.zeros(1)  # the rest of torchvision's file is ignored
        _save(state, offline_hub, VGG_FILE)
        vgg = VGG19Features("relu1_2", pretrained=True)
        assert vgg.pretrained_weights is True
        assert torch.equal(vgg.features[2].weight, source.features[2].weight)
        assert VGG19_URL.endswith(VGG_FILE)

    def test_mismatched_cache_file(self, offline_hub):
        _save({"features.0.weight": torch.zeros(1)}, offline_hub, VGG_FILE)
        with pytest.raises(MissingWeightsError, match="Delete the file"):
            VGG19Features("relu1_1", pretrained=True)
        assert os.path.exists(offline_hub / VGG_FILE)
