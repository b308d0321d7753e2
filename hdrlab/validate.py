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
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    "check_module",
    "check_record_keys",
    "check_choice",
    "check_mapping",
    "check_records",
    "check_sequence",
    "check_scores",
    "check_same_dtype",
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


def check_module(value: object, name: str, expected: type | tuple[type, ...] = torch.nn.Module) -> None:
    """Check ``value`` is an instance of ``expected`` (a model class, or any ``nn.Module`` by default).

    Raises:
        DTypeError: ``value`` is not an ``expected`` (a str, None, a list, another model class).

    Example:
        >>> check_module(torch.nn.Linear(2, 2), "model")
        >>> check_module("model", "model", torch.nn.Linear)
        Traceback (most recent call last):
        ...
        hdrlab.errors.DTypeError: Expected model of type Linear, got str. Pass the model object itself (e.g. Linear(...)).
    """
    if not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise DTypeError(describe(f"{name} of type {names}", type(value).__name__,
                                  f"Pass the model object itself (e.g. {names.split(' or ')[0]}(...))."))


def check_record_keys(record: Mapping[str, object], required: Iterable[str], source: str,
                      allowed: Iterable[str] = ()) -> None:
    """Check a record read from a file (a run's ``settings.json``) has every ``required`` key and no unknown one.

    Args:
        record: the parsed JSON object.
        required: keys it must have.
        source: what it came from, for the message (e.g. the file's path).
        allowed: optional keys it may have besides ``required``; every other key is unknown.

    Raises:
        FileFormatError: keys are missing or unknown; the message names them.

    Example:
        >>> check_record_keys({"width": 4}, ["width"], "settings.json")
        >>> check_record_keys({}, ["width"], "settings.json")
        Traceback (most recent call last):
        ...
        hdrlab.errors.FileFormatError: Expected settings.json with the keys ['width'], got missing ['width']. The file was written by another hdrlab version or edited by hand: train the run again.
    """
    from hdrlab.errors import FileFormatError  # only this check raises it

    required, known = list(required), {*required, *allowed}
    missing = [key for key in required if key not in record]
    unknown = [key for key in record if key not in known]
    if missing or unknown:
        got = ", ".join(f"{what} {keys}" for what, keys in (("missing", missing), ("unknown", unknown)) if keys)
        raise FileFormatError(describe(f"{source} with the keys {sorted(known)}", got,
                                       "The file was written by another hdrlab version or edited by hand: "
                                       "train the run again."))


def check_choice(value: object, name: str, choices: Sequence[object]) -> None:
    """Check ``value`` is one of ``choices``, of the same type too (so ``1`` is not ``True``, and a list is no match).

    Raises:
        ChoiceError: anything else (an unknown name, None, a number, a list).

    Example:
        >>> check_choice("auto", "resume", (True, False, "auto"))
        >>> check_choice(1, "resume", (True, False, "auto"))
        Traceback (most recent call last):
        ...
        hdrlab.errors.ChoiceError: Expected resume in (True, False, 'auto'), got 1. Pass one of them exactly.
    """
    from hdrlab.errors import ChoiceError  # only this check raises it

    if not any(type(value) is type(choice) and value == choice for choice in choices):
        raise ChoiceError(describe(f"{name} in {tuple(choices)}", repr(value), "Pass one of them exactly."))


def check_mapping(value: object, name: str, keys: Iterable[str] = ()) -> Mapping:
    """Check ``value`` is a mapping (a dict) holding every key of ``keys``, and return it.

    Raises:
        DTypeError: not a mapping, or a key is missing (the message names it).

    Example:
        >>> check_mapping({"ldr": 1, "hdr": 2}, "pair", ("ldr", "hdr"))
        {'ldr': 1, 'hdr': 2}
        >>> check_mapping({"ldr": 1}, "pair", ("ldr", "hdr"))
        Traceback (most recent call last):
        ...
        hdrlab.errors.DTypeError: Expected pair as a mapping with the keys ['ldr', 'hdr'], got a mapping without 'hdr'. Pass a dict with those keys (as the function's docstring lists them).
    """
    keys = list(keys)
    missing = [key for key in keys if key not in value] if isinstance(value, Mapping) else []
    if not isinstance(value, Mapping) or missing:
        got = f"a mapping without {missing[0]!r}" if missing else type(value).__name__
        raise DTypeError(describe(f"{name} as a mapping with the keys {keys}" if keys else f"{name} as a mapping", got,
                                  "Pass a dict with those keys (as the function's docstring lists them)."))
    return value


def check_records(value: object, name: str, keys: Iterable[str] = ()) -> list[Mapping]:
    """Check ``value`` is a non-empty list or tuple of mappings, each with every key of ``keys``; return it as a list.

    Raises:
        DTypeError: not a list or tuple, or an item is not a mapping with the keys. RangeError: empty.

    Example:
        >>> check_records([{"hdr": 1}], "pairs", ("hdr",))
        [{'hdr': 1}]
        >>> check_records([], "pairs", ("hdr",))
        Traceback (most recent call last):
        ...
        hdrlab.errors.RangeError: Expected at least one item in pairs, got an empty list. Pass the items to score, e.g. from a held_out_* function.
    """
    if not isinstance(value, (list, tuple)):
        raise DTypeError(describe(f"{name} as a list of dicts", type(value).__name__,
                                  "Pass a list, e.g. what a held_out_* function returns."))
    if not value:
        raise RangeError(describe(f"at least one item in {name}", f"an empty {type(value).__name__}",
                                  "Pass the items to score, e.g. from a held_out_* function."))
    keys = list(keys)
    for index, item in enumerate(value):
        check_mapping(item, f"{name}[{index}]", keys)
    return list(value)


def check_sequence(value: object, name: str, item: Callable[[object, str], object] | None = None) -> list:
    """Check ``value`` is a non-empty list or tuple (not a str), each element passing ``item(element, name[i])``.

    Args:
        value: the sequence (e.g. the EVs or response-curve names of a held-out set).
        name: its name in messages.
        item: an optional check of each element, called as ``item(element, "name[i]")``, e.g. :func:`check_number`.

    Returns:
        ``value`` as a list.

    Raises:
        DTypeError: not a list or tuple. RangeError: empty. Whatever ``item`` raises for a bad element.

    Example:
        >>> check_sequence((0.0, 1.0), "evs", check_number)
        [0.0, 1.0]
        >>> check_sequence([], "evs")
        Traceback (most recent call last):
        ...
        hdrlab.errors.RangeError: Expected at least one element in evs, got an empty list. Pass a list or tuple of them.
    """
    if not isinstance(value, (list, tuple)):
        raise DTypeError(describe(f"{name} as a list or tuple", type(value).__name__,
                                  "Pass a list or tuple, e.g. [x] for a single element."))
    if not value:
        raise RangeError(describe(f"at least one element in {name}", f"an empty {type(value).__name__}",
                                  "Pass a list or tuple of them."))
    for index, element in enumerate(value):
        if item is not None:
            item(element, f"{name}[{index}]")
    return list(value)


def check_scores(scores: object, name: str = "scores", keys: Iterable[str] = ()) -> Mapping[str, float]:
    """Check ``scores`` maps metric names (str) to real numbers (not bools; inf allowed: a PSNR of equal images) and
    holds every key of ``keys``; return it.

    Raises:
        DTypeError: not such a mapping, or a key is missing (the message names it).

    Example:
        >>> check_scores({"psnr/naive": 20.0}, keys=["psnr/naive"])
        {'psnr/naive': 20.0}
    """
    check_mapping(scores, name, keys)
    assert isinstance(scores, Mapping)
    for key, value in scores.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DTypeError(describe(f"{name} mapping metric names to numbers", f"{key!r}: {value!r}",
                                      "Pass the dict an evaluate function returned."))
    return scores


def check_same_dtype(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("prediction", "target")) -> None:
    """Check two tensors that meet in one op (a matmul, a convolution) share a dtype; O(1), no data read.

    Inside ``torch.autocast`` (on ``a``'s device) anything goes: autocast casts the operands itself.

    Raises:
        DTypeError: different dtypes outside autocast (e.g. a float16 prediction with a float32 target).

    Example:
        >>> check_same_dtype(torch.zeros(2), torch.zeros(2))
        >>> check_same_dtype(torch.zeros(2, dtype=torch.float16), torch.zeros(2))
        Traceback (most recent call last):
        ...
        hdrlab.errors.DTypeError: Expected prediction and target of one dtype (target torch.float32), got prediction torch.float16. Convert one to the other's dtype (x.to(y.dtype)), or compute both under torch.autocast.
    """
    if a.dtype != b.dtype and not torch.is_autocast_enabled(a.device.type):
        raise DTypeError(describe(f"{names[0]} and {names[1]} of one dtype ({names[1]} {b.dtype})",
                                  f"{names[0]} {a.dtype}",
                                  "Convert one to the other's dtype (x.to(y.dtype)), or compute both under torch.autocast."))
