"""Outcome and baseline tables: one row per window × stratum × outcome, Holm per stratum."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import UPPSALA_PARAMS

from rehabkoord import stats
from rehabkoord.params import load_params
from rehabkoord.studies.uppsala import analysis, cohort


@pytest.fixture(scope="module")
def analysis_table(synthetic_frames):
    rand = synthetic_frames["randomisering"].assign(
        RandDatum=lambda f: pd.to_datetime(f["RandDatum"]))
    table, _ = cohort.build_cohort(rand, synthetic_frames["LISA"], synthetic_frames["BAS"])
    return table


def test_outcome_rows_and_holm(analysis_table):
    res = analysis.outcome_results(analysis_table)
    assert len(res) == 2 * 3 * 3
    for _, part in res.groupby("stratum"):
        expected = stats.holm(part["pvalue"].to_numpy())
        assert part["pvalue_holm"].to_numpy() == pytest.approx(expected, nan_ok=True)
    binary = res[(res["outcome"] == "employed_or_studying") & (res["stratum"] == "alla")]
    row = binary.iloc[0]
    assert row["estimate"] == pytest.approx(row["pct_int"] - row["pct_ctl"], rel=1e-12)
    assert row["test"] in ("chisq", "fisher")


def test_days_comparison_matches_direct_wilcoxon(analysis_table):
    res = analysis.outcome_results(analysis_table)
    row = res.query("window_months == 12 and stratum == 'alla' and "
                    "outcome == 'sjukpenning_netdays'").iloc[0]
    w = analysis_table[(analysis_table["window_months"] == 12) & analysis_table["analysed"]]
    direct = stats.wilcox_test(w.loc[w["Grupp"] == "Intervention", "sjukpenning_netdays"],
                               w.loc[w["Grupp"] == "Kontroll", "sjukpenning_netdays"])
    assert row["pvalue"] == direct.pvalue and row["statistic"] == direct.statistic


def test_tiny_stratum_gets_a_note(analysis_table):
    t = analysis_table.copy()
    t.loc[(t["sex"] == "man") & (t["Grupp"] == "Kontroll"), "analysed"] = False
    res = analysis.outcome_results(t)
    men = res[res["stratum"] == "man"]
    assert (men["test"] == "none").all() and (men["note"] == "stratum too small for a test").all()


def test_baseline_table(analysis_table):
    variables = load_params(UPPSALA_PARAMS)["analysis"]["baseline_variables"]
    base = analysis.baseline_table(analysis_table, variables)
    assert list(base["variable"].unique()) == list(variables)
    assert (base[base["variable"] == "sex"]["missing_int"] == 0).all()
    with pytest.raises(KeyError, match="analysis.baseline_variables .* names LopNr2"):
        analysis.baseline_table(analysis_table, {**variables, "LopNr2": "categorical"})
    sex = base[base["variable"] == "sex"]
    assert sex["events_int"].sum() == sex["n_int"].iloc[0] == 62


def test_headline_metrics_are_rounded_floats(analysis_table):
    metrics = analysis.headline_metrics(analysis.outcome_results(analysis_table))
    assert set(metrics) == {"6m", "12m"}
    assert all(isinstance(v, (float, int)) or v is None for m in metrics.values()
               for v in m.values())


def test_days_summaries_keep_what_the_publishing_rules_need_by_hand():
    """0×6, 10, 20, 30, 40: type-7 10th percentile 0 (h = 0.9 between two zeros), 90th
    30 + 0.1·10 = 31; among the 4 with days the median is 25; |values| total 100, largest
    40, 30, 20, 10 and the six zeros; a group of three keeps three, then NaN."""
    d = analysis._describe_days(pd.Series([0.0] * 6 + [10.0, 20.0, 30.0, 40.0]))
    assert (d["p10"], d["p90"], d["any_days"], d["pos_p50"]) == (0.0, pytest.approx(31.0), 4,
                                                               25.0)
    assert d["pos_p10"] == pytest.approx(13.0)
    assert d["abs_sum"] == 100.0
    assert [d[f"largest{i}"] for i in range(1, 5)] == [40.0, 30.0, 20.0, 10.0]
    assert [d[f"largest{i}"] for i in range(5, 11)] == [0.0] * 6
    kept = analysis.magnitudes(np.array([3.0, -5.0, np.nan, 1.0]))
    assert (kept["abs_sum"], kept["largest1"], kept["largest2"], kept["largest3"]) == \
        (9.0, 5.0, 3.0, 1.0)
    assert all(math.isnan(kept[f"largest{i}"]) for i in range(4, analysis.MAGNITUDE_TOP + 1))


def test_baseline_days_rows_keep_their_magnitudes(analysis_table):
    variables = load_params(UPPSALA_PARAMS)["analysis"]["baseline_variables"]
    base = analysis.baseline_table(analysis_table, variables)
    age = base[base["variable"] == "age_at_randomisation"].iloc[0]
    people = analysis_table.drop_duplicates("LopNr")
    ages = people.loc[people["Grupp"] == "Kontroll", "age_at_randomisation"]
    assert age["abs_sum_ctl"] == ages.sum()
    assert age["largest1_ctl"] == ages.max() and age["largest2_ctl"] <= age["largest1_ctl"]
    assert base.loc[base["kind"] != "days", "abs_sum_int"].isna().all()
