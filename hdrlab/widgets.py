"""Interactive explorers built from core ipywidgets only (no custom front-end).

Each explorer's callback is a plain :mod:`hdrlab.viz` function, which the
notebooks also call once directly so headless runs exercise it.

Taught in: notebooks/00_getting_started.ipynb
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from hdrlab import viz
from hdrlab.imaging.camera import auto_exposure
from hdrlab.imaging.crf import BIT_DEPTHS, RESPONSE_CURVES
from hdrlab.validate import check_radiance

__all__ = ["exposure_explorer"]


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
    ev = widgets.FloatSlider(value=0.0, min=-8.0, max=8.0, step=0.5, description="EV")
    crf = widgets.Dropdown(options=list(RESPONSE_CURVES), value="srgb", description="response")
    bits = widgets.Dropdown(options=list(BIT_DEPTHS), value=8, description="bits")

    def show(ev: float, crf: str, bits: int) -> None:
        viz.exposure_view(radiance, ev, crf, bits, reference)
        plt.show()

    output = widgets.interactive_output(show, {"ev": ev, "crf": crf, "bits": bits})
    return widgets.VBox([widgets.HBox([ev, crf, bits]), output])
