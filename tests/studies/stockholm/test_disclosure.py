"""Issue 26 on the spell study: an attacker's reconstruction of counts from the published
curve data and figure tables finds none below min_cell; medians, means and model estimates
follow the rules for statistics other than counts. Each test reproduces a leak the published
appendix had (and failed on it) before the fix."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

matplotlib.use("Agg")

from rehabkoord import survival  # noqa: E402
from rehabkoord.disclosure import SUPPRESSED, Rules  # noqa: E402
from rehabkoord.studies.stockholm import analysis, report  # noqa: E402


def small(counts, rules: Rules) -> list:
    """The counts in 1 … min_cell − 1 (after rounding an attacker's real-valued solution)."""
    c = np.rint(np.asarray(counts, dtype=float))
    return sorted(set(c[(c >= 1) & (c < rules.min_cell)].tolist()))


def km_attack(curve: pd.DataFrame, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Returns and censorings per step from a published Kaplan–Meier curve with its log-scale
    Greenwood interval alone: a step's 1 − S(t)/S(t−) is d/n and its increase in the squared
    standard error of log S is d/(n(n − d)), two equations for n and d; what leaves between
    two event times and is not an event is censored."""
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    s = curve["surv"].to_numpy()
    se2 = ((np.log(s) - np.log(curve["lower"].to_numpy())) / z) ** 2
    q = 1 - s / np.concatenate([[1.0], s[:-1]])
    inc = np.diff(np.concatenate([[0.0], se2]))
    step = q > 1e-12
    n = q[step] / (inc[step] * (1 - q[step]))
    d = q[step] * n
    censored = n[:-1] - d[:-1] - n[1:]
    return d, censored


@pytest.mark.parametrize("min_cell", [5, 11])
def test_km_steps_reveal_no_small_return_or_censoring_count(sthlm_estimates, min_cell):
    """The attack that found 1–2 returns per day in the published curve: before the fix it
    found counts below min_cell at most steps; now every step rests on rounded counts."""
    rules = Rules(min_cell=min_cell)
    _, curves, at_risk = report.km_figure(sthlm_estimates, rules, "sv", [0, 30, 90, 180])
    for g, curve in curves.groupby("Grupp"):
        d, c = km_attack(curve)
        assert len(d) > 3
        assert small(d, rules) == [] and small(c, rules) == [], g
        if "n_risk" in curve:
            n = curve["n_risk"].to_numpy()
            assert small(n, rules) == [] and small(-np.diff(n), rules) == []
            assert small(curve["n_event"], rules) == small(curve["n_censor"], rules) == []
        shown = [int(t) for t in at_risk.loc[at_risk["Grupp"] == g, "n_risk"] if t.isdigit()]
        assert small(-np.diff(shown), rules) == []


def test_published_km_is_exactly_the_curve_of_its_rounded_counts(sthlm_estimates):
    """The figure's table is the whole basis of the curve: recomputing Kaplan–Meier from its
    counts gives back its survival and interval, so the curve tells nothing more."""
    rules = Rules(min_cell=5)
    _, curves, _ = report.km_figure(sthlm_estimates, rules, "en", [0])
    for _, c in curves.groupby("Grupp"):
        assert (c["n_event"] % 5 == 0).all() and (c["n_censor"] % 5 == 0).all()
        # everyone at risk at the first step leaves at a step or after the curve stops
        after = c["n_risk"].iloc[-1] - c["n_event"].iloc[-1] - c["n_censor"].iloc[-1]
        time = np.concatenate([np.repeat(c["time"], c["n_event"]),
                               np.repeat(c["time"], c["n_censor"]),
                               np.full(after, c["time"].max() + 1)])
        event = np.concatenate([np.ones(c["n_event"].sum()), np.zeros(c["n_censor"].sum()),
                                np.zeros(after)])
        fit = survival.kaplan_meier(time, event)
        np.testing.assert_allclose(fit.surv[:len(c)], c["surv"], rtol=1e-12)
        np.testing.assert_allclose(fit.lower[:len(c)], c["lower"], rtol=1e-12)
        assert c["n_risk"].iloc[0] % 5 == 0


def test_cumulative_incidence_rests_on_counts_of_zero_or_at_least_min_cell(sthlm_estimates):
    """Before the fix the first step of the published curve times the group's returned
    (published) gave the day's re-sick-listings, 1 or 2 persons. Now the figure's table holds
    the rounded counts, and the curve is the Aalen–Johansen estimate recomputed from them."""
    rules = Rules(min_cell=5)
    _, shown = report.cuminc_figure(sthlm_estimates, rules, "sv")
    ci = sthlm_estimates.cuminc
    for g, c in shown.groupby("Grupp"):
        returned = ci.loc[ci["Grupp"] == g, "n_risk"].max()  # published as ("returned", g)
        first = c[c["est"] > 0].iloc[0]
        assert small([first["est"] * returned], rules) == [], g
        assert {"n_risk", "n_event", "n_compete", "n_censor"} <= set(c.columns)
        for col in ("n_risk", "n_event", "n_compete", "n_censor"):
            assert (c[col] % rules.min_cell == 0).all(), col
        codes = {"n_event": 1, "n_compete": 2, "n_censor": 0}
        after = int(c["n_risk"].iloc[-1] - c[list(codes)].iloc[-1].sum())
        time = np.concatenate([*(np.repeat(c["time"], c[k]) for k in codes),
                               np.full(after, c["time"].max() + 1)])
        status = np.concatenate([*(np.full(c[k].sum(), v) for k, v in codes.items()),
                                 np.zeros(after)])
        fit = survival.cumulative_incidence(time, status)
        at = survival.cumulative_incidence_at(fit, c["time"])
        np.testing.assert_allclose(at.est, c["est"], rtol=1e-12)
        assert (c["n_risk"] >= rules.min_cell).all()


def test_curves_stop_where_fewer_than_min_cell_remain(sthlm_estimates):
    rules = Rules(min_cell=50)
    km = sthlm_estimates.km
    _, curves, at_risk = report.km_figure(sthlm_estimates, rules, "sv", [0, 365])
    for g, part in curves.groupby("Grupp"):
        last = km[(km["Grupp"] == g) & (km["time"] == part["time"].max())]
        assert last["n_risk"].iloc[0] >= 50 and (part["n_risk"] >= 50).all()
    _, shown = report.cuminc_figure(sthlm_estimates, Rules(min_cell=100), "sv")
    ci = sthlm_estimates.cuminc
    assert (ci.merge(shown, on=["Grupp", "time"])["n_risk_x"] >= 100).all()
    assert (shown["n_risk"] >= 100).all() and shown["time"].max() < ci["time"].max()
    assert all(s in ("<50", SUPPRESSED) or int(s) >= 50 for s in at_risk["n_risk"])
    assert "<50" in set(at_risk["n_risk"])  # a year after index, few remain on sick leave


def test_monthly_degree_publishes_no_n_whose_changes_are_small(sthlm_estimates):
    """The published per-month n dropped by 1, 1, 3 …: persons whose follow-up ended by death,
    emigration or age 65, published nowhere else."""
    rules = Rules(min_cell=5)
    assert (np.diff(sthlm_estimates.months.query("Grupp == 'Kontroll'")["n"]) > -5).any()
    _, data = report.degree_figure(sthlm_estimates, rules, "sv")
    for _, part in data.groupby("Grupp"):
        if "n" in part:
            assert small(-np.diff(part.sort_values("Month")["n"]), rules) == []
    assert len(data) >= 20


def test_a_month_dominated_by_one_person_is_not_published(sthlm_derived):
    """Late in follow-up most have returned (degree 0): one person still sick-listed carries
    the month's mean, which then gives away that person's degree."""
    table, months, _ = sthlm_derived
    ids = table.loc[table["Grupp"] == "Koordinator", "LopNr"]
    late = (months["Month"] == 11) & months["LopNr"].isin(ids)
    one = months.loc[late & (months["AtRiskDays"] > 0), "LopNr"].iloc[0]
    months = months.assign(MeanDegree=np.where(late & (months["LopNr"] != one), 0.0,
                                               np.where(late, 75.0, months["MeanDegree"])))
    est = analysis.Estimates(**{**vars(_estimates_stub()),
                                "months": analysis.monthly_degree(months, table, 0.95)})
    fig, data = report.degree_figure(est, Rules(min_cell=5), "sv")
    assert not ((data["Month"] == 11) & (data["Grupp"] == "Koordinator")).any()
    assert ((data["Month"] == 10) & (data["Grupp"] == "Koordinator")).any()
    # the withheld month is marked at its place in the group's colour, not bridged by a line
    marks = [t for t in fig.axes[0].texts if t.get_text() == SUPPRESSED]
    assert (12, report.PALETTE["Koordinator"]) in [(t.get_position()[0], t.get_color())
                                                   for t in marks]
    line = fig.axes[0].get_lines()[0]  # Koordinator's
    assert np.isnan(line.get_ydata()[list(line.get_xdata()).index(12)])


def _estimates_stub() -> analysis.Estimates:
    return analysis.Estimates(**{name: pd.DataFrame() for name in analysis.TABLES})


def test_medians_means_and_model_estimates_follow_the_rules(sthlm_derived, sthlm_estimates):
    table, _, flow = sthlm_derived
    n_centre = sthlm_estimates.centres["n"]
    q = int(n_centre.median()) + 1  # half the centres' groups are below the quantile threshold
    pub = report.publish(table, flow["derivation"], Rules(min_cell=5, min_quantile_n=q))
    centres = report.centre_table(sthlm_estimates, pub, "en")
    median = centres["Median days to return (95%\u00a0CI)"]
    assert ((median == SUPPRESSED) == (n_centre < q).to_numpy()).all()
    assert (centres["Net days, mean"] != SUPPRESSED).all()
    # every mean dominated: (1, 0.1 %) rule
    strict = report.publish(table, flow["derivation"], Rules(min_cell=5, dominance_n=1,
                                                                dominance_k=0.001))
    balance = report.balance_table(sthlm_estimates, strict, "en")
    assert (balance.loc[balance["SMD"] != "", "SMD"].iloc[:3] == SUPPRESSED).all()
    main = report.main_table(sthlm_estimates, strict, "en")
    net = main[main["Measure"].str.startswith("Difference in net days, mean")]
    assert (net["Estimate (95%\u00a0CI)"] == SUPPRESSED).all()
    assert (report.centre_table(sthlm_estimates, strict, "en")["Net days, mean"]
            == SUPPRESSED).all()
    # fewer residual degrees of freedom than min_df: within-subgroup estimates withheld
    few = report.publish(table, flow["derivation"], Rules(min_cell=5, min_df=10**6))
    sub = report.subgroup_table(sthlm_estimates, few, "en")
    levels = sub[sub["n (coord./control)"] != ""]
    assert (levels["Hazard ratio (95%\u00a0CI)"] == SUPPRESSED).all()
    main = report.main_table(sthlm_estimates, few, "en")
    hr = main[main["Measure"].str.startswith("Hazard ratio")]
    assert (hr["Estimate (95%\u00a0CI)"] == SUPPRESSED).all()
    fig, data = report.forest_figure(sthlm_estimates, few, "en")
    assert data["suppressed"].all() and data[["hr", "low", "high"]].isna().all(axis=None)
    assert [t.get_text() for t in fig.axes[0].texts] == ["× withheld"] * len(data)
    fig.canvas.draw()
    axes = fig.axes[0].get_window_extent()
    for box in (t.get_window_extent(fig.canvas.get_renderer()) for t in fig.axes[0].texts):
        assert axes.x0 <= box.x0 and box.x1 <= axes.x1 and axes.y0 <= box.y0 <= box.y1 <= axes.y1
    first = report.result_sentences(sthlm_estimates, "en", few)[0]
    assert f"adjusted hazard ratio {SUPPRESSED}, 95%\u00a0CI {SUPPRESSED}" in first
    assert SUPPRESSED not in report.result_sentences(sthlm_estimates, "en", pub)[0]


def test_statistics_from_withheld_counts_are_withheld(sthlm_derived, sthlm_estimates):
    table, _, flow = sthlm_derived
    full = table.index[(table["Grupp"] == "Kontroll") & (table["FullReturn"] == 1)]
    t = table.copy()
    t.loc[full[2:], "FullReturn"] = 0.0  # two full returns left in the control group
    pub = report.publish(t, flow["derivation"], Rules(min_cell=5))
    assert not pub.shown(("full_return", "Kontroll"))
    main = report.main_table(sthlm_estimates, pub, "en")
    full = main[main["Measure"].str.startswith("Full return")].iloc[0]
    assert full["Estimate (95%\u00a0CI)"] == SUPPRESSED and full["p"] == SUPPRESSED
    assert all(i.protected for i in pub.intervals())


# --- report.protection: round (issue 27, item 2) -------------------------------------------

def _round_appendix(built, base: int = 5) -> tuple:
    """The report stage's publication and tables re-made with `report.protection: round`
    (`base`: report.rounding_base) on the shared executed pipeline's outputs (default
    synthetic data)."""
    from rehabkoord.io import read_json
    from rehabkoord.params import load_params

    params = load_params(built / "notebooks" / "stockholm" / "params.yaml")
    data = built / "data" / "processed" / "stockholm"
    table = pd.read_parquet(data / "analysis.parquet")
    flow = read_json(data / "flow.json")["derivation"]
    est = analysis.Estimates.read(data / "tables")
    rules = Rules.from_params(params["report"] | {"protection": "round", "rounding_base": base})
    pub = report.publish(table, flow, rules)
    return pub, flow, est, params


def _count_cells(pub, flow, est, params, language: str) -> list[str]:
    """Every count cell the appendix prints: flow, Table 1's counts (before the share),
    the subgroup n, the centre table's n and the Kaplan–Meier numbers at risk."""
    cells = [c for col in report.flow_table(pub, flow, language).columns[1:]
             for c in report.flow_table(pub, flow, language)[col]]
    balance = report.balance_table(est, pub, language)
    levels = np.array(balance.attrs["levels"]) == 1  # a variable's levels: counts
    for col in balance.columns[1:3]:
        cells += [c.split(" (")[0] for c in balance.loc[levels, col]]
    sub = report.subgroup_table(est, pub, language)
    cells += [x for c in sub[sub.columns[1]] if c for x in c.split(" / ")]
    cells += list(report.centre_table(est, pub, language)["n"])
    _, _, at_risk = report.km_figure(est, pub.rules, language, params["report"]["km_times"])
    return cells + list(at_risk["n_risk"])


@pytest.mark.slow
@pytest.mark.parametrize("b", [5, 10])
def test_round_prints_every_count_as_a_multiple_of_the_base(built, b):
    """Under round every count cell of the appendix (both languages) is a multiple of the
    base, "<base" or a withheld mark, the Kaplan–Meier numbers at risk too (a base other
    than min_cell shows they follow it); the statement names the rounding in both
    languages."""
    pub, flow, est, params = _round_appendix(built, b)
    for language in ("sv", "en"):
        cells = _count_cells(pub, flow, est, params, language)
        bad = [c for c in cells if c not in (f"<{b}", SUPPRESSED)
               and int("".join(ch for ch in c if ch.isdigit())) % b]
        assert cells and not bad, bad
    assert f"närmaste multipel av {b}" in report.Text("sv", 0.95).disclosure(pub)
    assert "tagna som exakt kända" in report.Text("sv", 0.95).disclosure(pub)
    assert f"nearest multiple of {b}" in report.Text("en", 0.95).disclosure(pub)


@pytest.mark.slow
def test_round_attacker_narrows_no_small_count(built):
    """The attacker (tests/attacker.py) reads the printed counts, the additive relations
    and the counts published statistics of true counts give back exactly, and narrows no
    small count below "<base"; the same attacker finds the leak when every statistic is
    computed from true counts (the decision it guards against)."""
    from attacker import assert_round_audit

    pub, _, _, _ = _round_appendix(built)
    assert_round_audit(pub, report.statistic_needs(pub.structure), "stockholm, round")


@pytest.mark.slow
def test_round_withholds_statistics_of_counts_the_audit_does_not_allow(built):
    """Table 1's shares and the main table's statistics of counts are shown exactly where
    their counts are among those the audit lets a reader know exactly (`Counts.exact`);
    model estimates keep their own rules."""
    pub, _, est, _ = _round_appendix(built)
    exact = pub.withheld.exact
    balance = report.balance_table(est, pub, "en")
    rows = iter(np.flatnonzero(np.array(balance.attrs["levels"]) == 1))
    for r in est.balance[est.balance["kind"] != "continuous"].itertuples():
        i = next(rows)
        for g, col in zip(analysis.GROUPS, balance.columns[1:3], strict=True):
            assert ("%" in balance.at[i, col]) == ({(r.variable, r.level, g), ("n", g)}
                                                   <= exact), (r.variable, r.level, g)
    for measure, keys in report.NEEDS.items():
        if measure in set(est.main["measure"]):
            assert report.shown_measure(est, pub, measure) == all(
                (k, g) in exact for k in keys for g in analysis.GROUPS), measure
    assert report.shown_measure(est, pub, "hr_adjusted")
