"""A notebook grades only key effects that hold beyond seed noise, as recorded by benchmarks/effects.py."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from hdrlab.course.notebook import read_notebook, role, source

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "effects.json"
#: Key-effect checkers that grade no measured margin: they check how an experiment was set up.
STRUCTURAL = {"check_controlled_comparison": "same settings and weights up to stage (c), then different: "
                                             "deterministic given the runs, no seed noise to measure"}


def _script():
    spec = importlib.util.spec_from_file_location("effects", ROOT / "benchmarks" / "effects.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _graded_checkers() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in read_notebook(path)["cells"]:
            if role(cell) == "key-effect":
                found += [(path.name, name) for name in re.findall(r"checks\.(\w+)\(", source(cell))]
    return found


@pytest.mark.parametrize(("notebook", "checker"), _graded_checkers())
def test_every_graded_effect_is_supported_by_the_record(notebook, checker):
    effects = _script().CHECKED_BY
    assert checker in effects or checker in STRUCTURAL, f"{notebook} grades {checker}: add it to benchmarks/effects.py"
    record = json.loads(RECORD.read_text())
    for effect in effects.get(checker, ()):
        row = record.get(effect)
        assert row is not None, f"{effect} is not in {RECORD.name}: run python benchmarks/effects.py"
        assert len(row["seeds"]) >= 5 and row["profile"] == "quick"
        assert row["supported"] and row["mean"] > 2 * row["std"], (
            f"{notebook} grades {effect}, but over seeds {row['seeds']} its margin is {row['mean']:.3f} "
            f"± {row['std']:.3f} (min {row['min']:.3f}): grade a weaker, true statement")


def test_the_summary_rule():
    summarise = _script().summarise
    assert summarise({"e": [0.5, 0.6, 0.55, 0.52, 0.58]}, [0, 1, 2, 3, 4], 2)["e"]["supported"]
    assert not summarise({"e": [1.0, -0.2, 0.9, 1.1, -0.1]}, [0, 1, 2, 3, 4], 2)["e"]["supported"]
