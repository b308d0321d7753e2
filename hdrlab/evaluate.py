"""One scoring protocol for HDR reconstructions: every method judged by the same metrics, defined once.

Each chapter scores its own method its own way (its paper's way). To compare
methods with each other, :func:`score_hdr` applies one set of HDR metrics to a
prediction and its reference radiance, both shown on the same simulated HDR display
after the prediction's exposure error is removed (single-image HDR recovers
radiance only up to a global factor):

* ``pu21_psnr``, ``pu21_ssim``: PSNR and SSIM of PU21-encoded values (Mantiuk &
  Azimi 2021), :func:`hdrlab.metrics.pu21_psnr` / :func:`~hdrlab.metrics.pu21_ssim`;
* ``log_error_stops``: the median luminance error in stops,
  :func:`hdrlab.metrics.log_error_stops`;
* ``tm_psnr``, ``tm_ssim``: PSNR and SSIM after Reinhard's global operator
  (:data:`TONEMAP`), each image tone mapped on its own;
* ``cvvdp_jod``: ColorVideoVDP's quality in JOD (:func:`hdrlab.metrics.cvvdp_jod`),
  the perceptual score standing in for the papers' HDR-VDP-2, when the ``cvvdp``
  package is installed.

Example:
    >>> import torch
    >>> target = torch.rand(3, 32, 32) + 0.01
    >>> scores = score_hdr(target * 2, target, perceptual=False)
    >>> sorted(scores), float(scores["log_error_stops"])
    (['log_error_stops', 'pu21_psnr', 'pu21_ssim', 'tm_psnr', 'tm_ssim'], 0.0)

Taught in: notebooks/01_camera_pipeline_debevec.ipynb
"""

from __future__ import annotations

import importlib.util

import torch

from hdrlab import metrics
from hdrlab.errors import ChoiceError, describe

__all__ = ["METRICS", "TONEMAP", "score_hdr"]

#: The tone map of ``tm_psnr`` and ``tm_ssim``: Reinhard et al.'s (2002) global operator, key 0.18.
TONEMAP = "reinhard"
#: Each metric's unit and whether higher is better, in the order a table prints them.
METRICS = {"pu21_psnr": ("dB", True), "pu21_ssim": ("", True), "log_error_stops": ("stops", False),
           "tm_psnr": ("dB", True), "tm_ssim": ("", True), "cvvdp_jod": ("JOD", True)}


def score_hdr(pred_hdr: torch.Tensor, target_hdr: torch.Tensor, *, perceptual: bool | str = "auto"
              ) -> dict[str, torch.Tensor]:
    """Every metric of the protocol for a prediction and its reference, one score per image.

    Args:
        pred_hdr: ``(*, 3, H, W)`` linear radiance ``>= 0`` (any scale), H, W >= 11.
        target_hdr: same shape, the reference radiance, no image all black.
        perceptual: include ``cvvdp_jod``: True (the ``cvvdp`` package must be
            installed), False, or ``"auto"``: when installed, else left out with a
            printed line that says so and how to install it.

    Returns:
        ``{metric: (*,) tensor}`` for the names of :data:`METRICS` (``cvvdp_jod`` as above).

    Raises:
        ChoiceError: ``perceptual`` not True, False or ``"auto"``.
        MissingPackageError: ``perceptual=True`` without the ``cvvdp`` package.
        ShapeError, DTypeError, RangeError: see the metrics.
    """
    if perceptual not in (True, False, "auto"):
        raise ChoiceError(describe("perceptual True, False or 'auto'", repr(perceptual),
                                   "Pass perceptual='auto' to score ColorVideoVDP where the package is installed."))
    scores = {
        "pu21_psnr": metrics.pu21_psnr(pred_hdr, target_hdr),
        "pu21_ssim": metrics.pu21_ssim(pred_hdr, target_hdr),
        "log_error_stops": metrics.log_error_stops(pred_hdr, target_hdr, align_scale=True),
        "tm_psnr": metrics.tonemapped_psnr(pred_hdr, target_hdr, tonemap=TONEMAP),
        "tm_ssim": metrics.tonemapped_ssim(pred_hdr, target_hdr, tonemap=TONEMAP),
    }
    if perceptual == "auto" and importlib.util.find_spec("pycvvdp") is None:
        print(f"cvvdp_jod left out: the cvvdp package is not installed ({metrics.CVVDP_INSTALL})")
    elif perceptual:
        scores["cvvdp_jod"] = metrics.cvvdp_jod(pred_hdr, target_hdr)
    return scores
