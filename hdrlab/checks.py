"""Exercise checkers for the notebooks (graded by nbval).

Each checker runs the student's function on fixed inputs, compares it with the
``hdrlab`` implementation, and prints one deterministic line: ``PASS: <what was
checked>`` or ``FAIL: <what is wrong and a hint>``. It returns True/False and
never raises on a wrong answer, so "Run all" reaches every exercise. Cells that
call a checker carry the ``nbval-check-output`` tag; their stored ``PASS`` line
is what nbval compares.

Example:
    >>> from hdrlab.imaging import camera
    >>> check_auto_exposure(camera.auto_exposure)
    PASS: auto exposure: t_ref = 0.18 / log-average luminance on 3 radiance maps
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hdrlab.data import scenes
from hdrlab.imaging import camera

__all__ = ["check_environment", "check_auto_exposure", "check_camera", "check_dynamic_range"]


def _report(ok: bool, what: str, problem: str) -> bool:
    print(f"PASS: {what}" if ok else f"FAIL: {what}: {problem}")
    return ok


def _fixed_radiance(count: int = 3, size: int = 16) -> list[torch.Tensor]:
    """Deterministic lognormal radiance maps ``(3, size, size)`` spanning ~12 stops."""
    generator = torch.Generator().manual_seed(1234)
    return [torch.exp(torch.randn(3, size, size, generator=generator) * 2.0 + i) for i in range(count)]


def _call(fn: Callable, *args) -> tuple[object, str]:
    try:
        return fn(*args), ""
    except Exception as err:  # a student's bug is reported, not raised: the notebook goes on
        return None, f"it raised {type(err).__name__}: {err}"


def check_environment() -> bool:
    """Check the stack this course needs: torchvision models, lpips, EXR reading, the scenes.

    Prints one PASS line per item (no version numbers, so the output is the same everywhere).
    """
    import lpips  # noqa: F401  (imports torchvision models)
    import torchvision

    from hdrlab import io

    checks = {
        "torchvision models build": lambda: torchvision.models.mobilenet_v3_small(weights=None) is not None,
        "lpips imports": lambda: True,
        "OpenEXR files read": lambda: io.read_hdr(scenes.scene_info("blender_studio").path).shape[0] == 3,
        "27 embedded scenes found": lambda: len(scenes.list_scenes()) == 27,
    }
    results = []
    for what, check in checks.items():
        ok, problem = _call(check)
        results.append(_report(bool(ok), what, problem or "returned False"))
    return all(results)


def check_auto_exposure(student: Callable[[torch.Tensor], torch.Tensor | float]) -> bool:
    """Check ``student(radiance) -> t_ref`` against :func:`hdrlab.imaging.camera.auto_exposure`."""
    what = "auto exposure: t_ref = 0.18 / log-average luminance on 3 radiance maps"
    for radiance in _fixed_radiance():
        got, problem = _call(student, radiance.clone())
        if problem:
            return _report(False, what, problem)
        want = float(camera.auto_exposure(radiance))
        if not abs(float(got) - want) <= 1e-3 * want:
            return _report(False, what, f"got {float(got):.5g} s, expected {want:.5g} s; use exp(mean(log(L + 1e-6)))")
    return _report(True, what, "")


def check_camera(student: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Check ``student(radiance, time) -> LDR`` against ``camera.expose(..., "srgb", bits=8)``."""
    what = "camera: sRGB response, full-well clip and 8-bit quantisation at 3 exposure times"
    for radiance, time in zip(_fixed_radiance(), (0.01, 0.1, 1.0)):
        got, problem = _call(student, radiance.clone(), time)
        if problem:
            return _report(False, what, problem)
        want = camera.expose(radiance, time, "srgb", bits=8)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            return _report(False, what, f"expected a tensor of shape {tuple(want.shape)}")
        off_grid = int(((got * 255 - (got * 255).round()).abs() > 1e-3).sum())
        if off_grid:
            return _report(False, what, f"{off_grid} values are not 8-bit codes k/255 at t={time} s; round y * 255")
        codes_off = int(((got - want).abs() * 255 > 0.5).sum())
        if codes_off:
            return _report(False, what, f"{codes_off} pixel values differ at t={time} s; clip before the curve")
    return _report(True, what, "")


def check_dynamic_range(student: Callable[[torch.Tensor], float]) -> bool:
    """Check ``student(radiance) -> stops`` against :func:`hdrlab.data.scenes.dynamic_range_stops`."""
    what = "dynamic range: log2(p99.9 / p0.1) of luminance on 3 embedded scenes, within 0.1 stops"
    for name in ("blender_city", "pmndrs_lab", "room_windows"):
        radiance = scenes.load_scene(name, max_side=96)
        got, problem = _call(student, radiance.clone())
        if problem:
            return _report(False, what, problem)
        want = scenes.dynamic_range_stops(radiance)
        if not abs(float(got) - want) <= 0.1:
            return _report(False, what, f"{name}: got {float(got):.2f} stops, expected {want:.2f}")
    return _report(True, what, "")
