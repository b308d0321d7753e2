"""Image-quality metrics for LDR and HDR results: PSNR, SSIM, MS-SSIM, mu-PSNR, tone-mapped scores, stops, LPIPS,
ColorVideoVDP.

Every metric takes a prediction and a target of the same shape ``(*, 3, H, W)``
(float) and returns one score per image, shape ``(*,)`` (a 0-dim tensor for a
single ``(3, H, W)`` image); average them yourself. Display metrics (PSNR,
SSIM, MS-SSIM, LPIPS) need display-referred values in ``[0, data_range]``; HDR
metrics take linear radiance ``>= 0`` and say how they bring it to a display
range (normalisation, mu-law or a tone map from
:data:`hdrlab.imaging.tonemap.TONEMAPS`). Bad input raises a typed error from
:mod:`hdrlab.errors`; nothing is clipped silently.

Example:
    >>> import torch
    >>> target = torch.rand(2, 3, 16, 16) * 100
    >>> tonemapped_psnr(target * 1.01, target).shape
    torch.Size([2])

References:
    Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error
    visibility to structural similarity", IEEE TIP 2004 (SSIM). Wang, Simoncelli,
    Bovik, "Multi-scale structural similarity", Asilomar 2003 (MS-SSIM).
    Kalantari & Ramamoorthi, "Deep high dynamic range imaging of dynamic
    scenes", SIGGRAPH 2017 (mu-PSNR). Zhang, Isola, Efros, Shechtman, Wang, "The
    unreasonable effectiveness of deep features as a perceptual metric", CVPR
    2018 (LPIPS). Mantiuk, Hammou, Hanji, "ColorVideoVDP: a visual difference
    predictor for image, video and display distortions", SIGGRAPH 2024.
    Mantiuk & Azimi, "PU21: a novel perceptually uniform encoding for adapting
    existing quality metrics for HDR", Picture Coding Symposium 2021.

Taught in: notebooks/01_camera_pipeline_debevec.ipynb
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator

import lpips
import pytorch_msssim
import torch
from torch import nn
from torchvision.models import AlexNet_Weights, VGG16_Weights

from hdrlab.errors import ChoiceError, DTypeError, MissingPackageError, RangeError, ShapeError, describe
from hdrlab.imaging.tonemap import _nanquantile, apply_tonemap, luminance, mu_law, normalize_hdr
from hdrlab.nn.pretrained import check_pretrained, load_hub_weights, load_matching
from hdrlab.validate import (
    check_bool,
    check_image,
    check_number,
    check_positive,
    check_radiance,
    check_same_dtype,
    check_tensor,
)

__all__ = [
    "psnr", "ssim", "ms_ssim", "mu_psnr", "tonemapped_psnr", "tonemapped_ssim", "log_error_stops", "LPIPS",
    "LPIPS_BACKBONES", "HDR_DISPLAY_PEAK", "PU21_COEFFICIENTS", "PU21_RANGE", "PU21_PEAK", "pu21_encode", "pu21_psnr",
    "pu21_ssim", "CVVDP_DISPLAY", "CVVDP_INSTALL", "cvvdp_jod",
]

_SSIM_WINDOW = 11  # pytorch_msssim's Gaussian window
_MS_SSIM_MIN_SIDE = (_SSIM_WINDOW - 1) * 2**4 + 1  # 5 scales: four 2x downsamplings of an 11-px window
#: LPIPS backbones: name -> (torchvision ImageNet weights, smallest image side the network accepts).
LPIPS_BACKBONES = {"alex": (AlexNet_Weights.IMAGENET1K_V1, 31), "vgg": (VGG16_Weights.IMAGENET1K_V1, 16)}


def _check_pair(pred: torch.Tensor, target: torch.Tensor, check: Callable[..., None] = check_image) -> None:
    check(pred, "prediction")
    check(target, "target")
    if pred.shape != target.shape:
        raise ShapeError(
            describe(
                f"prediction and target of the same shape (target {tuple(target.shape)})",
                f"prediction {tuple(pred.shape)}",
                "Crop or resize one to the other (hdrlab.data.scenes.center_crop / resize_area).",
            )
        )


def _check_display_pair(pred: torch.Tensor, target: torch.Tensor, data_range: float) -> None:
    check_positive(data_range, "data_range")
    _check_pair(pred, target)
    for image, name in ((pred, "prediction"), (target, "target")):
        if image.numel() and (image.min() < 0 or image.max() > data_range):
            raise RangeError(
                describe(
                    f"display-referred {name} values in [0, {data_range:g}]",
                    f"values in [{float(image.min()):.4g}, {float(image.max()):.4g}]",
                    "Tone map or normalise HDR first (tonemapped_psnr, mu_psnr, normalize_hdr), "
                    "or pass the data_range your values use.",
                )
            )


def _check_min_side(image: torch.Tensor, smallest: int, metric: str, fix: str) -> None:
    if min(image.shape[-2:]) < smallest:
        raise ShapeError(describe(f"H and W >= {smallest} for {metric}", f"{tuple(image.shape[-2:])}", fix))


def _batched(image: torch.Tensor) -> torch.Tensor:
    return image.reshape(-1, *image.shape[-3:])


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range^2 / MSE)`` in dB.

    Identical images give ``+inf`` (MSE 0): filter or clamp before averaging
    over a dataset.

    Args:
        pred: ``(*, 3, H, W)`` display values in ``[0, data_range]``.
        target: same shape and range.
        data_range: the value range's width, > 0 (1 for images in [0, 1]).

    Returns:
        ``(*,)`` PSNR in dB.

    Raises:
        ShapeError: shapes differ or are not ``(*, 3, H, W)``.
        RangeError: NaN/inf or values outside ``[0, data_range]``.
        DTypeError: not float tensors.

    Example:
        >>> round(float(psnr(torch.full((3, 4, 4), 0.5), torch.full((3, 4, 4), 0.6))), 4)  # MSE 0.01
        20.0

    References:
        The standard definition; note that HDR papers differ in what they feed
        it (see :func:`mu_psnr`, :func:`tonemapped_psnr`).

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    _check_display_pair(pred, target, data_range)
    mse = (pred - target).pow(2).mean(dim=(-3, -2, -1))
    return 10 * torch.log10(data_range**2 / mse)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (11-px Gaussian window, sigma 1.5; mean over channels).

    Args:
        pred: ``(*, 3, H, W)`` display values in ``[0, data_range]``, H, W >= 11.
        target: same shape and range.
        data_range: the value range's width, > 0.

    Returns:
        ``(*,)`` SSIM in [-1, 1] (1 for identical images).

    Raises:
        ShapeError: shapes differ, or a side < 11 px.
        RangeError, DTypeError: see :func:`psnr`; also prediction and target of different dtypes.

    Example:
        >>> x = torch.rand(3, 16, 16)
        >>> round(float(ssim(x, x)), 4)
        1.0

    References:
        Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error
        visibility to structural similarity", IEEE TIP 2004. Computed with
        pytorch-msssim.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    _check_display_pair(pred, target, data_range)
    check_same_dtype(pred, target)  # their convolutions need one dtype
    _check_min_side(pred, _SSIM_WINDOW, "SSIM", "Use a larger crop; SSIM's window is 11 px wide.")
    score = pytorch_msssim.ssim(_batched(pred), _batched(target), data_range=data_range, size_average=False)
    return score.reshape(pred.shape[:-3])


def ms_ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Multi-scale SSIM per image (5 scales, the published weights).

    Args:
        pred: ``(*, 3, H, W)`` display values in ``[0, data_range]``; both
            sides > 160 px (four 2x downsamplings of an 11-px window).
        target: same shape and range.
        data_range: the value range's width, > 0.

    Returns:
        ``(*,)`` MS-SSIM in [0, 1].

    Raises:
        ShapeError: shapes differ, or a side <= 160 px.
        RangeError, DTypeError: see :func:`psnr`; also prediction and target of different dtypes.

    Example:
        >>> x = torch.rand(1, 3, 161, 161)
        >>> ms_ssim(x, x).shape
        torch.Size([1])

    References:
        Wang, Simoncelli, Bovik, "Multi-scale structural similarity for image
        quality assessment", Asilomar 2003. Computed with pytorch-msssim.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    _check_display_pair(pred, target, data_range)
    check_same_dtype(pred, target)  # their convolutions need one dtype
    _check_min_side(pred, _MS_SSIM_MIN_SIDE, "MS-SSIM (5 scales)", "Use ssim() instead, or a larger crop.")
    score = pytorch_msssim.ms_ssim(_batched(pred), _batched(target), data_range=data_range, size_average=False)
    return score.reshape(pred.shape[:-3])


def mu_psnr(
    pred_hdr: torch.Tensor,
    target_hdr: torch.Tensor,
    mu: float = 5000.0,
    normalize: str | None = "percentile",
    percentile: float = 99.0,
) -> torch.Tensor:
    """PSNR after mu-law compression, the HDR score of Kalantari & Ramamoorthi 2017.

    Both images are divided by the *target's* scale (:func:`hdr_scale
    <hdrlab.imaging.tonemap.hdr_scale>`) and clipped to [0, 1]
    (:func:`~hdrlab.imaging.tonemap.normalize_hdr`), so a prediction with the
    wrong brightness is penalised; then both go through
    :func:`~hdrlab.imaging.tonemap.mu_law` and :func:`psnr`. With
    ``normalize=None`` the inputs must already lie in [0, 1] (the paper's
    convention for its dataset).

    Args:
        pred_hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``.
        target_hdr: same shape.
        mu: mu-law strength, > 0 (5000 in the paper).
        normalize: ``"percentile"``, ``"max"``, ``"mean"`` or None.
        percentile: in (0, 100], for ``"percentile"``.

    Returns:
        ``(*,)`` mu-PSNR in dB (``+inf`` for identical images).

    Raises:
        ShapeError, DTypeError: see :func:`psnr`.
        RangeError: negative/NaN radiance; values outside [0, 1] with
            ``normalize=None``; an all-black target.
        ChoiceError: unknown ``normalize``.

    Example:
        >>> target = torch.rand(3, 8, 8) * 10
        >>> bool(mu_psnr(target * 1.1, target) < mu_psnr(target * 1.01, target))
        True

    References:
        Kalantari & Ramamoorthi, "Deep high dynamic range imaging of dynamic
        scenes", SIGGRAPH 2017.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    check_number(percentile, "percentile")
    _check_pair(pred_hdr, target_hdr, check_radiance)
    if normalize is not None:
        pred_hdr = normalize_hdr(pred_hdr, normalize, percentile, reference=target_hdr)
        target_hdr = normalize_hdr(target_hdr, normalize, percentile)
    return psnr(mu_law(pred_hdr, mu), mu_law(target_hdr, mu))


def tonemapped_psnr(
    pred_hdr: torch.Tensor, target_hdr: torch.Tensor, tonemap: str = "reinhard", **tonemap_kwargs: object
) -> torch.Tensor:
    """PSNR between the two images, each tone mapped with the named operator.

    Each image is tone mapped on its own (Reinhard's operators adapt to each
    image's log-average, mu-law and gamma normalise by each image's own
    percentile), so this scores what a viewer would see and is insensitive to
    a global brightness error; use :func:`mu_psnr` to penalise one.

    Args:
        pred_hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``.
        target_hdr: same shape.
        tonemap: a name in :data:`hdrlab.imaging.tonemap.TONEMAPS`.
        **tonemap_kwargs: passed to the tone map.

    Returns:
        ``(*,)`` PSNR in dB of the display images.

    Raises:
        ChoiceError: unknown ``tonemap``.
        ShapeError, RangeError, DTypeError: see :func:`psnr`.

    Example:
        >>> target = torch.rand(3, 8, 8) * 10
        >>> bool(tonemapped_psnr(target * 4, target) > 100)  # Reinhard adapts to brightness
        True

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    _check_pair(pred_hdr, target_hdr, check_radiance)
    return psnr(apply_tonemap(tonemap, pred_hdr, **tonemap_kwargs), apply_tonemap(tonemap, target_hdr, **tonemap_kwargs))


def tonemapped_ssim(
    pred_hdr: torch.Tensor, target_hdr: torch.Tensor, tonemap: str = "reinhard", **tonemap_kwargs: object
) -> torch.Tensor:
    """SSIM between the two images, each tone mapped with the named operator (see :func:`tonemapped_psnr`).

    Args:
        pred_hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``, H, W >= 11.
        target_hdr: same shape.
        tonemap: a name in :data:`hdrlab.imaging.tonemap.TONEMAPS`.
        **tonemap_kwargs: passed to the tone map.

    Returns:
        ``(*,)`` SSIM of the display images.

    Raises:
        ChoiceError, ShapeError, RangeError, DTypeError: see :func:`tonemapped_psnr`, :func:`ssim`.

    Example:
        >>> target = torch.rand(3, 16, 16) * 10
        >>> round(float(tonemapped_ssim(target, target, "mu_law")), 4)
        1.0

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    _check_pair(pred_hdr, target_hdr, check_radiance)
    return ssim(apply_tonemap(tonemap, pred_hdr, **tonemap_kwargs), apply_tonemap(tonemap, target_hdr, **tonemap_kwargs))


def _valid_pixels(pred_lum: torch.Tensor, target_lum: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    valid = (pred_lum > 0) & (target_lum > 0)
    if mask is None:
        return valid
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = f"dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise DTypeError(describe("a bool mask tensor", got, "Build it with a comparison, e.g. weights > 0.5."))
    try:
        return valid & mask.expand_as(valid)
    except RuntimeError as err:
        raise ShapeError(describe(f"a mask broadcastable to {tuple(valid.shape)} (*, 1, H, W)",
                                  f"shape {tuple(mask.shape)}", "Give one value per pixel.")) from err


def _log2_luminance_ratio(pred_hdr: torch.Tensor, target_hdr: torch.Tensor, mask: torch.Tensor | None = None
                          ) -> torch.Tensor:
    """``(*, H W)`` log2 of pred / target luminance per pixel, NaN where either is not positive (or outside mask)."""
    pred_lum, target_lum = luminance(pred_hdr), luminance(target_hdr)
    valid = _valid_pixels(pred_lum, target_lum, mask).flatten(-3)
    if not valid.any(dim=-1).all():
        raise RangeError(describe("at least one pixel per image with positive luminance in both images (in mask)",
                                  "an image without one", "Check the mask and that the images are not black."))
    ratio = torch.log2(pred_lum.clamp_min(1e-30)) - torch.log2(target_lum.clamp_min(1e-30))
    return torch.where(valid, ratio.flatten(-3), torch.full_like(valid, math.nan, dtype=ratio.dtype))


def log_error_stops(
    pred_hdr: torch.Tensor,
    target_hdr: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: str = "median",
    align_scale: bool = False,
) -> torch.Tensor:
    """Luminance error in stops, ``|log2 L_pred - log2 L_target|``, reduced per image.

    Only pixels whose luminance is positive in both images (and, if given,
    inside ``mask``) count. ``align_scale=True`` first subtracts each image's
    median log2 ratio: a Debevec merge (radiance up to the unknown scale of its
    response curve) and a single-image HDR network (no absolute exposure at
    all) only recover radiance up to a global factor, so without alignment a
    perfect reconstruction at the wrong scale would score ``|log2 factor|``.

    Args:
        pred_hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``.
        target_hdr: same shape.
        mask: optional bool tensor broadcastable to ``(*, 1, H, W)``; True = count.
        reduction: ``"median"`` (robust) or ``"mean"``.
        align_scale: remove the global offset (median log2 ratio) first.

    Returns:
        ``(*,)`` error in stops (1 stop = a factor of 2).

    Raises:
        ChoiceError: unknown ``reduction``.
        DTypeError: ``mask`` not bool.
        ShapeError: shapes differ, or ``mask`` does not broadcast.
        RangeError: negative/NaN radiance, or an image with no valid pixel.

    Example:
        >>> target = torch.rand(3, 8, 8) + 0.1
        >>> float(log_error_stops(2 * target, target)), float(log_error_stops(2 * target, target, align_scale=True))
        (1.0, 0.0)

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """
    _check_pair(pred_hdr, target_hdr, check_radiance)
    check_bool(align_scale, "align_scale")
    if reduction not in ("median", "mean"):
        raise ChoiceError(describe("reduction 'median' or 'mean'", repr(reduction), "Use 'median' (robust)."))
    ratio = _log2_luminance_ratio(pred_hdr, target_hdr, mask)
    if align_scale:
        ratio = ratio - _nanquantile(ratio, 0.5).unsqueeze(-1)
    error = ratio.abs()
    return _nanquantile(error, 0.5) if reduction == "median" else error.nanmean(dim=-1)


def _load_backbone(backbone: nn.Module, net: str, pretrained: bool | str) -> bool:
    """Copy torchvision's ImageNet ``features.<i>.*`` weights into lpips's ``slice<k>.<i>.*`` layers, if wanted.

    Returns whether the weights were loaded (see :func:`hdrlab.nn.pretrained.load_hub_weights`).
    """
    url, what = LPIPS_BACKBONES[net][0].url, f"the ImageNet {net} backbone weights"
    notice = f"LPIPS({net!r}): RANDOM backbone features, scores are not comparable to published LPIPS."
    state = load_hub_weights(url, what, pretrained, notice=notice)
    if state is not None:
        key_map = {key: f"features.{key.split('.', 1)[1]}" for key in backbone.state_dict()}
        load_matching(backbone, state, url, what, key_map=key_map)
    return state is not None


class LPIPS(nn.Module):
    """Learned perceptual image patch similarity between display images, one score per image.

    Wraps ``lpips.LPIPS`` (its calibrated linear heads ship with the package)
    and loads the ImageNet backbone itself, so the offline case is explicit
    (DESIGN §5): ``pretrained=True`` uses the backbone from the torch hub cache
    (``torch.hub.get_dir()/checkpoints``) or downloads it, and raises
    :class:`~hdrlab.errors.MissingWeightsError` naming the file, its place and
    the manual route when neither works; ``pretrained=False`` keeps a random
    backbone (scores are *not* comparable to published LPIPS); ``"auto"``
    behaves like True but falls back to random features, printing a line that
    says so. :attr:`pretrained_backbone` records which happened. The network
    is frozen and stays in eval mode (its dropout off) even inside a model put
    in training mode; gradients still flow to the inputs, so it works as a loss.

    Args:
        net: ``"alex"`` (the paper's default metric) or ``"vgg"`` (common as a loss).
        pretrained: True, False or ``"auto"``.

    Attributes:
        net: the backbone name.
        pretrained_backbone: whether the ImageNet backbone weights are loaded.

    Raises:
        ChoiceError: unknown ``net`` or ``pretrained``.
        MissingWeightsError: ``pretrained=True`` and the weights are neither
            cached nor downloadable, or the cached file does not match.

    Example:
        >>> metric = LPIPS("alex", pretrained=False)
        >>> x = torch.rand(2, 3, 32, 32)
        >>> metric(x, x).tolist()
        [0.0, 0.0]

    References:
        Zhang, Isola, Efros, Shechtman, Wang, "The unreasonable effectiveness
        of deep features as a perceptual metric", CVPR 2018.

    Taught in: notebooks/01_camera_pipeline_debevec.ipynb
    """

    def __init__(self, net: str = "alex", pretrained: bool | str = "auto") -> None:
        super().__init__()
        if net not in LPIPS_BACKBONES:
            raise ChoiceError(describe(f"net in {sorted(LPIPS_BACKBONES)}", repr(net), "Use 'alex' for the metric."))
        check_pretrained(pretrained)
        with warnings.catch_warnings():  # lpips 0.1.4 calls torchvision with the deprecated pretrained= argument
            warnings.filterwarnings("ignore", message=".*deprecated since 0.13", category=UserWarning)
            self.model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
        self.net = net
        self.pretrained_backbone = _load_backbone(self.model.net, net, pretrained)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPS:
        """Record ``mode`` but keep the wrapped network in eval mode: LPIPS is a fixed metric."""
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image.

        Args:
            pred: ``(*, 3, H, W)`` display images in [0, 1] (mapped to [-1, 1]
                inside); both sides >= 31 px for ``"alex"``, 16 for ``"vgg"``.
            target: same shape.

        Returns:
            ``(*,)`` distances >= 0 (0 for identical images).

        Raises:
            ShapeError: shapes differ or are too small.
            RangeError: values outside [0, 1] or NaN.
        """
        _check_display_pair(pred, target, 1.0)
        _check_min_side(pred, LPIPS_BACKBONES[self.net][1], f"LPIPS({self.net!r})",
                        "Use a larger crop or upsample the images.")
        distance = self.model(_batched(pred), _batched(target), normalize=True)
        return distance.reshape(pred.shape[:-3])


# --- HDR on a display: PU21 and ColorVideoVDP ----------------------------------------------------

#: The peak luminance (cd/m^2) of the HDR display the PU21 and ColorVideoVDP scores assume: a reference's
#: brightest pixel is shown at it (the peak of ColorVideoVDP's :data:`CVVDP_DISPLAY`).
HDR_DISPLAY_PEAK = 1500.0
#: PU21's ``banding_glare`` coefficients p1..p7, the variant its authors recommend (Mantiuk & Azimi 2021,
#: as published in their reference code, github.com/gfxdisp/pu21):
#: ``V = p7 (((p1 + p2 Y^p4) / (1 + p3 Y^p4))^p5 - p6)``.
PU21_COEFFICIENTS = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204,
                     596.3148142)
#: The luminance range (cd/m^2) PU21 is defined on; it encodes it to about [0, 595].
PU21_RANGE = (0.005, 10000.0)
#: The peak value PSNR and SSIM use on PU21 values (the reference's ``psnr(T, R, 256)``; PU21(100 cd/m^2) ~ 256).
PU21_PEAK = 256.0


def pu21_encode(luminance_cd: torch.Tensor, *, clip: bool = False) -> torch.Tensor:
    """PU21: absolute luminance (cd/m^2) to perceptually uniform values, 0 at 0.005 cd/m^2, ~256 at 100, ~595 at 10^4.

    Equal steps in the encoded values are about equally visible at every light
    level, so PSNR and SSIM computed on them become meaningful for HDR images.

    Args:
        luminance_cd: any shape, absolute luminance or linear RGB in cd/m^2, in
            :data:`PU21_RANGE` unless ``clip``.
        clip: clamp values outside the range to it first, as the authors' code does.

    Returns:
        The encoded values, same shape, float.

    Raises:
        DTypeError: not a float tensor.
        RangeError: NaN, or (without ``clip``) values outside :data:`PU21_RANGE`.

    Example:
        >>> [round(v, 2) for v in pu21_encode(torch.tensor([0.005, 100.0, 10000.0], dtype=torch.float64)).tolist()]
        [0.0, 256.38, 595.39]
    """
    check_tensor(luminance_cd, "luminance")
    check_bool(clip, "clip")
    low, high = PU21_RANGE
    if torch.isnan(luminance_cd).any():
        raise RangeError(describe("luminance without NaN", "NaN values", "Fix the image before scoring it."))
    if clip:
        luminance_cd = luminance_cd.clamp(low, high)
    elif luminance_cd.numel() and (luminance_cd.min() < low or luminance_cd.max() > high):
        raise RangeError(describe(f"luminance in [{low}, {high:g}] cd/m^2 (PU21's range)",
                                  f"values in [{float(luminance_cd.min()):.4g}, {float(luminance_cd.max()):.4g}]",
                                  "Scale the image to a display in cd/m^2 first, or pass clip=True as the "
                                  "reference implementation does."))
    p1, p2, p3, p4, p5, p6, p7 = PU21_COEFFICIENTS
    powered = luminance_cd.pow(p4)
    return p7 * (((p1 + p2 * powered) / (1 + p3 * powered)).pow(p5) - p6)


def _on_display(pred_hdr: torch.Tensor, target_hdr: torch.Tensor, peak: float, align_scale: bool
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Both ``(N, 3, H, W)`` images in cd/m^2: the target's brightest pixel at ``peak``, the same factor for both.

    With ``align_scale`` the prediction's median log2 luminance ratio to the target is removed first.
    """
    check_bool(align_scale, "align_scale")
    brightest = luminance(target_hdr).flatten(1).amax(1)
    if not bool((brightest > 0).all()):
        raise RangeError(describe("a reference with some light in it", "an all-black reference image",
                                  "Check the reference (and that it is radiance, not a mask)."))
    if align_scale:
        pred_hdr = pred_hdr * torch.exp2(-_nanquantile(_log2_luminance_ratio(pred_hdr, target_hdr), 0.5))[
            :, None, None, None]
    scale = (peak / brightest)[:, None, None, None]
    return pred_hdr * scale, target_hdr * scale


def pu21_psnr(pred_hdr: torch.Tensor, target_hdr: torch.Tensor, *, display_peak: float = HDR_DISPLAY_PEAK,
              align_scale: bool = True) -> torch.Tensor:
    """PSNR of PU21-encoded RGB (peak :data:`PU21_PEAK`), both images shown on an HDR display.

    Each pair is scaled so the reference's brightest pixel shows at ``display_peak``
    cd/m^2 (the prediction by the same factor, after removing its exposure error
    when ``align_scale``), clipped to PU21's range as the authors' code does, and
    encoded per channel; the PSNR is ``10 log10(256^2 / MSE)`` as their ``pu21_metric(..., 'PSNR')``.

    Args:
        pred_hdr: ``(*, 3, H, W)`` linear radiance ``>= 0`` (relative units).
        target_hdr: same shape, the reference, not all black.
        display_peak: the display's peak luminance in cd/m^2, > 0.
        align_scale: remove the prediction's global exposure error first.

    Returns:
        ``(*,)`` PSNR in dB (+inf for identical images).

    Raises:
        ShapeError, DTypeError, RangeError: see :func:`log_error_stops`; a black reference.

    Example:
        >>> target = torch.rand(3, 16, 16) + 0.01
        >>> float(pu21_psnr(target * 2, target))  # exposure aside, identical
        inf
    """
    _check_pair(pred_hdr, target_hdr, check_radiance)
    check_positive(display_peak, "display_peak")
    pred, target = _on_display(_batched(pred_hdr), _batched(target_hdr), display_peak, align_scale)
    error = (pu21_encode(pred, clip=True) - pu21_encode(target, clip=True)).pow(2).mean(dim=(-3, -2, -1))
    return (10 * torch.log10(PU21_PEAK**2 / error)).reshape(pred_hdr.shape[:-3])


def pu21_ssim(pred_hdr: torch.Tensor, target_hdr: torch.Tensor, *, display_peak: float = HDR_DISPLAY_PEAK,
              align_scale: bool = True) -> torch.Tensor:
    """SSIM of PU21-encoded luminance (dynamic range :data:`PU21_PEAK`), both images shown on an HDR display.

    The display mapping is :func:`pu21_psnr`'s; SSIM (11-px Gaussian window) runs on
    the encoded Rec. 709 luminance, as the authors' ``pu21_metric(..., 'SSIM')``.

    Args:
        pred_hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``, H, W >= 11.
        target_hdr: same shape, the reference, not all black.
        display_peak, align_scale: see :func:`pu21_psnr`.

    Returns:
        ``(*,)`` SSIM, 1 for identical images.

    Raises:
        ShapeError, DTypeError, RangeError: see :func:`pu21_psnr`; a side < 11 px; dtypes that differ.

    Example:
        >>> target = torch.rand(3, 16, 16) + 0.01
        >>> round(float(pu21_ssim(target * 2, target)), 4)
        1.0
    """
    _check_pair(pred_hdr, target_hdr, check_radiance)
    check_same_dtype(pred_hdr, target_hdr)
    _check_min_side(target_hdr, _SSIM_WINDOW, "SSIM", "Use a larger crop; SSIM's window is 11 px wide.")
    check_positive(display_peak, "display_peak")
    pred, target = _on_display(_batched(pred_hdr), _batched(target_hdr), display_peak, align_scale)
    encoded = [pu21_encode(luminance(image).unsqueeze(-3), clip=True) for image in (pred, target)]
    score = pytorch_msssim.ssim(*encoded, data_range=PU21_PEAK, size_average=False)
    return score.reshape(pred_hdr.shape[:-3])


# ColorVideoVDP

#: The display ColorVideoVDP simulates: its ``standard_hdr_linear`` model, a 30-inch 4K HDR monitor with a
#: 1500 cd/m^2 peak and a 10^6:1 contrast, linear BT.709 input in cd/m^2, 10 lux ambient light, seen from
#: twice the display height (0.75 m).
CVVDP_DISPLAY = "standard_hdr_linear"
#: How to install the ``cvvdp`` package (MIT, from the HDR-VDP authors' group) without its video extras:
#: pycvvdp imports these at load time; ffmpeg itself and the ML variants' weights are never needed.
CVVDP_INSTALL = ("pip install --no-deps cvvdp==0.5.7 einops==0.8.2 ffmpeg-python==0.2.0 future==1.0.0 "
                 "imageio==2.38.2 huggingface_hub==0.34.4")
_CVVDP_METRICS: dict[tuple[str, str], object] = {}


class _UnitsWarningFilter(logging.Filter):
    """Drops pycvvdp's "mean color value is less than 1" warning: the images are in cd/m^2 by construction."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "may not be scaled in absolute photometric units" not in record.getMessage()


@contextlib.contextmanager
def _quiet_units_warning() -> Iterator[None]:
    """While ColorVideoVDP runs: a dark scene shown on the display (mean below 1 cd/m^2) is not a units error."""
    root, quiet = logging.getLogger(), _UnitsWarningFilter()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def _cvvdp_metric(display: str, device: torch.device) -> object:
    """The (cached) ``pycvvdp.cvvdp`` metric for ``display`` on ``device``."""
    key = (display, str(device))
    if key not in _CVVDP_METRICS:
        try:
            import pycvvdp
        except ImportError as err:
            raise MissingPackageError(describe("the cvvdp package (ColorVideoVDP)", f"an import error: {err}",
                                               f"Install it: {CVVDP_INSTALL}")) from err
        try:
            _CVVDP_METRICS[key] = pycvvdp.cvvdp(display_name=display, device=device, quiet=True)
        except pycvvdp.vq_exception as err:  # raised for an unknown display name
            raise ChoiceError(describe("a display model of ColorVideoVDP", repr(display),
                                       f"Use {CVVDP_DISPLAY!r} (hdrlab's choice) or a name from the package's "
                                       f"display_models.json ({err}).")) from None
    return _CVVDP_METRICS[key]


def cvvdp_jod(pred_hdr: torch.Tensor, target_hdr: torch.Tensor, *, display: str = CVVDP_DISPLAY,
              align_scale: bool = True) -> torch.Tensor:
    """ColorVideoVDP's quality of an HDR image against its reference, in JOD (10: no visible difference).

    Both images are shown on the same simulated HDR display (:data:`CVVDP_DISPLAY`
    unless ``display`` names another of the package's models): each pair is scaled
    by one factor that maps the reference's peak luminance to the display's peak
    (as the metric's authors advise for relative HDR images, PU21's documentation);
    the display model then clips what it cannot show. With ``align_scale`` the
    prediction is first brought to the reference's exposure (its median log2
    luminance ratio removed, as :func:`log_error_stops`): single-image HDR
    recovers radiance only up to a global factor. One JOD less means 75 % of
    observers would prefer the reference. The score replaces the papers'
    HDR-VDP-2, which has no maintained Python implementation.

    Args:
        pred_hdr: ``(*, 3, H, W)`` linear radiance ``>= 0`` (relative units), H, W >= 8.
        target_hdr: same shape, the reference, not all black.
        display: a display model name of ``pycvvdp`` (see ``display_models.json`` in the package).
        align_scale: remove the prediction's global exposure error first.

    Returns:
        ``(*,)`` JOD per image, at most 10.

    Raises:
        MissingPackageError: ``cvvdp`` is not installed (the message says how: :data:`CVVDP_INSTALL`).
        ChoiceError: unknown display model.
        ShapeError, DTypeError, RangeError: see :func:`log_error_stops`; a black reference.

    Example:
        >>> reference = torch.rand(3, 64, 64) * 10 + 0.1
        >>> float(cvvdp_jod(reference * 3, reference))  # the same image at another exposure  # doctest: +SKIP
        10.0
    """
    _check_pair(pred_hdr, target_hdr, check_radiance)
    _check_min_side(target_hdr, 8, "ColorVideoVDP", "Score images of at least 8 x 8 pixels.")
    metric = _cvvdp_metric(display, target_hdr.device)
    peak = float(metric.display_photometry.get_peak_luminance())
    preds, targets = _on_display(_batched(pred_hdr.detach()), _batched(target_hdr.detach()), peak, align_scale)
    with _quiet_units_warning():
        scores = [float(metric.predict(pred, target, dim_order="CHW")[0]) for pred, target in zip(preds, targets)]
    return torch.tensor(scores, dtype=torch.float32).reshape(pred_hdr.shape[:-3])
