"""Every graded key effect of the course, measured over several seeds: does it hold beyond seed noise?

A notebook grades its chapter's key effect on one seed. This script trains the
same models the notebooks train (same functions, profile and evaluation) for each
seed and prints, per effect, the margin by which it holds (positive: it holds):

    effect=<name> mean=<dB or score> std=<sample std> min=<worst seed> seeds=0,1,2,3,4 profile=quick threads=2 supported=<mean > 2 std>

The effects and the checkers that grade them (:data:`CHECKED_BY`):

- ``metahdr_adapted_over_single_shot``, ``metahdr_adapted_over_ldr``, ``metahdr_single_shot_over_ldr``,
  ``metahdr_adapted_over_weaker`` (chapter 2, mean PSNR on the held-out tasks; the last, adaptation over the
  weaker of single shot and LDR, is what ``check_metahdr_adaptation`` grades);
- ``multiexposure_plus2_over_naive``, ``multiexposure_minus2_over_naive``, ``multiexposure_merged_over_ldr``
  (chapter 3, PSNR of the +2 / -2 EV frames and tone-mapped PSNR of the merge, ``check_multiexposure_effect``);
- ``hybrid_over_ldr``, ``hybrid_over_constant`` (chapter 5, log-domain PSNR, ``check_hybrid_beats_baselines``)
  and ``upsampler_checkerboard`` (chapter 5, plain pixel shuffle's checkerboard minus the best of ICNR and
  resize-conv, ``check_upsampler_study``);
- ``capstone_learned_over_fixed_rule`` (chapter 6: the best single-image method of chapters 2-5 minus the
  better of the two fixed rules, mean PU21 PSNR on the leaderboard's items) and ``capstone_bracket_over_learned``
  (the merge of the true bracket minus that best method), ``check_capstone_leaderboard``.

An effect is *supported* when its mean margin exceeds twice its standard deviation
over the seeds; a notebook may grade only supported effects (``tests/test_effects.py``
reads the record this script writes to ``docs/effects.json``). Torch runs on a fixed
number of threads (``--threads``, recorded), as results can change with it.

Usage: python benchmarks/effects.py [--seeds 0,1,2,3,4] [--threads 2] [--out docs/effects.json]
(about 15 minutes for 5 seeds of chapters 02-05 on a 2-core CPU, 12 more for 06)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hdrlab import env, evaluate
from hdrlab.methods import compare, hybrid, metahdr, multiexposure

PROFILE = "quick"
ROOT = Path(__file__).resolve().parents[1]

#: The effects each graded checker asserts: a notebook grading the checker claims every effect listed.
CHECKED_BY = {
    "check_metahdr_adaptation": ("metahdr_adapted_over_weaker",),
    "check_multiexposure_effect": ("multiexposure_plus2_over_naive", "multiexposure_minus2_over_naive",
                                   "multiexposure_merged_over_ldr"),
    "check_hybrid_beats_baselines": ("hybrid_over_ldr", "hybrid_over_constant"),
    "check_upsampler_study": ("upsampler_checkerboard",),
    "check_capstone_leaderboard": ("capstone_learned_over_fixed_rule", "capstone_bracket_over_learned"),
}


def metahdr_margins(seed: int, work: Path) -> dict[str, float]:
    """Chapter 2: meta-train with true labels, evaluate on the held-out tasks as the notebook does."""
    settings = metahdr.PROFILES[PROFILE]
    model, _ = metahdr.train_metahdr(work / f"metahdr_{seed}", PROFILE, seed=seed, device="cpu", progress="none")
    table = metahdr.evaluate_tasks(model, metahdr.held_out_tasks(PROFILE), steps=settings.inner_steps,
                                   inner_lr=settings.inner_lr, backend="functional")
    adapted, single, ldr = (table[row]["psnr"] for row in ("adapted", "single_shot", "ldr"))
    return {"metahdr_adapted_over_single_shot": adapted - single, "metahdr_adapted_over_ldr": adapted - ldr,
            "metahdr_single_shot_over_ldr": single - ldr, "metahdr_adapted_over_weaker": adapted - min(single, ldr)}


def multiexposure_margins(seed: int, work: Path) -> dict[str, float]:
    """Chapter 3: the reference model; its final evaluation is on the notebook's held-out brackets."""
    _, result = multiexposure.train_multiexposure(work / f"multiexposure_{seed}", PROFILE, seed=seed, device="cpu",
                                                  progress="none", pretrained=False)
    s = result.last_eval
    return {"multiexposure_plus2_over_naive": s["stack_psnr/+2/generated"] - s["stack_psnr/+2/naive"],
            "multiexposure_minus2_over_naive": s["stack_psnr/-2/generated"] - s["stack_psnr/-2/naive"],
            "multiexposure_merged_over_ldr": s["tm_psnr/generated"] - s["tm_psnr/ldr"]}


def hybrid_margins(seed: int, work: Path) -> dict[str, float]:
    """Chapter 5: the project's model against its baselines, and the upsampler study at equal budget."""
    study = {}
    for name in ("pixel_shuffle", "pixel_shuffle_icnr", "resize_conv"):
        _, result = hybrid.train_hybrid(work / f"hybrid_{name}_{seed}", PROFILE, ablation=name, seed=seed,
                                        device="cpu", progress="none", pretrained=False)
        study[name] = result.last_eval
    s = study["pixel_shuffle"]
    fixed = min(study[name]["checkerboard/hybrid"] for name in ("pixel_shuffle_icnr", "resize_conv"))
    return {"hybrid_over_ldr": s["psnr_log/hybrid"] - s["psnr_log/ldr"],
            "hybrid_over_constant": s["psnr_log/hybrid"] - s["psnr_log/constant"],
            "upsampler_checkerboard": s["checkerboard/hybrid"] - fixed}


def capstone_margins(seed: int, work: Path) -> dict[str, float]:
    """Chapter 6: the five chapter models of one seed on the capstone's leaderboard (mean PU21 PSNR)."""
    models = compare.chapter_models(PROFILE, {name: str(work / f"capstone_{seed}" / name) for name in compare.RUNS},
                                    device="cpu", seed=seed, pretrained=False)
    board = evaluate.leaderboard(compare.chapter_methods(models, PROFILE), compare.held_out_items(PROFILE),
                                 perceptual=False)
    means = {name: board.mean(name, "pu21_psnr") for name in board.scores}
    fixed = max(means[name] for name in compare.FIXED_RULES)
    learned = max(means[name] for name in compare.SINGLE_IMAGE_METHODS)
    return {"capstone_learned_over_fixed_rule": learned - fixed,
            "capstone_bracket_over_learned": means[compare.UPPER_BOUND] - learned}


CHAPTERS: dict[str, Callable[[int, Path], dict[str, float]]] = {
    "02": metahdr_margins, "03": multiexposure_margins, "05": hybrid_margins, "06": capstone_margins,
}


def summarise(margins: dict[str, list[float]], seeds: list[int], threads: int) -> dict[str, dict]:
    """Per effect: the margins, their mean, sample std, minimum, and whether mean > 2 std.

    Example:
        >>> summarise({"e": [1.0, 1.2, 0.8]}, [0, 1, 2], 2)["e"]["supported"]
        True
        >>> summarise({"e": [1.0, -0.5, 0.8]}, [0, 1, 2], 2)["e"]["supported"]
        False
    """
    record = {}
    for name, values in margins.items():
        mean, std = statistics.mean(values), statistics.stdev(values)
        record[name] = {"margins": [round(v, 4) for v in values], "mean": round(mean, 4), "std": round(std, 4),
                        "min": round(min(values), 4), "seeds": seeds, "profile": PROFILE, "threads": threads,
                        "supported": mean > 2 * std}
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (at least 2)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (recorded)")
    parser.add_argument("--chapters", default=",".join(CHAPTERS), help=f"a subset of {','.join(CHAPTERS)}")
    parser.add_argument("--out", default=str(ROOT / "docs" / "effects.json"), help="where to write the record")
    args = parser.parse_args()
    seeds = [int(part) for part in args.seeds.split(",")]
    if len(seeds) < 2:
        parser.error("--seeds needs at least 2 seeds for a spread")
    env.pin_threads(args.threads)
    margins: dict[str, list[float]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hdrlab-effects-") as work:
        for chapter in args.chapters.split(","):
            for seed in seeds:
                for name, value in CHAPTERS[chapter](seed, Path(work)).items():
                    margins.setdefault(name, []).append(value)
                print(f"chapter {chapter} seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)
    record = summarise(margins, seeds, args.threads)
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**previous, **record}, indent=1, sort_keys=True) + "\n")
    for name, row in record.items():
        print(f"effect={name} mean={row['mean']:.3f} std={row['std']:.3f} min={row['min']:.3f} "
              f"seeds={','.join(map(str, seeds))} profile={PROFILE} threads={args.threads} supported={row['supported']}")
    print(f"wrote {out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
