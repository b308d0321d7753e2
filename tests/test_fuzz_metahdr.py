"""Every public call of hdrlab.methods, methods.expandnet and methods.metahdr rejects bad input with a typed error.

The machinery (:class:`Spec`, the perturbations per kind of argument) is :mod:`test_fuzz`'s; this file gives
the specs of the two chapter-2 methods: one valid call each (tiny models, 16 px images, a 1-step training on
tiny settings), and per argument the perturbations that must raise an ``HdrlabError`` saying what was
``Expected``. The ``train_*`` perturbations all fail before any data is loaded. ``load_trained`` and
``selected_checkpoint`` get run folders with a missing, corrupt, empty or incomplete ``settings.json``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable
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
    _NONNEG_INT,
    _PATH,
    _POS_FLOAT,
    _POS_INT,
    _RADIANCE,
    _SEED,
    Spec,
    _assert_typed_error,
    _image,
    _missing_specs,
    _module_call,
    _perturbations,
    _radiance,
)
from torch import nn

from hdrlab import train
from hdrlab.errors import HdrlabError, RangeError
from hdrlab.methods import expandnet as en
from hdrlab.methods import metahdr as mh
from hdrlab.validate import check_number, check_sequence

COVERED_MODULES = ("hdrlab.methods", "hdrlab.methods.expandnet", "hdrlab.methods.metahdr")
#: Public names that are data containers or classes checked elsewhere (none: the Settings are fuzzed below).
CONTAINERS: set[str] = set()

#: Tiny meta-training settings: 1 meta-iteration of a base-width-1 U-Net on one 32 px task, one held-out task.
_SMALL = dataclasses.replace(mh.PROFILES["quick"], base_width=1, max_side=64, samples=2, meta_batch=1, inner_steps=1,
                             meta_iterations=1, eval_max_side=64, eval_tasks=1, eval_every=1, checkpoint_every=1)
_RUNS = itertools.count()


def _without(key: str) -> Callable[[object], object]:
    return lambda v: {k: x for k, x in v.items() if k != key}


def _edit(**changes: Callable[[torch.Tensor], object]) -> Callable[[object], object]:
    """Perturb the tensors of the first task dict of a list (or of a batch dict) by name."""
    def perturb(v):
        first = v[0] if isinstance(v, list) else v
        edited = {**first, **{key: change(first[key]) for key, change in changes.items()}}
        return [edited] if isinstance(v, list) else edited
    return perturb


def _nan(x: torch.Tensor) -> torch.Tensor:
    return x.clone().index_put_((torch.tensor([0]),), torch.tensor(math.nan))


# --- invalid values of this module's kinds of argument ---------------------------------------------------------------

_MODEL = {"str": lambda v: "model", "None": lambda v: None, "list": lambda v: [v]}
_EXPANDNET_MODEL = {**_MODEL, "max_target": lambda v: en.ExpandNet(1, "max"), "metaunet": lambda v: mh.MetaUNet(1)}
_LOSS = {"unknown": lambda v: "mse", "None": lambda v: None, "int": lambda v: 3,
         "nan": lambda v: (lambda p, t: (p - t).abs().mean() * math.nan),
         "not_tensor": lambda v: (lambda p, t: 1.0), "vector": lambda v: (lambda p, t: (p - t).abs())}
_EVS = {"str": lambda v: "0,1", "None": lambda v: None, "empty": lambda v: (), "nan": lambda v: (math.nan,),
        "str_item": lambda v: ("0",), "bool_item": lambda v: (True,)}
_CRFS = {"str": lambda v: "srgb", "None": lambda v: None, "empty": lambda v: (), "unknown": lambda v: ("no-such",),
         "int": lambda v: (3,)}
_RESUME = {"str": lambda v: "maybe", "None": lambda v: None, "int": lambda v: 2}
_STEPS = {k: f for k, f in _POS_INT.items() if k != "None"}
_NOT_SETTINGS = {"str": lambda v: "quick", "dict": lambda v: dataclasses.asdict(v),
                 "other_method": lambda v: en.PROFILES["quick"]}
_PAIRS = {"None": lambda v: None, "str": lambda v: "pairs", "dict": lambda v: v[0], "empty": lambda v: [],
          "item_str": lambda v: ["pair"], "no_hdr": lambda v: [_without("hdr")(v[0])],
          "ldr_nan": _edit(ldr=_nan), "ldr_above1": _edit(ldr=lambda x: x + 1),
          "hdr_negative": _edit(hdr=lambda x: -x), "shape": _edit(hdr=lambda x: x[..., :8])}
_BATCH = {"None": lambda v: None, "str": lambda v: "batch", "list": lambda v: [v], "no_hdr": _without("hdr"),
          "ldr_nan": _edit(ldr=_nan), "ldr_above1": _edit(ldr=lambda x: x + 1),
          "hdr_negative": _edit(hdr=lambda x: -x), "shape": _edit(hdr=lambda x: x[..., :8])}
_TASK_BATCH = {"None": lambda v: None, "str": lambda v: "tasks", "list": lambda v: [v],
               "missing": _without("query_hdr"), "rank4": _edit(support_ldr=lambda x: x[0]),
               "empty": lambda v: {k: x[:0] for k, x in v.items()},
               "ldr_above1": _edit(support_ldr=lambda x: x + 1), "query_nan": _edit(query_ldr=_nan),
               "hdr_negative": _edit(support_hdr=lambda x: -x), "shape": _edit(query_hdr=lambda x: x[..., :8])}
_TASKS = {"None": lambda v: None, "str": lambda v: "tasks", "empty": lambda v: [], "dict": lambda v: v[0],
          "item_str": lambda v: ["task"], "missing": lambda v: [{}],
          "ldr_above1": _edit(support_ldr=lambda x: x + 1, query_ldr=lambda x: x + 1),
          "ldr_nan": _edit(support_ldr=_nan, query_ldr=_nan)}
_EV_TASKS = {**_TASKS, "ev_nan": _edit(support_ev=lambda x: x * math.nan, query_ev=lambda x: x * math.nan),
             "ev_count": _edit(support_ev=lambda x: x[:1], query_ev=lambda x: torch.cat([x, x]))}
_HDR_TASKS = {"hdr_negative": _edit(support_hdr=lambda x: -x - 1, query_hdr=lambda x: -x - 1),
              "shape": _edit(support_hdr=lambda x: x[..., :8], query_hdr=lambda x: x[..., :8])}


def _task() -> dict[str, torch.Tensor]:
    """One MetaTasks-like item at 16 px: support EVs -2 and +2, the query at EV 0."""
    hdr = _radiance()
    return {"support_ldr": torch.stack([_image(), _image() ** 0.5]), "support_hdr": torch.stack([hdr, hdr]),
            "support_ev": torch.tensor([-2.0, 2.0]), "query_ldr": _image()[None] ** 0.7, "query_hdr": hdr[None],
            "query_ev": torch.tensor([0.0])}


def _batch() -> dict[str, torch.Tensor]:
    task = _task()
    return {key: task[key][None] for key in ("support_ldr", "support_hdr", "query_ldr", "query_hdr")}


def _unet() -> mh.MetaUNet:
    return mh.MetaUNet(1, levels=2)


# --- files: run folders and weights, written on first use ------------------------------------------------------------


def _run(tmp: Path, name: str, settings: object, model: nn.Module | None, metrics: str | None = None) -> Path:
    """``tmp/name`` with ``settings.json`` (a record as JSON, or raw str/bytes), a checkpoint of ``model`` and
    ``metrics.csv``."""
    folder = tmp / name
    if not folder.exists():
        folder.mkdir(parents=True)
        text = settings if isinstance(settings, (str, bytes)) else json.dumps(settings)
        (folder / "settings.json").write_bytes(text.encode() if isinstance(text, str) else text)
        if model is not None:
            train.save_checkpoint(folder / "checkpoints" / "step_00000001.pt", model=model, step=1)
        if metrics is not None:
            (folder / "metrics.csv").write_text(metrics)
    return folder


def _run_kinds(tmp: Path, prefix: str, record: dict, model: Callable[[], nn.Module],
               width_key: str | None) -> dict[str, Callable[[object], object]]:
    """Bad ``run_dir`` values: not a path, no run, a broken ``settings.json``; with ``width_key`` also a record
    without it, with a bad width, or with a width other than the checkpoint's."""
    kinds = {**_PATH, "missing": lambda v: tmp / "no-such-run",
             "empty": lambda v: _run(tmp, f"{prefix}-empty", "", model()),
             "corrupt": lambda v: _run(tmp, f"{prefix}-corrupt", b"\xff\x00{garbage", model()),
             "not_object": lambda v: _run(tmp, f"{prefix}-list", "[1, 2]", model()),
             "empty_object": lambda v: _run(tmp, f"{prefix}-object", "{}", model()),
             "no_checkpoint": lambda v: _run(tmp, f"{prefix}-no-checkpoint", record, None)}
    if width_key is not None:
        kinds.update({
            "missing_key": lambda v: _run(tmp, f"{prefix}-no-width", _without(width_key)(record), model()),
            "bad_width": lambda v: _run(tmp, f"{prefix}-bad-width", {**record, width_key: "wide"}, model()),
            "other_width": lambda v: _run(tmp, f"{prefix}-other-width", {**record, width_key: 2}, model())})
    return kinds


def _weights(tmp: Path, name: str, state: Callable[[], object] | bytes) -> Path:
    path = tmp / name
    if not path.exists():
        if isinstance(state, bytes):
            path.write_bytes(state)
        else:
            torch.save(state(), path)
    return path


def _fresh(tmp: Path) -> Path:
    return tmp / f"train-{next(_RUNS)}"


# --- calls that are not plain functions ------------------------------------------------------------------------------


def _learner_args() -> dict[str, object]:
    model = _unet()
    return {"model": model, "params": dict(model.named_parameters()), "x": torch.rand(1, 3, 16, 16)}


def _learner_call(model: object, params: object, x: object) -> object:
    return mh.FunctionalLearner(model, params)(x)  # type: ignore[arg-type]


def _simulated_item(tasks: object, expandnet_model: object) -> object:
    return mh.WithSimulatedLabels(tasks, expandnet_model)[0]  # type: ignore[arg-type]


def _random_query_item(tasks: object, seed: object = 0) -> object:
    return mh.RandomQueryTasks(tasks, seed)[0]  # type: ignore[arg-type]


def _train_kinds() -> dict[str, dict[str, Callable[[object], object]]]:
    """The options every ``train_*`` function checks before loading data."""
    return {"out_dir": _PATH, "profile": _CHOICE, "resume": _RESUME, "overwrite": _BOOL, "steps": _STEPS,
            "device": _CHOICE, "seed": _SEED, "progress": _CHOICE}


def _specs(tmp: Path) -> dict[str, Spec]:
    en_record = dataclasses.asdict(dataclasses.replace(en.PROFILES["quick"], width=1))
    mh_record = {"method": "metahdr", "labels": "true", "backend": "functional", "evaluate_on": "test",
                 **dataclasses.asdict(dataclasses.replace(_SMALL, base_width=1))}
    meta_val = {**mh_record, "select": "meta_val"}
    header = "step,phase,name,value,lr,elapsed_s\n"
    mh_train = {**_train_kinds(), "labels": _CHOICE, "loss": {"unknown": _CHOICE["unknown"], "int": _CHOICE["int"]},
                "expandnet_model": {k: f for k, f in _EXPANDNET_MODEL.items() if k != "None"},
                "backend": _CHOICE, "settings": _NOT_SETTINGS, "evaluate_on": _CHOICE}

    def en_run() -> Path:
        return _run(tmp, "en-run", en_record, en.ExpandNet(1))

    def mh_run() -> Path:
        return _run(tmp, "mh-run", mh_record, mh.MetaUNet(1))

    return {
        # validate.check_sequence (added for these modules)
        "hdrlab.validate.check_sequence": Spec(check_sequence, lambda: {"value": (0.0, 1.0), "name": "evs",
                                                                        "item": check_number},
                                               {"value": _EVS}),
        # expandnet
        "hdrlab.methods.expandnet.Settings": Spec(
            en.Settings, lambda: dataclasses.asdict(en.PROFILES["quick"]),
            {**{name: _POS_INT for name in ("width", "size", "batch_size", "steps", "train_max_side", "samples",
                                            "eval_max_side", "eval_every", "checkpoint_every")},
             "lr": _POS_FLOAT, "cosine_weight": _NONNEG_FLOAT, "target": _CHOICE, "train_evs": _EVS,
             "eval_evs": _EVS, "eval_crfs": _CRFS}),
        "hdrlab.methods.expandnet.ExpandNet": Spec(_module_call(en.ExpandNet),
                                                   lambda: {"x": torch.rand(1, 3, 8, 8), "width": 1},
                                                   {"x": _FEATURES, "width": _CHANNELS, "target": _CHOICE}),
        "hdrlab.methods.expandnet.encode_target": Spec(en.encode_target, lambda: {"hdr": _radiance(), "target": "max"},
                                                       {"hdr": {**_RADIANCE, "black": lambda v: v * 0},
                                                        "target": _CHOICE}),
        "hdrlab.methods.expandnet.loss_terms": Spec(
            en.loss_terms, lambda: {"model": en.ExpandNet(1), "batch": {"ldr": _image()[None], "hdr": _radiance()[None]},
                                    "cosine_weight": 5.0},
            {"model": {**_MODEL, "no_target": lambda v: nn.Identity()}, "batch": _BATCH,
             "cosine_weight": _NONNEG_FLOAT}),
        "hdrlab.methods.expandnet.predict": Spec(en.predict, lambda: {"model": en.ExpandNet(1), "ldr": _image()},
                                                 {"model": {**_MODEL, "metaunet": lambda v: _unet()},
                                                  "ldr": {**_LDR, "float16": lambda v: v.half()}}),
        "hdrlab.methods.expandnet.held_out_pairs": Spec(
            en.held_out_pairs, lambda: {"names": ["room_windows"], "max_side": 16, "evs": (0.0,), "crfs": ("srgb",)},
            {"names": {"None": lambda v: None, "int": lambda v: 3, "empty": lambda v: [],
                       "unknown": lambda v: ["no-such-scene"], "unknown_str": lambda v: "no-such-split",
                       "int_item": lambda v: [3]},
             "max_side": _POS_INT, "evs": _EVS, "crfs": _CRFS}),
        "hdrlab.methods.expandnet.baseline_hdrs": Spec(en.baseline_hdrs, lambda: {"ldr": _image()}, {"ldr": _LDR}),
        "hdrlab.methods.expandnet.evaluate": Spec(
            en.evaluate, lambda: {"model": en.ExpandNet(1), "pairs": [{"ldr": _image(), "hdr": _radiance()}]},
            {"model": {**_MODEL, "metaunet": lambda v: _unet()}, "pairs": _PAIRS}),
        "hdrlab.methods.expandnet.train_expandnet": Spec(
            en.train_expandnet, lambda: {"out_dir": _fresh(tmp), "profile": "quick", "steps": 1, "progress": "none"},
            _train_kinds()),
        "hdrlab.methods.expandnet.load_trained": Spec(
            en.load_trained, lambda: {"run_dir": en_run(), "device": "cpu"},
            {"run_dir": _run_kinds(tmp, "en", en_record, lambda: en.ExpandNet(1), "width"), "device": _CHOICE}),
        "hdrlab.methods.expandnet.load_reference_weights": Spec(
            en.load_reference_weights,
            lambda: {"path": _weights(tmp, "weights.pth", lambda: en.ExpandNet(64, "max").state_dict())},
            {"path": {**_PATH, "missing": lambda v: tmp / "no-such.pth",
                      "empty": lambda v: _weights(tmp, "empty.pth", b""),
                      "corrupt": lambda v: _weights(tmp, "corrupt.pth", b"not a pickle at all"),
                      "not_a_dict": lambda v: _weights(tmp, "tensor.pth", lambda: torch.zeros(2)),
                      "other_model": lambda v: _weights(tmp, "linear.pth", lambda: nn.Linear(2, 2).state_dict()),
                      "other_width": lambda v: _weights(tmp, "narrow.pth", lambda: en.ExpandNet(1).state_dict())}}),
        # metahdr
        "hdrlab.methods.metahdr.Settings": Spec(
            mh.Settings, lambda: dataclasses.asdict(mh.PROFILES["quick"]),
            {**{name: _POS_INT for name in ("base_width", "max_side", "samples", "meta_batch", "meta_iterations",
                                            "eval_max_side", "eval_tasks", "eval_every", "checkpoint_every")},
             **{name: {**_POS_INT, "small": lambda v: 16, "odd": lambda v: 40} for name in ("size", "eval_size")},
             "inner_steps": _NONNEG_INT, "inner_lr": _POS_FLOAT, "meta_lr": _POS_FLOAT, "loss": _CHOICE,
             "cosine_weight": _NONNEG_FLOAT, "first_order": _BOOL, "query": _CHOICE, "select": _CHOICE}),
        "hdrlab.methods.metahdr.MetaUNet": Spec(
            _module_call(mh.MetaUNet), lambda: {"x": torch.rand(1, 3, 16, 16), "base_width": 1, "levels": 2},
            {"x": {**_FEATURES, "odd_size": lambda v: v[..., :15, :15], "too_small": lambda v: v[..., :4, :4]},
             "base_width": _CHANNELS, "levels": _POS_INT, "head": _CHOICE}),
        "hdrlab.methods.metahdr.label": Spec(mh.label, lambda: {"hdr": _radiance()}, {"hdr": _RADIANCE}),
        "hdrlab.methods.metahdr.decode": Spec(mh.decode, lambda: {"pred": _image()},
                                              {"pred": {**_LDR, "one": lambda v: v.clone().fill_(1.0)}}),
        "hdrlab.methods.metahdr.make_loss": Spec(mh.make_loss, lambda: {"name": "expandnet"},
                                                 {"name": _CHOICE, "cosine_weight": _NONNEG_FLOAT,
                                                  "lpips_pretrained": {"str": lambda v: "yes", "None": lambda v: None,
                                                                       "int": lambda v: 1}}),
        "hdrlab.methods.metahdr.FunctionalLearner": Spec(
            _learner_call, _learner_args,
            {"model": _MODEL, "x": _FEATURES,
             "params": {"None": lambda v: None, "list": lambda v: list(v.values()),
                        "missing": lambda v: dict(list(v.items())[1:]),
                        "not_tensor": lambda v: {**v, next(iter(v)): "weights"},
                        "shape": lambda v: {**v, next(iter(v)): torch.zeros(1)}}}),
        "hdrlab.methods.metahdr.adapt": Spec(
            mh.adapt, lambda: {"model": _unet(), "support_ldr": torch.rand(2, 3, 16, 16),
                               "support_labels": torch.rand(2, 3, 16, 16) * 0.9, "steps": 1, "inner_lr": 0.1},
            {"model": _MODEL, "support_ldr": {**_LDR, "float16": lambda v: v.half(), "single": lambda v: v[0]},
             "support_labels": {**_LDR, "other_shape": lambda v: v[:1]}, "steps": _NONNEG_INT,
             "inner_lr": _POS_FLOAT, "loss": _LOSS, "backend": _CHOICE, "first_order": _BOOL,
             "create_graph": {k: f for k, f in _BOOL.items() if k != "None"}}),
        "hdrlab.methods.metahdr.meta_loss": Spec(
            mh.meta_loss, lambda: {"model": _unet(), "tasks": _batch(), "steps": 1, "inner_lr": 0.1},
            {"model": _MODEL, "tasks": _TASK_BATCH, "steps": _NONNEG_INT, "inner_lr": _POS_FLOAT, "loss": _LOSS,
             "backend": _CHOICE, "first_order": _BOOL}),
        "hdrlab.methods.metahdr.supervised_loss": Spec(
            mh.supervised_loss, lambda: {"model": _unet(), "tasks": _batch()},
            {"model": _MODEL, "tasks": _TASK_BATCH,
             "loss": {k: _LOSS[k] for k in ("unknown", "None", "int")}}),
        "hdrlab.methods.metahdr.WithSimulatedLabels": Spec(
            _simulated_item, lambda: {"tasks": [_task()], "expandnet_model": en.ExpandNet(1)},
            {"tasks": _EV_TASKS, "expandnet_model": _EXPANDNET_MODEL}),
        "hdrlab.methods.metahdr.RandomQueryTasks": Spec(
            _random_query_item, lambda: {"tasks": [_task()], "seed": 0},
            {"tasks": {**_EV_TASKS, "query_hdr_negative": _edit(query_hdr=lambda x: -x - 1),
                       "same_evs": _edit(support_ev=lambda x: x * 0, query_ev=lambda x: x * 0)},
             "seed": _SEED}),
        "hdrlab.methods.metahdr.held_out_tasks": Spec(
            mh.held_out_tasks, lambda: {"profile": "quick", "samples": 1, "settings": _SMALL},
            {"profile": _CHOICE, "samples": _STEPS, "split": _CHOICE,
             "query": {"unknown": _CHOICE["unknown"], "int": _CHOICE["int"]}, "settings": _NOT_SETTINGS}),
        "hdrlab.methods.metahdr.evaluate_tasks": Spec(
            mh.evaluate_tasks, lambda: {"model": _unet(), "tasks": [_task()], "steps": 1, "inner_lr": 0.1},
            {"model": _MODEL, "tasks": {**_TASKS, **_HDR_TASKS}, "steps": _NONNEG_INT, "inner_lr": _POS_FLOAT,
             "loss": _LOSS, "adapt_labels": _CHOICE, "backend": _CHOICE,
             "expandnet_model": {k: f for k, f in _EXPANDNET_MODEL.items() if k != "None"}}),
        "hdrlab.methods.metahdr.evaluate_expandnet": Spec(
            mh.evaluate_expandnet, lambda: {"expandnet_model": en.ExpandNet(1), "tasks": [_task()]},
            {"expandnet_model": _EXPANDNET_MODEL,
             "tasks": {**_EV_TASKS, "query_hdr_negative": _edit(query_hdr=lambda x: -x - 1)}}),
        "hdrlab.methods.metahdr.results_table": Spec(
            mh.results_table, lambda: {"rows": {"ldr": {"psnr": 20.0, "ssim": 0.8}}, "title": "T"},
            {"rows": {"None": lambda v: None, "str": lambda v: "rows", "list": lambda v: [v], "empty": lambda v: {},
                      "flat": lambda v: {"ldr": 20.0}, "value_str": lambda v: {"ldr": {"psnr": "high"}},
                      "int_name": lambda v: {3: {"psnr": 20.0}}},
             "title": {"int": lambda v: 3, "None": lambda v: None}}),
        "hdrlab.methods.metahdr.train_metahdr": Spec(
            mh.train_metahdr, lambda: {"out_dir": _fresh(tmp), "profile": "quick", "settings": _SMALL,
                                       "progress": "none"}, mh_train),
        "hdrlab.methods.metahdr.train_conventional": Spec(
            mh.train_conventional, lambda: {"out_dir": _fresh(tmp), "profile": "quick", "settings": _SMALL,
                                            "progress": "none"}, mh_train),
        "hdrlab.methods.metahdr.selected_checkpoint": Spec(
            mh.selected_checkpoint, lambda: {"run_dir": mh_run()},
            {"run_dir": {**_run_kinds(tmp, "sel", mh_record, nn.Identity, None),
                         "bad_metrics": lambda v: _run(tmp, "sel-bad-metrics", meta_val, nn.Identity(),
                                                       header + "1,eval,meta_val/ssim,high\n"),
                         "short_metrics": lambda v: _run(tmp, "sel-short-metrics", meta_val, nn.Identity(),
                                                         "step,phase\n1,eval\n"),
                         "no_score": lambda v: _run(tmp, "sel-no-score", meta_val, nn.Identity(), header)}}),
        "hdrlab.methods.metahdr.load_trained": Spec(
            mh.load_trained, lambda: {"run_dir": mh_run(), "device": "cpu"},
            {"run_dir": _run_kinds(tmp, "mh", mh_record, lambda: mh.MetaUNet(1), "base_width"),
             "device": _CHOICE}),
    }


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, Spec]:
    return _specs(tmp_path_factory.mktemp("fuzz-metahdr"))


def test_every_public_callable_has_a_spec(specs):
    missing = _missing_specs(COVERED_MODULES, specs, CONTAINERS)
    assert not missing, f"public callables without a fuzz spec: {missing} (add one to tests/test_fuzz_metahdr.py)"


@pytest.mark.parametrize("name", sorted(_specs(Path("never-written"))))
def test_the_valid_call_works(specs, name):
    spec = specs[name]
    spec.call(**spec.make())


@pytest.mark.parametrize(("name", "argument", "label"), _perturbations(_specs(Path("never-written"))))
def test_bad_input_is_a_typed_explained_error(specs, name, argument, label):
    _assert_typed_error(specs[name], argument, label)


def test_check_sequence_returns_a_list_and_checks_each_element():
    assert check_sequence((0.0, 2), "evs", check_number) == [0.0, 2]
    assert check_sequence(["a"], "names") == ["a"]
    with pytest.raises(RangeError, match=r"evs\[1\]"):
        check_sequence([0.0, math.inf], "evs", check_number)


def test_a_nan_inner_loss_names_its_step():
    from hdrlab.errors import NonFiniteLossError

    calls = iter([1.0, math.nan])

    def loss(pred, target):
        return (pred - target).abs().mean() * next(calls)

    with pytest.raises(NonFiniteLossError, match="inner step 2") as caught:
        mh.adapt(_unet(), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), steps=2, inner_lr=0.1, loss=loss)
    assert caught.value.step == 2


def test_the_train_functions_check_every_option_before_loading_data(tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the options were checked")

    monkeypatch.setattr(en, "LDRHDRPairs", no_data)
    monkeypatch.setattr(mh, "MetaTasks", no_data)
    with pytest.raises(HdrlabError):
        en.train_expandnet(tmp_path, "quick", progress="sometimes")
    with pytest.raises(HdrlabError):
        mh.train_metahdr(tmp_path, "quick", settings=_SMALL, seed=-1)
    with pytest.raises(HdrlabError):
        mh.train_conventional(None, "quick", settings=_SMALL)
