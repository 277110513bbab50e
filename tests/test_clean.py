"""Validation rules and the bad-input corpus: each broken delivery gives a clear error naming
file, column, rule and rows, and leaves earlier outputs untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from rehabkoord import clean
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
    f["LopNr"] = [f"X{i:05d}" for i in range(len(f))]
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


CORPUS = {
    "truncated_file": (truncate, "missing value"),
    "wrong_delimiter": (lambda d: lisa_file(d).write_text(
        lisa_file(d).read_text(encoding="latin-1").replace(";", "|"), encoding="latin-1"),
        "no delimiter found"),
    "wrong_encoding_utf16": (lambda d: lisa_file(d).write_text(
        lisa_file(d).read_text(encoding="latin-1"), encoding="utf-16"), "LISA2018.csv"),
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
                           "outside the study period"),
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
    "corrupt_parquet": (lambda d: (d / "bas" / "BAS2019.parquet").write_bytes(b"not parquet"),
                        "cannot be read as .parquet"),
    "inconsistent_birth_year": (inconsistent_birth_year, "differs between years"),
    "no_employment_status": (edit_csv(lisa_file, lambda f: f.drop(columns="SyssStat11")),
                             "SyssStat19 or SyssStat11"),
}


def _hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_delivery_is_rejected_and_outputs_untouched(case, tmp_path, delivery, data_params):
    out = tmp_path / "interim"
    clean.write_interim(clean.clean_from_params(data_params, tmp_path), out)
    before = _hashes(out)
    mutate, message = CORPUS[case]
    mutate(delivery)
    with pytest.raises(DeliveryError) as err:
        clean.write_interim(clean.clean_from_params(data_params, tmp_path), out)
    assert message in str(err.value)
    assert _hashes(out) == before


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 20


def test_error_never_shows_person_keys(tmp_path, delivery, data_params):
    rand = _csv(rand_file(delivery))
    CORPUS["other_study_no_overlap"][0](delivery)
    with pytest.raises(DeliveryError) as err:
        clean.clean_from_params(data_params, tmp_path)
    assert not any(k in str(err.value) for k in rand["LopNr"])
    assert "rows 1, 2, 3, 4, 5, …" in str(err.value)


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
