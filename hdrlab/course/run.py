"""Run the course: execute every notebook with papermill and summarise the run.

``python -m hdrlab course [--profile quick|full] [--edition teacher|student] [--only 00,01] [--out DIR]``
executes ``notebooks/NN_*.ipynb`` in order (``--edition student``: the student
edition that :func:`hdrlab.course.release.release` writes), each in its own
papermill process with ``PROFILE`` injected and ``HDRLAB_PROFILE`` set, writes the
executed notebooks plus ``summary.md``/``summary.json`` to the output folder,
prints the table, and returns non-zero when any notebook failed.

A notebook fails when papermill reports an error, when it runs past its timeout,
when it executed no code cell (a notebook that "ran" without doing anything
proves nothing), or when a checker printed what its edition rules out: in the
teacher edition every checker must print ``PASS``; in the student edition every
exercise checker must print ``FAIL`` (its stub is unsolved: a ``PASS`` means a
solution leaked or the checker cannot fail) and every other checker ``PASS``.
Under ``HDRLAB_MAX_STEPS`` (a smoke run of a profile, trainings cut to a few steps)
key-effect checkers may print ``FAIL``: untrained models cannot show the effect.

Notebooks report their key numbers with :func:`record`; the runner collects
them from the executed notebook into the summary's last column.

Taught in: every notebook (``hl.course.record``); README "Run the course".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hdrlab.course import notebook as nbl
from hdrlab.course import release as releasing
from hdrlab.env import PROFILES
from hdrlab.errors import ChoiceError, MissingFileError, describe
from hdrlab.train import MAX_STEPS_VARIABLE

__all__ = [
    "METRICS_MIME", "EDITIONS", "NotebookResult", "record", "find_notebooks", "run_notebook", "run_course",
    "format_table", "kill_tree",
]

#: The two editions of the course: solutions included (this repository's ``notebooks/``) or stubbed.
EDITIONS = ("teacher", "student")

#: MIME type under which :func:`record` stores a notebook's key numbers.
METRICS_MIME = "application/vnd.hdrlab.metrics+json"
#: Default wall-clock limit per notebook, in seconds, for each profile.
DEFAULT_TIMEOUT_S = {"quick": 600, "gpu": 1800, "full": 6 * 3600}
_NOTEBOOK_NAME = re.compile(r"^(\d\d)_.+\.ipynb$")


def record(**metrics: float | int | str) -> None:
    """Publish a notebook's key numbers for the course summary table.

    Displays them as plain text (so a reader sees them) and under
    :data:`METRICS_MIME` (so :func:`run_notebook` can collect them).

    Args:
        **metrics: name -> number or short string, e.g. ``scenes=27``.

    Raises:
        ChoiceError: no metrics, or a value that is not a number or string.

    Example:
        >>> record(scenes=27, median_stops=14.5)
        hdrlab metrics: scenes=27, median_stops=14.5
    """
    if not metrics:
        raise ChoiceError(describe("at least one name=value", "nothing", "Call e.g. record(psnr=31.2)."))
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ChoiceError(describe(f"{name} to be a number or string", type(value).__name__, "Convert with float()."))
    text = "hdrlab metrics: " + ", ".join(f"{k}={v}" for k, v in metrics.items())
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python (doctest, scripts): text only
        print(text)
        return
    if get_ipython() is None:
        print(text)
        return
    display({METRICS_MIME: metrics, "text/plain": text}, raw=True)


@dataclass
class NotebookResult:
    """One row of the course summary."""

    notebook: str
    status: str  # "ok" or "FAILED"
    wall_s: float
    peak_mb: float
    metrics: dict[str, float | int | str] = field(default_factory=dict)
    error: str = ""
    exercises: str = ""  # "passed/total" of the exercise checkers, e.g. "3/3"


def find_notebooks(notebooks_dir: Path | str | None = None, only: Sequence[str] | None = None) -> list[Path]:
    """List ``NN_*.ipynb`` notebooks in order, optionally only those whose number is in ``only``.

    Args:
        notebooks_dir: folder holding the notebooks; default ``<repo>/notebooks``.
        only: two-digit prefixes such as ``["00", "01"]``.

    Returns:
        Sorted notebook paths.

    Raises:
        MissingFileError: the folder does not exist.
        ChoiceError: a prefix in ``only`` matches no notebook.

    Example:
        >>> [p.name for p in find_notebooks(only=["00"])]
        ['00_getting_started.ipynb']
    """
    folder = Path(notebooks_dir) if notebooks_dir is not None else nbl.TEACHER_DIR
    if not folder.is_dir():
        raise MissingFileError(describe("a notebooks folder", f"no folder {folder}", "Run from a clone of the course."))
    notebooks = sorted(p for p in folder.iterdir() if _NOTEBOOK_NAME.match(p.name))
    if only:
        numbers = {p.name[:2] for p in notebooks}
        unknown = [n for n in only if n not in numbers]
        if unknown:
            raise ChoiceError(describe(f"notebook numbers among {sorted(numbers)}", str(unknown), "Use e.g. --only 00,01."))
        notebooks = [p for p in notebooks if p.name[:2] in only]
    return notebooks


def _watch_peak_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """Poll the process tree under ``pid`` and keep the largest kernel RSS seen (MB)."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not stop.wait(0.1):
        try:
            children = root.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            try:
                if "ipykernel" in " ".join(child.cmdline()):
                    peak[0] = max(peak[0], child.memory_info().rss / 2**20)
            except psutil.NoSuchProcess:
                continue


def _collect(executed: Path) -> tuple[dict, int, str, list[tuple[str, str, str]]]:
    """Metrics recorded, executed code cells (papermill's injected one excluded), first error, and
    ``(role, name, printed text)`` of each checker cell."""
    notebook = nbl.read_notebook(executed)
    metrics: dict = {}
    executed_cells = 0
    error = ""
    for cell in notebook["cells"]:
        if cell.get("cell_type") != "code":
            continue
        executed_cells += cell.get("execution_count") is not None and "injected-parameters" not in nbl.tags(cell)
        for output in cell.get("outputs", []):
            metrics.update(output.get("data", {}).get(METRICS_MIME, {}))
            if output.get("output_type") == "error" and not error:
                error = f"{output.get('ename')}: {output.get('evalue')}"
    checks = [(kind, name, _printed(cell)) for kind, name, cell in nbl.check_cells(notebook)]
    return metrics, executed_cells, error, checks


def _printed(cell: dict) -> str:
    """What a cell printed to stdout."""
    return "".join(nbl.joined(o.get("text", "")) for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def _check_verdicts(checks: list[tuple[str, str, str]], edition: str, capped: bool = False) -> tuple[str, str]:
    """``(exercises "passed/total", first violation of the edition's rule or "")``.

    ``capped`` (a smoke run under ``HDRLAB_MAX_STEPS``): key effects need the trained
    models the cap prevents, so they may print ``FAIL``; every other rule holds.
    """
    exercises = [text.startswith("PASS") for kind, _, text in checks if kind == nbl.SCORED_ROLE]
    tally = f"{sum(exercises)}/{len(exercises)}" if exercises else ""
    for kind, name, text in checks:
        want_pass = not (edition == "student" and kind == nbl.SCORED_ROLE)
        if capped and kind == "key-effect":
            want_pass = text.startswith("PASS")
        if text.startswith("PASS") != want_pass or not text.startswith(("PASS", "FAIL")):
            said = text.strip().splitlines()[0] if text.strip() else "nothing"
            wanted = "PASS" if want_pass else "FAIL"
            return tally, f"{kind} {name} printed {said!r}, expected {wanted} in the {edition} edition"
    return tally, ""


def run_notebook(notebook: Path, out_dir: Path, profile: str = "quick", timeout_s: float | None = None,
                 edition: str = "teacher") -> NotebookResult:
    """Execute one notebook with papermill in a subprocess and measure it.

    Args:
        notebook: path of the ``.ipynb`` to run (its folder is the working directory).
        out_dir: where the executed notebook is written (same file name).
        profile: ``"quick"``, ``"gpu"`` or ``"full"``; injected as ``PROFILE`` and ``HDRLAB_PROFILE``.
        timeout_s: wall-clock limit; default from :data:`DEFAULT_TIMEOUT_S`.
        edition: which rule the checkers' lines must follow (see the module docstring).

    Returns:
        A :class:`NotebookResult`: status, wall seconds, the kernel's peak RSS in MB,
        the metrics the notebook recorded and the first error, if any.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    limit = timeout_s if timeout_s is not None else DEFAULT_TIMEOUT_S[profile]
    command = [
        sys.executable, "-m", "papermill", str(notebook), str(executed), "-p", "PROFILE", profile,
        "--cwd", str(notebook.parent), "--no-progress-bar", "--kernel", "python3",
    ]
    # headless: training progress as plain lines in the executed notebook (a widget bar would show nothing)
    env = dict(os.environ, HDRLAB_PROFILE=profile, HDRLAB_PROGRESS="text", PYDEVD_DISABLE_FILE_VALIDATION="1")
    stop, peak = threading.Event(), [0.0]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watcher = threading.Thread(target=_watch_peak_rss, args=(process.pid, stop, peak), daemon=True)
    watcher.start()
    try:
        log, _ = process.communicate(timeout=limit)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        log, _ = process.communicate()
        timed_out = True
    wall = time.perf_counter() - start
    stop.set()
    watcher.join()
    return _judge(notebook, executed, edition, process.returncode, timed_out, limit, wall, peak[0], log)


def kill_tree(pid: int) -> None:
    """Kill process ``pid`` and all its descendants (children first, so none is orphaned unseen)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(family, timeout=10)


def _judge(notebook, executed, edition, returncode, timed_out, limit, wall, peak_mb, log) -> NotebookResult:
    metrics, executed_cells, error, checks = _collect(executed) if executed.exists() else ({}, 0, "", [])
    exercises, violation = _check_verdicts(checks, edition, capped=bool(os.environ.get(MAX_STEPS_VARIABLE, "").strip()))
    if timed_out:
        error = f"timed out after {limit:.0f} s"
    elif returncode != 0 and not error:
        error = (log.strip().splitlines() or ["papermill failed"])[-1]
    elif returncode == 0 and executed_cells == 0:
        error = "executed no code cells"
    error = error or violation
    status = "FAILED" if error else "ok"
    return NotebookResult(notebook.name, status, round(wall, 1), round(peak_mb, 1), metrics, error, exercises)


def format_table(results: Sequence[NotebookResult]) -> str:
    """Render results as a Markdown table (notebook, status, wall s, peak MB, exercises passed, key numbers).

    Example:
        >>> print(format_table([NotebookResult("00_x.ipynb", "ok", 12.3, 410.0, {"scenes": 27})]))
        | notebook | status | wall s | peak MB | exercises | key numbers |
        |---|---|---|---|---|---|
        | 00_x.ipynb | ok | 12.3 | 410.0 |  | scenes=27 |
    """
    rows = ["| notebook | status | wall s | peak MB | exercises | key numbers |", "|---|---|---|---|---|---|"]
    for r in results:
        numbers = ", ".join(f"{k}={v}" for k, v in r.metrics.items())
        if r.error:
            numbers = f"{numbers}; error: {r.error}".lstrip("; ")
        rows.append(f"| {r.notebook} | {r.status} | {r.wall_s} | {r.peak_mb} | {r.exercises} | {numbers} |")
    return "\n".join(rows)


def run_course(
    profile: str = "quick",
    only: Sequence[str] | None = None,
    out: Path | str = "course-output",
    timeout_s: float | None = None,
    notebooks_dir: Path | str | None = None,
    edition: str = "teacher",
) -> list[NotebookResult]:
    """Execute the course notebooks in order and write ``summary.md`` and ``summary.json``.

    Args:
        profile: ``"quick"`` (CPU minutes), ``"gpu"`` (one Colab GPU) or ``"full"`` (paper scale).
        only: two-digit notebook numbers to run; all when None.
        out: output folder for executed notebooks and the summary.
        timeout_s: per-notebook limit in seconds (default per profile).
        notebooks_dir: folder of the teacher edition (default ``<repo>/notebooks``).
        edition: ``"teacher"`` runs those notebooks; ``"student"`` first releases their student
            edition into ``<out>/student-edition`` and runs that.

    Returns:
        One :class:`NotebookResult` per notebook, in order.

    Raises:
        ChoiceError: unknown profile, edition or notebook number.
        MissingFileError: no notebooks folder.
    """
    if profile not in PROFILES:
        raise ChoiceError(describe(f"profile in {PROFILES}", repr(profile), "Use --profile quick, gpu or full."))
    if edition not in EDITIONS:
        raise ChoiceError(describe(f"edition in {EDITIONS}", repr(edition), "Use --edition teacher or --edition student."))
    out_dir = Path(out)
    notebooks = find_notebooks(notebooks_dir, only)
    if edition == "student":
        notebooks = releasing.release(out_dir / "student-edition", notebooks)
    results = []
    for notebook in notebooks:
        print(f"running {notebook.name} ({profile}, {edition} edition) ...", flush=True)
        results.append(run_notebook(notebook, out_dir, profile, timeout_s, edition))
    table = format_table(results)
    (out_dir / "summary.md").write_text(table + "\n")
    (out_dir / "summary.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print(table)
    return results
