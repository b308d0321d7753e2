"""MetaHDR (Pan & Vento 2021): model-agnostic meta-learning (MAML) for single-image LDR->HDR.

Each *task* is one scene crop photographed through one response curve at
exposures EV -2, 0 and +2 (:class:`hdrlab.data.datasets.MetaTasks`, the Jang
et al. layout): two exposures with HDR labels form the *support* set, the
held-out one with the true HDR is the *query*. MAML learns meta-parameters
``theta`` of a small U-Net (:class:`MetaUNet`) such that a few SGD steps on a
scene's support set (the inner loop, :func:`adapt`) give weights that
reconstruct that scene's query well; the query loss after adaptation, averaged
over a meta-batch of tasks (:func:`meta_loss`), is what Adam minimises over
``theta`` (the outer loop, :func:`train_metahdr` through :func:`hdrlab.train.fit`).
The exposure is never given to the network (as in the reference code).

Two MAML back ends give the same numbers (tested to 1e-5): ``"learn2learn"``
(``l2l.algorithms.MAML``: ``clone()`` / ``adapt(loss)``, the reference API) and
``"functional"`` (fast weights in a dict through ``torch.func.functional_call``,
no dependency). Training defaults to ``"functional"``: it is the one that works
where learn2learn cannot be built (DESIGN §6), and it is slightly faster.

Decisions where the paper and its code are silent or wrong:

- **Labels.** The network's sigmoid output is compared with :func:`label`,
  ``hdr / (1 + hdr)`` of the task HDR in EV-0 units (``radiance * t_ref``: 1 is
  where the EV-0 shot saturates; the same label for every exposure of a task).
  :func:`decode` inverts it, so the reconstruction is linear radiance, unbounded.
  The reference code instead clips the (max-normalised) HDR labels to [0, 1],
  which throws away exactly the highlights an LDR->HDR method must recover.
- **BatchNorm: per-task (batch) statistics, always.** Every ``BatchNorm2d`` is
  built with ``track_running_stats=False``, so the network normalises with the
  statistics of what it is given, in training *and* in eval mode: the support
  images during adaptation, the query image alone when predicting it. Running
  statistics would be averages over the *meta*-parameters' activations on many
  scenes, while the adapted weights of one scene, after steps of size
  ``inner_lr`` on two images, produce other activations; MAML's own code and
  the MetaHDR reference (BN left in train mode at test) use batch statistics
  too. The prediction of an image therefore depends on the images it is
  batched with, so every function here predicts a task's query on its own,
  never batched with other tasks.
- **Checkpoints hold the meta-parameters** (the model trained by
  :func:`hdrlab.train.fit`); the reference saves an adapted copy.
- **Two evaluation protocols** (:class:`Settings` ``query`` and ``select``). Ours:
  every held-out task keeps EV 0 as the query, training returns the last
  meta-parameters. The paper's (``full``): a random exposure of each task is the
  query (:class:`RandomQueryTasks`), and training returns the evaluated
  checkpoint with the best mean SSIM after adaptation on the *validation*
  scenes' tasks (:func:`selected_checkpoint`; the reference code validates an
  adapted copy without adapting it to the validation task, which we do not copy).
  Settings are chosen on the validation scenes (``evaluate_on="val"``,
  ``benchmarks/metahdr_quick_search.py``), never on the test scenes.
- **The paper's HDR-CNN row** is played by the course's ExpandNet
  (:func:`evaluate_expandnet`), the network that also simulates support labels.
- **Metrics.** ``psnr``/``ssim`` compare display images ``label(hdr)**(1/2.2)``:
  the label encoding is a global tone map (EV-0 units, so all methods share
  the exposure) followed by the paper's display gamma 2.2. ``psnr_linear`` /
  ``ssim_linear`` are the reference code's variant: decoded HDR and target
  clipped to [0, 1], linear, no tone map (the clip is part of that metric's
  definition; it sees nothing above the EV-0 white point).

Example:
    >>> model = MetaUNet()
    >>> sum(p.numel() for p in model.parameters())
    541947
    >>> task = held_out_tasks("quick")[0]
    >>> adapted = adapt(model, task["support_ldr"], label(task["support_hdr"]), steps=1, inner_lr=0.01,
    ...                 loss=make_loss("expandnet"), backend="functional")
    >>> adapted(task["query_ldr"]).shape
    torch.Size([1, 3, 32, 32])

References:
    Pan, Vento, "MetaHDR: Model-Agnostic Meta-Learning for HDR Image
    Reconstruction", arXiv:2103.12545, 2021 (code: github.com/edwin-pan/MetaHDR).
    Finn, Abbeel, Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of
    Deep Networks", ICML 2017. Arnold et al., "learn2learn: A Library for
    Meta-Learning Research", 2020.

Taught in: notebooks/02_metahdr.ipynb
"""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.data import Dataset

from hdrlab import env, train
from hdrlab.data.datasets import MetaTasks, item_generator
from hdrlab.errors import (
    ChoiceError,
    DTypeError,
    FileFormatError,
    MissingFileError,
    NonFiniteLossError,
    RangeError,
    ShapeError,
    describe,
)
from hdrlab.methods import expandnet
from hdrlab.metrics import LPIPS, psnr, ssim
from hdrlab.nn.blocks import check_layer_dtype, parameter_dtype
from hdrlab.nn.losses import expandnet_loss, l1_loss
from hdrlab.nn.pretrained import check_pretrained
from hdrlab.validate import (
    check_bool,
    check_int,
    check_ldr,
    check_mapping,
    check_module,
    check_nonnegative,
    check_positive,
    check_radiance,
    check_record_keys,
    check_tensor,
)

__all__ = [
    "PROFILES",
    "Settings",
    "EVS",
    "HEADS",
    "BACKENDS",
    "LABELS",
    "LOSSES",
    "LPIPS_L1_WEIGHT",
    "ROWS",
    "QUERIES",
    "SELECTIONS",
    "SPLITS",
    "DISPLAY_GAMMA",
    "MetaUNet",
    "label",
    "decode",
    "make_loss",
    "FunctionalLearner",
    "adapt",
    "meta_loss",
    "supervised_loss",
    "WithSimulatedLabels",
    "RandomQueryTasks",
    "held_out_tasks",
    "evaluate_tasks",
    "evaluate_expandnet",
    "results_table",
    "train_metahdr",
    "train_conventional",
    "selected_checkpoint",
    "load_trained",
]

#: Exposures of a task, EV relative to the crop's auto exposure (the Jang et al. layout).
EVS = (-2.0, 0.0, 2.0)
#: Heads of :class:`MetaUNet`: the paper's text (1x1 conv to RGB) or the released code's (3x3 convs through 3 channels).
HEADS = ("paper", "reference")
#: MAML implementations of :func:`adapt`.
BACKENDS = ("functional", "learn2learn")
#: Where the support labels come from: the true HDR, or ExpandNet's prediction (the paper used HDR-CNN).
LABELS = ("true", "simulated")
#: Losses of :func:`make_loss` (the paper's Table 2).
LOSSES = ("expandnet", "lpips", "lpips+l1")
#: Rows of :func:`evaluate_tasks`.
ROWS = ("ldr", "single_shot", "adapted")
#: Query exposure of held-out tasks: always the middle one (EV 0, ours) or drawn per task (the paper's).
QUERIES = ("middle", "random")
#: Model selection of training: the last meta-parameters, or the best on the meta-validation tasks (the paper's).
SELECTIONS = ("last", "meta_val")
#: Scene splits the evaluation can score (``hdrlab.data.scenes.split_scenes``): validation, or test.
SPLITS = ("val", "test")
#: Weight of LPIPS in the ``"lpips+l1"`` loss, L1 getting ``1 - LPIPS_L1_WEIGHT`` (the reference's 0.5 / 0.5).
LPIPS_L1_WEIGHT = 0.5
#: The display gamma of the ``psnr``/``ssim`` metrics (the paper's).
DISPLAY_GAMMA = 2.2
_METRICS = ("psnr", "ssim", "psnr_linear", "ssim_linear")
_L2L_INSTALL = ("pip install gym scipy requests tqdm && "
                "pip install --no-deps -C--build-option=build_ext learn2learn==0.2.0")


# ----------------------------------------------------------------------------- checks


def _check_choice(value: object, choices: tuple[str, ...], name: str, fix: str) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ChoiceError(describe(f"{name} in {choices}", repr(value), fix))


@dataclass(frozen=True)
class Settings:
    """Meta-training and evaluation settings of one profile (DESIGN §3).

    Attributes:
        base_width: channels of the U-Net's first level (doubling per level).
        size: side of the square task crops, px (a multiple of 16).
        max_side: training scenes are loaded with this longest side.
        samples: training tasks (crops) per data epoch.
        meta_batch: tasks per meta-update.
        inner_steps: SGD steps on the support set (training and evaluation).
        inner_lr: SGD step size of the inner loop.
        meta_lr: Adam learning rate of the outer loop.
        meta_iterations: meta-updates (optimizer steps of :func:`hdrlab.train.fit`).
        loss: one of :data:`LOSSES`.
        cosine_weight: lambda of the ExpandNet loss (5 in the reference).
        first_order: first-order MAML (False: second order, the paper's).
        eval_size: side of the held-out task crops, px.
        eval_max_side: held-out scenes are loaded with this longest side.
        eval_tasks: number of held-out tasks (fixed tiles of the test scenes).
        eval_every: meta-iterations between evaluations (the last is always evaluated).
        checkpoint_every: meta-iterations between checkpoints (the last is always saved).
        query: which exposure of a held-out task is the query (:data:`QUERIES`): ``"middle"``
            (always EV 0, ours) or ``"random"`` (drawn per task, the paper's meta-test protocol).
        select: which meta-parameters training returns (:data:`SELECTIONS`): ``"last"`` (ours) or
            ``"meta_val"`` (the evaluated checkpoint with the best mean SSIM after adaptation on the
            validation scenes' tasks, the paper's model selection).

    Raises:
        DTypeError, RangeError: a count not an int >= 1 (``inner_steps`` >= 0), a step size not positive,
            ``cosine_weight`` negative, ``first_order`` not a bool, ``size`` or ``eval_size`` not a multiple
            of 16 of at least 32 (one query image must give BatchNorm 2 values at the U-Net's bottom).
        ChoiceError: unknown ``loss``, ``query`` or ``select``.
    """

    base_width: int
    size: int
    max_side: int
    samples: int
    meta_batch: int
    inner_steps: int
    inner_lr: float
    meta_lr: float
    meta_iterations: int
    loss: str
    cosine_weight: float
    first_order: bool
    eval_size: int
    eval_max_side: int
    eval_tasks: int
    eval_every: int
    checkpoint_every: int
    query: str = "middle"
    select: str = "last"

    def __post_init__(self) -> None:
        for name in ("base_width", "max_side", "samples", "meta_batch", "meta_iterations", "eval_max_side",
                     "eval_tasks", "eval_every", "checkpoint_every"):
            check_int(getattr(self, name), name, 1)
        for name in ("size", "eval_size"):
            if check_int(getattr(self, name), name, 32) % 16:
                raise RangeError(describe(f"{name} a multiple of 16", repr(getattr(self, name)),
                                          "MetaUNet halves the crops 4 times: use e.g. 32, 64 or 128."))
        check_int(self.inner_steps, "inner_steps", 0)
        check_positive(self.inner_lr, "inner_lr")
        check_positive(self.meta_lr, "meta_lr")
        check_nonnegative(self.cosine_weight, "cosine_weight")
        check_bool(self.first_order, "first_order")
        _check_choice(self.loss, LOSSES, "loss", "Use 'expandnet', 'lpips' or 'lpips+l1'.")
        _check_choice(self.query, QUERIES, "query", "Use 'middle' or 'random'.")
        _check_choice(self.select, SELECTIONS, "select", "Use 'last' or 'meta_val'.")


#: Settings per profile. ``full`` follows the paper's optimisation settings (base
#: width 8, meta-batch 5, 3 inner steps at lr 0.01, Adam 0.005, 200 meta-iterations,
#: ExpandNet loss lambda 5, second order) and its protocol (a random held-out
#: exposure as the query, the checkpoint with the best meta-validation SSIM), but
#: on 256 px crops, not the paper's 512 x 512 (Sec. 3.1, cut from 1024 px images):
#: the embedded scenes are 256 px tall at the smallest, so ``full`` is not the
#: paper's recipe at the paper's scale. ``quick`` keeps the task layout, network,
#: loss and 3 inner steps, and scales the rest to a 2-core CPU: 32 px crops of
#: scenes at 128 px, meta-batch 4, 40 meta-iterations, first-order MAML (second
#: order costs 2.7x per iteration here: 0.65 s against 0.24 s). Its step sizes
#: (inner 0.1, Adam 0.05) were chosen on the *validation* scenes by
#: ``benchmarks/metahdr_quick_search.py`` (inner 0.01-1 x Adam 0.005-0.05, 3 seeds,
#: highest mean PSNR after adaptation: 20.74 +- 0.96 dB; inner 0.3 / Adam 0.05 gave
#: 20.68 +- 0.34 and the paper's 0.01 / 0.005 12.81 +- 0.41, as 40 updates at the
#: paper's rates barely move the network); on the test scenes, once after, the same
#: 3 seeds gave 18.24 +- 0.65 (adapted), 17.50 +- 0.67 (single shot), 16.44 dB (LDR).
#: ``gpu`` uses ``quick``'s recipe (first order, inner 0.1, Adam 0.05; not searched at
#: its scale) on 128 px tasks for 600 meta-iterations, sized for at most ~15 min of
#: chapter 2 on one Colab T4 (``benchmarks/gpu_profile_estimates.py``; not yet run on a GPU).
PROFILES: dict[str, Settings] = {
    "quick": Settings(
        base_width=8, size=32, max_side=128, samples=512, meta_batch=4, inner_steps=3, inner_lr=0.1, meta_lr=0.05,
        meta_iterations=40, loss="expandnet", cosine_weight=5.0, first_order=True,
        eval_size=32, eval_max_side=128, eval_tasks=16, eval_every=40, checkpoint_every=20,
    ),
    "gpu": Settings(
        base_width=8, size=128, max_side=512, samples=512, meta_batch=5, inner_steps=3, inner_lr=0.1, meta_lr=0.05,
        meta_iterations=600, loss="expandnet", cosine_weight=5.0, first_order=True,
        eval_size=128, eval_max_side=512, eval_tasks=16, eval_every=200, checkpoint_every=100,
    ),
    "full": Settings(
        base_width=8, size=256, max_side=1024, samples=512, meta_batch=5, inner_steps=3, inner_lr=0.01, meta_lr=0.005,
        meta_iterations=200, loss="expandnet", cosine_weight=5.0, first_order=False,
        eval_size=256, eval_max_side=512, eval_tasks=16, eval_every=20, checkpoint_every=20,
        query="random", select="meta_val",
    ),
}


# ----------------------------------------------------------------------------- the network


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    # Per-task statistics, in train and eval mode alike (see the module docstring).
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels, track_running_stats=False), nn.ReLU()]


def _double_conv(in_channels: int, out_channels: int) -> list[nn.Module]:
    return _conv_bn_relu(in_channels, out_channels) + _conv_bn_relu(out_channels, out_channels)


def _upsample(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(out_channels, track_running_stats=False), nn.ReLU()]


def _head(width: int, head: str) -> nn.Sequential:
    if head == "paper":
        return nn.Sequential(*_double_conv(2 * width, width), nn.Conv2d(width, 3, 1))
    return nn.Sequential(*_conv_bn_relu(2 * width, 3), nn.Conv2d(3, 3, 3, padding=1))


class MetaUNet(nn.Module):
    """MetaHDR's inner U-Net: LDR ``(B, 3, H, W)`` in [0, 1] -> :func:`label`-encoded HDR in [0, 1].

    Contracting blocks (two 3x3 conv + BatchNorm + ReLU, channels doubling from
    ``base_width``, 2x2 max-pool between), a bottom block (two such convs at
    ``base_width * 2**levels`` channels, then a stride-2 3x3 transposed conv
    that halves them, + BN + ReLU), expanding blocks (concatenate the skip, two
    convs, transposed-conv upsample), and a top block on the last skip
    concatenation ending in a sigmoid. ``head="paper"`` (default): two convs at
    ``base_width`` and a 1x1 conv to RGB, 541,947 parameters at base width 8;
    ``head="reference"``: the released code's 3x3 conv to 3 channels + BN +
    ReLU + 3x3 conv, 540,669 parameters ("about 0.54 M"). BatchNorm always
    uses the statistics of the current batch (no running statistics).

    Args:
        base_width: channels of the first level, >= 1 (8 in the paper).
        levels: contracting blocks (4 in the reference); inputs must be multiples of ``2**levels``.
        head: one of :data:`HEADS`.

    Raises:
        DTypeError, RangeError: ``base_width`` or ``levels`` not a positive int.
        ChoiceError: unknown ``head``.

    Example:
        >>> sum(p.numel() for p in MetaUNet(head="reference").parameters())
        540669
        >>> MetaUNet()(torch.rand(2, 3, 32, 48)).shape
        torch.Size([2, 3, 32, 48])

    References:
        Pan, Vento, "MetaHDR", 2021, Sec. 3; Ronneberger et al., "U-Net", MICCAI 2015.

    Taught in: notebooks/02_metahdr.ipynb
    """

    def __init__(self, base_width: int = 8, levels: int = 4, head: str = "paper") -> None:
        super().__init__()
        check_int(base_width, "base_width", 1)
        check_int(levels, "levels", 1)
        _check_choice(head, HEADS, "head", "Use 'paper' (1x1 conv to RGB) or 'reference' (the released code).")
        self.base_width, self.levels, self.head = base_width, levels, head
        widths = [base_width * 2**level for level in range(levels)]
        self.contract = nn.ModuleList(nn.Sequential(*_double_conv(c_in, c_out))
                                      for c_in, c_out in zip([3, *widths[:-1]], widths))
        bottom = 2 * widths[-1]
        self.bottom = nn.Sequential(*_double_conv(widths[-1], bottom), *_upsample(bottom, widths[-1]))
        self.expand = nn.ModuleList(nn.Sequential(*_double_conv(2 * width, width), *_upsample(width, width // 2))
                                    for width in reversed(widths[1:]))
        self.top = _head(base_width, head)
        self.pool = nn.MaxPool2d(2)

    def check_input(self, ldr: object) -> None:
        """Raise a typed error unless ``ldr`` is a float ``(B, 3, H, W)`` with H, W multiples of ``2**levels``.

        BatchNorm normalises with the batch's own statistics, so the bottom level
        must hold at least two values per channel: ``B * H * W >= 2 * 4**levels``.
        Constant time: the values are not checked (:func:`adapt` and :func:`evaluate_tasks` do).

        Raises:
            DTypeError: not a float tensor, or not of the model's dtype (e.g. float16 into float32 weights).
            ShapeError: not ``(B, 3, H, W)``, sides not multiples of ``2**levels``, or too few pixels.
        """
        if not isinstance(ldr, torch.Tensor) or not ldr.is_floating_point():
            got = f"dtype {ldr.dtype}" if isinstance(ldr, torch.Tensor) else type(ldr).__name__
            raise DTypeError(describe("a float tensor (B, 3, H, W)", got, "Convert with .float()."))
        multiple = 2**self.levels
        if ldr.dim() != 4 or ldr.shape[1] != 3 or ldr.shape[-2] % multiple or ldr.shape[-1] % multiple:
            raise ShapeError(describe(f"(B, 3, H, W) with H and W multiples of 2**levels = {multiple}",
                                      f"shape {tuple(ldr.shape)}",
                                      f"Crop or pad the image to a multiple of {multiple} pixels."))
        if ldr.shape[0] * ldr.shape[-2] * ldr.shape[-1] < 2 * multiple**2:
            raise ShapeError(describe(f"at least 2 values per channel at the bottom level (B * H * W >= {2 * multiple**2})",
                                      f"shape {tuple(ldr.shape)}",
                                      "BatchNorm uses the batch's own statistics: give one image of at least "
                                      f"{multiple} x {2 * multiple} pixels, or more images."))
        check_layer_dtype(ldr, parameter_dtype(self), "ldr")

    def logits(self, ldr: torch.Tensor) -> torch.Tensor:
        """The top block's output before the sigmoid: ``(B, 3, H, W)``, unbounded (``log`` of the HDR)."""
        self.check_input(ldr)
        skips, x = [], ldr
        for block in self.contract:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for block in self.expand:
            x = block(torch.cat((x, skips.pop()), dim=1))
        return self.top(torch.cat((x, skips.pop()), dim=1))

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        """The :func:`label`-encoded HDR, ``sigmoid(logits)``.

        Args:
            ldr: ``(B, 3, H, W)`` LDR in [0, 1], H and W multiples of ``2**levels``.

        Returns:
            ``(B, 3, H, W)`` in [0, 1].

        Raises:
            DTypeError, ShapeError: see :meth:`check_input`.
        """
        return torch.sigmoid(self.logits(ldr))


# ----------------------------------------------------------------------------- labels


def label(hdr: torch.Tensor) -> torch.Tensor:
    """The training label of an HDR image in EV-0 units: ``hdr / (1 + hdr)``, in [0, 1).

    Args:
        hdr: ``(*, 3, H, W)`` linear radiance ``>= 0`` in EV-0 units (as
            :class:`~hdrlab.data.datasets.MetaTasks` returns it; 1 = white of the EV-0 shot).

    Returns:
        Same shape, in [0, 1): 0.5 at the EV-0 white point.

    Raises:
        ShapeError, DTypeError, RangeError: see :func:`hdrlab.validate.check_radiance`.

    Example:
        >>> label(torch.tensor([0.0, 1.0, 3.0]).view(3, 1, 1)).flatten().tolist()
        [0.0, 0.5, 0.75]

    Taught in: notebooks/02_metahdr.ipynb
    """
    check_radiance(hdr, "HDR")
    return hdr / (1 + hdr)


def decode(pred: torch.Tensor) -> torch.Tensor:
    """Linear radiance in EV-0 units from a :func:`label`-encoded prediction: ``pred / (1 - pred)``.

    Args:
        pred: ``(*, 3, H, W)`` in [0, 1), e.g. a :class:`MetaUNet` output.

    Returns:
        Same shape, ``>= 0``, unbounded.

    Raises:
        ShapeError, DTypeError: see :func:`hdrlab.validate.check_ldr`.
        RangeError: values outside [0, 1), or a value of exactly 1 (the sigmoid
            saturated in float32: decode ``exp(model.logits(ldr))`` instead).

    Example:
        >>> decode(torch.tensor([0.0, 0.5, 0.75]).view(3, 1, 1)).flatten().tolist()
        [0.0, 1.0, 3.0]

    Taught in: notebooks/02_metahdr.ipynb
    """
    check_ldr(pred, "prediction")
    if bool((pred >= 1).any()):
        raise RangeError(describe("predictions < 1 (1 decodes to infinite radiance)", f"{int((pred >= 1).sum())} "
                                  "values of exactly 1", "Decode torch.exp(model.logits(ldr)) instead."))
    return pred / (1 - pred)


# ----------------------------------------------------------------------------- losses


@functools.lru_cache(maxsize=None)
def _shared_lpips(pretrained: bool | str) -> LPIPS:
    """One frozen LPIPS(vgg) per ``pretrained`` choice: it is a fixed metric, so every loss can share it
    (built once, and offline the random-backbone notice is printed once)."""
    return LPIPS("vgg", pretrained=pretrained)


class _TaskLoss(nn.Module):
    """A loss of :data:`LOSSES` on label-domain images in [0, 1] (a module so LPIPS moves with ``.to``)."""

    def __init__(self, name: str, cosine_weight: float, lpips_pretrained: bool | str) -> None:
        super().__init__()
        self.name, self.cosine_weight = name, cosine_weight
        self.lpips = _shared_lpips(lpips_pretrained) if name != "expandnet" else None

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.lpips is None:
            return expandnet_loss(pred, target, self.cosine_weight)
        perceptual = self.lpips(pred, target).mean()
        if self.name == "lpips+l1":  # the reference's LPIPSLoss_L1: (1 - 0.5) * L1 + 0.5 * LPIPS
            return LPIPS_L1_WEIGHT * perceptual + (1 - LPIPS_L1_WEIGHT) * l1_loss(pred, target)
        return perceptual


def make_loss(name: str, *, cosine_weight: float = 5.0,
              lpips_pretrained: bool | str = "auto") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss ``loss(pred, target) -> 0-dim tensor`` between label-domain images (the paper's Table 2).

    - ``"expandnet"``: ``L1 + cosine_weight * (1 - mean cosine similarity of RGB vectors)``.
    - ``"lpips"``: LPIPS with the VGG backbone (the paper's) on the label-domain
      images, which are display images in [0, 1] already.
    - ``"lpips+l1"``: ``0.5 * LPIPS + 0.5 * L1`` (:data:`LPIPS_L1_WEIGHT`, the reference code's weights).

    Args:
        name: one of :data:`LOSSES`.
        cosine_weight: lambda of the ExpandNet loss, >= 0.
        lpips_pretrained: ``True``, ``False`` or ``"auto"`` (see
            :class:`hdrlab.metrics.LPIPS`: offline, ``"auto"`` prints that random features are used).

    Returns:
        An ``nn.Module`` called as ``loss(pred, target)`` with ``(B, 3, H, W)``
        tensors in [0, 1] (H, W >= 16 for LPIPS); move it to the model's device.

    Raises:
        ChoiceError: unknown ``name`` or ``lpips_pretrained`` (checked for every ``name``).
        DTypeError, RangeError: ``cosine_weight`` not a finite number >= 0.
        MissingWeightsError: ``lpips_pretrained=True`` without the VGG weights.

    Example:
        >>> x, y = torch.full((1, 3, 16, 16), 0.5), torch.full((1, 3, 16, 16), 0.25)
        >>> round(float(make_loss("expandnet")(x, y)), 6)  # same colour direction: L1 only
        0.25

    References:
        Marnerides et al., "ExpandNet", 2018 (eq. 5); Zhang et al., "LPIPS", CVPR 2018.

    Taught in: notebooks/02_metahdr.ipynb
    """
    _check_choice(name, LOSSES, "loss", "Use 'expandnet' (the reference), 'lpips' or 'lpips+l1'.")
    weight = check_nonnegative(cosine_weight, "cosine_weight")
    check_pretrained(lpips_pretrained)
    return _TaskLoss(name, weight, lpips_pretrained)


def _as_loss(loss: str | Callable) -> Callable:
    if isinstance(loss, str):
        return make_loss(loss)
    if not callable(loss):
        raise DTypeError(describe("loss as a name in LOSSES or a callable (pred, target) -> loss",
                                  type(loss).__name__, "Pass e.g. loss=make_loss('expandnet')."))
    return loss


# ----------------------------------------------------------------------------- MAML


class FunctionalLearner:
    """A model with fast weights: ``learner(ldr)`` runs ``functional_call(model, params, ldr)``.

    Attributes:
        model: the network whose structure (and meta-parameters' names) is used.
        params: ``{name: tensor}`` fast weights (differentiable w.r.t. the meta-parameters unless detached),
            one per parameter of ``model``, of its shape.

    Raises:
        DTypeError: ``model`` not an ``nn.Module``; ``params`` not a dict with every parameter name of the
            model, or a value not a float tensor.
        ShapeError: a fast weight whose shape differs from the parameter's.
    """

    def __init__(self, model: nn.Module, params: dict[str, torch.Tensor]) -> None:
        check_module(model, "model")
        shapes = {name: p.shape for name, p in model.named_parameters()}
        check_mapping(params, "params", shapes)
        for name, shape in shapes.items():
            check_tensor(params[name], f"params[{name!r}]")
            if params[name].shape != shape:
                raise ShapeError(describe(f"params[{name!r}] of shape {tuple(shape)}",
                                          f"{tuple(params[name].shape)}", "Pass fast weights of the model's shapes."))
        self.model, self.params = model, params

    def __call__(self, ldr: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, self.params, (ldr,))


def _import_learn2learn():
    try:
        import learn2learn as l2l
    except ImportError as err:
        raise ChoiceError(describe("the learn2learn package for backend='learn2learn'", f"ImportError: {err}",
                                   f"Install it as scripts/setup.sh does ({_L2L_INSTALL}), "
                                   "or use backend='functional' (same results, no dependency).")) from err
    return l2l


def _inner_loss(loss: Callable, pred: torch.Tensor, labels: torch.Tensor, losses: list[torch.Tensor]) -> torch.Tensor:
    """``loss(pred, labels)``, checked to be a one-value float tensor, kept in ``losses`` (see :func:`_check_losses`)."""
    value = loss(pred, labels)
    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.numel() != 1:
        got = f"shape {tuple(value.shape)}, dtype {value.dtype}" if isinstance(value, torch.Tensor) else repr(value)
        raise DTypeError(describe("the loss to return a 0-dim float tensor", got,
                                  "Pass a loss of LOSSES, or a callable (pred, target) -> tensor.mean()."))
    losses.append(value.detach().reshape(()))
    return value


def _check_losses(losses: list[torch.Tensor]) -> None:
    """NonFiniteLossError at the first non-finite inner loss (one device sync per adaptation, not per step)."""
    if losses and not bool(torch.isfinite(values := torch.stack(losses)).all()):
        step = int((~torch.isfinite(values)).nonzero()[0, 0]) + 1
        raise NonFiniteLossError(describe("a finite inner loss at every adaptation step", f"{float(values[step - 1])} "
                                          f"at inner step {step}", "Check the loss on these support images, or "
                                          "lower inner_lr (the adapted weights would be NaN)."),
                                 step, {"inner_loss": float(values[step - 1])})


def _functional_adapt(model, support_ldr, support_labels, steps, inner_lr, loss, first_order, create_graph):
    params, losses = dict(model.named_parameters()), []
    for _ in range(steps):
        step_loss = _inner_loss(loss, functional_call(model, params, (support_ldr,)), support_labels, losses)
        grads = torch.autograd.grad(step_loss, list(params.values()), create_graph=create_graph and not first_order)
        params = {name: p - inner_lr * g for (name, p), g in zip(params.items(), grads)}
        if not create_graph:
            params = {name: p.detach().requires_grad_() for name, p in params.items()}
    _check_losses(losses)
    return FunctionalLearner(model, params)


def _learn2learn_adapt(model, support_ldr, support_labels, steps, inner_lr, loss, first_order, create_graph):
    l2l = _import_learn2learn()
    # allow_nograd=True takes the branch of MAML.adapt that raises errors instead of printing them.
    learner, losses = l2l.algorithms.MAML(model, lr=inner_lr, first_order=first_order, allow_nograd=True).clone(), []
    for _ in range(steps):
        learner.adapt(_inner_loss(loss, learner(support_ldr), support_labels, losses))
        if not create_graph:
            l2l.utils.detach_module(learner, keep_requires_grad=True)
    _check_losses(losses)
    return learner


def _check_inner(steps: object, inner_lr: object, backend: object, first_order: object) -> None:
    """The inner-loop options shared by :func:`adapt`, :func:`meta_loss` and :func:`evaluate_tasks`."""
    check_int(steps, "steps", 0)
    check_positive(inner_lr, "inner_lr")  # type: ignore[arg-type]
    _check_choice(backend, BACKENDS, "backend", "Use 'functional' (no dependency) or 'learn2learn'.")
    check_bool(first_order, "first_order")


def adapt(
    model: nn.Module,
    support_ldr: torch.Tensor,
    support_labels: torch.Tensor,
    *,
    steps: int,
    inner_lr: float,
    loss: str | Callable = "expandnet",
    backend: str = "functional",
    first_order: bool = False,
    create_graph: bool | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """MAML's inner loop: ``steps`` SGD steps of ``loss`` on one task's support set, from the model's weights.

    ``theta_{k+1} = theta_k - inner_lr * grad loss(f(support_ldr; theta_k), support_labels)``.
    The model itself is not changed. Second order (default): the outer loss can be
    differentiated through the steps; ``first_order=True`` treats each inner
    gradient as a constant (FOMAML). Gradients are enabled inside even under
    ``torch.no_grad()`` (evaluation needs the inner gradients).

    Args:
        model: the meta-parameters, e.g. a :class:`MetaUNet` (any ``nn.Module``).
        support_ldr: ``(K, 3, H, W)`` LDR in [0, 1], of the model's dtype: the support exposures, one batch
            (per-task BatchNorm statistics).
        support_labels: ``(K, 3, H, W)`` :func:`label`-encoded HDR in [0, 1].
        steps: inner steps, >= 0 (0 returns the meta-parameters unchanged: the "single shot").
        inner_lr: SGD step size, > 0.
        loss: a name in :data:`LOSSES` or a callable ``(pred, target) -> loss`` returning a 0-dim float tensor.
        backend: ``"functional"`` (``torch.func.functional_call`` fast weights) or
            ``"learn2learn"`` (``l2l.algorithms.MAML(...).clone()`` / ``.adapt(loss)``).
        first_order: drop the second-order terms (True or False).
        create_graph: keep the adapted weights differentiable w.r.t. the
            meta-parameters (None: True). False detaches them after every step:
            plain fine-tuning, what evaluation uses.

    Returns:
        The adapted learner, a callable ``ldr (B, 3, H, W) -> prediction``: a
        :class:`FunctionalLearner` or the adapted learn2learn clone.

    Raises:
        ShapeError, DTypeError, RangeError: invalid support images or labels, or they differ in shape.
        DTypeError: ``model`` not an ``nn.Module``; support images not of its dtype; ``first_order`` or
            ``create_graph`` not a bool; ``loss`` neither a name nor a callable, or returning no 0-dim float tensor.
        DTypeError, RangeError: ``steps`` not an int >= 0, ``inner_lr`` not positive.
        ChoiceError: unknown backend or loss name, or learn2learn not installed (the message gives the install
            command).
        NonFiniteLossError: the inner loss became NaN or inf (the message says at which step).

    Example:
        >>> model, ldr = MetaUNet(base_width=4), torch.rand(2, 3, 16, 16)
        >>> learner = adapt(model, ldr, torch.rand(2, 3, 16, 16), steps=2, inner_lr=0.1)
        >>> bool(torch.equal(learner(ldr), model(ldr)))
        False

    References:
        Finn et al., "MAML", ICML 2017, Algorithm 2; learn2learn's ``MAML``.

    Taught in: notebooks/02_metahdr.ipynb
    """
    check_module(model, "model")
    check_ldr(support_ldr, "support LDR")
    check_ldr(support_labels, "support labels")
    if support_ldr.shape != support_labels.shape or support_ldr.dim() != 4:
        raise ShapeError(describe("support LDR and labels of the same shape (K, 3, H, W)",
                                  f"{tuple(support_ldr.shape)} and {tuple(support_labels.shape)}",
                                  "Pass one task's support set; encode its HDR with label()."))
    check_layer_dtype(support_ldr, parameter_dtype(model), "support LDR")
    _check_inner(steps, inner_lr, backend, first_order)
    if create_graph is not None:
        check_bool(create_graph, "create_graph")
    run = _functional_adapt if backend == "functional" else _learn2learn_adapt
    with torch.enable_grad():
        return run(model, support_ldr, support_labels, steps, float(inner_lr), _as_loss(loss), first_order,
                   True if create_graph is None else create_graph)


def meta_loss(
    model: nn.Module,
    tasks: Mapping[str, torch.Tensor],
    *,
    steps: int = 3,
    inner_lr: float = 0.01,
    loss: str | Callable = "expandnet",
    backend: str = "functional",
    first_order: bool = False,
) -> torch.Tensor:
    """MAML's outer objective on a meta-batch: the query loss after adaptation, averaged over the tasks.

    For each task ``b``: :func:`adapt` on ``(support_ldr[b], label(support_hdr[b]))``,
    then ``loss(adapted(query_ldr[b]), label(query_hdr[b]))``. This is the step
    function :func:`train_metahdr` gives :func:`hdrlab.train.fit`; whether the
    support labels are true or simulated is decided by the dataset
    (:class:`WithSimulatedLabels`).

    Args:
        model: the meta-parameters, e.g. a :class:`MetaUNet`.
        tasks: a collated batch of :class:`~hdrlab.data.datasets.MetaTasks` items:
            ``support_ldr``/``support_hdr`` ``(B, K, 3, S, S)``, ``query_ldr``/``query_hdr`` ``(B, Q, 3, S, S)``.
        steps, inner_lr, loss, backend, first_order: see :func:`adapt`.

    Returns:
        0-dim tensor, differentiable w.r.t. the meta-parameters.

    Raises:
        DTypeError: ``model`` not an ``nn.Module``.
        ShapeError: ``tasks`` not a dict of the four tensors, an empty batch, or inconsistent shapes.
        RangeError: LDR values outside [0, 1], invalid HDR; see :func:`adapt` and :func:`label`.

    Example:
        >>> batch = torch.utils.data.default_collate([held_out_tasks("quick")[i] for i in range(2)])
        >>> meta_loss(MetaUNet(base_width=4), batch, steps=1, inner_lr=0.01).shape
        torch.Size([])

    Taught in: notebooks/02_metahdr.ipynb
    """
    check_module(model, "model")
    support_ldr, support_hdr, query_ldr, query_hdr = _task_tensors(tasks)
    _check_inner(steps, inner_lr, backend, first_order)
    loss = _as_loss(loss)
    total = support_ldr.new_zeros(())
    for index in range(support_ldr.shape[0]):
        learner = adapt(model, support_ldr[index], label(support_hdr[index]), steps=steps, inner_lr=inner_lr,
                        loss=loss, backend=backend, first_order=first_order)
        total = total + loss(learner(query_ldr[index]), label(query_hdr[index]))
    return total / support_ldr.shape[0]


def supervised_loss(model: nn.Module, tasks: Mapping[str, torch.Tensor], *,
                    loss: str | Callable = "expandnet") -> torch.Tensor:
    """The non-meta baseline's objective: the loss on every support and query image, as plain supervised pairs.

    Each task's support images form one batch and its query another (the
    BatchNorm statistics of adaptation and prediction, as in :func:`meta_loss`);
    the result is the mean over all images of the meta-batch.

    Args:
        model: a :class:`MetaUNet`.
        tasks: a collated batch of :class:`~hdrlab.data.datasets.MetaTasks` items (see :func:`meta_loss`).
        loss: a name in :data:`LOSSES` or a callable.

    Returns:
        0-dim tensor.

    Raises:
        DTypeError, ShapeError, RangeError: see :func:`meta_loss`; ``loss`` neither a name nor a callable.

    Example:
        >>> batch = torch.utils.data.default_collate([held_out_tasks("quick")[0]])
        >>> supervised_loss(MetaUNet(base_width=4), batch).shape
        torch.Size([])

    Taught in: notebooks/02_metahdr.ipynb
    """
    check_module(model, "model")
    support_ldr, support_hdr, query_ldr, query_hdr = _task_tensors(tasks)
    loss = _as_loss(loss)
    support, query = support_ldr.shape[1], query_ldr.shape[1]
    total = support_ldr.new_zeros(())
    for index in range(support_ldr.shape[0]):
        total = total + support * loss(model(support_ldr[index]), label(support_hdr[index]))
        total = total + query * loss(model(query_ldr[index]), label(query_hdr[index]))
    return total / (support_ldr.shape[0] * (support + query))


def _task_tensors(tasks: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    keys = ("support_ldr", "support_hdr", "query_ldr", "query_hdr")
    if not isinstance(tasks, Mapping) or any(key not in tasks for key in keys):
        got = sorted(tasks) if isinstance(tasks, Mapping) else type(tasks).__name__
        raise ShapeError(describe(f"a batch dict with {keys}", str(got), "Collate MetaTasks items (a DataLoader does)."))
    tensors = tuple(tasks[key] for key in keys)
    if (any(not isinstance(t, torch.Tensor) or t.dim() != 5 for t in tensors) or len({t.shape[0] for t in tensors}) != 1
            or tensors[0].shape[0] == 0 or tensors[0].shape != tensors[1].shape or tensors[2].shape != tensors[3].shape):
        raise ShapeError(describe("(B, K, 3, S, S) support and (B, Q, 3, S, S) query tensors, B >= 1, "
                                  "each LDR of its HDR's shape", str([tuple(getattr(t, "shape", ())) for t in tensors]),
                                  "Pass a collated batch; for one task use default_collate([task])."))
    check_ldr(tensors[0], "support_ldr")
    check_ldr(tensors[2], "query_ldr")
    return tensors


# ----------------------------------------------------------------------------- data

_TASK_KEYS = ("support_ldr", "support_hdr", "query_ldr", "query_hdr")


def _check_tasks(tasks: object) -> int:
    """The number of tasks in a non-empty map-style dataset of task dicts (a MetaTasks, or a list of its items)."""
    if isinstance(tasks, (str, bytes, Mapping)) or not (hasattr(tasks, "__len__") and hasattr(tasks, "__getitem__")):
        raise DTypeError(describe("tasks as a dataset of task dicts", type(tasks).__name__,
                                  "Pass held_out_tasks(...), a MetaTasks, or a list of their items."))
    if len(tasks) == 0:  # type: ignore[arg-type]
        raise RangeError(describe("at least one task", "an empty dataset", "Pass held_out_tasks(...)."))
    return len(tasks)  # type: ignore[arg-type]


def _task_item(tasks: Dataset, index: int, keys: tuple[str, ...]) -> dict:
    """Item ``index`` of ``tasks`` as a dict holding ``keys``, checked: LDR ``(N, 3, H, W)`` in [0, 1], HDR
    radiance of its LDR's shape, EVs ``(N,)`` finite (each for the keys asked for)."""
    item = dict(check_mapping(tasks[index], f"tasks[{index}]", keys))
    for part in ("support", "query"):
        if f"{part}_ldr" not in keys:
            continue
        ldr, name = item[f"{part}_ldr"], f"tasks[{index}]['{part}_ldr']"
        check_ldr(ldr, name)
        hdr = item[f"{part}_hdr"] if f"{part}_hdr" in keys else ldr
        check_radiance(hdr, f"tasks[{index}]['{part}_hdr']")
        evs = item[f"{part}_ev"] if f"{part}_ev" in keys else torch.zeros(ldr.shape[0])
        check_tensor(evs, f"tasks[{index}]['{part}_ev']")
        if ldr.dim() != 4 or hdr.shape != ldr.shape or tuple(evs.shape) != ldr.shape[:1]:
            raise ShapeError(describe(f"{name} (N, 3, H, W) with an HDR of its shape and N EVs",
                                      f"{tuple(ldr.shape)}, HDR {tuple(hdr.shape)}, EVs {tuple(evs.shape)}",
                                      "Pass MetaTasks items (held_out_tasks(...))."))
        if not bool(torch.isfinite(evs).all()):
            raise RangeError(describe(f"finite EVs in tasks[{index}]", str(evs.tolist()), "Pass MetaTasks items."))
    return item


class WithSimulatedLabels(Dataset):
    """MetaTasks whose support labels are ExpandNet's predictions instead of the true HDR (the paper's HDR-CNN labels).

    For each item, ``support_hdr`` is replaced by
    :func:`hdrlab.methods.expandnet.predict` of each support LDR (radiance in
    that shot's exposure units) divided by ``2**support_ev`` (to EV-0 units, the
    unit of the true label). The query (and its true HDR) is unchanged. Each
    item is computed once and cached.

    Args:
        tasks: a :class:`~hdrlab.data.datasets.MetaTasks` (or any dataset of such items).
        expandnet_model: a trained :class:`~hdrlab.methods.expandnet.ExpandNet` with ``target="exposure"``.

    Raises:
        DTypeError: ``expandnet_model`` is not an ExpandNet; ``tasks`` not a dataset of task dicts.
        ChoiceError: an ExpandNet trained with ``target="max"`` (its output has no exposure scale).
        RangeError: no tasks. DTypeError, ShapeError, RangeError: (per item) invalid support images or EVs.

    Example:
        >>> tasks = WithSimulatedLabels(held_out_tasks("quick"), expandnet.ExpandNet(width=4))
        >>> tasks[0]["support_hdr"].shape
        torch.Size([2, 3, 32, 32])

    Taught in: notebooks/02_metahdr.ipynb
    """

    def __init__(self, tasks: Dataset, expandnet_model: nn.Module) -> None:
        _check_tasks(tasks)
        _check_expandnet(expandnet_model)
        self.tasks, self.expandnet_model = tasks, expandnet_model
        self._cache: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.tasks)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict:
        if index not in self._cache:
            item = _task_item(self.tasks, index, ("support_ldr", "support_ev"))
            scale = 2.0 ** item["support_ev"].view(-1, 1, 1, 1)
            item["support_hdr"] = expandnet.predict(self.expandnet_model, item["support_ldr"]) / scale
            self._cache[index] = item
        return self._cache[index]


def _check_expandnet(model: object) -> None:
    if model is None:
        raise DTypeError(describe(
            "a trained ExpandNet for simulated labels", "expandnet_model=None",
            "Train one with hdrlab.methods.expandnet.train_expandnet(out_dir) (or `python -m hdrlab train expandnet "
            "--out DIR`) and load it with expandnet.load_trained(DIR); or use labels='true'."))
    if not isinstance(model, expandnet.ExpandNet):
        raise DTypeError(describe("an hdrlab ExpandNet", type(model).__name__,
                                  "Pass the model of expandnet.train_expandnet or expandnet.load_trained."))
    if model.target != "exposure":
        raise ChoiceError(describe("an ExpandNet trained with target='exposure'", f"target={model.target!r}",
                                   "Max-normalised output has no exposure scale; train with the default target."))


class RandomQueryTasks(Dataset):
    """Held-out tasks whose query exposure is drawn per task (the paper's meta-test protocol), the others the support.

    Item ``i`` pools the shots of ``tasks[i]`` (its support and query exposures,
    which must be all of the task's exposures) and holds out one of them, drawn
    uniformly by the generator of ``(seed, i)``; the rest, in ascending EV order,
    form the support. The HDR labels are unchanged (one EV-0 HDR per task).

    Args:
        tasks: a :class:`~hdrlab.data.datasets.MetaTasks` with ``support = len(evs) - 1`` (e.g. :func:`held_out_tasks`).
        seed: an int ``>= 0``; the same seed always holds out the same exposures.

    Raises:
        DTypeError, RangeError: ``seed`` not an int ``>= 0``; ``tasks`` not a non-empty dataset of task dicts.
        ShapeError: (per item) a task whose support and query do not cover its exposures.
        DTypeError, ShapeError, RangeError: (per item) invalid images or EVs.

    Example:
        >>> tasks = RandomQueryTasks(held_out_tasks("quick", query="middle"))
        >>> sorted({float(tasks[i]["query_ev"][0]) for i in range(len(tasks))})
        [-2.0, 0.0, 2.0]

    References:
        Pan, Vento, "MetaHDR", 2021; its code holds out a random exposure of every task, meta-test included.

    Taught in: notebooks/02_metahdr.ipynb
    """

    def __init__(self, tasks: Dataset, seed: int = 0) -> None:
        _check_tasks(tasks)
        self.tasks, self.seed = tasks, check_int(seed, "seed", 0)

    def __len__(self) -> int:
        return len(self.tasks)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict:
        item = _task_item(self.tasks, index, ("support_ldr", "support_ev", "query_ldr", "query_ev", "query_hdr"))
        if item["support_ldr"].shape[1:] != item["query_ldr"].shape[1:]:
            raise ShapeError(describe("support and query images of one size", f"{tuple(item['support_ldr'].shape)} "
                                      f"and {tuple(item['query_ldr'].shape)}", "Pass MetaTasks items."))
        ldr = torch.cat((item["support_ldr"], item["query_ldr"]))
        evs = torch.cat((item["support_ev"], item["query_ev"]))
        if len(set(evs.tolist())) != len(evs) or len(evs) < 2:
            raise ShapeError(describe("a task whose support and query are distinct exposures (at least 2)",
                                      f"EVs {evs.tolist()}",
                                      "Use held_out_tasks(...) or MetaTasks(support=len(evs) - 1)."))
        order = torch.argsort(evs)
        query = int(torch.randint(len(evs), (1,), generator=item_generator(self.seed, index)))
        support = [int(i) for i in order if int(i) != int(order[query])]
        hdr = item["query_hdr"][0]
        item.update(support_ldr=ldr[support], support_ev=evs[support],
                    support_hdr=hdr.unsqueeze(0).repeat(len(support), 1, 1, 1),
                    query_ldr=ldr[order[query]].unsqueeze(0), query_ev=evs[order[query]].view(1))
        return item


def held_out_tasks(profile: str = "auto", *, samples: int | None = None, split: str = "test",
                   query: str | None = None, settings: Settings | None = None) -> Dataset:
    """The evaluation tasks: fixed tiles of the test (or validation) scenes, EV 0 or a random exposure as the query.

    Args:
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"`` (crop size, scene size, count and query
            from :data:`PROFILES`).
        samples: override the number of tasks.
        split: ``"test"`` (the chapter's tables) or ``"val"`` (the validation scenes: choose settings there).
        query: one of :data:`QUERIES`, or None for the profile's: ``"middle"`` holds out EV 0 (support EVs
            -2, +2); ``"random"`` holds out one exposure per task (:class:`RandomQueryTasks`).
        settings: explicit settings instead of the profile's.

    Returns:
        A :class:`~hdrlab.data.datasets.MetaTasks` with ``augment=False`` (or a :class:`RandomQueryTasks` of one).

    Raises:
        ChoiceError: unknown profile, split or query.
        DTypeError, RangeError: ``samples`` not None or an int >= 1; ``settings`` not None or a :class:`Settings`.

    Example:
        >>> tasks = held_out_tasks("quick")
        >>> len(tasks), tasks[0]["support_ev"].tolist(), tasks[0]["query_ev"].tolist()
        (16, [-2.0, 2.0], [0.0])
        >>> held_out_tasks("quick", split="val").scenes[0]
        'pmndrs_bridge'

    Taught in: notebooks/02_metahdr.ipynb
    """
    name = env.profile(profile)
    settings = PROFILES[name] if settings is None else _check_settings(settings)
    if samples is not None:
        check_int(samples, "samples", 1)
    _check_choice(split, SPLITS, "split", "Use 'test' (report) or 'val' (choose settings).")
    query = settings.query if query is None else query
    _check_choice(query, QUERIES, "query", "Use 'middle' (EV 0 held out) or 'random' (the paper's protocol).")
    count = settings.eval_tasks if samples is None else samples
    tasks = MetaTasks(split, size=settings.eval_size, max_side=settings.eval_max_side, samples=count,
                      evs=EVS, support=len(EVS) - 1, augment=False, seed=0)
    return RandomQueryTasks(tasks) if query == "random" else tasks


# ----------------------------------------------------------------------------- evaluation


def _display(encoded: torch.Tensor) -> torch.Tensor:
    return encoded ** (1 / DISPLAY_GAMMA)


def _clipped_linear(encoded: torch.Tensor) -> torch.Tensor:
    """The reference's metric domain: the decoded HDR clipped to [0, 1] (an encoded 1 decodes to inf, clipped to 1)."""
    return (encoded / (1 - encoded)).clamp(max=1.0)


def _scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Metrics of one label-domain prediction against the label-domain target."""
    shown, wanted = _display(pred), _display(target)
    linear, linear_target = _clipped_linear(pred), _clipped_linear(target)
    return {"psnr": float(psnr(shown, wanted).mean()), "ssim": float(ssim(shown, wanted).mean()),
            "psnr_linear": float(psnr(linear, linear_target).mean()),
            "ssim_linear": float(ssim(linear, linear_target).mean())}


def evaluate_tasks(
    model: nn.Module,
    tasks: Dataset,
    *,
    steps: int,
    inner_lr: float,
    loss: str | Callable = "expandnet",
    adapt_labels: str = "true",
    expandnet_model: nn.Module | None = None,
    backend: str = "functional",
) -> dict[str, dict[str, float]]:
    """Score the query reconstructions of held-out tasks (the paper's Tables 1 and 2).

    Rows (:data:`ROWS`): ``"ldr"`` (no reconstruction: the query LDR read as
    EV-0 radiance), ``"single_shot"`` (the meta-parameters, no adaptation) and
    ``"adapted"`` (after ``steps`` inner SGD steps on the task's support set,
    labelled with the true HDR or ExpandNet's simulated HDR). Each task's query
    is predicted on its own (per-task BatchNorm statistics). Metrics: ``psnr``,
    ``ssim`` on ``label(hdr)**(1/2.2)``; ``psnr_linear``, ``ssim_linear`` on HDR
    clipped to [0, 1] (the reference code's), means over the tasks.

    Args:
        model: a :class:`MetaUNet` (meta-parameters, or a conventionally trained one).
        tasks: e.g. :func:`held_out_tasks`; crops of at least 11 px (SSIM).
        steps: inner steps, >= 0.
        inner_lr: inner SGD step size, > 0.
        loss: the inner loss, a name in :data:`LOSSES` or a callable.
        adapt_labels: ``"true"`` or ``"simulated"`` support labels (see :class:`WithSimulatedLabels`).
        expandnet_model: the ExpandNet behind simulated labels.
        backend: see :func:`adapt`.

    Returns:
        ``{row: {metric: mean}}`` for each of :data:`ROWS`.

    Raises:
        ChoiceError: unknown ``adapt_labels``, ``backend`` or loss name; DTypeError: simulated labels without an
            ExpandNet, or an ``expandnet_model`` that is not one.
        DTypeError: ``model`` not an ``nn.Module``; ``tasks`` not a dataset of task dicts with
            ``support_ldr``, ``support_hdr``, ``query_ldr``, ``query_hdr``.
        DTypeError, RangeError: ``steps`` or ``inner_lr`` invalid (see :func:`adapt`); no tasks.
        ShapeError, RangeError: invalid task images (LDR outside [0, 1], NaN, shapes that differ).

    Example:
        >>> scores = evaluate_tasks(MetaUNet(), held_out_tasks("quick", samples=1), steps=1, inner_lr=0.01)
        >>> sorted(scores), sorted(scores["adapted"])
        (['adapted', 'ldr', 'single_shot'], ['psnr', 'psnr_linear', 'ssim', 'ssim_linear'])

    Taught in: notebooks/02_metahdr.ipynb
    """
    check_module(model, "model")
    count = _check_tasks(tasks)
    _check_inner(steps, inner_lr, backend, True)
    _check_choice(adapt_labels, LABELS, "adapt_labels", "Use 'true' or 'simulated'.")
    if adapt_labels == "simulated" or expandnet_model is not None:
        _check_expandnet(expandnet_model)
    if adapt_labels == "simulated":
        tasks = WithSimulatedLabels(tasks, expandnet_model)  # type: ignore[arg-type]
    loss = _as_loss(loss)
    device = next(model.parameters()).device
    sums = {row: dict.fromkeys(_METRICS, 0.0) for row in ROWS}
    for index in range(count):
        task = _task_item(tasks, index, _TASK_KEYS)
        query, target = task["query_ldr"].to(device), label(task["query_hdr"].to(device))
        learner = adapt(model, task["support_ldr"].to(device), label(task["support_hdr"].to(device)), steps=steps,
                        inner_lr=inner_lr, loss=loss, backend=backend, first_order=True, create_graph=False)
        with torch.no_grad():
            preds = {"ldr": label(query), "single_shot": model(query), "adapted": learner(query)}
        for row, pred in preds.items():
            for metric, value in _scores(pred, target).items():
                sums[row][metric] += value
    return {row: {metric: total / count for metric, total in metrics.items()} for row, metrics in sums.items()}


def evaluate_expandnet(expandnet_model: nn.Module, tasks: Dataset) -> dict[str, float]:
    """Score a single-image network on the held-out queries with no meta-learning (the paper's HDR-CNN row).

    Each query LDR goes through :func:`hdrlab.methods.expandnet.predict` (radiance in
    that shot's exposure units), is divided by ``2**query_ev`` to EV-0 units (as
    :class:`WithSimulatedLabels` does for support labels) and scored against the
    query's HDR exactly as :func:`evaluate_tasks` scores its rows.

    Args:
        expandnet_model: a trained :class:`~hdrlab.methods.expandnet.ExpandNet` with ``target="exposure"``.
        tasks: e.g. :func:`held_out_tasks`.

    Returns:
        ``{metric: mean over the tasks}`` for ``psnr``, ``ssim``, ``psnr_linear``, ``ssim_linear``.

    Raises:
        DTypeError, ChoiceError: not an exposure-target ExpandNet (see :class:`WithSimulatedLabels`).
        DTypeError, RangeError: ``tasks`` not a non-empty dataset of dicts with ``query_ldr``, ``query_hdr``,
            ``query_ev``. ShapeError, RangeError: invalid query images or EVs.

    Example:
        >>> sorted(evaluate_expandnet(expandnet.ExpandNet(width=4), held_out_tasks("quick", samples=1)))
        ['psnr', 'psnr_linear', 'ssim', 'ssim_linear']

    References:
        Pan, Vento, "MetaHDR", 2021 (a pretrained HDR-CNN on the meta-test set, in the text);
        Marnerides et al., "ExpandNet", 2018.

    Taught in: notebooks/02_metahdr.ipynb
    """
    _check_expandnet(expandnet_model)
    count = _check_tasks(tasks)
    sums = dict.fromkeys(_METRICS, 0.0)
    for index in range(count):
        task = _task_item(tasks, index, ("query_ldr", "query_hdr", "query_ev"))
        radiance = expandnet.predict(expandnet_model, task["query_ldr"]) / 2.0 ** task["query_ev"].view(-1, 1, 1, 1)
        for metric, value in _scores(label(radiance), label(task["query_hdr"])).items():
            sums[metric] += value
    return {metric: total / count for metric, total in sums.items()}


def results_table(rows: Mapping[str, Mapping[str, float]], title: str = "") -> str:
    """A plain-text table of ``{row: {metric: value}}``, one line per row, metrics as columns.

    Args:
        rows: e.g. the output of :func:`evaluate_tasks`, or rows gathered from several runs.
        title: an optional first line.

    Returns:
        The table (PSNR in dB with 2 decimals, other metrics with 4).

    Raises:
        DTypeError: ``rows`` is not a mapping of str to mappings of numbers, or ``title`` not a str.
        RangeError: no rows.

    Example:
        >>> print(results_table({"ldr": {"psnr": 20.0, "ssim": 0.8}, "adapted": {"psnr": 25.5}}))
        row          psnr    ssim
        ldr         20.00  0.8000
        adapted     25.50       -

    Taught in: notebooks/02_metahdr.ipynb
    """
    if not isinstance(rows, Mapping) or not all(isinstance(k, str) and isinstance(v, Mapping) for k, v in rows.items()):
        raise DTypeError(describe("rows as {row: {metric: value}}", type(rows).__name__, "Pass evaluate_tasks(...)."))
    if not rows:
        raise RangeError(describe("at least one row", "{}", "Pass evaluate_tasks(...)."))
    if not isinstance(title, str):
        raise DTypeError(describe("title as a str", type(title).__name__, "Pass e.g. title='Held-out tasks'."))
    columns = list(dict.fromkeys(metric for metrics in rows.values() for metric in metrics))
    first = max([3, *map(len, rows)]) + 2
    widths = [max(len(column), 6) + 2 for column in columns]
    lines = [title] if title else []
    lines.append("row".ljust(first) + "".join(c.rjust(w) for c, w in zip(columns, widths)))
    for name, metrics in rows.items():
        cells = [_cell(metrics.get(column), column).rjust(width) for column, width in zip(columns, widths)]
        lines.append(str(name).ljust(first) + "".join(cells))
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: object, column: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DTypeError(describe(f"a number in column {column!r}", type(value).__name__, "Pass floats."))
    return f"{value:.2f}" if column.startswith("psnr") else f"{value:.4f}"


# ----------------------------------------------------------------------------- training


def _check_settings(settings: object) -> Settings:
    if not isinstance(settings, Settings):
        raise DTypeError(describe("settings as a metahdr.Settings or None", type(settings).__name__,
                                  "Pass e.g. dataclasses.replace(metahdr.PROFILES['quick'], inner_lr=0.1)."))
    return settings


def _settings(profile: str, steps: int | None, settings: Settings | None) -> Settings:
    name = env.profile(profile)
    settings = PROFILES[name] if settings is None else _check_settings(settings)
    if steps is not None:
        check_int(steps, "steps", 1)
        settings = replace(settings, meta_iterations=steps, eval_every=min(settings.eval_every, steps),
                           checkpoint_every=min(settings.checkpoint_every, steps))
    if settings.select == "meta_val":  # a checkpoint at every evaluation, to load the selected one
        settings = replace(settings, checkpoint_every=settings.eval_every)
    return settings


#: The metric of ``select="meta_val"``: mean SSIM after adaptation on the validation scenes' tasks.
_SELECT_METRIC = "meta_val/ssim"


def _flat_scores(model: nn.Module, **kwargs) -> dict[str, float]:
    return {f"{metric}/{row}": value for row, metrics in evaluate_tasks(model, **kwargs).items()
            for metric, value in metrics.items()}


def _evaluate(model: nn.Module, *, tasks: Dataset, val_tasks: Dataset | None, **kwargs) -> dict[str, float]:
    """Scores on ``tasks``; with ``val_tasks`` (``select="meta_val"``) also the selection metric on them."""
    scores = _flat_scores(model, tasks=tasks, **kwargs)
    if val_tasks is not None:
        val = scores if val_tasks is tasks else _flat_scores(model, tasks=val_tasks, **kwargs)
        scores[_SELECT_METRIC] = val["ssim/adapted"]
    return scores


def _fit(kind: str, step: Callable, out_dir, profile, *, labels, loss, expandnet_model, resume, overwrite, steps,
         device, seed, progress, backend, settings, evaluate_on) -> tuple[MetaUNet, train.FitResult]:
    """Shared body of :func:`train_metahdr` and :func:`train_conventional`."""
    out = train.check_run_options(out_dir, resume=resume, overwrite=overwrite, device=device, progress=progress,
                                  seed=seed)
    _check_choice(labels, LABELS, "labels", "Use 'true' or 'simulated' (with expandnet_model).")
    settings = _settings(profile, steps, settings)
    settings = replace(settings, loss=settings.loss if loss is None else loss)
    _check_choice(settings.loss, LOSSES, "loss", "Use 'expandnet', 'lpips' or 'lpips+l1'.")
    _check_choice(backend, BACKENDS, "backend", "Use 'functional' or 'learn2learn'.")
    _check_choice(evaluate_on, SPLITS, "evaluate_on", "Use 'test' (report) or 'val' (choose settings).")
    if labels == "simulated" or expandnet_model is not None:
        _check_expandnet(expandnet_model)
    env.seed_everything(seed)
    model = MetaUNet(settings.base_width)
    data = MetaTasks("train", size=settings.size, max_side=settings.max_side, samples=settings.samples,
                     evs=EVS, support=2, augment=True, seed=seed)
    if labels == "simulated":
        data = WithSimulatedLabels(data, expandnet_model)  # type: ignore[assignment]
    task_loss = make_loss(settings.loss, cosine_weight=settings.cosine_weight).to(env.device(device))
    tasks = held_out_tasks(split=evaluate_on, settings=settings)
    val_tasks = None
    if settings.select == "meta_val":
        val_tasks = tasks if evaluate_on == "val" else held_out_tasks(split="val", settings=settings)
    evaluate = functools.partial(_evaluate, tasks=tasks, val_tasks=val_tasks, steps=settings.inner_steps,
                                 inner_lr=settings.inner_lr, loss=task_loss, adapt_labels=labels,
                                 expandnet_model=expandnet_model, backend=backend)
    record = {"method": kind, "labels": labels, "backend": backend, "evaluate_on": evaluate_on, **asdict(settings)}
    train.write_settings(out, record, resume=resume, overwrite=overwrite)
    evaluations = -(-settings.meta_iterations // settings.eval_every) + 1
    result = train.fit(
        model, data, functools.partial(step, settings=settings, loss=task_loss, backend=backend),
        steps=settings.meta_iterations, batch_size=settings.meta_batch,
        optimizer=functools.partial(torch.optim.Adam, lr=settings.meta_lr),
        evaluate=evaluate, eval_every=settings.eval_every, out_dir=out, checkpoint_every=settings.checkpoint_every,
        resume=resume, overwrite=overwrite, device=device, seed=seed, progress=progress,
        keep_checkpoints=max(3, evaluations),
    )
    if settings.select == "meta_val":
        train.load_weights(selected_checkpoint(out), model)
    return model.eval(), result


#: What ``settings.json`` of a run holds besides the :class:`Settings` fields.
_RECORD_KEYS = ("method", "labels", "backend", "evaluate_on", *(field.name for field in fields(Settings)))


def _meta_step(model, batch, *, settings: Settings, loss, backend):
    return meta_loss(model, batch, steps=settings.inner_steps, inner_lr=settings.inner_lr, loss=loss,
                     backend=backend, first_order=settings.first_order)


def _supervised_step(model, batch, *, settings: Settings, loss, backend):
    return supervised_loss(model, batch, loss=loss)


def train_metahdr(
    out_dir: str | os.PathLike,
    profile: str = "auto",
    *,
    labels: str = "true",
    loss: str | None = None,
    expandnet_model: nn.Module | None = None,
    resume: bool | str = False,
    overwrite: bool = False,
    steps: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: str = "auto",
    backend: str = "functional",
    settings: Settings | None = None,
    evaluate_on: str = "test",
) -> tuple[MetaUNet, train.FitResult]:
    """Meta-train MetaHDR's U-Net with MAML through :func:`hdrlab.train.fit`, evaluating on held-out tasks.

    Data: :class:`~hdrlab.data.datasets.MetaTasks` of the training scenes
    (random crops, flips, response curves; EVs -2/0/+2 with a random query
    exposure), support labels true or simulated; each optimizer step is one
    meta-update: :func:`meta_loss` over ``meta_batch`` tasks, Adam(``meta_lr``)
    on the meta-parameters, which are what the checkpoints hold. Evaluation:
    :func:`evaluate_tasks` on :func:`held_out_tasks`, flattened to
    ``{"psnr/adapted": ..., "ssim/ldr": ..., ...}`` in ``result.last_eval``.
    Writes ``settings.json``, ``metrics.csv`` and ``checkpoints/`` to ``out_dir``.

    Args:
        out_dir: run folder.
        profile: ``"auto"``, ``"quick"``, ``"gpu"`` or ``"full"`` (see :data:`PROFILES`).
        labels: support labels, ``"true"`` or ``"simulated"`` (needs ``expandnet_model``).
        loss: one of :data:`LOSSES` (inner and outer loss); None: the profile's (``"expandnet"``).
        expandnet_model: a trained ExpandNet for ``labels="simulated"``.
        resume: ``True`` continues from the latest checkpoint in ``out_dir``; ``"auto"`` continues, or
            loads a finished run, when there is one and trains otherwise (see :func:`hdrlab.train.fit`).
        overwrite: train again from scratch, replacing the run in ``out_dir`` (``FRESH = True``).
        steps: override the number of meta-iterations.
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        seed: seeds the weights and the task order.
        progress: see :func:`hdrlab.train.fit`.
        backend: MAML implementation, ``"functional"`` (default) or ``"learn2learn"``.
        settings: explicit :class:`Settings` instead of the profile's, e.g.
            ``dataclasses.replace(PROFILES["quick"], inner_lr=0.1, select="meta_val")``; recorded in ``settings.json``.
            With ``select="meta_val"`` a checkpoint is written at every evaluation (``checkpoint_every = eval_every``)
            and each evaluation also scores the validation scenes' tasks (``meta_val/ssim``).
        evaluate_on: the scenes ``result.last_eval`` scores, ``"test"`` (the chapter's tables) or ``"val"``
            (to choose settings without looking at the test scenes: ``benchmarks/metahdr_quick_search.py``).

    Returns:
        ``(model, result)``: the meta-parameters of :func:`selected_checkpoint` (a :class:`MetaUNet` in eval mode:
        the last ones, or the best on meta-validation) and the fit result (its ``last_eval`` is the last evaluation).

    Raises:
        ChoiceError: unknown profile, labels, loss, backend, device, ``resume``, ``progress`` or ``evaluate_on``.
        DTypeError: ``labels="simulated"`` without an ExpandNet (the message says how to train one), an
            ``expandnet_model`` that is not one, ``settings`` not a :class:`Settings`, ``out_dir`` not a path,
            ``overwrite`` not a bool.
        DTypeError, RangeError: ``steps`` not None or an int >= 1, ``seed`` not an int >= 0.
        MissingFileError: ``resume`` without a checkpoint.
        (Every argument is checked before any data is loaded.)

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as run:
        ...     model, result = train_metahdr(run, "quick", steps=1, progress="none")
        >>> result.step, "psnr/adapted" in result.last_eval
        (1, True)

    Taught in: notebooks/02_metahdr.ipynb
    """
    return _fit("metahdr", _meta_step, out_dir, profile, labels=labels, loss=loss, expandnet_model=expandnet_model,
                resume=resume, overwrite=overwrite, steps=steps, device=device, seed=seed, progress=progress,
                backend=backend, settings=settings, evaluate_on=evaluate_on)


def train_conventional(
    out_dir: str | os.PathLike,
    profile: str = "auto",
    *,
    labels: str = "true",
    loss: str | None = None,
    expandnet_model: nn.Module | None = None,
    resume: bool | str = False,
    overwrite: bool = False,
    steps: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: str = "auto",
    backend: str = "functional",
    settings: Settings | None = None,
    evaluate_on: str = "test",
) -> tuple[MetaUNet, train.FitResult]:
    """The non-meta baseline: the same U-Net trained on the same tasks as plain supervised pairs.

    Same data, labels, loss, optimizer (Adam, ``meta_lr``), batch (``meta_batch``
    tasks, i.e. all their support and query images) and number of optimizer
    steps (``meta_iterations``) as :func:`train_metahdr`; only the objective
    differs (:func:`supervised_loss` instead of :func:`meta_loss`). Each step
    sees the same images as a meta-update but costs about a quarter of it (no
    inner loop). Evaluation is identical: the ``"adapted"`` row fine-tunes on
    each test task's support set with the same inner steps and learning rate.

    Args:
        out_dir, profile, labels, loss, expandnet_model, resume, steps, device, seed, progress, settings, evaluate_on:
            see :func:`train_metahdr` (``select="meta_val"`` selects among its checkpoints the same way).
        backend: the MAML implementation used by the evaluation's fine-tuning.

    Returns:
        ``(model, result)`` as :func:`train_metahdr`.

    Raises:
        See :func:`train_metahdr`.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as run:
        ...     model, result = train_conventional(run, "quick", steps=1, progress="none")
        >>> result.step
        1

    Taught in: notebooks/02_metahdr.ipynb
    """
    return _fit("conventional", _supervised_step, out_dir, profile, labels=labels, loss=loss,
                expandnet_model=expandnet_model, resume=resume, overwrite=overwrite, steps=steps, device=device,
                seed=seed, progress=progress, backend=backend, settings=settings, evaluate_on=evaluate_on)


def selected_checkpoint(run_dir: str | os.PathLike) -> Path:
    """The checkpoint a run selected: its latest, or with ``select="meta_val"`` the best evaluated on meta-validation.

    With ``select="meta_val"`` the run's ``metrics.csv`` holds, at every evaluation,
    ``meta_val/ssim`` (mean SSIM after adaptation on the validation scenes' tasks) and
    a checkpoint was written at that step; the step with the highest score (the
    earliest on ties) is selected.

    Args:
        run_dir: the ``out_dir`` of :func:`train_metahdr` or :func:`train_conventional`.

    Returns:
        Path of the selected ``checkpoints/step_XXXXXXXX.pt``.

    Raises:
        MissingFileError: no run in ``run_dir``, no meta-validation score in its ``metrics.csv``,
            or the selected step's checkpoint is gone.
        FileFormatError: an unreadable ``settings.json`` or ``metrics.csv``. DTypeError: ``run_dir`` not a path.

    Taught in: notebooks/02_metahdr.ipynb
    """
    record, latest = train.read_run(run_dir, "metahdr")
    if record.get("select", "last") != "meta_val":
        return latest
    scores: dict[int, float] = {}
    metrics = Path(run_dir) / "metrics.csv"
    if metrics.is_file():
        try:
            with open(metrics, newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    if row.get("phase") == "eval" and row.get("name") == _SELECT_METRIC:
                        scores[int(row["step"])] = float(row["value"])
        except (KeyError, TypeError, ValueError, csv.Error) as err:  # UnicodeDecodeError is a ValueError
            raise FileFormatError(describe(f"{metrics} with the columns step, phase, name, value",
                                           f"unreadable ({type(err).__name__}: {err})",
                                           "Train the run again with overwrite=True.")) from err
    if not scores:
        raise MissingFileError(describe(f"{_SELECT_METRIC} rows in {metrics}", "none",
                                        "Train the run to its first evaluation (or with select='last')."))
    best = max(sorted(scores), key=lambda step: scores[step])
    checkpoint = Path(run_dir) / "checkpoints" / f"step_{best:08d}.pt"
    if not checkpoint.with_suffix(".json").is_file():
        raise MissingFileError(describe(f"the checkpoint of the selected step {best}", f"no {checkpoint}",
                                        "Train again with overwrite=True (checkpoints were deleted)."))
    return checkpoint


def load_trained(run_dir: str | os.PathLike, device: str = "cpu") -> MetaUNet:
    """The U-Net of a finished (or interrupted) run of :func:`train_metahdr` or :func:`train_conventional`.

    Args:
        run_dir: the run's ``out_dir``.
        device: where to put the model.

    Returns:
        The meta-parameters of :func:`selected_checkpoint` (the latest, or with ``select="meta_val"`` the
        best on the validation tasks) in a :class:`MetaUNet`, in eval mode.

    Raises:
        MissingFileError: no ``settings.json`` or no checkpoint in ``run_dir``.
        FileFormatError: ``settings.json`` unreadable or without ``base_width``; see :func:`selected_checkpoint`.
        DTypeError: ``run_dir`` not a path. ChoiceError: unknown ``device``.
        DTypeError, RangeError, ShapeError: the recorded width or the checkpoint do not make a :class:`MetaUNet`.

    Taught in: notebooks/02_metahdr.ipynb
    """
    record, _ = train.read_run(run_dir, "metahdr")
    check_record_keys(record, ("base_width",), f"{Path(run_dir) / 'settings.json'}", allowed=_RECORD_KEYS)
    model = MetaUNet(record["base_width"])
    train.load_weights(selected_checkpoint(run_dir), model)
    return model.to(env.device(device)).eval()
