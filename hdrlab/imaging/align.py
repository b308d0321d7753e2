"""Median threshold bitmap (MTB) alignment of exposure brackets (Ward 2003).

A hand-held bracket moves between shots; merging it unaligned doubles every
edge. Ward's observation: thresholding a frame at its own *median* grey level
gives nearly the same bitmap whatever the exposure (half the pixels are
brighter than the median in every frame), so frames can be registered by
comparing bitmaps with XOR, ignoring pixels too close to the median (the
*exclusion bitmap*, where noise flips bits). A pyramid of halved bitmaps finds
a translation of up to ``2**max_bits - 1`` pixels with 9 tests per level.

:func:`align_mtb` follows OpenCV's ``AlignMTB`` step by step (8-bit grey
``(9798 R + 19235 G + 3735 B + 2**14) >> 15``, every other pixel per level, the
median from the histogram, the candidate order and its first-minimum rule,
zero-filled shifts and the final cut), so it finds the same shifts; only
translations, no rotation. Each frame's grey is computed by torch (on its
threads); the bitmaps and their counts run in NumPy, one frame after another
(threads issuing those short calls would wait on Python's lock more than they
gain).

Conventions: stacks are ``(N, 3, H, W)`` RGB, floats in [0, 1] or uint8 codes;
a shift is ``(dy, dx)`` in pixels, ``frame_aligned[y + dy, x + dx] = frame[y, x]``
(OpenCV's ``Point`` is ``(dx, dy)``).

Example:
    >>> import torch
    >>> from hdrlab.data.scenes import load_scene
    >>> from hdrlab.imaging.camera import simulate_brackets
    >>> stack, times = simulate_brackets(load_scene("blender_city", max_side=512), [-2.0, 0.0, 2.0], "srgb", unit="ev")
    >>> stack[0] = shift_image(stack[0], (2, -3))  # the first shot moved 2 px down, 3 px left
    >>> result = align_mtb(stack)
    >>> result.shifts.tolist(), result.aligned.shape  # cut to the 254 x 509 all three frames cover
    ([[-2, 3], [0, 0], [0, 0]], torch.Size([3, 3, 254, 509]))

References:
    Ward, "Fast, robust image registration for compositing high dynamic range
    photographs from hand-held exposures", Journal of Graphics Tools 8(2), 2003.
    OpenCV, modules/photo/src/align.cpp (``AlignMTB``).

Taught in: notebooks/01_camera_pipeline_debevec.ipynb (beside OpenCV); benchmarks/hdr_module_vs_opencv.py
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from hdrlab.errors import DTypeError, ShapeError, describe
from hdrlab.imaging.crf import _check_layout, _check_values
from hdrlab.validate import check_bool, check_int

__all__ = ["MTBAlignment", "align_mtb", "median_threshold_bitmap", "shift_image"]

_GREY = (9798, 19235, 3735)  # OpenCV's fixed-point 8-bit RGB2GRAY (Rec. 601 luma times 2**15)
_CANDIDATES = [(j, i) for i in (-1, 0, 1) for j in (-1, 0, 1)]  # (dy, dx), OpenCV's order: x outer, y inner


class MTBAlignment(NamedTuple):
    """Result of :func:`align_mtb`."""

    shifts: torch.Tensor  #: ``(N, 2)`` int64 ``(dy, dx)`` per frame; the middle frame's is ``(0, 0)``
    aligned: torch.Tensor  #: the shifted frames ``(N, 3, h, w)``, cut to the part all of them cover (``cut=True``)


def _grey_codes(frames: torch.Tensor) -> torch.Tensor:
    """8-bit grey of ``(*, 3, H, W)`` floats in [0, 1] or uint8, as uint8 ``(*, H, W)`` (OpenCV's RGB2GRAY)."""
    codes = frames.to(torch.float32) if frames.dtype == torch.uint8 else torch.floor(frames.float() * 255 + 0.5)
    red, green, blue = codes.unbind(-3)
    grey = red * (_GREY[0] / (1 << 15))  # multiples of 2**-15 below 256: every step exact in float32
    grey.add_(green, alpha=_GREY[1] / (1 << 15)).add_(blue, alpha=_GREY[2] / (1 << 15)).add_(0.5)
    return grey.to(torch.uint8)  # truncation: the >> 15 of OpenCV's fixed point


def median_threshold_bitmap(grey: torch.Tensor, exclude_range: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Ward's threshold bitmap (``grey > median``) and exclusion bitmap (``|grey - median| > exclude_range``).

    The median is OpenCV's: the smallest level ``m`` such that at least half of
    the pixels (rounded down) are below ``m``.

    Args:
        grey: ``(H, W)`` uint8 grey levels.
        exclude_range: half-width of the band around the median whose pixels are ignored, ``>= 0``.

    Returns:
        ``(threshold, exclusion)``: two bool ``(H, W)`` tensors (``exclusion`` is True where a pixel counts).

    Raises:
        DTypeError: ``grey`` not a uint8 tensor, ``exclude_range`` not an int.
        ShapeError: ``grey`` not 2-D.
        RangeError: ``exclude_range < 0``.

    Example:
        >>> tb, eb = median_threshold_bitmap(torch.tensor([[10, 20, 30, 200]], dtype=torch.uint8))
        >>> tb.tolist(), eb.tolist()  # median 21: two pixels below it
        ([[False, False, True, True]], [[True, False, True, True]])
    """
    if not isinstance(grey, torch.Tensor) or grey.dtype != torch.uint8:
        got = f"dtype {grey.dtype}" if isinstance(grey, torch.Tensor) else type(grey).__name__
        raise DTypeError(describe("grey levels as a uint8 tensor", got, "Quantise: (x * 255).round().to(torch.uint8)."))
    if grey.dim() != 2:
        raise ShapeError(describe("a grey image of shape (H, W)", f"shape {tuple(grey.shape)}", "Pass one channel."))
    check_int(exclude_range, "exclude_range", 0)
    median = _median(grey)
    return grey > median, (grey.to(torch.int16) - median).abs() > exclude_range


def _median(grey: torch.Tensor) -> int:
    """OpenCV's ``getMedian``: the smallest ``m`` with at least ``numel // 2`` pixels below ``m``."""
    half = grey.numel() // 2
    return int((torch.bincount(grey.flatten(), minlength=256).cumsum(0) < half).sum()) + 1 if half > 0 else 0


def _signs(grey: np.ndarray, exclude_range: int, swapped: bool = False) -> np.ndarray:
    """uint8 per pixel: 1 above ``median + exclude_range``, 2 below ``median - exclude_range``, 0 (excluded) between.

    ``swapped`` exchanges 1 and 2, so ``signs(a) & signs(b, swapped)`` is non-zero exactly where one frame
    is bright, the other dark and neither excluded: Ward's XOR of the threshold bitmaps, masked by both
    exclusion bitmaps, in one AND.
    """
    median = _median(torch.from_numpy(grey))
    bright = np.greater(grey, median + exclude_range).view(np.uint8)  # NumPy compares uint8 with any int exactly
    dark = np.less(grey, median - exclude_range).view(np.uint8)
    one, two = (dark, bright) if swapped else (bright, dark)
    return np.bitwise_or(one, np.left_shift(two, 1, out=two), out=one)  # in place: no more temporaries


def _overlap(length: int, shift: int) -> tuple[slice, slice]:
    """Where a shifted copy lands (``dst``) and where it comes from (``src``) along one axis."""
    return slice(max(shift, 0), length + min(shift, 0)), slice(max(-shift, 0), length - max(shift, 0))


def _pyramid(grey: np.ndarray, depth: int) -> list[np.ndarray]:
    """``depth + 1`` levels, each every other pixel of the previous (OpenCV's ``downsample``)."""
    levels = [grey]
    for _ in range(depth):
        level = levels[-1]
        levels.append(np.ascontiguousarray(level[: level.shape[0] // 2 * 2 : 2, : level.shape[1] // 2 * 2 : 2]))
    return levels


def _depth(height: int, width: int, max_bits: int) -> int:
    return min(int(math.log(max(height, width)) / math.log(2.0)) - 1, max_bits - 1)


def _calculate_shift(base: list[np.ndarray], grey: np.ndarray, exclude_range: int) -> tuple[int, int]:
    """OpenCV's ``calculateShift``: the ``(dy, dx)`` that moves ``grey`` onto the base (its per-level signs).

    On the CPU with NumPy (8-bit bitmaps: byte-wise AND and count, ~1 us per call).
    """
    depth = len(base) - 1
    levels = _pyramid(grey, depth)
    shift = (0, 0)
    for level in range(depth, -1, -1):
        shift = (2 * shift[0], 2 * shift[1])
        signs0, signs1 = base[level], _signs(levels[level], exclude_range, swapped=True)
        height, width = signs0.shape
        best, best_error = shift, signs0.size
        for dy, dx in _CANDIDATES:
            candidate = (shift[0] + dy, shift[1] + dx)
            (rows, rows_from), (cols, cols_from) = _overlap(height, candidate[0]), _overlap(width, candidate[1])
            error = int(np.count_nonzero(signs0[rows, cols] & signs1[rows_from, cols_from]))
            if error < best_error:
                best, best_error = candidate, error
        shift = best
    return shift


def shift_image(image: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """Translate ``(*, H, W)`` by whole pixels, ``out[..., y + dy, x + dx] = image[..., y, x]``, zeros elsewhere.

    Args:
        image: any tensor with at least 2 dims (images, bitmaps, stacks).
        shift: ``(dy, dx)`` ints, any sign.

    Returns:
        Same shape, dtype and device.

    Raises:
        DTypeError: ``image`` not a tensor or ``shift`` not two ints.
        ShapeError: fewer than 2 dims.

    Example:
        >>> shift_image(torch.arange(1, 5).view(1, 4), (0, 1)).tolist()
        [[0, 1, 2, 3]]
    """
    if not isinstance(image, torch.Tensor):
        raise DTypeError(describe("a torch.Tensor", type(image).__name__, "Convert with torch.as_tensor(...)."))
    if image.dim() < 2:
        raise ShapeError(describe("a tensor of shape (*, H, W)", f"shape {tuple(image.shape)}", "Add the image dims."))
    if not (isinstance(shift, (tuple, list)) and len(shift) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in shift)):
        raise DTypeError(describe("shift as two ints (dy, dx)", repr(shift), "Pass e.g. (2, -3)."))
    (rows, rows_from), (cols, cols_from) = _overlap(image.shape[-2], shift[0]), _overlap(image.shape[-1], shift[1])
    out = torch.zeros_like(image)
    out[..., rows, cols] = image[..., rows_from, cols_from]
    return out


def align_mtb(stack: torch.Tensor, max_bits: int = 6, exclude_range: int = 4, *, cut: bool = True) -> MTBAlignment:
    """Align an exposure bracket by median threshold bitmaps (Ward 2003), as OpenCV's ``AlignMTB``.

    Every frame is registered to the middle one (``N // 2``): on a pyramid of
    its 8-bit grey (each level every other pixel of the previous, at most
    ``max_bits`` levels), the shift found on the coarser level is doubled and
    the 9 shifts within one pixel of it are tried; the one whose threshold
    bitmaps differ at the fewest pixels outside both exclusion bitmaps wins (the
    first of equals, in OpenCV's order). The frames are then shifted (zero
    fill) and, with ``cut``, cropped to the rectangle every shifted frame covers.

    Small images mislead it (as OpenCV's): the coarsest levels have a few
    pixels, most of them excluded, so errors of 0 let the first candidate win
    and the shift drifts; give it >= 512 px on the long side (its pyramid uses
    ``floor(log2(max(H, W))) - 1`` levels, at most ``max_bits``), or a smaller
    ``max_bits``.

    Args:
        stack: ``(N, 3, H, W)`` RGB frames, floats in [0, 1] or uint8 codes, N >= 1, CPU or GPU.
        max_bits: pyramid levels, ``>= 1``; finds shifts up to ``2**max_bits - 1`` pixels (OpenCV's 6: 63).
        exclude_range: grey levels around the median that are ignored (OpenCV's 4), ``>= 0``.
        cut: crop to the common area (OpenCV's default), else keep ``H x W`` with zero borders.

    Returns:
        :class:`MTBAlignment` ``(shifts, aligned)``: ``(N, 2)`` int64 ``(dy, dx)``
        and the aligned frames, the stack's dtype and device.

    Raises:
        DTypeError: stack neither float nor uint8; ``max_bits``/``exclude_range`` not ints.
        ShapeError: stack not ``(N, 3, H, W)``.
        RangeError: float values outside [0, 1] or NaN; ``max_bits < 1``; ``exclude_range < 0``.

    Example:
        >>> from hdrlab.data.scenes import load_scene
        >>> scene = load_scene("room_windows", max_side=512)
        >>> frames = torch.stack([shift_image(scene, (1, 4)) * 0.5, scene, scene * 2]).clamp(0, 1)  # the darkest moved
        >>> result = align_mtb(frames, cut=False)
        >>> result.shifts.tolist(), tuple(result.aligned.shape) == tuple(frames.shape)
        ([[-1, -4], [0, 0], [0, 0]], True)

    References:
        Ward, "Fast, robust image registration for compositing high dynamic
        range photographs from hand-held exposures", JGT 8(2), 2003.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb (beside OpenCV); benchmarks/hdr_module_vs_opencv.py
    """
    stack = _check_layout(stack)
    if stack.dim() != 4:
        raise ShapeError(describe("one bracket of shape (N, 3, H, W)", f"shape {tuple(stack.shape)}",
                                  "Align each bracket of a batch on its own: align_mtb(stack[b])."))
    if not (stack.is_floating_point() or stack.dtype == torch.uint8):
        raise DTypeError(describe("frames as floats in [0, 1] or uint8 codes", f"dtype {stack.dtype}",
                                  "Convert 16-bit frames to 8 bits: (stack // 257).to(torch.uint8)."))
    check_int(max_bits, "max_bits", 1)
    check_int(exclude_range, "exclude_range", 0)
    check_bool(cut, "cut")
    if stack.is_floating_point():
        _check_values(stack, 2)
    frames = stack.detach()
    pivot = frames.shape[0] // 2
    depth = _depth(*frames.shape[-2:], max_bits)
    grey = np.stack([_grey_codes(frame).cpu().numpy() for frame in frames])  # one frame at a time: bounded memory
    base = [_signs(level, exclude_range) for level in _pyramid(grey[pivot], depth)]
    shifts = [(0, 0) if i == pivot else _calculate_shift(base, grey[i], exclude_range) for i in range(len(grey))]
    return MTBAlignment(torch.tensor(shifts, dtype=torch.int64), _shifted(frames, shifts, cut))


def _shifted(frames: torch.Tensor, shifts: list[tuple[int, int]], cut: bool) -> torch.Tensor:
    """Each frame moved by its shift: zero-filled at full size, or only the rectangle all of them cover (``cut``).

    The cut rectangle is copied straight from each frame (no zero fill, no second copy).
    """
    if not cut:
        return torch.stack([shift_image(frame, shift) for frame, shift in zip(frames, shifts)])
    height, width = frames.shape[-2:]
    top, left = max(max(dy for dy, _ in shifts), 0), max(max(dx for _, dx in shifts), 0)
    bottom, right = height + min(min(dy for dy, _ in shifts), 0), width + min(min(dx for _, dx in shifts), 0)
    out = frames.new_empty((*frames.shape[:-2], max(bottom - top, 0), max(right - left, 0)))
    for frame, target, (dy, dx) in zip(frames, out, shifts):  # aligned[y, x] = frame[y - dy, x - dx]
        target.copy_(frame[..., top - dy : bottom - dy, left - dx : right - dx])
    return out
