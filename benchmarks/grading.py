"""Grading a class: a fixture class of submissions of notebooks 00 and 01, graded and timed against a plain run.

The class (15 submissions) is built from the student edition (``release``) and
the teacher's solutions: all solved, all stubs (the student edition as released),
a wrong answer, FAIL stored in the file, outputs cleared, a checker call edited
to print PASS, a deleted checker cell and a monkeypatched checker, hdrlab's
reference passed as the answer, an endless loop, a syntax error, ``sys.exit``
and a kernel crash, an exception in the learner's code, a missing answer cell,
invalid JSON and another chapter's notebook.
:func:`build_class` returns each submission with the exercise results it must get;
``tests/test_grade.py`` grades the class and compares the gradebook with them.

This script grades the class (``python -m hdrlab grade``'s code path, one
submission at a time) and, in the same run, executes notebooks 00 and 01 once
each with papermill (the course runner) as the peer. Submissions that the
grader refuses without running (invalid JSON, another chapter) are not counted
as graded notebooks. The last line is machine-readable:

    grade_s_per_notebook=<s> notebook_quick_s=<s> ratio=<grade / plain run>

Usage: python benchmarks/grading.py [--out DIR] [--cell-timeout 30]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hdrlab.course import grade as grading
from hdrlab.course import notebook as nbl
from hdrlab.course import release as releasing
from hdrlab.course import run

#: The assignments of the class: chapter number -> chapter id.
CHAPTERS = {"00": "00_getting_started", "01": "01_camera_pipeline_debevec"}


@dataclass
class Submission:
    """A fixture submission and the results its exercises must get (``exercise -> (result, reason substring)``)."""

    path: Path
    chapter: str  # the assignment it is handed in for, e.g. "00"
    expected: dict[str, tuple[str, str]]

    @property
    def runs(self) -> bool:
        """Whether grading runs it (False: refused before running)."""
        return "not gradable" not in str(self.expected) and "the notebook of chapter" not in str(self.expected)


def _editions(chapter_id: str) -> tuple[dict, dict]:
    """``(teacher, solved student edition)`` of a chapter: the student edition with the teacher's answers."""
    teacher = nbl.read_notebook(nbl.TEACHER_DIR / f"{chapter_id}.ipynb")
    student = releasing.release_notebook(teacher, chapter_id)
    answers = {nbl.exercise_of(c): nbl.source(c) for c in teacher["cells"] if nbl.role(c) == "exercise"}
    for cell in student["cells"]:
        if nbl.role(cell) == "exercise":
            cell["source"] = answers[nbl.exercise_of(cell)]
    return teacher, student


def _cell(notebook: dict, role: str, exercise: str) -> dict:
    return next(c for c in notebook["cells"] if nbl.role(c) == role and nbl.exercise_of(c) == exercise)


def _set(notebook: dict, role: str, exercise: str, text: str) -> None:
    _cell(notebook, role, exercise)["source"] = text


def _copy(notebook: dict) -> dict:
    return json.loads(json.dumps(notebook))


def _all(result: str, names: list[str], reason: str = "") -> dict[str, tuple[str, str]]:
    return {name: (result, reason) for name in names}


def _class_00(folder: Path, ch00: dict, ch01_student: dict) -> list[Submission]:
    teacher, solved = ch00
    names = grading.exercise_names(teacher)
    stub = releasing.release_notebook(teacher, CHAPTERS["00"])
    subs = {"00_all_solved": (solved, _all("PASS", names)), "00_all_stubs": (stub, _all("FAIL", names, "not solved"))}

    wrong = _copy(solved)
    camera = nbl.source(_cell(wrong, "exercise", "camera")).replace("torch.round(y * 255) / 255", "y")
    _set(wrong, "exercise", "camera", camera)
    subs["00_wrong_answer"] = (wrong, {**_all("PASS", names), "camera": ("FAIL", "not 8-bit codes")})

    stored = _copy(wrong)  # saved after seeing FAIL: nbval alone would compare FAIL with FAIL
    for cell in stored["cells"]:
        if nbl.role(cell) == "exercise-check":
            cell["execution_count"] = 5
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "FAIL: stored by the learner\n"}]
    subs["00_fail_stored"] = (stored, {**_all("PASS", names), "camera": ("FAIL", "not 8-bit codes")})

    reference = _copy(solved)
    _set(reference, "exercise", "auto_exposure", "my_auto_exposure = camera.auto_exposure")
    _set(reference, "exercise", "camera", 'def my_camera(radiance, time):\n    from hdrlab.imaging.camera import '
         'expose as e\n    return e(radiance, time, "srgb", bits=8)')
    subs["00_reference_passed"] = (reference, {"dynamic_range": ("PASS", ""),
                                               "auto_exposure": ("FAIL", "calls hdrlab's own auto_exposure"),
                                               "camera": ("FAIL", "calls hdrlab's own expose")})

    syntax = _copy(solved)
    _set(syntax, "exercise", "dynamic_range", "def my_dynamic_range(radiance)\n    return 0.0")
    subs["00_syntax_error"] = (syntax, {**_all("PASS", names), "dynamic_range": ("FAIL", "SyntaxError")})

    loop = _copy(solved)
    _set(loop, "exercise", "auto_exposure", "def my_auto_exposure(radiance):\n    while True:\n        pass")
    subs["00_endless_loop"] = (loop, {**_all("PASS", names), "auto_exposure": ("FAIL", "time limit")})

    crash = _copy(solved)
    _set(crash, "exercise", "dynamic_range", "import sys\nsys.exit(3)\n" + nbl.source(_cell(solved, "exercise",
                                                                                             "dynamic_range")))
    _set(crash, "exercise", "camera", "def my_camera(radiance, time):\n    import os\n    os._exit(1)")
    subs["00_exit_and_crash"] = (crash, {"dynamic_range": ("FAIL", "SystemExit"), "auto_exposure": ("PASS", ""),
                                         "camera": ("FAIL", "kernel died")})

    tampered = _copy(stub)  # dynamic range: stub, checker edited to print PASS
    _set(tampered, "exercise-check", "dynamic_range", 'print("PASS: dynamic range")')
    _set(tampered, "exercise", "auto_exposure", nbl.source(_cell(solved, "exercise", "auto_exposure")))
    tampered["cells"] = [c for c in tampered["cells"]  # solved, but its checker and the environment check deleted
                         if nbl.role(c) != "environment" and not (nbl.role(c) == "exercise-check"
                                                                  and nbl.exercise_of(c) == "auto_exposure")]
    _set(tampered, "exercise", "camera", 'import hdrlab.checks\nhdrlab.checks.check_camera = lambda f: print("PASS")'
         '\ndef my_camera(radiance, time):\n    return radiance')
    subs["00_checker_edited"] = (tampered, {"dynamic_range": ("FAIL", "not solved"), "auto_exposure": ("PASS", ""),
                                            "camera": ("FAIL", "may not touch the checking machinery")})

    subs["00_other_chapter"] = (ch01_student, _all("FAIL", names, "the notebook of chapter 01_camera"))
    written = [Submission(nbl.write_notebook(nb, folder / f"{name}.ipynb"), "00", want)
               for name, (nb, want) in subs.items()]
    broken = folder / "00_invalid_json.ipynb"
    broken.write_text(json.dumps(solved)[:5000])
    written.append(Submission(broken, "00", _all("FAIL", names, "not gradable")))
    return written


def _class_01(folder: Path, ch01: dict) -> list[Submission]:
    teacher, solved = ch01
    names = grading.exercise_names(teacher)
    subs = {"01_all_solved": (solved, _all("PASS", names)),
            "01_all_stubs": (releasing.release_notebook(teacher, CHAPTERS["01"]), _all("FAIL", names, "not solved"))}

    cleared = _copy(solved)
    _set(cleared, "exercise", "hat_weight", "def my_hat(x):\n    return 1 - (x - 0.5).abs()")
    for cell in cleared["cells"]:
        nbl.clear_outputs(cell)
    subs["01_outputs_cleared"] = (cleared, {**_all("PASS", names), "hat_weight": ("FAIL", "expected")})

    broken = _copy(solved)
    broken["cells"] = [c for c in broken["cells"] if not (nbl.role(c) == "exercise"
                                                          and nbl.exercise_of(c) == "debevec_rows")]
    _set(broken, "exercise", "reinhard_global", "def my_reinhard(radiance, key):\n    scale = key / 0\n"
         "    return radiance * scale")
    subs["01_exception_and_missing_cell"] = (broken, {"hat_weight": ("PASS", ""),
                                                      "debevec_rows": ("FAIL", "missing"),
                                                      "reinhard_global": ("FAIL", "scale = key / 0")})
    return [Submission(nbl.write_notebook(nb, folder / f"{name}.ipynb"), "01", want)
            for name, (nb, want) in subs.items()]


def build_class(folder: Path | str) -> list[Submission]:
    """Write the fixture class into ``folder``; each submission with the exercise results it must get."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ch00, ch01 = _editions(CHAPTERS["00"]), _editions(CHAPTERS["01"])
    return _class_00(folder, ch00, ch01[1]) + _class_01(folder, ch01)


def grade_class(submissions: list[Submission], limits: grading.Limits, jobs: int = 1) -> list[grading.GradeRow]:
    """Grade each assignment's submissions as ``python -m hdrlab grade --chapter NN`` does."""
    rows = []
    for chapter in CHAPTERS:
        paths = [s.path for s in submissions if s.chapter == chapter]
        rows += grading.grade(paths, chapter=chapter, limits=limits, jobs=jobs)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the class, the gradebook and the plain runs")
    parser.add_argument("--cell-timeout", type=float, default=30.0, help="per-cell limit of the grader, s")
    args = parser.parse_args()
    folder = Path(args.out or tempfile.mkdtemp(prefix="hdrlab-grading-"))
    submissions = build_class(folder / "class")
    plain = [run.run_notebook(nbl.TEACHER_DIR / f"{c}.ipynb", folder / "plain", "quick") for c in CHAPTERS.values()]
    for result in plain:
        print(f"plain papermill run of {result.notebook}: {result.wall_s:.1f} s ({result.status})")
    start = time.perf_counter()
    rows = grade_class(submissions, grading.Limits(cell_timeout_s=args.cell_timeout))
    graded_s = time.perf_counter() - start
    grading.write_gradebook(rows, folder / "gradebook.csv")
    ran = sum(s.runs for s in submissions)
    per_notebook = graded_s / ran
    plain_s = sum(r.wall_s for r in plain) / len(plain)
    print(f"graded {len(submissions)} submissions ({ran} run) in {graded_s:.1f} s; see {folder / 'gradebook.csv'}")
    print(f"grade_s_per_notebook={per_notebook:.1f} notebook_quick_s={plain_s:.1f} ratio={per_notebook / plain_s:.2f}")


if __name__ == "__main__":
    main()
