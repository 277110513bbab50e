"""Disclosure control: small counts, the complements that protect them, and an attacker's LP."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from attacker import attack, summary
from pipeline_helpers import UPPSALA_PARAMS

from rehabkoord import disclosure
from rehabkoord.params import load_params
from rehabkoord.studies.uppsala import analysis, cohort, synth

ABSENT = "absent_from_lisa_in_outcome_year"
NOT_YET = "outcome_year_not_in_registers"
# The default data's flow (data/processed/uppsala/flow.json): Kontroll at 6 months lost 2 people.
FLOW = {"windows": {
    "6": {"Intervention": {"randomised": 62, "excluded": {NOT_YET: 0, ABSENT: 7},
                           "analysed": 55, "employment_status_missing": 0},
          "Kontroll": {"randomised": 62, "excluded": {NOT_YET: 0, ABSENT: 2},
                       "analysed": 60, "employment_status_missing": 0}},
    "12": {"Intervention": {"randomised": 62, "excluded": {NOT_YET: 0, ABSENT: 9},
                            "analysed": 53, "employment_status_missing": 0},
           "Kontroll": {"randomised": 62, "excluded": {NOT_YET: 0, ABSENT: 3},
                        "analysed": 59, "employment_status_missing": 0}}}}
NO_RESULTS = pd.DataFrame(columns=["window_months", "stratum", "outcome", "kind"])
NO_BASELINE = pd.DataFrame(columns=["variable", "kind"])


def old_flow_display(flow: dict, min_cell: int) -> dict:
    """Today's (pre-issue-12) flow display as published data: exclusions below min_cell
    printed as "<min_cell", randomised and analysed printed exactly."""
    cells = []
    for window, groups in flow["windows"].items():
        for group, g in groups.items():
            cells.append({"key": ["randomised", group], "published": g["randomised"],
                          "mark": "", "reason": ""})
            for reason, n in g["excluded"].items():
                small = 0 < n < min_cell
                cells.append({"key": ["flow", int(window), group, reason],
                              "published": None if small else n,
                              "mark": f"<{min_cell}" if small else "", "reason": ""})
            for step in ("analysed", "employment_status_missing"):
                cells.append({"key": ["flow", int(window), group, step], "published": g[step],
                              "mark": "", "reason": ""})
    return {"rules": {"min_cell": min_cell, "zeros_disclosive": False}, "cells": cells}


def test_attacker_finds_todays_flow_leak():
    """Regression: 62 randomised, "<3" missing, 60 analysed gives the hidden 2 away."""
    findings = attack(old_flow_display(FLOW, 3))
    narrow = [f for f in findings if f.too_narrow]
    assert [f.cell for f in narrow][:1] == [("flow", 6, "Kontroll", ABSENT)]
    assert (narrow[0].low, narrow[0].high) == pytest.approx((2, 2), abs=1e-9)
    assert "TOO NARROW" in summary(findings, "old flow")


def test_published_flow_no_longer_gives_two_away():
    pub = disclosure.publish(NO_RESULTS, NO_BASELINE, FLOW, disclosure.Rules(3))
    findings = attack(json.loads(json.dumps(disclosure.to_json(pub))))
    assert not [f for f in findings if f.too_narrow], summary(findings, "flow")
    by_cell = {f.cell: f for f in findings}
    assert (by_cell[("flow", 6, "Kontroll", ABSENT)].low,
            by_cell[("flow", 6, "Kontroll", ABSENT)].high) == pytest.approx((1, 2))
    kontroll = pub.flow[6]["Kontroll"]
    assert kontroll["excluded"][ABSENT].mark == "<3"
    assert kontroll["analysed"].withheld and kontroll["analysed"].reason == disclosure.COMPLEMENT
    assert not pub.flow[12]["Kontroll"]["analysed"].withheld  # 3 excluded: publishable
    assert pub.flow_total.value == 124


def test_lp_bounds_match_frechet_bounds():
    """A 2x2 table [[2, 8], [5, 5]] with published margins and all four cells hidden: the LP
    interval of each cell is its Fréchet bounds, max(0, r + c − N) … min(r, c), by hand."""
    s = disclosure.Structure()
    cells = {(i, j): v for (i, j), v in {(0, 0): 2, (0, 1): 8, (1, 0): 5, (1, 1): 5}.items()}
    for (i, j), v in cells.items():
        s.cell(("x", i, j), v)
    for i in range(2):
        s.cell(("row", i), sum(v for (a, _), v in cells.items() if a == i))
        s.relation(("row", i), [("x", i, j) for j in range(2)])
        s.cell(("col", i), sum(v for (_, b), v in cells.items() if b == i))
        s.relation(("col", i), [("x", j, i) for j in range(2)])
    withheld = {("x", i, j): disclosure.COMPLEMENT for i in range(2) for j in range(2)}
    rules = disclosure.Rules(3, zeros_disclosive=True)  # a "–" may hide a zero
    got = {iv.key: (iv.low, iv.high) for iv in disclosure.audit(s, withheld, rules)}
    assert got[("x", 0, 0)] == pytest.approx((0, 7), abs=1e-9)   # max(0, 10+7−20), min(10, 7)
    assert got[("x", 0, 1)] == pytest.approx((3, 10), abs=1e-9)  # max(0, 10+13−20), min(10, 13)
    assert got[("x", 1, 0)] == pytest.approx((0, 7), abs=1e-9)
    assert got[("x", 1, 1)] == pytest.approx((3, 10), abs=1e-9)
    # zeros printed as 0: each "–" is at least 1. With x00 = a the cells are a, 10 − a,
    # 7 − a, 3 + a, all ≥ 1, so 1 ≤ a ≤ 6 (by hand)
    got = {iv.key: (iv.low, iv.high) for iv in disclosure.audit(s, withheld, disclosure.Rules(3))}
    assert got[("x", 0, 0)] == pytest.approx((1, 6), abs=1e-9)
    assert got[("x", 0, 1)] == pytest.approx((4, 9), abs=1e-9)
    assert got[("x", 1, 0)] == pytest.approx((1, 6), abs=1e-9)
    assert got[("x", 1, 1)] == pytest.approx((4, 9), abs=1e-9)


@pytest.mark.parametrize("zeros", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_warm_started_lp_bounds_equal_a_fresh_linprog_per_target(seed, zeros):
    """Random three-way tables (margins and some cells published, some small counts known to
    be "<3"): every audited interval equals scipy's linprog solved from scratch for that one
    count, the reference the audit used before it re-solved one HiGHS model per component.
    Tolerance 1e-7 (the counts are integers; both are simplex optima)."""
    import math
    import random

    import numpy as np
    from scipy.optimize import linprog

    rng = random.Random(seed)
    dims = (rng.randint(2, 3), rng.randint(2, 4), 2)
    s = disclosure.Structure()
    cells = {(i, j, k): rng.choice([0, 1, 2, 3, 5, 8, 13])
             for i in range(dims[0]) for j in range(dims[1]) for k in range(dims[2])}
    for c, v in cells.items():
        s.cell(("x", *c), v)
    for axis in range(3):
        for rest in {tuple(x for a, x in enumerate(c) if a != axis) for c in cells}:
            parts = [c for c in cells if tuple(x for a, x in enumerate(c) if a != axis) == rest]
            total = s.cell(("m", axis, *rest), sum(cells[c] for c in parts))
            s.relation(total, [("x", *c) for c in parts])
    keys = list(s.values)
    rules = disclosure.Rules(3, zeros_disclosive=zeros)
    # a published zero is never withheld when zeros are printed (see protect)
    hidden = rng.sample([k for k in keys if zeros or s.values[k]], k=len(keys) // 2)
    withheld = {k: disclosure.SMALL if rules.small(s.values[k]) else disclosure.COMPLEMENT
                for k in hidden}
    got = {iv.key: (iv.low, iv.high) for iv in disclosure.audit(s, withheld, rules)}

    index = {k: i for i, k in enumerate(keys)}
    bounds = []
    for k in keys:
        if k not in withheld:
            bounds.append((s.values[k], s.values[k]))
        elif withheld[k] == disclosure.SMALL:
            bounds.append(rules.protection)
        else:
            bounds.append((0 if zeros else 1, None))
    a = np.zeros((len(s.relations), len(keys)))
    for r, (total, parts) in enumerate(s.relations):
        a[r, index[total]] = 1
        for p in parts:
            a[r, index[p]] -= 1
    assert got, "the draw left nothing to audit"
    for k, (low, high) in got.items():
        ends = []
        for sign in (1, -1):
            c = np.zeros(len(keys))
            c[index[k]] = sign
            res = linprog(c, A_eq=a, b_eq=np.zeros(len(s.relations)), bounds=bounds,
                          method="highs")
            ends.append(sign * res.fun if res.status == 0 else sign * -math.inf)
        assert (low, high) == pytest.approx(tuple(ends), abs=1e-7), k


def test_primary_and_complement_in_a_table():
    """The same table with only the 2 small: one row and one column are not enough, the LP
    audit needs a second complement in each, so the 2 keeps a range as wide as "<3"."""
    s = disclosure.Structure()
    values = {(0, 0): 2, (0, 1): 8, (1, 0): 5, (1, 1): 5}
    for (i, j), v in values.items():
        s.cell(("x", i, j), v, cost=1)
    for i in range(2):
        s.cell(("row", i), sum(v for (a, _), v in values.items() if a == i), cost=9)
        s.relation(("row", i), [("x", i, j) for j in range(2)])
        s.cell(("col", i), sum(v for (_, b), v in values.items() if b == i), cost=9)
        s.relation(("col", i), [("x", j, i) for j in range(2)])
    withheld = disclosure.protect(s, disclosure.Rules(3))
    assert withheld[("x", 0, 0)] == disclosure.SMALL
    assert set(withheld) == {("x", i, j) for i in range(2) for j in range(2)}
    assert all(iv.protected for iv in disclosure.audit(s, withheld, disclosure.Rules(3)))


def test_a_dash_hides_at_least_one_when_zeros_are_printed():
    """12 = a + b + c with a = b = 1 withheld as "–" (min_cell 4, no "<4" marks) and c = 10
    published: reading "–" as 0 or more gives each of a, b the range 0–2, as wide as "<4"
    (1–3), so the old audit let the greedy choice stop there. But zeros are printed as 0, so a
    reader knows each "–" is at least 1: a + b = 2 gives a = b = 1 exactly (by hand). The
    audit, the attacker and the decision now read it that way."""
    from attacker import Model

    s = disclosure.Structure()
    s.relation(s.cell(("total",), 12), [s.cell(("a",), 1), s.cell(("b",), 1), s.cell(("c",), 10)])
    rules = disclosure.Rules(4, mark_small=False)
    old = {("a",): disclosure.SMALL, ("b",): disclosure.SMALL}
    zero_or_more = {("total",): (12, 12), ("c",): (10, 10), ("a",): (0, None), ("b",): (0, None)}
    ab = disclosure.attacker_bounds(list(s.values), s.relations, zero_or_more, [("a",), ("b",)])
    assert ab[("a",)] == pytest.approx((0, 2)) and not rules.too_narrow(0, 2, True)
    got = {iv.key: iv for iv in disclosure.audit(s, old, rules)}
    assert (got[("a",)].low, got[("a",)].high) == pytest.approx((1, 1))
    assert not got[("a",)].protected and not got[("b",)].protected

    cells = [{"key": ["total"], "published": 12, "mark": ""},
             {"key": ["a"], "published": None, "mark": "–"},
             {"key": ["b"], "published": None, "mark": "–"}]
    reader = Model([*cells, {"key": ["c"], "published": 10, "mark": ""}])
    reader.equal(("total",), [("a",), ("b",), ("c",)])
    assert reader.interval(("a",), reader.bounds(4, zeros=False), []) == pytest.approx((1, 1))
    assert reader.interval(("a",), reader.bounds(4, zeros=True), []) == pytest.approx((0, 2))

    withheld = disclosure.protect(s, rules)
    assert withheld == {**old, ("c",): disclosure.COMPLEMENT}
    assert all(iv.protected for iv in disclosure.audit(s, withheld, rules))
    reader = Model([*cells, {"key": ["c"], "published": None, "mark": "–"}])
    reader.equal(("total",), [("a",), ("b",), ("c",)])
    assert reader.interval(("a",), reader.bounds(4, zeros=False), []) == pytest.approx((1, 10))


def test_a_published_zero_is_never_a_complement():
    """2 + 0 + 9 = 11: withholding the 0 as "–" would tell a reader it is at least 1, which
    the published total then contradicts; the 9 is withheld instead, by both methods."""
    s = disclosure.Structure()
    s.relation(s.cell(("total",), 11), [s.cell(("a",), 2), s.cell(("z",), 0), s.cell(("b",), 9)])
    for method in (disclosure.OPTIMAL, disclosure.GREEDY):
        withheld = disclosure.protect(s, disclosure.Rules(3), method)
        assert withheld == {("a",): disclosure.SMALL, ("b",): disclosure.COMPLEMENT}
        assert withheld.method == method


def _cost(s: disclosure.Structure, withheld: dict) -> float:
    """The complements' total cost (the small counts' is the same for every choice)."""
    return sum(s.cost[k] for k, r in withheld.items() if r == disclosure.COMPLEMENT)


@pytest.mark.parametrize("seed", range(6))
def test_least_cost_complements_equal_the_cheapest_by_enumeration(seed):
    """Random 2×3 tables with margins, some counts small: the MILP's choice costs exactly as
    little as the cheapest of every subset of publishable counts that passes the audit
    (enumerated, 2^10 subsets at most), and never more than the greedy choice."""
    import itertools
    import random

    rng = random.Random(seed)
    s = disclosure.Structure()
    cells = {(i, j): rng.choice([1, 2, 4, 6, 9, 12]) for i in range(2) for j in range(3)}
    cells[0, rng.randrange(3)] = rng.choice([1, 2])
    for c, v in cells.items():
        s.cell(("x", *c), v, cost=rng.choice([1, 2, 3]))
    for i in range(2):
        s.relation(s.cell(("row", i), sum(cells[i, j] for j in range(3)), cost=10),
                   [("x", i, j) for j in range(3)])
    for j in range(3):
        s.relation(s.cell(("col", j), sum(cells[i, j] for i in range(2)), cost=10),
                   [("x", i, j) for i in range(2)])
    s.relation(s.cell(("all",), sum(cells.values()), cost=50), [("row", i) for i in range(2)])
    s.relation(("all",), [("col", j) for j in range(3)])
    rules = disclosure.Rules(3)
    primary = {k: disclosure.SMALL for k, v in s.values.items() if rules.small(v)}
    free = [k for k in s.values if k not in primary]
    best = min(sum(s.cost[k] for k in subset)
               for r in range(len(free) + 1) for subset in itertools.combinations(free, r)
               if all(iv.protected for iv in disclosure.audit(
                   s, {**primary, **dict.fromkeys(subset, disclosure.COMPLEMENT)}, rules)))
    withheld = disclosure.protect(s, rules)
    assert withheld.method == disclosure.OPTIMAL
    assert all(iv.protected for iv in disclosure.audit(s, withheld, rules))
    assert _cost(s, withheld) == pytest.approx(best)
    assert _cost(s, withheld) <= _cost(s, disclosure.protect(s, rules, disclosure.GREEDY))
    assert disclosure.protect(s, rules) == withheld  # deterministic


def test_past_its_limits_the_search_falls_back_to_greedy_and_says_so(monkeypatch):
    s = disclosure.Structure()
    s.relation(s.cell(("total",), 23), [s.cell(("a",), 2), s.cell(("b",), 10), s.cell(("c",), 11)])
    rules = disclosure.Rules(3)
    monkeypatch.setattr(disclosure, "MAX_ROUNDS", 0)
    counts = disclosure.Counts.protected(s, rules)
    assert counts.withheld.method == disclosure.GREEDY
    assert all(iv.protected for iv in counts.intervals())
    assert counts.record()["protection"]["method"] == disclosure.GREEDY
    assert "stegvis (optimeringen nådde sin gräns)" in counts.statement("sv")
    assert "one at a time (the optimisation reached its limit)" in counts.statement("en")


def test_protection_cost_in_the_record_and_the_statement():
    """The default flow: the Kontroll 6-month "<3" (2 persons) and its complement, the
    analysed 60 (the randomised 62 costs more: a total); 2 cells, 62 persons, by hand."""
    pub = disclosure.publish(NO_RESULTS, NO_BASELINE, FLOW, disclosure.Rules(3))
    cost = pub.record()["protection"]
    assert cost == {"method": disclosure.OPTIMAL, "cells": 2, "small": 1, "complementary": 1,
                    "persons": 62}
    text = disclosure.cost_statement(pub.structure, pub.withheld, "sv")
    assert text.startswith("De kompletterande undertryckningarna valdes till minsta kostnad")
    assert "2 antal undertrycks, 1 små och 1 för att skydda dem" in text
    assert "2 counts are withheld, 1 small and 1 to protect them" in disclosure.cost_statement(
        pub.structure, pub.withheld, "en")


@pytest.mark.parametrize("min_cell", [3, pytest.param(5, marks=pytest.mark.slow)])
def test_least_cost_costs_no_more_than_greedy_on_a_small_study(min_cell):
    """The 30-person study: the MILP's choice passes the audit and the attacker, and its
    total cost is at most the greedy choice's (at min_cell 5 strictly less)."""
    frames = synth.generate(synth.SyntheticSpec(n_participants=30, seed=11))
    rand = frames["randomisering"].assign(RandDatum=lambda f: pd.to_datetime(f["RandDatum"]))
    table, flow = cohort.build_cohort(rand, frames["LISA"], frames["BAS"])
    flow = json.loads(json.dumps(flow))
    results, baseline = analysis.outcome_results(table), analysis.baseline_table(
        table, load_params(UPPSALA_PARAMS)["analysis"]["baseline_variables"])
    s = disclosure.declare(results, baseline, flow, 12)
    rules = disclosure.Rules(min_cell)
    optimal, greedy = disclosure.protect(s, rules), disclosure.protect(s, rules, "greedy")
    assert optimal.method == disclosure.OPTIMAL
    assert _cost(s, optimal) <= _cost(s, greedy)
    if min_cell == 5:
        assert _cost(s, optimal) < _cost(s, greedy)
    pub = disclosure.publish(results, baseline, flow, rules, 12, withheld=optimal)
    findings = attack(json.loads(json.dumps(disclosure.to_json(pub))))
    assert not [f for f in findings if f.too_narrow], summary(findings, "small study")


def test_relation_that_does_not_hold_is_an_error():
    s = disclosure.Structure()
    s.cell(("total",), 10)
    s.cell(("a",), 4)
    s.cell(("b",), 5)
    with pytest.raises(ValueError, match="does not hold"):
        s.relation(("total",), [("a",), ("b",)])
    s.relation(("total",), [("a",), ("b",)], rest=("unknown",))
    assert s.values[("unknown",)] == 1 and ("unknown",) not in s.shown


def test_the_same_people_counted_twice_must_agree():
    flow = copy.deepcopy(FLOW)
    flow["windows"]["12"]["Kontroll"]["randomised"] = 61
    with pytest.raises(ValueError, match="randomised"):
        disclosure.declare(NO_RESULTS, NO_BASELINE, flow, None)


def test_rules_from_params():
    assert disclosure.Rules.from_params({"min_cell": 5}) == disclosure.Rules(5, False)
    with pytest.raises(ValueError, match="report.min_cell"):
        disclosure.Rules.from_params({"min_cell": 0})
    zeros = disclosure.Rules(3, zeros_disclosive=True)
    assert zeros.small(0) and not disclosure.Rules(3).small(0)
    assert zeros.protection == (0, 2) and disclosure.Rules(3).protection == (1, 2)


def test_zeros_disclosive_suppresses_flow_zeros():
    pub = disclosure.publish(NO_RESULTS, NO_BASELINE, FLOW, disclosure.Rules(3, True))
    assert pub.flow[6]["Intervention"]["excluded"][NOT_YET].mark == "<3"
    findings = attack(json.loads(json.dumps(disclosure.to_json(pub))))
    assert not [f for f in findings if f.too_narrow], summary(findings, "zeros")


def test_share_and_difference_withheld_with_their_count(male_subgroup_results):
    pub = disclosure.publish(male_subgroup_results, NO_BASELINE, {"windows": {}},
                             disclosure.Rules(3))
    row = next(r for r in pub.outcomes
               if r["stratum"] == "man" and r["outcome"] == "employed_or_studying")
    assert row["events_ctl"].mark == "<3" and row["pct_ctl"].withheld
    assert row["effect"].withheld and row["effect"].reason == disclosure.REVEALS
    assert row["pct_int"].value == pytest.approx(100 * 9 / 21)
    findings = attack(json.loads(json.dumps(disclosure.to_json(pub))))
    assert not [f for f in findings if f.too_narrow], summary(findings, "men")


@pytest.mark.parametrize("min_cell", [3, pytest.param(5, marks=pytest.mark.slow)])
def test_small_synthetic_study_cannot_be_undone(min_cell):
    """A 30-person study has many small cells; the attacker narrows none of them."""
    frames = synth.generate(synth.SyntheticSpec(n_participants=30, seed=11))
    rand = frames["randomisering"].assign(RandDatum=lambda f: pd.to_datetime(f["RandDatum"]))
    table, flow = cohort.build_cohort(rand, frames["LISA"], frames["BAS"])
    flow = json.loads(json.dumps(flow))
    results, baseline = analysis.outcome_results(table), analysis.baseline_table(
        table, load_params(UPPSALA_PARAMS)["analysis"]["baseline_variables"])
    pub = disclosure.publish(results, baseline, flow, disclosure.Rules(min_cell), 12)
    again = disclosure.publish(results, baseline, flow, disclosure.Rules(min_cell), 12)
    assert pub.withheld == again.withheld
    findings = attack(json.loads(json.dumps(disclosure.to_json(pub))))
    assert any(f.mark == f"<{min_cell}" for f in findings)
    assert not [f for f in findings if f.too_narrow], summary(findings, "small study")
    assert all(iv.protected for iv in pub.intervals())

    # the appendix rebuilds the figures stage's decision from published.json, exactly
    published = json.loads(json.dumps(disclosure.to_json(pub)))
    rebuilt = disclosure.from_json(published, results, baseline, flow, disclosure.Rules(min_cell),
                                   12)
    assert rebuilt.withheld == pub.withheld
    assert rebuilt.outcomes == pub.outcomes and rebuilt.baseline == pub.baseline
    assert rebuilt.flow == pub.flow and rebuilt.power_n == pub.power_n
    assert disclosure.to_json(rebuilt) == disclosure.to_json(pub)


def test_a_published_decision_is_used_only_for_its_own_tables_and_rules():
    pub = disclosure.publish(NO_RESULTS, NO_BASELINE, FLOW, disclosure.Rules(3))
    published = json.loads(json.dumps(disclosure.to_json(pub)))
    again = disclosure.from_json(published, NO_RESULTS, NO_BASELINE, FLOW, disclosure.Rules(3))
    assert again.withheld == pub.withheld and again.flow == pub.flow
    with pytest.raises(ValueError, match="rules"):
        disclosure.from_json(published, NO_RESULTS, NO_BASELINE, FLOW, disclosure.Rules(4))
    other = copy.deepcopy(FLOW)  # one more person analysed, one fewer absent
    other["windows"]["12"]["Kontroll"]["excluded"][ABSENT] = 2
    other["windows"]["12"]["Kontroll"]["analysed"] = 60
    with pytest.raises(ValueError, match="tables"):
        disclosure.from_json(published, NO_RESULTS, NO_BASELINE, other, disclosure.Rules(3))
    shown = copy.deepcopy(published)
    shown["cells"] = shown["cells"][1:]
    with pytest.raises(ValueError, match="does not cover"):
        disclosure.from_json(shown, NO_RESULTS, NO_BASELINE, FLOW, disclosure.Rules(3))


def test_counts_print_marks_and_audit_the_withheld():
    s = disclosure.Structure()
    total = s.cell(("n",), 14)
    s.relation(total, [s.cell(("a",), 2), s.cell(("b",), 12)])
    counts = disclosure.Counts.protected(s, disclosure.Rules(min_cell=5))
    assert counts.text(("a",)) == "<5" and counts.text(("b",)) == disclosure.SUPPRESSED
    assert counts.text(("n",), "en") == "14" and counts.shown(("n",))
    assert not counts.shown(("n",), ("a",)) and counts.n_withheld() == 2
    assert all(i.protected for i in counts.intervals())


# --- rules for statistics other than counts (hand calculations) --------------------------------

def test_quantiles_need_the_threshold_group_size():
    rules = disclosure.Rules(3)
    assert rules.min_quantile_n == 10
    assert not rules.quantiles_allowed(9)
    assert rules.quantiles_allowed(10)
    assert disclosure.Rules.from_params({"min_cell": 3, "min_quantile_n": 20}).quantiles_allowed(19) \
        is False


def test_magnitude_rules_by_hand():
    rules = disclosure.Rules(3)
    assert rules.magnitude_reason([10, 10]) == disclosure.SMALL_GROUP  # 2 persons < min_cell
    assert rules.magnitude_reason([10, 10, 10, 10, 10]) == ""  # top two 20 of 50; 30 ≥ 1
    # (2, 90 %): 100 + 1 = 101 > 0.9 × 103 = 92.7
    assert rules.magnitude_reason([100, 1, 1, 1]) == disclosure.DOMINATED
    # the (n, k) rule passes at k = 0.99 (195 ≤ 198), the p % rule does not: 200 − 195 = 5 < 10
    loose = disclosure.Rules(3, dominance_k=0.99)
    assert loose.magnitude_reason([100, 95, 5]) == disclosure.DOMINATED
    assert disclosure.Rules(3, dominance_k=0.99, p_percent=0.04).magnitude_reason(
        [100, 95, 5]) == ""  # 5 ≥ 4
    assert rules.magnitude_reason([0, 0, 0, 0]) == ""  # nothing to dominate
    assert rules.magnitude_reason([5, float("nan"), 5]) == disclosure.SMALL_GROUP


@pytest.mark.parametrize("key, value", [("min_quantile_n", 0), ("min_quantile_n", 2.5),
                                        ("dominance", [2]), ("dominance", [0, 0.9]),
                                        ("dominance", [2, 1.5]), ("p_percent", 1.0),
                                        ("min_df", -1)])
def test_rules_reject_bad_parameters(key, value):
    with pytest.raises(ValueError, match=f"report.{key}"):
        disclosure.Rules.from_params({"min_cell": 3, key: value})


def test_rules_from_params_and_their_statement():
    rules = disclosure.Rules.from_params({"min_cell": 5, "min_quantile_n": 12,
                                          "dominance": [3, 0.8], "p_percent": 0.15, "min_df": 20})
    assert (rules.min_quantile_n, rules.dominance_n, rules.dominance_k, rules.p_percent,
            rules.min_df) == (12, 3, 0.8, 0.15, 20)
    sv, en = rules.describe("sv"), rules.describe("en")
    for text in (sv, en):
        assert "12" in text and "(3, 80 %)" in text and "15 %" in text and "20" in text


def test_record_round_trip_keeps_the_audit():
    """The export re-audits a study's decision from its record: the same intervals."""
    s = disclosure.Structure()
    parts = [s.cell(("a", 1), 2), s.cell(("a", 2), 10), s.cell(("a", 3), 11)]
    s.relation(s.cell(("total",), 23), parts)
    rules = disclosure.Rules(3)
    withheld = disclosure.protect(s, rules)
    rec = json.loads(json.dumps(disclosure.record(s, withheld, rules)))
    s2, withheld2, rules2 = disclosure.from_record(rec)
    assert (withheld2, rules2) == (withheld, rules)
    assert disclosure.audit(s2, withheld2, rules2) == disclosure.audit(s, withheld, rules)
    assert all(iv.protected for iv in disclosure.audit(s2, withheld2, rules2))
    # a record whose complement was dropped fails the re-audit
    bare = {k: r for k, r in withheld2.items() if r == disclosure.SMALL}
    assert not all(iv.protected for iv in disclosure.audit(s2, bare, rules2))


# --- statistics other than counts in the Uppsala publication -----------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_dominance_from_the_kept_largest_equals_the_rule_on_all_values(seed):
    """The publishing step sees only a group's n, its 10 largest |values| and their total;
    its decision equals `magnitude_reason` on the persons' own values (random groups, a few
    with one or two giants, zeros and negative values; several rule settings)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    values = rng.choice([0.0, 0.0, 5.0, 30.0, 365.0], n) * rng.uniform(0.5, 1.0, n)
    values[: int(rng.integers(0, 3))] *= rng.choice([1, 50, -40])
    kept = analysis.magnitudes(values)
    largest = [kept[f"largest{i}"] for i in range(1, analysis.MAGNITUDE_TOP + 1)]
    for rules in (disclosure.Rules(3), disclosure.Rules(5, dominance_n=3, dominance_k=0.6),
                  disclosure.Rules(3, dominance_k=0.99, p_percent=0.3)):
        assert disclosure.magnitude_reason_of(rules, n, kept["abs_sum"], largest) == \
            rules.magnitude_reason(values), (n, sorted(values))


def test_dominance_needs_as_many_kept_values_as_the_rule_reads():
    largest = [50.0, 40.0, 30.0]
    rules = disclosure.Rules(3, dominance_n=4)
    with pytest.raises(ValueError, match="report.dominance n = 4 .* 3 largest"):
        disclosure.magnitude_reason_of(rules, 20, 200.0, largest)
    # a group no larger than what was kept is known in full
    assert disclosure.magnitude_reason_of(rules, 3, 120.0, largest) == \
        rules.magnitude_reason(largest)


def _days_results(values_int: list[float], values_ctl: list[float]) -> pd.DataFrame:
    rows = [{"LopNr": i, "Grupp": g, "sex": "kvinna", "window_months": 12, "analysed": True,
             "employed_or_studying": True, "sjukpenning_netdays": v,
             "sjukersattning_netdays": 0.0}
            for i, (g, v) in enumerate([("Intervention", v) for v in values_int]
                                       + [("Kontroll", v) for v in values_ctl])]
    table = pd.DataFrame(rows)
    table["Grupp"] = pd.Categorical(table["Grupp"], ["Intervention", "Kontroll"])
    return analysis.outcome_results(table)


def test_quantiles_and_means_decided_apart():
    """12 against 8 persons: the 8 get no quartiles (below 10) but a mean; one person with
    300 of the 12's 322 days dominates their mean, which is withheld, their quartiles not;
    the Hodges–Lehmann shift, a quantile of both groups, goes with the smaller one."""
    results = _days_results([300.0] + [2.0] * 11, [float(v) for v in range(10, 90, 10)])
    pub = disclosure.publish(results, NO_BASELINE, {"windows": {}}, disclosure.Rules(3))
    row = next(r for r in pub.outcomes
               if r["stratum"] == "alla" and r["outcome"] == "sjukpenning_netdays")
    assert row["mean_int"].reason == disclosure.DOMINATED
    assert row["quantiles_int"].value["median"] == 2.0
    assert row["quantiles_ctl"].reason == disclosure.FEW_FOR_QUANTILES
    assert row["mean_ctl"].value["mean"] == pytest.approx(45.0)
    assert row["effect"].reason == disclosure.FEW_FOR_QUANTILES
    assert not row["pvalue"].withheld  # both n are published
    assert set(row["quantiles_int"].value) == set(disclosure.QUANTILE_KEYS)  # no min, no max


def test_quantiles_of_a_withheld_group_follow_what_a_reader_knows():
    """A withheld count's quantiles are published when its audited bounds are all at least
    the threshold, withheld as too few when they are all below it, and as revealing when
    they straddle it: never decided on the hidden value itself."""
    s = disclosure.Structure()
    total = s.cell(("n", 12, "alla", "x", "Kontroll"), 14)
    s.relation(total, [s.cell(("a",), 2), s.cell(("n", 12, "man", "x", "Kontroll"), 12)])
    pub = disclosure.Publication(disclosure.Rules(3), s, disclosure.protect(s, disclosure.Rules(3)),
                                 [], [], {}, disclosure.SafeCell(None))
    men = ("n", 12, "man", "x", "Kontroll")
    # "<3" is 1 or 2 of the 14, so the men are 12 or 13
    assert men in pub.withheld and pub.bounds(men) == pytest.approx((12, 13))
    assert pub.quantile_reason(men) == ""
    for q, reason in ((12, ""), (13, disclosure.REVEALS), (14, disclosure.FEW_FOR_QUANTILES)):
        strict = dataclasses.replace(pub, rules=disclosure.Rules(3, min_quantile_n=q),
                                     _bounds={})
        assert strict.quantile_reason(men) == reason


def test_published_decision_lists_every_statistic_and_is_rebuilt_exactly(male_subgroup_results):
    pub = disclosure.publish(male_subgroup_results, NO_BASELINE, {"windows": {}},
                             disclosure.Rules(3))
    published = json.loads(json.dumps(disclosure.to_json(pub)))
    status = {tuple(c["key"]): c for c in published["statistics"]}
    p = status["outcome", 12, "man", "employed_or_studying", "pvalue"]
    assert p == {"key": list(p["key"]), "published": None, "reason": disclosure.REVEALS}
    assert status["outcome", 12, "man", "sjukpenning_netdays", "quantiles_int"]["published"][
        "median"] == pytest.approx(100.0)
    assert published["rules"]["min_quantile_n"] == 10 and published["rules"]["dominance"] == [
        2, 0.9]
    rebuilt = disclosure.from_json(published, male_subgroup_results, NO_BASELINE,
                                   {"windows": {}}, disclosure.Rules(3))
    assert rebuilt.outcomes == pub.outcomes
    tampered = copy.deepcopy(published)
    cell = next(c for c in tampered["statistics"] if c["key"][-1] == "pvalue"
                and c["reason"])
    cell.update(published=0.05447, reason="")
    with pytest.raises(ValueError, match="statistics differ .*pvalue"):
        disclosure.from_json(tampered, male_subgroup_results, NO_BASELINE, {"windows": {}},
                             disclosure.Rules(3))
    with pytest.raises(ValueError, match="rules"):
        disclosure.from_json(published, male_subgroup_results, NO_BASELINE, {"windows": {}},
                             disclosure.Rules(3, min_quantile_n=5))
    old = {k: v for k, v in published.items() if k != "statistics"}
    with pytest.raises(ValueError, match="statistics differ"):
        disclosure.from_json(old, male_subgroup_results, NO_BASELINE, {"windows": {}},
                             disclosure.Rules(3))


def test_tables_without_the_kept_magnitudes_are_refused(male_subgroup_results):
    old = male_subgroup_results.drop(columns=[c for c in male_subgroup_results
                                              if c.startswith("largest")])
    with pytest.raises(ValueError, match="re-run the analysis stage"):
        disclosure.publish(old, NO_BASELINE, {"windows": {}}, disclosure.Rules(3))


# --- rounding as the alternative protection (report.protection: round) ---------------------

def test_rounding_by_hand():
    """Base 5: 1–4 are small ("<5"); 5–7 print 5, 8–12 print 10 (halves up: 12.5 is not a
    count); base 10: 15–24 print 20. A reader's bounds are those ranges."""
    rules = disclosure.Rules(3, method=disclosure.ROUND)
    assert rules.threshold == 5 and rules.mark == "<5" and rules.protection == (1, 4)
    assert [rules.small(v) for v in (0, 1, 4, 5)] == [False, True, True, False]
    assert [rules.printed(v) for v in (0, 5, 7, 8, 12, 13, 62)] == [0, 5, 5, 10, 10, 15, 60]
    assert rules.reader_bounds(5) == (5, 7) and rules.reader_bounds(60) == (58, 62)
    assert rules.reader_bounds(0) == (0, 0)
    ten = disclosure.Rules(3, method=disclosure.ROUND, rounding_base=10)
    assert ten.printed(15) == 20 and ten.printed(24) == 20 and ten.reader_bounds(20) == (15, 24)
    assert disclosure.Rules(3).printed(7) == 7 and disclosure.Rules(3).reader_bounds(7) == (7, 7)
    assert disclosure.Rules.from_params({"min_cell": 3, "protection": "round",
                                         "rounding_base": 10}) == ten
    for key, value in (("protection", "blur"), ("rounding_base", 1), ("rounding_base", 2.5)):
        with pytest.raises(ValueError, match=f"report.{key}"):
            disclosure.Rules.from_params({"min_cell": 3, key: value})


def test_round_is_refused_where_counts_are_not_printed_rounded():
    s = disclosure.Structure()
    s.relation(s.cell(("n",), 14), [s.cell(("a",), 2), s.cell(("b",), 12)])
    with pytest.raises(ValueError, match="report.protection: round needs a publication that "
                                         "prints its counts rounded"):
        disclosure.Counts.protected(s, disclosure.Rules(5, method=disclosure.ROUND))


@pytest.fixture(scope="module")
def default_study():
    """The default synthetic data's tables, as the analyse stage makes them."""
    a = load_params(UPPSALA_PARAMS)["analysis"]
    frames = synth.generate(synth.SyntheticSpec())
    rand = frames["randomisering"].assign(RandDatum=lambda f: pd.to_datetime(f["RandDatum"]))
    table, flow = cohort.build_cohort(rand, frames["LISA"], frames["BAS"])
    flow = json.loads(json.dumps(flow))
    results = analysis.outcome_results(table, conf_level=a["conf_level"],
                                       expected_below=a["fisher_expected_below"],
                                       chisq_correct=a["chisq_correct"])
    return results, analysis.baseline_table(table, a["baseline_variables"]), flow, a


def _employment_6(pub: disclosure.Publication) -> dict:
    (row,) = [r for r in pub.outcomes
              if (r["window"], r["stratum"], r["outcome"]) == (6, "alla", "employed_or_studying")]
    return row


def test_round_publishes_the_6_month_employment_difference_on_the_default_data(default_study):
    """Suppression withholds the 6-month employment difference (the Kontroll "<3" of the
    6-month flow takes the analysed n with it). Rounding to 5 publishes it: the true counts
    would pin that small count (randomised 62 prints 60, so 58–62, and an exact analysed 60
    leaves 1–2), so the difference is computed from the printed counts, here checked against
    `stats.risk_difference` (R-checked) on those counts; the p-value is not shown. The
    attacker, who inverts every share of true counts, narrows no small count in either."""
    from rehabkoord import stats

    results, baseline, flow, a = default_study
    assert flow["windows"]["6"]["Kontroll"]["excluded"][ABSENT] == 2
    rules = disclosure.Rules(3)
    suppressed = disclosure.publish(results, baseline, flow, rules, 12)
    assert _employment_6(suppressed)["effect"].withheld
    rounded_rules = disclosure.Rules(3, method=disclosure.ROUND)
    pub = disclosure.publish(results, baseline, flow, rounded_rules, 12,
                             conf_level=a["conf_level"])
    row = _employment_6(pub)
    assert not row["effect"].withheld and row["effect"].reason == disclosure.ROUNDED
    assert row["pvalue"].withheld and row["pvalue_holm"].withheld
    true = results[(results["window_months"] == 6) & (results["stratum"] == "alla")
                   & (results["outcome"] == "employed_or_studying")].iloc[0]
    printed = {p: (rounded_rules.printed(int(true[f"events_{p}"])),
                   rounded_rules.printed(int(true[f"n_{p}"]))) for p in ("int", "ctl")}
    assert (row["events_int"].value, row["n_int"].value) == printed["int"]
    rd = stats.risk_difference(*printed["int"], *printed["ctl"], a["conf_level"])
    assert row["effect"].value == pytest.approx(
        {"estimate": 100 * rd.estimate, "low": 100 * rd.conf_low, "high": 100 * rd.conf_high},
        abs=1e-9)
    assert row["pct_ctl"].value == pytest.approx(100 * printed["ctl"][0] / printed["ctl"][1])
    assert row["n_ctl"].text == str(printed["ctl"][1])
    for p in (suppressed, pub):
        published = json.loads(json.dumps(disclosure.to_json(p)))
        findings = attack(published)
        assert not [f for f in findings if f.too_narrow], summary(findings, p.rules.method)
    # a share of true counts is published where it pins nothing (checked by the attacker
    # above, who solves it for its counts), and the decision is rebuilt exactly
    assert any(not c.withheld and c.value is not None and not c.reason
               for k, c in pub.statistics() if k[-1].startswith("pct_"))
    again = disclosure.from_json(published, results, baseline, flow, rounded_rules, 12,
                                 conf_level=a["conf_level"])
    assert again.outcomes == pub.outcomes and again.baseline == pub.baseline
    rec = json.loads(json.dumps(pub.record()))
    s2, withheld2, rules2 = disclosure.from_record(rec)
    assert withheld2.exact == pub.withheld.exact and rules2 == rounded_rules
    assert all(iv.protected for iv in disclosure.audit(s2, withheld2, rules2))


def test_the_attacker_inverts_a_share_of_true_counts():
    """Under rounding an exact share is an equation: 27 of n printed 60 (58–62) with the
    share 45 % has one solution, n = 60, 27 (by hand); the attacker finds it."""
    from attacker import shares_attack

    published = {"statistics": [{"key": ["outcome", 6, "alla", "x", "pct_ctl"],
                                 "published": 45.0, "reason": ""}]}
    bounds = {("events", 6, "alla", "x", "Kontroll"): (23, 27),
              ("n", 6, "alla", "x", "Kontroll"): (58, 62)}
    assert shares_attack(published, bounds) == {("events", 6, "alla", "x", "Kontroll"): (27, 27),
                                                ("n", 6, "alla", "x", "Kontroll"): (60, 60)}


@pytest.mark.slow
def test_round_appendix_publishes_the_6_month_employment_difference(tmp_path):
    """The default Uppsala pipeline with `report.protection: round` (one run of its figures
    and report stages): the appendix states the rounding rule, gives the 6-month employment
    difference in percentage points from the rounded counts, and the attacker narrows no
    small count from what it publishes."""
    import re

    from attacker import assert_appendix_cannot_be_undone
    from pipeline_helpers import copy_project, dvc, set_params

    project = copy_project(tmp_path / "round")
    set_params(project, report={"protection": "round"})
    dvc("repro", "notebooks/uppsala/dvc.yaml:report", cwd=project)
    html = (project / "reports" / "uppsala" / "bilaga.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", html)
    assert "Alla antal avrundas var för sig (även summor) till närmaste multipel av 5" in text
    assert re.search(r"Under kalenderåret minst 6 månader efter randomisering var andelen som "
                     r"var huvudsakligen sysselsatta i arbete eller studier \d+,\d "
                     r"procentenheter (högre|lägre)", text)
    assert "&lt;5" in html
    assert_appendix_cannot_be_undone(project)


def test_a_withheld_published_zero_fails_the_audit():
    """A decision made before zeros were excluded from complements (a 0 printed as "–"
    where zeros print as 0): the reader's "at least 1" contradicts the total, which tells
    them that "–" is a zero; the audit says so instead of failing to solve."""
    s = disclosure.Structure()
    s.relation(s.cell(("total",), 11), [s.cell(("a",), 2), s.cell(("z",), 0), s.cell(("b",), 9)])
    got = {iv.key: iv for iv in disclosure.audit(
        s, {("a",): disclosure.SMALL, ("z",): disclosure.COMPLEMENT}, disclosure.Rules(3))}
    assert not got[("z",)].protected


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("statistics,from_rounded", [(True, True), (True, False), (False, True)])
def test_the_rounding_statement_names_the_symbol_the_tables_print(language, statistics,
                                                                   from_rounded):
    """A reader looks up the mark in the statement: it is the one a withheld count prints as
    (caseload's statement once said "–" while its tables printed "×")."""
    from rehabkoord.disclosure import ROUND, SUPPRESSED, Rules, rounding_statement

    rules = Rules(5, method=ROUND, rounding_base=5)
    text = rounding_statement(rules, language, statistics, from_rounded)
    assert "<5" in text and "–" not in text.replace("1–4", "")
    if not (statistics and from_rounded):
        assert SUPPRESSED in text
