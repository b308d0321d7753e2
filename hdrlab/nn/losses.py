"""Training losses shared by the chapters: pixel, cosine, perceptual, smoothness, HDR, histogram, edge, CoBi.

Each loss is a function returning a 0-dim tensor (the mean over the batch);
the two that need a network (:class:`PerceptualLoss`, :class:`CoBiLoss`) are
modules holding a frozen :class:`~hdrlab.nn.features.VGG19Features` and call
the functions :func:`perceptual_loss` and :func:`contextual_bilateral_loss`
on its features. Inputs are validated (shape, dtype, NaN/inf, ranges where a
loss has one) and bad input raises a typed error from :mod:`hdrlab.errors`.

Example:
    >>> pred, target = torch.full((1, 3, 4, 4), 0.5), torch.full((1, 3, 4, 4), 0.75)
    >>> float(l1_loss(pred, target)), float(cosine_loss(pred, target))
    (0.25, 0.0)

Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb,
notebooks/04_differentiable_recursion.ipynb
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hdrlab.errors import ChoiceError, DTypeError, RangeError, ShapeError, describe
from hdrlab.imaging.tonemap import mu_law
from hdrlab.nn.blocks import _check_count
from hdrlab.nn.features import VGG19Features
from hdrlab.validate import check_int, check_nonnegative, check_positive, check_same_dtype, check_tensor

__all__ = [
    "l1_loss", "cosine_loss", "expandnet_loss", "perceptual_loss", "PerceptualLoss", "PERCEPTUAL_REDUCTIONS",
    "total_variation",
    "mu_law_loss", "soft_histogram", "HISTOGRAM_DISTANCES", "histogram_loss",
    "sobel_edges", "edge_loss", "contextual_bilateral_loss",
    "CoBiLoss", "COBI_MAX_POSITIONS",
]

#: Default limit on feature positions (H * W) for :func:`contextual_bilateral_loss`: its similarity matrices hold
#: ``(H W)^2`` values per image (64 MB each in float32 at 4096). The reference code samples 63 x 63 = 3969 positions.
COBI_MAX_POSITIONS = 4096


def _check_values(x: object, name: str, min_dim: int = 1) -> torch.Tensor:
    """A finite float tensor with at least ``min_dim`` dims."""
    check_tensor(x, name)
    assert isinstance(x, torch.Tensor)
    if x.dim() < min_dim or x.numel() == 0:
        layout = "(*, C, H, W)" if min_dim >= 3 else "a non-empty tensor"
        raise ShapeError(describe(f"{name} of shape {layout}", f"shape {tuple(x.shape)}",
                                  "Pass images or feature maps channels first."))
    if not torch.isfinite(x).all():
        raise RangeError(describe(f"finite {name} values", f"{int((~torch.isfinite(x)).sum())} NaN/inf values",
                                  "Find where they come from upstream; losses never replace them."))
    return x


def _check_pair(pred: object, target: object, min_dim: int = 1) -> None:
    _check_values(pred, "prediction", min_dim)
    _check_values(target, "target", min_dim)
    assert isinstance(pred, torch.Tensor) and isinstance(target, torch.Tensor)
    if pred.shape != target.shape:
        raise ShapeError(describe(f"prediction and target of the same shape (target {tuple(target.shape)})",
                                  f"prediction {tuple(pred.shape)}", "Crop or resize one to the other."))


def _mask_weights(mask: object, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or not (mask.dtype == torch.bool or mask.is_floating_point()):
        got = f"dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise DTypeError(describe("a bool or float mask tensor", got, "Build it with a comparison or as weights in [0, 1]."))
    try:
        broadcast = torch.broadcast_shapes(mask.shape, shape)
    except RuntimeError:
        broadcast = None
    if broadcast != shape:
        raise ShapeError(describe(f"a mask broadcastable to {tuple(shape)}, e.g. (*, 1, H, W)",
                                  f"shape {tuple(mask.shape)}", "Give one value per pixel (or per element)."))
    weights = mask.to(dtype)
    if not torch.isfinite(weights).all() or weights.min() < 0 or weights.max() > 1:
        raise RangeError(describe("mask values in [0, 1]", f"values in [{float(weights.min()):.4g}, "
                                  f"{float(weights.max()):.4g}]", "Use a bool mask or weights in [0, 1]."))
    weights = weights.expand(shape)
    if weights.sum() <= 0:
        raise RangeError(describe("a mask that selects at least one element", "an empty (all-zero) mask",
                                  "Skip the batch, or check the threshold that built the mask."))
    return weights


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error, optionally over the masked elements only.

    With a mask ``m`` broadcast to the inputs' shape: ``sum(m |pred - target|) / sum(m)``,
    the mean over the selected elements (weights in [0, 1] weigh them).

    Args:
        pred: any shape, e.g. ``(*, 3, H, W)`` (LDR or linear HDR).
        target: same shape.
        mask: optional bool or float tensor in [0, 1] broadcastable to ``pred``, e.g. ``(*, 1, H, W)``.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError: shapes differ, or the mask does not broadcast.
        DTypeError: non-float inputs, or a mask neither bool nor float.
        RangeError: NaN/inf, mask values outside [0, 1], or an empty mask.

    Example:
        >>> pred, target = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
        >>> mask = torch.tensor([[[[True, False], [False, False]]]])
        >>> float(l1_loss(pred + torch.tensor([0.5, 0, 0, 0]).view(1, 1, 2, 2), target, mask))
        0.5

    Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb
    """
    _check_pair(pred, target)
    error = (pred - target).abs()
    if mask is None:
        return error.mean()
    weights = _mask_weights(mask, pred.shape, pred.dtype)
    return (weights * error).sum() / weights.sum()


def cosine_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``1 - mean cosine similarity`` of the per-pixel colour vectors (dim -3): a loss on hue and saturation.

    A pixel whose vector is zero in either image has similarity 0 (PyTorch's
    ``cosine_similarity``: norms are clamped to ``eps``), as in the ExpandNet code.

    Args:
        pred: ``(*, C, H, W)``, C usually 3.
        target: same shape.
        eps: lower bound of the vector norms, > 0.

    Returns:
        0-dim tensor in [0, 2] (0: same directions; 1: orthogonal colours).

    Raises:
        ShapeError, DTypeError, RangeError: see :func:`l1_loss`; ``eps <= 0``.

    Example:
        >>> red, green = torch.tensor([1.0, 0, 0]).view(3, 1, 1), torch.tensor([0, 1.0, 0]).view(3, 1, 1)
        >>> float(cosine_loss(red, 2 * red)), float(cosine_loss(red, green))
        (0.0, 1.0)

    References:
        Marnerides, Bashford-Rogers, Hatchett, Debattista, "ExpandNet: a deep
        convolutional neural network for high dynamic range expansion from low
        dynamic range content", Eurographics 2018.

    Taught in: notebooks/02_metahdr.ipynb
    """
    _check_pair(pred, target, min_dim=3)
    check_positive(eps, "eps")
    return 1 - F.cosine_similarity(pred, target, dim=-3, eps=eps).mean()


def expandnet_loss(pred: torch.Tensor, target: torch.Tensor, cosine_weight: float = 5.0) -> torch.Tensor:
    """ExpandNet's loss: ``l1_loss + cosine_weight * cosine_loss`` (lambda = 5 in the paper).

    Args:
        pred: ``(*, 3, H, W)`` predicted HDR (the paper's is normalised to [0, 1]).
        target: same shape.
        cosine_weight: lambda, >= 0.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError, DTypeError, RangeError: see :func:`l1_loss`; a negative weight.

    Example:
        >>> x = torch.rand(1, 3, 4, 4) + 0.1
        >>> float(expandnet_loss(2 * x, x)) == float(l1_loss(2 * x, x))  # same colours: no cosine term
        True

    References:
        Marnerides et al., "ExpandNet", Eurographics 2018, eq. 5.

    Taught in: notebooks/02_metahdr.ipynb
    """
    weight = check_nonnegative(cosine_weight, "cosine_weight")
    return l1_loss(pred, target) + weight * cosine_loss(pred, target)


def _layer_weights(names: Sequence[str], weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(names)
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or len(weights) != len(names):
        raise ShapeError(describe(f"{len(names)} layer weights (one per layer {list(names)})", repr(weights),
                                  "Give one weight per layer, or None for equal weights."))
    return [check_nonnegative(w, "layer weight") for w in weights]


def _check_feature_dicts(pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> None:
    if not isinstance(pred, Mapping) or not isinstance(target, Mapping) or list(pred) != list(target) or not pred:
        raise ShapeError(describe("two non-empty dicts of features with the same layer names",
                                  f"{type(pred).__name__} and {type(target).__name__}",
                                  "Pass the outputs of one VGG19Features for prediction and target."))


#: Reductions of :func:`perceptual_loss`: ``"mean"`` over every element of a layer, or ``"channel_sum"``
#: (piq's ``ContentLoss``, which the multi-exposure generation reference trains with): the spatial mean of
#: each channel, summed over channels, averaged over the batch, i.e. ``C_l`` times ``"mean"``.
PERCEPTUAL_REDUCTIONS = ("mean", "channel_sum")


def perceptual_loss(
    pred_features: Mapping[str, torch.Tensor],
    target_features: Mapping[str, torch.Tensor],
    weights: Sequence[float] | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """``sum_l w_l mean |phi_l(pred) - phi_l(target)|`` over named feature maps (e.g. from VGG19Features).

    With ``reduction="channel_sum"`` each layer's term is summed over its ``C_l``
    channels instead of averaged (``sum_l w_l C_l mean |...|`` for features of
    shape ``(B, C_l, H_l, W_l)``), as piq's ``ContentLoss`` reduces: on VGG19
    ``pool1``-``pool3`` (64, 128, 256 channels) that is ~100x the ``"mean"`` value.

    Args:
        pred_features: ``{layer: (*, C_l, H_l, W_l)}``.
        target_features: the same layers and shapes.
        weights: one weight >= 0 per layer (default 1 each).
        reduction: a name in :data:`PERCEPTUAL_REDUCTIONS`.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError: different layers or shapes, or wrong number of weights.
        DTypeError, RangeError: see :func:`l1_loss`.
        ChoiceError: unknown ``reduction``.

    Example:
        >>> f = {"a": torch.zeros(1, 2, 2, 2), "b": torch.zeros(1, 4, 1, 1)}
        >>> g = {"a": torch.ones(1, 2, 2, 2), "b": torch.full((1, 4, 1, 1), 2.0)}
        >>> float(perceptual_loss(f, g, [1.0, 0.5])), float(perceptual_loss(f, g, [1.0, 0.5], "channel_sum"))
        (2.0, 6.0)

    References:
        Johnson, Alahi, Fei-Fei, "Perceptual losses for real-time style
        transfer and super-resolution", ECCV 2016.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    _check_feature_dicts(pred_features, target_features)
    layer_weights = _layer_weights(list(pred_features), weights)
    _check_perceptual_reduction(reduction)
    losses = [w * l1_loss(pred_features[name], target_features[name])
              * (pred_features[name].shape[-3] if reduction == "channel_sum" else 1)
              for name, w in zip(pred_features, layer_weights)]
    return torch.stack(losses).sum()


def _check_perceptual_reduction(reduction: object) -> None:
    if reduction not in PERCEPTUAL_REDUCTIONS:
        raise ChoiceError(describe(f"reduction in {PERCEPTUAL_REDUCTIONS}", repr(reduction),
                                   "Use 'channel_sum' to match piq's ContentLoss, 'mean' to average every element."))


class PerceptualLoss(nn.Module):
    """L1 distance between VGG19 features of two display images (:func:`perceptual_loss` on :class:`VGG19Features`).

    The multi-exposure generation reference uses ``pool1``-``pool3`` with
    weight 0.1 in its total loss, reduced as piq's ``ContentLoss`` does
    (``reduction="channel_sum"``). Offline, ``pretrained="auto"`` falls back to
    random VGG features (and says so); see :class:`~hdrlab.nn.features.VGG19Features`.

    Args:
        layers: VGG19 layer names (:data:`~hdrlab.nn.features.VGG19_LAYERS`).
        weights: one weight >= 0 per layer (default 1 each).
        pretrained: True, False or ``"auto"``.
        reduction: a name in :data:`PERCEPTUAL_REDUCTIONS` (see :func:`perceptual_loss`).

    Attributes:
        vgg: the frozen feature extractor.

    Raises:
        ChoiceError: unknown layer, ``pretrained`` or ``reduction``.
        ShapeError: wrong number of weights.
        MissingWeightsError: ``pretrained=True`` offline.

    Example:
        >>> loss = PerceptualLoss(layers=("pool1",), pretrained=False)
        >>> x = torch.rand(1, 3, 8, 8)
        >>> float(loss(x, x))
        0.0

    References:
        Johnson, Alahi, Fei-Fei, ECCV 2016.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """

    def __init__(
        self,
        layers: Sequence[str] = ("pool1", "pool2", "pool3"),
        weights: Sequence[float] | None = None,
        pretrained: bool | str = "auto",
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        _check_perceptual_reduction(reduction)
        self.vgg = VGG19Features(layers, pretrained=pretrained)
        self.weights = _layer_weights(self.vgg.layers, weights)
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss between ``(*, 3, H, W)`` display images in [0, 1] of the same shape; a 0-dim tensor.

        Raises:
            ShapeError: shapes differ or are too small; RangeError: values outside [0, 1].
        """
        _check_pair(pred, target, min_dim=3)
        return perceptual_loss(self.vgg(pred), self.vgg(target), self.weights, self.reduction)


def total_variation(x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Anisotropic total variation: L1 norm of vertical plus horizontal neighbour differences.

    ``"mean"``: ``mean |x[i+1, j] - x[i, j]| + mean |x[i, j+1] - x[i, j]|``
    (each mean over its own differences, all images and channels);
    ``"sum"``: the same with sums (the classic TV of the whole batch).

    Args:
        x: ``(*, C, H, W)`` with H, W >= 2.
        reduction: ``"mean"`` or ``"sum"``.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError: fewer than 3 dims or a side < 2.
        ChoiceError: unknown reduction.
        DTypeError, RangeError: not float, NaN/inf.

    Example:
        >>> ramp = torch.arange(4.0).view(1, 1, 4).expand(3, 2, 4)  # +1 per column, constant down
        >>> float(total_variation(ramp)), float(total_variation(ramp, "sum"))
        (1.0, 18.0)

    References:
        Rudin, Osher, Fatemi, "Nonlinear total variation based noise removal
        algorithms", Physica D 1992 (the isotropic form; this is the anisotropic one).

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    _check_values(x, "input", min_dim=3)
    if reduction not in ("mean", "sum"):
        raise ChoiceError(describe("reduction 'mean' or 'sum'", repr(reduction), "Use 'mean'."))
    if min(x.shape[-2:]) < 2:
        raise ShapeError(describe("H, W >= 2 (neighbour differences)", f"{tuple(x.shape[-2:])}", "Use a larger crop."))
    vertical, horizontal = x.diff(dim=-2).abs(), x.diff(dim=-1).abs()
    if reduction == "mean":
        return vertical.mean() + horizontal.mean()
    return vertical.sum() + horizontal.sum()


def mu_law_loss(pred: torch.Tensor, target: torch.Tensor, mu: float = 5000.0) -> torch.Tensor:
    """L1 between mu-law compressed HDR images: ``mean |T(pred) - T(target)|``, ``T(x) = log(1 + mu x) / log(1 + mu)``.

    The compression (:func:`hdrlab.imaging.tonemap.mu_law`) weighs errors in
    dark regions as a viewer sees them. Inputs must be normalised to [0, 1].
    Note: the recursive-synthesis reference code uses ``mu = 100``, its paper
    (and Kalantari & Ramamoorthi) 5000.

    Args:
        pred: ``(*, 3, H, W)`` linear HDR in [0, 1].
        target: same shape.
        mu: compression strength, > 0.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError: shapes differ or not ``(*, 3, H, W)``.
        RangeError: values outside [0, 1] or NaN; ``mu <= 0``.
        DTypeError: not float.

    Example:
        >>> float(mu_law_loss(torch.zeros(3, 2, 2), torch.ones(3, 2, 2)))
        1.0

    References:
        Kalantari & Ramamoorthi, "Deep high dynamic range imaging of dynamic
        scenes", SIGGRAPH 2017.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    _check_pair(pred, target, min_dim=3)
    return (mu_law(pred, mu) - mu_law(target, mu)).abs().mean()


def _histogram_settings(
    bins: int, value_range: tuple[float, float], bandwidth: float | None
) -> tuple[float, float, float]:
    _check_count(bins, "bins")
    try:
        if isinstance(value_range, (str, bytes)):
            raise TypeError("a string")
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError) as err:
        raise DTypeError(describe("value_range as (low, high)", repr(value_range), "Pass e.g. (0.0, 1.0).")) from err
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise RangeError(describe("finite value_range with low < high", repr(value_range), "Pass e.g. (0.0, 1.0)."))
    width = (high - low) / bins
    if bandwidth is not None:
        check_positive(bandwidth, "bandwidth")
    return low, width, width / 4 if bandwidth is None else float(bandwidth)


def soft_histogram(
    x: torch.Tensor, bins: int = 64, value_range: tuple[float, float] = (0.0, 1.0), bandwidth: float | None = None
) -> torch.Tensor:
    """Differentiable histogram per channel: each value spreads over bins with a difference of sigmoids.

    Bin ``k`` covers ``[e_k, e_{k+1})``, ``e_k = low + k (high - low) / bins``; a
    value ``v`` counts ``sigmoid((v - e_k) / s) - sigmoid((v - e_{k+1}) / s)``
    in it (``s`` = ``bandwidth``, default a quarter of the bin width: a value
    at a bin centre puts 76 % in its bin). The counts of one value telescope
    to ``sigmoid((v - low) / s) - sigmoid((v - high) / s)``: 1 for values a few
    ``s`` inside the range, 1/2 at its ends, ~0 outside (like ``torch.histc``,
    values outside the range are not counted). Counts are divided by ``H W``.
    Memory: ``H W (bins + 1)`` values per channel (crop or downsample large images).

    Args:
        x: ``(*, C, H, W)``.
        bins: number of bins, >= 1.
        value_range: ``(low, high)``, finite, low < high.
        bandwidth: sigmoid scale ``s`` > 0 in value units, or None.

    Returns:
        ``(*, C, bins)`` fractions of pixels.

    Raises:
        ShapeError: fewer than 3 dims. RangeError: NaN/inf, bins < 1, bad range or bandwidth.
        DTypeError: not float, bins not an int, or a malformed ``value_range``.

    Example:
        >>> h = soft_histogram(torch.full((3, 4, 4), 0.45), bins=10)  # the centre of bin 4
        >>> h.shape, round(float(h[0].sum()), 4), int(h[0].argmax()), round(float(h[0, 4]), 3)
        (torch.Size([3, 10]), 1.0, 4, 0.762)

    References:
        Avi-Aharon, Arbelle, Riklin Raviv, "DeepHist: differentiable joint and
        color histogram layers for image-to-image translation", arXiv:2005.03995, 2020.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    _check_values(x, "input", min_dim=3)
    low, width, scale = _histogram_settings(bins, value_range, bandwidth)
    edges = low + width * torch.arange(bins + 1, dtype=x.dtype, device=x.device)
    below = torch.sigmoid((x.flatten(-2).unsqueeze(-1) - edges) / scale)  # (*, C, H W, bins + 1)
    return (below[..., :-1] - below[..., 1:]).mean(dim=-2)


#: Distances of :func:`histogram_loss`: ``"emd"`` (hdrlab's: 1-D earth mover's distance, L1 between the CDFs) and
#: ``"l1"`` (Kim, Lee & Kang 2021: L1 between the histograms themselves).
HISTOGRAM_DISTANCES = ("emd", "l1")


def histogram_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    bins: int = 64,
    value_range: tuple[float, float] = (0.0, 1.0),
    bandwidth: float | None = None,
    *,
    distance: str = "emd",
) -> torch.Tensor:
    """A distance between the soft histograms of two images, per channel, averaged over channels.

    ``distance`` (:data:`HISTOGRAM_DISTANCES`):

    * ``"emd"``: the 1-D earth mover's (Wasserstein-1) distance,
      ``sum_k |CDF_pred(k) - CDF_target(k)| * bin_width`` with the CDFs the
      cumulative sums of :func:`soft_histogram`: for two constant images at
      values ``a`` and ``b`` it is ``|a - b|``, so it measures how far values
      must move, not only whether bins differ. In value units.
    * ``"l1"``: ``sum_k |h_pred(k) - h_target(k)|`` of the histograms (fractions
      of the pixels), in [0, 2]: the histogram loss of Kim, Lee & Kang (AAAI 2021).
      Two images with no bin in common score 2 however far apart their values are.
      (Their reference code takes the mean, not the sum, over 256 bins of
      pixel counts / 255 and weighs it 0.01; the paper weighs its L1 0.1.)

    The images may differ in size; their leading dims ``(*, C)`` must match.

    Args:
        pred: ``(*, C, H, W)``.
        target: ``(*, C, H', W')``.
        bins, value_range, bandwidth: see :func:`soft_histogram`.
        distance: a name in :data:`HISTOGRAM_DISTANCES`.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError: leading dims differ. RangeError, DTypeError: see :func:`soft_histogram`.
        ChoiceError: unknown ``distance``.

    Example:
        >>> a, b = torch.full((3, 4, 4), 16.5 / 64), torch.full((3, 4, 4), 48.5 / 64)  # bin centres
        >>> round(float(histogram_loss(a, b)), 4), round(float(histogram_loss(a, b, distance="l1")), 4)
        (0.5, 2.0)

    Taught in: notebooks/03_multi_exposure_generation.ipynb, notebooks/04_differentiable_recursion.ipynb
    """
    if distance not in HISTOGRAM_DISTANCES:
        raise ChoiceError(describe(f"distance in {HISTOGRAM_DISTANCES}", repr(distance),
                                   "Use 'emd' (hdrlab's default) or 'l1' (Kim et al.'s)."))
    _check_values(pred, "prediction", min_dim=3)
    _check_values(target, "target", min_dim=3)
    if pred.shape[:-2] != target.shape[:-2]:
        raise ShapeError(describe(f"prediction and target with the same (*, C) (target {tuple(target.shape[:-2])})",
                                  f"prediction {tuple(pred.shape[:-2])}", "Compare images of the same batch and channels."))
    hist_pred = soft_histogram(pred, bins, value_range, bandwidth)
    hist_target = soft_histogram(target, bins, value_range, bandwidth)
    if distance == "l1":
        return (hist_pred - hist_target).abs().sum(-1).mean()
    _, width, _ = _histogram_settings(bins, value_range, bandwidth)
    return ((hist_pred.cumsum(-1) - hist_target.cumsum(-1)).abs().sum(-1) * width).mean()


_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


def sobel_edges(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Gradient magnitude per channel from Sobel filters: ``sqrt(gx^2 + gy^2 + eps)``.

    The kernels are divided by 8, so a ramp rising by ``a`` per pixel has
    ``gx = a``. Borders are replicate-padded. ``eps`` keeps the square root
    differentiable on flat regions (which then read ``sqrt(eps)``).

    Args:
        x: ``(*, C, H, W)``.
        eps: > 0.

    Returns:
        ``(*, C, H, W)`` magnitudes.

    Raises:
        ShapeError: fewer than 3 dims. RangeError: NaN/inf or ``eps <= 0``. DTypeError: not float.

    Example:
        >>> ramp = 0.5 * torch.arange(5.0).expand(1, 5, 5)  # +0.5 per column
        >>> round(float(sobel_edges(ramp)[0, 2, 2]), 4)
        0.5

    References:
        Sobel & Feldman, "A 3x3 isotropic gradient operator for image processing", 1968.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    _check_values(x, "input", min_dim=3)
    check_positive(eps, "eps")
    channels = x.shape[-3]
    maps = F.pad(x.reshape(-1, channels, *x.shape[-2:]), (1, 1, 1, 1), mode="replicate")
    kernel_x = _SOBEL_X.to(x)
    kernels = torch.stack([kernel_x, kernel_x.T]).unsqueeze(1).repeat(channels, 1, 1, 1)  # (2C, 1, 3, 3)
    gx, gy = F.conv2d(maps, kernels, groups=channels).unflatten(1, (channels, 2)).unbind(dim=2)
    return torch.sqrt(gx * gx + gy * gy + eps).reshape(x.shape)


def edge_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between Sobel gradient magnitudes (:func:`sobel_edges`): ``mean |S(pred) - S(target)|``.

    Magnitudes, not components: the loss asks for edges of the right strength
    and ignores their sign (a dark-to-bright edge matches a bright-to-dark one).

    Args:
        pred: ``(*, C, H, W)``.
        target: same shape.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError, DTypeError, RangeError: see :func:`l1_loss`.

    Example:
        >>> ramp = torch.arange(5.0).expand(3, 5, 5) / 4
        >>> float(edge_loss(ramp, ramp)), float(edge_loss(ramp.flip(-1), ramp))  # same strength, opposite sign
        (0.0, 0.0)

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    _check_pair(pred, target, min_dim=3)
    return (sobel_edges(pred) - sobel_edges(target)).abs().mean()


def _contextual_similarity(distance: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """CX_ij = softmax_j(-d~_ij / h), d~_ij = d_ij / (min_k d_ik + 1e-3): ``exp((1 - d~)/h)`` normalised over j."""
    relative = distance / (distance.min(dim=-1, keepdim=True).values + 1e-3)
    return torch.softmax(-relative / bandwidth, dim=-1)


def _position_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(height, dtype=like.dtype, device=like.device) / height
    cols = torch.arange(width, dtype=like.dtype, device=like.device) / width
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1).reshape(-1, 2)


def _check_cobi_settings(spatial_weight: object, bandwidth: object, max_positions: object) -> float:
    """Check CoBi's scalars (``spatial_weight`` in [0, 1], ``bandwidth`` > 0, ``max_positions`` >= 1); the weight."""
    weight = check_nonnegative(spatial_weight, "spatial_weight")
    if weight > 1:
        raise RangeError(describe("spatial_weight in [0, 1]", repr(spatial_weight), "Use 0.1 (the paper's)."))
    check_positive(bandwidth, "bandwidth")
    check_int(max_positions, "max_positions", 1)
    return weight


def contextual_bilateral_loss(
    pred_features: torch.Tensor,
    target_features: torch.Tensor,
    spatial_weight: float = 0.1,
    bandwidth: float = 0.5,
    max_positions: int = COBI_MAX_POSITIONS,
) -> torch.Tensor:
    """Contextual bilateral loss (CoBi, Zhang et al. 2019) between feature maps, as the authors' code computes it.

    For each image, with ``i`` over prediction positions and ``j`` over target
    positions (feature vectors ``p_i``, ``t_j``; ``mu`` = mean of the target's vectors):

    - feature distance ``d_ij = (1 - cos(p_i - mu, t_j - mu)) / 2``;
    - spatial distance ``s_ij = ||g_i - g_j||^2`` of the positions
      ``g = (row / H, col / W)``;
    - each made a contextual similarity: ``CX_ij = softmax_j(-d~_ij / h)``
      with ``d~_ij = d_ij / (min_k d_ik + 1e-3)`` and bandwidth ``h``;
    - combined ``CX = (1 - w) CX_feat + w CX_spatial`` (``w`` = ``spatial_weight``);
    - ``loss = -log(mean_j max_i CX_ij)``: each target feature looks for its
      best-matching prediction feature, with a penalty for matches far away.

    The result is averaged over the batch. ``CX`` is at least ``1 / (H W)``
    on average, so the loss lies in ``[0, log(H W)]`` and is never inf.
    With ``spatial_weight=0`` it is the contextual loss of Mechrez et al.,
    invariant to moving features around. The code (``CX/CSFlow.py``) differs
    from the paper's equation, ``mean_i min_j (D_ij + w D'_ij)``, and from a
    plain reading of it: it blends similarities, not distances, and takes the
    max over prediction positions for each target position. It centres by
    the target mean over the whole batch; here per image, so an image's loss
    does not depend on the rest of its batch.

    Memory is ``O((H W)^2)`` per image, hence ``max_positions``.

    Args:
        pred_features: ``(B, C, H, W)`` feature maps of the prediction (e.g. VGG19 ``relu3_4``, or RGB patches).
        target_features: same shape.
        spatial_weight: ``w`` in [0, 1] (0.1 in the paper).
        bandwidth: ``h`` > 0 (0.5 in the authors' code).
        max_positions: largest ``H * W`` accepted.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError: shapes differ, not 4-D, or ``H * W > max_positions`` (downsample with
            ``F.avg_pool2d`` or sample positions / crop patches, as the authors sample 63 x 63).
        RangeError: NaN/inf, ``spatial_weight`` outside [0, 1], ``bandwidth <= 0``, ``max_positions < 1``.
        DTypeError: not float; prediction and target of different dtypes (outside ``torch.autocast``);
            a setting of the wrong type (``max_positions`` not an int).

    Example:
        >>> t = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]]).view(1, 2, 2, 2)  # 4 directions
        >>> float(contextual_bilateral_loss(t, t)) == 0  # each target feature has its exact match in place
        True
        >>> float(contextual_bilateral_loss(t.flip(-1), t, spatial_weight=0.0)) == 0  # CX ignores where
        True

    References:
        Zhang, Chen, Ng, Koltun, "Zoom to learn, learn to zoom", CVPR 2019
        (code: github.com/ceciliavision/zoom-learn-zoom). Mechrez, Talmi,
        Zelnik-Manor, "The contextual loss for image transformation with
        non-aligned data", ECCV 2018.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    _check_pair(pred_features, target_features, min_dim=4)
    if pred_features.dim() != 4:
        raise ShapeError(describe("feature maps (B, C, H, W)", f"shape {tuple(pred_features.shape)}",
                                  "Flatten leading dims into the batch."))
    check_same_dtype(pred_features, target_features, ("prediction features", "target features"))
    weight = _check_cobi_settings(spatial_weight, bandwidth, max_positions)
    height, width = pred_features.shape[-2:]
    if height * width > max_positions:
        raise ShapeError(describe(
            f"at most {max_positions} feature positions (H * W; memory grows with its square)",
            f"{height} x {width} = {height * width}",
            "Downsample the features (F.avg_pool2d), use a deeper layer or a smaller crop, or sample positions "
            "(the authors compare a random 63 x 63 sample); or raise max_positions if memory allows.",
        ))
    pred, target = pred_features.flatten(2), target_features.flatten(2)  # (B, C, P)
    centre = target.mean(dim=2, keepdim=True)
    pred, target = F.normalize(pred - centre, dim=1), F.normalize(target - centre, dim=1)
    feature_cx = _contextual_similarity((1 - pred.transpose(1, 2) @ target) / 2, bandwidth)  # (B, P_pred, P_target)
    grid = _position_grid(height, width, pred_features)
    spatial_cx = _contextual_similarity((grid[:, None] - grid[None]).pow(2).sum(-1), bandwidth)
    combined = (1 - weight) * feature_cx + weight * spatial_cx
    return -torch.log(combined.max(dim=1).values.mean(dim=1)).mean()


class CoBiLoss(nn.Module):
    """CoBi loss on VGG19 features of two display images (:func:`contextual_bilateral_loss` per layer, summed).

    Tolerates misalignment between prediction and target (features may
    match a few positions away), as when training on pairs that are not
    pixel-aligned. Offline, ``pretrained="auto"`` uses random VGG features and says so.

    Args:
        layers: VGG19 layer names.
        pretrained: True, False or ``"auto"``.
        spatial_weight: ``w`` in [0, 1].
        bandwidth: ``h`` > 0.
        weights: one weight >= 0 per layer (default 1 each).
        max_positions: largest ``H * W`` of a feature map (see :func:`contextual_bilateral_loss`).

    Attributes:
        vgg: the frozen feature extractor.

    Raises:
        ChoiceError: unknown layer or ``pretrained``.
        ShapeError: wrong number of weights.
        RangeError, DTypeError: a negative or non-number weight; ``spatial_weight``, ``bandwidth`` or
            ``max_positions`` invalid (see :func:`contextual_bilateral_loss`).
        MissingWeightsError: ``pretrained=True`` offline.

    Example:
        >>> loss = CoBiLoss(layers=("relu1_1",), pretrained=False)
        >>> x = torch.rand(1, 3, 8, 8)
        >>> bool(loss(x, x) < loss(x, torch.rand(1, 3, 8, 8)))
        True

    References:
        Zhang, Chen, Ng, Koltun, "Zoom to learn, learn to zoom", CVPR 2019.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """

    def __init__(
        self,
        layers: Sequence[str] = ("relu3_4", "relu4_4"),
        pretrained: bool | str = "auto",
        spatial_weight: float = 0.1,
        bandwidth: float = 0.5,
        weights: Sequence[float] | None = None,
        max_positions: int = COBI_MAX_POSITIONS,
    ) -> None:
        super().__init__()
        _check_cobi_settings(spatial_weight, bandwidth, max_positions)
        self.vgg = VGG19Features(layers, pretrained=pretrained)
        self.weights = _layer_weights(self.vgg.layers, weights)
        self.spatial_weight, self.bandwidth, self.max_positions = spatial_weight, bandwidth, max_positions

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss between ``(B, 3, H, W)`` display images in [0, 1] of the same shape; a 0-dim tensor.

        Raises:
            ShapeError: shapes differ, too small, or too many feature positions.
            RangeError: values outside [0, 1].
        """
        _check_pair(pred, target, min_dim=4)
        pred_features, target_features = self.vgg(pred), self.vgg(target)
        losses = [w * contextual_bilateral_loss(pred_features[name], target_features[name], self.spatial_weight,
                                                self.bandwidth, self.max_positions)
                  for name, w in zip(self.vgg.layers, self.weights)]
        return torch.stack(losses).sum()
