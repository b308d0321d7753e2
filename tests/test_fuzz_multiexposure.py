"""Every public call of :mod:`hdrlab.methods.multiexposure` rejects bad input with a typed, explained error.

The machinery (:class:`Spec`, the perturbations per kind of argument) is tests/test_fuzz.py's; this file
gives the specs of the multi-exposure method: its models (``forward`` checks rank, channels and dtype),
losses, training step, settings (validated when constructed), bracket generation, evaluation, tables,
training entry (its cheap arguments fail before any training) and run loading. Models are tiny (widths
2-4, two levels, 8x8 images) so the whole file runs in seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from test_fuzz import (
    _BOOL,
    _CHANNELS,
    _CHOICE,
    _FEATURES,
    _LDR,
    _NONNEG_FLOAT,
    _NOT_A_TENSOR,
    _POS_FLOAT,
    _POS_INT,
    _RADIANCE,
    _SEED,
    _TENSOR,
    Spec,
    _assert_typed_error,
    _image,
    _missing_specs,
    _module_call,
    _perturbations,
)
from torch import nn

from hdrlab import train
from hdrlab.errors import DTypeError
from hdrlab.methods import multiexposure as me
from hdrlab.validate import check_module

COVERED_MODULES = ("hdrlab.methods.multiexposure",)
#: Public names that are data containers or classes checked elsewhere (none: Settings validates itself, fuzzed below).
CONTAINERS: set[str] = set()

_M = "hdrlab.methods.multiexposure"
_TINY = {"n1_width": 2, "n23_width": 2, "n1_max_width": 4, "n23_max_width": 4, "levels": 2}
_WEIGHTS = {"recon": 1.0, "hdr": 1.0, "perceptual": 0.0, "tv": 1.0}
#: The quick profile shrunk to a one-second run (as tests/test_multiexposure.py's ``tiny`` fixture).
_TINY_OVERRIDES = {"n1_width": 2, "n1_max_width": 4, "n23_width": 2, "n23_max_width": 4, "levels": 2, "size": 8,
                   "batch_size": 2, "train_max_side": 32, "samples": 4, "eval_max_side": 32,
                   "eval_crfs": ("srgb",), "eval_evs": (-1.0, 0.0, 1.0)}

_MODEL = {"str": lambda v: "model", "None": lambda v: None, "list": lambda v: [v],
          "other_module": lambda v: nn.Linear(2, 2)}
_MAPPING = {"str": lambda v: "batch", "None": lambda v: None, "list": lambda v: list(v)}
_EVS = {"str": lambda v: "fast", "None": lambda v: None, "empty": lambda v: [], "nan": lambda v: [math.nan, 0.0],
        "inf": lambda v: [0.0, math.inf]}
_NAMES = {"unknown": lambda v: ("no-such-name",), "empty": lambda v: (), "str": lambda v: "srgb",
          "None": lambda v: None, "int": lambda v: 3}
_TABLE = {**_MAPPING, "empty": lambda v: {}, "non_number": lambda v: {key: "20" for key in v}}


def _model() -> me.MultiExposureNet:
    torch.manual_seed(0)
    return me.MultiExposureNet(**_TINY)


def _ldr(batch: int = 1) -> torch.Tensor:
    return torch.stack([_image(8, 8) ** (j + 1) for j in range(batch)])


def _batch() -> dict[str, torch.Tensor]:
    return {"ldr_a": _ldr(2), "ldr_b": _ldr(2).flip(0), "time_a": torch.tensor([1.0, 4.0]),
            "time_b": torch.tensor([2.0, 1.0])}


def _ordered() -> dict[str, torch.Tensor]:
    return {"x": _ldr(2) * 0.5, "y": _ldr(2), "ratio": torch.tensor([2.0, 3.0])}


def _rendered() -> dict[str, torch.Tensor]:
    return {"x_hat": _ldr(2) * 0.5, "y_hat": _ldr(2), "latent_x": _ldr(2) * 0.5, "latent_y": _ldr(2) * 1.5}


def _extra(key: str, kinds: dict) -> dict:
    """The perturbations ``kinds`` of one keyword of a forward call's ``extra`` dict."""
    return {label: functools.partial(_perturb_key, key, perturb) for label, perturb in kinds.items()}


def _perturb_key(key: str, perturb, extra: dict) -> dict:
    return {**extra, key: perturb(extra[key])}


def _without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def _with(mapping: dict, key: str, value: object) -> dict:
    return {**mapping, key: value}


@functools.lru_cache(maxsize=1)
def _brackets() -> tuple[dict, ...]:
    return tuple(me.held_out_brackets(["room_windows"], max_side=16, crfs=("srgb",), evs=(-1.0, 0.0, 1.0)))


def _scores() -> dict[str, float]:
    return {"stack_psnr/+2/naive": 20.0, "stack_ssim/+2/naive": 0.5, "hdr_psnr/ldr": 20.0, "hdr_ssim/ldr": 0.5,
            "tm_psnr/ldr": 21.0, "tm_ssim/ldr": 0.6}


def _run_row() -> dict[str, float]:
    keys = ["hdr_psnr/generated", "hdr_ssim/generated", "rd_psnr/generated", "rd_ssim/generated",
            "stack_psnr/+2/generated", "stack_psnr/-2/generated", "hdr_psnr/n1_latent", "hdr_ssim/n1_latent"]
    return {key: 0.5 for key in keys}


def _tiny_settings() -> me.Settings:
    return me.settings_for("quick", steps=1, overrides=_TINY_OVERRIDES)


def _run(tmp: Path) -> Path:
    """A finished run folder (settings.json and one checkpoint) of a tiny model, written once."""
    folder = tmp / "run"
    if not (folder / "settings.json").is_file():
        settings = _tiny_settings()
        record = {**dataclasses.asdict(settings), "ablation": "reference", "data_root": None, "eval_split": "test"}
        train.write_settings(folder, record)
        train.save_checkpoint(folder / "checkpoints" / "step_00000001.pt", model=me.build_model(settings), step=1)
    return folder


def _run_with(tmp: Path, label: str, settings_text: str | None = None, edit=None) -> Path:
    """A copy of :func:`_run`'s folder whose settings.json is ``settings_text``, or its record passed through ``edit``."""
    source, folder = _run(tmp), tmp / f"run_{label}"
    if not folder.exists():
        shutil.copytree(source, folder)
        if edit is not None:
            settings_text = json.dumps(edit(json.loads((source / "settings.json").read_text())))
        (folder / "settings.json").write_text(settings_text)
    return folder


def _fresh_dir(tmp: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=tmp, prefix="train_"))


def _settings_kinds() -> dict[str, dict]:
    ints = ("n1_width", "n1_max_width", "n23_width", "n23_max_width", "levels", "size", "batch_size", "steps",
            "plateau_patience", "log_every", "train_max_side", "samples", "eval_max_side", "eval_every",
            "checkpoint_every")
    kinds: dict[str, dict] = {name: _POS_INT for name in ints}
    kinds["size"] = {**_POS_INT, "not_multiple": lambda v: 48}
    kinds.update({name: _NONNEG_FLOAT for name in ("weight_decay", "recon_weight", "hdr_weight", "perceptual_weight",
                                                    "tv_weight", "min_gap")})
    kinds["lr"] = _POS_FLOAT
    kinds["max_gap"] = {**_POS_FLOAT, "below_min_gap": lambda v: 0.25}
    kinds.update({name: _NAMES for name in ("perceptual_layers", "train_crfs", "eval_crfs")})
    kinds["eval_evs"] = {**_EVS, "no_zero": lambda v: (-1.0, 1.0), "descending": lambda v: tuple(reversed(v))}
    kinds["amp"] = _CHOICE
    kinds["perceptual_reduction"] = _CHOICE
    return kinds


def _specs(tmp: Path) -> dict[str, Spec]:
    bad_ratio = {"zero": lambda v: 0.0, "negative": lambda v: -1.0, "nan": lambda v: math.nan, "str": lambda v: "2",
                 "None": lambda v: None, "bool": lambda v: True, "shape": lambda v: torch.ones(3)}
    scalar_ev = {"str": lambda v: "1", "None": lambda v: None, "nan": lambda v: math.nan, "inf": lambda v: math.inf,
                 "bool": lambda v: True, "list": lambda v: [1.0]}
    return {
        # the mask, the networks
        f"{_M}.exposure_mask": Spec(me.exposure_mask, lambda: {"ldr": _image(), "threshold": 0.9},
                                    {"ldr": _LDR, "threshold": {**_POS_FLOAT, "half": lambda v: 0.5,
                                                                "one": lambda v: 1.0}}),
        f"{_M}.SubPixelUpsample": Spec(_module_call(me.SubPixelUpsample),
                                       lambda: {"x": torch.rand(1, 4, 4, 4), "channels": 4},
                                       {"x": _FEATURES, "channels": _CHANNELS, "norm": _CHOICE,
                                        "activation_name": _CHOICE}),
        f"{_M}.NormalizedTanh": Spec(_module_call(me.NormalizedTanh), lambda: {"x": torch.randn(2, 5)},
                                     {"x": {**_NOT_A_TENSOR, "int64": lambda v: (v * 100).long()}}),
        f"{_M}.ExposureUNet": Spec(_module_call(me.ExposureUNet),
                                   lambda: {"x": torch.rand(1, 3, 8, 8), "base_width": 2, "max_width": 4, "levels": 2},
                                   {"x": {**_FEATURES, "odd_size": lambda v: v[..., :7, :7]},
                                    "in_channels": _CHANNELS, "out_channels": _CHANNELS, "base_width": _CHANNELS,
                                    "max_width": _CHANNELS, "levels": _POS_INT, "head": _CHOICE,
                                    "concat_input": _BOOL, "norm": _CHOICE, "activation_name": _CHOICE}),
        f"{_M}.MultiExposureNet": Spec(
            _module_call(me.MultiExposureNet), lambda: {"x": _ldr(), "extra": {"ratio": 2.0}, **_TINY},
            {"x": {**_LDR, "float16": lambda v: v.half(), "no_batch": lambda v: v[0],
                   "odd_size": lambda v: v[..., :7, :7]},
             "extra": _extra("ratio", bad_ratio),
             **{name: _CHANNELS for name in _TINY}, "levels": _POS_INT, "shared": _BOOL, "masked_input": _BOOL,
             "threshold": {**_POS_FLOAT, "one": lambda v: 1.0}}),
        # losses and the training step
        f"{_M}.representation_loss": Spec(
            me.representation_loss, lambda: {"latent_short": _ldr(2) * 0.5, "latent_long": _ldr(2) * 2,
                                              "ratio": torch.tensor([4.0, 4.0])},
            {"latent_short": _RADIANCE, "latent_long": _RADIANCE, "ratio": bad_ratio, "eps": _POS_FLOAT}),
        f"{_M}.reconstruction_loss": Spec(
            me.reconstruction_loss, lambda: {"rendered": _ldr(2), "target": _ldr(2).flip(0),
                                              "mask": torch.rand(2, 1, 8, 8)},
            {"rendered": _LDR, "target": _LDR,
             "mask": {**_NOT_A_TENSOR, "int64": lambda v: v.long(), "nan": _TENSOR["nan"], "negative": lambda v: -v,
                      "above1": lambda v: v + 1, "channels": lambda v: v.expand(2, 3, 8, 8)}}),
        f"{_M}.tv_loss": Spec(me.tv_loss, lambda: {"images": _ldr(2)},
                              {"images": {**_TENSOR, "rank3": lambda v: v[0], "empty": lambda v: v[:0]}}),
        f"{_M}.MultiExposureLoss": Spec(
            _module_call(me.MultiExposureLoss), lambda: {"x": _rendered(), "extra": {"batch": _ordered()},
                                                         "weights": dict(_WEIGHTS), "pretrained": False},
            {"x": {**_MAPPING, "missing": lambda v: _without(v, "x_hat"), "str_value": lambda v: _with(v, "x_hat", "a"),
                   "int64": lambda v: _with(v, "y_hat", v["y_hat"].long()),
                   "rank3": lambda v: _with(v, "latent_x", v["latent_x"][0]),
                   "shape": lambda v: _with(v, "x_hat", v["x_hat"][..., :4, :4])},
             "extra": {"str": lambda v: {"batch": "batch"}, "None": lambda v: {"batch": None},
                       "missing": lambda v: {"batch": _without(v["batch"], "ratio")},
                       "ratio_str": lambda v: {"batch": _with(v["batch"], "ratio", "2")},
                       "ratio_shape": lambda v: {"batch": _with(v["batch"], "ratio", torch.ones(3))},
                       "channels": lambda v: {"batch": _with(v["batch"], "y", v["batch"]["y"][:, :2])}},
             "weights": {"str": lambda v: "recon", "list": lambda v: [1.0], "negative": lambda v: _with(v, "tv", -1.0),
                         "nan": lambda v: _with(v, "hdr", math.nan), "inf": lambda v: _with(v, "hdr", math.inf),
                         "bool": lambda v: _with(v, "hdr", True), "missing": lambda v: _without(v, "tv"),
                         "extra": lambda v: _with(v, "ssim", 1.0)},
             "perceptual_layers": {"unknown": lambda v: ("pool9",), "empty": lambda v: (), "int": lambda v: 3},
             "pretrained": {"str": lambda v: "yes", "None": lambda v: None, "int": lambda v: 2},
             "perceptual_reduction": _CHOICE}),
        f"{_M}.order_pairs": Spec(
            me.order_pairs, lambda: {"batch": _batch()},
            {"batch": {**_MAPPING, "missing": lambda v: _without(v, "time_b"),
                       "ldr_str": lambda v: _with(v, "ldr_a", "ldr"), "ldr_nan": lambda v: _with(v, "ldr_a", v["ldr_a"] * math.nan),
                       "ldr_above1": lambda v: _with(v, "ldr_b", v["ldr_b"] + 1),
                       "ldr_int64": lambda v: _with(v, "ldr_a", v["ldr_a"].long()),
                       "ldr_shape": lambda v: _with(v, "ldr_b", v["ldr_b"][..., :4, :4]),
                       "ldr_rank3": lambda v: _with(v, "ldr_a", v["ldr_a"][0]),
                       "time_str": lambda v: _with(v, "time_a", "fast"), "time_negative": lambda v: _with(v, "time_a", -v["time_a"]),
                       "time_nan": lambda v: _with(v, "time_b", v["time_b"] * math.nan),
                       "time_shape": lambda v: _with(v, "time_b", torch.ones(3)),
                       "time_int64": lambda v: _with(v, "time_b", v["time_b"].long()),
                       "equal_times": lambda v: _with(v, "time_b", v["time_a"])}}),
        f"{_M}.render_pairs": Spec(
            me.render_pairs, lambda: {"model": _model(), "ordered": _ordered()},
            {"model": _MODEL,
             "ordered": {**_MAPPING, "missing": lambda v: _without(v, "ratio"), "x_str": lambda v: _with(v, "x", "x"),
                         "x_shape": lambda v: _with(v, "x", v["x"][..., :4, :4]), "y_nan": lambda v: _with(v, "y", v["y"] * math.nan),
                         "y_above1": lambda v: _with(v, "y", v["y"] + 1), "ratio_str": lambda v: _with(v, "ratio", "2"),
                         "ratio_zero": lambda v: _with(v, "ratio", v["ratio"] * 0),
                         "ratio_below1": lambda v: _with(v, "ratio", 1 / v["ratio"]),
                         "ratio_shape": lambda v: _with(v, "ratio", torch.ones(3))}}),
        f"{_M}.loss_terms": Spec(
            me.loss_terms, lambda: {"model": _model(), "batch": _batch(),
                                    "criterion": me.MultiExposureLoss(_WEIGHTS, pretrained=False)},
            {"model": _MODEL,
             "batch": {**_MAPPING, "missing": lambda v: _without(v, "ldr_a"),
                       "ldr_nan": lambda v: _with(v, "ldr_a", v["ldr_a"] * math.nan),
                       "time_negative": lambda v: _with(v, "time_a", -v["time_a"])},
             "criterion": {"str": lambda v: "l1", "None": lambda v: None, "other_module": lambda v: nn.L1Loss()}}),
        # settings
        f"{_M}.Settings": Spec(me.Settings, lambda: dataclasses.asdict(me.PROFILES["quick"]), _settings_kinds()),
        f"{_M}.settings_for": Spec(
            me.settings_for, lambda: {"profile": "quick", "steps": 3, "ablation": "reference", "overrides": {"lr": 1e-3}},
            {"profile": _CHOICE, "steps": {k: f for k, f in _POS_INT.items() if k != "None"}, "ablation": _CHOICE,
             "overrides": {"str": lambda v: "lr=1e-3", "list": lambda v: [("lr", 1e-3)],
                           "unknown": lambda v: {"learning_rate": 1e-3}, "bad_value": lambda v: {"lr": -1.0},
                           "bad_type": lambda v: {"levels": "7"}}}),
        f"{_M}.build_model": Spec(me.build_model, lambda: {"settings": _tiny_settings(), "ablation": "shared_net"},
                                  {"settings": {"str": lambda v: "quick", "None": lambda v: None,
                                                "dict": lambda v: dataclasses.asdict(v)},
                                   "ablation": _CHOICE}),
        # brackets
        f"{_M}.generate": Spec(me.generate, lambda: {"model": _model(), "ldr": _image(10, 13), "evs": [-1.0, 0.0, 2.0]},
                               {"model": _MODEL, "ldr": {**_LDR, "float16": lambda v: v.half(), "batch": lambda v: v[None]},
                                "evs": {**_EVS, "int_tensor": lambda v: torch.tensor([1, 2])}}),
        f"{_M}.hdr_estimate": Spec(me.hdr_estimate, lambda: {"model": _model(), "ldr": _image(10, 13)},
                                   {"model": _MODEL, "ldr": {**_LDR, "float16": lambda v: v.half(),
                                                             "batch": lambda v: v[None]}}),
        f"{_M}.naive_reexposure": Spec(me.naive_reexposure, lambda: {"ldr": _image(), "ev": 1.0, "gamma": 2.2},
                                       {"ldr": _LDR, "ev": scalar_ev, "gamma": _POS_FLOAT}),
        f"{_M}.merge_bracket": Spec(me.merge_bracket, lambda: {"stack": _brackets()[0]["stack"], "evs": (-1.0, 0.0, 1.0),
                                                               "seed": 0},
                                    {"stack": {**_LDR, "rank3": lambda v: v[0]},
                                     "evs": {**_EVS, "descending": lambda v: tuple(reversed(v)),
                                             "longer": lambda v: (*v, 2.0)},
                                     "seed": _SEED}),
        f"{_M}.held_out_brackets": Spec(
            me.held_out_brackets, lambda: {"names": ["room_windows"], "max_side": 16, "crfs": ("srgb",),
                                           "evs": (-1.0, 0.0, 1.0)},
            {"names": {"unknown": lambda v: "no-such-scene", "None": lambda v: None, "int": lambda v: 3,
                       "empty": lambda v: [], "list_int": lambda v: [3], "unknown_in_list": lambda v: [*v, "nope"]},
             "max_side": _POS_INT, "crfs": _NAMES,
             "evs": {**_EVS, "no_zero": lambda v: (-1.0, 1.0), "descending": lambda v: tuple(reversed(v))}}),
        # evaluation and tables
        f"{_M}.hdr_display": Spec(me.hdr_display, lambda: {"hdr": torch.rand(3, 8, 8) * 4}, {"hdr": _RADIANCE}),
        f"{_M}.evaluate": Spec(
            me.evaluate, lambda: {"model": _model(), "brackets": [dict(item) for item in _brackets()]},
            {"model": _MODEL,
             "brackets": {"str": lambda v: "test", "None": lambda v: None, "dict": lambda v: v[0], "empty": lambda v: [],
                          "list_str": lambda v: ["room_windows"], "missing": lambda v: [_without(v[0], "hdr")],
                          "ldr_above1": lambda v: [_with(v[0], "ldr", v[0]["ldr"] + 1)],
                          "hdr_negative": lambda v: [_with(v[0], "hdr", -v[0]["hdr"] - 1)],
                          "hdr_str": lambda v: [_with(v[0], "hdr", "hdr")],
                          "stack_nan": lambda v: [_with(v[0], "stack", v[0]["stack"] * math.nan)],
                          "evs_str": lambda v: [_with(v[0], "evs", "fast")],
                          "evs_longer": lambda v: [_with(v[0], "evs", (*v[0]["evs"], 2.0))]},
             "expandnet_model": {"str": lambda v: "expandnet", "list": lambda v: [1], "other_module": lambda v: nn.Linear(2, 2)},
             "lpips": {"str": lambda v: "alex", "int": lambda v: 3, "list": lambda v: [1]}}),
        f"{_M}.stack_table": Spec(me.stack_table, lambda: {"scores": _scores()},
                                  {"scores": {**_TABLE, "missing": lambda v: {"stack_psnr/+2/naive": 20.0},
                                              "bad_ev": lambda v: {"stack_psnr/up/naive": 20.0, "stack_ssim/up/naive": 0.5},
                                              "none_of_its_keys": lambda v: {"hdr_psnr/ldr": 20.0}}}),
        f"{_M}.hdr_table": Spec(me.hdr_table, lambda: {"scores": _scores()},
                                {"scores": {**_TABLE, "missing": lambda v: {"hdr_psnr/ldr": 20.0, "hdr_ssim/ldr": 0.5,
                                                                        "hdr_psnr/naive": 20.0},
                                            "none_of_its_keys": lambda v: {"stack_psnr/+2/naive": 20.0}}}),
        f"{_M}.ablation_tables": Spec(
            me.ablation_tables, lambda: {"runs": {"reference": _run_row()}, "label": "demo"},
            {"runs": {**_MAPPING, "empty": lambda v: {}, "unknown": lambda v: {"no_such_run": _run_row()},
                      "missing": lambda v: {"reference": {}}, "not_scores": lambda v: {"reference": 3},
                      "non_number": lambda v: {"reference": {k: "1" for k in _run_row()}}},
             "label": {"None": lambda v: None, "int": lambda v: 3}}),
        # training and loading
        f"{_M}.train_multiexposure": Spec(
            me.train_multiexposure,
            lambda: {"out_dir": _fresh_dir(tmp), "profile": "quick", "steps": 1, "device": "cpu", "progress": "none",
                     "pretrained": False, "eval_split": "val", "overrides": dict(_TINY_OVERRIDES)},
            {"out_dir": {"None": lambda v: None, "int": lambda v: 3}, "profile": _CHOICE, "ablation": _CHOICE,
             "data_root": {"int": lambda v: 3, "missing": lambda v: tmp / "no-such-data"},
             "resume": {"str": lambda v: "yes", "None": lambda v: None, "int": lambda v: 2}, "overwrite": _BOOL,
             "steps": {k: f for k, f in _POS_INT.items() if k != "None"}, "device": _CHOICE, "seed": _SEED,
             "progress": _CHOICE, "pretrained": {"str": lambda v: "yes", "None": lambda v: None, "int": lambda v: 2},
             "overrides": {"str": lambda v: "lr=1", "unknown": lambda v: {**v, "learning_rate": 1.0},
                           "bad_value": lambda v: {**v, "levels": 0}},
             "eval_split": _CHOICE}),
        f"{_M}.load_trained": Spec(
            me.load_trained, lambda: {"run_dir": _run(tmp), "device": "cpu"},
            {"run_dir": {"None": lambda v: None, "int": lambda v: 3, "missing": lambda v: tmp / "no-such-run",
                         "corrupt": lambda v: _run_with(tmp, "corrupt", "{not json"),
                         "empty": lambda v: _run_with(tmp, "empty", ""),
                         "empty_dict": lambda v: _run_with(tmp, "empty_dict", "{}"),
                         "not_dict": lambda v: _run_with(tmp, "not_dict", "[1, 2]"),
                         "missing_key": lambda v: _run_with(tmp, "missing_key", edit=lambda r: _without(r, "levels")),
                         "missing_ablation": lambda v: _run_with(tmp, "missing_ablation",
                                                                 edit=lambda r: _without(r, "ablation")),
                         "unknown_key": lambda v: _run_with(tmp, "unknown_key", edit=lambda r: _with(r, "depth", 3)),
                         "bad_value": lambda v: _run_with(tmp, "bad_value", edit=lambda r: _with(r, "levels", "2")),
                         "bad_ablation": lambda v: _run_with(tmp, "bad_ablation",
                                                             edit=lambda r: _with(r, "ablation", "no_mask"))},
             "device": _CHOICE}),
    }


def _fixture_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "hdrlab-fuzz-multiexposure"
    folder.mkdir(exist_ok=True)
    return folder


def _spec_names() -> list[str]:
    return sorted(_specs(_fixture_dir()).keys())


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, Spec]:
    return _specs(tmp_path_factory.mktemp("multiexposure"))


def test_every_public_callable_has_a_spec(specs):
    missing = _missing_specs(COVERED_MODULES, specs, CONTAINERS)
    assert not missing, f"public callables without a fuzz spec: {missing} (add one to tests/test_fuzz_multiexposure.py)"


@pytest.mark.parametrize("name", _spec_names())
def test_the_valid_call_works(specs, name):
    spec = specs[name]
    spec.call(**spec.make())


@pytest.mark.parametrize(("name", "argument", "label"), _perturbations(_specs(_fixture_dir())))
def test_bad_input_is_a_typed_explained_error(specs, name, argument, label):
    _assert_typed_error(specs[name], argument, label)


# ----------------------------------------------------------------------------- validate.check_module


def test_check_module_accepts_instances_and_names_the_expected_class():
    check_module(nn.Linear(2, 2), "model")
    check_module(_model(), "model", me.MultiExposureNet)
    for bad in ("model", None, [1], nn.Linear(2, 2)):
        with pytest.raises(DTypeError, match="Expected model of type MultiExposureNet"):
            check_module(bad, "model", me.MultiExposureNet)
    with pytest.raises(DTypeError, match="Expected lpips of type Module"):
        check_module(3, "lpips")
