"""hdrlab.course.grade: a class of tampered submissions, resource limits, the teacher edition graded as a submission."""

import csv
import importlib.util
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from hdrlab.course import grade as grading
from hdrlab.course import notebook as nbl
from hdrlab.errors import ChoiceError, RangeError

ROOT = Path(__file__).resolve().parents[1]
TEACHER = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location("grading_benchmark", ROOT / "benchmarks" / "grading.py")
benchmark = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchmark)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The fixture class of notebooks 00 and 01, graded once (two at a time), with its gradebook."""
    folder = tmp_path_factory.mktemp("class")
    submissions = benchmark.build_class(folder)
    rows = benchmark.grade_class(submissions, grading.Limits(cell_timeout_s=30), jobs=2)
    return submissions, rows, grading.write_gradebook(rows, folder / "gradebook.csv")


class TestFixtureClass:
    def test_at_least_ten_submissions(self, graded_class):
        submissions, _, _ = graded_class
        assert len(submissions) >= 10

    def test_gradebook_matches_the_expected_scores_exactly(self, graded_class):
        submissions, rows, _ = graded_class
        for submission in submissions:
            got = {r.exercise: r for r in rows if r.submission == str(submission.path) and r.kind == "exercise"}
            assert set(got) == set(submission.expected), submission.path.name
            for name, (result, reason) in submission.expected.items():
                assert (got[name].result, got[name].score) == (result, int(result == "PASS")), \
                    f"{submission.path.name} {name}: {got[name].reason}"
                assert reason in got[name].reason, f"{submission.path.name} {name}: {got[name].reason}"

    def test_gradebook_csv(self, graded_class):
        submissions, rows, path = graded_class
        with path.open() as handle:
            table = list(csv.DictReader(handle))
        assert tuple(table[0]) == grading.GRADEBOOK_COLUMNS
        assert len(table) == len(rows)
        assert {row["submission"] for row in table} == {str(s.path) for s in submissions}
        assert all(row["result"] in ("PASS", "FAIL") for row in table)

    def test_a_crash_fails_the_cells_after_it(self, graded_class):
        _, rows, _ = graded_class
        row = next(r for r in rows if r.submission.endswith("00_exit_and_crash.ipynb") and r.kind == "notebook")
        assert row.result == "FAIL" and "kernel died" in row.reason

    def test_unbroken_notebooks_run_every_other_cell(self, graded_class):
        _, rows, _ = graded_class
        for row in rows:
            if row.kind in ("notebook", "environment") and "crash" not in row.submission and row.chapter != "?":
                assert row.result == "PASS", (row.submission, row.reason)


@pytest.fixture()
def tiny_course(tmp_path):
    """A purpose-made one-exercise teacher edition (no torch in its kernel) and a factory of submissions."""
    answer = {"cell_type": "code", "id": "answer", "execution_count": None, "outputs": [],
              "metadata": {"tags": ["exercise"], "hdrlab": {"exercise": "answer"}},
              "source": "def answer():\n    # BEGIN SOLUTION\n    return 42\n    # END SOLUTION"}
    check = {"cell_type": "code", "id": "check", "execution_count": 1,
             "metadata": {"tags": ["exercise-check", "nbval-check-output"], "hdrlab": {"exercise": "answer"}},
             "outputs": [{"output_type": "stream", "name": "stdout", "text": "PASS: answer\n"}],
             "source": 'print("PASS: answer" if answer() == 42 else "FAIL: answer: not 42")'}
    teacher = {"cells": [answer, check], "nbformat": 4, "nbformat_minor": 5,
               "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                            "hdrlab": {"chapter": "90_tiny", "edition": "teacher"}}}
    (tmp_path / "teacher").mkdir()
    nbl.write_notebook(teacher, tmp_path / "teacher" / "90_tiny.ipynb")

    def submit(body: str) -> Path:
        notebook = json.loads(json.dumps(teacher))
        notebook["cells"][0]["source"] = "def answer():\n" + body
        return nbl.write_notebook(notebook, tmp_path / f"sub{len(list(tmp_path.glob('sub*')))}.ipynb")

    return tmp_path, submit


class TestLimits:
    def test_wall_time_limit_kills_the_kernel_and_its_children(self, tiny_course):
        folder, submit = tiny_course
        pid_file = folder / "pids.txt"
        path = submit(f"    import os, subprocess, time\n    child = subprocess.Popen(['sleep', '300'])\n"
                      f"    open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
                      "    time.sleep(300)")
        start = time.perf_counter()
        rows = grading.grade([path], teacher_dir=folder / "teacher", limits=grading.Limits(timeout_s=15,
                                                                                           cell_timeout_s=200))
        assert time.perf_counter() - start < 60
        assert rows[0].result == "FAIL" and "stopped after 15 s" in rows[0].reason
        for pid in map(int, pid_file.read_text().split()):
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    def test_memory_cap(self, tiny_course):
        folder, submit = tiny_course
        path = submit("    data = bytearray(6 * 2**30)\n    return 42")
        rows = grading.grade([path], teacher_dir=folder / "teacher", limits=grading.Limits(memory_mb=3000))
        assert rows[0].result == "FAIL" and "MemoryError" in rows[0].reason

    def test_a_solved_tiny_submission_passes(self, tiny_course):
        folder, submit = tiny_course
        rows = grading.grade([submit("    return 42")], teacher_dir=folder / "teacher")
        assert [(r.exercise, r.result) for r in rows] == [("answer", "PASS"), ("notebook", "PASS")]

    @pytest.mark.parametrize("field", ["timeout_s", "cell_timeout_s", "memory_mb"])
    @pytest.mark.parametrize("value", [0, -1, "10", True])
    def test_bad_limits(self, field, value):
        with pytest.raises(RangeError, match=field):
            grading.Limits(**{field: value})


class TestAssemble:
    TEACHER = nbl.read_notebook(ROOT / "notebooks" / "00_getting_started.ipynb")

    def test_takes_only_the_answer_cells(self):
        submission = json.loads(json.dumps(self.TEACHER))
        for cell in submission["cells"]:
            if nbl.role(cell) == "exercise-check":
                cell["source"], cell["outputs"] = 'print("PASS")', []
            elif nbl.role(cell) == "exercise":
                cell["source"] = f"def my_{nbl.exercise_of(cell)}(*args):\n    return 0"
        submission["cells"].append({"cell_type": "code", "id": "extra", "metadata": {}, "outputs": [],
                                    "execution_count": None, "source": "import os"})
        graded, problems = grading.assemble(submission, self.TEACHER)
        assert problems == {}
        assert [c["id"] for c in graded["cells"]] == [c["id"] for c in self.TEACHER["cells"]]
        for mine, theirs in zip(graded["cells"], self.TEACHER["cells"]):
            if nbl.role(theirs) == "exercise":
                assert nbl.source(mine).endswith("return 0")
            else:
                assert mine["source"] == theirs["source"]
                if nbl.role(theirs) in nbl.CHECK_ROLES:
                    assert mine["outputs"] == theirs["outputs"] and mine["outputs"]

    def test_answers_matched_by_id_when_the_tags_were_lost(self):
        submission = json.loads(json.dumps(self.TEACHER))
        for cell in submission["cells"]:
            if nbl.role(cell) == "exercise":
                cell["metadata"] = {}
                cell["source"] = "x = 1"
        graded, problems = grading.assemble(submission, self.TEACHER)
        assert problems == {} and all(nbl.source(c) == "x = 1" for c in graded["cells"] if nbl.role(c) == "exercise")

    @pytest.mark.parametrize("text", ["import builtins\nbuiltins.print = len", "from hdrlab import checks",
                                      "import sys\nsys.setprofile(None)", "hl.checks.check_camera = print",
                                      "import sys\nsys.stdout = None", "from hdrlab.checks import _report"])
    def test_guarded_names(self, text):
        assert grading._guarded_use(text)

    @pytest.mark.parametrize("text", ["def f(x):\n    return x  # checks the value", "x = 'checks'", "def f(:"])
    def test_innocent_or_unparsable_answers_pass_the_guard(self, text):
        assert grading._guarded_use(text) == ""

    def test_answers_are_parsed_one_at_a_time(self, monkeypatch):
        """Submissions are graded on threads, and CPython 3.11's ast module fails when two threads parse at once."""
        parsing, most = [0], [0]
        real_parse = grading.ast.parse

        def slow_parse(*args, **kwargs):
            parsing[0] += 1
            most[0] = max(most[0], parsing[0])
            time.sleep(0.05)
            parsing[0] -= 1
            return real_parse(*args, **kwargs)

        monkeypatch.setattr(grading.ast, "parse", slow_parse)
        threads = [threading.Thread(target=grading._guarded_use, args=("x = 1",)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert most[0] == 1


class TestGradeArguments:
    def test_unknown_chapter(self, tmp_path):
        with pytest.raises(ChoiceError, match="--chapter"):
            grading.grade([tmp_path / "x.ipynb"], chapter="77")

    def test_no_submissions(self):
        with pytest.raises(ChoiceError, match="at least one"):
            grading.grade([])

    @pytest.mark.parametrize("jobs", [0, 1.5, True])
    def test_bad_jobs(self, jobs, tmp_path):
        with pytest.raises(ChoiceError, match="jobs"):
            grading.grade([tmp_path / "x.ipynb"], jobs=jobs)

    def test_missing_file_and_no_chapter_id_become_rows(self, tmp_path):
        (tmp_path / "plain.ipynb").write_text(json.dumps({"cells": [], "metadata": {}}))
        rows = grading.grade([tmp_path / "missing.ipynb", tmp_path / "plain.ipynb"])
        assert [(r.chapter, r.exercise, r.result) for r in rows] == [("?", "*", "FAIL")] * 2
        assert "no file" in rows[0].reason and "no chapter id" in rows[1].reason


def test_cli_grades_and_writes_the_gradebook(tmp_path):
    (tmp_path / "bad.ipynb").write_text("not json")
    done = subprocess.run([sys.executable, "-m", "hdrlab", "grade", str(tmp_path / "bad.ipynb"), "--chapter", "01",
                           "--out", str(tmp_path / "book.csv")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "0 of 3 exercises pass" in done.stdout
    with (tmp_path / "book.csv").open() as handle:
        assert [row["exercise"] for row in csv.DictReader(handle)] == ["hat_weight", "debevec_rows", "reinhard_global"]


@pytest.mark.parametrize("path", TEACHER, ids=lambda p: p.name)
def test_teacher_edition_grades_all_pass(path, tmp_path):
    """The teacher edition, handed in as a submission, passes every check and runs every cell (CI's nbval pass)."""
    submission = tmp_path / path.name
    submission.write_text(path.read_text())
    rows = grading.grade_submission(submission, {path.stem: nbl.read_notebook(path)}, chapter=path.stem)
    failed = [(r.exercise, r.reason) for r in rows if r.result != "PASS"]
    assert not failed, failed
    assert sum(r.kind == "exercise" for r in rows) >= 2

