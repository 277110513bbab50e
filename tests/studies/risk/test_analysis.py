"""The risk study end to end on a small synthetic extract, through the library calls its
three notebooks make (not via DVC): the extract, the fit and validation, the model file's
round trip, and the appendix's pieces in both languages with disclosure control."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from rehabkoord.disclosure import SUPPRESSED, Rules  # noqa: E402
from rehabkoord.fmt import number  # noqa: E402
from rehabkoord.io import DeliveryError  # noqa: E402
from rehabkoord.studies import risk  # noqa: E402
from rehabkoord.studies.risk import analysis, data, report, synth  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def test_the_derived_spells_are_the_generator_s_and_the_params_reach_the_truth(run, params):
    """The derivation from the registers finds exactly the predictors and outcome the
    generator computed from the history it drew (its own numpy implementation)."""
    _, spells, results, _ = run
    assert set(spells.columns) == set(risk.INPUT_COLUMNS)
    spec = synth.spec_from_params(params["synthetic"])
    assert spec.true_coefficients == risk.RegisterSpec().true_coefficients  # documented truth
    truth = risk.synthetic_spells(spec)
    got = spells.sort_values("LopNr", ignore_index=True)
    assert len(got) == len(truth) > 3000
    for col in risk.INPUT_COLUMNS:
        a, b = got[col], truth[col]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            assert (a.astype(float) - b.astype(float)).abs().max() <= 1e-9, col
        else:
            assert (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all(), col
    d = results.flow["derivation"]
    assert d["spells_in_index_years"] == d["later_spells_same_person"] + d["new_spells"]
    assert d["new_spells"] == results.flow["spells"] == len(spells)
    assert set(d["income_groups"]["medians"]) == {str(y) for y in range(2011, 2019)}


def test_too_short_a_history_stops_with_the_parameter_to_change(run, params):
    root, *_ = run
    deliveries = data.read(params["data"] | {"dir": "raw"}, root)
    late = copy.deepcopy(params)
    late["data"]["periods_from"] = "2010-01-01"
    with pytest.raises(ValueError, match="data.periods_from is 2010-01-01"):
        data.new_spells(deliveries, late)


def test_employment_and_income_groups_keep_missing_values_missing():
    emp = data.employment(pd.Series([1, 2, 3, 5, 9, None], dtype="Int64"))
    assert list(emp) == ["sysselsatt", "arbetslos", "studerande", "ovrig", "ovrig", None]
    med = pd.Series({2015: 100.0})
    inc = data.income_group(pd.Series([59.0, 60.0, 200.0, 201.0, None, 50.0]),
                            pd.Series([2015, 2015, 2015, 2015, 2015, 2016]), med, 0.6, 2.0)
    assert list(inc) == ["lag", "mellan", "mellan", "hog", None, None]


def test_fit_uses_the_training_years_and_the_model_file_round_trips(run, params):
    root, spells, results, back = run
    m = results.model
    assert m.training_years == tuple(params["validation"]["train_years"])
    assert back.model == m
    for name in analysis.TABLES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(results, name))
    assert back.flow == results.flow
    f = results.flow
    assert f["with_outcome"] + sum(f["excluded_outcome"].values()) == f["spells"] == len(spells)
    assert f["excluded_outcome"]  # follow-up shorter than 90 days before 2019-02-28
    assert f["training"]["n"] == m.n_train and f["training"]["events"] == m.n_events
    t = results.performance.set_index(["sample", "subgroup"])
    assert t.loc[("temporal_test", "all"), "n"] == f["test"]["n"]
    assert {s for s, _ in t.index} == {"apparent", "optimism_corrected", "temporal_test"}
    assert {g for _, g in t.index} == {"all", "man", "kvinna"}
    assert 0.55 < t.loc[("temporal_test", "all"), "auc"] < 0.8
    assert results.groups["n"].sum() == f["training"]["n"] + f["test"]["n"]
    # the model file scores as the fitted model does, and the CLI's reader reads the extract
    scored = risk.score(spells.head(40), risk.load_model(root / "modell.json"))
    assert scored["risk"].notna().all()
    # no table holds a row per person
    for name in analysis.TABLES:
        frame = getattr(results, name)
        assert "LopNr" not in frame.columns and len(frame) < 200, name


def test_penalty_and_fixed_cuts_from_params(run, params):
    _, spells, _, _ = run
    p = copy.deepcopy(params)
    p["model"] = {"penalty": "l2", "C": 0.1}
    p["risk_groups"] = {"proportions": None, "cuts": [0.3, 0.5]}
    p["predictors"]["include"] = ["age", "diagnosis_group", "prior_netdays_1y"]
    res = analysis.run(spells, p)
    assert res.model.penalty == "l2" and res.model.group_cuts == (0.3, 0.5)
    assert [t.name for t in res.model.predictors.terms] == ["age", "diagnosis_group",
                                                            "prior_netdays_1y"]
    assert res.coefficients["or_low"].isna().all()
    assert {"man", "kvinna"} <= set(res.performance["subgroup"])  # per sex without sex in it
    table = report.coefficient_table(res, "en")
    assert "no confidence intervals" in table.attrs["notes"][0]
    p["predictors"]["include"] = ["age", "shoe_size"]
    with pytest.raises(ValueError, match="shoe_size"):
        analysis.run(spells, p)
    p["predictors"].pop("include")
    p["outcome"] = {"threshold_days": 120}
    with pytest.raises(ValueError, match="90 or 180"):
        analysis.run(spells, p)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_appendix_pieces_in_both_languages(run, params, language, tmp_path):
    _, _, _, res = run
    rules = Rules.from_params(params["report"])
    pub = report.publish(res, rules)
    assert pub.withheld == {}
    sv = language == "sv"
    card = report.model_card(res, language, "reports/risk/modell.json")
    text = " ".join(card.astype(str).to_numpy().ravel())
    assert ("neka ersättning" if sv else "denying benefit") in text
    assert ("2012–2016" in text) and "modell.json" in text
    assert len([t for t in res.model.predictors.terms]) == sum(
        1 for line in card.iloc[:, 1] if ":" in line and ("per" in line or "[" in line or
                                                          "kateg" in line or "categ" in line))
    coef = report.coefficient_table(res, language)
    assert (coef.columns[2] == ("Oddskvot (95\u00a0%\u00a0KI)" if sv else "Odds ratio (95%\u00a0CI)"))
    assert len(coef) > len(res.model.predictors.terms)
    perf = report.performance_table(res, pub, language)
    assert len(perf) == 9 and ("Optimismkorrigerad" if sv else "Optimism-corrected") in \
        " ".join(perf.iloc[:, 0])
    groups = report.risk_group_table(res, pub, language)
    assert len(groups) == 8 and SUPPRESSED not in groups.to_numpy()  # 2 samples × (1 + 3)
    assert groups.attrs["levels"] == [0, 1, 1, 1, 0, 1, 1, 1]
    flow = report.flow_table(res, pub, language)
    in_years = res.flow["derivation"]["spells_in_index_years"]
    assert flow["n"].iloc[0] == number(in_years, 0, language)
    assert flow["n"].iloc[2] == number(res.flow["spells"], 0, language)
    methods = report.methods_text(params, res, language)
    assert ("efter 90 dagar" if sv else "after 90 days") in methods
    assert ("2012–2016" in methods) and "DeLong" in methods
    assert report.result_sentences(res, language)
    assert report.Text(language).caption("card") == ("Tabell 1. Modellkort." if sv else
                                                     "Table 1. Model card.")
    saved = report.all_figures(res, rules, tmp_path, language)
    for paths in saved.values():
        assert all(p.is_file() for p in paths)
    cal = pd.read_csv(tmp_path / "kalibrering.csv")
    assert len(cal) <= analysis.GRID_POINTS + 10  # a grid, not a point per patient


def test_small_risk_groups_are_withheld_with_their_rates(run, params):
    _, spells, _, _ = run
    p = copy.deepcopy(params)
    p["risk_groups"] = {"proportions": None, "cuts": [0.12, 0.8]}  # few in the outer groups
    res = analysis.run(spells, p)
    rules = Rules(min_cell=10)
    small = res.groups[(res.groups["n"] < 10) & (res.groups["n"] > 0)]
    assert len(small), res.groups
    pub = report.publish(res, rules)
    assert all(i.protected for i in pub.intervals())
    table = report.risk_group_table(res, pub, "sv")
    for r in small.itertuples():
        assert not pub.shown(("group_n", r.sample, r.group))
        row = table[table["n"] != ""].iloc[list(res.groups.index).index(r.Index)]
        assert row["n"] == "<10" and row["Observerad andel"] == SUPPRESSED
        assert row["Medelrisk enligt modellen"] == SUPPRESSED
    # the complement is withheld too: no published group count reveals the small one
    for smp in ("training", "test"):
        part = res.groups[res.groups["sample"] == smp]
        if ((part["n"] < 10) & (part["n"] > 0)).any():
            assert sum(not pub.shown(("group_n", smp, g)) for g in part["group"]) >= 2


def test_test_years_without_spells_stop_with_the_years_found(run, params):
    _, spells, _, _ = run
    p = copy.deepcopy(params)
    p["validation"]["test_years"] = [2030]
    with pytest.raises(DeliveryError, match=r"^risk, stage fit: no usable spell in "
                       r"validation.test_years 2030 \(spells with outcome per index year: "
                       r"2012: \d+.*→ set validation.test_years"):
        analysis.run(spells, p)


def test_an_empty_level_is_noted_and_the_appendix_shows_it_as_missing(run, params):
    """No student in the training years: the fit leaves the level out (R's NA), the note says
    so, the test years' students are counted as not scored, and the coefficient table shows
    the level without an estimate."""
    _, spells, _, _ = run
    years = pd.to_datetime(spells["spell_start"]).dt.year
    training = years.isin(params["validation"]["train_years"])
    res = analysis.run(spells[~(training & (spells["employment"] == "studerande"))], params)
    assert {"kind": "aliased", "column": "employment[studerande]"} in res.notes
    reason = "employment[studerande] not in the training data"
    students = int(((spells["employment"] == "studerande") & ~training).sum())
    assert 0 < res.flow["excluded_test"][reason] <= students
    row = res.coefficients.set_index("column").loc["employment[studerande]"]
    assert pd.isna(row["estimate"]) and row["term"] == "employment"
    table = report.coefficient_table(res, "sv")
    assert len(table) == len(run[3].coefficients) + sum(
        t.kind != "linear" for t in res.model.predictors.terms)


def test_a_level_that_separates_the_outcome_stops_with_the_parameter_to_change(run, params):
    """Every training spell in the 1–31 net days band short: no finite odds ratio (R's glm
    prints a huge one, without a warning); the stage stops naming the band and the parameter."""
    _, spells, _, _ = run
    band = spells["prior_netdays_1y"].between(1, 30.75)
    short = spells.assign(spell_days=spells["spell_days"].where(~band, 10),
                          spell_censored=spells["spell_censored"].where(~band, False))
    n = int((band & pd.to_datetime(spells["spell_start"]).dt.year.isin(
        params["validation"]["train_years"])).sum())
    with pytest.raises(DeliveryError) as err:
        analysis.run(short, params)
    assert str(err.value).startswith(
        f"risk, stage fit: the model cannot be fitted on the training years: "
        f"prior_netdays_1y[1-31] has {n} spell(s), none long (complete separation")
    assert "predictors.prior_netdays_1y_edges" in str(err.value)


def test_separation_only_r_s_glm_sees_stops_with_its_warning_and_the_spells(run, params):
    """Long sick leave exactly from age 50 on: no level shows it, but R's glm would warn
    (fitted probabilities numerically 0 or 1, no convergence); the stage stops quoting R,
    counting the spells with a fitted risk of 0 or 1 and naming the parameters."""
    _, spells, _, _ = run
    old = spells["age"] >= 50
    by_age = spells.assign(spell_days=spells["spell_days"].where(~old, 400).where(old, 10),
                           spell_censored=False)
    with pytest.raises(DeliveryError) as err:
        analysis.run(by_age, params)
    text = str(err.value)
    assert text.startswith("risk, stage fit: the model cannot be fitted on the training "
                           "years: R's glm warns \"algorithm did not converge\" and "
                           "\"fitted probabilities numerically 0 or 1 occurred\": ")
    count = re.search(r'occurred": (\d+) spell\(s\) have a fitted risk of 0 or 1', text)
    assert count and int(count.group(1)) > 0 and "predictors.include" in text and "model.penalty: l2" in text
