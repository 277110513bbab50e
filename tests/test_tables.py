"""Display tables and appendix captions shared by every study."""

from __future__ import annotations

import pandas as pd

from rehabkoord.tables import AppendixText, styled


def test_captions_are_numbered_per_kind_in_the_report_language():
    captions = {"t": ("table", 2, "Antal.", "Counts."), "f": ("figure", 1, "Kurva.", "Curve.")}
    headings = {"sv": {"res": "Resultat"}, "en": {"res": "Results"}}
    sv, en = AppendixText("sv", headings, captions), AppendixText("en", headings, captions)
    assert sv.caption("t") == "Tabell 2. Antal." and en.caption("f") == "Figure 1. Curve."
    assert sv.heading("res") == "## Resultat" and en.title("X") == "# X"


def test_styled_escapes_cells_and_is_byte_stable():
    table = pd.DataFrame({"Grupp": ["A", "B"], "n": ["<5", "12"]})
    table.attrs.update(numeric=["n"], notes=["¹ Not."])
    first, second = styled(table, "Tabell 1. Antal", "t1"), styled(table, "Tabell 1. Antal", "t1")
    assert first == second
    assert "&lt;5" in first and "<5" not in first.replace("&lt;5", "")
    assert 'class="rk-notes"' in first and "Tabell 1. Antal" in first
