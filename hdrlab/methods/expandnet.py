"""ExpandNet (Marnerides et al. 2018): single-image LDR->HDR, the course's single-shot baseline.

Three branches read the LDR image: a *local* one (two 3x3 convolutions, fine
detail), a *dilated* one (four 3x3 convolutions with dilation 2, mid-range
context) and a *global* one (the image resized to 256x256 and reduced by six
stride-2 convolutions and a 4x4 one to a single 64-vector, broadcast back over
the image). Their features are concatenated and fused by two 1x1 convolutions
into RGB; SELU activations throughout, a sigmoid head. There is no pooling, no
normalisation and no skip connection: the paper's point is that three
receptive fields are enough.

What the sigmoid output means depends on the training target (``target=``):

- ``"exposure"`` (hdrlab's default): the HDR in the shot's own exposure units
  (1 = the level where this LDR saturates, the convention of
  :mod:`hdrlab.data.datasets`), encoded as ``x / (1 + x)``. Unclipped pixels
  are then predictable from the LDR alone, and the encoding is exactly the
  sigmoid's, so the radiance is ``exp`` of the network's logit
  (:meth:`ExpandNet.logits`): unbounded, never clamped.
- ``"max"`` (the paper): each HDR divided by its own maximum, output relative
  radiance in [0, 1]. The maximum is usually a clipped light whose level the
  LDR cannot reveal, so the loss is dominated by guessing it. Measured on the
  quick profile (width 32, 450 steps, held-out scenes): 18.3 dB / SSIM 0.65
  with ``"max"`` against 21.2 dB / 0.90 with ``"exposure"``; a perfect inverse
  camera scores a *worse* "max" loss (0.22) than the blurry trained net (0.12).

The absolute scale of a scene is unknowable from one LDR, so the course scores
predictions after tone mapping (Reinhard, which adapts to each image's
brightness), against the LDR input itself and a naive inverse gamma, on
held-out scenes.

The parameter names follow the authors' ``expand.py`` (``local_net``,
``mid_net``, ``glob_net``, ``end_net``), so their released ``weights.pth``
loads with :func:`load_reference_weights`.

Example:
    >>> model = ExpandNet(width=8)
    >>> model(torch.rand(2, 3, 32, 48)).shape
    torch.Size([2, 3, 32, 48])

References:
    Marnerides, Bashford-Rogers, Hatchett, Debattista, "ExpandNet: A Deep
    Convolutional Neural Network for High Dynamic Range Expansion from Low
    Dynamic Range Content", Computer Graphics Forum (Eurographics) 2018.

Taught in: notebooks/02_metahdr.ipynb (simulated HDR labels) and the baseline
rows of notebooks 03-05.
"""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hdrlab import env, train
from hdrlab.data import scenes as scene_data
from hdrlab.data.datasets import LDRHDRPairs
from hdrlab.errors import ChoiceError, DTypeError, FileFormatError, MissingFileError, RangeError, ShapeError, describe
from hdrlab.imaging import camera, crf
from hdrlab.metrics import tonemapped_psnr, tonemapped_ssim
from hdrlab.nn.blocks import check_feature_map, parameter_dtype
from hdrlab.nn.losses import cosine_loss, l1_loss
from hdrlab.validate import (
    as_path,
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
    check_sequence,
)

__all__ = [
    "PROFILES",
    "BASELINES",
    "baseline_hdrs",
    "Settings",
    "ExpandNet",
    "TARGETS",
    "encode_target",
    "loss_terms",
    "predict",
    "held_out_pairs",
    "evaluate",
    "train_expandnet",
    "load_trained",
    "load_reference_weights",
    "REFERENCE_WEIGHTS_URL",
]

_GLOBAL_SIZE = 256  # the global branch sees the image at 256x256: 6 stride-2 convs -> 4x4 -> a 4x4 conv -> 1x1


#: Training targets (see the module docstring): the shot's exposure units encoded x/(1+x), or the paper's per-image max.
TARGETS = ("exposure", "max")


def _check_target(target: object) -> None:
    if target not in TARGETS:
        raise ChoiceError(describe(f"target in {TARGETS}", repr(target),
                                   "Use 'exposure' (hdrlab's default) or 'max' (the paper)."))


def _check_curve_name(name: object, label: str) -> None:
    check_choice(name, label, tuple(crf.RESPONSE_CURVES))


@dataclass(frozen=True)
class Settings:
    """Training and evaluation settings of one profile (DESIGN §3).

    Attributes:
        width: channels of each branch (the paper: 64; the local branch ends at 2x).
        size: side of the square training crops, px.
        batch_size: crops per optimiser step.
        steps: optimiser steps.
        lr: Adam learning rate.
        cosine_weight: lambda of the loss L1 + lambda (1 - cosine) (the paper: 5).
        target: one of :data:`TARGETS`.
        train_max_side: the training scenes are loaded with this longest side.
        train_evs: exposures of the training LDRs, EV relative to auto exposure.
        samples: crops per data epoch (each a different random crop; the order reshuffles per epoch).
        eval_max_side: held-out scenes are scored whole at this longest side.
        eval_evs: exposures of the held-out LDRs.
        eval_crfs: response curves of the held-out LDRs.
        eval_every: steps between evaluations (the last step is always evaluated).
        checkpoint_every: steps between checkpoints (the last step is always saved).

    Raises:
        DTypeError, RangeError: a count not an int >= 1, ``lr`` not positive, ``cosine_weight`` negative,
            an EV not a finite number, ``train_evs`` / ``eval_evs`` / ``eval_crfs`` not a non-empty list or tuple.
        ChoiceError: unknown ``target`` or response curve.
    """

    width: int
    size: int
    batch_size: int
    steps: int
    lr: float
    cosine_weight: float
    target: str
    train_max_side: int
    train_evs: tuple[float, ...]
    samples: int
    eval_max_side: int
    eval_evs: tuple[float, ...]
    eval_crfs: tuple[str, ...]
    eval_every: int
    checkpoint_every: int

    def __post_init__(self) -> None:
        for name in ("width", "size", "batch_size", "steps", "train_max_side", "samples", "eval_max_side",
                     "eval_every", "checkpoint_every"):
            check_int(getattr(self, name), name, 1)
        check_positive(self.lr, "lr")
        check_nonnegative(self.cosine_weight, "cosine_weight")
        _check_target(self.target)
        check_sequence(self.train_evs, "train_evs", check_number)
        check_sequence(self.eval_evs, "eval_evs", check_number)
        check_sequence(self.eval_crfs, "eval_crfs", _check_curve_name)


#: Settings per profile. ``full`` uses the paper's width, loss weight, batch and
#: learning rate (Adam 7e-5, batch 12, 256 px crops); ``quick`` fits in about two
#: CPU minutes with half the width, a higher learning rate and small crops.
#: ``gpu`` keeps ``quick``'s learning rate with 128 px crops, batch 16 and 3000 steps, sized with the other trainings of
#: its chapters for at most ~15 min a chapter on one Colab T4 (``benchmarks/gpu_profile_estimates.py``; not yet run on a GPU).
PROFILES: dict[str, Settings] = {
    "quick": Settings(
        width=32, size=64, batch_size=8, steps=450, lr=1e-3, cosine_weight=5.0, target="exposure",
        train_max_side=256, train_evs=(-1.0, 0.0, 1.0), samples=512, eval_max_side=256, eval_evs=(0.0, 1.0), eval_crfs=("srgb", "film-soft"),
        eval_every=450, checkpoint_every=150,
    ),
    "gpu": Settings(
        width=32, size=128, batch_size=16, steps=3000, lr=1e-3, cosine_weight=5.0, target="exposure",
        train_max_side=512, train_evs=(-1.0, 0.0, 1.0), samples=4096, eval_max_side=512, eval_evs=(0.0, 1.0),
        eval_crfs=("srgb", "film-soft"), eval_every=1000, checkpoint_every=500,
    ),
    "full": Settings(
        width=64, size=256, batch_size=12, steps=20000, lr=7e-5, cosine_weight=5.0, target="exposure",
        train_max_side=1024,
        train_evs=(-1.0, 0.0, 1.0), samples=12000, eval_max_side=512, eval_evs=(0.0, 1.0), eval_crfs=("srgb", "film-soft"),
        eval_every=2000, checkpoint_every=1000,
    ),
}

#: What ExpandNet is compared with: the LDR itself read as radiance, and the LDR
#: linearised with a display gamma of 2.2 (the naive inverse camera).
BASELINES = ("ldr", "ldr_gamma")


def _layer(in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, dilation: int = 1):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation), nn.SELU())


class ExpandNet(nn.Module):
    """The three-branch ExpandNet: LDR ``(B, 3, H, W)`` in [0, 1] -> encoded HDR ``(B, 3, H, W)`` in [0, 1].

    Args:
        width: channels per branch (64 in the paper: 456,899 parameters).
        target: what the output encodes, one of :data:`TARGETS` (see the module
            docstring); :func:`predict` decodes it. Not part of the weights.

    Any ``H, W >= 1`` works: the local and dilated branches keep the
    resolution, the global branch resizes its input to 256x256.

    Example:
        >>> sum(p.numel() for p in ExpandNet().parameters())
        456899
    """

    def __init__(self, width: int = 64, target: str = "exposure") -> None:
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise RangeError(describe("width: a positive integer", repr(width), "Use 64 (the paper) or e.g. 16."))
        _check_target(target)
        self.width, self.target = width, target
        self.local_net = nn.Sequential(_layer(3, width, 3, 1, 1), _layer(width, 2 * width, 3, 1, 1))
        self.mid_net = nn.Sequential(
            _layer(3, width, 3, 1, 2, 2), _layer(width, width, 3, 1, 2, 2), _layer(width, width, 3, 1, 2, 2),
            nn.Conv2d(width, width, 3, 1, 2, 2),
        )
        strided = [_layer(3 if i == 0 else width, width, 3, 2, 1) for i in range(6)]
        self.glob_net = nn.Sequential(*strided, nn.Conv2d(width, width, 4, 1, 0))
        self.end_net = nn.Sequential(_layer(4 * width, width, 1, 1, 0), nn.Conv2d(width, 3, 1, 1, 0), nn.Sigmoid())

    def logits(self, ldr: torch.Tensor) -> torch.Tensor:
        """The fused features before the sigmoid head: ``(B, 3, H, W)``, unbounded.

        Args:
            ldr: ``(B, 3, H, W)`` display-referred LDR in [0, 1] (only its type, shape and dtype
                are checked here, so training stays fast; :func:`predict` validates the values).

        Raises:
            DTypeError: not a float tensor of the model's dtype. ShapeError: not ``(B, 3, H, W)``.
        """
        check_feature_map(ldr, 3, "ldr", dtype=parameter_dtype(self))
        batch, _, height, width = ldr.shape
        resized = F.interpolate(ldr, size=(_GLOBAL_SIZE, _GLOBAL_SIZE), mode="bilinear", align_corners=False)
        glob = self.glob_net(resized).expand(batch, self.width, height, width)
        fuse_and_project = self.end_net[:-1]  # end_net[-1] is the sigmoid
        return fuse_and_project(torch.cat((self.local_net(ldr), self.mid_net(ldr), glob), dim=1))

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        """The encoded HDR the loss compares with :func:`encode_target`: ``sigmoid(logits)`` in [0, 1].

        Args:
            ldr: ``(B, 3, H, W)`` LDR in [0, 1].

        Returns:
            ``(B, 3, H, W)`` in [0, 1].

        Raises:
            DTypeError, ShapeError: see :meth:`logits`.
        """
        return self.end_net[-1](self.logits(ldr))


def encode_target(hdr: torch.Tensor, target: str = "exposure") -> torch.Tensor:
    """The training target in [0, 1]: ``hdr / (1 + hdr)`` (``"exposure"``) or ``hdr / max(hdr)`` per image (``"max"``).

    Args:
        hdr: ``(*, 3, H, W)`` linear radiance ``>= 0`` in the shot's exposure
            units (1 = where the LDR saturates), as the datasets return it.
        target: one of :data:`TARGETS`.

    Returns:
        Same shape, in [0, 1) for ``"exposure"`` and [0, 1] (max 1) for ``"max"``.

    Raises:
        ShapeError, DTypeError, RangeError: invalid radiance, or an all-black image with ``"max"``.
        ChoiceError: unknown ``target``.

    Example:
        >>> hdr = torch.tensor([[[1.0, 4.0]]]).expand(3, 1, 2)
        >>> encode_target(hdr).tolist()[0], encode_target(hdr, "max").tolist()[0]
        ([[0.5, 0.800000011920929]], [[0.25, 1.0]])
    """
    check_radiance(hdr)
    _check_target(target)
    if target == "exposure":
        return hdr / (1 + hdr)
    peak = hdr.flatten(-3).amax(dim=-1)
    if (peak <= 0).any():
        raise RangeError(describe("HDR images with a positive maximum", "an all-black image",
                                  "Drop black crops from the data, or use target='exposure'."))
    return hdr / peak.reshape(*peak.shape, 1, 1, 1)


def loss_terms(model: nn.Module, batch: dict, cosine_weight: float = 5.0) -> dict[str, torch.Tensor]:
    """ExpandNet's loss on a batch: ``L1 + cosine_weight * (1 - cosine)`` against :func:`encode_target`.

    This is the step function :func:`hdrlab.train.fit` runs.

    Args:
        model: an :class:`ExpandNet` (or its DDP wrapper; any ``nn.Module`` with a ``target`` of :data:`TARGETS`).
        batch: dict with ``"ldr"`` ``(B, 3, H, W)`` in [0, 1] and ``"hdr"`` ``(B, 3, H, W)`` radiance.
        cosine_weight: lambda (5 in the paper), finite and >= 0.

    Returns:
        ``{"loss", "l1", "cosine"}`` scalar tensors (``loss`` carries the graph).

    Raises:
        DTypeError: ``model`` not an ``nn.Module``, ``batch`` not a dict with ``"ldr"`` and ``"hdr"``,
            or ``cosine_weight`` not a number.
        ChoiceError: the model has no ``target`` of :data:`TARGETS`.
        ShapeError, RangeError: invalid LDR or HDR (see :func:`predict`, :func:`encode_target`), shapes that
            differ, or a negative or non-finite ``cosine_weight``.

    Example:
        >>> batch = {"ldr": torch.rand(2, 3, 16, 16), "hdr": torch.rand(2, 3, 16, 16) * 4}
        >>> sorted(loss_terms(ExpandNet(width=4), batch))
        ['cosine', 'l1', 'loss']
    """
    network = getattr(model, "module", model)
    check_module(network, "model")
    _check_target(getattr(network, "target", None))
    check_mapping(batch, "batch", ("ldr", "hdr"))
    check_nonnegative(cosine_weight, "cosine_weight")
    check_ldr(batch["ldr"], "batch['ldr']")
    target = encode_target(batch["hdr"], network.target)
    _check_same_shape(batch["ldr"], batch["hdr"], "batch")
    pred = model(batch["ldr"])
    l1, cosine = l1_loss(pred, target), cosine_loss(pred, target)
    return {"loss": l1 + cosine_weight * cosine, "l1": l1.detach(), "cosine": cosine.detach()}


def _check_same_shape(ldr: torch.Tensor, hdr: torch.Tensor, name: str) -> None:
    if ldr.shape != hdr.shape:
        raise ShapeError(describe(f"{name}['ldr'] and {name}['hdr'] of the same shape",
                                  f"{tuple(ldr.shape)} and {tuple(hdr.shape)}",
                                  "Pair each LDR with the HDR of the same pixels."))


def _check_pair(ldr: object, hdr: object, name: str) -> None:
    """An LDR in [0, 1] and an HDR radiance of the same shape (``name`` says where they come from)."""
    check_ldr(ldr, f"{name}['ldr']")
    check_radiance(hdr, f"{name}['hdr']")
    _check_same_shape(ldr, hdr, name)  # type: ignore[arg-type]


def predict(model: nn.Module, ldr: torch.Tensor) -> torch.Tensor:
    """HDR from LDR images, without gradients, on the model's device.

    This is the "simulated HDR label" MetaHDR's support sets can use. A model
    trained with ``target="exposure"`` gives linear radiance in the shot's
    exposure units, ``exp(logits)`` (>= 0, unbounded); one trained with
    ``"max"`` gives relative radiance in [0, 1].

    Args:
        model: a trained :class:`ExpandNet`.
        ldr: ``(3, H, W)`` or ``(B, 3, H, W)`` LDR in [0, 1].

    Returns:
        Same shape, linear radiance ``>= 0``, on the input's device.

    Raises:
        DTypeError: ``model`` not an :class:`ExpandNet`; ``ldr`` not of the model's dtype.
        ShapeError, DTypeError, RangeError: see :func:`hdrlab.validate.check_ldr`.

    Example:
        >>> predict(ExpandNet(width=4), torch.rand(3, 8, 8)).shape
        torch.Size([3, 8, 8])
    """
    check_module(model, "model", ExpandNet)
    check_ldr(ldr)
    single = ldr.dim() == 3
    device = next(model.parameters()).device
    batch = (ldr.unsqueeze(0) if single else ldr).to(device)
    with torch.no_grad():
        out = model.logits(batch).exp() if model.target == "exposure" else model(batch)
    out = out.to(ldr.device)
    return out[0] if single else out


def held_out_pairs(
    names: str | list[str] = "test",
    max_side: int = 128,
    evs: tuple[float, ...] = (0.0, 1.0),
    crfs: tuple[str, ...] = ("srgb", "film-soft"),
) -> list[dict]:
    """Whole held-out scenes as (LDR, HDR) pairs: one per scene, response curve and exposure.

    Each scene is loaded at ``max_side``, exposed at ``t = auto_exposure * 2**ev``
    (8-bit, no noise) and paired with ``hdr = radiance * t`` (the shot's own
    linear exposure, as :class:`hdrlab.data.datasets.LDRHDRPairs` defines it).

    Args:
        names: ``"train"``, ``"val"``, ``"test"`` (:func:`hdrlab.data.scenes.split_scenes`, seed 0) or scene names.
        max_side: longest side of the loaded scenes, px.
        evs: exposures, EV relative to auto exposure.
        crfs: response-curve names.

    Returns:
        A list of dicts ``{"ldr", "hdr", "scene", "crf", "ev"}`` with ``(3, H, W)`` tensors.

    Raises:
        ChoiceError, MissingFileError: unknown split, scene or response curve.
        DTypeError, RangeError: ``names``, ``evs`` or ``crfs`` not a non-empty list or tuple (of str, finite
            numbers, names), ``max_side`` not an int >= 1.

    Example:
        >>> pairs = held_out_pairs(["room_windows"], max_side=32, evs=(0.0,), crfs=("srgb",))
        >>> pairs[0]["ldr"].shape, pairs[0]["scene"]
        (torch.Size([3, 21, 32]), 'room_windows')
    """
    if isinstance(names, str):
        names = scene_data.split_scenes(seed=0)[names] if names in ("train", "val", "test") else [names]
    check_sequence(names, "names", _check_name)
    check_int(max_side, "max_side", 1)
    check_sequence(evs, "evs", check_number)
    check_sequence(crfs, "crfs", _check_curve_name)
    pairs = []
    for name in names:
        radiance = scene_data.load_scene(name, max_side=max_side)
        t_ref = float(camera.auto_exposure(radiance))
        for curve in crfs:
            for ev in evs:
                time = t_ref * 2.0**ev
                ldr = camera.expose(radiance, time, curve)
                pairs.append({"ldr": ldr, "hdr": radiance * time, "scene": name, "crf": curve, "ev": ev})
    return pairs


def _check_name(name: object, label: str) -> None:
    if not isinstance(name, str):
        raise DTypeError(describe(f"{label} as a scene name (str)", repr(name), "See hdrlab.data.scenes.list_scenes()."))


def baseline_hdrs(ldr: torch.Tensor) -> dict[str, torch.Tensor]:
    """The no-learning HDR guesses of :data:`BASELINES`: the LDR read as radiance, and linearised with gamma 2.2.

    Args:
        ldr: ``(*, 3, H, W)`` LDR in [0, 1].

    Returns:
        ``{"ldr": ldr, "ldr_gamma": ldr ** 2.2}``, radiance-like tensors ``>= 0`` of the LDR's shape.

    Example:
        >>> {name: round(float(hdr.max()), 3) for name, hdr in baseline_hdrs(torch.full((3, 1, 1), 0.5)).items()}
        {'ldr': 0.5, 'ldr_gamma': 0.218}
    """
    check_ldr(ldr)
    return {"ldr": ldr, "ldr_gamma": ldr**2.2}


def _candidates(model: nn.Module, ldr: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"expandnet": predict(model, ldr), **baseline_hdrs(ldr)}


def evaluate(model: nn.Module, pairs: list[dict]) -> dict[str, float]:
    """Mean tone-mapped PSNR and SSIM (Reinhard global) of ExpandNet and the baselines over ``pairs``.

    Args:
        model: an :class:`ExpandNet`.
        pairs: from :func:`held_out_pairs`.

    Returns:
        ``{"psnr_tm/<method>": dB, "ssim_tm/<method>": SSIM}`` for ``expandnet``
        and each of :data:`BASELINES`.

    Raises:
        DTypeError: ``model`` not an :class:`ExpandNet`; ``pairs`` not a list of dicts with ``"ldr"`` and ``"hdr"``.
        RangeError: no pairs; invalid values (see :func:`predict`).
        ShapeError: an LDR and its HDR of different shapes.

    Example:
        >>> pairs = held_out_pairs(["room_windows"], max_side=32, evs=(0.0,), crfs=("srgb",))
        >>> sorted(evaluate(ExpandNet(width=4), pairs))[:2]
        ['psnr_tm/expandnet', 'psnr_tm/ldr']
    """
    check_module(model, "model", ExpandNet)
    check_records(pairs, "pairs", ("ldr", "hdr"))
    sums: dict[str, float] = {}
    for index, pair in enumerate(pairs):
        _check_pair(pair["ldr"], pair["hdr"], f"pairs[{index}]")
        for method, hdr in _candidates(model, pair["ldr"]).items():
            for metric, score in (("psnr_tm", tonemapped_psnr), ("ssim_tm", tonemapped_ssim)):
                key = f"{metric}/{method}"
                sums[key] = sums.get(key, 0.0) + float(score(hdr, pair["hdr"]))
    return {key: total / len(pairs) for key, total in sorted(sums.items())}


def _settings(profile: str, steps: int | None) -> Settings:
    settings = PROFILES[env.profile(profile)]
    if steps is None:
        return settings
    check_int(steps, "steps", 1)
    return replace(settings, steps=steps, eval_every=min(settings.eval_every, steps),
                   checkpoint_every=min(settings.checkpoint_every, steps))


def train_expandnet(
    out_dir: str | os.PathLike,
    profile: str = "auto",
    *,
    resume: bool | str = False,
    overwrite: bool = False,
    steps: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: str = "auto",
) -> tuple[ExpandNet, train.FitResult]:
    """Train ExpandNet on the embedded training scenes with :func:`hdrlab.train.fit`, evaluating on held-out ones.

    Data: :class:`~hdrlab.data.datasets.LDRHDRPairs` crops of the training
    split (random crops, flips, rotations, several response curves, the
    profile's EVs); evaluation: :func:`evaluate` on :func:`held_out_pairs`
    of the test split. Writes ``settings.json``, ``metrics.csv`` and
    ``checkpoints/`` to ``out_dir``.

    Args:
        out_dir: run folder.
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"`` (see :data:`PROFILES`).
        resume: ``True`` continues from the latest checkpoint in ``out_dir``; ``"auto"`` continues, or
            loads a finished run, when there is one and trains otherwise (see :func:`hdrlab.train.fit`).
        overwrite: train again from scratch, replacing the run in ``out_dir`` (``FRESH = True``).
        steps: override the profile's number of steps.
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        seed: seeds the weights and the data order.
        progress: see :func:`hdrlab.train.fit`.

    Returns:
        ``(model, result)``: the trained model (unwrapped, in eval mode) and the
        fit result; ``result.last_eval`` holds the final scores.

    Raises:
        MissingFileError: ``resume`` without a checkpoint in ``out_dir``.
        ChoiceError: unknown profile, device, ``resume`` or ``progress``; a run in ``out_dir`` with other
            settings to continue.
        DTypeError, RangeError: ``out_dir`` not a path, ``overwrite`` not a bool, ``steps`` not None or an
            int >= 1, ``seed`` not an int >= 0 (all checked before any data is loaded).
    """
    out = train.check_run_options(out_dir, resume=resume, overwrite=overwrite, device=device, progress=progress,
                                  seed=seed)
    settings = _settings(profile, steps)
    env.seed_everything(seed)
    model = ExpandNet(settings.width, settings.target)
    data = LDRHDRPairs("train", size=settings.size, samples=settings.samples,
                       max_side=settings.train_max_side, evs=settings.train_evs, seed=seed)
    pairs = held_out_pairs("test", settings.eval_max_side, settings.eval_evs, settings.eval_crfs)
    train.write_settings(out, asdict(settings), resume=resume, overwrite=overwrite)
    result = train.fit(
        model, data, functools.partial(loss_terms, cosine_weight=settings.cosine_weight),
        steps=settings.steps, batch_size=settings.batch_size,
        optimizer=functools.partial(torch.optim.Adam, lr=settings.lr),
        evaluate=functools.partial(evaluate, pairs=pairs), eval_every=settings.eval_every,
        out_dir=out, checkpoint_every=settings.checkpoint_every, resume=resume, overwrite=overwrite,
        device=device, seed=seed, progress=progress,
    )
    return model.eval(), result


def load_trained(run_dir: str | os.PathLike, device: str = "cpu") -> ExpandNet:
    """The ExpandNet of a finished (or interrupted) run: its latest checkpoint, at the run's width.

    Args:
        run_dir: the ``out_dir`` of :func:`train_expandnet`.
        device: where to put the model.

    Returns:
        The model in eval mode.

    Raises:
        MissingFileError: no ``settings.json`` or no checkpoint in ``run_dir``.
        FileFormatError: ``settings.json`` unreadable, or without the keys of :class:`Settings`.
        DTypeError: ``run_dir`` not a path. ChoiceError: unknown ``device``.
        DTypeError, RangeError, ChoiceError, ShapeError: the recorded width or target, or the checkpoint,
            do not make an ExpandNet.
    """
    settings, checkpoint = train.read_run(run_dir, "expandnet")
    check_record_keys(settings, ("width", "target"), f"{Path(run_dir) / 'settings.json'}",
                      allowed=[field.name for field in fields(Settings)])
    model = ExpandNet(settings["width"], settings["target"])
    train.load_weights(checkpoint, model)
    return model.to(env.device(device)).eval()


#: Where the authors' released weights live (manual route of :func:`load_reference_weights`).
REFERENCE_WEIGHTS_URL = "https://github.com/dmarnerides/hdr-expandnet/raw/master/weights.pth"


def load_reference_weights(path: str | os.PathLike) -> ExpandNet:
    """An :class:`ExpandNet` with the authors' released weights (their ``weights.pth``: width 64, ``target="max"``).

    Args:
        path: the downloaded ``weights.pth``.

    Returns:
        The model in eval mode.

    Raises:
        DTypeError: ``path`` not a str or path.
        MissingFileError: no file at ``path`` (the message gives the download URL).
        FileFormatError: the file is empty, corrupt, or not the authors' state dict.
    """
    path = as_path(path, "path")
    if not path.is_file():
        raise MissingFileError(describe(f"the authors' ExpandNet weights at {path}", "no such file",
                                        f"Download {REFERENCE_WEIGHTS_URL} and pass its path."))
    wanted, fix = f"{path} holding the authors' ExpandNet state dict", f"Download {REFERENCE_WEIGHTS_URL} again."
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as err:
        raise FileFormatError(describe(wanted, f"an unreadable file ({type(err).__name__})", fix)) from err
    if not isinstance(state, Mapping):
        raise FileFormatError(describe(wanted, type(state).__name__, fix))
    model = ExpandNet(64, "max")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise FileFormatError(describe(wanted, f"other parameters ({str(err).splitlines()[0]})", fix)) from err
    return model.eval()
