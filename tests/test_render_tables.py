"""The published data of every table: each table of a rendered page as CSV, cell by cell as
printed (tables.styled's display tables, Styler tables and plain data frames with pandas'
rowspan index)."""

from __future__ import annotations

import csv

import pandas as pd

from rehabkoord import render
from rehabkoord.tables import styled


def _rows(path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_a_styled_table_keeps_caption_marks_and_notes(tmp_path):
    table = pd.DataFrame({"Grupp": ["Alla", "Män"], "n": ["55", "<3"], "%": ["40,0", "–"]})
    table.attrs.update(numeric=["n", "%"], notes=["¹ Wilcoxon", "”–” undertryckt"])
    page = "<p>x</p>" + styled(table, "Tabell 3. Utfall", "t3") + "<p>y</p>"
    written = render.write_table_csvs(page, tmp_path)
    assert [p.name for p in written] == ["01_tabell_3_t3.csv"]
    assert _rows(written[0]) == [["Tabell 3. Utfall"], ["Grupp", "n", "%"],
                                 ["Alla", "55", "40,0"], ["Män", "<3", "–"],
                                 ["¹ Wilcoxon"], ["”–” undertryckt"]]


def test_a_data_frame_with_a_row_index_repeats_the_spanned_labels(tmp_path):
    index = pd.MultiIndex.from_tuples([("Diagnos", "F43"), ("Diagnos", "F32"),
                                       ("Ersättning", "Ingen")])
    frame = pd.DataFrame({"Arvika": ["3", "–", "5"], "Alla": ["7", "4", "9"]}, index=index)
    written = render.write_table_csvs(frame.to_html(), tmp_path)
    rows = _rows(written[0])
    assert rows[-3:] == [["Diagnos", "F43", "3", "7"], ["Diagnos", "F32", "–", "4"],
                         ["Ersättning", "Ingen", "5", "9"]]
    assert rows[0][-2:] == ["Arvika", "Alla"]


def test_tables_no_longer_on_the_page_are_removed(tmp_path):
    one = pd.DataFrame({"a": [1]}).to_html()
    render.write_table_csvs(one + one, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01.csv", "02.csv"]
    render.write_table_csvs(one, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01.csv"]
