"""The published data of every table: each table of a rendered page as CSV, cell by cell as
printed (tables.styled's display tables, Styler tables and plain data frames with pandas'
rowspan index)."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from rehabkoord import render
from rehabkoord.tables import styled


def _rows(path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_a_styled_table_keeps_caption_marks_and_notes(tmp_path):
    table = pd.DataFrame({"Grupp": ["Alla", "Män"], "n": ["55", "<3"], "%": ["40,0", "×"]})
    table.attrs.update(numeric=["n", "%"], notes=["¹ Wilcoxon", "”×” undertryckt"])
    page = "<p>x</p>" + styled(table, "Tabell 3. Utfall", "t3") + "<p>y</p>"
    written = render.write_table_csvs(page, tmp_path)
    assert [p.name for p in written] == ["01_tabell_3_t3.csv"]
    assert _rows(written[0]) == [["Tabell 3. Utfall"], ["Grupp", "n", "%"],
                                 ["Alla", "55", "40,0"], ["Män", "<3", "×"],
                                 ["¹ Wilcoxon"], ["”×” undertryckt"]]


def test_a_data_frame_with_a_row_index_repeats_the_spanned_labels(tmp_path):
    index = pd.MultiIndex.from_tuples([("Diagnos", "F43"), ("Diagnos", "F32"),
                                       ("Ersättning", "Ingen")])
    frame = pd.DataFrame({"Arvika": ["3", "×", "5"], "Alla": ["7", "4", "9"]}, index=index)
    written = render.write_table_csvs(frame.to_html(), tmp_path)
    rows = _rows(written[0])
    assert rows[-3:] == [["Diagnos", "F43", "3", "7"], ["Diagnos", "F32", "×", "4"],
                         ["Ersättning", "Ingen", "5", "9"]]
    assert rows[0][-2:] == ["Arvika", "Alla"]


def test_tables_no_longer_on_the_page_are_removed(tmp_path):
    one = pd.DataFrame({"a": [1]}).to_html()
    render.write_table_csvs(one + one, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01.csv", "02.csv"]
    render.write_table_csvs(one, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01.csv"]


LEGEND_SV = "Teckenförklaring: × uppgift skyddad av sekretesskäl (röjandekontroll); "


@pytest.mark.parametrize("language, start", [("sv", LEGEND_SV), ("en", "Symbols: × withheld")])
def test_a_table_with_a_mark_gets_its_legend_under_it_and_one_without_none(tmp_path, language,
                                                                         start):
    marked = pd.DataFrame({"Grupp": ["Alla", "Män"], "n": ["0", "<3"], "%": ["0,0", "× (×)"]})
    marked.attrs.update(numeric=["n", "%"], notes=["¹ Wilcoxon"])
    plain = pd.DataFrame({"Grupp": ["Alla"], "n": ["0"]})
    index = pd.MultiIndex.from_tuples([("Diagnos", "F43"), ("Diagnos", "F32")])
    frame = pd.DataFrame({"Arvika": ["3", "×"], "Alla": ["7", "."]}, index=index)
    page = render.add_legends(styled(marked, "Tabell 1. U", "t1") + styled(plain, "Tabell 2. V",
                                                                            "t2")
                              + frame.to_html(), language)
    one, two, three = render.published_tables(page)
    assert one.notes[0] == "¹ Wilcoxon" and one.notes[1].startswith(start)
    assert ("<3" in one.notes[1]) and (".." not in one.notes[1])  # only the marks present
    assert two.notes == []  # a table without marks: no legend, and its zero stays 0
    assert two.rows == [["Alla", "0"]]
    assert three.notes[0].startswith(start) and three.notes[0].endswith(
        "kan inte förekomma." if language == "sv" else "not applicable.")
    assert render.add_legends(page, language) == page  # once only
    rows = _rows(render.write_table_csvs(page, tmp_path)[0])
    assert rows[2:4] == [["Alla", "0", "0,0"], ["Män", "<3", "× (×)"]]  # zero and mark apart
    assert rows[-1][0].startswith(start)
