"""hdrlab.viz figures and hdrlab.widgets explorers (headless)."""

import ipywidgets
import matplotlib
import pytest
import torch
from matplotlib.figure import Figure

from hdrlab import viz, widgets
from hdrlab.errors import ChoiceError, RangeError, ShapeError
from hdrlab.imaging import camera

matplotlib.use("Agg")


@pytest.fixture
def radiance():
    generator = torch.Generator().manual_seed(0)
    return torch.exp(torch.randn(3, 16, 24, generator=generator) * 2)


def test_display_image_is_in_range(radiance):
    shown = viz.display_image(radiance * 1e4)
    assert shown.shape == radiance.shape and shown.min() >= 0 and shown.max() <= 1


def test_to_numpy_image_rejects_radiance(radiance):
    with pytest.raises(RangeError):
        viz.to_numpy_image(radiance * 100)


def test_figures(radiance):
    images = {"a": radiance, "b": radiance * 4}
    stack, times = camera.simulate_brackets(radiance, [-2.0, 0.0, 2.0], unit="ev")
    figures = [
        viz.scene_grid(images, {"a": 10.0, "b": 10.0}, columns=2),
        viz.log_luminance_histograms(images, {"a": 10.0, "b": 10.0}, columns=3),
        viz.response_curves(["srgb", "film-soft"]),
        viz.bracket(stack, times, float(camera.auto_exposure(radiance))),
        viz.exposure_view(radiance, 1.0, "rec709", 10, 0.5),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    assert len(figures[3].axes) == 3
    assert "clipped" in figures[4].axes[1].get_title()


def test_exposure_explorer_reacts_to_controls(radiance, monkeypatch):
    calls = []
    monkeypatch.setattr(viz, "exposure_view", lambda *args: calls.append(args))
    explorer = widgets.exposure_explorer(radiance, t_ref=0.25)
    assert isinstance(explorer, ipywidgets.VBox)
    ev, curve, bits = explorer.children[0].children
    ev.value = 2.5
    curve.value = "film-negative"
    bits.value = 12
    assert calls[-1][1:] == (2.5, "film-negative", 12, 0.25)


def test_exposure_explorer_validates(radiance):
    with pytest.raises(RangeError):
        widgets.exposure_explorer(-radiance)


@pytest.fixture
def bracket_stack(radiance):
    return camera.simulate_brackets(radiance * 4, [-3.5, -1.0, 1.5, 3.5], "film-soft", unit="ev")


def test_chapter_one_figures(radiance, bracket_stack):
    from hdrlab.imaging import crf

    stack, times = bracket_stack
    truth = crf.log_inverse_response("film-soft")
    figures = [
        viz.response_recovery({"truth again": truth}, truth),
        viz.false_colour_log_luminance(radiance, "title"),
        viz.recovery_view(stack, times, truth, 10.0, 128, "hat"),
        viz.tonemap_view(radiance, 0.18, 8.0, 8.0, 5000.0),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    assert "stops RMS" in figures[2].axes[0].get_legend().get_texts()[1].get_text()
    assert len(figures[3].axes) == 4


def test_recovery_explorer_respects_debevec_rule(bracket_stack, monkeypatch):
    from hdrlab.imaging import crf

    stack, times = bracket_stack
    calls = []
    monkeypatch.setattr(viz, "recovery_view", lambda *args: calls.append(args))
    explorer = widgets.recovery_explorer(stack, times, crf.log_inverse_response("film-soft"))
    smoothness, samples, weight = explorer.children[0].children
    assert samples.min == 86  # ceil(256 / (4 - 1))
    weight.value = "trapezoid"
    assert calls[-1][3:] == (10.0, 100, "trapezoid")


def test_tonemap_explorer(radiance, monkeypatch):
    calls = []
    monkeypatch.setattr(viz, "tonemap_view", lambda *args: calls.append(args))
    explorer = widgets.tonemap_explorer(radiance)
    key, white = explorer.children[0].children
    key.value = 0.36
    assert calls[-1][1:] == (0.36, 8.0, 8.0, 5000.0)


def test_chapter_two_figures():
    truth = torch.rand(3, 16, 16)
    predictions = [(truth + 0.3 / (k + 1)).clamp(0, 1) for k in range(4)]
    fig = viz.adaptation_view(torch.rand(3, 16, 16), truth, predictions, 2)
    curve = fig.axes[3].lines[0].get_ydata()
    assert list(curve) == sorted(curve)  # closer predictions, higher PSNR
    assert "after 2 inner steps" in fig.axes[1].get_title()
    history = [{"step": s, "phase": "train", "loss": 1 / s} for s in (1, 2, 3)] + [{"step": 3, "phase": "eval"}]
    fig = viz.training_curves({"run": history})
    assert list(fig.axes[0].lines[0].get_xdata()) == [1, 2, 3]
    matplotlib.pyplot.close("all")


def test_adaptation_explorer(monkeypatch):
    calls = []
    monkeypatch.setattr(viz, "adaptation_view", lambda *args: calls.append(args))
    predictions = [torch.rand(3, 8, 8) for _ in range(5)]
    explorer = widgets.adaptation_explorer(torch.rand(3, 8, 8), torch.rand(3, 8, 8), predictions)
    slider = explorer.children[0]
    assert slider.max == 4
    slider.value = 3
    assert calls[-1][3] == 3


@pytest.fixture(scope="module")
def tiny_multiexposure():
    from hdrlab.methods import multiexposure

    torch.manual_seed(0)
    model = multiexposure.MultiExposureNet(n1_width=2, n23_width=2, levels=3).eval()
    item = multiexposure.held_out_brackets(["room_windows"], max_side=30, crfs=("film-soft",))[0]
    return model, item


def test_chapter_three_figures(tiny_multiexposure):
    from hdrlab.methods import multiexposure

    model, item = tiny_multiexposure
    fig = viz.reexposure_view(model, item["ldr"], -1.5)
    assert len(fig.axes) == 3 and "EV -1.50" in fig.axes[1].get_title()
    evs = item["evs"]
    generated = multiexposure.generate(model, item["ldr"], evs)
    naive = torch.stack([multiexposure.naive_reexposure(item["ldr"], ev) for ev in evs])
    fig = viz.bracket_comparison(item["stack"], generated, naive, evs)
    assert len(fig.axes) == 3 * len(evs)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[len(evs)].endswith("dB") and "(input)" in titles[evs.index(0.0)]
    with pytest.raises(ShapeError):
        viz.bracket_comparison(item["stack"], generated[:2], naive, evs)
    hdrs = {"naive": multiexposure.merge_bracket(naive, evs), "true bracket": multiexposure.merge_bracket(item["stack"], evs)}
    fig = viz.hdr_comparison(hdrs, item["hdr"])
    assert len(fig.axes) == 3 and "TM PSNR" in fig.axes[0].get_title() and fig.axes[2].get_title() == "target"
    with pytest.raises(RangeError):
        viz.hdr_comparison({"negative": -item["hdr"]}, item["hdr"])
    matplotlib.pyplot.close("all")


def test_reexposure_explorer(tiny_multiexposure, monkeypatch):
    model, item = tiny_multiexposure
    calls = []
    monkeypatch.setattr(viz, "reexposure_view", lambda *args: calls.append(args))
    explorer = widgets.reexposure_explorer(model, item["ldr"])
    slider = explorer.children[0]
    assert (slider.min, slider.max, slider.step, slider.value) == (-3.0, 3.0, 0.25, 2.0)
    slider.value = -1.25
    assert calls[-1][0] is model and calls[-1][2] == -1.25
    with pytest.raises(RangeError):
        widgets.reexposure_explorer(model, item["ldr"] * 2)


def test_chapter_four_figures():
    from hdrlab.imaging.camera import simulate_brackets
    from hdrlab.imaging.crf import log_inverse_response

    g = log_inverse_response("film-soft")
    fig = viz.lookup_view(g, 0.40, 0.42)
    derivatives = [line.get_ydata() for line in fig.axes[1].get_lines()]
    assert (derivatives[0] == 0).all() and (derivatives[1] > 0).all()  # rounding: no gradient; the slope: some
    with pytest.raises(RangeError):
        viz.lookup_view(g, 0.5, 0.4)
    radiance = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)).mul(10).exp2()
    stack, times = simulate_brackets(radiance, [-2.0, 0.0, 2.0], "film-soft", unit="ev")
    fig = viz.merge_gradient_view(stack, times, g, radiance)
    shares = [float(ax.get_title().split(": ")[1].rstrip("%")) for ax in fig.axes[3:6]]
    assert len(fig.axes) == 7 and 99 <= sum(shares) <= 101  # six panels and the colour bar
    matplotlib.pyplot.close("all")


def test_recursion_view_and_explorer(monkeypatch):
    evs = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    stack = torch.rand(7, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    fig = viz.recursion_view(stack, evs, 2, true_stack=stack.flip(0))
    shown = [ax.get_title() for ax in fig.axes if ax.get_images()]
    assert len(fig.axes) == 8 and len(shown) == 6  # the input twice, +-1 and +-2; step 3 left blank
    assert "stop-up step 2: EV +2" in shown[2] and shown[2].endswith("dB")
    with pytest.raises(ShapeError):
        viz.recursion_view(stack, evs, 4)
    with pytest.raises(ShapeError):
        viz.recursion_view(stack[:5], evs, 1)
    matplotlib.pyplot.close("all")
    calls = []
    monkeypatch.setattr(viz, "recursion_view", lambda *args: calls.append(args))
    slider = widgets.recursion_explorer(stack, evs).children[0]
    assert (slider.min, slider.max, slider.value) == (0, 3, 3)
    slider.value = 1
    assert calls[-1][2] == 1


@pytest.fixture(scope="module")
def hybrid_scene():
    """A small real scene as (LDR, HDR) pairs: square (42 x 42) and non-square (42 x 64), as tests/test_hybrid.py."""
    from hdrlab.data import scenes

    radiance = scenes.load_scene("room_windows", max_side=64)
    pairs = {}
    for label, crop in (("square", scenes.center_crop(radiance, (42, 42)).contiguous()), ("wide", radiance)):
        hdr = crop * float(camera.auto_exposure(crop))
        pairs[label] = (camera.expose(hdr, 1.0, "srgb"), hdr)
    return pairs


def test_alignment_view_marks_the_undoing_transform(hybrid_scene):
    from hdrlab.methods import hybrid

    ldr, hdr = hybrid_scene["square"]
    fig = viz.alignment_view(ldr, hybrid.dihedral(hdr, 5) * 300)  # flip_rot90 is its own inverse; scale-free
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 9 and titles[0] == "LDR (reference)"
    assert [t for t in titles if "(best)" in t] == [titles[6]] and titles[6].startswith("flip_rot90\nSSIM ")
    assert fig.axes[6].spines["left"].get_linewidth() == 4 and all("SSIM" in t for t in titles[1:])
    ldr, hdr = hybrid_scene["wide"]
    fig = viz.alignment_view(ldr, hybrid.dihedral(hdr, 1), patch=32)  # (3, 64, 42): rot270 (k = 3) undoes rot90
    titles = [ax.get_title() for ax in fig.axes]
    assert [i for i, t in enumerate(titles) if t.endswith("shape differs")] == [1, 3, 5, 7]
    assert not fig.axes[1].get_images() and "(best)" in titles[4]
    with pytest.raises(ShapeError):
        viz.alignment_view(ldr, hdr[..., :50])
    matplotlib.pyplot.close("all")


@pytest.fixture
def log_images():
    """A smooth log-domain target and two 'decoder outputs': the target itself and the target with a 2-pixel mosaic."""
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(48), indexing="ij")
    target = (0.6 * torch.sin(xx / 6.0) * torch.cos(yy / 7.0)).expand(3, 40, 48).contiguous()
    mosaic = target + 0.1 * (-1.0) ** (xx + yy)
    return {"smooth": target.clone(), "pixel_shuffle": mosaic}, target


def test_upsampler_crops(log_images):

    outputs, target = log_images
    fig = viz.upsampler_crops(outputs, target, top=4, left=8, size=16)
    assert len(fig.axes) == 7  # 2 rows x (target + 2 outputs), and the residual colour bar
    titles = [ax.get_title() for ax in fig.axes[:6]]
    assert titles[0].startswith("target\ncheckerboard ") and titles[2].startswith("pixel_shuffle\ncheckerboard ")
    assert float(titles[2].split()[-1]) > 0.9 > 0.01 > float(titles[1].split()[-1])
    assert fig.axes[0].get_images()[0].get_array().shape == (16, 16, 3)
    residual = fig.axes[5].get_images()[0]
    assert residual.get_clim()[0] == -residual.get_clim()[1] and abs(residual.get_array()).max() > 0.05
    with pytest.raises(ShapeError, match="top <= 24"):
        viz.upsampler_crops(outputs, target, top=30, left=0, size=16)
    with pytest.raises(RangeError):
        viz.upsampler_crops(outputs, target, top=0, left=0, size=2)
    with pytest.raises(RangeError):
        viz.upsampler_crops({"radiance": target * 5}, target, top=0, left=0, size=8)
    with pytest.raises(ShapeError):
        viz.upsampler_crops({"small": target[:, :20]}, target, top=0, left=0, size=8)
    matplotlib.pyplot.close("all")


def test_upsampler_zoom(log_images):

    outputs, target = log_images
    fig = viz.upsampler_zoom(outputs, target, "pixel_shuffle", 0, 0, 8)
    assert len(fig.axes) == 2 and fig.axes[0].get_title().startswith("pixel_shuffle\n")
    assert fig.axes[1].get_title().startswith("target\n")
    assert fig.axes[0].get_images()[0].get_interpolation() == "nearest"
    with pytest.raises(ChoiceError, match="pixel_shuffle"):
        viz.upsampler_zoom(outputs, target, "transposed", 0, 0, 8)
    matplotlib.pyplot.close("all")


def test_upsampler_explorer_clamps_the_window(log_images, monkeypatch):

    outputs, target = log_images
    calls = []
    monkeypatch.setattr(viz, "upsampler_zoom", lambda *args: calls.append(args))
    explorer = widgets.upsampler_explorer(outputs, target)
    assert isinstance(explorer, ipywidgets.VBox) and calls  # the callback ran once on creation
    name, zoom = explorer.children[0].children
    top, left = explorer.children[1].children
    assert (zoom.min, zoom.max, zoom.step, zoom.value) == (8, 40, 8, 32) and (top.max, left.max) == (32, 40)
    assert calls[-1][2:] == ("smooth", 4, 8, 32)
    name.value = "pixel_shuffle"
    left.value = 40
    assert calls[-1][2:] == ("pixel_shuffle", 4, 16, 32)  # left clamped to W - zoom = 16
    zoom.value = 8
    assert calls[-1][2:] == ("pixel_shuffle", 4, 40, 8)
    with pytest.raises(ChoiceError):
        widgets.upsampler_explorer({}, target)
    monkeypatch.undo()
    widgets.upsampler_explorer(outputs, target)  # the real callback draws once
    matplotlib.pyplot.close("all")


def test_before_after_view(hybrid_scene):
    ldr, hdr = hybrid_scene["square"]
    fig = viz.before_after_view(ldr, {"truth": hdr, "truth x 100": hdr * 100}, -2.0)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["LDR input", "truth @ -2.0 EV", "truth x 100 @ -2.0 EV"]
    shown = [ax.get_images()[0].get_array() for ax in fig.axes]
    assert abs(shown[1] - shown[2]).max() < 1e-5  # each HDR is exposed by its own median: scale-free
    darker = viz.before_after_view(ldr, {"truth": hdr}, -4.0).axes[1].get_images()[0].get_array()
    assert darker.max() < 1 <= shown[0].max()  # the LDR's clipped whites hold detail four stops down
    with pytest.raises(RangeError):
        viz.before_after_view(ldr, {"black": torch.zeros_like(hdr)}, 0.0)
    with pytest.raises(RangeError):
        viz.before_after_view(hdr * 100, {"truth": hdr}, 0.0)
    matplotlib.pyplot.close("all")


def test_before_after_explorer(hybrid_scene, monkeypatch):
    ldr, hdr = hybrid_scene["square"]
    calls = []
    monkeypatch.setattr(viz, "before_after_view", lambda *args: calls.append(args))
    slider = widgets.before_after_explorer(ldr, {"truth": hdr}).children[0]
    assert (slider.min, slider.max, slider.step, slider.value) == (-4.0, 4.0, 0.5, 0.0)
    slider.value = -2.5
    assert calls[-1][2] == -2.5 and calls[-1][1]["truth"] is hdr
    with pytest.raises(RangeError):
        widgets.before_after_explorer(hdr * 100, {"truth": hdr})
    monkeypatch.undo()
    widgets.before_after_explorer(ldr, {"truth": hdr})  # the real callback draws once
    matplotlib.pyplot.close("all")


def _descendants(widget):
    """``widget`` and every widget inside it (boxes' children, recursively)."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)


def test_chapter_six_figures():
    ldr = torch.rand(3, 16, 32) * 0.9 + 0.05
    hdrs = {"a": ldr**2.2, "b": ldr * 4}
    fig = viz.method_grid({"s1": ldr, "s2": ldr}, {"s1": hdrs, "s2": hdrs}, ev=-2.0)
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 3
    with pytest.raises(ShapeError, match="Expected"):
        viz.method_grid({"s1": ldr, "s2": ldr}, {"s1": hdrs, "s2": {"a": hdrs["a"]}}, ev=0.0)
    with pytest.raises(ShapeError, match="Expected"):
        viz.method_grid({"s1": ldr}, {"s1": {"a": hdrs["a"][:, :8]}}, ev=0.0)
    fig = viz.quality_vs_time(["a", "b"], [20.0, 21.0], [1.0, 0.5], [10.0, 1000.0], "PU21 PSNR (dB)")
    assert isinstance(fig, Figure) and fig.axes[0].get_xscale() == "log"
    with pytest.raises(ShapeError, match="Expected"):
        viz.quality_vs_time(["a"], [20.0, 21.0], [1.0], [10.0], "x")
    with pytest.raises(RangeError, match="Expected"):
        viz.quality_vs_time(["a"], [20.0], [1.0], [0.0], "x")
    matplotlib.pyplot.close("all")


def test_every_explorer_slider_sends_its_value_on_release(radiance, bracket_stack, tiny_multiexposure, log_images,
                                                           hybrid_scene, monkeypatch):
    """Each slider of each explorer has continuous_update=False (the rule in hdrlab.widgets' docstring)."""
    from hdrlab.imaging import crf

    class NoFigures:  # every viz callback a no-op: only the controls are inspected
        def __getattr__(self, name):
            return lambda *args: None

    monkeypatch.setattr(widgets, "viz", NoFigures())
    stack, times = bracket_stack
    model, item = tiny_multiexposure
    outputs, target = log_images
    ldr, hdr = hybrid_scene["square"]
    explorers = {
        "exposure_explorer": widgets.exposure_explorer(radiance),
        "recovery_explorer": widgets.recovery_explorer(stack, times, crf.log_inverse_response("film-soft")),
        "tonemap_explorer": widgets.tonemap_explorer(radiance),
        "adaptation_explorer": widgets.adaptation_explorer(ldr, ldr, [ldr, ldr]),
        "reexposure_explorer": widgets.reexposure_explorer(model, item["ldr"]),
        "recursion_explorer": widgets.recursion_explorer(stack[:3], (-1.0, 0.0, 1.0)),
        "upsampler_explorer": widgets.upsampler_explorer(outputs, target),
        "before_after_explorer": widgets.before_after_explorer(ldr, {"truth": hdr}),
    }
    assert sorted(explorers) == sorted(widgets.__all__), "build each new explorer here too"
    for name, explorer in explorers.items():
        sliders = [w for w in _descendants(explorer) if w.has_trait("continuous_update")]  # text boxes have it too
        assert sliders, f"{name} has no slider"
        assert [s.description for s in sliders if s.continuous_update] == [], f"{name}: continuous_update=True"
