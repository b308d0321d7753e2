"""Chapter 4: the with/without-layer experiment under both backward rules of the HDR layer, over seeds.

For each seed, three runs of :func:`hdrlab.methods.recursive.train_recursive` that share
everything but stage (c): ``reference`` (trained through the layer with the paper's Eq. 3
backward, the left difference ``g(z) - g(z - 1)`` with constant weights),
``piecewise_linear_layer`` (through the layer with hdrlab's earlier backward: the segment
holding ``x``, the weights differentiated too) and ``no_hdr_layer`` (stage (c) without the
HDR loss). Prints one line per run with the held-out scores of the generated bracket, then
per backward rule the margin over ``no_hdr_layer`` (mean, sample std, wins) of the merged
HDR's TM PSNR, mu-PSNR and TM SSIM, and of stage (c)'s objective (lower is better).

Usage (one thread, as the notebook's numbers; about 35 s per run on a quiet 2-core CPU)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python benchmarks/ch4_layer_backward.py --seeds 0 1 2 3 4
    ... --steps-c 160      # stage (c) four times longer (everything else equal)
    ... --json out.json    # also write every run's scores
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time

import torch

from hdrlab.methods import recursive

RUNS = ("reference", "piecewise_linear_layer", "no_hdr_layer")
RULES = {"reference": "left_difference (Eq. 3)", "piecewise_linear_layer": "piecewise_linear"}
#: (key of the scores, label, sign): sign -1 where lower is better, so a positive margin always favours the layer.
METRICS = (("tm_psnr/generated", "TM PSNR dB", 1), ("mu_psnr/generated", "mu-PSNR dB", 1),
           ("tm_ssim/generated", "TM SSIM", 1), ("hdr_loss/generated", "HDR objective", -1))


def _frame_psnr(scores: dict[str, float]) -> float:
    frames = [v for k, v in scores.items() if k.startswith("stack_psnr/") and k.endswith("/generated")]
    return sum(frames) / len(frames)


def run_seed(seed: int, steps_c: int | None) -> dict[str, dict[str, float]]:
    """The three runs of one seed: ``{run: held-out scores}`` (plus ``frame_psnr`` and ``seconds``)."""
    if steps_c is not None:
        recursive.PROFILES["quick"] = dataclasses.replace(recursive.PROFILES["quick"], steps_c=steps_c)
    results = {}
    for ablation in RUNS:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            _, result = recursive.train_recursive(folder, "quick", ablation=ablation, seed=seed, progress="none",
                                                  device="cpu", pretrained=False)
        scores = dict(result.last_eval)
        scores.update(frame_psnr=_frame_psnr(scores), seconds=time.perf_counter() - start)
        results[ablation] = scores
        print(f"seed {seed} {ablation:<23} " + " ".join(f"{label} {scores[key]:.4f}" for key, label, _ in METRICS)
              + f" frame PSNR {scores['frame_psnr']:.2f} ({scores['seconds']:.0f} s)", flush=True)
    return results


def summary(per_seed: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    """Per backward rule and metric: the margins over ``no_hdr_layer``, their mean, sample std and wins."""
    lines = []
    for run, rule in RULES.items():
        for key, label, sign in METRICS:
            margins = [sign * (runs[run][key] - runs["no_hdr_layer"][key]) for runs in per_seed.values()]
            std = statistics.stdev(margins) if len(margins) > 1 else float("nan")
            wins = sum(m > 0 for m in margins)
            lines.append(f"{rule:<24} {label:<14} margin over no layer: mean {statistics.mean(margins):+.4f} "
                         f"std {std:.4f}, layer better in {wins} of {len(margins)} seeds "
                         f"({', '.join(f'{m:+.4f}' for m in margins)})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps-c", type=int, default=None, help="stage (c) steps (default: the quick profile's)")
    parser.add_argument("--json", default=None, help="write every run's scores here")
    args = parser.parse_args()
    print(f"quick profile, stage steps {recursive.PROFILES['quick'].stage_steps()} (stage c: "
          f"{args.steps_c or recursive.PROFILES['quick'].steps_c}), torch threads {torch.get_num_threads()}", flush=True)
    per_seed = {seed: run_seed(seed, args.steps_c) for seed in args.seeds}
    print("\n".join(summary(per_seed)))
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"steps_c": args.steps_c, "threads": torch.get_num_threads(), "runs": per_seed}, file, indent=1)


if __name__ == "__main__":
    main()
