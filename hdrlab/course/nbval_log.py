"""A pytest plugin for the grader's nbval subprocess: one JSON line per notebook cell as it finishes.

``python -m hdrlab grade`` copies this file as ``conftest.py`` into the folder where
it runs ``pytest --nbval-lax ...`` (so that process imports neither hdrlab nor
torch; the file imports nothing of hdrlab), with ``HDRLAB_GRADE_LOG`` set to a file path. For each nbval cell item this
plugin appends ``{"id", "index", "outcome", "stdout", "error", "message"}`` and
flushes, so the cells graded before a submission is stopped (wall-time limit,
crash) are still on record. ``stdout`` is what the cell printed, ``error`` the
``ename: evalue`` of an exception in the cell, ``message`` nbval's reason.

Not for learners: it only serves :mod:`hdrlab.course.grade`.
"""

from __future__ import annotations

import json
import os

import pytest

#: Environment variable naming the JSON-lines file to append to.
LOG_VARIABLE = "HDRLAB_GRADE_LOG"


def _outputs_text(outputs: list) -> tuple[str, str]:
    """``(stdout text, "ename: evalue" of the first error)`` of nbval's captured outputs."""
    stdout, error = "", ""
    for output in outputs or []:
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            stdout += output.get("text", "")
        if output.get("output_type") == "error" and not error:
            error = f"{output.get('ename')}: {output.get('evalue')}"
    return stdout, error


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Append the outcome of each cell's test phase (and of a failed or skipped set-up) to the log."""
    outcome = yield
    report = outcome.get_result()
    path = os.environ.get(LOG_VARIABLE)
    cell = getattr(item, "cell", None)
    if path is None or cell is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    stdout, error = _outputs_text(getattr(item, "test_outputs", None))
    message = ""
    if call.excinfo is not None:
        message = str(call.excinfo.value).strip().splitlines()[0] if str(call.excinfo.value).strip() else ""
        message = message or call.excinfo.typename
    record = {"id": cell.get("id"), "index": item.cell_num, "outcome": report.outcome, "stdout": stdout,
              "error": error, "message": message[:500]}
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
        log.flush()
