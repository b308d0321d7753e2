"""What a training run will cost, said before it starts.

:func:`hdrlab.train.fit` calls :func:`measure_step` on the first batch of every
training: one forward and backward pass on a copy of the model under
``torch.utils.flop_counter.FlopCounterMode`` counts the floating-point operations
of a step, and a second, uncounted pass times it on this device (the counter's
own overhead would inflate the time). The training's RNG states are restored
afterwards, so measuring changes nothing in the run. :meth:`StepCost.describe`
turns the numbers into the line a learner reads before the progress bar starts:
``about N min on this device`` and the same training on a free-tier Colab GPU.

The Colab figure rests on two stated assumptions (not measurements): FLOPs run
at :data:`T4_SUSTAINED_FLOPS` (an NVIDIA T4 peaks at 8.1 TFLOP/s in float32 and
65 TFLOP/s in float16 on its tensor cores; the course's networks are small and
memory-bound, so it assumes 4 TFLOP/s sustained), and every tensor operation of
the step (counted by a dispatch mode during the same pass) costs at least
:data:`T4_SECONDS_PER_OP` of Python dispatch and kernel launch on Colab's CPU,
which dominates for small networks. Loading a batch runs on the CPU on both
machines, so its time measured here is added as it is.

Set ``HDRLAB_ESTIMATES`` to a file path and :func:`record` appends every
training's measurement (and its evaluations' FLOPs) to it as JSON lines: what
``benchmarks/gpu_profile_estimates.py`` sums per chapter.

Example:
    >>> cost = StepCost(flops=2e9, step_seconds=0.1, data_seconds=0.02, device="cpu")
    >>> cost.describe(600)
    'training 600 steps: about 1.2 min on this device (cpu: 2.0 GFLOP and 0.12 s a step, data included); on a Colab T4 about 12 s'

Taught in: every training cell of notebooks 02-05 prints its line.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["T4_SUSTAINED_FLOPS", "T4_SECONDS_PER_OP", "ESTIMATES_VARIABLE", "t4_step_seconds", "StepCost", "measure_step", "count_flops", "record", "recording",
           "duration"]

#: Sustained FLOP/s assumed for one free-tier Colab GPU (NVIDIA T4); see the module docstring.
T4_SUSTAINED_FLOPS = 4.0e12
#: Seconds of dispatch and kernel launch assumed per tensor operation on a Colab GPU machine.
T4_SECONDS_PER_OP = 20e-6
#: Environment variable naming a JSON-lines file that collects every measured :class:`StepCost`.
ESTIMATES_VARIABLE = "HDRLAB_ESTIMATES"


@dataclass(frozen=True)
class StepCost:
    """The measured cost of one optimizer step of a training.

    Attributes:
        flops: floating-point operations of one forward and backward pass over the
            whole batch (FlopCounterMode's count: convolutions, matmuls and the like).
        step_seconds: wall time of that pass on this device, >= 0.
        data_seconds: wall time of loading and collating one batch, >= 0.
        device: the device it was measured on, e.g. ``"cpu"`` or ``"cuda:0"``.
        ops: tensor operations dispatched by that pass (each is a kernel launch on a GPU).
    """

    flops: float
    step_seconds: float
    data_seconds: float
    device: str
    ops: int = 0

    def minutes(self, steps: int) -> float:
        """Minutes ``steps`` steps take on the measured device (evaluations not included)."""
        return steps * (self.step_seconds + self.data_seconds) / 60

    def t4_minutes(self, steps: int) -> float:
        """Minutes ``steps`` steps take on a Colab T4 (see the module docstring), data loading as measured."""
        return steps * t4_step_seconds(self.flops, self.ops, self.data_seconds) / 60

    def describe(self, steps: int) -> str:
        """The line printed before a training of ``steps`` steps (see the module example)."""
        return (f"training {steps} steps: about {duration(self.minutes(steps))} on this device ({self.device}: "
                f"{self.flops / 1e9:.1f} GFLOP and {self.step_seconds + self.data_seconds:.2f} s a step, data "
                f"included); on a Colab T4 about {duration(self.t4_minutes(steps))}")


def t4_step_seconds(flops: float, ops: int, data_seconds: float) -> float:
    """Seconds of one step on a Colab T4: FLOPs at :data:`T4_SUSTAINED_FLOPS`, at least
    :data:`T4_SECONDS_PER_OP` per operation, plus loading the batch.

    Example:
        >>> t4_step_seconds(4e12, 1000, 0.5), t4_step_seconds(4e9, 1000, 0.0)
        (1.5, 0.02)
    """
    return max(flops / T4_SUSTAINED_FLOPS, ops * T4_SECONDS_PER_OP) + data_seconds


class _OpCounter(TorchDispatchMode):
    """Counts the tensor operations dispatched while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def duration(minutes: float) -> str:
    """A rounded duration for people: ``"40 s"``, ``"1.2 min"``, ``"25 min"``, ``"3.5 h"``, ``"2.1 days"``.

    Example:
        >>> [duration(m) for m in (0.2, 1.23, 25.4, 210, 3000)]
        ['12 s', '1.2 min', '25 min', '3.5 h', '2.1 days']
    """
    if minutes < 1:
        return f"{max(1, round(minutes * 60))} s"
    if minutes < 10:
        return f"{minutes:.1f} min"
    if minutes < 120:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def _forward_backward(model: nn.Module, step: Callable[[nn.Module, Any], Any], batch: Any, device: torch.device,
                      amp_dtype: torch.dtype | None) -> None:
    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        terms = step(model, batch)
    loss = terms["loss"] if isinstance(terms, Mapping) else terms
    loss.backward()


def _timed(model: nn.Module, step: Callable, batch: Any, device: torch.device, amp_dtype: torch.dtype | None) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    _forward_backward(model, step, batch, device, amp_dtype)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def measure_step(model: nn.Module, step: Callable[[nn.Module, Any], Any], batch: Any, *, device: torch.device,
                 amp_dtype: torch.dtype | None = None, data_seconds: float = 0.0) -> StepCost:
    """Count and time one forward and backward pass of ``step`` on copies of ``model``.

    The model itself, its gradients and every RNG state are left as they were.
    The caller's ``step`` must already work on ``batch`` (it is the training step).

    Args:
        model: the module being trained, already on ``device`` (copied, never changed).
        step: ``step(model, batch) -> loss`` or a dict with key ``"loss"``.
        batch: one batch, already on ``device``.
        device: where the model lives.
        amp_dtype: the autocast dtype of the training (None: full precision).
        data_seconds: how long loading this batch took, >= 0.

    Returns:
        The :class:`StepCost`.

    Raises:
        torch.OutOfMemoryError: one pass over the whole batch does not fit (the
            engine then splits batches; the caller says the estimate is skipped).
    """
    from hdrlab.train import _rng_state, _set_rng_state  # the engine's RNG snapshot, so the run stays exact

    state = _rng_state()
    try:
        counted = copy.deepcopy(model)
        with FlopCounterMode(display=False) as counter, _OpCounter() as ops:
            _forward_backward(counted, step, batch, device, amp_dtype)
        del counted
        _set_rng_state(state)
        seconds = _timed(copy.deepcopy(model), step, batch, device, amp_dtype)
    finally:
        _set_rng_state(state)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return StepCost(float(counter.get_total_flops()), seconds, data_seconds, str(device), ops.count)


def recording() -> bool:
    """True when ``HDRLAB_ESTIMATES`` names a file to :func:`record` into."""
    return bool(os.environ.get(ESTIMATES_VARIABLE, "").strip())


def count_flops(work: Callable[[], Any]) -> tuple[Any, float, int]:
    """Run ``work()`` under FlopCounterMode; return its result, the FLOPs and the tensor operations it took."""
    with FlopCounterMode(display=False) as counter, _OpCounter() as ops:
        result = work()
    return result, float(counter.get_total_flops()), ops.count


def record(kind: str, run: str | None, **values: Any) -> None:
    """Append one JSON line ``{"kind": kind, "run": run, **values}`` to ``HDRLAB_ESTIMATES`` (no-op when unset).

    Args:
        kind: ``"train"`` (values: the :class:`StepCost` fields and ``steps``),
            ``"eval"`` (``flops`` and ``ops`` of one evaluation, ``evaluations`` in the run) or
            ``"fit"`` (``seconds`` the whole call took here).
        run: the training's ``out_dir`` (None when it writes nothing).
        **values: JSON-serialisable numbers and strings.
    """
    if recording():
        path = Path(os.environ[ESTIMATES_VARIABLE].strip())
        with open(path, "a") as handle:
            handle.write(json.dumps({"kind": kind, "run": run, **values}) + "\n")
