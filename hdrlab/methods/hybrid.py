"""Hybrid autoencoder (Demirci & Dere): a frozen ImageNet MobileNetV3 encoder, a pixel-shuffle decoder, L1 + LPIPS.

The model learns the distribution of log-HDR from one LDR image; the aim is a
visually convincing HDR-like result, not absolute radiance. The module holds:

- data cleaning: :func:`keep_pair` drops pairs whose HDR peaks above
  :data:`MAX_HDR_VALUE` (4096);
- alignment: some LDR/HDR pairs are rotated or flipped relative to each other;
  :func:`dihedral` / :func:`undo_dihedral` apply and undo the 8 symmetries of
  the square (:data:`DIHEDRAL`), and :func:`align_pair` finds the one that
  makes the HDR match the LDR (:func:`alignment_scores`: SSIM on a centre patch
  of a scale-free display);
- the training domain: :func:`to_log_domain` maps radiance to
  ``[-1, 1]`` (``log1p``, per-image min-max) and :func:`from_log_domain` is its
  exact inverse; :func:`ldr_to_input` ImageNet-normalises the encoder's input and
  min-maxes it to [-1, 1] as the project did; :func:`reinhard_display` is
  ``x / (1 + x)`` per channel for display;
- the artifact study: :func:`checkerboard_score` measures the 2-pixel-period
  ("mosaic") pattern that pixel-shuffle / transposed-convolution decoders leave;
- the model: :class:`MobileNetEncoder` (torchvision MobileNetV3-Large, frozen
  with its BatchNorm statistics; skips at strides 2-16, bottleneck at 32),
  :class:`HybridAutoencoder` (that encoder + a UNet-like decoder with one of
  :data:`UPSAMPLERS`, tanh output in the log domain) and :class:`HybridLoss`
  (L1 + LPIPS(vgg) in the log domain, optional :func:`saturation_weight`);
- training and evaluation: :data:`PROFILES`, :func:`train_hybrid` (embedded
  scenes, or real SingleHDR-layout pairs cleaned by :class:`CleanedPairs`),
  :func:`evaluate` (the project's log-domain PSNR / SSIM / L1, tone-mapped
  scores against the LDR input and ExpandNet, the checkerboard score) on
  :func:`held_out_pairs`, and the studies of :data:`ABLATIONS`: the upsampler
  (``python -m hdrlab train hybrid --ablation resize_conv``) and the loss weighting
  (the poster's 2 L1 + 3 LPIPS against its code's 3 L1 + 2 LPIPS, ``--ablation code_loss_weights``).

Conventions (DESIGN §2): images are float32 tensors ``(*, 3, H, W)``; LDR is in
[0, 1]; radiance is linear, ``>= 0`` and unbounded; bad input raises a typed
error from :mod:`hdrlab.errors`, never NaN.

References:
    Demirci, Dere, "Single LDR image to HDR translation" (hybrid
    MobileNetV3-encoder / pixel-shuffle-decoder autoencoder). Howard et al.,
    "Searching for MobileNetV3", ICCV 2019. Odena, Dumoulin, Olah,
    "Deconvolution and checkerboard artifacts", Distill 2016.

Taught in: notebooks/05_hybrid_autoencoder.ipynb
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from torchvision.models import MobileNet_V3_Large_Weights, mobilenet_v3_large

from hdrlab import env, train
from hdrlab.data.datasets import LDRHDRPairs, item_generator
from hdrlab.data.public import SingleHDRReal
from hdrlab.data.scenes import random_crop, resize_area
from hdrlab.errors import ChoiceError, DTypeError, MissingFileError, RangeError, ShapeError, describe
from hdrlab.imaging.crf import RESPONSE_CURVES
from hdrlab.imaging.tonemap import luminance
from hdrlab.io import read_hdr, read_ldr
from hdrlab.methods import expandnet, multiexposure
from hdrlab.metrics import LPIPS, psnr, ssim, tonemapped_psnr, tonemapped_ssim
from hdrlab.nn.blocks import ConvNormAct, Upsample2x, check_layer_dtype, parameter_dtype
from hdrlab.nn.features import IMAGENET_MEAN, IMAGENET_STD
from hdrlab.nn.pretrained import check_pretrained, load_hub_weights, load_matching
from hdrlab.validate import (
    as_path,
    check_bool,
    check_choice,
    check_image,
    check_int,
    check_ldr,
    check_mapping,
    check_module,
    check_nonnegative,
    check_number,
    check_positive,
    check_radiance,
    check_record_keys,
    check_records,
    check_scores,
    check_sequence,
)

__all__ = [
    "MAX_HDR_VALUE",
    "keep_pair",
    "DIHEDRAL",
    "DIHEDRAL_INVERSE",
    "dihedral",
    "undo_dihedral",
    "alignment_display",
    "alignment_scores",
    "align_pair",
    "LogStats",
    "to_log_domain",
    "from_log_domain",
    "ldr_to_input",
    "reinhard_display",
    "checkerboard_score",
    "MOBILENET_V3_LARGE_URL",
    "ENCODER_STAGES",
    "ENCODER_STRIDES",
    "ENCODER_CHANNELS",
    "ENCODER_PARAMETERS",
    "UPSAMPLERS",
    "DECODER_MULTIPLIERS",
    "MobileNetEncoder",
    "HybridAutoencoder",
    "SATURATION_START",
    "saturation_weight",
    "HybridLoss",
    "crop_to_stride",
    "CleanedPairs",
    "held_out_pairs",
    "Settings",
    "PROFILES",
    "ABLATIONS",
    "PROJECT_SCORES",
    "project_log_psnr",
    "best_constant",
    "settings_for",
    "build_model",
    "loss_terms",
    "predict",
    "evaluate",
    "results_table",
    "upsampler_table",
    "training_data",
    "train_hybrid",
    "load_trained",
]

#: Largest HDR value a training pair may contain; pairs whose HDR peaks above it are dropped (:func:`keep_pair`).
MAX_HDR_VALUE = 4096.0

#: The 8 symmetries of the square, by index ``k``: ``k % 4`` counter-clockwise quarter turns
#: (``torch.rot90`` on the last two dims), preceded for ``k >= 4`` by a left-right flip.
DIHEDRAL = ("identity", "rot90", "rot180", "rot270", "flip", "flip_rot90", "flip_rot180", "flip_rot270")
#: ``DIHEDRAL_INVERSE[k]`` is the index of the transform that undoes transform ``k``
#: (quarter turns invert to the opposite turn; every flip combination is its own inverse).
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)

_SSIM_MIN_SIDE = 11  # hdrlab.metrics.ssim's Gaussian window


# ----------------------------------------------------------------------------- data cleaning


def keep_pair(hdr: torch.Tensor) -> bool:
    """Whether a training pair survives the project's cleaning: its HDR maximum is ``<= MAX_HDR_VALUE`` (4096).

    Args:
        hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``; with a batch, the maximum over all of it.

    Returns:
        True to keep the pair, False to drop it.

    Raises:
        DTypeError, ShapeError, RangeError: invalid radiance (see :func:`hdrlab.validate.check_radiance`).

    Example:
        >>> keep_pair(torch.full((3, 4, 4), 100.0)), keep_pair(torch.full((3, 4, 4), 5000.0))
        (True, False)

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_radiance(hdr, "HDR image")
    return bool(hdr.numel() == 0 or float(hdr.max()) <= MAX_HDR_VALUE)


# ----------------------------------------------------------------------------- alignment


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise DTypeError(describe("k as an int in 0..7", repr(k), "Pass an index into hdrlab.methods.hybrid.DIHEDRAL."))
    if not 0 <= k < len(DIHEDRAL):
        raise ChoiceError(describe("k in 0..7 (one of DIHEDRAL)", repr(k), f"Pick an index into {DIHEDRAL}."))
    return k


def _check_planar(image: object, name: str) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise DTypeError(describe(f"{name} as a torch.Tensor", type(image).__name__, "Convert with torch.as_tensor."))
    if image.dim() < 2:
        raise ShapeError(describe(f"{name} of shape (..., H, W)", f"shape {tuple(image.shape)}", "Add the H, W dims."))
    return image


def dihedral(image: torch.Tensor, k: int) -> torch.Tensor:
    """Apply symmetry ``k`` of the square (:data:`DIHEDRAL`) to the last two dims.

    ``k >= 4`` first flips left-right, then every ``k`` turns ``k % 4`` quarter
    turns counter-clockwise. Odd ``k`` swap H and W, so non-square images are
    allowed (the output is ``(..., W, H)``). The values are only moved, never changed.

    Args:
        image: ``(..., H, W)`` tensor of any dtype (an image, a mask, a stack).
        k: transform index in 0..7.

    Returns:
        ``(..., H, W)`` for even ``k``, ``(..., W, H)`` for odd ``k``; a new tensor.

    Raises:
        DTypeError: not a tensor, or ``k`` not an int. ShapeError: fewer than 2 dims. ChoiceError: ``k`` not in 0..7.

    Example:
        >>> x = torch.arange(6.0).view(1, 2, 3)
        >>> dihedral(x, 1).shape, bool(torch.equal(undo_dihedral(dihedral(x, 5), 5), x))
        (torch.Size([1, 3, 2]), True)

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    image = _check_planar(image, "image")
    k = _check_k(k)
    out = torch.flip(image, dims=(-1,)) if k >= 4 else image
    return torch.rot90(out, k % 4, dims=(-2, -1))


def undo_dihedral(image: torch.Tensor, k: int) -> torch.Tensor:
    """The exact inverse of :func:`dihedral`: ``undo_dihedral(dihedral(x, k), k) == x`` for every ``k``.

    Equal to ``dihedral(image, DIHEDRAL_INVERSE[k])``.

    Args:
        image: ``(..., H, W)`` tensor (the output of ``dihedral(x, k)``).
        k: the index that was applied, 0..7.

    Returns:
        The tensor before ``dihedral(., k)``: ``(..., W, H)`` for odd ``k``.

    Raises:
        DTypeError, ShapeError, ChoiceError: see :func:`dihedral`.

    Example:
        >>> x = torch.rand(3, 4, 5)
        >>> all(torch.equal(undo_dihedral(dihedral(x, k), k), x) for k in range(8))
        True

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    image = _check_planar(image, "image")
    k = _check_k(k)
    out = torch.rot90(image, -(k % 4), dims=(-2, -1))
    return torch.flip(out, dims=(-1,)) if k >= 4 else out


def alignment_display(hdr: torch.Tensor) -> torch.Tensor:
    """The scale-free display used to compare an HDR with its LDR: ``L / (1 + L)`` of ``hdr / median luminance``.

    Dividing by the image's own *median* Rec. 709 luminance (robust to the few
    very bright pixels that dominate a mean) maps the typical pixel to 0.5 and
    makes the result independent of the HDR's absolute scale
    (``alignment_display(c * hdr) == alignment_display(hdr)``). An image whose
    median luminance is 0 (mostly black) falls back to its mean luminance.

    Args:
        hdr: ``(3, H, W)`` linear radiance ``>= 0``, not all black.

    Returns:
        ``(3, H, W)`` display values in [0, 1).

    Raises:
        DTypeError, ShapeError, RangeError: invalid radiance. RangeError: an all-black image (no scale).

    Example:
        >>> hdr = torch.rand(3, 8, 8)
        >>> bool(torch.allclose(alignment_display(hdr), alignment_display(250 * hdr)))
        True

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_radiance(hdr, "HDR image")
    lum = luminance(hdr)
    scale = lum.median()
    if not scale > 0:
        scale = lum.mean()
    if not scale > 0:
        raise RangeError(
            describe("an HDR image with some light", "an all-black image", "Drop the pair; it cannot be aligned.")
        )
    return reinhard_display(hdr / scale)


def _single(image: torch.Tensor, name: str) -> None:
    if image.dim() != 3:
        raise ShapeError(
            describe(f"{name} of shape (3, H, W) (one image)", f"shape {tuple(image.shape)}", "Align pairs one by one.")
        )


def alignment_scores(ldr: torch.Tensor, hdr: torch.Tensor, patch: int = 64) -> dict[int, float]:
    """SSIM of the LDR against each shape-compatible transform of the HDR on the centre patch (:func:`align_pair`'s test).

    Each of the 8 transforms ``dihedral(hdr, k)`` whose shape equals the LDR's
    (odd ``k`` swap H and W, so on non-square pairs only half apply) is shown
    with :func:`alignment_display` (scale-free: Reinhard of ``hdr / median
    luminance``) and compared with the LDR by SSIM on the centre patch of side
    ``min(patch, H, W)``.

    Args:
        ldr: ``(3, H, W)`` LDR image in [0, 1].
        hdr: ``(3, H, W)`` or ``(3, W, H)`` linear radiance ``>= 0``, not all black.
        patch: side of the compared centre patch, int >= 11 (SSIM's window).

    Returns:
        ``{k: ssim}`` for each applicable :data:`DIHEDRAL` index ``k``, ascending.

    Raises:
        DTypeError, ShapeError, RangeError: invalid images or patch; ShapeError also when no transform of the
            HDR has the LDR's shape, or the image is smaller than 11 px (SSIM's window).

    Example:
        >>> from hdrlab.imaging.camera import expose
        >>> hdr = torch.rand(3, 8, 8).repeat_interleave(4, -1).repeat_interleave(4, -2)  # (3, 32, 32)
        >>> scores = alignment_scores(expose(hdr, 1.0), dihedral(hdr, 3))
        >>> len(scores), max(scores, key=scores.get)  # rot270 is undone by rot90 (k = 1)
        (8, 1)

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_ldr(ldr, "LDR image")
    check_radiance(hdr, "HDR image")
    _single(ldr, "LDR image")
    _single(hdr, "HDR image")
    patch = check_int(patch, "patch", _SSIM_MIN_SIDE)
    height, width = ldr.shape[-2:]
    side = min(patch, height, width)
    if side < _SSIM_MIN_SIDE:
        raise ShapeError(
            describe(f"H and W >= {_SSIM_MIN_SIDE} (SSIM's window)", f"{(height, width)}", "Use larger images.")
        )
    candidates = [k for k in range(len(DIHEDRAL)) if dihedral(hdr, k).shape == ldr.shape]
    if not candidates:
        raise ShapeError(
            describe(
                f"an HDR of shape {tuple(ldr.shape)} or its transpose (the LDR's)",
                f"shape {tuple(hdr.shape)}",
                "Resize or crop both images of the pair the same way first.",
            )
        )
    display = alignment_display(hdr)
    top, left = (height - side) // 2, (width - side) // 2
    target = ldr[:, top : top + side, left : left + side]
    return {k: float(ssim(dihedral(display, k)[:, top : top + side, left : left + side], target)) for k in candidates}


def align_pair(ldr: torch.Tensor, hdr: torch.Tensor, patch: int = 64) -> tuple[torch.Tensor, int]:
    """Undo a rotation/flip between an LDR and its HDR: the transform of the HDR whose display best matches the LDR.

    The transform with the best :func:`alignment_scores` (SSIM on the centre
    patch of a scale-free display) wins; ties go to the lower index (identity first).

    Args:
        ldr: ``(3, H, W)`` LDR image in [0, 1].
        hdr: ``(3, H, W)`` or ``(3, W, H)`` linear radiance ``>= 0``, not all black.
        patch: side of the compared centre patch, int >= 11 (SSIM's window).

    Returns:
        ``(aligned_hdr, k)``: ``aligned_hdr = dihedral(hdr, k)`` has the LDR's shape.

    Raises:
        DTypeError, ShapeError, RangeError: see :func:`alignment_scores`.

    Example:
        >>> from hdrlab.imaging.camera import expose
        >>> hdr = torch.rand(3, 8, 8).repeat_interleave(4, -1).repeat_interleave(4, -2)  # (3, 32, 32)
        >>> aligned, k = align_pair(expose(hdr, 1.0), dihedral(hdr, 6))
        >>> k, bool(torch.equal(aligned, hdr))
        (6, True)

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    scores = alignment_scores(ldr, hdr, patch)
    best = max(scores, key=lambda k: (scores[k], -k))
    return dihedral(hdr, best), best


# ----------------------------------------------------------------------------- the log-HDR domain


class LogStats(NamedTuple):
    """Min-max statistics of ``log1p(hdr)`` that :func:`to_log_domain` used, ``(*, 1, 1, 1)`` float64 each.

    Attributes:
        low: smallest ``log1p`` value per image (``>= 0``).
        high: largest ``log1p`` value per image (``>= low``).
    """

    low: torch.Tensor
    high: torch.Tensor


def _check_stats(stats: object) -> LogStats:
    if not isinstance(stats, tuple) or len(stats) != 2 or not all(isinstance(s, torch.Tensor) for s in stats):
        raise DTypeError(
            describe("stats as a LogStats(low, high) of tensors", type(stats).__name__, "Pass what to_log_domain returned.")
        )
    low, high = (s.to(torch.float64) for s in stats)
    if not (torch.isfinite(low).all() and torch.isfinite(high).all()) or (low < 0).any() or (high < low).any():
        raise RangeError(
            describe(
                "finite stats with 0 <= low <= high (log1p of radiance)",
                f"low in [{float(low.min()):.4g}, {float(low.max()):.4g}], "
                f"high in [{float(high.min()):.4g}, {float(high.max()):.4g}]",
                "Pass the stats to_log_domain returned, or LogStats(low, high) of log1p values.",
            )
        )
    return LogStats(low, high)


def _span(stats: LogStats) -> torch.Tensor:
    """``high - low``, with 1 where it is 0 (a constant image), so the division never gives NaN."""
    span = stats.high - stats.low
    return torch.where(span > 0, span, torch.ones_like(span))


def to_log_domain(hdr: torch.Tensor, stats: LogStats | None = None) -> tuple[torch.Tensor, LogStats]:
    """The training target: ``log1p(hdr)``, min-max to [0, 1] with per-image stats, then to [-1, 1].

    ``t = log1p(hdr)``; ``x = 2 (t - low) / (high - low) - 1`` with ``low, high``
    the min and max of ``t`` over each image (all channels and pixels). Per-image
    stats: a single LDR does not fix the scene's absolute scale, and the cleaned
    data still spans 0..4096, so dataset-wide stats would squeeze most images
    into a thin slice of [-1, 1]; per image, every target uses the whole range.
    The price: the inverse needs the stats, which are unknown for a new LDR (pass
    stats of your choice, e.g. fixed ``LogStats(0, log1p(4096))``, to both functions).

    A constant image (``high == low``) has no span: it maps to -1 everywhere and
    :func:`from_log_domain` returns the constant exactly (no NaN). Computed in float64.

    Args:
        hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``.
        stats: None to measure them, or a :class:`LogStats` broadcastable to ``(*, 1, 1, 1)``; the image's
            ``log1p`` values must then lie in ``[low, high]``.

    Returns:
        ``(x, stats)``: ``x`` ``(*, 3, H, W)`` float32 in [-1, 1]; ``stats`` the :class:`LogStats` used.

    Raises:
        DTypeError, ShapeError, RangeError: invalid radiance or stats; RangeError also when given stats do not
            cover the image.

    Example:
        >>> hdr = torch.tensor([0.0, 1.0, 99.0]).view(3, 1, 1)
        >>> x, stats = to_log_domain(hdr)
        >>> x.flatten().tolist()[::2], round(float(stats.high), 4)  # log(100)
        ([-1.0, 1.0], 4.6052)
        >>> bool(torch.allclose(from_log_domain(x, stats), hdr))
        True

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_radiance(hdr, "HDR image")
    t = torch.log1p(hdr.to(torch.float64))
    if stats is None:
        flat = t.reshape(*t.shape[:-3], -1)
        shape = (*t.shape[:-3], 1, 1, 1)
        stats = LogStats(flat.amin(-1).reshape(shape), flat.amax(-1).reshape(shape))
    else:
        stats = _check_stats(stats)
        tol = 1e-12 * (1 + stats.high)
        if t.numel() and ((t < stats.low - tol).any() or (t > stats.high + tol).any()):
            raise RangeError(
                describe(
                    "log1p(hdr) within the given stats' [low, high]",
                    f"log1p values in [{float(t.min()):.4g}, {float(t.max()):.4g}]",
                    "Pass stats=None to measure them per image, or wider stats.",
                )
            )
    x = 2 * ((t - stats.low) / _span(stats)).clamp(0, 1) - 1  # the clamp only absorbs the 1e-12 tolerance above
    return x.to(hdr.dtype), stats


def from_log_domain(x: torch.Tensor, stats: LogStats) -> torch.Tensor:
    """The exact inverse of :func:`to_log_domain`: to [0, 1], undo min-max with the stats, ``expm1``.

    ``hdr = expm1(low + (x + 1) / 2 * (high - low))``, computed in float64; a
    constant image's stats (``high == low``) give the constant for every ``x``.

    Args:
        x: ``(*, 3, H, W)`` values in [-1, 1] (e.g. a decoder's tanh output).
        stats: the :class:`LogStats` of the image (from :func:`to_log_domain`), broadcastable to ``(*, 1, 1, 1)``.

    Returns:
        ``(*, 3, H, W)`` linear radiance ``>= 0``, dtype of ``x``; differentiable w.r.t. ``x``.

    Raises:
        DTypeError, ShapeError: invalid ``x`` or stats. RangeError: NaN/inf, ``x`` outside [-1, 1], or bad stats.

    Example:
        >>> hdr = 10 * torch.rand(2, 3, 8, 8)
        >>> x, stats = to_log_domain(hdr)
        >>> stats.low.shape, bool(torch.allclose(from_log_domain(x, stats), hdr, rtol=1e-5, atol=1e-6))
        (torch.Size([2, 1, 1, 1]), True)

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_image(x, "log-domain image")
    stats = _check_stats(stats)
    low, high = (float(v) for v in torch.aminmax(x.detach())) if x.numel() else (0.0, 0.0)
    if low < -1 or high > 1:
        raise RangeError(
            describe(
                "log-domain values in [-1, 1]",
                f"values in [{low:.4g}, {high:.4g}]",
                "Squash a network's output with tanh (or clamp it explicitly) before inverting.",
            )
        )
    t = stats.low + (x.to(torch.float64) + 1) / 2 * (stats.high - stats.low)
    return torch.expm1(t).to(x.dtype)


def ldr_to_input(ldr: torch.Tensor, rescale: bool = True) -> torch.Tensor:
    """The encoder's input: ImageNet normalisation ``(ldr - mean) / std``, then (the project's step) min-max to [-1, 1].

    Uses :data:`hdrlab.nn.features.IMAGENET_MEAN` ``(0.485, 0.456, 0.406)`` and
    ``IMAGENET_STD`` ``(0.229, 0.224, 0.225)``. An LDR in [0, 1] lands in
    ``[-mean/std, (1-mean)/std]``: R [-2.118, 2.249], G [-2.036, 2.429], B [-1.804, 2.640].
    With ``rescale`` (the project's pre-processing: "then brought to the same
    range" as the target) the normalised image ``z`` is mapped per image to
    ``2 (z - min z) / (max z - min z) - 1``, min and max over all its channels and
    pixels, so input and target share [-1, 1]; a constant image maps to -1. The
    frozen encoder's BatchNorm then sees inputs about 0.45 times as large as
    ImageNet's: the project's choice, kept (``rescale=False`` gives torchvision's input).

    Args:
        ldr: ``(*, 3, H, W)`` display-referred LDR in [0, 1] (sRGB-encoded, as ImageNet photos are).
        rescale: apply the per-image min-max to [-1, 1] after the normalisation.

    Returns:
        ``(*, 3, H, W)`` normalised input, same dtype and device; in [-1, 1] with ``rescale``.

    Raises:
        DTypeError, ShapeError, RangeError: invalid LDR (see :func:`hdrlab.validate.check_ldr`). DTypeError:
            ``rescale`` not a bool.

    Example:
        >>> out = ldr_to_input(torch.zeros(3, 2, 2), rescale=False)
        >>> [round(v, 3) for v in out[:, 0, 0].tolist()]
        [-2.118, -2.036, -1.804]
        >>> out = ldr_to_input(torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 3).expand(3, 1, 3))
        >>> round(float(out.min()), 4), round(float(out.max()), 4)
        (-1.0, 1.0)

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_ldr(ldr, "LDR image")
    check_bool(rescale, "rescale")
    mean = torch.tensor(IMAGENET_MEAN, dtype=ldr.dtype, device=ldr.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=ldr.dtype, device=ldr.device).view(3, 1, 1)
    z = (ldr - mean) / std
    if not rescale:
        return z
    flat = z.reshape(*z.shape[:-3], -1)
    low, high = flat.amin(-1)[..., None, None, None], flat.amax(-1)[..., None, None, None]
    span = torch.where(high > low, high - low, torch.ones_like(high))
    return 2 * (z - low) / span - 1


def reinhard_display(hdr: torch.Tensor) -> torch.Tensor:
    """Simple Reinhard for display: ``x / (1 + x)`` on each channel, no key and no luminance scaling.

    Unlike :func:`hdrlab.imaging.tonemap.reinhard_global` (luminance-based, scaled
    by ``key / log-average``, colour kept by ratios, clipped), this is the plain
    per-channel curve; it never clips (the output is below 1 for finite input).
    Divide by a scale first (e.g. the median luminance) to make it scale-free.

    Args:
        hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``.

    Returns:
        ``(*, 3, H, W)`` in [0, 1); 1 maps to 0.5.

    Raises:
        DTypeError, ShapeError, RangeError: invalid radiance.

    Example:
        >>> reinhard_display(torch.tensor([0.0, 1.0, 3.0]).view(3, 1, 1)).flatten().tolist()
        [0.0, 0.5, 0.75]

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_radiance(hdr, "HDR image")
    return hdr / (1 + hdr)


# ----------------------------------------------------------------------------- artifact study

_BINOMIAL = (0.25, 0.5, 0.25)  # 3-tap binomial; its frequency response cos^2(pi f) is 0 at Nyquist


def checkerboard_score(image: torch.Tensor) -> float:
    """Share of the high-pass residual's energy at the 2-pixel period (the "mosaic" of pixel-shuffle decoders).

    Definition: ``r = image - blur(image)`` with ``blur`` the separable 3x3
    binomial filter ``[1, 2, 1] / 4`` (x) ``[1, 2, 1] / 4``, evaluated on the
    valid interior only (no padding, so borders add nothing), then cropped to an
    even size ``(h, w)``. The score is the fraction of ``r``'s spectral energy in
    the three Nyquist bins ``(fy, fx)`` in ``{(h/2, 0), (0, w/2), (h/2, w/2)}`` of
    its 2-D DFT, pooled over channels (and a batch):

    ``score = sum_c sum_p <r_c, p>^2 / (h w sum_c ||r_c||^2)``, ``p`` in ``{(-1)^y, (-1)^x, (-1)^(x+y)}``

    (by Parseval, ``|DFT(r)(bin_p)|^2 = <r, p>^2`` and ``sum |DFT(r)|^2 = h w ||r||^2``).
    The binomial blur passes no Nyquist energy, so those bins of ``r`` equal the
    image's. 0: no 2-pixel pattern; 1: the residual is a pure 2-pixel pattern.
    Invariant to brightness scale and offset. An image without residual (flat or
    planar) scores 0.

    Args:
        image: ``(*, 3, H, W)`` finite float image (any range: display, radiance or log domain), H, W >= 4.

    Returns:
        The score in [0, 1], a float.

    Raises:
        DTypeError, ShapeError, RangeError: not a finite ``(*, 3, H, W)`` float tensor, or a side < 4 px.

    Example:
        >>> yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
        >>> smooth = torch.sin(xx / 5.0).expand(3, 32, 32) + 1
        >>> checker = smooth + 0.05 * (-1.0) ** (xx + yy)
        >>> checkerboard_score(smooth) < 0.01, checkerboard_score(checker) > 0.9
        (True, True)

    References:
        Odena, Dumoulin, Olah, "Deconvolution and checkerboard artifacts", Distill 2016.

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_image(image, "image")
    if min(image.shape[-2:]) < 4:
        raise ShapeError(describe("H and W >= 4", f"{tuple(image.shape[-2:])}", "Score larger images."))
    x = image.detach().to(torch.float64).reshape(-1, 1, *image.shape[-2:])
    kernel = torch.tensor(_BINOMIAL, dtype=torch.float64)
    blur = F.conv2d(F.conv2d(x, kernel.view(1, 1, 1, 3)), kernel.view(1, 1, 3, 1))
    r = x[..., 1:-1, 1:-1] - blur
    h, w = r.shape[-2] // 2 * 2, r.shape[-1] // 2 * 2
    r = r[..., :h, :w]
    total = float(r.pow(2).sum())
    peak = float(x.abs().max())
    if not total > (1e-12 * peak) ** 2 * r.numel():  # no residual: nothing to score (and no 0 / 0)
        return 0.0
    sy = (-1.0) ** torch.arange(h, dtype=torch.float64).view(h, 1)
    sx = (-1.0) ** torch.arange(w, dtype=torch.float64).view(1, w)
    nyquist = sum(float((r * p).sum(dim=(-2, -1)).pow(2).sum()) for p in (sy.expand(h, w), sx.expand(h, w), sy * sx))
    return min(max(nyquist / (h * w * total), 0.0), 1.0)


# ----------------------------------------------------------------------------- part 2: the frozen MobileNetV3 encoder

#: torchvision's ImageNet MobileNetV3-Large weights (``MobileNet_V3_Large_Weights.IMAGENET1K_V1``), the address
#: :func:`~hdrlab.nn.pretrained.load_hub_weights` uses (cache file ``mobilenet_v3_large-8738ca79.pth``).
MOBILENET_V3_LARGE_URL = MobileNet_V3_Large_Weights.IMAGENET1K_V1.url
#: Indices into torchvision's ``mobilenet_v3_large().features`` whose outputs :class:`MobileNetEncoder` returns:
#: the last block at each stride 2, 4, 8, 16 (the skips) and 32 (the 960-channel bottleneck).
ENCODER_STAGES = (1, 3, 6, 12, 16)
#: Output stride of each entry of :data:`ENCODER_STAGES`.
ENCODER_STRIDES = (2, 4, 8, 16, 32)
#: Channels of each entry of :data:`ENCODER_STAGES`.
ENCODER_CHANNELS = (16, 24, 40, 112, 960)
#: Upsampling layers the decoder can use (see :class:`hdrlab.nn.blocks.Upsample2x`).
UPSAMPLERS = ("pixel_shuffle", "pixel_shuffle_icnr", "resize_conv", "transposed")
#: Decoder channels as multiples of ``width``: bottleneck (stride 32), levels at stride 16, 8, 4, 2, and full size.
DECODER_MULTIPLIERS = (8, 4, 2, 1, 1, 1)
#: Parameters of the frozen encoder (torchvision's ``features[:17]``; BatchNorm running stats are buffers, not counted).
ENCODER_PARAMETERS = 2_971_952


class MobileNetEncoder(nn.Module):
    """Frozen torchvision MobileNetV3-Large ``features`` returning skips at strides 2, 4, 8, 16 and the stride-32 bottleneck.

    The full ``features`` stack (17 blocks) of ``torchvision.models.mobilenet_v3_large``
    is built; the outputs of blocks :data:`ENCODER_STAGES` ``(1, 3, 6, 12, 16)`` are
    returned, with :data:`ENCODER_CHANNELS` ``(16, 24, 40, 112, 960)`` channels at
    :data:`ENCODER_STRIDES` ``(2, 4, 8, 16, 32)``. Weights: torchvision's ImageNet
    ``IMAGENET1K_V1`` (:data:`MOBILENET_V3_LARGE_URL`) from the torch hub cache or a
    download via :func:`~hdrlab.nn.pretrained.load_hub_weights`: ``pretrained=True``
    raises :class:`~hdrlab.errors.MissingWeightsError` offline; ``"auto"`` prints a
    line and keeps torchvision's random init; ``False`` never tries.
    :attr:`pretrained_backbone` records which.

    Frozen *including BatchNorm statistics*: no parameter requires gradients,
    and :meth:`train` records the mode but keeps every layer in eval mode, so
    ``model.train()`` (as :func:`hdrlab.train.fit` calls it) never updates the
    running means/variances. 2,971,952 parameters (:data:`ENCODER_PARAMETERS`).

    Args:
        pretrained: True, False or ``"auto"``.

    Attributes:
        features: torchvision's ``features`` ``nn.Sequential`` (its indices and state-dict keys).
        pretrained_backbone: whether the ImageNet weights were loaded.

    Raises:
        ChoiceError: ``pretrained`` not True, False or ``"auto"``.
        MissingWeightsError: ``pretrained=True`` and the weights cannot be had, or the cached file does not match.

    Example:
        >>> enc = MobileNetEncoder(pretrained=False)
        >>> [tuple(f.shape[1:]) for f in enc(torch.rand(1, 3, 64, 64))]
        [(16, 32, 32), (24, 16, 16), (40, 8, 8), (112, 4, 4), (960, 2, 2)]
        >>> enc.train().features.training, enc.pretrained_backbone
        (False, False)

    References:
        Howard et al., "Searching for MobileNetV3", ICCV 2019.

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """

    def __init__(self, pretrained: bool | str = "auto") -> None:
        super().__init__()
        check_pretrained(pretrained)
        self.features = mobilenet_v3_large(weights=None).features
        what = "the ImageNet MobileNetV3-Large weights"
        state = load_hub_weights(MOBILENET_V3_LARGE_URL, what, pretrained)
        if state is not None:
            # BatchNorm fills in a missing num_batches_tracked itself; every other key must be in the file
            key_map = {key: f"features.{key}" for key in self.features.state_dict()
                       if not key.endswith("num_batches_tracked") or f"features.{key}" in state}
            load_matching(self.features, state, MOBILENET_V3_LARGE_URL, what, key_map=key_map)
        self.pretrained_backbone = state is not None
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> MobileNetEncoder:
        """Record ``mode`` but keep every layer in eval mode: the encoder, BatchNorm statistics included, is frozen."""
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five feature maps of an ImageNet-normalised batch.

        Args:
            x: ``(B, 3, H, W)`` float, normalised as :func:`ldr_to_input` does; H, W >= 32 (any size works;
                multiples of 32 keep every stride exact).

        Returns:
            ``[s2, s4, s8, s16, s32]``: ``(B, C_k, ceil(H / stride_k), ceil(W / stride_k))`` with ``C_k`` in
            :data:`ENCODER_CHANNELS`.

        Raises:
            DTypeError, ShapeError, RangeError: not a finite ``(B, 3, H, W)`` float tensor; DTypeError: not of the
                encoder's dtype (float32 unless converted).
        """
        check_image(x, "encoder input")
        if x.dim() != 4:
            raise ShapeError(describe("a (B, 3, H, W) batch", f"shape {tuple(x.shape)}", "Add the batch dim."))
        check_layer_dtype(x, parameter_dtype(self), "encoder input")
        found = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in ENCODER_STAGES:
                found.append(x)
        return found


# ----------------------------------------------------------------------------- part 2: the hybrid autoencoder


class _DecoderLevel(nn.Module):
    """Upsample 2x, concatenate the skip, 3x3 conv + InstanceNorm (affine) + ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, upsampler: str) -> None:
        super().__init__()
        self.up = Upsample2x(in_channels, out_channels, upsampler)
        self.fuse = ConvNormAct(out_channels + skip_channels, out_channels, 3, norm="instance", activation="relu")

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.up(x), skip], dim=1))


def _check_upsampler(upsampler: object) -> str:
    if upsampler not in UPSAMPLERS:
        raise ChoiceError(describe(f"upsampler in {UPSAMPLERS}", repr(upsampler), "Use 'pixel_shuffle_icnr'."))
    return str(upsampler)


class HybridAutoencoder(nn.Module):
    """The hybrid autoencoder: frozen ImageNet MobileNetV3-Large encoder + trainable UNet-like upsampling decoder.

    ``forward(ldr)`` applies :func:`ldr_to_input` (ImageNet normalisation, then
    the project's per-image min-max to [-1, 1] unless ``rescale_input=False``)
    itself, so the caller passes the LDR in [0, 1]. Layers, with ``w = width``
    and channels ``DECODER_MULTIPLIERS * w = (8w, 4w, 2w, w, w, w)``:

    - encoder :class:`MobileNetEncoder` (frozen): skips 16 @ /2, 24 @ /4, 40 @ /8, 112 @ /16; 960 @ /32;
    - bottleneck: 1x1 conv ``960 -> 8w`` + InstanceNorm (affine) + ReLU at /32;
    - four levels (/16, /8, /4, /2): :class:`~hdrlab.nn.blocks.Upsample2x` ``(c_in -> c_out)``,
      concatenate the skip, 3x3 conv ``c_out + skip -> c_out`` + InstanceNorm + ReLU;
    - final: ``Upsample2x(w -> w)`` to full size, ReLU, 3x3 conv ``w -> 3``, Tanh.

    The output is the normalised log-HDR domain of :func:`to_log_domain`, in
    (-1, 1); :func:`from_log_domain` with chosen stats turns it into radiance.
    The upsampler (all five ``Upsample2x`` layers) is one of :data:`UPSAMPLERS`:
    ``"pixel_shuffle"`` (3x3 conv to 4x channels + ``PixelShuffle(2)``, PyTorch's
    default init), ``"pixel_shuffle_icnr"`` (the same with ICNR init and zero
    bias: nearest-neighbour upsampling at init, no checkerboard), ``"resize_conv"``
    (nearest resize + 3x3 conv) or ``"transposed"`` (2x2 stride-2 transposed conv).

    Parameter counts (frozen encoder: 2,971,952 for every setting), trainable:

    ====================  ==========  ==========
    upsampler             width=32    width=8
    ====================  ==========  ==========
    pixel_shuffle(_icnr)  2,237,155   217,147
    resize_conv           1,019,779   140,899
    transposed            794,499     126,819
    ====================  ==========  ==========

    Args:
        upsampler: one of :data:`UPSAMPLERS`.
        width: decoder base width ``w``, int >= 1 (32 for the full profile; 8 is a quick CPU profile).
        pretrained: the encoder's ImageNet weights: True, False or ``"auto"`` (see :class:`MobileNetEncoder`).
        rescale_input: the ``rescale`` of :func:`ldr_to_input` (True: the project's pre-processing).

    Attributes:
        encoder, bottleneck, levels, final_up, head: the parts above.
        pretrained_backbone: whether the encoder's ImageNet weights were loaded.

    Raises:
        ChoiceError: unknown upsampler or ``pretrained``. DTypeError, RangeError: ``width`` not an int >= 1.
        DTypeError: ``rescale_input`` not a bool. MissingWeightsError: ``pretrained=True`` and the weights cannot be had.

    Example:
        >>> model = HybridAutoencoder("pixel_shuffle_icnr", width=8, pretrained=False)
        >>> out = model(torch.rand(1, 3, 64, 96))
        >>> tuple(out.shape), bool(out.abs().max() < 1)
        ((1, 3, 64, 96), True)
        >>> from hdrlab.nn.blocks import count_parameters
        >>> count_parameters(model), count_parameters(model, trainable_only=False) - count_parameters(model)
        (217147, 2971952)

    References:
        Demirci, Dere (hybrid MobileNetV3 / pixel-shuffle autoencoder). Howard et al., ICCV 2019.
        Ronneberger et al., "U-Net", MICCAI 2015. Aitken et al., arXiv:1707.02937, 2017 (ICNR).

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """

    def __init__(self, upsampler: str = "pixel_shuffle_icnr", width: int = 32, pretrained: bool | str = "auto",
                 rescale_input: bool = True) -> None:
        super().__init__()
        self.rescale_input = check_bool(rescale_input, "rescale_input")
        self.upsampler = _check_upsampler(upsampler)
        self.width = check_int(width, "width", 1)
        check_pretrained(pretrained)
        self.encoder = MobileNetEncoder(pretrained=pretrained)
        self.pretrained_backbone = self.encoder.pretrained_backbone
        chans = [m * self.width for m in DECODER_MULTIPLIERS]
        self.bottleneck = ConvNormAct(ENCODER_CHANNELS[-1], chans[0], 1, norm="instance", activation="relu")
        skips = ENCODER_CHANNELS[-2::-1]  # 112, 40, 24, 16
        self.levels = nn.ModuleList(
            _DecoderLevel(chans[i], skips[i], chans[i + 1], self.upsampler) for i in range(len(skips))
        )
        self.final_up = Upsample2x(chans[-2], chans[-1], self.upsampler)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(chans[-1], 3, 3, padding=1), nn.Tanh())

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        """Predict the normalised log-HDR image of an LDR batch.

        Args:
            ldr: ``(*, 3, H, W)`` LDR in [0, 1] (normalised for the encoder inside); H and W multiples of 32,
                not both 32 (InstanceNorm needs more than one value per channel at the 1/32 bottleneck).

        Returns:
            ``(*, 3, H, W)`` in (-1, 1), the domain of :func:`to_log_domain`.

        Raises:
            DTypeError, RangeError: not a float LDR in [0, 1] of the model's dtype. ShapeError: not
                ``(*, 3, H, W)``, or a side not a multiple of 32 (or 32 x 32).
        """
        x = ldr_to_input(ldr, self.rescale_input)
        height, width = x.shape[-2:]
        if height % 32 or width % 32 or height * width < 2 * 32 * 32:
            raise ShapeError(describe("H and W multiples of 32 (the encoder's stride), not both 32",
                                      f"{(height, width)}", "Crop or pad the LDR, e.g. to 256 x 256."))
        lead = x.shape[:-3]
        feats = self.encoder(x.reshape(-1, 3, height, width))
        y = self.bottleneck(feats[-1])
        for level, skip in zip(self.levels, feats[-2::-1]):
            y = level(y, skip)
        y = self.head(self.final_up(y))
        return y.reshape(*lead, 3, height, width)


# ----------------------------------------------------------------------------- part 2: the loss

#: Saturation threshold of :func:`saturation_weight`: input pixels with ``max_rgb >= SATURATION_START`` get more weight.
SATURATION_START = 0.95


def saturation_weight(ldr: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per-pixel L1 weight that favours near-saturated input: ``1 + alpha * max(0, (max_rgb(ldr) - 0.95) / 0.05)``.

    ``max_rgb`` is the largest of the three channels; with the LDR in [0, 1] the
    ramp runs from 0 at 0.95 (and below) to 1 at 1.0, so the weight is 1 for
    well-exposed pixels and ``1 + alpha`` for clipped ones, where the network
    must hallucinate the lost radiance.

    Args:
        ldr: ``(*, 3, H, W)`` LDR in [0, 1] (the model's input).
        alpha: extra weight of a fully saturated pixel, float >= 0.

    Returns:
        ``(*, 1, H, W)`` weights in ``[1, 1 + alpha]``.

    Raises:
        DTypeError, ShapeError, RangeError: invalid LDR, or ``alpha`` not a finite number >= 0.

    Example:
        >>> ldr = torch.tensor([0.5, 0.96, 1.0]).view(1, 1, 3).expand(3, 1, 3)
        >>> [round(v, 4) for v in saturation_weight(ldr, 2.0).flatten().tolist()]
        [1.0, 1.4, 3.0]

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_ldr(ldr, "LDR image")
    alpha = _check_alpha(alpha)
    ramp = ((ldr.amax(dim=-3, keepdim=True) - SATURATION_START) / (1 - SATURATION_START)).clamp(min=0)
    return 1 + alpha * ramp


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise DTypeError(describe("alpha as a float >= 0 (or None)", repr(alpha), "Pass e.g. alpha=2.0."))
    if not (math.isfinite(alpha) and alpha >= 0):
        raise RangeError(describe("alpha finite and >= 0", repr(alpha), "Pass e.g. alpha=2.0, or None for none."))
    return float(alpha)


def _check_weight(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DTypeError(describe(f"{name} as a float >= 0", repr(value), "Pass a number, e.g. 1.0."))
    if not (math.isfinite(value) and value >= 0):
        raise RangeError(describe(f"{name} finite and >= 0", repr(value), "Pass a number >= 0."))
    return float(value)


def _check_log_image(x: object, name: str) -> torch.Tensor:
    check_image(x, name)
    assert isinstance(x, torch.Tensor)
    if x.numel() and (x.detach().amin() < -1 or x.detach().amax() > 1):
        raise RangeError(describe(f"{name} in [-1, 1] (the log domain of to_log_domain)",
                                  f"values in [{float(x.min()):.4g}, {float(x.max()):.4g}]",
                                  "Use the model's tanh output and to_log_domain's target."))
    return x


class HybridLoss(nn.Module):
    """``l1_weight * L1 + lpips_weight * LPIPS(vgg)`` between log-domain images, with an optional saturation weight.

    Both images are in the normalised log-HDR domain [-1, 1] (:func:`to_log_domain`;
    the model's tanh output). Terms:

    - ``l1 = mean(w * |pred - target|)`` over batch, channels and pixels, where
      ``w = 1`` when ``alpha`` is None and ``w = saturation_weight(ldr, alpha)``
      (``1 + alpha * max(0, (max_rgb(ldr) - 0.95) / 0.05)``) otherwise; not
      renormalised by ``mean(w)``, so ``alpha`` raises the term's scale too;
    - ``lpips = mean`` over the batch of :class:`hdrlab.metrics.LPIPS` ``("vgg")``
      of ``(pred + 1) / 2`` and ``(target + 1) / 2``: that class takes [0, 1] and
      maps to [-1, 1] inside, so the network sees the log-domain values exactly.
      It is frozen, stays in eval mode and passes gradients to ``pred``.
      Not weighted by ``alpha`` (LPIPS is one score per image).

    Args:
        l1_weight: weight of the L1 term, >= 0.
        lpips_weight: weight of the LPIPS term, >= 0 (0 skips building LPIPS).
        alpha: None, or the extra weight >= 0 of saturated input pixels in the L1 term.
        pretrained: LPIPS's ImageNet VGG16 backbone: True, False or ``"auto"``
            (see :class:`hdrlab.metrics.LPIPS`; lpips's calibrated heads ship with the package).

    Attributes:
        lpips: the :class:`~hdrlab.metrics.LPIPS` module, or None when ``lpips_weight == 0``.
        pretrained_backbone: whether LPIPS's backbone weights were loaded (False without LPIPS).

    Raises:
        DTypeError, RangeError: bad weights or ``alpha``. ChoiceError: bad ``pretrained``.
        MissingWeightsError: ``pretrained=True`` and the VGG16 weights cannot be had.

    Example:
        >>> loss = HybridLoss(pretrained=False)
        >>> x = torch.rand(1, 3, 32, 32) * 2 - 1
        >>> {k: round(float(v), 4) for k, v in loss(x, x).items()}
        {'loss': 0.0, 'l1': 0.0, 'lpips': 0.0}

    References:
        Demirci, Dere (L1 + LPIPS on log HDR). Zhang et al., "The unreasonable effectiveness of deep features as a
        perceptual metric", CVPR 2018.

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """

    def __init__(self, l1_weight: float = 2.0, lpips_weight: float = 3.0, alpha: float | None = None,
                 pretrained: bool | str = "auto") -> None:
        super().__init__()
        self.l1_weight = _check_weight(l1_weight, "l1_weight")
        self.lpips_weight = _check_weight(lpips_weight, "lpips_weight")
        self.alpha = None if alpha is None else _check_alpha(alpha)
        check_pretrained(pretrained)
        self.lpips = LPIPS("vgg", pretrained=pretrained) if self.lpips_weight > 0 else None
        self.pretrained_backbone = bool(self.lpips is not None and self.lpips.pretrained_backbone)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, ldr: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """The loss of a batch.

        Args:
            pred: ``(*, 3, H, W)`` prediction in [-1, 1] (H, W >= 16 for LPIPS's VGG).
            target: same shape, in [-1, 1] (``to_log_domain(hdr)[0]``).
            ldr: ``(*, 3, H, W)`` input LDR in [0, 1]; required when ``alpha`` is set, ignored otherwise.

        Returns:
            ``{"loss", "l1", "lpips"}``: ``loss`` (scalar) carries the graph; ``l1`` and ``lpips`` are detached
            and unweighted (``lpips`` is 0 when ``lpips_weight == 0``).

        Raises:
            DTypeError, ShapeError, RangeError: invalid or mismatched images, values outside [-1, 1],
                or ``ldr`` missing when ``alpha`` is set.
        """
        pred = _check_log_image(pred, "prediction")
        target = _check_log_image(target, "target")
        if pred.shape != target.shape:
            raise ShapeError(describe("prediction and target of the same shape",
                                      f"{tuple(pred.shape)} and {tuple(target.shape)}", "Crop both alike."))
        error = (pred - target).abs()
        if self.alpha is not None:
            if ldr is None:
                raise DTypeError(describe("the input LDR (ldr=...) because alpha is set", "None",
                                          "Pass the model's input LDR, or build the loss with alpha=None."))
            check_ldr(ldr, "LDR image")
            if ldr.shape != pred.shape:
                raise ShapeError(describe(f"ldr of shape {tuple(pred.shape)} (the prediction's)",
                                          f"{tuple(ldr.shape)}", "Pass the LDR the prediction was made from."))
            error = error * saturation_weight(ldr, self.alpha)
        l1 = error.mean()
        if self.lpips is not None:
            self.lpips.to(pred.device)
            lpips = self.lpips((pred + 1) / 2, (target + 1) / 2).mean()
        else:
            lpips = torch.zeros((), dtype=pred.dtype, device=pred.device)
        loss = self.l1_weight * l1 + self.lpips_weight * lpips
        return {"loss": loss, "l1": l1.detach(), "lpips": lpips.detach()}


# ----------------------------------------------------------------------------- part 3: data


def crop_to_stride(image: torch.Tensor, stride: int = 32) -> torch.Tensor:
    """The largest centred window whose sides are multiples of ``stride`` (the encoder needs multiples of 32).

    Args:
        image: ``(*, C, H, W)`` tensor with H, W >= ``stride``.
        stride: int >= 1.

    Returns:
        A view ``(*, C, H // stride * stride, W // stride * stride)``, centred as
        :func:`~hdrlab.data.scenes.center_crop` centres.

    Raises:
        DTypeError, RangeError: bad ``stride``. DTypeError: not a tensor. ShapeError: fewer than 2 dims, or a side
            smaller than ``stride``.

    Example:
        >>> crop_to_stride(torch.zeros(3, 100, 70)).shape
        torch.Size([3, 96, 64])
    """
    image = _check_planar(image, "image")
    stride = check_int(stride, "stride", 1)
    height, width = image.shape[-2:]
    if height < stride or width < stride:
        raise ShapeError(describe(f"H and W >= {stride}", f"{(height, width)}", "Use a larger image."))
    size = (height // stride * stride, width // stride * stride)
    top, left = (height - size[0]) // 2, (width - size[1]) // 2
    return image[..., top : top + size[0], left : left + size[1]]


class CleanedPairs(Dataset):
    """Real LDR/HDR pairs (SingleHDR ``LDR_in/`` + ``HDR_gt/`` layout) cleaned as the project did, as random crops.

    On construction every HDR file is read once and pairs that fail
    :func:`keep_pair` (maximum above 4096) are dropped (:attr:`dropped`). Each
    item reads its pair as stored, undoes a rotation/flip of the HDR with
    :func:`align_pair` (so 90-degree-rotated non-square pairs work too), area-
    downsamples both to ``max_side`` and cuts the same random ``size`` window
    (deterministic in ``(seed, index)``).

    Args:
        root: the folder holding ``LDR_in/`` and ``HDR_gt/`` (see :class:`~hdrlab.data.public.SingleHDRReal`).
        size: side of the square crops, int >= 32 (a multiple of 32 for the model).
        max_side: longest side after downsampling (None: as stored).
        seed: int >= 0.

    Attributes:
        source: the :class:`~hdrlab.data.public.SingleHDRReal` listing.
        kept: indices into ``source`` of the pairs kept.
        dropped: names of the pairs dropped by :func:`keep_pair`.

    Returns (per item):
        dict with ``ldr`` ``(3, S, S)`` in [0, 1], ``hdr`` ``(3, S, S)`` radiance, ``scene`` (name),
        ``transform`` (0-d int tensor, the :data:`DIHEDRAL` index undone).

    Raises:
        MissingFileError: ``root`` not in the layout, or every pair dropped.
        DTypeError, RangeError: bad ``size``, ``max_side`` or ``seed``.
        ShapeError: an image smaller than ``size`` after downsampling, or an HDR whose shape is neither the LDR's
            nor its transpose.

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """

    def __init__(self, root: str | os.PathLike, *, size: int, max_side: int | None = None, seed: int = 0) -> None:
        self.size = check_int(size, "size", 32)
        self.max_side = None if max_side is None else check_int(max_side, "max_side", self.size)
        self.seed = check_int(seed, "seed", 0)
        self.source = SingleHDRReal(root)
        self.kept: list[int] = []
        self.dropped: list[str] = []
        for index in range(len(self.source)):
            radiance = read_hdr(self.source.files(index)[1]).clamp(min=0)  # lossy files hold tiny negatives
            if keep_pair(radiance):
                self.kept.append(index)
            else:
                self.dropped.append(self.source.scenes[index])
        if not self.kept:
            raise MissingFileError(describe(f"a pair with HDR max <= {MAX_HDR_VALUE:g} in {self.source.root}",
                                            f"all {len(self.dropped)} dropped", "Check the HDR files' scale."))

    def __len__(self) -> int:
        return len(self.kept)

    def __getitem__(self, index: int) -> dict:
        if isinstance(index, bool) or not isinstance(index, int) or not -len(self) <= index < len(self):
            raise IndexError(f"index {index!r} out of range for {len(self)} pairs")
        index %= len(self)
        ldr_file, hdr_file = self.source.files(self.kept[index])
        ldr = read_ldr(ldr_file)
        hdr, transform = align_pair(ldr, read_hdr(hdr_file).clamp(min=0))
        images = torch.stack([ldr, hdr])
        height, width = images.shape[-2:]
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            images = resize_area(images, (max(1, round(height * scale)), max(1, round(width * scale))))
        if min(images.shape[-2:]) < self.size:
            raise ShapeError(describe(f"images of at least {self.size} px after max_side={self.max_side}",
                                      f"{tuple(images.shape[-2:])} ({ldr_file.name})", "Lower size or raise max_side."))
        crop = random_crop(images, (self.size, self.size), item_generator(self.seed, index)).contiguous()
        return {"ldr": crop[0], "hdr": crop[1], "scene": self.source.scenes[self.kept[index]],
                "transform": torch.tensor(transform)}


def held_out_pairs(max_side: int = 256, evs: tuple[float, ...] = (0.0, 1.0),
                   crfs: tuple[str, ...] = ("srgb", "film-soft"), *, split: str = "test") -> list[dict]:
    """The test (or validation) scenes as whole (LDR, HDR) pairs cropped to multiples of 32 (:func:`crop_to_stride`).

    The pairs of :func:`hdrlab.methods.expandnet.held_out_pairs` (one per scene,
    curve and EV; ``hdr = radiance * t``), so chapters compare on the same scenes.

    Args:
        max_side: longest side of the loaded scenes, px (>= 32).
        evs: exposures, EV relative to auto exposure.
        crfs: response-curve names.
        split: ``"test"`` (scored) or ``"val"`` (for choices such as :func:`best_constant`).

    Returns:
        Dicts ``{"ldr", "hdr", "scene", "crf", "ev"}`` with ``(3, H, W)`` tensors, H and W multiples of 32.

    Raises:
        ChoiceError: ``split`` not ``"test"`` or ``"val"``; see :func:`hdrlab.methods.expandnet.held_out_pairs`.
        ShapeError: scenes smaller than 32 px at ``max_side``.

    Example:
        >>> pairs = held_out_pairs(64, evs=(0.0,), crfs=("srgb",))
        >>> len(pairs), tuple(pairs[0]["ldr"].shape)
        (4, (3, 32, 64))
    """
    check_choice(split, "split", ("test", "val"))
    pairs = expandnet.held_out_pairs(split, max_side, evs, crfs)
    return [{**pair, "ldr": crop_to_stride(pair["ldr"]), "hdr": crop_to_stride(pair["hdr"])} for pair in pairs]


# ----------------------------------------------------------------------------- part 3: settings and training


@dataclass(frozen=True)
class Settings:
    """Model, loss, optimiser and data settings of one profile (DESIGN §3).

    Attributes:
        upsampler: the decoder's upsampling layer, one of :data:`UPSAMPLERS`.
        width: decoder base width (:class:`HybridAutoencoder`).
        rescale_input: the project's min-max of the encoder input (:func:`ldr_to_input`).
        size: side of the square training crops of a real dataset (``data_root``), px (a multiple of 32).
        embedded_size: side of the crops of the embedded scenes, px (a multiple of 32; the smallest
            training scene is 256 px high, so at most 256).
        batch_size: crops per optimiser step.
        epochs: passes over the training data.
        samples: crops per epoch of the embedded scenes (a real dataset's epoch is its size).
        lr: Adam learning rate.
        betas: Adam betas.
        l1_weight, lpips_weight: loss weights (:class:`HybridLoss`).
        alpha: saturation weight of the L1 term, or None.
        train_max_side: longest side of the training images.
        train_evs: exposures of the embedded training LDRs, EV relative to auto exposure.
        eval_max_side: held-out scenes are scored whole at this longest side.
        eval_evs: exposures of the held-out LDRs.
        eval_crfs: response curves of the held-out LDRs.
        eval_every_epochs: epochs between evaluations (the last step is always evaluated).
        checkpoint_every_epochs: epochs between checkpoints (the last step is always saved).
    """

    upsampler: str
    width: int
    rescale_input: bool
    size: int
    embedded_size: int
    batch_size: int
    epochs: int
    samples: int
    lr: float
    betas: tuple[float, float]
    l1_weight: float
    lpips_weight: float
    alpha: float | None
    train_max_side: int
    train_evs: tuple[float, ...]
    eval_max_side: int
    eval_evs: tuple[float, ...]
    eval_crfs: tuple[str, ...]
    eval_every_epochs: int
    checkpoint_every_epochs: int

    def __post_init__(self) -> None:
        """Check every field (see the class docstring); DTypeError, RangeError or ChoiceError name the first bad one."""
        _check_upsampler(self.upsampler)
        check_bool(self.rescale_input, "rescale_input")
        for name in ("width", "batch_size", "epochs", "samples", "eval_every_epochs", "checkpoint_every_epochs"):
            check_int(getattr(self, name), name, 1)
        for name in ("train_max_side", "eval_max_side"):
            check_int(getattr(self, name), name, 32)
        for name in ("size", "embedded_size"):
            if check_int(getattr(self, name), name, 32) % 32:
                raise RangeError(describe(f"{name} a multiple of 32 (the encoder's stride)", repr(getattr(self, name)),
                                          "Use e.g. 64, 128 or 256."))
        check_positive(self.lr, "lr")
        betas = check_sequence(self.betas, "betas", check_nonnegative)
        if len(betas) != 2 or max(betas) >= 1:
            raise RangeError(describe("betas as two numbers in [0, 1) (Adam's)", repr(self.betas),
                                      "Use the project's (0.5, 0.999)."))
        _check_weight(self.l1_weight, "l1_weight")
        _check_weight(self.lpips_weight, "lpips_weight")
        if self.alpha is not None:
            _check_alpha(self.alpha)
        for name in ("train_evs", "eval_evs"):
            check_sequence(getattr(self, name), name, check_number)
        for crf in check_sequence(self.eval_crfs, "eval_crfs"):
            check_choice(crf, "a response curve in eval_crfs", tuple(RESPONSE_CURVES))


#: Settings per profile. ``full`` is the project's final run: plain pixel shuffle, L1 2 + LPIPS 3, Adam
#: (0.5, 0.999) at 9e-4, batch 16, 100 epochs of 512 px crops of a real dataset (decoder width 32 is ours; the
#: project gives none); the embedded scenes give 256 px crops (the smallest is 256 px high).
#: ``quick`` keeps the loss and optimiser at CPU scale: width 8, 64 px crops, batch 4, 80 steps (about 15 s).
#: ``gpu`` keeps ``quick``'s loss and optimiser with width 16, 128 px crops, batch 8 and 16 epochs of 640 crops, sized
#: for at most ~15 min of chapter 5 on one Colab T4 (``benchmarks/gpu_profile_estimates.py``; not yet run on a GPU).
PROFILES: dict[str, Settings] = {
    "quick": Settings(
        upsampler="pixel_shuffle", width=8, rescale_input=True, size=64, embedded_size=64, batch_size=4, epochs=1,
        samples=320, lr=9e-4, betas=(0.5, 0.999), l1_weight=2.0, lpips_weight=3.0, alpha=None, train_max_side=256,
        train_evs=(-1.0, 0.0, 1.0), eval_max_side=256, eval_evs=(0.0, 1.0), eval_crfs=("srgb", "film-soft"),
        eval_every_epochs=1, checkpoint_every_epochs=1,
    ),
    "gpu": Settings(
        upsampler="pixel_shuffle", width=16, rescale_input=True, size=128, embedded_size=128, batch_size=8, epochs=16,
        samples=640, lr=9e-4, betas=(0.5, 0.999), l1_weight=2.0, lpips_weight=3.0, alpha=None, train_max_side=512,
        train_evs=(-1.0, 0.0, 1.0), eval_max_side=512, eval_evs=(0.0, 1.0), eval_crfs=("srgb", "film-soft"),
        eval_every_epochs=4, checkpoint_every_epochs=2,
    ),
    "full": Settings(
        upsampler="pixel_shuffle", width=32, rescale_input=True, size=512, embedded_size=256, batch_size=16,
        epochs=100, samples=1600, lr=9e-4, betas=(0.5, 0.999), l1_weight=2.0, lpips_weight=3.0, alpha=None,
        train_max_side=1024, train_evs=(-1.0, 0.0, 1.0), eval_max_side=512, eval_evs=(0.0, 1.0),
        eval_crfs=("srgb", "film-soft"), eval_every_epochs=10, checkpoint_every_epochs=5,
    ),
}

#: ``--ablation`` variants, each a change to its profile's :class:`Settings`: the upsampler study (one variant per
#: :data:`UPSAMPLERS`, named after it) and ``code_loss_weights``, the loss weighting of the project's code (its
#: ``train_val.py`` builds the loss with ``l1_weight=3, lpips_weight=2``) where every profile follows the poster's
#: final run (2 L1 + 3 LPIPS).
ABLATIONS: dict[str, dict] = {**{name: {"upsampler": name} for name in UPSAMPLERS},
                              "code_loss_weights": {"l1_weight": 3.0, "lpips_weight": 2.0}}

#: The project's validation scores in the normalised log domain (Demirci & Dere, project report; validation set
#: of SingleHDR's real pairs). Its code computes PSNR on x in [-1, 1] with peak 1 (:func:`project_log_psnr`,
#: 6.02 dB below ours on (x + 1) / 2) and SSIM on x with data range 2 (torchmetrics; the luminance term differs
#: from SSIM on (x + 1) / 2). Its "L1" is printed as reported, but a mean absolute error cannot exceed the RMS
#: error (about 0.20 at 14.06 dB): it is likelier the code's validation "pixel loss", the weighted L1 + LPIPS sum.
PROJECT_SCORES = {"psnr_log_project": 14.06, "ssim_log": 0.816, "l1_log": 0.698}


def settings_for(profile: str = "auto", ablation: str | None = None) -> Settings:
    """A profile's :class:`Settings`, changed as ``ablation`` (a key of :data:`ABLATIONS`) says if given.

    Raises:
        ChoiceError: unknown profile or ablation.

    Example:
        >>> settings_for("quick", "resize_conv").upsampler, settings_for("full").batch_size
        ('resize_conv', 16)
        >>> code = settings_for("quick", "code_loss_weights")
        >>> code.l1_weight, code.lpips_weight, code.upsampler
        (3.0, 2.0, 'pixel_shuffle')
    """
    settings = PROFILES[env.profile(profile)]
    if ablation is None:
        return settings
    if not isinstance(ablation, str) or ablation not in ABLATIONS:
        raise ChoiceError(describe(f"ablation None or one of {tuple(ABLATIONS)}", repr(ablation),
                                   "Use None for the profile's settings, or e.g. 'pixel_shuffle_icnr'."))
    return replace(settings, **ABLATIONS[ablation])


def build_model(settings: Settings, pretrained: bool | str = "auto") -> HybridAutoencoder:
    """The :class:`HybridAutoencoder` of ``settings``.

    Raises:
        DTypeError: ``settings`` not a :class:`Settings`. ChoiceError: bad ``pretrained``; see :class:`HybridAutoencoder`.
    """
    _check_settings(settings)
    return HybridAutoencoder(settings.upsampler, settings.width, pretrained, settings.rescale_input)


def _check_settings(settings: object) -> None:
    if not isinstance(settings, Settings):
        raise DTypeError(describe("settings as a hybrid.Settings", type(settings).__name__,
                                  "Use settings_for(profile) or PROFILES[name], changed with dataclasses.replace."))


def _check_model(model: object) -> HybridAutoencoder:
    """DTypeError unless ``model`` is a :class:`HybridAutoencoder` (or one in a DDP wrapper); return it unwrapped."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    check_module(inner, "model", HybridAutoencoder)
    return inner


def loss_terms(model: nn.Module, batch: dict, criterion: HybridLoss) -> dict[str, torch.Tensor]:
    """One training step's loss: the model's log-domain prediction vs :func:`to_log_domain` of the HDR.

    Args:
        model: a :class:`HybridAutoencoder` (or its DDP wrapper).
        batch: ``{"ldr": (B, 3, S, S) in [0, 1], "hdr": (B, 3, S, S) >= 0}``.
        criterion: the :class:`HybridLoss`.

    Returns:
        :class:`HybridLoss`'s ``{"loss", "l1", "lpips"}``.

    Raises:
        DTypeError: ``model`` or ``criterion`` of another type, ``batch`` not a mapping with ``ldr`` and ``hdr``.
        DTypeError, ShapeError, RangeError: invalid images (see :func:`to_log_domain`, :class:`HybridLoss`).
    """
    _check_model(model)
    check_module(criterion, "criterion", HybridLoss)
    check_mapping(batch, "batch", ("ldr", "hdr"))
    target, _ = to_log_domain(batch["hdr"])
    return criterion(model(batch["ldr"]), target, batch["ldr"])


def predict(model: nn.Module, ldr: torch.Tensor) -> torch.Tensor:
    """The model's normalised log-HDR prediction of an LDR image or batch, without gradients.

    Args:
        model: a :class:`HybridAutoencoder`.
        ldr: ``(3, H, W)`` or ``(B, 3, H, W)`` LDR in [0, 1], H and W multiples of 32.

    Returns:
        Same shape, in (-1, 1), on the input's device. :func:`from_log_domain` with chosen stats gives radiance.

    Raises:
        DTypeError: ``model`` not a :class:`HybridAutoencoder`. DTypeError, ShapeError, RangeError: an invalid LDR
            (float16 too: the model's dtype is float32), or sides not multiples of 32.

    Example:
        >>> predict(HybridAutoencoder(width=4, pretrained=False), torch.rand(3, 64, 64)).shape
        torch.Size([3, 64, 64])
    """
    _check_model(model)
    check_ldr(ldr, "LDR image")
    device = next(model.parameters()).device
    with torch.no_grad():
        return model(ldr.to(device)).to(ldr.device)


def project_log_psnr(candidate: torch.Tensor, target: torch.Tensor) -> float:
    """Log-domain PSNR as the project's code computes it: on ``x`` in [-1, 1] with peak 1, in dB.

    ``10 log10(1 / mean((x - target)^2))``: the squared error of a [-1, 1] range is 4x that of
    ``(x + 1) / 2``, so this is 20 log10(2) = 6.02 dB below ``psnr_log`` of :func:`evaluate`.

    Args:
        candidate, target: ``(3, H, W)`` log-domain images in [-1, 1] (:func:`to_log_domain`).

    Raises:
        DTypeError, ShapeError, RangeError: not finite images in [-1, 1] of one shape.

    Example:
        >>> round(project_log_psnr(torch.zeros(3, 2, 2), torch.full((3, 2, 2), 0.5)), 4)  # MSE 0.25
        6.0206
    """
    _check_log_image(candidate, "candidate")
    _check_log_image(target, "target")
    if candidate.shape != target.shape:
        raise ShapeError(describe("candidate and target of one shape", f"{tuple(candidate.shape)} and "
                                  f"{tuple(target.shape)}", "Score an output against its own target."))
    return float(10 * torch.log10(1 / (candidate.double() - target.double()).pow(2).mean()))


def best_constant(pairs: list[dict]) -> float:
    """The input-free prediction: the one log-domain value ``c`` with the least squared error over ``pairs``.

    Least squares over every pixel of every target gives their mean. Compute it on
    validation pairs (``expandnet.held_out_pairs("val", ...)``), never on the pairs it is scored on.

    Args:
        pairs: dicts with an ``"hdr"`` ``(3, H, W)`` radiance each.

    Returns:
        ``c`` in [-1, 1].

    Raises:
        DTypeError: ``pairs`` not a list of dicts with ``hdr``. RangeError: no pairs. DTypeError, ShapeError,
            RangeError: an invalid radiance map.

    Example:
        >>> best_constant([{"hdr": torch.rand(3, 8, 8)}]) < 0.5
        True
    """
    total, count = 0.0, 0
    for pair in check_records(pairs, "pairs", ("hdr",)):
        target = to_log_domain(pair["hdr"])[0]
        total, count = total + float(target.double().sum()), count + target.numel()
    return total / count


def _log_scores(candidate: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """PSNR and SSIM of ``(x + 1) / 2`` (range 1), the project's PSNR and mean |difference| in [-1, 1]."""
    shown, truth = (candidate + 1) / 2, (target + 1) / 2
    return {"psnr_log": float(psnr(shown, truth)), "psnr_log_project": project_log_psnr(candidate, target),
            "ssim_log": float(ssim(shown, truth)), "l1_log": float((candidate - target).abs().mean())}


def evaluate(model: nn.Module, pairs: list[dict], expandnet_model: nn.Module | None = None,
             constant: float | None = None) -> dict[str, float]:
    """Mean scores over held-out pairs: the project's log-domain metrics, tone-mapped scores and the checkerboard.

    For each pair, with ``target, stats = to_log_domain(hdr)``:

    - ``psnr_log/<m>``, ``ssim_log/<m>``: PSNR / SSIM of ``(x + 1) / 2`` against ``(target + 1) / 2`` (range 1);
      ``psnr_log_project/<m>``: the project's PSNR (:func:`project_log_psnr`, 6.02 dB lower);
      ``l1_log/<m>``: mean ``|x - target|`` in [-1, 1]. Candidates ``x``: ``hybrid`` (the model's output),
      ``ldr`` and ``ldr_gamma`` (``to_log_domain`` of :func:`~hdrlab.methods.expandnet.baseline_hdrs`: the LDR
      read as radiance, and linearised with gamma 2.2), ``expandnet`` (``to_log_domain`` of its HDR), two
      predictions that ignore the input: ``constant`` (every pixel ``constant``, from :func:`best_constant`
      on validation pairs; only when given) and ``target_mean`` (every pixel the target's own mean: an oracle
      that knows the target), log-domain scores only;
    - ``psnr_tm/<m>``, ``ssim_tm/<m>``: tone-mapped PSNR / SSIM (Reinhard global) of radiance against ``hdr``;
      ``hybrid``'s radiance is ``from_log_domain(output, stats)`` with the **target's** stats (an oracle log range:
      the per-image min-max leaves the range unknown for a new LDR); the baselines and ``expandnet`` need none;
    - ``checkerboard/hybrid``, ``checkerboard/target``: :func:`checkerboard_score` of the output and the target.

    Args:
        model: a :class:`HybridAutoencoder`.
        pairs: from :func:`held_out_pairs` (H, W multiples of 32).
        expandnet_model: a trained :class:`~hdrlab.methods.expandnet.ExpandNet` for its rows, or None.
        constant: the ``constant`` row's value in [-1, 1], or None for no such row.

    Returns:
        ``{"<metric>/<method>": mean}``, sorted by key.

    Raises:
        DTypeError: ``model`` not a :class:`HybridAutoencoder`, ``expandnet_model`` not an ExpandNet, ``pairs`` not
            a list of dicts with ``ldr`` and ``hdr``. RangeError: no pairs, ``constant`` outside [-1, 1].
            DTypeError, ShapeError, RangeError: a pair's images invalid.

    Example:
        >>> scores = evaluate(HybridAutoencoder(width=4, pretrained=False), held_out_pairs(64, (0.0,), ("srgb",)))
        >>> [key.split("/")[0] for key in scores if key.endswith("/hybrid")]
        ['checkerboard', 'l1_log', 'psnr_log', 'psnr_log_project', 'psnr_tm', 'ssim_log', 'ssim_tm']
    """
    if constant is not None and (isinstance(constant, bool) or not isinstance(constant, (int, float))
                                 or not -1 <= constant <= 1):
        raise RangeError(describe("constant as a number in [-1, 1] (the log domain's range)", repr(constant),
                                  "Pass best_constant(validation pairs), or None for no constant row."))
    _check_model(model)
    if expandnet_model is not None:
        check_module(expandnet_model, "expandnet_model", expandnet.ExpandNet)
    totals: dict[str, float] = {}
    for pair in check_records(pairs, "pairs", ("ldr", "hdr")):
        ldr, hdr = pair["ldr"], pair["hdr"]
        target, stats = to_log_domain(hdr)
        output = predict(model, ldr)
        radiance = {"hybrid": from_log_domain(output, stats), **expandnet.baseline_hdrs(ldr)}
        if expandnet_model is not None:
            radiance["expandnet"] = expandnet.predict(expandnet_model, ldr)
        logs = {"hybrid": output, **{m: to_log_domain(r)[0] for m, r in radiance.items() if m != "hybrid"},
                "target_mean": torch.full_like(target, float(target.mean()))}
        if constant is not None:
            logs["constant"] = torch.full_like(target, constant)
        scores = {"checkerboard/hybrid": checkerboard_score(output), "checkerboard/target": checkerboard_score(target)}
        for method, candidate in logs.items():
            scores.update({f"{k}/{method}": v for k, v in _log_scores(candidate, target).items()})
        for method, candidate in radiance.items():
            scores[f"psnr_tm/{method}"] = float(tonemapped_psnr(candidate, hdr))
            scores[f"ssim_tm/{method}"] = float(tonemapped_ssim(candidate, hdr))
        for key, value in scores.items():
            totals[key] = totals.get(key, 0.0) + value
    return {key: total / len(pairs) for key, total in sorted(totals.items())}


#: The columns of :func:`results_table`: title, score name, format.
_RESULT_COLUMNS = (("log PSNR", "psnr_log", ".2f"), ("log PSNR (project's def.)", "psnr_log_project", ".2f"),
                   ("log SSIM", "ssim_log", ".3f"), ("log L1", "l1_log", ".3f"), ("TM PSNR", "psnr_tm", ".2f"),
                   ("TM SSIM", "ssim_tm", ".3f"))


def results_table(scores: dict[str, float], project: bool = True) -> str:
    """The rows of :func:`evaluate` as text: log-domain PSNR (two definitions) / SSIM / L1, tone-mapped PSNR / SSIM.

    A score a row lacks (the input-free rows have no tone-mapped scores) prints as ``-``.

    Args:
        scores: :func:`evaluate`'s dict.
        project: add the project's reported row (:data:`PROJECT_SCORES`, in its own PSNR definition).

    Raises:
        DTypeError: ``scores`` not a mapping of metric names to numbers; ``project`` not a bool.

    Example:
        >>> print(results_table({"psnr_log/ldr": 9.0, "psnr_log_project/ldr": 2.98, "ssim_log/ldr": 0.5,
        ...                      "l1_log/ldr": 0.4, "psnr_tm/ldr": 15.0, "ssim_tm/ldr": 0.6}, project=False))
        method  log PSNR  log PSNR (project's def.)  log SSIM  log L1  TM PSNR  TM SSIM
        ldr         9.00                       2.98     0.500   0.400    15.00    0.600
    """
    check_scores(scores)
    check_bool(project, "project")
    methods = list(dict.fromkeys(key.split("/")[1] for key in scores if key.startswith("psnr_log/")))
    rows = [[m, *(format(scores[f"{name}/{m}"], fmt) if f"{name}/{m}" in scores else "-"
                  for _, name, fmt in _RESULT_COLUMNS)] for m in methods]
    if project:
        rows.append(["project (paper: SingleHDR real pairs, validation)",
                     *(format(PROJECT_SCORES[name], fmt) if name in PROJECT_SCORES else "-"
                       for _, name, fmt in _RESULT_COLUMNS)])
    return multiexposure._table(["method", *(title for title, _, _ in _RESULT_COLUMNS)], rows)


def upsampler_table(results: dict[str, dict[str, float]]) -> str:
    """The upsampler study as text: checkerboard score and log / tone-mapped PSNR per upsampler.

    Args:
        results: ``{upsampler: evaluate(...) scores}``.

    Raises:
        DTypeError: ``results`` not a mapping of names to :func:`evaluate` scores with the four scores shown.

    Example:
        >>> print(upsampler_table({"resize_conv": {"checkerboard/hybrid": 0.002, "checkerboard/target": 0.0001,
        ...                                        "psnr_log/hybrid": 20.0, "psnr_tm/hybrid": 18.0}}))
        upsampler    checkerboard  target  log PSNR  TM PSNR
        resize_conv        0.0020  0.0001     20.00    18.00
    """
    check_mapping(results, "results")
    for name, s in results.items():
        check_scores(s, f"results[{name!r}]", ("checkerboard/hybrid", "checkerboard/target", "psnr_log/hybrid",
                                               "psnr_tm/hybrid"))
    rows = [[name, f"{s['checkerboard/hybrid']:.4f}", f"{s['checkerboard/target']:.4f}",
             f"{s['psnr_log/hybrid']:.2f}", f"{s['psnr_tm/hybrid']:.2f}"] for name, s in results.items()]
    return multiexposure._table(["upsampler", "checkerboard", "target", "log PSNR", "TM PSNR"], rows)


def training_data(settings: Settings, data_root: str | os.PathLike | None = None, seed: int = 0) -> Dataset:
    """Training pairs: crops of the embedded training scenes, or the cleaned real pairs under ``data_root``.

    Embedded: :class:`~hdrlab.data.datasets.LDRHDRPairs` (``settings.samples`` crops per epoch, random
    curves, flips and rotations, the profile's EVs). Real: :class:`CleanedPairs` of the SingleHDR layout.

    Raises:
        DTypeError: ``settings`` not a :class:`Settings`, ``data_root`` not a path. DTypeError, RangeError: ``seed``
            not an int >= 0. MissingFileError: ``data_root`` not in the SingleHDR layout.
    """
    _check_settings(settings)
    check_int(seed, "seed", 0)
    if data_root is None:
        return LDRHDRPairs("train", size=settings.embedded_size, max_side=settings.train_max_side,
                           samples=settings.samples, evs=settings.train_evs, seed=seed)
    return CleanedPairs(as_path(data_root, "data_root"), size=settings.size, max_side=settings.train_max_side, seed=seed)


def train_hybrid(
    out_dir: str | os.PathLike,
    profile: str = "auto",
    *,
    resume: bool | str = False,
    overwrite: bool = False,
    steps: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: str = "auto",
    ablation: str | None = None,
    data_root: str | os.PathLike | None = None,
    pretrained: bool | str = "auto",
    expandnet_model: nn.Module | None = None,
) -> tuple[HybridAutoencoder, train.FitResult]:
    """Train the hybrid autoencoder with :func:`hdrlab.train.fit`; evaluate on the held-out scenes.

    Steps: ``epochs * ceil(len(data) / batch_size)`` (``steps`` overrides).
    Adam with the profile's betas over the decoder (the frozen encoder has no
    gradients); :class:`HybridLoss` (L1 + LPIPS(vgg)) on the log-domain target.
    Writes ``settings.json`` (with ``ablation``, ``data_root``, ``steps`` and
    whether the ImageNet encoder and LPIPS backbone were loaded), ``metrics.csv``
    and ``checkpoints/`` to ``out_dir``.

    Args:
        out_dir: run folder.
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"`` (:data:`PROFILES`).
        resume: ``True`` continues from the latest checkpoint in ``out_dir``; ``"auto"`` continues, or
            loads a finished run, when there is one and trains otherwise (see :func:`hdrlab.train.fit`).
        overwrite: train again from scratch, replacing the run in ``out_dir`` (``FRESH = True``).
        steps: override the number of optimiser steps.
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        seed: seeds the decoder's weights and the data.
        progress: see :func:`hdrlab.train.fit`.
        ablation: None (the profile's settings) or a key of :data:`ABLATIONS` (an upsampler, or the code's
            loss weights).
        data_root: a SingleHDR-layout folder (``LDR_in/``, ``HDR_gt/``) to train on, or None for the embedded scenes.
        pretrained: ImageNet MobileNetV3 and LPIPS VGG weights: True, False or ``"auto"`` (prints what it used).
        expandnet_model: a trained ExpandNet, scored beside the model at each evaluation (None: not scored).

    Returns:
        ``(model, result)``: the trained model in eval mode and the fit result (``result.last_eval``: final scores).

    Raises:
        ChoiceError: unknown profile, ablation, device, progress, ``resume`` or ``pretrained``; a run in ``out_dir``
            with other settings to continue.
        DTypeError: ``out_dir`` or ``data_root`` not a path, ``overwrite`` not a bool, ``expandnet_model`` not an
            ExpandNet; DTypeError, RangeError: ``steps`` or ``seed`` not an int (>= 1, >= 0). All of these are
            checked before anything is built or trained.
        MissingFileError: ``resume`` without a checkpoint; ``data_root`` not in the SingleHDR layout.
        MissingWeightsError: ``pretrained=True`` offline.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as run:
        ...     model, result = train_hybrid(run, "quick", steps=1, progress="none", pretrained=False)
        >>> result.step, "psnr_log/hybrid" in result.last_eval
        (1, True)

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    settings = settings_for(profile, ablation)
    out = train.check_run_options(out_dir, resume=resume, overwrite=overwrite, device=device, progress=progress)
    check_pretrained(pretrained)
    if steps is not None:
        check_int(steps, "steps", 1)
    if data_root is not None:
        as_path(data_root, "data_root")
    if expandnet_model is not None:
        check_module(expandnet_model, "expandnet_model", expandnet.ExpandNet)
    env.seed_everything(seed)
    model = build_model(settings, pretrained)
    criterion = HybridLoss(settings.l1_weight, settings.lpips_weight, settings.alpha, pretrained=pretrained)
    data = training_data(settings, data_root, seed)
    per_epoch = math.ceil(len(data) / settings.batch_size)
    total = settings.epochs * per_epoch if steps is None else steps
    pairs = held_out_pairs(settings.eval_max_side, settings.eval_evs, settings.eval_crfs)
    constant = best_constant(held_out_pairs(settings.eval_max_side, settings.eval_evs, settings.eval_crfs, split="val"))
    record = {**asdict(settings), "ablation": ablation, "steps": total,
              "data_root": None if data_root is None else str(data_root),
              "imagenet_encoder": model.pretrained_backbone, "lpips_backbone": criterion.pretrained_backbone}
    train.write_settings(out, record, resume=resume, overwrite=overwrite)
    result = train.fit(
        model, data, functools.partial(loss_terms, criterion=criterion), steps=total,
        batch_size=settings.batch_size,
        optimizer=functools.partial(torch.optim.Adam, lr=settings.lr, betas=settings.betas),
        evaluate=functools.partial(evaluate, pairs=pairs, expandnet_model=expandnet_model, constant=constant),
        eval_every=min(total, settings.eval_every_epochs * per_epoch), out_dir=out,
        checkpoint_every=min(total, settings.checkpoint_every_epochs * per_epoch), resume=resume,
        overwrite=overwrite, device=device, seed=seed, progress=progress,
    )
    return model.eval(), result


#: The keys of a run's ``settings.json`` that :func:`load_trained` rebuilds the model from, and the run's own keys.
_MODEL_KEYS = ("upsampler", "width", "rescale_input")
_RUN_KEYS = ("ablation", "steps", "data_root", "imagenet_encoder", "lpips_backbone")


def load_trained(run_dir: str | os.PathLike, device: str = "cpu") -> HybridAutoencoder:
    """The model of a finished (or interrupted) run: its newest checkpoint, built from its ``settings.json``.

    The checkpoint holds the encoder's weights too (ImageNet or random, as trained), so nothing is downloaded.

    Args:
        run_dir: the ``out_dir`` of :func:`train_hybrid`.
        device: where to put the model.

    Returns:
        The model in eval mode.

    Raises:
        MissingFileError: no ``settings.json`` or no checkpoint in ``run_dir``. DTypeError: ``run_dir`` not a path.
        FileFormatError: ``settings.json`` empty, corrupt, not a JSON object, or with missing or unknown keys.
        DTypeError, RangeError, ChoiceError: a recorded setting invalid; ChoiceError: an unknown device.
    """
    record, checkpoint = train.read_run(run_dir, "hybrid")
    check_record_keys(record, _MODEL_KEYS, f"{run_dir}/settings.json",
                      [*(f.name for f in fields(Settings)), *_RUN_KEYS])
    model = HybridAutoencoder(record["upsampler"], record["width"], pretrained=False,
                              rescale_input=record["rescale_input"])
    train.load_weights(checkpoint, model)
    return model.to(env.device(device)).eval()
