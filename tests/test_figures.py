"""Figures are saved as PNG and SVG, deterministically, and draw only what the tables publish."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from rehabkoord import analysis, cohort, disclosure, figures


def _inputs(frames, min_cell=3):
    rand = frames["randomisering"].assign(RandDatum=lambda f: pd.to_datetime(f["RandDatum"]))
    table, flow = cohort.build_cohort(rand, frames["LISA"], frames["BAS"])
    flow = json.loads(json.dumps(flow))
    results, baseline = analysis.outcome_results(table), analysis.baseline_table(table)
    return table, results, baseline, flow


def _publish(results, baseline, flow, min_cell=3):
    return disclosure.publish(results, baseline, flow, disclosure.Rules(min_cell))


def test_all_figures_saved_twice_identically(tmp_path, synthetic_frames):
    table, results, baseline, flow = _inputs(synthetic_frames)
    pub = _publish(results, baseline, flow)
    a = figures.all_figures(table, pub, tmp_path / "a", "sv")
    b = figures.all_figures(table, pub, tmp_path / "b", "sv")
    assert {"consort_6m", "consort_12m", "forest_riskskillnad"} <= set(a)
    for name, paths in a.items():
        assert [p[-3:] for p in paths] == ["png", "svg"]
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
        assert sum(t.get_text() == "undertryckt" for t in ax.texts) == 4 - published
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
    assert "<3" in texts and "n = –" in texts
    assert f"n = {flow['windows']['6']['Kontroll']['analysed']}" not in texts


def test_forest_draws_only_published_differences(synthetic_frames):
    _, results, baseline, flow = _inputs(synthetic_frames)
    pub = _publish(results, baseline, flow)
    published = [r for r in pub.outcomes if r["outcome"] == "employed_or_studying"
                 and not r["effect"].withheld]
    fig = figures.forest_risk_difference(pub, "sv")
    assert len(fig.axes[0].get_yticklabels()) == len(published) < 6
