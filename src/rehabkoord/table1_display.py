"""A Table 1 (`rehabkoord.table1`) laid out as gtsummary does, in the report language.

Kept apart from `table1` so that computing the table does not depend on number formatting.
The display table carries what `tables.styled` needs in its `attrs`: "numeric" (the group and
p-value columns, right-aligned), "levels" (1 for the rows indented beneath their variable: a
categorical variable's levels and the missing-values row) and "notes" (the tests' footnotes).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from . import texts
from .fmt import NOT_APPLICABLE, number, pvalue
from .table1 import Table1

MARKS = "¹²³⁴⁵⁶"


def _test_key(row: pd.Series) -> str:
    """The test as run: "chisq_yates" where Yates' correction was applied (a 2×2 table with
    `chisq_correct=True`), else the test's name from `table1`."""
    if row["test"] == "chisq" and "Yates" in str(row.get("method", "")):
        return "chisq_yates"
    return str(row["test"])


def footnote_marks(result: Table1) -> dict[str, str]:
    """A superscript mark per test used, in order of first use (as gtsummary's footnotes);
    a chi-square test with Yates' correction is its own test ("chisq_yates")."""
    firsts = result.table.drop_duplicates("variable")
    used = [k for k in dict.fromkeys(_test_key(r) for _, r in firsts.iterrows()) if k != "none"]
    return {t: MARKS[i] for i, t in enumerate(used)}


def display_table(result: Table1, labels: Mapping[str, str] | None = None,
                  language: str = "sv") -> tuple[pd.DataFrame, list[str]]:
    """The table as gtsummary lays it out, and its footnotes: variable labels (from `labels`,
    else the column name) with levels beneath (attrs "levels" indents them), one column per
    group headed with its N, p-values marked with the test's footnote, and a missing row
    where values are missing. Continuous variables show median [Q1–Q3] (the quartiles of
    `result.quantile_type`), "." (`fmt.NOT_APPLICABLE`) for a group with no values. The
    frame's attrs are ready for `tables.styled`."""
    words = texts.shared("tabell1", language)
    labels = dict(labels or {})
    marks = footnote_marks(result)
    heads = {g: f"{labels.get(g, g)} (N = {result.n[g]})" for g in result.groups}
    rows: list[dict] = []
    levels: list[int] = []
    for var, part in result.table.groupby("variable", sort=False):
        first = part.iloc[0]
        kind = result.types[var]
        mark = marks.get(_test_key(first), "")
        p_text = "" if first["test"] == "none" else pvalue(float(first["pvalue"]), language) + mark
        summary = words["median_kvartiler"] if kind == "continuous" else words["antal_procent"]
        head = {words["variabel"]: f"{labels.get(var, var)}, {summary}", words["p_varde"]: p_text}
        if kind == "categorical":
            rows.append(head | {heads[g]: "" for g in result.groups})
            levels.append(0)
        for _, r in part.iterrows():
            cells = {}
            for g in result.groups:
                sfx = result.suffixes[g]
                if kind == "continuous":
                    cells[heads[g]] = NOT_APPLICABLE if r[f"n_{sfx}"] == 0 else (
                        f"{number(float(r[f'median_{sfx}']), 1, language)} "
                        f"[{number(float(r[f'q1_{sfx}']), 1, language)}–"
                        f"{number(float(r[f'q3_{sfx}']), 1, language)}]")
                else:
                    cells[heads[g]] = (f"{int(r[f'events_{sfx}'])} "
                                       f"({number(float(r[f'pct_{sfx}']), 1, language)})")
            if kind == "categorical":
                level = labels.get(r["level"], r["level"])
                rows.append({words["variabel"]: level, words["p_varde"]: ""} | cells)
                levels.append(1)
            else:
                rows.append(head | cells)
                levels.append(0)
        if any(first[f"missing_{result.suffixes[g]}"] for g in result.groups):
            rows.append({words["variabel"]: words["saknas"], words["p_varde"]: ""}
                        | {heads[g]: str(int(first[f"missing_{result.suffixes[g]}"]))
                           for g in result.groups})
            levels.append(1)
    columns = [words["variabel"], *heads.values(), words["p_varde"]]
    notes = [f"{mark} {words['test'][test]}" for test, mark in marks.items()]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs.update(numeric=[*heads.values(), words["p_varde"]], levels=levels, notes=list(notes))
    return frame, notes
