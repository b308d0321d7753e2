"""hdrlab.course.release and the notebook layer: the student edition, its solution stubs, and that it is current."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hdrlab.course import notebook as nbl
from hdrlab.course import release as releasing
from hdrlab.errors import FileFormatError

ROOT = Path(__file__).resolve().parents[1]
TEACHER = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _released(path: Path) -> dict:
    return releasing.release_notebook(nbl.read_notebook(path), path.stem)


@pytest.mark.parametrize("path", TEACHER, ids=lambda p: p.name)
class TestStudentEdition:
    def test_no_solution_line_of_the_teacher_edition_appears(self, path):
        teacher, student = nbl.read_notebook(path), nbl.read_notebook(ROOT / "student" / path.name)
        secret = [line.strip() for c in teacher["cells"] for line in nbl.solution_lines(nbl.source(c)) if line.strip()]
        assert secret, "the teacher edition has solutions"
        assert releasing.leaked_lines(teacher, student) == []
        text = (ROOT / "student" / path.name).read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text

    def test_committed_student_edition_is_current(self, path, tmp_path):
        """student/ is what `python -m hdrlab release --out student` writes today (the Colab badges open it)."""
        written = releasing.release(tmp_path, [path])[0]
        assert written.read_text() == (ROOT / "student" / path.name).read_text(), \
            "student/ is stale: run `python -m hdrlab release --out student`"

    def test_no_outputs_and_only_course_metadata(self, path):
        student = _released(path)
        assert student["metadata"]["hdrlab"] == {"chapter": path.stem, "edition": "student"}
        assert set(student["metadata"]) <= {"kernelspec", "language_info", "hdrlab"}
        for cell in student["cells"]:
            assert set(cell.get("metadata", {})) <= {"tags", "hdrlab"}
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None

    def test_cell_ids_and_signatures_kept(self, path):
        teacher, student = nbl.read_notebook(path), _released(path)
        assert [c.get("id") for c in teacher["cells"]] == [c.get("id") for c in student["cells"]]
        for mine, theirs in zip(student["cells"], teacher["cells"]):
            if nbl.role(theirs) == "exercise":
                assert nbl.source(mine).split("\n")[0] == nbl.source(theirs).split("\n")[0]  # the def line
                assert "raise NotImplementedError(" in nbl.source(mine)

    def test_every_exercise_has_a_check_with_its_name(self, path):
        teacher = nbl.read_notebook(path)
        answers = [nbl.exercise_of(c) for c in teacher["cells"] if nbl.role(c) == "exercise"]
        checks = [name for kind, name, _ in nbl.check_cells(teacher) if kind == nbl.SCORED_ROLE]
        assert answers == checks and len(answers) >= 2


class TestSolutionRegions:
    def test_stub_keeps_given_lines_and_indentation(self):
        text = "def f(x):\n    y = x + 1  # given\n    # BEGIN SOLUTION\n    return y * 2\n    # END SOLUTION"
        stub = nbl.stub_solutions(text)
        assert stub.startswith("def f(x):\n    y = x + 1  # given\n    raise NotImplementedError(")
        assert "return y * 2" not in stub
        compile(stub, "<stub>", "exec")

    def test_the_stub_raises_with_its_hint(self):
        namespace = {}
        exec(nbl.stub_solutions("def f(x):\n    # BEGIN SOLUTION hint: double it\n    return 2 * x\n"
                                "    # END SOLUTION"), namespace)
        with pytest.raises(NotImplementedError, match="double it"):
            namespace["f"](1)

    @pytest.mark.parametrize("text", ["# BEGIN SOLUTION\nx = 1", "x = 1\n# END SOLUTION",
                                      "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n# END SOLUTION"])
    def test_unbalanced_regions_raise(self, text):
        with pytest.raises(FileFormatError, match="SOLUTION"):
            nbl.stub_solutions(text)

    def test_region_outside_an_exercise_cell_is_refused(self):
        teacher = {"metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "# BEGIN SOLUTION\nx = 1\n"
                                              "# END SOLUTION", "outputs": [], "execution_count": None}]}
        with pytest.raises(FileFormatError, match="exercise"):
            releasing.release_notebook(teacher, "99_x")

    def test_a_leak_in_an_output_or_metadata_is_found(self):
        region = "def f():\n    # BEGIN SOLUTION\n    return 'the secret value'\n    # END SOLUTION"
        teacher = {"cells": [{"cell_type": "code", "source": region, "metadata": {}}]}
        for student in ({"cells": [{"outputs": [{"text": "    return 'the secret value'\n"}]}]},
                        {"metadata": {"note": "return 'the secret value'"}, "cells": []}):
            assert releasing.leaked_lines(teacher, student) == ["return 'the secret value'"]
        assert releasing.leaked_lines(teacher, {"cells": []}) == []

    def test_release_refuses_a_notebook_that_leaks(self, tmp_path):
        cell = {"cell_type": "code", "id": "a", "metadata": {"tags": ["exercise"]}, "outputs": [],
                "execution_count": None, "source": "def f():\n    # BEGIN SOLUTION\n    return 'the secret value'\n"
                                                   "    # END SOLUTION"}
        shown = {"cell_type": "markdown", "id": "b", "metadata": {}, "source": "x",
                 "attachments": {"a.txt": {"text/plain": "return 'the secret value'"}}}
        path = nbl.write_notebook({"cells": [cell, shown], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
                                  tmp_path / "99_leaky.ipynb")
        with pytest.raises(FileFormatError, match="no solution line"):
            releasing.release(tmp_path / "out", [path])
        assert not (tmp_path / "out" / "99_leaky.ipynb").exists()


class TestReadNotebook:
    def test_invalid_json(self, tmp_path):
        (tmp_path / "x.ipynb").write_text('{"cells": [')
        with pytest.raises(FileFormatError, match="notebook JSON"):
            nbl.read_notebook(tmp_path / "x.ipynb")

    def test_not_a_notebook(self, tmp_path):
        (tmp_path / "x.ipynb").write_text(json.dumps({"cells": "no"}))
        with pytest.raises(FileFormatError, match="list of cells"):
            nbl.read_notebook(tmp_path / "x.ipynb")


def test_cli_release(tmp_path):
    done = subprocess.run([sys.executable, "-m", "hdrlab", "release", "--out", str(tmp_path), "--only", "00"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["00_getting_started.ipynb"]
