"""Neural-network building blocks, feature extractors and losses shared by the learned chapters.

- :mod:`~hdrlab.nn.blocks`: activations and norms by name, conv-norm-activation, 2x upsampling (transposed,
  resize-conv, pixel shuffle with ICNR), parameter counts;
- :mod:`~hdrlab.nn.unet`: a configurable U-Net;
- :mod:`~hdrlab.nn.recurrent`: a ConvGRU cell; :mod:`~hdrlab.nn.norm`: conditional instance norm;
- :mod:`~hdrlab.nn.pretrained`: hub weights, used when present, an explicit error when required offline;
- :mod:`~hdrlab.nn.features`: named VGG19 features; :mod:`~hdrlab.nn.losses`: the training losses.

Tensors follow DESIGN §2: float32, channels first, images ``(*, 3, H, W)``, LDR in [0, 1], HDR linear ``>= 0``.

Example:
    >>> import torch
    >>> from hdrlab import nn as hnn
    >>> net = hnn.UNet(levels=2, base_width=4, head="sigmoid")
    >>> pred = net(torch.rand(1, 3, 8, 8))
    >>> hnn.l1_loss(pred, torch.rand(1, 3, 8, 8)).backward()
    >>> hnn.count_parameters(net)  # see the formula in UNet's docstring
    1759

Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb,
notebooks/04_differentiable_recursion.ipynb, notebooks/05_hybrid_autoencoder.ipynb
"""

from hdrlab.nn.blocks import (
    ACTIVATIONS,
    NORMS,
    UPSAMPLE_MODES,
    ConvNormAct,
    ConvStack,
    DoubleConv,
    Upsample2x,
    activation,
    count_parameters,
    icnr_,
    norm2d,
)
from hdrlab.nn.features import VGG19_LAYERS, VGG19Features
from hdrlab.nn.losses import (
    CoBiLoss,
    PerceptualLoss,
    contextual_bilateral_loss,
    cosine_loss,
    edge_loss,
    expandnet_loss,
    histogram_loss,
    l1_loss,
    mu_law_loss,
    perceptual_loss,
    sobel_edges,
    soft_histogram,
    total_variation,
)
from hdrlab.nn.norm import ConditionalInstanceNorm2d
from hdrlab.nn.pretrained import load_hub_weights
from hdrlab.nn.recurrent import ConvGRUCell
from hdrlab.nn.unet import UNet

__all__ = [
    "ACTIVATIONS", "activation", "NORMS", "norm2d", "ConvNormAct", "ConvStack", "DoubleConv", "UPSAMPLE_MODES",
    "Upsample2x", "icnr_", "count_parameters", "UNet", "ConvGRUCell", "ConditionalInstanceNorm2d",
    "load_hub_weights", "VGG19_LAYERS", "VGG19Features", "l1_loss", "cosine_loss", "expandnet_loss",
    "perceptual_loss", "PerceptualLoss", "total_variation", "mu_law_loss", "soft_histogram", "histogram_loss",
    "sobel_edges", "edge_loss", "contextual_bilateral_loss", "CoBiLoss",
]
