"""Exercise checkers for the notebooks (graded by nbval), and a learner's tally.

Each checker runs the learner's function on fixed inputs, compares it with the
``hdrlab`` implementation, and prints one deterministic line: ``PASS: <what was
checked>`` or ``FAIL: <what is wrong and a hint>``. It returns True/False and
never raises on a wrong answer, so "Run all" reaches every exercise. When the
learner's code raises, the ``FAIL`` line is followed by the failing lines of the
learner's own code (library frames left out).

An exercise checker does not accept hdrlab's own implementation as an answer: it
watches the call (``sys.setprofile``) and fails when the learner's function runs
the reference it is compared with, however it is reached (passed directly,
wrapped in a lambda, imported under another name).

Cells that call a checker carry the ``nbval-check-output`` tag; their stored
``PASS`` line is what grading compares with (``python -m hdrlab grade``).
:func:`summary` prints the tally of a chapter's exercises.

Example:
    >>> import torch
    >>> def my_auto_exposure(radiance):
    ...     lum = 0.2126 * radiance[0] + 0.7152 * radiance[1] + 0.0722 * radiance[2]
    ...     return 0.18 / (torch.exp(torch.log(lum + 1e-6).mean()) - 1e-6)
    >>> check_auto_exposure(my_auto_exposure)
    PASS: auto exposure: t_ref = 0.18 / log-average luminance on 3 radiance maps
    True
    >>> from hdrlab.imaging import camera
    >>> check_auto_exposure(camera.auto_exposure)
    FAIL: auto exposure: t_ref = 0.18 / log-average luminance on 3 radiance maps: it calls hdrlab's own auto_exposure (the reference this exercise is checked against): write the computation yourself
    False
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import io as io_module
import json
import math
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from types import CodeType

import torch
from torch import nn

from hdrlab import io, metrics, train
from hdrlab.data import scenes
from hdrlab.errors import ChoiceError, HdrlabError, describe
from hdrlab.imaging import camera
from hdrlab.imaging.crf import debevec_system
from hdrlab.imaging.merge import piecewise_linear_lookup
from hdrlab.imaging.tonemap import reinhard_global
from hdrlab.imaging.weights import exposure_weight, weight_lut
from hdrlab.methods import compare, hybrid, metahdr, multiexposure
from hdrlab.nn.blocks import icnr_
from hdrlab.nn.losses import expandnet_loss, soft_histogram

__all__ = [
    "check_environment", "check_auto_exposure", "check_camera", "check_dynamic_range",
    "check_hat_weight", "check_debevec_rows", "check_reinhard_global", "check_expandnet_loss", "check_inner_step",
    "check_metahdr_adaptation", "check_exposure_mask", "check_representation_loss", "check_multiexposure_effect",
    "check_lookup_slope", "check_soft_histogram", "check_controlled_comparison", "check_log_inverse", "check_icnr",
    "check_hybrid_beats_baselines", "check_upsampler_study", "check_exif_exposure_time", "check_pu21_encode",
    "check_capstone_leaderboard",
    "EXERCISES", "summary",
]

#: The exercises of each chapter (``"00"`` ...), in notebook order: the checkers' names without ``check_``.
EXERCISES: dict[str, list[str]] = {}
#: ``(chapter, exercise) -> (passed, the line printed)`` of the latest check in this process.
_RESULTS: dict[tuple[str, str], tuple[bool, str]] = {}
#: Code objects of the references the running exercise checker compares with.
_REFERENCES: contextvars.ContextVar[frozenset[CodeType]] = contextvars.ContextVar("references", default=frozenset())
_LAST_LINE = contextvars.ContextVar("last_line", default="")
#: What the learner's code printed during the current checker (shown indented under the verdict).
_PRINTED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("printed", default=None)
_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_LIBRARY_DIRS = tuple(sorted({_PACKAGE_DIR, sys.prefix, sys.base_prefix, sys.exec_prefix}))


def _report(ok: bool, what: str, problem: str) -> bool:
    line = f"PASS: {what}" if ok else f"FAIL: {what}: {problem}"
    _LAST_LINE.set(line)
    printed = "".join(_PRINTED.get() or []).strip().splitlines()
    if printed:
        more = f" (and {len(printed) - 1} more lines)" if len(printed) > 1 else ""
        line += f"\n    your code printed: {printed[0][:200]}{more}"
    print(line)
    return ok


def _exercise(chapter: str, *references: Callable) -> Callable:
    """Register a checker as an exercise of ``chapter`` that refuses the given reference functions."""
    codes = frozenset(reference.__code__ for reference in references)

    def register(check: Callable[..., bool]) -> Callable[..., bool]:
        name = check.__name__.removeprefix("check_")
        EXERCISES.setdefault(chapter, []).append(name)

        @functools.wraps(check)
        def checker(*args, **kwargs) -> bool:
            tokens = _REFERENCES.set(codes), _PRINTED.set([])
            try:
                ok = check(*args, **kwargs)
            finally:
                _REFERENCES.reset(tokens[0])
                _PRINTED.reset(tokens[1])
            _RESULTS[(chapter, name)] = (ok, _LAST_LINE.get())
            return ok

        return checker

    return register


def summary(chapter: str) -> int:
    """Print the tally of a chapter's exercises: each one's name and PASS/FAIL, then "n of m exercises pass".

    Args:
        chapter: the chapter's number, e.g. ``"00"``.

    Returns:
        The number of exercises whose latest check passed in this session.

    Raises:
        ChoiceError: a chapter without exercises.

    Example:
        >>> with contextlib.redirect_stdout(io_module.StringIO()):  # two wrong answers, verdicts hidden
        ...     _ = check_lookup_slope(lambda x, table: None), check_soft_histogram(lambda x, bins, s: None)
        >>> summary("04")  # doctest: +ELLIPSIS
        Exercises of chapter 04 (latest check in this session):
          1. lookup_slope       FAIL: Eq. 3 backward: ...
          2. soft_histogram     FAIL: soft histogram: ...
        0 of 2 exercises pass
        0
    """
    if chapter not in EXERCISES:
        raise ChoiceError(describe(f"a chapter among {sorted(EXERCISES)}", repr(chapter), 'Call e.g. summary("00").'))
    names = EXERCISES[chapter]
    print(f"Exercises of chapter {chapter} (latest check in this session):")
    passed = 0
    for number, name in enumerate(names, 1):
        ok, line = _RESULTS.get((chapter, name), (None, ""))
        passed += bool(ok)
        status = "not checked yet" if ok is None else line.split("\n")[0] if not ok else "PASS"
        print(f"  {number}. {name:<18} {status}")
    print(f"{passed} of {len(names)} exercises pass")
    return passed


def _fixed_radiance(count: int = 3, size: int = 16) -> list[torch.Tensor]:
    """Deterministic lognormal radiance maps ``(3, size, size)`` spanning ~12 stops."""
    generator = torch.Generator().manual_seed(1234)
    return [torch.exp(torch.randn(3, size, size, generator=generator) * 2.0 + i) for i in range(count)]


def _call(fn: Callable, *args) -> tuple[object, str]:
    """Run the learner's ``fn(*args)``: ``(result, "")``, or ``(None, what went wrong)``.

    Fails when ``fn`` raises (with the learner's failing lines) or when it runs one of
    the references the current exercise checker compares with. What ``fn`` prints is
    kept for the verdict line (so the verdict stays the cell's first line).
    """
    references, used, printed = _REFERENCES.get(), [], io_module.StringIO()

    def watch(frame, event, arg):
        if event == "call" and frame.f_code in references:
            used.append(frame.f_code.co_name)

    previous = sys.getprofile()
    if references:
        sys.setprofile(watch)
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            result = fn(*args)
    except NotImplementedError:
        return None, "not solved yet: replace the line raise NotImplementedError(...) with your code"
    except Exception as err:  # a learner's bug is reported, not raised: the notebook goes on
        return None, f"it raised {type(err).__name__}: {err}{_learner_trace(err)}"
    finally:
        if references:
            sys.setprofile(previous)
        if _PRINTED.get() is not None:
            _PRINTED.get().append(printed.getvalue())
    if used:
        return None, (f"it calls hdrlab's own {used[0]} (the reference this exercise is checked against): "
                      "write the computation yourself")
    return result, ""


def _learner_trace(err: BaseException, frames: int = 3) -> str:
    """The last ``frames`` frames of ``err``'s traceback that are the learner's code, one indented line each."""
    mine = [f for f in traceback.extract_tb(err.__traceback__)
            if not f.filename.startswith(_LIBRARY_DIRS) and not f.filename.startswith("<frozen")]
    return "".join(f"\n    {_where(f)}: {(f.line or '').strip()}" for f in mine[-frames:])


def _where(frame: traceback.FrameSummary) -> str:
    """``Cell In[5], line 3, in my_camera`` for a notebook cell, else ``file.py, line 3, in f``."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        count = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(frame.filename)
    except ImportError:
        count = None
    place = f"Cell In[{count}]" if count is not None else Path(frame.filename).name
    return f"{place}, line {frame.lineno}, in {frame.name}"


def check_environment() -> bool:
    """Check the stack this course needs: torchvision models, lpips, EXR reading, the scenes.

    Prints one PASS line per item (no version numbers, so the output is the same everywhere);
    each item imports what it needs, so a missing package fails its own line.
    """
    checks = {
        "torchvision models build": lambda: importlib.import_module("torchvision").models.mobilenet_v3_small(
            weights=None) is not None,
        "lpips imports": lambda: callable(importlib.import_module("lpips").LPIPS),
        "OpenEXR files read": lambda: io.read_hdr(scenes.scene_info("blender_studio").path).shape[0] == 3,
        "27 embedded scenes found": lambda: len(scenes.list_scenes()) == 27,
    }
    results = []
    for what, check in checks.items():
        ok, problem = _call(check)
        results.append(_report(bool(ok), what, problem or "returned False"))
    return all(results)


@_exercise("00", scenes.dynamic_range_stops)
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


@_exercise("00", camera.auto_exposure)
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


@_exercise("00", camera.expose)
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


@_exercise("01", exposure_weight, weight_lut)
def check_hat_weight(student: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``student(x) -> w`` against Debevec & Malik's hat weight on LDR values in [0, 1]."""
    what = "hat weight: 0 at both ends, 1 at mid-grey, linear in between (257 values)"
    x = torch.linspace(0, 1, 257)
    got, problem = _call(student, x.clone())
    if problem:
        return _report(False, what, problem)
    want = exposure_weight(x, "hat")
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return _report(False, what, f"expected a tensor of shape {tuple(want.shape)}")
    worst = int((got - want).abs().argmax())
    if not torch.allclose(got.float(), want, atol=1e-5):
        return _report(False, what, f"at x={float(x[worst]):.3f} got {float(got[worst]):.4f}, expected {float(want[worst]):.4f}")
    return _report(True, what, "")


@_exercise("01", debevec_system)
def check_debevec_rows(student: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> bool:
    """Check one pixel's data-fitting row block of the Debevec-Malik system against ``crf.debevec_system``.

    The student's function is called as ``student(codes, log_times, pixel, pixels, weights)``
    with ``codes`` the ``(N,)`` code values of one pixel, ``pixel`` its index among
    ``pixels`` samples and ``weights`` the ``(L,)`` weight per code; it returns
    ``(A_rows, b_rows)`` of shapes ``(N, L + pixels)`` and ``(N,)``.
    """
    what = "Debevec-Malik data rows: w(z) * (g(z) - ln E_i) = w(z) * ln t_j for one pixel"
    generator = torch.Generator().manual_seed(7)
    codes = torch.randint(1, 255, (4, 3), generator=generator)
    log_times = torch.log(torch.tensor([0.01, 0.04, 0.16], dtype=torch.float64))
    weights = weight_lut("hat", 8).double()
    matrix, rhs = debevec_system(codes, log_times, 10.0, weights)
    for pixel in range(codes.shape[0]):
        got, problem = _call(student, codes[pixel].clone(), log_times.clone(), pixel, codes.shape[0], weights.clone())
        if problem:
            return _report(False, what, problem)
        rows = slice(pixel * 3, pixel * 3 + 3)
        a_rows, b_rows = got if isinstance(got, tuple) and len(got) == 2 else (None, None)
        if not isinstance(a_rows, torch.Tensor) or a_rows.shape != matrix[rows].shape:
            return _report(False, what, f"expected (A_rows, b_rows) with A_rows of shape {tuple(matrix[rows].shape)}")
        if not (torch.allclose(a_rows.double(), matrix[rows]) and torch.allclose(b_rows.double(), rhs[rows])):
            return _report(False, what, f"pixel {pixel}: rows differ; column z holds +w(z), column L + i holds -w(z)")
    return _report(True, what, "")


@_exercise("01", reinhard_global)
def check_reinhard_global(student: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Check ``student(radiance, key) -> display`` against ``tonemap.reinhard_global`` (no white point)."""
    what = "Reinhard global: L_d = L_s / (1 + L_s), L_s = key * L / L_avg, colour by ratio (3 maps, 2 keys)"
    for radiance in _fixed_radiance():
        for key in (0.18, 0.45):
            got, problem = _call(student, radiance.clone(), key)
            if problem:
                return _report(False, what, problem)
            want = reinhard_global(radiance, key=key)
            if not isinstance(got, torch.Tensor) or got.shape != want.shape:
                return _report(False, what, f"expected a tensor of shape {tuple(want.shape)}")
            if not torch.allclose(got, want, atol=1e-4):
                error = float((got - want).abs().max())
                return _report(False, what, f"key={key}: max difference {error:.4f}; L_avg is the log-average (geometric mean)")
    return _report(True, what, "")


def _close_scalar(got: object, want: torch.Tensor, atol: float = 1e-5) -> str:
    """'' when ``got`` is a scalar tensor equal to ``want``, else what is wrong."""
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        return "expected a scalar tensor (the mean over the batch)"
    if not torch.allclose(got.detach().float().reshape(()), want, atol=atol):
        return f"got {float(got.detach()):.5f}, expected {float(want):.5f}"
    return ""


@_exercise("02", expandnet_loss)
def check_expandnet_loss(student: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """Check ``student(pred, target, cosine_weight) -> loss`` against ExpandNet's L1 + lambda (1 - cosine)."""
    what = "ExpandNet loss: mean |pred - target| + lambda * (1 - mean cosine of the RGB vectors) (3 cases)"
    generator = torch.Generator().manual_seed(7)
    for cosine_weight in (0.0, 5.0, 1.5):
        pred = torch.rand(2, 3, 8, 8, generator=generator) + 0.05
        target = torch.rand(2, 3, 8, 8, generator=generator) + 0.05
        got, problem = _call(student, pred.clone(), target.clone(), cosine_weight)
        problem = problem or _close_scalar(got, expandnet_loss(pred, target, cosine_weight=cosine_weight))
        if problem:
            hint = "; the cosine is taken over the channel dim (-3) per pixel, then averaged"
            return _report(False, what, f"lambda={cosine_weight}: {problem}{hint if cosine_weight else ''}")
    return _report(True, what, "")


def _small_net() -> nn.Module:
    torch.manual_seed(11)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 3, 1))


@_exercise("02", metahdr.adapt, metahdr._functional_adapt)
def check_inner_step(student: Callable[..., dict]) -> bool:
    """Check ``student(model, params, x, y, loss_fn, lr) -> new params``: one MAML inner step with functional_call."""
    what = "one inner step: params - lr * grad of loss_fn(functional_call(model, params, x), y), graph kept"
    model = _small_net()
    params = {name: p.detach().clone().requires_grad_(True) for name, p in model.named_parameters()}
    generator = torch.Generator().manual_seed(3)
    x, y = torch.rand(2, 3, 6, 6, generator=generator), torch.rand(2, 3, 6, 6, generator=generator)
    loss_fn = nn.functional.l1_loss
    got, problem = _call(student, model, dict(params), x, y, loss_fn, 0.1)
    if problem:
        return _report(False, what, problem)
    loss = loss_fn(torch.func.functional_call(model, params, (x,)), y)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    want = {name: p - 0.1 * g for (name, p), g in zip(params.items(), grads)}
    if not isinstance(got, dict) or set(got) != set(want):
        return _report(False, what, f"expected a dict with the keys {sorted(want)}")
    wrong = [name for name in want if not torch.allclose(got[name].detach(), want[name].detach(), atol=1e-6)]
    if wrong:
        return _report(False, what, f"{wrong[0]} differs: step against the gradient, scaled by lr")
    if not _same_meta_gradient(model, params, got, want, x):
        return _report(False, what, "the meta-gradient misses the second-order term: keep the graph of the "
                                    "inner gradient (torch.autograd.grad(..., create_graph=True))")
    return _report(True, what, "")


def _same_meta_gradient(model: nn.Module, params: dict, got: dict, want: dict, x: torch.Tensor) -> bool:
    """Whether an outer loss through ``got`` reaches ``params`` with the same (second-order) gradient as ``want``."""
    try:
        outer = [torch.func.functional_call(model, new, (x,)).square().mean() for new in (got, want)]
        grads = [torch.autograd.grad(o, list(params.values()), retain_graph=True) for o in outer]
    except RuntimeError:  # no graph back to params at all
        return False
    return all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads))


def check_metahdr_adaptation(table: dict[str, dict[str, float]]) -> bool:
    """Check the chapter's key effect in a results table: adaptation beats the weaker of its two baselines (PSNR).

    The baselines are the meta-parameters alone (single shot) and the LDR input. Beating
    each one separately is not graded: at the ``quick`` settings chosen on the validation
    scenes, both margins are positive on average but within twice their spread over seeds
    with two torch threads (``benchmarks/effects.py``, ``docs/effects.json``); beating the
    weaker of the two clears it. The notebook shows both margins.
    """
    what = "on held-out tasks, mean PSNR of adaptation > the weaker of single shot and the LDR input"
    try:
        adapted, single, ldr = (float(table[row]["psnr"]) for row in ("adapted", "single_shot", "ldr"))
    except (KeyError, TypeError, ValueError) as err:
        return _report(False, what, f"the table needs rows adapted, single_shot and ldr with a 'psnr' entry ({err!r})")
    if not adapted > min(single, ldr):
        return _report(False, what, f"got adapted {adapted:.2f}, single shot {single:.2f}, LDR {ldr:.2f} dB")
    return _report(True, what, "")


def _mask_inputs() -> torch.Tensor:
    """``(4, 3, 8, 8)`` LDRs: a grey ramp, dark and bright coloured pixels near the thresholds, random colours."""
    generator = torch.Generator().manual_seed(5)
    ramp = torch.linspace(0, 1, 64).view(1, 1, 8, 8).expand(1, 3, 8, 8)
    dark = torch.rand(1, 3, 8, 8, generator=generator) * 0.15
    bright = 1 - torch.rand(1, 3, 8, 8, generator=generator) * 0.15
    colours = torch.rand(1, 3, 8, 8, generator=generator)
    return torch.cat([ramp, dark, bright, colours])


@_exercise("03", multiexposure.exposure_mask)
def check_exposure_mask(student: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Check ``student(ldr, threshold) -> mask`` against :func:`hdrlab.methods.multiexposure.exposure_mask`.

    ``ldr`` is ``(B, 3, H, W)`` in [0, 1]; the mask is ``(B, 1, H, W)``.
    """
    what = "well-exposedness mask: 1 - max(under, over) on BT.601 luma, (B, 1, H, W), tau 0.95 and 0.9"
    ldr = _mask_inputs()
    for threshold in (0.95, 0.9):
        got, problem = _call(student, ldr.clone(), threshold)
        if problem:
            return _report(False, what, problem)
        want = multiexposure.exposure_mask(ldr, threshold)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return _report(False, what, f"expected a tensor of shape {tuple(want.shape)}, got {shape}; "
                                        "keep the channel dim with keepdim=True")
        if not torch.allclose(got.float(), want, atol=1e-5):
            worst = int((got.float() - want).abs().flatten().argmax())
            b, _, y, x = torch.unravel_index(torch.tensor(worst), want.shape)
            rgb = ", ".join(f"{v:.3f}" for v in ldr[b, :, y, x].tolist())
            return _report(False, what, f"tau={threshold}: at RGB ({rgb}) got {float(got.flatten()[worst]):.4f}, "
                                        f"expected {float(want.flatten()[worst]):.4f}; "
                                        "use Y = 0.299 R + 0.587 G + 0.114 B and divide by 1 - tau")
    return _report(True, what, "")


@_exercise("03", multiexposure.representation_loss)
def check_representation_loss(student: Callable[..., torch.Tensor]) -> bool:
    """Check ``student(latent_short, latent_long, ratio, eps) -> loss`` against
    :func:`hdrlab.methods.multiexposure.representation_loss` (value and gradients)."""
    what = "HDR representation loss: both log-domain L1 terms, mean over all elements, differentiable (3 cases)"
    generator = torch.Generator().manual_seed(9)
    for ratio, eps in (((2.0, 4.0), multiexposure.LOG_EPS), ((8.0, 1.5), multiexposure.LOG_EPS), ((3.0, 3.0), 0.01)):
        ratio = torch.tensor(ratio)
        short = torch.rand(2, 3, 8, 8, generator=generator) * 0.5 + 0.01
        long = short * ratio.view(-1, 1, 1, 1) * torch.exp(0.3 * torch.randn(2, 3, 8, 8, generator=generator))
        leaves = [short.clone().requires_grad_(True), long.clone().requires_grad_(True)]
        got, problem = _call(student, *leaves, ratio.clone(), eps)
        problem = problem or _close_scalar(got, multiexposure.representation_loss(short, long, ratio, eps))
        if problem:
            return _report(False, what, f"ratios {ratio.tolist()}, eps={eps:.4g}: {problem}; "
                                        "L1(log(E_long / r + eps), log(E_short + eps)) + the mirror term")
        if not got.requires_grad:
            return _report(False, what, "the loss carries no graph: compute it with torch operations on the inputs")
        reference = [leaf.detach().clone().requires_grad_(True) for leaf in leaves]
        multiexposure.representation_loss(*reference, ratio, eps).backward()
        got.reshape(()).backward()
        if not all(leaf.grad is not None and torch.allclose(leaf.grad, ref.grad, atol=1e-6)
                   for leaf, ref in zip(leaves, reference)):
            return _report(False, what, "the gradients differ from the reference: do not detach either latent")
    return _report(True, what, "")


def check_multiexposure_effect(scores: dict[str, float]) -> bool:
    """Check the chapter's key effect in the scores of :func:`hdrlab.methods.multiexposure.evaluate`.

    The generated frames beat naive re-exposure at +2 and -2 EV (mean PSNR against
    the true frames), and the HDR merged from the generated bracket beats the LDR
    input (tone-mapped PSNR against the true radiance).
    """
    what = ("on held-out brackets, generated frames beat naive re-exposure at +2 and -2 EV (PSNR) "
            "and the merged generated bracket beats the LDR input (tone-mapped PSNR)")
    comparisons = [("+2 EV frames", "stack_psnr/+2/generated", "stack_psnr/+2/naive"),
                   ("-2 EV frames", "stack_psnr/-2/generated", "stack_psnr/-2/naive"),
                   ("merged HDR", "tm_psnr/generated", "tm_psnr/ldr")]
    try:
        values = [(label, float(scores[better]), float(scores[worse]), better, worse)
                  for label, better, worse in comparisons]
    except (KeyError, TypeError, ValueError) as err:
        return _report(False, what, f"pass the dict multiexposure.evaluate returns (missing or bad entry {err!r})")
    failed = [f"{label}: {better.split('/')[-1]} {a:.2f} dB <= {worse.split('/')[-1]} {b:.2f} dB"
              for label, a, b, better, worse in values if not a > b]
    return _report(not failed, what, "; ".join(failed))


def _lookup_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, table)`` pairs: a 4-entry table at the codes, between them and at 0 and 1; a 256-entry log curve.

    No ``x (L - 1)`` lies exactly halfway between two codes with an even lower one, so
    rounding half up (the merge's) and half to even (``torch.round``) give the same codes.
    """
    generator = torch.Generator().manual_seed(11)
    small = torch.tensor([0.0, 1.0, 4.0, 9.0])
    at_codes = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0, 0.1, 0.45, 0.5, 0.9])
    curve = torch.linspace(0.002, 1.0, 256).log()
    return [(at_codes, small), (torch.rand(64, generator=generator), curve)]


@_exercise("04", piecewise_linear_lookup)
def check_lookup_slope(student: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``student(x, table) -> slope`` against Kim, Lee & Kang's Eq. 3, the backward of the HDR layer's lookup.

    ``x`` is ``(P,)`` in [0, 1], ``table`` ``(L,)``; the slope is the left difference
    ``(table[z] - table[z - 1]) (L - 1)`` at the code ``z = round(x (L - 1))`` the
    forward reads (``z = 1`` for code 0): the default backward of
    :func:`hdrlab.imaging.merge.piecewise_linear_lookup`. The segment holding ``x``
    (``backward="piecewise_linear"``) fails.
    """
    what = "Eq. 3 backward: (table[z] - table[z - 1]) * (L - 1) at the code z = round(x (L - 1)), z >= 1"
    for x, table in _lookup_cases():
        got, problem = _call(student, x.clone(), table.clone())
        if problem:
            return _report(False, what, problem)
        leaf = x.clone().requires_grad_(True)
        piecewise_linear_lookup(leaf, table, backward="left_difference").sum().backward()
        if not isinstance(got, torch.Tensor) or got.shape != x.shape:
            return _report(False, what, f"expected a tensor of shape {tuple(x.shape)}, one slope per value")
        if not torch.allclose(got.float(), leaf.grad, rtol=1e-4, atol=1e-4):
            worst = int((got.float() - leaf.grad).abs().argmax())
            return _report(False, what, f"L={table.shape[0]}, x={float(x[worst]):.4f}: got {float(got[worst]):.4f}, "
                                        f"expected {float(leaf.grad[worst]):.4f}; take the code the forward reads "
                                        "and the difference to its left (at code 0: z = 1)")
    return _report(True, what, "")


@_exercise("04", soft_histogram)
def check_soft_histogram(student: Callable[[torch.Tensor, int, float], torch.Tensor]) -> bool:
    """Check ``student(x, bins, bandwidth) -> hist`` against :func:`hdrlab.nn.losses.soft_histogram` on [0, 1].

    ``x`` is ``(C, H, W)``; the histogram is ``(C, bins)``, fractions of the pixels, differentiable.
    """
    what = "soft histogram: sigmoid((x - e_k) / s) - sigmoid((x - e_k+1) / s), mean over pixels, (C, bins), 3 cases"
    generator = torch.Generator().manual_seed(12)
    for bins, bandwidth in ((8, 0.03), (16, 0.01), (5, 0.2)):
        x = torch.rand(3, 6, 7, generator=generator)
        leaf = x.clone().requires_grad_(True)
        got, problem = _call(student, leaf, bins, bandwidth)
        if problem:
            return _report(False, what, problem)
        want = soft_histogram(x, bins, (0.0, 1.0), bandwidth)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            return _report(False, what, f"expected a tensor of shape {tuple(want.shape)}")
        if not torch.allclose(got.detach().float(), want, atol=1e-5):
            return _report(False, what, f"bins={bins}, s={bandwidth}: max difference "
                                        f"{float((got.detach() - want).abs().max()):.4f}; edges e_k = k / bins, "
                                        "divide by the number of pixels")
        if not got.requires_grad:
            return _report(False, what, "the histogram carries no graph: use torch.sigmoid, not torch.histc")
    return _report(True, what, "")


def _stage_weights(run: Path, stage: str) -> dict[str, torch.Tensor]:
    """The model weights of a :func:`hdrlab.methods.recursive.train_recursive` run at the end of ``stage``."""
    return train.read_checkpoint(run / f"stage_{stage}")["model"]


def check_controlled_comparison(with_run: str | Path, without_run: str | Path) -> bool:
    """Check that two recursive runs are a controlled experiment on the HDR layer.

    ``with_run`` and ``without_run`` are ``out_dir`` folders of
    :func:`hdrlab.methods.recursive.train_recursive` (``reference`` and
    ``no_hdr_layer``). Passes when their ``settings.json`` differ only in the HDR
    loss weight (and the ablation's name), their weights are identical after
    stages (a) and (b), and differ after stage (c): the HDR layer is the one
    difference, and it changed the training.
    """
    what = ("controlled comparison: same settings but the HDR loss weight, identical weights after stages (a) "
            "and (b), different after stage (c)")
    runs = Path(with_run), Path(without_run)
    try:
        settings = [json.loads((run / "settings.json").read_text()) for run in runs]
        after_b, after_c = ([_stage_weights(run, stage) for run in runs] for stage in ("b", "c"))
    except (OSError, ValueError, KeyError, HdrlabError) as err:
        return _report(False, what, f"pass two finished train_recursive run folders ({err})")
    absent = object()  # a key only one run has differs too
    differing = sorted(key for key in set(settings[0]) | set(settings[1])
                       if settings[0].get(key, absent) != settings[1].get(key, absent))
    if differing != ["ablation", "hdr_weight"] or not (settings[0]["hdr_weight"] > 0 and settings[1]["hdr_weight"] == 0):
        return _report(False, what, f"the settings differ in {differing} (want only the HDR weight, > 0 vs 0)")
    if any(not torch.equal(after_b[0][name], after_b[1][name]) for name in after_b[0]):
        return _report(False, what, "the weights differ already after stage (b): use the same seed and steps")
    if all(torch.equal(after_c[0][name], after_c[1][name]) for name in after_c[0]):
        return _report(False, what, "stage (c) left both runs identical: the HDR loss never reached the weights")
    return _report(True, what, "")


def _log_domain_cases() -> list[torch.Tensor]:
    """Radiance for the log-domain round trip: two lognormal maps, a batch of both, and a constant image."""
    first, second = _fixed_radiance(2)
    return [first, second * 50, torch.stack([first, second]), torch.full((3, 4, 4), 2.5)]


@_exercise("05", hybrid.from_log_domain)
def check_log_inverse(student: Callable[[torch.Tensor, hybrid.LogStats], torch.Tensor]) -> bool:
    """Check ``student(x, stats)``, the inverse of :func:`hdrlab.methods.hybrid.to_log_domain`, by round trips.

    For each case ``x, stats = to_log_domain(hdr)`` and the student's radiance must
    match ``hdr`` (rtol 1e-4, atol 1e-6), batched stats and a constant image included.

    Example:
        >>> def my_log_inverse(x, stats):
        ...     return torch.expm1(stats.low + (x.double() + 1) / 2 * (stats.high - stats.low)).to(x.dtype)
        >>> check_log_inverse(my_log_inverse)
        PASS: log-domain inverse round-trips 4 HDR inputs (a batch and a constant image included)
        True
    """
    what = "log-domain inverse round-trips 4 HDR inputs (a batch and a constant image included)"
    for hdr in _log_domain_cases():
        x, stats = hybrid.to_log_domain(hdr)
        got, error = _call(student, x, stats)
        if error:
            return _report(False, what, error)
        if not isinstance(got, torch.Tensor) or got.shape != hdr.shape:
            return _report(False, what, f"return a tensor of shape {tuple(hdr.shape)}, got {type(got).__name__}"
                           + (f" of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else ""))
        if not torch.allclose(got.double(), hdr.double(), rtol=1e-4, atol=1e-6):
            worst = float((got.double() - hdr.double()).abs().max())
            return _report(False, what, f"the round trip is off by up to {worst:.4g} for an image of shape "
                           f"{tuple(hdr.shape)}; map x to [0, 1] first, then low + t * (high - low), then expm1")
    return _report(True, what, "")


@_exercise("05", icnr_)
def check_icnr(student: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Check ``student(weight, scale)``: ICNR init of a conv weight ``(out * scale^2, in, k, k)`` feeding PixelShuffle.

    The returned weight (or ``weight`` changed in place when None is returned) must keep
    its shape, give every output channel a non-zero kernel, no two of them equal, and make conv +
    ``PixelShuffle(scale)`` equal nearest-neighbour upsampling of one convolution:
    every ``scale x scale`` block of the output is constant, for scale 2 and 3.

    Example:
        >>> def my_icnr(weight, scale):
        ...     kernel = nn.init.kaiming_normal_(torch.empty(weight.shape[0] // scale**2, *weight.shape[1:]))
        ...     return kernel.repeat_interleave(scale**2, dim=0)
        >>> check_icnr(my_icnr)
        PASS: ICNR: conv + PixelShuffle is nearest-neighbour upsampling at init (scale 2 and 3)
        True
    """
    what = "ICNR: conv + PixelShuffle is nearest-neighbour upsampling at init (scale 2 and 3)"
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(1, 4, 6, 6, generator=generator)
    for scale in (2, 3):
        torch.manual_seed(scale)
        weight = torch.empty(3 * scale * scale, 4, 3, 3)
        with torch.no_grad():
            got, error = _call(student, weight, scale)
        if error:
            return _report(False, what, error)
        got = weight if got is None else got
        if not isinstance(got, torch.Tensor) or got.shape != weight.shape:
            return _report(False, what, f"return the weight, shape {tuple(weight.shape)} (or fill it in place)")
        if not torch.isfinite(got).all():
            return _report(False, what, "the weight has NaN or inf values")
        problem = _distinct_kernels(got, scale)
        if problem:
            return _report(False, what, problem)
        out = nn.functional.pixel_shuffle(nn.functional.conv2d(x, got, padding=1), scale)
        nearest = out[..., ::scale, ::scale].repeat_interleave(scale, -2).repeat_interleave(scale, -1)
        if not torch.allclose(out, nearest, atol=1e-6):
            return _report(False, what, f"with scale {scale} the {scale}x{scale} blocks of the output differ: "
                           f"copy each output channel's kernel to its {scale * scale} sub-pixel channels "
                           f"(c * {scale * scale} ... (c + 1) * {scale * scale} - 1)")
    return _report(True, what, "")


def _distinct_kernels(weight: torch.Tensor, scale: int) -> str:
    """'' when every output channel's kernel (``weight[c * scale**2]``) is non-zero and no two are equal."""
    kernels = weight[:: scale * scale]
    zero = [c for c in range(kernels.shape[0]) if not kernels[c].abs().sum() > 0]
    if zero:
        return (f"output channel {zero[0]}'s kernel is all zero: draw one kernel per output channel "
                f"({kernels.shape[0]} channels)")
    for first in range(kernels.shape[0]):
        for second in range(first + 1, kernels.shape[0]):
            if torch.equal(kernels[first], kernels[second]):
                return (f"output channels {first} and {second} share one kernel: draw a kernel per output channel")
    return ""


def check_hybrid_beats_baselines(scores: dict[str, float]) -> bool:
    """Check that the model's log-domain PSNR beats the LDR input's and the best constant's.

    ``scores`` is :func:`hdrlab.methods.hybrid.evaluate`'s dict with its ``constant`` row: one
    log value for every pixel, chosen on the validation scenes, which ignores the input. A
    model that does not beat it has learned nothing from the photograph.
    """
    what = ("on the held-out scenes the hybrid autoencoder beats the LDR input and the best constant "
            "(chosen on the validation scenes) in log-domain PSNR")
    try:
        ours, ldr, constant = (float(scores[f"psnr_log/{row}"]) for row in ("hybrid", "ldr", "constant"))
    except (KeyError, TypeError, ValueError) as err:
        return _report(False, what, f"pass the dict hybrid.evaluate returns with constant= (missing or bad entry {err!r})")
    beaten = [f"{row} {value:.2f} dB" for row, value in (("LDR", ldr), ("constant", constant)) if ours <= value]
    return _report(not beaten, what, f"hybrid {ours:.2f} dB <= " + ", ".join(beaten) + ": train longer or check the target")


def check_upsampler_study(results: dict[str, dict[str, float]]) -> bool:
    """Check the artifact study: ICNR pixel shuffle or resize-conv scores a lower checkerboard than plain pixel shuffle.

    Args:
        results: ``{upsampler: hybrid.evaluate(...) scores}`` with at least ``pixel_shuffle`` and one of
            ``pixel_shuffle_icnr`` / ``resize_conv``, trained at equal budget.
    """
    what = ("at equal training budget, ICNR pixel shuffle or resize-conv leaves a lower checkerboard score "
            "than plain pixel shuffle")
    try:
        plain = float(results["pixel_shuffle"]["checkerboard/hybrid"])
        others = {name: float(results[name]["checkerboard/hybrid"])
                  for name in ("pixel_shuffle_icnr", "resize_conv") if name in results}
    except (KeyError, TypeError, ValueError) as err:
        return _report(False, what, f"pass {{upsampler: hybrid.evaluate(...)}} (missing or bad entry {err!r})")
    if not others:
        return _report(False, what, "train pixel_shuffle_icnr or resize_conv too")
    return _report(min(others.values()) < plain, what,
                   f"plain {plain:.4f} <= " + ", ".join(f"{n} {v:.4f}" for n, v in others.items()))


# ----------------------------------------------------------------------------- chapter 06


def _pu21_points() -> torch.Tensor:
    """Luminance from PU21's lower end to its upper end, 41 points a quarter decade apart, float64 (cd/m^2)."""
    points = torch.logspace(math.log10(metrics.PU21_RANGE[0]), math.log10(metrics.PU21_RANGE[1]), 41,
                            dtype=torch.float64)
    points[0], points[-1] = metrics.PU21_RANGE  # exactly the ends (10 ** log10(x) can round past them)
    return points


#: Exposure times of the checker's bracket, seconds: fractions a camera writes, and whole seconds.
_EXIF_TIMES = (1 / 4000, 1 / 250, 1 / 30, 0.5, 2.0)


@_exercise("06", io._exif_value, io._exposure_time)
def check_exif_exposure_time(student: Callable[[Path], float]) -> bool:
    """Check ``student(path) -> seconds``, reading EXIF ``ExposureTime`` from a JPEG, on a 5-frame bracket.

    The frames are written by :func:`hdrlab.io.write_bracket` with times from 1/4000 s to 2 s; the answer
    must match each within 1e-6 relative.

    Example:
        >>> from PIL import Image
        >>> def my_exposure_time(path):
        ...     with Image.open(path) as image:
        ...         return float(image.getexif().get_ifd(0x8769)[0x829A])
        >>> check_exif_exposure_time(my_exposure_time)
        PASS: EXIF ExposureTime of 5 JPEG frames, 1/4000 s to 2 s
        True
    """
    what = "EXIF ExposureTime of 5 JPEG frames, 1/4000 s to 2 s"
    times = torch.tensor(_EXIF_TIMES, dtype=torch.float64)
    stack = torch.linspace(0.1, 0.9, len(_EXIF_TIMES)).view(-1, 1, 1, 1).expand(-1, 3, 8, 8)
    with tempfile.TemporaryDirectory() as folder:
        written = io.write_bracket(Path(folder) / "bracket", stack.float(), times)
        for path, want in zip(sorted(written.glob("frame_*.jpg")), _EXIF_TIMES):
            got, problem = _call(student, path)
            if problem:
                return _report(False, what, problem)
            if isinstance(got, bool) or not isinstance(got, (int, float)):
                return _report(False, what, f"return the time as a float (seconds), got {type(got).__name__} "
                               f"for {path.name}: float() turns EXIF's fraction into seconds")
            if not math.isclose(float(got), want, rel_tol=1e-6):
                return _report(False, what, f"{path.name}: got {float(got):.6g} s, expected {want:.6g} s "
                               "(ExposureTime is tag 0x829A of the Exif IFD, 0x8769)")
    return _report(True, what, "")


@_exercise("06", metrics.pu21_encode)
def check_pu21_encode(student: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``student(Y) -> V``, the PU21 encoding of luminance in cd/m^2, against :func:`hdrlab.metrics.pu21_encode`.

    41 points from 0.005 to 10^4 cd/m^2 (float64), within 1e-6 relative (plus 1e-9 absolute at the 0 of 0.005).

    Example:
        >>> def my_pu21(Y):
        ...     p1, p2, p3, p4, p5, p6, p7 = metrics.PU21_COEFFICIENTS
        ...     return p7 * (((p1 + p2 * Y**p4) / (1 + p3 * Y**p4)) ** p5 - p6)
        >>> check_pu21_encode(my_pu21)
        PASS: PU21 encoding at 41 luminances from 0.005 to 10000 cd/m^2
        True
    """
    what = "PU21 encoding at 41 luminances from 0.005 to 10000 cd/m^2"
    points = _pu21_points()
    got, problem = _call(student, points.clone())
    if problem:
        return _report(False, what, problem)
    want = metrics.pu21_encode(points)
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return _report(False, what, f"return a tensor of shape {tuple(want.shape)}, one value per luminance")
    close = torch.isclose(got.double(), want, rtol=1e-6, atol=1e-9)
    if not bool(close.all()):
        worst = int((~close).nonzero()[0])
        return _report(False, what, f"at {float(points[worst]):.4g} cd/m^2 got {float(got[worst]):.4f}, expected "
                       f"{float(want[worst]):.4f} (check the order of the coefficients p1..p7)")
    return _report(True, what, "")


def check_capstone_leaderboard(board: object) -> bool:
    """Check the capstone's key effect on a leaderboard (mean PU21 PSNR over its items).

    The best single-image method of chapters 2-5 scores above the better of the two fixed
    rules (the LDR read as radiance, inverse gamma 2.2), and the merge of the true bracket
    above that method. Both margins clear twice their spread over training seeds
    (``benchmarks/effects.py``, ``docs/effects.json``); which method is best is not graded.

    Args:
        board: an :class:`hdrlab.evaluate.Leaderboard` of :func:`hdrlab.methods.compare.chapter_methods`.
    """
    what = ("mean PU21 PSNR: the best single-image method of chapters 2-5 > the better fixed rule, "
            "and the true bracket's merge > that method")
    try:
        means = {name: float(board.mean(name, "pu21_psnr"))
                 for name in (*compare.FIXED_RULES, *compare.SINGLE_IMAGE_METHODS, compare.UPPER_BOUND)}
    except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        return _report(False, what, f"pass the leaderboard of compare.chapter_methods(...) ({err!r})")
    fixed = max(compare.FIXED_RULES, key=means.get)
    learned = max(compare.SINGLE_IMAGE_METHODS, key=means.get)
    if not means[compare.UPPER_BOUND] > means[learned] > means[fixed]:
        return _report(False, what, f"true bracket {means[compare.UPPER_BOUND]:.2f}, {learned} {means[learned]:.2f}, "
                       f"{fixed} {means[fixed]:.2f} dB")
    return _report(True, what, "")
