"""Figures are saved as PNG, SVG and the CSV of their numbers, deterministically, and never draw
suppressed groups."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

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


def _zero_heavy_cohort() -> pd.DataFrame:
    """Intervention: 10 people, days 0×6, 10, 20, 30, 40; control: 10 people, 0×8, 5, 7."""
    days = {"Intervention": [0] * 6 + [10, 20, 30, 40], "Kontroll": [0] * 8 + [5, 7]}
    rows = [{"Grupp": g, "window_months": 12, "analysed": True, "sjukpenning_netdays": float(d),
             "sjukersattning_netdays": 0.0} for g, values in days.items() for d in values]
    return pd.DataFrame(rows)


def test_share_with_any_days_by_hand():
    table = figures.any_days_table(_zero_heavy_cohort(), min_cell=2)
    sjp = table[table["outcome"] == "sjukpenning_netdays"].set_index("group")
    assert sjp.loc["Intervention", ["n", "n_with_days", "pct"]].tolist() == [10, 4, 40.0]
    # Wilson interval for 4/10 (R prop.test(4, 10, correct = FALSE)$conf.int)
    assert sjp.loc["Intervention", "conf_low"] == pytest.approx(16.81803297, rel=1e-9)
    assert sjp.loc["Intervention", "conf_high"] == pytest.approx(68.73262303, rel=1e-9)
    assert sjp.loc["Kontroll", ["n_with_days", "pct"]].tolist() == [2, 20.0]
    strict = figures.any_days_table(_zero_heavy_cohort(), min_cell=3)
    ctl = strict[(strict["outcome"] == "sjukpenning_netdays") & (strict["group"] == "Kontroll")]
    assert ctl["suppressed"].item() and ctl[["n_with_days", "pct", "conf_low"]].isna().all(axis=None)
    sea = strict[strict["outcome"] == "sjukersattning_netdays"]
    assert sea["suppressed"].all()  # nobody has days: the zero count is small


def test_deciles_among_those_with_days_by_hand():
    table = figures.days_among_with_days_table(_zero_heavy_cohort(), min_cell=3)
    sjp = table[table["outcome"] == "sjukpenning_netdays"].set_index("group")
    # 10, 20, 30, 40: R quantile type 7 at 0.1 is 10 + 0.3·10 = 13; median 25; at 0.9: 37
    assert sjp.loc["Intervention", ["n_with_days", "p10", "p50", "p90"]].tolist() == \
        [4, pytest.approx(13.0), pytest.approx(25.0), pytest.approx(37.0)]
    assert sjp.loc["Kontroll", "suppressed"] and pd.isna(sjp.loc["Kontroll", "p50"])
    fig = figures.days_among_with_days(table, "sv")
    assert any("undertryckt" in t.get_text() for ax in fig.axes
               for t in ax.get_legend().get_texts())


def test_every_figure_has_its_numbers_as_a_table(tmp_path, synthetic_frames):
    table, results, flow = _inputs(synthetic_frames)
    saved = figures.all_figures(table, results, flow, tmp_path, "sv", 3)
    for name, paths in saved.items():
        data = pd.read_csv(paths[2])
        assert len(data) > 0, name
    shares = pd.read_csv(tmp_path / "andel_med_dagar.csv")
    analysed = table[table["analysed"]]
    for _, r in shares[~shares["suppressed"]].iterrows():
        part = analysed[(analysed["window_months"] == r["window_months"])
                        & (analysed["Grupp"] == r["group"])][r["outcome"]]
        assert r["n"] == part.notna().sum() and r["n_with_days"] == (part > 0).sum()
