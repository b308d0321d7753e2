"""Convolutional recurrent cells: a ConvGRU that carries a spatial state across steps.

Example:
    >>> cell = ConvGRUCell(4, 8)
    >>> h = cell(torch.rand(2, 4, 6, 6))      # h=None: the state starts at zero
    >>> cell(torch.rand(2, 4, 6, 6), h).shape
    torch.Size([2, 8, 6, 6])

Taught in: notebooks/04_differentiable_recursion.ipynb
"""

from __future__ import annotations

import torch
from torch import nn

from hdrlab.errors import ShapeError, describe
from hdrlab.nn.blocks import _check_count, _check_odd_kernel, check_feature_map, parameter_dtype

__all__ = ["ConvGRUCell"]


class ConvGRUCell(nn.Module):
    """Convolutional GRU cell (Ballas et al. 2016): the GRU equations with convolutions.

    With ``*`` a same-padded convolution and ``[x, h]`` channel concatenation::

        z = sigmoid(W_z * [x, h] + b_z)            update gate
        r = sigmoid(W_r * [x, h] + b_r)            reset gate
        c = tanh(W_c * [x, r . h] + b_c)           candidate state
        h_next = (1 - z) . h + z . c

    (a convolution of ``[x, h]`` is the sum ``W * x + U * h`` of the paper's
    two convolutions). ``gates`` holds ``W_z`` (first ``hidden_channels``
    outputs) and ``W_r``; ``candidate`` holds ``W_c``.

    Args:
        input_channels: channels of ``x``, >= 1.
        hidden_channels: channels of the state ``h``, >= 1.
        kernel_size: odd, >= 1.

    Raises:
        DTypeError, RangeError: sizes that are not positive ints, or an even kernel.

    Example:
        >>> cell = ConvGRUCell(3, 5, kernel_size=1)
        >>> cell(torch.zeros(1, 3, 2, 2)).shape
        torch.Size([1, 5, 2, 2])

    References:
        Ballas, Yao, Pal, Courville, "Delving deeper into convolutional
        networks for learning video representations", ICLR 2016.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        _check_count(input_channels, "input_channels")
        _check_count(hidden_channels, "hidden_channels")
        _check_odd_kernel(kernel_size)
        self.input_channels, self.hidden_channels = input_channels, hidden_channels
        channels, padding = input_channels + hidden_channels, kernel_size // 2
        self.gates = nn.Conv2d(channels, 2 * hidden_channels, kernel_size, padding=padding)
        self.candidate = nn.Conv2d(channels, hidden_channels, kernel_size, padding=padding)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step.

        Args:
            x: ``(B, input_channels, H, W)``.
            h: the state ``(B, hidden_channels, H, W)``, or None for zeros.

        Returns:
            The next state ``(B, hidden_channels, H, W)``.

        Raises:
            ShapeError: wrong shapes, or ``h`` does not match ``x``'s batch and size.
            DTypeError: not float tensors.
        """
        check_feature_map(x, self.input_channels, "x", dtype=parameter_dtype(self))
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[-2:])
        check_feature_map(h, self.hidden_channels, "h", dtype=x.dtype)
        if h.shape[0] != x.shape[0] or h.shape[-2:] != x.shape[-2:]:
            raise ShapeError(describe(f"h of shape ({x.shape[0]}, {self.hidden_channels}, {x.shape[2]}, {x.shape[3]})",
                                      f"shape {tuple(h.shape)}", "Pass the state of the previous step, or None."))
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], dim=1))).chunk(2, dim=1)
        candidate = torch.tanh(self.candidate(torch.cat([x, r * h], dim=1)))
        return (1 - z) * h + z * candidate
