"""The coordinator effect per risk group: the spell study's participants scored with the
risk model at their index spell's start, every participant counted, the effects those of the
shared subgroup analysis (checked against R in tests/test_subgroups.py), and the appendix's
table, figure and disclosure."""

from __future__ import annotations

from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from rehabkoord.disclosure import SUPPRESSED, Rules  # noqa: E402
from rehabkoord.io import DeliveryError  # noqa: E402
from rehabkoord.spells import DEFAULT_MAPPING  # noqa: E402
from rehabkoord.studies import risk  # noqa: E402
from rehabkoord.studies.risk import effect, report  # noqa: E402
from rehabkoord.studies.stockholm import analysis as sthlm  # noqa: E402
from rehabkoord.studies.stockholm import data as sthlm_data  # noqa: E402
from rehabkoord.studies.stockholm import synth as sthlm_synth  # noqa: E402
from rehabkoord.subgroups import effect_by_level  # noqa: E402

DATA = {"dir": "raw", "participants": "deltagare.csv", "periods": "sjukpenningperioder.parquet",
        "population": "befolkning.parquet", "lisa": "lisa.parquet", "bas": "bas.parquet",
        "column_map": {}, "extraction_date": "2017-09-30"}
DERIVATION = {"gap_days": 5, "after_days": 14, "follow_up_months": 12, "full_return_days": 90,
              "care_cut": 10}
MEDIANS = {str(y): 2400.0 for y in range(2010, 2017)}


@pytest.fixture(scope="module")
def participants(tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("sthlm")
    sthlm_synth.write(sthlm_synth.generate(sthlm_synth.StockholmSpec()), root / "raw")
    d = sthlm_data.read(DATA, root)
    table, _, _ = sthlm.derive(d, DERIVATION, DATA["extraction_date"], DEFAULT_MAPPING)
    return table


@pytest.fixture(scope="module")
def model() -> risk.RiskModel:
    spec = risk.RegisterSpec(n_persons=4000, seed=3)
    table = risk.with_outcome(risk.synthetic_spells(spec), 90).table
    # coarser prior bands: the finest are too rare in 4 000 persons (all long: no finite OR)
    fitted = risk.fit(table, risk.predictors({"prior_netdays_1y_edges": [0, 1, 31, 91],
                                              "prior_netdays_3y_edges": [0, 1, 91]}))
    card = {"flow": {"derivation": {"income_groups": {"low_share": 0.6, "high_share": 2.0,
                                                      "medians": MEDIANS}}}}
    return replace(fitted, validation=card)


def test_scoring_table_is_the_history_at_the_index_spell_start(participants, model):
    x = effect.scoring_table(participants, model)
    start = pd.to_datetime(participants["PriorRef"])
    assert (x["age"] == start.dt.year - participants["FodelseAr"]).all()
    assert (x["prior_netdays_3y"] >= x["prior_netdays_1y"]).all()
    assert (x["prior_spells"] == participants["Spells36m"]).all()
    inc = participants["DispInk04"]
    assert (x["income_group"] == np.where(inc < 1440, "lag", np.where(inc > 4800, "hog",
                                                                       "mellan"))).all()
    assert set(x["employment"]) <= {"sysselsatt", "arbetslos", "studerande", "ovrig"}
    assert set(x["diagnosis_group"]) <= {"mental", "pain", "both", "other"}
    with pytest.raises(ValueError, match="lacks BAS.*STUDY=stockholm"):
        effect.scoring_table(participants.drop(columns="BAS"), model)


def test_every_participant_is_counted_and_effects_are_the_shared_analysis(participants, model):
    table = participants.copy()
    table.loc[table.index[:7], "BAS"] = pd.NA  # no BAS row: can't be scored, never defaulted
    res = effect.effect_by_risk(table, model)
    f = res.flow
    for arm in ("1", "0"):
        total = sum(f["scored"][g][arm] for g in f["scored"]) + sum(
            n[arm] for n in f["not_scored"].values())
        assert total == f["participants"][arm] == int((table["coordinator"] == int(arm)).sum())
    assert sum(sum(n.values()) for n in f["not_scored"].values()) == 7
    assert list(f["not_scored"]) == ["missing employment"]
    scored = risk.score(effect.scoring_table(table, model), model)
    ok = scored["reason"].isna()
    data = table[ok.to_numpy()].assign(risk_group=scored.loc[ok, "group"].astype(str).to_numpy())
    want = effect_by_level(data, "risk_group", ["low", "medium", "high"], time="ReturnDays",
                           event="Returned", outcome="NetDays", treated="coordinator",
                           cluster="Vardcentral")
    pd.testing.assert_frame_equal(res.effects.drop(columns="mean_risk"), want)
    assert res.effects["mean_risk"].is_monotonic_increasing


def test_appendix_withholds_a_small_risk_group_and_its_estimates(participants, model, tmp_path):
    res = effect.effect_by_risk(participants, model)
    low = res.flow["scored"]["low"]
    rules = Rules(min_cell=min(low.values()) + 1)
    spells = risk.with_outcome(risk.synthetic_spells(risk.RegisterSpec(n_persons=10000)), 90)
    results = _results(spells.table, model)
    pub = report.publish(results, rules, res)
    assert not pub.shown(("effect", "low", "1"), ("effect", "low", "0"))
    hidden = [k for k in (("effect", g, a) for g in ("low", "medium", "high") for a in ("1", "0"))
              if not pub.shown(k)]
    assert len(hidden) >= 2  # the complement too: totals per arm are published
    table = report.effect_table(res, pub, "sv")
    row = table.iloc[0]
    assert row["HK för återgång (95\u00a0%\u00a0KI)"] == SUPPRESSED and row["Medelrisk"] == SUPPRESSED
    fig, data = report.effect_figure(res, pub, "sv")
    low = data.set_index("group").loc["Låg risk"]
    assert low["suppressed"] and low[["hr", "diff"]].isna().all()  # kept as a row, no numbers
    marks = [t for ax in fig.axes for t in ax.texts if t.get_text() == "× skyddad"]
    assert len(marks) == data["hr"].isna().sum() + data["diff"].isna().sum()  # in its panel
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for t in marks:  # inside its axes
        box, axes = t.get_window_extent(renderer), t.axes.get_window_extent(renderer)
        assert axes.x0 <= box.x0 and box.x1 <= axes.x1 and axes.y0 <= box.y0 <= box.y1 <= axes.y1
    sentence = report.effect_sentence(res, pub, "en")
    assert "low risk" not in sentence and "interaction test gave p" in sentence


def _results(table: pd.DataFrame, model: risk.RiskModel):
    """A minimal `Results` for publishing: the effect's counts are what the test is about."""
    from rehabkoord.studies.risk import analysis

    params = {"data": {"extraction_date": "2019-02-28"}, "outcome": {"threshold_days": 90},
              "predictors": {}, "model": {"penalty": "none"},
              "validation": {"train_years": [2012, 2013, 2014, 2015, 2016],
                             "test_years": [2017, 2018], "n_boot": 3, "seed": 1,
                             "decision_thresholds": {"from": 0.1, "to": 0.5, "step": 0.1}},
              "risk_groups": {"proportions": [0.5, 0.3, 0.2], "cuts": None}}
    return analysis.run(table, params)


def test_effects_follow_the_residual_df_and_dominance_rules(participants, model, tmp_path):
    res = effect.effect_by_risk(participants, model)
    spells = risk.with_outcome(risk.synthetic_spells(risk.RegisterSpec(n_persons=10000)), 90)
    results = _results(spells.table, model)
    pub = report.publish(results, Rules(min_cell=5), res)
    assert all(report.effect_shown(res, pub, g) == (True, True) for g in ("low", "medium", "high"))
    few_df = report.publish(results, Rules(min_cell=5, min_df=10**6), res)
    table = report.effect_table(res, few_df, "en")
    assert (table["HR for return (95%\u00a0CI)"] == SUPPRESSED).all()
    assert (table["Difference in net days (95%\u00a0CI)"] == SUPPRESSED).all()
    data = report.effect_figure(res, few_df, "en")[1]
    assert data["suppressed"].all() and data[["hr", "diff"]].isna().all(axis=None)
    dominated = report.publish(results, Rules(min_cell=5, dominance_n=1, dominance_k=0.001), res)
    table = report.effect_table(res, dominated, "en")
    assert (table["Difference in net days (95%\u00a0CI)"] == SUPPRESSED).all()
    assert SUPPRESSED not in set(table["HR for return (95%\u00a0CI)"])
    res.write(tmp_path)
    back = effect.EffectByRisk.read(tmp_path)
    pd.testing.assert_frame_equal(back.magnitudes, res.magnitudes)
    assert (res.magnitudes.groupby("level")["n"].sum()
            == pd.Series({g: sum(res.flow["scored"][g].values()) for g in res.flow["scored"]})
            .reindex(res.magnitudes.groupby("level")["n"].sum().index)).all()


@pytest.mark.parametrize("change, message", [
    (lambda p, y: p.assign(BAS=pd.NA), "has no BAS at all, the year before the index spell of "
     "{n} of {n} participants → deliver it in the spell study (data.bas in "
     "notebooks/stockholm/params.yaml, not null)"),
    (lambda p, y: p.assign(DispInk04=p["DispInk04"].where(
        pd.to_datetime(p["PriorRef"]).dt.year - 1 != y)),
     "has no DispInk04 for {y}, the year before the index spell of {k} of {n} participants → "
     "deliver it in the spell study (data.lisa in notebooks/stockholm/params.yaml)"),
])
def test_a_register_year_missing_stops_instead_of_leaving_participants_unscored(
        participants, model, change, message):
    year = int((pd.to_datetime(participants["PriorRef"]).dt.year - 1).mode()[0])
    k = int((pd.to_datetime(participants["PriorRef"]).dt.year - 1 == year).sum())
    with pytest.raises(DeliveryError,
                       match="^risk, stage effect: the spell study's analysis table ") as err:
        effect.effect_by_risk(change(participants, year), model)
    assert message.format(n=len(participants), y=year, k=k) in str(err.value)


def test_a_risk_group_without_events_is_noted(participants, model):
    scored = risk.score(effect.scoring_table(participants, model), model)
    high = (scored["group"] == "high").to_numpy()
    quiet = participants.assign(Returned=participants["Returned"].where(~high, 0))
    res = effect.effect_by_risk(quiet, model)
    assert {"kind": "subgroup_level", "level": "high", "note": "no_events",
            "reason": "no events in an arm of the level (hazard ratio infinite or zero)"} \
        in res.notes
    assert np.isnan(res.effects.set_index("level").loc["high", "hr"])
