"""Grade submitted notebooks with nbval, never trusting what a submission stores.

``python -m hdrlab grade SUBMISSION... --out gradebook.csv [--chapter 00]``
grades each submission on its own, in this order:

1. **Match it to its chapter** by ``metadata.hdrlab.chapter`` (written by
   ``release``). With ``--chapter``, a notebook of another chapter scores 0.
2. **Assemble the notebook to run from the teacher edition**: the learner's code
   is taken from the ``exercise`` cells only (matched by exercise name, then by
   cell id); every other cell, the checker cells included, is the teacher's, and
   the checker cells carry the teacher's reference ``PASS`` output. What the
   submission stores (outputs, edited checker calls, extra cells) is ignored. An
   answer cell that touches the checking machinery (``checks``, ``builtins``,
   ``sys.setprofile`` ...) is replaced by the stub and fails. Passing hdrlab's own
   reference function as an answer fails in the checker itself, which watches
   the call (see :mod:`hdrlab.checks`).
3. **Run nbval on it** (``pytest --nbval-lax``) in a subprocess, in a fresh
   temporary folder (its working directory), with its own kernel, a per-cell
   time limit, a wall-time limit for the whole submission (the process tree is
   killed when it runs past it) and, where the OS has ``setrlimit``, a cap on the
   address space of the processes. Only the verdict lines (``PASS: ...`` /
   ``FAIL: ...``) of checker cells are compared.
4. **Record one row per check**: each exercise (scored: 1 for PASS, 0 for FAIL),
   each key effect and environment check (shown, not scored), and one
   ``notebook`` row saying whether every other cell ran. A submission that cannot
   be run (not JSON, no chapter id, another chapter) gets a FAIL row for each
   exercise with the reason.

Isolation, and its limits: a submission never runs in the grader's process, and
one that crashes, loops or exhausts its memory becomes rows, not a stopped batch.
But its code runs as the grader's user, with the user's network and file system
access (it can read and write what the user can), and a learner who writes
code to subvert the checker in the same kernel is not stopped by more than the
static guard of step 2. Grade untrusted classes inside a container or VM without
network access and with only the course mounted (README "For instructors").

Taught in: the README's "For instructors".
"""

from __future__ import annotations

import ast
import copy
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from hdrlab.course import nbval_log
from hdrlab.course import notebook as nbl
from hdrlab.course.run import find_notebooks, kill_tree
from hdrlab.errors import ChoiceError, HdrlabError, RangeError, describe

__all__ = ["GradeRow", "Limits", "GRADEBOOK_COLUMNS", "exercise_names", "assemble", "grade_submission", "grade",
           "write_gradebook", "format_summary"]

#: The gradebook's columns, in order.
GRADEBOOK_COLUMNS = ("submission", "chapter", "exercise", "kind", "result", "score", "reason")
#: Names an answer cell may not use: the checker, and what could silence or fake its verdict.
_GUARDED_NAMES = frozenset({"checks", "builtins", "__builtins__", "setprofile", "settrace", "stdout", "stderr",
                            "_report", "_call", "_RESULTS", "nbval"})
#: nbval compares only the checkers' verdict lines: indented detail lines and anything else are dropped.
_SANITIZE = "[verdict lines only]\nregex: (?m)^(?!PASS: |FAIL: ).*(?:\\n|$)\nreplace: \n"
#: Runs ``argv[2:]`` with the address space capped at ``argv[1]`` bytes (where the OS allows).
_CAPPED = ("import os, sys\ntry:\n    import resource\n    cap = int(sys.argv[1])\n"
           "    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\nexcept (ImportError, ValueError, OSError):\n"
           "    pass\nos.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n")


@dataclass
class GradeRow:
    """One row of the gradebook: one check of one submission."""

    submission: str  # the path as given
    chapter: str  # chapter id, or "?" when the submission has none
    exercise: str  # exercise (or check) name; "notebook" for the row about the other cells
    kind: str  # "exercise" (scored), "key-effect", "environment" or "notebook"
    result: str  # "PASS" or "FAIL"
    reason: str = ""  # why it failed, readable by the learner

    @property
    def score(self) -> int | str:
        """1 or 0 for an exercise, empty for rows that do not count."""
        return int(self.result == "PASS") if self.kind == "exercise" else ""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission."""

    timeout_s: float = 900.0  # wall time of the whole submission
    cell_timeout_s: float = 300.0  # one cell; an endless loop fails that cell and grading goes on
    memory_mb: int = 8192  # address space of the grading processes (not enforced where setrlimit is missing)

    def __post_init__(self) -> None:
        for name in ("timeout_s", "cell_timeout_s", "memory_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise RangeError(describe(f"{name} > 0", repr(value), f"Pass e.g. {name}=600."))


def _teacher_editions(teacher_dir: Path | str | None) -> dict[str, dict]:
    """``chapter id -> teacher notebook`` for every ``NN_*.ipynb`` of the teacher edition."""
    return {path.stem: nbl.read_notebook(path) for path in find_notebooks(teacher_dir)}


def _resolve_chapter(chapter: str | None, teachers: dict[str, dict]) -> str | None:
    """The chapter id that ``"00"`` or ``"00_getting_started"`` names."""
    if chapter is None:
        return None
    found = [c for c in teachers if c == chapter or c.split("_")[0] == chapter]
    if len(found) != 1:
        raise ChoiceError(describe(f"a chapter among {sorted(teachers)}", repr(chapter), "Use e.g. --chapter 00."))
    return found[0]


def exercise_names(teacher: dict) -> list[str]:
    """The names of a notebook's scored exercises, in notebook order."""
    return [name for kind, name, _ in nbl.check_cells(teacher) if kind == nbl.SCORED_ROLE]


def _refused(submission: str, chapter: str, teacher: dict | None, reason: str) -> list[GradeRow]:
    """FAIL rows for every exercise of ``chapter`` (one row when the chapter is unknown)."""
    names = exercise_names(teacher) if teacher is not None else ["*"]
    return [GradeRow(submission, chapter, name, "exercise", "FAIL", reason) for name in names]


# CPython 3.11's ast module is not thread-safe (python/cpython#106905): two threads building syntax trees at once can
# raise "SystemError: AST constructor recursion depth mismatch". grade() grades submissions on threads, so parses
# take turns.
_AST_LOCK = threading.Lock()


def _guarded_use(text: str) -> str:
    """The first guarded name an answer cell uses, or '' (also when it does not parse: running it reports that)."""
    try:
        with _AST_LOCK:
            tree = ast.parse(text)
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.alias):
            names = [node.name, *(node.name.split("."))]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = node.module.split(".")
        hit = next((n for n in names if n in _GUARDED_NAMES or n.startswith("check_")), None)
        if hit:
            return hit
    return ""


def assemble(submission: dict, teacher: dict) -> tuple[dict, dict[str, str]]:
    """The notebook to grade: the teacher edition with the submission's answer cells in it.

    Args:
        submission: the learner's notebook (any edition; only its ``exercise`` cells are read).
        teacher: the teacher edition of the same chapter.

    Returns:
        ``(notebook, problems)``: the notebook to run, and ``exercise -> reason`` for answers
        that were not taken (missing cell, guarded names); those cells hold the release stub.
    """
    graded = copy.deepcopy(teacher)
    answers = [c for c in submission["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]
    by_name = {nbl.exercise_of(c): c for c in answers if nbl.role(c) == "exercise" and nbl.exercise_of(c)}
    by_id = {c.get("id"): c for c in answers if c.get("id")}
    problems = {}
    for cell in graded["cells"]:
        if nbl.role(cell) != "exercise":
            if nbl.role(cell) not in nbl.CHECK_ROLES:
                nbl.clear_outputs(cell)
            continue
        name = nbl.exercise_of(cell) or cell.get("id", "?")
        mine = by_name.get(name) or by_id.get(cell.get("id"))
        text = nbl.source(mine) if mine is not None else ""
        guarded = _guarded_use(text)
        if mine is None:
            problems[name] = "the answer cell is missing from the submission"
        elif guarded:
            problems[name] = f"the answer cell uses {guarded!r}: an answer may not touch the checking machinery"
        cell["source"] = nbl.stub_solutions(nbl.source(cell)) if name in problems else text
        nbl.clear_outputs(cell)
    return graded, problems


def _run_nbval(graded: dict, chapter: str, limits: Limits, profile: str) -> tuple[list[dict], str]:
    """Run nbval on ``graded`` in a fresh folder: the per-cell records and why the run stopped early ('' if not)."""
    with tempfile.TemporaryDirectory(prefix="hdrlab-grade-") as folder:
        work = Path(folder)
        notebook = nbl.write_notebook(graded, work / f"{chapter}.ipynb")
        (work / "pytest.ini").write_text("[pytest]\n")
        (work / "sanitize.cfg").write_text(_SANITIZE)
        # the cell log plugin as the folder's conftest.py: the grading processes never import hdrlab (or torch)
        (work / "conftest.py").write_text(Path(nbval_log.__file__).read_text())
        log = work / "cells.jsonl"
        pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(work / "pytest.ini"),
                       "--rootdir", str(work), "--nbval-lax", "--nbval-current-env",
                       "--nbval-cell-timeout", str(limits.cell_timeout_s), "--nbval-sanitize-with",
                       str(work / "sanitize.cfg"), str(notebook)]
        command = [sys.executable, "-c", _CAPPED, str(int(limits.memory_mb * 2**20)), *pytest_args]
        env = dict(os.environ, HDRLAB_PROFILE=profile, HDRLAB_PROGRESS="text", PYDEVD_DISABLE_FILE_VALIDATION="1",
                   **{nbval_log.LOG_VARIABLE: str(log)})
        process = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        stopped = ""
        try:
            output, _ = process.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            kill_tree(process.pid)
            output, _ = process.communicate()
            stopped = f"the submission was stopped after {limits.timeout_s:g} s (the wall-time limit)"
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        if not records and not stopped:
            stopped = "nbval did not run: " + ((output or "").strip().splitlines() or ["no output"])[-1]
    return records, stopped


def _failure(record: dict | None, stopped: str) -> str:
    """Why a cell did not pass, in one line."""
    if record is None:
        return stopped or "the cell was not reached (the kernel died before it)"
    verdict = next((line for line in record["stdout"].splitlines() if line.startswith("FAIL: ")), "")
    if verdict:
        details = [line.strip() for line in record["stdout"].splitlines() if line.startswith("    ")]
        return " | ".join([verdict, *details])
    if "Failed to interrupt kernel" in record["message"] or "Kernel dead" in record["message"]:
        return f"the kernel died or stopped answering ({record['message']}): a crash, os._exit or an endless loop"
    if record["error"].startswith("KeyboardInterrupt") or "Timeout of" in record["message"]:
        return f"the cell ran past its time limit ({record['message'] or 'interrupted'}): an endless loop?"
    return record["error"] or record["message"] or record["outcome"]


def _did_not_run(record: dict | None) -> bool:
    """A cell that failed, was never reached, or was skipped because the kernel had died (not by its tags)."""
    return record is None or record["outcome"] == "failed" or "Kernel dead" in record["message"]


def _rows(submission: str, chapter: str, graded: dict, records: list[dict], problems: dict[str, str],
          stopped: str) -> list[GradeRow]:
    """Gradebook rows from the per-cell records of one nbval run."""
    by_id = {r["id"]: r for r in records}
    answers = {nbl.exercise_of(c): c for c in graded["cells"] if nbl.role(c) == "exercise"}
    rows, checked = [], set()
    for kind, name, cell in nbl.check_cells(graded):
        record = by_id.get(cell.get("id"))
        answer = answers.get(name) if kind == nbl.SCORED_ROLE else None
        answer_record = by_id.get(answer.get("id")) if answer is not None else None
        checked |= {cell.get("id"), answer.get("id") if answer is not None else None}
        passed = record is not None and record["outcome"] == "passed" and name not in problems
        reason = ""
        if not passed:
            answer_failed = answer_record is not None and answer_record["outcome"] == "failed"
            reason = problems.get(name) or (
                f"the answer cell failed: {_failure(answer_record, stopped)}" if answer_failed
                else _failure(record, stopped))
        label = "exercise" if kind == nbl.SCORED_ROLE else kind
        rows.append(GradeRow(submission, chapter, name, label, "PASS" if passed else "FAIL", reason))
    code = [c for c in graded["cells"] if c.get("cell_type") == "code" and c.get("id") not in checked]
    broken = next(((c, by_id.get(c.get("id"))) for c in code if _did_not_run(by_id.get(c.get("id")))), None)
    reason = "" if broken is None else f"cell {broken[1]['index'] if broken[1] else '?'} (id {broken[0].get('id')}): " \
        f"{_failure(broken[1], stopped)}"
    rows.append(GradeRow(submission, chapter, "notebook", "notebook", "FAIL" if broken else "PASS", reason))
    return rows


def grade_submission(path: Path | str, teachers: dict[str, dict], *, chapter: str | None = None,
                     limits: Limits = Limits(), profile: str = "quick") -> list[GradeRow]:
    """Grade one submission (see the module docstring); never raises for what the submission contains.

    Args:
        path: the submitted ``.ipynb``.
        teachers: ``chapter id -> teacher notebook``.
        chapter: the assignment's chapter id; a submission of another chapter scores 0.
        limits: time and memory limits.
        profile: the course profile the notebook runs in (``HDRLAB_PROFILE``).

    Returns:
        The submission's gradebook rows.
    """
    name = str(path)
    try:
        submission = nbl.read_notebook(path)
    except HdrlabError as err:
        return _refused(name, chapter or "?", teachers.get(chapter), f"not gradable: {err}")
    own = nbl.chapter_of(submission)
    if own is None or own not in teachers:
        found = "no chapter id" if own is None else f"the unknown chapter id {own!r}"
        return _refused(name, chapter or "?", teachers.get(chapter),
                        f"the notebook has {found} in metadata.hdrlab.chapter: hand in the notebook of the "
                        "student edition (release), saved by Jupyter")
    if chapter is not None and own != chapter:
        return _refused(name, chapter, teachers[chapter], f"this is the notebook of chapter {own}, not {chapter}")
    graded, problems = assemble(submission, teachers[own])
    records, stopped = _run_nbval(graded, own, limits, profile)
    return _rows(name, own, graded, records, problems, stopped)


def write_gradebook(rows: Sequence[GradeRow], path: Path | str) -> Path:
    """Write ``rows`` as CSV with the columns :data:`GRADEBOOK_COLUMNS`."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=GRADEBOOK_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**asdict(row), "score": row.score})
    return path


def format_summary(rows: Sequence[GradeRow]) -> str:
    """One line per submission: chapter, exercises passed of all, and what else failed.

    Example:
        >>> print(format_summary([GradeRow("a.ipynb", "00_x", "camera", "exercise", "PASS"),
        ...                       GradeRow("a.ipynb", "00_x", "notebook", "notebook", "PASS")]))
        a.ipynb (00_x): 1 of 1 exercises pass
    """
    lines = []
    for submission in dict.fromkeys(r.submission for r in rows):
        mine = [r for r in rows if r.submission == submission]
        scored = [r for r in mine if r.kind == "exercise"]
        others = [f"{r.exercise} ({r.kind})" for r in mine if r.kind != "exercise" and r.result != "PASS"]
        line = f"{submission} ({mine[0].chapter}): {sum(r.result == 'PASS' for r in scored)} of {len(scored)} " \
               "exercises pass"
        lines.append(line + (f"; also failed: {', '.join(others)}" if others else ""))
    return "\n".join(lines)


def grade(submissions: Sequence[Path | str], out: Path | str | None = None, *, chapter: str | None = None,
          teacher_dir: Path | str | None = None, limits: Limits = Limits(), jobs: int = 1,
          profile: str = "quick") -> list[GradeRow]:
    """Grade every submission and write the gradebook.

    Args:
        submissions: notebook paths, as handed in.
        out: the gradebook CSV to write (none when None).
        chapter: the assignment's chapter (``"00"`` or ``"00_getting_started"``), or None to
            grade each submission as the chapter its metadata names.
        teacher_dir: the teacher edition (default: this repository's ``notebooks/``).
        limits: time and memory limits per submission.
        jobs: submissions graded at once (each in its own processes).
        profile: the course profile the notebooks run in.

    Returns:
        All rows, submission by submission in the order given.

    Raises:
        ChoiceError: no submissions, an unknown ``chapter``, or ``jobs`` < 1.
    """
    if not submissions:
        raise ChoiceError(describe("at least one submission", "none", "Pass notebook paths, e.g. subs/*.ipynb."))
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ChoiceError(describe("jobs >= 1", repr(jobs), "Use --jobs 1 (or the number of free cores)."))
    teachers = _teacher_editions(teacher_dir)
    assignment = _resolve_chapter(chapter, teachers)
    start = time.perf_counter()

    def one(path: Path | str) -> list[GradeRow]:
        rows = grade_submission(path, teachers, chapter=assignment, limits=limits, profile=profile)
        print(format_summary(rows), flush=True)
        return rows

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = [row for result in pool.map(one, submissions) for row in result]
    if out is not None:
        write_gradebook(rows, out)
    print(f"graded {len(submissions)} submissions in {time.perf_counter() - start:.1f} s")
    return rows

