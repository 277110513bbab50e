"""An attacker who reads a rendered appendix's published counts and tries to narrow the withheld.

Independent of `rehabkoord.disclosure`'s own audit: the relations a reader knows are declared
here from the tables' layout (flow steps, both windows' randomised groups, strata, outcome n
against the analysed, Table 1 levels against N, events + non-events), the published numbers
come from `data/processed/uppsala/tables/published.json`, and every interval is one full LP (scipy's HiGHS).
A withheld count ("<m") must keep an interval as wide as "<m" itself (1–(m−1), or 0–(m−1)
when zeros are small too); so must any other count the reader can tell is small (withheld
"–", or implied: non-events, all excluded), unless it is a published kind of zero. The power
text's n is the smaller group's analysed n, so both cases are tried.

    python tests/attacker.py data/processed/uppsala/tables/published.json
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

GROUPS = ("Intervention", "Kontroll")
STRATA = ("kvinna", "man")


@dataclass(frozen=True)
class Finding:
    cell: tuple
    low: float
    high: float
    mark: str
    too_narrow: bool


class Model:
    """Unknown counts (≥ 0) and linear equalities sum(coef · x) = 0."""

    def __init__(self, cells: list[dict]):
        self.value = {tuple(c["key"]): c["published"] for c in cells}
        self.mark = {tuple(c["key"]): c["mark"] for c in cells}
        self.vars: dict[tuple, int] = {}
        self.rows: list[dict[tuple, float]] = []

    def var(self, key: tuple) -> tuple:
        self.vars.setdefault(key, len(self.vars))
        return key

    def equal(self, total: tuple, parts: list[tuple]) -> None:
        row: dict[tuple, float] = {}
        for k, a in ((total, 1.0), *((p, -1.0) for p in parts)):
            self.var(k)
            row[k] = row.get(k, 0.0) + a
        self.rows.append(row)

    def bounds(self, min_cell: int, zeros: bool) -> list[tuple[float, float | None]]:
        out: list[tuple[float, float | None]] = [(0.0, None)] * len(self.vars)
        for k, i in self.vars.items():
            if self.value.get(k) is not None:
                out[i] = (float(self.value[k]), float(self.value[k]))
            elif self.mark.get(k, "").startswith("<"):
                out[i] = (0.0 if zeros else 1.0, float(min_cell - 1))
        return out

    def interval(self, key: tuple, bounds, extra: list[dict[tuple, float]]) -> tuple[float, float]:
        rows = self.rows + extra
        a = np.zeros((len(rows), len(self.vars)))
        for r, row in enumerate(rows):
            for k, coef in row.items():
                a[r, self.vars[k]] = coef
        ends = []
        for sign in (1.0, -1.0):
            c = np.zeros(len(self.vars))
            c[self.vars[key]] = sign
            res = linprog(c, A_eq=a, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
            if res.status == 2:
                return (math.nan, math.nan)  # this case is impossible
            if res.status == 3:
                ends.append(math.inf)
                continue
            assert res.status == 0, res.message
            ends.append(sign * res.fun)
        return ends[0], ends[1]


def reader_model(cells: list[dict]) -> tuple[Model, list[list[dict]]]:
    """The relations a reader of the appendix knows; returns the model and the alternative
    cases for the power text's n (one per group)."""
    m = Model(cells)
    keys = list(m.value)
    for k in keys:
        m.var(k)
    windows = sorted({k[1] for k in keys if k[0] == "flow"})
    for w in windows:
        for g in GROUPS:
            steps = [k for k in keys if k[:3] == ("flow", w, g)
                     and k[3] not in ("analysed", "employment_status_missing")]
            excluded = m.var(("all excluded", w, g))
            m.equal(excluded, steps)
            m.equal(("randomised", g), [excluded, ("flow", w, g, "analysed")])
    if ("randomised_total",) in m.value:
        m.equal(("randomised_total",), [("randomised", g) for g in GROUPS])
    outcomes = {k[1:4] for k in keys if k[0] == "n"}
    for w, stratum, o in outcomes:
        for g in GROUPS:
            n = ("n", w, stratum, o, g)
            if ("events", w, stratum, o, g) in m.value:
                m.equal(n, [("events", w, stratum, o, g), m.var(("non-events", w, stratum, o, g))])
            if ("any days", w, stratum, o, g) in m.value:  # the zero-heavy figures' counts
                m.equal(n, [("any days", w, stratum, o, g), m.var(("no days", w, stratum, o, g))])
            if stratum == "alla":
                m.equal(n, [("n", w, s, o, g) for s in STRATA])
                if ("events", w, stratum, o, g) in m.value:
                    m.equal(("events", w, stratum, o, g), [("events", w, s, o, g) for s in STRATA])
                if ("flow", w, g, "analysed") in m.value:
                    parts = [n]
                    if ("events", w, stratum, o, g) in m.value:
                        parts.append(("flow", w, g, "employment_status_missing"))
                    m.equal(("flow", w, g, "analysed"), parts)
    # within a stratum, days outcomes share their n; the binary n may only be smaller
    for w, stratum in {(w, s) for w, s, _ in outcomes if s != "alla"}:
        for g in GROUPS:
            days = [("n", w, stratum, o, g) for ww, s, o in outcomes if (ww, s) == (w, stratum)
                    and ("events", w, stratum, o, g) not in m.value]
            binary = [("n", w, stratum, o, g) for ww, s, o in outcomes
                      if (ww, s) == (w, stratum) and ("events", w, stratum, o, g) in m.value]
            for other in days[1:]:
                m.equal(days[0], [other])
            for b in binary if days else []:
                m.equal(days[0], [b, m.var(("employment missing", w, stratum, b[3], g))])
    for var, g in {(k[1], k[2]) for k in keys if k[0] == "t1 n"}:
        levels = [k for k in keys if k[0] == "t1" and k[1] == var and k[3] == g]
        if len(levels) == 1:
            levels.append(m.var(("t1 not", var, g)))
        m.equal(("t1 n", var, g), levels)
        m.equal(("randomised", g), [("t1 n", var, g), m.var(("t1 missing", var, g))])
    cases: list[list[dict]] = [[]]
    if ("power n",) in m.value:
        cases = []
        for g in GROUPS:
            w = max(windows, key=lambda x: (("flow", x, g, "analysed") in m.value, x))
            cases.append([{("power n",): 1.0, ("flow", w, g, "analysed"): -1.0}])
    return m, cases


def attack(published: dict) -> list[Finding]:
    """The reader's interval for every count not published exactly, and whether it is too
    narrow for the release rules stated in the appendix."""
    rules = published["rules"]
    min_cell, zeros = rules["min_cell"], rules["zeros_disclosive"]
    width = max(1, min_cell - 1 - (0 if zeros else 1))  # as many values as "<min_cell" allows
    m, cases = reader_model(published["cells"])
    bounds = m.bounds(min_cell, zeros)
    out = []
    for key in m.vars:
        if m.value.get(key) is not None:
            continue
        ends = [m.interval(key, bounds, extra) for extra in cases]
        ends = [e for e in ends if not math.isnan(e[0])]
        assert ends, f"the published numbers contradict the reader's relations at {key}"
        low, high = min(e[0] for e in ends), max(e[1] for e in ends)
        mark = m.mark.get(key, "")
        labelled_small = mark.startswith("<")
        if not labelled_small and high >= min_cell - 1e-6:
            too_narrow = False  # the reader cannot tell it is small
        elif not zeros and high <= 1e-6:
            too_narrow = False  # a zero, and zeros are published
        else:
            too_narrow = high - low < width - 1e-6
        out.append(Finding(key, low, high, mark, too_narrow))
    return out


def summary(findings: list[Finding], title: str) -> str:
    lines = [f"{title}: {len(findings)} withheld or implied counts checked, "
             f"{sum(f.too_narrow for f in findings)} too narrow"]
    for f in findings:
        shown = f.mark or "(implied)"
        lines.append(f"  {'TOO NARROW' if f.too_narrow else 'ok':10} {shown:10} "
                     f"[{f.low + 0.0:g}, {f.high + 0.0:g}]  {' / '.join(map(str, f.cell))}")
    return "\n".join(lines)


def assert_appendix_cannot_be_undone(project: Path) -> str:
    """The attacker against a built project's rendered appendix; returns the printout."""
    published = json.loads((project / "data" / "processed" / "uppsala" / "tables" / "published.json")
                           .read_text(encoding="utf-8"))
    html = (project / "reports" / "uppsala" / "bilaga.html").read_text(encoding="utf-8")
    marks = {c["mark"] for c in published["cells"] if c["mark"]}
    for mark in marks:
        assert mark.replace("<", "&lt;") in html, f"{mark} is withheld but not shown"
    findings = attack(published)
    text = summary(findings, str(project.name))
    assert not [f for f in findings if f.too_narrow], text
    return text


def main(argv: list[str]) -> int:
    bad = 0
    for path in argv:
        findings = attack(json.loads(Path(path).read_text(encoding="utf-8")))
        print(summary(findings, path))
        bad += sum(f.too_narrow for f in findings)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
