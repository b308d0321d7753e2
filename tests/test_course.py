"""hdrlab.course: the papermill runner and its summary, and the CLI."""

import json
import re
from pathlib import Path

import nbformat
import pytest

import hdrlab
from hdrlab import course
from hdrlab.__main__ import main
from hdrlab.errors import ChoiceError, MissingFileError

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, *sources: str, parameters: str = 'PROFILE = "auto"') -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), cell] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    """Run three small notebooks once: one good, one failing, one with no code."""
    folder = tmp_path_factory.mktemp("notebooks")
    _notebook(
        folder / "00_good.ipynb",
        "import os, hdrlab.course as c\nx = [0] * 5_000_000\n"
        "c.record(profile=PROFILE, env=os.environ['HDRLAB_PROFILE'], answer=42)",
    )
    _notebook(folder / "01_fails.ipynb", "raise ValueError('boom')")
    empty = nbformat.v4.new_notebook()
    empty.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    empty.cells = [nbformat.v4.new_markdown_cell("only prose")]
    nbformat.write(empty, folder / "02_empty.ipynb")
    (folder / "notes.ipynb").write_text("{}")  # not NN_*: ignored
    out = tmp_path_factory.mktemp("out")
    return course.run_course("quick", out=out, notebooks_dir=folder), out


class TestRunCourse:
    def test_good_notebook(self, course_run):
        good = course_run[0][0]
        assert (good.notebook, good.status, good.error) == ("00_good.ipynb", "ok", "")
        assert good.metrics == {"profile": "quick", "env": "quick", "answer": 42}
        assert good.wall_s > 0
        assert good.peak_mb > 40  # the kernel held a 5M-element list (~40 MB)

    def test_failure_is_reported_with_the_error(self, course_run):
        failed = course_run[0][1]
        assert failed.status == "FAILED" and "ValueError: boom" in failed.error

    def test_notebook_without_code_fails(self, course_run):
        empty = course_run[0][2]
        assert empty.status == "FAILED" and empty.error == "executed no code cells"

    def test_outputs_written(self, course_run):
        results, out = course_run
        assert [r.notebook for r in results] == ["00_good.ipynb", "01_fails.ipynb", "02_empty.ipynb"]
        assert (out / "00_good.ipynb").exists()
        assert json.loads((out / "summary.json").read_text())[0]["metrics"]["answer"] == 42
        assert "| 00_good.ipynb | ok |" in (out / "summary.md").read_text()

    def test_timeout(self, tmp_path):
        _notebook(tmp_path / "00_slow.ipynb", "import time\ntime.sleep(120)")
        result = course.run_notebook(tmp_path / "00_slow.ipynb", tmp_path / "out", timeout_s=8)
        assert result.status == "FAILED" and "timed out after 8 s" in result.error
        assert result.wall_s < 60


class TestCli:
    def test_exit_code_reflects_failures(self, tmp_path, monkeypatch):
        _notebook(tmp_path / "05_fails.ipynb", "1 / 0")
        monkeypatch.setattr(course.run, "find_notebooks", lambda _dir, only: [tmp_path / "05_fails.ipynb"])
        assert main(["course", "--out", str(tmp_path / "out")]) == 1

    def test_bad_profile(self):
        with pytest.raises(SystemExit):
            main(["course", "--profile", "medium"])


def _checked_notebook(path: Path, verdicts: dict[str, str]) -> Path:
    """A notebook whose checker cells (role -> printed verdict) print fixed lines."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell('PROFILE = "auto"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters]
    for role, verdict in verdicts.items():
        cell = nbformat.v4.new_code_cell(f"print({verdict + ': x'!r})")
        cell.metadata["tags"] = [role, "nbval-check-output"]
        cell.metadata["hdrlab"] = {"exercise": role}
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


class TestEditions:
    """A teacher run needs every checker to PASS; a student run needs every exercise to FAIL, the rest to PASS."""

    @pytest.mark.parametrize("edition, verdicts, status", [
        ("teacher", {"exercise-check": "PASS", "key-effect": "PASS"}, "ok"),
        ("teacher", {"exercise-check": "FAIL", "key-effect": "PASS"}, "FAILED"),
        ("student", {"exercise-check": "FAIL", "key-effect": "PASS"}, "ok"),
        ("student", {"exercise-check": "PASS", "key-effect": "PASS"}, "FAILED"),
        ("student", {"exercise-check": "FAIL", "key-effect": "FAIL"}, "FAILED"),
    ])
    def test_checker_lines_follow_the_edition(self, tmp_path, edition, verdicts, status):
        path = _checked_notebook(tmp_path / "00_checked.ipynb", verdicts)
        result = course.run_notebook(path, tmp_path / "out", edition=edition)
        assert result.status == status, result.error
        assert result.exercises == f"{int(verdicts['exercise-check'] == 'PASS')}/1"

    @pytest.mark.parametrize("verdicts, status", [
        ({"exercise-check": "PASS", "key-effect": "FAIL"}, "ok"),      # untrained models cannot show the effect
        ({"exercise-check": "FAIL", "key-effect": "PASS"}, "FAILED"),  # the exercises are judged as ever
    ])
    def test_a_capped_run_lets_key_effects_fail(self, tmp_path, monkeypatch, verdicts, status):
        monkeypatch.setenv("HDRLAB_MAX_STEPS", "2")
        path = _checked_notebook(tmp_path / "00_checked.ipynb", verdicts)
        result = course.run_notebook(path, tmp_path / "out", edition="teacher")
        assert result.status == status, result.error

    def test_student_edition_run_releases_first(self, tmp_path):
        teacher = tmp_path / "teacher"
        teacher.mkdir()
        path = _checked_notebook(teacher / "00_checked.ipynb", {"exercise-check": "FAIL"})
        results = course.run_course(out=tmp_path / "out", notebooks_dir=teacher, edition="student")
        assert results[0].status == "ok"
        released = json.loads((tmp_path / "out" / "student-edition" / path.name).read_text())
        assert released["metadata"]["hdrlab"] == {"chapter": "00_checked", "edition": "student"}

    def test_unknown_edition(self):
        with pytest.raises(ChoiceError, match="edition"):
            course.run_course(edition="answers")


class TestFindNotebooks:
    def test_only_unknown_number(self):
        with pytest.raises(ChoiceError, match="--only"):
            course.find_notebooks(only=["99"])

    def test_missing_folder(self, tmp_path):
        with pytest.raises(MissingFileError):
            course.find_notebooks(tmp_path / "nope")

    def test_course_notebooks_in_order(self):
        names = [p.name for p in course.find_notebooks()]
        assert names == sorted(names) and names[0] == "00_getting_started.ipynb"

    def test_run_course_bad_profile(self):
        with pytest.raises(ChoiceError):
            course.run_course("medium")


class TestRecord:
    def test_prints_outside_ipython(self, capsys):
        course.record(a=1, b="x")
        assert capsys.readouterr().out.strip() == "hdrlab metrics: a=1, b=x"

    @pytest.mark.parametrize("kwargs", [{}, {"a": [1]}, {"a": True}])
    def test_bad(self, kwargs):
        with pytest.raises(ChoiceError):
            course.record(**kwargs)


class TestLinks:
    """The repository URL is defined once; README and notebooks agree with it."""

    LINK = re.compile(r"(?:colab\.research\.google\.com/github/|github\.com/)([\w.-]+/[\w.-]+?)(?=/blob/|\.git|[\s)\"'\\])")

    def test_readme_and_notebooks_use_the_constant(self):
        files = [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.ipynb"))]
        found = {m for f in files for m in self.LINK.findall(f.read_text())}
        course_links = {m for m in found if m.split("/")[1] == hdrlab.REPOSITORY.split("/")[1]}
        assert course_links == {hdrlab.REPOSITORY}  # other repositories are references

    def test_every_notebook_has_its_colab_badge(self):
        readme = (ROOT / "README.md").read_text()
        for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            assert hdrlab.colab_url(nb.name) in readme
            assert hdrlab.colab_url(nb.name) in nb.read_text()

    def test_relink_rewrites_all_links(self, tmp_path):
        (tmp_path / "notebooks").mkdir()
        (tmp_path / "README.md").write_text((ROOT / "README.md").read_text())
        nb = sorted((ROOT / "notebooks").glob("*.ipynb"))[0]
        (tmp_path / "notebooks" / nb.name).write_text(nb.read_text())
        reference = "\nThe project's code: https://github.com/some-author/their-code (a reference).\n"
        (tmp_path / "README.md").write_text((tmp_path / "README.md").read_text() + reference)
        changed = course.relink(tmp_path, "someone/else")
        assert len(changed) == 2
        text = (tmp_path / "README.md").read_text() + (tmp_path / "notebooks" / nb.name).read_text()
        links = set(self.LINK.findall(text))
        assert "someone/else" in links and "some-author/their-code" in links  # the reference is kept
        assert not [m for m in links if m.split("/")[1] == hdrlab.REPOSITORY.split("/")[1]]  # no course link left
