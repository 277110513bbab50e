"""The spell study's analysis table and estimates on the synthetic delivery, whose true
effects are known: the published findings show, the flow adds up, and the subgroup pattern
(no effect for both mental ill-health and pain) is recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rehabkoord.io import DeliveryError
from rehabkoord.studies.stockholm import analysis


def test_every_participant_is_accounted_for(sthlm_derived):
    table, months, flow = sthlm_derived
    status = flow["derivation"]["by_status"]
    assert sum(status.values()) == flow["derivation"]["participants"] == 1033
    assert status["analysed"] == len(table)
    assert table["LopNr"].is_unique
    assert set(months["LopNr"]) <= set(table["LopNr"])


def test_outcomes_are_consistent_per_person(sthlm_derived):
    table, months, _ = sthlm_derived
    assert (table["ReturnDays"] >= 1).all() and (table["ReturnDays"] <= table["FollowUpDays"]).all()
    assert ((table["MeanDegree"] >= 0) & (table["MeanDegree"] <= 100)).all()
    assert (table["NetDays"] <= table["FollowUpDays"] + 1e-9).all()
    per_person = months.groupby("LopNr")["NetDays"].sum()
    merged = table.set_index("LopNr")["NetDays"]
    assert np.allclose(per_person.reindex(merged.index).fillna(0), merged)
    returned = table[table["Returned"] == 1]
    assert table.loc[table["Returned"] == 0, "FullReturn"].isna().all()
    assert returned["FullReturn"].notna().any()


def test_published_findings_show_in_the_synthetic_study(sthlm_estimates):
    m = sthlm_estimates.main.set_index("measure")
    assert m.loc["median_days_Koordinator", "estimate"] < m.loc["median_days_Kontroll", "estimate"]
    assert m.loc["hr_adjusted", "conf_low"] > 1          # faster return
    assert m.loc["hodges_lehmann", "conf_high"] < 0      # fewer net days
    assert m.loc["risk_difference", "conf_low"] > 0      # more full returns
    assert m.loc["rate_ratio", "conf_high"] < 1          # fewer re-sick-listings
    sub = sthlm_estimates.subgroups.set_index(["variable", "level"])
    assert sub.loc[("Diagnosgrupp", "both"), "hr_low"] < 1 < sub.loc[("Diagnosgrupp", "both"),
                                                                     "hr_high"]
    assert sub.loc[("Diagnosgrupp", "mental"), "hr_low"] > 1
    assert sub.loc[("Diagnosgrupp", "mental"), "p_interaction"] < 0.05


def test_balance_and_centres_cover_every_level(sthlm_derived, sthlm_estimates):
    b = sthlm_estimates.balance
    for var, levels in analysis.SUBGROUPS.items():
        shares = b[b["variable"] == var]
        assert sorted(shares["level"]) == sorted(levels)
        assert np.isclose(shares["coordinator"].sum(), 1) and np.isclose(shares["control"].sum(), 1)
    c = sthlm_estimates.centres
    assert len(c) == 7 and c["n"].sum() == len(sthlm_derived[0])


def test_months_mean_degree_is_the_mean_over_persons_at_risk(sthlm_derived, sthlm_estimates):
    table, months, _ = sthlm_derived
    at_risk = months[months["AtRiskDays"] > 0].merge(table[["LopNr", "Grupp"]], on="LopNr")
    first = at_risk[(at_risk["Month"] == 0) & (at_risk["Grupp"] == "Koordinator")]
    row = sthlm_estimates.months.query("Month == 0 and Grupp == 'Koordinator'").iloc[0]
    assert row["n"] == len(first)
    assert np.isclose(row["mean"], first["MeanDegree"].mean(), rtol=1e-12)
    assert row["lower"] < row["mean"] < row["upper"]


def test_estimates_round_trip(tmp_path, sthlm_estimates):
    sthlm_estimates.write(tmp_path)
    back = analysis.Estimates.read(tmp_path)
    for name in analysis.TABLES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(sthlm_estimates, name),
                                      check_dtype=False, check_categorical=False)
    assert (tmp_path / "main.csv").read_text().startswith("outcome,measure,estimate")


def test_flow_by_group_adds_up_to_the_flow(sthlm_derived):
    table, _, flow = sthlm_derived
    d = flow["derivation"]
    by_group = d["by_group"]
    assert list(by_group) == list(analysis.GROUPS)
    assert sum(f["participants"] for f in by_group.values()) == d["participants"]
    for status, n in d["by_status"].items():
        assert sum(f["by_status"][status] for f in by_group.values()) == n
    for g, f in by_group.items():
        assert f["by_status"]["analysed"] == int((table["Grupp"] == g).sum())
        assert sum(f["by_status"].values()) == f["participants"]


def test_iptw_rows_only_when_not_randomised(sthlm_derived, sthlm_estimates):
    table, months, _ = sthlm_derived
    iptw = ("hr_iptw", "net_days_iptw_difference", "degree_iptw_difference",
            "risk_difference_iptw")
    assert set(iptw) <= set(sthlm_estimates.main["measure"])
    randomised = analysis.estimate(table, months, {"conf_level": 0.95, "randomised": True,
                                                   "cuminc_times": [90]})
    assert not set(iptw) & set(randomised.main["measure"])


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(Vardcentral="VC1"), "need at least two vårdcentraler; the analysed "
     "participants are in 1 → check Vardcentral in data.participants"),
    (lambda t: t[t["Grupp"] == "Koordinator"], "no analysed participant in group 'Kontroll'"),
    (lambda t: t.assign(ResickStatus=t["ResickStatus"].where(t["Grupp"] == "Koordinator")),
     "no participant of group 'Kontroll' returned"),
])
def test_what_the_data_do_not_allow_stops_with_a_message(sthlm_derived, change, message):
    table, months, _ = sthlm_derived
    with pytest.raises(DeliveryError, match="^stockholm, stage analyse: ") as err:
        analysis.estimate(change(table).reset_index(drop=True), months,
                          {"conf_level": 0.95, "randomised": False, "cuminc_times": [90]})
    assert message in str(err.value)


def test_a_centre_without_returns_is_noted(sthlm_derived):
    table, months, _ = sthlm_derived
    centre = table["Vardcentral"].iloc[0]
    t = table.assign(Returned=table["Returned"].where(table["Vardcentral"] != centre, 0))
    est = analysis.estimate(t, months, {"conf_level": 0.95, "randomised": True,
                                        "cuminc_times": [90]})
    notes = [n for n in est.notes if n["kind"] == "centre_without_return"]
    assert {n["centre"] for n in notes} == {str(centre)}
    assert sum(n["n"] for n in notes) == int((t["Vardcentral"] == centre).sum())


def test_a_month_with_one_centre_keeps_its_mean_without_an_interval(sthlm_derived):
    table, months, _ = sthlm_derived
    keep = table["Vardcentral"].iloc[0]
    late = months["Month"] == months["Month"].max()
    gone = set(table.loc[table["Vardcentral"] != keep, "LopNr"])
    m = months[~(late & months["LopNr"].isin(gone))]
    est = analysis.estimate(table, m, {"conf_level": 0.95, "randomised": True,
                                       "cuminc_times": [90]})
    last = est.months[est.months["Month"] == months["Month"].max()]
    assert (last["centres"] == 1).all() and last["lower"].isna().all()
    at_risk = m[(m["Month"] == m["Month"].max()) & (m["AtRiskDays"] > 0)].merge(
        table[["LopNr", "Grupp"]], on="LopNr")
    for r in last.itertuples():
        assert r.mean == pytest.approx(at_risk.loc[at_risk["Grupp"] == r.Grupp,
                                                   "MeanDegree"].mean(), rel=1e-12)
    assert {(n["month"], n["group"]) for n in est.notes if n["kind"] == "month_one_centre"} \
        == {(int(r.Month), str(r.Grupp)) for r in last.itertuples()}


def test_the_synthetic_study_has_no_infinite_coefficient(sthlm_estimates):
    """Every level has returns in the synthetic delivery, so no note of an infinite term
    (`test_analysis_r` makes one and checks it against R's warning)."""
    assert not [n for n in sthlm_estimates.notes if n["kind"] == "infinite"]
    hr = sthlm_estimates.main.set_index("measure").loc[["hr_unadjusted", "hr_adjusted"]]
    assert np.isfinite(hr[["estimate", "conf_low", "conf_high", "pvalue"]].to_numpy()).all()
