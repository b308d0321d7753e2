"""Every chapter's ``gpu`` profile runs (cut to two steps a training) and its estimate fits one Colab GPU.

Each notebook is copied to a temporary folder and run by the course runner with ``PROFILE="gpu"``
and ``HDRLAB_MAX_STEPS=2``, through ``benchmarks/gpu_profile_estimates.py`` (the script whose numbers
fill the README's ``gpu`` column), so the profile cannot rot: a setting that breaks a notebook at gpu
scale, or a chapter whose estimate on a T4 grows past 15 minutes, fails here.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from hdrlab.course import run

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("gpu_profile_estimates", ROOT / "benchmarks" / "gpu_profile_estimates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


estimates = _script()
CHAPTERS = [path.name for path in run.find_notebooks()]


@pytest.mark.parametrize("name", CHAPTERS)
def test_gpu_profile_runs_and_fits_a_colab_gpu(name, tmp_path):
    copies = tmp_path / "notebooks"
    copies.mkdir()
    shutil.copy(ROOT / "notebooks" / name, copies / name)
    minutes, error = estimates.estimate_chapter(copies / name, tmp_path, max_steps=2)
    assert minutes is not None, f"{name} failed at the gpu profile: {error}"
    print(f"{name}: {minutes}")
    assert minutes["total"] <= estimates.LIMIT_MINUTES, f"{name}: about {minutes['total']:.1f} min on a T4"
    trains_something = name[:2] not in ("00", "01")
    assert (minutes["train"] > 0) == trains_something


def test_chapter_minutes_counts_steps_evaluations_and_the_rest():
    rows = [{"kind": "train", "steps": 1000, "flops": 4e12, "ops": 10, "data_seconds": 0.0},  # 1 s a step on a T4
            {"kind": "eval", "flops": 4e9, "ops": 3_000_000, "evaluations": 1},                 # 60 s of launches
            {"kind": "fit", "seconds": 20.0}]
    minutes = estimates.chapter_minutes(rows, wall_s=80.0)
    assert minutes == pytest.approx({"train": 1000 / 60, "eval": 1.0, "other": 1.0, "total": 1000 / 60 + 2.0})
