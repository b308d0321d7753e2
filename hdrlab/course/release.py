"""Release the student edition of the course, and point every link at the published copy.

The teacher edition lives in this repository's ``notebooks/``: solutions inside
``# BEGIN SOLUTION`` ... ``# END SOLUTION`` regions, and the stored ``PASS`` lines
of the checker cells that grading compares with. ``python -m hdrlab release --out
DIR`` writes the student edition of every notebook into ``DIR``:

- each solution region becomes ``raise NotImplementedError("Exercise: <hint> ...")``
  (the function's signature and any given lines stay), so an unsolved exercise's
  checker prints ``FAIL`` and the notebook still runs to its end;
- every output is removed, the stored ``PASS`` lines included;
- cell metadata keeps only the tags and the course's entry (the exercise name),
  notebook metadata only the kernel, the language and the course's entry (chapter
  id, ``edition: "student"``); cell ids stay, so a cell is the same cell in both
  editions;
- the written file is searched for every solution line of the teacher edition,
  and the release fails if one is found anywhere (outputs, metadata, attachments).

This repository commits the result in ``student/`` (a test fails when it is stale)
and its Colab badges open those files. A course that keeps its solutions private
keeps this repository private and publishes the output of ``release`` (``relink``
points the links at the public copy); see the README's "For instructors".

Taught in: the README's "For instructors".
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path

from hdrlab.course import notebook as nbl
from hdrlab.errors import FileFormatError, describe

__all__ = ["release_notebook", "leaked_lines", "release", "relink"]

#: Notebook metadata the student edition keeps (besides the course's own entry).
_KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")


def _student_cell(cell: dict, where: str) -> dict:
    """The student edition of one cell: solutions stubbed, outputs and foreign metadata removed."""
    out = copy.deepcopy(cell)
    text = nbl.source(cell)
    if nbl.solution_lines(text, where):
        if nbl.role(cell) != "exercise":
            raise FileFormatError(describe("solution regions only in cells tagged 'exercise'",
                                           f"one in {where} (tags {nbl.tags(cell)})", "Tag the cell 'exercise' "
                                           "and name it in metadata.hdrlab.exercise."))
        out["source"] = nbl.stub_solutions(text, where)
    metadata = cell.get("metadata", {})
    out["metadata"] = {key: copy.deepcopy(metadata[key]) for key in ("tags", nbl.METADATA_KEY) if key in metadata}
    nbl.clear_outputs(out)
    return out


def release_notebook(teacher: dict, chapter: str) -> dict:
    """The student edition of a teacher notebook (a new dict; ``teacher`` is left unchanged).

    Args:
        teacher: the teacher edition, as read by :func:`hdrlab.course.notebook.read_notebook`.
        chapter: its chapter id (the file's stem), written into the metadata.

    Returns:
        The student edition.

    Raises:
        FileFormatError: unbalanced solution regions, a region outside an ``exercise`` cell,
            or a teacher notebook whose chapter id differs from ``chapter``.
    """
    own = nbl.chapter_of(teacher)
    if own is not None and own != chapter:
        raise FileFormatError(describe(f"chapter id {chapter!r} in the metadata", repr(own),
                                       "Keep metadata.hdrlab.chapter equal to the file's stem."))
    student = {key: copy.deepcopy(value) for key, value in teacher.items() if key not in ("cells", "metadata")}
    metadata = teacher.get("metadata", {})
    student["metadata"] = {key: copy.deepcopy(metadata[key]) for key in _KEPT_NOTEBOOK_METADATA if key in metadata}
    student["metadata"][nbl.METADATA_KEY] = {"chapter": chapter, "edition": "student"}
    student["cells"] = [_student_cell(cell, f"{chapter} cell {cell.get('id', index)}")
                        for index, cell in enumerate(teacher["cells"])]
    return student


def _strings(value: object) -> list[str]:
    """Every string anywhere in a JSON value (sources, outputs, metadata, attachments)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def leaked_lines(teacher: dict, student: dict) -> list[str]:
    """The teacher's solution lines that appear anywhere in ``student`` (a notebook's JSON).

    A solution line is a stripped, non-empty line inside a solution region that
    appears nowhere outside the regions of the teacher edition (lines such as
    ``)`` that the notebook also shows elsewhere are not secrets). It leaks when it
    is a whole line of any string in ``student``, or, if longer than 12 characters,
    part of one.
    """
    inside, outside = set(), set()
    for cell in teacher["cells"]:
        body = nbl.source(cell)
        secret = {line.strip() for line in nbl.solution_lines(body)}
        inside |= secret
        outside |= {line.strip() for line in body.split("\n")} - secret
    texts = "\n".join(_strings(student))
    lines = {line.strip() for line in texts.split("\n")}
    return sorted(line for line in inside - outside if line and (line in lines or (len(line) > 12 and line in texts)))


def release(out: Path | str, notebooks: Sequence[Path | str] | None = None) -> list[Path]:
    """Write the student edition of ``notebooks`` (default: every teacher notebook) into ``out``.

    Args:
        out: the folder to write to (created when missing); files of the same name are replaced.
        notebooks: teacher-edition ``NN_*.ipynb`` paths.

    Returns:
        The written paths, in order.

    Raises:
        FileFormatError: see :func:`release_notebook`, or a solution line found in a written file.
    """
    from hdrlab.course.run import find_notebooks

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in [Path(p) for p in notebooks] if notebooks is not None else find_notebooks():
        teacher = nbl.read_notebook(path)
        target = nbl.write_notebook(release_notebook(teacher, path.stem), folder / path.name)
        leaks = leaked_lines(teacher, nbl.read_notebook(target))
        if leaks:
            target.unlink()
            raise FileFormatError(describe(f"no solution line in the student edition of {path.name}",
                                           f"{len(leaks)} found, e.g. {leaks[0]!r}",
                                           "Keep solutions inside # BEGIN/END SOLUTION regions only."))
        written.append(target)
    return written


_LINK = r"(colab\.research\.google\.com/github/|github\.com/)({})(?=/blob/|\.git|/tree/|[\s)\"'\\]|$)"


def relink(root: Path | str | None = None, repository: str | None = None) -> list[Path]:
    """Point every GitHub/Colab link to the course's repository in README.md and both editions' notebooks at ``repository``.

    Links to the course's repository (:data:`hdrlab.REPOSITORY`) change; links to other
    repositories (the papers' and projects' code in the references) stay.

    Args:
        root: the repository root (default: this checkout).
        repository: ``owner/name``; default :data:`hdrlab.REPOSITORY`.

    Returns:
        The files that changed.
    """
    from hdrlab import REPOSITORY

    base = Path(root) if root is not None else nbl.REPO_ROOT
    target = repository or REPOSITORY
    changed = []
    notebooks = [*sorted((base / "notebooks").glob("*.ipynb")), *sorted((base / "student").glob("*.ipynb"))]
    for path in [base / "README.md", *notebooks]:
        if not path.exists():
            continue
        text = path.read_text()
        new = re.sub(_LINK.format(re.escape(REPOSITORY)), lambda m: m.group(1) + target, text)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
