"""Conditional instance normalisation: one (gamma, beta) pair per condition, chosen per sample.

Example:
    >>> norm = ConditionalInstanceNorm2d(4, num_conditions=3)
    >>> norm(torch.rand(2, 4, 5, 5), torch.tensor([0, 2])).shape
    torch.Size([2, 4, 5, 5])

Taught in: notebooks/04_differentiable_recursion.ipynb
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hdrlab.errors import DTypeError, RangeError, ShapeError, describe
from hdrlab.nn.blocks import _check_count, check_feature_map
from hdrlab.validate import check_positive

__all__ = ["ConditionalInstanceNorm2d"]


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm without its own affine, then ``gamma[c] * x + beta[c]`` for each sample's condition ``c``.

    ``y = gamma[c_b] * (x_b - mean(x_b)) / sqrt(var(x_b) + eps) + beta[c_b]``,
    with mean and (biased) variance per sample and channel over H, W. The
    recursive HDR synthesis network uses it to tell its layers the target
    exposure: each condition (an index of a target EV) has its own scale and
    shift.

    Args:
        num_features: channels ``C``, >= 1.
        num_conditions: number of conditions, >= 1.
        eps: added to the variance, > 0.

    Attributes:
        gamma: ``(num_conditions, C)`` scales, initialised to 1.
        beta: ``(num_conditions, C)`` shifts, initialised to 0.

    Raises:
        DTypeError, RangeError: sizes that are not positive ints, or ``eps <= 0``.

    Example:
        >>> norm = ConditionalInstanceNorm2d(1, 2)
        >>> with torch.no_grad():
        ...     norm.beta[1] = 5.0
        >>> y = norm(torch.tensor([[[[1.0, 3.0]]], [[[1.0, 3.0]]]]), torch.tensor([0, 1]))
        >>> [round(v, 3) for v in y.flatten().tolist()]  # sample 0: condition 0 (identity); 1: shifted by 5
        [-1.0, 1.0, 4.0, 6.0]

    References:
        Dumoulin, Shlens, Kudlur, "A learned representation for artistic
        style", ICLR 2017.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """

    def __init__(self, num_features: int, num_conditions: int, eps: float = 1e-5) -> None:
        super().__init__()
        _check_count(num_features, "num_features")
        _check_count(num_conditions, "num_conditions")
        check_positive(eps, "eps")
        self.num_features, self.num_conditions, self.eps = num_features, num_conditions, float(eps)
        self.gamma = nn.Parameter(torch.ones(num_conditions, num_features))
        self.beta = nn.Parameter(torch.zeros(num_conditions, num_features))

    def _check_condition(self, condition: object, batch: int) -> torch.Tensor:
        if isinstance(condition, int) and not isinstance(condition, bool):
            condition = torch.full((batch,), condition, dtype=torch.long)
        if not isinstance(condition, torch.Tensor) or condition.dtype not in (torch.int64, torch.int32, torch.int16,
                                                                               torch.int8, torch.uint8):
            got = f"dtype {condition.dtype}" if isinstance(condition, torch.Tensor) else type(condition).__name__
            raise DTypeError(describe("an integer condition tensor (B,) (or one int for all samples)", got,
                                      "Pass condition indices, e.g. torch.tensor([0, 2]), not EV values."))
        if condition.shape != (batch,):
            raise ShapeError(describe(f"condition of shape ({batch},), one per sample", f"shape {tuple(condition.shape)}",
                                      "Give one condition index per sample of the batch."))
        if batch and (int(condition.min()) < 0 or int(condition.max()) >= self.num_conditions):
            raise RangeError(describe(f"conditions in [0, {self.num_conditions - 1}]", f"{condition.tolist()}",
                                      f"Index one of the {self.num_conditions} conditions the layer was built with."))
        return condition.long()

    def forward(self, x: torch.Tensor, condition: torch.Tensor | int) -> torch.Tensor:
        """Normalise each sample and apply its condition's scale and shift.

        Args:
            x: ``(B, C, H, W)`` with ``H * W > 1``.
            condition: ``(B,)`` integer indices in ``[0, num_conditions)``, or one int for the whole batch.

        Returns:
            ``(B, C, H, W)``.

        Raises:
            ShapeError: wrong shape of ``x`` or ``condition``, or a single pixel.
            DTypeError: ``x`` not float, or ``condition`` not integer.
            RangeError: a condition outside ``[0, num_conditions)``.
        """
        check_feature_map(x, self.num_features, dtype=self.gamma.dtype)
        if x.shape[-2] * x.shape[-1] < 2:
            raise ShapeError(describe("more than one pixel (H * W > 1)", f"{tuple(x.shape[-2:])}",
                                      "Instance statistics need several pixels; apply it before the last pooling."))
        condition = self._check_condition(condition, x.shape[0]).to(x.device)
        normalized = F.instance_norm(x, eps=self.eps)
        return normalized * self.gamma[condition][..., None, None] + self.beta[condition][..., None, None]
