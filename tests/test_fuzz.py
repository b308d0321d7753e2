"""Every public call of the covered modules rejects bad input with a typed, explained error.

For each public callable of :data:`COVERED_MODULES` a :class:`Spec` gives one valid
call and the kind of each argument. The test perturbs one argument at a time with
values that are invalid for its kind (wrong type, rank, dtype, emptiness, NaN/inf,
sign, range, a missing or corrupt file) and asserts an ``HdrlabError`` whose message
says what was ``Expected``: never a generic exception, NaN, or silent acceptance.
A public callable without a spec (and not a plain data container, :data:`CONTAINERS`)
fails :func:`test_every_public_callable_has_a_spec`, so new code cannot skip this.

The methods are covered by the other ``tests/test_fuzz_*.py`` files, with the same machinery
(imported from here); ``hdrlab.train`` and the course machinery are not covered yet.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
import torch

from hdrlab.errors import HdrlabError

COVERED_MODULES = ("hdrlab.io", "hdrlab.metrics", "hdrlab.imaging.camera", "hdrlab.imaging.crf", "hdrlab.imaging.weights",
                   "hdrlab.imaging.align", "hdrlab.imaging.deghost", "hdrlab.imaging.merge", "hdrlab.imaging.tonemap",
                   "hdrlab.data.scenes", "hdrlab.env", "hdrlab.evaluate", "hdrlab.nn.blocks", "hdrlab.nn.norm",
                   "hdrlab.nn.recurrent", "hdrlab.nn.unet", "hdrlab.nn.features", "hdrlab.nn.pretrained",
                   "hdrlab.nn.losses")
#: Public names that are data containers (dataclasses, named tuples) or classes checked elsewhere, not calls to fuzz.
CONTAINERS = {"hdrlab.io.Bracket", "hdrlab.imaging.camera.ClippedFraction", "hdrlab.imaging.align.MTBAlignment",
              "hdrlab.data.scenes.SceneInfo", "hdrlab.env.Setup",
              "hdrlab.metrics.LPIPS", "hdrlab.evaluate.Leaderboard"}  # LPIPS: an nn.Module, constructed with checked options in test_metrics.py


def _image(h: int = 16, w: int = 16) -> torch.Tensor:
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05


def _radiance(h: int = 16, w: int = 16) -> torch.Tensor:
    return torch.exp2(torch.rand(3, h, w, generator=torch.Generator().manual_seed(1)) * 8 - 4)


def _stack(n: int = 3, h: int = 16, w: int = 16) -> torch.Tensor:
    return torch.stack([_image(h, w) ** (1 / (j + 1)) for j in range(n)])


def _times(n: int = 3) -> torch.Tensor:
    return torch.tensor([0.01 * 4**j for j in range(n)])


def _g() -> torch.Tensor:
    from hdrlab.imaging.crf import log_inverse_response

    return log_inverse_response("srgb")


# --- invalid values per kind of argument ----------------------------------------------------------------------------
# Each entry: label -> a function of the valid value giving an invalid one.

_NOT_A_TENSOR = {"str": lambda v: "image", "None": lambda v: None, "list": lambda v: v.tolist() if v.numel() < 64
                 else [[0.5]]}
_TENSOR = {**_NOT_A_TENSOR, "int64": lambda v: (v * 100).long(), "rank2": lambda v: v.reshape(-1, v.shape[-1]),
           "nan": lambda v: v.clone().index_put_((torch.tensor([0]),), torch.tensor(math.nan)),
           "inf": lambda v: v.clone().index_put_((torch.tensor([0]),), torch.tensor(math.inf))}
_IMAGE = {**_TENSOR, "4channels": lambda v: torch.cat([v, v[..., :1, :, :]], -3)}
_LDR = {**_IMAGE, "above1": lambda v: v + 1.0, "negative": lambda v: v - 1.0}
_RADIANCE = {**_IMAGE, "negative": lambda v: v - v.max() - 1.0}
_TIMES = {"str": lambda v: "fast", "None": lambda v: None, "negative": lambda v: -v, "zero": lambda v: v * 0,
          "nan": lambda v: v * math.nan, "descending": lambda v: v.flip(0), "longer": lambda v: torch.cat([v, v[-1:] * 2])}
_POS_FLOAT = {"zero": lambda v: 0.0, "negative": lambda v: -1.0, "nan": lambda v: math.nan, "inf": lambda v: math.inf,
              "str": lambda v: "1", "None": lambda v: None, "bool": lambda v: True, "list": lambda v: [1.0]}
_NONNEG_FLOAT = {k: f for k, f in _POS_FLOAT.items() if k != "zero"}
_POS_INT = {"zero": lambda v: 0, "negative": lambda v: -1, "float": lambda v: 1.5, "str": lambda v: "2",
            "None": lambda v: None, "bool": lambda v: True}
_NONNEG_INT = {k: f for k, f in _POS_INT.items() if k != "zero"}
_BOOL = {"str": lambda v: "no", "None": lambda v: None, "list": lambda v: [0], "int": lambda v: 2}
_CHOICE = {"unknown": lambda v: "no-such-choice", "None": lambda v: None, "int": lambda v: 3}
_BITS = {"float": lambda v: 8.0, "odd": lambda v: 9, "str": lambda v: "8", "bool": lambda v: True}
_SIZE = {"str": lambda v: "16x16", "None": lambda v: None, "one": lambda v: (v[0],), "zero": lambda v: (0, v[1]),
         "float": lambda v: (1.5, v[1]), "negative": lambda v: (-v[0], v[1])}
_PATH = {"int": lambda v: 3, "None": lambda v: None}
_RESPONSE = {**_NOT_A_TENSOR, "int64": _TENSOR["int64"], "nan": lambda v: v.clone().fill_(math.nan),
             "short": lambda v: v[:, :100], "rank1": lambda v: v[0]}
_GENERATOR = {"str": lambda v: "seed", "int": lambda v: 3}
_SEED = {"negative": lambda v: -1, "float": lambda v: 0.5, "str": lambda v: "1", "None": lambda v: None,
         "bool": lambda v: True}
_PERCENT = {"negative": lambda v: -1.0, "above100": lambda v: 101.0, "nan": lambda v: math.nan,
            "str": lambda v: "50", "None": lambda v: None}


@dataclass
class Spec:
    """One valid call of a public callable (``make()`` builds fresh arguments) and the kind of each argument."""

    call: Callable[..., object]
    make: Callable[[], dict[str, object]]
    kinds: dict[str, dict[str, Callable[[object], object]]]
    skip: set[tuple[str, str]] = field(default_factory=set)  # (argument, label) pairs the docstring allows


_FEATURES = {**_NOT_A_TENSOR, "float16": lambda v: v.half(), "int64": lambda v: (v * 100).long(),
             "no_batch": lambda v: v[0], "channels": lambda v: torch.cat([v, v], 1)}
_CHANNELS = {"zero": lambda v: 0, "float": lambda v: 2.5, "str": lambda v: "3", "None": lambda v: None,
             "bool": lambda v: True}


# Loss inputs: any float tensor (``_LOSS_INPUT``), images or feature maps ``(*, C, H, W)`` (``_LOSS_MAP``);
# "shape" makes the pair's shapes differ.
_LOSS_INPUT = {**_NOT_A_TENSOR, "int64": _TENSOR["int64"], "nan": _TENSOR["nan"], "inf": _TENSOR["inf"],
               "shape": lambda v: v[..., :-1]}
_LOSS_MAP = {**_LOSS_INPUT, "rank2": _TENSOR["rank2"]}
_LUMA = {"str": lambda v: "rgb", "None": lambda v: None, "two": lambda v: (0.5, 0.5), "negative": lambda v: (-1.0, 1, 1),
         "zero": lambda v: (0, 0, 0), "nan": lambda v: (math.nan, 1, 1), "inf": lambda v: (math.inf, 1, 1)}
_UNIT_FLOAT = {**_NONNEG_FLOAT, "above1": lambda v: 1.5}  # a fraction in [0, 1]
_LAYER_WEIGHTS = {"str": lambda v: "1", "short": lambda v: [], "negative": lambda v: [-1.0], "nan": lambda v: [math.nan],
                  "inf": lambda v: [math.inf], "item_str": lambda v: ["1"]}
_VALUE_RANGE = {"str": lambda v: "0,1", "None": lambda v: None, "one": lambda v: (0.0,), "reversed": lambda v: (1.0, 0.0),
                "nan": lambda v: (math.nan, 1.0), "inf": lambda v: (0.0, math.inf)}


def _module_call(cls: type, **options: object) -> Callable[..., object]:
    """Build ``cls(**options, <constructor kwargs>)`` and call it on ``x`` (and ``extra``): a model's public entry."""
    def call(x: object, extra: dict | None = None, **constructor: object) -> object:
        return cls(**{**options, **constructor})(x, **(extra or {}))
    return call


def _files(tmp: Path) -> dict[str, Path]:
    """A valid EXR, PNG and a bracket folder under ``tmp``, written once."""
    from hdrlab import io

    if not (tmp / "x.exr").exists():
        io.write_hdr(tmp / "x.exr", _radiance())
        io.write_ldr(tmp / "x.png", _image())
        io.write_bracket(tmp / "bracket", _stack(), _times())
    return {"exr": tmp / "x.exr", "png": tmp / "x.png", "bracket": tmp / "bracket"}


def _of_g(perturb: Callable[[object], object], _: object) -> object:
    """``perturb`` applied to a valid inverse response (for an argument whose valid value is None)."""
    return perturb(_g())


def _of_target(perturb: Callable[[object], object], extra: dict) -> dict:
    """``extra`` of a loss module's call with ``perturb`` applied to its ``target``."""
    return {"target": perturb(extra["target"])}


def _merge_specs() -> dict[str, Spec]:
    from hdrlab.imaging import merge

    def timed(call: Callable[..., object], make: Callable[[], dict[str, object]], **kinds: dict) -> Spec:
        return Spec(call, make, {"stack": _LDR, "times": _TIMES, "weight": _CHOICE, **kinds})

    g = {**_RESPONSE, "inf": lambda v: v.clone().fill_(math.inf)}
    return {
        "hdrlab.imaging.merge.merge_debevec": timed(merge.merge_debevec,
                                                    lambda: {"stack": _stack(), "times": _times(), "g": _g()},
                                                    g=g, bits=_BITS),
        "hdrlab.imaging.merge.merge_debevec_differentiable": timed(
            merge.merge_debevec_differentiable, lambda: {"stack": _stack(), "times": _times(), "g": _g()},
            g={**g, "requires_grad": lambda v: v.clone().requires_grad_(True),
               "batch": lambda v: v.expand(2, *v.shape)}, backward=_CHOICE),
        "hdrlab.imaging.merge.synthesize_hdr": timed(
            merge.synthesize_hdr, lambda: {"stack": _stack(), "times": _times()},
            g={k: partial(_of_g, f) for k, f in g.items() if k != "None"},  # None: solve per stack
            seed=_SEED, backward=_CHOICE),
        "hdrlab.imaging.merge.piecewise_linear_lookup": Spec(
            merge.piecewise_linear_lookup, lambda: {"x": _image(), "table": torch.tensor([0.0, 1.0, 4.0])},
            {"x": {k: f for k, f in _LDR.items() if k not in ("rank2", "4channels")},
             "table": {**_NOT_A_TENSOR, "int64": _TENSOR["int64"], "nan": _TENSOR["nan"], "inf": _TENSOR["inf"],
                       "short": lambda v: v[:1], "rank0": lambda v: v[0], "broadcast": lambda v: v.expand(2, 2, 3),
                       "requires_grad": lambda v: v.clone().requires_grad_(True)},
             "backward": _CHOICE}),
        "hdrlab.imaging.merge.mertens_fusion": Spec(
            merge.mertens_fusion, lambda: {"stack": _stack()},
            {"stack": {**_LDR, "one_frame": lambda v: v[:1]}, "contrast": _NONNEG_FLOAT,
             "saturation": _NONNEG_FLOAT, "exposedness": _NONNEG_FLOAT,
             "levels": {**{k: f for k, f in _POS_INT.items() if k != "None"}, "too_many": lambda v: 99}}),
    }


def _leaderboard_specs() -> dict[str, Spec]:
    from hdrlab import evaluate

    def methods() -> list:
        return [evaluate.Method("gamma", lambda item: item["ldr"] ** 2.2)]

    def items() -> list:
        return [{"ldr": _image(), "hdr": _radiance(), "scene": "s", "crf": "srgb"}]

    def board() -> evaluate.Leaderboard:
        return evaluate.leaderboard(methods(), items(), perceptual=False)

    boards = {"None": lambda v: None, "str": lambda v: "board", "empty": lambda v: [], "list_of_str": lambda v: ["b"]}
    method_list = {"None": lambda v: None, "str": lambda v: "gamma", "empty": lambda v: [],
                   "not_a_method": lambda v: [lambda item: item["ldr"]], "repeated": lambda v: v + v,
                   "wrong_shape": lambda v: [evaluate.Method("crop", lambda item: item["ldr"][:, :4])],
                   "negative": lambda v: [evaluate.Method("negative", lambda item: -item["ldr"])],
                   "nan": lambda v: [evaluate.Method("nan", lambda item: item["ldr"] * math.nan)]}
    item_list = {"None": lambda v: None, "str": lambda v: "items", "empty": lambda v: [], "dict": lambda v: v[0],
                 "no_hdr": lambda v: [{k: x for k, x in v[0].items() if k != "hdr"}],
                 "negative_hdr": lambda v: [{**v[0], "hdr": -v[0]["hdr"]}],
                 "batched_hdr": lambda v: [{**v[0], "hdr": v[0]["hdr"][None]}]}
    return {
        "hdrlab.evaluate.Method": Spec(evaluate.Method, lambda: {"name": "gamma", "predict": lambda item: item["ldr"]},
                                       {"name": {"empty": lambda v: "", "None": lambda v: None, "int": lambda v: 3},
                                        "predict": {"None": lambda v: None, "str": lambda v: "ldr ** 2.2"},
                                        "parameters": _NONNEG_INT, "sees": {"None": lambda v: None, "int": lambda v: 3}}),
        "hdrlab.evaluate.leaderboard": Spec(evaluate.leaderboard,
                                            lambda: {"methods": methods(), "items": items(), "perceptual": False},
                                            {"methods": method_list, "items": item_list,
                                             "perceptual": {"str": lambda v: "yes", "None": lambda v: None}}),
        "hdrlab.evaluate.leaderboard_spread": Spec(evaluate.leaderboard_spread,
                                                   lambda: {"boards": board(), "method": "gamma", "metric": "pu21_psnr"},
                                                   {"boards": boards, "method": _CHOICE, "metric": _CHOICE}),
        "hdrlab.evaluate.leaderboard_table": Spec(evaluate.leaderboard_table, lambda: {"boards": board()},
                                                  {"boards": boards, "metrics_shown": {
                                                      "unknown": lambda v: ("no-such-metric",), "int": lambda v: 3,
                                                      "empty": lambda v: (), "str": lambda v: "pu21_psnr"}}),
        "hdrlab.evaluate.scene_wins": Spec(evaluate.scene_wins, lambda: {"board": board()},
                                           {"board": boards, "metric": _CHOICE,
                                            "among": {"unknown": lambda v: ["no-such-method"], "empty": lambda v: [],
                                                      "str": lambda v: "gamma", "int": lambda v: 3}}),
    }


def _tonemap_specs() -> dict[str, Spec]:
    from hdrlab.imaging import tonemap

    def radiance(call: Callable[..., object], **kinds: dict) -> Spec:
        return Spec(call, lambda: {"radiance": _radiance()}, {"radiance": _RADIANCE, **kinds})

    def display(call: Callable[..., object], **kinds: dict) -> Spec:
        return Spec(call, lambda: {"radiance": _radiance()},
                    {"radiance": _RADIANCE, "gamma": _POS_FLOAT, "luma": _LUMA, **kinds})

    key = {**_POS_FLOAT, "above1": lambda v: 1.5}
    white = {k: f for k, f in _POS_FLOAT.items() if k != "None"}
    percentiles = {**_PERCENT, "crossed": lambda v: 100.0 - v}
    return {
        "hdrlab.imaging.tonemap.luminance": Spec(tonemap.luminance, lambda: {"image": _radiance()}, {"image": _IMAGE}),
        "hdrlab.imaging.tonemap.srgb_encode": Spec(tonemap.srgb_encode, lambda: {"linear": _image()},
                                                   {"linear": _LDR}),
        "hdrlab.imaging.tonemap.srgb_decode": Spec(tonemap.srgb_decode, lambda: {"encoded": _image()},
                                                   {"encoded": _LDR}),
        "hdrlab.imaging.tonemap.gamma_encode": Spec(tonemap.gamma_encode, lambda: {"linear": _image(), "gamma": 2.2},
                                                    {"linear": _LDR, "gamma": _POS_FLOAT}),
        "hdrlab.imaging.tonemap.log_average_luminance": radiance(tonemap.log_average_luminance),
        "hdrlab.imaging.tonemap.reinhard_global": radiance(tonemap.reinhard_global, key=key, white=white),
        "hdrlab.imaging.tonemap.reinhard_local": radiance(tonemap.reinhard_local, key=key, phi=_POS_FLOAT,
                                                          epsilon=_POS_FLOAT, scales=_POS_INT, white=white),
        "hdrlab.imaging.tonemap.mu_law": Spec(tonemap.mu_law, lambda: {"hdr": _image(), "mu": 5000.0},
                                              {"hdr": _LDR, "mu": _POS_FLOAT}),
        "hdrlab.imaging.tonemap.log_display": Spec(
            tonemap.log_display, lambda: {"radiance": _radiance(), "low_percentile": 1.0, "high_percentile": 99.0},
            {"radiance": _RADIANCE, "low_percentile": percentiles, "high_percentile": percentiles, "colour": _BOOL}),
        "hdrlab.imaging.tonemap.hdr_scale": Spec(tonemap.hdr_scale, lambda: {"hdr": _radiance()},
                                                 {"hdr": {**_RADIANCE, "black": lambda v: torch.zeros_like(v)},
                                                  "method": _CHOICE, "percentile": {**_PERCENT, "zero": lambda v: 0.0}}),
        "hdrlab.imaging.tonemap.normalize_hdr": Spec(
            tonemap.normalize_hdr, lambda: {"hdr": _radiance(), "reference": _radiance()},
            {"hdr": _RADIANCE, "method": _CHOICE, "percentile": {**_PERCENT, "zero": lambda v: 0.0}, "clip": _BOOL,
             "reference": {**{k: f for k, f in _RADIANCE.items() if k != "None"}, "batch": lambda v: v.expand(2, *v.shape),
                           "black": lambda v: torch.zeros_like(v)}}),
        "hdrlab.imaging.tonemap.apply_tonemap": Spec(tonemap.apply_tonemap,
                                                     lambda: {"name": "reinhard", "radiance": _radiance()},
                                                     {"name": _CHOICE, "radiance": _RADIANCE}),
        "hdrlab.imaging.tonemap.drago": display(tonemap.drago, saturation=_NONNEG_FLOAT,
                                                bias={**_POS_FLOAT, "one": lambda v: 1.0}),
        "hdrlab.imaging.tonemap.mantiuk": display(tonemap.mantiuk, scale=_POS_FLOAT, saturation=_NONNEG_FLOAT),
        "hdrlab.imaging.tonemap.reinhard_devlin": display(
            tonemap.reinhard_devlin, intensity={k: f for k, f in _POS_FLOAT.items() if k not in ("zero", "negative")},
            light_adapt=_UNIT_FLOAT, color_adapt=_UNIT_FLOAT),
    }


def _loss_specs() -> dict[str, Spec]:
    from hdrlab.nn import losses

    def batch(seed: int = 0) -> torch.Tensor:
        return torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(seed)) * 0.9 + 0.05

    def pair(call: Callable[..., object], kind: dict, make: Callable[[], dict] | None = None, **kinds: dict) -> Spec:
        return Spec(call, make or (lambda: {"pred": batch(), "target": batch(1)}),
                    {"pred": kind, "target": kind, **kinds})

    def features() -> dict[str, torch.Tensor]:
        return {"a": torch.rand(1, 2, 4, 4), "b": torch.rand(1, 4, 2, 2)}

    feature_kinds = {"str": lambda v: "features", "None": lambda v: None, "list": lambda v: list(v.values()),
                     "empty": lambda v: {}, "other_layers": lambda v: {"c": v["a"]},
                     "value_str": lambda v: {**v, "a": "a"}, "nan": lambda v: {**v, "a": v["a"] * math.nan},
                     "int64": lambda v: {**v, "a": v["a"].long()}, "shape": lambda v: {**v, "a": v["a"][..., :1]}}
    unit = {**_LOSS_MAP, "above1": lambda v: v + 1.0, "negative": lambda v: v - 1.0}
    histogram = {"bins": _POS_INT, "value_range": _VALUE_RANGE,
                 "bandwidth": {k: f for k, f in _POS_FLOAT.items() if k != "None"}}
    images = {**_NOT_A_TENSOR, "int64": _TENSOR["int64"], "nan": _TENSOR["nan"], "float16": _FEATURES["float16"],
              "channels": _FEATURES["channels"], "above1": lambda v: v + 1.0, "shape": lambda v: v[..., :-1]}
    target = {label: partial(_of_target, f) for label, f in images.items()}
    layers = {"unknown": lambda v: ("relu9_9",), "empty": lambda v: (), "int": lambda v: 3}
    pretrained = {"str": lambda v: "yes", "None": lambda v: None, "int": lambda v: 1}
    cobi = {"spatial_weight": _UNIT_FLOAT, "bandwidth": _POS_FLOAT,
            "max_positions": {**_POS_INT, "too_small": lambda v: 4}}
    return {
        "hdrlab.nn.losses.l1_loss": pair(losses.l1_loss, _LOSS_INPUT,
                                         mask={"str": lambda v: "all", "int64": lambda v: torch.ones(1, 1, 16, 16).long(),
                                               "shape": lambda v: torch.ones(2, 1, 16, 16), "above1": lambda v:
                                               torch.full((1, 1, 16, 16), 2.0), "nan": lambda v:
                                               torch.full((1, 1, 16, 16), math.nan), "empty": lambda v:
                                               torch.zeros(1, 1, 16, 16, dtype=torch.bool)}),
        "hdrlab.nn.losses.cosine_loss": pair(losses.cosine_loss, _LOSS_MAP, eps=_POS_FLOAT),
        "hdrlab.nn.losses.expandnet_loss": pair(losses.expandnet_loss, _LOSS_MAP, cosine_weight=_NONNEG_FLOAT),
        "hdrlab.nn.losses.mu_law_loss": pair(losses.mu_law_loss, {**unit, "4channels": _IMAGE["4channels"]},
                                             mu=_POS_FLOAT),
        "hdrlab.nn.losses.edge_loss": pair(losses.edge_loss, _LOSS_MAP),
        "hdrlab.nn.losses.histogram_loss": pair(
            losses.histogram_loss, {k: f for k, f in _LOSS_MAP.items() if k != "shape"},
            lambda: {"pred": batch(), "target": batch(1)[..., :8]}, distance=_CHOICE,
            **{**histogram, "pred": {**_LOSS_MAP, "shape": lambda v: v[:, :2]}}),
        "hdrlab.nn.losses.total_variation": Spec(losses.total_variation, lambda: {"x": batch()},
                                                 {"x": {**_LOSS_MAP, "shape": lambda v: v[..., :1, :]},
                                                  "reduction": _CHOICE}),
        "hdrlab.nn.losses.soft_histogram": Spec(losses.soft_histogram, lambda: {"x": batch()},
                                                {"x": {k: f for k, f in _LOSS_MAP.items() if k != "shape"},
                                                 **histogram}),
        "hdrlab.nn.losses.sobel_edges": Spec(losses.sobel_edges, lambda: {"x": batch()},
                                             {"x": {k: f for k, f in _LOSS_MAP.items() if k != "shape"},
                                              "eps": _POS_FLOAT}),
        "hdrlab.nn.losses.perceptual_loss": Spec(
            losses.perceptual_loss, lambda: {"pred_features": features(), "target_features": features()},
            {"pred_features": feature_kinds, "target_features": feature_kinds,
             "weights": {**_LAYER_WEIGHTS, "short": lambda v: [1.0]}, "reduction": _CHOICE}),
        "hdrlab.nn.losses.contextual_bilateral_loss": Spec(
            losses.contextual_bilateral_loss,
            lambda: {"pred_features": torch.rand(1, 4, 4, 4), "target_features": torch.rand(1, 4, 4, 4)},
            {"pred_features": {**_LOSS_MAP, "float16": _FEATURES["float16"], "rank3": lambda v: v[0],
                               "rank5": lambda v: v[None]},
             "target_features": {**_LOSS_MAP, "float16": _FEATURES["float16"]}, **cobi}),
        "hdrlab.nn.losses.PerceptualLoss": Spec(
            _module_call(losses.PerceptualLoss, pretrained=False),
            lambda: {"x": batch(), "extra": {"target": batch(1)}, "layers": ("pool1",)},
            {"x": images, "extra": target, "layers": layers, "pretrained": pretrained, "reduction": _CHOICE,
             "weights": _LAYER_WEIGHTS}),
        "hdrlab.nn.losses.CoBiLoss": Spec(
            _module_call(losses.CoBiLoss, pretrained=False),
            lambda: {"x": batch(), "extra": {"target": batch(1)}, "layers": ("relu1_1",)},
            {"x": images, "extra": target, "layers": layers, "pretrained": pretrained, "weights": _LAYER_WEIGHTS,
             **cobi, "max_positions": {**cobi["max_positions"], "too_small": lambda v: 16}}),
    }


def _specs(tmp: Path) -> dict[str, Spec]:
    from hdrlab import env, evaluate, io, metrics
    from hdrlab.data import scenes
    from hdrlab.imaging import align, camera, crf, deghost, weights
    from hdrlab.nn import blocks, features, norm, pretrained, recurrent, unet

    files = _files(tmp)
    pair = {"pred": _LDR, "target": _LDR}
    mixed_pair = {"pred": {**_LDR, "float16": _FEATURES["float16"]}, "target": _LDR}  # ssim: one dtype for both
    own = {**_merge_specs(), **_tonemap_specs(), **_loss_specs()}
    hdr_pair = {"pred_hdr": _RADIANCE, "target_hdr": _RADIANCE}
    return {
        **own,
        # io
        "hdrlab.io.read_hdr": Spec(io.read_hdr, lambda: {"path": files["exr"]}, {"path": _PATH}),
        "hdrlab.io.read_ldr": Spec(io.read_ldr, lambda: {"path": files["png"]}, {"path": _PATH}),
        "hdrlab.io.read_image": Spec(io.read_image, lambda: {"path": files["png"]}, {"path": _PATH}),
        "hdrlab.io.write_hdr": Spec(io.write_hdr, lambda: {"path": tmp / "out.exr", "image": _radiance()},
                                    {"path": _PATH, "image": _RADIANCE}),
        "hdrlab.io.write_ldr": Spec(io.write_ldr, lambda: {"path": tmp / "out.png", "image": _image(), "bits": 8},
                                    {"path": _PATH, "image": _LDR, "bits": _BITS}),
        "hdrlab.io.read_bracket": Spec(io.read_bracket, lambda: {"source": files["bracket"]}, {"source": _PATH}),
        "hdrlab.io.write_bracket": Spec(io.write_bracket, lambda: {"folder": tmp / "written", "stack": _stack(),
                                                                   "times": _times(), "quality": 90},
                                        {"folder": _PATH, "stack": _LDR, "times": _TIMES, "quality": _NONNEG_INT}),
        # metrics
        "hdrlab.metrics.psnr": Spec(metrics.psnr, lambda: {"pred": _image(), "target": _image()},
                                    {**pair, "data_range": _POS_FLOAT}),
        "hdrlab.metrics.ssim": Spec(metrics.ssim, lambda: {"pred": _image(), "target": _image()},
                                    {**mixed_pair, "data_range": _POS_FLOAT}),
        "hdrlab.metrics.ms_ssim": Spec(metrics.ms_ssim, lambda: {"pred": _image(176, 176), "target": _image(176, 176)},
                                       {**mixed_pair, "data_range": _POS_FLOAT}),
        "hdrlab.metrics.mu_psnr": Spec(metrics.mu_psnr, lambda: {"pred_hdr": _radiance(), "target_hdr": _radiance()},
                                       {**hdr_pair, "mu": _POS_FLOAT, "normalize": {"unknown": _CHOICE["unknown"]},
                                        "percentile": _PERCENT}),
        "hdrlab.metrics.tonemapped_psnr": Spec(metrics.tonemapped_psnr,
                                               lambda: {"pred_hdr": _radiance(), "target_hdr": _radiance()},
                                               {**hdr_pair, "tonemap": _CHOICE}),
        "hdrlab.metrics.tonemapped_ssim": Spec(metrics.tonemapped_ssim,
                                               lambda: {"pred_hdr": _radiance(), "target_hdr": _radiance()},
                                               {**hdr_pair, "tonemap": _CHOICE}),
        "hdrlab.metrics.log_error_stops": Spec(metrics.log_error_stops,
                                               lambda: {"pred_hdr": _radiance(), "target_hdr": _radiance()},
                                               {**hdr_pair, "reduction": _CHOICE, "align_scale": _BOOL,
                                                "mask": {"str": lambda v: "all", "float": lambda v: torch.ones(1, 16, 16)}}),
        "hdrlab.metrics.pu21_encode": Spec(metrics.pu21_encode, lambda: {"luminance_cd": torch.rand(8) * 100 + 1},
                                           {"luminance_cd": {**_NOT_A_TENSOR, "nan": _TENSOR["nan"],
                                                             "negative": lambda v: -v, "huge": lambda v: v * 1e6},
                                            "clip": _BOOL}),
        "hdrlab.metrics.pu21_psnr": Spec(metrics.pu21_psnr, lambda: {"pred_hdr": _radiance(), "target_hdr": _radiance()},
                                         {**hdr_pair, "display_peak": _POS_FLOAT, "align_scale": _BOOL}),
        "hdrlab.metrics.pu21_ssim": Spec(metrics.pu21_ssim, lambda: {"pred_hdr": _radiance(), "target_hdr": _radiance()},
                                         {"pred_hdr": {**_RADIANCE, "float16": _FEATURES["float16"]},
                                          "target_hdr": _RADIANCE, "display_peak": _POS_FLOAT, "align_scale": _BOOL}),
        "hdrlab.metrics.cvvdp_jod": Spec(metrics.cvvdp_jod, lambda: {"pred_hdr": _radiance(), "target_hdr": _radiance()},
                                         {**hdr_pair, "display": _CHOICE, "align_scale": _BOOL}),
        **_leaderboard_specs(),
        "hdrlab.evaluate.score_hdr": Spec(evaluate.score_hdr, lambda: {"pred_hdr": _radiance(), "target_hdr": _radiance(),
                                                                      "perceptual": False},
                                          {**hdr_pair, "perceptual": {"str": lambda v: "yes", "None": lambda v: None}}),
        # nn: each model's constructor options and its forward input (x), one call
        "hdrlab.nn.blocks.activation": Spec(blocks.activation, lambda: {"name": "relu"}, {"name": _CHOICE}),
        "hdrlab.nn.blocks.norm2d": Spec(blocks.norm2d, lambda: {"name": "batch", "channels": 4},
                                        {"name": _CHOICE, "channels": _CHANNELS}),
        "hdrlab.nn.blocks.check_feature_map": Spec(blocks.check_feature_map,
                                                   lambda: {"x": torch.rand(1, 3, 8, 8), "channels": 3},
                                                   {"x": {**_NOT_A_TENSOR, "int64": _FEATURES["int64"],
                                                          "no_batch": _FEATURES["no_batch"],
                                                          "channels": _FEATURES["channels"]}}),
        "hdrlab.nn.blocks.check_layer_dtype": Spec(blocks.check_layer_dtype,
                                                   lambda: {"x": torch.rand(1, 3, 8, 8), "dtype": torch.float32},
                                                   {"x": {"float16": _FEATURES["float16"],
                                                          "float64": lambda v: v.double()}}),
        "hdrlab.nn.blocks.parameter_dtype": Spec(blocks.parameter_dtype, lambda: {"module": torch.nn.Linear(2, 2)},
                                                 {"module": {"str": lambda v: "model", "None": lambda v: None}}),
        "hdrlab.nn.blocks.ConvNormAct": Spec(_module_call(blocks.ConvNormAct),
                                             lambda: {"x": torch.rand(1, 3, 8, 8), "in_channels": 3, "out_channels": 4},
                                             {"x": _FEATURES, "in_channels": _CHANNELS, "out_channels": _CHANNELS,
                                              "kernel_size": _POS_INT, "stride": _POS_INT, "dilation": _POS_INT,
                                              "norm": _CHOICE, "activation": _CHOICE, "padding_mode": _CHOICE}),
        "hdrlab.nn.blocks.ConvStack": Spec(_module_call(blocks.ConvStack),
                                           lambda: {"x": torch.rand(1, 3, 8, 8), "in_channels": 3, "out_channels": 4},
                                           {"x": _FEATURES, "in_channels": _CHANNELS, "out_channels": _CHANNELS,
                                            "num_convs": _POS_INT, "norm": _CHOICE, "activation": _CHOICE}),
        "hdrlab.nn.blocks.DoubleConv": Spec(_module_call(blocks.DoubleConv),
                                            lambda: {"x": torch.rand(1, 3, 8, 8), "in_channels": 3, "out_channels": 4},
                                            {"x": _FEATURES, "in_channels": _CHANNELS, "out_channels": _CHANNELS,
                                             "norm": _CHOICE, "activation": _CHOICE}),
        "hdrlab.nn.blocks.Upsample2x": Spec(_module_call(blocks.Upsample2x),
                                            lambda: {"x": torch.rand(1, 4, 8, 8), "in_channels": 4, "out_channels": 3},
                                            {"x": _FEATURES, "in_channels": _CHANNELS, "out_channels": _CHANNELS,
                                             "mode": _CHOICE}),
        "hdrlab.nn.blocks.icnr_": Spec(blocks.icnr_, lambda: {"weight": torch.empty(12, 3, 3, 3), "scale": 2},
                                       {"weight": {**_NOT_A_TENSOR, "rank2": lambda v: v[0, 0],
                                                   "indivisible": lambda v: v[:11]},
                                        "scale": _POS_INT, "initializer": {"str": lambda v: "kaiming"}}),
        "hdrlab.nn.blocks.count_parameters": Spec(blocks.count_parameters,
                                                  lambda: {"module": torch.nn.Linear(2, 2)},
                                                  {"module": {"str": lambda v: "model", "None": lambda v: None},
                                                   "trainable_only": _BOOL}),
        "hdrlab.nn.norm.ConditionalInstanceNorm2d": Spec(
            _module_call(norm.ConditionalInstanceNorm2d),
            lambda: {"x": torch.rand(2, 4, 8, 8), "extra": {"condition": 1}, "num_features": 4, "num_conditions": 3},
            {"x": _FEATURES, "num_features": _CHANNELS, "num_conditions": _CHANNELS, "eps": _POS_FLOAT,
             "extra": {"too_big": lambda v: {"condition": 3}, "negative": lambda v: {"condition": -1},
                       "str": lambda v: {"condition": "one"}, "float": lambda v: {"condition": 1.5},
                       "wrong_batch": lambda v: {"condition": torch.tensor([0, 1, 2])}}}),
        "hdrlab.nn.recurrent.ConvGRUCell": Spec(
            _module_call(recurrent.ConvGRUCell),
            lambda: {"x": torch.rand(1, 3, 8, 8), "input_channels": 3, "hidden_channels": 4},
            {"x": _FEATURES, "input_channels": _CHANNELS, "hidden_channels": _CHANNELS, "kernel_size": _POS_INT,
             "extra": {"hidden_channels": lambda v: {"h": torch.rand(1, 3, 8, 8)},
                       "hidden_size": lambda v: {"h": torch.rand(1, 4, 4, 4)},
                       "hidden_str": lambda v: {"h": "zeros"}}}),
        "hdrlab.nn.unet.UNet": Spec(_module_call(unet.UNet), lambda: {"x": torch.rand(1, 3, 16, 16), "levels": 2,
                                                                      "base_width": 4},
                                    {"x": {**_FEATURES, "odd_size": lambda v: v[..., :15, :15]},
                                     "in_channels": _CHANNELS, "out_channels": _CHANNELS, "levels": _POS_INT,
                                     "base_width": _CHANNELS, "norm": _CHOICE, "activation": _CHOICE,
                                     "upsample": _CHOICE, "head": _CHOICE, "convs_per_level": _POS_INT,
                                     "widths": {"str": lambda v: "4,8", "short": lambda v: [4],
                                                "zero": lambda v: [4, 0]}}),
        "hdrlab.nn.features.VGG19Features": Spec(
            _module_call(features.VGG19Features, pretrained=False), lambda: {"x": torch.rand(1, 3, 16, 16)},
            {"x": {**_NOT_A_TENSOR, "float16": _FEATURES["float16"], "int64": _FEATURES["int64"],
                   "channels": _FEATURES["channels"], "above1": lambda v: v + 1},
             "layers": {"unknown": lambda v: ("relu9_9",), "empty": lambda v: (), "int": lambda v: 3},
             "normalize": _BOOL}),
        "hdrlab.nn.pretrained.check_pretrained": Spec(pretrained.check_pretrained, lambda: {"pretrained": "auto"},
                                                      {"pretrained": {"str": lambda v: "yes", "None": lambda v: None,
                                                                      "int": lambda v: 1}}),
        "hdrlab.nn.pretrained.checkpoint_path": Spec(pretrained.checkpoint_path,
                                                     lambda: {"url": "https://example.org/w.pth"},
                                                     {"url": {"None": lambda v: None, "int": lambda v: 3,
                                                              "empty": lambda v: ""},
                                                      "file_name": {"int": lambda v: 3, "path": lambda v: "a/b.pth"}}),
        "hdrlab.nn.pretrained.load_hub_weights": Spec(pretrained.load_hub_weights,
                                                      lambda: {"url": "https://example.org/w.pth", "what": "weights",
                                                               "pretrained": False},
                                                      {"url": {"None": lambda v: None, "int": lambda v: 3},
                                                       "what": {"None": lambda v: None},
                                                       "pretrained": {"str": lambda v: "yes", "None": lambda v: None}}),
        "hdrlab.nn.pretrained.load_matching": Spec(pretrained.load_matching,
                                                   lambda: {"module": torch.nn.Linear(2, 2),
                                                            "state": torch.nn.Linear(2, 2).state_dict(),
                                                            "url": "https://example.org/w.pth", "what": "weights"},
                                                   {"module": {"str": lambda v: "model", "None": lambda v: None},
                                                    "state": {"None": lambda v: None, "list": lambda v: [1],
                                                              "unrelated": lambda v: {"x": torch.zeros(1)}},
                                                    "key_map": {"list": lambda v: ["a"]}}),
        # camera
        "hdrlab.imaging.camera.ev_to_time": Spec(camera.ev_to_time, lambda: {"ev": 1.0, "t_ref": 0.5},
                                                 {"ev": {"str": lambda v: "1", "None": lambda v: None,
                                                         "nan": lambda v: math.nan},
                                                  "t_ref": _POS_FLOAT}),
        "hdrlab.imaging.camera.time_to_ev": Spec(camera.time_to_ev, lambda: {"time": 1.0, "t_ref": 0.5},
                                                 {"time": _POS_FLOAT, "t_ref": _POS_FLOAT}),
        "hdrlab.imaging.camera.auto_exposure": Spec(camera.auto_exposure, lambda: {"radiance": _radiance(), "key": 0.18},
                                                    {"radiance": _RADIANCE, "key": _POS_FLOAT}),
        "hdrlab.imaging.camera.NoiseModel": Spec(camera.NoiseModel, lambda: {"shot": 0.01, "read": 0.001},
                                                 {"shot": _NONNEG_FLOAT, "read": _NONNEG_FLOAT}),
        "hdrlab.imaging.camera.quantize": Spec(camera.quantize, lambda: {"x": _image(), "bits": 8},
                                               {"x": _LDR, "bits": _BITS}),
        "hdrlab.imaging.camera.expose": Spec(camera.expose, lambda: {"radiance": _radiance(), "time": 0.1, "crf": "srgb",
                                                                     "bits": 8},
                                             {"radiance": _RADIANCE, "time": _POS_FLOAT, "crf": _CHOICE, "bits": _BITS,
                                              "noise": {"str": lambda v: "high", "int": lambda v: 3}}),
        "hdrlab.imaging.camera.linearize": Spec(camera.linearize, lambda: {"ldr": _image(), "crf": "srgb"},
                                                {"ldr": _LDR, "crf": _CHOICE}),
        "hdrlab.imaging.camera.simulate_brackets": Spec(
            camera.simulate_brackets, lambda: {"radiance": _radiance(), "exposures": [-1.0, 0.0, 1.0], "crf": "srgb",
                                               "unit": "ev"},
            {"radiance": _RADIANCE, "exposures": {"str": lambda v: "-1,0,1", "None": lambda v: None, "empty": lambda v: [],
                                                  "nan": lambda v: [math.nan, 0.0]},
             "crf": _CHOICE, "unit": _CHOICE, "t_ref": {"negative": lambda v: -1.0, "str": lambda v: "1"},
             "bits": _BITS, "generator": _GENERATOR}),
        "hdrlab.imaging.camera.clipped_fraction": Spec(camera.clipped_fraction, lambda: {"ldr": _image(), "bits": 8},
                                                       {"ldr": _LDR, "bits": _BITS}),
        # crf
        "hdrlab.imaging.crf.ResponseCurve": Spec(crf.ResponseCurve, lambda: {"name": "mine", "description": "a test",
                                                                             "fn": lambda x: x.sqrt()},
                                                 {"name": {"None": lambda v: None, "int": lambda v: 3, "empty": lambda v: ""},
                                                  "description": {"None": lambda v: None},
                                                  "fn": {"None": lambda v: None, "str": lambda v: "sqrt",
                                                         "decreasing": lambda v: (lambda x: 1 - x)},
                                                  "inverse_fn": {"str": lambda v: "square"}}),
        "hdrlab.imaging.crf.check_bit_depth": Spec(crf.check_bit_depth, lambda: {"bits": 8}, {"bits": _BITS}),
        "hdrlab.imaging.crf.get_response_curve": Spec(crf.get_response_curve, lambda: {"name_or_curve": "srgb"},
                                                      {"name_or_curve": _CHOICE}),
        "hdrlab.imaging.crf.log_inverse_response": Spec(crf.log_inverse_response, lambda: {"crf": "srgb", "bits": 8},
                                                        {"crf": _CHOICE, "bits": _BITS}),
        "hdrlab.imaging.crf.debevec_system": Spec(
            crf.debevec_system, lambda: {"codes": torch.randint(0, 256, (20, 3)), "log_times": _times().log().double(),
                                         "smoothness": 10.0, "weights": torch.ones(256)},
            {"codes": {**_NOT_A_TENSOR, "float": lambda v: v.float(), "too_big": lambda v: v + 256,
                       "rank1": lambda v: v[0]},
             "log_times": {**_NOT_A_TENSOR, "nan": lambda v: v * math.nan, "longer": lambda v: torch.cat([v, v])},
             "smoothness": _NONNEG_FLOAT,
             "weights": {**_NOT_A_TENSOR, "negative": lambda v: -v, "nan": lambda v: v * math.nan,
                         "short": lambda v: v[:2]}}),
        "hdrlab.imaging.crf.recover_debevec": Spec(crf.recover_debevec, lambda: {"stack": _stack(), "times": _times()},
                                                   {"stack": _LDR, "times": _TIMES, "bits": _BITS, "samples": _POS_INT,
                                                    "sampling": _CHOICE, "smoothness": _NONNEG_FLOAT, "weight": _CHOICE,
                                                    "generator": _GENERATOR},
                                                   skip={("bits", "None"), ("samples", "None"), ("smoothness", "None")}),
        "hdrlab.imaging.crf.recover_robertson": Spec(crf.recover_robertson, lambda: {"stack": _stack(), "times": _times(),
                                                                                     "iterations": 3},
                                                     {"stack": _LDR, "times": _TIMES, "bits": _BITS, "weight": _CHOICE,
                                                      "iterations": _POS_INT, "tolerance": _NONNEG_FLOAT}),
        "hdrlab.imaging.crf.response_error_stops": Spec(crf.response_error_stops, lambda: {"g_est": _g(), "g_true": _g()},
                                                        {"g_est": _RESPONSE, "g_true": _RESPONSE,
                                                         "low": {"negative": lambda v: -0.1, "nan": lambda v: math.nan,
                                                                 "str": lambda v: "0"},
                                                         "high": {"above1": lambda v: 1.5, "below_low": lambda v: 0.01}}),
        "hdrlab.imaging.crf.sample_pixels": Spec(crf.sample_pixels, lambda: {"stack": _stack(), "count": 10},
                                                 {"stack": _LDR, "count": _POS_INT, "method": _CHOICE,
                                                  "generator": _GENERATOR}),
        # weights
        "hdrlab.imaging.weights.exposure_weight": Spec(weights.exposure_weight, lambda: {"ldr": _image(), "kind": "hat"},
                                                       {"ldr": {**_NOT_A_TENSOR, "nan": _TENSOR["nan"],
                                                                "above1": _LDR["above1"]}, "kind": _CHOICE}),
        "hdrlab.imaging.weights.weight_lut": Spec(weights.weight_lut, lambda: {"kind": "hat", "bits": 8},
                                                  {"kind": _CHOICE, "bits": _BITS}),
        # align
        "hdrlab.imaging.align.align_mtb": Spec(align.align_mtb, lambda: {"stack": _stack(h=32, w=32), "max_bits": 3},
                                               {"stack": _LDR, "max_bits": _NONNEG_INT, "exclude_range": _NONNEG_INT,
                                                "cut": _BOOL}),
        "hdrlab.imaging.align.median_threshold_bitmap": Spec(
            align.median_threshold_bitmap, lambda: {"grey": torch.randint(0, 256, (16, 16), dtype=torch.uint8)},
            {"grey": {**_NOT_A_TENSOR, "rank3": lambda v: v[None, None], "float": lambda v: v.float() / 255 + 1},
             "exclude_range": _NONNEG_INT}),
        "hdrlab.imaging.align.shift_image": Spec(align.shift_image, lambda: {"image": _image(), "shift": (1, -2)},
                                                 {"image": _NOT_A_TENSOR, "shift": {"str": lambda v: "1,2",
                                                                                   "float": lambda v: (1.5, 0),
                                                                                   "one": lambda v: (1,),
                                                                                   "None": lambda v: None}}),
        # deghost
        "hdrlab.imaging.deghost.ghost_masks": Spec(deghost.ghost_masks, lambda: {"stack": _stack(), "times": _times(),
                                                                                 "g": _g()},
                                                   {"stack": _LDR, "times": _TIMES, "g": _RESPONSE, "threshold": _POS_FLOAT,
                                                    "grow": _NONNEG_INT, "reference": {**_NONNEG_INT, "big": lambda v: 3}},
                                                   skip={("reference", "None")}),
        "hdrlab.imaging.deghost.merge_deghosted": Spec(deghost.merge_deghosted,
                                                       lambda: {"stack": _stack(), "times": _times(), "g": _g()},
                                                       {"stack": _LDR, "times": _TIMES, "g": _RESPONSE,
                                                        "threshold": _POS_FLOAT, "weight": _CHOICE}),
        # scenes
        "hdrlab.data.scenes.data_dir": Spec(scenes.data_dir, dict, {}),
        "hdrlab.data.scenes.list_scenes": Spec(scenes.list_scenes, lambda: {"kind": None},
                                               {"kind": {"unknown": _CHOICE["unknown"], "int": _CHOICE["int"]}}),
        "hdrlab.data.scenes.scene_info": Spec(scenes.scene_info, lambda: {"name": "blender_interior"}, {"name": _CHOICE}),
        "hdrlab.data.scenes.load_scene": Spec(scenes.load_scene, lambda: {"name": "blender_interior", "max_side": 32},
                                              {"name": _CHOICE, "max_side": {k: f for k, f in _POS_INT.items()
                                                                             if k != "None"}}),
        "hdrlab.data.scenes.center_crop": Spec(scenes.center_crop, lambda: {"image": _radiance(), "size": (8, 8)},
                                               {"image": _IMAGE, "size": {**_SIZE, "too_big": lambda v: (99, 99)}}),
        "hdrlab.data.scenes.random_crop": Spec(scenes.random_crop, lambda: {"image": _radiance(), "size": (8, 8)},
                                               {"image": _IMAGE, "size": {**_SIZE, "too_big": lambda v: (99, 99)},
                                                "generator": _GENERATOR}),
        "hdrlab.data.scenes.resize_area": Spec(scenes.resize_area, lambda: {"image": _radiance(), "size": (8, 8)},
                                               {"image": _IMAGE, "size": _SIZE}),
        "hdrlab.data.scenes.perspective_crop": Spec(
            scenes.perspective_crop, lambda: {"panorama": _radiance(32, 64), "size": (8, 8)},
            {"panorama": _IMAGE, "size": _SIZE, "fov_deg": {**_POS_FLOAT, "wide": lambda v: 200.0},
             "yaw_deg": {"nan": lambda v: math.nan, "str": lambda v: "0"},
             "pitch_deg": {"nan": lambda v: math.nan, "straight_up": lambda v: 120.0}}),
        "hdrlab.data.scenes.split_scenes": Spec(scenes.split_scenes, lambda: {"seed": 0},
                                                {"seed": _SEED, "fractions": {"sum": lambda v: (0.5, 0.5, 0.5),
                                                                              "two": lambda v: (0.5, 0.5),
                                                                              "negative": lambda v: (1.2, -0.1, -0.1),
                                                                              "str": lambda v: "70/15/15"}}),
        "hdrlab.data.scenes.dynamic_range_stops": Spec(scenes.dynamic_range_stops, lambda: {"radiance": _radiance()},
                                                       {"radiance": _RADIANCE, "low_percentile": _PERCENT,
                                                        "high_percentile": _PERCENT}),
        # env
        "hdrlab.env.seed_everything": Spec(env.seed_everything, lambda: {"seed": 0}, {"seed": _SEED}),
        "hdrlab.env.pin_threads": Spec(env.pin_threads, lambda: {"count": torch.get_num_threads()},
                                       {"count": {**_POS_INT, "None": lambda v: None}}),
        "hdrlab.env.device": Spec(env.device, lambda: {"preference": "cpu"}, {"preference": _CHOICE}),
        "hdrlab.env.profile": Spec(env.profile, lambda: {"name": "quick"}, {"name": _CHOICE}),
        "hdrlab.env.in_colab": Spec(env.in_colab, dict, {}),
        "hdrlab.env.versions": Spec(env.versions, dict, {}),
        "hdrlab.env.setup": Spec(env.setup, lambda: {"seed": 0, "device": "cpu", "profile": "quick",
                                                     "threads": torch.get_num_threads(), "verbose": False},
                                 {"seed": _SEED, "device": _CHOICE, "profile": _CHOICE, "threads": _POS_INT,
                                  "verbose": _BOOL}),
    }


def _spec_names() -> list[str]:
    return sorted(_specs(_fixture_dir()).keys())


def _fixture_dir() -> Path:
    import tempfile

    folder = Path(tempfile.gettempdir()) / "hdrlab-fuzz-files"
    folder.mkdir(exist_ok=True)
    return folder


def _perturbations(specs: dict[str, Spec]) -> list[tuple[str, str, str]]:
    """``(name, argument, label)`` of every invalid value of every spec, but those its ``skip`` allows."""
    return [(name, argument, label) for name, spec in sorted(specs.items())
            for argument, labels in spec.kinds.items() for label in labels if (argument, label) not in spec.skip]


def _missing_specs(modules: tuple[str, ...], specs: dict[str, Spec], containers: set[str]) -> list[str]:
    """The public callables of ``modules`` with neither a spec nor a place among the data ``containers``."""
    missing = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            qualified = f"{module_name}.{name}"
            if callable(getattr(module, name)) and qualified not in specs and qualified not in containers:
                missing.append(qualified)
    return missing


def _assert_typed_error(spec: Spec, argument: str, label: str) -> None:
    """The spec's valid call with ``argument`` made invalid by ``label`` raises an HdrlabError saying what it expected."""
    arguments = spec.make()
    arguments[argument] = spec.kinds[argument][label](arguments.get(argument))
    with pytest.raises(HdrlabError) as caught:
        spec.call(**arguments)
    assert "Expected" in str(caught.value), str(caught.value)


@pytest.fixture(scope="module")
def specs() -> dict[str, Spec]:
    return _specs(_fixture_dir())


def test_every_public_callable_has_a_spec(specs):
    missing = _missing_specs(COVERED_MODULES, specs, CONTAINERS)
    assert not missing, f"public callables without a fuzz spec: {missing} (add one to tests/test_fuzz.py)"


@pytest.mark.parametrize("name", _spec_names())
def test_the_valid_call_works(specs, name):
    spec = specs[name]
    if name == "hdrlab.metrics.cvvdp_jod":
        pytest.importorskip("pycvvdp", reason="the cvvdp package is not installed")
    spec.call(**spec.make())


@pytest.mark.parametrize(("name", "argument", "label"), _perturbations(_specs(_fixture_dir())))
def test_bad_input_is_a_typed_explained_error(specs, name, argument, label):
    if name == "hdrlab.metrics.cvvdp_jod":
        pytest.importorskip("pycvvdp", reason="the cvvdp package is not installed")
    _assert_typed_error(specs[name], argument, label)


def test_mixed_dtypes_are_rejected_outside_autocast_only():
    from hdrlab.errors import DTypeError
    from hdrlab.nn.losses import contextual_bilateral_loss
    from hdrlab.validate import check_same_dtype

    low, single = torch.rand(1, 4, 4, 4).bfloat16(), torch.rand(1, 4, 4, 4)
    with pytest.raises(DTypeError, match="Expected"):
        check_same_dtype(low, single)
    check_same_dtype(single, single.clone())
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision training: autocast casts the operands
        check_same_dtype(low, single)
        assert torch.isfinite(contextual_bilateral_loss(low, single))
