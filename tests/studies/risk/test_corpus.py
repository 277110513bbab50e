"""The risk study's bad-delivery corpus and fuzz test (issue 28): malformed keys, register
years, periods outside the delivery's dates (past the extraction, not back to
`data.periods_from`), birth year, LISA without income, diagnosis text, encodings and `bas:
null` either stop with the expected contract message or read with every row accounted for."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml
from delivery_edits import cell, corrupt_or_corpus, drop_year, edit, fuzz, load, save

from rehabkoord import clean
from rehabkoord.io import DeliveryError
from rehabkoord.studies.risk import data, synth

PERIODS = "sjukpenningperioder.parquet"


@pytest.fixture(scope="module")
def risk_frames(params):
    spec = synth.spec_from_params({**params["synthetic"], "n_persons": 1500})
    return synth.generate(spec)


@pytest.fixture()
def risk_root(tmp_path, risk_frames):
    synth.write(risk_frames, tmp_path / "raw")
    return tmp_path


@pytest.fixture()
def risk_params(params):
    p = copy.deepcopy(params)
    p["data"]["dir"] = "raw"
    return p


def set_param(**values):
    def mutate(raw, params):
        params["data"].update(values)
    return mutate


def birth_year_changes(raw, params):
    lisa = load(raw / "lisa.parquet")
    rows = lisa.index[lisa["LopNr"] == lisa["LopNr"].iloc[0]]
    lisa.loc[rows[-1], "FodelseAr"] += 1
    save(lisa, raw / "lisa.parquet")


def periods_start_late(raw, params):
    edit(PERIODS, lambda f: f[pd.to_datetime(f["FromDatum"]) >= "2010-06-01"])(raw, params)


def no_bas(raw, params):
    (raw / "bas.parquet").unlink()
    params["data"]["bas"] = None


def no_bas_nor_employment(raw, params):
    no_bas(raw, params)
    params["predictors"]["include"] = [p for p in params["predictors"]["include"]
                                       if p != "employment"]


def periods_as_windows_csv(raw, params):
    """MiDAS periods exported from Excel on Windows: CSV in Windows-1252 with a dash."""
    f = load(raw / PERIODS)
    f["Formanstyp"] = f["Formanstyp"].astype(str) + " – heltid"
    for c in ("FromDatum", "TomDatum"):
        f[c] = pd.to_datetime(f[c]).dt.strftime("%Y-%m-%d")
    (raw / PERIODS).unlink()
    save(f, raw / "perioder.csv", encoding="cp1252")
    params["data"]["periods"] = "perioder.csv"


def undecodable_periods(raw, params):
    periods_as_windows_csv(raw, params)
    path = raw / "perioder.csv"
    path.write_bytes(path.read_bytes().replace(b"\x96", b"\x81", 1))


def lisa_by_year_files(raw, params):
    lisa = load(raw / "lisa.parquet")
    (raw / "lisa.parquet").unlink()
    for year, part in lisa.groupby("Ar"):
        save(part.drop(columns="Ar"), raw / f"lisa_{year}_v2_2024.csv", encoding="utf-8")
    params["data"]["lisa"] = "lisa_*.csv"
    params["data"]["year_pattern"] = r"lisa_(\d{4})_"


def absolute_dir(raw, params):
    params["data"]["dir"] = str(raw.resolve())


#: case -> (mutation, the message expected; None: reads, every row accounted for)
CORPUS = {
    "letters_in_period_key": (edit(PERIODS, cell("LopNr", "77b1", 3)), "sjukpenningperioder."
                              "parquet: column 'LopNr': not a person key (SCB's LopNr is a "
                              "whole number): 1 row(s) (rows 4)"),
    "letters_in_lisa_key": (edit("lisa.parquet", cell("LopNr", "x12", 0)), "lisa.parquet: "
                            "column 'LopNr': not a person key"),
    "missing_key_in_visits": (edit("vardbesok.parquet", cell("LopNr", None, 1)),
                              "vardbesok.parquet: column 'LopNr': missing value: 1 row(s)"),
    "lisa_year_missing_inside": (drop_year(2014), "LISA: column 'Ar': register years not "
                                 "contiguous (missing: 2014)"),
    "first_needed_lisa_year_missing": (drop_year(2011), "LISA: column 'Ar': years before the "
                                       "index years (validation.train_years, test_years) not "
                                       "delivered: 2011 (delivered 2012–2018) → deliver LISA "
                                       "for these years (data.lisa)"),
    "bas_year_missing": (drop_year(2017, "bas.parquet"), "BAS: column 'Ar': years before the "
                         "index years (validation.train_years, test_years) not delivered: 2017"),
    "lisa_without_income": (edit("lisa.parquet", lambda f: f.drop(columns="DispInk04")),
                            "lisa.parquet: column 'DispInk04': required column missing"),
    "birth_year_differs": (birth_year_changes, "lisa.parquet: column 'FodelseAr': differs "
                           "between years for the same person: 8 row(s)"),
    "period_past_extraction": (edit(PERIODS, cell("TomDatum", pd.Timestamp("2019-03-10"), 2)),
                               "column 'TomDatum': period ends after data.extraction_date "
                               "(2019-02-28): 1 row(s) (rows 3)"),
    "extraction_date_too_early": (set_param(extraction_date="2018-12-31"), "column 'FromDatum':"
                                  " period starts after data.extraction_date (2018-12-31)"),
    "periods_do_not_reach_back": (periods_start_late, "column 'FromDatum': the periods do not "
                                  "reach back to data.periods_from (2009-01-01): none lies in "
                                  "its first 90 days"),
    "periods_from_after_history": (set_param(periods_from="2010-01-01"), "params.yaml: column "
                                   "'data.periods_from': index year 2012 needs MiDAS periods "
                                   "from 2009-01-01 (three years of history)"),
    "bas_null_with_employment": (no_bas, "column 'data.bas': null, but predictors.include uses "
                                 "employment"),
    "bas_null_without_employment": (no_bas_nor_employment, None),
    "free_text_diagnosis": (edit(PERIODS, cell("Diagnos", "Ryggvärk", 5)), "column 'Diagnos': "
                            "not an ICD-10 code"),
    "windows_1252_periods": (periods_as_windows_csv, None),
    "undecodable_periods": (undecodable_periods, "perioder.csv: is neither UTF-8 nor "
                            "Windows-1252 nor Latin-1 text"),
    "year_pattern_passed_on": (lisa_by_year_files, None),
    "absolute_dir": (absolute_dir, None),
}


def _accounted(d: data.Deliveries, params: dict) -> bool:
    """Every delivered row is in its validated table (the risk study keeps whole registers)."""
    given = [k for k in ("periods", "lisa", "bas", "visits", "population") if params["data"][k]]
    return all(d.rows_read[k] == len(getattr(d, k)) for k in given)


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_delivery_stops_with_its_message_or_reads_every_row(case, risk_root, risk_params):
    mutate, message = CORPUS[case]
    mutate(risk_root / "raw", risk_params)
    if message is None:
        d = data.read(risk_params["data"], risk_root, risk_params)
        assert _accounted(d, risk_params)
        return
    with pytest.raises(DeliveryError) as err:
        data.read(risk_params["data"], risk_root, risk_params)
    assert message in str(err.value)


def test_accepted_windows_file_reads_its_text(risk_root, risk_params):
    periods_as_windows_csv(risk_root / "raw", risk_params)
    d = data.read(risk_params["data"], risk_root, risk_params)
    assert set(d.periods["Formanstyp"].str.split(" ").str[1]) == {"–"}


def test_new_spells_without_bas_leave_employment_missing(risk_root, risk_params):
    no_bas_nor_employment(risk_root / "raw", risk_params)
    d = data.read(risk_params["data"], risk_root, risk_params)
    spells, flow = data.new_spells(d, risk_params)
    assert spells["employment"].isna().all() and spells["income_group"].notna().all()
    assert flow["diagnoses"]["rows"] == len(d.periods)


def test_effect_participants_must_carry_what_the_model_scores():
    table = pd.DataFrame({"BAS": [pd.NA, pd.NA], "DispInk04": [1.0, 2.0]})
    problems = data.check_effect_participants(table, ["age", "employment", "income_group"],
                                              "analysis.parquet")
    assert [str(v) for v in problems] == [
        "analysis.parquet: column 'BAS': no value, but the model uses employment: 2 row(s) → "
        "set data.bas in notebooks/stockholm/params.yaml and re-run its derive stage, or remove "
        "employment from predictors.include"]
    assert data.check_effect_participants(table, ["age", "income_group"], "x") == []


def test_check_data_reads_every_parameter_that_names_data(risk_root, risk_params, capsys,
                                                          monkeypatch):
    root = risk_root
    (root / "dvc.yaml").write_text("stages: {}\n")
    (root / "pyproject.toml").write_text("")
    file = root / "notebooks" / "risk" / "params.yaml"
    file.parent.mkdir(parents=True)
    file.write_text(yaml.safe_dump(risk_params, allow_unicode=True), encoding="utf-8")
    monkeypatch.chdir(root)
    before = sorted(root.rglob("*"))
    assert clean.main(["--params", str(file)]) == 0
    out = capsys.readouterr().out
    assert "The delivery in raw fits the data contract (risk study)." in out
    assert "effect.participants:" in out and "not built yet" in out
    drop_year(2014)(root / "raw", risk_params)
    risk_params["data"]["bas"] = None
    risk_params["derivation"]["mapping"] = "saknas.csv"
    file.write_text(yaml.safe_dump(risk_params, allow_unicode=True), encoding="utf-8")
    before = sorted(root.rglob("*"))
    assert clean.main(["--params", str(file)]) == 1
    err = capsys.readouterr().err
    for message in ("saknas.csv: no such file → check derivation.mapping",
                    "register years not contiguous (missing: 2014)",
                    "column 'data.bas': null, but predictors.include uses employment"):
        assert message in err
    assert sorted(root.rglob("*")) == before


N_CORRUPTIONS = 100
SEED = 20261208


@pytest.mark.slow
def test_random_corruptions_end_in_a_contract_message_or_an_accounted_flow(
        tmp_path, risk_frames, risk_params):
    pristine = tmp_path / "pristine"
    synth.write(risk_frames, pristine)
    fuzz(pristine, tmp_path / "raw", risk_params, n=N_CORRUPTIONS, seed=SEED,
         corrupt=lambda raw, rng, params: corrupt_or_corpus(raw, rng, params, CORPUS),
         read=lambda params: data.read(params["data"], tmp_path, params),
         accounted=_accounted, title="the risk study's delivery")
