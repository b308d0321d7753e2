"""Convolution building blocks: activations and norms by name, conv-norm-activation, 2x upsampling, ICNR.

Every block takes and returns feature maps ``(B, C, H, W)`` (float32,
channels first). Names select activations (:data:`ACTIVATIONS`) and norms
(:data:`NORMS`) so that a model's configuration is a few strings, as in the
chapters' settings tables.

Example:
    >>> block = ConvNormAct(3, 8, norm="instance", activation="mish")
    >>> block(torch.rand(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])

Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb,
notebooks/04_differentiable_recursion.ipynb, notebooks/05_hybrid_autoencoder.ipynb
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from hdrlab.errors import ChoiceError, DTypeError, RangeError, ShapeError, describe
from hdrlab.validate import check_bool

__all__ = [
    "ACTIVATIONS", "activation", "NORMS", "norm2d", "check_feature_map", "check_layer_dtype", "parameter_dtype", "PADDING_MODES",
    "ConvNormAct", "ConvStack", "DoubleConv", "UPSAMPLE_MODES", "Upsample2x", "icnr_", "count_parameters",
]

#: Activation name -> module factory. ``leaky_relu`` has slope 0.2 (the image-to-image convention); ``swish`` and
#: ``silu`` are the same function; ``none`` is the identity.
ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": partial(nn.LeakyReLU, negative_slope=0.2),
    "selu": nn.SELU,
    "elu": nn.ELU,
    "mish": nn.Mish,
    "swish": nn.SiLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "none": nn.Identity,
}


def _group_norm(channels: int, num_groups: int | None = None, **kwargs: object) -> nn.GroupNorm:
    groups = math.gcd(32, channels) if num_groups is None else num_groups
    if groups < 1 or channels % groups:
        raise ShapeError(describe(f"num_groups dividing the {channels} channels", repr(num_groups),
                                  "Pick a divisor of the channel count, or leave num_groups unset."))
    return nn.GroupNorm(groups, channels, **kwargs)


#: Norm name -> factory ``(channels, **kwargs)``. ``batch`` and ``group`` (``gcd(32, channels)`` groups, Wu & He 2018)
#: as in PyTorch; ``instance`` with a learned affine (``affine=True``) unlike PyTorch's default; ``none`` = identity.
NORMS: dict[str, Callable[..., nn.Module]] = {
    "batch": nn.BatchNorm2d,
    "instance": partial(nn.InstanceNorm2d, affine=True),
    "group": _group_norm,
    "none": lambda channels, **kwargs: nn.Identity(),
}

#: The ways :class:`Upsample2x` doubles the resolution.
UPSAMPLE_MODES = ("transposed", "resize_conv", "pixel_shuffle", "pixel_shuffle_icnr")
#: How :class:`ConvNormAct` pads (``nn.Conv2d``'s ``padding_mode``).
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _check_choice(name: object, choices: object, what: str, fix: str) -> None:
    if not isinstance(name, str) or name not in choices:  # type: ignore[operator]
        raise ChoiceError(describe(f"{what} in {sorted(choices)}", repr(name), fix))  # type: ignore[call-overload]


def _check_count(value: object, name: str, minimum: int = 1) -> None:
    """A Python int >= ``minimum`` (channels, levels, kernel sizes)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DTypeError(describe(f"{name} to be an int", type(value).__name__, f"Pass {name} as an int."))
    if value < minimum:
        raise RangeError(describe(f"{name} >= {minimum}", repr(value), f"Pass a larger {name}."))


def _check_odd_kernel(kernel_size: object) -> None:
    _check_count(kernel_size, "kernel_size")
    if kernel_size % 2 == 0:  # type: ignore[operator]
        raise RangeError(describe("an odd kernel_size (same padding)", repr(kernel_size), "Use 1, 3, 5 or 7."))


def check_feature_map(x: object, channels: int, name: str = "input", *, dtype: torch.dtype | None = None) -> None:
    """Check a layer's input: a float tensor ``(B, channels, H, W)``, of the layer's ``dtype`` when given.

    Constant time (no pass over the values): what every ``forward`` can afford. The
    dtype is not enforced under ``torch.autocast``, which casts between the two.

    Raises:
        DTypeError: not a floating-point tensor, or not of ``dtype`` (e.g. float16 into float32 weights).
        ShapeError: not 4-D, or the channel count differs.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise DTypeError(describe(f"{name} as a float tensor", got, "Convert with x.float()."))
    if x.dim() != 4 or x.shape[1] != channels:
        raise ShapeError(describe(f"{name} of shape (B, {channels}, H, W)", f"shape {tuple(x.shape)}",
                                  "Add a batch dim with x.unsqueeze(0), or match the layer's channel count."))
    check_layer_dtype(x, dtype, name)


def check_layer_dtype(x: torch.Tensor, dtype: torch.dtype | None, name: str = "input") -> None:
    """DTypeError unless ``x`` has the layer's ``dtype`` (None, or inside ``torch.autocast``: anything goes)."""
    if dtype is not None and x.dtype != dtype and not torch.is_autocast_enabled(x.device.type):
        raise DTypeError(describe(f"{name} of the layer's dtype, {dtype}", f"dtype {x.dtype}",
                                  f"Convert the input with x.to({dtype}), or the model with model.to({x.dtype}); "
                                  "for mixed precision use torch.autocast."))


def parameter_dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype of a module's first parameter (None without parameters): what its input must be.

    Raises:
        DTypeError: not an ``nn.Module``.
    """
    if not isinstance(module, nn.Module):
        raise DTypeError(describe("an nn.Module", type(module).__name__, "Pass the layer or model itself."))
    return next((p.dtype for p in module.parameters()), None)


def activation(name: str, **kwargs: object) -> nn.Module:
    """A fresh activation module by name.

    Args:
        name: a key of :data:`ACTIVATIONS`.
        **kwargs: passed to the module (e.g. ``negative_slope=0.01``).

    Returns:
        The module (``nn.Identity`` for ``"none"``).

    Raises:
        ChoiceError: unknown name.

    Example:
        >>> activation("leaky_relu")(torch.tensor([-1.0, 2.0])).tolist()
        [-0.20000000298023224, 2.0]

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    _check_choice(name, ACTIVATIONS, "activation", "Use e.g. 'relu' or 'mish'.")
    return ACTIVATIONS[name](**kwargs)


_activation = activation  # ConvNormAct's argument of that name shadows the function


def norm2d(name: str, channels: int, **kwargs: object) -> nn.Module:
    """A fresh 2-D normalisation layer by name.

    Args:
        name: a key of :data:`NORMS`.
        channels: number of feature channels, >= 1.
        **kwargs: passed to the layer (e.g. ``affine=False``, ``num_groups=8`` for ``"group"``).

    Returns:
        The layer (``nn.Identity`` for ``"none"``).

    Raises:
        ChoiceError: unknown name.
        DTypeError, RangeError: ``channels`` not an int >= 1.
        ShapeError: ``num_groups`` does not divide ``channels``.

    Example:
        >>> norm2d("group", 48).num_groups
        16

    Taught in: notebooks/02_metahdr.ipynb, notebooks/05_hybrid_autoencoder.ipynb
    """
    _check_choice(name, NORMS, "norm", "Use 'batch', 'instance', 'group' or 'none'.")
    _check_count(channels, "channels")
    return NORMS[name](channels, **kwargs)


class ConvNormAct(nn.Sequential):
    """Convolution with same padding, then a norm, then an activation (children ``conv``, ``norm``, ``act``).

    The convolution has no bias when a norm with a learned affine follows (the
    norm's shift replaces it, and a norm's mean subtraction would cancel it).
    With odd ``kernel_size`` the output is ``ceil(H / stride) x ceil(W / stride)``.

    Args:
        in_channels: input channels, >= 1.
        out_channels: output channels, >= 1.
        kernel_size: odd, >= 1.
        stride: >= 1.
        dilation: >= 1 (the padding grows with it).
        norm: a key of :data:`NORMS`.
        activation: a key of :data:`ACTIVATIONS`.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.

    Raises:
        ChoiceError: unknown norm, activation or padding mode.
        DTypeError, RangeError: a size that is not a positive int, or an even kernel.

    Example:
        >>> ConvNormAct(3, 8, stride=2)(torch.rand(1, 3, 9, 9)).shape
        torch.Size([1, 8, 5, 5])
        >>> ConvNormAct(3, 8).conv.bias is None, ConvNormAct(3, 8, norm="none").conv.bias is None
        (True, False)

    Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        norm: str = "batch",
        activation: str = "relu",
        padding_mode: str = "zeros",
    ) -> None:
        _check_count(in_channels, "in_channels")
        _check_count(out_channels, "out_channels")
        _check_odd_kernel(kernel_size)
        _check_count(stride, "stride")
        _check_count(dilation, "dilation")
        _check_choice(padding_mode, PADDING_MODES, "padding mode", "Use 'zeros' or 'reflect'.")
        norm_layer = norm2d(norm, out_channels)
        act = _activation(activation)
        affine = bool(getattr(norm_layer, "affine", False) or getattr(norm_layer, "elementwise_affine", False))
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=dilation * (kernel_size // 2),
                         dilation=dilation, bias=not affine, padding_mode=padding_mode)
        super().__init__()
        self.conv, self.norm, self.act = conv, norm_layer, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in, H, W) -> (B, out, H', W')``; the input is checked (shape, dtype) first."""
        check_feature_map(x, self.conv.in_channels, dtype=self.conv.weight.dtype)
        return super().forward(x)


class ConvStack(nn.Sequential):
    """``num_convs`` :class:`ConvNormAct` 3x3 layers in a row (the first maps ``in -> out``, the rest ``out -> out``).

    Args:
        in_channels: input channels, >= 1.
        out_channels: output channels, >= 1.
        num_convs: number of layers, >= 1.
        norm: a key of :data:`NORMS`.
        activation: a key of :data:`ACTIVATIONS`.

    Raises:
        ChoiceError, DTypeError, RangeError: see :class:`ConvNormAct`.

    Example:
        >>> len(ConvStack(3, 8, num_convs=3))
        3

    Taught in: notebooks/02_metahdr.ipynb
    """

    def __init__(
        self, in_channels: int, out_channels: int, num_convs: int = 2, norm: str = "batch", activation: str = "relu"
    ) -> None:
        _check_count(num_convs, "num_convs")
        channels = [in_channels] + [out_channels] * num_convs
        super().__init__(*(ConvNormAct(c_in, c_out, norm=norm, activation=activation)
                           for c_in, c_out in zip(channels[:-1], channels[1:])))


class DoubleConv(ConvStack):
    """Two 3x3 :class:`ConvNormAct` layers, the U-Net's unit (Ronneberger et al. 2015).

    Args:
        in_channels: input channels, >= 1.
        out_channels: output channels, >= 1.
        norm: a key of :data:`NORMS`.
        activation: a key of :data:`ACTIVATIONS`.

    Raises:
        ChoiceError, DTypeError, RangeError: see :class:`ConvNormAct`.

    Example:
        >>> DoubleConv(3, 8)(torch.rand(1, 3, 4, 4)).shape
        torch.Size([1, 8, 4, 4])

    References:
        Ronneberger, Fischer, Brox, "U-Net: convolutional networks for
        biomedical image segmentation", MICCAI 2015.

    Taught in: notebooks/02_metahdr.ipynb
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch", activation: str = "relu") -> None:
        super().__init__(in_channels, out_channels, 2, norm=norm, activation=activation)


def icnr_(
    weight: torch.Tensor, scale: int = 2, initializer: Callable[[torch.Tensor], object] = nn.init.kaiming_normal_
) -> torch.Tensor:
    """ICNR initialisation, in place, of a convolution that feeds ``nn.PixelShuffle(scale)``.

    ``nn.PixelShuffle`` builds output channel ``c`` from input channels
    ``c*scale^2 ... (c+1)*scale^2 - 1``. ICNR draws one kernel per output
    channel with ``initializer`` and copies it to all ``scale^2`` sub-pixel
    kernels of its group, so at initialisation conv + pixel shuffle equals
    nearest-neighbour upsampling of one convolution (with the bias equal in
    each group, e.g. zero): no checkerboard artefacts at the start.

    Args:
        weight: conv weight ``(out * scale^2, in, kH, kW)``, changed in place.
        scale: the pixel-shuffle factor, >= 1.
        initializer: in-place initialiser applied to the ``(out, in, kH, kW)`` sub-kernel.

    Returns:
        ``weight``.

    Raises:
        ShapeError: ``weight`` is not 4-D or its first dim is not a multiple of ``scale^2``.
        DTypeError, RangeError: ``scale`` not an int >= 1.

    Example:
        >>> w = icnr_(torch.empty(8, 3, 3, 3))
        >>> torch.equal(w[0], w[3]), torch.equal(w[3], w[4])
        (True, False)

    References:
        Aitken, Ledig, Theis, Caballero, Wang, Shi, "Checkerboard artifact free
        sub-pixel convolution", arXiv:1707.02937, 2017.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    _check_count(scale, "scale")
    if not callable(initializer):
        raise DTypeError(describe("an in-place initializer function", repr(initializer),
                                  "Pass e.g. torch.nn.init.kaiming_normal_."))
    group = scale * scale
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4 or weight.shape[0] % group:
        got = f"shape {tuple(weight.shape)}" if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ShapeError(describe(f"a conv weight (out * {group}, in, kH, kW)", got,
                                  f"Give the conv feeding PixelShuffle({scale}) out_channels * {group} outputs."))
    with torch.no_grad():
        sub_kernel = torch.empty_like(weight[: weight.shape[0] // group])
        initializer(sub_kernel)
        weight.copy_(sub_kernel.repeat_interleave(group, dim=0))
    return weight


class Upsample2x(nn.Module):
    """Double the resolution and map ``in_channels -> out_channels``, in one of :data:`UPSAMPLE_MODES`.

    - ``"transposed"``: ``ConvTranspose2d`` with kernel 2, stride 2 (U-Net's up-conv).
    - ``"resize_conv"``: nearest-neighbour resize, then a 3x3 conv (Odena et al. 2016).
    - ``"pixel_shuffle"``: 3x3 conv to ``4 * out`` channels, then ``PixelShuffle(2)`` (Shi et al. 2016).
    - ``"pixel_shuffle_icnr"``: the same with :func:`icnr_` weights and a zero bias.

    Args:
        in_channels: input channels, >= 1.
        out_channels: output channels, >= 1.
        mode: one of :data:`UPSAMPLE_MODES`.

    Raises:
        ChoiceError: unknown mode.
        DTypeError, RangeError: channels not ints >= 1.

    Example:
        >>> Upsample2x(8, 4, "pixel_shuffle_icnr")(torch.rand(1, 8, 5, 6)).shape
        torch.Size([1, 4, 10, 12])

    References:
        Odena, Dumoulin, Olah, "Deconvolution and checkerboard artifacts",
        Distill 2016. Shi et al., "Real-time single image and video
        super-resolution using an efficient sub-pixel convolutional neural
        network", CVPR 2016. Aitken et al., arXiv:1707.02937, 2017 (ICNR).

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "transposed") -> None:
        super().__init__()
        _check_choice(mode, UPSAMPLE_MODES, "upsampling mode", "Use 'transposed' or 'pixel_shuffle_icnr'.")
        _check_count(in_channels, "in_channels")
        _check_count(out_channels, "out_channels")
        self.mode, self.in_channels = mode, in_channels
        if mode == "transposed":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        elif mode == "resize_conv":
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                    nn.Conv2d(in_channels, out_channels, 3, padding=1))
        else:
            conv = nn.Conv2d(in_channels, 4 * out_channels, 3, padding=1)
            if mode == "pixel_shuffle_icnr":
                icnr_(conv.weight, 2)
                nn.init.zeros_(conv.bias)
            self.up = nn.Sequential(conv, nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in, H, W) -> (B, out, 2H, 2W)``; the input is checked (shape, dtype) first."""
        check_feature_map(x, self.in_channels, dtype=parameter_dtype(self))
        return self.up(x)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameter values (elements) of a module.

    Args:
        module: any ``nn.Module``.
        trainable_only: count only parameters with ``requires_grad``.

    Returns:
        The count (shared parameters counted once).

    Example:
        >>> count_parameters(nn.Conv2d(3, 8, 3))  # 8*3*3*3 weights + 8 biases
        224

    Taught in: notebooks/02_metahdr.ipynb, notebooks/05_hybrid_autoencoder.ipynb
    """
    if not isinstance(module, nn.Module):
        raise DTypeError(describe("an nn.Module", type(module).__name__, "Pass the model itself."))
    check_bool(trainable_only, "trainable_only")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
