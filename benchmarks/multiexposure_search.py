"""Chapter 3's quick-profile settings, chosen on the validation scenes: a small grid of rate, gap and steps.

The quick profile must show the chapter's key effect (generated +2 and -2 EV
frames beat naive re-exposure, the merged generated bracket beats the LDR input)
in a few hundred CPU steps. This script chooses its learning rate, the largest
EV gap of the training pairs and the number of steps on the **validation**
scenes of :func:`hdrlab.data.scenes.split_scenes` (4 scenes x the 3 camera-like
response curves), never on the test scenes the notebook reports. Every other
setting is the quick profile's.

Grid: AdamW rate x ``max_gap`` x seeds, each run 300 steps long and evaluated on
the validation brackets after 100, 200 and 300 steps (the rate is constant in
quick: its plateau patience never runs out, so the first 100 steps of a 300-step
run are a 100-step run). Per point it prints the three margins of the key effect
in dB (mean over the seeds) and their minimum; the chosen point is the one whose
smallest margin (mean over seeds) is largest, fewer steps breaking ties.

``--test`` then trains the chosen point (or ``--point lr,max_gap,steps``) for
``--test-seeds`` and prints the margins on the test scenes once, mean and sample
std over the seeds.

Usage:
    python benchmarks/multiexposure_search.py [--seeds 0,1] [--threads 1]
    python benchmarks/multiexposure_search.py --test --point 5e-3,2,200 [--test-seeds 0,1,2,3,4]
(the grid: 40 minutes for 2 seeds on one thread of a busy 2-core machine; ``--test``: 1-2 minutes per seed)
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from hdrlab import env
from hdrlab.methods import multiexposure

RATES = (2e-3, 5e-3, 1e-2)
MAX_GAPS = (1.0, 2.0, 3.0)
STEPS = (100, 200, 300)
MARGINS = ("+2 EV vs naive", "-2 EV vs naive", "merged vs LDR")


def margins(scores: dict[str, float]) -> tuple[float, float, float]:
    """The key effect's three margins in dB (positive: it holds), from :func:`multiexposure.evaluate` scores.

    Example:
        >>> margins({"stack_psnr/+2/generated": 20.0, "stack_psnr/+2/naive": 14.0, "stack_psnr/-2/generated": 17.0,
        ...          "stack_psnr/-2/naive": 16.0, "tm_psnr/generated": 20.0, "tm_psnr/ldr": 18.5})
        (6.0, 1.0, 1.5)
    """
    return (scores["stack_psnr/+2/generated"] - scores["stack_psnr/+2/naive"],
            scores["stack_psnr/-2/generated"] - scores["stack_psnr/-2/naive"],
            scores["tm_psnr/generated"] - scores["tm_psnr/ldr"])


def run(work: Path, seed: int, lr: float, max_gap: float, steps: int, split: str, eval_every: int) -> list[dict]:
    """Train one quick-profile model with ``lr`` and ``max_gap``; its evaluations on ``split`` (``{"step", ...}``)."""
    overrides = {"lr": lr, "max_gap": max_gap, "eval_every": eval_every, "checkpoint_every": steps}
    _, result = multiexposure.train_multiexposure(work / f"{split}_{lr:g}_{max_gap:g}_{steps}_{seed}", "quick",
                                                  steps=steps, seed=seed, device="cpu", progress="none",
                                                  pretrained=False, overrides=overrides, eval_split=split)
    return result.evals


def choose(table: dict[tuple[float, float, int], list[tuple[float, float, float]]]) -> tuple[float, float, int]:
    """The point whose smallest mean margin is largest (fewer steps first on ties).

    Example:
        >>> choose({(1e-3, 2.0, 200): [(3.0, 1.0, 2.0)], (1e-3, 2.0, 100): [(3.0, 1.0, 2.0)],
        ...         (5e-3, 2.0, 100): [(9.0, 0.5, 2.0)]})
        (0.001, 2.0, 100)
    """
    def worst(point):
        return min(statistics.mean(column) for column in zip(*table[point]))

    return max(sorted(table, key=lambda point: point[2]), key=worst)


def grid(seeds: list[int], work: Path) -> dict[tuple[float, float, int], list[tuple[float, float, float]]]:
    """Every (rate, gap, steps) point's margins on the validation scenes, one tuple per seed."""
    table: dict[tuple[float, float, int], list[tuple[float, float, float]]] = {}
    started = time.perf_counter()
    for seed, lr, max_gap in itertools.product(seeds, RATES, MAX_GAPS):  # seed outermost: stop early, keep a grid
        for evaluation in run(work, seed, lr, max_gap, max(STEPS), "val", eval_every=min(STEPS)):
            if evaluation["step"] in STEPS:
                found = margins(evaluation)
                table.setdefault((lr, max_gap, evaluation["step"]), []).append(found)
                print(f"seed {seed} lr {lr:g} max_gap {max_gap:g} steps {evaluation['step']}: "
                      + ", ".join(f"{name} {value:.2f}" for name, value in zip(MARGINS, found))
                      + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    return table


def print_grid(table: dict, seeds: list[int]) -> None:
    """The grid as text: one row per point, margins averaged over ``seeds``."""
    print(f"validation margins in dB, mean over seeds {','.join(map(str, seeds))} (quick profile otherwise)")
    print(f"{'lr':>7} {'max_gap':>7} {'steps':>5} " + "".join(f"{name:>16}" for name in MARGINS) + f"{'smallest':>10}")
    for (lr, max_gap, steps), rows in sorted(table.items()):
        means = [statistics.mean(column) for column in zip(*rows)]
        print(f"{lr:>7g} {max_gap:>7g} {steps:>5d} " + "".join(f"{m:>16.2f}" for m in means) + f"{min(means):>10.2f}")


def score_on_test(point: tuple[float, float, int], seeds: list[int], work: Path) -> None:
    """Train ``point`` for each seed and print its margins on the test scenes, mean and sample std."""
    lr, max_gap, steps = point
    rows = [margins(run(work, seed, lr, max_gap, steps, "test", eval_every=steps)[-1]) for seed in seeds]
    print(f"test margins in dB at lr {lr:g}, max_gap {max_gap:g}, {steps} steps, seeds {','.join(map(str, seeds))}")
    for name, column in zip(MARGINS, zip(*rows)):
        spread = statistics.stdev(column) if len(column) > 1 else float("nan")
        print(f"  {name:<16} mean {statistics.mean(column):6.2f}  std {spread:5.2f}  "
              f"per seed {' '.join(f'{v:.2f}' for v in column)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="seeds of the validation grid")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--test", action="store_true", help="score --point on the test scenes instead")
    parser.add_argument("--point", default=None, help="lr,max_gap,steps for --test (e.g. 5e-3,2,200)")
    parser.add_argument("--test-seeds", default="0,1,2,3,4", help="seeds of --test")
    args = parser.parse_args()
    env.pin_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="hdrlab-ch3-search-") as work:
        if args.test:
            if args.point is None:
                parser.error("--test needs --point lr,max_gap,steps (the grid's choice)")
            lr, max_gap, steps = args.point.split(",")
            test_seeds = [int(part) for part in args.test_seeds.split(",")]
            score_on_test((float(lr), float(max_gap), int(steps)), test_seeds, Path(work))
            return
        seeds = [int(part) for part in args.seeds.split(",")]
        table = grid(seeds, Path(work))
    print_grid(table, seeds)
    lr, max_gap, steps = choose(table)
    print(f"chosen: lr {lr:g}, max_gap {max_gap:g}, {steps} steps (threads {args.threads})")


if __name__ == "__main__":
    main()
