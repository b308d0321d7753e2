"""Chapter 5's studies over seeds (benchmarks/hybrid_seeds.py): the summary rule, the record, and the notebook's prose.

Notebook 05 quotes the 5-seed numbers of that script's record and of docs/effects.json in its markdown; these
tests fail when a record changes (or the quick profile does) and the prose is not updated with it.
"""

import importlib.util
import json
import math
from pathlib import Path

import pytest

from hdrlab.course.notebook import read_notebook, source
from hdrlab.methods import hybrid

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "hybrid_seeds.json"
EFFECTS = ROOT / "docs" / "effects.json"
NOTEBOOK = ROOT / "notebooks" / "05_hybrid_autoencoder.ipynb"


def _script():
    spec = importlib.util.spec_from_file_location("hybrid_seeds", ROOT / "benchmarks" / "hybrid_seeds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pm(row: dict, fmt: str, sign: str = "") -> str:
    """``mean ± std`` as the notebook prints it."""
    return f"{row['mean']:{sign}{fmt}} ± {row['std']:{fmt}}"


def _markdown() -> str:
    return "\n".join(source(cell) for cell in read_notebook(NOTEBOOK)["cells"] if cell["cell_type"] == "markdown")


def test_spread_rule_is_two_std_in_either_direction():
    spread = _script().spread
    assert spread([0.10, 0.12, 0.08])["clear"] and spread([-0.10, -0.12, -0.08])["clear"]
    assert not spread([0.1, -0.2, 0.15])["clear"]
    row = spread([1.0, 2.0, 3.0])
    assert (row["mean"], row["std"], row["min"], row["max"]) == (2.0, 1.0, 1.0, 3.0)


def test_differences_are_paired_by_seed():
    script = _script()
    # seeds differ by a lot, but the code run is 0.5 dB above the poster run of the same seed, every time
    runs = {name: [{metric: 10.0 * seed + 0.5 * (name == "code") for metric in script.METRICS} for seed in range(5)]
            for name in script.VARIANTS}
    summary = script.summarise(runs)
    paired = summary["differences"]["code_minus_poster/psnr_log"]
    assert paired["mean"] == pytest.approx(0.5) and paired["std"] == pytest.approx(0.0) and paired["clear"]
    assert summary["variants"]["code"]["psnr_log/hybrid"]["std"] > 5  # unpaired, the spread would hide it
    swapped = {**runs, "code": runs["code"][::-1]}  # mismatched seeds: no longer a constant offset
    assert not script.summarise(swapped)["differences"]["code_minus_poster/psnr_log"]["clear"]


def test_record_is_current_and_consistent():
    script, record = _script(), json.loads(RECORD.read_text())
    settings = hybrid.settings_for(script.PROFILE)
    assert record["profile"] == "quick" and len(record["seeds"]) >= 5 and record["pretrained"] is False
    assert record["steps"] == settings.epochs * math.ceil(settings.samples / settings.batch_size)
    assert record["ablations"] == script.VARIANTS
    assert all(len(record["runs"][name]) == len(record["seeds"]) for name in script.VARIANTS)
    summary = script.summarise(record["runs"])
    assert record["variants"] == summary["variants"] and record["differences"] == summary["differences"]


def test_notebook_quotes_the_records():
    record, effects, text = json.loads(RECORD.read_text()), json.loads(EFFECTS.read_text()), _markdown()
    diff, variants = record["differences"], record["variants"]
    quoted = [
        _pm(diff["code_minus_poster/psnr_log"], ".2f", "+"), _pm(diff["code_minus_poster/psnr_tm"], ".2f", "+"),
        _pm(diff["code_minus_poster/checkerboard"], ".3f", "+"), _pm(diff["poster_minus_icnr/checkerboard"], ".3f"),
        _pm(variants["poster"]["checkerboard/hybrid"], ".3f"), _pm(variants["icnr"]["checkerboard/hybrid"], ".3f"),
        _pm(diff["poster_minus_icnr/psnr_log"], ".2f"), _pm(diff["poster_minus_icnr/psnr_tm"], ".2f"),
        _pm(effects["upsampler_checkerboard"], ".3f"),
        f"smallest margin {effects['upsampler_checkerboard']['min']:.3f}",
        _pm(effects["hybrid_over_constant"], ".2f"), f"smallest margin {effects['hybrid_over_constant']['min']:.2f} dB",
    ]
    missing = [number for number in quoted if number not in text]
    assert not missing, f"notebook 05 does not quote the records' {missing}: update its prose"
    # what the prose concludes must be what the record says
    assert not any(diff[f"code_minus_poster/{m}"]["clear"] for m in ("psnr_log", "psnr_tm", "checkerboard"))
    assert "each difference is within the seed-to-seed spread" in text
    assert diff["poster_minus_icnr/checkerboard"]["clear"] and diff["poster_minus_icnr/checkerboard"]["min"] > 0
    assert min(diff[f"poster_minus_icnr/{m}"]["min"] for m in ("psnr_log", "psnr_tm")) > 0
    assert "lower in every seed" in text
