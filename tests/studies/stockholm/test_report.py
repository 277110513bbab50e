"""The spell study's appendix pieces: disclosure decided by the shared module, withheld
subgroups without estimates, curves stopped where few remain, both languages."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from rehabkoord.disclosure import SUPPRESSED, Rules  # noqa: E402
from rehabkoord.studies.stockholm import report  # noqa: E402


def test_small_subgroup_is_withheld_with_its_estimates_and_cannot_be_recovered(
        sthlm_derived, sthlm_estimates):
    table, _, flow = sthlm_derived
    rules = Rules(min_cell=60)  # the control group's 'both' subgroup (55) becomes small
    pub = report.publish(table, flow["derivation"], rules)
    assert not pub.shown(("Diagnosgrupp", "both", "Kontroll"))
    assert all(i.protected for i in pub.intervals())
    sub = report.subgroup_table(sthlm_estimates, pub, "sv")
    both = sub[sub["Undergrupp"] == report.label("both", "sv")].iloc[0]
    assert both["Hazardkvot (95 % KI)"] == SUPPRESSED
    assert "<60" in both["n (koord./kontroll)"]
    assert "55" not in " ".join(sub.astype(str).to_numpy().ravel())


def test_default_rules_publish_every_subgroup(sthlm_derived, sthlm_estimates):
    table, _, flow = sthlm_derived
    pub = report.publish(table, flow["derivation"], Rules(min_cell=5))
    assert pub.withheld == {}
    main = report.main_table(sthlm_estimates, pub, "en")
    assert main.iloc[0, 0].startswith("Median days to return")


def test_curves_stop_where_fewer_than_min_cell_remain(sthlm_estimates):
    rules = Rules(min_cell=50)
    km = sthlm_estimates.km
    _, curves, at_risk = report.km_figure(sthlm_estimates, rules, "sv", [0, 365])
    for g, part in curves.groupby("Grupp"):
        last = km[(km["Grupp"] == g) & (km["time"] == part["time"].max())]
        assert last["n_risk"].iloc[0] >= 50 and "n_risk" not in curves
    _, shown = report.cuminc_figure(sthlm_estimates, Rules(min_cell=100), "sv")
    ci = sthlm_estimates.cuminc
    assert (ci.merge(shown, on=["Grupp", "time"])["n_risk"] >= 100).all()
    assert len(shown) < len(ci) and "n_risk" not in shown
    assert all(s == "<50" or int(s) >= 50 for s in at_risk["n_risk"])
    assert "<50" in set(at_risk["n_risk"])  # a year after index, few remain on sick leave


def test_methods_and_captions_in_both_languages():
    params = {"derivation": {"gap_days": 5, "after_days": 14, "follow_up_months": 12,
                             "full_return_days": 90},
              "analysis": {"randomised": False}, "report": {"min_cell": 5}}
    sv, en = report.methods_text(params, "sv"), report.methods_text(params, "en")
    assert "inom 5 dagar" in sv and "propensity" in sv
    assert "within 5 days" in en and "inverse probability" in en
    assert report.Text("sv").caption("main") == "Tabell 3. Huvudresultat."
    assert report.Text("en").caption("atergang_km").startswith("Figure 1. Share still")
