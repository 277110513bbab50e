"""The risk study: synthetic register spells with a known model, the outcome and its exclusions, the
fit recovering the truth, the temporal split, the model card's round trip and scoring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rehabkoord.rmath import glm_warnings
from rehabkoord.studies import risk
from rehabkoord.studies.risk.model import Separated, separated

SPEC = risk.RegisterSpec()


@pytest.fixture(scope="module")
def spells() -> pd.DataFrame:
    return risk.synthetic_spells(SPEC)


@pytest.fixture(scope="module")
def outcome(spells) -> risk.OutcomeTable:
    return risk.with_outcome(spells, 90, extraction_date=SPEC.extraction_date)


@pytest.fixture(scope="module")
def model(outcome) -> risk.RiskModel:
    return risk.fit(outcome.table, risk.predictors())


def test_synthetic_spells_are_deterministic_in_the_input_format(spells):
    assert set(spells.columns) == set(risk.INPUT_COLUMNS)
    assert sorted(spells["index_year"].unique()) == list(range(2012, 2019))
    pd.testing.assert_frame_equal(spells, risk.synthetic_spells(SPEC))
    assert not spells.equals(risk.synthetic_spells(replace(SPEC, seed=1)))
    with pytest.raises(ValueError, match="no design column"):
        risk.synthetic_spells(replace(SPEC, n_persons=10, true_coefficients={"shoe_size": 1.0}))


def test_fit_recovers_the_true_model_within_its_95_percent_intervals(model, outcome):
    truth = SPEC.true_coefficients
    assert model.conf_low is not None and model.conf_high is not None
    assert model.n_train == len(outcome.table) and model.threshold_days == 90
    for name in risk.predictors().columns():
        assert model.conf_low[name] <= truth.get(name, 0.0) <= model.conf_high[name], name


def test_a_wrong_model_is_not_recovered(model, outcome):
    """The check has power: a truth moved by 0.3 on the log-odds scale is outside the
    interval, and leaving out diagnosis groups biases coefficients out of theirs."""
    assert model.conf_low is not None and model.conf_high is not None
    for name in ("diagnosis_group[mental]", "employment[arbetslos]", "sex[kvinna]"):
        moved = SPEC.true_coefficients[name] + 0.3
        assert not model.conf_low[name] <= moved <= model.conf_high[name]
    full = risk.predictors()
    without = risk.Predictors(tuple(t for t in full.terms if t.name != "diagnosis_group"))
    wrong = risk.fit(outcome.table, without)
    assert wrong.conf_low is not None and wrong.conf_high is not None
    missed = [c for c in without.columns()
              if not wrong.conf_low[c] <= SPEC.true_coefficients.get(c, 0.0) <= wrong.conf_high[c]]
    assert missed


def _spell(**kw) -> dict:
    base = {"LopNr": "X", "spell_start": pd.Timestamp("2015-03-01"), "index_year": 2015,
            "age": 40.0, "sex": "kvinna", "diagnosis_group": "mental", "prior_netdays_1y": 0.0,
            "prior_netdays_3y": 0.0, "prior_spells": 0, "care_visits": 2,
            "employment": "sysselsatt", "income_group": "mellan", "spell_days": 30,
            "spell_censored": False}
    return base | kw


def test_outcome_threshold_and_censoring_exclusions():
    table = pd.DataFrame([
        _spell(LopNr="short", spell_days=90),
        _spell(LopNr="long", spell_days=91),
        _spell(LopNr="censored_early", spell_days=60, spell_censored=True),
        _spell(LopNr="censored_at", spell_days=90, spell_censored=True),
        _spell(LopNr="censored_long", spell_days=120, spell_censored=True),
        _spell(LopNr="very_long", spell_days=400),
        _spell(LopNr="no_days", spell_days=None),
    ])
    o90 = risk.with_outcome(table, 90)
    assert dict(zip(o90.table["LopNr"], o90.table[risk.OUTCOME], strict=True)) == {
        "short": 0, "long": 1, "censored_long": 1, "very_long": 1}
    assert o90.excluded == {"censored at or before 90 days": 2, "spell_days missing": 1}
    assert o90.table.attrs["threshold_days"] == 90
    o180 = risk.with_outcome(table, 180)
    assert dict(zip(o180.table["LopNr"], o180.table[risk.OUTCOME], strict=True)) == {
        "short": 0, "long": 0, "very_long": 1}
    assert o180.excluded == {"censored at or before 180 days": 3, "spell_days missing": 1}


def test_short_follow_up_excludes_all_recent_spells(spells):
    o180 = risk.with_outcome(spells, 180, extraction_date=SPEC.extraction_date)
    follow = (pd.Timestamp(SPEC.extraction_date) - spells["spell_start"]).dt.days + 1
    assert o180.excluded["follow-up shorter than 180 days"] == int((follow <= 180).sum())
    assert set(o180.excluded) <= {"follow-up shorter than 180 days",
                                  "censored at or before 180 days"}  # deaths, emigrations
    assert not o180.table["spell_censored"].to_numpy()[o180.table["spell_days"] <= 180].any()
    plain = risk.with_outcome(spells, 180)  # the brief's rule alone: censored ones only
    assert sum(plain.excluded.values()) < sum(o180.excluded.values())


def test_temporal_split_and_validation_never_fit_on_test_years(outcome):
    table = outcome.table
    with pytest.raises(ValueError, match="both in training and test"):
        risk.temporal_split(table, [2012, 2013], [2013])
    with pytest.raises(ValueError, match="earlier years"):
        risk.temporal_split(table, [2016], [2012])
    small = table[table["LopNr"].str[-1].isin(list("0123"))].copy()  # ~40 %: quicker
    small.attrs = dict(table.attrs)
    train, test = risk.temporal_split(small, range(2012, 2017), [2017, 2018])
    assert set(train["index_year"]) == set(range(2012, 2017))
    assert set(test["index_year"]) == {2017, 2018}
    spec = risk.predictors()
    v = risk.validate(small, spec, range(2012, 2017), [2017, 2018], n_boot=5, seed=1)
    assert v.model.training_years == tuple(range(2012, 2017))
    flipped = small.copy()
    later = flipped["index_year"] >= 2017
    flipped.loc[later, risk.OUTCOME] = 1 - flipped.loc[later, risk.OUTCOME]
    w = risk.validate(flipped, spec, range(2012, 2017), [2017, 2018], n_boot=5, seed=1)
    assert w.model.coefficients == v.model.coefficients
    assert w.optimism.corrected == v.optimism.corrected
    t = v.table.set_index(["sample", "subgroup"])
    assert set(t.index) == {("apparent", "all"), ("apparent", "man"), ("apparent", "kvinna"),
                            ("optimism_corrected", "all"), ("optimism_corrected", "man"),
                            ("optimism_corrected", "kvinna"), ("temporal_test", "all"),
                            ("temporal_test", "man"), ("temporal_test", "kvinna")}
    assert t.loc[("optimism_corrected", "man"), "auc"] == v.optimism.by_subgroup["man"][2].auc
    assert t.loc[("temporal_test", "all"), "n"] == len(test)
    assert t.loc[("optimism_corrected", "all"), "auc"] < t.loc[("apparent", "all"), "auc"]
    assert 0.55 < t.loc[("temporal_test", "all"), "auc"] < 0.9
    flipped_auc = w.table.set_index(["sample", "subgroup"]).loc[("temporal_test", "all"), "auc"]
    assert flipped_auc < 0.5  # the test years did change, and only the test figures show it
    assert v.decisions is not None and v.calibration is not None
    assert v.model.validation["test_years"] == [2017, 2018]


def test_penalised_fits(outcome):
    spec = risk.predictors()
    glm = risk.fit(outcome.table, spec)
    ridge_weak = risk.fit(outcome.table, spec, penalty="l2", C=1e6)
    for name, b in glm.coefficients.items():
        assert ridge_weak.coefficients[name] == pytest.approx(b, abs=1e-4)
    lasso = risk.fit(outcome.table, spec, penalty="l1", C=0.002)
    assert lasso.conf_low is None and lasso.penalty == "l1" and lasso.C == 0.002
    assert sum(v == 0 for k, v in lasso.coefficients.items() if k != "Intercept") >= 3
    with pytest.raises(ValueError, match="penalty"):
        risk.fit(outcome.table, spec, penalty="l3")  # type: ignore[arg-type]


def test_score_gives_a_reason_for_every_row_it_cannot_score(model):
    rows = pd.DataFrame([
        _spell(LopNr="ok"),
        _spell(LopNr="no_age", age=None),
        _spell(LopNr="old", age=70.0),
        _spell(LopNr="icd", diagnosis_group="F32"),
        _spell(LopNr="two", sex="okänd", income_group=None),
        _spell(LopNr="neg", prior_netdays_1y=-3.0),
        _spell(LopNr="ok_capped", care_visits=300, prior_spells=40),
    ])
    out = risk.score(rows, model)
    reasons = dict(zip(out["LopNr"], out["reason"], strict=True))
    assert reasons == {
        "ok": None, "ok_capped": None,
        "no_age": "missing age",
        "old": "age 70 out of range [18, 66]",
        "icd": "unknown diagnosis_group 'F32'",
        "two": "unknown sex (value withheld: it may identify a person); missing income_group",
        "neg": "prior_netdays_1y -3 out of range [0, 366]",
    }
    bad = out["reason"].notna()
    assert out.loc[bad, "risk"].isna().all() and out.loc[bad, "group"].isna().all()
    assert out.loc[~bad, "risk"].between(0, 1).all() and out.loc[~bad, "group"].notna().all()
    X, _ = model.predictors.design(rows.iloc[[0]])
    assert out.loc[0, "risk"] == pytest.approx(model.predict(X)[0], rel=1e-14)
    capped = rows.iloc[[6]].assign(care_visits=20, prior_spells=5)
    assert out.loc[6, "risk"] == risk.score(capped, model)["risk"].iloc[0]
    same_index = risk.score(rows.set_axis([5] * len(rows)), model)  # rows taken by position
    assert same_index["reason"].tolist() == out["reason"].tolist()
    np.testing.assert_array_equal(same_index["risk"].to_numpy(), out["risk"].to_numpy())
    with pytest.raises(ValueError, match="columns missing: age"):
        risk.score(rows.drop(columns="age"), model)


def test_fit_counts_rows_it_cannot_use(outcome):
    table = outcome.table.copy()
    table.loc[table.index[:3], "diagnosis_group"] = "F43"
    m = risk.fit(table, risk.predictors())
    assert m.excluded == {"unknown diagnosis_group 'F43'": 3} and m.n_train == len(table) - 3


def test_risk_groups_follow_the_training_proportions(model, outcome):
    out = risk.score(outcome.table, model)
    shares = out["group"].value_counts(normalize=True)
    assert shares["low"] == pytest.approx(0.5, abs=0.01)
    assert shares["high"] == pytest.approx(0.2, abs=0.01)


def test_model_card_round_trip(model, tmp_path, outcome):
    carded = replace(model, validation={"auc": 0.71})
    path = risk.save_model(carded, tmp_path / "model.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["purpose"] == "ranking patients for an offer of support"
    assert "denying benefit" in data["not_for"]
    assert data["training_years"] == list(range(2012, 2019))
    assert data["format_version"] == risk.MODEL_FORMAT
    assert any(d.startswith("prior_netdays_1y: bands as [from, to) 0-1, 1-31")
               for d in data["predictor_definitions"])
    loaded = risk.load_model(path)
    assert loaded == carded
    pd.testing.assert_frame_equal(risk.score(outcome.table.head(50), loaded),
                                  risk.score(outcome.table.head(50), model))
    data["format_version"] = 99
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="model format 99"):
        risk.load_model(path)


def test_validation_of_a_ridge_model_repeats_the_penalised_fit(outcome):
    small = outcome.table.iloc[:3000].copy()
    small.attrs = dict(outcome.table.attrs)
    v = risk.validate(small, risk.predictors(), range(2012, 2017), [2017, 2018], penalty="l2",
                      C=0.05, n_boot=4, seed=2, group_cuts=(0.3, 0.6))
    assert v.model.penalty == "l2" and v.model.conf_low is None
    assert v.model.group_cuts == (0.3, 0.6) and v.model.group_proportions is None
    assert v.optimism.n_boot == 4 and np.isfinite(v.optimism.corrected.auc)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(risk.__file__).resolve().parents[3])}
    return subprocess.run([sys.executable, "-m", "rehabkoord.studies.risk", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_score_command_writes_risk_group_and_reason_per_row(model, tmp_path):
    """A care centre's list (semicolon CSV with decimal commas, or Parquet) scored by the
    command: every row out in input order, unscorable rows with a reason and no risk."""
    path = risk.save_model(model, tmp_path / "modell.json")
    rows = pd.DataFrame([
        _spell(LopNr="0017", age=41.5),
        _spell(LopNr="0018", age=None),
        _spell(LopNr="0019", diagnosis_group="F32"),
        _spell(LopNr="0020", employment="arbetslos", prior_netdays_1y=120.0),
    ]).drop(columns=["spell_days", "spell_censored", "spell_start", "index_year"])
    text = rows.assign(age=rows["age"].map(lambda a: "" if pd.isna(a) else str(a).replace(".", ",")))
    text.to_csv(tmp_path / "lista.csv", sep=";", index=False)
    done = _cli("score", str(path), "lista.csv", "ut.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 rows scored, 2 with a reason" in done.stdout
    out = pd.read_csv(tmp_path / "ut.csv", dtype={"LopNr": str})
    assert out.columns.tolist() == ["LopNr", "risk", "group", "reason"]
    assert out["LopNr"].tolist() == ["0017", "0018", "0019", "0020"]  # leading zeros kept
    assert out["reason"].tolist()[1:3] == ["missing age", "unknown diagnosis_group 'F32'"]
    assert out.loc[[1, 2], ["risk", "group"]].isna().all().all()
    expected = risk.score(rows.assign(age=[41.5, None, 40.0, 40.0]), model)
    assert out.loc[0, "risk"] == pytest.approx(expected["risk"].iloc[0], abs=1e-6)
    assert out.loc[[0, 3], "group"].tolist() == expected["group"].astype(str).iloc[[0, 3]].tolist()
    rows.to_parquet(tmp_path / "lista.parquet")
    assert _cli("score", str(path), "lista.parquet", "ut2.csv", cwd=tmp_path).returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ut2.csv", dtype={"LopNr": str}), out)
    bad = _cli("score", str(path), "lista.csv", cwd=tmp_path)
    assert bad.returncode == 2 and "score <model.json>" in bad.stderr
    rows.drop(columns="age").to_parquet(tmp_path / "utan_alder.parquet")
    missing = _cli("score", str(path), "utan_alder.parquet", "ut3.csv", cwd=tmp_path)
    assert missing.returncode == 1 and "columns missing: age" in missing.stderr
    assert not (tmp_path / "ut3.csv").exists()


def test_an_empty_level_is_left_out_as_glm_and_its_rows_are_not_scored(outcome, run_r,
                                                                         tmp_path):
    """No student in the training years: R's glm reports NA for employment[studerande] and
    fits the rest; so does `fit` (1e-8 relative), the card keeps it out, and a later spell
    of a student gets a reason instead of the reference level's risk."""
    t = outcome.table
    train = t[t["employment"] != "studerande"]
    spec = risk.predictors()
    m = risk.fit(train, spec)
    assert m.aliased == ("employment[studerande]",)
    assert "employment[studerande]" not in m.coefficients
    X, reason = spec.design(train)
    frame = X.drop(columns="Intercept").assign(y=train[risk.OUTCOME].to_numpy()[
        reason.isna().to_numpy()])
    frame.columns = [f"x{i}" for i in range(frame.shape[1] - 1)] + ["y"]
    frame.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    out = run_r(f"d <- read.csv('{tmp_path / 'd.csv'}'); "
                "m <- glm(y ~ ., family = binomial, data = d, "
                "control = glm.control(epsilon = 1e-14, maxit = 100)); "
                "cat(sum(is.na(coef(m))), sprintf('%.17g', coef(m)[!is.na(coef(m))]))")
    got = [float(v) for v in out.split()]
    assert got[0] == 1
    np.testing.assert_allclose([m.coefficients[c] for c in m.columns()], got[1:], rtol=1e-8)
    student = t[t["employment"] == "studerande"].head(3)
    scored = risk.score(student, m)
    assert scored["risk"].isna().all()
    assert (scored["reason"] == "employment[studerande] not in the training data").all()
    path = risk.save_model(m, tmp_path / "m.json")
    assert risk.load_model(path).aliased == m.aliased


def _separation_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, design with intercept, outcome): data where R's glm does and does not warn."""
    rng = np.random.default_rng(7)
    n = 300
    age = rng.integers(18, 67, n).astype(float)
    level = rng.integers(0, 3, n)
    X = np.column_stack([np.ones(n), age, level == 1, level == 2]).astype(float)
    y = (rng.random(n) < 0.4).astype(int)
    combo = np.where(level == 1, (age > 40).astype(int), y)
    return [("ordinary", X, y),
            ("a level without events", X, np.where(level == 2, 0, y)),
            ("age separates", X, (age > 45).astype(int)),
            ("age separates but for the ties at 45", X,
             np.where(age == 45, y, (age > 45).astype(int))),
            ("age decides within one level only (no separation)", X, combo),
            ("a level with every event", X, np.where(level == 1, 1, y))]


def test_glm_warnings_are_r_s(run_r, tmp_path):
    """What R's glm(family=binomial) warns ("algorithm did not converge", "fitted
    probabilities numerically 0 or 1 occurred") on each case is what `glm_warnings` says R
    would warn, at the same iteration; a level with no event (or every event) makes R
    silent, which `separated` catches instead."""
    code = []
    for i, (_, X, y) in enumerate(_separation_cases()):
        pd.DataFrame(np.column_stack([X[:, 1:], y]), columns=["age", "l1", "l2", "y"]).to_csv(
            tmp_path / f"d{i}.csv", index=False, float_format="%.17g")
        code.append(f"d <- read.csv('{tmp_path / f'd{i}.csv'}'); said <- character(0); "
                    "m <- withCallingHandlers(glm(y ~ age + l1 + l2, family=binomial, data=d), "
                    "warning=function(w) { said <<- c(said, conditionMessage(w)); "
                    "invokeRestart('muffleWarning') }); "
                    "cat('CASE', m$iter, paste(sub('glm.fit: ', '', said), collapse='|'), '\\n')")
    out = [line.split(" ", 2) for line in run_r("\n".join(code)).splitlines()
           if line.startswith("CASE")]
    warned_any = set()
    for (name, X, y), (_, iters, warned) in zip(_separation_cases(), out, strict=True):
        got = glm_warnings(X, y)
        want = tuple(w for w in warned.strip().split("|") if w)
        assert got.messages() == want, name
        assert got.iterations == int(iters), name
        warned_any.add(bool(want))
        frame = pd.DataFrame(X, columns=["Intercept", "age", "g[b]", "g[c]"])
        if name.startswith("a level"):
            assert not want and separated(frame, y), name
    assert warned_any == {True, False}


def test_fit_stops_where_r_s_glm_would_warn_and_on_the_reference_level(outcome):
    """Separation the levels do not show (long sick leave exactly from age 50 on) stops the
    unpenalised fit with R's warning; a reference level without long spells is named; a
    penalised fit goes on."""
    t = outcome.table
    spec = risk.predictors()
    by_age = t.assign(**{risk.OUTCOME: (t["age"] >= 50).astype(int)})
    with pytest.raises(Separated, match="fitted probabilities numerically 0 or 1") as err:
        risk.fit(by_age, spec)
    assert err.value.levels == [] and err.value.glm is not None and err.value.glm.extreme > 0
    risk.fit(by_age, spec, penalty="l2")
    men = t["sex"] == "man"
    no_long_men = t.assign(**{risk.OUTCOME: t[risk.OUTCOME].where(~men, 0)})
    with pytest.raises(Separated, match=r"sex\[man\] has \d+ spell\(s\), 0 long"):
        risk.fit(no_long_men, spec)
