"""Chapter 3's perceptual term, reduced as hdrlab did (mean over every element) and as the reference does (piq).

The reference trains with ``0.1 x`` piq's ``ContentLoss`` on VGG19 pool1-pool3,
which averages each feature map over positions and *sums* over its channels;
hdrlab used to average over every element, which on pool1-3 (64, 128, 256
channels) makes the same weight ~100x weaker. This script trains the quick
profile with the perceptual term on at weight 0.1 under both reductions (and,
with ``--off``, without it, the quick profile's default) for a few seeds, and
prints the key effect's margins and the HDR scores on the held-out test scenes:
mean, sample std and the per-seed values.

VGG19's ImageNet weights are used when they are in the torch hub cache
(``--pretrained auto``), else random features (said in the output): offline
the term compares random multi-scale features, which is what ``quick`` would
train with there.

Usage: python benchmarks/multiexposure_perceptual.py [--seeds 0,1,2] [--threads 1] [--off]
(on one thread of a busy 2-core machine: 76-78 s per run without the term, 283-335 s with it)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hdrlab import env
from hdrlab.methods import multiexposure

#: The variants: settings overrides of the quick profile.
VARIANTS = {
    "off (quick default)": {"perceptual_weight": 0.0},
    "0.1 x mean (hdrlab before)": {"perceptual_weight": 0.1, "perceptual_reduction": "mean"},
    "0.1 x channel_sum (reference)": {"perceptual_weight": 0.1, "perceptual_reduction": "channel_sum"},
}
#: Scores printed per variant: the key effect's margins, then HDR and tone-mapped PSNR of the merged bracket.
COLUMNS = {
    "+2 EV vs naive": lambda s: s["stack_psnr/+2/generated"] - s["stack_psnr/+2/naive"],
    "-2 EV vs naive": lambda s: s["stack_psnr/-2/generated"] - s["stack_psnr/-2/naive"],
    "merged vs LDR": lambda s: s["tm_psnr/generated"] - s["tm_psnr/ldr"],
    "HDR PSNR": lambda s: s["hdr_psnr/generated"],
    "RD PSNR": lambda s: s["rd_psnr/generated"],
}


def scores(work: Path, name: str, seed: int, pretrained: bool | str) -> dict[str, float]:
    """One quick run of variant ``name``; its final evaluation on the test scenes."""
    tag = "".join(c for c in name if c.isalnum())
    _, result = multiexposure.train_multiexposure(work / f"{tag}_{seed}", "quick", seed=seed, device="cpu",
                                                  progress="none", pretrained=pretrained, overrides=VARIANTS[name])
    return result.last_eval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--off", action="store_true", help="also train without the perceptual term")
    parser.add_argument("--pretrained", default="auto", choices=("auto", "true", "false"), help="VGG19 weights")
    args = parser.parse_args()
    env.pin_threads(args.threads)
    seeds = [int(part) for part in args.seeds.split(",")]
    pretrained = {"auto": "auto", "true": True, "false": False}[args.pretrained]
    names = [name for name in VARIANTS if args.off or VARIANTS[name]["perceptual_weight"] > 0]
    started = time.perf_counter()
    rows: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="hdrlab-ch3-perceptual-") as work:
        for seed in seeds:
            for name in names:
                row = scores(Path(work), name, seed, pretrained)
                rows.setdefault(name, []).append(row)
                print(f"{name} seed {seed}: " + ", ".join(f"{c} {f(row):.2f}" for c, f in COLUMNS.items())
                      + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"test scenes, quick profile, seeds {','.join(map(str, seeds))}: mean +- sample std (per seed)")
    for name in names:
        print(name)
        for column, value in COLUMNS.items():
            values = [value(row) for row in rows[name]]
            spread = statistics.stdev(values) if len(values) > 1 else float("nan")
            print(f"  {column:<15} {statistics.mean(values):6.2f} +- {spread:4.2f}  "
                  f"({' '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
