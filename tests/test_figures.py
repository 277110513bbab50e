"""Figures are saved as PNG and SVG, deterministically, and never draw suppressed groups."""

from __future__ import annotations

import hashlib

import pandas as pd

from rehabkoord import analysis, cohort, figures


def _inputs(frames):
    rand = frames["randomisering"].assign(RandDatum=lambda f: pd.to_datetime(f["RandDatum"]))
    table, flow = cohort.build_cohort(rand, frames["LISA"], frames["BAS"])
    return table, analysis.outcome_results(table), flow


def test_all_figures_saved_twice_identically(tmp_path, synthetic_frames):
    table, results, flow = _inputs(synthetic_frames)
    a = figures.all_figures(table, results, flow, tmp_path / "a", "sv", 3)
    b = figures.all_figures(table, results, flow, tmp_path / "b", "sv", 3)
    assert {"consort_6m", "consort_12m", "forest_riskskillnad"} <= set(a)
    for name, paths in a.items():
        assert [p[-3:] for p in paths] == ["png", "svg", "csv"]
        for pa, pb in zip(paths, b[name], strict=True):
            assert hashlib.sha256(open(pa, "rb").read()).digest() == \
                hashlib.sha256(open(pb, "rb").read()).digest(), pa


def test_suppressed_group_is_not_drawn(synthetic_frames):
    _, results, _ = _inputs(synthetic_frames)
    results = results.copy()
    men = (results["stratum"] == "man") & (results["outcome"] == "employed_or_studying")
    results.loc[men, "events_ctl"] = 1  # a small cell
    fig = figures.share_by_group(results, "sv", 3, by_sex=True)
    women_ax, men_ax = fig.axes
    assert len(women_ax.patches) == 4  # 2 groups x 2 windows
    assert len(men_ax.patches) == 2  # the control bars are suppressed
    assert any(t.get_text() == "undertryckt" for t in men_ax.texts)
