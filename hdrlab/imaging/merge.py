"""Radiance merge (Debevec & Malik) and exposure fusion (Mertens et al.) of exposure stacks.

Two ways to turn an exposure bracket into one image:

* :func:`merge_debevec` recovers *scene radiance*: every pixel value ``z`` of
  frame ``j`` votes ``ln E = g(z) - ln t_j`` through the inverse response ``g``,
  and the votes are averaged with a weight that distrusts clipped and dark
  codes. The result is linear, scene-referred and unbounded (an HDR image).
* :func:`merge_debevec_differentiable` is the same merge as a layer a network
  can be trained through: its forward output is :func:`merge_debevec`'s, and
  its backward pass differentiates ``g`` by the left difference at the pixel's
  code, ``g(z) - g(z - 1)``, with the weights held constant (Kim, Lee & Kang
  2021, Eq. 3). :func:`synthesize_hdr` adds the Debevec response solve per
  stack (no gradient through the solve).
* :func:`mertens_fusion` skips radiance: it blends the LDR frames directly with
  per-pixel weights (contrast, saturation, well-exposedness) in a Laplacian
  pyramid. The result is a display-referred LDR image in [0, 1].

Conventions (DESIGN §2): a stack is LDR float in [0, 1], ``(N, 3, H, W)`` or
``(B, N, 3, H, W)`` (:func:`merge_debevec` also takes uint8 codes, and uint16
codes with ``bits``, from full-resolution files); times ``(N,)`` or ``(B, N)``
seconds, strictly ascending.
The inverse response ``g`` is ``(3, 2**bits)``: ``g[c, z] = ln(E t)`` of code
``z`` in channel ``c`` (natural log), usually anchored ``g[c, 2**(bits-1)] = 0``.
Codes are ``z = floor(x * (2**bits - 1) + 0.5)`` with ``bits = log2(g.shape[-1])``
(round half up; exact for quantised stacks).

Example:
    >>> import torch
    >>> from hdrlab.imaging.camera import simulate_brackets
    >>> radiance = torch.logspace(-1, 1, 64).view(1, 8, 8).expand(3, 8, 8)  # 0.1 to 10
    >>> stack, times = simulate_brackets(radiance, [-2.0, 0.0, 2.0], "linear", unit="ev", t_ref=0.25)
    >>> codes = torch.arange(256.0).clamp_min(0.5) / 255  # linear camera: E t = z / 255 (code 0: half a code)
    >>> g = (codes / codes[128]).log().expand(3, 256)  # anchored: g(128) = 0
    >>> hdr = merge_debevec(stack, times, g) * codes[128]  # undo the anchor's scale
    >>> round(float((hdr / radiance).log2().abs().max()), 2)  # worst error in stops (8-bit quantisation)
    0.03
    >>> mertens_fusion(stack).shape
    torch.Size([3, 8, 8])

References:
    Debevec & Malik, "Recovering high dynamic range radiance maps from
    photographs", SIGGRAPH 1997. Mertens, Kautz & Van Reeth, "Exposure fusion",
    Pacific Graphics 2007. Burt & Adelson, "The Laplacian pyramid as a compact
    image code", IEEE Trans. Communications 1983. Kim, Lee & Kang, "End-to-end
    differentiable learning to HDR image synthesis for multi-exposure images",
    AAAI 2021.

Taught in: notebooks/01_camera_pipeline_debevec.ipynb, notebooks/04_differentiable_recursion.ipynb
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import torch
import torch.nn.functional as F

from hdrlab.errors import ChoiceError, DTypeError, RangeError, ShapeError, describe
from hdrlab.imaging.crf import (
    BIT_DEPTHS,
    _check_layout,
    _check_values,
    _chunk_extremes,
    _map_chunks,
    _stack_bits,
    _value_error,
    recover_debevec,
)
from hdrlab.imaging.tonemap import REC709_LUMA
from hdrlab.imaging.weights import weight_lut
from hdrlab.validate import check_exposure_times, check_int, check_nonnegative, check_tensor

__all__ = ["merge_debevec", "LOOKUP_BACKWARDS", "piecewise_linear_lookup", "merge_debevec_differentiable",
           "synthesize_hdr", "mertens_fusion"]

#: Backward rules of the differentiable lookup and merge. ``"left_difference"`` (Kim, Lee & Kang 2021, Eq. 3; the
#: reference code's LUT[k] - LUT[k-1]): the slope ``g(z) - g(z - 1)`` ending at the pixel's code ``z``, weights held
#: constant. ``"piecewise_linear"`` (hdrlab's earlier layer): the slope of the segment ``[k, k + 1]`` holding ``x``,
#: with the weight differentiated the same way.
LOOKUP_BACKWARDS = ("left_difference", "piecewise_linear")

_BLOCK_CODES = 1 << 19  # codes per chunk on the CPU: ~8 MB of temporaries per worker, few ops per pixel
_LOG_FLOAT32_MAX = math.log(torch.finfo(torch.float32).max)  # ~88.7: exp() of more is inf
_FUSION_EPS = 1e-12  # added to every fusion weight, as OpenCV does: flat, grey, clipped pixels get equal weights
_FUSION_BAND_PIXELS = 1 << 19  # pixels per row band of exposure fusion: big ops for torch's threads, in cache
_EXPOSEDNESS_SIGMA = 0.2  # Mertens et al.'s well-exposedness Gaussian (OpenCV: exp(-(x - 0.5)^2 / 0.08))
_BINOMIAL = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)  # Burt & Adelson's 5-tap generating kernel (a = 0.375)


# --- validation ---------------------------------------------------------------------------------


def _check_stack(stack: object) -> int:
    """Validate a float LDR stack ``(N, 3, H, W)``/``(B, N, 3, H, W)``, N >= 2 (no times: fusion); return N.

    The values are checked in chunks on hdrlab's workers (one pass, no fork-join in the caller's thread).
    """
    stack = _check_layout(stack)
    check_tensor(stack, "exposure stack")
    n = _check_frames(stack)
    _check_values(stack, 2)
    return n


def _check_timed_stack(stack: object, times: object) -> int:
    """As :func:`_check_stack`, and the stack's exposure times (required, one per frame); return N."""
    check_tensor(_check_layout(stack), "exposure stack")
    n, _ = _check_code_stack(stack, times, None)
    _check_values(stack, 2)
    return n


def _check_frames(stack: torch.Tensor) -> int:
    """ShapeError unless the stack has N >= 2 frames; return N."""
    if stack.shape[-4] < 2:
        raise ShapeError(
            describe("a stack of N >= 2 exposures", f"N = {stack.shape[-4]} (shape {tuple(stack.shape)})",
                     "One frame needs no merge: linearise it with hdrlab.imaging.camera.linearize(ldr, crf) / t.")
        )
    return stack.shape[-4]


def _check_response(g: object, log_t: torch.Tensor) -> None:
    """Validate ``g`` of shape ``(3, 2**bits)``: finite, and ``exp(g - ln t)`` finite in float32."""
    check_tensor(g, "inverse response g")
    assert isinstance(g, torch.Tensor)
    if g.shape not in [(3, 2**bits) for bits in BIT_DEPTHS]:
        raise ShapeError(
            describe(f"g of shape (3, 2**bits) with bits in {BIT_DEPTHS}", f"shape {tuple(g.shape)}",
                     "Use one row of ln(E t) per colour channel and one column per code value.")
        )
    if not torch.isfinite(g).all():
        raise RangeError(
            describe("finite g (ln of a positive exposure at every code)", f"{int((~g.isfinite()).sum())} NaN/inf",
                     "ln(0) = -inf at code 0: give code 0 a finite value, e.g. g[:, 0] = g[:, 1] "
                     "(zero-weight codes only enter the rule for pixels clipped in every frame).")
        )
    if float(g.max()) - float(log_t.min()) > _LOG_FLOAT32_MAX:
        raise RangeError(
            describe(f"max(g) - ln(min(times)) <= {_LOG_FLOAT32_MAX:.1f} (radiance fits float32)",
                     f"{float(g.max()):.4g} - ln({float(log_t.exp().min()):.4g})",
                     "Give times in seconds and anchor g (g[:, 2**(bits-1)] = 0).")
        )


def _check_levels(levels: object, height: int, width: int) -> int:
    """Pyramid levels: None -> down to ~1 pixel (``floor(log2(min(H, W))) + 1``), else 1..that."""
    deepest = int(math.log2(min(height, width))) + 1
    if levels is None:
        return deepest
    if isinstance(levels, bool) or not isinstance(levels, int):
        raise DTypeError(describe("levels as an int or None", type(levels).__name__, "Pass e.g. levels=5, or None."))
    if not 1 <= levels <= deepest:
        raise RangeError(
            describe(f"1 <= levels <= {deepest} for {height} x {width} images", repr(levels), "Use levels=None (all).")
        )
    return levels


# --- Debevec & Malik merge -----------------------------------------------------------------------


def _codes(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer codes ``floor(x * (levels - 1) + 0.5)`` as int32 (cheaper than int64; index_select takes both)."""
    return torch.add(x.new_tensor(0.5), x, alpha=levels - 1).int()


def _vote_table(g: torch.Tensor, w_lut: torch.Tensor, log_t: torch.Tensor) -> torch.Tensor:
    """The pair (vote ``w(z) (g_c(z) - ln t_j)``, weight ``w(z)``) per frame, channel and code, ``(N * 3 * levels,)``.

    Each float32 pair is stored as one 8-byte element (its bits viewed as int64,
    which no arithmetic touches), so one index_select gathers both for every
    frame and channel of a block at once.
    """
    votes = w_lut * (g - log_t.view(-1, 1, 1))
    return torch.stack([votes, w_lut.expand_as(votes)], dim=-1).view(torch.int64).flatten()


def _sum_frames(x: torch.Tensor, dim: int, inplace: bool = False) -> torch.Tensor:
    """``x.sum(dim)`` added frame after frame, in order: the same bits however the pixels are chunked.

    (``torch.sum`` vectorises differently for different row lengths, so its last bit depends on the
    chunk; :func:`merge_debevec` and :func:`merge_debevec_differentiable` both sum this way and agree
    exactly.) ``inplace`` accumulates into a fresh tensor with in-place adds (no autograd).
    """
    return _sum_in_order(x.unbind(dim), inplace)


def _sum_in_order(parts: list[torch.Tensor] | tuple[torch.Tensor, ...], inplace: bool = False) -> torch.Tensor:
    """``parts[0] + parts[1] + ...`` added left to right (at least two parts)."""
    total = parts[0] + parts[1]
    for part in parts[2:]:
        total = total.add_(part) if inplace else total + part
    return total


def _clipped_log_radiance(
    z: torch.Tensor, g_top: torch.Tensor, g_low: torch.Tensor, log_t: torch.Tensor
) -> torch.Tensor:
    """``ln E`` of elements whose codes ``z`` ``(N, K)`` are all 0 or the top code (the rule of merge_debevec).

    ``g_top``, ``g_low``: ``(K,)`` g of the top code and of code 1 in each element's channel;
    ``log_t``: ``(N, 1)`` or ``(N, K)`` ln of each frame's time.
    """
    saturated = z > 0  # each code is 0 or the top code
    lower = torch.where(saturated, g_top - log_t, -math.inf).amax(0)  # shortest saturated frame
    upper = torch.where(saturated, math.inf, g_low - log_t).amin(0)  # longest black frame
    return torch.where(saturated.all(0), lower, torch.where(saturated.any(0), (lower + upper) / 2, upper))


def _merge_block(x: torch.Tensor, table: torch.Tensor, g: torch.Tensor, log_t: torch.Tensor, out: torch.Tensor) -> None:
    """Write E of one block into ``out`` ``(3, m)``; ``x`` ``(N, 3, m)`` LDR values or integer codes."""
    n, levels = x.shape[0], g.shape[-1]
    offsets = torch.arange(n * 3, dtype=torch.int32, device=x.device).view(n, 3, 1) * levels  # each frame's table
    if x.is_floating_point():
        z = _codes(x, levels).add_(offsets)
    else:  # uint8 + int32 promotes to int32 in one pass; uint16 does not promote
        z = torch.add(x, offsets) if x.dtype == torch.uint8 else x.int().add_(offsets)
    gathered = table.index_select(0, z.flatten())
    votes, weights = _sum_frames(gathered.view(torch.float32).view(n, 3, -1, 2), 0, inplace=True).unbind(-1)
    torch.div(votes, weights, out=out)
    if not weights.all():
        channel, pixel = (weights == 0).nonzero().unbind(1)
        codes = z[:, channel, pixel] - offsets[:, channel, 0]
        out[channel, pixel] = _clipped_log_radiance(codes, g[channel, -1], g[channel, 1], log_t[:, None])
    out.exp_()


def _merge_chunk(planes: torch.Tensor, table: torch.Tensor, g: torch.Tensor, log_t: torch.Tensor, out: torch.Tensor,
                 start: int, stop: int) -> tuple[float, float] | None:
    """Merge pixels ``start:stop`` of ``planes`` ``(N, 3, P)`` into ``out`` ``(3, P)``.

    Returns None, or the chunk's extremes (and merges nothing) when a value is out of range.
    """
    x = planes[:, :, start:stop]
    levels = g.shape[-1]
    bad = _chunk_extremes(x, levels)
    if bad is None:
        _merge_block(x, table, g, log_t, out[:, start:stop])
    return bad


def _check_code_stack(stack: object, times: object, bits: object) -> tuple[int, int | None]:
    """Validate a float or integer stack's layout and its times (values are checked while merging); (N, bits)."""
    stack = _check_layout(stack)
    code_bits = _stack_bits(stack, bits, float_default=None)
    _check_frames(stack)
    check_exposure_times(times, n=stack.shape[-4])
    assert isinstance(times, torch.Tensor)
    if times.dim() == 2 and (stack.dim() == 4 or times.shape[0] != stack.shape[0]):
        raise ShapeError(describe(f"times of shape ({stack.shape[-4]},), or one row per stack of a (B, N, 3, H, W) "
                                  "batch", f"shape {tuple(times.shape)} for a stack of shape {tuple(stack.shape)}",
                                  "For one stack pass times[b]; for a batch, one row per stack or a shared (N,)."))
    return stack.shape[-4], code_bits


@torch.no_grad()
def merge_debevec(stack: torch.Tensor, times: torch.Tensor, g: torch.Tensor, *, weight: str = "hat",
                  bits: int | None = None) -> torch.Tensor:
    """Merge an exposure stack into radiance with a known inverse response (Debevec & Malik, eq. 6).

    Per pixel and channel, with codes ``z_j`` and weights ``w`` (a
    :func:`hdrlab.imaging.weights.weight_lut`)::

        ln E = sum_j w(z_j) (g(z_j) - ln t_j) / sum_j w(z_j)

    **Pixels with zero total weight** (``hat``, ``trapezoid`` and ``uniform``
    weigh only code 0 and the top code zero, so these are the pixels clipped in
    every frame) get bounds instead of NaN:

    * saturated in every frame: ``g(top) - ln t_min`` (the shortest frame's top
      code), a lower bound of the true radiance (up to half a code);
    * black (code 0) in every frame: ``g(1) - ln t_max`` (code 1 of the longest
      frame), an upper bound;
    * black in the short frames, saturated in the long ones: the mean (in
      ``ln E``) of the tightest lower bound (shortest saturated frame) and the
      tightest upper bound (longest black frame).

    ``gaussian`` weights are never zero, so there clipped codes simply vote with a
    small weight. The output is always finite and ``>= 0`` (``g`` and times are
    checked so that ``exp`` cannot overflow float32).

    Differences from ``cv2.createMergeDebevec()``: OpenCV weights each frame with
    the mean of its three channels' triangle weights ``min(z, 255 - z) + 1``
    (never zero, so clipped codes still vote) and supports 8-bit input only.

    **Integer stacks** (full-resolution brackets): uint8 frames as read from
    8-bit files, or uint16 with ``bits`` (e.g. 12-bit raw), are merged from
    their codes directly, with no float copy of the stack: a 7-frame 24 MP
    bracket needs its 0.5 GB of codes, the 0.3 GB float32 output and a few MB
    per worker. The result equals the float path's on ``codes / (2**bits - 1)``
    bit for bit.

    Speed: int32 codes index one small table whose entries pack the pair (vote,
    weight) of every frame, channel and code, so a block of pixels needs a single
    gather and a sum over frames (frame after frame, so the bits do not depend
    on the blocking), in float32; blocks of ~2**19 codes keep the temporaries
    small. The value check is fused into the same pass. On the CPU the blocks
    are shared among hdrlab's worker threads (one per torch thread, each running
    torch single-threaded, taking blocks as they come free): on a machine where
    another process keeps the cores busy, torch's per-op fork-join would wait for
    descheduled threads at every op (3-30x slower); the workers slow down only
    by their share of the cores (~2x against one busy training process on 2
    cores, ``benchmarks/debevec_vs_opencv.py --load``). Not differentiable:
    codes are integers and it runs under ``torch.no_grad``;
    :func:`merge_debevec_differentiable` is the same merge as a trainable layer.

    Args:
        stack: ``(N, 3, H, W)`` or ``(B, N, 3, H, W)`` frames, N >= 2, CPU or GPU:
            LDR floats in [0, 1] (float32 or float64), uint8 codes, or uint16
            codes ``< 2**bits``.
        times: exposure times in seconds, ``(N,)`` shared or ``(B, N)`` per
            stack, > 0, strictly ascending.
        g: ``(3, 2**bits)`` float inverse response ``ln(E t)`` per channel and
            code, finite everywhere (replace ``-inf`` at code 0), ``bits`` in
            :data:`hdrlab.imaging.crf.BIT_DEPTHS`.
        weight: a name in :data:`hdrlab.imaging.weights.WEIGHTS` (``"hat"``:
            Debevec & Malik's tent).
        bits: the codes' bit depth of a uint16 stack (required there; it must
            match ``g``); None for float stacks (``g`` gives their codes) and
            uint8 (8).

    Returns:
        ``(3, H, W)`` or ``(B, 3, H, W)`` float32 radiance ``E``, finite and
        ``>= 0``, on the stack's device, in the units fixed by ``g``'s anchor.

    Raises:
        DTypeError: stack neither float nor uint8/uint16; times or g not
            floating tensors.
        ShapeError: stack not 4-D/5-D with 3 channels, N < 2, times' batch does
            not match, g not ``(3, 2**bits)`` (for integer stacks: not the
            codes' ``2**bits``).
        ExposureError: times non-positive, non-finite, not strictly ascending,
            or not one per frame.
        RangeError: float values outside [0, 1] or NaN, uint16 codes ``>= 2**bits``;
            g non-finite or so large that radiance would overflow float32.
        ChoiceError: unknown ``weight``; a uint16 stack without ``bits``, a
            float stack with ``bits``, a uint8 stack with ``bits`` other than 8.

    Example:
        >>> g = torch.linspace(-5.0, 0.5, 256).expand(3, 256)  # a toy response, g(255) = 0.5
        >>> frames = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 1.0]])  # 2 frames x 3 pixels, all clipped
        >>> stack = frames.view(2, 1, 1, 3).expand(2, 3, 1, 3)
        >>> hdr = merge_debevec(stack, torch.tensor([0.01, 1.0]), g)
        >>> [round(v, 3) for v in hdr[0, 0].tolist()]  # black: e^(g(1) - ln 1); saturated: e^(g(255) - ln 0.01)
        [0.007, 164.872, 1.065]
        >>> torch.equal(merge_debevec((stack * 255).to(torch.uint8), torch.tensor([0.01, 1.0]), g), hdr)  # 8-bit codes
        True

    References:
        Debevec & Malik, "Recovering high dynamic range radiance maps from
        photographs", SIGGRAPH 1997, eq. 6.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    n, bits = _check_code_stack(stack, times, bits)
    log_t = times.detach().to(stack.device, torch.float32).log()
    _check_response(g, log_t)
    levels = g.shape[-1]
    if not stack.is_floating_point() and levels != 2 ** (bits or 8):
        raise ShapeError(describe(f"g of shape (3, {2 ** (bits or 8)}) for {bits or 8}-bit codes",
                                  f"shape {tuple(g.shape)}", "Recover g at the stack's bit depth: "
                                  "recover_debevec(stack, times, bits=bits)."))
    w_lut = weight_lut(weight, int(math.log2(levels))).to(stack.device)
    g = g.detach().to(stack.device, torch.float32)
    height, width = stack.shape[-2:]
    planes = stack.reshape(-1, n, 3, height * width)
    log_t = log_t.reshape(-1, n).expand(planes.shape[0], n)
    out = torch.empty(planes.shape[0], 3, height * width, device=stack.device)
    block = max(1, _BLOCK_CODES // (3 * n)) if stack.device.type == "cpu" else height * width
    for b in range(planes.shape[0]):
        table = _vote_table(g, w_lut, log_t[b])
        merge = partial(_merge_chunk, planes[b], table, g, log_t[b], out[b])
        bad = [extremes for extremes in _map_chunks(merge, height * width, block) if extremes is not None]
        if bad:
            nan = [e for e in bad if math.isnan(e[0]) or math.isnan(e[1])]
            low, high = nan[0] if nan else (min(e[0] for e in bad), max(e[1] for e in bad))
            raise _value_error(low, high, levels, not stack.is_floating_point())
    return out.reshape(*stack.shape[:-4], 3, height, width)


# --- the differentiable merge layer (Kim, Lee & Kang 2021) ----------------------------------------


def _segment_end(x: torch.Tensor, codes: torch.Tensor, levels: int, backward: str) -> torch.Tensor:
    """The upper code ``k`` of the segment ``[k - 1, k]`` whose slope is the backward at ``x`` (int64)."""
    if backward == "left_difference":
        return codes.clamp(1, levels - 1)  # the slope ending at the code; code 0 has none: the first segment
    return (x * (levels - 1)).floor().long().clamp_(0, levels - 2) + 1  # the segment holding x


class _PiecewiseLinearLookup(torch.autograd.Function):
    """``table[code(x)]`` forward; backward: the slope of the table over one segment (see :data:`LOOKUP_BACKWARDS`)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, table: torch.Tensor, backward: str) -> torch.Tensor:  # noqa: D102
        levels = table.shape[-1]
        table = table.expand(*x.shape[:-1], levels)
        codes = _codes(x, levels).long()
        end = _segment_end(x, codes, levels, backward)
        ctx.save_for_backward(table.gather(-1, end) - table.gather(-1, end - 1))
        ctx.levels = levels
        return table.gather(-1, codes)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        (step,) = ctx.saved_tensors
        return grad * step * (ctx.levels - 1), None, None


def _check_table(table: object, levels_from: str) -> torch.Tensor:
    check_tensor(table, levels_from)
    assert isinstance(table, torch.Tensor)
    if table.dim() < 1 or table.shape[-1] < 2:
        raise ShapeError(describe(f"{levels_from} with a last dim of L >= 2 entries (one per code value)",
                                  f"shape {tuple(table.shape)}", "Pass e.g. a (3, 256) inverse response."))
    if table.requires_grad:
        raise RangeError(describe(f"{levels_from} that needs no gradient", "a tensor with requires_grad=True",
                                  "The table is a constant of the layer (the paper solves it without a gradient): "
                                  "pass table.detach()."))
    return table


def _check_backward(backward: object) -> str:
    if backward not in LOOKUP_BACKWARDS:
        raise ChoiceError(describe(f"backward in {LOOKUP_BACKWARDS}", repr(backward),
                                   "Use 'left_difference' (Kim et al.'s Eq. 3, the default)."))
    return str(backward)


def piecewise_linear_lookup(x: torch.Tensor, table: torch.Tensor, *, backward: str = "left_difference") -> torch.Tensor:
    """Look up LDR values in a per-code table, with a gradient: the lookup of Kim et al.'s HDR layer.

    Forward: ``table[..., z]`` with the code ``z = floor(x * (L - 1) + 0.5)``
    (as :func:`merge_debevec` quantises), so the output is exactly the table's
    entry. Backward: ``d out / d x = (table[k] - table[k - 1]) * (L - 1)``, the
    slope of the table read as a piecewise-linear function over one segment
    ``[k - 1, k]``, per unit of ``x`` (hence ``L - 1``; the reference code's
    slope is per code, 255 times smaller). Which segment (:data:`LOOKUP_BACKWARDS`):

    * ``"left_difference"`` (Kim, Lee & Kang, Eq. 3): ``k = z``, the segment
      ending at the code the forward reads (``k = 1`` for code 0, which has no
      left neighbour);
    * ``"piecewise_linear"``: ``k = floor(x * (L - 1)) + 1`` (at most ``L - 1``),
      the segment holding ``x``: the exact derivative of the linear interpolant
      (from the right at a code).

    The table gets no gradient.

    Args:
        x: ``(..., P)`` float values in [0, 1] (may require grad).
        table: ``(..., L)`` per-code values, ``L >= 2``, its leading dims
            broadcastable to ``x``'s (e.g. ``(3, 1, 1, L)`` per colour channel
            against ``(N, 3, H, P)``); no ``requires_grad``.
        backward: a name in :data:`LOOKUP_BACKWARDS`.

    Returns:
        ``(..., P)`` looked-up values, ``x``'s shape and the table's dtype.

    Raises:
        DTypeError: non-float inputs. RangeError: ``x`` outside [0, 1] or NaN; a NaN/inf table entry;
        a table that requires grad. ShapeError: a table with fewer than 2 entries or not broadcastable.
        ChoiceError: an unknown ``backward``.

    Example:
        >>> x = torch.tensor([0.25, 0.5, 0.75], requires_grad=True)
        >>> table = torch.tensor([0.0, 1.0, 4.0])  # codes 0, 1, 2 (L = 3)
        >>> y = piecewise_linear_lookup(x, table)
        >>> y.sum().backward()
        >>> y.tolist(), x.grad.tolist()  # codes 1, 1, 2 (half up); slopes 2 * (1 - 0), 2 * (1 - 0), 2 * (4 - 1)
        ([1.0, 1.0, 4.0], [2.0, 2.0, 6.0])
        >>> x.grad = None
        >>> piecewise_linear_lookup(x, table, backward="piecewise_linear").sum().backward()
        >>> x.grad.tolist()  # the segments holding x: [0, 1], [1, 2], [1, 2]
        [2.0, 6.0, 6.0]

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    _check_unit_values(x)
    table = _check_table(table, "lookup table")
    if not torch.isfinite(table).all():
        raise RangeError(describe("a finite lookup table", f"{int((~table.isfinite()).sum())} NaN/inf entries",
                                  "Fill every code's entry (e.g. g[:, 0] = g[:, 1] where ln(0) gave -inf)."))
    backward = _check_backward(backward)
    try:
        torch.broadcast_shapes(table.shape[:-1], x.shape[:-1])
    except RuntimeError as err:
        raise ShapeError(describe("a table whose leading dims broadcast to x's", f"table {tuple(table.shape)}, "
                                  f"x {tuple(x.shape)}", "Give the table singleton dims where x has more.")) from err
    return _lookup(x, table, backward)


def _lookup(x: torch.Tensor, table: torch.Tensor, backward: str) -> torch.Tensor:
    """:func:`piecewise_linear_lookup` without the checks, for the merge layer (which checked its inputs)."""
    return _PiecewiseLinearLookup.apply(x, table.to(x.dtype), backward)


def _check_unit_values(x: object) -> None:
    """Raise unless ``x`` is a float tensor with values in [0, 1] (any shape)."""
    check_tensor(x, "LDR values")
    assert isinstance(x, torch.Tensor)
    if not ((x >= 0) & (x <= 1)).all():
        raise RangeError(describe("LDR values in [0, 1]", "values outside [0, 1] or NaN",
                                  "Generated frames must end in a bounded head (sigmoid / 0.5 tanh + 0.5)."))


def _check_responses(g: object, batch: int, log_t: torch.Tensor) -> torch.Tensor:
    """Validate ``g`` ``(3, L)`` shared or ``(B, 3, L)`` per stack; return it as ``(B, 3, L)``."""
    g = _check_table(g, "inverse response g")
    if g.dim() == 3 and g.shape[0] == batch:
        for response, stack_log_t in zip(g, log_t):
            _check_response(response, stack_log_t)
        return g
    if g.dim() == 3:
        raise ShapeError(describe(f"one response per stack: g of shape ({batch}, 3, L), or a shared (3, L)",
                                  f"shape {tuple(g.shape)}", "Stack one g per stack, or pass a single (3, L)."))
    _check_response(g, log_t)
    return g.expand(batch, *g.shape)


def merge_debevec_differentiable(stack: torch.Tensor, times: torch.Tensor, g: torch.Tensor, *,
                                 weight: str = "hat", backward: str = "left_difference") -> torch.Tensor:
    """The Debevec-Malik merge as a layer: :func:`merge_debevec`'s output, with a gradient to every stack pixel.

    Per pixel and channel ``ln E = sum_j w(z_j) (g(z_j) - ln t_j) / sum_j w(z_j)``,
    where ``g(z_j)`` and ``w(z_j)`` are read with :func:`piecewise_linear_lookup`:
    the forward pass sees the quantised codes (so the output equals
    :func:`merge_debevec`'s, bit for bit on the CPU in float32). The backward
    pass (:data:`LOOKUP_BACKWARDS`):

    * ``"left_difference"`` (Kim, Lee & Kang 2021, Eq. 3): the weights are
      constants and ``g`` is differentiated by the left difference at the code,
      ``d ln E / d x_j = w(z_j) (g(z_j) - g(z_j - 1)) (L - 1) / sum_k w(z_k)``;
    * ``"piecewise_linear"``: ``g`` and ``w`` both read as piecewise-linear
      functions of the pixel value, so the gradient is the exact derivative of
      the merge with ``g`` and ``w`` interpolated linearly between codes, taken
      at the pixel's code (from the right).

    The forward is a step function, so finite differences of the forward alone
    are 0 within a code and do not check either rule.

    Pixels with zero total weight (clipped in every frame) take
    :func:`merge_debevec`'s bounds and get no gradient: no frame saw them.
    ``g`` and ``times`` are constants of the layer (the paper solves ``g`` with
    no gradient; :func:`synthesize_hdr` does that solve).

    Args:
        stack: ``(N, 3, H, W)`` or ``(B, N, 3, H, W)`` LDR frames in [0, 1],
            float32 or float64 (computed in that dtype), N >= 2, CPU or GPU; may require grad.
        times: exposure times in seconds, ``(N,)`` shared or ``(B, N)`` per stack, ascending.
        g: ``(3, 2**bits)`` shared or ``(B, 3, 2**bits)`` per stack, ``ln(E t)``
            per code, finite, no ``requires_grad``.
        weight: a name in :data:`hdrlab.imaging.weights.WEIGHTS`.
        backward: a name in :data:`LOOKUP_BACKWARDS` (default: the paper's Eq. 3).

    Returns:
        ``(3, H, W)`` or ``(B, 3, H, W)`` radiance ``>= 0`` in the stack's dtype.

    Raises:
        DTypeError, ShapeError, ExposureError, RangeError, ChoiceError: as
        :func:`merge_debevec`; ShapeError also for a per-stack ``g`` whose batch
        differs; RangeError (a ValueError) for a ``g`` that requires grad; ChoiceError for an unknown ``backward``.

    Example:
        >>> from hdrlab.imaging.camera import simulate_brackets
        >>> from hdrlab.imaging.crf import log_inverse_response
        >>> stack, times = simulate_brackets(torch.rand(3, 8, 8) * 4, [-1.0, 0.0, 1.0], "srgb", unit="ev")
        >>> g = log_inverse_response("srgb")
        >>> stack = stack.requires_grad_(True)
        >>> hdr = merge_debevec_differentiable(stack, times, g)
        >>> torch.equal(hdr.detach(), merge_debevec(stack.detach(), times, g))
        True
        >>> hdr.mean().backward()
        >>> stack.grad.shape
        torch.Size([3, 3, 8, 8])

    References:
        Kim, Lee & Kang, "End-to-end differentiable learning to HDR image
        synthesis for multi-exposure images", AAAI 2021 (the HDR synthesis layer).

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    n = _check_timed_stack(stack, times)
    backward = _check_backward(backward)
    height, width = stack.shape[-2:]
    planes = stack.reshape(-1, n, 3, height * width)
    batch = planes.shape[0]
    log_t = times.detach().to(stack.device, stack.dtype).log().reshape(-1, n).expand(batch, n)
    g = _check_responses(g, batch, log_t.float()).to(stack.device, stack.dtype)
    w_lut = weight_lut(weight, int(math.log2(g.shape[-1]))).to(stack.device, stack.dtype)
    g_z = _lookup(planes, g.unsqueeze(1), backward)  # (B, N, 3, P)
    constant_weights = backward == "left_difference"  # Eq. 3: no gradient through w
    w_z = _lookup(planes.detach() if constant_weights else planes, w_lut, backward)
    votes = _sum_frames(w_z * (g_z - log_t.view(batch, n, 1, 1)), 1)
    weights = _sum_frames(w_z, 1)
    clipped = weights == 0
    log_e = votes / torch.where(clipped, 1.0, weights)
    if clipped.any():
        log_e = torch.where(clipped, _clipped_bounds(planes.detach(), g, log_t, clipped), log_e)
    return log_e.exp().reshape(*stack.shape[:-4], 3, height, width)


def _clipped_bounds(planes: torch.Tensor, g: torch.Tensor, log_t: torch.Tensor, clipped: torch.Tensor) -> torch.Tensor:
    """``(B, 3, P)`` ln E bounds of :func:`merge_debevec` where ``clipped``, 0 elsewhere (no gradient).

    ``planes`` ``(B, N, 3, P)``, ``g`` ``(B, 3, L)``, ``log_t`` ``(B, N)``, ``clipped`` ``(B, 3, P)`` bool.
    """
    bounds = torch.zeros(clipped.shape, dtype=planes.dtype, device=planes.device)
    b, channel, pixel = clipped.nonzero().unbind(1)
    z = _codes(planes[b, :, channel, pixel].T, g.shape[-1])  # (N, K)
    bounds[b, channel, pixel] = _clipped_log_radiance(z, g[b, channel, -1], g[b, channel, 1], log_t[b].T)
    return bounds


def synthesize_hdr(stack: torch.Tensor, times: torch.Tensor, *, g: torch.Tensor | None = None,
                   weight: str = "hat", seed: int = 0, backward: str = "left_difference") -> torch.Tensor:
    """Kim et al.'s HDR synthesis layer: the Debevec response solve per stack, then the differentiable merge.

    With ``g=None`` each stack's inverse response is recovered with
    :func:`hdrlab.imaging.crf.recover_debevec` from the *detached* stack (no
    gradient through the solve, as the paper), then
    :func:`merge_debevec_differentiable` merges it, so a generator upstream is
    trained by the quality of the final HDR. Pass a fixed ``g`` (e.g. a known
    camera's :func:`hdrlab.imaging.crf.log_inverse_response`) for the simpler
    layer the paper rules out: a known response, the same for every stack.

    Args:
        stack: ``(N, 3, H, W)`` or ``(B, N, 3, H, W)`` LDR frames in [0, 1] (8-bit codes are what the solve fits).
        times: ``(N,)`` or ``(B, N)`` exposure times in seconds, ascending.
        g: None (solve per stack) or a fixed ``(3, 256)`` / ``(B, 3, 256)`` inverse response.
        weight: the merge's weight (the solve uses Debevec's hat).
        seed: seeds each solve's pixel sampling (reproducible).
        backward: the merge's backward rule, a name in :data:`LOOKUP_BACKWARDS` (default: the paper's Eq. 3).

    Returns:
        ``(3, H, W)`` or ``(B, 3, H, W)`` radiance ``>= 0``, up to each solve's anchor ``g(128) = 0``.

    Raises:
        As :func:`merge_debevec_differentiable`; RangeError from the solve when a stack shows no
        pixel with two different unclipped codes (nothing to fit, e.g. flat frames of an untrained net).
        DTypeError, RangeError: ``seed`` not an int >= 0.

    Example:
        >>> from hdrlab.imaging.camera import simulate_brackets
        >>> radiance = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)).mul(8).exp2()
        >>> stack, times = simulate_brackets(radiance, [-2.0, 0.0, 2.0], "film-soft", unit="ev")
        >>> hdr = synthesize_hdr(stack.requires_grad_(True), times)
        >>> hdr.shape, hdr.requires_grad
        (torch.Size([3, 32, 32]), True)

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    _check_backward(backward)
    check_int(seed, "seed", 0)
    if g is None:
        n = _check_timed_stack(stack, times)
        frames = stack.detach().reshape(-1, n, *stack.shape[-3:])
        per_stack = times.detach().reshape(-1, n).expand(frames.shape[0], n)
        g = torch.stack([recover_debevec(frames[b], per_stack[b], generator=torch.Generator().manual_seed(seed))
                         for b in range(frames.shape[0])])
        g = g[0] if stack.dim() == 4 else g
    return merge_debevec_differentiable(stack, times, g, weight=weight, backward=backward)


# --- Mertens exposure fusion ---------------------------------------------------------------------


def _pad_reflect(x: torch.Tensor, dim: int, pad: int) -> torch.Tensor:
    """Pad ``dim`` by ``pad`` on both sides, mirrored without repeating the edge (``cb|abcd|cb``), any size >= 1."""
    size = x.shape[dim]
    period = max(2 * (size - 1), 1)
    index = torch.arange(-pad, size + pad, device=x.device).abs() % period
    index = torch.where(index >= size, period - index, index)
    return torch.cat([x.index_select(dim, index[:pad]), x, x.index_select(dim, index[-pad:])], dim)


def _window(x: torch.Tensor, dim: int, start: int, length: int, stride: int = 1) -> torch.Tensor:
    """The view ``x[..., start:start + length:stride, ...]`` along ``dim``."""
    index = [slice(None)] * x.dim()
    index[dim] = slice(start, start + length, stride)
    return x[tuple(index)]


def _reflect(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``x`` ``(*, h, w)`` padded by ``pad`` on all four sides, mirrored without repeating the edge (reflect-101)."""
    height, width = x.shape[-2:]
    if min(height, width) > pad:  # one copy
        padded = F.pad(x.reshape(1, -1, height, width), (pad,) * 4, mode="reflect")
        return padded.reshape(*x.shape[:-2], height + 2 * pad, width + 2 * pad)
    return _pad_reflect(_pad_reflect(x, -1, pad), -2, pad)  # tiny levels: any size >= 1


def _down(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Blur ``(*, h, w)`` by the 5-tap binomial (reflect-101), keep even pixels: ``(*, ceil(h/2), ceil(w/2))``.

    Padded once; only the kept outputs are computed (taps read with stride 2),
    columns first; the kernel's 1/16 per axis is applied once at the end.
    """
    height, width = x.shape[-2:]
    x = _reflect(x, 2)
    for dim, size in ((-1, width), (-2, height)):
        taps = [_window(x, dim, tap, size, 2) for tap in range(5)]
        x = taps[0] + taps[4]
        x.add_(taps[1] + taps[3], alpha=4.0).add_(taps[2], alpha=6.0)
    return x.mul_(1 / 256) if out is None else torch.mul(x, 1 / 256, out=out)


def _up(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """64 x the upsampling of ``(*, ceil(h/2), ceil(w/2))`` to ``size = (h, w)``: zero insertion, binomial blur x 4.

    Polyphase, per axis: an even output ``2i`` is ``x[i-1] + 6 x[i] + x[i+1]``, an odd
    one ``4 (x[i] + x[i+1])`` (the blur of the zero-inserted signal, reflect-101 at
    its ends, times 8); the caller folds the 1/64 into its next add. Beyond the
    last sample the zero-inserted signal reflects to ``x[n-2]`` for an odd output
    length and to ``x[n-1]`` for an even one.
    """
    x = _reflect(x, 1)
    for dim, length in ((-1, size[-1]), (-2, size[-2])):
        n = x.shape[dim] - 2
        if length % 2 == 0:
            _window(x, dim, n + 1, 1).copy_(_window(x, dim, n, 1))
        before, centre, after = (x.narrow(dim, k, n) for k in range(3))
        shape = list(x.shape)
        shape[dim] = length
        out = x.new_empty(shape)
        even, odd = _window(out, dim, 0, length, 2), _window(out, dim, 1, length - 1, 2)
        torch.add(before, after, out=even).add_(centre, alpha=6.0)
        m = odd.shape[dim]
        torch.add(centre.narrow(dim, 0, m), after.narrow(dim, 0, m), out=odd).mul_(4.0)
        x = out
    return x


def _fusion_weight(frames: torch.Tensor, rows: tuple[int, int], contrast: float, saturation: float,
                   exposedness: float, out: torch.Tensor) -> None:
    """Mertens' weight ``C^wc S^ws E^we + eps`` of rows ``start:stop`` of frames ``(*, 3, H, W)`` into ``out (*, rows, W)``.

    ``E = prod_c exp(-(x_c - 1/2)^2 / (2 sigma^2))`` is computed as ``exp(-3 (S^2 + (m - 1/2)^2) / (2 sigma^2))``
    with ``m`` the mean of R, G, B (the same sum of squares, from the saturation's terms).
    """
    start, stop = rows
    height = frames.shape[-2]
    low, high = max(start - 1, 0), min(stop + 1, height)  # a row of context each side for the Laplacian
    red, green, blue = frames[..., low:high, :].unbind(-3)
    grey = red.mul(REC709_LUMA[0]).add_(green, alpha=REC709_LUMA[1]).add_(blue, alpha=REC709_LUMA[2])
    grey = _pad_reflect(grey, -1, 1)
    if start == 0:  # reflect-101 at the image's own edges only
        grey = torch.cat([grey[..., 1:2, :] if height > 1 else grey[..., :1, :], grey], -2)
    if stop == height:
        grey = torch.cat([grey, grey[..., -2:-1, :] if height > 1 else grey[..., -1:, :]], -2)
    centre = grey[..., 1:-1, 1:-1]
    c = (grey[..., :-2, 1:-1] + grey[..., 2:, 1:-1]).add_(grey[..., 1:-1, :-2]).add_(grey[..., 1:-1, 2:])
    c = c.sub_(centre, alpha=4.0).abs_()  # 3x3 Laplacian [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    red, green, blue = frames[..., start:stop, :].unbind(-3)
    mean = (red + green).add_(blue).mul_(1 / 3)
    variance = torch.sub(red, mean).square_()
    variance.add_(torch.sub(green, mean).square_()).add_(torch.sub(blue, mean).square_())
    variance.mul_(1 / 3)  # of R, G, B
    e = mean.sub_(0.5).square_().add_(variance).mul_(-3 / (2 * _EXPOSEDNESS_SIGMA**2)).exp_()
    weight = None
    for measure, exponent in ((c, contrast), (variance.sqrt_(), saturation), (e, exposedness)):
        if exponent != 0:  # x**0 = 1 (also at 0): a switched-off measure is left out
            measure = measure if exponent == 1 else measure.pow_(exponent)
            weight = measure if weight is None else weight.mul_(measure)
    torch.add(torch.ones_like(centre) if weight is None else weight, _FUSION_EPS, out=out)


def _up_rows(x: torch.Tensor, size: tuple[int, int], start: int, stop: int) -> torch.Tensor:
    """Rows ``start:stop`` of ``_up(x, size)``, computed from the few coarse rows they depend on.

    An even output row ``2i`` reads coarse rows ``i-1..i+1``, an odd one ``i..i+1``; a slice that ends at the
    image's last row keeps its output length's parity, so the mirror there is the image's own.
    """
    height = x.shape[-2]
    low, high = max(start // 2 - 1, 0), min((stop - 1) // 2 + 2, height)
    length = size[0] - 2 * low if high == height else 2 * (high - low)
    return _up(x[..., low:high, :], (length, size[1]))[..., start - 2 * low : stop - 2 * low, :]


def _blend_pyramids(images: torch.Tensor, weights: torch.Tensor, depth: int) -> torch.Tensor:
    """Blend frames by their Laplacian pyramids weighted by the weights' Gaussian ones, and collapse.

    Args:
        images: ``(B, N, 3, h, w)`` frames; weights: ``(B, N, 1, h, w)``, summing to 1 over N.
        depth: pyramid levels (>= 1).

    Returns:
        ``(B, 3, h, w)``, not clipped. All frames, channels and stacks go through each op at once: at the coarse
        levels an op's cost is its fixed overhead.
    """
    image, weight, fused = images, weights, []
    for _ in range(depth - 1):
        coarse = _down(image)
        fused.append(torch.sub(image, _up(coarse, image.shape[-2:]), alpha=1 / 64).mul_(weight).sum(1))
        image, weight = coarse, _down(weight)
    image = image.mul(weight).sum(1)
    for band in reversed(fused):
        image = band.add_(_up(image, band.shape[-2:]), alpha=1 / 64)
    return image


def mertens_fusion(
    stack: torch.Tensor,
    *,
    contrast: float = 1.0,
    saturation: float = 1.0,
    exposedness: float = 1.0,
    levels: int | None = None,
) -> torch.Tensor:
    """Fuse an exposure stack directly into one display image (Mertens, Kautz & Van Reeth).

    Each frame gets a per-pixel weight ``C^contrast * S^saturation *
    E^exposedness`` (plus 1e-12), normalised over the frames:

    * ``C``: absolute Laplacian (3x3, reflect border) of the Rec. 709 grey,
      :func:`hdrlab.imaging.tonemap.luminance`;
    * ``S``: standard deviation of R, G, B;
    * ``E``: well-exposedness, ``exp(-(x - 0.5)^2 / (2 * 0.2^2))`` per channel,
      multiplied (:func:`hdrlab.imaging.weights.exposure_weight`, ``"gaussian"``).

    The frames' Laplacian pyramids are blended with the weights' Gaussian
    pyramids (5-tap binomial kernel, reflect-101 padding as OpenCV's
    ``pyrDown``/``pyrUp``, any odd or even size) and collapsed. Blending
    band-pass images overshoots next to strong edges (halos): on the course's
    scenes 1-7 % of the fused values leave [0, 1], by up to ~0.6 at the
    strongest edges. As its final display step, and its only clip, the function
    clips to [0, 1]. No exposure times or response curve are needed; the output
    is display-referred, not radiance.

    Differences from ``cv2.createMergeMertens(1, 1, 1)`` (OpenCV's default
    exposure weight is 0, not the paper's 1): mean absolute difference < 0.003
    on the tests' stacks, ~0.001 on the course's scenes. OpenCV's grey is
    ``cvtColor(RGB2GRAY)`` applied to BGR frames (0.299 B + 0.587 G + 0.114 R),
    so its contrast weights differ; where all weights are ~0 (flat or grey
    areas) the 1e-12 epsilon meets its float rounding noise; it does not clip.
    With contrast and saturation switched off, the two agree to ~1e-6.

    Speed: pyramid levels are computed polyphase (only the kept samples of a
    blur, the two phases of an upsampling). The finest level, most of the
    work, is never stored: it is blended in row bands of ~0.5 megapixels that
    stay in the CPU's cache, each frame's band-pass rows computed there from
    its down-sampled copy; the coarser levels go through each op for all
    frames and channels at once. Unlike ``merge_debevec`` (single-threaded
    workers, to stay fast beside a busy process), fusion runs torch's own
    threads on these large ops: its many small ops gained nothing from the
    workers (they wait on each other for Python's lock). On 3 frames of
    1024 x 512 on a quiet 2-core CPU it runs in 0.95-0.97 of OpenCV's time
    (``benchmarks/hdr_module_vs_opencv.py``); beside a 2-thread torch
    process, 1.3-1.8x the time of the workers' version.

    Args:
        stack: ``(N, 3, H, W)`` or ``(B, N, 3, H, W)`` LDR frames in [0, 1],
            N >= 2, any order, CPU or GPU.
        contrast, saturation, exposedness: exponents >= 0 of the three
            measures (0 switches one off; the paper uses 1, 1, 1).
        levels: pyramid levels, 1 (a per-pixel blend, with seams) up to
            ``floor(log2(min(H, W))) + 1``; None uses all.

    Returns:
        ``(3, H, W)`` or ``(B, 3, H, W)`` fused image in [0, 1], dtype and device
        of the stack.

    Raises:
        DTypeError: stack not a float tensor; an exponent or ``levels`` of the wrong type.
        ShapeError: stack not 4-D/5-D with 3 channels, or N < 2.
        RangeError: stack values outside [0, 1] or NaN; negative or infinite
            exponent; ``levels`` out of range.

    Example:
        >>> dark, bright = torch.full((3, 16, 16), 0.1), torch.full((3, 16, 16), 0.6)
        >>> fused = mertens_fusion(torch.stack([dark, bright]), contrast=0.0, saturation=0.0)
        >>> round(float(fused.mean()), 3)  # nearly all weight on the better exposed frame
        0.598

    References:
        Mertens, Kautz & Van Reeth, "Exposure fusion", Pacific Graphics 2007.
        Burt & Adelson, "The Laplacian pyramid as a compact image code", 1983.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    n = _check_stack(stack)
    exponents = [check_nonnegative(v, k) for k, v in (("contrast", contrast), ("saturation", saturation),
                                                       ("exposedness", exposedness))]
    height, width = stack.shape[-2:]
    depth = _check_levels(levels, height, width)
    frames = stack.detach().reshape(-1, n, 3, height, width)
    batch = frames.shape[0]
    rows = max(1, _FUSION_BAND_PIXELS // width)
    bands = [(start, min(start + rows, height)) for start in range(0, height, rows)]
    weights = frames.new_empty(batch, n, height, width)
    for b, j, band in itertools.product(range(batch), range(n), bands):
        _fusion_weight(frames[b, j], band, *exponents, out=weights[b, j, slice(*band)])
    weights.div_(weights.sum(1, keepdim=True))
    out = frames.new_empty(batch, 3, height, width)
    if depth > 1:  # level 1 and coarser, all frames and channels at once; the finest level band by band below
        downs = frames.new_empty(batch, n, 4, (height + 1) // 2, (width + 1) // 2)  # 3 channels and the weight
        for b, j, c in itertools.product(range(batch), range(n), range(4)):  # a plane at a time
            _down(frames[b, j, c] if c < 3 else weights[b, j], out=downs[b, j, c])
        coarse = _blend_pyramids(downs[:, :, :3], downs[:, :, 3:], depth - 1)
    for b, c, (start, stop) in itertools.product(range(batch), range(3), bands):  # the finest level
        band = slice(start, stop)  # each frame's band-pass rows computed here, in cache, from its down-sampled copy
        if depth == 1:
            total = torch.zeros_like(out[b, c, band])
        else:
            total = _up_rows(coarse[b, c], (height, width), start, stop).mul_(1 / 64)
        for j in range(n):
            detail = frames[b, j, c, band]
            if depth > 1:
                detail = torch.sub(detail, _up_rows(downs[b, j, c], (height, width), start, stop), alpha=1 / 64)
            total.addcmul_(detail, weights[b, j, band])
        torch.clamp(total, 0, 1, out=out[b, c, band])  # the display step, the only clip
    return out.reshape(*stack.shape[:-4], 3, height, width)
