"""One scoring protocol for HDR reconstructions: every method judged by the same metrics, defined once.

Each chapter scores its own method its own way (its paper's way). To compare
methods with each other, :func:`score_hdr` applies one set of HDR metrics to a
prediction and its reference radiance, both shown on the same simulated HDR display
after the prediction's exposure error is removed (single-image HDR recovers
radiance only up to a global factor):

* ``pu21_psnr``, ``pu21_ssim``: PSNR and SSIM of PU21-encoded values (Mantiuk &
  Azimi 2021), :func:`hdrlab.metrics.pu21_psnr` / :func:`~hdrlab.metrics.pu21_ssim`;
* ``log_error_stops``: the median luminance error in stops,
  :func:`hdrlab.metrics.log_error_stops`;
* ``tm_psnr``, ``tm_ssim``: PSNR and SSIM after Reinhard's global operator
  (:data:`TONEMAP`), each image tone mapped on its own;
* ``cvvdp_jod``: ColorVideoVDP's quality in JOD (:func:`hdrlab.metrics.cvvdp_jod`),
  the perceptual score standing in for the papers' HDR-VDP-2, when the ``cvvdp``
  package is installed.

:func:`leaderboard` applies :func:`score_hdr`, and nothing else, to every method of
the course on the same held-out items (:mod:`hdrlab.methods.compare` builds them and
the methods), and times each prediction; :func:`leaderboard_table` prints the means
and spreads, :func:`scene_wins` counts the items each method scores best on.

Example:
    >>> import torch
    >>> target = torch.rand(3, 32, 32) + 0.01
    >>> scores = score_hdr(target * 2, target, perceptual=False)
    >>> sorted(scores), float(scores["log_error_stops"])
    (['log_error_stops', 'pu21_psnr', 'pu21_ssim', 'tm_psnr', 'tm_ssim'], 0.0)

Taught in: notebooks/01_camera_pipeline_debevec.ipynb, notebooks/06_capstone.ipynb
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hdrlab import metrics
from hdrlab.errors import ChoiceError, DTypeError, ShapeError, describe
from hdrlab.validate import check_choice, check_int, check_radiance, check_records, check_sequence

__all__ = ["METRICS", "TONEMAP", "score_hdr", "Method", "Leaderboard", "leaderboard", "leaderboard_spread",
           "leaderboard_table", "scene_wins"]

#: The tone map of ``tm_psnr`` and ``tm_ssim``: Reinhard et al.'s (2002) global operator, key 0.18.
TONEMAP = "reinhard"
#: Each metric's unit and whether higher is better, in the order a table prints them.
METRICS = {"pu21_psnr": ("dB", True), "pu21_ssim": ("", True), "log_error_stops": ("stops", False),
           "tm_psnr": ("dB", True), "tm_ssim": ("", True), "cvvdp_jod": ("JOD", True)}


def _resolve_perceptual(perceptual: object) -> bool:
    """``perceptual`` as a bool: ``"auto"`` is whether ``cvvdp`` is installed (a printed line says so when it is not)."""
    if perceptual not in (True, False, "auto"):
        raise ChoiceError(describe("perceptual True, False or 'auto'", repr(perceptual),
                                   "Pass perceptual='auto' to score ColorVideoVDP where the package is installed."))
    if perceptual != "auto":
        return bool(perceptual)
    if importlib.util.find_spec("pycvvdp") is None:
        print(f"cvvdp_jod left out: the cvvdp package is not installed ({metrics.CVVDP_INSTALL})")
        return False
    return True


def score_hdr(pred_hdr: torch.Tensor, target_hdr: torch.Tensor, *, perceptual: bool | str = "auto"
              ) -> dict[str, torch.Tensor]:
    """Every metric of the protocol for a prediction and its reference, one score per image.

    Args:
        pred_hdr: ``(*, 3, H, W)`` linear radiance ``>= 0`` (any scale), H, W >= 11.
        target_hdr: same shape, the reference radiance, no image all black.
        perceptual: include ``cvvdp_jod``: True (the ``cvvdp`` package must be
            installed), False, or ``"auto"``: when installed, else left out with a
            printed line that says so and how to install it.

    Returns:
        ``{metric: (*,) tensor}`` for the names of :data:`METRICS` (``cvvdp_jod`` as above).

    Raises:
        ChoiceError: ``perceptual`` not True, False or ``"auto"``.
        MissingPackageError: ``perceptual=True`` without the ``cvvdp`` package.
        ShapeError, DTypeError, RangeError: see the metrics.
    """
    use_cvvdp = _resolve_perceptual(perceptual)
    scores = {
        "pu21_psnr": metrics.pu21_psnr(pred_hdr, target_hdr),
        "pu21_ssim": metrics.pu21_ssim(pred_hdr, target_hdr),
        "log_error_stops": metrics.log_error_stops(pred_hdr, target_hdr, align_scale=True),
        "tm_psnr": metrics.tonemapped_psnr(pred_hdr, target_hdr, tonemap=TONEMAP),
        "tm_ssim": metrics.tonemapped_ssim(pred_hdr, target_hdr, tonemap=TONEMAP),
    }
    if use_cvvdp:
        scores["cvvdp_jod"] = metrics.cvvdp_jod(pred_hdr, target_hdr)
    return scores


# ----------------------------------------------------------------------------- the leaderboard (chapter 6)


@dataclass(frozen=True)
class Method:
    """One row of the leaderboard: how a method turns a held-out item into radiance.

    Attributes:
        name: the row's label.
        predict: ``item -> (3, H, W)`` linear radiance ``>= 0`` of the item's ``ldr`` shape. ``item`` is a
            dict of :func:`hdrlab.methods.compare.held_out_items` (``ldr``, ``bracket``, ``evs``, ...); a method
            may read only what it is said to see.
        parameters: the model's parameters, frozen ones included (0 for a fixed rule).
        sees: what the method uses beyond the EV-0 shot ("" for nothing), to be said beside its row.
    """

    name: str
    predict: Callable[[Mapping], torch.Tensor]
    parameters: int = 0
    sees: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise DTypeError(describe("name as a non-empty str", repr(self.name), "Name the row, e.g. 'ExpandNet'."))
        if not callable(self.predict):
            raise DTypeError(describe("predict as a callable item -> radiance", type(self.predict).__name__,
                                      "Pass a function of one held-out item."))
        check_int(self.parameters, "parameters", 0)
        if not isinstance(self.sees, str):
            raise DTypeError(describe("sees as a str", type(self.sees).__name__, "Say what the method sees, or ''."))


@dataclass
class Leaderboard:
    """Scores of every method on every held-out item, by :func:`score_hdr` alone.

    Attributes:
        items: ``[(scene, crf)]`` of the scored items, in order.
        scores: ``{method: {metric: [one score per item]}}`` (metrics of :data:`METRICS`).
        ms_per_megapixel: ``{method: median inference time per item, ms per megapixel}`` (the first item's
            call is timed after an untimed warm-up call on it).
        peak_mb: ``{method: the largest peak memory of one prediction beyond what was in use before it, MB}``:
            CUDA's allocator on a GPU, the process's resident set on Linux (None where neither can be read).
        methods: ``{method: the Method}``.
    """

    items: list[tuple[str, str]]
    scores: dict[str, dict[str, list[float]]]
    ms_per_megapixel: dict[str, float]
    peak_mb: dict[str, float | None]
    methods: dict[str, Method] = field(repr=False)

    def mean(self, method: str, metric: str) -> float:
        """The mean of ``metric`` over the items for ``method``."""
        values = self.scores[method][metric]
        return sum(values) / len(values)


class _PeakMemory:
    """Peak memory of a block beyond its start, MB: CUDA's allocator on a GPU, the resident set on Linux."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak_mb = device, None

    def __enter__(self) -> _PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._start = _reset_resident_peak()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._start) / 2**20
        elif self._start is not None:
            self.peak_mb = max(_status_kb("VmHWM") * 1024 - self._start, 0) / 2**20


def _status_kb(key: str) -> int:
    """A ``kB`` field of ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _reset_resident_peak() -> int | None:
    """Reset this process's peak resident set (Linux ``clear_refs`` 5); its current size in bytes, or None."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS") * 1024
    except (OSError, KeyError):
        return None


def _check_methods(methods: object) -> list[Method]:
    if not isinstance(methods, (list, tuple)) or not methods or not all(isinstance(m, Method) for m in methods):
        raise DTypeError(describe("methods as a non-empty list of Method", repr(methods)[:80],
                                  "Build them with hdrlab.methods.compare.chapter_methods (or Method(name, predict))."))
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ChoiceError(describe("methods with distinct names", repr(names), "Rename the repeated method."))
    return list(methods)


def _predicted(method: Method, item: Mapping) -> torch.Tensor:
    """``method.predict(item)``, checked to be radiance of the item's shape."""
    pred = method.predict(item)
    check_radiance(pred, f"radiance predicted by {method.name!r}")
    if pred.shape != item["hdr"].shape:
        raise ShapeError(describe(f"{method.name!r} to predict radiance of shape {tuple(item['hdr'].shape)}",
                                  f"shape {tuple(pred.shape)}", "Return one (3, H, W) image per item, uncropped."))
    return pred


def leaderboard(methods: list[Method], items: list[Mapping], *, perceptual: bool | str = "auto") -> Leaderboard:
    """Score every method on every item with :func:`score_hdr`, and time it: the course's one comparison.

    Each method predicts each item's radiance from what it is given (:class:`Method`); every score
    comes from ``score_hdr(prediction, item["hdr"])``, so no method is scored its own way.

    Args:
        methods: the rows, distinct names.
        items: held-out items with at least ``hdr`` ``(3, H, W)`` (the reference radiance), ``ldr``,
            ``scene`` and ``crf`` (:func:`hdrlab.methods.compare.held_out_items`).
        perceptual: ``cvvdp_jod`` too: True, False or ``"auto"`` (when ``cvvdp`` is installed; said once when not).

    Returns:
        A :class:`Leaderboard`.

    Raises:
        DTypeError: ``methods`` not a non-empty list of :class:`Method`; ``items`` not a non-empty list of
            dicts with ``ldr``, ``hdr``, ``scene``, ``crf``. ChoiceError: repeated names, bad ``perceptual``.
        ShapeError, DTypeError, RangeError: a prediction that is not radiance of the item's shape.

    Example:
        >>> from hdrlab.methods.compare import held_out_items, baseline_methods
        >>> board = leaderboard(baseline_methods(), held_out_items("quick")[:2], perceptual=False)
        >>> sorted(board.scores), len(board.scores["LDR input"]["pu21_psnr"])
        (['LDR input', 'LDR, inverse gamma 2.2'], 2)
    """
    methods = _check_methods(methods)
    items = check_records(items, "items", ("ldr", "hdr", "scene", "crf"))
    for index, item in enumerate(items):
        check_radiance(item["hdr"], f"items[{index}]['hdr']")
        if item["hdr"].dim() != 3:
            raise ShapeError(describe(f"items[{index}]['hdr'] of shape (3, H, W)", f"shape {tuple(item['hdr'].shape)}",
                                      "One reference image per item."))
    use_cvvdp = _resolve_perceptual(perceptual)
    scores: dict[str, dict[str, list[float]]] = {}
    times: dict[str, float] = {}
    peaks: dict[str, float | None] = {}
    for method in methods:
        _predicted(method, items[0])  # warm-up: first-call costs (allocations, lazy imports) are not inference
        per_item, seconds, peak_mb = {}, [], []
        for item in items:
            with _PeakMemory(item["hdr"].device) as peak:
                start = time.perf_counter()
                pred = _predicted(method, item)
                seconds.append((time.perf_counter() - start) / (item["hdr"].shape[-2] * item["hdr"].shape[-1] / 1e6))
            peak_mb.append(peak.peak_mb)
            for metric, value in score_hdr(pred, item["hdr"], perceptual=use_cvvdp).items():
                per_item.setdefault(metric, []).append(float(value))
        scores[method.name], times[method.name] = per_item, 1000 * statistics.median(seconds)
        peaks[method.name] = None if None in peak_mb else max(peak_mb)
    return Leaderboard([(item["scene"], item["crf"]) for item in items], scores, times, peaks,
                       {method.name: method for method in methods})


def _spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def leaderboard_spread(boards: Leaderboard | list[Leaderboard], method: str, metric: str) -> tuple[float, float]:
    """A method's mean score and its spread, as :func:`leaderboard_table` prints them.

    Args:
        boards: a :class:`Leaderboard` (spread over its items) or a list of them, one per training seed
            (spread over the seeds' means).
        method: a method of the boards.
        metric: a metric of the boards.

    Returns:
        ``(mean, sample standard deviation)`` (std 0 for a single value).

    Raises:
        DTypeError: ``boards`` not a Leaderboard or a list of them. ChoiceError: unknown method or metric.
    """
    boards = _check_boards(boards)
    check_choice(method, "method", list(boards[0].scores))
    check_choice(metric, "metric", list(boards[0].scores[method]))
    values = boards[0].scores[method][metric] if len(boards) == 1 else [b.mean(method, metric) for b in boards]
    return _spread(values)


def leaderboard_table(boards: Leaderboard | list[Leaderboard], metrics_shown: tuple[str, ...] | None = None) -> str:
    """The leaderboard as text: each metric's mean and spread, parameters, time per megapixel, peak memory.

    With one board the spread is the standard deviation over its items (scenes x response curves);
    with several (one per training seed) it is the standard deviation over the boards of their means,
    and time and memory are the boards' medians.

    Args:
        boards: a :class:`Leaderboard` or a non-empty list of them with the same methods and metrics.
        metrics_shown: metric names of :data:`METRICS` to print (None: every metric the boards have).

    Returns:
        The table, a header line then one line per method, and a line on what the spread is.

    Raises:
        DTypeError: ``boards`` not a Leaderboard or a list of them. ChoiceError: boards with different
            methods or metrics, or an unknown metric in ``metrics_shown``.
    """
    boards = _check_boards(boards)
    first = boards[0]
    names = list(first.scores)
    available = list(first.scores[names[0]])
    shown = (tuple(m for m in METRICS if m in available) if metrics_shown is None
             else check_sequence(metrics_shown, "metrics_shown", lambda m, label: check_choice(m, label, available)))
    widths = [max(16, len(_title(m)) + 2) for m in shown]
    header = (f"{'method':<36}" + "".join(f"{_title(m):>{w}}" for m, w in zip(shown, widths))
              + f"{'params':>11}{'ms/MP':>9}{'peak MB':>9}")
    lines = [header]
    for name in names:
        cells = []
        for metric, width in zip(shown, widths):
            mean, std = leaderboard_spread(boards, name, metric)
            digits = 3 if METRICS[metric][0] in ("", "stops") else 2
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}".rjust(width))
        ms = statistics.median(b.ms_per_megapixel[name] for b in boards)
        peaks = [b.peak_mb[name] for b in boards]
        peak = "n/a" if None in peaks else f"{statistics.median(peaks):.1f}"
        params = first.methods[name].parameters
        lines.append(f"{name:<36}" + "".join(cells) + f"{params:>11,}{ms:>9.0f}{peak:>9}")
    over = (f"{len(first.items)} held-out items (scenes x response curves)" if len(boards) == 1
            else f"{len(boards)} seeds (each seed's mean over {len(first.items)} items)")
    lines.append(f"mean ± std over {over}; higher is better except {', '.join(m for m in shown if not METRICS[m][1])}")
    return "\n".join(lines)


def _title(metric: str) -> str:
    unit = METRICS[metric][0]
    return f"{metric} ({unit})" if unit else metric


def _check_boards(boards: object) -> list[Leaderboard]:
    boards = [boards] if isinstance(boards, Leaderboard) else boards
    if not isinstance(boards, list) or not boards or not all(isinstance(b, Leaderboard) for b in boards):
        raise DTypeError(describe("a Leaderboard or a non-empty list of them", type(boards).__name__,
                                  "Pass what leaderboard() returned (one per seed)."))
    keys = {(tuple(b.scores), tuple(next(iter(b.scores.values()), ()))) for b in boards}
    if len(keys) != 1:
        raise ChoiceError(describe("boards with the same methods and metrics", f"{len(keys)} different sets",
                                   "Score every seed with the same methods and the same perceptual choice."))
    return boards


def scene_wins(board: Leaderboard, metric: str = "pu21_psnr", among: list[str] | None = None) -> dict[str, int]:
    """How many items each method scores best on (a tie counts for each tied method).

    Args:
        board: a :class:`Leaderboard`.
        metric: a metric of :data:`METRICS` in the board.
        among: the competing methods (None: all), e.g. leaving out an upper bound such as the true bracket.

    Returns:
        ``{method: wins}`` for the methods of ``among``, in its order.

    Raises:
        DTypeError: ``board`` not a Leaderboard. ChoiceError: unknown metric or method.

    Example:
        >>> board = Leaderboard([("a", "srgb"), ("b", "srgb")], {"x": {"pu21_psnr": [1.0, 3.0]},
        ...                     "y": {"pu21_psnr": [2.0, 2.0]}}, {}, {}, {})
        >>> scene_wins(board)
        {'x': 1, 'y': 1}
    """
    board = _check_boards(board)[0]
    names = list(board.scores) if among is None else check_sequence(
        among, "among", lambda name, label: check_choice(name, label, list(board.scores)))
    check_choice(metric, "metric", list(board.scores[names[0]]))
    higher = METRICS[metric][1]
    wins = dict.fromkeys(names, 0)
    for index in range(len(board.items)):
        values = {name: board.scores[name][metric][index] for name in names}
        best = max(values.values()) if higher else min(values.values())
        for name, value in values.items():
            wins[name] += value == best
    return wins
