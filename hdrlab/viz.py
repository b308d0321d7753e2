"""Matplotlib figures used by the notebooks (each returns its ``Figure``).

Every figure function takes tensors in the package conventions (``(3, H, W)``
radiance or LDR, float32) and does the one display step itself: radiance is
tone mapped (Reinhard global, then sRGB) only here, never in place.

Taught in: notebooks/00_getting_started.ipynb
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from hdrlab.errors import ChoiceError, RangeError, ShapeError, describe
from hdrlab.imaging import camera
from hdrlab.imaging.crf import RESPONSE_CURVES, get_response_curve, recover_debevec, response_error_stops
from hdrlab.imaging.merge import merge_debevec_differentiable, piecewise_linear_lookup
from hdrlab.imaging.tonemap import (
    log_display,
    luminance,
    mu_law,
    normalize_hdr,
    reinhard_global,
    reinhard_local,
    srgb_encode,
)
from hdrlab.methods import hybrid, multiexposure
from hdrlab.metrics import psnr, tonemapped_psnr
from hdrlab.nn.losses import mu_law_loss
from hdrlab.validate import check_image, check_int, check_ldr, check_radiance

__all__ = [
    "display_image", "to_numpy_image", "scene_grid", "log_luminance_histograms",
    "response_curves", "image_row", "bracket", "exposure_view",
    "response_recovery", "false_colour_log_luminance", "recovery_view", "tonemap_view",
    "training_curves", "adaptation_view", "reexposure_view", "bracket_comparison", "hdr_comparison",
    "lookup_view", "merge_gradient_view", "recursion_view", "alignment_view", "upsampler_crops", "upsampler_zoom",
    "before_after_view", "method_grid", "quality_vs_time",
]


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` tensor in [0, 1] -> ``(H, W, 3)`` NumPy array for ``imshow``."""
    check_ldr(image, "display image")
    return image.detach().cpu().permute(1, 2, 0).numpy()


def display_image(radiance: torch.Tensor, key: float = 0.18) -> torch.Tensor:
    """Radiance ``(*, 3, H, W)`` -> sRGB display image in [0, 1] (Reinhard global, then sRGB).

    Example:
        >>> display_image(torch.rand(3, 4, 4) * 100).shape
        torch.Size([3, 4, 4])
    """
    return srgb_encode(reinhard_global(radiance, key=key))


def scene_grid(images: Mapping[str, torch.Tensor], stops: Mapping[str, float], columns: int = 6) -> Figure:
    """Thumbnails of radiance maps, tone mapped, titled with their dynamic range in stops.

    Args:
        images: scene name -> ``(3, H, W)`` radiance.
        stops: scene name -> dynamic range in stops.
        columns: thumbnails per row.
    """
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 1.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, radiance) in zip(axes.flat, images.items()):
        ax.imshow(to_numpy_image(display_image(radiance)))
        ax.set_title(f"{name}\n{stops[name]:.1f} stops", fontsize=7)
    fig.tight_layout()
    return fig


def log_luminance_histograms(images: Mapping[str, torch.Tensor], stops: Mapping[str, float], columns: int = 6,
                             bins: int = 40) -> Figure:
    """One small histogram of log2 luminance per scene, relative to its median, on shared axes.

    Args:
        images: scene name -> ``(3, H, W)`` radiance.
        stops: scene name -> dynamic range in stops (shown in each title).
        columns: panels per row.
        bins: histogram bins over the common range.
    """
    logs = {}
    for name, radiance in images.items():
        check_radiance(radiance)
        lum = luminance(radiance).flatten()
        lum = lum[lum > 0]
        logs[name] = torch.log2(lum / lum.median()).numpy()
    edges = np.linspace(min(v.min() for v in logs.values()), max(v.max() for v in logs.values()), bins + 1)
    rows = -(-len(logs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 1.4 * rows), sharex=True, sharey=True, squeeze=False)
    for ax in axes.flat[len(logs):]:
        ax.axis("off")
    for ax, (name, values) in zip(axes.flat, logs.items()):
        ax.hist(values, bins=edges, color="grey", density=True)
        ax.set_yscale("log")
        ax.set_title(f"{name} ({stops[name]:.1f})", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.supxlabel("log2 luminance relative to the scene median (stops)", fontsize=8)
    fig.tight_layout()
    return fig


def response_curves(names: Sequence[str] | None = None) -> Figure:
    """Plot response curves f: sensor exposure [0, 1] -> pixel value [0, 1]."""
    x = torch.linspace(0, 1, 512)
    fig, ax = plt.subplots(figsize=(5, 4))
    for name in names or list(RESPONSE_CURVES):
        ax.plot(x.numpy(), get_response_curve(name).forward(x).numpy(), label=name)
    ax.set_xlabel("sensor exposure x = E t (1 = full well)")
    ax.set_ylabel("pixel value f(x)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def image_row(images: Mapping[str, torch.Tensor], size: float = 2.2) -> Figure:
    """A row of display images ``(3, H, W)`` in [0, 1], each titled with its key."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size), squeeze=False)
    for ax, (title, image) in zip(axes[0], images.items()):
        ax.imshow(to_numpy_image(image))
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def bracket(stack: torch.Tensor, times: torch.Tensor, t_ref: float) -> Figure:
    """A row of LDR shots ``(N, 3, H, W)`` titled with EV and clipped fractions."""
    over, under = camera.clipped_fraction(stack)
    titles = [
        f"EV {camera.time_to_ev(float(t), t_ref):+.1f}\nover {100 * o:.0f}%  under {100 * u:.0f}%"
        for t, o, u in zip(times.tolist(), over.tolist(), under.tolist())
    ]
    return image_row(dict(zip(titles, stack)))


def exposure_view(radiance: torch.Tensor, ev: float, crf: str, bits: int, t_ref: float) -> Figure:
    """What a camera records at ``ev`` (relative to ``t_ref``), with its code histogram.

    The callback of :func:`hdrlab.widgets.exposure_explorer`.

    Args:
        radiance: ``(3, H, W)`` radiance.
        ev: exposure value relative to ``t_ref``.
        crf: response-curve name.
        bits: quantisation bit depth.
        t_ref: EV-0 exposure time in seconds.
    """
    time = camera.ev_to_time(ev, t_ref)
    shot = camera.expose(radiance, time, crf, bits=bits)
    over, under = camera.clipped_fraction(shot, bits=bits)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [2, 1]})
    left.imshow(to_numpy_image(shot))
    left.set_title(f"EV {ev:+.1f} (t = {time:.3g} s), {crf}, {bits}-bit", fontsize=9)
    left.axis("off")
    codes = (shot * (2**bits - 1)).round().flatten().numpy()
    right.hist(codes, bins=64, range=(0, 2**bits - 1), color="grey")
    right.set_yscale("log")
    right.set_xlabel("code value")
    right.set_title(f"clipped: {100 * float(over):.1f}% white, {100 * float(under):.1f}% black", fontsize=9)
    fig.tight_layout()
    return fig


def response_recovery(estimates: Mapping[str, torch.Tensor], truth: torch.Tensor, channel: int = 1) -> Figure:
    """Recovered inverse responses ``g`` (``(3, L)``, ln exposure per code) against the true one.

    Each estimate is shifted by its mean offset to the truth over the well-exposed
    codes (the absolute scale of ``g`` is unknowable), then plotted in stops.

    Args:
        estimates: label -> ``(3, L)`` inverse response.
        truth: ``(3, L)`` true inverse response.
        channel: which colour channel to plot (0 R, 1 G, 2 B).
    """
    levels = truth.shape[-1]
    codes = np.arange(levels)
    well = slice(int(0.05 * (levels - 1)), int(0.95 * (levels - 1)) + 1)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    true_stops = truth[channel].double().numpy() / np.log(2)
    ax.plot(codes[1:], true_stops[1:], color="black", linewidth=3, alpha=0.35, label="true")
    for label, g in estimates.items():
        stops = g[channel].double().numpy() / np.log(2)
        stops = stops - (stops[well] - true_stops[well]).mean()
        ax.plot(codes, stops, linewidth=1.2, label=label)
    ax.set_xlabel("code value z")
    ax.set_ylabel("g(z) = log2 exposure (stops)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def false_colour_log_luminance(radiance: torch.Tensor, title: str = "") -> Figure:
    """The radiance map as false-colour log2 luminance with a colour bar in stops."""
    check_radiance(radiance)
    lum = luminance(radiance)[0]
    stops = torch.log2(lum.clamp_min(float(lum[lum > 0].min()) if (lum > 0).any() else 1e-12))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    shown = ax.imshow(stops.numpy(), cmap="turbo")
    fig.colorbar(shown, ax=ax, label="log2 luminance (stops)")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    return fig


def recovery_view(stack: torch.Tensor, times: torch.Tensor, truth: torch.Tensor, smoothness: float,
                  samples: int, weight: str) -> Figure:
    """Recover ``g`` with the given settings and plot it against the truth (the explorer's callback)."""
    g = recover_debevec(stack, times, samples=samples, smoothness=smoothness, weight=weight,
                        generator=torch.Generator().manual_seed(0))
    label = f"lambda={smoothness:g}, {samples} samples, {weight}: {response_error_stops(g, truth):.3f} stops RMS"
    return response_recovery({label: g}, truth)


def tonemap_view(radiance: torch.Tensor, key: float, white: float, phi: float, mu: float) -> Figure:
    """Reinhard global, Reinhard local, mu-law and log display side by side (the explorer's callback)."""
    normalised = normalize_hdr(radiance)
    shown = {
        f"Reinhard global (key {key:g}, white {white:g})": srgb_encode(reinhard_global(radiance, key=key, white=white)),
        f"Reinhard local (phi {phi:g})": srgb_encode(reinhard_local(radiance, key=key, phi=phi)),
        f"mu-law (mu {mu:g})": mu_law(normalised, mu=mu),
        "log display": log_display(radiance),
    }
    return image_row(shown, size=3.2)


def training_curves(runs: Mapping[str, Sequence[Mapping[str, float]]], key: str = "loss") -> Figure:
    """One curve per run of a logged value against the step (the rows of ``hdrlab.train.FitResult.history``).

    Args:
        runs: run label -> history rows; rows with ``phase == "train"`` and ``key`` are plotted.
        key: the logged value to plot.
    """
    fig, ax = plt.subplots(figsize=(6, 3))
    for label, rows in runs.items():
        points = [(row["step"], row[key]) for row in rows if row.get("phase") == "train" and key in row]
        ax.plot(*zip(*points), marker=".", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def adaptation_view(query_ldr: torch.Tensor, truth: torch.Tensor, predictions: Sequence[torch.Tensor],
                    step: int) -> Figure:
    """The input, the prediction after ``step`` inner steps and the truth, with PSNR against the number of steps.

    Args:
        query_ldr: ``(3, H, W)`` LDR input in [0, 1].
        truth: ``(3, H, W)`` display image of the true HDR, in [0, 1].
        predictions: display images ``(3, H, W)`` in [0, 1] after 0, 1, 2, ... inner steps.
        step: which prediction to show, ``0 <= step < len(predictions)``.
    """
    check_ldr(query_ldr, "query LDR")
    scores = [float(psnr(prediction, truth)) for prediction in predictions]
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.8), gridspec_kw={"width_ratios": [1, 1, 1, 1.3]})
    shown = {"LDR input": query_ldr, f"after {step} inner steps ({scores[step]:.2f} dB)": predictions[step],
             "truth": truth}
    for ax, (title, image) in zip(axes, shown.items()):
        ax.imshow(to_numpy_image(image))
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    axes[3].plot(range(len(scores)), scores, marker=".")
    axes[3].plot([step], [scores[step]], "o", color="crimson")
    axes[3].set_xlabel("inner steps on the support set")
    axes[3].set_ylabel("PSNR of the query (dB)")
    fig.tight_layout()
    return fig


def reexposure_view(model: torch.nn.Module, ldr: torch.Tensor, ev: float) -> Figure:
    """The input LDR, the network's frame at ``ev`` and the naive re-exposure side by side (the explorer's callback).

    Args:
        model: a :class:`hdrlab.methods.multiexposure.MultiExposureNet`.
        ldr: ``(3, H, W)`` LDR input in [0, 1].
        ev: exposure change relative to the input, in stops.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    check_ldr(ldr, "LDR input")
    generated = multiexposure.generate(model, ldr, [float(ev)])[0]
    naive = multiexposure.naive_reexposure(ldr, float(ev))
    shown = {"LDR input (EV +0)": ldr, f"generated, EV {ev:+.2f}": generated, f"naive (gamma 2.2), EV {ev:+.2f}": naive}
    return image_row(shown, size=3.2)


def bracket_comparison(true_stack: torch.Tensor, generated: torch.Tensor, naive: torch.Tensor,
                       evs: Sequence[float]) -> Figure:
    """True, generated and naive brackets in three rows, a column per EV, each frame's PSNR against the true one.

    Args:
        true_stack: ``(N, 3, H, W)`` the real bracket in [0, 1].
        generated: ``(N, 3, H, W)`` the generated bracket (:func:`hdrlab.methods.multiexposure.generate`).
        naive: ``(N, 3, H, W)`` the naive re-exposures (:func:`hdrlab.methods.multiexposure.naive_reexposure`).
        evs: the N exposures, EV relative to the input.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    rows = {"true": true_stack, "generated": generated, "naive": naive}
    for label, stack in rows.items():
        check_ldr(stack, f"{label} bracket")
        if stack.dim() != 4 or stack.shape != true_stack.shape or stack.shape[0] != len(evs):
            raise ShapeError(describe(f"three (N, 3, H, W) brackets with N = len(evs) = {len(evs)}",
                                      f"{label}: shape {tuple(stack.shape)}", "Pass one frame per EV, in order."))
    aspect = true_stack.shape[-2] / true_stack.shape[-1]
    fig, axes = plt.subplots(3, len(evs), figsize=(2.2 * len(evs), 3 * (2.2 * aspect + 0.5)), squeeze=False)
    for row, (label, stack) in zip(axes, rows.items()):
        for ax, ev, frame, true in zip(row, evs, stack, true_stack):
            ax.imshow(to_numpy_image(frame))
            ax.axis("off")
            if label == "true" or float(ev) == 0:
                ax.set_title(f"{label}, EV {float(ev):+g}" + (" (input)" if float(ev) == 0 else ""), fontsize=8)
            else:
                ax.set_title(f"{label}, EV {float(ev):+g}\n{float(psnr(frame, true)):.2f} dB", fontsize=8)
    fig.tight_layout()
    return fig


def hdr_comparison(hdrs: Mapping[str, torch.Tensor], target: torch.Tensor) -> Figure:
    """HDRs and then the target, each tone mapped (Reinhard global + sRGB), titled with tone-mapped PSNR vs the target.

    The PSNR is :func:`hdrlab.metrics.tonemapped_psnr` (Reinhard's operator, each image its own key),
    the ``tm_psnr`` of :func:`hdrlab.methods.multiexposure.evaluate`. One panel per HDR, plus the target.

    Args:
        hdrs: label -> ``(3, H, W)`` radiance ``>= 0`` (any scale: each is tone mapped with its own key).
        target: ``(3, H, W)`` the true radiance.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    check_radiance(target, "target HDR")
    shown = {}
    for label, hdr in hdrs.items():
        check_radiance(hdr, f"HDR {label!r}")
        shown[f"{label}\nTM PSNR {float(tonemapped_psnr(hdr, target)):.2f} dB"] = display_image(hdr)
    shown["target"] = display_image(target)
    return image_row(shown, size=2.6)


def lookup_view(g: torch.Tensor, low: float = 0.40, high: float = 0.44, channel: int = 1) -> Figure:
    """Why the classic lookup has no gradient and what Kim et al.'s Eq. 3 gives it, over ``[low, high]``.

    Left: ``g`` read at the quantised code (the forward of both merges: a
    staircase) and ``g`` between codes joined by lines. Right: the derivative
    each gives, computed by autograd: rounding to a code has derivative 0 almost
    everywhere; :func:`hdrlab.imaging.merge.piecewise_linear_lookup`'s default
    backward (Eq. 3) is the slope ``g(z) - g(z - 1)`` ending at the pixel's code ``z``.

    Args:
        g: ``(3, L)`` inverse response ``ln(E t)`` per code.
        low, high: the range of pixel values shown, ``0 <= low < high <= 1`` (a few codes wide to see the steps).
        channel: which colour channel of ``g``.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    if not 0 <= low < high <= 1:
        raise RangeError(describe("0 <= low < high <= 1 (pixel values)", f"low={low!r}, high={high!r}",
                                  "Pick a few codes' width, e.g. low=0.40, high=0.44."))
    levels = g.shape[-1]
    x = torch.linspace(low, high, 801, dtype=torch.float64, requires_grad=True)
    table = g[channel].detach().double()
    rounded = table[(x * (levels - 1)).round().long()] + 0 * x  # what integer indexing gives autograd: slope 0
    (grad_rounded,) = torch.autograd.grad(rounded.sum(), x)
    looked_up = piecewise_linear_lookup(x, table)
    (grad_linear,) = torch.autograd.grad(looked_up.sum(), x)
    x, looked_up = x.detach().numpy(), looked_up.detach().numpy()
    codes = np.arange(levels) / (levels - 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    axes[0].plot(x, looked_up, label="forward: g(code)")
    axes[0].plot(codes, table.numpy(), "o-", ms=3, label="g at the codes, joined")
    axes[1].plot(x, grad_rounded.numpy(), label="d/dx of g(round(x)): 0")
    axes[1].plot(x, grad_linear.numpy(), label="Eq. 3 backward: g(z) - g(z - 1)")
    for ax, ylabel in zip(axes, ("g(x) = ln(E t)", "d g / d x")):
        ax.set_xlim(low, high)
        ax.set_xlabel("pixel value x")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    axes[0].set_ylim(looked_up.min() - 0.02, looked_up.max() + 0.02)
    fig.tight_layout()
    return fig


def merge_gradient_view(stack: torch.Tensor, times: torch.Tensor, g: torch.Tensor, target: torch.Tensor) -> Figure:
    """Where an HDR loss sends its gradient: each frame above the magnitude of ``d loss / d frame``.

    The loss is the L1 between the mu-law images (:func:`hdrlab.nn.losses.mu_law_loss`)
    of the differentiable merge of ``stack`` and of ``target``, each first
    divided by its own 99th percentile and clipped
    (:func:`hdrlab.imaging.tonemap.normalize_hdr`: the merge's scale is fixed by ``g``'s anchor).
    Gradient maps are summed over colour, shown on a log scale shared by all
    frames, and titled with each frame's share of the total gradient.

    Args:
        stack: ``(N, 3, H, W)`` LDR frames in [0, 1].
        times: ``(N,)`` exposure times, ascending.
        g: ``(3, L)`` inverse response.
        target: ``(3, H, W)`` radiance the merge should match.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    check_radiance(target, "target radiance")
    leaf = stack.detach().clone().requires_grad_(True)
    merged = merge_debevec_differentiable(leaf, times, g)
    mu_law_loss(normalize_hdr(merged), normalize_hdr(target)).backward()
    magnitude = leaf.grad.abs().sum(1)  # (N, H, W)
    share = magnitude.flatten(1).sum(1) / magnitude.sum()
    floor = float(magnitude[magnitude > 0].min()) if (magnitude > 0).any() else 1e-12
    logged = magnitude.clamp(min=floor).log10().numpy()
    fig, axes = plt.subplots(2, stack.shape[0], figsize=(2.3 * stack.shape[0], 4.8), squeeze=False)
    for j in range(stack.shape[0]):
        axes[0, j].imshow(to_numpy_image(stack[j].detach()))
        axes[0, j].set_title(f"frame {j}, t = {float(times[j]):.3g}", fontsize=8)
        image = axes[1, j].imshow(logged[j], cmap="magma", vmin=float(logged.min()), vmax=float(logged.max()))
        axes[1, j].set_title(f"|d loss / d frame|: {100 * float(share[j]):.0f}%", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.colorbar(image, ax=axes[1].tolist(), fraction=0.02, label="log10 |gradient|")
    return fig


def recursion_view(stack: torch.Tensor, evs: Sequence[float], step: int,
                   true_stack: torch.Tensor | None = None) -> Figure:
    """The recursion unrolled up to ``step``: EV 0 -> +1 -> ... and EV 0 -> -1 -> ..., one row per direction.

    Args:
        stack: ``(N, 3, H, W)`` generated bracket in [0, 1] in the order of ``evs``
            (:func:`hdrlab.methods.recursive.generate`), whole stops around EV 0.
        evs: its N exposures (EV relative to the input), containing 0.
        step: how many recursion steps to show, ``0 <= step <= max(|ev|)``.
        true_stack: the true bracket (same shape), to title each frame with its PSNR, or None.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    evs = [float(ev) for ev in evs]
    check_ldr(stack, "generated bracket")
    deepest = int(max(abs(ev) for ev in evs))
    if stack.dim() != 4 or stack.shape[0] != len(evs) or 0.0 not in evs or not 0 <= step <= deepest:
        raise ShapeError(describe(f"an (N, 3, H, W) bracket with N = len(evs) = {len(evs)}, EV 0 among evs, and "
                                  f"0 <= step <= {deepest}", f"shape {tuple(stack.shape)}, step {step!r}",
                                  "Pass recursive.generate(model, ldr) and recursive.EVS."))
    fig, axes = plt.subplots(2, deepest + 1, figsize=(2.3 * (deepest + 1), 5.0), squeeze=False)
    for row, sign, name in ((0, 1, "stop-up"), (1, -1, "stop-down")):
        for k in range(deepest + 1):
            ax = axes[row, k]
            ax.axis("off")
            ev = float(sign * k)
            if k > step or ev not in evs:
                continue
            frame = stack[evs.index(ev)]
            ax.imshow(to_numpy_image(frame))
            title = "input, EV 0" if k == 0 else f"{name} step {k}: EV {ev:+g}"
            if true_stack is not None and k > 0:
                title += f"\n{float(psnr(frame, true_stack[evs.index(ev)])):.2f} dB"
            ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def _bare(ax: plt.Axes) -> None:
    """Hide an image panel's ticks but keep its spines (so a frame can still be coloured)."""
    ax.set_xticks([])
    ax.set_yticks([])


def alignment_view(ldr: torch.Tensor, hdr: torch.Tensor, patch: int = 64) -> Figure:
    """The LDR and the 8 rotations/flips of its HDR, each titled with its SSIM (what ``hybrid.align_pair`` tests).

    A 3x3 grid: panel 0 is the LDR, panels 1-8 are ``dihedral(alignment_display(hdr), k)``
    for ``k = 0..7`` (:data:`hdrlab.methods.hybrid.DIHEDRAL` order), titled with
    :func:`~hdrlab.methods.hybrid.alignment_scores` (SSIM on the centre patch).
    On non-square pairs the odd ``k`` (which swap H and W) cannot match and are
    left blank ("shape differs"). The winner (the best score, ties to the lower
    ``k``, as ``align_pair`` decides) gets a thick green frame and "(best)".

    Args:
        ldr: ``(3, H, W)`` LDR image in [0, 1].
        hdr: ``(3, H, W)`` or ``(3, W, H)`` linear radiance ``>= 0``, not all black (any absolute scale).
        patch: side of the compared centre patch, int >= 11 (SSIM's window).

    Returns:
        The figure (9 axes).

    Raises:
        DTypeError, ShapeError, RangeError: see :func:`hdrlab.methods.hybrid.alignment_scores`.

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    scores = hybrid.alignment_scores(ldr, hdr, patch)
    best = max(scores, key=lambda k: (scores[k], -k))
    shown = hybrid.alignment_display(hdr)
    fig, axes = plt.subplots(3, 3, figsize=(7.5, 8.2))
    axes = axes.flatten()
    axes[0].imshow(to_numpy_image(ldr))
    axes[0].set_title("LDR (reference)", fontsize=8)
    for k, name in enumerate(hybrid.DIHEDRAL):
        ax = axes[k + 1]
        if k not in scores:
            ax.set_title(f"{name}\nshape differs", fontsize=8, color="grey")
            for spine in ax.spines.values():
                spine.set_visible(False)
            continue
        ax.imshow(to_numpy_image(hybrid.dihedral(shown, k)))
        title = f"{name}\nSSIM {scores[k]:.3f}"
        if k == best:
            title += " (best)"
            for spine in ax.spines.values():
                spine.set_edgecolor("limegreen")
                spine.set_linewidth(4)
        ax.set_title(title, fontsize=8, fontweight="bold" if k == best else "normal")
    for ax in axes:
        _bare(ax)
    fig.tight_layout()
    return fig


def _check_log_images(outputs: Mapping[str, torch.Tensor], target: torch.Tensor) -> tuple[int, int]:
    """Check ``target`` and every output are ``(3, H, W)`` log-domain images in [-1, 1] of one shape; return (H, W)."""
    for name, x in {"target": target, **{f"output {key!r}": value for key, value in outputs.items()}}.items():
        check_image(x, name)
        if x.dim() != 3 or x.shape != target.shape:
            raise ShapeError(describe(f"{name} of shape (3, H, W) = {tuple(target.shape)} (the target's)",
                                      f"shape {tuple(x.shape)}", "Pass one image each, predicted for the same input."))
        low, high = float(x.min()), float(x.max())
        if low < -1 or high > 1:
            raise RangeError(describe(f"{name} in [-1, 1] (the log domain of hybrid.to_log_domain)",
                                      f"values in [{low:.4g}, {high:.4g}]",
                                      "Pass the model's tanh output and to_log_domain's target, not radiance."))
    return int(target.shape[-2]), int(target.shape[-1])


def _check_window(shape: tuple[int, int], top: int, left: int, size: int) -> tuple[int, int, int]:
    """Check a ``size`` x ``size`` crop at ``(top, left)`` lies inside an ``(H, W)`` image; return the three ints."""
    size = check_int(size, "crop size", 4)
    top, left = check_int(top, "top", 0), check_int(left, "left", 0)
    height, width = shape
    if top + size > height or left + size > width:
        raise ShapeError(describe(f"a {size} x {size} window inside the {height} x {width} image",
                                  f"rows {top}..{top + size - 1}, columns {left}..{left + size - 1}",
                                  f"Use top <= {height - size} and left <= {width - size}, or a smaller size."))
    return top, left, size


def _crop(x: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    """The display image ``(x + 1) / 2`` of a log-domain image, cropped to the window."""
    return ((x.detach().float() + 1) / 2)[:, top:top + size, left:left + size].clamp(0, 1)


def _high_pass(image: torch.Tensor) -> torch.Tensor:
    """``image - binomial blur`` (3x3, [1, 2, 1] / 4 each way, replicate padding), averaged over colour: ``(H, W)``."""
    kernel = torch.tensor([0.25, 0.5, 0.25], dtype=image.dtype)
    x = F.pad(image.unsqueeze(1), (1, 1, 1, 1), mode="replicate")
    blur = F.conv2d(F.conv2d(x, kernel.view(1, 1, 1, 3)), kernel.view(1, 1, 3, 1))
    return (image.unsqueeze(1) - blur).mean(dim=(0, 1))


def upsampler_crops(outputs: Mapping[str, torch.Tensor], target: torch.Tensor, top: int, left: int,
                    size: int) -> Figure:
    """Zoomed crops of decoder outputs next to the target, above their high-pass residuals (the upsampler study).

    One column per image, the target first. Row 1: the crop
    ``[:, top:top + size, left:left + size]`` of the display image ``(x + 1) / 2``,
    drawn with nearest-neighbour interpolation so single pixels stay sharp.
    Row 2: the crop's high-pass residual (the image minus its 3x3 binomial blur
    ``[1, 2, 1] / 4`` (x) ``[1, 2, 1] / 4``, averaged over colour, then cropped) on a diverging
    colour scale symmetric about 0 and shared by the row: a pixel-shuffle
    "mosaic" shows as a regular 2-pixel red/blue checker. Each column is titled
    with :func:`~hdrlab.methods.hybrid.checkerboard_score` of the whole image.

    Args:
        outputs: name -> ``(3, H, W)`` predicted log-domain image in [-1, 1] (the model's tanh output).
        target: ``(3, H, W)`` the target in the log domain, in [-1, 1] (:func:`~hdrlab.methods.hybrid.to_log_domain`).
        top, left: the crop's upper-left pixel, ints >= 0.
        size: the crop's side in pixels, int >= 4; the window must fit inside the image.

    Returns:
        The figure (``2 * (len(outputs) + 1)`` axes).

    Raises:
        DTypeError, ShapeError, RangeError: images not ``(3, H, W)`` of one shape, or outside [-1, 1].
        DTypeError, RangeError: ``top``, ``left``, ``size`` not ints in range. ShapeError: the window does not fit.

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    top, left, size = _check_window(_check_log_images(outputs, target), top, left, size)
    images = {"target": target, **outputs}
    crops = {name: _crop(x, top, left, size) for name, x in images.items()}
    window = (slice(top, top + size), slice(left, left + size))  # residual of the whole image: no false crop edges
    residuals = {name: _high_pass((x.detach().float() + 1) / 2)[window].numpy() for name, x in images.items()}
    bound = max(max(float(np.abs(r).max()) for r in residuals.values()), 1e-6)
    fig, axes = plt.subplots(2, len(images), figsize=(2.4 * len(images), 5.2), squeeze=False)
    for column, (name, x) in enumerate(images.items()):
        axes[0, column].imshow(to_numpy_image(crops[name]), interpolation="nearest")
        axes[0, column].set_title(f"{name}\ncheckerboard {hybrid.checkerboard_score(x):.4f}", fontsize=8)
        shown = axes[1, column].imshow(residuals[name], cmap="RdBu", vmin=-bound, vmax=bound, interpolation="nearest")
        axes[1, column].set_title("high-pass residual", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.colorbar(shown, ax=axes[1].tolist(), fraction=0.02, label="residual (display units)")
    return fig


def upsampler_zoom(outputs: Mapping[str, torch.Tensor], target: torch.Tensor, name: str, top: int, left: int,
                   size: int) -> Figure:
    """One output's crop next to the target's, nearest-neighbour (:func:`hdrlab.widgets.upsampler_explorer`'s callback).

    Both panels show ``(x + 1) / 2`` cropped to ``[:, top:top + size, left:left + size]``,
    titled with the name and :func:`~hdrlab.methods.hybrid.checkerboard_score` of the whole image.

    Args:
        outputs: name -> ``(3, H, W)`` predicted log-domain image in [-1, 1].
        target: ``(3, H, W)`` the target in the log domain, in [-1, 1].
        name: which output to show, a key of ``outputs``.
        top, left: the crop's upper-left pixel, ints >= 0.
        size: the crop's side in pixels, int >= 4; the window must fit inside the image.

    Returns:
        The figure (2 axes).

    Raises:
        ChoiceError: ``name`` not in ``outputs``. DTypeError, ShapeError, RangeError: see :func:`upsampler_crops`.

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    if name not in outputs:
        raise ChoiceError(describe(f"name one of {list(outputs)}", repr(name), "Pick one of the outputs' names."))
    top, left, size = _check_window(_check_log_images(outputs, target), top, left, size)
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.8))
    for ax, (label, x) in zip(axes, ((name, outputs[name]), ("target", target))):
        ax.imshow(to_numpy_image(_crop(x, top, left, size)), interpolation="nearest")
        ax.set_title(f"{label}\ncheckerboard {hybrid.checkerboard_score(x):.4f}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def before_after_view(ldr: torch.Tensor, hdrs: Mapping[str, torch.Tensor], ev: float) -> Figure:
    """The LDR input, then each reconstructed HDR re-exposed at ``ev`` stops around a common exposure.

    Methods predict HDRs at different absolute scales, so each is first brought
    to one exposure: divided by its own median Rec. 709 luminance and multiplied
    by ``0.18 * 2**ev`` (EV 0 puts the median at mid-grey), then clipped to [0, 1]
    and sRGB encoded, like a camera shot without a tone curve. Negative EV
    (darker) reveals the highlight detail the LDR clipped: where the LDR is flat
    white, a good reconstruction still shows the window, lamp or sky; a bad one
    stays a flat grey patch. Positive EV reveals the noise and quantisation in
    the shadows.

    Args:
        ldr: ``(3, H, W)`` LDR input in [0, 1], shown as is.
        hdrs: name -> ``(3, H, W)`` linear radiance ``>= 0`` (any scale), the LDR's shape.
        ev: exposure relative to the median-at-0.18 exposure, in stops.

    Returns:
        The figure (``len(hdrs) + 1`` axes).

    Raises:
        DTypeError, ShapeError, RangeError: invalid images, or an HDR not of the LDR's shape.
        RangeError: an HDR whose median luminance is 0 (no scale to expose it by).

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_ldr(ldr, "LDR input")
    if ldr.dim() != 3:
        raise ShapeError(describe("LDR input of shape (3, H, W)", f"shape {tuple(ldr.shape)}", "Show one image."))
    shown = {"LDR input": ldr}
    for name, hdr in hdrs.items():
        shown[f"{name} @ {ev:+.1f} EV"] = _reexposed(ldr, hdr, name, ev)
    return image_row(shown, size=3.0)


def _reexposed(ldr: torch.Tensor, hdr: torch.Tensor, name: str, ev: float) -> torch.Tensor:
    """``hdr`` (checked to be radiance of the LDR's shape) with its median luminance at ``0.18 * 2**ev``, sRGB."""
    check_radiance(hdr, f"HDR {name!r}")
    if hdr.shape != ldr.shape:
        raise ShapeError(describe(f"HDR {name!r} of the LDR's shape {tuple(ldr.shape)}", f"shape {tuple(hdr.shape)}",
                                  "Pass each method's HDR for this LDR (crop the LDR as the model did)."))
    median = float(luminance(hdr.detach()).median())
    if not median > 0:
        raise RangeError(describe(f"HDR {name!r} with median luminance > 0", f"median {median:.4g}",
                                  "More than half the image is black: check the prediction (or its decoding)."))
    return srgb_encode((hdr.detach() / median * 0.18 * 2.0 ** ev).clamp(0, 1))


def method_grid(ldrs: Mapping[str, torch.Tensor], hdrs: Mapping[str, Mapping[str, torch.Tensor]], ev: float,
                size: float = 1.9) -> Figure:
    """Every method on the same scenes: a row per scene (its LDR input, then each method re-exposed at ``ev``).

    Each HDR is exposed as :func:`before_after_view` exposes it (its median luminance at
    ``0.18 * 2**ev``, clipped, sRGB): negative EV shows what each method put in the highlights
    the LDR clipped, positive EV its shadows.

    Args:
        ldrs: scene label -> ``(3, H, W)`` LDR input in [0, 1].
        hdrs: scene label (the keys of ``ldrs``) -> method -> ``(3, H, W)`` radiance ``>= 0`` of the LDR's
            shape; the same methods for every scene.
        ev: stops around the median-at-0.18 exposure.
        size: inches per panel.

    Returns:
        The figure, ``len(ldrs)`` rows by ``1 + methods`` columns.

    Raises:
        ShapeError: ``hdrs`` without the scenes of ``ldrs``, or with different methods per scene.
        DTypeError, ShapeError, RangeError: invalid images (see :func:`before_after_view`).

    Taught in: notebooks/06_capstone.ipynb
    """
    if list(hdrs) != list(ldrs) or len({tuple(row) for row in hdrs.values()}) != 1:
        raise ShapeError(describe("hdrs with the scenes of ldrs, in order, and the same methods for each",
                                  f"scenes {list(hdrs)} for {list(ldrs)}", "Predict every method on every scene."))
    methods = list(next(iter(hdrs.values())))
    fig, axes = plt.subplots(len(ldrs), 1 + len(methods), figsize=(size * (1 + len(methods)), size * 0.6 * len(ldrs)),
                             squeeze=False)
    for row, (scene, ldr) in zip(axes, ldrs.items()):
        check_ldr(ldr, f"LDR input of {scene!r}")
        panels = [("LDR input", ldr)] + [(name, _reexposed(ldr, hdrs[scene][name], name, ev)) for name in methods]
        for ax, (title, image) in zip(row, panels):
            ax.imshow(to_numpy_image(image))
            ax.set_title(title if scene == next(iter(ldrs)) else "", fontsize=7)
            ax.axis("off")
        row[0].text(-0.05, 0.5, scene, transform=row[0].transAxes, rotation=90, ha="right", va="center", fontsize=7)
    fig.suptitle(f"each HDR re-exposed at {ev:+.1f} EV around its median", fontsize=9)
    fig.tight_layout()
    return fig


def quality_vs_time(names: Sequence[str], quality: Sequence[float], spread: Sequence[float],
                    ms_per_megapixel: Sequence[float], metric: str) -> Figure:
    """A scatter of each method's score against its inference time per megapixel (log axis), with error bars.

    Args:
        names: method labels.
        quality: each method's mean score (same order).
        spread: each one's standard deviation (error bar).
        ms_per_megapixel: each one's time, ms per megapixel, > 0.
        metric: the score's name, for the axis label.

    Returns:
        The figure.

    Raises:
        ShapeError: sequences of different lengths. RangeError: a time not > 0.

    Taught in: notebooks/06_capstone.ipynb
    """
    if not len(names) == len(quality) == len(spread) == len(ms_per_megapixel):
        raise ShapeError(describe("names, quality, spread and times of one length",
                                  f"{len(names)}, {len(quality)}, {len(spread)}, {len(ms_per_megapixel)}",
                                  "Pass one value per method in each."))
    if not all(t > 0 for t in ms_per_megapixel):
        raise RangeError(describe("times > 0 ms per megapixel", repr(list(ms_per_megapixel)),
                                  "Pass the leaderboard's ms_per_megapixel."))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.errorbar(ms_per_megapixel, quality, yerr=spread, fmt="o", capsize=3)
    for name, x, y in zip(names, ms_per_megapixel, quality):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("inference time (ms per megapixel, this machine)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
