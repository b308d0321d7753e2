"""Ghost removal: merge a bracket whose scene moved, each pixel from the frames that agree with a reference.

People walk, leaves move, clouds drift: between the frames of a bracket the scene
changes, and :func:`~hdrlab.imaging.merge.merge_debevec` averages every frame's
vote at each pixel, so a moving object leaves semi-transparent copies of itself
(*ghosts*). The fix here is the reference-consistency rule of Grosch (2006): one
frame is the *reference* (it decides where things are); a pixel of another frame
votes only where its radiance ``g(z) - ln t`` agrees with the reference's within
``threshold`` stops in every channel both expose well. Where the reference itself
is clipped or in the dark there is nothing to compare with, and every frame votes
(a mover there stays). Inconsistent regions are grown by ``grow`` pixels, since
motion blurs their edges.

Unlike Khan et al.'s (2006) iterative kernel-density weighting, the rule needs one
pass and no parameters beyond the threshold; it cannot see a mover as bright as
what it covers, and a mover in the reference stays (it is the reference's moment).

Example:
    >>> import torch
    >>> from hdrlab.imaging.crf import log_inverse_response
    >>> stack = torch.stack([torch.full((3, 4, 4), v) for v in (0.25, 0.5, 1.0)]) ** (1 / 2.2)  # 1 EV apart
    >>> stack[0, :, 1, 1] = 0.9  # something bright crosses the first frame
    >>> ghost_masks(stack, torch.tensor([0.25, 0.5, 1.0]), log_inverse_response("gamma2.2"), reference=1, grow=0)[0]
    tensor([[ True,  True,  True,  True],
            [ True, False,  True,  True],
            [ True,  True,  True,  True],
            [ True,  True,  True,  True]])

References:
    T. Grosch, "Fast and robust high dynamic range image generation with camera
    and object movement", Vision, Modeling and Visualization 2006. E. A. Khan,
    A. O. Akyuz, E. Reinhard, "Ghost removal in high dynamic range images", ICIP 2006.

Taught in: notebooks/01_camera_pipeline_debevec.ipynb
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hdrlab.errors import ChoiceError, ShapeError, describe
from hdrlab.imaging.crf import _check_ldr_stack
from hdrlab.imaging.merge import _check_response, merge_debevec
from hdrlab.imaging.weights import weight_lut
from hdrlab.validate import check_exposure_times, check_positive, check_tensor

__all__ = ["TRUSTED_CODES", "ghost_masks", "merge_deghosted"]

#: The codes (as fractions of the top code) a pixel must lie within for its radiance to be compared: darker
#: ones are noise, brighter ones near clipping.
TRUSTED_CODES = (0.05, 0.95)


def _codes_and_log_radiance(stack: torch.Tensor, times: torch.Tensor, g: torch.Tensor, bits: int | None
                            ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Integer codes ``(N, 3, H, W)``, each pixel's ``g(z) - ln t`` (same shape) and the number of codes."""
    levels = g.shape[-1]
    if stack.is_floating_point():
        codes = (stack * (levels - 1) + 0.5).floor().long()
    else:
        codes = stack.long()
    log_radiance = torch.stack([g[c][codes[:, c]] for c in range(3)], 1) - times.log().view(-1, 1, 1, 1)
    return codes, log_radiance, levels


def _check_inputs(stack: object, times: object, g: object, bits: object, reference: object, threshold: object,
                  grow: object) -> None:
    """Typed errors for a bad stack, times, g (matching the codes of an integer stack) or option."""
    stack, bits = _check_ldr_stack(stack, None, bits)
    check_exposure_times(times, stack.shape[0])
    if times.dim() != 1:
        raise ShapeError(describe("times of shape (N,)", f"shape {tuple(times.shape)}", "Pass one bracket's times."))
    check_tensor(g, "inverse response g")
    _check_response(g, times.log())
    if not stack.is_floating_point() and g.shape[-1] != 2**bits:
        raise ShapeError(describe(f"g with one column per {bits}-bit code, (3, {2**bits})", f"shape {tuple(g.shape)}",
                                  "Recover g from the same stack: crf.recover_debevec(stack, times, bits=...)."))
    check_positive(threshold, "threshold")
    if isinstance(grow, bool) or not isinstance(grow, int) or grow < 0:
        raise ChoiceError(describe("grow, a number of pixels >= 0", repr(grow), "Pass e.g. grow=2."))
    if reference is not None and (isinstance(reference, bool) or not isinstance(reference, int)
                                  or not 0 <= reference < stack.shape[0]):
        raise ChoiceError(describe(f"reference, a frame index in [0, {stack.shape[0]})", repr(reference),
                                   "Pass None to pick the frame with the most well-exposed pixels."))


def ghost_masks(stack: torch.Tensor, times: torch.Tensor, g: torch.Tensor, *, reference: int | None = None,
                threshold: float = 0.5, grow: int = 2, bits: int | None = None) -> torch.Tensor:
    """Which pixels of each frame agree with the reference frame (True: it may vote in the merge).

    Args:
        stack: ``(N, 3, H, W)`` frames: floats in [0, 1], uint8 codes, or uint16 codes with ``bits``.
        times: ``(N,)`` exposure times in seconds, ascending.
        g: ``(3, 2**bits)`` inverse response (:func:`~hdrlab.imaging.crf.recover_debevec`).
        reference: the frame that decides where things are; None: the frame with the
            most pixels inside :data:`TRUSTED_CODES` in all channels.
        threshold: the largest radiance difference, in stops, still counted as agreement, > 0.
        grow: pixels by which each disagreeing region is grown, >= 0.
        bits: the codes' bit depth of a uint16 stack.

    Returns:
        ``(N, H, W)`` bool; the reference's row is all True.

    Raises:
        ShapeError, DTypeError, RangeError, ExposureError, ChoiceError: bad stack, times, g or options.

    Example:
        >>> from hdrlab.imaging.crf import log_inverse_response
        >>> stack = torch.rand(3, 3, 8, 8)
        >>> ghost_masks(stack, torch.tensor([0.1, 0.2, 0.4]), log_inverse_response("linear"), reference=1)[1].all()
        tensor(True)
    """
    _check_inputs(stack, times, g, bits, reference, threshold, grow)
    codes, log_radiance, levels = _codes_and_log_radiance(stack, times, g, bits)
    low, high = (round(fraction * (levels - 1)) for fraction in TRUSTED_CODES)
    trusted = (codes >= low) & (codes <= high)  # (N, 3, H, W)
    if reference is None:
        reference = int(trusted.all(1).flatten(1).sum(1).argmax())
    differs = (log_radiance - log_radiance[reference]).abs() > threshold * math.log(2)
    ghost = (differs & trusted & trusted[reference]).any(1)  # (N, H, W)
    if grow:
        ghost = F.max_pool2d(ghost.float().unsqueeze(1), 2 * grow + 1, stride=1, padding=grow).squeeze(1) > 0
    ghost[reference] = False
    return ~ghost


def merge_deghosted(stack: torch.Tensor, times: torch.Tensor, g: torch.Tensor, *, reference: int | None = None,
                    threshold: float = 0.5, grow: int = 2, weight: str = "hat", bits: int | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Debevec-Malik merge in which each frame votes only where :func:`ghost_masks` says it agrees.

    The votes ``g(z) - ln t`` are averaged in the log domain with the usual weights
    times the masks. Where no frame is left with a positive weight (clipped in every
    frame that agrees), the pixel is :func:`~hdrlab.imaging.merge.merge_debevec`'s.

    Args:
        stack, times, g, reference, threshold, grow, bits: see :func:`ghost_masks`.
        weight: a name in :data:`hdrlab.imaging.weights.WEIGHTS`.

    Returns:
        ``(radiance, masks)``: ``(3, H, W)`` float32 radiance ``>= 0`` and the ``(N, H, W)`` bool masks used.

    Raises:
        see :func:`ghost_masks` and :func:`~hdrlab.imaging.merge.merge_debevec`.

    Example:
        >>> from hdrlab.imaging.crf import log_inverse_response
        >>> stack = torch.rand(3, 3, 8, 8)
        >>> radiance, masks = merge_deghosted(stack, torch.tensor([0.1, 0.2, 0.4]), log_inverse_response("linear"))
        >>> radiance.shape, masks.shape
        (torch.Size([3, 8, 8]), torch.Size([3, 8, 8]))
    """
    masks = ghost_masks(stack, times, g, reference=reference, threshold=threshold, grow=grow, bits=bits)
    plain = merge_debevec(stack, times, g, weight=weight, bits=bits)
    codes, log_radiance, levels = _codes_and_log_radiance(stack, times, g, bits)
    weights = weight_lut(weight, int(math.log2(levels))).to(stack.device)[codes] * masks.unsqueeze(1)
    total = weights.sum(0)
    merged = torch.exp((weights * log_radiance).sum(0) / total.clamp_min(1e-12))
    return torch.where(total > 0, merged, plain).float(), masks
