"""A Table 1 (`rehabkoord.table1`) laid out as gtsummary does, in the report language.

Kept apart from `table1` so that computing the table does not depend on number formatting.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .fmt import number, pvalue
from .table1 import Table1

WORDS = {
    "sv": {"variable": "Variabel", "p": "p-värde", "missing": "Saknas", "median_iqr": "median [IQR]",
           "n_pct": "n (%)", "wilcoxon": "Wilcoxons rangsummetest",
           "kruskal": "Kruskal–Wallis test", "chisq": "Pearsons chi2-test",
           "fisher": "Fishers exakta test"},
    "en": {"variable": "Variable", "p": "p-value", "missing": "Unknown",
           "median_iqr": "median [IQR]", "n_pct": "n (%)", "wilcoxon": "Wilcoxon rank-sum test",
           "kruskal": "Kruskal–Wallis test", "chisq": "Pearson's chi-square test",
           "fisher": "Fisher's exact test"},
}
MARKS = "¹²³⁴⁵"
INDENT = "\u2003"  # an em space: levels sit beneath their variable


def footnote_marks(result: Table1) -> dict[str, str]:
    """A superscript mark per test used, in order of first use (as gtsummary's footnotes)."""
    used = [t for t in dict.fromkeys(result.tests.values()) if t != "none"]
    return {t: MARKS[i] for i, t in enumerate(used)}


def display_table(result: Table1, labels: Mapping[str, str] | None = None,
                  language: str = "sv") -> tuple[pd.DataFrame, list[str]]:
    """The table as gtsummary lays it out, and its footnotes: variable labels (from `labels`,
    else the column name) with levels indented beneath, one column per group headed with its N,
    p-values marked with the test's footnote, and a missing row where values are missing."""
    words, labels = WORDS[language], dict(labels or {})
    marks = footnote_marks(result)
    heads = {g: f"{labels.get(g, g)} (N = {result.n[g]})" for g in result.groups}
    rows: list[dict] = []
    for var, part in result.table.groupby("variable", sort=False):
        first = part.iloc[0]
        kind = result.types[var]
        mark = marks.get(first["test"], "")
        p_text = "" if first["test"] == "none" else pvalue(float(first["pvalue"]), language) + mark
        summary = words["median_iqr"] if kind == "continuous" else words["n_pct"]
        head = {words["variable"]: f"{labels.get(var, var)}, {summary}", words["p"]: p_text}
        if kind == "categorical":
            rows.append(head | {heads[g]: "" for g in result.groups})
        for _, r in part.iterrows():
            cells = {}
            for g in result.groups:
                sfx = result.suffixes[g]
                if kind == "continuous":
                    cells[heads[g]] = "–" if r[f"n_{sfx}"] == 0 else (
                        f"{number(float(r[f'median_{sfx}']), 1, language)} "
                        f"[{number(float(r[f'q1_{sfx}']), 1, language)}–"
                        f"{number(float(r[f'q3_{sfx}']), 1, language)}]")
                else:
                    cells[heads[g]] = (f"{int(r[f'events_{sfx}'])} "
                                       f"({number(float(r[f'pct_{sfx}']), 1, language)})")
            if kind == "categorical":
                level = labels.get(r["level"], r["level"])
                rows.append({words["variable"]: INDENT + level, words["p"]: ""} | cells)
            else:
                rows.append(head | cells)
        if any(first[f"missing_{result.suffixes[g]}"] for g in result.groups):
            rows.append({words["variable"]: INDENT + words["missing"], words["p"]: ""}
                        | {heads[g]: str(int(first[f"missing_{result.suffixes[g]}"]))
                           for g in result.groups})
    columns = [words["variable"], *heads.values(), words["p"]]
    notes = [f"{mark} {words[test]}" for test, mark in marks.items()]
    return pd.DataFrame(rows, columns=columns), notes
