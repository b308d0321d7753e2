"""Chapter 3's benchmark scripts: the validation search's margins and choice, and the perceptual study's variants."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

from hdrlab.methods import multiexposure as me

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


search = _load("multiexposure_search")
perceptual = _load("multiexposure_perceptual")


@pytest.fixture
def tiny(monkeypatch):
    """The quick profile shrunk so that a run takes about a second (same code paths)."""
    small = dataclasses.replace(
        me.PROFILES["quick"], n1_width=2, n1_max_width=4, n23_width=4, n23_max_width=8, levels=3, size=16,
        batch_size=2, train_max_side=64, samples=8, log_every=1, eval_max_side=32, eval_crfs=("srgb",),
        eval_evs=(-2.0, 0.0, 2.0), eval_every=100, checkpoint_every=100,
    )
    monkeypatch.setitem(me.PROFILES, "quick", small)
    return small


def test_margins_are_the_key_effects_differences():
    scores = {"stack_psnr/+2/generated": 20.0, "stack_psnr/+2/naive": 14.5, "stack_psnr/-2/generated": 15.0,
              "stack_psnr/-2/naive": 16.0, "tm_psnr/generated": 19.0, "tm_psnr/ldr": 18.0}
    assert search.margins(scores) == (5.5, -1.0, 1.0)


def test_choose_maximises_the_smallest_mean_margin_and_prefers_fewer_steps():
    table = {
        (1e-3, 2.0, 100): [(9.0, 0.2, 3.0), (9.0, 0.4, 3.0)],  # best mean margins but one is thin: 0.3
        (5e-3, 2.0, 200): [(2.0, 1.0, 1.5), (2.0, 2.0, 0.5)],  # means 2.0, 1.5, 1.0: smallest 1.0
        (5e-3, 2.0, 300): [(2.0, 1.0, 1.0), (2.0, 2.0, 1.0)],  # same smallest mean (1.0), more steps
        (1e-2, 3.0, 100): [(5.0, 3.0, -0.5), (5.0, 3.0, 3.0)],  # smallest mean 1.25 ... but one seed negative
    }
    assert search.choose(table) == (1e-2, 3.0, 100)
    del table[(1e-2, 3.0, 100)]
    assert search.choose(table) == (5e-3, 2.0, 200)


def test_a_search_run_scores_the_validation_scenes(tmp_path, tiny):
    evaluations = search.run(tmp_path, 0, 5e-3, 2.0, 2, "val", eval_every=1)
    assert [e["step"] for e in evaluations] == [1, 2]
    model = me.load_trained(tmp_path / "val_0.005_2_2_0")
    val = me.evaluate(model, me.held_out_brackets("val", tiny.eval_max_side, tiny.eval_crfs, tiny.eval_evs))
    assert {k: v for k, v in evaluations[-1].items() if k != "step"} == pytest.approx(val)
    test = me.evaluate(model, me.held_out_brackets("test", tiny.eval_max_side, tiny.eval_crfs, tiny.eval_evs))
    assert search.margins(evaluations[-1]) != pytest.approx(search.margins(test))


def test_perceptual_variants_differ_only_in_the_perceptual_term():
    off, mean, channel_sum = (me.settings_for("quick", overrides=o) for o in perceptual.VARIANTS.values())
    assert off.perceptual_weight == 0 and mean.perceptual_weight == channel_sum.perceptual_weight == 0.1
    assert (mean.perceptual_reduction, channel_sum.perceptual_reduction) == ("mean", "channel_sum")
    assert dataclasses.replace(mean, perceptual_reduction="channel_sum") == channel_sum
    row = {"stack_psnr/+2/generated": 20.0, "stack_psnr/+2/naive": 14.0, "stack_psnr/-2/generated": 17.0,
           "stack_psnr/-2/naive": 16.0, "tm_psnr/generated": 19.0, "tm_psnr/ldr": 18.0, "hdr_psnr/generated": 15.0,
           "rd_psnr/generated": 21.0}
    assert [f(row) for f in perceptual.COLUMNS.values()] == [6.0, 1.0, 1.0, 15.0, 21.0]
