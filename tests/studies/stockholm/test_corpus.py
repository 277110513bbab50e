"""The spell study's bad-delivery corpus and fuzz test (issue 28): every class of fault a
hostile delivery showed (malformed keys, register years, periods outside the delivery's dates,
birth year, diagnosis text, encodings, optional registers) either stops with the expected
contract message or reads with every row accounted for; nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from delivery_edits import cell, corrupt_or_corpus, drop_year, edit, fuzz, load, save

from rehabkoord import clean
from rehabkoord.io import DeliveryError
from rehabkoord.spells import DEFAULT_MAPPING
from rehabkoord.studies.stockholm import data

PARTICIPANTS = "deltagare.csv"
PERIODS = "sjukpenningperioder.parquet"


def participant_row(raw: Path, name: str, row: int = 0) -> int:
    """The position of a participant's row in a register (other people's rows are dropped)."""
    keys = set(load(raw / PARTICIPANTS)["LopNr"])
    frame = load(raw / name)
    return int(np.flatnonzero(frame["LopNr"].astype(str).isin(keys))[row])


def birth_year_changes(raw, params):
    lisa = load(raw / "lisa.parquet")
    first = lisa["LopNr"].iloc[0]
    rows = lisa.index[lisa["LopNr"] == first]
    lisa.loc[rows[-1], "FodelseAr"] = lisa.loc[rows[0], "FodelseAr"] + 1
    save(lisa, raw / "lisa.parquet")


def period_key_with_letters(raw, params):
    row = participant_row(raw, PERIODS)
    edit(PERIODS, cell("LopNr", "1002a7", row))(raw, params)


def lisa_key_with_letters(raw, params):
    row = participant_row(raw, "lisa.parquet")
    edit("lisa.parquet", cell("LopNr", "10O287", row))(raw, params)


def period_past_extraction(raw, params):
    edit(PERIODS, cell("TomDatum", pd.Timestamp("2017-10-15"), 4))(raw, params)


def period_after_extraction(raw, params):
    def change(f):
        f = f.astype({"FromDatum": object, "TomDatum": object})
        f.loc[f.index[6], ["FromDatum", "TomDatum"]] = [pd.Timestamp("2017-10-02"),
                                                        pd.Timestamp("2017-10-20")]
        return f
    edit(PERIODS, change)(raw, params)


def cp1252_participants(raw, params):
    """A Windows "CSV" with a dash in the area's name: 0x96 must not become a control
    character."""
    f = load(raw / PARTICIPANTS)
    f["Omrade"] = f["Omrade"].str.replace("Söder", "Söder – city", regex=False)
    save(f, raw / PARTICIPANTS, encoding="cp1252")


def undecodable_participants(raw, params):
    (raw / PARTICIPANTS).write_bytes((raw / PARTICIPANTS).read_bytes().replace(
        "Söder".encode("latin-1"), b"S\x81der", 1))


def lisa_without_income(raw, params):
    edit("lisa.parquet", lambda f: f.drop(columns="DispInk04"))(raw, params)


def no_lisa_background_in_population(raw, params):
    lisa = load(raw / "lisa.parquet").drop_duplicates("LopNr", keep="last")
    pop = load(raw / "befolkning.parquet").merge(lisa[["LopNr", "Kon", "FodelseAr"]],
                                                  on="LopNr", how="left")
    save(pop, raw / "befolkning.parquet")
    (raw / "lisa.parquet").unlink()
    params["lisa"] = None


def no_lisa_and_no_background(raw, params):
    (raw / "lisa.parquet").unlink()
    params["lisa"] = None


def lisa_by_year_files(raw, params):
    """LISA as yearly CSV files whose names hold two years: data.year_pattern decides."""
    lisa = load(raw / "lisa.parquet")
    (raw / "lisa.parquet").unlink()
    for year, part in lisa.groupby("Ar"):
        save(part.drop(columns="Ar"), raw / f"LISA{year}_uttag_2024.csv")
    params["lisa"] = "LISA*_uttag_2024.csv"
    params["year_pattern"] = r"LISA(\d{4})_"


def lisa_by_year_files_no_pattern(raw, params):
    lisa_by_year_files(raw, params)
    params["year_pattern"] = None


def absolute_dir(raw, params):
    params["dir"] = str(raw.resolve())


def no_bas(raw, params):
    (raw / "bas.parquet").unlink()
    params["bas"] = None


def free_text_diagnosis(raw, params):
    edit(PERIODS, cell("Diagnos", "Utmattningssyndrom", participant_row(raw, PERIODS)))(
        raw, params)


def population_key_missing(raw, params):
    edit("befolkning.parquet", cell("LopNr", None, 3))(raw, params)


#: case -> (mutation, the message expected; None: reads, every row accounted for)
CORPUS = {
    # malformed person keys: never dropped as another person's
    "letters_in_period_key": (period_key_with_letters, "sjukpenningperioder.parquet: column "
                              "'LopNr': not a person key (SCB's LopNr is a whole number); such "
                              "rows cannot be linked, nor dropped as other people's: 1 row(s)"),
    "letters_in_lisa_key": (lisa_key_with_letters, "lisa.parquet: column 'LopNr': not a person "
                            "key"),
    "missing_key_in_population": (population_key_missing, "befolkning.parquet: column 'LopNr': "
                                  "missing value (a row that links to no person): 1 row(s) "
                                  "(rows 4)"),
    # register years
    "lisa_year_missing_inside": (drop_year(2012), "LISA: column 'Ar': register years not "
                                 "contiguous (missing: 2012) → deliver LISA for the missing "
                                 "years"),
    "last_lisa_year_missing": (drop_year(2014), "LISA: column 'Ar': years before the "
                               "participants' index dates not delivered: 2014 (delivered "
                               "2011–2013) → deliver LISA for these years (data.lisa)"),
    "bas_year_missing": (drop_year(2014, "bas.parquet"), "BAS: column 'Ar': years before the "
                         "participants' index dates not delivered: 2014"),
    "first_lisa_year_not_needed": (drop_year(2011), None),
    "two_years_in_file_names": (lisa_by_year_files_no_pattern, "the file name holds more than "
                                "one year (2011, 2024) → set data.year_pattern"),
    "year_pattern_passed_on": (lisa_by_year_files, None),
    # periods inside the delivery's dates
    "period_past_extraction": (period_past_extraction, "sjukpenningperioder.parquet: column "
                               "'TomDatum': period ends after data.extraction_date (2017-09-30):"
                               " 1 row(s) (rows 5) → set data.extraction_date"),
    "period_after_extraction": (period_after_extraction, "column 'FromDatum': period starts "
                                "after data.extraction_date (2017-09-30): 1 row(s) (rows 7)"),
    # birth year stable
    "birth_year_differs": (birth_year_changes, "lisa.parquet: column 'FodelseAr': differs "
                           "between years for the same person: 2 row(s)"),
    # diagnosis codes
    "free_text_diagnosis": (free_text_diagnosis, "column 'Diagnos': not an ICD-10 code (a "
                            "letter, two digits and up to four more characters, e.g. F43.2) "
                            "(value withheld: it may identify a person): 1 row(s)"),
    # encodings
    "windows_1252_participants": (cp1252_participants, None),
    "undecodable_participants": (undecodable_participants, "deltagare.csv: is neither UTF-8 "
                                 "nor Windows-1252 nor Latin-1 text"),
    # optional registers and what follows
    "lisa_without_income": (lisa_without_income, None),
    "sex_and_birth_year_from_population": (no_lisa_background_in_population, None),
    "no_lisa_and_no_background": (no_lisa_and_no_background, "column 'Kon/FodelseAr': data.lisa "
                                  "is not set and the population file has no such column → set "
                                  "data.lisa to the LISA extract, or deliver Kon and FodelseAr "
                                  "in the population file"),
    "no_bas": (no_bas, None),
    "absolute_dir": (absolute_dir, None),
}


def _accounted(d: data.Deliveries) -> bool:
    """Every delivered row is kept or counted as another person's, and each kept table is
    what the flow says."""
    flow = d.flow
    sources = [k for k in ("participants", "periods", "population", "lisa", "bas") if k in flow]
    rows_ok = all(flow[k]["rows_read"] == flow[k]["rows_kept"] + flow[k]["rows_not_in_study"]
                  for k in sources)
    return (rows_ok and flow["participants"]["persons"] == len(d.participants)
            == flow["participants"]["rows_kept"] and len(d.periods) == flow["periods"]["rows_kept"]
            and len(d.population) == flow["population"]["rows_kept"]
            and len(d.background) == len(d.participants))


def _run(case: str, root: Path, params: dict):
    mutate, message = CORPUS[case]
    params = dict(params)
    mutate(root / "raw", params)
    return params, message


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_delivery_stops_with_its_message_or_reads_every_row(case, sthlm_delivery,
                                                                 sthlm_data_params):
    params, message = _run(case, sthlm_delivery, sthlm_data_params)
    if message is None:
        d = data.read(params, sthlm_delivery, DEFAULT_MAPPING)
        assert _accounted(d), d.flow
        return
    with pytest.raises(DeliveryError) as err:
        data.read(params, sthlm_delivery, DEFAULT_MAPPING)
    assert message in str(err.value)


def test_what_the_accepted_cases_read(sthlm_delivery, sthlm_data_params):
    params, _ = _run("windows_1252_participants", sthlm_delivery, sthlm_data_params)
    d = data.read(params, sthlm_delivery)
    assert "Söder – city" in set(d.participants["Omrade"])
    params, _ = _run("lisa_without_income", sthlm_delivery, params)
    d = data.read(params, sthlm_delivery)
    assert d.registers["DispInk04"].isna().all() and d.registers["BAS"].notna().all()


def test_sex_and_birth_year_from_the_population_file_equal_lisas(sthlm_delivery,
                                                                 sthlm_data_params):
    from_lisa = data.read(sthlm_data_params, sthlm_delivery)
    params, _ = _run("sex_and_birth_year_from_population", sthlm_delivery, sthlm_data_params)
    from_population = data.read(params, sthlm_delivery)
    assert from_population.flow["background_from"] == "data.population"
    pd.testing.assert_frame_equal(from_population.background, from_lisa.background)
    pd.testing.assert_frame_equal(from_population.population, from_lisa.population)


def test_unmapped_codes_are_counted_in_the_flow(sthlm_delivery, sthlm_data_params):
    """By hand from the delivered periods of the participants: codes matching no prefix of
    the mapping (they count as 'other') are counted and the most frequent shown."""
    d = data.read(sthlm_data_params, sthlm_delivery, DEFAULT_MAPPING)
    codes = d.periods["Diagnos"].str.replace(".", "", regex=False).str.upper()
    prefixes = tuple(DEFAULT_MAPPING["prefix"])
    unmapped = codes[~codes.str.startswith(prefixes)]
    counts = d.flow["periods"]["diagnoses"]
    assert counts["rows"] == len(codes) and counts["rows_unmapped"] == len(unmapped) > 0
    assert counts["unmapped_most_frequent"] == unmapped.value_counts().head(20).to_dict()


def test_check_data_reads_every_parameter_that_names_data(sthlm_delivery, capsys, monkeypatch):
    """`make check-data STUDY=stockholm` (issue 28: it ended in KeyError 'randomisation')."""
    root = sthlm_delivery
    (root / "dvc.yaml").write_text("stages: {}\n")
    (root / "pyproject.toml").write_text("")
    params = yaml.safe_load((Path(__file__).resolve().parents[3] / "notebooks" / "stockholm" /
                             "params.yaml").read_text(encoding="utf-8"))
    params["data"]["dir"] = "raw"
    params["derivation"]["mapping"] = "diagnosgrupper.csv"
    shutil.copy(Path(__file__).resolve().parents[3] / "notebooks" / "stockholm" /
                "diagnosgrupper.csv", root / "diagnosgrupper.csv")
    file = root / "notebooks" / "stockholm" / "params.yaml"
    file.parent.mkdir(parents=True)
    file.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    monkeypatch.chdir(root)
    before = sorted(root.rglob("*"))
    assert clean.main(["--params", str(file)]) == 0
    out = capsys.readouterr().out
    assert "The delivery in raw fits the data contract (stockholm study)." in out
    assert "'codes_unmapped': 7" in out
    params["derivation"]["mapping"] = "saknas.csv"
    params["data"]["extraction_date"] = "2017-06-30"
    file.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    assert clean.main(["--params", str(file)]) == 1
    err = capsys.readouterr().err
    assert "saknas.csv: no such file → check derivation.mapping in params.yaml" in err
    assert "period ends after data.extraction_date (2017-06-30)" in err  # the same pass
    assert sorted(root.rglob("*")) == before


N_CORRUPTIONS = 120
SEED = 20261207


@pytest.mark.slow
def test_random_corruptions_end_in_a_contract_message_or_an_accounted_flow(
        tmp_path, sthlm_frames, sthlm_data_params):
    from rehabkoord.studies.stockholm import synth

    pristine = tmp_path / "pristine"
    synth.write(sthlm_frames, pristine)
    fuzz(pristine, tmp_path / "raw", sthlm_data_params, n=N_CORRUPTIONS, seed=SEED,
         corrupt=lambda raw, rng, params: corrupt_or_corpus(raw, rng, params, CORPUS),
         read=lambda params: data.read(params, tmp_path, DEFAULT_MAPPING),
         accounted=lambda d, params: _accounted(d), title="the spell study's delivery")
