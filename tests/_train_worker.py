"""Shared tiny model, data and step for tests/test_train.py, and the two runs it starts in other processes.

``python -m torch.distributed.run --nproc_per_node 2 --standalone tests/_train_worker.py ddp OUT``
trains with two gloo processes; ``python tests/_train_worker.py kill OUT`` trains until it dies
(``os._exit(17)``) between writing the second checkpoint and renaming it into place.
"""

from __future__ import annotations

import functools
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

import hdrlab  # noqa: F401  (environment shims before anything else imports torchvision)
from hdrlab import train

KILLED_EXIT_CODE = 17


class Pairs(torch.utils.data.Dataset):
    """``n`` samples ``{"x": (4,), "y": (2,), "name": "sNN"}`` of a fixed noisy linear map."""

    def __init__(self, n: int = 20) -> None:
        generator = torch.Generator().manual_seed(1234)
        self.x = torch.randn(n, 4, generator=generator)
        self.y = self.x @ torch.randn(4, 2, generator=generator) + 0.1 * torch.randn(n, 2, generator=generator)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict:
        return {"x": self.x[index], "y": self.y[index], "name": f"s{index:02d}"}


def make_model(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, 2))


def step(model: nn.Module, batch: dict) -> dict:
    prediction = model(batch["x"])
    return {"loss": nn.functional.mse_loss(prediction, batch["y"]), "l1": (prediction - batch["y"]).abs().mean()}


def noisy_step(model: nn.Module, batch: dict) -> dict:
    """Uses the NumPy and Python RNGs too, so an exact resume must restore them."""
    noise = torch.from_numpy(np.random.normal(size=tuple(batch["x"].shape)).astype(np.float32))
    jitter = 0.01 * noise + 0.01 * random.random()
    return step(model, {**batch, "x": batch["x"] + jitter})


class NameRecorder:
    """A step that records the sample names each call saw (per process), then calls :func:`step`."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def __call__(self, model: nn.Module, batch: dict) -> dict:
        self.seen.append(list(batch["name"]))
        return step(model, batch)


def ddp_settings(out_dir: Path) -> dict:
    """fit keywords of the single- vs two-process comparison: Adam, a plateau schedule on an eval metric,
    and two micro-batches per rank (DDP synchronises only the last one's gradients)."""

    def evaluate(model: nn.Module) -> dict:
        (out_dir / f"evaluated_by_rank{train.distributed_info()[0]}").touch()
        return {"val": 1.0}  # never improves, so the plateau schedule halves the lr at every evaluation but the first

    return {
        "steps": 6, "batch_size": 8, "optimizer": functools.partial(torch.optim.Adam, lr=1e-2),
        "scheduler": functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, factor=0.5, patience=0),
        "monitor": "val", "evaluate": evaluate, "eval_every": 2, "log_every": 2, "out_dir": out_dir,
        "device": "cpu", "amp": "off", "progress": "none", "seed": 3, "micro_batches": 2,
    }


def kill_settings(out_dir: Path) -> dict:
    return {
        "steps": 6, "batch_size": 4, "optimizer": functools.partial(torch.optim.Adam, lr=1e-2),
        "checkpoint_every": 2, "log_every": 1, "out_dir": out_dir, "device": "cpu", "amp": "off",
        "progress": "none", "seed": 5,
    }


def run_ddp(out_dir: Path) -> None:
    recorder = NameRecorder()
    train.fit(make_model(), Pairs(), recorder, **ddp_settings(out_dir))
    rank = train.distributed_info()[0]
    (out_dir / f"names_rank{rank}.json").write_text(json.dumps(recorder.seen))


def run_until_killed(out_dir: Path) -> None:
    real_replace = os.replace

    def replace(source, target):
        if Path(target).name == "step_00000004.pt":
            os._exit(KILLED_EXIT_CODE)
        return real_replace(source, target)

    os.replace = replace
    train.fit(make_model(), Pairs(), step, **kill_settings(out_dir))


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    {"ddp": run_ddp, "kill": run_until_killed}[mode](folder)
