"""Command line: ``python -m hdrlab {course,release,grade,clean,relink,train}`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from hdrlab import course, train
from hdrlab.course import grade as grading
from hdrlab.course import release as releasing
from hdrlab.methods import expandnet, hybrid, metahdr, multiexposure, recursive


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hdrlab", description="The hdrlab course tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("course", help="execute the notebooks with papermill and print a summary table")
    run.add_argument("--profile", default="quick", choices=["quick", "gpu", "full"],
                     help="quick: CPU minutes; gpu: one Colab GPU, ~15 min a chapter; full: paper scale")
    run.add_argument("--only", default="", help="comma-separated notebook numbers, e.g. 00,01")
    run.add_argument("--out", default="course-output", help="folder for executed notebooks and summary (default: %(default)s)")
    run.add_argument("--timeout", type=float, default=None, help="per-notebook limit in seconds (default: 600 quick, 21600 full)")
    run.add_argument("--edition", default="teacher", choices=["teacher", "student"],
                     help="teacher: notebooks/ with solutions; student: release the student edition and run it "
                          "(every exercise must print FAIL)")
    out = commands.add_parser("release", help="write the student edition: solutions stubbed, outputs removed")
    out.add_argument("--out", required=True, help="folder to write the student notebooks to (this repository: student)")
    out.add_argument("--only", default="", help="comma-separated notebook numbers, e.g. 00,01")
    mark = commands.add_parser("grade", help="grade submitted notebooks with nbval against the teacher edition")
    mark.add_argument("submissions", nargs="+", help="the submitted .ipynb files")
    mark.add_argument("--out", default="gradebook.csv", help="gradebook CSV to write (default: %(default)s)")
    mark.add_argument("--chapter", default=None, help="the assignment's chapter, e.g. 00 (default: each "
                                                      "notebook's own chapter id)")
    mark.add_argument("--timeout", type=float, default=grading.Limits.timeout_s,
                      help="wall-time limit per submission in seconds (default: %(default)s)")
    mark.add_argument("--cell-timeout", type=float, default=grading.Limits.cell_timeout_s,
                      help="limit per cell in seconds (default: %(default)s)")
    mark.add_argument("--memory-mb", type=int, default=grading.Limits.memory_mb,
                      help="address-space cap per submission in MB (default: %(default)s)")
    mark.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default: %(default)s)")
    clean = commands.add_parser("clean", help="strip notebook outputs except graded (nbval-check-output) cells")
    clean.add_argument("notebooks", nargs="+", help="notebooks to clean in place")
    clean.add_argument("--graded-from", default=None, help="folder of executed copies to take graded outputs from")
    link = commands.add_parser("relink", help="rewrite README/notebook GitHub and Colab links to hdrlab.REPOSITORY")
    link.add_argument("--repository", default=None, help="owner/name (default: hdrlab.REPOSITORY)")
    fit = commands.add_parser("train", help="train a method's model on the embedded data, checkpoint and evaluate it")
    fit.add_argument("method", choices=sorted(TRAINERS), help="the method to train")
    fit.add_argument("--profile", default="auto", choices=["auto", "quick", "gpu", "full"], help="default: %(default)s")
    fit.add_argument("--out", required=True, help="run folder: settings.json, metrics.csv, checkpoints/")
    fit.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    fit.add_argument("--steps", type=int, default=None, help="override the profile's number of steps")
    fit.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: %(default)s)")
    fit.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    fit.add_argument("--data-root", default=None,
                     help=f"train on a real dataset folder instead of the embedded scenes ({', '.join(DATA_ROOTS)})")
    fit.add_argument("--ablation", default=None,
                     help=f"train an ablation variant ({_variants()})")
    return parser


#: ``python -m hdrlab train <method>``: the function that trains each method (same keywords).
TRAINERS = {"expandnet": expandnet.train_expandnet, "metahdr": metahdr.train_metahdr,
            "multiexposure": multiexposure.train_multiexposure, "recursive": recursive.train_recursive,
            "hybrid": hybrid.train_hybrid}
#: Methods whose trainer reads a real dataset with ``--data-root``, and which layout it expects.
DATA_ROOTS = {"multiexposure": "multiexposure: DrTMO stacks, training_data/Train/Bracketed_images",
              "hybrid": "hybrid: SingleHDR layout, LDR_in/ + HDR_gt/"}
#: Methods with ablation variants (``--ablation``), and their names.
ABLATIONS = {"multiexposure": tuple(multiexposure.ABLATIONS), "recursive": tuple(recursive.ABLATIONS),
             "hybrid": tuple(hybrid.ABLATIONS)}


def _variants() -> str:
    """``"multiexposure: a, b; recursive: c, d"``: the ablation variants per method."""
    return "; ".join(f"{method}: {', '.join(names)}" for method, names in ABLATIONS.items())


def _train(args: argparse.Namespace) -> int:
    extra = {}
    if args.data_root is not None:
        if args.method not in DATA_ROOTS:
            print(f"--data-root is not supported for {args.method}; it trains on the embedded scenes "
                  f"(supported: {', '.join(DATA_ROOTS)}).", file=sys.stderr)
            return 2
        extra["data_root"] = args.data_root
    if args.ablation is not None:
        if args.ablation not in ABLATIONS.get(args.method, ()):
            print(f"--ablation {args.ablation!r} is not a variant of {args.method} ({_variants()}).", file=sys.stderr)
            return 2
        extra["ablation"] = args.ablation
    _, result = TRAINERS[args.method](args.out, args.profile, resume=args.resume, steps=args.steps,
                                      device=args.device, seed=args.seed, **extra)
    if train.is_main_process():
        print(f"{args.method}: {result.step} steps; scores on held-out scenes at step {result.step}:")
        for name, value in (result.last_eval or {}).items():
            print(f"  {name:24s} {value:8.4f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (non-zero when a notebook failed)."""
    args = _parser().parse_args(argv)
    if args.command == "course":
        only = [n.strip() for n in args.only.split(",") if n.strip()]
        results = course.run_course(args.profile, only or None, args.out, args.timeout, edition=args.edition)
        failed = [r.notebook for r in results if r.status != "ok"]
        if failed:
            print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1 if failed else 0
    if args.command == "train":
        return _train(args)
    if args.command == "release":
        only = [n.strip() for n in args.only.split(",") if n.strip()]
        for path in releasing.release(args.out, course.find_notebooks(only=only or None)):
            print(f"released {path}")
        return 0
    if args.command == "grade":
        limits = grading.Limits(args.timeout, args.cell_timeout, args.memory_mb)
        grading.grade(args.submissions, args.out, chapter=args.chapter, limits=limits, jobs=args.jobs)
        print(f"gradebook: {args.out}")
        return 0
    if args.command == "clean":
        for name in args.notebooks:
            source = None if args.graded_from is None else Path(args.graded_from) / Path(name).name
            print(f"{name}: {course.clean_notebook(name, source)} graded cells keep their outputs")
        return 0
    for path in course.relink(repository=args.repository):
        print(f"relinked {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
