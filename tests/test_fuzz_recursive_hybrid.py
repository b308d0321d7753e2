"""Every public call of chapters 4 and 5 (``methods.recursive``, ``methods.hybrid``) rejects bad input with a typed error.

The machinery is :mod:`test_fuzz`'s (see its docstring): for each public callable a :class:`Spec`
gives one valid call and, per argument, invalid values; every one must raise an ``HdrlabError``
whose message says what was ``Expected``. Models are tiny (widths 1-2, 16 px images; the hybrid
encoder is built with ``pretrained=False``: its weights cannot be downloaded here). The training
functions' valid calls train, so they are made in ``test_recursive.py`` / ``test_hybrid.py``; here
their cheap arguments are perturbed, each of which must fail before anything is built.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from test_fuzz import (
    _BOOL,
    _CHANNELS,
    _CHOICE,
    _FEATURES,
    _IMAGE,
    _LDR,
    _NONNEG_FLOAT,
    _NONNEG_INT,
    _NOT_A_TENSOR,
    _PATH,
    _POS_FLOAT,
    _POS_INT,
    _RADIANCE,
    _SEED,
    _TENSOR,
    Spec,
    _assert_typed_error,
    _image,
    _missing_specs,
    _perturbations,
    _radiance,
    _stack,
)
from torch import nn

from hdrlab import io, train, validate

COVERED_MODULES = ("hdrlab.methods.recursive", "hdrlab.methods.hybrid")
#: Public names that are data containers or classes checked elsewhere, not calls to fuzz.
CONTAINERS = {"hdrlab.methods.hybrid.LogStats"}
#: Training entry points: their valid call trains (tests/test_recursive.py, tests/test_hybrid.py do it).
TRAINS = {"hdrlab.methods.recursive.train_recursive", "hdrlab.methods.hybrid.train_hybrid"}

_TINY = {"global_width": 2, "edge_width": 2, "refine_width": 2, "global_levels": 2, "edge_levels": 2,
         "refine_levels": 2}
_NOT_A_MODEL = {"str": lambda v: "model", "None": lambda v: None, "list": lambda v: [v],
                "other_module": lambda v: nn.Linear(2, 2)}
_PRETRAINED = {"str": lambda v: "yes", "None": lambda v: None, "int": lambda v: 1}
_RESUME = {"str": lambda v: "yes", "None": lambda v: None, "int": lambda v: 1}
_NOT_A_MAPPING = {"str": lambda v: "scores", "None": lambda v: None, "list": lambda v: [v]}
_LOG = {**_TENSOR, "above1": lambda v: v + 2.0, "below-1": lambda v: v - 2.0}
_CRFS = {"str": lambda v: "srgb", "None": lambda v: None, "empty": lambda v: (), "unknown": lambda v: ("nope",),
         "int": lambda v: (3,)}
_EVS = {"str": lambda v: "0,1", "None": lambda v: None, "empty": lambda v: (), "nan": lambda v: (math.nan,)}


def _drop(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def _nan(x: torch.Tensor) -> torch.Tensor:
    return x.clone().fill_(math.nan)


_CACHE: dict[str, object] = {}


def _cached(key: str, build):
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


# --- recursive ------------------------------------------------------------------------------------------------------


def _recursive_settings():
    from hdrlab.methods import recursive

    return replace(recursive.PROFILES["quick"], **_TINY)


def _recursive_model():
    from hdrlab.methods import recursive

    return _cached("recursive_model", lambda: recursive.RecursiveHDRNet(**_TINY))


def _brackets() -> list[dict]:
    from hdrlab.methods import recursive

    return list(_cached("brackets", lambda: recursive.held_out_brackets(["room_windows"], 16, ("srgb",))))


def _recursive_batch() -> dict:
    return {"stack": _stack(7)[None], "times": torch.exp2(torch.arange(-3.0, 4.0))[None]}


def _recursive_out() -> dict:
    def build():
        with torch.no_grad():
            return _recursive_model()(_recursive_batch()["stack"][:, 3])
    return dict(_cached("recursive_out", build))


def _recursive_run(tmp: Path, variant: str = "good") -> Path:
    """A finished-looking run of :func:`train_recursive` (tiny model, one checkpoint), or a broken copy of it."""
    from hdrlab.methods import recursive

    good = tmp / "recursive-run"
    if not good.exists():
        settings = _recursive_settings()
        (good / "stage_c").mkdir(parents=True)
        (good / "settings.json").write_text(json.dumps({**asdict(settings), "ablation": "reference"}))
        train.save_checkpoint(good / "stage_c" / "checkpoints" / "step_00000001.pt",
                              model=recursive.build_model(settings), step=1)
    return _broken_copy(good, variant, "global_width")


def _broken_copy(good: Path, variant: str, key: str) -> Path:
    if variant == "good":
        return good
    run = good.with_name(f"{good.name}-{variant}")
    if not run.exists():
        shutil.copytree(good, run)
        record = json.loads((good / "settings.json").read_text())
        content = {"corrupt": "{not json", "empty": "", "braces": "{}", "list": "[1, 2]",
                   "missing_key": json.dumps(_drop(record, key)),
                   "unknown_key": json.dumps({**record, "colour": 1}),
                   "bad_value": json.dumps({**record, key: "wide"})}[variant]
        (run / "settings.json").write_text(content)
    return run


_RUN = ("corrupt", "empty", "braces", "list", "missing_key", "unknown_key", "bad_value")


def _recursive_specs(tmp: Path) -> dict[str, Spec]:
    from hdrlab.methods import recursive as rec

    def unet(x, condition=0, state=None, **options):
        return rec.RecurrentUNet(**options)(x, condition, state)

    def stop_step(x, index=0, state=None, refine=True, **options):
        return rec.StopNet(**options).step(x, index, state, refine)

    def hdr_net(ldr, refine=True, **options):
        return rec.RecursiveHDRNet(**options)(ldr, refine)

    def direct_net(ldr, refine=True, **options):
        return rec.DirectStackNet(**options)(ldr, refine)

    def loss(out, batch, stage="b", **options):
        return rec.RecursiveLoss(**options)(out, batch, stage)

    ldr_batch = {**_LDR, "float16": lambda v: v.half(), "no_batch": lambda v: v[0], "odd": lambda v: v[..., :15, :15]}
    widths = {name: _CHANNELS for name in ("global_width", "edge_width", "refine_width")}
    levels = {name: _POS_INT for name in ("global_levels", "edge_levels", "refine_levels", "steps", "convs_per_level")}
    switches = {name: _BOOL for name in ("recurrent", "conditional", "decomposition")}
    weights = {**rec.LOSS_WEIGHTS, "cobi": 0.0}
    quick = asdict(rec.PROFILES["quick"])
    settings_kinds = {
        **{name: _POS_INT for name in ("global_width", "edge_width", "refine_width", "global_levels", "edge_levels",
                                       "refine_levels", "convs_per_level", "batch_size", "log_every",
                                       "train_max_side", "samples", "eval_max_side", "eval_every",
                                       "checkpoint_every")},
        "size": {**_POS_INT, "odd": lambda v: 33},
        **{name: _NONNEG_INT for name in ("steps_a", "steps_b", "steps_c")},
        **{name: _POS_FLOAT for name in ("lr", "refine_lr", "mu")},
        **{name: _NONNEG_FLOAT for name in ("weight_decay", "global_weight", "hist_weight", "edge_weight",
                                            "refine_weight", "cobi_weight", "hdr_weight")},
        **{name: {**_NONNEG_FLOAT, "one": lambda v: 1.0} for name in ("beta1", "beta2")},
        "train_crfs": _CRFS, "eval_crfs": _CRFS, "amp": _CHOICE, "hist_loss": _CHOICE, "hdr_backward": _CHOICE,
    }
    scores = {"stack_psnr/-3/naive": 20.0, "stack_ssim/-3/naive": 0.5}
    hdr_scores = {"mu_psnr/naive": 20.0, "tm_psnr/naive": 21.0, "tm_ssim/naive": 0.6}
    ablation_scores = {"stack_psnr/+1/generated": 30.0, "mu_psnr/generated": 25.0, "tm_psnr/generated": 26.0,
                       "tm_ssim/generated": 0.9}
    name = "hdrlab.methods.recursive."
    return {
        name + "canny_edges": Spec(rec.canny_edges, lambda: {"ldr": _image(), "sigma": 2.0, "thresholds": (50, 150)},
                                   {"ldr": _LDR, "sigma": _POS_FLOAT,
                                    "thresholds": {"str": lambda v: "50,150", "None": lambda v: None,
                                                   "one": lambda v: (50.0,), "reversed": lambda v: (150, 50),
                                                   "nan": lambda v: (math.nan, 150), "negative": lambda v: (-1, 150),
                                                   "items": lambda v: ("a", "b")}}),
        name + "RecurrentUNet": Spec(unet, lambda: {"x": torch.rand(1, 3, 8, 8), "in_channels": 3, "out_channels": 3,
                                                    "levels": 2, "base_width": 2},
                                     {"x": _FEATURES, "in_channels": _CHANNELS, "out_channels": _CHANNELS,
                                      "levels": _POS_INT, "base_width": _CHANNELS, "num_conditions": _CHANNELS,
                                      "recurrent": _BOOL, "conditional": _BOOL, "head": _CHOICE,
                                      "convs_per_level": _POS_INT,
                                      "condition": {"too_big": lambda v: 3, "negative": lambda v: -1,
                                                    "str": lambda v: "one", "float": lambda v: 1.5},
                                      "state": {"str": lambda v: "zeros", "channels": lambda v: torch.rand(1, 3, 4, 4),
                                                "size": lambda v: torch.rand(1, 4, 2, 2)}}),
        name + "StopNet": Spec(stop_step, lambda: {"x": _image()[None], **_TINY},
                               {"x": _FEATURES, **widths, **levels, **switches, "refine": _BOOL,
                                "index": {"too_big": lambda v: 3, "negative": lambda v: -1, "str": lambda v: "0",
                                          "float": lambda v: 0.5},
                                "state": {"str": lambda v: "zeros", "one": lambda v: (None,),
                                          "list": lambda v: [None, None]}}),
        name + "RecursiveHDRNet": Spec(hdr_net, lambda: {"ldr": _image()[None], **_TINY},
                                       {"ldr": ldr_batch, **widths, **levels, **switches, "refine": _BOOL}),
        name + "DirectStackNet": Spec(direct_net, lambda: {"ldr": _image()[None], "width": 2, "levels": 2},
                                      {"ldr": ldr_batch, "width": _CHANNELS, "levels": _POS_INT, "steps": _POS_INT,
                                       "convs_per_level": _POS_INT, "refine": _BOOL}),
        name + "hdr_loss": Spec(rec.hdr_loss, lambda: {"pred_hdr": _radiance()[None], "target_hdr": _radiance()[None]},
                                {"pred_hdr": _RADIANCE, "target_hdr": {**_RADIANCE, "black": lambda v: v * 0},
                                 "mu": _POS_FLOAT}),
        name + "RecursiveLoss": Spec(loss, lambda: {"out": _recursive_out(), "batch": _recursive_batch(),
                                                    "weights": dict(weights)},
                                     {"out": {**_NOT_A_MAPPING, "missing": lambda v: _drop(v, "edges")},
                                      "batch": {**_NOT_A_MAPPING, "missing": lambda v: _drop(v, "times")},
                                      "stage": {**_CHOICE, "list": lambda v: ["a"]},
                                      "weights": {"str": lambda v: "1", "list": lambda v: [1.0],
                                                  "negative": lambda v: {**v, "hdr": -1.0},
                                                  "nan": lambda v: {**v, "hdr": math.nan},
                                                  "bool": lambda v: {**v, "hdr": True},
                                                  "missing": lambda v: _drop(v, "hdr")},
                                      "mu": _POS_FLOAT, "pretrained": _PRETRAINED,
                                      "histogram": {**_CHOICE, "list": lambda v: ["emd"]}, "backward": _CHOICE}),
        name + "loss_terms": Spec(rec.loss_terms, lambda: {"model": _recursive_model(), "batch": _recursive_batch(),
                                                           "criterion": rec.RecursiveLoss(weights), "stage": "c"},
                                  {"model": _NOT_A_MODEL,
                                   "batch": {**_NOT_A_MAPPING, "missing": lambda v: _drop(v, "times"),
                                             "nan": lambda v: {**v, "stack": _nan(v["stack"])},
                                             "above1": lambda v: {**v, "stack": v["stack"] + 1},
                                             "int64": lambda v: {**v, "stack": (v["stack"] * 255).long()},
                                             "descending": lambda v: {**v, "times": v["times"].flip(-1)},
                                             "frames": lambda v: {"stack": v["stack"][:, :5],
                                                                  "times": v["times"][:, :5]},
                                             "no_batch": lambda v: {"stack": v["stack"][0], "times": v["times"][0]}},
                                   "criterion": {**_NOT_A_MODEL, "other_module": lambda v: nn.L1Loss()},
                                   "stage": _CHOICE}),
        name + "Settings": Spec(rec.Settings, lambda: dict(quick), settings_kinds),
        name + "settings_for": Spec(rec.settings_for, lambda: {"profile": "quick", "steps": 4, "ablation": "baseline"},
                                    {"profile": _CHOICE, "steps": _drop(_POS_INT, "None"),
                                     "ablation": {**_CHOICE, "list": lambda v: ["reference"]}}),
        name + "build_model": Spec(rec.build_model, lambda: {"settings": _recursive_settings(), "ablation": "+cin"},
                                   {"settings": {"str": lambda v: "quick", "None": lambda v: None,
                                                 "dict": lambda v: asdict(v)},
                                    "ablation": _CHOICE}),
        name + "stage_parameters": Spec(rec.stage_parameters, lambda: {"model": _recursive_model(), "stage": "a"},
                                        {"model": _drop(_NOT_A_MODEL, "other_module"), "stage": _CHOICE}),
        name + "generate": Spec(rec.generate, lambda: {"model": _recursive_model(), "ldr": _image(11, 16)},
                                {"model": _NOT_A_MODEL, "ldr": {**_LDR, "float16": lambda v: v.half(),
                                                                "batch": lambda v: v[None]}}),
        name + "held_out_brackets": Spec(rec.held_out_brackets, lambda: {"names": ["room_windows"], "max_side": 16,
                                                                         "crfs": ("srgb",)},
                                         {"names": {"unknown": lambda v: "no-such-scene", "None": lambda v: None,
                                                    "int": lambda v: 3, "empty": lambda v: [], "items": lambda v: [3]},
                                          "max_side": _POS_INT, "crfs": _CRFS}),
        name + "evaluate": Spec(rec.evaluate, lambda: {"model": _recursive_model(), "brackets": _brackets()},
                                {"model": _NOT_A_MODEL,
                                 "brackets": {"str": lambda v: "test", "None": lambda v: None, "empty": lambda v: [],
                                              "dict": lambda v: v[0], "missing": lambda v: [_drop(v[0], "hdr")],
                                              "nan": lambda v: [{**v[0], "ldr": _nan(v[0]["ldr"])}],
                                              "evs": lambda v: [{**v[0], "evs": "-3..3"}],
                                              "stack": lambda v: [{**v[0], "stack": v[0]["stack"][:5]}]},
                                 "other_generators": {"str": lambda v: "naive", "list": lambda v: [lambda ldr, evs: 0],
                                                      "value": lambda v: {"x": 3},
                                                      "returns_str": lambda v: {"x": lambda ldr, evs: "stack"},
                                                      "wrong_shape": lambda v: {"x": lambda ldr, evs: ldr}},
                                 "hdr_predictors": {"str": lambda v: "expandnet", "value": lambda v: {"x": 3},
                                                    "returns_nan": lambda v: {"x": lambda ldr: _nan(ldr)},
                                                    "wrong_shape": lambda v: {"x": lambda ldr: ldr[:, :8]}}}),
        name + "stack_table": Spec(rec.stack_table, lambda: {"scores": dict(scores)},
                                   {"scores": {**_NOT_A_MAPPING, "missing": lambda v: _drop(v, "stack_ssim/-3/naive"),
                                               "value": lambda v: {**v, "stack_psnr/-3/naive": "20"}}}),
        name + "hdr_table": Spec(rec.hdr_table, lambda: {"scores": dict(hdr_scores)},
                                 {"scores": {**_NOT_A_MAPPING, "missing": lambda v: _drop(v, "mu_psnr/naive"),
                                             "value": lambda v: {**v, "tm_ssim/naive": None}}}),
        name + "ablation_table": Spec(rec.ablation_table, lambda: {"results": {"reference": dict(ablation_scores)}},
                                      {"results": {**_NOT_A_MAPPING, "inner": lambda v: {"reference": "scores"},
                                                   "missing": lambda v: {"r": _drop(ablation_scores,
                                                                                    "tm_ssim/generated")},
                                                   "no_frames": lambda v: {"r": _drop(ablation_scores,
                                                                                      "stack_psnr/+1/generated")}}}),
        name + "train_recursive": Spec(rec.train_recursive,
                                       lambda: {"out_dir": tmp / "train-recursive", "profile": "quick", "steps": 1,
                                                "progress": "none", "device": "cpu", "pretrained": False},
                                       {"out_dir": _PATH, "profile": _CHOICE, "ablation": _CHOICE, "resume": _RESUME,
                                        "overwrite": _BOOL, "steps": _drop(_POS_INT, "None"), "device": _CHOICE,
                                        "seed": _SEED,
                                        "progress": _CHOICE, "pretrained": _PRETRAINED}),
        name + "load_trained": Spec(rec.load_trained, lambda: {"run_dir": _recursive_run(tmp), "device": "cpu"},
                                    {"run_dir": {**_PATH, "missing": lambda v: tmp / "no-such-run",
                                                 **{k: (lambda v, k=k: _recursive_run(tmp, k)) for k in _RUN}},
                                     "device": _CHOICE}),
    }


# --- hybrid ---------------------------------------------------------------------------------------------------------


def _hybrid_model():
    from hdrlab.methods import hybrid

    return _cached("hybrid_model", lambda: hybrid.HybridAutoencoder("pixel_shuffle", 1, pretrained=False))


def _pairs() -> list[dict]:
    from hdrlab.methods import hybrid

    return list(_cached("pairs", lambda: hybrid.held_out_pairs(64, (0.0,), ("srgb",))[:1]))


def _hybrid_batch() -> dict:
    return {"ldr": _image(32, 64)[None], "hdr": _radiance(32, 64)[None]}


def _pair_folder(tmp: Path) -> Path:
    """A SingleHDR-layout folder (``LDR_in/``, ``HDR_gt/``) with one 64 px pair."""
    root = tmp / "singlehdr"
    if not root.exists():
        (root / "LDR_in").mkdir(parents=True)
        (root / "HDR_gt").mkdir()
        io.write_ldr(root / "LDR_in" / "a.png", _image(64, 64))
        io.write_hdr(root / "HDR_gt" / "a.hdr", _image(64, 64) * 4)
    return root


def _hybrid_run(tmp: Path, variant: str = "good") -> Path:
    """A finished-looking run of :func:`train_hybrid` (width 1, one checkpoint), or a broken copy of it."""
    from hdrlab.methods import hybrid

    good = tmp / "hybrid-run"
    if not good.exists():
        settings = replace(hybrid.PROFILES["quick"], width=1)
        good.mkdir()
        record = {**asdict(settings), "ablation": None, "steps": 1, "data_root": None, "imagenet_encoder": False,
                  "lpips_backbone": False}
        (good / "settings.json").write_text(json.dumps(record))
        train.save_checkpoint(good / "checkpoints" / "step_00000001.pt", model=hybrid.build_model(settings, False),
                              step=1)
    return _broken_copy(good, variant, "width")


def _hybrid_specs(tmp: Path) -> dict[str, Spec]:
    from hdrlab.methods import hybrid as hyb

    def encoder(x, **options):
        return hyb.MobileNetEncoder(**options)(x)

    def autoencoder(ldr, **options):
        return hyb.HybridAutoencoder(**options)(ldr)

    def loss(pred, target, ldr=None, **options):
        return hyb.HybridLoss(**options)(pred, target, ldr)

    log_image = lambda: _image() * 2 - 1  # noqa: E731
    k = {"str": lambda v: "1", "None": lambda v: None, "float": lambda v: 1.0, "bool": lambda v: True,
         "eight": lambda v: 8, "negative": lambda v: -1}
    planar = {**_NOT_A_TENSOR, "rank1": lambda v: v.flatten()}
    stats = {"str": lambda v: "stats", "list": lambda v: [0.0, 1.0], "narrow": lambda v: hyb.LogStats(
        torch.zeros(1, 1, 1), torch.full((1, 1, 1), 1e-3)), "reversed": lambda v: hyb.LogStats(
        torch.ones(1, 1, 1), torch.zeros(1, 1, 1)), "nan": lambda v: hyb.LogStats(torch.zeros(1, 1, 1),
                                                                                   torch.full((1, 1, 1), math.nan))}
    ldr32 = {**_LDR, "float16": lambda v: v.half(), "odd": lambda v: v[..., :30, :]}
    quick = asdict(hyb.PROFILES["quick"])
    settings_kinds = {
        "upsampler": _CHOICE, "rescale_input": _BOOL,
        **{name: _POS_INT for name in ("width", "batch_size", "epochs", "samples", "eval_every_epochs",
                                       "checkpoint_every_epochs", "train_max_side", "eval_max_side")},
        **{name: {**_POS_INT, "odd": lambda v: 48} for name in ("size", "embedded_size")},
        "lr": _POS_FLOAT, "l1_weight": _NONNEG_FLOAT, "lpips_weight": _NONNEG_FLOAT,
        "alpha": _drop(_NONNEG_FLOAT, "None"),
        "betas": {"str": lambda v: "0.5", "None": lambda v: None, "one": lambda v: (0.5,), "big": lambda v: (0.5, 1.0),
                  "negative": lambda v: (-0.5, 0.9), "nan": lambda v: (math.nan, 0.9)},
        "train_evs": _EVS, "eval_evs": _EVS, "eval_crfs": _CRFS,
    }
    scores = {"psnr_log/ldr": 9.0, "psnr_log_project/ldr": 2.98, "ssim_log/ldr": 0.5}
    study = {"checkerboard/hybrid": 0.002, "checkerboard/target": 0.0001, "psnr_log/hybrid": 20.0,
             "psnr_tm/hybrid": 18.0}
    name = "hdrlab.methods.hybrid."
    return {
        name + "keep_pair": Spec(hyb.keep_pair, lambda: {"hdr": _radiance()}, {"hdr": _RADIANCE}),
        name + "dihedral": Spec(hyb.dihedral, lambda: {"image": _image(), "k": 5}, {"image": planar, "k": k}),
        name + "undo_dihedral": Spec(hyb.undo_dihedral, lambda: {"image": _image(), "k": 5}, {"image": planar, "k": k}),
        name + "alignment_display": Spec(hyb.alignment_display, lambda: {"hdr": _radiance()},
                                         {"hdr": {**_RADIANCE, "black": lambda v: v * 0}}),
        name + "alignment_scores": Spec(hyb.alignment_scores, lambda: {"ldr": _image(), "hdr": _radiance()},
                                        {"ldr": _LDR, "hdr": _RADIANCE, "patch": {**_POS_INT, "small": lambda v: 5}}),
        name + "align_pair": Spec(hyb.align_pair, lambda: {"ldr": _image(), "hdr": _radiance()},
                                  {"ldr": _LDR, "hdr": {**_RADIANCE, "other_shape": lambda v: v[:, :12]},
                                   "patch": {**_POS_INT, "small": lambda v: 5}}),
        name + "to_log_domain": Spec(hyb.to_log_domain, lambda: {"hdr": _radiance()},
                                     {"hdr": _RADIANCE, "stats": stats}),
        name + "from_log_domain": Spec(hyb.from_log_domain,
                                       lambda: {"x": log_image(), "stats": hyb.to_log_domain(_radiance())[1]},
                                       {"x": _LOG, "stats": _drop(stats, "narrow")}),
        name + "ldr_to_input": Spec(hyb.ldr_to_input, lambda: {"ldr": _image()}, {"ldr": _LDR, "rescale": _BOOL}),
        name + "reinhard_display": Spec(hyb.reinhard_display, lambda: {"hdr": _radiance()}, {"hdr": _RADIANCE}),
        name + "checkerboard_score": Spec(hyb.checkerboard_score, lambda: {"image": _image()},
                                          {"image": {**_IMAGE, "small": lambda v: v[..., :3, :3]}}),
        name + "MobileNetEncoder": Spec(encoder, lambda: {"x": torch.rand(1, 3, 32, 32), "pretrained": False},
                                        {"x": {**_FEATURES, "nan": lambda v: _nan(v)}, "pretrained": _PRETRAINED}),
        name + "HybridAutoencoder": Spec(autoencoder, lambda: {"ldr": _image(32, 64)[None], "upsampler": "resize_conv",
                                                               "width": 1, "pretrained": False},
                                         {"ldr": {**ldr32, "32x32": lambda v: v[..., :32]}, "upsampler": _CHOICE,
                                          "width": _CHANNELS, "pretrained": _PRETRAINED, "rescale_input": _BOOL}),
        name + "saturation_weight": Spec(hyb.saturation_weight, lambda: {"ldr": _image(), "alpha": 2.0},
                                         {"ldr": _LDR, "alpha": _NONNEG_FLOAT}),
        name + "HybridLoss": Spec(loss, lambda: {"pred": log_image()[None], "target": log_image()[None] * 0.5,
                                                 "ldr": _image()[None], "alpha": 1.0, "lpips_weight": 0.0,
                                                 "pretrained": False},
                                  {"pred": _LOG, "target": {**_LOG, "shape": lambda v: v[..., :8]},
                                   "ldr": {**_LDR, "shape": lambda v: v[..., :8]}, "l1_weight": _NONNEG_FLOAT,
                                   "lpips_weight": _NONNEG_FLOAT, "alpha": _drop(_NONNEG_FLOAT, "None"),
                                   "pretrained": _PRETRAINED}),
        name + "crop_to_stride": Spec(hyb.crop_to_stride, lambda: {"image": torch.zeros(3, 40, 70), "stride": 32},
                                      {"image": {**planar, "small": lambda v: v[..., :8, :8]}, "stride": _POS_INT}),
        name + "CleanedPairs": Spec(hyb.CleanedPairs, lambda: {"root": _pair_folder(tmp), "size": 32, "max_side": 64},
                                    {"root": {**_PATH, "missing": lambda v: tmp / "no-such-folder"},
                                     "size": {**_POS_INT, "small": lambda v: 16},
                                     "max_side": {**_drop(_POS_INT, "None"), "below_size": lambda v: 16},
                                     "seed": _SEED}),
        name + "held_out_pairs": Spec(hyb.held_out_pairs, lambda: {"max_side": 64, "evs": (0.0,), "crfs": ("srgb",)},
                                      {"max_side": {**_POS_INT, "small": lambda v: 16}, "evs": _EVS, "crfs": _CRFS,
                                       "split": {**_CHOICE, "train": lambda v: "train"}}),
        name + "Settings": Spec(hyb.Settings, lambda: dict(quick), settings_kinds),
        name + "project_log_psnr": Spec(hyb.project_log_psnr, lambda: {"candidate": log_image(),
                                                                       "target": log_image() * 0.5},
                                        {"candidate": _LOG, "target": {**_LOG, "shape": lambda v: v[..., :8]}}),
        name + "best_constant": Spec(hyb.best_constant, lambda: {"pairs": [{"hdr": _radiance()}]},
                                     {"pairs": {"str": lambda v: "val", "None": lambda v: None, "empty": lambda v: [],
                                                "dict": lambda v: v[0], "missing": lambda v: [{"ldr": _image()}],
                                                "nan": lambda v: [{"hdr": _nan(_radiance())}]}}),
        name + "settings_for": Spec(hyb.settings_for, lambda: {"profile": "quick", "ablation": "resize_conv"},
                                    {"profile": _CHOICE, "ablation": {**_drop(_CHOICE, "None"),
                                                                      "list": lambda v: ["resize_conv"]}}),
        name + "build_model": Spec(hyb.build_model, lambda: {"settings": replace(hyb.PROFILES["quick"], width=1),
                                                             "pretrained": False},
                                   {"settings": {"str": lambda v: "quick", "None": lambda v: None,
                                                 "dict": lambda v: asdict(v)},
                                    "pretrained": _PRETRAINED}),
        name + "loss_terms": Spec(hyb.loss_terms, lambda: {"model": _hybrid_model(), "batch": _hybrid_batch(),
                                                           "criterion": hyb.HybridLoss(lpips_weight=0.0,
                                                                                       pretrained=False)},
                                  {"model": _NOT_A_MODEL,
                                   "batch": {**_NOT_A_MAPPING, "missing": lambda v: _drop(v, "hdr"),
                                             "nan": lambda v: {**v, "hdr": _nan(v["hdr"])},
                                             "above1": lambda v: {**v, "ldr": v["ldr"] + 1},
                                             "float16": lambda v: {**v, "ldr": v["ldr"].half()}},
                                   "criterion": {**_NOT_A_MODEL, "other_module": lambda v: nn.L1Loss()}}),
        name + "predict": Spec(hyb.predict, lambda: {"model": _hybrid_model(), "ldr": _image(32, 64)},
                               {"model": _NOT_A_MODEL, "ldr": ldr32}),
        name + "evaluate": Spec(hyb.evaluate, lambda: {"model": _hybrid_model(), "pairs": _pairs(), "constant": 0.1},
                                {"model": _NOT_A_MODEL,
                                 "pairs": {"str": lambda v: "test", "None": lambda v: None, "empty": lambda v: [],
                                           "dict": lambda v: v[0], "missing": lambda v: [_drop(v[0], "hdr")],
                                           "nan": lambda v: [{**v[0], "ldr": _nan(v[0]["ldr"])}]},
                                 "expandnet_model": {**_drop(_NOT_A_MODEL, "None"),
                                                     "hybrid": lambda v: _hybrid_model()},
                                 "constant": {"nan": lambda v: math.nan, "str": lambda v: "0.1",
                                              "bool": lambda v: True, "above1": lambda v: 2.0}}),
        name + "results_table": Spec(hyb.results_table, lambda: {"scores": dict(scores)},
                                     {"scores": {**_NOT_A_MAPPING, "value": lambda v: {**v, "psnr_log/ldr": "9"}},
                                      "project": _BOOL}),
        name + "upsampler_table": Spec(hyb.upsampler_table, lambda: {"results": {"resize_conv": dict(study)}},
                                       {"results": {**_NOT_A_MAPPING, "inner": lambda v: {"resize_conv": 3},
                                                    "missing": lambda v: {"r": _drop(study, "psnr_tm/hybrid")}}}),
        name + "training_data": Spec(hyb.training_data, lambda: {"settings": hyb.PROFILES["quick"],
                                                                 "data_root": _pair_folder(tmp)},
                                     {"settings": {"str": lambda v: "quick", "None": lambda v: None},
                                      "data_root": {"int": lambda v: 3, "missing": lambda v: tmp / "no-such-folder"},
                                      "seed": _SEED}),
        name + "train_hybrid": Spec(hyb.train_hybrid,
                                    lambda: {"out_dir": tmp / "train-hybrid", "profile": "quick", "steps": 1,
                                             "progress": "none", "device": "cpu", "pretrained": False},
                                    {"out_dir": _PATH, "profile": _CHOICE, "ablation": _drop(_CHOICE, "None"),
                                     "resume": _RESUME, "overwrite": _BOOL, "steps": _drop(_POS_INT, "None"),
                                     "device": _CHOICE,
                                     "seed": _SEED, "progress": _CHOICE, "pretrained": _PRETRAINED,
                                     "data_root": {"int": lambda v: 3, "missing": lambda v: tmp / "no-such-folder"},
                                     "expandnet_model": {"str": lambda v: "expandnet",
                                                         "other_module": lambda v: nn.Linear(2, 2)}}),
        name + "load_trained": Spec(hyb.load_trained, lambda: {"run_dir": _hybrid_run(tmp), "device": "cpu"},
                                    {"run_dir": {**_PATH, "missing": lambda v: tmp / "no-such-run",
                                                 **{k: (lambda v, k=k: _hybrid_run(tmp, k)) for k in _RUN}},
                                     "device": _CHOICE}),
    }


def _validator_specs() -> dict[str, Spec]:
    """The validators these modules added to :mod:`hdrlab.validate`."""
    name = "hdrlab.validate."
    record = {"width": 4, "ablation": None}
    return {
        name + "check_record_keys": Spec(validate.check_record_keys,
                                         lambda: {"record": dict(record), "required": ["width"], "source": "s.json",
                                                  "allowed": ["ablation"]},
                                         {"record": {"missing": lambda v: _drop(v, "width"),
                                                     "unknown": lambda v: {**v, "colour": 1}},
                                          "allowed": {"empty": lambda v: []}}),
        name + "check_choice": Spec(validate.check_choice, lambda: {"value": True, "name": "resume",
                                                                    "choices": (True, False, "auto")},
                                    {"value": {"int": lambda v: 1, "str": lambda v: "yes", "None": lambda v: None,
                                               "list": lambda v: [True]}}),
        name + "check_mapping": Spec(validate.check_mapping, lambda: {"value": {"ldr": 1}, "name": "pair",
                                                                      "keys": ("ldr",)},
                                     {"value": {**_NOT_A_MAPPING, "missing": lambda v: {"hdr": 1}}}),
        name + "check_records": Spec(validate.check_records, lambda: {"value": [{"hdr": 1}], "name": "pairs",
                                                                      "keys": ("hdr",)},
                                     {"value": {"str": lambda v: "pairs", "None": lambda v: None,
                                                "empty": lambda v: [], "dict": lambda v: v[0],
                                                "missing": lambda v: [{"ldr": 1}], "item": lambda v: ["pair"]}}),
        name + "check_scores": Spec(validate.check_scores, lambda: {"scores": {"psnr/a": 1.0, "ssim/a": math.inf},
                                                                    "keys": ["psnr/a"]},
                                    {"scores": {**_NOT_A_MAPPING, "missing": lambda v: _drop(v, "psnr/a"),
                                                "value_str": lambda v: {**v, "psnr/a": "1"},
                                                "bool": lambda v: {**v, "psnr/a": True},
                                                "key": lambda v: {**v, 3: 1.0}}}),
    }


def _specs(tmp: Path) -> dict[str, Spec]:
    return {**_recursive_specs(tmp), **_hybrid_specs(tmp), **_validator_specs()}


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, Spec]:
    return _specs(tmp_path_factory.mktemp("fuzz-recursive-hybrid"))


def test_every_public_callable_has_a_spec(specs):
    missing = _missing_specs(COVERED_MODULES, specs, CONTAINERS)
    assert not missing, f"public callables without a fuzz spec: {missing} (add one to {__file__})"


@pytest.mark.parametrize("name", sorted(set(_specs(Path(tempfile.gettempdir()))) - TRAINS))
def test_the_valid_call_works(specs, name):
    spec = specs[name]
    spec.call(**spec.make())


@pytest.mark.parametrize(("name", "argument", "label"), _perturbations(_specs(Path(tempfile.gettempdir()))))
def test_bad_input_is_a_typed_explained_error(specs, name, argument, label, monkeypatch):
    if name in TRAINS:  # a bad argument must stop a training function before it trains
        monkeypatch.setattr(train, "fit", lambda *args, **kwargs: pytest.fail("trained with a bad argument"))
    _assert_typed_error(specs[name], argument, label)
