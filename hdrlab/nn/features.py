"""VGG19 features by layer name (torchvision's architecture), for perceptual and contextual losses.

Example:
    >>> vgg = VGG19Features(layers=("relu1_2", "pool1"), pretrained=False)
    >>> {name: tuple(f.shape) for name, f in vgg(torch.rand(1, 3, 8, 8)).items()}
    {'relu1_2': (1, 64, 8, 8), 'pool1': (1, 64, 4, 4)}

Taught in: notebooks/03_multi_exposure_generation.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models import VGG19_Weights

from hdrlab.errors import ChoiceError, ShapeError, describe
from hdrlab.nn.blocks import check_layer_dtype, parameter_dtype
from hdrlab.nn.pretrained import check_pretrained, load_hub_weights, load_matching
from hdrlab.validate import check_bool, check_ldr

__all__ = ["VGG19_LAYERS", "VGG19_URL", "IMAGENET_MEAN", "IMAGENET_STD", "VGG19Features"]

_VGG19_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
#: torchvision's ImageNet VGG19 weights (IMAGENET1K_V1), the address :func:`~hdrlab.nn.pretrained.load_hub_weights` uses.
VGG19_URL = VGG19_Weights.IMAGENET1K_V1.url
#: ImageNet channel statistics that torchvision's weights expect after scaling to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> dict[str, int]:
    names, block, conv = {}, 1, 1
    for entry in _VGG19_CONFIG:
        if entry == "M":
            names[f"pool{block}"] = len(names)
            block, conv = block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = len(names)
            names[f"relu{block}_{conv}"] = len(names)
            conv += 1
    return names


#: Layer name -> index in torchvision's ``vgg19().features``: conv1_1 0, relu1_1 1, conv1_2 2, relu1_2 3, pool1 4,
#: ..., relu3_4 17, pool3 18, ..., relu4_4 26, pool4 27, ..., relu5_4 35, pool5 36.
VGG19_LAYERS: dict[str, int] = _layer_names()


def _build_features(length: int) -> nn.Sequential:
    """The first ``length`` modules of torchvision's ``vgg19().features``, with torchvision's random init."""
    layers: list[nn.Module] = []
    channels = 3
    for entry in _VGG19_CONFIG:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(channels, int(entry), kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU()]  # not in place: a conv layer's output may be returned too
            channels = int(entry)
        if len(layers) >= length:
            break
    return nn.Sequential(*layers[:length])


def _check_layers(layers: Sequence[str] | str) -> tuple[str, ...]:
    if not isinstance(layers, (str, list, tuple)):
        raise ChoiceError(describe("a VGG19 layer name or a list of them", repr(layers), "Pass e.g. ('relu2_2',)."))
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    unknown = [name for name in layers if name not in VGG19_LAYERS]
    if not layers or unknown:
        raise ChoiceError(describe(f"VGG19 layer names from {list(VGG19_LAYERS)}", repr(unknown or layers),
                                   "Name layers as conv<block>_<i>, relu<block>_<i> or pool<block>, e.g. 'relu2_2'."))
    return layers


class VGG19Features(nn.Module):
    """Named intermediate features of VGG19 (torchvision's ``features``), frozen and always in eval mode.

    Only the layers up to the deepest requested one are built. Weights are
    torchvision's ImageNet ``IMAGENET1K_V1`` (548 MB file, of which the
    ``features`` part is used) from the torch hub cache or a download, through
    :func:`~hdrlab.nn.pretrained.load_hub_weights`: ``pretrained=True``
    raises :class:`~hdrlab.errors.MissingWeightsError` offline; ``"auto"``
    prints a notice and keeps random weights (torchvision's init);
    :attr:`pretrained_weights` records which. Parameters never require
    gradients, but gradients flow to the input, so it serves as a loss network.

    Args:
        layers: names from :data:`VGG19_LAYERS` (a single name is allowed); the output keeps their order.
        pretrained: True, False or ``"auto"``.
        normalize: subtract the ImageNet mean and divide by its std inside
            (the inputs are display images in [0, 1]); False feeds them as given.

    Attributes:
        layers: the requested names.
        features: the truncated ``nn.Sequential`` (torchvision's indices).
        pretrained_weights: whether the ImageNet weights were loaded.

    Raises:
        ChoiceError: unknown layer name or ``pretrained`` value.
        MissingWeightsError: ``pretrained=True`` and the weights cannot be had, or the cached file does not match.

    Example:
        >>> vgg = VGG19Features("relu2_1", pretrained=False)
        >>> len(vgg.features), vgg.pretrained_weights
        (7, False)

    References:
        Simonyan & Zisserman, "Very deep convolutional networks for
        large-scale image recognition", ICLR 2015. Johnson, Alahi, Fei-Fei,
        "Perceptual losses for real-time style transfer and super-resolution", ECCV 2016.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """

    def __init__(
        self,
        layers: Sequence[str] | str = ("relu1_2", "relu2_2", "relu3_4"),
        pretrained: bool | str = "auto",
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _check_layers(layers)
        check_pretrained(pretrained)
        self.normalize = check_bool(normalize, "normalize")
        self.features = _build_features(max(VGG19_LAYERS[name] for name in self.layers) + 1)
        what = "the ImageNet VGG19 weights"
        state = load_hub_weights(VGG19_URL, what, pretrained)
        if state is not None:
            key_map = {key: f"features.{key}" for key in self.features.state_dict()}
            load_matching(self.features, state, VGG19_URL, what, key_map=key_map)
        self.pretrained_weights = state is not None
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @property
    def min_side(self) -> int:
        """Smallest input side: ``2**pools`` for the pooling layers up to the deepest one."""
        return 2 ** sum(isinstance(layer, nn.MaxPool2d) for layer in self.features)

    def train(self, mode: bool = True) -> VGG19Features:
        """Record ``mode`` but keep the network in eval mode: it is a fixed feature extractor."""
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of display images.

        Args:
            images: ``(*, 3, H, W)`` in [0, 1]; H, W >= :attr:`min_side`.

        Returns:
            ``{name: (*, C_name, H_name, W_name)}`` in the order of :attr:`layers`.

        Raises:
            ShapeError: not ``(*, 3, H, W)``, or smaller than :attr:`min_side`.
            RangeError: values outside [0, 1] or NaN.
            DTypeError: not a float tensor.
        """
        check_ldr(images, "VGG19 input (display image)")
        check_layer_dtype(images, parameter_dtype(self), "VGG19 input (display image)")
        if min(images.shape[-2:]) < self.min_side:
            raise ShapeError(describe(f"H and W >= {self.min_side} for layers {list(self.layers)}",
                                      f"{tuple(images.shape[-2:])}", "Use a larger crop or shallower layers."))
        lead = images.shape[:-3]
        x = images.reshape(-1, *images.shape[-3:])
        if self.normalize:
            x = (x - self.mean) / self.std
        wanted = {VGG19_LAYERS[name]: name for name in self.layers}
        found = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                found[wanted[index]] = x.reshape(*lead, *x.shape[-3:])
        return {name: found[name] for name in self.layers}
