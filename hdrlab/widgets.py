"""Interactive explorers built from core ipywidgets only (no custom front-end).

Each explorer's callback is a plain :mod:`hdrlab.viz` function, which the
notebooks also call once directly so headless runs exercise it.

Sliders and callback cost: a slider whose callback takes more than 0.1 s is
created with ``continuous_update=False``, so it sends its value when the drag
ends (or on each arrow key / typed readout) instead of on every move; above
that cost the kernel cannot keep up with a drag, queues one figure per move and
the image lags the handle by seconds. The cost is measured at the notebook's
input size on a 2-core CPU, figure rendered to PNG as the inline backend does.
Measured (quick profile): exposure 0.7 s (512 px), recovery 0.12 s (Debevec
solve on a 512 px stack), tonemap 0.8 s (local Reinhard, 512 px), adaptation
0.3 s, re-exposure 1.0 s (network forward pass), recursion 0.45 s, upsampler
zoom 0.3 s, before/after 0.4 s. Every explorer is over the line (drawing its
figure alone costs 0.1-0.3 s), so every slider here has
``continuous_update=False``; dropdowns send on selection only and have no such
flag. tests/test_viz_widgets.py checks the flag on every slider of every
explorer; tests/test_browser.py drives every control in JupyterLab.

Taught in: notebooks/00_getting_started.ipynb
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from hdrlab import viz
from hdrlab.errors import ChoiceError, ShapeError, describe
from hdrlab.imaging.camera import auto_exposure
from hdrlab.imaging.crf import BIT_DEPTHS, RESPONSE_CURVES
from hdrlab.imaging.weights import WEIGHTS
from hdrlab.validate import check_image, check_ldr, check_radiance

__all__ = ["exposure_explorer", "recovery_explorer", "tonemap_explorer", "adaptation_explorer", "reexposure_explorer",
           "recursion_explorer", "upsampler_explorer", "before_after_explorer"]


def exposure_explorer(radiance: torch.Tensor, t_ref: float | None = None) -> widgets.VBox:
    """An EV slider, a response-curve dropdown and a bit-depth dropdown over one scene.

    Args:
        radiance: ``(3, H, W)`` radiance ``>= 0``.
        t_ref: EV-0 exposure time in seconds; None: :func:`hdrlab.imaging.camera.auto_exposure`.

    Returns:
        The widget (display it, or leave it as a cell's last expression).
    """
    check_radiance(radiance)
    reference = float(auto_exposure(radiance)) if t_ref is None else t_ref
    ev = widgets.FloatSlider(value=0.0, min=-8.0, max=8.0, step=0.5, description="EV", continuous_update=False)
    crf = widgets.Dropdown(options=list(RESPONSE_CURVES), value="srgb", description="response")
    bits = widgets.Dropdown(options=list(BIT_DEPTHS), value=8, description="bits")

    def show(ev: float, crf: str, bits: int) -> None:
        viz.exposure_view(radiance, ev, crf, bits, reference)
        plt.show()

    output = widgets.interactive_output(show, {"ev": ev, "crf": crf, "bits": bits})
    return widgets.VBox([widgets.HBox([ev, crf, bits]), output])


def recovery_explorer(stack: torch.Tensor, times: torch.Tensor, truth: torch.Tensor) -> widgets.VBox:
    """Debevec-Malik recovery with a smoothness slider, a sample-count slider and a weight dropdown.

    Args:
        stack: ``(N, 3, H, W)`` LDR stack in [0, 1].
        times: ``(N,)`` exposure times in seconds, ascending.
        truth: ``(3, 2**bits)`` true inverse response, for the plot.
    """
    smoothness = widgets.FloatLogSlider(value=10.0, base=10, min=-1, max=3, step=0.25, description="lambda",
                                        continuous_update=False)
    fewest = math.ceil(truth.shape[-1] / (stack.shape[-4] - 1))  # Debevec's rule: P (N - 1) >= L
    samples = widgets.IntSlider(value=max(100, fewest), min=fewest, max=1000, step=8, description="samples",
                                continuous_update=False)
    weight = widgets.Dropdown(options=list(WEIGHTS), value="hat", description="weight")

    def show(smoothness: float, samples: int, weight: str) -> None:
        viz.recovery_view(stack, times, truth, smoothness, samples, weight)
        plt.show()

    output = widgets.interactive_output(show, {"smoothness": smoothness, "samples": samples, "weight": weight})
    return widgets.VBox([widgets.HBox([smoothness, samples, weight]), output])


def tonemap_explorer(radiance: torch.Tensor) -> widgets.VBox:
    """Sliders for Reinhard's key and white point, the local operator's phi, and mu-law's mu."""
    check_radiance(radiance)
    key = widgets.FloatSlider(value=0.18, min=0.02, max=0.72, step=0.02, description="key", continuous_update=False)
    white = widgets.FloatLogSlider(value=8.0, base=2, min=-1, max=8, step=0.5, description="white", continuous_update=False)
    phi = widgets.FloatSlider(value=8.0, min=1.0, max=16.0, step=1.0, description="phi", continuous_update=False)
    mu = widgets.FloatLogSlider(value=5000.0, base=10, min=0, max=5, step=0.25, description="mu", continuous_update=False)

    def show(key: float, white: float, phi: float, mu: float) -> None:
        viz.tonemap_view(radiance, key, white, phi, mu)
        plt.show()

    output = widgets.interactive_output(show, {"key": key, "white": white, "phi": phi, "mu": mu})
    return widgets.VBox([widgets.HBox([key, white]), widgets.HBox([phi, mu]), output])


def adaptation_explorer(query_ldr: torch.Tensor, truth: torch.Tensor, predictions: list[torch.Tensor]) -> widgets.VBox:
    """An inner-steps slider over predictions made after 0, 1, 2, ... adaptation steps (see :func:`viz.adaptation_view`).

    Args:
        query_ldr: ``(3, H, W)`` LDR input in [0, 1].
        truth: ``(3, H, W)`` display image of the true HDR.
        predictions: display images after 0, 1, 2, ... inner steps.

    Returns:
        The widget.
    """
    steps = widgets.IntSlider(value=0, min=0, max=len(predictions) - 1, description="inner steps",
                              continuous_update=False)

    def show(step: int) -> None:
        viz.adaptation_view(query_ldr, truth, predictions, step)
        plt.show()

    return widgets.VBox([steps, widgets.interactive_output(show, {"step": steps})])


def reexposure_explorer(model: torch.nn.Module, ldr: torch.Tensor) -> widgets.VBox:
    """An EV slider (-3 to +3 stops) over one LDR: the generated frame vs naive re-exposure (:func:`viz.reexposure_view`).

    Args:
        model: a trained :class:`hdrlab.methods.multiexposure.MultiExposureNet`.
        ldr: ``(3, H, W)`` LDR input in [0, 1].

    Returns:
        The widget.

    Taught in: notebooks/03_multi_exposure_generation.ipynb
    """
    check_ldr(ldr, "LDR input")
    ev = widgets.FloatSlider(value=2.0, min=-3.0, max=3.0, step=0.25, description="EV", continuous_update=False)

    def show(ev: float) -> None:
        viz.reexposure_view(model, ldr, ev)
        plt.show()

    return widgets.VBox([ev, widgets.interactive_output(show, {"ev": ev})])


def recursion_explorer(stack: torch.Tensor, evs: Sequence[float], true_stack: torch.Tensor | None = None) -> widgets.VBox:
    """A slider over recursion steps (0 to the deepest EV) showing the unrolled bracket (:func:`viz.recursion_view`).

    Args:
        stack: ``(N, 3, H, W)`` generated bracket in [0, 1] (:func:`hdrlab.methods.recursive.generate`).
        evs: its exposures (EV relative to the input), containing 0.
        true_stack: the true bracket, for PSNR titles, or None.

    Returns:
        The widget.

    Taught in: notebooks/04_differentiable_recursion.ipynb
    """
    check_ldr(stack, "generated bracket")
    deepest = int(max(abs(float(ev)) for ev in evs))
    steps = widgets.IntSlider(value=deepest, min=0, max=deepest, description="step", continuous_update=False)

    def show(step: int) -> None:
        viz.recursion_view(stack, evs, step, true_stack)
        plt.show()

    return widgets.VBox([steps, widgets.interactive_output(show, {"step": steps})])


def upsampler_explorer(outputs: Mapping[str, torch.Tensor], target: torch.Tensor) -> widgets.VBox:
    """A dropdown of decoder outputs, a zoom slider and a crop position, vs the target (:func:`viz.upsampler_zoom`).

    The ``zoom`` slider sets the crop's side (8 to ``min(H, W)`` pixels, step 8,
    default 32); ``top`` and ``left`` place its upper-left pixel. A position
    that would push the window past the image edge is clamped so the window
    fits (``top <= H - zoom``, ``left <= W - zoom``), without moving the sliders.

    Args:
        outputs: name -> ``(3, H, W)`` predicted log-domain image in [-1, 1] (e.g. one per upsampler).
        target: ``(3, H, W)`` the target in the log domain, in [-1, 1].

    Returns:
        The widget.

    Raises:
        ChoiceError: no outputs. DTypeError, ShapeError, RangeError: a ``target`` that is not one ``(3, H, W)``
            image of at least 8 x 8 pixels (the outputs are checked by the callback).

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    if not outputs:
        raise ChoiceError(describe("at least one output to compare", "an empty mapping", "Pass {name: prediction}."))
    check_image(target, "target")
    height, width = int(target.shape[-2]), int(target.shape[-1])
    if target.dim() != 3 or min(height, width) < 8:
        raise ShapeError(describe("target of shape (3, H, W) with H, W >= 8", f"shape {tuple(target.shape)}",
                                  "Pass one image, at least 8 x 8 pixels."))
    side = min(height, width)
    size = min(32, side)
    name = widgets.Dropdown(options=list(outputs), value=next(iter(outputs)), description="output")
    zoom = widgets.IntSlider(value=size, min=8, max=side, step=8, description="zoom", continuous_update=False)
    top = widgets.IntSlider(value=(height - size) // 2, min=0, max=height - 8, description="top",
                            continuous_update=False)
    left = widgets.IntSlider(value=(width - size) // 2, min=0, max=width - 8, description="left",
                             continuous_update=False)

    def show(name: str, zoom: int, top: int, left: int) -> None:
        viz.upsampler_zoom(outputs, target, name, min(top, height - zoom), min(left, width - zoom), zoom)
        plt.show()

    output = widgets.interactive_output(show, {"name": name, "zoom": zoom, "top": top, "left": left})
    return widgets.VBox([widgets.HBox([name, zoom]), widgets.HBox([top, left]), output])


def before_after_explorer(ldr: torch.Tensor, hdrs: Mapping[str, torch.Tensor]) -> widgets.VBox:
    """An EV slider (-4 to +4 stops) re-exposing each method's HDR beside the LDR (:func:`viz.before_after_view`).

    Args:
        ldr: ``(3, H, W)`` LDR input in [0, 1].
        hdrs: name -> ``(3, H, W)`` linear radiance ``>= 0`` (any scale), the LDR's shape.

    Returns:
        The widget.

    Raises:
        DTypeError, ShapeError, RangeError: an invalid LDR (the HDRs are checked by the callback).

    Taught in: notebooks/05_hybrid_autoencoder.ipynb
    """
    check_ldr(ldr, "LDR input")
    ev = widgets.FloatSlider(value=0.0, min=-4.0, max=4.0, step=0.5, description="EV", continuous_update=False)

    def show(ev: float) -> None:
        viz.before_after_view(ldr, hdrs, ev)
        plt.show()

    return widgets.VBox([ev, widgets.interactive_output(show, {"ev": ev})])
