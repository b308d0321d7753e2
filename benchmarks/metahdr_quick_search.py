"""Chapter 2: choose the quick profile's inner and outer learning rates on the validation scenes, then test once.

The quick profile keeps the paper's network, loss, task layout and 3 inner steps,
but runs only 40 first-order meta-iterations, so its step sizes cannot be the
paper's (inner 0.01, Adam 0.005) without checking what they give. This script
meta-trains with true labels on a grid of ``inner_lr`` x ``meta_lr`` (everything
else as ``metahdr.PROFILES["quick"]``), over a few seeds, and scores each run on
the held-out tasks of the **validation** scenes (``held_out_tasks(split="val")``),
never on the test scenes. The chosen point is the one with the highest mean PSNR
after adaptation over the seeds (the row the chapter's key effect is about). Only
then are the chosen point's models scored on the test scenes, once, and printed.

Prints one line per grid point (mean and sample std over the seeds of the PSNR of
the adapted, single-shot and LDR rows, and of the two graded margins), the chosen
point, and its test scores.

Usage: python benchmarks/metahdr_quick_search.py [--seeds 0,1,2] [--threads 1]
(about 8 minutes for the default grid and 3 seeds on one CPU thread)
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hdrlab import env
from hdrlab.methods import metahdr

PROFILE = "quick"
INNER_LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
META_LRS = (0.005, 0.02, 0.05)
ROWS = ("adapted", "single_shot", "ldr")


def scores(model: torch.nn.Module, settings: metahdr.Settings, split: str) -> dict[str, float]:
    """PSNR (dB) of each row on the held-out tasks of ``split``, as the notebook evaluates them."""
    table = metahdr.evaluate_tasks(model, metahdr.held_out_tasks(split=split, settings=settings),
                                   steps=settings.inner_steps, inner_lr=settings.inner_lr, backend="functional")
    return {row: table[row]["psnr"] for row in ROWS}


def summary(runs: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and sample std over seeds of each row and of the margins adapted - single shot, adapted - LDR."""
    columns = {row: [run[row] for run in runs] for row in ROWS}
    columns["adapted-single"] = [run["adapted"] - run["single_shot"] for run in runs]
    columns["adapted-ldr"] = [run["adapted"] - run["ldr"] for run in runs]
    return {name: (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
            for name, values in columns.items()}


def line(name: str, stats: dict[str, tuple[float, float]]) -> str:
    return f"{name:28s}" + "".join(f"{mean:8.2f} ±{std:5.2f}" for mean, std in stats.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    seeds = [int(part) for part in args.seeds.split(",")]
    env.pin_threads(args.threads)
    base = metahdr.PROFILES[PROFILE]
    print(f"grid: inner_lr {INNER_LRS} x meta_lr {META_LRS}, seeds {seeds}, {base.meta_iterations} meta-iterations, "
          f"first order {base.first_order}; scored on the validation scenes' {base.eval_tasks} tasks (PSNR dB)")
    print(f"{'inner_lr, meta_lr':28s}" + "".join(f"{name:>15s}" for name in
                                                 (*ROWS, "adapted-single", "adapted-ldr")))
    start, results, models = time.time(), {}, {}
    with tempfile.TemporaryDirectory() as work:
        for inner_lr in INNER_LRS:
            for meta_lr in META_LRS:
                settings = dataclasses.replace(base, inner_lr=inner_lr, meta_lr=meta_lr)
                runs = []
                for seed in seeds:
                    model, result = metahdr.train_metahdr(Path(work) / f"{inner_lr}_{meta_lr}_{seed}", PROFILE,
                                                          settings=settings, evaluate_on="val", seed=seed,
                                                          device="cpu", progress="none")
                    runs.append({row: result.last_eval[f"psnr/{row}"] for row in ROWS})  # the validation scenes
                    models[(inner_lr, meta_lr, seed)] = model
                results[(inner_lr, meta_lr)] = summary(runs)
                print(line(f"{inner_lr:g}, {meta_lr:g}", results[(inner_lr, meta_lr)]), flush=True)
    inner_lr, meta_lr = max(results, key=lambda point: results[point]["adapted"][0])
    chosen = dataclasses.replace(base, inner_lr=inner_lr, meta_lr=meta_lr)
    print(f"\nchosen on validation (highest mean adapted PSNR): inner_lr {inner_lr:g}, meta_lr {meta_lr:g}")
    test = summary([scores(models[(inner_lr, meta_lr, seed)], chosen, "test") for seed in seeds])
    print("test scenes, chosen point only (reported once):")
    print(line(f"{inner_lr:g}, {meta_lr:g}", test))
    print(f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
