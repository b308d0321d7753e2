"""Chapter 5's two open questions over several seeds: which loss weighting, and is the mosaic the initialisation's?

The project's poster reports its final run with 2 L1 + 3 LPIPS; its code
(``train_val.py``) builds the loss with ``l1_weight=3, lpips_weight=2``. And the
notebook's upsampler study asks whether plain pixel shuffle's period-2 "mosaic" comes
from its initialisation. Per seed, this script trains the notebook's model in the
quick profile (same functions, data, steps and held-out evaluation as notebook 05;
``pretrained=False``: random encoder and LPIPS features, as on a machine without the
weights) three times, with one change each:

- ``poster``: the profile as it is (plain pixel shuffle, 2 L1 + 3 LPIPS);
- ``code``: the code's weighting, 3 L1 + 2 LPIPS (``ablation="code_loss_weights"``);
- ``icnr``: the poster's run with the same layer ICNR-initialised (``ablation="pixel_shuffle_icnr"``).

It prints each variant's mean and sample std over the seeds, then the paired differences
``code - poster`` (log PSNR, log SSIM, TM PSNR, checkerboard) and ``poster - icnr``
(checkerboard, log PSNR, TM PSNR: what ICNR removes, and what it costs), one line each:

    diff=<name> mean=<value> std=<sample std> min=<..> max=<..> seeds=0,1,2,3,4 clear=<|mean| > 2 std>

and writes everything to ``benchmarks/hybrid_seeds.json``. A difference is *clear*
when its mean is more than twice its std from 0, the rule of ``benchmarks/effects.py``.

Usage: OMP_NUM_THREADS=1 python benchmarks/hybrid_seeds.py [--seeds 0,1,2,3,4] [--threads 1] [--out FILE]
(15 trainings of about 30 s each on one thread of the 2-core CPU: about 8 minutes)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

from hdrlab import env
from hdrlab.methods import hybrid

PROFILE = "quick"
ROOT = Path(__file__).resolve().parents[1]
#: Each variant's ``ablation`` of :func:`hdrlab.methods.hybrid.train_hybrid`.
VARIANTS = {"poster": None, "code": "code_loss_weights", "icnr": "pixel_shuffle_icnr"}
#: The scores of :func:`hdrlab.methods.hybrid.evaluate` kept per run.
METRICS = ("psnr_log/hybrid", "psnr_log_project/hybrid", "ssim_log/hybrid", "l1_log/hybrid", "psnr_tm/hybrid",
           "ssim_tm/hybrid", "checkerboard/hybrid", "psnr_log/constant")
#: The paired differences: name -> (variant, minus variant, metric).
DIFFERENCES = {
    "code_minus_poster/psnr_log": ("code", "poster", "psnr_log/hybrid"),
    "code_minus_poster/ssim_log": ("code", "poster", "ssim_log/hybrid"),
    "code_minus_poster/psnr_tm": ("code", "poster", "psnr_tm/hybrid"),
    "code_minus_poster/checkerboard": ("code", "poster", "checkerboard/hybrid"),
    "poster_minus_icnr/checkerboard": ("poster", "icnr", "checkerboard/hybrid"),
    "poster_minus_icnr/psnr_log": ("poster", "icnr", "psnr_log/hybrid"),
    "poster_minus_icnr/psnr_tm": ("poster", "icnr", "psnr_tm/hybrid"),
}


def spread(values: list[float]) -> dict[str, float | bool]:
    """Mean, sample std, min and max of per-seed values, and whether the mean is more than 2 std from 0.

    Args:
        values: one value per seed, at least 2.

    Returns:
        ``{"mean", "std", "min", "max", "clear"}``, rounded to 4 decimals.

    Example:
        >>> spread([0.10, 0.12, 0.08])["clear"], spread([0.1, -0.2, 0.15])["clear"], spread([-1.0, -1.2])["clear"]
        (True, False, True)
    """
    mean, std = statistics.mean(values), statistics.stdev(values)
    return {"mean": round(mean, 4), "std": round(std, 4), "min": round(min(values), 4), "max": round(max(values), 4),
            "clear": abs(mean) > 2 * std}


def summarise(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict]:
    """Per variant and metric the spread over seeds, and the spread of each paired difference in :data:`DIFFERENCES`.

    Args:
        runs: ``{variant: [scores of seed 0, scores of seed 1, ...]}`` with the keys of :data:`VARIANTS`, each
            scores dict holding :data:`METRICS`, the seeds in the same order for every variant.

    Returns:
        ``{"variants": {variant: {metric: spread}}, "differences": {name: spread}}``.

    Example:
        >>> runs = {v: [{m: float(i + (v == "code")) for m in METRICS} for i in range(3)] for v in VARIANTS}
        >>> summarise(runs)["differences"]["code_minus_poster/psnr_log"]["mean"]
        1.0
    """
    variants = {name: {metric: spread([scores[metric] for scores in seeds]) for metric in METRICS}
                for name, seeds in runs.items()}
    differences = {name: spread([a[metric] - b[metric] for a, b in zip(runs[first], runs[second], strict=True)])
                   for name, (first, second, metric) in DIFFERENCES.items()}
    return {"variants": variants, "differences": differences}


def train_variants(seed: int, work: Path) -> dict[str, dict[str, float]]:
    """Train every variant of :data:`VARIANTS` with ``seed``; their final held-out scores (:data:`METRICS`)."""
    scores = {}
    for name, ablation in VARIANTS.items():
        _, result = hybrid.train_hybrid(work / f"{name}_{seed}", PROFILE, ablation=ablation, seed=seed, device="cpu",
                                        progress="none", pretrained=False)
        scores[name] = {metric: round(result.last_eval[metric], 4) for metric in METRICS}
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (at least 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (recorded)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "hybrid_seeds.json"), help="the record")
    args = parser.parse_args()
    seeds = [int(part) for part in args.seeds.split(",")]
    if len(seeds) < 2:
        parser.error("--seeds needs at least 2 seeds for a spread")
    env.pin_threads(args.threads)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hdrlab-hybrid-seeds-") as work:
        for seed in seeds:
            for name, scores in train_variants(seed, Path(work)).items():
                runs[name].append(scores)
            print(f"seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)
    settings = hybrid.settings_for(PROFILE)
    steps = settings.epochs * math.ceil(settings.samples / settings.batch_size)
    record = {"profile": PROFILE, "steps": steps, "seeds": seeds, "threads": args.threads, "pretrained": False,
              "ablations": dict(VARIANTS), "runs": runs, **summarise(runs)}
    out = Path(args.out)
    out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    for name, variant in record["variants"].items():
        print(f"variant={name} " + " ".join(f"{metric}={row['mean']:.4f}±{row['std']:.4f}"
                                            for metric, row in variant.items()))
    for name, row in record["differences"].items():
        print(f"diff={name} mean={row['mean']:.4f} std={row['std']:.4f} min={row['min']:.4f} max={row['max']:.4f} "
              f"seeds={','.join(map(str, seeds))} clear={row['clear']}")
    print(f"profile={PROFILE} steps={steps} threads={args.threads} pretrained=False; wrote {out} in "
          f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
