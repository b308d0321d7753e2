"""The notebook layer the course tools share: read and write, cell roles, chapter ids, solution regions, cleaning.

A notebook of the course is plain nbformat-4 JSON. The course marks what each cell
is for with cell tags (visible in JupyterLab's property inspector) and names
exercises and chapters in ``metadata["hdrlab"]``:

=====================  ==============================================================
tag                    what the cell is
=====================  ==============================================================
``exercise``           the learner's answer: a function whose body is a solution
                       region (``# BEGIN SOLUTION`` ... ``# END SOLUTION``);
                       ``metadata.hdrlab.exercise`` names the exercise
``exercise-check``     the checker call of that exercise (same ``exercise`` name);
                       scored when a submission is graded
``key-effect``         a checker of the chapter's key effect (it runs no learner
                       code); graded with the notebook, never scored
``environment``        the environment check of chapter 00; never scored
``nbval-check-output`` every checker cell: its stored ``PASS`` line is what nbval
                       compares
=====================  ==============================================================

The notebook's own ``metadata.hdrlab`` holds ``chapter`` (the stable chapter id,
the file's stem, e.g. ``"00_getting_started"``) and ``edition`` (``"teacher"`` or
``"student"``). Cell ids are kept as they are by every tool here, so a cell is the
same cell in every edition.

Taught in: the README's "For instructors"; used by :mod:`hdrlab.course.run`,
:mod:`hdrlab.course.release` and :mod:`hdrlab.course.grade`.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from hdrlab.errors import FileFormatError, MissingFileError, describe

__all__ = [
    "METADATA_KEY", "ROLES", "SCORED_ROLE", "CHECK_ROLES", "GRADED_TAG", "REPO_ROOT", "TEACHER_DIR", "STUDENT_DIR",
    "read_notebook", "write_notebook", "joined", "source", "tags", "role", "exercise_of", "chapter_of", "check_cells",
    "solution_lines", "stub_solutions", "clear_outputs", "clean_notebook",
]

#: Key of the course's entries in notebook and cell metadata.
METADATA_KEY = "hdrlab"
#: The role tags a cell can carry (at most one each).
ROLES = ("exercise", "exercise-check", "key-effect", "environment")
#: The only checks that count toward a learner's score.
SCORED_ROLE = "exercise-check"
#: Roles whose cells print a graded PASS/FAIL line.
CHECK_ROLES = ("exercise-check", "key-effect", "environment")
#: nbval's tag for a cell whose output is compared with the stored one.
GRADED_TAG = "nbval-check-output"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The teacher edition (solutions included): the source of truth, in this repository.
TEACHER_DIR = REPO_ROOT / "notebooks"
#: The committed student edition (``python -m hdrlab release --out student``); the Colab badges open it.
STUDENT_DIR = REPO_ROOT / "student"

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?:\s+hint:\s*(?P<hint>.*?))?\s*$")
_END = re.compile(r"^[ \t]*# END SOLUTION\s*$")


def read_notebook(path: Path | str) -> dict:
    """Read a notebook's JSON.

    Args:
        path: an ``.ipynb`` file.

    Returns:
        The notebook as a dict with at least a ``cells`` list.

    Raises:
        MissingFileError: no such file.
        FileFormatError: the file is not JSON, or not a notebook (no list of cells).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(describe("a notebook file", f"no file {path}", "Check the path."))
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FileFormatError(describe("notebook JSON", f"unreadable {path.name} ({err})",
                                       "Hand in the .ipynb file saved by Jupyter, not an export or a copy "
                                       "edited by hand.")) from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise FileFormatError(describe("a notebook (a JSON object with a list of cells)", f"{path.name}",
                                       "Hand in the .ipynb file saved by Jupyter."))
    return notebook


def write_notebook(notebook: dict, path: Path | str) -> Path:
    """Write ``notebook`` as the course commits notebooks (1-space indent, UTF-8, final newline)."""
    path = Path(path)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def joined(text: str | list[str]) -> str:
    """One string from a multiline value of nbformat (a string, or a list of lines)."""
    return "".join(text) if isinstance(text, list) else str(text)


def source(cell: dict) -> str:
    """A cell's source as one string."""
    return joined(cell.get("source", ""))


def tags(cell: dict) -> list[str]:
    """A cell's tags (``[]`` when it has none or they are malformed)."""
    found = cell.get("metadata", {}).get("tags", []) if isinstance(cell.get("metadata"), dict) else []
    return [t for t in found if isinstance(t, str)] if isinstance(found, list) else []


def role(cell: dict) -> str | None:
    """The cell's role tag among :data:`ROLES`, or None.

    Example:
        >>> role({"cell_type": "code", "metadata": {"tags": ["exercise-check", "nbval-check-output"]}})
        'exercise-check'
    """
    return next((t for t in tags(cell) if t in ROLES), None)


def exercise_of(cell: dict) -> str | None:
    """The exercise a cell belongs to (``metadata.hdrlab.exercise``), or None."""
    entry = cell.get("metadata", {}).get(METADATA_KEY, {}) if isinstance(cell.get("metadata"), dict) else {}
    name = entry.get("exercise") if isinstance(entry, dict) else None
    return name if isinstance(name, str) else None


def chapter_of(notebook: dict) -> str | None:
    """The notebook's chapter id (``metadata.hdrlab.chapter``), or None when it has none."""
    entry = notebook.get("metadata", {}).get(METADATA_KEY, {}) if isinstance(notebook.get("metadata"), dict) else {}
    chapter = entry.get("chapter") if isinstance(entry, dict) else None
    return chapter if isinstance(chapter, str) else None


def check_cells(notebook: dict) -> list[tuple[str, str, dict]]:
    """``(role, name, cell)`` of every checker cell, in notebook order.

    ``name`` is the exercise name for exercise checks, else the cell's ``metadata.hdrlab.exercise``
    or, failing that, its id.
    """
    found = []
    for cell in notebook["cells"]:
        kind = role(cell)
        if kind in CHECK_ROLES:
            found.append((kind, exercise_of(cell) or cell.get("id", "?"), cell))
    return found


def _regions(text: str, where: str) -> list[tuple[int, int, str, str | None]]:
    """``(begin, end, indent, hint)`` line indices of each solution region in ``text``."""
    regions, begin = [], None
    lines = text.split("\n")
    for number, line in enumerate(lines):
        opening = _BEGIN.match(line)
        if opening:
            if begin is not None:
                raise FileFormatError(describe("'# END SOLUTION' before the next '# BEGIN SOLUTION'",
                                               f"nested regions in {where}", "Close each region first."))
            begin = (number, opening["indent"], opening["hint"])
        elif _END.match(line):
            if begin is None:
                raise FileFormatError(describe("'# BEGIN SOLUTION' before '# END SOLUTION'",
                                               f"an unopened region in {where}", "Open the region first."))
            regions.append((begin[0], number, begin[1], begin[2]))
            begin = None
    if begin is not None:
        raise FileFormatError(describe("'# END SOLUTION' after '# BEGIN SOLUTION'", f"an unclosed region in {where}",
                                       "Close the region."))
    return regions


def solution_lines(text: str, where: str = "a cell") -> list[str]:
    """The lines strictly inside the solution regions of ``text``.

    Raises:
        FileFormatError: unbalanced or nested region markers.

    Example:
        >>> solution_lines("def f(x):\\n    # BEGIN SOLUTION\\n    return 2 * x\\n    # END SOLUTION")
        ['    return 2 * x']
    """
    lines = text.split("\n")
    return [line for begin, end, _, _ in _regions(text, where) for line in lines[begin + 1:end]]


def stub_solutions(text: str, where: str = "a cell") -> str:
    """Replace every solution region of ``text`` by a ``raise NotImplementedError`` with its hint.

    The lines outside the regions (the signature, given lines) stay as they are. A
    region's hint is the text after ``hint:`` on its ``# BEGIN SOLUTION`` line.

    Raises:
        FileFormatError: unbalanced or nested region markers.

    Example:
        >>> print(stub_solutions("def f(x):\\n    # BEGIN SOLUTION hint: double it\\n    return 2 * x\\n    # END SOLUTION"))
        def f(x):
            raise NotImplementedError("Exercise: double it. Write your code here, then run the check cell below.")
    """
    lines = text.split("\n")
    for begin, end, indent, hint in reversed(_regions(text, where)):
        advice = f"{hint.rstrip('.')}. " if hint else ""
        stub = f'{indent}raise NotImplementedError("Exercise: {advice}Write your code here, then run the check cell below.")'
        lines[begin:end + 1] = [stub]
    return "\n".join(lines)


def clear_outputs(cell: dict) -> None:
    """Remove a code cell's outputs and execution count, in place (markdown cells are left alone)."""
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None


def clean_notebook(notebook: Path | str, graded_from: Path | str | None = None) -> int:
    """Strip outputs from every cell except graded ones (``nbval-check-output``), in place.

    The teacher edition is committed without outputs, except graded check cells,
    whose stored ``PASS`` lines are the reference a submission is graded against.

    Args:
        notebook: the ``.ipynb`` to clean.
        graded_from: an executed copy (e.g. from ``python -m hdrlab course``);
            graded cells take their outputs from the cell with the same source there.

    Returns:
        The number of graded cells whose outputs are stored.

    Raises:
        MissingFileError: a graded cell has no matching cell in ``graded_from``.
    """
    path = Path(notebook)
    nb = read_notebook(path)
    executed = {}
    if graded_from is not None:
        for cell in read_notebook(graded_from)["cells"]:
            executed[source(cell)] = cell
    graded = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        if GRADED_TAG not in tags(cell):
            clear_outputs(cell)
            continue
        graded += 1
        if graded_from is not None:
            text = source(cell)
            if text not in executed:
                raise MissingFileError(describe("the graded cell in the executed copy", f"no cell with source {text!r}",
                                                "Execute this same notebook, then clean it."))
            # nbval only compares cells that were run, so graded cells keep their execution count
            cell["outputs"] = copy.deepcopy(executed[text]["outputs"])
            cell["execution_count"] = executed[text]["execution_count"]
    write_notebook(nb, path)
    return graded
