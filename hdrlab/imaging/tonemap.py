"""Display transforms: luminance, sRGB encoding and Reinhard's global operator.

Conventions: radiance is linear, ``>= 0``, shape ``(*, 3, H, W)``; display
images are in [0, 1]. The only way from radiance to 8-bit is an explicit tone
map such as :func:`reinhard_global` followed by :func:`srgb_encode`.

References:
    Reinhard, Stark, Shirley, Ferwerda, "Photographic tone reproduction for
    digital images", SIGGRAPH 2002. IEC 61966-2-1 (sRGB).

Taught in: notebooks/00_getting_started.ipynb, notebooks/01_camera_pipeline_debevec.ipynb.
"""

from __future__ import annotations

import torch

from hdrlab.errors import RangeError, describe
from hdrlab.validate import check_image, check_ldr, check_positive, check_radiance

__all__ = ["REC709_LUMA", "luminance", "srgb_encode", "srgb_decode", "log_average_luminance", "reinhard_global"]

#: Rec. 709 / sRGB luminance weights for linear RGB.
REC709_LUMA = (0.2126, 0.7152, 0.0722)
_EPS = 1e-6  # keeps log() finite on black pixels in the log-average


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
    weights = torch.tensor(REC709_LUMA, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return (image * weights).sum(dim=-3, keepdim=True)


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
    return torch.where(linear <= 0.0031308, 12.92 * linear, 1 + 1.055 * (linear.clamp_min(0.0031308) ** (1 / 2.4) - 1))


def srgb_decode(encoded: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`srgb_encode`, [0, 1] -> [0, 1].

    Example:
        >>> x = torch.rand(3, 4, 4)
        >>> bool(torch.allclose(srgb_decode(srgb_encode(x)), x, atol=1e-6))
        True
    """
    check_ldr(encoded, "sRGB-encoded values")
    return torch.where(encoded <= 0.04045, encoded / 12.92, ((encoded.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


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
    log_l = torch.log(luminance(radiance) + _EPS)
    return torch.exp(log_l.mean(dim=(-3, -2, -1), keepdim=True)) - _EPS


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

    Example:
        >>> out = reinhard_global(torch.full((3, 2, 2), 5.0))
        >>> round(float(out[0, 0, 0]), 4)  # a uniform image maps to key / (1 + key)
        0.1525
    """
    check_radiance(radiance)
    if not 0 < key <= 1:
        raise RangeError(describe("key in (0, 1]", repr(key), "Use 0.18 for average scenes, lower for dark ones."))
    if white is not None:
        check_positive(white, "white")
    lum = luminance(radiance)
    scaled = key * lum / (log_average_luminance(radiance) + _EPS)
    if white is None:
        display_lum = scaled / (1 + scaled)
    else:
        display_lum = scaled * (1 + scaled / white**2) / (1 + scaled)
    ratio = torch.where(lum > 0, display_lum / lum.clamp_min(1e-12), torch.zeros_like(lum))
    return (radiance * ratio).clamp(0, 1)
