"""hdrlab.checks as a learner meets it: the teacher's solutions pass, hdrlab's references do not count,
failures show the learner's own line, and summary() tallies the chapter."""

import functools
import sys
from pathlib import Path

import pytest
import torch

from hdrlab import checks
from hdrlab.course import notebook as nbl
from hdrlab.imaging import camera
from hdrlab.nn.blocks import icnr_

ROOT = Path(__file__).resolve().parents[1]


def _solutions() -> dict[str, tuple[str, object]]:
    """``exercise -> (chapter, the teacher edition's answer function)``, each defined by running its answer cell."""
    found = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbl.read_notebook(path)["cells"]:
            if nbl.role(cell) == "exercise":
                namespace = {"torch": torch}
                exec(nbl.source(cell), namespace)
                function = next(v for k, v in namespace.items() if k.startswith("my_"))
                found[nbl.exercise_of(cell)] = (path.name[:2], function)
    return found


SOLUTIONS = _solutions()


def test_every_exercise_has_a_teacher_solution():
    assert sorted(SOLUTIONS) == sorted(name for names in checks.EXERCISES.values() for name in names)


@pytest.mark.parametrize("exercise", sorted(SOLUTIONS))
def test_teacher_solution_passes(exercise, capsys):
    chapter, solution = SOLUTIONS[exercise]
    assert getattr(checks, f"check_{exercise}")(solution)
    assert capsys.readouterr().out.startswith("PASS: ")
    assert exercise in checks.EXERCISES[chapter]


class TestReferenceDoesNotCount:
    @pytest.mark.parametrize("answer", [
        camera.auto_exposure,
        lambda radiance: camera.auto_exposure(radiance),
        functools.partial(camera.auto_exposure),
    ], ids=["passed", "wrapped", "partial"])
    def test_reference_fails(self, answer, capsys):
        assert not checks.check_auto_exposure(answer)
        assert "it calls hdrlab's own auto_exposure" in capsys.readouterr().out

    def test_reference_imported_under_another_name(self, capsys):
        def my_camera(radiance, time):
            from hdrlab.imaging.camera import expose as my_own_curve

            return my_own_curve(radiance, time, "srgb", bits=8)

        assert not checks.check_camera(my_camera)
        assert "it calls hdrlab's own expose" in capsys.readouterr().out

    def test_reference_of_another_exercise_is_fine(self, capsys):
        """Only the reference an exercise is compared with is refused: other hdrlab helpers may be used."""
        chapter, solution = SOLUTIONS["auto_exposure"]

        def my_auto_exposure(radiance):
            camera.expose(radiance, 0.01, "srgb")  # not this exercise's reference
            return solution(radiance)

        assert checks.check_auto_exposure(my_auto_exposure)
        assert sys.getprofile() is None  # the watch is removed after the call


class TestFeedback:
    def test_exception_shows_the_learners_line_only(self, capsys):
        def my_camera(radiance, time):
            scaled = radiance * time
            return torch.nn.functional.conv2d(scaled, torch.ones(1))  # raises inside torch

        assert not checks.check_camera(my_camera)
        out = capsys.readouterr().out
        assert out.startswith("FAIL: camera") and "it raised RuntimeError" in out
        assert "\n    test_checks_learner.py, line" in out and "in my_camera: return torch.nn.functional.conv2d" in out
        assert "functional.py" not in out and "checks.py" not in out

    def test_what_the_learner_printed_is_kept_below_the_verdict(self, capsys):
        chapter, solution = SOLUTIONS["hat_weight"]

        def my_hat(x):
            print("debug:", tuple(x.shape))
            return solution(x)

        assert checks.check_hat_weight(my_hat)
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("PASS: hat weight") and lines[1] == "    your code printed: debug: (257,)"

    def test_summary_tallies_the_chapter(self, capsys):
        _, solution = SOLUTIONS["log_inverse"]
        checks.check_log_inverse(solution)
        checks.check_icnr(lambda weight, scale: torch.zeros_like(weight))
        capsys.readouterr()
        assert checks.summary("05") == 1
        out = capsys.readouterr().out.splitlines()
        assert out[1].split() == ["1.", "log_inverse", "PASS"]
        assert out[2].split()[:3] == ["2.", "icnr", "FAIL:"] and out[-1] == "1 of 2 exercises pass"

    def test_summary_of_an_unknown_chapter(self):
        with pytest.raises(checks.ChoiceError, match="chapter"):
            checks.summary("42")


class TestIcnrWrongWeights:
    """Weights the old checker passed: it only compared output channel 0 with output channel 1."""

    @staticmethod
    def icnr_then(change):
        def my_icnr(weight, scale):
            kernels = torch.nn.init.kaiming_normal_(torch.empty(weight.shape[0] // scale**2, *weight.shape[1:]))
            change(kernels)
            return kernels.repeat_interleave(scale**2, dim=0)
        return my_icnr

    def test_only_output_channel_zero_filled(self, capsys):
        assert not checks.check_icnr(self.icnr_then(lambda k: k[1:].zero_()))
        assert "output channel 1's kernel is all zero" in capsys.readouterr().out

    def test_channel_two_repeats_channel_zero(self, capsys):
        assert not checks.check_icnr(self.icnr_then(lambda k: k[2].copy_(k[0])))
        assert "output channels 0 and 2 share one kernel" in capsys.readouterr().out

    def test_distinct_kernels_pass(self):
        assert checks.check_icnr(self.icnr_then(lambda k: None))
        with pytest.raises(AssertionError):  # the reference itself does not count
            assert checks.check_icnr(icnr_)


def test_environment_check_fails_without_lpips(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "lpips", None)  # import lpips now raises ImportError
    assert not checks.check_environment()
    out = capsys.readouterr().out
    assert "FAIL: lpips imports: it raised ModuleNotFoundError" in out
    assert out.count("PASS: ") == 3
