"""Per-pixel confidence weights for pixel values of an exposure stack.

A pixel value near 0 is noisy and quantised, near 1 it may be clipped: the
Debevec-Malik solve, the radiance merge and exposure fusion all trust mid-tones
most. Each weight maps LDR values in [0, 1] to weights in [0, 1]; the lookup
table form gives one weight per code value for integer-indexed code.

Weights:
    ``hat``       the tent of Debevec & Malik: ``1 - |2x - 1|`` (0 at both ends).
    ``gaussian``  ``exp(-(x - 0.5)^2 / (2 * 0.2^2))``, Mertens' well-exposedness.
    ``trapezoid`` 1 on [0.1, 0.9], linear ramps to 0 at both ends: trusts more of
                  the range than the hat while still rejecting clipped values.
    ``uniform``   1 everywhere except exactly 0 and 1 (the clipped codes).
    ``robertson`` ``(e^4 exp(-16 (x - 1/2)^2) - 1) / (e^4 - 1)``: the narrow bump of
                  OpenCV's Robertson calibration and merge, shifted and scaled to 0
                  at both ends and 1 in the middle.

Example:
    >>> import torch
    >>> exposure_weight(torch.tensor([0.0, 0.25, 0.5, 1.0]), "hat").tolist()
    [0.0, 0.5, 1.0, 0.0]

References:
    Debevec & Malik, "Recovering high dynamic range radiance maps from
    photographs", SIGGRAPH 1997. Mertens, Kautz & Van Reeth, "Exposure fusion",
    Pacific Graphics 2007. Robertson, Borman & Stevenson, "Estimation-theoretic
    approach to dynamic range enhancement using multiple exposures", JEI 2003.

Taught in: notebooks/01_camera_pipeline_debevec.ipynb
"""

from __future__ import annotations

import math

import torch

from hdrlab.errors import ChoiceError, RangeError, describe
from hdrlab.imaging.crf import check_bit_depth
from hdrlab.validate import check_tensor

__all__ = ["WEIGHTS", "exposure_weight", "weight_lut"]

#: Names of the weighting functions.
WEIGHTS = ("hat", "gaussian", "trapezoid", "uniform", "robertson")
_GAUSSIAN_SIGMA = 0.2  # Mertens et al.'s well-exposedness sigma
_TRAPEZOID_RAMP = 0.1


def _hat(x: torch.Tensor) -> torch.Tensor:
    return 1 - (2 * x - 1).abs()


def _gaussian(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-((x - 0.5) ** 2) / (2 * _GAUSSIAN_SIGMA**2))


def _trapezoid(x: torch.Tensor) -> torch.Tensor:
    return (torch.minimum(x, 1 - x) / _TRAPEZOID_RAMP).clamp(max=1)


def _uniform(x: torch.Tensor) -> torch.Tensor:
    return ((x > 0) & (x < 1)).to(x.dtype)


def _robertson(x: torch.Tensor) -> torch.Tensor:
    e4 = math.exp(4.0)
    return (torch.exp(-((4 * x - 2) ** 2)) * e4 - 1).clamp_min(0) / (e4 - 1)  # clamp: -2e-18 at the ends


_FUNCTIONS = {"hat": _hat, "gaussian": _gaussian, "trapezoid": _trapezoid, "uniform": _uniform, "robertson": _robertson}


def exposure_weight(ldr: torch.Tensor, kind: str = "hat") -> torch.Tensor:
    """Weight of each LDR value: how much a merge or a response solve should trust it.

    Args:
        ldr: any-shaped float tensor of LDR values in [0, 1].
        kind: one of :data:`WEIGHTS`.

    Returns:
        Weights in [0, 1], same shape and dtype.

    Raises:
        ChoiceError: unknown ``kind``.
        DTypeError: not a float tensor.
        RangeError: values outside [0, 1] or NaN.

    Example:
        >>> round(float(exposure_weight(torch.tensor(0.5), "gaussian")), 3)
        1.0
    """
    if kind not in _FUNCTIONS:
        raise ChoiceError(describe(f"a weight in {WEIGHTS}", repr(kind), "Use 'hat' (Debevec & Malik) unless comparing."))
    check_tensor(ldr, "LDR values")
    if not ((ldr >= 0) & (ldr <= 1)).all():
        raise RangeError(describe("LDR values in [0, 1]", "values outside [0, 1] or NaN", "Scale 8-bit codes by 1/255."))
    return _FUNCTIONS[kind](ldr)


def weight_lut(kind: str = "hat", bits: int = 8) -> torch.Tensor:
    """The weight of each of the ``2**bits`` code values, as a float32 ``(2**bits,)`` tensor.

    Example:
        >>> lut = weight_lut("hat", 8)
        >>> lut.shape, float(lut[0]), float(lut[255])
        (torch.Size([256]), 0.0, 0.0)
    """
    check_bit_depth(bits)
    levels = 2**bits
    codes = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    return exposure_weight(codes, kind).to(torch.float32)


