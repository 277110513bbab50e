"""An attacker who reads a rendered appendix's published counts and tries to narrow the withheld.

Independent of `rehabkoord.disclosure`'s own audit: the relations a reader knows are declared
here from the tables' layout (flow steps, both windows' randomised groups, strata, outcome n
against the analysed, Table 1 levels against N, events + non-events), the published numbers
come from `data/processed/uppsala/tables/published.json`, and every interval is one full LP (scipy's HiGHS).
When zeros are printed as 0, the reader knows any mark hides at least 1. A withheld
count ("<m") must keep an interval as wide as "<m" itself (1–(m−1), or 0–(m−1)
when zeros are small too); so must any other count the reader can tell is small (withheld
"–", or implied: non-events, all excluded), unless it is a published kind of zero. The power
text's n is the smaller group's analysed n, so both cases are tried.

Beyond the counts, two attacks on the other published numbers: `invert_quantiles` solves the
linear system type-7 quantiles of a small group form (a figure's deciles of 6 persons give
back all 6 values), and `pvalue_attack` searches every value of a withheld count for those
that reproduce a published p-value (chi-square and Fisher as `rehabkoord.stats` computes
them, the tests the appendix names) with the published counts.

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

from rehabkoord import stats

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

    def bounds(self, min_cell: int, zeros: bool, base: int | None = None,
               known: dict[tuple, tuple[float, float]] | None = None
               ) -> list[tuple[float, float | None]]:
        """Each count's bounds: a published number exactly, or with rounding to `base` the
        values that round to it (halves up; 1 … base − 1 are "<base", so never below the
        base), narrowed by what the published shares tell (`known`)."""
        out: list[tuple[float, float | None]] = [(0.0, None)] * len(self.vars)
        for k, i in self.vars.items():
            v = self.value.get(k)
            if v is not None and base and v > 0:
                out[i] = (float(max(base, v - base // 2)), float(v + (base - 1) // 2))
            elif v is not None:
                out[i] = (float(v), float(v))
            elif self.mark.get(k, "").startswith("<"):
                out[i] = (0.0 if zeros else 1.0, float(min_cell - 1))
            elif self.mark.get(k) and not zeros:
                out[i] = (1.0, None)  # zeros are printed as 0, so a mark hides at least 1
            if known and k in known:
                low, high = out[i]
                out[i] = (max(low, known[k][0]), min(math.inf if high is None else high,
                                                     known[k][1]))
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


SHARE_COUNTS = {"outcome": lambda k, g: (("events", *k[1:4], g), ("n", *k[1:4], g)),
                "t1": lambda k, g: (("t1", k[1], k[2], g), ("t1 n", k[1], g))}


def shares_attack(published: dict, bounds: dict[tuple, tuple[float, float | None]]
                  ) -> dict[tuple, tuple[float, float]]:
    """Under rounding: what the published shares of true counts tell. For every share not
    marked as computed from the rounded counts, every (count, n) within their bounds whose
    share is the published one (to 1e-9: published.json keeps full precision, more than the
    appendix prints); each count's range over those pairs."""
    out: dict[tuple, tuple[float, float]] = {}
    for stat in published.get("statistics", []):
        key, value = tuple(stat["key"]), stat["published"]
        if (value is None or not key[-1].startswith("pct_") or stat["reason"]
                or key[0] not in SHARE_COUNTS):
            continue
        group = GROUPS[("int", "ctl").index(key[-1][4:])]
        count, n = SHARE_COUNTS[key[0]](key[:-1], group)
        (c_lo, c_hi), (n_lo, n_hi) = bounds[count], bounds[n]
        pairs = [(c, t) for t in range(int(n_lo), int(n_hi) + 1)
                 for c in range(int(c_lo), int(min(c_hi, t)) + 1)
                 if t and abs(100 * c / t - value) < 1e-9]
        assert pairs, f"no counts give the published share {key}"
        for k, vals in ((count, [c for c, _ in pairs]), (n, [t for _, t in pairs])):
            low, high = out.get(k, (-math.inf, math.inf))
            out[k] = (max(low, min(vals)), min(high, max(vals)))
    return out


def attack(published: dict) -> list[Finding]:
    """The reader's interval for every count not published exactly, and whether it is too
    narrow for the release rules stated in the appendix. With rounding (`protection: round`)
    "<base" is the small-count mark, and the published shares narrow the counts first."""
    rules = published["rules"]
    zeros = rules["zeros_disclosive"]
    base = rules["rounding_base"] if rules.get("protection") == "round" else None
    min_cell = base or rules["min_cell"]
    width = max(1, min_cell - 1 - (0 if zeros else 1))  # as many values as "<min_cell" allows
    m, cases = reader_model(published["cells"])
    bounds = m.bounds(min_cell, zeros, base)
    if base:
        start = {k: (lo, math.inf if hi is None else hi) for k, (lo, hi)
                 in zip(m.vars, bounds, strict=True)}
        bounds = m.bounds(min_cell, zeros, base, shares_attack(published, start))
    out = []
    for key in m.vars:
        if m.value.get(key) is not None and not (base and m.value[key]):
            continue  # published exactly (with rounding: a zero)
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


def attack_printed(printed: dict[tuple, str], relations: list[tuple[tuple, tuple]],
                   exact: dict[tuple, int], base: int) -> list[Finding]:
    """Under `report.protection: round`, for a study whose tables are not Uppsala's layout:
    the reader's interval for every count, from the texts the appendix prints (`printed`:
    a multiple of `base`, "<base", "0" or a withheld mark), the additive relations between
    the counts (`relations`: total, parts) and the counts a published statistic of true
    counts gives back exactly (`exact`). Every count whose interval shows it is small, or
    that is printed "<base", must keep as many values as "<base" (1 … base − 1) allows."""
    cells = []
    for key, text in printed.items():
        digits = "".join(ch for ch in text if ch not in ", \u00a0\u202f")  # thousands
        cells.append({"key": list(key), "published": int(digits) if digits.isdigit() else None,
                      "mark": "" if digits.isdigit() else text})
    m = Model(cells)
    for k in m.value:
        m.var(k)
    for total, parts in relations:
        m.equal(m.var(total), [m.var(p) for p in parts])
    known = {k: (float(v), float(v)) for k, v in exact.items()}
    for k in known:
        m.var(k)
    bounds = m.bounds(base, False, base, known)
    width = max(1, base - 2)
    out = []
    for key in m.vars:
        if key in known or m.value.get(key) == 0:
            continue  # known exactly: a count behind a published statistic, or a printed zero
        low, high = m.interval(key, bounds, [])
        assert not math.isnan(low), f"the printed counts contradict the relations at {key}"
        mark = m.mark.get(key, "")
        if not mark.startswith("<") and high >= base - 1e-6:
            too_narrow = False  # the reader cannot tell it is small
        elif high <= 1e-6:
            too_narrow = False  # a zero, and zeros are printed as 0
        else:
            too_narrow = high - low < width - 1e-6
        out.append(Finding(key, low, high, mark, too_narrow))
    return out



def assert_round_audit(pub, needs, title: str) -> None:
    """A round-protected appendix (`pub`, a study's `Published`) against `attack_printed`:
    no small count narrowed below "<base" when the reader knows exactly only the counts the
    audit allows; and the attacker does find a leak when every count a statistic needs
    (`needs`, one group of keys per statistic) is known exactly, the decision it guards."""
    s = pub.structure
    printed = {k: pub.text(k, "en") for k in s.shown}
    exact = {k: s.values[k] for k in pub.withheld.exact}
    findings = attack_printed(printed, s.relations, exact, pub.rules.rounding_base)
    assert not [f for f in findings if f.too_narrow], summary(findings, title)
    everything = {k: s.values[k] for group in needs for k in group}
    leaks = attack_printed(printed, s.relations, everything, pub.rules.rounding_base)
    assert [f for f in leaks if f.too_narrow]

# --- quantiles ---------------------------------------------------------------------------------

def type7_weights(probs, n: int) -> np.ndarray:
    """Rows of weights on the n sorted values giving R's type-7 quantile at each of `probs`:
    h = (n − 1)p, the value x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋ + 1] − x[⌊h⌋])."""
    a = np.zeros((len(probs), n))
    for i, p in enumerate(probs):
        h = (n - 1) * float(p)
        lo = int(math.floor(h + 1e-12))
        frac = h - lo
        a[i, lo] += 1 - frac
        if frac > 1e-12:
            a[i, lo + 1] += frac
    return a


def invert_quantiles(quantiles, probs, n: int) -> np.ndarray | None:
    """The n sorted values behind published type-7 quantiles of a group of n, when the
    quantiles determine them (the system has full column rank and they fit it); None when
    they do not or nothing was published (a withheld cell is empty)."""
    q = np.asarray(quantiles, dtype=float)
    if n < 1 or len(q) == 0 or np.isnan(q).any():
        return None
    a = type7_weights(probs, n)
    if np.linalg.matrix_rank(a) < n:
        return None
    x, *_ = np.linalg.lstsq(a, q, rcond=None)
    return x if np.allclose(a @ x, q, atol=1e-6) else None


def deciles_attack(table) -> dict[tuple, np.ndarray]:
    """Every group of a figure's published deciles table (columns n_with_days, p10 … p90)
    whose values the deciles give back: (outcome, window, group) -> the values."""
    cols = [c for c in table.columns if c.startswith("p") and c[1:].isdigit()]
    probs = [int(c[1:]) / 100 for c in cols]
    out = {}
    for _, r in table.iterrows():
        if np.isnan(r["n_with_days"]):
            continue
        got = invert_quantiles(r[cols].to_numpy(dtype=float), probs, int(r["n_with_days"]))
        if got is not None:
            out[(r["outcome"], int(r["window_months"]), r["group"])] = got
    return out


# --- p-values -------------------------------------------------------------------------------------

def two_by_two_pvalues(events: tuple[int, int], n: tuple[int, int]) -> list[float]:
    """The p-values the appendix may print for events/n in two groups: Pearson's chi-square
    with and without Yates' correction, and Fisher's exact test."""
    table = [[events[0], n[0] - events[0]], [events[1], n[1] - events[1]]]
    if min(events[0] + events[1], n[0] + n[1] - events[0] - events[1]) == 0:
        return []
    return [stats.chisq_test(table, correct=True).pvalue,
            stats.chisq_test(table, correct=False).pvalue, stats.fisher_test(table).pvalue]


def consistent_counts(shown_p: float, decimals: int, events: list[int | None],
                      n: list[int | None], candidates: range) -> list[int]:
    """The values of the one unknown among `events` and `n` (None) within `candidates` for
    which some test's p-value, rounded to `decimals`, is the published one."""
    unknown = [(which, i) for which, xs in (("events", events), ("n", n))
               for i, x in enumerate(xs) if x is None]
    assert len(unknown) == 1, "one unknown count at a time"
    which, i = unknown[0]
    found = []
    for v in candidates:
        e, m = list(events), list(n)
        (e if which == "events" else m)[i] = v
        if e[i] is not None and m[i] is not None and not 0 <= e[i] <= m[i]:
            continue
        if any(round(p, decimals) == round(shown_p, decimals)
               for p in two_by_two_pvalues((e[0], e[1]), (m[0], m[1]))):
            found.append(v)
    return found


def pvalue_attack(published: dict, decimals: int = 3) -> dict[tuple, list[int]]:
    """For every binary outcome with a published p-value and exactly one of its four counts
    withheld: the values of that count (between 0 and the group's published randomised n)
    that reproduce the p-value, by cell key. A list shorter than "<m" allows gives it away."""
    value = {tuple(c["key"]): c["published"] for c in published["cells"]}
    pvalues = {tuple(c["key"][:-1]): c["published"] for c in published.get("statistics", [])
               if c["key"][0] == "outcome" and c["key"][-1] == "pvalue"
               and c["published"] is not None}
    out = {}
    for (_, w, stratum, outcome), p in pvalues.items():
        keys = {(kind, g): (kind, w, stratum, outcome, g) for kind in ("events", "n")
                for g in GROUPS}
        if any(k not in value for k in keys.values()):
            continue  # not a binary outcome
        hidden = [k for k in keys.values() if value[k] is None]
        if len(hidden) != 1:
            continue
        top = max((v for k, v in value.items() if k[0] == "randomised" and v is not None),
                  default=max(v for v in value.values() if v is not None))
        events = [value[keys["events", g]] for g in GROUPS]
        n = [value[keys["n", g]] for g in GROUPS]
        out[hidden[0]] = consistent_counts(p, decimals, events, n, range(0, top + 1))
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
    tables = project / "data" / "processed" / "uppsala" / "tables"
    published = json.loads((tables / "published.json").read_text(encoding="utf-8"))
    html = (project / "reports" / "uppsala" / "bilaga.html").read_text(encoding="utf-8")
    marks = {c["mark"] for c in published["cells"] if c["mark"]}
    for mark in marks:
        assert mark.replace("<", "&lt;") in html, f"{mark} is withheld but not shown"
    findings = attack(published)
    text = summary(findings, str(project.name))
    assert not [f for f in findings if f.too_narrow], text
    pinned = {k: v for k, v in pvalue_attack(published).items() if len(v) <= 1}
    assert not pinned, f"published p-values pin withheld counts: {pinned}"
    deciles = project / "reports" / "uppsala" / "figures" / "dagar_bland_dem_med_dagar.csv"
    if deciles.exists():
        import pandas as pd
        recovered = deciles_attack(pd.read_csv(deciles))
        assert not recovered, f"the deciles give back persons' values: {sorted(recovered)}"
    return text


def main(argv: list[str]) -> int:
    bad = 0
    for path in argv:
        published = json.loads(Path(path).read_text(encoding="utf-8"))
        findings = attack(published)
        print(summary(findings, path))
        bad += sum(f.too_narrow for f in findings)
        for key, values in pvalue_attack(published).items():
            pinned = len(values) <= 1
            bad += pinned
            print(f"  {'PINNED BY p' if pinned else 'ok':10} {len(values)} values reproduce the "
                  f"p-value  {' / '.join(map(str, key))}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
