"""Input validation shared by every public hdrlab function.

Each ``check_*`` function returns nothing and raises a typed error from
:mod:`hdrlab.errors` whose message says what was expected, what came and how to
fix it. Conventions (DESIGN §2): images are float tensors ``(*, 3, H, W)``; LDR
values lie in [0, 1]; HDR radiance is finite and ``>= 0``; exposure times are
positive seconds in ascending order.

Example:
    >>> import torch
    >>> from hdrlab.validate import check_ldr
    >>> check_ldr(torch.rand(3, 4, 4))
    >>> check_ldr(torch.full((3, 4, 4), 2.0))
    Traceback (most recent call last):
    ...
    hdrlab.errors.RangeError: Expected LDR image values in [0, 1], got values in [2, 2]. Scale 8-bit data by 1/255 (or 16-bit by 1/65535), or tone map HDR data before treating it as LDR.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from hdrlab.errors import DTypeError, ExposureError, RangeError, ShapeError, describe

__all__ = [
    "check_tensor",
    "check_image",
    "check_ldr",
    "check_radiance",
    "check_exposure_times",
    "check_stack",
    "check_positive",
    "check_nonnegative",
    "check_int",
    "check_number",
    "check_bool",
    "check_generator",
    "as_float_tensor",
    "as_path",
]


def check_tensor(x: object, name: str = "input") -> None:
    """Raise :class:`DTypeError` unless ``x`` is a floating-point torch tensor."""
    if not isinstance(x, torch.Tensor):
        raise DTypeError(
            describe(
                f"{name} to be a torch.Tensor",
                type(x).__name__,
                "Convert with torch.as_tensor(x, dtype=torch.float32); NumPy HWC "
                "arrays come from files, so use hdrlab.io to read images.",
            )
        )
    if not x.is_floating_point():
        raise DTypeError(
            describe(
                f"{name} to be a floating-point tensor (float32)",
                f"dtype {x.dtype}",
                "Convert with x.float(); for 8-bit images divide by 255 first.",
            )
        )


def _check_layout(x: object, name: str) -> None:
    """Floating tensor of shape ``(*, 3, H, W)`` with H, W >= 1."""
    check_tensor(x, name)
    assert isinstance(x, torch.Tensor)
    if x.dim() < 3 or x.shape[-3] != 3 or x.shape[-1] < 1 or x.shape[-2] < 1:
        raise ShapeError(
            describe(
                f"{name} of shape (*, 3, H, W) (RGB, channels first)",
                f"shape {tuple(x.shape)}",
                "Permute HWC arrays with x.permute(2, 0, 1); grey images need "
                "x.expand(3, H, W).",
            )
        )


def _finite_extrema(x: torch.Tensor, name: str) -> tuple[float, float]:
    """``(min, max)`` of ``x`` in one pass; NaN and inf propagate into them, so they are caught too."""
    if x.numel() == 0:
        return 0.0, 0.0
    low, high = (float(v) for v in torch.aminmax(x.detach()))
    if not (math.isfinite(low) and math.isfinite(high)):
        bad = int((~torch.isfinite(x)).sum())
        raise RangeError(
            describe(
                f"finite {name} values",
                f"{bad} NaN/inf values",
                "Find where they come from (a division by zero or log of 0 "
                "upstream); hdrlab never replaces them silently.",
            )
        )
    return low, high


def check_image(x: object, name: str = "image") -> None:
    """Check a float tensor of shape ``(*, 3, H, W)`` with H, W >= 1 and no NaN/inf.

    Raises:
        DTypeError: not a floating tensor.
        ShapeError: fewer than 3 dims or channel dim != 3.
        RangeError: NaN or inf values.
    """
    _check_layout(x, name)
    _finite_extrema(x, name)  # type: ignore[arg-type]


def check_ldr(x: object, name: str = "LDR image") -> None:
    """Check a display-referred image ``(*, 3, H, W)`` with values in [0, 1].

    Raises:
        DTypeError, ShapeError: see :func:`check_image`.
        RangeError: NaN/inf, or values outside [0, 1].
    """
    _check_layout(x, name)
    low, high = _finite_extrema(x, name)  # type: ignore[arg-type]
    if low < 0 or high > 1:
        raise RangeError(
            describe(
                f"{name} values in [0, 1]",
                f"values in [{low:.4g}, {high:.4g}]",
                "Scale 8-bit data by 1/255 (or 16-bit by 1/65535), or tone map "
                "HDR data before treating it as LDR.",
            )
        )


def check_radiance(x: object, name: str = "radiance") -> None:
    """Check a linear HDR image ``(*, 3, H, W)``: finite and ``>= 0`` (unbounded above).

    Raises:
        DTypeError, ShapeError: see :func:`check_image`.
        RangeError: NaN/inf or negative values.
    """
    _check_layout(x, name)
    low, _ = _finite_extrema(x, name)  # type: ignore[arg-type]
    if low < 0:
        assert isinstance(x, torch.Tensor)
        raise RangeError(
            describe(
                f"{name} >= 0 (linear, scene-referred)",
                f"{int((x < 0).sum())} negative values (min {low:.4g})",
                "Negative radiance is not physical; for lossy EXR sources load "
                "them with hdrlab.data.scenes.load_scene, which clamps the known "
                "defects explicitly.",
            )
        )


def check_positive(value: float, name: str) -> None:
    """Check a finite, strictly positive scalar (a gain, a time, a size)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DTypeError(describe(f"{name} to be a number", type(value).__name__, f"Pass {name} as a float."))
    if not (value > 0 and value < float("inf")):
        raise RangeError(describe(f"{name} > 0 and finite", repr(value), f"Pass a positive {name}."))


def check_nonnegative(value: float, name: str) -> float:
    """Check a finite scalar ``>= 0`` (a weight, an exponent, a tolerance) and return it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DTypeError(describe(f"{name} to be a number", type(value).__name__, f"Pass {name} as a float."))
    if not 0 <= value < float("inf"):
        raise RangeError(describe(f"{name} >= 0 and finite", repr(value), f"Pass a finite, non-negative {name}."))
    return float(value)


def check_int(value: object, name: str, minimum: int) -> int:
    """Check an int (not a bool) ``>= minimum`` (a count, a size, a seed) and return it.

    Example:
        >>> check_int(3, "steps", 1)
        3
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise DTypeError(describe(f"{name} as an int", repr(value), f"Pass {name} as an int >= {minimum}."))
    if value < minimum:
        raise RangeError(describe(f"{name} >= {minimum}", repr(value), f"Pass {name} >= {minimum}."))
    return value


def check_number(value: object, name: str) -> float:
    """Check a finite real number (int or float, not a bool) and return it as a float.

    Example:
        >>> check_number(99, "percentile")
        99.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DTypeError(describe(f"{name} as a number", repr(value), f"Pass {name} as an int or float."))
    if not math.isfinite(value):
        raise RangeError(describe(f"a finite {name}", repr(value), f"Pass a finite {name}."))
    return float(value)


def check_bool(value: object, name: str) -> bool:
    """Check a flag is ``True`` or ``False`` (not a string, None, a number or a list, whose truthiness misleads).

    Example:
        >>> check_bool(False, "clip")
        False
    """
    if not isinstance(value, bool):
        raise DTypeError(describe(f"{name} as True or False", repr(value), f"Pass {name}=True or {name}=False."))
    return value


def check_generator(generator: object) -> None:
    """Check ``generator`` is None or a ``torch.Generator``.

    Example:
        >>> check_generator(torch.Generator().manual_seed(0))
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise DTypeError(describe("generator None or a torch.Generator", repr(generator),
                                  "Pass generator=torch.Generator().manual_seed(seed), or None."))


def check_exposure_times(times: object, n: int | None = None, name: str = "exposure times") -> None:
    """Check exposure times in seconds: shape ``(N,)`` or ``(B, N)``, finite, > 0, ascending.

    Args:
        times: float tensor of exposure times in seconds.
        n: required length of the last dimension (the stack size), if known.
        name: name used in messages.

    Raises:
        DTypeError: not a floating tensor.
        ShapeError: not 1-D/2-D, or last dim != ``n``.
        ExposureError: non-finite, non-positive, or not strictly ascending.
    """
    check_tensor(times, name)
    assert isinstance(times, torch.Tensor)
    if times.dim() not in (1, 2) or times.shape[-1] < 1:
        raise ShapeError(
            describe(f"{name} of shape (N,) or (B, N)", f"shape {tuple(times.shape)}", "Pass one time per exposure.")
        )
    if n is not None and times.shape[-1] != n:
        raise ExposureError(
            describe(
                f"{n} {name} (one per image in the stack)",
                f"{times.shape[-1]}",
                "Give exactly one exposure time per image of the stack, in the same order.",
            )
        )
    if not torch.isfinite(times).all() or (times <= 0).any():
        raise ExposureError(
            describe(
                f"{name} > 0 in seconds",
                f"{times.tolist()}",
                "Exposure times are durations; convert EVs with "
                "hdrlab.imaging.camera.ev_to_time(ev, t_ref).",
            )
        )
    if times.shape[-1] > 1 and (times.diff(dim=-1) <= 0).any():
        raise ExposureError(
            describe(
                f"strictly ascending {name} (shortest first)",
                f"{times.tolist()}",
                "Sort the stack and its times together: order = times.argsort(); "
                "stack, times = stack[..., order, :, :, :], times[..., order].",
            )
        )


def check_stack(stack: object, times: object, *, ldr: bool = True) -> None:
    """Check an exposure stack ``(N, 3, H, W)`` or ``(B, N, 3, H, W)`` and its times.

    Args:
        stack: LDR images in [0, 1] (``ldr=True``) or linear images ``>= 0``.
        times: exposure times in seconds, ``(N,)`` or ``(B, N)``, ascending.
        ldr: whether stack values must lie in [0, 1].

    Raises:
        ShapeError: stack not 4-D/5-D, ``(B, N)`` times for a single stack, or batch sizes disagree.
        ExposureError: times invalid or their count differs from N.
        RangeError, DTypeError: see :func:`check_ldr` / :func:`check_radiance`.
    """
    (check_ldr if ldr else check_radiance)(stack, "exposure stack")
    assert isinstance(stack, torch.Tensor)
    if stack.dim() not in (4, 5):
        raise ShapeError(
            describe(
                "exposure stack of shape (N, 3, H, W) or (B, N, 3, H, W)",
                f"shape {tuple(stack.shape)}",
                "Stack single images with torch.stack(images) along a new dim 0.",
            )
        )
    check_exposure_times(times, n=stack.shape[-4])
    assert isinstance(times, torch.Tensor)
    if stack.dim() == 4 and times.dim() == 2:
        raise ShapeError(
            describe(
                f"times of shape ({stack.shape[0]},) for a single stack",
                f"shape {tuple(times.shape)}",
                "Rows of times go with a (B, N, 3, H, W) batch; for one stack pass times[b].",
            )
        )
    if stack.dim() == 5 and times.dim() == 2 and times.shape[0] != stack.shape[0]:
        raise ShapeError(
            describe(
                f"times of shape ({stack.shape[0]}, {stack.shape[1]}) for a batch of {stack.shape[0]} stacks",
                f"shape {tuple(times.shape)}",
                "Give one row of times per stack, or a shared (N,) vector.",
            )
        )


def as_float_tensor(values: Sequence[float] | torch.Tensor, name: str) -> torch.Tensor:
    """Turn a list/tuple/tensor of numbers into a float32 tensor, with a typed error otherwise."""
    if isinstance(values, torch.Tensor):
        check_tensor(values, name)
        return values.to(torch.float32)
    try:
        return torch.as_tensor(list(values), dtype=torch.float32)
    except (TypeError, ValueError) as err:
        raise DTypeError(describe(f"{name} as a sequence of numbers", repr(values), "Pass e.g. [-2.0, 0.0, 2.0].")) from err


def as_path(value: object, name: str = "path") -> Path:
    """``value`` as a :class:`pathlib.Path`, or a DTypeError when it is not a str or path-like object."""
    if not isinstance(value, (str, os.PathLike)):
        raise DTypeError(describe(f"{name} as a str or pathlib.Path", type(value).__name__,
                                  "Pass the file or folder name as a string."))
    return Path(value)
