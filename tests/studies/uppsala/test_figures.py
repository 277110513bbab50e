"""Figures are saved as PNG, SVG and the CSV of their numbers, deterministically, and draw
only what the tables publish."""

from __future__ import annotations

import hashlib
import json
import math

import pandas as pd
import pytest
from pipeline_helpers import UPPSALA_PARAMS

from rehabkoord import disclosure, style
from rehabkoord.params import load_params
from rehabkoord.studies.uppsala import analysis, cohort, figures

WITHHELD = "× skyddad"


def _inside_axes(text) -> bool:
    """Whether a drawn text lies within its axes (window extents after drawing)."""
    fig = text.axes.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box, axes = text.get_window_extent(renderer), text.axes.get_window_extent(renderer)
    return (axes.x0 <= box.x0 and box.x1 <= axes.x1 and axes.y0 <= box.y0
            and box.y1 <= axes.y1)


def _marks(fig) -> list:
    return [t for ax in fig.axes for t in ax.texts if t.get_text() == WITHHELD]


def _inputs(frames, min_cell=3):
    rand = frames["randomisering"].assign(RandDatum=lambda f: pd.to_datetime(f["RandDatum"]))
    table, flow = cohort.build_cohort(rand, frames["LISA"], frames["BAS"])
    flow = json.loads(json.dumps(flow))
    results, baseline = analysis.outcome_results(table), analysis.baseline_table(
        table, load_params(UPPSALA_PARAMS)["analysis"]["baseline_variables"])
    return table, results, baseline, flow


def _publish(results, baseline, flow, min_cell=3):
    return disclosure.publish(results, baseline, flow, disclosure.Rules(min_cell))


def test_all_figures_saved_twice_identically(tmp_path, synthetic_frames):
    table, results, baseline, flow = _inputs(synthetic_frames)
    pub = _publish(results, baseline, flow)
    a = figures.all_figures(pub, tmp_path / "a", "sv")
    b = figures.all_figures(pub, tmp_path / "b", "sv")
    assert {"consort_6m", "consort_12m", "forest_riskskillnad"} <= set(a)
    for name, paths in a.items():
        assert [p[-3:] for p in paths] == ["png", "svg", "csv"]
        for pa, pb in zip(paths, b[name], strict=True):
            assert hashlib.sha256(open(pa, "rb").read()).digest() == \
                hashlib.sha256(open(pb, "rb").read()).digest(), pa


def test_withheld_share_is_not_drawn(synthetic_frames):
    _, results, baseline, flow = _inputs(synthetic_frames)
    results = results.copy()
    men = (results["stratum"] == "man") & (results["outcome"] == "employed_or_studying")
    alla = (results["stratum"] == "alla") & (results["outcome"] == "employed_or_studying")
    results.loc[alla, "events_ctl"] += 1 - results.loc[men, "events_ctl"].to_numpy()
    results.loc[men, "events_ctl"] = 1  # a small cell, the whole still adding up
    pub = _publish(results, baseline, flow)
    fig = figures.share_by_group(pub, "sv", by_sex=True)
    for ax, stratum in zip(fig.axes, ("kvinna", "man"), strict=True):
        rows = [r for r in pub.outcomes
                if r["stratum"] == stratum and r["outcome"] == "employed_or_studying"]
        published = sum(not r[f"pct_{p}"].withheld for r in rows for p in ("int", "ctl"))
        assert len(ax.patches) == published
        marks = [t for t in ax.texts if t.get_text() == WITHHELD]
        assert len(marks) == 2 * len(rows) - published  # each withheld bar marked in its place
    assert _marks(fig) and all(_inside_axes(t) for t in _marks(fig))
    men_ctl = [r["pct_ctl"] for r in pub.outcomes
               if r["stratum"] == "man" and r["outcome"] == "employed_or_studying"]
    assert all(c.withheld for c in men_ctl)
    assert len(fig.axes[1].patches) <= 2


def test_flow_diagram_shows_what_the_flow_table_shows(synthetic_frames):
    """The default data's Kontroll at 6 months: "<3" excluded, and the analysed n withheld."""
    _, results, baseline, flow = _inputs(synthetic_frames)
    pub = _publish(results, baseline, flow)
    g = pub.flow[6]["Kontroll"]
    assert g["analysed"].withheld
    fig = figures.consort(pub, 6, "sv")
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "<3" in texts and "n = ×" in texts and "–" not in texts
    legend = style.mark_legend(fig, "sv").get_text()
    assert legend == ("Teckenförklaring: × uppgift skyddad av sekretesskäl (röjandekontroll); "
                      "<3 färre än 3 personer.")
    assert style.mark_legend(fig, "sv") is None  # once
    assert f"n = {flow['windows']['6']['Kontroll']['analysed']}" not in texts


def test_forest_draws_only_published_differences(synthetic_frames):
    _, results, baseline, flow = _inputs(synthetic_frames)
    pub = _publish(results, baseline, flow)
    rows = [r for r in pub.outcomes if r["outcome"] == "employed_or_studying"]
    published = [r for r in rows if not r["effect"].withheld]
    fig = figures.forest_risk_difference(pub, "sv")
    assert len(fig.axes[0].get_yticklabels()) == len(rows) == 6
    assert len(fig.axes[0].containers) == len(published) < 6  # one error bar each
    marks = _marks(fig)
    assert len(marks) == 6 - len(published)
    assert all(_inside_axes(t) for t in marks)  # whatever the differences' range
    drawn = rows[::-1]  # the first row at the top
    assert all(drawn[round(t.get_position()[1])]["effect"].withheld for t in marks)
    table = figures.risk_difference_table(pub)
    assert table["suppressed"].sum() == 6 - len(published)
    assert table.loc[table["suppressed"], "estimate"].isna().all()
    assert (table.loc[table["suppressed"], "reason"] == disclosure.REVEALS).all()


def _zero_heavy_cohort() -> pd.DataFrame:
    """Intervention: 10 people, days 0×6, 10, 20, 30, 40; control: 10 people, 0×8, 5, 7."""
    days = {"Intervention": [0] * 6 + [10, 20, 30, 40], "Kontroll": [0] * 8 + [5, 7]}
    rows = [{"Grupp": g, "window_months": 12, "analysed": True, "sjukpenning_netdays": float(d),
             "sjukersattning_netdays": 0.0} for g, values in days.items() for d in values]
    return pd.DataFrame(rows)


def _zero_heavy_pub(cohort: pd.DataFrame, min_cell: int, min_quantile_n: int = 10
                    ) -> disclosure.Publication:
    """The outcome rows `analysis.outcome_results` would give for the days outcomes, published."""
    rows = []
    for outcome in figures.DAYS_OUTCOMES:
        row = {"window_months": 12, "stratum": "alla", "outcome": outcome, "kind": "days",
               "test": "none", "pvalue": math.nan, "estimate": math.nan}
        for group, p in (("Intervention", "int"), ("Kontroll", "ctl")):
            values = cohort.loc[cohort["Grupp"] == group, outcome]
            row.update({f"{k}_{p}": v for k, v in analysis._describe_days(values).items()})
        rows.append(row)
    return disclosure.publish(pd.DataFrame(rows), pd.DataFrame(columns=["variable", "kind"]),
                              {"windows": {}}, disclosure.Rules(min_cell,
                                                                min_quantile_n=min_quantile_n))


def test_share_with_any_days_by_hand():
    cohort = _zero_heavy_cohort()
    table = figures.any_days_table(_zero_heavy_pub(cohort, 2))
    sjp = table[table["outcome"] == "sjukpenning_netdays"].set_index("group")
    assert sjp.loc["Intervention", ["n", "n_with_days", "pct"]].tolist() == [10, 4, 40.0]
    # Wilson interval for 4/10 (R prop.test(4, 10, correct = FALSE)$conf.int)
    assert sjp.loc["Intervention", "conf_low"] == pytest.approx(16.81803297, rel=1e-9)
    assert sjp.loc["Intervention", "conf_high"] == pytest.approx(68.73262303, rel=1e-9)
    assert sjp.loc["Kontroll", ["n_with_days", "pct"]].tolist() == [2, 20.0]
    strict = figures.any_days_table(_zero_heavy_pub(cohort, 3))
    ctl = strict[(strict["outcome"] == "sjukpenning_netdays") & (strict["group"] == "Kontroll")]
    assert ctl["suppressed"].item() and ctl[["n_with_days", "pct", "conf_low"]].isna().all(axis=None)
    sea = strict[strict["outcome"] == "sjukersattning_netdays"]
    assert (sea["n_with_days"] == 0).all()  # zeros are published unless report.zeros_disclosive


def test_deciles_among_those_with_days_by_hand():
    """With a quantile threshold of 4 (to check the numbers by hand): 4 with days are
    drawn, 2 (a "<3" count) are withheld for too few persons, and marked."""
    cohort = _zero_heavy_cohort()
    table = figures.days_among_with_days_table(_zero_heavy_pub(cohort, 3, min_quantile_n=4))
    sjp = table[table["outcome"] == "sjukpenning_netdays"].set_index("group")
    # 10, 20, 30, 40: R quantile type 7 at 0.1 is 10 + 0.3·10 = 13; median 25; at 0.9: 37
    assert sjp.loc["Intervention", ["n_with_days", "p10", "p50", "p90"]].tolist() == \
        [4, pytest.approx(13.0), pytest.approx(25.0), pytest.approx(37.0)]
    assert sjp.loc["Kontroll", "suppressed"] and pd.isna(sjp.loc["Kontroll", "p50"])
    assert sjp.loc["Kontroll", "reason"] == disclosure.FEW_FOR_QUANTILES
    default = figures.days_among_with_days_table(_zero_heavy_pub(cohort, 3))
    assert default["suppressed"].all()  # 4 persons are below the default threshold 10
    fig = figures.days_among_with_days(table, "sv")
    assert any(WITHHELD in t.get_text() for ax in fig.axes
               for t in ax.get_legend().get_texts())


def test_a_withheld_box_is_marked_inside_its_axes():
    pub = _zero_heavy_pub(_zero_heavy_cohort(), 3, min_quantile_n=11)  # 10 a group: withheld
    table = figures.days_percentiles_table(pub, "sjukpenning_netdays")
    assert table["suppressed"].all()
    fig = figures.days_distribution(table, "sjukpenning_netdays", "sv")
    marks = _marks(fig)
    assert len(marks) == len(table) and all(_inside_axes(t) for t in marks)
    assert not fig.axes[0].patches  # no box drawn
    english = figures.days_distribution(table, "sjukpenning_netdays", "en")
    assert [t.get_text() for t in english.axes[0].texts] == ["× withheld"] * len(table)


def test_every_figure_has_its_numbers_as_a_table(tmp_path, synthetic_frames):
    table, results, baseline, flow = _inputs(synthetic_frames)
    saved = figures.all_figures(_publish(results, baseline, flow), tmp_path, "sv")
    for name, paths in saved.items():
        data = pd.read_csv(paths[2])
        assert len(data) > 0, name
    shares = pd.read_csv(tmp_path / "andel_med_dagar.csv")
    analysed = table[table["analysed"]]
    for _, r in shares[~shares["suppressed"]].iterrows():
        part = analysed[(analysed["window_months"] == r["window_months"])
                        & (analysed["Grupp"] == r["group"])][r["outcome"]]
        assert r["n"] == part.notna().sum() and r["n_with_days"] == (part > 0).sum()


WILSON_CASES = [(0, 1), (0, 12), (1, 7), (3, 3), (5, 17), (12, 40), (31, 62), (60, 61),
                (124, 124), (7, 1000)]


def test_wilson_interval_is_statsmodels_bit_for_bit():
    """The figures' Wilson interval without scipy.stats gives exactly (==) statsmodels' bits."""
    from statsmodels.stats.proportion import proportion_confint
    for conf_level in (0.8, 0.9, 0.95, 0.99):
        for count, nobs in WILSON_CASES:
            assert figures.wilson_interval(count, nobs, conf_level) == proportion_confint(
                count, nobs, alpha=1 - conf_level, method="wilson")


def test_wilson_interval_agrees_with_r_prop_test(run_r):
    """R's prop.test(correct = FALSE) interval is the Wilson interval; tolerance 1e-12."""
    code = [f'cat(sprintf("%.17g %.17g\\n", prop.test({k}, {n}, conf.level = {c}, '
            f'correct = FALSE)$conf.int[1], prop.test({k}, {n}, conf.level = {c}, '
            f'correct = FALSE)$conf.int[2]))'
            for c in (0.9, 0.95) for k, n in WILSON_CASES]
    out = [tuple(map(float, line.split()))
           for line in run_r("suppressWarnings({\n" + "\n".join(code) + "\n})").splitlines()]
    ours = [figures.wilson_interval(k, n, c) for c in (0.9, 0.95) for k, n in WILSON_CASES]
    assert len(out) == len(ours)
    for (lo_r, hi_r), (lo, hi) in zip(out, ours, strict=True):
        assert lo == pytest.approx(lo_r, abs=1e-12) and hi == pytest.approx(hi_r, abs=1e-12)


def test_figures_module_imports_neither_scipy_stats_nor_statsmodels():
    """The figures stage draws without scipy.stats and statsmodels' statistics (≈ 0.8 s of
    imports; seaborn imports only the top-level statsmodels package, < 1 ms), and scipy.stats
    stays importable afterwards (seaborn is kept from it only while importing)."""
    import subprocess
    import sys
    code = ("import sys; import rehabkoord.studies.uppsala.figures; "
            "print(sorted(m for m in ('scipy.stats', 'statsmodels.api', 'statsmodels.stats') "
            "if m in sys.modules)); "
            "import scipy.stats; print(scipy.stats.norm.isf(0.025) > 1.95)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "True"]


def test_quantile_figures_carry_the_group_size_the_rule_was_applied_to(synthetic_frames):
    """`n_at_least`: the group's n where published, else the least the published counts
    allow (the audit's lower bound); quantiles are shown only where it reaches the threshold."""
    table, results, baseline, flow = _inputs(synthetic_frames)
    pub = _publish(results, baseline, flow)
    boxes = figures.days_percentiles_table(pub, "sjukpenning_netdays")
    deciles = figures.days_among_with_days_table(pub)
    for frame, kind in ((boxes, "n"), (deciles, "any days")):
        for r in frame.itertuples():
            key = (kind, r.window_months, "alla", r.outcome, r.group)
            low, _ = pub.bounds(key)
            assert r.n_at_least == math.ceil(low - 1e-6)
            if key not in pub.withheld:
                assert r.n_at_least == pub.structure.values[key]
            if not r.suppressed:
                assert r.n_at_least >= pub.rules.min_quantile_n
    assert boxes["n_at_least"].notna().all() and deciles["suppressed"].any()
