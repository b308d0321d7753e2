"""Differentiable HDR synthesis with recursive networks (Kim, Lee & Kang, AAAI 2021).

From one LDR shot (EV 0) a **stop-up** network renders the shots at +1, +2,
+3 EV one after another, each from the previous one, and a **stop-down**
network (same architecture, its own weights) the shots at -1, -2, -3 EV. The
generated bracket is merged into radiance by a *differentiable* Debevec merge
(:func:`hdrlab.imaging.merge.synthesize_hdr`), so the networks can be trained
end to end on the quality of the HDR image, not only of each frame. Its backward
is the paper's Eq. 3 (the left difference ``g(z) - g(z - 1)`` at each pixel's code,
the weights held constant); ``Settings.hdr_backward = "piecewise_linear"`` (ablation
``piecewise_linear_layer``) trains with hdrlab's earlier rule instead
(:data:`hdrlab.imaging.merge.LOOKUP_BACKWARDS`).

Each direction (:class:`StopNet`) is applied recursively with **shared
weights** across the steps ``EV 0 -> +-1 -> +-2 -> +-3`` and decomposes a step
into three networks:

- the **global-tone network** (:class:`RecurrentUNet`, 5 levels, SiLU/Swish):
  a ConvGRU state at the bottleneck carried from step to step
  (:class:`~hdrlab.nn.recurrent.ConvGRUCell`), and conditional instance norm
  (:class:`~hdrlab.nn.norm.ConditionalInstanceNorm2d`) after each decoder level
  selecting ``(gamma, beta)`` by the step index (0, 1, 2 for +-1, +-2, +-3 EV);
  its output is ``sigmoid(logit(x) + r)`` with ``r`` the network's head: a
  residual exposure change in the logit domain (identity when ``r = 0``);
- the **local (edge) network** (:class:`RecurrentUNet`, 4 levels, the same GRU
  and CIN): input the grey input frame and its Canny edges (:func:`canny_edges`:
  OpenCV on the Gaussian-blurred (sigma 2) 8-bit grey image, computed on the CPU
  from the step's *input* frame; a non-differentiable input), output an edge map
  of the target exposure in [0, 1];
- the **refinement network** (a plain :class:`~hdrlab.nn.unet.UNet`, 4 levels,
  instance norm): input ``[global output, edge map, input frame]`` (7 channels),
  output ``sigmoid(logit(global) + r)``, the final frame in [0, 1]. (The paper's
  refinement network has the global network's structure, 5 levels; hdrlab's has 4.)

Losses (:class:`RecursiveLoss`, weights in :data:`LOSS_WEIGHTS`):

- global: L1 to the true frame + 0.01 x a histogram loss (:data:`HISTOGRAM_LOSSES`): by default
  hdrlab's soft-histogram earth mover's distance (64 bins), not the paper's loss; ``"l1"`` is the
  paper's L1 between histograms (256 soft bins, the paper's weight 0.1; the reference code weighs
  its 256-bin L1 of pixel counts / 255 by 0.01);
- edge: L1 between the edge map and the Canny edges of the *true* target frame;
- refinement: L1 to the true frame + 0.1 x contextual bilateral (CoBi) loss on
  VGG19 ``relu3_4`` and ``relu4_4`` features;
- HDR: L1 between mu-law compressed (mu = 100, the reference code's) radiance maps:
  :func:`synthesize_hdr` of the generated bracket vs :func:`synthesize_hdr` of the
  *true* bracket (each with its own response recovered from its detached frames,
  both anchored at ``g(128) = 0`` with the same times, so they share a scale), both
  divided by the true one's per-image maximum and the prediction clipped at 1.
  The true bracket's HDR is used rather than the scene radiance because the merge
  fixes radiance only up to the response's anchor; through the same layer both
  sides have the same units.

Training runs in three stages (:func:`train_recursive`): (a) the global and
local networks alone (the recursion feeds the global output to the next step),
(b) jointly with the refinement network (the recursion feeds the refined frame),
(c) end to end with the HDR loss through the differentiable merge. The paper's
reference code has two phases, (a) and then refinement, CoBi and the HDR loss
together; stage (b), the refinement network without the HDR loss, is hdrlab's own
split: it lets a run without the layer share stages (a) and (b) exactly. Without
the HDR layer (ablation ``"no_hdr_layer"``) stage (c) runs the same steps with
stage (b)'s losses.

Differences from the reference code (github.com/JungHeeKim29/DiffHDRsyn), on purpose:

- the local network reads the Canny edges of each step's *input frame* (the reference feeds
  the previous step's predicted edge map after the first step);
- training always runs the whole recursion from the EV-0 shot on generated frames, with
  back-propagation through the GRU states (the reference adds per-step updates from the true
  previous frame, with detached states);
- the heads are logit-domain residuals ``sigmoid(logit(x) + r)`` (the reference averages a
  tanh output with the input, which cannot reach 0 or 1 from the other end);
- one Adam on the weighted sum of the losses, with the refinement network at its own learning
  rate (the reference steps a separate Adam with gradient centralisation per network and loss);
- the refinement network has 4 levels (the paper's and the reference's has the global network's 5);
- the histogram loss is an earth mover's distance by default (see Losses), and training has the
  extra stage (b) (see above).

Example:
    >>> model = RecursiveHDRNet(global_width=2, edge_width=2, refine_width=2, global_levels=3, edge_levels=2,
    ...                         refine_levels=2)
    >>> out = model(torch.rand(2, 3, 8, 8))
    >>> out["frames"].shape, out["edges"].shape  # EVs -3..+3, the input at index 3
    (torch.Size([2, 7, 3, 8, 8]), torch.Size([2, 7, 1, 8, 8]))

References:
    Kim, Lee, Kang, "End-to-End Differentiable Learning to HDR Image Synthesis
    for Multi-exposure Images", AAAI 2021 (code: github.com/JungHeeKim29/DiffHDRsyn).
    Lee, An, Kang, "Deep recursive HDRI", ECCV 2018. Dumoulin, Shlens, Kudlur,
    "A learned representation for artistic style", ICLR 2017 (CIN). Zhang, Chen,
    Ng, Koltun, "Zoom to learn, learn to zoom", CVPR 2019 (CoBi).

Taught in: notebooks/04_differentiable_recursion.ipynb
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hdrlab import env, train
from hdrlab.data.datasets import DEFAULT_CRFS, BracketStacks
from hdrlab.errors import ChoiceError, DTypeError, MissingFileError, RangeError, ShapeError, describe
from hdrlab.imaging.crf import RESPONSE_CURVES
from hdrlab.imaging.merge import LOOKUP_BACKWARDS, synthesize_hdr
from hdrlab.methods import multiexposure
from hdrlab.metrics import ms_ssim, psnr, ssim, tonemapped_psnr, tonemapped_ssim
from hdrlab.nn.losses import CoBiLoss, histogram_loss, l1_loss, mu_law_loss
from hdrlab.nn.norm import ConditionalInstanceNorm2d
from hdrlab.nn.pretrained import check_pretrained
from hdrlab.nn.recurrent import ConvGRUCell
from hdrlab.nn.unet import UNet
from hdrlab.validate import (
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
    check_stack,
)

__all__ = [
    "EVS",
    "STEPS",
    "CANNY_SIGMA",
    "CANNY_THRESHOLDS",
    "LOSS_WEIGHTS",
    "HDR_MU",
    "HISTOGRAM_LOSSES",
    "STAGES",
    "canny_edges",
    "RecurrentUNet",
    "StopNet",
    "RecursiveHDRNet",
    "DirectStackNet",
    "hdr_loss",
    "RecursiveLoss",
    "loss_terms",
    "Settings",
    "PROFILES",
    "ABLATIONS",
    "settings_for",
    "build_model",
    "stage_parameters",
    "generate",
    "held_out_brackets",
    "evaluate",
    "stack_table",
    "hdr_table",
    "ablation_table",
    "train_recursive",
    "load_trained",
]

#: The bracket the chapter generates and merges: whole stops -3..+3 around the input (EV 0, ``t_ref`` = its time).
EVS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
#: Recursion steps per direction (the CIN has one condition per step).
STEPS = 3
#: Gaussian sigma (px) applied to the 8-bit grey image before ``cv2.Canny`` (the paper's).
CANNY_SIGMA = 2.0
#: ``cv2.Canny`` hysteresis thresholds on 8-bit values. The paper does not state them; these are OpenCV's
#: tutorial values (an assumption, not the paper's).
CANNY_THRESHOLDS = (50.0, 150.0)
#: Loss weights of the reference code (solver.py): histogram 0.01 (relative to the global L1; the reference's is
#: on its own 256-bin histogram L1, here it weighs :data:`HISTOGRAM_LOSSES`' default EMD), CoBi 0.1 (relative to the
#: refinement L1), edge L1 1, HDR (mu-law L1) 1.
LOSS_WEIGHTS = {"global": 1.0, "hist": 0.01, "edge": 1.0, "refine": 1.0, "cobi": 0.1, "hdr": 1.0}
#: mu of the HDR loss's mu-law: the reference code's 100 (the paper's text and the metric use 5000).
HDR_MU = 100.0
#: The global network's histogram losses, as :func:`hdrlab.nn.losses.histogram_loss` arguments: ``"emd"`` is
#: hdrlab's soft-histogram earth mover's distance (64 bins, the default); ``"l1"`` is Kim et al.'s L1 between the
#: histograms, here 256 soft bins (the reference code's count; the paper gives its weight, 0.1, not its bins).
HISTOGRAM_LOSSES = {"emd": {"distance": "emd", "bins": 64}, "l1": {"distance": "l1", "bins": 256}}
#: Training stages in order: (a) global + local, (b) + refinement, (c) end to end through the HDR layer.
STAGES = ("a", "b", "c")

_LOGIT_EPS = 1.0 / 512.0  # inputs are clamped to [eps, 1 - eps] before the logit (8-bit codes 0 and 255 stay finite)


# ----------------------------------------------------------------------------- Canny edges


def canny_edges(ldr: torch.Tensor, sigma: float = CANNY_SIGMA,
                thresholds: tuple[float, float] = CANNY_THRESHOLDS) -> torch.Tensor:
    """Canny edge maps of LDR images: grey (channel mean), 8-bit, Gaussian blur, ``cv2.Canny``.

    Computed on the CPU with OpenCV, without gradient (the local network takes it
    as an input feature and the edge loss as a fixed target); the result is
    returned on the input's device.

    Args:
        ldr: ``(3, H, W)`` or ``(B, 3, H, W)`` LDR in [0, 1].
        sigma: Gaussian sigma in px, > 0 (the paper's 2).
        thresholds: ``(low, high)`` hysteresis thresholds on 8-bit gradients, ``0 <= low <= high``.

    Returns:
        ``(1, H, W)`` or ``(B, 1, H, W)`` float32 in {0, 1} (1 on an edge).

    Raises:
        ShapeError, DTypeError, RangeError: invalid image; RangeError: bad sigma or thresholds; DTypeError:
            thresholds not a pair of numbers.

    Example:
        >>> step = torch.zeros(3, 16, 16)
        >>> step[:, :, 8:] = 1.0  # a vertical edge
        >>> edges = canny_edges(step)
        >>> edges.shape, float(edges[0, :, :5].max()), float(edges[0, 8, 6:10].max())
        (torch.Size([1, 16, 16]), 0.0, 1.0)

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    check_ldr(ldr)
    if ldr.dim() not in (3, 4):
        raise ShapeError(describe("(3, H, W) or (B, 3, H, W)", f"shape {tuple(ldr.shape)}", "Pass images, not stacks."))
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma < math.inf:
        raise RangeError(describe("sigma > 0 (px)", repr(sigma), "Use 2.0 (the paper's)."))
    if not isinstance(thresholds, (tuple, list)) or len(thresholds) != 2:
        raise DTypeError(describe("thresholds as a pair (low, high)", repr(thresholds), "Use (50, 150)."))
    low, high = (check_number(t, "threshold") for t in thresholds)
    if not 0 <= low <= high < math.inf:
        raise RangeError(describe("thresholds (low, high) with 0 <= low <= high", repr(thresholds), "Use (50, 150)."))
    batch = ldr.detach().reshape(-1, *ldr.shape[-3:]).float().mean(dim=-3)
    grey = (batch * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
    maps = [cv2.Canny(cv2.GaussianBlur(image, (0, 0), sigma), low, high) for image in grey]
    edges = torch.from_numpy(np.stack(maps).astype(np.float32) / 255.0).unsqueeze(1)
    return edges.reshape(*ldr.shape[:-3], 1, *ldr.shape[-2:]).to(ldr.device)


# ----------------------------------------------------------------------------- networks


def _logit(x: torch.Tensor) -> torch.Tensor:
    return torch.logit(x.clamp(_LOGIT_EPS, 1.0 - _LOGIT_EPS))


class RecurrentUNet(nn.Module):
    """A :class:`~hdrlab.nn.unet.UNet` with a ConvGRU at the bottleneck and conditional instance norm in the decoder.

    The encoder, upsamplers, decoder stacks and head are those of
    ``UNet(in, out, levels, base_width, norm="none", activation="silu",
    upsample="resize_conv", head=head)``. Changes: the bottleneck features go
    through a :class:`~hdrlab.nn.recurrent.ConvGRUCell` (``w[-1] -> w[-1]``,
    3x3) whose new state replaces them and is returned, to be passed to the
    next step (``recurrent=True``); each decoder level's output goes through a
    :class:`~hdrlab.nn.norm.ConditionalInstanceNorm2d` whose ``(gamma, beta)``
    are chosen by ``condition`` (``conditional=True``).

    Parameters: the UNet's (see its docstring, ``norm="none"``, resize-conv
    upsampling ``9 a b + b``), plus the GRU's ``27 C (2C) + 2C + 9 (2C) C + C``
    (``C = w[-1]``: gates and candidate, 3x3 with bias), plus the CIN's
    ``2 K w[i]`` for decoder levels ``i = 0 .. levels - 2`` (``K`` conditions).

    Args:
        in_channels, out_channels: channels, >= 1.
        levels: resolutions (H, W multiples of ``2**(levels-1)``).
        base_width: channels at full resolution (doubling per level).
        num_conditions: CIN conditions (recursion steps).
        recurrent: use the bottleneck GRU.
        conditional: use CIN in the decoder.
        head: the UNet head's activation.
        convs_per_level: 3x3 conv layers per encoder/decoder level (the UNet's ``convs_per_level``).

    Example:
        >>> net = RecurrentUNet(3, 3, levels=3, base_width=4)
        >>> y, h = net(torch.rand(1, 3, 8, 8), 0)
        >>> y.shape, h.shape
        (torch.Size([1, 3, 8, 8]), torch.Size([1, 16, 2, 2]))

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """

    def __init__(self, in_channels: int, out_channels: int, levels: int, base_width: int, num_conditions: int = STEPS,
                 *, recurrent: bool = True, conditional: bool = True, head: str = "none",
                 convs_per_level: int = 2) -> None:
        super().__init__()
        check_int(num_conditions, "num_conditions", 1)
        check_bool(recurrent, "recurrent")
        check_bool(conditional, "conditional")
        self.unet = UNet(in_channels, out_channels, levels, base_width, norm="none", activation="silu",
                         upsample="resize_conv", head=head, convs_per_level=convs_per_level)
        widths = self.unet.widths
        self.gru = ConvGRUCell(widths[-1], widths[-1]) if recurrent else None
        self.cin = (nn.ModuleList([ConditionalInstanceNorm2d(widths[i], num_conditions) for i in range(levels - 1)])
                    if conditional else None)
        self.num_conditions = num_conditions

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return self.unet.multiple

    def forward(self, x: torch.Tensor, condition: int | torch.Tensor = 0,
                state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One step: ``(B, in, H, W) -> ((B, out, H, W), new GRU state or None)``.

        Args:
            x: input features, H and W multiples of :attr:`multiple`.
            condition: the CIN condition (step index), an int or ``(B,)`` integers.
            state: the GRU state from the previous step, or None (zeros).

        Raises:
            ShapeError, DTypeError, RangeError: see :meth:`UNet.encode`, the GRU and the CIN.
        """
        bottleneck, skips = self.unet.encode(x)
        if self.gru is not None:
            state = self.gru(bottleneck, state)
            bottleneck = state
        features = bottleneck
        for i in reversed(range(self.unet.levels - 1)):
            features = self.unet.decoder[i](torch.cat([self.unet.upsamplers[i](features), skips[i]], dim=1))
            if self.cin is not None:
                features = self.cin[i](features, condition)
        return self.unet.head(features), state


class StopNet(nn.Module):
    """One direction (stop-up or stop-down): global, local and refinement networks, applied one EV step at a time.

    Args:
        global_width, edge_width, refine_width: base channels of the three networks.
        global_levels, edge_levels, refine_levels: their resolutions (the paper: 5, 4 and the global
            network's structure, 5, for the refinement; hdrlab's profiles use 5, 4, 4).
        steps: recursion steps (CIN conditions).
        recurrent: bottleneck GRUs in the global and local networks.
        conditional: CIN in the global and local networks.
        decomposition: build the local and refinement networks (False: the global network alone).
        convs_per_level: 3x3 convs per U-Net level in all three networks (the reference: 2).

    Example:
        >>> net = StopNet(2, 2, 2, global_levels=3, edge_levels=2, refine_levels=2)
        >>> out = net.step(torch.rand(1, 3, 8, 8), 0)
        >>> out["frame"].shape, out["edge"].shape, len(out["state"])
        (torch.Size([1, 3, 8, 8]), torch.Size([1, 1, 8, 8]), 2)

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """

    def __init__(self, global_width: int = 32, edge_width: int = 16, refine_width: int = 16, *, global_levels: int = 5,
                 edge_levels: int = 4, refine_levels: int = 4, steps: int = STEPS, recurrent: bool = True,
                 conditional: bool = True, decomposition: bool = True, convs_per_level: int = 2) -> None:
        super().__init__()
        self.steps, self.decomposition = check_int(steps, "steps", 1), check_bool(decomposition, "decomposition")
        self.global_net = RecurrentUNet(3, 3, global_levels, global_width, steps, recurrent=recurrent,
                                        conditional=conditional, convs_per_level=convs_per_level)
        if self.decomposition:
            self.edge_net = RecurrentUNet(2, 1, edge_levels, edge_width, steps, recurrent=recurrent,
                                          conditional=conditional, head="sigmoid", convs_per_level=convs_per_level)
            self.refine_net = UNet(7, 3, refine_levels, refine_width, norm="instance", activation="silu",
                                   upsample="resize_conv", head="none", convs_per_level=convs_per_level)

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        nets = [self.global_net] + ([self.edge_net, self.refine_net] if self.decomposition else [])
        return max(net.multiple for net in nets)

    def step(self, x: torch.Tensor, index: int, state: tuple | None = None, refine: bool = True) -> dict:
        """One EV step from ``x`` (the previous frame) to the next exposure.

        Args:
            x: ``(B, 3, H, W)`` LDR in [0, 1] (not validated: the recursion's hot path).
            index: the step, ``0 .. steps - 1`` (the target is ``index + 1`` stops from the input shot).
            state: ``(global GRU state, local GRU state)`` of the previous step, or None.
            refine: run the refinement network (False in training stage (a): ``frame`` is the global output).

        Returns:
            ``{"frame", "global", "edge", "state"}``: ``(B, 3, H, W)``, ``(B, 3, H, W)``,
            ``(B, 1, H, W)`` or None (no decomposition), and the new states.

        Raises:
            DTypeError: ``state`` not None or a pair, ``refine`` not a bool; the networks' checks of ``x`` and ``index``.
        """
        check_bool(refine, "refine")
        if state is not None and not (isinstance(state, tuple) and len(state) == 2):
            raise DTypeError(describe("state None or the (global, local) pair of the previous step", repr(state),
                                      "Pass the 'state' of the previous step's output, or None."))
        global_state, edge_state = state if state is not None else (None, None)
        residual, global_state = self.global_net(x, index, global_state)
        tone = torch.sigmoid(_logit(x) + residual)
        edge = frame = None
        if self.decomposition:
            grey = x.mean(dim=1, keepdim=True)
            edge, edge_state = self.edge_net(torch.cat([grey, canny_edges(x)], dim=1), index, edge_state)
            if refine:
                frame = torch.sigmoid(_logit(tone) + self.refine_net(torch.cat([tone, edge, x], dim=1)))
        return {"frame": tone if frame is None else frame, "global": tone, "edge": edge,
                "state": (global_state, edge_state)}


def _check_model(model: object) -> RecursiveHDRNet | DirectStackNet:
    """DTypeError unless ``model`` is one of this chapter's generators (or one in a DDP wrapper); return it unwrapped."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    check_module(inner, "model", (RecursiveHDRNet, DirectStackNet))
    return inner


def _check_input(ldr: object, multiple: int) -> None:
    check_ldr(ldr)
    assert isinstance(ldr, torch.Tensor)
    if ldr.dim() != 4:
        raise ShapeError(describe("a batch of LDR images (B, 3, H, W)", f"shape {tuple(ldr.shape)}",
                                  "Add a batch dim with ldr.unsqueeze(0) (generate() takes one image)."))
    if ldr.shape[-2] % multiple or ldr.shape[-1] % multiple:
        raise ShapeError(describe(f"H and W multiples of {multiple}", f"{tuple(ldr.shape[-2:])}",
                                  "Pad the image (generate() pads and crops back for you)."))


class RecursiveHDRNet(nn.Module):
    """The paper's generator: a stop-up and a stop-down :class:`StopNet`, each run ``steps`` times from the input.

    ``forward(ldr)`` returns the whole bracket ``EV -steps .. +steps`` (the input
    in the middle) with the intermediate outputs, so that every loss of every
    training stage reads from one call.

    Args:
        global_width, edge_width, refine_width, global_levels, edge_levels, refine_levels: see :class:`StopNet`.
        steps: steps per direction (3: EVs -3..+3).
        recurrent, conditional, decomposition: see :class:`StopNet` (the ablations switch them off).
        convs_per_level: see :class:`StopNet`.

    Attributes:
        up, down: the two :class:`StopNet`.

    Example:
        >>> model = RecursiveHDRNet(2, 2, 2, global_levels=2, edge_levels=2, refine_levels=2, steps=2)
        >>> model(torch.rand(1, 3, 4, 4), refine=False)["frames"].shape
        torch.Size([1, 5, 3, 4, 4])

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """

    def __init__(self, global_width: int = 32, edge_width: int = 16, refine_width: int = 16, *, global_levels: int = 5,
                 edge_levels: int = 4, refine_levels: int = 4, steps: int = STEPS, recurrent: bool = True,
                 conditional: bool = True, decomposition: bool = True, convs_per_level: int = 2) -> None:
        super().__init__()
        kwargs = dict(global_levels=global_levels, edge_levels=edge_levels, refine_levels=refine_levels, steps=steps,
                      recurrent=recurrent, conditional=conditional, decomposition=decomposition,
                      convs_per_level=convs_per_level)
        self.up = StopNet(global_width, edge_width, refine_width, **kwargs)
        self.down = StopNet(global_width, edge_width, refine_width, **kwargs)
        self.steps, self.decomposition = steps, decomposition

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return self.up.multiple

    def run_direction(self, ldr: torch.Tensor, up: bool, refine: bool = True) -> list[dict]:
        """The recursion of one direction: ``steps`` outputs of :meth:`StopNet.step`, nearest EV first.

        Each step's input is the previous step's ``frame`` (the refined frame, or the
        global output when ``refine=False``) and its GRU states are carried on.
        """
        net = self.up if up else self.down
        outputs, x, state = [], ldr, None
        for index in range(self.steps):
            out = net.step(x, index, state, refine)
            outputs.append(out)
            x, state = out["frame"], out["state"]
        return outputs

    def forward(self, ldr: torch.Tensor, refine: bool = True) -> dict[str, torch.Tensor | None]:
        """Generate the bracket from ``(B, 3, H, W)`` LDR shots (EV 0), H and W multiples of :attr:`multiple`.

        Returns:
            ``{"frames", "global", "edges"}``: ``(B, 2 steps + 1, 3, H, W)`` final frames and
            global outputs in EV order (index ``steps`` is the input), and ``(B, 2 steps + 1, 1, H, W)``
            edge maps (index ``steps``: the input's Canny edges), or None without decomposition.

        Raises:
            ShapeError, DTypeError, RangeError: invalid LDR input; DTypeError: ``refine`` not a bool.
        """
        _check_input(ldr, self.multiple)
        check_bool(refine, "refine")
        ups, downs = self.run_direction(ldr, True, refine), self.run_direction(ldr, False, refine)
        order = downs[::-1] + [None] + ups

        def gather(key: str, centre: torch.Tensor) -> torch.Tensor:
            return torch.stack([centre if out is None else out[key] for out in order], dim=1)

        edges = gather("edge", canny_edges(ldr)) if self.decomposition else None
        return {"frames": gather("frame", ldr), "global": gather("global", ldr), "edges": edges}


class DirectStackNet(nn.Module):
    """The ablation baseline: one plain U-Net per direction renders all its exposures at once (no recursion).

    ``UNet(3, 3 steps, levels, width, norm="instance", activation="silu", upsample="resize_conv",
    head="none")``; frame ``k`` is ``sigmoid(logit(x) + r_k)``. No GRU, no CIN, no decomposition.

    Example:
        >>> DirectStackNet(2, levels=2)(torch.rand(1, 3, 4, 4))["frames"].shape
        torch.Size([1, 7, 3, 4, 4])

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """

    def __init__(self, width: int = 32, *, levels: int = 5, steps: int = STEPS, convs_per_level: int = 2) -> None:
        super().__init__()
        self.steps, self.decomposition = check_int(steps, "steps", 1), False
        self.up = UNet(3, 3 * steps, levels, width, norm="instance", activation="silu", upsample="resize_conv",
                       head="none", convs_per_level=convs_per_level)
        self.down = UNet(3, 3 * steps, levels, width, norm="instance", activation="silu", upsample="resize_conv",
                         head="none", convs_per_level=convs_per_level)

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return self.up.multiple

    def forward(self, ldr: torch.Tensor, refine: bool = True) -> dict[str, torch.Tensor | None]:
        """Same outputs as :meth:`RecursiveHDRNet.forward` (``global`` = ``frames``, ``edges`` None)."""
        _check_input(ldr, self.multiple)
        check_bool(refine, "refine")
        base = _logit(ldr).unsqueeze(1)
        up = torch.sigmoid(base + self.up(ldr).unflatten(1, (self.steps, 3)))
        down = torch.sigmoid(base + self.down(ldr).unflatten(1, (self.steps, 3))).flip(1)
        frames = torch.cat([down, ldr.unsqueeze(1), up], dim=1)
        return {"frames": frames, "global": frames, "edges": None}


# ----------------------------------------------------------------------------- losses


def hdr_loss(pred_hdr: torch.Tensor, target_hdr: torch.Tensor, mu: float = HDR_MU) -> torch.Tensor:
    """Mu-law L1 between radiance maps of one scale: both divided by the target's per-image maximum.

    ``mu_law_loss(clip(pred / m, 0, 1), target / m, mu)`` with ``m = max(target)``
    per image: the prediction's values above the target's maximum are clipped (no
    gradient there).

    Args:
        pred_hdr: ``(B, 3, H, W)`` or ``(3, H, W)`` radiance ``>= 0`` (may require grad).
        target_hdr: same shape, radiance ``>= 0`` with a positive maximum per image.
        mu: mu-law strength, > 0.

    Returns:
        0-dim tensor.

    Raises:
        ShapeError: shapes differ; DTypeError, RangeError: not radiance maps (NaN/inf, negative), an all-black
            target, or ``mu`` not a number > 0.

    Example:
        >>> target = torch.rand(1, 3, 4, 4) + 0.1
        >>> float(hdr_loss(target * 1.0, target)), bool(hdr_loss(target * 0.5, target) > 0)
        (0.0, True)

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    if not isinstance(pred_hdr, torch.Tensor) or not isinstance(target_hdr, torch.Tensor) \
            or pred_hdr.shape != target_hdr.shape or pred_hdr.dim() < 3:
        raise ShapeError(describe("two radiance maps (*, 3, H, W) of one shape",
                                  f"{getattr(pred_hdr, 'shape', type(pred_hdr))} and "
                                  f"{getattr(target_hdr, 'shape', type(target_hdr))}",
                                  "Merge both brackets with the same layer."))
    check_radiance(pred_hdr, "pred_hdr")
    check_radiance(target_hdr, "target_hdr")
    check_positive(mu, "mu")
    scale = target_hdr.detach().flatten(-3).amax(-1)[..., None, None, None]
    if not torch.isfinite(scale).all() or (scale <= 0).any():
        raise RangeError(describe("a target with a finite, positive maximum per image", f"maxima {scale.flatten().tolist()}",
                                  "Check the true bracket (an all-black crop has no radiance to compare)."))
    return mu_law_loss((pred_hdr / scale).clamp(0.0, 1.0), target_hdr / scale, mu)


class RecursiveLoss(nn.Module):
    """The weighted loss terms of a batch, by training stage (see the module docstring).

    Args:
        weights: ``{"global", "hist", "edge", "refine", "cobi", "hdr"}`` weights >= 0 (default
            :data:`LOSS_WEIGHTS`). A zero ``"cobi"`` builds no VGG; a zero ``"hdr"`` never calls the HDR layer.
        mu: mu of the HDR loss.
        pretrained: VGG weights of the CoBi loss (True, False or ``"auto"``).
        histogram: the global network's histogram loss, a key of :data:`HISTOGRAM_LOSSES`.
        backward: the HDR layer's backward rule (:data:`hdrlab.imaging.merge.LOOKUP_BACKWARDS`; the paper's Eq. 3).

    Raises:
        RangeError: a negative, non-finite or missing weight. ChoiceError: an unknown histogram loss, backward or
            ``pretrained``. DTypeError: ``weights`` not a mapping; DTypeError, RangeError: ``mu`` not a number > 0.

    Example:
        >>> criterion = RecursiveLoss({**LOSS_WEIGHTS, "cobi": 0.0})
        >>> criterion.cobi is None
        True

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """

    def __init__(self, weights: Mapping[str, float] | None = None, mu: float = HDR_MU,
                 pretrained: bool | str = "auto", *, histogram: str = "emd",
                 backward: str = "left_difference") -> None:
        super().__init__()
        if not isinstance(histogram, str) or histogram not in HISTOGRAM_LOSSES or backward not in LOOKUP_BACKWARDS:
            raise ChoiceError(describe(f"histogram in {tuple(HISTOGRAM_LOSSES)} and backward in {LOOKUP_BACKWARDS}",
                                       f"{histogram!r} and {backward!r}", "Use 'emd' and 'left_difference'."))
        self.histogram, self.backward = histogram, backward
        weights = dict(LOSS_WEIGHTS if weights is None else check_mapping(weights, "weights"))
        if set(weights) != set(LOSS_WEIGHTS) or any(
            isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf for w in weights.values()
        ):
            raise RangeError(describe(f"finite weights >= 0 for exactly {sorted(LOSS_WEIGHTS)}", repr(weights),
                                      "Start from dict(LOSS_WEIGHTS) and change values."))
        self.weights = {name: float(w) for name, w in weights.items()}
        check_positive(mu, "mu")
        check_pretrained(pretrained)
        self.mu = float(mu)
        self.cobi = CoBiLoss(("relu3_4", "relu4_4"), pretrained=pretrained) if self.weights["cobi"] else None

    def forward(self, out: Mapping[str, torch.Tensor | None], batch: Mapping[str, torch.Tensor],
                stage: str) -> dict[str, torch.Tensor]:
        """The loss of one batch at a training stage.

        Args:
            out: the model's output (:meth:`RecursiveHDRNet.forward`).
            batch: ``{"stack": (B, N, 3, H, W), "times": (B, N)}`` (the true bracket, EV order).
            stage: ``"a"``, ``"b"`` or ``"c"``.

        Returns:
            ``{"loss", <terms>}``: ``loss`` carries the graph; the terms are detached and unweighted:
            ``global``, ``hist`` always; ``edge`` with decomposition; ``refine`` (and ``cobi``) in stages b
            and c with decomposition; ``hdr`` in stage c when its weight is positive.

        Raises:
            ChoiceError: unknown stage. DTypeError: ``out`` or ``batch`` not a mapping with those keys (their
                values are checked by :func:`loss_terms`, not here: this runs every training step).
        """
        check_choice(stage, "stage", STAGES)
        check_mapping(out, "out (the model's output)", ("frames", "global", "edges"))
        check_mapping(batch, "batch", ("stack", "times"))
        stack = batch["stack"]
        centre = stack.shape[1] // 2
        keep = [i for i in range(stack.shape[1]) if i != centre]
        target = stack[:, keep].flatten(0, 1)
        tone = out["global"][:, keep].flatten(0, 1)
        terms = {"global": l1_loss(tone, target),
                 "hist": histogram_loss(tone, target, **HISTOGRAM_LOSSES[self.histogram])}
        if out["edges"] is not None:
            edges = out["edges"][:, keep].flatten(0, 1)
            terms["edge"] = l1_loss(edges, canny_edges(target))
            if stage != "a":
                frames = out["frames"][:, keep].flatten(0, 1)
                terms["refine"] = l1_loss(frames, target)
                if self.cobi is not None:
                    self.cobi.to(frames.device)
                    terms["cobi"] = self.cobi(frames, target)
        if stage == "c" and self.weights["hdr"] > 0:
            with torch.no_grad():
                true_hdr = synthesize_hdr(stack, batch["times"])
            generated_hdr = synthesize_hdr(out["frames"], batch["times"], backward=self.backward)
            terms["hdr"] = hdr_loss(generated_hdr, true_hdr, self.mu)
        loss = sum(self.weights[name] * value for name, value in terms.items())
        return {"loss": loss, **{name: value.detach() for name, value in terms.items()}}


def loss_terms(model: nn.Module, batch: Mapping, criterion: RecursiveLoss, stage: str) -> dict[str, torch.Tensor]:
    """The training step :func:`hdrlab.train.fit` runs: generate the bracket from its middle shot, weigh the losses.

    Args:
        model: a :class:`RecursiveHDRNet` or :class:`DirectStackNet`.
        batch: a collated batch of :class:`~hdrlab.data.datasets.BracketStacks` with EVs -3..+3.
        criterion: the :class:`RecursiveLoss`.
        stage: ``"a"`` (no refinement), ``"b"`` or ``"c"``.

    Returns:
        See :meth:`RecursiveLoss.forward`.

    Example:
        >>> model = RecursiveHDRNet(2, 2, 2, global_levels=2, edge_levels=2, refine_levels=2)
        >>> batch = {"stack": torch.rand(1, 7, 3, 8, 8), "times": torch.exp2(torch.arange(-3.0, 4.0)).unsqueeze(0)}
        >>> sorted(loss_terms(model, batch, RecursiveLoss({**LOSS_WEIGHTS, "cobi": 0.0}), "b"))
        ['edge', 'global', 'hist', 'loss', 'refine']

    Raises:
        DTypeError: ``model`` or ``criterion`` of another type; ``batch`` not a mapping with ``stack`` and ``times``.
        ChoiceError: unknown stage. ShapeError, ExposureError, RangeError: an invalid bracket (see
            :func:`hdrlab.validate.check_stack`), or not ``2 steps + 1`` frames per bracket.
    """
    inner = _check_model(model)
    check_module(criterion, "criterion", RecursiveLoss)
    check_choice(stage, "stage", STAGES)
    check_mapping(batch, "batch", ("stack", "times"))
    stack = batch["stack"]
    check_stack(stack, batch["times"])
    if stack.dim() != 5 or stack.shape[1] != 2 * inner.steps + 1:
        raise ShapeError(describe(f"a batch of brackets (B, {2 * inner.steps + 1}, 3, H, W) (EVs -steps..+steps)",
                                  f"shape {tuple(stack.shape)}", "Collate BracketStacks items with EVs -3..+3."))
    return criterion(model(stack[:, stack.shape[1] // 2], refine=stage != "a"), batch, stage)


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Training and evaluation settings of one profile (DESIGN §3).

    Attributes:
        global_width, edge_width, refine_width: base channels of the three networks (doubling per level).
        global_levels, edge_levels, refine_levels: their resolutions (the paper: 5, 4 and 5, its refinement
            network having the global network's structure; every profile here uses 5, 4, 4).
        convs_per_level: 3x3 convs per U-Net level (the reference: 2).
        size: side of the square training crops, px (a multiple of ``2**(levels - 1)``).
        batch_size: brackets per optimizer step.
        steps_a, steps_b, steps_c: optimizer steps of the three stages (0 skips a stage).
        lr: Adam learning rate of the global and local networks.
        refine_lr: Adam learning rate of the refinement network.
        beta1, beta2: Adam's betas (the reference: 0.5, 0.999).
        weight_decay: Adam's L2 weight decay (the reference: 5e-5).
        global_weight, hist_weight, edge_weight, refine_weight, cobi_weight, hdr_weight: loss weights.
        mu: mu of the HDR loss.
        hist_loss: the histogram loss, a key of :data:`HISTOGRAM_LOSSES` (``"emd"``: hdrlab's; ``"l1"``: the paper's).
        hdr_backward: the HDR layer's backward (:data:`hdrlab.imaging.merge.LOOKUP_BACKWARDS`; the paper's Eq. 3).
        log_every: steps per logged window.
        train_max_side: training scenes are loaded with this longest side.
        samples: brackets per data epoch.
        train_crfs: response curves of the training brackets (drawn per item).
        eval_max_side: held-out scenes are scored whole at this longest side.
        eval_crfs: response curves of the held-out brackets.
        eval_every: steps of stage (c) between evaluations (the end is always evaluated).
        checkpoint_every: steps between checkpoints within a stage (each stage's end is always saved).
        amp: :data:`hdrlab.train.AMP_CHOICES`.
    """

    global_width: int
    edge_width: int
    refine_width: int
    global_levels: int
    edge_levels: int
    refine_levels: int
    convs_per_level: int
    size: int
    batch_size: int
    steps_a: int
    steps_b: int
    steps_c: int
    lr: float
    refine_lr: float
    beta1: float
    beta2: float
    weight_decay: float
    global_weight: float
    hist_weight: float
    edge_weight: float
    refine_weight: float
    cobi_weight: float
    hdr_weight: float
    mu: float
    log_every: int
    train_max_side: int
    samples: int
    train_crfs: tuple[str, ...]
    eval_max_side: int
    eval_crfs: tuple[str, ...]
    eval_every: int
    checkpoint_every: int
    amp: str
    hist_loss: str = "emd"  # runs recorded before these two fields existed trained with "emd" ...
    hdr_backward: str = "left_difference"  # ... and "piecewise_linear": their settings differ, so they do not resume

    @property
    def steps(self) -> int:
        """Optimizer steps of all stages."""
        return self.steps_a + self.steps_b + self.steps_c

    @property
    def weights(self) -> dict[str, float]:
        """The loss weights as :class:`RecursiveLoss` takes them."""
        return {"global": self.global_weight, "hist": self.hist_weight, "edge": self.edge_weight,
                "refine": self.refine_weight, "cobi": self.cobi_weight, "hdr": self.hdr_weight}

    def stage_steps(self) -> dict[str, int]:
        """``{"a": steps_a, "b": steps_b, "c": steps_c}``."""
        return {"a": self.steps_a, "b": self.steps_b, "c": self.steps_c}

    def __post_init__(self) -> None:
        """Check every field (see the class docstring); DTypeError, RangeError or ChoiceError name the first bad one."""
        for name in ("global_width", "edge_width", "refine_width", "global_levels", "edge_levels", "refine_levels",
                     "convs_per_level", "size", "batch_size", "log_every", "train_max_side", "samples",
                     "eval_max_side", "eval_every", "checkpoint_every"):
            check_int(getattr(self, name), name, 1)
        for name in ("steps_a", "steps_b", "steps_c"):
            check_int(getattr(self, name), name, 0)
        check_int(self.steps, "steps_a + steps_b + steps_c", 1)
        for name in ("lr", "refine_lr", "mu"):
            check_positive(getattr(self, name), name)
        for name in ("weight_decay", *(f"{term}_weight" for term in LOSS_WEIGHTS)):
            check_nonnegative(getattr(self, name), name)
        for name in ("beta1", "beta2"):
            if check_nonnegative(getattr(self, name), name) >= 1:
                raise RangeError(describe(f"{name} in [0, 1) (an Adam beta)", repr(getattr(self, name)),
                                          "Use the reference's (0.5, 0.999)."))
        for name in ("train_crfs", "eval_crfs"):
            _check_crfs(getattr(self, name), name)
        check_choice(self.amp, "amp", train.AMP_CHOICES)
        check_choice(self.hist_loss, "hist_loss", tuple(HISTOGRAM_LOSSES))
        check_choice(self.hdr_backward, "hdr_backward", LOOKUP_BACKWARDS)
        multiple = 2 ** (max(self.global_levels, self.edge_levels, self.refine_levels) - 1)
        if self.size % multiple:
            raise ShapeError(describe(f"size a multiple of {multiple} (2**(levels - 1))", repr(self.size),
                                      "Pick a crop side the U-Nets can halve at every level."))


def _check_crfs(crfs: object, name: str) -> None:
    """A non-empty tuple or list of response-curve names (:data:`hdrlab.imaging.crf.RESPONSE_CURVES`)."""
    if not isinstance(crfs, (tuple, list)) or not crfs:
        raise DTypeError(describe(f"{name} as a non-empty tuple of response-curve names", repr(crfs),
                                  "Pass e.g. ('srgb', 'film-soft')."))
    for crf in crfs:
        check_choice(crf, f"a response curve in {name}", tuple(RESPONSE_CURVES))


#: Settings per profile.
#:
#: ``full`` follows the reference code (DiffHDRsyn ``default_config.yaml`` / ``solver.py``) where it is
#: known: global width 32, local and refinement width 16, 256 px crops, Adam with betas (0.5, 0.999) and
#: weight decay 5e-5, learning rate 1e-4 for the global and local networks and 1e-5 for the refinement,
#: refinement from step 10k, CoBi weight 0.1, histogram weight 0.01, mu 100. Its batch is 1 (per-frame
#: updates); 8 is used here (an assumption). Total steps: the reference counts epochs (10k of them) and
#: tests at step 80k; 10k + 30k + 40k is our split, not the paper's. The reference optimiser is Adam with
#: gradient centralisation and separate optimisers per network and loss; here one Adam with two parameter
#: groups (refinement at its own rate) minimises the weighted sum.
#: Full-size parameters: 49,498,606 (:func:`build_model`; 28.3 M of them are the two global networks' bottleneck
#: GRUs on 512 channels; the reference's global network even reaches 1024 channels at its bottleneck).
#:
#: ``quick`` keeps the whole architecture (5/4/4 levels, GRUs, CIN, Canny input, three stages, the HDR layer)
#: at widths 4/4/4 with one 3x3 conv per U-Net level (776,110 parameters), 32 px crops, batch 4, 50 + 30 + 40
#: steps at Adam 3e-3 (refinement 1e-3), and no CoBi term (weight 0: offline its VGG features are random, and
#: it costs 2-3x per step on a CPU; the ``full`` profile and :class:`RecursiveLoss` keep it). Measured on a
#: 2-core CPU shared with other jobs, ``OMP_NUM_THREADS=1``: 30-37 s per run including the final evaluation
#: (12 held-out brackets at 64 px).
#: ``gpu`` keeps ``quick``'s recipe with width 8, 64 px crops, batch 8 and 700 + 500 + 600 steps, sized for at most
#: ~15 min of chapter 4 (three such runs) on one Colab T4 (``benchmarks/gpu_profile_estimates.py``; not yet run on a GPU).
PROFILES: dict[str, Settings] = {
    "quick": Settings(
        global_width=4, edge_width=4, refine_width=4, global_levels=5, edge_levels=4, refine_levels=4, convs_per_level=1,
        size=32,
        batch_size=4, steps_a=50, steps_b=30, steps_c=40, lr=3e-3, refine_lr=1e-3, beta1=0.5, beta2=0.999,
        weight_decay=5e-5, global_weight=1.0, hist_weight=0.01, edge_weight=1.0, refine_weight=1.0, cobi_weight=0.0,
        hdr_weight=1.0, mu=HDR_MU, log_every=10, train_max_side=128, samples=640, train_crfs=DEFAULT_CRFS,
        eval_max_side=64, eval_crfs=multiexposure.CAMERA_CRFS, eval_every=1000, checkpoint_every=1000, amp="auto",
    ),
    "gpu": Settings(
        global_width=8, edge_width=8, refine_width=8, global_levels=5, edge_levels=4, refine_levels=4, convs_per_level=1,
        size=64,
        batch_size=8, steps_a=700, steps_b=500, steps_c=600, lr=3e-3, refine_lr=1e-3, beta1=0.5, beta2=0.999,
        weight_decay=5e-5, global_weight=1.0, hist_weight=0.01, edge_weight=1.0, refine_weight=1.0, cobi_weight=0.0,
        hdr_weight=1.0, mu=HDR_MU, log_every=50, train_max_side=512, samples=4000, train_crfs=DEFAULT_CRFS,
        eval_max_side=256, eval_crfs=multiexposure.CAMERA_CRFS, eval_every=10_000, checkpoint_every=500, amp="auto",
    ),
    "full": Settings(
        global_width=32, edge_width=16, refine_width=16, global_levels=5, edge_levels=4, refine_levels=4, convs_per_level=2,
        size=256,
        batch_size=8, steps_a=10_000, steps_b=30_000, steps_c=40_000, lr=1e-4, refine_lr=1e-5, beta1=0.5,
        beta2=0.999, weight_decay=5e-5, global_weight=1.0, hist_weight=0.01, edge_weight=1.0, refine_weight=1.0,
        cobi_weight=0.1, hdr_weight=1.0, mu=HDR_MU, log_every=100, train_max_side=1024, samples=64_000,
        train_crfs=DEFAULT_CRFS, eval_max_side=512, eval_crfs=multiexposure.CAMERA_CRFS, eval_every=10_000,
        checkpoint_every=2_000, amp="auto",
    ),
}

#: Ablation variants: model switches and loss changes. The paper's rows, each adding one component:
#: ``baseline`` (:class:`DirectStackNet`: plain U-Nets, no recursion, CIN or decomposition), ``+recurrence``
#: (the recursive global network with its GRU, no CIN, no decomposition), ``+cin``, ``+decomposition``
#: (global / edge / refinement), ``+hdr_layer`` (stage (c) through the HDR layer) and ``reference`` (+ CoBi:
#: the whole method). None before ``+hdr_layer`` trains with the HDR loss or CoBi. ``no_hdr_layer`` is the
#: controlled partner of ``reference``: everything, CoBi included, except the HDR loss. At ``quick`` (no
#: CoBi) ``+decomposition`` equals ``no_hdr_layer`` and ``+hdr_layer`` equals ``reference``. Two variants of the
#: whole method, no rows of the paper: ``piecewise_linear_layer`` (the HDR layer's backward is hdrlab's earlier
#: segment slope, the weights differentiated too) and ``paper_histogram`` (the paper's histogram L1, weight 0.1).
ABLATIONS: dict[str, dict] = {
    "baseline": {"model": "direct", "hdr_weight": 0.0, "cobi_weight": 0.0},
    "+recurrence": {"conditional": False, "decomposition": False, "hdr_weight": 0.0, "cobi_weight": 0.0},
    "+cin": {"decomposition": False, "hdr_weight": 0.0, "cobi_weight": 0.0},
    "+decomposition": {"hdr_weight": 0.0, "cobi_weight": 0.0},
    "+hdr_layer": {"cobi_weight": 0.0},
    "no_hdr_layer": {"hdr_weight": 0.0},
    "reference": {},
    "piecewise_linear_layer": {"hdr_backward": "piecewise_linear"},
    "paper_histogram": {"hist_loss": "l1", "hist_weight": 0.1},
}
#: The ablations' keys that change Settings, not the model.
_LOSS_SWITCHES = ("hdr_weight", "cobi_weight", "hdr_backward", "hist_loss", "hist_weight")


def _check_settings(settings: object) -> None:
    if not isinstance(settings, Settings):
        raise DTypeError(describe("settings as a recursive.Settings", type(settings).__name__,
                                  "Use settings_for(profile) or PROFILES[name], changed with dataclasses.replace."))


def _check_ablation(ablation: object) -> None:
    if not isinstance(ablation, str) or ablation not in ABLATIONS:
        raise ChoiceError(describe(f"ablation in {tuple(ABLATIONS)}", repr(ablation), "Use 'reference'."))


def settings_for(profile: str = "auto", steps: int | None = None, ablation: str = "reference") -> Settings:
    """The settings of a profile, with the total ``steps`` overridden and an ablation's loss change applied.

    ``steps`` is split over the stages in the profile's proportions (rounded down for
    stages a and b; stage c takes the rest), so ``steps=1`` runs one step of stage (c).

    Args:
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"``.
        steps: total optimizer steps (None: the profile's).
        ablation: a key of :data:`ABLATIONS`.

    Returns:
        A :class:`Settings`.

    Raises:
        ChoiceError: unknown profile or ablation; DTypeError, RangeError: ``steps`` not an int >= 1.

    Example:
        >>> s = settings_for("quick", steps=16, ablation="no_hdr_layer")
        >>> s.stage_steps(), s.hdr_weight
        ({'a': 6, 'b': 4, 'c': 6}, 0.0)
    """
    _check_ablation(ablation)
    settings = PROFILES[env.profile(profile)]
    if steps is not None:
        check_int(steps, "steps", 1)
        total = settings.steps
        steps_a, steps_b = steps * settings.steps_a // total, steps * settings.steps_b // total
        settings = replace(settings, steps_a=steps_a, steps_b=steps_b, steps_c=steps - steps_a - steps_b)
    return replace(settings, **{key: value for key, value in ABLATIONS[ablation].items() if key in _LOSS_SWITCHES})


def build_model(settings: Settings, ablation: str = "reference") -> nn.Module:
    """The model of a profile's settings and ablation (:class:`RecursiveHDRNet` or, for ``baseline``, :class:`DirectStackNet`).

    Example:
        >>> from hdrlab.nn.blocks import count_parameters
        >>> count_parameters(build_model(PROFILES["full"]))
        49498606

    Raises:
        ChoiceError: unknown ablation. DTypeError: ``settings`` not a :class:`Settings`.
    """
    _check_settings(settings)
    _check_ablation(ablation)
    switches = ABLATIONS[ablation]
    if switches.get("model") == "direct":
        return DirectStackNet(settings.global_width, levels=settings.global_levels,
                              convs_per_level=settings.convs_per_level)
    return RecursiveHDRNet(settings.global_width, settings.edge_width, settings.refine_width,
                           global_levels=settings.global_levels, edge_levels=settings.edge_levels,
                           refine_levels=settings.refine_levels, recurrent=switches.get("recurrent", True),
                           conditional=switches.get("conditional", True),
                           decomposition=switches.get("decomposition", True),
                           convs_per_level=settings.convs_per_level)


def stage_parameters(model: nn.Module, stage: str) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(main, refinement)`` parameters trained at a stage: stage (a) trains no refinement network.

    Example:
        >>> model = RecursiveHDRNet(2, 2, 2, global_levels=2, edge_levels=2, refine_levels=2)
        >>> main, refine = stage_parameters(model, "a")
        >>> len(refine), len(stage_parameters(model, "b")[1]) > 0
        (0, True)

    Raises:
        DTypeError: ``model`` not an ``nn.Module``. ChoiceError: unknown stage.
    """
    check_module(model, "model")
    check_choice(stage, "stage", STAGES)
    refine_ids = {id(p) for name, p in model.named_parameters() if ".refine_net." in f".{name}"}
    main = [p for p in model.parameters() if id(p) not in refine_ids]
    refine = [] if stage == "a" else [p for p in model.parameters() if id(p) in refine_ids]
    return main, refine


def _optimizer(_params: object, model: nn.Module, stage: str, settings: Settings) -> torch.optim.Optimizer:
    main, refine = stage_parameters(model, stage)
    groups = [{"params": main, "lr": settings.lr}] + ([{"params": refine, "lr": settings.refine_lr}] if refine else [])
    return torch.optim.Adam(groups, lr=settings.lr, betas=(settings.beta1, settings.beta2),
                            weight_decay=settings.weight_decay)


# ----------------------------------------------------------------------------- generation and evaluation


def generate(model: nn.Module, ldr: torch.Tensor) -> torch.Tensor:
    """The bracket ``EV -steps .. +steps`` generated from one LDR shot, without gradients.

    The image is padded (replicating its border) to a multiple of ``model.multiple``
    and cropped back; the model runs in eval mode (its mode is restored).

    Args:
        model: a :class:`RecursiveHDRNet` or :class:`DirectStackNet`.
        ldr: ``(3, H, W)`` LDR in [0, 1].

    Returns:
        ``(2 steps + 1, 3, H, W)`` in [0, 1]; index ``steps`` is ``ldr`` itself.

    Raises:
        ShapeError, DTypeError, RangeError: invalid image (float16 too: the model's dtype is float32).
        DTypeError: ``model`` not a :class:`RecursiveHDRNet` or :class:`DirectStackNet`.

    Example:
        >>> model = RecursiveHDRNet(2, 2, 2, global_levels=3, edge_levels=2, refine_levels=2)
        >>> ldr = torch.rand(3, 10, 13)
        >>> stack = generate(model, ldr)
        >>> stack.shape, bool(torch.equal(stack[3], ldr))
        (torch.Size([7, 3, 10, 13]), True)
    """
    _check_model(model)
    check_ldr(ldr)
    if ldr.dim() != 3:
        raise ShapeError(describe("one image (3, H, W)", f"shape {tuple(ldr.shape)}", "Generate one image at a time."))
    device = next(model.parameters()).device
    height, width = ldr.shape[-2:]
    multiple = model.multiple
    padded = F.pad(ldr.to(device).unsqueeze(0), (0, -width % multiple, 0, -height % multiple), mode="replicate")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            frames = model(padded)["frames"][0, :, :, :height, :width]
    finally:
        model.train(was_training)
    frames[model.steps] = ldr.to(device)
    return frames.to(ldr.device)


def held_out_brackets(names: str | list[str] = "test", max_side: int = 64,
                      crfs: tuple[str, ...] = multiexposure.CAMERA_CRFS) -> list[dict]:
    """Held-out scenes as true brackets at EVs -3..+3 (:func:`hdrlab.methods.multiexposure.held_out_brackets`).

    Example:
        >>> item = held_out_brackets(["room_windows"], max_side=32, crfs=("srgb",))[0]
        >>> item["stack"].shape, item["evs"]
        (torch.Size([7, 3, 21, 32]), (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0))
    """
    return multiexposure.held_out_brackets(names, max_side, crfs, EVS)


#: Minimum image side for MS-SSIM (5 scales of an 11-px window): smaller held-out images omit it.
_MS_SSIM_SIDE = 161


def _stack_scores(item: dict, stacks: Mapping[str, torch.Tensor]) -> dict[str, float]:
    scores = {}
    with_ms = min(item["stack"].shape[-2:]) >= _MS_SSIM_SIDE
    for index, (ev, true) in enumerate(zip(item["evs"], item["stack"])):
        if ev == 0:
            continue
        for method, stack in stacks.items():
            frame = stack[index]
            scores[f"stack_psnr/{ev:+g}/{method}"] = float(psnr(frame, true))
            scores[f"stack_ssim/{ev:+g}/{method}"] = float(ssim(frame, true))
            if with_ms:
                scores[f"stack_msssim/{ev:+g}/{method}"] = float(ms_ssim(frame, true))
    return scores


def _hdr_scores(hdrs: Mapping[str, torch.Tensor], target: torch.Tensor) -> dict[str, float]:
    scores = {}
    target_display = multiexposure.hdr_display(target)
    for method, hdr in hdrs.items():
        scores[f"mu_psnr/{method}"] = float(psnr(multiexposure.hdr_display(hdr), target_display))
        scores[f"tm_psnr/{method}"] = float(tonemapped_psnr(hdr, target))
        scores[f"tm_ssim/{method}"] = float(tonemapped_ssim(hdr, target))
    return scores


def _held_out_hdr_loss(stack: torch.Tensor, item: dict) -> float:
    """Stage (c)'s HDR loss of a whole held-out bracket: the objective the differentiable layer trains."""
    times = torch.exp2(torch.tensor(item["evs"]))
    with torch.no_grad():
        return float(hdr_loss(synthesize_hdr(stack, times), synthesize_hdr(item["stack"], times)))


def evaluate(model: nn.Module, brackets: list[dict],
             other_generators: Mapping[str, nn.Module | Callable] | None = None,
             hdr_predictors: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None) -> dict[str, float]:
    """Scores of the generated brackets and of the HDRs merged from them, averaged over ``brackets``.

    For each held-out item: :func:`generate` the bracket from the EV-0 shot; also the
    naive re-exposure (:func:`hdrlab.methods.multiexposure.naive_reexposure`) and each of
    ``other_generators``. Each frame is scored against the true one per relative EV:
    ``stack_psnr/<ev>/<method>``, ``stack_ssim/...`` and ``stack_msssim/...`` (only when
    both image sides are >= 161 px, MS-SSIM's minimum; the quick profile's 64 px images omit
    it). Each bracket and the true one are merged with
    :func:`hdrlab.methods.multiexposure.merge_bracket` (Debevec recovery + merge) and scored
    against the scene radiance: ``tm_psnr``, ``tm_ssim`` (Reinhard, each image its own key) and
    ``mu_psnr`` (mu-law, mu 5000, after dividing each image by its own 99th-percentile
    luminance, :func:`hdrlab.methods.multiexposure.hdr_display`, since a merge fixes radiance
    only up to a scale). ``hdr_loss/<method>`` is stage (c)'s training objective on the
    whole held-out bracket (:func:`hdr_loss` between the :func:`synthesize_hdr` merges of
    the bracket and of the true one): what training through the layer minimises. Methods: ``generated``, ``naive``, the other generators' names,
    the single-shot ``hdr_predictors``' names (HDR rows only: e.g. ExpandNet) and
    ``true_bracket`` (HDR rows only, an upper bound).

    Args:
        model: a trained :class:`RecursiveHDRNet` (or :class:`DirectStackNet`).
        brackets: from :func:`held_out_brackets`.
        other_generators: ``{name: model or callable(ldr, evs) -> (N, 3, H, W) stack}``.
        hdr_predictors: ``{name: callable(ldr) -> (3, H, W) radiance}`` (single-shot methods).

    Returns:
        ``{"<metric>/<method>" or "stack_*/<ev>/<method>": mean}``.

    Raises:
        DTypeError: ``model`` not a generator of this chapter; ``brackets`` not a list of dicts with ``ldr``,
            ``evs``, ``stack`` and ``hdr``; ``other_generators`` / ``hdr_predictors`` not mappings to models or
            callables. RangeError: no brackets. DTypeError, ShapeError, RangeError: a bracket's images, or what a
            callable returned, invalid (an LDR stack of the true one's shape; radiance of the LDR's shape).

    Example:
        >>> model = RecursiveHDRNet(2, 2, 2, global_levels=3, edge_levels=2, refine_levels=2)
        >>> scores = evaluate(model, held_out_brackets(["room_windows"], max_side=32, crfs=("srgb",)))
        >>> "stack_psnr/+3/generated" in scores, "tm_psnr/true_bracket" in scores
        (True, True)
    """
    _check_model(model)
    brackets = check_records(brackets, "brackets", ("ldr", "evs", "stack", "hdr"))
    other_generators = _check_callables(other_generators, "other_generators")
    hdr_predictors = _check_callables(hdr_predictors, "hdr_predictors")
    totals: dict[str, float] = {}
    for item in brackets:
        ldr, evs = item["ldr"], item["evs"]
        check_stack(item["stack"], torch.exp2(torch.tensor(check_sequence(evs, "a bracket's evs", check_number))))
        stacks = {"generated": generate(model, ldr),
                  "naive": torch.stack([multiexposure.naive_reexposure(ldr, ev) for ev in evs])}
        for name, other in other_generators.items():
            stacks[name] = generate(other, ldr) if isinstance(other, nn.Module) else other(ldr, evs)
            _check_returned(stacks[name], item["stack"].shape, f"other_generators[{name!r}]", check_ldr)
        hdrs = {name: multiexposure.merge_bracket(stack, evs) for name, stack in stacks.items()}
        for name, predict in hdr_predictors.items():
            hdrs[name] = predict(ldr)
            _check_returned(hdrs[name], ldr.shape, f"hdr_predictors[{name!r}]", check_radiance)
        hdrs["true_bracket"] = multiexposure.merge_bracket(item["stack"], evs)
        objective = {f"hdr_loss/{name}": _held_out_hdr_loss(stacks[name], item) for name in stacks}
        for key, value in {**_stack_scores(item, stacks), **_hdr_scores(hdrs, item["hdr"]), **objective}.items():
            totals[key] = totals.get(key, 0.0) + value
    return {key: total / len(brackets) for key, total in sorted(totals.items())}


def _check_callables(value: object, name: str) -> Mapping[str, object]:
    """None (no entries) or a mapping from names to models or callables."""
    if value is None:
        return {}
    check_mapping(value, name)
    assert isinstance(value, Mapping)
    for key, entry in value.items():
        if not callable(entry):
            raise DTypeError(describe(f"{name} mapping names to models or callables", f"{key!r}: {entry!r}",
                                      "Pass e.g. {'mine': my_model} or {'mine': lambda ldr, evs: stack}."))
    return value


def _check_returned(value: object, shape: torch.Size, name: str, check: Callable[[object, str], None]) -> None:
    """What a caller's model or callable returned: an image (stack) of ``shape`` passing ``check``."""
    check(value, f"what {name} returned")
    assert isinstance(value, torch.Tensor)
    if value.shape != shape:
        raise ShapeError(describe(f"what {name} returned of shape {tuple(shape)}", f"shape {tuple(value.shape)}",
                                  "Return one frame per EV of the bracket (or one radiance map), at the LDR's size."))


def stack_table(scores: Mapping[str, float]) -> str:
    """Frames per method, PSNR / SSIM per relative EV, as text (rows: methods; columns: EVs).

    Example:
        >>> print(stack_table({"stack_psnr/-3/naive": 20.0, "stack_ssim/-3/naive": 0.5}))
        method          -3 EV
        naive   20.00 / 0.500

    Raises:
        DTypeError: ``scores`` not a mapping of metric names to numbers, or without the SSIM of a PSNR it holds.
    """
    check_scores(scores)
    evs = sorted({key.split("/")[1] for key in scores if key.startswith("stack_psnr/")}, key=float)
    methods = list(dict.fromkeys(key.split("/")[2] for key in scores if key.startswith("stack_psnr/")))
    check_scores(scores, keys=[f"stack_{m}/{ev}/{method}" for m in ("psnr", "ssim") for ev in evs for method in methods])
    rows = [[method] + [f"{scores[f'stack_psnr/{ev}/{method}']:.2f} / {scores[f'stack_ssim/{ev}/{method}']:.3f}"
                        for ev in evs] for method in methods]
    return multiexposure._table(["method"] + [f"{ev} EV" for ev in evs], rows)


def hdr_table(scores: Mapping[str, float]) -> str:
    """The merged-HDR rows of :func:`evaluate`, as text.

    Example:
        >>> print(hdr_table({"mu_psnr/naive": 20.0, "tm_psnr/naive": 21.0, "tm_ssim/naive": 0.6}))
        method  mu-PSNR  TM PSNR  TM SSIM
        naive     20.00    21.00    0.600

    Raises:
        DTypeError: ``scores`` not a mapping of metric names to numbers, or a method without all three scores.
    """
    check_scores(scores)
    methods = list(dict.fromkeys(key.split("/")[1] for key in scores if key.startswith("tm_psnr/")))
    check_scores(scores, keys=[f"{metric}/{m}" for m in methods for metric in ("mu_psnr", "tm_psnr", "tm_ssim")])
    rows = [[m, f"{scores[f'mu_psnr/{m}']:.2f}", f"{scores[f'tm_psnr/{m}']:.2f}", f"{scores[f'tm_ssim/{m}']:.3f}"]
            for m in methods]
    return multiexposure._table(["method", "mu-PSNR", "TM PSNR", "TM SSIM"], rows)


def ablation_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """One row per ablation: mean frame PSNR over the EVs and the merged HDR's mu-PSNR / TM PSNR / TM SSIM.

    Args:
        results: ``{ablation: evaluate(...) scores}``.

    Example:
        >>> print(ablation_table({"reference": {"stack_psnr/+1/generated": 30.0, "mu_psnr/generated": 25.0,
        ...                                     "tm_psnr/generated": 26.0, "tm_ssim/generated": 0.9}}))
        ablation   stack PSNR  mu-PSNR  TM PSNR  TM SSIM
        reference       30.00    25.00    26.00    0.900

    Raises:
        DTypeError: ``results`` not a mapping of names to :func:`evaluate` scores with the generated rows.
    """
    check_mapping(results, "results")
    rows = []
    for name, scores in results.items():
        check_scores(scores, f"results[{name!r}]", [f"{m}/generated" for m in ("mu_psnr", "tm_psnr", "tm_ssim")])
        frames = [v for k, v in scores.items() if k.startswith("stack_psnr/") and k.endswith("/generated")]
        if not frames:
            check_scores(scores, f"results[{name!r}]", ["stack_psnr/<ev>/generated"])
        rows.append([name, f"{sum(frames) / len(frames):.2f}", f"{scores['mu_psnr/generated']:.2f}",
                     f"{scores['tm_psnr/generated']:.2f}", f"{scores['tm_ssim/generated']:.3f}"])
    return multiexposure._table(["ablation", "stack PSNR", "mu-PSNR", "TM PSNR", "TM SSIM"], rows)


# ----------------------------------------------------------------------------- training


def _combine(results: list[tuple[str, int, train.FitResult]]) -> train.FitResult:
    """One FitResult for the stages: steps and history rows counted across them (rows get a ``stage`` key)."""
    history, evals = [], []
    for stage, offset, result in results:
        history += [{**row, "step": row["step"] + offset, "stage": stage} for row in result.history]
        evals += [{**row, "step": row["step"] + offset, "stage": stage} for row in result.evals]
    stage, offset, last = results[-1]
    seconds = sum(r.seconds for _, _, r in results)
    return dataclasses.replace(last, step=offset + last.step, history=history, evals=evals, seconds=seconds)


def _stage_resume(resume: bool | str, overwrite: bool, first: bool, folder: Path) -> bool | str:
    """What a stage's fit gets: the first stage ``resume`` as given; a later one continues only from a checkpoint."""
    if overwrite:
        return False
    if first:
        return resume
    return resume in (True, "auto") and train.latest_checkpoint(folder) is not None


def train_recursive(
    out_dir: str | os.PathLike,
    profile: str = "auto",
    *,
    ablation: str = "reference",
    resume: bool | str = False,
    overwrite: bool = False,
    steps: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: str = "auto",
    pretrained: bool | str = "auto",
) -> tuple[nn.Module, train.FitResult]:
    """Train the recursive generator in its three stages with :func:`hdrlab.train.fit`, evaluating on held-out scenes.

    Data: :class:`~hdrlab.data.datasets.BracketStacks` of the training scenes (EVs -3..+3
    whole stops, unit ``"ev"``, the five default response curves, random crops, flips and
    rotations). Each stage (:data:`STAGES`) is one :func:`~hdrlab.train.fit` call into
    ``out_dir/stage_<x>`` starting from the previous stage's weights, with its own Adam
    (betas and weight decay of the reference; stage (a) leaves the refinement network
    out; the refinement network has its own learning rate). Evaluation (:func:`evaluate`
    on :func:`held_out_brackets` of the test split) runs in the last stage only.
    Writes ``settings.json`` and the stage folders (``metrics.csv``, ``checkpoints/``).

    Args:
        out_dir: run folder.
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"`` (see :data:`PROFILES`).
        ablation: a key of :data:`ABLATIONS`.
        resume: ``True`` continues from the latest checkpoints in ``out_dir`` (finished stages are
            reloaded); ``"auto"`` does so when there are some and trains otherwise (see :func:`hdrlab.train.fit`).
        overwrite: train every stage again from scratch, replacing the run in ``out_dir`` (``FRESH = True``).
        steps: override the profile's total number of steps (split over the stages, see :func:`settings_for`).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        seed: seeds the weights and the data.
        progress: see :func:`hdrlab.train.fit`.
        pretrained: VGG weights of the CoBi loss (True, False, ``"auto"``; unused when its weight is 0).

    Returns:
        ``(model, result)``: the trained model (eval mode) and a FitResult over all stages
        (``step`` the total, ``history`` rows with a ``stage`` key, ``last_eval`` the final scores).

    Raises:
        ChoiceError: unknown profile, ablation, device, progress, ``resume`` or ``pretrained``; a fresh run into a
            folder with checkpoints; a run in ``out_dir`` with other settings to continue.
        DTypeError: ``out_dir`` not a path, ``overwrite`` not a bool; DTypeError, RangeError: ``steps`` or ``seed``
            not an int (>= 1, >= 0). All of these are checked before anything is built or trained.
        MissingFileError: ``resume`` without a checkpoint.
        RangeError: from the HDR layer when a generated bracket has no informative pixels.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as run:
        ...     model, result = train_recursive(run, "quick", steps=1, progress="none", device="cpu")
        >>> result.step, "tm_psnr/generated" in result.last_eval
        (1, True)

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    settings = settings_for(profile, steps, ablation)
    out = train.check_run_options(out_dir, resume=resume, overwrite=overwrite, device=device, progress=progress)
    check_pretrained(pretrained)
    env.seed_everything(seed)
    model = build_model(settings, ablation)
    criterion = RecursiveLoss(settings.weights, settings.mu, pretrained=pretrained, histogram=settings.hist_loss,
                              backward=settings.hdr_backward)
    brackets = held_out_brackets("test", settings.eval_max_side, settings.eval_crfs)
    data = BracketStacks("train", evs=EVS, unit="ev", size=settings.size, max_side=settings.train_max_side,
                         samples=settings.samples, crfs=settings.train_crfs, seed=seed)
    train.write_settings(out, {**asdict(settings), "ablation": ablation}, resume=resume, overwrite=overwrite)
    stages = [(stage, n) for stage, n in settings.stage_steps().items() if n > 0]
    _, refinement = stage_parameters(model, "c")
    results, offset = [], 0
    for i, (stage, n) in enumerate(stages):
        for parameter in refinement:  # stage (a) trains no refinement: frozen, so DDP (torchrun) expects no gradient
            parameter.requires_grad_(stage != "a")
        folder = out / f"stage_{stage}"
        last = i == len(stages) - 1
        stage_resume = _stage_resume(resume, overwrite, i == 0, folder)
        result = train.fit(
            model, data, functools.partial(loss_terms, criterion=criterion, stage=stage), steps=n,
            batch_size=settings.batch_size,
            optimizer=functools.partial(_optimizer, model=model, stage=stage, settings=settings),
            evaluate=functools.partial(evaluate, brackets=brackets) if last else None,
            eval_every=min(settings.eval_every, n) if last else None, out_dir=folder,
            checkpoint_every=min(settings.checkpoint_every, n), resume=stage_resume, overwrite=overwrite,
            device=device, amp=settings.amp,
            seed=seed + i, log_every=min(settings.log_every, n), progress=progress,
        )
        results.append((stage, offset, result))
        offset += n
    for parameter in refinement:
        parameter.requires_grad_(True)
    return model.eval(), _combine(results)


def load_trained(run_dir: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """The model of a finished (or interrupted) run: the latest checkpoint of its latest stage.

    Args:
        run_dir: the ``out_dir`` of :func:`train_recursive`.
        device: where to put the model.

    Returns:
        The model in eval mode.

    Raises:
        MissingFileError: no ``settings.json`` or no checkpoint in ``run_dir``. DTypeError: ``run_dir`` not a path.
        FileFormatError: ``settings.json`` empty, corrupt, not a JSON object, or with missing or unknown keys.
        DTypeError, RangeError, ChoiceError: a recorded setting invalid (see :class:`Settings`); ChoiceError: an
            unknown device.
    """
    run = as_path(run_dir, "run_dir")
    settings_file = run / "settings.json"
    checkpoints = [c for c in (train.latest_checkpoint(run / f"stage_{s}") for s in reversed(STAGES)) if c]
    if not settings_file.is_file() or not checkpoints:
        raise MissingFileError(describe(f"a training run in {run} (settings.json and stage_*/checkpoints/)",
                                        "no such run", "Train one: python -m hdrlab train recursive --out DIR."))
    record = train.read_settings(settings_file, "recursive")
    names = dataclasses.fields(Settings)
    check_record_keys(record, ["ablation", *(f.name for f in names if f.default is dataclasses.MISSING)],
                      str(settings_file), [f.name for f in names if f.default is not dataclasses.MISSING])
    ablation = record.pop("ablation")
    fields = {name: tuple(value) if isinstance(value, list) else value for name, value in record.items()}
    model = build_model(Settings(**fields), ablation)
    train.load_weights(checkpoints[0], model)
    return model.to(env.device(device)).eval()
