"""One small training engine shared by every chapter model: :func:`fit`.

A method supplies a model, a dataset and a ``step(model, batch)`` function that
returns the loss (or a dict of loss terms with key ``"loss"``). :func:`fit` does
the rest: device placement, mixed precision, backward, gradient clipping, the
optimizer and LR schedule, logging, evaluation, checkpoints, exact resume and
multi-GPU data parallelism. Every chapter trains through it, so a notebook on a
2-core CPU and a multi-GPU ``torchrun`` job use the same code path.

Data order: the global batches of epoch ``e`` are consecutive slices of
``torch.randperm(len(data))`` drawn from a ``torch.Generator`` seeded with
``seed + e`` (the permutation ``DistributedSampler`` draws); the incomplete tail
is dropped, steps run across epoch boundaries, and step ``s`` (1-based) reads
batch ``(s - 1) % (len(data) // batch_size)`` of epoch ``(s - 1) // (len(data) // batch_size)``.
With ``W`` processes, rank ``r`` takes the ``r``-th contiguous ``batch_size / W``
of each global batch, so the global batch is the single-process one.

Each rank's batch can be split into ``micro_batches`` whose gradients are accumulated
(weighted by their size, so the optimizer step is the whole batch's). A CUDA
out-of-memory error doubles the number of micro-batches and retries the step, with a
printed notice (single process only: in a distributed run the ranks cannot agree
safely, so the error is raised naming ``micro_batches``).

Outputs in ``out_dir``:

- ``metrics.csv``: long format, one row per logged value, columns
  :data:`METRICS_COLUMNS` = ``step, phase, name, value, lr, elapsed_s``; phase is
  ``train`` (means over the last ``log_every`` steps, plus ``samples_per_second``
  and ``grad_norm`` when clipping) or ``eval``. The last step also gets a row (and an
  evaluation) when it is off the ``log_every``/``eval_every`` grid; such extras do not
  feed ``ReduceLROnPlateau``, so where a run is split for a resume changes nothing.
  Resume drops rows logged after the checkpoint it resumes from: no step appears twice.
- ``checkpoints/step_XXXXXXXX.pt`` (model, optimizer, scheduler, GradScaler, the RNG
  states of every rank; loadable with ``torch.load(weights_only=True)``) and its
  ``.json`` sidecar (step, ``epoch, offset = divmod(step, len(data) // batch_size)``,
  micro-batches, the open log window, the last evaluation, the configuration, and the
  model fingerprint: parameter/buffer names and shapes). Both are written to a
  temporary file and renamed; a checkpoint counts only once its sidecar exists, and
  leftovers of an interrupted save are removed when the next run starts. The newest
  ``keep_checkpoints`` are kept, plus the final one.
- ``tensorboard/`` when ``tensorboard=True``.

Evaluation restores the RNG states and every module's train/eval mode afterwards, so
evaluating (or not) never changes the training that follows.

Example:
    >>> import functools, torch
    >>> from torch import nn
    >>> x = torch.linspace(-1, 1, 32).unsqueeze(1)
    >>> data = torch.utils.data.TensorDataset(x, 3 * x + 1)
    >>> model = nn.Linear(1, 1)
    >>> result = fit(model, data, lambda net, batch: nn.functional.mse_loss(net(batch[0]), batch[1]),
    ...              steps=5, batch_size=8, optimizer=functools.partial(torch.optim.SGD, lr=0.1),
    ...              device="cpu", progress="none")
    >>> result.step, sorted(result.history[-1])[:3]
    (5, ['elapsed_s', 'loss', 'lr'])

Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb,
notebooks/04_differentiable_recursion.ipynb, notebooks/05_hybrid_autoencoder.ipynb
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import itertools
import json
import math
import os
import pickle
import random
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm.auto import tqdm as notebook_tqdm
from tqdm.std import tqdm

from hdrlab import env, estimate
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
from hdrlab.validate import as_path, check_bool, check_choice, check_int, check_positive

__all__ = [
    "AMP_CHOICES",
    "PROGRESS_CHOICES",
    "RESUME_CHOICES",
    "write_settings",
    "METRICS_COLUMNS",
    "FitResult",
    "fit",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "latest_checkpoint",
    "load_weights",
    "read_run",
    "check_run_options",
    "read_settings",
    "is_main_process",
    "distributed_info",
]

#: ``amp`` choices of :func:`fit`.
AMP_CHOICES = ("auto", "off", "bf16", "fp16")
#: ``progress`` choices of :func:`fit`.
PROGRESS_CHOICES = ("auto", "notebook", "tqdm", "text", "none")
#: ``resume`` choices of :func:`fit`.
RESUME_CHOICES = (True, False, "auto")
#: Environment variable that sets what ``progress="auto"`` means (headless notebook runs set ``text``).
PROGRESS_VARIABLE = "HDRLAB_PROGRESS"
#: Environment variable capping the steps of every :func:`fit` (a smoke test of a large profile); unset: no cap.
MAX_STEPS_VARIABLE = "HDRLAB_MAX_STEPS"
#: Columns of ``metrics.csv`` (long format: one row per logged value).
METRICS_COLUMNS = ("step", "phase", "name", "value", "lr", "elapsed_s")

_FORMAT = "hdrlab-checkpoint/1"
_CHECKPOINT_NAME = re.compile(r"step_(\d{8,})\.pt")
_ROW_KEYS = ("step", "phase", "lr", "elapsed_s")
_RESUME_KEYS = ("batch_size", "seed", "shuffle", "dataset_size", "amp")
_PRECISIONS = {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}  # what amp resolved to


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        step: optimizer steps done in total (including those before a resume).
        history: the rows of the run, each a dict with ``step``, ``phase``
            (``"train"``/``"eval"``), the values, ``lr`` and ``elapsed_s`` (a resumed run's
            earlier rows are read back from ``metrics.csv``).
        evals: ``{"step": s, **metrics}`` for each evaluation of this call.
        last_eval: metrics of the last evaluation (restored from the checkpoint when a
            resumed run had nothing left to do), or None without ``evaluate``.
        checkpoint: path of the last checkpoint written, or None without ``out_dir``.
        seconds: wall time of this call.
        samples_per_second: training throughput of this call (global samples).
    """

    step: int
    history: list[dict]
    evals: list[dict]
    last_eval: dict[str, float] | None
    checkpoint: Path | None
    seconds: float
    samples_per_second: float


# ----------------------------------------------------------------------------- distributed


def distributed_info() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` of this process.

    Read from the initialised process group, else from the ``RANK`` / ``WORLD_SIZE`` /
    ``LOCAL_RANK`` variables that ``torchrun`` sets, else ``(0, 1, 0)``.

    Returns:
        Global rank, number of processes, and rank on this machine.

    Raises:
        ChoiceError: one of those variables is set but not an integer.

    Example:
        >>> distributed_info()
        (0, 1, 0)
    """
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    else:
        rank, world_size = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1)
    return rank, world_size, _env_int("LOCAL_RANK", 0)


def is_main_process() -> bool:
    """True on rank 0 (and in every single-process run): the process that writes files.

    Example:
        >>> is_main_process()
        True
    """
    return distributed_info()[0] == 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError as err:
        raise ChoiceError(describe(f"an integer in {name} (torchrun sets it)", repr(text), f"Unset {name}.")) from err


def _fit_device(preference: str | torch.device, world_size: int, local_rank: int) -> torch.device:
    """The device of this process: ``cuda:LOCAL_RANK`` for CUDA in distributed runs."""
    chosen = env.device(str(preference))
    if world_size > 1 and chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    return chosen


def _init_process_group(device: torch.device, world_size: int) -> bool:
    """Initialise the process group for a torchrun launch; True when this call created it."""
    if world_size == 1 or dist.is_initialized():
        return False
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


# ----------------------------------------------------------------------------- choices


def _resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``amp`` on ``device``; None means full float32."""
    if amp not in AMP_CHOICES:
        raise ChoiceError(describe(f"amp in {AMP_CHOICES}", repr(amp), "Use 'auto' unless you compare precisions."))
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _resolve_progress(progress: str) -> str:
    """``"notebook"``, ``"tqdm"``, ``"text"`` or ``"none"``.

    ``"auto"`` is :data:`PROGRESS_VARIABLE` when set, else a widget bar in a Jupyter
    kernel (``"notebook"``), a terminal bar on a terminal (``"tqdm"``), plain lines otherwise.
    """
    if progress not in PROGRESS_CHOICES:
        raise ChoiceError(
            describe(f"progress in {PROGRESS_CHOICES}", repr(progress), "Use 'auto' in notebooks, 'none' in tests.")
        )
    if progress != "auto":
        return progress
    chosen = os.environ.get(PROGRESS_VARIABLE, "")
    if chosen:
        if chosen not in PROGRESS_CHOICES[1:]:
            raise ChoiceError(describe(f"{PROGRESS_VARIABLE} in {PROGRESS_CHOICES[1:]}", repr(chosen),
                                       f"Unset {PROGRESS_VARIABLE} or set it to 'text'."))
        return chosen
    if _in_jupyter_kernel():
        return "notebook"
    return "tqdm" if getattr(sys.stdout, "isatty", lambda: False)() else "text"


def _in_jupyter_kernel() -> bool:
    """Whether this process is a Jupyter kernel (JupyterLab, Colab, papermill, nbval)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and type(shell).__name__ in ("ZMQInteractiveShell", "Shell")


# ----------------------------------------------------------------------------- argument checks


def _check_count(value: object, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DTypeError(describe(f"{name} as an integer", f"{type(value).__name__} {value!r}", f"Pass e.g. {name}=10."))
    if value < minimum:
        raise RangeError(describe(f"{name} >= {minimum}", repr(value), f"Pass an integer {name} >= {minimum}."))


def _check_callable(value: object, name: str, example: str) -> None:
    if not callable(value):
        raise DTypeError(describe(f"{name} to be callable", type(value).__name__, f"Pass e.g. {name}={example}."))


def _check_dataset(data: object, batch_size: int) -> int:
    """Length of a map-style dataset holding at least one batch."""
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise DTypeError(
            describe(
                "a map-style dataset (with __len__ and __getitem__)", type(data).__name__,
                "Wrap the samples in a torch.utils.data.Dataset; iterable datasets are not supported.",
            )
        )
    size = len(data)  # type: ignore[arg-type]
    if size < batch_size:
        raise RangeError(
            describe(
                f"a dataset of at least batch_size={batch_size} samples", f"{size} samples",
                "Lower batch_size or add samples: every step uses one full batch (incomplete batches are dropped).",
            )
        )
    return size


def _check_outputs(out_dir: object, checkpoint_every: int | None, resume: bool | str, overwrite: bool,
                   tensorboard: bool):
    if resume not in RESUME_CHOICES or not isinstance(resume, (bool, str)):
        raise ChoiceError(describe(f"resume in {RESUME_CHOICES}", repr(resume),
                                   "Pass True (continue), False (start) or 'auto' (continue or load when a "
                                   "checkpoint exists, else start)."))
    for flag, wanted in (("checkpoint_every", checkpoint_every is not None), ("resume", resume is True),
                         ("overwrite", overwrite), ("tensorboard", tensorboard)):
        if wanted and out_dir is None:
            raise ChoiceError(describe(f"an out_dir with {flag}", "out_dir=None", "Pass out_dir='runs/my_run'."))
    if resume is True and overwrite:
        raise ChoiceError(
            describe("resume or overwrite", "both", "resume=True continues the run; overwrite=True starts it again.")
        )
    if tensorboard:
        _summary_writer_class()


def _resolve_resume(resume: bool | str, overwrite: bool, folder: Path | None) -> bool:
    """Whether this call continues a run: ``"auto"`` does when ``folder`` holds a checkpoint and overwrite is off."""
    if resume != "auto":
        return bool(resume)
    return not overwrite and folder is not None and latest_checkpoint(folder) is not None


def _summary_writer_class() -> type:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ChoiceError(
            describe(
                "the tensorboard package for tensorboard=True", f"ImportError: {err}",
                "pip install tensorboard, or pass tensorboard=False (metrics.csv holds the same numbers).",
            )
        ) from err
    return SummaryWriter


# ----------------------------------------------------------------------------- batches


def _to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    """Move the tensors of a (nested) batch to ``device``; strings and other leaves stay as they are."""
    if isinstance(batch, torch.Tensor):
        moved = batch.to(device, non_blocking=device.type == "cuda")
        return moved.contiguous(memory_format=torch.channels_last) if channels_last and moved.dim() == 4 else moved
    if isinstance(batch, Mapping):
        return {key: _to_device(value, device, channels_last) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return _same_sequence(batch, [_to_device(item, device, channels_last) for item in batch])
    return batch


def _same_sequence(original: list | tuple, items: list) -> list | tuple:
    if isinstance(original, tuple) and hasattr(original, "_fields"):  # namedtuple
        return type(original)(*items)
    return type(original)(items)


def _micro_sizes(batch: int, parts: int) -> list[int]:
    """Sizes of ``parts`` micro-batches of a batch of ``batch`` samples, as even as possible."""
    base, extra = divmod(batch, parts)
    return [base + 1] * extra + [base] * (parts - extra)


def _split_batch(batch: Any, sizes: list[int]) -> list[Any]:
    """Split a collated batch along its first dimension into micro-batches of ``sizes``."""
    if isinstance(batch, torch.Tensor):
        return list(batch.split(sizes))
    if isinstance(batch, Mapping):
        columns = {key: _split_batch(value, sizes) for key, value in batch.items()}
        return [{key: column[index] for key, column in columns.items()} for index in range(len(sizes))]
    if not any(isinstance(item, (torch.Tensor, Mapping, list, tuple)) for item in batch):  # collated strings
        bounds = np.cumsum([0, *sizes]).tolist()
        return [batch[start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]
    columns = [_split_batch(item, sizes) for item in batch]
    return [_same_sequence(batch, [column[index] for column in columns]) for index in range(len(sizes))]


def _epoch_order(size: int, seed: int, epoch: int, shuffle: bool) -> torch.Tensor:
    """Sample order of one epoch: ``randperm`` seeded by ``seed + epoch`` (as ``DistributedSampler``)."""
    if not shuffle:
        return torch.arange(size)
    generator = torch.Generator()
    generator.manual_seed(seed + epoch)
    return torch.randperm(size, generator=generator)


def _rank_batches(size: int, batch_size: int, seed: int, shuffle: bool, start: int,
                  rank: int, world_size: int) -> Iterator[list[int]]:
    """Endless index lists of this rank's share of each global batch, from global step ``start`` on."""
    per_epoch = size // batch_size
    local = batch_size // world_size
    epoch, index = divmod(start, per_epoch)
    while True:
        order = _epoch_order(size, seed, epoch, shuffle)
        for batch in range(index, per_epoch):
            first = batch * batch_size + rank * local
            yield order[first:first + local].tolist()
        epoch, index = epoch + 1, 0


# ----------------------------------------------------------------------------- one step


def _loss_terms(output: object) -> dict[str, torch.Tensor]:
    """Validate what ``step`` returned: a scalar loss, or a dict of scalars with key ``"loss"`` (put first)."""
    terms = {"loss": output} if isinstance(output, torch.Tensor) else output
    if not isinstance(terms, Mapping):
        raise DTypeError(
            describe("step to return a loss tensor or a dict of them", type(output).__name__,
                     "Return the loss, or e.g. {'loss': total, 'l1': l1}.")
        )
    if "loss" not in terms:
        raise ChoiceError(
            describe("a dict with key 'loss'", f"keys {sorted(terms)}", "Put the total to minimise under 'loss'.")
        )
    for name, value in terms.items():
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise ShapeError(
                describe(f"loss term {name!r} as a scalar tensor", got, "Reduce it with .mean() inside step.")
            )
    return {"loss": terms["loss"], **{name: value for name, value in terms.items() if name != "loss"}}


@dataclass
class _Engine:
    """What one optimizer step needs."""

    model: nn.Module  # the user's module
    net: nn.Module  # what step() receives: the DDP wrapper in distributed runs, else model
    step_fn: Callable[[nn.Module, Any], object]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    device: torch.device
    amp_dtype: torch.dtype | None
    clip_grad_norm: float | None
    local_batch: int
    micro_batches: int
    world_size: int


def _gradient_sync(net: nn.Module, last: bool) -> contextlib.AbstractContextManager:
    """DDP all-reduces gradients only in the backward of the last micro-batch."""
    if last or not isinstance(net, DistributedDataParallel):
        return contextlib.nullcontext()
    return net.no_sync()


def _forward_backward(engine: _Engine, batch: Any) -> dict[str, torch.Tensor]:
    """Accumulate the gradients of the batch over micro-batches; return its (weighted) loss terms."""
    sizes = _micro_sizes(engine.local_batch, engine.micro_batches)
    chunks = _split_batch(batch, sizes) if len(sizes) > 1 else [batch]
    totals: dict[str, torch.Tensor] = {}
    for index, (chunk, size) in enumerate(zip(chunks, sizes)):
        weight = size / engine.local_batch
        with _gradient_sync(engine.net, last=index == len(sizes) - 1):
            with torch.autocast(engine.device.type, dtype=engine.amp_dtype, enabled=engine.amp_dtype is not None):
                terms = _loss_terms(engine.step_fn(engine.net, chunk))
            engine.scaler.scale(terms["loss"] * weight).backward()
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + value.detach().float() * weight
    return totals


def _reraise_unless_splittable(engine: _Engine, err: torch.OutOfMemoryError) -> None:
    if engine.world_size > 1:
        why = ("hdrlab.train does not split batches after an out-of-memory error in distributed runs (the ranks "
               "cannot agree safely); pass micro_batches=2 (or more) or a smaller batch_size.")
    elif engine.micro_batches >= engine.local_batch:
        why = "Even a micro-batch of one sample does not fit; use a smaller model or image size."
    else:
        return
    raise torch.OutOfMemoryError(f"{err}\n{why}") from err


def _halve_micro_batches(engine: _Engine, step: int) -> None:
    engine.optimizer.zero_grad(set_to_none=True)
    if engine.device.type == "cuda":
        torch.cuda.empty_cache()
    engine.micro_batches = min(2 * engine.micro_batches, engine.local_batch)
    size = math.ceil(engine.local_batch / engine.micro_batches)
    print(f"Out of memory at step {step}: retrying with {engine.micro_batches} micro-batches of up to {size} samples "
          f"(gradients accumulated, so each optimizer step still uses the whole batch).", flush=True)


def _mean_over_ranks(totals: dict[str, torch.Tensor], world_size: int) -> dict[str, float]:
    stacked = torch.stack(list(totals.values()))
    if world_size > 1:
        dist.all_reduce(stacked)
        stacked /= world_size
    return dict(zip(totals, stacked.tolist()))


def _check_finite(values: dict[str, float], step: int) -> None:
    bad = {name: value for name, value in values.items() if not math.isfinite(value)}
    if bad:
        listed = ", ".join(f"{name}={value}" for name, value in bad.items())
        raise NonFiniteLossError(
            describe(
                f"finite loss terms at step {step}", f"non-finite {listed}",
                "Lower the learning rate or set clip_grad_norm, check the data for NaN/inf "
                "(hdrlab.validate.check_image) and the loss for log(0) or a division by zero, "
                "then continue from the last checkpoint with resume=True.",
            ),
            step, bad,
        )


def _is_plateau(scheduler: object) -> bool:
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def _train_step(engine: _Engine, batch: Any, step: int) -> dict[str, float]:
    """One optimizer step on one global batch; returns its loss terms (means over ranks)."""
    engine.optimizer.zero_grad(set_to_none=True)
    while True:
        try:
            totals = _forward_backward(engine, batch)
        except torch.OutOfMemoryError as err:
            _reraise_unless_splittable(engine, err)
        else:
            break
        _halve_micro_batches(engine, step)  # outside the except block, so the failed attempt's memory is freed
    values = _mean_over_ranks(totals, engine.world_size)
    _check_finite(values, step)
    if engine.clip_grad_norm is not None:
        engine.scaler.unscale_(engine.optimizer)
        norm = nn.utils.clip_grad_norm_(engine.model.parameters(), engine.clip_grad_norm)
        values["grad_norm"] = float(norm)
    engine.scaler.step(engine.optimizer)
    engine.scaler.update()
    if engine.scheduler is not None and not _is_plateau(engine.scheduler):
        engine.scheduler.step()
    return values


# ----------------------------------------------------------------------------- evaluation


def _as_metrics(raw: object) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise DTypeError(
            describe("evaluate to return a dict of numbers", type(raw).__name__, "Return e.g. {'psnr': 31.2}.")
        )
    metrics = {}
    for name, value in raw.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DTypeError(
                describe(f"metric {name!r} as a number", type(value).__name__, "Return floats, e.g. float(psnr).")
            )
        metrics[str(name)] = float(value)
    return metrics


def _evaluate_on_main(evaluate: Callable, model: nn.Module, rank: int, world_size: int) -> dict[str, float]:
    """Run ``evaluate(model)`` on rank 0 in eval mode without gradients; every rank gets its metrics.

    The RNG states and each module's train/eval mode are restored afterwards, so evaluating
    (or not) never changes the training that follows.
    """
    metrics = None
    if rank == 0:
        modes = {module: module.training for module in model.modules()}
        rng = _rng_state()
        model.eval()
        try:
            with torch.no_grad():
                metrics = _as_metrics(evaluate(model))
        finally:
            _set_rng_state(rng)
            for module, training in modes.items():
                module.training = training
    if world_size > 1:
        box = [metrics]
        dist.broadcast_object_list(box, src=0)
        metrics = box[0]
    return metrics


# ----------------------------------------------------------------------------- checkpoint files


def _atomic_write(path: Path, write: Callable[[io.BufferedWriter], object]) -> None:
    """Write ``path`` through a temporary file in the same folder, then rename it into place."""
    temporary = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if os.name == "posix":  # make the rename itself durable
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _fingerprint(model: nn.Module) -> list[list]:
    """Parameter and buffer names with their shapes: what a checkpoint must match."""
    return [[name, list(tensor.shape)] for name, tensor in _unwrap(model).state_dict().items()]


def _rng_state() -> dict[str, Any]:
    """torch, NumPy, Python (and CUDA) RNG states as tensors and plain numbers."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(keys.astype(np.int64)),
        "numpy_extra": [int(position), int(has_gauss), float(gauss)],
        "python": torch.tensor(python_state, dtype=torch.int64),
        "python_extra": [version, python_gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    position, has_gauss, gauss = state["numpy_extra"]
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), position, has_gauss, gauss))
    version, python_gauss = state["python_extra"]
    random.setstate((version, tuple(state["python"].tolist()), python_gauss))
    if torch.cuda.is_available():
        for index, cuda_state in enumerate(state.get("cuda", [])[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


def _checkpoint_file(path: str | os.PathLike) -> Path:
    file = Path(path)
    if file.suffix != ".pt":
        raise FileFormatError(describe("a checkpoint path ending in .pt", repr(str(file)), "Name it e.g. step.pt."))
    return file


def save_checkpoint(path: str | os.PathLike, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, scaler: torch.amp.GradScaler | None = None, step: int,
                    extra: Mapping[str, Any] | None = None, rng: list[dict] | None = None) -> Path:
    """Write a checkpoint atomically: ``path`` (tensors, ``torch.save``) and a ``.json`` sidecar.

    The ``.pt`` holds only tensors and plain containers, so ``torch.load(path,
    weights_only=True)`` reads it. Each file is written to a temporary name and then
    renamed; the sidecar is written last, so a checkpoint whose sidecar exists is complete.

    Args:
        path: the ``.pt`` file; folders are created.
        model: the model (a DDP wrapper is unwrapped).
        optimizer, scheduler, scaler: saved when given (their ``state_dict()``).
        step: optimizer steps done, an integer >= 0.
        extra: JSON-serialisable metadata stored in both files (keys other than
            ``format``, ``step``, ``fingerprint``, ``torch``).
        rng: RNG states per rank (as :func:`fit` gathers them); default: this process's.

    Returns:
        The ``.pt`` path.

    Raises:
        FileFormatError: path does not end in ``.pt``.
        DTypeError, RangeError: step is not an integer >= 0.
        DTypeError: extra is not JSON-serialisable.
        ChoiceError: extra uses a reserved key.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_checkpoint(f"{folder}/checkpoints/step_00000005.pt", model=nn.Linear(2, 1), step=5)
        ...     sorted(torch.load(path, weights_only=True))
        ['meta', 'model', 'rng']
    """
    file = _checkpoint_file(path)
    _check_count(step, "step", minimum=0)
    meta = {"format": _FORMAT, "step": step, "fingerprint": _fingerprint(model), "torch": str(torch.__version__)}
    clash = sorted(set(meta) & set(extra or {}))
    if clash:
        raise ChoiceError(describe("extra without reserved keys", f"keys {clash}", "Rename those entries."))
    meta.update(extra or {})
    try:
        sidecar = json.dumps(meta, indent=1).encode()
    except (TypeError, ValueError) as err:
        raise DTypeError(describe("JSON-serialisable extra metadata", str(err), "Store numbers, strings, lists.")) from err
    payload: dict[str, Any] = {"meta": meta, "model": _unwrap(model).state_dict(), "rng": rng or [_rng_state()]}
    for name, part in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if part is not None:
            payload[name] = part.state_dict()
    file.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(file, lambda handle: torch.save(payload, handle))
    _atomic_write(file.with_suffix(".json"), lambda handle: handle.write(sidecar))
    return file


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint (``step_XXXXXXXX.pt`` with its ``.json``) of a run.

    Args:
        out_dir: a run folder (its ``checkpoints/`` is searched) or a checkpoints folder.

    Returns:
        Path of the ``.pt`` with the highest step, or None when there is none.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     for step in (4, 8):
        ...         _ = save_checkpoint(f"{folder}/checkpoints/step_{step:08d}.pt", model=nn.Linear(1, 1), step=step)
        ...     latest_checkpoint(folder).name
        'step_00000008.pt'
    """
    folder = Path(out_dir)
    if (folder / "checkpoints").is_dir():
        folder = folder / "checkpoints"
    complete = [file for file in _checkpoints(folder) if file.with_suffix(".json").is_file()]
    return max(complete, key=_step_of, default=None)


def _checkpoints(folder: Path) -> list[Path]:
    """``step_XXXXXXXX.pt`` files of a folder (complete or not), oldest first."""
    found = [file for file in folder.glob("step_*.pt") if _CHECKPOINT_NAME.fullmatch(file.name)]
    return sorted(found, key=_step_of)


def _step_of(file: Path) -> int:
    return int(_CHECKPOINT_NAME.fullmatch(file.name).group(1))


def _resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A ``.pt`` path from a ``.pt``, its ``.json`` sidecar, or a run/checkpoints folder (newest)."""
    given = Path(path)
    if given.is_dir():
        found = latest_checkpoint(given)
        if found is None:
            raise MissingFileError(
                describe(f"a checkpoint in {given}", "no complete step_XXXXXXXX.pt with its .json there",
                         "Train with out_dir set first, or pass the path of a .pt file.")
            )
        return found
    file = given.with_suffix(".pt") if given.suffix == ".json" else _checkpoint_file(given)
    if not file.is_file():
        raise MissingFileError(describe("an existing checkpoint file", str(file), "Check the path (see latest_checkpoint)."))
    return file


def _read_checkpoint(file: Path) -> dict[str, Any]:
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise FileFormatError(
            describe("a checkpoint written by hdrlab.train", f"{file.name} that torch.load cannot read ({err})",
                     "The file is truncated or not a checkpoint; use an earlier one.")
        ) from err
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict) or \
            payload["meta"].get("format") != _FORMAT:
        raise FileFormatError(
            describe(f"a {_FORMAT} file", f"{file.name} in another format", "Save it with hdrlab.train.save_checkpoint.")
        )
    return payload


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The contents of a checkpoint (``"model"`` state dict, ``"meta"`` and the rest), on the CPU.

    Args:
        path: a ``.pt`` file, its ``.json`` sidecar, or a run or ``checkpoints`` folder (its newest).

    Returns:
        The payload :func:`save_checkpoint` wrote.

    Raises:
        MissingFileError: no such file, or no complete checkpoint in the folder.
        FileFormatError: a truncated or foreign file.
    """
    return _read_checkpoint(_resolve_checkpoint(path))


def _check_fingerprint(meta: Mapping[str, Any], model: nn.Module, file: Path) -> None:
    saved = {name: tuple(shape) for name, shape in meta["fingerprint"]}
    current = {name: tuple(shape) for name, shape in _fingerprint(model)}
    if saved == current:
        return
    missing = sorted(saved.keys() - current.keys())
    unexpected = sorted(current.keys() - saved.keys())
    reshaped = sorted(name for name in saved.keys() & current.keys() if saved[name] != current[name])
    parts = [f"{len(missing)} entries the model lacks (e.g. {missing[:3]})"] if missing else []
    parts += [f"{len(unexpected)} model entries not in it (e.g. {unexpected[:3]})"] if unexpected else []
    parts += [f"{name} {saved[name]} vs {current[name]} in the model" for name in reshaped[:3]]
    raise ShapeError(
        describe(
            "a checkpoint of this model (same parameter names and shapes)", f"{file.name} with " + "; ".join(parts),
            "Build the model with the settings it was trained with, or train this one in a new out_dir.",
        )
    )


def _apply_checkpoint(payload: Mapping[str, Any], model: nn.Module, optimizer: Any, scheduler: Any,
                      scaler: Any, file: Path) -> None:
    if scaler is not None and scaler.is_enabled() and not payload.get("scaler"):  # a run without fp16 saves {}
        raise ChoiceError(
            describe("a checkpoint with GradScaler state for an fp16 (enabled) scaler",
                     f"{file.name} without it (a run without fp16, or saved without scaler=)",
                     "Resume with the precision the run used (amp), pass scaler=None or a disabled GradScaler, "
                     "or use load_weights for the model alone.")
        )
    _unwrap(model).load_state_dict(payload["model"])
    for name, part in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if part is None or (name == "scaler" and not part.is_enabled()):  # a disabled scaler has no state
            continue
        if name not in payload:
            raise ChoiceError(
                describe(f"a checkpoint with {name} state", f"{file.name} without it",
                         f"Pass {name}=None, or use load_weights for the model alone.")
            )
        part.load_state_dict(payload[name])


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, scaler: torch.amp.GradScaler | None = None, *,
                    restore_rng: bool = False) -> dict[str, Any]:
    """Load a checkpoint into a model (and optimizer, scheduler, scaler); return its metadata.

    Args:
        path: a ``.pt`` file, its ``.json`` sidecar, or a run folder (its newest checkpoint).
        model: a model with the same parameter names and shapes as the saved one.
        optimizer, scheduler, scaler: restored when given.
        restore_rng: also restore this rank's torch/NumPy/Python/CUDA RNG states.

    Returns:
        The metadata dict (``step``, ``fingerprint``, and what ``extra`` held).

    Raises:
        MissingFileError: no such file, or no checkpoint in the folder.
        FileFormatError: not a readable hdrlab checkpoint.
        ShapeError: saved from a different model (the message lists the differences).
        ChoiceError: an optimizer/scheduler, or an enabled (fp16) scaler, was passed but the
            checkpoint has no state for it.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_checkpoint(f"{folder}/step.pt", model=nn.Linear(2, 1), step=3)
        ...     load_checkpoint(path, nn.Linear(2, 1))["step"]
        3
    """
    file = _resolve_checkpoint(path)
    payload = _read_checkpoint(file)
    _check_fingerprint(payload["meta"], model, file)
    _apply_checkpoint(payload, model, optimizer, scheduler, scaler, file)
    if restore_rng:
        rank = distributed_info()[0]
        if rank >= len(payload["rng"]):
            raise ChoiceError(
                describe(f"RNG states for rank {rank}", f"{len(payload['rng'])} saved",
                         "Resume with the world size of the saved run, or pass restore_rng=False.")
            )
        _set_rng_state(payload["rng"][rank])
    return payload["meta"]


def load_weights(path: str | os.PathLike, model: nn.Module) -> nn.Module:
    """Load only the model weights of a checkpoint (for evaluation or fine-tuning).

    Args:
        path: a ``.pt`` file, its ``.json`` sidecar, or a run folder (its newest checkpoint).
        model: a model with the same parameter names and shapes as the saved one.

    Returns:
        ``model``, with the saved weights.

    Raises:
        MissingFileError, FileFormatError, ShapeError: see :func:`load_checkpoint`.

    Example:
        >>> import tempfile
        >>> saved = nn.Linear(2, 1)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_checkpoint(f"{folder}/step.pt", model=saved, step=1)
        ...     loaded = load_weights(path, nn.Linear(2, 1))
        >>> torch.equal(loaded.weight, saved.weight)
        True
    """
    file = _resolve_checkpoint(path)
    payload = _read_checkpoint(file)
    _check_fingerprint(payload["meta"], model, file)
    _unwrap(model).load_state_dict(payload["model"])
    return model


def check_run_options(out_dir: object, *, resume: object, overwrite: object, device: object, progress: object,
                      seed: object = 0) -> Path:
    """The options a ``train_<method>`` function passes on to :func:`fit`, checked before it loads data or builds a model.

    Args:
        out_dir: the run folder (a path). resume: one of :data:`RESUME_CHOICES`. overwrite: a bool.
        device: a device name :func:`hdrlab.env.device` accepts. progress: one of :data:`PROGRESS_CHOICES`.
        seed: an int >= 0.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        DTypeError, ChoiceError, RangeError: the first invalid option, named.
    """
    out = as_path(out_dir, "out_dir")
    check_choice(resume, "resume", RESUME_CHOICES)
    check_bool(overwrite, "overwrite")
    env.device(device)  # type: ignore[arg-type]
    check_int(seed, "seed", 0)
    check_choice(progress, "progress", PROGRESS_CHOICES)
    return out


def read_run(run_dir: str | os.PathLike, method: str) -> tuple[dict[str, Any], Path]:
    """The ``settings.json`` record and the newest checkpoint of a method's training run, to rebuild its model.

    Args:
        run_dir: the ``out_dir`` a ``train_<method>`` function wrote.
        method: the method's CLI name (``python -m hdrlab train <method>``), used in the error's fix.

    Returns:
        ``(settings, checkpoint)``: the parsed ``settings.json`` without ``torch_threads`` (how the run ran,
        not what it is) and the path of the newest complete checkpoint.

    Raises:
        MissingFileError: no ``settings.json`` or no checkpoint in ``run_dir``.
        FileFormatError: ``settings.json`` is empty, corrupt, or not a non-empty JSON object.
        DTypeError: ``run_dir`` is not a path.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = Path(folder, "settings.json").write_text('{"width": 4}')
        ...     _ = save_checkpoint(f"{folder}/checkpoints/step_00000002.pt", model=nn.Linear(1, 1), step=2)
        ...     settings, checkpoint = read_run(folder, "expandnet")
        >>> settings, checkpoint.name
        ({'width': 4}, 'step_00000002.pt')
    """
    run = as_path(run_dir, "run_dir")
    settings_file, checkpoint = run / "settings.json", latest_checkpoint(run)
    if not settings_file.is_file() or checkpoint is None:
        raise MissingFileError(describe(f"a training run in {run} (settings.json and checkpoints/)", "no such run",
                                        f"Train one: python -m hdrlab train {method} --out DIR."))
    return read_settings(settings_file, method), checkpoint


def read_settings(file: str | os.PathLike, method: str) -> dict[str, Any]:
    """The settings a run's ``settings.json`` records, without ``torch_threads`` (how the run ran, not what it is).

    Args:
        file: the ``settings.json`` a ``train_<method>`` function wrote (:func:`write_settings`).
        method: the method's CLI name, used in the error's fix.

    Returns:
        The parsed, non-empty JSON object.

    Raises:
        FileFormatError: the file is empty, corrupt, not UTF-8, or not a non-empty JSON object.
        MissingFileError: no such file. DTypeError: ``file`` not a path.
    """
    file = as_path(file, "file")
    fix = f"Delete the run folder and train again: python -m hdrlab train {method} --out DIR."
    if not file.is_file():
        raise MissingFileError(describe(f"a settings file {file}", "no such file", fix))
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FileFormatError(describe(f"{file} holding a JSON object of settings", f"unreadable ({err})", fix)) from err
    if not isinstance(record, dict) or not record:
        raise FileFormatError(describe(f"{file} holding a JSON object of settings", f"{record!r}", fix))
    record.pop(THREADS_KEY, None)
    return record


#: Settings keys that may differ when a run is continued: its length and its logging/checkpoint cadences.
_LENGTH_KEY = re.compile(r"^(steps|epochs|meta_iterations)$|^steps_|_steps$|_every(_epochs)?$")
#: Recorded in every run's settings: the CPU thread count it (last) trained with; a run may continue at another.
THREADS_KEY = "torch_threads"


def write_settings(out_dir: str | os.PathLike, record: Mapping[str, Any], *, resume: bool | str = False,
                   overwrite: bool = False) -> Path:
    """Write a run's ``settings.json``, refusing to continue a run that was trained with other settings.

    A ``train_<method>`` function calls this before :func:`fit`. When the run in
    ``out_dir`` would be continued (``resume=True``, or ``"auto"`` with a checkpoint
    anywhere below ``out_dir``, and no ``overwrite``) and its saved settings differ
    from ``record``, nothing is written and the error names each difference. The
    run's length and cadences (``steps``, ``steps_*``, ``*_steps``, ``epochs``,
    ``meta_iterations``, ``*_every``, ``*_every_epochs``) may change: a run can be
    continued to more steps. ``torch_threads``, torch's CPU thread count now
    (:func:`hdrlab.env.pin_threads`), is added to the record: CPU results can change
    with it, so it is part of what a run was; it may change on continuing (another
    machine), and the file then holds the latest.

    Args:
        out_dir: the run folder (created when missing).
        record: the run's settings, JSON-serialisable.
        resume, overwrite: as given to :func:`fit`.

    Returns:
        The path of ``settings.json``.

    Raises:
        ChoiceError: the run would continue with other settings.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = write_settings(folder, {"lr": 0.001})
        ...     _ = save_checkpoint(f"{folder}/checkpoints/step_00000002.pt", model=nn.Linear(1, 1), step=2)
        ...     write_settings(folder, {"lr": 0.01}, resume="auto")
        Traceback (most recent call last):
        ...
        hdrlab.errors.ChoiceError: Expected the settings of the run in ... to continue it, got lr: 0.001 -> 0.01. ...
    """
    folder = Path(out_dir)
    path = folder / "settings.json"
    wanted = json.loads(json.dumps({**record, THREADS_KEY: torch.get_num_threads()}))
    continuing = not overwrite and (resume is True or (resume == "auto" and any(folder.glob("**/step_*.pt"))))
    if continuing and path.is_file():
        saved = json.loads(path.read_text())
        changed = [f"{key}: {saved.get(key)!r} -> {wanted.get(key)!r}" for key in sorted(set(saved) | set(wanted))
                   if saved.get(key) != wanted.get(key) and not _LENGTH_KEY.search(key) and key != THREADS_KEY]
        if changed:
            raise ChoiceError(describe(f"the settings of the run in {folder} to continue it", "; ".join(changed),
                                       "Train it again (FRESH = True in a notebook, overwrite=True in code) or "
                                       "train into another folder."))
    if is_main_process():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(wanted, indent=2) + "\n")
    return path


# ----------------------------------------------------------------------------- logging


def _format_row(row: Mapping[str, Any], steps: int, eta_s: float | None) -> str:
    values = "  ".join(f"{name} {value:.4g}" for name, value in row.items() if name not in _ROW_KEYS)
    if row["phase"] == "eval":
        return f"eval at step {row['step']}/{steps}  {values}"
    eta = "" if eta_s is None else f"  ETA {time.strftime('%H:%M:%S', time.gmtime(eta_s))}"
    return f"step {row['step']}/{steps}  {values}  lr {row['lr']:.3g}{eta}"


@dataclass
class _Log:
    """Where rows go: history (every rank), and on rank 0 metrics.csv, TensorBoard, progress, on_log."""

    mode: str  # "notebook", "tqdm", "text" or "none"
    steps: int
    start: int
    csv_path: Path | None
    writer: Any
    on_log: Callable[[dict], None] | None
    history: list[dict] = field(default_factory=list)
    clock: float = field(default_factory=time.perf_counter)
    bar: Any = None

    def __post_init__(self) -> None:
        if self.mode in ("tqdm", "notebook"):
            bar = notebook_tqdm if self.mode == "notebook" else tqdm
            self.bar = bar(total=self.steps, initial=self.start, dynamic_ncols=True, desc="training")

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def write(self, row: dict, main: bool) -> None:
        self.history.append(row)
        if not main:
            return
        if self.csv_path is not None:
            _append_metrics(self.csv_path, row)
        if self.writer is not None:
            for name, value in row.items():
                if name not in _ROW_KEYS or (name == "lr" and row["phase"] == "train"):
                    self.writer.add_scalar(f"{row['phase']}/{name}", value, row["step"])
        self._show(row)
        if self.on_log is not None:
            self.on_log(dict(row))

    def _show(self, row: dict) -> None:
        done = row["step"] - self.start
        eta = (self.steps - row["step"]) * (time.perf_counter() - self.clock) / done if done > 0 else None
        if self.mode == "text":
            print(_format_row(row, self.steps, eta), flush=True)
        elif self.bar is not None and row["phase"] == "train":
            self.bar.set_postfix_str(_format_row(row, self.steps, None).split("  ", 1)[1], refresh=True)
        elif self.bar is not None:
            self.bar.write(_format_row(row, self.steps, None))

    def note(self, text: str) -> None:
        """Print one line beside the progress (nothing when progress is ``"none"``)."""
        if self.bar is not None:
            self.bar.write(text)
        elif self.mode == "text":
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


def _make_row(step: int, phase: str, values: Mapping[str, float], lr: float, elapsed: float) -> dict:
    clash = sorted(set(values) & set(_ROW_KEYS))
    if clash:
        raise ChoiceError(describe(f"{phase} value names other than {_ROW_KEYS}", f"{clash}", "Rename them."))
    return {"step": step, "phase": phase, **values, "lr": lr, "elapsed_s": round(elapsed, 3)}


def _read_history(path: Path) -> list[dict]:
    """The rows of ``metrics.csv`` as :attr:`FitResult.history` rows (a resumed run's earlier rows)."""
    if not path.is_file():
        return []
    rows: dict[tuple[int, str], dict] = {}
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            row = rows.setdefault((int(record["step"]), record["phase"]),
                                  {"step": int(record["step"]), "phase": record["phase"]})
            row[record["name"]] = float(record["value"])
            row["lr"], row["elapsed_s"] = float(record["lr"]), float(record["elapsed_s"])
    return [{**{k: v for k, v in row.items() if k not in ("lr", "elapsed_s")}, "lr": row["lr"],
             "elapsed_s": row["elapsed_s"]} for row in rows.values()]


def _append_metrics(path: Path, row: Mapping[str, Any]) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(METRICS_COLUMNS)
        for name, value in row.items():
            if name not in _ROW_KEYS:
                writer.writerow([row["step"], row["phase"], name, repr(value), repr(row["lr"]), row["elapsed_s"]])


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop rows logged after ``step`` (by a run that stopped after its last checkpoint)."""
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(rows[0]) != METRICS_COLUMNS:
        raise FileFormatError(
            describe(f"metrics.csv with columns {METRICS_COLUMNS}", f"{path} with header {rows[:1]}",
                     "Move that file away; it was not written by hdrlab.train.")
        )
    text = io.StringIO(newline="")
    csv.writer(text).writerows([rows[0], *(row for row in rows[1:] if int(row[0]) <= step)])
    _atomic_write(path, lambda handle: handle.write(text.getvalue().encode()))


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class _Config:
    """The settings a run is defined by (saved in every checkpoint)."""

    steps: int
    batch_size: int
    seed: int
    shuffle: bool
    dataset_size: int
    world_size: int
    log_every: int
    eval_every: int | None
    checkpoint_every: int | None
    keep_checkpoints: int
    monitor: str
    monitor_source: str  # "train" (a train term, at each log) or "eval" (an eval metric, at each evaluation)
    clip_grad_norm: float | None
    amp: str  # the precision "auto" resolved to: "off", "bf16" or "fp16"
    channels_last: bool

    @property
    def per_epoch(self) -> int:
        return self.dataset_size // self.batch_size


@dataclass
class _Run:
    """State of one :func:`fit` call."""

    engine: _Engine
    config: _Config
    data: Dataset
    evaluate: Callable[[nn.Module], Mapping[str, float]] | None
    out_dir: Path | None
    rank: int
    num_workers: int
    planned_steps: int = 0  # the steps asked for (config.steps is fewer under HDRLAB_MAX_STEPS)
    log: _Log | None = None  # set once the start step is known (progress and TensorBoard need it)
    start: int = 0
    elapsed_before: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    window: dict[str, float] = field(default_factory=dict)
    window_count: int = 0
    evals: list[dict] = field(default_factory=list)
    last_eval: dict[str, float] | None = None
    checkpoint: Path | None = None

    def train(self) -> FitResult:
        batches, data_seconds = self._batches() if self.start < self.config.steps else (iter(()), 0.0)
        for step in range(self.start + 1, self.config.steps + 1):
            batch = _to_device(next(batches), self.engine.device, self.config.channels_last)
            if step == self.start + 1:
                self._announce_cost(batch, data_seconds)
            values = _train_step(self.engine, batch, step)
            if step == self.start + 1:
                self._check_monitor(values, "train")  # fail at once, not at the first log
            for name, value in values.items():
                self.window[name] = self.window.get(name, 0.0) + value
            self.window_count += 1
            self.log.advance()
            self._after_step(step)
        seconds = time.perf_counter() - self.started
        done = self.config.steps - self.start
        return FitResult(self.config.steps, self.log.history, self.evals, self.last_eval, self.checkpoint,
                         seconds, done * self.config.batch_size / seconds if done else 0.0)

    def _announce_cost(self, batch: Any, data_seconds: float) -> None:
        """Before the first step: measure one step (FLOPs, seconds) and say how long the training will take."""
        if self.rank != 0 or (self.log.mode == "none" and not estimate.recording()):
            return
        engine = self.engine
        try:
            cost = estimate.measure_step(engine.model, engine.step_fn, batch, device=engine.device,
                                         amp_dtype=engine.amp_dtype, data_seconds=data_seconds)
        except torch.OutOfMemoryError:
            self.log.note("no time estimate: one pass over the whole batch does not fit in memory at once")
            return
        left = self.planned_steps - self.start
        self.log.note(cost.describe(left))
        estimate.record("train", None if self.out_dir is None else str(self.out_dir), steps=left,
                        **asdict(cost))
        if self.planned_steps != self.config.steps:
            self.log.note(f"{MAX_STEPS_VARIABLE}={self.config.steps}: this run stops at step {self.config.steps} "
                          f"of its {self.planned_steps}")

    def _batches(self) -> tuple[Iterator[Any], float]:
        """The batches from the start step on, and the seconds loading one took (the second batch when there is
        one: the first also starts the loader and fills the scenes' caches)."""
        loader = self._loader()
        first = next(loader)
        if self.config.steps - self.start < 2:
            return itertools.chain([first], loader), 0.0
        loading = time.perf_counter()
        second = next(loader)
        return itertools.chain([first, second], loader), time.perf_counter() - loading

    def _loader(self) -> Iterator[Any]:
        cfg = self.config
        indices = _rank_batches(cfg.dataset_size, cfg.batch_size, cfg.seed, cfg.shuffle, self.start,
                                self.rank, cfg.world_size)
        generator = torch.Generator()  # worker seeds; keeps the global RNG untouched, so resume stays exact
        generator.manual_seed(cfg.seed + self.start)
        loader = DataLoader(self.data, batch_sampler=indices, num_workers=self.num_workers, collate_fn=default_collate,
                            pin_memory=self.engine.device.type == "cuda", generator=generator)
        return iter(loader)

    def _after_step(self, step: int) -> None:
        # Rows and evaluations off the log_every/eval_every grid (at the last step) are reported but do not feed
        # ReduceLROnPlateau nor close the log window, so where a run was split for a resume changes nothing.
        cfg, final = self.config, step == self.config.steps
        log_grid = step % cfg.log_every == 0
        if log_grid or final:
            self._log_train(step, on_grid=log_grid)
        eval_grid = cfg.eval_every is not None and step % cfg.eval_every == 0
        if self.evaluate is not None and (eval_grid or final):
            self._evaluate(step, on_grid=eval_grid)
        if self.out_dir is not None and (final or (cfg.checkpoint_every is not None and step % cfg.checkpoint_every == 0)):
            self._save(step)

    def _lr(self) -> float:
        return float(self.engine.optimizer.param_groups[0]["lr"])

    def _elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def _log_train(self, step: int, on_grid: bool) -> None:
        means = {name: total / self.window_count for name, total in self.window.items()}
        speed = (step - self.start) * self.config.batch_size / (time.perf_counter() - self.started)
        self.log.write(_make_row(step, "train", {**means, "samples_per_second": speed}, self._lr(), self._elapsed()),
                       self.rank == 0)
        if on_grid:
            self.window, self.window_count = {}, 0
            self._step_plateau(means, "train")

    def _evaluate(self, step: int, on_grid: bool) -> None:
        evaluate = functools.partial(_evaluate_on_main, self.evaluate, self.engine.model, self.rank,
                                     self.config.world_size)
        if estimate.recording() and not self.evals and self.rank == 0:
            metrics, flops, ops = estimate.count_flops(evaluate)
            cfg = self.config
            count = 1 if cfg.eval_every is None else -(-self.planned_steps // cfg.eval_every)
            estimate.record("eval", None if self.out_dir is None else str(self.out_dir), flops=flops, ops=ops,
                            evaluations=count)
        else:
            metrics = evaluate()
        self.evals.append({"step": step, **metrics})
        self.last_eval = metrics
        self.log.write(_make_row(step, "eval", metrics, self._lr(), self._elapsed()), self.rank == 0)
        self._check_monitor(metrics, "eval")
        if on_grid:
            self._step_plateau(metrics, "eval")

    def _step_plateau(self, values: Mapping[str, float], source: str) -> None:
        if _is_plateau(self.engine.scheduler) and self.config.monitor_source == source:
            self.engine.scheduler.step(values[self.config.monitor])

    def _check_monitor(self, values: Mapping[str, float], source: str) -> None:
        cfg = self.config
        if _is_plateau(self.engine.scheduler) and cfg.monitor_source == source and cfg.monitor not in values:
            hint = "" if source == "eval" else " (to monitor an evaluation metric, pass evaluate and eval_every)"
            raise ChoiceError(
                describe(f"monitor among the {source} values", f"{cfg.monitor!r} not in {sorted(values)}",
                         f"Pass one of those as monitor{hint}.")
            )

    def _save(self, step: int) -> None:
        rng = _gather_rng(self.config.world_size)
        folder = self.out_dir / "checkpoints"
        self.checkpoint = folder / f"step_{step:08d}.pt"
        if self.rank == 0:
            engine = self.engine
            save_checkpoint(self.checkpoint, model=engine.model, optimizer=engine.optimizer,
                            scheduler=engine.scheduler, scaler=engine.scaler, step=step,
                            extra=self._resume_state(step), rng=rng)
            stale = [file for file in _checkpoints(folder) if _step_of(file) != self.config.steps]
            for file in stale[: max(0, len(stale) - self.config.keep_checkpoints)]:
                file.with_suffix(".json").unlink()  # the sidecar first: a .pt without one is incomplete
                file.unlink()
        if self.config.world_size > 1:
            dist.barrier()

    def _resume_state(self, step: int) -> dict[str, Any]:
        epoch, offset = divmod(step, self.config.per_epoch)
        return {
            "epoch": epoch, "offset": offset, "micro_batches": self.engine.micro_batches,
            "elapsed_s": self._elapsed(), "window": {"count": self.window_count, "sums": self.window},
            "last_eval": self.last_eval, "config": asdict(self.config),
        }

    def resume(self) -> None:
        """Continue from the newest checkpoint in out_dir (exact: weights, optimizer, schedule, RNG, data position)."""
        file = latest_checkpoint(self.out_dir)
        if file is None:
            raise MissingFileError(
                describe(f"a checkpoint in {self.out_dir / 'checkpoints'} to resume from",
                         "no complete step_XXXXXXXX.pt with its .json there",
                         "Run fit once with resume=False (it saves at the end, and every checkpoint_every steps), "
                         "or point out_dir at the earlier run's folder.")
            )
        payload = _read_checkpoint(file)
        meta = payload["meta"]
        _check_fingerprint(meta, self.engine.model, file)
        _check_resumable(meta, self.config, file)
        engine = self.engine
        _apply_checkpoint(payload, engine.model, engine.optimizer, engine.scheduler, engine.scaler, file)
        self._restore_rng(payload["rng"])
        self.start, self.elapsed_before = meta["step"], meta["elapsed_s"]
        self.window, self.window_count = dict(meta["window"]["sums"]), meta["window"]["count"]
        engine.micro_batches = min(max(engine.micro_batches, meta["micro_batches"]), engine.local_batch)
        self.last_eval = meta["last_eval"]
        if self.rank == 0:
            _truncate_metrics(self.out_dir / "metrics.csv", self.start)
        self.checkpoint = file

    def _restore_rng(self, states: list[dict]) -> None:
        if self.rank < len(states):
            _set_rng_state(states[self.rank])
            return
        env.seed_everything(self.config.seed + self.rank + self.start)
        print(f"Rank {self.rank}: the checkpoint holds RNG states of {len(states)} processes; "
              f"this rank's RNG is seeded with seed + rank + step instead.", flush=True)


def _check_resumable(meta: Mapping[str, Any], config: _Config, file: Path) -> None:
    if "config" not in meta:
        raise FileFormatError(
            describe("a checkpoint written by fit (with its run state)", f"{file.name} from save_checkpoint",
                     "Load it with load_checkpoint or load_weights and start a fresh run.")
        )
    saved = meta["config"]
    changed = [f"{key}={saved[key]!r} (now {getattr(config, key)!r})"
               for key in _RESUME_KEYS if saved[key] != getattr(config, key)]
    if changed:
        raise ChoiceError(
            describe(f"the data settings and precision of {file.name}", "changed " + ", ".join(changed),
                     "Resume with the same batch_size, seed, shuffle, dataset and amp (pass the saved precision "
                     "by name where 'auto' resolves otherwise on this machine), or start a new out_dir.")
        )
    if meta["step"] > config.steps:
        raise RangeError(
            describe(f"steps >= {meta['step']} (the step of {file.name})", f"steps={config.steps}",
                     "Pass the total number of steps to reach; load_weights loads the weights alone.")
        )


def _gather_rng(world_size: int) -> list[dict]:
    state = _rng_state()
    if world_size == 1:
        return [state]
    gathered: list[Any] = [None] * world_size
    dist.all_gather_object(gathered, state)
    return gathered


def _prepare_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Remove temporary and incomplete checkpoint files; refuse to mix a fresh run into an old one."""
    folder = out_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for file in folder.glob("*.tmp.*"):
        file.unlink()
    for file in _checkpoints(folder):
        if not file.with_suffix(".json").is_file():
            file.unlink()
    if resume:
        return
    complete = _checkpoints(folder)
    if complete and not overwrite:
        raise ChoiceError(
            describe("an out_dir without checkpoints for a fresh run", f"{len(complete)} in {folder}",
                     "Pass resume=True to continue that run, overwrite=True to start it again, or a new out_dir.")
        )
    for file in complete:
        file.with_suffix(".json").unlink()
        file.unlink()
    (out_dir / "metrics.csv").unlink(missing_ok=True)
    shutil.rmtree(out_dir / "tensorboard", ignore_errors=True)


# ----------------------------------------------------------------------------- fit


def _capped_steps(steps: int) -> int:
    """``steps``, or fewer when ``HDRLAB_MAX_STEPS`` (a positive integer) is set."""
    cap = os.environ.get(MAX_STEPS_VARIABLE, "").strip()
    if not cap:
        return steps
    if not cap.isdigit() or int(cap) < 1:
        raise ChoiceError(describe(f"{MAX_STEPS_VARIABLE} as a positive integer", repr(cap),
                                   "Unset it, or set it to e.g. 2 for a smoke test of a profile."))
    return min(steps, int(cap))


def fit(model: nn.Module, data: Dataset, step: Callable[[nn.Module, Any], torch.Tensor | Mapping[str, torch.Tensor]],
        *, steps: int, batch_size: int,
        optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
        scheduler: Callable[[torch.optim.Optimizer], Any] | None = None, monitor: str = "loss",
        evaluate: Callable[[nn.Module], Mapping[str, float]] | None = None, eval_every: int | None = None,
        out_dir: str | os.PathLike | None = None, checkpoint_every: int | None = None, resume: bool | str = False,
        device: str | torch.device = "auto", amp: str = "auto", channels_last: bool = False,
        clip_grad_norm: float | None = None, seed: int = 0, num_workers: int = 0, shuffle: bool = True,
        log_every: int = 10, progress: str = "auto", tensorboard: bool = False,
        on_log: Callable[[dict], None] | None = None, keep_checkpoints: int = 3, micro_batches: int = 1,
        overwrite: bool = False) -> FitResult:
    """Train ``model`` for ``steps`` optimizer steps of ``step(model, batch)`` over ``data``.

    Each step draws one global batch of ``batch_size`` samples (see the module
    docstring for the order), moves it to the device, calls ``step`` under autocast
    when AMP is on, back-propagates ``"loss"``, clips, and steps the optimizer and the
    schedule. ``ReduceLROnPlateau`` is stepped with ``monitor``: ``"loss"`` (or another
    train term) is its mean over each ``log_every`` window; any other name with
    ``evaluate`` and ``eval_every`` is an evaluation metric, fed at each evaluation.
    A NaN/inf loss term stops the run with :class:`~hdrlab.errors.NonFiniteLossError`.
    Before the first step (unless ``progress="none"``) it measures one step on a copy
    of the model (:func:`hdrlab.estimate.measure_step`: FLOPs and seconds, RNG states
    restored, so the run is unchanged) and prints ``training N steps: about M min on
    this device ...``. ``HDRLAB_MAX_STEPS`` (a positive integer) caps ``steps``, saying
    so: a smoke test of a large profile on a small machine.
    On CUDA out-of-memory the batch is split into twice as many micro-batches whose
    gradients are accumulated (same optimizer step), with a printed notice.

    Launched by ``torchrun`` (``WORLD_SIZE > 1``) it initialises the process group if
    needed (gloo on CPU, nccl on CUDA with ``cuda:LOCAL_RANK``), wraps the model in
    DDP (``step`` gets the wrapper, ``evaluate`` the module), gives each rank its
    ``batch_size / world_size`` share of every global batch, and lets only rank 0
    write files, print and evaluate (its metrics are broadcast). It destroys the
    process group it created. ``out_dir`` must be shared by all ranks to resume.

    Args:
        model: the module to train (moved to the device; trained in place).
        data: a map-style dataset; samples are tensors, dicts/tuples of tensors and
            strings, collated by ``default_collate``.
        step: ``step(model, batch) -> loss`` (a scalar tensor) or a dict of scalar
            tensors with key ``"loss"``; the other terms are logged. ``batch`` is already
            on the device; the step only computes the loss (means over the batch).
        steps: total optimizer steps to reach (also after a resume), >= 1.
        batch_size: global batch size, >= 1 and divisible by the number of processes.
        optimizer: factory taking the parameters, e.g. ``functools.partial(torch.optim.Adam, lr=1e-3)``.
        scheduler: factory taking the optimizer, e.g. ``functools.partial(StepLR, step_size=100)``;
            stepped every optimizer step (``ReduceLROnPlateau``: see above).
        monitor: the value ``ReduceLROnPlateau`` watches.
        evaluate: ``evaluate(model) -> {name: number}``, called in eval mode under
            ``torch.no_grad()`` every ``eval_every`` steps and at the end (each module's
            train/eval mode is restored afterwards).
        eval_every: steps between evaluations (None: only at the end).
        out_dir: folder for ``metrics.csv``, ``checkpoints/`` and ``tensorboard/``
            (None: nothing is written).
        checkpoint_every: steps between checkpoints (a final one is always written).
        resume: ``True``: continue exactly from the newest checkpoint in ``out_dir``;
            ``"auto"``: do so when there is one (a finished run is then loaded, with nothing
            left to train) and start otherwise, unless ``overwrite`` (what notebooks use, so a
            re-run keeps its work); ``False``: start.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or a ``torch.device``.
        amp: ``"auto"`` (bf16 on CUDA when supported, else fp16; off on the CPU), ``"off"``,
            ``"bf16"`` or ``"fp16"`` (autocast with a GradScaler, whose state is checkpointed). Both
            also run on the CPU, where fp16 is slow and serves to test the fp16 recipe. A resume
            must resolve to the same precision as the run it continues.
        channels_last: convert the model and 4-D batch tensors to channels-last memory.
        clip_grad_norm: max total gradient norm (None: no clipping); logs ``grad_norm``.
        seed: seeds the data order and, on a fresh start, ``seed_everything(seed + rank)``.
        num_workers: DataLoader worker processes (randomness inside workers is not resumed).
        shuffle: shuffle each epoch (else the dataset order).
        log_every: steps between train log rows (one more at the last step).
        progress: ``"auto"`` (the value of ``HDRLAB_PROGRESS`` when set, else a tqdm.auto
            widget bar in a Jupyter kernel, a tqdm bar on a terminal, plain lines otherwise),
            ``"notebook"``, ``"tqdm"``, ``"text"`` (a plain line per log: what the course
            runner and the grader set for headless runs) or ``"none"``.
        tensorboard: also write TensorBoard scalars (needs the tensorboard package).
        on_log: called on rank 0 with each row dict (train and eval), e.g. to plot.
        keep_checkpoints: how many checkpoints to keep besides the final one, >= 1.
        micro_batches: split each rank's batch into this many gradient-accumulation parts.
        overwrite: start again in an ``out_dir`` that holds checkpoints (deletes them).

    Returns:
        A :class:`FitResult`.

    Raises:
        DTypeError: wrong argument types; ``step``/``evaluate`` returned the wrong type.
        RangeError: counts out of range; batch_size not divisible by the world size;
            a dataset smaller than one batch; steps below a resumed checkpoint's step.
        ChoiceError: unknown amp/progress/device; options that need out_dir without it; a
            fresh run into a folder with checkpoints; an unknown monitor; tensorboard missing;
            a resumed run with other data settings or another precision (amp); resuming fp16
            from a checkpoint without GradScaler state.
        MissingFileError: resume=True but no checkpoint in out_dir.
        ShapeError: a non-scalar loss term; a checkpoint from a different model.
        NonFiniteLossError: a loss term became NaN/inf (names the step and the terms).
        torch.OutOfMemoryError: out of memory even with one-sample micro-batches, or in a
            distributed run.

    Example:
        >>> import functools
        >>> x = torch.linspace(-1, 1, 32).unsqueeze(1)
        >>> data = torch.utils.data.TensorDataset(x, 3 * x + 1)
        >>> model = nn.Linear(1, 1)
        >>> result = fit(model, data, lambda net, batch: nn.functional.mse_loss(net(batch[0]), batch[1]),
        ...              steps=300, batch_size=8, optimizer=functools.partial(torch.optim.SGD, lr=0.1),
        ...              device="cpu", progress="none")
        >>> result.step, round(model.weight.item(), 2), round(model.bias.item(), 2)
        (300, 3.0, 1.0)

    Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb,
    notebooks/04_differentiable_recursion.ipynb, notebooks/05_hybrid_autoencoder.ipynb
    """
    rank, world_size, local_rank = distributed_info()
    if not isinstance(model, nn.Module):
        raise DTypeError(describe("model to be a torch.nn.Module", type(model).__name__, "Pass the network itself."))
    _check_callable(step, "step", "lambda model, batch: loss")
    _check_callable(optimizer, "optimizer", "functools.partial(torch.optim.Adam, lr=1e-3)")
    for name, value in (("scheduler", scheduler), ("evaluate", evaluate), ("on_log", on_log)):
        if value is not None:
            _check_callable(value, name, "a function")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("log_every", log_every),
                        ("keep_checkpoints", keep_checkpoints), ("micro_batches", micro_batches)):
        _check_count(value, name)
    for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            _check_count(value, name)
    _check_count(seed, "seed", minimum=0)
    _check_count(num_workers, "num_workers", minimum=0)
    if clip_grad_norm is not None:
        check_positive(clip_grad_norm, "clip_grad_norm")
    if not isinstance(monitor, str):
        raise DTypeError(describe("monitor as a metric name", type(monitor).__name__, "Pass e.g. monitor='loss'."))
    if batch_size % world_size:
        raise RangeError(
            describe(f"batch_size divisible by the {world_size} processes", f"batch_size={batch_size}",
                     f"Use a multiple of {world_size}; each process takes batch_size / {world_size} samples.")
        )
    size = _check_dataset(data, batch_size)
    _check_outputs(out_dir, checkpoint_every, resume, overwrite, tensorboard)
    planned, steps = steps, _capped_steps(steps)
    progress_mode = _resolve_progress(progress)
    resume = _resolve_resume(resume, overwrite, None if out_dir is None else Path(out_dir))
    chosen = _fit_device(device, world_size, local_rank)
    amp_dtype = _resolve_amp(amp, chosen)

    config = _Config(
        steps=steps, batch_size=batch_size, seed=seed, shuffle=bool(shuffle), dataset_size=size,
        world_size=world_size, log_every=log_every, eval_every=eval_every, checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints, monitor=monitor,
        monitor_source="eval" if monitor != "loss" and evaluate is not None and eval_every is not None else "train",
        clip_grad_norm=None if clip_grad_norm is None else float(clip_grad_norm), amp=_PRECISIONS[amp_dtype],
        channels_last=bool(channels_last),
    )
    created = _init_process_group(chosen, world_size)
    try:
        engine = _build_engine(model, step, optimizer, scheduler, config, chosen, amp_dtype, micro_batches)
        folder = None if out_dir is None else Path(out_dir)
        run = _open_run(engine, config, data, evaluate, folder, resume, overwrite, num_workers, rank)
        run.planned_steps = planned
        writer = None
        if tensorboard and rank == 0:
            writer = _summary_writer_class()(str(folder / "tensorboard"), purge_step=run.start + 1 if resume else None)
        metrics_csv = None if folder is None else folder / "metrics.csv"
        run.log = _Log(progress_mode if rank == 0 else "none", steps, run.start, metrics_csv, writer, on_log,
                       history=_read_history(metrics_csv) if resume else [])
        if resume and rank == 0 and progress_mode != "none":
            done = "loaded the finished run" if run.start >= steps else f"resuming from step {run.start} of {steps}"
            print(f"{folder}: {done} (same settings; FRESH = True in a notebook, or a new folder, trains again)",
                  flush=True)
        try:
            result = run.train()
        finally:
            run.log.close()
        estimate.record("fit", None if folder is None else str(folder), seconds=time.perf_counter() - run.started)
        return result
    finally:
        if created:
            dist.destroy_process_group()


def _build_engine(model: nn.Module, step: Callable, optimizer: Callable, scheduler: Callable | None, config: _Config,
                  device: torch.device, amp_dtype: torch.dtype | None, micro_batches: int) -> _Engine:
    """Move the model, wrap it in DDP for distributed runs, and build its optimizer, schedule and GradScaler."""
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    net = model
    if config.world_size > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    built_optimizer = optimizer(model.parameters())
    if not isinstance(built_optimizer, torch.optim.Optimizer):
        raise DTypeError(describe("optimizer() to build a torch.optim.Optimizer", type(built_optimizer).__name__,
                                  "Pass e.g. functools.partial(torch.optim.Adam, lr=1e-3)."))
    built_scheduler = None if scheduler is None else scheduler(built_optimizer)
    local = config.batch_size // config.world_size
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    return _Engine(model, net, step, built_optimizer, built_scheduler, scaler, device, amp_dtype,
                   config.clip_grad_norm, local, min(micro_batches, local), config.world_size)


def _open_run(engine: _Engine, config: _Config, data: Dataset, evaluate: Callable | None, folder: Path | None,
              resume: bool, overwrite: bool, num_workers: int, rank: int) -> _Run:
    """Prepare out_dir (rank 0), then resume from its newest checkpoint or seed a fresh start."""
    if folder is not None and rank == 0:
        _prepare_out_dir(folder, resume, overwrite)
    if config.world_size > 1:
        dist.barrier()
    run = _Run(engine, config, data, evaluate, folder, rank, num_workers)
    if resume:
        run.resume()
    else:
        env.seed_everything(config.seed + rank)
    return run
