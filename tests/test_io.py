"""Reading deliveries: every format gives the same cleaned data; column maps; atomic writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from rehabkoord import clean, io
from rehabkoord.contract import LISA


def _write_all_formats(lisa: pd.DataFrame, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    p = out / "csv" / "LISA.csv"
    p.parent.mkdir()
    lisa.to_csv(p, sep=";", decimal=",", index=False, encoding="latin-1")
    paths["csv"] = p
    p = out / "parquet" / "LISA.parquet"
    p.parent.mkdir()
    lisa.to_parquet(p, index=False)
    paths["parquet"] = p
    p = out / "sas" / "LISA.xpt"
    p.parent.mkdir()
    pyreadstat.write_xport(lisa, str(p), file_format_version=8, table_name="LISA")
    paths["sas"] = p
    p = out / "stata" / "LISA.dta"
    p.parent.mkdir()
    lisa.to_stata(p, write_index=False, version=118)
    paths["stata"] = p
    return paths


def test_same_extract_in_every_format_cleans_identically(tmp_path, delivery, data_params,
                                                         synthetic_frames):
    lisa = synthetic_frames["LISA"]
    paths = _write_all_formats(lisa, tmp_path / "formats")
    results = {}
    for kind, path in paths.items():
        params = {**data_params, "lisa": str(path)}  # absolute paths are allowed
        results[kind] = clean.clean_from_params(params, tmp_path).lisa
    reference = results.pop("csv")
    assert len(reference) > 0
    for kind, frame in results.items():
        pd.testing.assert_frame_equal(frame, reference, obj=kind)


def test_column_mapped_lowercase_delivery(tmp_path, delivery, data_params, synthetic_frames):
    reference = clean.clean_from_params(data_params, tmp_path)
    rand = pd.read_csv(delivery / "randomisering.csv", sep=";", encoding="latin-1", dtype=str)
    rand = rand.rename(columns={"LopNr": "P1105_LopNr_PersonNr"})
    rand.columns = [c.lower() for c in rand.columns]
    rand.to_csv(delivery / "randomisering.csv", sep=",", index=False, encoding="utf-8")
    for f in sorted((delivery / "lisa").glob("*.csv")):
        part = pd.read_csv(f, sep=";", encoding="latin-1", dtype=str)
        part = part.rename(columns={"LopNr": "P1105_LopNr_PersonNr"})
        part.columns = [c.lower() for c in part.columns]
        part.to_csv(f, sep=";", index=False, encoding="latin-1")
    for f in sorted((delivery / "bas").glob("*.parquet")):
        pd.read_parquet(f).rename(columns={"LopNr": "p1105_lopnr_personnr", "BAS": "bas"}) \
            .to_parquet(f, index=False)
    mapped = clean.clean_from_params(
        {**data_params, "column_map": {"P1105_LopNr_PersonNr": "LopNr"}}, tmp_path)
    for name in ("randomisation", "lisa", "bas"):
        pd.testing.assert_frame_equal(getattr(mapped, name), getattr(reference, name), obj=name)


def test_year_from_file_name():
    assert io.year_from_filename(Path("LISA2023.csv")) == 2023
    assert io.year_from_filename(Path("lisa_2019.sas7bdat")) == 2019
    assert io.year_from_filename(Path("lisa.csv")) is None


def test_missing_year_and_no_year_in_name(tmp_path):
    p = tmp_path / "lisa.csv"
    p.write_text("LopNr;Kon\n1;1\n", encoding="utf-8")
    with pytest.raises(io.DeliveryError, match="column 'Ar': column missing and no year in the file name"):
        io.read_delivery(p, LISA)


def test_atomic_outputs_keep_old_file_on_error(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_outputs(target) as (tmp,):
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_encoding_does_not_depend_on_where_the_first_non_ascii_byte_falls(tmp_path, encoding):
    """A Swedish letter after the first 64 KiB must not flip the detected encoding."""
    rows = [f"{i};2020;1;1980;0;0;0;1;Ö" if i == 9999 else f"{i};2020;1;1980;0;0;0;1;x"
            for i in range(1, 10000)]
    p = tmp_path / "LISA2020.csv"
    p.write_bytes(("LopNr;Ar;Kon;FodelseAr;SjukP_Ndag_MiDAS;SjukErs_Ndag_MiDAS;"
                   "AktErs_Ndag_MiDAS;SyssStat19;Kommun\n" + "\n".join(rows) + "\n")
                  .encode(encoding))
    assert p.stat().st_size > 65536
    text, detected = io.decode_text(p.read_bytes(), p)
    assert detected == encoding
    assert text.rstrip().endswith("Ö")
    assert len(io.read_delivery(p, LISA)) == 9999


def test_every_pattern_must_match(tmp_path):
    (tmp_path / "LISA2019.csv").write_text("x")
    with pytest.raises(io.DeliveryError, match="lisa2020.csv: no file matches"):
        io.expand_paths([str(tmp_path / "LISA2019.csv"), str(tmp_path / "lisa2020.csv")])


def test_file_kind_is_recognised_by_content(tmp_path):
    p = tmp_path / "LISA2020.parquet"
    p.write_text("LopNr;Ar\n1;2020\n")
    with pytest.raises(io.DeliveryError, match="the file is text, not .parquet"):
        io.read_delivery(p, LISA)


@pytest.mark.parametrize("raw, shown", [
    ("CSV parse error: Expected 7 columns, got 8: 863232;Anna Andersson;19850312-1234",
     "CSV parse error: Expected 7 columns, got 8"),
    ("could not convert string to float: 'Anna Andersson'\nmore", "could not convert string to "
     "float: '…'"),
    ('bad value "Depression (Anna)" in row 3', "bad value '…' in row 3"),
    ("invalid 8503121234 here", "invalid (value withheld: it may identify a person) here"),
    ("Invalid file: bad magic number", "Invalid file: bad magic number"),
])
def test_reader_errors_lose_the_cells_they_repeat(raw, shown):
    """A reader's message can repeat a line or a cell of the file; `read_delivery` shows it
    without them (issue 26)."""
    assert io.reader_detail(ValueError(raw)) == shown


# --- header matching and Excel sheets (shared by every study) -----------------------------

CASE_NAMES = ("Enhet", "Startdatum", "Diagnos", "Sysselsattning", "Ersattning", "SGI_noll")


@pytest.mark.parametrize("delivered", ["Sysselsättning", "SYSSELSATTNING", "sysselsattning",
                                       " Syssel sättning ", "\ufeffSysselsättning"])
def test_headers_match_without_case_spaces_or_swedish_letters(delivered):
    assert io.match_columns([delivered], CASE_NAMES, {}, "f.xlsx") == {delivered:
                                                                       "Sysselsattning"}


def test_headers_match_contract_names_as_delivered_by_regions():
    """`Start datum` and `Ersättning` by themselves; `SGI 0` and `Diagnos/ICD-10` through a
    column map whose keys are compared the same way."""
    delivered = ["ENHET", "Start datum", "DIAGNOS / ICD 10", "Sysselsättning", "Ersättning",
                 "SGI 0", "Anteckning"]
    got = io.match_columns(delivered, CASE_NAMES, {"Diagnos/ICD-10": "Diagnos",
                                                   "sgi_0": "SGI_noll"}, "f.xlsx")
    assert got == dict(zip(delivered[:6], CASE_NAMES, strict=True))
    assert io.match_columns(["P1105_LopNr_PersonNr"], LISA.names,
                            {"p1105_lopnr_personnr": "LopNr"}, "f") == {
        "P1105_LopNr_PersonNr": "LopNr"}


def test_two_spellings_of_one_header_are_a_clash():
    with pytest.raises(io.ValidationError) as err:
        io.match_columns(["Start datum", "Startdatum"], CASE_NAMES, {}, "f.xlsx")
    assert ("f.xlsx: column 'Startdatum': several delivered columns become this contract column "
            "('Start datum', 'Startdatum')") in str(err.value)


def test_a_missing_column_lists_the_columns_found_and_the_nearest():
    [v] = io.missing_columns("f.xlsx", ["Ersattning"], ["ENHET", "Sysselsättning", "Ersätning",
                                                       "19850312-1234"], 12,
                             matched=["ENHET", "Sysselsättning"])
    assert str(v) == ("f.xlsx: column 'Ersattning': required column missing (columns found: "
                      "'ENHET', 'Sysselsättning', 'Ersätning'; nearest: 'Ersätning'): 12 row(s) "
                      "→ map it: data.column_map: {'Ersätning': Ersattning}")
    [v] = io.missing_columns("f.csv", ["LopNr"], ["Kon", "Ar"], 3)
    assert "nearest" not in str(v) and "(columns found: 'Kon', 'Ar')" in str(v)


def _sheet(path: Path, rows: list[list], title: str | None = None, merge: int = 3,
           sheet: str = "Blad1", book=None):
    from openpyxl import Workbook

    if book is None:
        book = Workbook()
        ws = book.active
    else:
        ws = book.create_sheet()
    ws.title = sheet
    if title is not None:
        ws.append([title])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=merge)
        ws.append([])
    for row in rows:
        ws.append(row)
    book.save(path)
    return book


def test_excel_header_is_found_under_a_merged_title(tmp_path):
    import datetime

    path = tmp_path / "lista.xlsx"
    _sheet(path, [["ENHET", "Start datum", "Antal"], ["Hagfors", datetime.datetime(2023, 2, 1),
                                                      2.0], ["Torsby", "2023-03-04", 15]],
           title="Ärendelista 2023")
    table = io.read_excel_table(path, ["Enhet", "Startdatum"])
    assert table.header_row == 3 and table.sheet is None
    assert list(table.frame.columns) == ["ENHET", "Start datum", "Antal"]
    assert table.frame.to_dict("list") == {"ENHET": ["Hagfors", "Torsby"],
                                           "Start datum": ["2023-02-01", "2023-03-04"],
                                           "Antal": ["2", "15"]}
    assert list(table.frame.index) == [4, 5]  # rows as Excel numbers them
    assert table.note == ("header taken from row 3, under 2 title row(s) skipped (set "
                          "data.header_row to choose another row)")
    chosen = io.read_excel_table(path, ["Enhet"], header_row=1)
    assert list(chosen.frame.columns) == ["Ärendelista 2023"] and "data.header_row says" in \
        chosen.note
    with pytest.raises(io.ValidationError, match="data.header_row is 9 but the sheet has 5 row"):
        io.read_excel_table(path, ["Enhet"], header_row=9)


def test_excel_sheet_is_chosen_by_name_and_never_listed(tmp_path):
    path = tmp_path / "lista.xlsx"
    book = _sheet(path, [["Enhet"], ["Hagfors"]])
    _sheet(path, [["Enhet"], ["Torsby"], ["Arvika"]], sheet="Anna Andersson", book=book)
    with pytest.raises(io.ValidationError) as err:
        io.read_excel_table(path, ["Enhet"])
    assert "a sheet must be chosen among the workbook's 2 sheets" in str(err.value)
    assert "Anna" not in str(err.value) and "data.sheet" in str(err.value)
    assert len(io.read_excel_table(path, ["Enhet"], sheet="Anna Andersson").frame) == 2
    with pytest.raises(io.ValidationError, match="no sheet 'Ärenden' among"):
        io.read_excel_table(path, ["Enhet"], sheet="Ärenden")
    text = tmp_path / "text.xlsx"
    text.write_text("Enhet\nHagfors\n")
    with pytest.raises(io.ValidationError, match="the file is text, not an Excel workbook"):
        io.read_excel_table(text, ["Enhet"])


def test_a_contract_table_delivered_as_excel(tmp_path):
    """Any study's table from a sheet: title skipped, headers matched, only contract columns,
    and what a missing-column message needs kept with the frame."""
    from rehabkoord.contract import RANDOMISATION

    path = tmp_path / "randomisering.xlsx"
    _sheet(path, [["LOPNR", "grupp", "Rand datum", "Anteckning"], [863232, "Intervention",
                                                                   "2018-03-01", ""]],
           title="Randomiseringslista")
    frame, mapping = io.read_excel_delivery(path, RANDOMISATION, {"Rand datum":
                                                                        "RandDatum"})
    assert mapping == {"LOPNR": "LopNr", "grupp": "Grupp", "Rand datum": "RandDatum"}
    assert frame.to_dict("list") == {"LOPNR": ["863232"], "grupp": ["Intervention"],
                                     "Rand datum": ["2018-03-01"]}
    assert frame.attrs["columns_found"][-1] == "Anteckning"
    assert frame.attrs["header_note"].startswith("header taken from row 3")


def test_windows_1252_is_decided_on_the_whole_file_and_never_read_as_latin_1(tmp_path):
    """Excel's Windows "CSV" writes – and ’ as 0x96 and 0x92: read as Latin-1 they become
    control characters in a printed name; a byte that is a control character in Latin-1 and
    undefined in Windows-1252 stops."""
    rows = [f"{i};VC {i}" for i in range(1, 5000)] + ["5000;Vårdcentralen Ek – Öst’s"]
    raw = ("LopNr;Vardcentral\n" + "\n".join(rows) + "\n").encode("cp1252")
    assert b"\x96" in raw and raw.index(b"\x96") > 65536 // 2
    text, detected = io.decode_text(raw, tmp_path / "x.csv")
    assert detected == "windows-1252"
    assert text.rstrip().endswith("Vårdcentralen Ek – Öst’s")
    assert not any("\x80" <= ch <= "\x9f" for ch in text)
    assert io.decode_text("Vårdcentralen Ö\n".encode("latin-1"), tmp_path / "x.csv")[1] == \
        "latin-1"
    with pytest.raises(io.ValidationError, match=r"neither UTF-8 nor Windows-1252.*0x81"):
        io.decode_text(b"LopNr;Namn\n1;\xe5\x81\n", tmp_path / "x.csv")


def test_data_dir_is_absolute_or_relative_to_the_root(tmp_path):
    assert io.data_dir({"dir": "data/raw/x"}, tmp_path) == tmp_path / "data/raw/x"
    assert io.data_dir({"dir": "/srv/scb/leverans"}, tmp_path) == Path("/srv/scb/leverans")
    assert io.data_patterns({"dir": "/srv/scb", "lisa": ["LISA*.csv", "extra/*.csv"]},
                            tmp_path, "lisa") == ["/srv/scb/LISA*.csv", "/srv/scb/extra/*.csv"]


def test_a_statistic_the_data_do_not_allow_is_a_message_naming_where_and_what_to_change():
    import numpy as np

    with pytest.raises(io.DeliveryError) as err, io.stage_step("stockholm", "analyse",
                                                                 "the log-rank test", "data.dir"):
        raise np.linalg.LinAlgError("Singular matrix")
    assert str(err.value) == ("stockholm, stage analyse: the log-rank test could not be computed "
                              "on these data: Singular matrix → data.dir")
    with pytest.raises(io.DeliveryError, match="^already a message$"), \
            io.stage_step("risk", "fit", "the fit", "x"):
        raise io.DeliveryError("already a message")
    with pytest.raises(KeyError), io.stage_step("risk", "fit", "the fit", "x"):
        raise KeyError("a bug stays a bug")
