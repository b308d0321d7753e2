"""Single-image HDR by multi-exposure generation (Le, Le, Nguyen & Hua, WACV 2023).

Invert the camera, rescale, re-render. From one LDR ``I1`` (shot at time
``t1``) an HDR-encoding U-Net N1 estimates the latent exposure
``E1 = relu(I1 + N1(I1 * mask(I1)))`` (the sensor irradiance times ``t1``, in
display-like units); multiplying by the exposure ratio ``t2 / t1`` gives the
exposure of a shot at ``t2``, which an up-exposure U-Net N2 (``t2 > t1``) or a
down-exposure U-Net N3 (``t2 < t1``) renders into the LDR ``I2``, hallucinating
what the input clipped. Any ratio works, not only +-1 EV. The generated bracket
is then merged like a real one (chapter 1's Debevec merge).

Training is *weakly* supervised: pairs of exposures of one scene and their
times, no HDR (:func:`loss_terms`). Both directions run on every pair: the
shorter shot ``x`` renders the longer ``y`` through N2, ``y`` renders ``x``
through N3, and

- the **HDR representation loss** makes the two latent exposures agree once
  rescaled: ``L1(log(E_y t_x/t_y + eps), log(E_x + eps))`` plus the mirror
  term, ``eps = 1/255``;
- the **reconstruction loss** is L1 between each rendered and real shot,
  weighted by the real shot's well-exposedness :func:`exposure_mask`;
- the **perceptual loss** compares VGG19 ``pool1``-``pool3`` features of the
  masked shots (:class:`hdrlab.nn.losses.PerceptualLoss`), reduced as the reference's
  piq ``ContentLoss``: L1 averaged over positions, *summed* over channels
  (``reduction="channel_sum"``, ~100x an average over every element);
- **total variation** of the rendered shots (per image sum, batch mean).

Weights as the reference code trains (``EDNet``: ``recon 1e2, hdr 1e0,
content 1e-1, TV 1e-5``), i.e. reconstruction 100, representation 1,
perceptual 0.1, TV 1e-5 (issue 6 lists the first two the other way round; the
code is followed, see docs/DEVELOPMENT.md).

The networks are the reference's (:class:`ExposureUNet`): 7-level U-Nets, two
3x3 conv + BatchNorm + Mish per level, 2x2 max-pool down, channels doubling
up to a cap, *sub-pixel* upsampling (a 1x1 conv to 4x the channels with ICNR
weights, BatchNorm, Mish, ``PixelShuffle(2)``), skip concatenation, a 1x1 head.
N1: base 16 (cap 256), ``tanh`` head; N2/N3: base 32 (cap 512), the network's
input concatenated before the head, ``0.5 tanh + 0.5`` head.

Example:
    >>> model = MultiExposureNet(n1_width=4, n23_width=4, levels=3)
    >>> ldr = torch.rand(2, 3, 16, 16)
    >>> out, latent = model(ldr, torch.tensor([4.0, 0.25]))  # +2 EV and -2 EV
    >>> out.shape, bool(latent.min() >= 0)
    (torch.Size([2, 3, 16, 16]), True)

References:
    Le, Le, Nguyen, Hua, "Single-Image HDR Reconstruction by Multi-Exposure
    Generation", WACV 2023 (code: github.com/VinAIResearch/single_image_hdr).
    Endo, Kanamori, Mitani, "Deep reverse tone mapping", SIGGRAPH Asia 2017.
    Aitken et al., "Checkerboard artifact free sub-pixel convolution", 2017.

Taught in: notebooks/03_multi_exposure_generation.ipynb
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hdrlab import env, train
from hdrlab.data import scenes as scene_data
from hdrlab.data.datasets import DEFAULT_CRFS, ExposurePairs, StackPairs
from hdrlab.errors import ChoiceError, DTypeError, ExposureError, MissingFileError, RangeError, ShapeError, describe
from hdrlab.imaging import camera
from hdrlab.imaging.crf import get_response_curve, recover_debevec
from hdrlab.imaging.merge import merge_debevec
from hdrlab.imaging.tonemap import mu_law, normalize_hdr
from hdrlab.methods import expandnet
from hdrlab.metrics import psnr, ssim, tonemapped_psnr, tonemapped_ssim
from hdrlab.nn.blocks import ConvNormAct, ConvStack, check_feature_map, check_layer_dtype, icnr_, parameter_dtype
from hdrlab.nn.features import VGG19_LAYERS
from hdrlab.nn.losses import PERCEPTUAL_REDUCTIONS, PerceptualLoss, total_variation
from hdrlab.nn.pretrained import check_pretrained
from hdrlab.validate import (
    as_float_tensor,
    as_path,
    check_bool,
    check_choice,
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
    check_tensor,
)

__all__ = [
    "MASK_THRESHOLD",
    "LOG_EPS",
    "LOSS_WEIGHTS",
    "exposure_mask",
    "SubPixelUpsample",
    "ExposureUNet",
    "MultiExposureNet",
    "representation_loss",
    "reconstruction_loss",
    "tv_loss",
    "MultiExposureLoss",
    "order_pairs",
    "render_pairs",
    "loss_terms",
    "HEADS",
    "NormalizedTanh",
    "Settings",
    "PROFILES",
    "CAMERA_CRFS",
    "ABLATIONS",
    "settings_for",
    "build_model",
    "generate",
    "hdr_estimate",
    "naive_reexposure",
    "merge_bracket",
    "held_out_brackets",
    "HDR_METHODS",
    "hdr_display",
    "evaluate",
    "stack_table",
    "hdr_table",
    "TABLE4_ROWS",
    "TABLE5_ROWS",
    "ablation_tables",
    "train_multiexposure",
    "load_trained",
]

#: tau of the well-exposedness mask: luma above tau or below 1 - tau fades to 0 (the reference's 0.95).
MASK_THRESHOLD = 0.95
#: eps inside the representation loss's log, 1/255 (the reference's).
LOG_EPS = 1.0 / 255.0
#: Loss weights of the reference's training (``EDNet``): reconstruction, HDR representation, perceptual, TV.
LOSS_WEIGHTS = {"recon": 100.0, "hdr": 1.0, "perceptual": 0.1, "tv": 1e-5}

_LUMA = (0.299, 0.587, 0.114)  # the reference's Y of RGB (BT.601), applied to the display values


# ----------------------------------------------------------------------------- the mask


def exposure_mask(ldr: torch.Tensor, threshold: float = MASK_THRESHOLD) -> torch.Tensor:
    """Well-exposedness of each pixel: ``1 - max(under, over)`` on luma, the reference's formula.

    With ``Y = 0.299 R + 0.587 G + 0.114 B`` of the display values and ``tau = threshold``:
    ``under = max(1 - tau - Y, 0) / (1 - tau)``, ``over = max(Y - tau, 0) / (1 - tau)``.
    The mask is 1 for ``1 - tau <= Y <= tau`` and falls linearly to 0 at ``Y = 0``
    and ``Y = 1`` (for ``tau >= 0.5``).

    Args:
        ldr: ``(*, 3, H, W)`` LDR in [0, 1].
        threshold: tau, in (0.5, 1).

    Returns:
        ``(*, 1, H, W)`` in [0, 1].

    Raises:
        ShapeError, DTypeError, RangeError: invalid image or threshold.

    Example:
        >>> grey = torch.tensor([0.0, 0.025, 0.5, 0.975, 1.0]).view(1, 1, 5).expand(3, 1, 5)
        >>> [round(v, 4) for v in exposure_mask(grey).flatten().tolist()]
        [0.0, 0.5, 1.0, 0.5, 0.0]

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    check_ldr(ldr)
    return _mask(ldr, _check_threshold(threshold))


def _check_threshold(threshold: object) -> float:
    value = check_number(threshold, "threshold")
    if not 0.5 < value < 1:
        raise RangeError(describe("threshold in (0.5, 1)", repr(threshold), "Use 0.95 (the reference)."))
    return value


def _mask(ldr: torch.Tensor, threshold: float) -> torch.Tensor:
    """:func:`exposure_mask` without validation (the training loop's hot path)."""
    weights = torch.tensor(_LUMA, dtype=ldr.dtype, device=ldr.device).view(3, 1, 1)
    luma = (ldr * weights).sum(dim=-3, keepdim=True)
    span = 1.0 - threshold
    under = (span - luma).clamp(min=0) / span
    over = (luma - threshold).clamp(min=0) / span
    return (1.0 - torch.maximum(under, over)).clamp(0.0, 1.0)  # luma weights sum to 1 + 2e-7 in float32


# ----------------------------------------------------------------------------- the networks


class SubPixelUpsample(nn.Module):
    """The reference's 2x upsampler: 1x1 conv ``C -> 4C`` (ICNR, no bias), BatchNorm, Mish, ``PixelShuffle(2)``.

    Keeps the channel count: ``(B, C, H, W) -> (B, C, 2H, 2W)``. ICNR (Aitken
    et al.) makes the four sub-pixel kernels of each output channel equal at
    initialisation, so the layer starts as a nearest-neighbour upsampling of one
    1x1 convolution (no checkerboard). Parameters: ``4 C^2`` (conv) + ``8 C`` (BatchNorm).

    Args:
        channels: C, >= 1.
        norm: a key of :data:`hdrlab.nn.blocks.NORMS` (``"none"`` adds a conv bias).
        activation_name: a key of :data:`hdrlab.nn.blocks.ACTIVATIONS`.

    Example:
        >>> SubPixelUpsample(4)(torch.rand(1, 4, 3, 5)).shape
        torch.Size([1, 4, 6, 10])
    """

    def __init__(self, channels: int, norm: str = "batch", activation_name: str = "mish") -> None:
        super().__init__()
        check_int(channels, "channels", 1)
        self.up = ConvNormAct(channels, 4 * channels, kernel_size=1, norm=norm, activation=activation_name)
        # ICNR with torch's default conv init (kaiming_uniform, a = sqrt(5)) for the sub-kernel, as the reference.
        icnr_(self.up.conv.weight, 2, lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5)))
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, 2H, 2W)``."""
        return self.shuffle(self.up(x))


class NormalizedTanh(nn.Module):
    """``0.5 tanh(x) + 0.5``: a tanh rescaled to (0, 1), the reference's LDR head."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Elementwise, any shape.

        Raises:
            DTypeError: not a floating-point tensor.
        """
        check_tensor(x)
        return 0.5 * torch.tanh(x) + 0.5


#: Head activations of :class:`ExposureUNet`.
HEADS = {"tanh": nn.Tanh, "normalized_tanh": NormalizedTanh}


def _unet_widths(base_width: int, max_width: int, levels: int) -> list[int]:
    return [min(base_width * 2**i, max_width) for i in range(levels)]


class ExposureUNet(nn.Module):
    """The reference's ``BaseUNet`` (the building block of N1, N2 and N3).

    Encoder level ``i`` (0-based) has ``w_i = min(base * 2**i, max_width)``
    channels: two 3x3 conv + norm + activation, after a 2x2 max-pool for
    ``i > 0``. The decoder climbs from the bottleneck: at level ``i`` it upsamples
    its ``d`` channels with :class:`SubPixelUpsample` (channels kept),
    concatenates encoder level ``i - 1`` and applies two 3x3 conv + norm +
    activation down to ``w_{i-2}`` channels (``w_0`` at the top), the
    reference's channel rule. The head is a 1x1 conv with bias to
    ``out_channels`` and the head activation, fed with the decoder output, or
    with the network's input concatenated to it (``concat_input=True``).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        base_width: channels of level 0.
        max_width: channel cap.
        levels: number of resolutions (the reference: 7); H, W must be multiples of ``2**(levels-1)``.
        head: head activation, ``"tanh"`` (N1) or ``"normalized_tanh"`` (``0.5 tanh + 0.5``, N2/N3).
        concat_input: concatenate the input before the head (N2/N3's "global residual").
        norm: a key of :data:`hdrlab.nn.blocks.NORMS` (the reference: batch).
        activation_name: a key of :data:`hdrlab.nn.blocks.ACTIVATIONS` (the reference: mish).

    Raises:
        DTypeError, RangeError: bad sizes, ``concat_input`` not a bool; ChoiceError: unknown head, norm or activation.

    Example:
        >>> net = ExposureUNet(base_width=4, max_width=8, levels=3, head="tanh")
        >>> net.widths, net(torch.rand(1, 3, 8, 8)).shape
        ([4, 8, 8], torch.Size([1, 3, 8, 8]))
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, *, base_width: int = 32, max_width: int = 512,
                 levels: int = 7, head: str = "normalized_tanh", concat_input: bool = True, norm: str = "batch",
                 activation_name: str = "mish") -> None:
        super().__init__()
        for value, name in ((in_channels, "in_channels"), (out_channels, "out_channels"), (base_width, "base_width"),
                            (max_width, "max_width"), (levels, "levels")):
            check_int(value, name, 1)
        if not isinstance(head, str) or head not in HEADS:
            raise ChoiceError(describe(f"head in {tuple(HEADS)}", repr(head), "Use 'tanh' (N1) or 'normalized_tanh'."))
        self.in_channels, self.concat_input = in_channels, check_bool(concat_input, "concat_input")
        self.widths = w = _unet_widths(base_width, max_width, levels)

        def double(c_in: int, c_out: int) -> ConvStack:
            return ConvStack(c_in, c_out, 2, norm=norm, activation=activation_name)

        self.encoder = nn.ModuleList([double(in_channels, w[0])] + [double(w[i - 1], w[i]) for i in range(1, levels)])
        self.pool = nn.MaxPool2d(2)
        self.upsamplers, self.decoder = nn.ModuleList(), nn.ModuleList()
        channels = w[-1]
        for i in reversed(range(1, levels)):  # decoder level i joins encoder level i - 1
            out = w[i - 2] if i >= 2 else w[0]
            self.upsamplers.append(SubPixelUpsample(channels, norm, activation_name))
            self.decoder.append(double(channels + w[i - 1], out))
            channels = out
        head_in = channels + (in_channels if self.concat_input else 0)
        self.head = nn.Sequential(nn.Conv2d(head_in, out_channels, 1), HEADS[head]())

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this, ``2**(levels - 1)``."""
        return 2 ** (len(self.widths) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W) -> (B, out_channels, H, W)``, H and W multiples of :attr:`multiple`.

        Raises:
            ShapeError: wrong channel count or H, W not multiples of :attr:`multiple`.
            DTypeError: not a float tensor of the network's dtype.
        """
        check_feature_map(x, self.in_channels, dtype=self.head[0].weight.dtype)
        if x.shape[-2] % self.multiple or x.shape[-1] % self.multiple:
            raise ShapeError(describe(f"H and W multiples of {self.multiple}", f"{tuple(x.shape[-2:])}",
                                      "Pad the image (generate() pads and crops back for you)."))
        skips = []
        features = x
        for i, level in enumerate(self.encoder):
            features = level(self.pool(features) if i else features)
            skips.append(features)
        features = skips.pop()
        for up, level in zip(self.upsamplers, self.decoder):
            features = level(torch.cat([skips.pop(), up(features)], dim=1))
        if self.concat_input:
            features = torch.cat([x, features], dim=1)
        return self.head(features)


def _check_ratio(ratio: object, batch: int) -> torch.Tensor:
    if isinstance(ratio, (int, float)) and not isinstance(ratio, bool):
        ratio = [float(ratio)] * batch
    ratio = as_float_tensor(ratio, "exposure ratio")  # type: ignore[arg-type]
    if ratio.dim() == 0:
        ratio = ratio.expand(batch)
    if ratio.shape != (batch,):
        raise ShapeError(describe(f"exposure ratios of shape ({batch},) or a scalar", f"shape {tuple(ratio.shape)}",
                                  "Pass one ratio t_target / t_source per image."))
    if not torch.isfinite(ratio).all() or (ratio <= 0).any():
        raise ExposureError(describe("exposure ratios t_target / t_source > 0 and finite", f"{ratio.tolist()}",
                                     "A ratio of 4 is +2 EV, 0.25 is -2 EV."))
    return ratio


class MultiExposureNet(nn.Module):
    """N1 (HDR encoding) + N2 (up-exposure) + N3 (down-exposure): one LDR and an exposure ratio -> another LDR.

    Args:
        n1_width: base channels of N1 (the reference: 16, cap ``n1_max_width`` 256).
        n23_width: base channels of N2 and N3 (the reference: 32, cap ``n23_max_width`` 512).
        n1_max_width: N1's channel cap.
        n23_max_width: N2's and N3's channel cap.
        levels: resolutions of all three U-Nets (the reference: 7).
        shared: one network renders both directions (the ablation "one shared up/down net"):
            N2 also does N3's job and there is no ``down_net``.
        threshold: tau of :func:`exposure_mask`.
        masked_input: N1 sees ``I * mask(I)`` (the reference); False feeds it ``I`` (the paper's Table 5 ablation).

    Attributes:
        hdr_net, up_net, down_net: N1, N2, N3 (:class:`ExposureUNet`; no ``down_net`` when ``shared``).

    Raises:
        DTypeError, RangeError: bad widths, levels or threshold; ``shared`` or ``masked_input`` not a bool.

    Example:
        >>> model = MultiExposureNet(n1_width=4, n23_width=4, levels=2, shared=True)
        >>> hasattr(model, "down_net"), model(torch.rand(1, 3, 4, 4), 0.5)[0].shape
        (False, torch.Size([1, 3, 4, 4]))
    """

    def __init__(self, n1_width: int = 16, n23_width: int = 32, *, n1_max_width: int = 256,
                 n23_max_width: int = 512, levels: int = 7, shared: bool = False,
                 threshold: float = MASK_THRESHOLD, masked_input: bool = True) -> None:
        super().__init__()
        self.hdr_net = ExposureUNet(base_width=n1_width, max_width=n1_max_width, levels=levels, head="tanh",
                                    concat_input=False)
        self.up_net = ExposureUNet(base_width=n23_width, max_width=n23_max_width, levels=levels)
        self.shared = check_bool(shared, "shared")
        if not self.shared:
            self.down_net = ExposureUNet(base_width=n23_width, max_width=n23_max_width, levels=levels)
        self.threshold = _check_threshold(threshold)
        self.masked_input = check_bool(masked_input, "masked_input")

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return self.hdr_net.multiple

    def encode(self, ldr: torch.Tensor) -> torch.Tensor:
        """The latent exposure ``E = relu(I + N1(I * mask(I)))``: ``(B, 3, H, W)``, ``>= 0``, unbounded.

        Without :attr:`masked_input`, ``E = relu(I + N1(I))``.

        Args:
            ldr: ``(B, 3, H, W)`` LDR in [0, 1], H and W multiples of :attr:`multiple` (not validated: hot path).
        """
        return torch.relu(ldr + self.hdr_net(ldr * _mask(ldr, self.threshold) if self.masked_input else ldr))

    def render(self, exposure: torch.Tensor, up: bool) -> torch.Tensor:
        """An LDR ``(B, 3, H, W)`` in (0, 1) from a latent exposure already scaled to the target time.

        Args:
            exposure: ``(B, 3, H, W)``, ``E * t_target / t_source``.
            up: N2 (the target is longer than the source) or N3.
        """
        return (self.up_net if up or self.shared else self.down_net)(exposure)

    def forward(self, ldr: torch.Tensor, ratio: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """Render each image at ``ratio = t_target / t_source`` times its exposure.

        Images with ``ratio >= 1`` go through N2, the others through N3 (ratio 1
        re-renders the input through N2).

        Args:
            ldr: ``(B, 3, H, W)`` LDR in [0, 1], H and W multiples of :attr:`multiple`.
            ratio: ``(B,)`` or a scalar, > 0 (e.g. ``2**ev``).

        Returns:
            ``(rendered, latent)``: ``(B, 3, H, W)`` in (0, 1) and the latent exposure ``E`` of the input.

        Raises:
            ShapeError, DTypeError, RangeError: invalid image, or not of the model's dtype (e.g. float16);
            ExposureError: ratios <= 0 or not finite.
        """
        check_ldr(ldr)
        check_layer_dtype(ldr, parameter_dtype(self), "ldr")
        ratio = _check_ratio(ratio, ldr.shape[0]).to(ldr.device)
        latent = self.encode(ldr)
        scaled = latent * ratio.view(-1, 1, 1, 1)
        up = ratio >= 1
        if up.all() or not up.any():
            return self.render(scaled, bool(up.all())), latent
        rendered = torch.empty_like(ldr)
        rendered[up] = self.render(scaled[up], True)
        rendered[~up] = self.render(scaled[~up], False)
        return rendered, latent


# ----------------------------------------------------------------------------- losses


def representation_loss(latent_short: torch.Tensor, latent_long: torch.Tensor, ratio: torch.Tensor,
                        eps: float = LOG_EPS) -> torch.Tensor:
    """The HDR representation loss: the two latent exposures must agree once rescaled, in the log domain.

    ``L1(log(E_long / r + eps), log(E_short + eps)) + L1(log(E_short r + eps), log(E_long + eps))``
    with ``r = t_long / t_short``: the reference's ``down_hdr`` and ``up_hdr`` terms.

    Args:
        latent_short: ``(B, 3, H, W)`` latent exposure ``>= 0`` of the shorter shot.
        latent_long: ``(B, 3, H, W)`` latent exposure ``>= 0`` of the longer shot.
        ratio: ``(B,)`` ``t_long / t_short`` > 0.
        eps: offset inside the log (> 0).

    Returns:
        0-dim tensor ``>= 0``.

    Raises:
        ShapeError, DTypeError, RangeError: invalid latents or ``eps``; ExposureError: invalid ratios.

    Example:
        >>> short = torch.full((1, 3, 2, 2), 0.25)
        >>> float(representation_loss(short, short * 4, torch.tensor([4.0])))  # consistent: 0
        0.0
    """
    check_radiance(latent_short, "latent_short")
    check_radiance(latent_long, "latent_long")
    if latent_short.shape != latent_long.shape:
        raise ShapeError(describe("latents of one shape", f"{tuple(latent_short.shape)} and {tuple(latent_long.shape)}",
                                  "Pass the two latents of one batch of pairs."))
    check_positive(eps, "eps")
    return _representation(latent_short, latent_long, _check_ratio(ratio, latent_short.shape[0]), eps)


def _representation(short: torch.Tensor, long: torch.Tensor, ratio: torch.Tensor, eps: float) -> torch.Tensor:
    r = ratio.view(-1, 1, 1, 1).to(device=short.device, dtype=short.dtype)
    down = (torch.log(long / r + eps) - torch.log(short + eps)).abs().mean()
    up = (torch.log(short * r + eps) - torch.log(long + eps)).abs().mean()
    return down + up


def reconstruction_loss(rendered: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean(|rendered - target| * mask)`` over every element, the mask broadcast over channels (the reference's).

    Args:
        rendered: ``(B, 3, H, W)`` generated LDR.
        target: ``(B, 3, H, W)`` real LDR.
        mask: ``(B, 1, H, W)`` in [0, 1], :func:`exposure_mask` of ``target``.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError, DTypeError, RangeError: invalid images; a mask that is not a float tensor ``(B, 1, H, W)``
        in [0, 1].

    Example:
        >>> a, b = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
        >>> float(reconstruction_loss(a, b, torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])))
        0.5
    """
    check_ldr(rendered, "rendered LDR")
    check_ldr(target, "target LDR")
    check_tensor(mask, "mask")
    if rendered.shape != target.shape or mask.shape != (*target.shape[:-3], 1, *target.shape[-2:]):
        raise ShapeError(describe("rendered and target (B, 3, H, W) and a mask (B, 1, H, W)",
                                  f"{tuple(rendered.shape)}, {tuple(target.shape)}, {tuple(mask.shape)}",
                                  "Use exposure_mask(target) as the mask."))
    if mask.numel() and not (float(mask.min()) >= 0 and float(mask.max()) <= 1):  # NaN fails both comparisons
        raise RangeError(describe("mask values in [0, 1]", f"values in [{float(mask.min()):.4g}, {float(mask.max()):.4g}]",
                                  "Use exposure_mask(target) as the mask."))
    return ((rendered - target).abs() * mask).mean()


def tv_loss(images: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation summed over each image, averaged over the batch (piq's ``l1`` TV, the reference's).

    Args:
        images: ``(B, C, H, W)``, finite, B >= 1.

    Returns:
        0-dim tensor.

    Raises:
        DTypeError: not a float tensor; ShapeError: not 4-D, B = 0, or H or W < 2; RangeError: NaN or inf values.

    Example:
        >>> ramp = torch.arange(3.0).view(1, 1, 1, 3).expand(2, 3, 2, 3)  # +1 per column
        >>> float(tv_loss(ramp))  # 3 channels x 2 rows x 2 steps
        12.0
    """
    check_tensor(images, "images")
    if images.dim() != 4 or not images.shape[0]:
        raise ShapeError(describe("images of shape (B, C, H, W) with B >= 1", f"shape {tuple(images.shape)}",
                                  "Add a batch dim with images.unsqueeze(0)."))
    return total_variation(images, "sum") / images.shape[0]


class MultiExposureLoss(nn.Module):
    """The weighted training loss of a batch of exposure pairs (see the module docstring), with its VGG.

    Args:
        weights: ``{"recon", "hdr", "perceptual", "tv"}`` weights >= 0 (default :data:`LOSS_WEIGHTS`).
            A zero weight skips its term (a zero ``"perceptual"`` builds no VGG).
        perceptual_layers: VGG19 layers of the perceptual term (the reference: pool1-3).
        perceptual_reduction: a name in :data:`hdrlab.nn.losses.PERCEPTUAL_REDUCTIONS`; the reference's
            piq ``ContentLoss`` is ``"channel_sum"`` (``"mean"`` makes the term ~100x weaker on pool1-3).
        pretrained: ImageNet VGG weights: True, False or ``"auto"`` (random features offline, said in a printed line).

    Raises:
        ChoiceError: unknown layer, ``pretrained`` or ``perceptual_reduction`` (checked even with a zero perceptual
            weight); RangeError: a negative weight or a missing key; DTypeError: ``weights`` not a dict,
            ``perceptual_layers`` not a list or tuple.
        MissingWeightsError: ``pretrained=True`` offline.

    Example:
        >>> criterion = MultiExposureLoss(pretrained=False)
        >>> sorted(criterion.weights)
        ['hdr', 'perceptual', 'recon', 'tv']
    """

    def __init__(self, weights: dict[str, float] | None = None,
                 perceptual_layers: tuple[str, ...] = ("pool1", "pool2", "pool3"),
                 pretrained: bool | str = "auto", perceptual_reduction: str = "channel_sum") -> None:
        super().__init__()
        weights = dict(LOSS_WEIGHTS if weights is None else check_mapping(weights, "weights"))
        if set(weights) != set(LOSS_WEIGHTS) or any(
            isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf for w in weights.values()
        ):
            raise RangeError(describe(f"finite weights >= 0 for exactly {sorted(LOSS_WEIGHTS)}", repr(weights),
                                      "Start from dict(LOSS_WEIGHTS) and change values."))
        if not isinstance(perceptual_reduction, str) or perceptual_reduction not in PERCEPTUAL_REDUCTIONS:
            raise ChoiceError(describe(f"perceptual_reduction in {PERCEPTUAL_REDUCTIONS}", repr(perceptual_reduction),
                                       "Use 'channel_sum' (the reference's piq ContentLoss)."))
        _check_layers(perceptual_layers)
        check_pretrained(pretrained)
        self.weights = {name: float(w) for name, w in weights.items()}
        self.perceptual = (PerceptualLoss(perceptual_layers, pretrained=pretrained, reduction=perceptual_reduction)
                           if self.weights["perceptual"] else None)

    def forward(self, rendered: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loss terms of one batch.

        Args:
            rendered: ``{"x_hat", "y_hat", "latent_x", "latent_y"}`` from :func:`render_pairs`.
            batch: ``{"x", "y", "ratio"}`` from :func:`order_pairs`.

        Returns:
            ``{"loss", "recon", "hdr", "perceptual", "tv"}``: ``loss`` carries the graph,
            the others are detached, unweighted, summed over both directions.

        Raises:
            DTypeError: not dicts with those keys of float tensors; ShapeError: images not ``(B, 3, H, W)`` of one
                shape, or ``ratio`` not ``(B,)`` (constant-time checks only: values are not scanned).
        """
        _check_fields(rendered, "rendered", ("x_hat", "y_hat", "latent_x", "latent_y"))
        _check_fields(batch, "batch", ("x", "y"), ("ratio",), rendered["x_hat"].shape)
        x, y = batch["x"], batch["y"]
        mask_x, mask_y = _mask(x, MASK_THRESHOLD), _mask(y, MASK_THRESHOLD)
        x_hat, y_hat = rendered["x_hat"], rendered["y_hat"]
        terms = {
            "recon": ((y_hat - y).abs() * mask_y).mean() + ((x_hat - x).abs() * mask_x).mean(),
            "hdr": _representation(rendered["latent_x"], rendered["latent_y"], batch["ratio"], LOG_EPS),
            "tv": tv_loss(y_hat) + tv_loss(x_hat),
        }
        if self.perceptual is not None:
            self.perceptual.to(x.device)
            terms["perceptual"] = (self.perceptual(y_hat * mask_y, y * mask_y)
                                   + self.perceptual(x_hat * mask_x, x * mask_x))
        else:
            terms["perceptual"] = x.new_zeros(())
        loss = sum(self.weights[name] * value for name, value in terms.items())
        return {"loss": loss, **{name: value.detach() for name, value in terms.items()}}


def _check_layers(layers: object) -> None:
    def known(layer: object, name: str) -> None:
        if not isinstance(layer, str) or layer not in VGG19_LAYERS:
            raise ChoiceError(describe(f"{name} a VGG19 layer name", repr(layer), "Use e.g. ('pool1', 'pool2', 'pool3')."))

    _check_names(layers, "perceptual_layers", "('pool1', 'pool2', 'pool3')", known)


def _check_fields(mapping: object, name: str, images: tuple[str, ...], vectors: tuple[str, ...] = (),
                  shape: torch.Size | None = None) -> dict[str, torch.Tensor]:
    """Constant time: ``mapping`` holds float tensors, ``(B, 3, H, W)`` of one shape (``shape`` when given) under
    ``images`` and ``(B,)`` under ``vectors``; returns those entries."""
    check_mapping(mapping, name, images + vectors)
    assert isinstance(mapping, Mapping)
    for key in images:
        check_feature_map(mapping[key], 3, f"{name}[{key!r}]")
    for key in vectors:
        check_tensor(mapping[key], f"{name}[{key!r}]")
    shape = tuple(mapping[images[0]].shape if shape is None else shape)
    shapes = {key: tuple(mapping[key].shape) for key in images + vectors}
    if any(got != (shape if key in images else shape[:1]) for key, got in shapes.items()):
        expected = f"{name} holding {images} of one shape (B, 3, H, W)" + (f" and {vectors} of shape (B,)" if vectors else "")
        raise ShapeError(describe(expected, f"shapes {shapes}", "Pass the dicts order_pairs and render_pairs return."))
    return {key: mapping[key] for key in images + vectors}


def order_pairs(batch: dict) -> dict[str, torch.Tensor]:
    """Put the shorter exposure of each pair first: ``{"x": shorter, "y": longer, "ratio": t_y / t_x}``.

    Args:
        batch: dict with ``ldr_a``, ``ldr_b`` ``(B, 3, H, W)`` and ``time_a``, ``time_b``
            ``(B,)`` (as :class:`hdrlab.data.datasets.ExposurePairs` collates).

    Returns:
        ``x``, ``y`` ``(B, 3, H, W)`` and ``ratio`` ``(B,)`` > 1.

    Raises:
        DTypeError: not a dict with those keys of float tensors; ShapeError: images not ``(B, 3, H, W)`` of one
            shape or times not ``(B,)``; RangeError: images outside [0, 1] or not finite;
        ExposureError: times not finite or <= 0, or two equal times in a pair.

    Example:
        >>> batch = {"ldr_a": torch.ones(1, 3, 2, 2), "ldr_b": torch.zeros(1, 3, 2, 2),
        ...          "time_a": torch.tensor([2.0]), "time_b": torch.tensor([0.5])}
        >>> ordered = order_pairs(batch)
        >>> float(ordered["x"].max()), ordered["ratio"].tolist()
        (0.0, [4.0])
    """
    checked = _check_fields(batch, "batch", ("ldr_a", "ldr_b"), ("time_a", "time_b"))
    for key in ("ldr_a", "ldr_b"):
        check_ldr(checked[key], f"batch[{key!r}]")
    time_a, time_b = checked["time_a"], checked["time_b"]
    times = torch.cat([time_a, time_b])
    if not torch.isfinite(times).all() or (times <= 0).any():
        raise ExposureError(describe("exposure times > 0 and finite", f"{times.tolist()}",
                                     "Collate ExposurePairs items (their times are in seconds)."))
    if (time_a == time_b).any():
        raise ExposureError(describe("pairs of two different exposure times", "a pair with equal times",
                                     "Draw pairs with min_gap > 0 (ExposurePairs does)."))
    a_first = (time_a < time_b).view(-1, 1, 1, 1)
    x = torch.where(a_first, batch["ldr_a"], batch["ldr_b"])
    y = torch.where(a_first, batch["ldr_b"], batch["ldr_a"])
    ratio = torch.maximum(time_a, time_b) / torch.minimum(time_a, time_b)
    return {"x": x, "y": y, "ratio": ratio}


def render_pairs(model: nn.Module, ordered: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Both directions of a batch of ordered pairs in one forward call (so DDP sees one forward per step).

    ``x`` is rendered up to ``y``'s exposure through N2, ``y`` down to ``x``'s through N3.
    N1 encodes ``x`` and ``y`` as one batch of ``2B`` (the reference calls it once per
    direction), so its BatchNorm statistics in training span both exposures.

    Args:
        model: a :class:`MultiExposureNet` (or its DDP wrapper).
        ordered: from :func:`order_pairs`.

    Returns:
        ``{"y_hat", "x_hat", "latent_x", "latent_y"}``, each ``(B, 3, H, W)``.

    Raises:
        DTypeError: ``model`` not a :class:`MultiExposureNet`, ``ordered`` not a dict of float tensors
            ``x``, ``y``, ``ratio``; ShapeError: images not ``(B, 3, H, W)`` of one shape or ``ratio`` not ``(B,)``;
        RangeError: images outside [0, 1] or not finite; ExposureError: ratios not finite or <= 1.
    """
    _check_model(model)
    checked = _check_fields(ordered, "ordered", ("x", "y"), ("ratio",))
    for key in ("x", "y"):
        check_ldr(checked[key], f"ordered[{key!r}]")
    if not torch.isfinite(checked["ratio"]).all() or (checked["ratio"] <= 1).any():
        raise ExposureError(describe("ratios t_y / t_x > 1 and finite (y the longer exposure)",
                                     f"{checked['ratio'].tolist()}", "Order the pairs with order_pairs first."))
    return _render(model, ordered)


def _render(model: nn.Module, ordered: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """:func:`render_pairs` without validation."""
    x, y, ratio = ordered["x"], ordered["y"], ordered["ratio"]
    rendered, latent = model(torch.cat([x, y]), torch.cat([ratio, 1 / ratio]))
    y_hat, x_hat = rendered.split(x.shape[0])
    latent_x, latent_y = latent.split(x.shape[0])
    return {"y_hat": y_hat, "x_hat": x_hat, "latent_x": latent_x, "latent_y": latent_y}


def loss_terms(model: nn.Module, batch: dict, criterion: MultiExposureLoss) -> dict[str, torch.Tensor]:
    """The training step :func:`hdrlab.train.fit` runs: order the pairs, render both ways, weigh the losses.

    Args:
        model: a :class:`MultiExposureNet` (or its DDP wrapper).
        batch: a collated batch of :class:`hdrlab.data.datasets.ExposurePairs`.
        criterion: the :class:`MultiExposureLoss`.

    Returns:
        See :meth:`MultiExposureLoss.forward`.

    Raises:
        DTypeError: ``model`` or ``criterion`` of the wrong type; see :func:`order_pairs` for the batch.

    Example:
        >>> model = MultiExposureNet(n1_width=2, n23_width=2, levels=2)
        >>> batch = {"ldr_a": torch.rand(2, 3, 8, 8), "ldr_b": torch.rand(2, 3, 8, 8),
        ...          "time_a": torch.tensor([1.0, 4.0]), "time_b": torch.tensor([2.0, 1.0])}
        >>> terms = loss_terms(model, batch, MultiExposureLoss(pretrained=False))
        >>> sorted(terms), bool(terms["loss"] > 0)
        (['hdr', 'loss', 'perceptual', 'recon', 'tv'], True)
    """
    _check_model(model)
    check_module(criterion, "criterion", MultiExposureLoss)
    ordered = order_pairs(batch)
    return criterion(_render(model, ordered), ordered)


def _check_model(model: object) -> None:
    """A :class:`MultiExposureNet`, possibly wrapped in DistributedDataParallel (as :func:`hdrlab.train.fit` runs it)."""
    check_module(model.module if isinstance(model, DistributedDataParallel) else model, "model", MultiExposureNet)


# ----------------------------------------------------------------------------- settings


_SETTINGS_COUNTS = ("n1_width", "n1_max_width", "n23_width", "n23_max_width", "levels", "size", "batch_size", "steps",
                    "plateau_patience", "log_every", "train_max_side", "samples", "eval_max_side", "eval_every",
                    "checkpoint_every")


def _check_names(value: object, name: str, example: str, item: Callable[[object, str], object]) -> None:
    """A non-empty list or tuple of names, each checked by ``item(name, label)``."""
    if not isinstance(value, (list, tuple)) or not value:
        error = RangeError if isinstance(value, (list, tuple)) else DTypeError
        raise error(describe(f"{name} as a non-empty list or tuple of names", repr(value), f"Pass e.g. {example}."))
    check_sequence(value, name, item)


def _check_crfs(crfs: object, name: str = "crfs") -> None:
    _check_names(crfs, name, "('srgb', 'film-soft')", lambda curve, _: get_response_curve(curve))


def _check_evs(evs: object, name: str = "evs") -> tuple[float, ...]:
    """EVs of a held-out bracket: a non-empty list or tuple of finite numbers, strictly ascending, with 0."""
    values = tuple(float(ev) for ev in check_sequence(evs, name, check_number))
    if 0.0 not in values or any(b <= a for a, b in zip(values, values[1:])):
        raise ExposureError(describe(f"{name} strictly ascending and containing 0.0 (the input shot)", repr(evs),
                                     "Use e.g. (-2, -1, 0, 1, 2)."))
    return values


@dataclass(frozen=True)
class Settings:
    """Training and evaluation settings of one profile (DESIGN §3).

    Attributes:
        n1_width, n1_max_width: N1's base channels and cap (the reference: 16, 256).
        n23_width, n23_max_width: N2's and N3's base channels and cap (the reference: 32, 512).
        levels: resolutions of the U-Nets (the reference: 7); crops must be multiples of ``2**(levels-1)``.
        size: side of the square training crops, px.
        batch_size: pairs per optimizer step.
        steps: optimizer steps.
        lr: AdamW learning rate (the reference: 1e-4).
        weight_decay: AdamW weight decay (the reference: 1e-4).
        recon_weight, hdr_weight, perceptual_weight, tv_weight: loss weights (:data:`LOSS_WEIGHTS`).
        perceptual_layers: VGG19 layers of the perceptual loss.
        perceptual_reduction: how the perceptual loss reduces each layer (the reference: ``"channel_sum"``,
            see :func:`hdrlab.nn.losses.perceptual_loss`).
        plateau_patience: log windows (``log_every`` steps each) without improvement of the
            mean training loss before ReduceLROnPlateau halves the rate (the reference: 4 epochs).
        log_every: steps per logged (and plateau-monitored) window.
        train_max_side: training scenes are loaded with this longest side.
        samples: pairs per data epoch.
        min_gap, max_gap: EV gaps of the training pairs (DrTMO's 9 half-stop exposures).
        train_crfs: response curves of the training pairs (drawn per pair).
        eval_max_side: held-out scenes are scored whole at this longest side.
        eval_crfs: response curves of the held-out brackets.
        eval_evs: the bracket generated and merged, EV relative to the input.
        eval_every: steps between evaluations (the last step is always evaluated).
        checkpoint_every: steps between checkpoints (the last step is always saved).
        amp: :data:`hdrlab.train.AMP_CHOICES` (``"auto"``: bf16/fp16 on CUDA, off on CPU).

    Raises:
        DTypeError, RangeError: a count not an int >= 1, a rate, weight or gap not a finite number (lr > 0, the
            others >= 0, ``max_gap >= min_gap``), a list field not a non-empty list or tuple;
        ShapeError: ``size`` not a multiple of ``2**(levels - 1)``; ChoiceError: an unknown layer, response curve,
        ``amp`` or ``perceptual_reduction``; ExposureError: ``eval_evs`` not ascending with 0.
    """

    n1_width: int
    n1_max_width: int
    n23_width: int
    n23_max_width: int
    levels: int
    size: int
    batch_size: int
    steps: int
    lr: float
    weight_decay: float
    recon_weight: float
    hdr_weight: float
    perceptual_weight: float
    tv_weight: float
    perceptual_layers: tuple[str, ...]
    plateau_patience: int
    log_every: int
    train_max_side: int
    samples: int
    min_gap: float
    max_gap: float
    train_crfs: tuple[str, ...]
    eval_max_side: int
    eval_crfs: tuple[str, ...]
    eval_evs: tuple[float, ...]
    eval_every: int
    checkpoint_every: int
    amp: str
    perceptual_reduction: str = "channel_sum"

    def __post_init__(self) -> None:
        for name in _SETTINGS_COUNTS:
            check_int(getattr(self, name), name, 1)
        check_positive(self.lr, "lr")
        for name in ("weight_decay", "recon_weight", "hdr_weight", "perceptual_weight", "tv_weight", "min_gap"):
            check_nonnegative(getattr(self, name), name)
        if check_nonnegative(self.max_gap, "max_gap") < self.min_gap:
            raise RangeError(describe("max_gap >= min_gap", f"max_gap={self.max_gap!r} < min_gap={self.min_gap!r}",
                                      "Raise max_gap (DrTMO's exposures are 0.5 EV apart)."))
        if self.size % 2 ** (self.levels - 1):
            raise ShapeError(describe(f"size a multiple of 2**(levels - 1) = {2 ** (self.levels - 1)}", repr(self.size),
                                      "The U-Nets halve the crop levels - 1 times."))
        _check_layers(self.perceptual_layers)
        for name in ("train_crfs", "eval_crfs"):
            _check_crfs(getattr(self, name), name)
        _check_evs(self.eval_evs, "eval_evs")
        check_choice(self.amp, "amp", train.AMP_CHOICES)
        check_choice(self.perceptual_reduction, "perceptual_reduction", PERCEPTUAL_REDUCTIONS)

    @property
    def weights(self) -> dict[str, float]:
        """The loss weights as :class:`MultiExposureLoss` takes them."""
        return {"recon": self.recon_weight, "hdr": self.hdr_weight, "perceptual": self.perceptual_weight,
                "tv": self.tv_weight}


#: Response curves of the held-out brackets: the camera-like (film and digital) curves, as DrTMO's DoRF
#: curves are. The display gammas (``srgb``, ``gamma2.2``) are left out of the score because naive
#: re-exposure assumes exactly a 2.2 gamma, so on them it is an oracle; notebook 03 shows them too.
CAMERA_CRFS = ("film-soft", "film-reversal", "digital-knee")

#: Settings per profile. ``full`` is the reference's recipe (widths 16/32, caps 256/512, 7 levels,
#: 256 px crops, batch 64, AdamW 1e-4 / wd 1e-4, the loss weights of :data:`LOSS_WEIGHTS`, 200k
#: steps, all DrTMO pairs up to 4 stops apart; launch it with torchrun for several GPUs).
#: ``quick`` keeps the architecture (7 levels, Mish, BatchNorm, sub-pixel ICNR upsampling, both
#: heads) and the reconstruction, representation and TV terms with their weights, and fits a
#: 2-core CPU: widths 4/8 with caps 32/64 (1.4 M parameters), 64 px crops, batch 8, and no perceptual
#: term (offline its VGG is random, and it costs 2-3x per step). Its rate, pair gap and steps (AdamW
#: 5e-3, pairs at most 3 stops apart, 300 steps) were chosen on the *validation* scenes by
#: ``benchmarks/multiexposure_search.py`` (grid and scores in docs/DEVELOPMENT.md).
#: ``gpu`` keeps ``quick``'s earlier recipe (AdamW 5e-3, pairs at most 2 stops apart; not searched) with twice the
#: widths, 128 px crops, batch 16 and 4000 steps, sized for at most ~15 min of chapter 3 on one Colab T4
#: (``benchmarks/gpu_profile_estimates.py``; not yet run on a GPU).
PROFILES: dict[str, Settings] = {
    "quick": Settings(
        n1_width=4, n1_max_width=32, n23_width=8, n23_max_width=64, levels=7, size=64, batch_size=8, steps=300,
        lr=5e-3, weight_decay=1e-4, recon_weight=100.0, hdr_weight=1.0, perceptual_weight=0.0, tv_weight=1e-5,
        perceptual_layers=("pool1", "pool2", "pool3"), plateau_patience=1000, log_every=10, train_max_side=256,
        samples=1200, min_gap=0.5, max_gap=3.0, train_crfs=DEFAULT_CRFS, eval_max_side=128, eval_crfs=CAMERA_CRFS,
        eval_evs=(-2.0, -1.0, 0.0, 1.0, 2.0), eval_every=300, checkpoint_every=100, amp="auto",
    ),
    "gpu": Settings(
        n1_width=8, n1_max_width=128, n23_width=16, n23_max_width=256, levels=7, size=128, batch_size=16, steps=4000,
        lr=5e-3, weight_decay=1e-4, recon_weight=100.0, hdr_weight=1.0, perceptual_weight=0.0, tv_weight=1e-5,
        perceptual_layers=("pool1", "pool2", "pool3"), plateau_patience=1000, log_every=50, train_max_side=512,
        samples=8000, min_gap=0.5, max_gap=2.0, train_crfs=DEFAULT_CRFS, eval_max_side=512, eval_crfs=CAMERA_CRFS,
        eval_evs=(-2.0, -1.0, 0.0, 1.0, 2.0), eval_every=1000, checkpoint_every=500, amp="auto",
    ),
    "full": Settings(
        n1_width=16, n1_max_width=256, n23_width=32, n23_max_width=512, levels=7, size=256, batch_size=64,
        steps=200_000, lr=1e-4, weight_decay=1e-4, recon_weight=100.0, hdr_weight=1.0, perceptual_weight=0.1,
        tv_weight=1e-5, perceptual_layers=("pool1", "pool2", "pool3"), plateau_patience=4, log_every=1000,
        train_max_side=1024, samples=64_000, min_gap=0.5, max_gap=4.0, train_crfs=DEFAULT_CRFS, eval_max_side=512,
        eval_crfs=CAMERA_CRFS, eval_evs=(-2.0, -1.0, 0.0, 1.0, 2.0), eval_every=10_000,
        checkpoint_every=5_000, amp="auto",
    ),
}

#: Ablation variants: the reference, one shared up/down network, no HDR representation loss, both (the
#: rows of Le et al.'s Table 4), and N1 fed the unmasked input (their Table 5).
ABLATIONS: dict[str, dict] = {
    "reference": {},
    "shared_net": {"shared": True},
    "no_representation_loss": {"hdr_weight": 0.0},
    "shared_net_no_representation_loss": {"shared": True, "hdr_weight": 0.0},
    "unmasked_n1": {"masked_input": False},
}


def _check_ablation(ablation: object) -> None:
    if ablation not in ABLATIONS:
        raise ChoiceError(describe(f"ablation in {tuple(ABLATIONS)}", repr(ablation), "Use 'reference'."))


def settings_for(profile: str = "auto", steps: int | None = None, ablation: str = "reference",
                 overrides: dict | None = None) -> Settings:
    """The settings of a profile, with ``steps`` and other fields overridden and an ablation's loss change applied.

    Args:
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"``.
        steps: optimizer steps (None: the profile's); evaluation and checkpoint intervals shrink to fit.
        ablation: a key of :data:`ABLATIONS` (applied last: it wins over ``overrides``).
        overrides: other :class:`Settings` fields to change, e.g. ``{"lr": 2e-3, "max_gap": 3.0}``.

    Returns:
        A :class:`Settings`.

    Raises:
        ChoiceError: unknown profile, ablation or settings field; DTypeError, RangeError: ``steps`` not an int >= 1,
            ``overrides`` not a dict; any error of :class:`Settings` for an overridden value.

    Example:
        >>> settings_for("quick", steps=10, ablation="no_representation_loss").hdr_weight
        0.0
        >>> settings_for("quick", overrides={"lr": 1e-3}).lr
        0.001
    """
    _check_ablation(ablation)
    settings = PROFILES[env.profile(profile)]
    if steps is not None:
        check_int(steps, "steps", 1)
        settings = replace(settings, steps=steps, eval_every=min(settings.eval_every, steps),
                           checkpoint_every=min(settings.checkpoint_every, steps))
    if overrides is not None and check_mapping(overrides, "overrides"):
        unknown = sorted(set(overrides) - set(Settings.__dataclass_fields__))
        if unknown:
            raise ChoiceError(describe("overrides naming fields of multiexposure.Settings", repr(unknown),
                                       "See the Settings attributes (e.g. 'lr', 'max_gap', 'perceptual_weight')."))
        settings = replace(settings, **overrides)
    if "hdr_weight" in ABLATIONS[ablation]:
        settings = replace(settings, hdr_weight=ABLATIONS[ablation]["hdr_weight"])
    return settings


def build_model(settings: Settings, ablation: str = "reference") -> MultiExposureNet:
    """The :class:`MultiExposureNet` of a profile's settings (and ablation).

    Example:
        >>> from hdrlab.nn.blocks import count_parameters
        >>> count_parameters(build_model(PROFILES["full"]))
        62194875

    Raises:
        DTypeError: ``settings`` not a :class:`Settings`; ChoiceError: unknown ablation.
    """
    if not isinstance(settings, Settings):
        raise DTypeError(describe("settings as a multiexposure.Settings", type(settings).__name__,
                                  "Use settings_for(profile) or PROFILES[name]."))
    _check_ablation(ablation)
    return MultiExposureNet(settings.n1_width, settings.n23_width, n1_max_width=settings.n1_max_width,
                            n23_max_width=settings.n23_max_width, levels=settings.levels,
                            shared=ABLATIONS[ablation].get("shared", False),
                            masked_input=ABLATIONS[ablation].get("masked_input", True))


# ----------------------------------------------------------------------------- generating a bracket


def _pad_to(ldr: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    height, width = ldr.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    return F.pad(ldr, (0, pad_w, 0, pad_h), mode="replicate"), (height, width)


def _check_one_image(model: object, ldr: object, fix: str) -> None:
    """``model`` a :class:`MultiExposureNet` and ``ldr`` one LDR ``(3, H, W)`` of its dtype."""
    check_module(model, "model", MultiExposureNet)
    check_ldr(ldr)
    assert isinstance(ldr, torch.Tensor)
    if ldr.dim() != 3:
        raise ShapeError(describe("one image (3, H, W)", f"shape {tuple(ldr.shape)}", fix))
    check_layer_dtype(ldr, parameter_dtype(model), "ldr")


def generate(model: MultiExposureNet, ldr: torch.Tensor, evs: tuple[float, ...] | list[float]) -> torch.Tensor:
    """A bracket from one LDR: the input rendered at each ``ev`` (EV 0 is the input itself), without gradients.

    The image is padded (replicating its border) to a multiple of :attr:`MultiExposureNet.multiple`
    and cropped back. The model runs in eval mode (its mode is restored afterwards).

    Args:
        model: a trained :class:`MultiExposureNet`.
        ldr: ``(3, H, W)`` LDR in [0, 1].
        evs: exposures relative to the input, any real numbers (``t = t_input * 2**ev``).

    Returns:
        ``(len(evs), 3, H, W)`` in [0, 1], on the input's device.

    Raises:
        DTypeError: ``model`` not a :class:`MultiExposureNet`, ``evs`` not numbers;
        ShapeError, DTypeError, RangeError: invalid image, or not of the model's dtype (e.g. float16);
        ShapeError: ``evs`` empty or not flat; ExposureError: non-finite EVs.

    Example:
        >>> model = MultiExposureNet(n1_width=2, n23_width=2, levels=3)
        >>> ldr = torch.rand(3, 10, 13)
        >>> stack = generate(model, ldr, [-1.5, 0.0, 2.0])
        >>> stack.shape, bool(torch.equal(stack[1], ldr))
        (torch.Size([3, 3, 10, 13]), True)
    """
    _check_one_image(model, ldr, "Generate one image at a time.")
    evs = as_float_tensor(evs, "evs")
    if evs.dim() != 1 or not evs.numel():
        raise ShapeError(describe("at least one EV, in a flat list", f"shape {tuple(evs.shape)}",
                                  "Pass e.g. [-2, -1, 0, 1, 2]."))
    if not torch.isfinite(evs).all():
        raise ExposureError(describe("finite EVs", f"{evs.tolist()}", "Pass e.g. [-2, -1, 0, 1, 2]."))
    device = next(model.parameters()).device
    padded, (height, width) = _pad_to(ldr.to(device).unsqueeze(0), model.multiple)
    was_training = model.training
    model.eval()
    frames = []
    with torch.no_grad():
        latent = model.encode(padded)
        for ev in evs.tolist():
            if ev == 0:
                frames.append(ldr.to(device))
                continue
            frame = model.render(latent * 2.0**ev, ev > 0)
            frames.append(frame[0, :, :height, :width])
    model.train(was_training)
    return torch.stack(frames).to(ldr.device)


def hdr_estimate(model: MultiExposureNet, ldr: torch.Tensor) -> torch.Tensor:
    """N1's latent exposure of one LDR, ``E = relu(I + N1(I * mask(I)))``, read as an HDR image (no gradients).

    ``E`` is linear in the exposure time (the representation loss ties ``E t2/t1``
    of one shot to ``E`` of the other), so it is an HDR estimate in the input's
    exposure units; the paper's Table 5 scores it against the true HDR. Padded and
    cropped as in :func:`generate`, in eval mode.

    Args:
        model: a :class:`MultiExposureNet`.
        ldr: ``(3, H, W)`` LDR in [0, 1].

    Returns:
        ``(3, H, W)`` ``>= 0``, on the input's device.

    Raises:
        DTypeError: ``model`` not a :class:`MultiExposureNet`;
        ShapeError, DTypeError, RangeError: invalid image, or not of the model's dtype (e.g. float16).

    Example:
        >>> model = MultiExposureNet(n1_width=2, n23_width=2, levels=3)
        >>> hdr_estimate(model, torch.rand(3, 10, 13)).shape
        torch.Size([3, 10, 13])
    """
    _check_one_image(model, ldr, "Encode one image at a time.")
    padded, (height, width) = _pad_to(ldr.to(next(model.parameters()).device).unsqueeze(0), model.multiple)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        latent = model.encode(padded)[0, :, :height, :width]
    model.train(was_training)
    return latent.to(ldr.device)


def naive_reexposure(ldr: torch.Tensor, ev: float, gamma: float = 2.2) -> torch.Tensor:
    """Re-expose an LDR the naive way: linearise with a display gamma, scale by ``2**ev``, clip, re-apply.

    ``clip(ldr**gamma * 2**ev, 0, 1) ** (1 / gamma)``. The clip is the simulated
    sensor's saturation (a new LDR, not radiance). It cannot recover clipped
    highlights (they turn grey when darkened) and assumes the wrong curve for
    any camera that is not a pure gamma.

    Args:
        ldr: ``(*, 3, H, W)`` LDR in [0, 1].
        ev: exposure change in stops (finite).
        gamma: the assumed display gamma (> 0).

    Returns:
        Same shape, in [0, 1].

    Raises:
        ShapeError, DTypeError, RangeError: invalid image; DTypeError: ``ev`` or ``gamma`` not a number;
        ExposureError: ``ev`` not finite, ``gamma`` not finite and > 0.

    Example:
        >>> naive_reexposure(torch.full((3, 1, 1), 0.5), 1.0).flatten().tolist()[0] > 0.5
        True
    """
    check_ldr(ldr)
    if any(isinstance(value, bool) or not isinstance(value, (int, float)) for value in (ev, gamma)):
        raise DTypeError(describe("ev and gamma as numbers", f"ev={ev!r}, gamma={gamma!r}", "Use e.g. ev=2.0."))
    if not math.isfinite(ev) or not 0 < gamma < math.inf:
        raise ExposureError(describe("a finite ev and a finite gamma > 0", f"ev={ev!r}, gamma={gamma!r}",
                                     "Use e.g. ev=2.0."))
    return (ldr**gamma * 2.0**ev).clamp(0.0, 1.0) ** (1.0 / gamma)


def merge_bracket(stack: torch.Tensor, evs: tuple[float, ...] | list[float], seed: int = 0) -> torch.Tensor:
    """Chapter 1's pipeline on a (generated or real) bracket: Debevec-Malik response recovery, then the merge.

    The paper merged its generated brackets with Photomatix, a commercial tool;
    the course uses its own Debevec merge for every row, so rows differ only in
    the bracket. Times are ``2**ev`` (relative to the input shot), so the
    radiance is in the input's exposure units up to the response's anchor
    (``g(128) = 0``): compare it after a per-image normalisation or a tone map.

    Args:
        stack: ``(N, 3, H, W)`` LDR bracket in [0, 1], in the order of ``evs``.
        evs: strictly ascending exposures, EV relative to the input.
        seed: seeds the pixel sampling of the response recovery.

    Returns:
        ``(3, H, W)`` linear radiance ``>= 0``.

    Raises:
        ExposureError, ShapeError, RangeError: see :func:`hdrlab.imaging.crf.recover_debevec`;
        DTypeError, RangeError: ``seed`` not an int >= 0, ``evs`` not numbers.

    Example:
        >>> from hdrlab.imaging.camera import simulate_brackets
        >>> evs = (-2.0, 0.0, 2.0)
        >>> stack, _ = simulate_brackets(torch.rand(3, 32, 32).mul(8).exp2(), evs, "srgb", unit="ev")
        >>> merge_bracket(stack, evs).shape
        torch.Size([3, 32, 32])
    """
    check_int(seed, "seed", 0)
    times = torch.exp2(as_float_tensor(evs, "evs"))
    g = recover_debevec(stack, times, generator=torch.Generator().manual_seed(seed))
    return merge_debevec(stack, times, g)


def held_out_brackets(
    names: str | list[str] = "test",
    max_side: int = 128,
    crfs: tuple[str, ...] = ("srgb", "film-soft"),
    evs: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0),
) -> list[dict]:
    """Whole held-out scenes as true brackets around an auto-exposed shot, with the HDR they came from.

    Args:
        names: ``"train"``, ``"val"``, ``"test"`` (:func:`hdrlab.data.scenes.split_scenes`, seed 0) or scene names.
        max_side: longest side of the loaded scenes, px.
        crfs: response-curve names (one bracket per scene and curve).
        evs: strictly ascending EVs containing 0 (the input shot).

    Returns:
        A list of dicts: ``stack`` ``(N, 3, H, W)`` (8-bit, noiseless), ``evs`` (tuple),
        ``ldr`` (the EV-0 shot), ``hdr`` ``(3, H, W)`` (radiance in EV-0 units), ``scene``, ``crf``.

    Raises:
        ExposureError: ``evs`` without 0 or not ascending; ChoiceError, MissingFileError: unknown split, scene or
        response curve; DTypeError, RangeError: ``names``, ``crfs`` or ``evs`` not a non-empty list or tuple (or
        ``names`` a str), ``max_side`` not an int >= 1.

    Example:
        >>> item = held_out_brackets(["room_windows"], max_side=32, crfs=("srgb",))[0]
        >>> item["stack"].shape, item["evs"]
        (torch.Size([5, 3, 21, 32]), (-2.0, -1.0, 0.0, 1.0, 2.0))
    """
    evs = _check_evs(evs)
    check_int(max_side, "max_side", 1)
    _check_crfs(crfs)
    if isinstance(names, str):
        names = scene_data.split_scenes(seed=0)[names] if names in scene_data.SPLITS else [names]
    _check_names(names, "names", "['room_windows'] or 'test'", lambda name, _: scene_data.scene_info(name))
    items = []
    for name in names:
        radiance = scene_data.load_scene(name, max_side=max_side)
        hdr = radiance * float(camera.auto_exposure(radiance))
        for curve in crfs:
            stack, _ = camera.simulate_brackets(hdr, evs, curve, unit="ev", t_ref=1.0)
            items.append({"stack": stack, "evs": evs, "ldr": stack[evs.index(0.0)], "hdr": hdr,
                          "scene": name, "crf": curve})
    return items


# ----------------------------------------------------------------------------- evaluation

#: HDR rows of the evaluation: the LDR input read as radiance, the merged naive re-exposures, ExpandNet
#: (single shot), N1's latent exposure read as HDR (the paper's Table 5 scores it), the merged generated
#: bracket, and the merged true bracket (an upper bound).
HDR_METHODS = ("ldr", "naive", "expandnet", "n1_latent", "generated", "true_bracket")


def hdr_display(hdr: torch.Tensor) -> torch.Tensor:
    """The HDR metrics' normalisation: divide by the image's own 99th-percentile luminance, clip, mu-law (mu 5000).

    A single LDR cannot tell the scene's absolute brightness, and a merged
    bracket's scale is fixed only up to the response's anchor, so each HDR is
    brought to its own scale before PSNR/SSIM/LPIPS; mu-law then compresses
    highlights as Kalantari & Ramamoorthi's HDR score does.

    Args:
        hdr: ``(*, 3, H, W)`` linear radiance ``>= 0``.

    Returns:
        Same shape, in [0, 1].

    Example:
        >>> hdr = torch.rand(3, 8, 8)
        >>> bool(torch.allclose(hdr_display(hdr), hdr_display(hdr * 50)))  # scale-free
        True
    """
    return mu_law(normalize_hdr(hdr, "percentile", 99.0))


def _stack_scores(item: dict, generated: torch.Tensor, naive: torch.Tensor) -> dict[str, float]:
    scores = {}
    for ev, gen, nai, true in zip(item["evs"], generated, naive, item["stack"]):
        if ev == 0:
            continue
        for method, frame in (("generated", gen), ("naive", nai)):
            scores[f"stack_psnr/{ev:+g}/{method}"] = float(psnr(frame, true))
            scores[f"stack_ssim/{ev:+g}/{method}"] = float(ssim(frame, true))
    return scores


def _hdr_scores(hdrs: dict[str, torch.Tensor], target: torch.Tensor, lpips: nn.Module | None) -> dict[str, float]:
    scores = {}
    target_display = hdr_display(target)
    for method, hdr in hdrs.items():
        display = hdr_display(hdr)
        scores[f"hdr_psnr/{method}"] = float(psnr(display, target_display))
        scores[f"hdr_ssim/{method}"] = float(ssim(display, target_display))
        if lpips is not None:
            with torch.no_grad():
                scores[f"hdr_lpips/{method}"] = float(lpips(display, target_display))
        scores[f"tm_psnr/{method}"] = float(tonemapped_psnr(hdr, target))
        scores[f"tm_ssim/{method}"] = float(tonemapped_ssim(hdr, target))
        scores[f"rd_psnr/{method}"] = float(tonemapped_psnr(hdr, target, "reinhard_devlin"))
        scores[f"rd_ssim/{method}"] = float(tonemapped_ssim(hdr, target, "reinhard_devlin"))
    return scores


def evaluate(model: MultiExposureNet, brackets: list[dict], expandnet_model: nn.Module | None = None,
             lpips: nn.Module | None = None) -> dict[str, float]:
    """Scores of the generated brackets and of the HDRs merged from them, averaged over ``brackets``.

    For each held-out item: :func:`generate` the bracket from the EV-0 shot, and
    :func:`naive_reexposure` the same EVs; score each frame against the true
    frame (``stack_psnr/<ev>/<method>``, ``stack_ssim/...``); merge the generated,
    naive and true brackets with :func:`merge_bracket`, add the LDR input (read as
    radiance), N1's latent exposure (:func:`hdr_estimate`) and ExpandNet's prediction
    when a model is given, and score each HDR against the scene's radiance:
    ``hdr_psnr``, ``hdr_ssim``, ``hdr_lpips`` (with ``lpips``) after :func:`hdr_display`;
    ``tm_psnr``, ``tm_ssim`` after Reinhard's global operator (each image its own key);
    ``rd_psnr``, ``rd_ssim`` after Reinhard & Devlin's operator with the reference's
    parameters (:func:`hdrlab.imaging.tonemap.reinhard_devlin`, the tone map of the
    paper's Reinhard columns; the reference also quantised to 8 bits, this does not).

    Args:
        model: a :class:`MultiExposureNet`.
        brackets: from :func:`held_out_brackets`.
        expandnet_model: a trained ExpandNet for the single-shot row, or None.
        lpips: an LPIPS module (e.g. :class:`hdrlab.metrics.LPIPS`), or None to skip it.

    Returns:
        ``{"<metric>/<method>": mean}`` with the keys above.

    Raises:
        DTypeError: ``model``, ``expandnet_model`` or ``lpips`` of the wrong type, ``brackets`` not a list of dicts
            with ``stack``, ``evs``, ``ldr`` and ``hdr``; RangeError: no brackets; see :func:`generate` and
            :func:`merge_bracket` for their contents.

    Example:
        >>> model = MultiExposureNet(n1_width=2, n23_width=2, levels=3)
        >>> scores = evaluate(model, held_out_brackets(["room_windows"], max_side=48, crfs=("srgb",)))
        >>> "stack_psnr/+2/generated" in scores, "tm_psnr/true_bracket" in scores, "rd_psnr/n1_latent" in scores
        (True, True, True)
    """
    check_module(model, "model", MultiExposureNet)
    brackets = check_records(brackets, "brackets", ("stack", "evs", "ldr", "hdr"))
    for index, item in enumerate(brackets):
        check_radiance(item["hdr"], f"brackets[{index}]['hdr']")
    if expandnet_model is not None:
        check_module(expandnet_model, "expandnet_model", expandnet.ExpandNet)
    if lpips is not None:
        check_module(lpips, "lpips")
    totals: dict[str, float] = {}
    for item in brackets:
        ldr, evs = item["ldr"], item["evs"]
        generated = generate(model, ldr, evs)
        naive = torch.stack([naive_reexposure(ldr, ev) for ev in evs])
        hdrs = {"ldr": ldr, "naive": merge_bracket(naive, evs), "n1_latent": hdr_estimate(model, ldr),
                "generated": merge_bracket(generated, evs), "true_bracket": merge_bracket(item["stack"], evs)}
        if expandnet_model is not None:
            hdrs["expandnet"] = expandnet.predict(expandnet_model, ldr)
        for key, value in {**_stack_scores(item, generated, naive), **_hdr_scores(hdrs, item["hdr"], lpips)}.items():
            totals[key] = totals.get(key, 0.0) + value
    return {key: total / len(brackets) for key, total in sorted(totals.items())}


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(cells, widths)))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    return "\n".join([_row(header, widths), *(_row(line, widths) for line in rows)])


def _no_rows(what: str, scores: Mapping[str, float]) -> RangeError:
    return RangeError(describe(f"scores with {what} keys", f"keys {sorted(scores)}", "Pass the dict evaluate() returned."))


def stack_table(scores: dict[str, float]) -> str:
    """Generated vs naive frames, PSNR / SSIM per EV, as text (rows: methods; columns: EVs).

    Raises:
        DTypeError: ``scores`` not a dict of numbers, a ``stack_psnr/<ev>/<method>`` key with a non-numeric EV,
            or a row missing a frame's PSNR or SSIM; RangeError: no ``stack_psnr/...`` keys.

    Example:
        >>> print(stack_table({"stack_psnr/+2/naive": 20.0, "stack_ssim/+2/naive": 0.5}))
        method          +2 EV
        naive   20.00 / 0.500
    """
    check_scores(scores)
    try:
        evs = sorted({key.split("/")[1] for key in scores if key.startswith("stack_psnr/")}, key=float)
    except ValueError as err:
        raise DTypeError(describe("keys stack_psnr/<ev>/<method> with a numeric EV", f"keys {sorted(scores)}",
                                  "Pass the dict evaluate() returned.")) from err
    methods = [m for m in ("generated", "naive") if f"stack_psnr/{evs[0]}/{m}" in scores] if evs else []
    if not methods:
        raise _no_rows("stack_psnr/<ev>/generated or stack_psnr/<ev>/naive", scores)
    check_scores(scores, keys=[f"stack_{metric}/{ev}/{method}" for method in methods for ev in evs
                               for metric in ("psnr", "ssim")])
    rows = [[method] + [f"{scores[f'stack_psnr/{ev}/{method}']:.2f} / {scores[f'stack_ssim/{ev}/{method}']:.3f}"
                        for ev in evs] for method in methods]
    return _table(["method"] + [f"{ev} EV" for ev in evs], rows)


def hdr_table(scores: dict[str, float]) -> str:
    """The HDR rows (:data:`HDR_METHODS` present in ``scores``) with their metrics, as text.

    Columns: HDR (after :func:`hdr_display`), TM (Reinhard et al. 2002 global) and RD
    (Reinhard & Devlin 2005 with the reference's parameters: the paper's "Reinhard").

    Raises:
        DTypeError: ``scores`` not a dict of numbers, or a row missing a metric the first row has;
        RangeError: no ``hdr_psnr/<method>`` key of :data:`HDR_METHODS`.

    Example:
        >>> print(hdr_table({"hdr_psnr/ldr": 20.0, "hdr_ssim/ldr": 0.5, "tm_psnr/ldr": 21.0, "tm_ssim/ldr": 0.6}))
        method  HDR PSNR  HDR SSIM  TM PSNR  TM SSIM
        ldr        20.00     0.500    21.00    0.600
    """
    metrics = [("hdr_psnr", "HDR PSNR", ".2f"), ("hdr_ssim", "HDR SSIM", ".3f"), ("hdr_lpips", "HDR LPIPS", ".3f"),
               ("tm_psnr", "TM PSNR", ".2f"), ("tm_ssim", "TM SSIM", ".3f"), ("rd_psnr", "RD PSNR", ".2f"),
               ("rd_ssim", "RD SSIM", ".3f")]
    check_scores(scores)
    methods = [m for m in HDR_METHODS if f"hdr_psnr/{m}" in scores]
    if not methods:
        raise _no_rows(f"hdr_psnr/<method> (a method of {HDR_METHODS})", scores)
    shown = [(key, title, fmt) for key, title, fmt in metrics if f"{key}/{methods[0]}" in scores]
    check_scores(scores, keys=[f"{key}/{method}" for method in methods for key, _, _ in shown])
    rows = [[method] + [format(scores[f"{key}/{method}"], fmt) for key, _, fmt in shown] for method in methods]
    return _table(["method"] + [title for _, title, _ in shown], rows)


#: Le et al.'s Table 4 rows, (two nets, HDR loss), and the ablation that trains each.
TABLE4_ROWS = (("no", "no", "shared_net_no_representation_loss"), ("no", "yes", "shared_net"),
               ("yes", "no", "no_representation_loss"), ("yes", "yes", "reference"))
#: Le et al.'s Table 5 rows, (N1 input masked), and the ablation that trains each.
TABLE5_ROWS = (("no", "unmasked_n1"), ("yes", "reference"))


def _cells(scores: dict[str, float], keys: list[str]) -> list[str]:
    return [format(scores[key], ".3f" if "ssim" in key else ".2f") for key in keys]


def _check_runs(runs: object, merged: list[str], latent: list[str]) -> None:
    """``runs`` maps ablations to scores with the keys of the tables their rows appear in."""
    check_mapping(runs, "runs")
    assert isinstance(runs, Mapping)
    if not runs:
        raise RangeError(describe("at least one run", "an empty dict", "Pass {ablation: evaluate() scores}."))
    table4, table5 = {row[-1] for row in TABLE4_ROWS}, {row[-1] for row in TABLE5_ROWS}
    for name, scores in runs.items():
        check_choice(name, "runs key", tuple(ABLATIONS))
        check_scores(scores, f"runs[{name!r}]", (merged if name in table4 else []) + (latent if name in table5 else []))


def ablation_tables(runs: dict[str, dict[str, float]], label: str) -> str:
    """Our Table 4 (two nets, HDR loss) and Table 5 (N1 mask), laid out as Le et al.'s, from ablation runs.

    Table 4 scores the merged generated bracket (HDR after :func:`hdr_display`, and
    Reinhard-Devlin tone-mapped, the paper's "Reinhard" columns) and the generated
    +-2 EV frames; Table 5 scores N1's latent exposure as HDR (:func:`hdr_estimate`).
    Rows whose run is missing from ``runs`` are left out.

    Args:
        runs: ``{ablation: evaluate() scores}`` (keys of :data:`ABLATIONS`).
        label: where and how ours were measured, printed after "ours:".

    Returns:
        The two tables as text.

    Raises:
        DTypeError: ``runs`` not a dict of score dicts holding the tables' keys, ``label`` not a str;
        ChoiceError: a run that is not a key of :data:`ABLATIONS`; RangeError: no runs.

    Example:
        >>> row = {"hdr_psnr/generated": 20.0, "hdr_ssim/generated": 0.5, "rd_psnr/generated": 21.0,
        ...        "rd_ssim/generated": 0.6, "stack_psnr/+2/generated": 19.0, "stack_psnr/-2/generated": 17.0,
        ...        "hdr_psnr/n1_latent": 15.0, "hdr_ssim/n1_latent": 0.4}
        >>> print(ablation_tables({"reference": row}, "demo").splitlines()[2])
        yes            yes     20.00     0.500    21.00    0.600       19.00       17.00
    """
    merged = ["hdr_psnr/generated", "hdr_ssim/generated", "rd_psnr/generated", "rd_ssim/generated",
              "stack_psnr/+2/generated", "stack_psnr/-2/generated"]
    latent = ["hdr_psnr/n1_latent", "hdr_ssim/n1_latent"]
    _check_runs(runs, merged, latent)
    if not isinstance(label, str):
        raise DTypeError(describe("label as a str", type(label).__name__, "Say where the runs were measured."))
    table4 = _table(["two nets", "HDR loss", "HDR PSNR", "HDR SSIM", "RD PSNR", "RD SSIM", "+2 EV PSNR",
                     "-2 EV PSNR"],
                    [[nets, hdr, *_cells(runs[name], merged)] for nets, hdr, name in TABLE4_ROWS if name in runs])
    table5 = _table(["masked", "N1 HDR PSNR", "N1 HDR SSIM"],
                    [[masked, *_cells(runs[name], latent)] for masked, name in TABLE5_ROWS if name in runs])
    return (f"Table 4 (ablation: two exposure nets, HDR representation loss) -- ours: {label}\n{table4}\n\n"
            f"Table 5 (HDR encoding net N1, masked over/under-exposure) -- ours: {label}\n{table5}")


# ----------------------------------------------------------------------------- training


def _training_pairs(settings: Settings, data_root: str | os.PathLike | None, seed: int):
    """Exposure pairs of the embedded training scenes, or of the real DrTMO brackets under ``data_root``."""
    if data_root is None:
        return ExposurePairs("train", size=settings.size, max_side=settings.train_max_side, samples=settings.samples,
                             min_gap=settings.min_gap, max_gap=settings.max_gap, crfs=settings.train_crfs, seed=seed)
    from hdrlab.data.public import DrTMOBrackets  # only when the real data is asked for

    return StackPairs(DrTMOBrackets(data_root, max_side=settings.train_max_side), size=settings.size,
                      samples=settings.samples, min_gap=settings.min_gap, max_gap=settings.max_gap, seed=seed)


def _check_run_options(out_dir: object, data_root: object, resume: object, overwrite: object, device: object,
                       seed: object, progress: object, pretrained: object) -> None:
    """What :func:`train_multiexposure` passes on to :func:`hdrlab.train.fit`, checked before anything is built."""
    train.check_run_options(out_dir, resume=resume, overwrite=overwrite, device=device, progress=progress, seed=seed)
    if data_root is not None and not as_path(data_root, "data_root").is_dir():
        raise MissingFileError(describe("data_root a folder of DrTMO brackets", f"{data_root} (no such folder)",
                                        "Pass the folder holding training_data/Train/Bracketed_images."))
    check_pretrained(pretrained)


def train_multiexposure(
    out_dir: str | os.PathLike,
    profile: str = "auto",
    *,
    ablation: str = "reference",
    data_root: str | os.PathLike | None = None,
    resume: bool | str = False,
    overwrite: bool = False,
    steps: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: str = "auto",
    pretrained: bool | str = "auto",
    overrides: dict | None = None,
    eval_split: str = "test",
) -> tuple[MultiExposureNet, train.FitResult]:
    """Train N1, N2, N3 on exposure pairs with :func:`hdrlab.train.fit`, evaluating on held-out scenes.

    Data: :class:`~hdrlab.data.datasets.ExposurePairs` of the training scenes
    (DrTMO's 9 half-stop exposures, five response curves, random crops, flips,
    rotations), or the real DrTMO brackets when ``data_root`` is given.
    Optimiser AdamW, ReduceLROnPlateau (factor 0.5) on the mean training loss of
    each ``log_every`` window. Evaluation: :func:`evaluate` on
    :func:`held_out_brackets` of ``eval_split`` (without ExpandNet and LPIPS).
    Writes ``settings.json``, ``metrics.csv`` and ``checkpoints/`` to ``out_dir``
    (only rank 0 under torchrun: ``torchrun --nproc_per_node=4 -m hdrlab train multiexposure ...``;
    on several GPUs BatchNorm is synchronised across them, as the reference trains; the
    checkpoint keys are the same, so :func:`load_trained` reads it into plain BatchNorm).

    Args:
        out_dir: run folder.
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"`` (see :data:`PROFILES`).
        ablation: a key of :data:`ABLATIONS`.
        data_root: folder of DrTMO stacks (``training_data/Train/Bracketed_images``), or None for the embedded scenes.
        resume: ``True`` continues from the latest checkpoint in ``out_dir``; ``"auto"`` continues, or
            loads a finished run, when there is one and trains otherwise (see :func:`hdrlab.train.fit`).
        overwrite: train again from scratch, replacing the run in ``out_dir`` (``FRESH = True``).
        steps: override the profile's number of steps.
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        seed: seeds the weights and the data.
        progress: see :func:`hdrlab.train.fit`.
        pretrained: VGG weights of the perceptual loss (True, False, ``"auto"``).
        overrides: other :class:`Settings` fields to change (see :func:`settings_for`); recorded in settings.json.
        eval_split: the scenes scored: ``"test"`` (what the notebook reports) or ``"val"`` (to choose settings on).

    Returns:
        ``(model, result)``: the trained model (in eval mode) and the fit result
        (``result.last_eval``: the final held-out scores).

    Raises:
        ChoiceError: unknown profile, ablation, settings field, eval_split, device, ``resume``, ``progress`` or
            ``pretrained``; a run in ``out_dir`` with other settings to continue.
        DTypeError, RangeError: ``out_dir`` or ``data_root`` not a path, ``overwrite`` not a bool, ``steps`` or
            ``seed`` not an int (>= 1, >= 0), ``overrides`` not a dict, or a bad overridden value (see
            :class:`Settings`). All of these are checked before anything is built or written.
        MissingFileError: ``resume`` without a checkpoint; ``data_root`` not a folder or not in the DrTMO layout.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as run:
        ...     model, result = train_multiexposure(run, "quick", steps=1, progress="none")
        >>> result.step, "tm_psnr/generated" in result.last_eval
        (1, True)

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    settings = settings_for(profile, steps, ablation, overrides)
    if eval_split not in ("val", "test"):
        raise ChoiceError(describe("eval_split 'val' or 'test'", repr(eval_split), "Choose settings on 'val'."))
    _check_run_options(out_dir, data_root, resume, overwrite, device, seed, progress, pretrained)
    env.seed_everything(seed)
    model = build_model(settings, ablation)
    if train.distributed_info()[1] > 1 and env.device(device).type == "cuda":
        # BatchNorm over the global batch, as the reference trains (--sync_batchnorm); CUDA only in PyTorch.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    criterion = MultiExposureLoss(settings.weights, settings.perceptual_layers, pretrained=pretrained,
                                  perceptual_reduction=settings.perceptual_reduction)
    brackets = held_out_brackets(eval_split, settings.eval_max_side, settings.eval_crfs, settings.eval_evs)
    out = Path(out_dir)
    record = {**asdict(settings), "ablation": ablation, "data_root": None if data_root is None else str(data_root),
              "eval_split": eval_split}
    train.write_settings(out, record, resume=resume, overwrite=overwrite)
    result = train.fit(
        model, _training_pairs(settings, data_root, seed), functools.partial(loss_terms, criterion=criterion),
        steps=settings.steps, batch_size=settings.batch_size,
        optimizer=functools.partial(torch.optim.AdamW, lr=settings.lr, weight_decay=settings.weight_decay),
        scheduler=functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, factor=0.5,
                                    patience=settings.plateau_patience),
        monitor="loss", evaluate=functools.partial(evaluate, brackets=brackets), eval_every=settings.eval_every,
        out_dir=out, checkpoint_every=settings.checkpoint_every, resume=resume, overwrite=overwrite, device=device,
        amp=settings.amp, seed=seed, log_every=settings.log_every, progress=progress,
    )
    return model.eval(), result


def load_trained(run_dir: str | os.PathLike, device: str = "cpu") -> MultiExposureNet:
    """The model of a finished (or interrupted) run: its latest checkpoint, built from its ``settings.json``.

    Args:
        run_dir: the ``out_dir`` of :func:`train_multiexposure`.
        device: where to put the model.

    Returns:
        The model in eval mode.

    Raises:
        MissingFileError: no ``settings.json`` or no checkpoint in ``run_dir``.
        FileFormatError: ``settings.json`` empty, corrupt, not an object, or with missing or unknown keys.
        DTypeError, RangeError, ChoiceError: ``run_dir`` not a path; a recorded setting or ablation that is not
            valid (see :class:`Settings`); an unknown ``device``.
    """
    record, checkpoint = train.read_run(run_dir, "multiexposure")
    required = [field.name for field in fields(Settings) if field.default is MISSING]
    check_record_keys(record, [*required, "ablation", "data_root"], str(Path(run_dir) / "settings.json"),
                      allowed=[name for name in Settings.__dataclass_fields__ if name not in required] + ["eval_split"])
    ablation = record.pop("ablation")
    record.pop("data_root")
    record.pop("eval_split", None)  # runs recorded before the option existed were scored on "test"
    values = {name: tuple(value) if isinstance(value, list) else value for name, value in record.items()}
    model = build_model(Settings(**values), ablation)
    train.load_weights(checkpoint, model)
    return model.to(env.device(device)).eval()
