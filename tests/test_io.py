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
