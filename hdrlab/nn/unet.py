"""A configurable U-Net: levels, widths, norm, activation, upsampling and head chosen by name.

Example:
    >>> net = UNet(levels=3, base_width=8, upsample="pixel_shuffle_icnr", norm="instance", head="tanh")
    >>> net(torch.rand(1, 3, 16, 16)).shape
    torch.Size([1, 3, 16, 16])

Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hdrlab.errors import DTypeError, ShapeError, describe
from hdrlab.nn import blocks
from hdrlab.nn.blocks import (
    ACTIVATIONS,
    ConvStack,
    Upsample2x,
    _check_choice,
    _check_count,
    check_feature_map,
    parameter_dtype,
)

__all__ = ["UNet"]


def _widths(levels: int, base_width: int, widths: Sequence[int] | None) -> list[int]:
    _check_count(levels, "levels")
    if widths is None:
        _check_count(base_width, "base_width")
        return [base_width * 2**i for i in range(levels)]
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise DTypeError(describe("widths as a sequence of ints", type(widths).__name__, "Pass e.g. [16, 32, 64]."))
    if len(widths) != levels:
        raise ShapeError(describe(f"{levels} widths (one per level)", f"{len(widths)}", "Give one width per level."))
    for width in widths:
        _check_count(width, "each width")
    return list(widths)


class UNet(nn.Module):
    """U-Net: ``levels`` resolutions, max-pool down, skip concatenation, a 1x1 head.

    Level ``i`` works at ``1 / 2**i`` of the input resolution with ``widths[i]``
    channels (default ``base_width * 2**i``); the last level is the bottleneck.
    Encoder level 0 is ``ConvStack(in, w0)``; level ``i > 0`` is max-pool 2x2
    then ``ConvStack(w[i-1], w[i])``. Decoder step ``i`` (from ``levels-2`` down
    to 0) is ``Upsample2x(w[i+1], w[i], upsample)``, concatenation with the
    encoder's level-``i`` output (upsampled first), then ``ConvStack(2 w[i], w[i])``.
    The head is a 1x1 conv ``w0 -> out`` with bias, then the head activation.

    Parameter count, with ``n = convs_per_level`` and a 3x3
    :class:`~hdrlab.nn.blocks.ConvNormAct` costing ``9 a b + 2 b`` for a
    norm with affine (``batch``, ``instance``, ``group``: no conv bias) or
    ``9 a b + b`` for ``norm="none"`` (conv bias) when mapping ``a -> b``:
    the encoder's stacks ``(in -> w0)``, ``(w[i-1] -> w[i])``, each followed by
    ``n - 1`` layers ``(w[i] -> w[i])``; per decoder step an upsampler
    (``transposed``: ``4 a b + b``; ``resize_conv``: ``9 a b + b``; pixel
    shuffle: ``36 a b + 4 b``, with ``a = w[i+1], b = w[i]``) and a stack
    ``(2 w[i] -> w[i])`` plus ``n - 1`` layers ``(w[i] -> w[i])``; the head
    ``w0 * out + out``. ``tests/test_nn_blocks.py`` checks the formula against
    :func:`~hdrlab.nn.blocks.count_parameters` and one count by hand.

    Args:
        in_channels: input channels, >= 1.
        out_channels: output channels, >= 1.
        levels: number of resolutions, >= 1 (inputs must be multiples of ``2**(levels-1)``).
        base_width: channels at full resolution when ``widths`` is None.
        widths: channels per level (``levels`` ints), overrides ``base_width``.
        norm: a key of :data:`~hdrlab.nn.blocks.NORMS`.
        activation: a key of :data:`~hdrlab.nn.blocks.ACTIVATIONS`.
        upsample: one of :data:`~hdrlab.nn.blocks.UPSAMPLE_MODES`.
        head: the output activation, a key of :data:`~hdrlab.nn.blocks.ACTIVATIONS`
            (``"sigmoid"`` for [0, 1] LDR, ``"tanh"``, ``"relu"`` for radiance, ``"none"``).
        convs_per_level: 3x3 conv layers per encoder/decoder level, >= 1.

    Attributes:
        widths: channels per level.
        encoder: ``nn.ModuleList`` of the levels' conv stacks.
        upsamplers: ``nn.ModuleList``; ``upsamplers[i]`` maps level ``i+1`` to level ``i``.
        decoder: ``nn.ModuleList``; ``decoder[i]`` is the conv stack of level ``i``.
        head: 1x1 conv + head activation (``nn.Sequential``).

    Raises:
        ChoiceError: unknown norm, activation, upsampling or head.
        DTypeError, RangeError, ShapeError: bad sizes or widths.

    Example:
        >>> net = UNet(levels=2, base_width=4, norm="none", head="none")
        >>> net.multiple, net.widths
        (2, [4, 8])

    References:
        Ronneberger, Fischer, Brox, "U-Net: convolutional networks for
        biomedical image segmentation", MICCAI 2015.

    Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        levels: int = 4,
        base_width: int = 32,
        widths: Sequence[int] | None = None,
        norm: str = "batch",
        activation: str = "relu",
        upsample: str = "transposed",
        head: str = "sigmoid",
        convs_per_level: int = 2,
    ) -> None:
        super().__init__()
        self.widths = _widths(levels, base_width, widths)
        _check_count(in_channels, "in_channels")
        _check_count(out_channels, "out_channels")
        _check_choice(head, ACTIVATIONS, "head", "Use 'sigmoid' for LDR in [0, 1], 'relu' or 'none' for radiance.")
        self.in_channels = in_channels

        def stack(c_in: int, c_out: int) -> ConvStack:
            return ConvStack(c_in, c_out, convs_per_level, norm=norm, activation=activation)

        w = self.widths
        self.encoder = nn.ModuleList([stack(in_channels, w[0])] + [stack(w[i - 1], w[i]) for i in range(1, levels)])
        self.upsamplers = nn.ModuleList([Upsample2x(w[i + 1], w[i], upsample) for i in range(levels - 1)])
        self.decoder = nn.ModuleList([stack(2 * w[i], w[i]) for i in range(levels - 1)])
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(nn.Conv2d(w[0], out_channels, 1), blocks.activation(head))

    @property
    def levels(self) -> int:
        """Number of resolutions."""
        return len(self.widths)

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this, ``2**(levels - 1)``."""
        return 2 ** (self.levels - 1)

    def _check_input(self, x: torch.Tensor) -> None:
        check_feature_map(x, self.in_channels, dtype=parameter_dtype(self))
        height, width = x.shape[-2:]
        if height % self.multiple or width % self.multiple:
            m = self.multiple
            raise ShapeError(describe(
                f"H and W multiples of {m} (2**(levels-1) for {self.levels} levels)", f"{height}x{width}",
                f"Pad (torch.nn.functional.pad(x, ..., mode='reflect')) or crop the input to "
                f"{-(-height // m) * m}x{-(-width // m) * m} or {height // m * m}x{width // m * m}, and undo it after.",
            ))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the encoder.

        Args:
            x: ``(B, in_channels, H, W)``, H and W multiples of :attr:`multiple`.

        Returns:
            ``(bottleneck, skips)``: the last level's features
            ``(B, widths[-1], H / multiple, W / multiple)`` and the list of
            the other levels' outputs, full resolution first.

        Raises:
            ShapeError: wrong shape or H, W not multiples of :attr:`multiple`.
            DTypeError: not a float tensor.
        """
        self._check_input(x)
        skips = []
        for i, level in enumerate(self.encoder):
            x = level(self.pool(x) if i else x)
            skips.append(x)
        return skips.pop(), skips

    def decode(self, bottleneck: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        """Run the decoder from the bottleneck, concatenating the skips.

        Args:
            bottleneck: ``(B, widths[-1], h, w)``, e.g. from :meth:`encode`
                (possibly changed, as a recurrent model does at the bottleneck).
            skips: ``levels - 1`` tensors, level ``i`` of shape ``(B, widths[i], h 2**(L-1-i), w 2**(L-1-i))``.

        Returns:
            ``(B, widths[0], H, W)`` features at full resolution, before :attr:`head`.

        Raises:
            ShapeError: wrong number of skips or mismatched shapes.
        """
        if len(skips) != self.levels - 1:
            raise ShapeError(describe(f"{self.levels - 1} skip tensors", f"{len(skips)}", "Pass encode()'s skips."))
        check_feature_map(bottleneck, self.widths[-1], "bottleneck")
        x = bottleneck
        for i in reversed(range(self.levels - 1)):
            up = self.upsamplers[i](x)
            if skips[i].shape != up.shape:
                raise ShapeError(describe(f"skip {i} of shape {tuple(up.shape)}", f"shape {tuple(skips[i].shape)}",
                                          "Pass the skips encode() returned for this input."))
            x = self.decoder[i](torch.cat([up, skips[i]], dim=1))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W) -> (B, out_channels, H, W)``; see :meth:`encode` for the shape rules."""
        return self.head(self.decode(*self.encode(x)))

