"""Display transforms and HDR range compressions.

Luminance, sRGB and gamma encoding, Reinhard's global and local (dodging and
burning) operators, Drago's adaptive logarithmic and Mantiuk's contrast-domain
operators (as OpenCV implements them), mu-law compression, a log-luminance display, and the robust
normalisations papers apply before HDR metrics. :data:`TONEMAPS` names the tone
maps that :mod:`hdrlab.metrics` applies before comparing images.

Conventions: radiance is linear, ``>= 0``, shape ``(*, 3, H, W)``, and is never
altered in place; display images are in [0, 1]. The only way from radiance to
8-bit is an explicit tone map such as :func:`reinhard_global` followed by
:func:`srgb_encode`. Every clip to [0, 1] here is an explicit display (or
metric-preparation) step and says so.

References:
    Reinhard, Stark, Shirley, Ferwerda, "Photographic tone reproduction for
    digital images", SIGGRAPH 2002. IEC 61966-2-1 (sRGB). Kalantari &
    Ramamoorthi, "Deep high dynamic range imaging of dynamic scenes", SIGGRAPH
    2017 (mu-law).

Taught in: notebooks/00_getting_started.ipynb, notebooks/01_camera_pipeline_debevec.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from hdrlab.errors import ChoiceError, RangeError, ShapeError, describe
from hdrlab.validate import (
    check_bool,
    check_image,
    check_ldr,
    check_nonnegative,
    check_number,
    check_positive,
    check_radiance,
)

__all__ = [
    "REC709_LUMA", "NORMALIZATIONS", "TONEMAPS", "luminance", "srgb_encode", "srgb_decode", "gamma_encode",
    "log_average_luminance", "reinhard_global", "reinhard_local", "mu_law", "log_display", "hdr_scale",
    "normalize_hdr", "apply_tonemap", "OPENCV_LUMA", "drago", "mantiuk", "reinhard_devlin",
]

#: Rec. 709 / sRGB luminance weights for linear RGB.
REC709_LUMA = (0.2126, 0.7152, 0.0722)
#: Statistics that :func:`hdr_scale` can divide by.
NORMALIZATIONS = ("max", "percentile", "mean")
_EPS = 1e-6  # keeps log() finite on black pixels in the log-average
_ALPHA1 = 1 / (2 * math.sqrt(2))  # Reinhard et al. 2002: centre profile; the surround's is 1.6 times wider
_SCALE_RATIO = 1.6  # successive scales s_i = 1.6^i, so the surround at s_i is the centre at s_(i+1)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luminance of linear RGB.

    Args:
        image: ``(*, 3, H, W)`` linear RGB (radiance or linearised LDR).

    Returns:
        ``(*, 1, H, W)`` luminance, same dtype.

    Raises:
        ShapeError, DTypeError, RangeError: see :func:`hdrlab.validate.check_image`.

    Example:
        >>> luminance(torch.ones(3, 2, 2)).squeeze().tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    check_image(image)
    return _luma(image)


def _luma(image: torch.Tensor) -> torch.Tensor:
    """:func:`luminance` without the input checks, for callers that already validated."""
    weights = torch.tensor(REC709_LUMA, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return (image * weights).sum(dim=-3, keepdim=True)


# Where sRGB's linear segment meets its power segment. The IEC's rounded 0.0031308 /
# 0.04045 leave the two segments overlapping by ~3e-8, so encode and decode would
# not be exact inverses there; these continuous-knee values differ by < 2e-6.
_SRGB_KNEE_LINEAR = 0.00313066844250063
_SRGB_KNEE_ENCODED = 12.92 * _SRGB_KNEE_LINEAR


def srgb_encode(linear: torch.Tensor) -> torch.Tensor:
    """sRGB opto-electronic transfer function (IEC 61966-2-1), [0, 1] -> [0, 1].

    Args:
        linear: ``(*, 3, H, W)`` linear values in [0, 1]; tone map radiance first.

    Returns:
        Encoded values in [0, 1], same shape.

    Raises:
        RangeError: values outside [0, 1].

    Example:
        >>> round(float(srgb_encode(torch.full((3, 1, 1), 0.18))[0, 0, 0]), 4)
        0.4614
    """
    check_ldr(linear, "linear display values")
    # 1.055 x^(1/2.4) - 0.055, written so that x = 1 maps to exactly 1 in float32
    power = 1 + 1.055 * (linear.clamp_min(_SRGB_KNEE_LINEAR) ** (1 / 2.4) - 1)
    return torch.where(linear <= _SRGB_KNEE_LINEAR, 12.92 * linear, power)


def srgb_decode(encoded: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`srgb_encode`, [0, 1] -> [0, 1].

    Example:
        >>> x = torch.rand(3, 4, 4)
        >>> bool(torch.allclose(srgb_decode(srgb_encode(x)), x, atol=1e-6))
        True
    """
    check_ldr(encoded, "sRGB-encoded values")
    power = ((encoded.clamp_min(_SRGB_KNEE_ENCODED) + 0.055) / 1.055) ** 2.4
    return torch.where(encoded <= _SRGB_KNEE_ENCODED, encoded / 12.92, power)


def gamma_encode(linear: torch.Tensor, gamma: float = 2.2) -> torch.Tensor:
    """Pure power-law display encoding ``x ** (1 / gamma)``, [0, 1] -> [0, 1].

    The simple stand-in for :func:`srgb_encode` that many papers use. Its
    gradient is infinite at 0: as a training loss prefer :func:`mu_law`.

    Args:
        linear: ``(*, 3, H, W)`` linear values in [0, 1]; tone map or
            :func:`normalize_hdr` radiance first.
        gamma: display gamma, > 0 (2.2 for a typical monitor).

    Returns:
        Encoded values in [0, 1], same shape.

    Raises:
        RangeError: values outside [0, 1], or ``gamma <= 0``.
        DTypeError: ``gamma`` not a number.

    Example:
        >>> round(float(gamma_encode(torch.full((3, 1, 1), 0.5))[0, 0, 0]), 4)
        0.7297

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    check_ldr(linear, "linear display values")
    check_positive(gamma, "gamma")
    return linear ** (1 / gamma)


def log_average_luminance(radiance: torch.Tensor) -> torch.Tensor:
    """Geometric mean of luminance per image, ``exp(mean(log(eps + L)))``.

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0``.

    Returns:
        ``(*, 1, 1, 1)`` log-average luminance (broadcasts against the image).

    Example:
        >>> float(log_average_luminance(torch.full((3, 2, 2), 2.0)).flatten()[0])
        2.0
    """
    check_radiance(radiance)
    return _log_average(_luma(radiance))


def _log_average(lum: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.log(lum + _EPS).mean(dim=(-3, -2, -1), keepdim=True)) - _EPS


def _check_key(key: float) -> None:
    check_positive(key, "key")
    if not key <= 1:
        raise RangeError(describe("key in (0, 1]", repr(key), "Use 0.18 for average scenes, lower for dark ones."))


def _scaled_luminance(radiance: torch.Tensor, key: float) -> tuple[torch.Tensor, torch.Tensor]:
    """World luminance ``L_w`` and Reinhard's scaled luminance ``key * L_w / L_avg``, both ``(*, 1, H, W)``."""
    lum = _luma(radiance)
    return lum, key * lum / (_log_average(lum) + _EPS)


def _burn_white(scaled: torch.Tensor, white: float | None) -> torch.Tensor:
    """Numerator of Reinhard's operators: ``L`` or ``L (1 + L / white^2)``."""
    if white is None:
        return scaled
    check_positive(white, "white")
    return scaled * (1 + scaled / white**2)


def _recolour(radiance: torch.Tensor, lum: torch.Tensor, display_lum: torch.Tensor) -> torch.Tensor:
    """Scale RGB by ``display_lum / lum`` (colour kept, black stays black), then clip to [0, 1] for display."""
    ratio = torch.where(lum > 0, display_lum / lum.clamp_min(1e-12), torch.zeros_like(lum))
    return (radiance * ratio).clamp(0, 1)


def reinhard_global(radiance: torch.Tensor, key: float = 0.18, white: float | None = None) -> torch.Tensor:
    """Reinhard's global photographic operator, applied to luminance, colour kept.

    ``L_s = key * L / L_avg``; ``L_d = L_s (1 + L_s / white^2) / (1 + L_s)``
    (``white=None`` gives ``L_s / (1 + L_s)``); each RGB channel is scaled by
    ``L_d / L``, then the result is clipped to [0, 1] *as a display step* (the
    operator's output range; radiance itself is never altered).

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0``, any scale.
        key: target middle grey in (0, 1]; 0.18 is the classic value.
        white: smallest scaled luminance mapped to pure white, > 0, or None.

    Returns:
        ``(*, 3, H, W)`` linear display values in [0, 1]; encode with
        :func:`srgb_encode` to show them.

    Raises:
        RangeError: negative/NaN radiance, ``key`` not in (0, 1], ``white <= 0``.
        DTypeError: ``key`` or ``white`` not a number.

    Example:
        >>> out = reinhard_global(torch.full((3, 2, 2), 5.0))
        >>> round(float(out[0, 0, 0]), 4)  # a uniform image maps to key / (1 + key)
        0.1525
    """
    check_radiance(radiance)
    _check_key(key)
    lum, scaled = _scaled_luminance(radiance, key)
    return _recolour(radiance, lum, _burn_white(scaled, white) / (1 + scaled))


def _gaussian_blurs(image: torch.Tensor, sigmas: list[float]) -> torch.Tensor:
    """Blur ``(N, 1, H, W)`` with each Gaussian in ``sigmas`` -> ``(N, len(sigmas), H, W)``.

    One separable convolution for all scales: each kernel is cut at 3 sigma,
    zero-padded to the widest one and sums to 1; image edges are replicated.
    """
    radius = max(1, math.ceil(3 * max(sigmas)))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    sigma = torch.tensor(sigmas, dtype=image.dtype, device=image.device).view(-1, 1)
    kernels = torch.exp(-(offsets**2) / (2 * sigma**2)) * (offsets.abs() <= (3 * sigma).ceil().clamp_min(1))
    kernels = kernels / kernels.sum(dim=-1, keepdim=True)
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, kernels.view(len(sigmas), 1, 1, -1))
    return F.conv2d(rows, kernels.view(len(sigmas), 1, -1, 1), groups=len(sigmas))


def _local_adaptation(scaled: torch.Tensor, key: float, phi: float, epsilon: float, scales: int) -> torch.Tensor:
    """``V1`` at each pixel's chosen scale (Reinhard et al. 2002, eqs. 5-9), ``(*, 1, H, W)``."""
    sizes = [_SCALE_RATIO**i for i in range(scales + 1)]
    # profile exp(-r^2 / (alpha s)^2) is a Gaussian with sigma = alpha s / sqrt(2)
    blurs = _gaussian_blurs(scaled.reshape(-1, 1, *scaled.shape[-2:]), [_ALPHA1 * s / math.sqrt(2) for s in sizes])
    centre, surround = blurs[:, :-1], blurs[:, 1:]
    s = torch.tensor(sizes[:-1], dtype=scaled.dtype, device=scaled.device).view(-1, 1, 1)
    activity = (centre - surround) / (2**phi * key / s**2 + centre)
    # the largest scale such that it and every smaller scale satisfy |V| < epsilon (the smallest if none does)
    passing = (activity.abs() < epsilon).to(torch.int64).cumprod(dim=1).sum(dim=1, keepdim=True)
    return centre.gather(1, (passing - 1).clamp_min(0)).reshape(scaled.shape)


def reinhard_local(
    radiance: torch.Tensor,
    key: float = 0.18,
    phi: float = 8.0,
    epsilon: float = 0.05,
    scales: int = 8,
    white: float | None = None,
) -> torch.Tensor:
    """Reinhard's local photographic operator ("dodging and burning"), colour kept.

    ``L = key * L_w / L_avg`` as in :func:`reinhard_global`. ``V1(s)``, ``V2(s)``
    are ``L`` blurred with the paper's Gaussian profiles ``exp(-r^2 / (a s)^2)``,
    ``a1 = 1 / (2 sqrt 2)``, ``a2 = 1.6 a1``, at scales ``s_i = 1.6^i`` pixels,
    ``i = 0 .. scales - 1``. The activity ``V = (V1 - V2) / (2^phi key / s^2 + V1)``
    picks, per pixel, the largest scale such that ``|V| < epsilon`` holds there
    and at every smaller scale (the smallest scale if none passes): the widest
    neighbourhood without a strong edge. Then
    ``L_d = L (1 + L / white^2) / (1 + V1(s_chosen))`` (``white=None``:
    ``L / (1 + V1)``), RGB is scaled by ``L_d / L_w`` and clipped to [0, 1] as a
    display step. On a uniform image ``V1 = L`` and this equals
    :func:`reinhard_global`. Blurs are separable convolutions with replicated
    edges; a 512x256 image takes well under a second on a CPU.

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0``, any scale.
        key: target middle grey in (0, 1].
        phi: sharpening parameter, > 0 (the paper uses 8).
        epsilon: activity threshold, > 0 (the paper uses 0.05).
        scales: number of scales, an integer >= 1 (the paper uses 8).
        white: scaled luminance mapped to white, > 0, or None (no burn-out term).

    Returns:
        ``(*, 3, H, W)`` linear display values in [0, 1]; encode with
        :func:`srgb_encode` to show them. Differentiable in ``radiance`` (the
        scale selection is piecewise constant).

    Raises:
        RangeError: negative/NaN radiance; ``key``, ``phi``, ``epsilon``,
            ``scales`` or ``white`` out of range.
        DTypeError: ``key``, ``phi``, ``epsilon`` or ``white`` not a number.

    Example:
        >>> out = reinhard_local(torch.full((3, 8, 8), 5.0))
        >>> round(float(out[0, 0, 0]), 4)  # uniform: the same as reinhard_global
        0.1525

    References:
        Reinhard, Stark, Shirley, Ferwerda, "Photographic tone reproduction
        for digital images", SIGGRAPH 2002, section 3.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    check_radiance(radiance)
    _check_key(key)
    check_positive(phi, "phi")
    check_positive(epsilon, "epsilon")
    if isinstance(scales, bool) or not isinstance(scales, int) or scales < 1:
        raise RangeError(describe("scales an integer >= 1", repr(scales), "Use 8, the paper's value."))
    lum, scaled = _scaled_luminance(radiance, key)
    adaptation = _local_adaptation(scaled, key, phi, epsilon, scales)
    return _recolour(radiance, lum, _burn_white(scaled, white) / (1 + adaptation))


def mu_law(hdr: torch.Tensor, mu: float = 5000.0) -> torch.Tensor:
    """Mu-law range compression ``log(1 + mu x) / log(1 + mu)``, [0, 1] -> [0, 1].

    The differentiable tone curve of Kalantari & Ramamoorthi's HDR losses (and
    ExpandNet-style training, and :func:`hdrlab.metrics.mu_psnr`). It expects
    HDR values already normalised to [0, 1]; it never clips them itself.

    Args:
        hdr: ``(*, 3, H, W)`` linear HDR values normalised to [0, 1], e.g. by
            :func:`normalize_hdr`.
        mu: compression strength, > 0 (5000 in the paper).

    Returns:
        Compressed values in [0, 1], same shape; ``mu_law(1) == 1``.

    Raises:
        RangeError: values outside [0, 1] or NaN, or ``mu <= 0``.

    Example:
        >>> mu_law(torch.tensor([0.0, 1.0]).view(1, 1, 2).expand(3, 1, 2))[0].tolist()
        [[0.0, 1.0]]

    References:
        Kalantari & Ramamoorthi, "Deep high dynamic range imaging of dynamic
        scenes", SIGGRAPH 2017, eq. 3.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    check_image(hdr, "normalised HDR image")
    check_positive(mu, "mu")
    if hdr.numel() and (hdr.min() < 0 or hdr.max() > 1):
        raise RangeError(
            describe(
                "HDR values normalised to [0, 1]",
                f"values in [{float(hdr.min()):.4g}, {float(hdr.max()):.4g}]",
                "Normalise first (normalize_hdr(hdr)), which divides by a robust maximum and clips explicitly.",
            )
        )
    return torch.log1p(mu * hdr) / math.log1p(mu)


def _nanquantile(values: torch.Tensor, q: float) -> torch.Tensor:
    """Linear-interpolated ``q``-quantile along the last dim, ignoring NaN; each row needs one number.

    Sort-based, so unlike ``torch.quantile`` it has no input-size limit.
    """
    ordered = values.sort(dim=-1).values  # NaN sorts last
    position = q * ((~values.isnan()).sum(dim=-1, keepdim=True) - 1)
    low, high = ordered.gather(-1, position.floor().long()), ordered.gather(-1, position.ceil().long())
    return (low + (high - low) * (position - position.floor())).squeeze(-1)


def _check_percentiles(low: float, high: float) -> None:
    if not 0 <= check_number(low, "low_percentile") < check_number(high, "high_percentile") <= 100:
        raise RangeError(
            describe("0 <= low_percentile < high_percentile <= 100", f"{low!r}, {high!r}", "Use e.g. 0.1 and 99.9.")
        )


def log_display(
    radiance: torch.Tensor, low_percentile: float = 0.1, high_percentile: float = 99.9, colour: bool = True
) -> torch.Tensor:
    """Log luminance mapped linearly to [0, 1] between two percentiles of each image.

    ``d = (log L - log L_low) / (log L_high - log L_low)``, clipped to [0, 1] as
    a display step, where the percentiles are taken over each image's pixels
    with ``L > 0``; black pixels map to 0 and a uniform image to 0.5. Every
    stop of the image gets the same share of the display range, which is what
    a false-colour map of an HDR scene needs.

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0``.
        low_percentile: percentile (0-100) of log luminance mapped to 0.
        high_percentile: percentile (0-100) mapped to 1; above ``low_percentile``.
        colour: True scales RGB by ``d / L`` (hue kept; saturated colours clip);
            False returns grey (three equal channels: take ``[..., 0, :, :]``
            for a colormap).

    Returns:
        ``(*, 3, H, W)`` display values in [0, 1].

    Raises:
        RangeError: negative/NaN radiance, non-finite percentiles or percentiles out of order.
        DTypeError: a percentile not a number, ``colour`` not True/False.

    Example:
        >>> ramp = (2.0 ** torch.arange(5.0)).view(1, 1, 5).expand(3, 1, 5)
        >>> log_display(ramp, 0, 100, colour=False)[0, 0].tolist()  # equal steps per stop
        [0.0, 0.25, 0.5, 0.75, 1.0]

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    check_radiance(radiance)
    _check_percentiles(low_percentile, high_percentile)
    check_bool(colour, "colour")
    lum = _luma(radiance)
    log_lum = torch.where(lum > 0, lum.clamp_min(1e-30).log(), torch.full_like(lum, math.nan))
    flat = log_lum.flatten(-3)
    shape = (*lum.shape[:-3], 1, 1, 1)
    black = flat.isnan().all(dim=-1).view(shape)
    filled = torch.where(black.flatten(-3), torch.zeros_like(flat), flat)  # an all-black image has no percentiles
    low = _nanquantile(filled, low_percentile / 100).view(shape)
    high = _nanquantile(filled, high_percentile / 100).view(shape)
    spread = torch.where(high > low, (log_lum - low) / (high - low).clamp_min(1e-12), torch.full_like(lum, 0.5))
    display_lum = torch.where(lum > 0, spread, torch.zeros_like(lum)).clamp(0, 1)
    if colour:
        return _recolour(radiance, lum, display_lum)
    return display_lum.expand_as(radiance).clone()


def hdr_scale(hdr: torch.Tensor, method: str = "percentile", percentile: float = 99.0) -> torch.Tensor:
    """The per-image statistic :func:`normalize_hdr` divides by.

    Args:
        hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``.
        method: one of :data:`NORMALIZATIONS`: ``"max"`` (largest RGB value),
            ``"percentile"`` (``percentile``-th percentile of luminance, robust
            to a few hot pixels) or ``"mean"`` (mean luminance).
        percentile: in (0, 100], used by ``"percentile"``.

    Returns:
        ``(*, 1, 1, 1)`` positive scale, broadcasting against the image.

    Raises:
        ChoiceError: unknown ``method``.
        RangeError: negative/NaN radiance, ``percentile`` out of range, or a
            scale of 0 (an image that is black at that statistic).
        DTypeError: ``percentile`` not a number.

    Example:
        >>> float(hdr_scale(torch.full((3, 2, 2), 4.0), "max").flatten()[0])
        4.0

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    check_radiance(hdr)
    if method not in NORMALIZATIONS:
        raise ChoiceError(describe(f"method one of {NORMALIZATIONS}", repr(method), "Use 'percentile' (robust)."))
    if not 0 < check_number(percentile, "percentile") <= 100:
        raise RangeError(describe("percentile in (0, 100]", repr(percentile), "Use 99.0, or method='max'."))
    lum = _luma(hdr).flatten(-3)
    if method == "max":
        scale = hdr.flatten(-3).amax(dim=-1)
    elif method == "percentile":
        scale = _nanquantile(lum, percentile / 100)
    else:
        scale = lum.mean(dim=-1)
    if (scale <= 0).any():
        raise RangeError(
            describe(
                f"images with a positive {method} statistic",
                f"{int((scale <= 0).sum())} image(s) with scale 0",
                "Drop black images, or use method='max' or a higher percentile for mostly-black ones.",
            )
        )
    return scale.view(*scale.shape, 1, 1, 1)


def normalize_hdr(
    hdr: torch.Tensor,
    method: str = "percentile",
    percentile: float = 99.0,
    clip: bool = True,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """Divide each image by a robust maximum (and clip to [0, 1]): the step papers take before HDR metrics.

    This is *metric preparation*, not radiance processing: with ``clip=True``
    everything above the scale saturates at 1 explicitly (the few hottest
    pixels for ``"percentile"``; everything above average for ``"mean"``, so
    use ``clip=False`` with it). The input is not modified.

    Args:
        hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``.
        method: ``"max"``, ``"percentile"`` or ``"mean"``; see :func:`hdr_scale`.
        percentile: in (0, 100], for ``"percentile"``.
        clip: clip the result to [0, 1].
        reference: ``(*, 3, H, W)`` radiance whose scale is used instead of
            ``hdr``'s own (e.g. normalise a prediction by its target's scale);
            its leading dims must match ``hdr``'s.

    Returns:
        ``hdr / scale`` (clipped to [0, 1] when ``clip``), same shape.

    Raises:
        ChoiceError, RangeError: see :func:`hdr_scale`.
        ShapeError: ``reference`` leading dims differ from ``hdr``'s.
        DTypeError: ``clip`` not True/False.

    Example:
        >>> hdr = torch.ones(3, 20, 20)
        >>> hdr[:, 0, 0] = 1e6  # one hot pixel
        >>> float(normalize_hdr(hdr).median())  # the rest keeps its level
        1.0

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    check_radiance(hdr)
    check_bool(clip, "clip")
    if reference is None:
        reference = hdr
    check_radiance(reference, "reference radiance")
    if reference.shape[:-3] != hdr.shape[:-3]:
        raise ShapeError(
            describe(
                f"reference with leading dims {tuple(hdr.shape[:-3])} (one scale per image)",
                f"shape {tuple(reference.shape)}",
                "Pass the matching batch of reference images.",
            )
        )
    normalised = hdr / hdr_scale(reference, method, percentile)
    return normalised.clamp(0, 1) if clip else normalised


def _mu_law_display(radiance: torch.Tensor, mu: float = 5000.0, **normalize: object) -> torch.Tensor:
    return mu_law(normalize_hdr(radiance, **normalize), mu)


def _gamma_display(radiance: torch.Tensor, gamma: float = 2.2, **normalize: object) -> torch.Tensor:
    return gamma_encode(normalize_hdr(radiance, **normalize), gamma)


#: Tone maps by name: ``callable(radiance, **kwargs) -> (*, 3, H, W)`` display values in [0, 1].
#: ``"mu_law"`` and ``"gamma"`` first :func:`normalize_hdr` each image by its own
#: 99th luminance percentile (pass ``method=``/``percentile=`` to change it).
TONEMAPS: dict[str, Callable[..., torch.Tensor]] = {
    "reinhard": reinhard_global,
    "reinhard_local": reinhard_local,
    "mu_law": _mu_law_display,
    "log": log_display,
    "gamma": _gamma_display,
    "reinhard_devlin": lambda radiance, **kwargs: reinhard_devlin(radiance, **kwargs),  # defined below
}


def apply_tonemap(name: str, radiance: torch.Tensor, **kwargs: object) -> torch.Tensor:
    """Apply the tone map :data:`TONEMAPS` ``[name]`` to radiance.

    Args:
        name: a key of :data:`TONEMAPS`.
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0``.
        **kwargs: passed to the tone map (e.g. ``key=`` for ``"reinhard"``).

    Returns:
        ``(*, 3, H, W)`` display values in [0, 1].

    Raises:
        ChoiceError: unknown ``name``.

    Example:
        >>> apply_tonemap("gamma", torch.rand(3, 4, 4) * 100).shape
        torch.Size([3, 4, 4])

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    if name not in TONEMAPS:
        raise ChoiceError(describe(f"a tone map in {sorted(TONEMAPS)}", repr(name), "Pick one of those names."))
    return TONEMAPS[name](radiance, **kwargs)


# --- Drago (2003) and Mantiuk (2006), as OpenCV's photo module implements them ---------------------

#: OpenCV's grey (``cvtColor(..., COLOR_RGB2GRAY)``, Rec. 601 luma): pass as ``luma=`` to reproduce OpenCV.
OPENCV_LUMA = (0.299, 0.587, 0.114)
_OPENCV_FLOOR = 1e-6  # OpenCV's linear Tonemap raises every value to at least this before normalising
_OPENCV_LOG_FLOOR = 1e-4  # ... and takes logs of max(grey, 1e-4)
_MANTIUK_RESPONSE = 0.4185  # the contrast-response exponent of OpenCV's TonemapMantiuk
_MANTIUK_ITERATIONS, _MANTIUK_TOLERANCE = 100, 1e-3  # its conjugate-gradient budget and relative residual


def _on_worker(fn: Callable[..., torch.Tensor], *args: object) -> torch.Tensor:
    from hdrlab.imaging.crf import _on_worker as run  # here, not on top: crf imports this module

    return run(fn, *args)


def _check_luma(luma: object) -> tuple[float, float, float]:
    if not (isinstance(luma, (tuple, list)) and len(luma) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < math.inf for v in luma)
            and sum(luma) > 0):
        raise RangeError(describe("luma as three finite weights >= 0 with a positive sum", repr(luma),
                                  "Use REC709_LUMA (linear RGB) or OPENCV_LUMA (to reproduce OpenCV)."))
    return tuple(float(v) for v in luma)  # type: ignore[return-value]


def _normalise(image: torch.Tensor, gamma: float) -> torch.Tensor:
    """OpenCV's linear ``Tonemap``: ``max(x, 1e-6)``, ``(x - min) / (max - min)`` per image, ``^(1/gamma)``."""
    image = image.clamp_min(_OPENCV_FLOOR)
    low, high = image.amin(dim=(-3, -2, -1), keepdim=True), image.amax(dim=(-3, -2, -1), keepdim=True)
    image = torch.where(high - low > 0, (image - low) / (high - low).clamp_min(torch.finfo(image.dtype).tiny), image)
    return image if gamma == 1 else image ** (1 / gamma)


def _grey(image: torch.Tensor, luma: tuple[float, float, float]) -> torch.Tensor:
    red, green, blue = image.unbind(-3)
    return (red * luma[0] + green * luma[1] + blue * luma[2]).unsqueeze(-3)


def _map_luminance(image: torch.Tensor, grey: torch.Tensor, new_grey: torch.Tensor, saturation: float) -> torch.Tensor:
    """OpenCV's ``mapLuminance``: ``(RGB / grey)^saturation * new_grey``; black (grey 0) stays black."""
    ratio = torch.where(grey > 0, image / grey.clamp_min(torch.finfo(image.dtype).tiny), 0.0)
    return ratio**saturation * new_grey


def drago(radiance: torch.Tensor, gamma: float = 1.0, saturation: float = 1.0, bias: float = 0.85, *,
          luma: tuple[float, float, float] = REC709_LUMA) -> torch.Tensor:
    """Drago et al.'s adaptive logarithmic tone map, as ``cv2.createTonemapDrago(gamma, saturation, bias)``.

    Steps (OpenCV's): normalise the image to [0, 1] (:func:`_normalise`, values
    floored at 1e-6); grey ``L`` by ``luma``, divided by its log-average (logs of
    ``max(L, 1e-4)``); ``L_d = ln(1 + L) / ln(2 + 8 (L / L_max)^(ln bias / ln 0.5))``
    (the paper's eq. 4 without its constant factor, which the final normalisation
    removes); colour ``(RGB / L)^saturation * L_d``; normalise to [0, 1] again and
    apply ``1 / gamma``.

    Agreement with OpenCV (same parameters, ``luma=OPENCV_LUMA``, OpenCV given RGB
    order so that its RGB2GRAY weighs the right channels): max abs difference
    < 5e-3 (2.3e-3 on the benchmark's scenes, float rounding), over pixels whose
    normalised grey is above OpenCV's 1e-6 floor; at the floor both divide
    vanishing numbers. Unlike OpenCV, black pixels (grey 0) give 0, not NaN. With the default
    Rec. 709 grey the colours differ slightly.

    On the CPU it runs as one task on a single-threaded hdrlab worker (see
    ``merge_debevec``): no per-op fork-join that a busy machine would stall.

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0`` (any scale: it is normalised).
        gamma: display gamma > 0 applied at the end (OpenCV's default 1.0: linear output).
        saturation: colour exponent ``>= 0`` (1 keeps the ratios, 0 gives grey).
        bias: in (0, 1), Drago's bias ``b`` (0.85 in OpenCV and the paper).
        luma: grey weights of R, G, B.

    Returns:
        ``(*, 3, H, W)`` display values in [0, 1] (each image spans the whole range).

    Raises:
        DTypeError, ShapeError, RangeError: invalid radiance; RangeError for
        ``gamma <= 0``, negative saturation, ``bias`` outside (0, 1), bad ``luma``.

    Example:
        >>> radiance = torch.logspace(-2, 3, 16).view(1, 4, 4).expand(3, 4, 4)
        >>> out = drago(radiance)
        >>> float(out.min()), float(out.max()), bool((out.diff(dim=-1) >= 0).all())
        (0.0, 1.0, True)

    References:
        Drago, Myszkowski, Annen & Chiba, "Adaptive logarithmic mapping for
        displaying high contrast scenes", Eurographics 2003. OpenCV,
        modules/photo/src/tonemap.cpp (``TonemapDrago``).

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb (beside OpenCV); benchmarks/hdr_module_vs_opencv.py
    """
    check_radiance(radiance)
    check_positive(gamma, "gamma")
    check_nonnegative(saturation, "saturation")
    check_positive(bias, "bias")
    if not bias < 1:
        raise RangeError(describe("bias in (0, 1)", repr(bias), "Use 0.85 (the paper's and OpenCV's value)."))
    luma = _check_luma(luma)
    return _on_worker(_drago, radiance.detach(), gamma, saturation, bias, luma)


def _drago(radiance: torch.Tensor, gamma: float, saturation: float, bias: float,
           luma: tuple[float, float, float]) -> torch.Tensor:
    image = _normalise(radiance, 1.0)
    grey = _grey(image, luma)
    mean = grey.clamp_min(_OPENCV_LOG_FLOOR).log().mean(dim=(-3, -2, -1), keepdim=True).exp()
    grey = grey / mean
    peak = grey.amax(dim=(-3, -2, -1), keepdim=True)
    mapped = torch.log1p(grey) / torch.log(2 + 8 * (grey / peak) ** (math.log(bias) / math.log(0.5)))
    return _normalise(_map_luminance(image, grey, mapped, saturation), gamma)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(H, W)`` with half-pixel centres, no antialiasing (OpenCV's ``INTER_LINEAR``)."""
    return F.interpolate(x[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]


def _gradients(layer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y, 0 in the last column / row."""
    dx, dy = torch.zeros_like(layer), torch.zeros_like(layer)
    torch.sub(layer[:, 1:], layer[:, :-1], out=dx[:, :-1])
    torch.sub(layer[1:], layer[:-1], out=dy[:-1])
    return dx, dy


def _contrast_pyramid(image: torch.Tensor, levels: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """OpenCV's ``getContrast``: gradients of the image halved ``levels`` times (bilinear)."""
    pyramid = []
    for _ in range(levels):
        pyramid.append(_gradients(image))
        image = _resize(image, (image.shape[0] // 2, image.shape[1] // 2))
    return pyramid


def _divergence_sum(pyramid: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """OpenCV's ``calculateSum``: backward differences of each level's gradients, upsampled and summed."""
    total = torch.zeros_like(pyramid[-1][0])
    for dx, dy in reversed(pyramid):
        div_x, div_y = dx.clone(), dy.clone()
        torch.sub(dx[:, 1:], dx[:, :-1], out=div_x[:, 1:])
        torch.sub(dy[1:], dy[:-1], out=div_y[1:])
        total = _resize(total, tuple(dx.shape)) + (div_x + div_y)
    return total


def _mantiuk_log_grey(log_grey: torch.Tensor, scale: float) -> torch.Tensor:
    """Solve ``A x = A(log L) * factor`` by OpenCV's conjugate gradients from ``x = log L``; ``(H, W)``."""
    levels = int(np.float32(math.log(np.float32(min(log_grey.shape)))) / np.float32(math.log(2.0)))
    if levels == 0:
        return log_grey
    operator = lambda x: _divergence_sum(_contrast_pyramid(x, levels))  # noqa: E731
    factor = scale ** (1 / _MANTIUK_RESPONSE)  # OpenCV's mapContrast, sign(G) (scale |G|^p)^(1/p), is linear
    pyramid = [(dx * factor, dy * factor) for dx, dy in _contrast_pyramid(log_grey, levels)]
    right = _divergence_sum(pyramid)
    x = log_grey.clone()
    r = right - operator(x)
    p = r.clone()
    target = float((right * right).sum(dtype=torch.float64)) * _MANTIUK_TOLERANCE**2
    rr = float((r * r).sum(dtype=torch.float64))
    for _ in range(_MANTIUK_ITERATIONS):
        product = operator(p)
        curvature = float((p * product).sum(dtype=torch.float64))
        if curvature == 0 or rr == 0:
            break
        alpha = rr / curvature
        r.sub_(product, alpha=alpha)
        x.add_(p, alpha=alpha)
        new_rr = float((r * r).sum(dtype=torch.float64))
        p = r + (new_rr / rr) * p
        rr = new_rr
        if rr < target:
            break
    return x


def mantiuk(radiance: torch.Tensor, gamma: float = 1.0, scale: float = 0.7, saturation: float = 1.0, *,
            luma: tuple[float, float, float] = REC709_LUMA) -> torch.Tensor:
    """Mantiuk et al.'s contrast-domain tone map, as ``cv2.createTonemapMantiuk(gamma, scale, saturation)``.

    Steps (OpenCV's): normalise the image to [0, 1]; ``x = ln max(L, 1e-4)`` of its
    grey; the gradients of ``x`` at ``floor(log2(min(H, W)))`` scales (bilinear
    halving) are mapped through OpenCV's contrast response
    ``sign(G) (scale |G|^0.4185)^(1/0.4185)`` (which is ``G`` times a constant),
    and ``x`` is solved back from them by conjugate gradients on OpenCV's
    multi-scale divergence operator, from ``ln L``, at most 100 iterations or
    a relative residual of 1e-3; ``exp(x)`` recolours the image as in
    :func:`drago`; normalise again and apply ``1 / gamma``. (OpenCV's version
    keeps the paper's multi-scale contrast pyramid and its solver, with the
    contrast response reduced to that constant.)

    Agreement with OpenCV (same parameters, ``luma=OPENCV_LUMA``, RGB order):
    max abs difference < 5e-3 (1.8e-3 on the benchmark's scenes) over pixels whose
    normalised grey is above OpenCV's 1e-6 floor (the solver stops on float32
    residuals, as OpenCV's); at the floor both divide vanishing numbers. Black
    pixels give 0, not NaN. Runs as one task on a single-threaded hdrlab worker,
    as :func:`drago`.

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0``.
        gamma: display gamma > 0 applied at the end (OpenCV's default 1.0).
        scale: contrast scale factor > 0 (OpenCV's default 0.7; < 1 compresses).
        saturation: colour exponent ``>= 0``.
        luma: grey weights of R, G, B.

    Returns:
        ``(*, 3, H, W)`` display values in [0, 1].

    Raises:
        DTypeError, ShapeError, RangeError: invalid radiance; RangeError for
        ``gamma <= 0``, ``scale <= 0``, negative saturation, bad ``luma``.

    Example:
        >>> radiance = torch.logspace(-2, 3, 64).view(1, 8, 8).expand(3, 8, 8)
        >>> out = mantiuk(radiance)
        >>> out.shape, float(out.min()), float(out.max())
        (torch.Size([3, 8, 8]), 0.0, 1.0)

    References:
        Mantiuk, Myszkowski & Seidel, "A perceptual framework for contrast
        processing of high dynamic range images", ACM TAP 3(3), 2006. OpenCV,
        modules/photo/src/tonemap.cpp (``TonemapMantiuk``).

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb (beside OpenCV); benchmarks/hdr_module_vs_opencv.py
    """
    check_radiance(radiance)
    check_positive(gamma, "gamma")
    check_positive(scale, "scale")
    check_nonnegative(saturation, "saturation")
    luma = _check_luma(luma)
    return _on_worker(_mantiuk, radiance.detach(), gamma, scale, saturation, luma)


def _mantiuk(radiance: torch.Tensor, gamma: float, scale: float, saturation: float,
             luma: tuple[float, float, float]) -> torch.Tensor:
    image = _normalise(radiance, 1.0)
    grey = _grey(image, luma)
    flat = grey.reshape(-1, *grey.shape[-2:])
    solved = torch.stack([_mantiuk_log_grey(g.clamp_min(_OPENCV_LOG_FLOOR).log(), scale) for g in flat])
    new_grey = solved.exp().reshape(grey.shape)
    return _normalise(_map_luminance(image, grey, new_grey, saturation), gamma)


# --- Reinhard & Devlin (2005), as OpenCV's TonemapReinhard implements it ---------------------------


def reinhard_devlin(radiance: torch.Tensor, gamma: float = 2.2, intensity: float = 0.0, light_adapt: float = 0.5,
                    color_adapt: float = 0.0, *, luma: tuple[float, float, float] = REC709_LUMA) -> torch.Tensor:
    """Reinhard & Devlin's photoreceptor tone map, as ``cv2.createTonemapReinhard(gamma, intensity, light, color)``.

    Steps (the paper's operator, in OpenCV's implementation): normalise the image
    to [0, 1] (values floored at 1e-6, per-image min-max, as :func:`drago`); grey
    ``L`` by ``luma``; contrast ``m = 0.3 + 0.7 k^1.4`` from the key
    ``k = (log L_max - log L_av) / (log L_max - log L_min)`` (logs of ``max(L, 1e-4)``,
    ``log L_av`` their mean); ``f = exp(-intensity)``; per channel the adaptation
    level ``I_a = a (c I + (1 - c) L) + (1 - a) (c mean(I) + (1 - c) mean(L))``
    (``a`` light adaptation, ``c`` colour adaptation, plain means) and the
    photoreceptor response ``I / (I + (f I_a)^m)``; normalise to [0, 1] again and
    apply ``1 / gamma``.

    The defaults are the call of the multi-exposure generation reference
    (Le et al.), whose tone-mapped Reinhard table this reproduces:
    ``createTonemapReinhard(2.2, 0, 0.5, 0)``; OpenCV's own defaults are gamma 1
    and light adaptation 1. The reference hands OpenCV BGR data, so OpenCV's
    RGB2GRAY weighs its channels in reverse; pass ``luma=(0.114, 0.587, 0.299)``
    to reproduce that, :data:`OPENCV_LUMA` to reproduce OpenCV on RGB data.
    Where OpenCV divides 0 by 0 (a black pixel with ``a = 1, c = 0``; an image of
    one grey level), this gives 0 and takes ``k = 0``.

    Args:
        radiance: ``(*, 3, H, W)`` linear radiance ``>= 0`` (any scale: it is normalised).
        gamma: display gamma > 0 applied at the end.
        intensity: the paper's ``f'``, any real (higher is brighter; the paper's range is [-8, 8]).
        light_adapt: ``a`` in [0, 1]: 1 adapts each pixel to itself, 0 to the image's mean.
        color_adapt: ``c`` in [0, 1]: 0 adapts to grey, 1 to each channel (a white balance).
        luma: grey weights of R, G, B.

    Returns:
        ``(*, 3, H, W)`` display values in [0, 1] (each image spans the whole range).

    Raises:
        DTypeError, ShapeError, RangeError: invalid radiance; RangeError for ``gamma <= 0``,
        ``light_adapt`` or ``color_adapt`` outside [0, 1], a non-finite ``intensity``, bad ``luma``.

    Example:
        >>> radiance = torch.logspace(-2, 3, 16).view(1, 4, 4).expand(3, 4, 4)
        >>> out = reinhard_devlin(radiance)
        >>> float(out.min()), float(out.max()), bool((out.diff(dim=-1) >= 0).all())
        (0.0, 1.0, True)

    References:
        Reinhard & Devlin, "Dynamic range reduction inspired by photoreceptor
        physiology", IEEE TVCG 11(1), 2005. OpenCV, modules/photo/src/tonemap.cpp
        (``TonemapReinhard``). Le, Le, Nguyen & Hua, WACV 2023 (its code's
        ``src/utils/tonemap_img.py``).

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    check_radiance(radiance)
    check_positive(gamma, "gamma")
    if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) or not math.isfinite(intensity):
        raise RangeError(describe("a finite intensity", repr(intensity), "Use 0 (the paper's default)."))
    for value, name in ((light_adapt, "light_adapt"), (color_adapt, "color_adapt")):
        if not 0 <= check_nonnegative(value, name) <= 1:
            raise RangeError(describe(f"{name} in [0, 1]", repr(value), "Use light_adapt=0.5, color_adapt=0."))
    return _reinhard_devlin(radiance, gamma, float(intensity), float(light_adapt), float(color_adapt),
                            _check_luma(luma))


def _reinhard_devlin(radiance: torch.Tensor, gamma: float, intensity: float, light: float, colour: float,
                     luma: tuple[float, float, float]) -> torch.Tensor:
    image = _normalise(radiance, 1.0)
    grey = _grey(image, luma)
    dims = (-3, -2, -1)
    log_grey = grey.clamp_min(_OPENCV_LOG_FLOOR).log()
    log_max, log_min = log_grey.amax(dim=dims, keepdim=True), log_grey.amin(dim=dims, keepdim=True)
    span = log_max - log_min
    key = torch.where(span > 0, (log_max - log_grey.mean(dim=dims, keepdim=True)) / span.clamp_min(1e-12), 0.0)
    contrast = 0.3 + 0.7 * key**1.4
    local = colour * image + (1 - colour) * grey
    mean = colour * image.mean(dim=(-2, -1), keepdim=True) + (1 - colour) * grey.mean(dim=dims, keepdim=True)
    adapted = (math.exp(-intensity) * (light * local + (1 - light) * mean)) ** contrast
    total = image + adapted
    return _normalise(torch.where(total > 0, image / total.clamp_min(1e-12), 0.0), gamma)
