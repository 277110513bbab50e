"""Validation rules and the bad-input corpus: each broken delivery gives a clear error naming
file, column, rule and rows, and leaves earlier outputs untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from rehabkoord import clean, contract
from rehabkoord.io import DeliveryError


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", encoding="latin-1", dtype=str, keep_default_na=False)


def _put(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, sep=";", index=False, encoding="latin-1")


def lisa_file(d: Path) -> Path:
    return d / "lisa" / "LISA2018.csv"


def rand_file(d: Path) -> Path:
    return d / "randomisering.csv"


def edit_csv(path_of, change):
    def mutate(d: Path) -> None:
        p = path_of(d)
        frame = _csv(p)
        _put(change(frame), p)
    return mutate


PARTICIPANT = "participant"


def set_cell(column, value, row=PARTICIPANT):
    """Set one cell; by default in the first row of a randomised person (other people's
    register rows are removed before value rules run)."""
    def change(f):
        target = row
        if row == PARTICIPANT:
            target = f.index[f["LopNr"].isin(PARTICIPANTS)][0] if "Grupp" not in f else 0
        f.loc[target, column] = value
        return f
    return change


PARTICIPANTS: set[str] = set()


@pytest.fixture(autouse=True)
def _participants(delivery):
    PARTICIPANTS.clear()
    PARTICIPANTS.update(_csv(delivery / "randomisering.csv")["LopNr"])


def truncate(d: Path) -> None:
    """Cut the file in the middle of a participant's row."""
    p = lisa_file(d)
    lines = p.read_bytes().split(b"\n")
    cut = next(i for i, line in enumerate(lines[1:], 1)
               if line.split(b";")[0].decode() in PARTICIPANTS)
    p.write_bytes(b"\n".join(lines[:cut]) + b"\n" + lines[cut].rsplit(b";", 3)[0])


def other_study(d: Path) -> None:
    f = _csv(rand_file(d))
    f["LopNr"] = [str(90_000_000 + i) for i in range(len(f))]
    _put(f, rand_file(d))


def age_out_of_range(d: Path) -> None:
    rand = _csv(rand_file(d))
    person = rand.loc[0, "LopNr"]
    for p in (d / "lisa").glob("*.csv"):
        f = _csv(p)
        f.loc[f["LopNr"] == person, "FodelseAr"] = "1940"
        _put(f, p)


def inconsistent_birth_year(d: Path) -> None:
    rand = _csv(rand_file(d))
    f = _csv(lisa_file(d))
    row = f.index[f["LopNr"].isin(rand["LopNr"])][0]
    f.loc[row, "FodelseAr"] = str(int(f.loc[row, "FodelseAr"]) + 1)
    _put(f, lisa_file(d))


def bas_path(d: Path, year: int = 2020) -> Path:
    return d / "bas" / f"BAS{year}.parquet"


def edit_bas(change, year: int = 2020):
    def mutate(d: Path) -> None:
        frame = pd.read_parquet(bas_path(d, year))
        change(frame).to_parquet(bas_path(d, year), index=False)
    return mutate


def other_project_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """BAS keyed by another project's LopNr: nobody links."""
    return frame.assign(LopNr=[str(80_000_000 + i) for i in range(len(frame))])


def half_other_keys(frame: pd.DataFrame) -> pd.DataFrame:
    keys = frame["LopNr"].astype(str).copy()
    study = keys.isin(PARTICIPANTS)
    cut = study & (study.cumsum() % 2 == 0)
    keys[cut] = [str(70_000_000 + i) for i in range(int(cut.sum()))]
    return frame.assign(LopNr=keys)


def fifth_other_keys(frame: pd.DataFrame) -> pd.DataFrame:
    keys = frame["LopNr"].astype(str).copy()
    study = keys.isin(PARTICIPANTS)
    cut = study & (study.cumsum() % 5 == 0)
    keys[cut] = [str(70_000_000 + i) for i in range(int(cut.sum()))]
    return frame.assign(LopNr=keys)


def comma_csv_with_decimal_commas(d: Path) -> None:
    """LISA written comma-separated with unquoted decimal commas (8,25)."""
    p = lisa_file(d)
    text = p.read_text(encoding="latin-1").splitlines()
    rows = [text[0].replace(";", ",")] + [line.replace(";", ",") for line in text[1:]]
    p.write_text("\n".join(rows) + "\n", encoding="latin-1")


def extra_field(d: Path) -> None:
    p = lisa_file(d)
    lines = p.read_text(encoding="latin-1").splitlines()
    lines[3] += ";1"
    p.write_text("\n".join(lines) + "\n", encoding="latin-1")


def rename_lisa(name: str):
    return lambda d: lisa_file(d).rename(d / "lisa" / name)


def sev_digit_date(d: Path) -> None:
    edit_csv(rand_file, set_cell("RandDatum", "2018031"))(d)


def unknown_syssstat_before_bas(d: Path) -> None:
    p = d / "lisa" / "LISA2017.csv"
    f = _csv(p)
    f.loc[f.index[f["LopNr"].isin(PARTICIPANTS)][0], "SyssStat11"] = "6"
    _put(f, p)


def duplicate_key_column_case(d: Path) -> None:
    f = _csv(lisa_file(d))
    f.insert(1, "LOPNR", f["LopNr"])
    _put(f, lisa_file(d))


def both_mapped_and_contract_key(d: Path) -> None:
    f = _csv(rand_file(d))
    f["P1105_LopNr_PersonNr"] = f["LopNr"]
    _put(f, rand_file(d))


CORPUS = {
    "truncated_file": (truncate, "rows must have the header's 7 fields (found 4): 1 row(s)"),
    "wrong_delimiter": (lambda d: lisa_file(d).write_text(
        lisa_file(d).read_text(encoding="latin-1").replace(";", "|"), encoding="latin-1"),
        "no delimiter found"),
    "missing_column": (edit_csv(lisa_file, lambda f: f.drop(columns="Kon")),
                       "column 'Kon': required column missing"),
    "duplicated_key": (edit_csv(lisa_file, lambda f: pd.concat(
        [f, f[f["LopNr"].isin(PARTICIPANTS)].iloc[[0]]])),
                       "column 'LopNr, Ar': duplicate key: 2 row(s)"),
    "unknown_group_label": (edit_csv(rand_file, set_cell("Grupp", "Behandling")),
                            "column 'Grupp': unknown code"),
    "impossible_date": (edit_csv(rand_file, set_cell("RandDatum", "2018-02-30")),
                        "column 'RandDatum': cannot be read as date: 1 row(s) (rows 1)"),
    "negative_days": (edit_csv(lisa_file, set_cell("SjukP_Ndag_MiDAS", "-3")),
                      "column 'SjukP_Ndag_MiDAS': outside 0–366"),
    "too_many_days": (edit_csv(lisa_file, set_cell("SjukErs_Ndag_MiDAS", "400,5")),
                      "column 'SjukErs_Ndag_MiDAS': outside 0–366: 1 row(s) (rows "),
    "empty_file": (lambda d: lisa_file(d).write_bytes(b""), "the file is empty"),
    "header_only": (edit_csv(lisa_file, lambda f: f.iloc[:0]), "the file has no data rows"),
    "other_study_no_overlap": (other_study, "randomised person not found in any LISA year"),
    "unknown_bas_code": (lambda d: pd.read_parquet(d / "bas" / "BAS2020.parquet").assign(
        BAS=lambda f: f["BAS"].where(~f["LopNr"].isin(PARTICIPANTS), 7)).to_parquet(
        d / "bas" / "BAS2020.parquet", index=False), "column 'BAS': unknown code"),
    "unknown_sex_code": (edit_csv(lisa_file, set_cell("Kon", "3")), "column 'Kon': unknown code"),
    "date_outside_study": (edit_csv(rand_file, set_cell("RandDatum", "2021-05-01")),
                           "outside the randomisation period 2017-01-01–2019-12-31: 1 row(s) "
                           "(rows 1) → check the dates, or change data.rand_period"),
    "age_outside_25_64": (age_out_of_range, "age at randomisation outside 25–64"),
    "text_in_days": (edit_csv(lisa_file, set_cell("SjukP_Ndag_MiDAS", "abc")),
                     "cannot be read as float"),
    "fractional_code": (edit_csv(lisa_file, set_cell("Kon", "1,5")), "must be a whole number"),
    "duplicate_randomisation": (edit_csv(rand_file, lambda f: pd.concat([f, f.iloc[[0]]])),
                                "column 'LopNr': duplicate key"),
    "missing_key_value": (edit_csv(rand_file, set_cell("LopNr", "")),
                          "column 'LopNr': missing value"),
    "missing_register_year": (lambda d: lisa_file(d).rename(lisa_file(d).with_suffix(".xlsx")),
                              "register years not contiguous (missing: 2018)"),
    "text_named_parquet": (lambda d: (d / "bas" / "BAS2019.parquet").write_bytes(b"not parquet"),
                           "the file is text, not .parquet"),
    "corrupt_parquet": (lambda d: (d / "bas" / "BAS2019.parquet").write_bytes(
        (d / "bas" / "BAS2019.parquet").read_bytes()[:200]), "cannot be read as .parquet"),
    "inconsistent_birth_year": (inconsistent_birth_year, "differs between years"),
    "no_employment_status": (edit_csv(lisa_file, lambda f: f.drop(columns="SyssStat11")),
                             "SyssStat19 or SyssStat11"),
    # issue 11: classes of fault seen in real first deliveries
    "bas_keys_of_another_project": (edit_bas(other_project_keys),
                                    "BAS 2020 (" ),
    "bas_half_keys_unlinked": (edit_bas(half_other_keys),
                               "of randomised persons found (minimum data.min_linkage = 70%)"),
    "bas_fifth_keys_unlinked": (edit_bas(fifth_other_keys),
                                "column 'LopNr': links 18% fewer randomised persons than LISA "
                                "2020 (at most data.max_linkage_gap = 10%)"),
    "comma_csv_decimal_commas": (comma_csv_with_decimal_commas,
                                 "values look like decimal commas (8,25): deliver it with ';'"),
    "extra_field_in_row": (extra_field, "rows must have the header's 7 fields (found 8): "
                           "1 row(s) (rows 3)"),
    "pattern_matches_nothing": (None, "lisa202*.csv: no file matches this path or pattern → "
                                "check data.lisa in params.yaml; patterns are case-sensitive"),
    "last_lisa_year_missing": (lambda d: (d / "lisa" / "LISA2021.csv").unlink(),
                               "outcome years the windows need not delivered: 2021"),
    "last_bas_year_missing": (lambda d: bas_path(d, 2021).unlink(),
                              "column 'Ar': years needed for employment not delivered: 2021"),
    "gzip_named_csv": (lambda d: lisa_file(d).write_bytes(
        __import__("gzip").compress(lisa_file(d).read_bytes())),
        "the file is a gzip-compressed file (unpack it first), not .csv"),
    "excel_named_csv": (lambda d: lisa_file(d).write_bytes(b"PK\x03\x04" + b"\x00" * 60),
                        "the file is a ZIP archive, e.g. an Excel .xlsx workbook"),
    "two_years_in_file_name": (rename_lisa("LISA2018_uttag_2024-05-02.csv"),
                               "the file name holds more than one year (2018, 2024) → set "
                               "data.year_pattern"),
    "seven_digit_date": (sev_digit_date, "column 'RandDatum': cannot be read as date"),
    "unknown_syssstat_code_used": (unknown_syssstat_before_bas,
                                   "column 'SyssStat11': unknown code (allowed: 1, 5) in a year "
                                   "BAS does not cover: 1 row(s)"),
    "key_column_twice_in_case": (duplicate_key_column_case,
                                 "column 'LopNr': several delivered columns become this contract "
                                 "column ('LopNr', 'LOPNR')"),
    "mapped_key_next_to_key": (both_mapped_and_contract_key,
                               "several delivered columns become this contract column ('LopNr', "
                               "'P1105_LopNr_PersonNr')"),
    "letters_in_key": (edit_csv(rand_file, set_cell("LopNr", "A12")),
                       "column 'LopNr': not a person key (SCB's LopNr is a whole number)"),
    # issue 26: free text in a column the appendix prints as row labels
    "personnummer_in_diagnosis_group": (
        edit_csv(rand_file, set_cell("Diagnosgrupp", "Depression (Anna Andersson "
                                     "19850312-1234)")),
        "randomisering.csv: column 'Diagnosgrupp': looks like a personnummer or "
        "samordningsnummer (value withheld: it may identify a person): 1 row(s) (rows 1) → "
        "remove names and personal identity numbers"),
    "name_in_diagnosis_group": (
        edit_csv(rand_file, set_cell("Diagnosgrupp", "Anna Andersson")),
        "column 'Diagnosgrupp': unknown code (allowed: Depression, Ångestsyndrom, Bipolär "
        "sjukdom, PTSD, Neuropsykiatrisk funktionsnedsättning): 1 row(s) (rows 1)"),
    # issue 28: a malformed register key was dropped as another person's, so a study person
    # could appear to have left the registers
    "letters_in_a_register_key": (
        edit_csv(lisa_file, set_cell("LopNr", "86a232", row=0)),
        "LISA2018.csv: column 'LopNr': not a person key (SCB's LopNr is a whole number); such "
        "rows cannot be linked, nor dropped as other people's: 1 row(s) (rows 1)"),
    "missing_register_key": (
        edit_csv(lisa_file, set_cell("LopNr", "", row=2)),
        "LISA2018.csv: column 'LopNr': missing value (a row that links to no person): 1 row(s) "
        "(rows 3)"),
}

#: Cases whose fault is in how params.yaml points at the delivery.
PARAMS_FOR_CASE = {
    "pattern_matches_nothing": {"lisa": ["lisa/LISA201*.csv", "lisa/lisa202*.csv"]},
    "mapped_key_next_to_key": {"column_map": {"P1105_LopNr_PersonNr": "LopNr"}},
}


def _hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_delivery_is_rejected_and_outputs_untouched(case, tmp_path, delivery, data_params):
    out = tmp_path / "interim"
    clean.write_interim(clean.clean_from_params(data_params, tmp_path), out)
    before = _hashes(out)
    mutate, message = CORPUS[case]
    data_params = {**data_params, **PARAMS_FOR_CASE.get(case, {})}
    if mutate is not None:
        mutate(delivery)
    with pytest.raises(DeliveryError) as err:
        clean.write_interim(clean.clean_from_params(data_params, tmp_path), out)
    assert message in str(err.value)
    assert _hashes(out) == before


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


def test_error_never_shows_person_keys(tmp_path, delivery, data_params):
    rand = _csv(rand_file(delivery))
    CORPUS["other_study_no_overlap"][0](delivery)
    with pytest.raises(DeliveryError) as err:
        clean.clean_from_params(data_params, tmp_path)
    assert not any(k in str(err.value) for k in rand["LopNr"])
    assert "rows 1, 2, 3, 4, 5, …" in str(err.value)


@pytest.mark.parametrize("text", ["Depression (Anna Andersson 19850312-1234)",
                                  "Anna Andersson", "850312-1234"])
def test_free_text_in_diagnosis_group_stops_without_repeating_it(text, tmp_path, delivery,
                                                                 data_params):
    """Issue 26: a free-text Diagnosgrupp holding a name and a personnummer became a row label
    of the appendix's tables. It now stops the run, and the message names file, column and row
    but repeats neither the name nor any of the digits."""
    edit_csv(rand_file, set_cell("Diagnosgrupp", text))(delivery)
    with pytest.raises(clean.ValidationError) as err:
        clean.clean_from_params(data_params, tmp_path)
    message = str(err.value)
    assert "randomisering.csv: column 'Diagnosgrupp': " in message and "(rows 1)" in message
    for part in ("Anna", "Andersson", "850312", "1234"):
        assert part not in message
    assert len(err.value.violations) == 1


def test_personal_numbers_are_found_in_every_text_column_but_the_key(tmp_path, delivery,
                                                                    data_params):
    """A personnummer in the optional employer column is reported as one, not as an unknown
    code (which would not say what is wrong with it)."""
    edit_csv(rand_file, set_cell("Arbetsgivare", "8503121234"))(delivery)
    with pytest.raises(clean.ValidationError) as err:
        clean.clean_from_params(data_params, tmp_path)
    (violation,) = err.value.violations
    assert (violation.column, violation.rule) == ("Arbetsgivare", contract.PERSONAL_RULE)
    assert "8503121234" not in str(err.value)


def test_personal_numbers_as_person_keys_stop(tmp_path, delivery, data_params):
    """A randomisation list keyed by personnummer (12 digits pass as whole numbers) is not a
    pseudonymised delivery: it stops, with no key in the message."""
    rand = _csv(rand_file(delivery))
    rand["LopNr"] = [f"19{80 + i % 10}0{1 + i % 9}{10 + i % 18}{1000 + i}" for i in
                     range(len(rand))]
    _put(rand, rand_file(delivery))
    with pytest.raises(clean.ValidationError) as err:
        clean.clean_from_params(data_params, tmp_path)
    message = str(err.value)
    assert ("randomisering.csv: column 'LopNr': looks like personnummer, not SCB's "
            f"pseudonymised LopNr (values withheld: they identify persons): {len(rand)} row(s) "
            "(rows 1, 2, 3, 4, 5, …)") in message
    assert not any(k in message for k in rand["LopNr"])


def test_ten_digit_serial_numbers_are_keys(tmp_path, delivery, data_params):
    """Some 10-digit LopNr have a personnummer's shape by chance; a column of them is keys."""
    frames = {p: _csv(p) for p in [rand_file(delivery), *sorted((delivery / "lisa").glob("*"))]}
    for path, frame in frames.items():
        frame["LopNr"] = (frame["LopNr"].astype("int64") * 7919 + 1_000_000_000).astype(str)
        _put(frame, path)
    for path in sorted((delivery / "bas").glob("*.parquet")):
        bas = pd.read_parquet(path)
        bas["LopNr"] = (bas["LopNr"].astype("int64") * 7919 + 1_000_000_000).astype(str)
        bas.to_parquet(path, index=False)
    keys = frames[rand_file(delivery)]["LopNr"]
    assert keys.str.fullmatch(contract.PERSONAL_NUMBER.pattern).any()
    assert len(clean.clean_from_params(data_params, tmp_path).randomisation) == len(keys)


def test_cleaned_diagnosis_groups_are_the_contracts(tmp_path, delivery, data_params):
    """Table 2's row labels come from the cleaned column: only the contract's groups."""
    cleaned = clean.clean_from_params(data_params, tmp_path)
    assert set(cleaned.randomisation["Diagnosgrupp"]) == set(contract.DIAGNOSIS_GROUPS)


def test_free_text_where_an_icd10_code_is_expected_is_not_repeated():
    """MiDAS diagnoses are codes: free text there stops, without the text in the message."""
    frame = pd.DataFrame({"LopNr": ["1", "2", "3"], "FromDatum": ["2020-01-01"] * 3,
                          "TomDatum": ["2020-01-31"] * 3, "Omfattning": ["100"] * 3,
                          "Diagnos": ["F43.2", "Anna Andersson", "F32 (850312-1234)"]})
    frame.attrs["source"] = "perioder.csv"
    out: list = []
    clean.validate_table([frame], contract.SPELL_PERIODS, out)
    assert [(v.column, v.n_rows, v.rows) for v in out] == [("Diagnos", 1, (3,)),
                                                           ("Diagnos", 1, (2,))]
    assert out[0].rule == contract.PERSONAL_RULE
    assert out[1].rule.startswith("not an ICD-10 code")
    text = " ".join(map(str, out))
    assert "Anna" not in text and "850312" not in text


def test_all_violations_reported_together(tmp_path, delivery, data_params):
    edit_csv(lisa_file, set_cell("Kon", "3"))(delivery)
    edit_csv(rand_file, set_cell("Grupp", "X"))(delivery)
    with pytest.raises(clean.ValidationError) as err:
        clean.clean_from_params(data_params, tmp_path)
    assert len(err.value.violations) == 2


def test_clean_counts_people_outside_the_study(tmp_path, delivery, data_params,
                                               synthetic_frames):
    cleaned = clean.clean_from_params(data_params, tmp_path)
    lisa = synthetic_frames["LISA"]
    in_study = lisa["LopNr"].isin(synthetic_frames["randomisering"]["LopNr"])
    assert cleaned.flow["lisa_rows_not_in_study"] == int((~in_study).sum()) > 0
    assert cleaned.flow["lisa_rows_read"] == len(cleaned.lisa) + cleaned.flow[
        "lisa_rows_not_in_study"]
    assert cleaned.flow["randomised"] == 124
    assert str(cleaned.lisa["SjukP_Ndag_MiDAS"].dtype) == "float64"
    assert str(cleaned.randomisation["RandDatum"].dtype).startswith("datetime64")


def test_unsupported_format(tmp_path):
    from rehabkoord.contract import LISA
    from rehabkoord.io import read_delivery

    p = tmp_path / "LISA2020.xlsx"
    p.write_bytes(b"PK")
    with pytest.raises(DeliveryError, match="unsupported format '.xlsx'"):
        read_delivery(p, LISA)


def test_row_positions_refer_to_the_delivered_file(tmp_path, delivery, data_params):
    f = _csv(lisa_file(delivery))
    row = f.index[f["LopNr"].isin(PARTICIPANTS)][2]
    f.loc[row, "Kon"] = "4"
    _put(f, lisa_file(delivery))
    expected = rf"unknown code \(allowed: 1, 2\): 1 row\(s\) \(rows {row + 1}\)"
    with pytest.raises(DeliveryError, match=expected):
        clean.clean_from_params(data_params, tmp_path)


def test_rows_of_other_people_are_counted_not_validated(tmp_path, delivery, data_params):
    f = _csv(lisa_file(delivery))
    other = f.index[~f["LopNr"].isin(PARTICIPANTS)][0]
    f.loc[other, "Kon"] = "4"
    _put(f, lisa_file(delivery))
    cleaned = clean.clean_from_params(data_params, tmp_path)
    assert cleaned.flow["lisa_rows_not_in_study"] > 0


def _same_as_reference(tmp_path, data_params, reference) -> clean.Cleaned:
    cleaned = clean.clean_from_params(data_params, tmp_path)
    for name in ("randomisation", "lisa", "bas"):
        pd.testing.assert_frame_equal(getattr(cleaned, name), getattr(reference, name), obj=name)
    return cleaned


def test_key_normalisation_links_padded_and_float_text_keys(tmp_path, delivery, data_params):
    """The issue-11 fault: BAS keyed as zero-padded text must link, not silently drop BAS."""
    reference = clean.clean_from_params(data_params, tmp_path)
    for f in sorted((delivery / "bas").glob("*.parquet")):
        frame = pd.read_parquet(f)
        frame["LopNr"] = frame["LopNr"].astype(str).str.zfill(10)
        frame.to_parquet(f, index=False)
    f = _csv(lisa_file(delivery))
    f["LopNr"] = f["LopNr"] + ".0"
    _put(f, lisa_file(delivery))
    cleaned = _same_as_reference(tmp_path, data_params, reference)
    assert cleaned.flow["bas_years"] == [2019, 2020, 2021]
    assert min(cleaned.flow["linkage"]["BAS"].values()) > 0.8


def test_utf16_and_comma_quoted_csv_clean_identically(tmp_path, delivery, data_params):
    reference = clean.clean_from_params(data_params, tmp_path)
    p = lisa_file(delivery)
    p.write_text(p.read_text(encoding="latin-1"), encoding="utf-16")
    q = delivery / "lisa" / "LISA2019.csv"
    _csv(q).to_csv(q, sep=",", index=False, encoding="utf-8", quoting=1)  # "8,25" quoted
    _same_as_reference(tmp_path, data_params, reference)


def test_time_zone_aware_parquet_dates(tmp_path, delivery, data_params):
    reference = clean.clean_from_params(data_params, tmp_path)
    rand = _csv(rand_file(delivery))
    dates = pd.to_datetime(rand["RandDatum"]).dt.tz_localize("Europe/Stockholm").dt.tz_convert(
        "UTC")
    rand.assign(RandDatum=dates).to_parquet(delivery / "randomisering.parquet", index=False)
    params = {**data_params, "randomisation": "randomisering.parquet"}
    cleaned = clean.clean_from_params(params, tmp_path)
    pd.testing.assert_series_equal(cleaned.randomisation["RandDatum"],
                                   reference.randomisation["RandDatum"])
    shifted = rand.assign(RandDatum=dates + pd.Timedelta(hours=5))
    shifted.to_parquet(delivery / "randomisering.parquet", index=False)
    with pytest.raises(DeliveryError, match="column 'RandDatum': has a time of day"):
        clean.clean_from_params(params, tmp_path)


def test_year_pattern_resolves_file_names_with_two_years(tmp_path, delivery, data_params):
    reference = clean.clean_from_params(data_params, tmp_path)
    for p in sorted((delivery / "lisa").glob("*.csv")):
        p.rename(p.with_name(f"{p.stem}_uttag_2024-05-02.csv"))
    params = {**data_params, "year_pattern": r"LISA(\d{4})_uttag"}
    _same_as_reference(tmp_path, params, reference)


def test_unknown_code_in_a_column_the_analysis_does_not_use_is_counted(tmp_path, delivery,
                                                                       data_params):
    """SyssStat19 in a year BAS covers is not used: an unknown code is counted, not fatal."""
    p = delivery / "lisa" / "LISA2020.csv"
    f = _csv(p)
    rows = f.index[f["LopNr"].isin(PARTICIPANTS)][:4]
    f.loc[rows, "SyssStat19"] = "6"
    _put(f, p)
    cleaned = clean.clean_from_params(data_params, tmp_path)
    assert cleaned.flow["unknown_codes_ignored"] == {"LISA.SyssStat19": {"6": 4}}
    assert cleaned.lisa["SyssStat19"].dropna().isin([1, 5]).all()


def test_one_pass_reports_contract_and_study_rules_together(tmp_path, delivery, data_params):
    edit_csv(lisa_file, set_cell("Kon", "3"))(delivery)
    edit_csv(rand_file, set_cell("RandDatum", "2016-05-01"))(delivery)
    with pytest.raises(clean.ValidationError) as err:
        clean.clean_from_params(data_params, tmp_path)
    rules = [v.rule for v in err.value.violations]
    assert any("unknown code" in r for r in rules)
    assert any("outside the randomisation period" in r for r in rules)


def test_outcome_years_after_delivery_can_be_counted_instead(tmp_path, delivery, data_params):
    (delivery / "lisa" / "LISA2021.csv").unlink()
    (delivery / "bas" / "BAS2021.parquet").unlink()
    cleaned = clean.clean_from_params({**data_params, "require_all_years": False}, tmp_path)
    assert cleaned.flow["lisa_years"][-1] == 2020


def test_check_prints_problems_and_writes_nothing(tmp_path, delivery, capsys, monkeypatch):
    import yaml

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "pyproject.toml").write_text("")  # project_root() needs both
    params = {"data": {**clean_params(), "dir": "raw"}, "cohort": {"offsets_months": [6, 12]}}
    (tmp_path / clean.DEFAULT_PARAMS).parent.mkdir(parents=True)
    (tmp_path / clean.DEFAULT_PARAMS).write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    before = sorted(p for p in tmp_path.rglob("*"))
    assert clean.main([]) == 0
    assert "fits the data contract" in capsys.readouterr().out
    edit_csv(lisa_file, set_cell("Kon", "3"))(delivery)
    assert clean.main([]) == 1
    assert "column 'Kon': unknown code" in capsys.readouterr().err
    assert sorted(p for p in tmp_path.rglob("*")) == before


def clean_params() -> dict:
    from conftest import DATA_PARAMS

    return dict(DATA_PARAMS)


def test_a_column_the_analysis_names_is_checked_with_the_delivery(tmp_path, delivery,
                                                                   data_params):
    """issue 28: `analysis.baseline_variables` naming the optional Arbetsgivare stops in the
    check, not 35 s later in analyse; derived variables (age, sex) are not delivered columns."""
    edit_csv(rand_file, lambda f: f.drop(columns="Arbetsgivare"))(delivery)
    named = {"baseline_variables": {"age_at_randomisation": "continuous", "sex": "categorical",
                                    "Arbetsgivare": "categorical"}}
    with pytest.raises(DeliveryError) as err:
        clean.clean_from_params(data_params, tmp_path, None, named)
    assert ("randomisering.csv: column 'Arbetsgivare': column missing or without a value, but "
            "analysis.baseline_variables in params.yaml names it: 124 row(s) → deliver the "
            "column (data.column_map maps another name to it), or remove Arbetsgivare from "
            "analysis.baseline_variables") in str(err.value)
    del named["baseline_variables"]["Arbetsgivare"]
    assert clean.clean_from_params(data_params, tmp_path, None, named).flow["randomised"] == 124


def _periods(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["LopNr", "FromDatum", "TomDatum"])
    for c in ("FromDatum", "TomDatum"):
        frame[c] = pd.to_datetime(frame[c])
    return frame.assign(_source="p.csv", _row=range(1, len(frame) + 1))


def test_periods_must_lie_inside_the_delivery_dates():
    periods = _periods([("1", "2012-02-01", "2012-03-01"), ("2", "2019-02-20", "2019-03-05"),
                        ("3", "2019-03-01", "2019-03-02")])
    out: list = []
    clean.check_period_dates(periods, out, "2019-02-28", "2012-01-01")
    assert [str(v) for v in out] == [
        "p.csv: column 'FromDatum': period starts after data.extraction_date (2019-02-28): 1 "
        "row(s) (rows 3) → set data.extraction_date to the day the periods were extracted, or "
        "correct the delivery",
        "p.csv: column 'TomDatum': period ends after data.extraction_date (2019-02-28): 2 "
        "row(s) (rows 2, 3) → set data.extraction_date to the day the periods were extracted, "
        "or correct the delivery"]
    out = []
    clean.check_period_dates(periods, out, "2019-12-31", "2009-01-01")
    assert len(out) == 1
    assert ("column 'FromDatum': the periods do not reach back to data.periods_from "
            "(2009-01-01): none lies in its first 90 days, the earliest starts 2012-02-01"
            ) in str(out[0])
    out = []  # a period running over periods_from covers it, as does one in its 90th day
    clean.check_period_dates(_periods([("1", "2008-06-01", "2009-01-01")]), out, None,
                             "2009-01-01")
    clean.check_period_dates(_periods([("1", "2009-03-31", "2009-04-02")]), out, None,
                             "2009-01-01")
    assert out == []
    clean.check_period_dates(_periods([("1", "2009-04-01", "2009-04-02")]), out, None,
                             "2009-01-01")
    assert len(out) == 1


def test_register_years_contiguous_and_covering_what_is_read():
    out: list = []
    clean.check_years_cover("LISA", {2011, 2013, 2014}, {2011, 2012, 2015}, "before the index "
                            "years", out, "data.lisa")
    assert [str(v) for v in out] == [
        "LISA: column 'Ar': register years not contiguous (missing: 2012) → deliver LISA for "
        "the missing years",
        "LISA: column 'Ar': years before the index years not delivered: 2012, 2015 (delivered "
        "2011–2014) → deliver LISA for these years (data.lisa)"]
    out = []
    clean.check_years_cover("BAS", {2011, 2012}, {2012}, "x", out, "data.bas")
    assert out == []


def test_birth_year_and_sex_must_agree_across_years():
    lisa = pd.DataFrame({"LopNr": ["1", "1", "2", "2", "3"], "Ar": [1, 2, 1, 2, 1],
                         "Kon": [1, 1, 2, 1, 2], "FodelseAr": [1980, 1981, 1970, 1970, 1990],
                         "_source": "LISA.parquet", "_row": [1, 2, 3, 4, 5]})
    out: list = []
    persons = clean.check_stable(lisa, ("Kon", "FodelseAr"), out)
    assert sorted(persons) == ["1", "2"]
    assert [str(v).split(" →")[0] for v in out] == [
        "LISA.parquet: column 'Kon': differs between years for the same person: 2 row(s) "
        "(rows 3, 4)",
        "LISA.parquet: column 'FodelseAr': differs between years for the same person: 2 row(s) "
        "(rows 1, 2)"]


def test_check_of_each_study_is_found_by_its_folder(tmp_path, capsys):
    params = tmp_path / "notebooks" / "nosuchstudy" / "params.yaml"
    params.parent.mkdir(parents=True)
    params.write_text("data: {}\n")
    assert clean.main(["--params", str(params)]) == 2
    assert "no delivery check for a study named 'nosuchstudy'" in capsys.readouterr().err
    assert set(clean.CHECKS) == {"uppsala", "caseload", "stockholm", "risk"}
