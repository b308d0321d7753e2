"""The papers' published tables: transcribed whole, printed with their citation and label."""

import re
from pathlib import Path

import pytest

from hdrlab import papers
from hdrlab.errors import ChoiceError

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "paper_numbers.md"


def test_every_table_is_rectangular_labelled_and_cited():
    for (method, number), table in papers.TABLES.items():
        assert method in papers.CITATIONS and table.label.startswith("paper: ")
        assert all(len(row) == len(table.columns) for row in table.rows), (method, number)
        text = papers.paper_table(method, number)
        assert f"Table {number} (" in text.splitlines()[0] and table.label in text.splitlines()[0]
        assert len(text.splitlines()) == 2 + len(table.rows)


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference/paper_numbers.md is not beside the checkout")
def test_every_published_figure_of_the_reference_sheet_is_transcribed():
    # every number of the sheet's tables (the lines that start with "|") appears in some transcribed table
    sheet = [line for line in REFERENCE.read_text().splitlines() if line.startswith("|")]
    published = {figure for line in sheet for figure in re.findall(r"\d+\.\d+(?: ± \d+\.\d+)?", line)}
    transcribed = {cell for table in papers.TABLES.values() for row in table.rows for cell in row}
    assert published - transcribed == set()


def test_unknown_table():
    with pytest.raises(ChoiceError, match="hdrlab.papers.TABLES"):
        papers.paper_table("metahdr", 7)
