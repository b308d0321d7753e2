"""How long each chapter's ``gpu`` profile takes on one free-tier Colab GPU (a T4), estimated on a CPU.

Every chapter notebook is copied into a temporary folder and run there by the
course runner with ``PROFILE="gpu"``, ``HDRLAB_MAX_STEPS`` (default 2: each
training runs two steps) and ``HDRLAB_ESTIMATES``, so every training records its
measured cost (:mod:`hdrlab.estimate`). Per chapter it sums:

- ``train``: each training's full steps x a step's time on a T4
  (:func:`hdrlab.estimate.t4_step_seconds`: its FLOPs at the assumed throughput, at
  least the assumed launch time per operation, plus the batch loading time measured here);
- ``eval``: each training's evaluations x one evaluation's time on a T4, the same way;
- ``other``: the notebook's wall time here minus the time spent inside the
  trainings: the cells around them, measured on this CPU (an upper bound for the
  same cells on a GPU machine, whose CPU is no faster).

The estimate is ``train + eval + other`` in minutes. It rests on the assumed
:data:`hdrlab.estimate.T4_SUSTAINED_FLOPS` and :data:`hdrlab.estimate.T4_SECONDS_PER_OP`,
so it is an estimate until a GPU measures it. A chapter whose run fails prints its error and no estimate. The last
line is machine-readable:

    gpu_minutes 00=<min> 01=<min> ... max=<min> limit=15

Usage: python benchmarks/gpu_profile_estimates.py [--only 02,03] [--max-steps 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from hdrlab.course import run
from hdrlab.course.notebook import TEACHER_DIR
from hdrlab.estimate import ESTIMATES_VARIABLE, t4_step_seconds
from hdrlab.train import MAX_STEPS_VARIABLE

#: Minutes a chapter's gpu profile may take on one free Colab GPU (DESIGN §3).
LIMIT_MINUTES = 15


def chapter_minutes(records: list[dict], wall_s: float) -> dict[str, float]:
    """Sum one notebook's estimate records into minutes on a T4: train, eval, other and total.

    Args:
        records: the JSON lines :func:`hdrlab.estimate.record` wrote during the notebook's run.
        wall_s: the notebook's wall time on this machine, seconds.

    Returns:
        ``{"train": .., "eval": .., "other": .., "total": ..}`` in minutes.

    Example:
        >>> rows = [{"kind": "train", "steps": 600, "flops": 4e11, "ops": 100, "data_seconds": 0.01},
        ...         {"kind": "eval", "flops": 2.4e13, "ops": 100, "evaluations": 2}, {"kind": "fit", "seconds": 30.0}]
        >>> {k: round(v, 2) for k, v in chapter_minutes(rows, 90.0).items()}
        {'train': 1.1, 'eval': 0.2, 'other': 1.0, 'total': 2.3}
    """
    minutes: dict[str, float] = defaultdict(float)
    inside_fits = 0.0
    for row in records:
        if row["kind"] == "train":
            minutes["train"] += row["steps"] * t4_step_seconds(row["flops"], row["ops"], row["data_seconds"]) / 60
        elif row["kind"] == "eval":
            minutes["eval"] += row["evaluations"] * t4_step_seconds(row["flops"], row["ops"], 0.0) / 60
        elif row["kind"] == "fit":
            inside_fits += row["seconds"]
    minutes["other"] = max(0.0, wall_s - inside_fits) / 60
    minutes["total"] = minutes["train"] + minutes["eval"] + minutes["other"]
    return {name: minutes[name] for name in ("train", "eval", "other", "total")}


def estimate_chapter(notebook: Path, work: Path, max_steps: int) -> tuple[dict[str, float] | None, str]:
    """Run one notebook capped in ``work`` and return its minutes (None and the error when it failed)."""
    log = work / f"{notebook.stem}.jsonl"
    saved = {name: os.environ.get(name) for name in (MAX_STEPS_VARIABLE, ESTIMATES_VARIABLE)}
    os.environ[MAX_STEPS_VARIABLE], os.environ[ESTIMATES_VARIABLE] = str(max_steps), str(log)
    try:
        result = run.run_notebook(notebook, work / "executed", profile="gpu", edition="teacher")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if result.status != "ok":
        return None, result.error
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return chapter_minutes(records, result.wall_s), ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated chapter numbers, e.g. 02,03 (default: all)")
    parser.add_argument("--max-steps", type=int, default=2,
                        help="steps each training runs here (default 2: the second batch times the data loading)")
    parser.add_argument("--out", default=None, help="keep the executed notebooks and logs here")
    args = parser.parse_args()
    only = [part.strip() for part in args.only.split(",") if part.strip()] or None
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="hdrlab-gpu-estimates-"))
    copies = work / "notebooks"
    shutil.copytree(TEACHER_DIR, copies, dirs_exist_ok=True, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
    found: dict[str, float] = {}
    for notebook in run.find_notebooks(copies, only):
        minutes, error = estimate_chapter(notebook, work, args.max_steps)
        number = notebook.name[:2]
        if minutes is None:
            print(f"{number} FAILED: {error}", flush=True)
            continue
        found[number] = minutes["total"]
        parts = " ".join(f"{name}={value:.1f}" for name, value in minutes.items())
        print(f"{number} {parts} (minutes on a T4)", flush=True)
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)
    chapters = " ".join(f"{number}={value:.1f}" for number, value in found.items())
    worst = max(found.values(), default=float("nan"))
    print(f"gpu_minutes {chapters} max={worst:.1f} limit={LIMIT_MINUTES}")


if __name__ == "__main__":
    main()
