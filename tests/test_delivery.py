"""The shared delivery layer: declared sources read alike in every study, optional ones left
out with their key, diagnosis codes counted against the mapping, the mapping's parameter named
when it cannot be read."""

from __future__ import annotations

import pandas as pd
import pytest

from rehabkoord import delivery, spells
from rehabkoord.contract import BAS, PARTICIPANTS, POPULATION
from rehabkoord.io import ValidationError

SOURCES = (delivery.Source("participants", PARTICIPANTS, own=True),
           delivery.Source("population", POPULATION),
           delivery.Source("bas", BAS, when_missing="no employment"))


def _write(folder, name, frame):
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / name, sep=";", index=False)


@pytest.fixture()
def files(tmp_path):
    raw = tmp_path / "leverans"
    _write(raw, "deltagare.csv", pd.DataFrame({
        "lopnr": ["1", "2"], "Grupp": ["Koordinator", "Kontroll"], "Vardcentral": ["VC1", "VC2"],
        "Omrade": ["A", "B"], "IndexDatum": ["2015-03-01", "2016-05-01"]}))
    _write(raw, "befolkning.csv", pd.DataFrame({
        "LopNr": ["1", "2", "3"], "DodDatum": ["", "", "2016-01-01"], "Kon": ["1", "2", "1"],
        "FodelseAr": ["1970", "1980", "1990"]}))
    _write(raw / "bas", "BAS_2014.csv", pd.DataFrame({"LopNr": ["1", "2", "9"],
                                                      "BAS": ["1", "3", "2"]}))
    return tmp_path, {"dir": str(raw), "participants": "deltagare.csv",
                      "population": "befolkning.csv", "bas": "bas/BAS_*.csv"}


def test_sources_read_alike_with_an_absolute_dir(files):
    root, params = files
    out: list = []
    tables, flow = delivery.read_sources(SOURCES, params, "/elsewhere", out)
    assert out == []
    assert list(tables["participants"]["LopNr"]) == ["1", "2"]  # 'lopnr' matched as LopNr
    assert flow["population"] == {"rows_read": 3, "rows_not_in_study": 1, "rows_kept": 2,
                                  "complete": True}
    assert flow["bas"] == {"rows_read": 3, "rows_not_in_study": 1, "rows_kept": 2,
                           "complete": True, "years": [2014]}
    assert list(tables["population"]["FodelseAr"]) == [1970, 1980]


def test_year_pattern_is_passed_on_for_every_yearly_source(files):
    root, params = files
    (root / "leverans" / "bas" / "BAS_2014.csv").rename(root / "leverans" / "bas" /
                                                       "BAS_2014_uttag2024.csv")
    out: list = []
    delivery.read_sources(SOURCES, params, root, out)
    assert "the file name holds more than one year (2014, 2024)" in str(out[0])
    out = []
    _, flow = delivery.read_sources(SOURCES, {**params, "year_pattern": r"BAS_(\d{4})"}, root,
                                    out)
    assert out == [] and flow["bas"]["years"] == [2014]


def test_optional_source_left_out_and_required_one_named(files):
    root, params = files
    out: list = []
    tables, flow = delivery.read_sources(SOURCES, {**params, "bas": None}, root, out)
    assert out == [] and "bas" not in tables and "bas" not in flow
    delivery.read_sources(SOURCES, {k: v for k, v in params.items() if k != "population"},
                          root, out)
    assert [str(v) for v in out] == ["params.yaml: column 'data.population': required delivery "
                                     "(befolkning) not set → set data.population to its file(s)"]


def test_diagnosis_codes_are_counted_against_the_mapping():
    """By hand: F43.8 and f438 are one code under F43; M54.5 under M54; G35 and S52.5 match
    no prefix; F32.2 maps (to 'other' explicitly); missing codes are not counted."""
    codes = pd.Series(["F43.8", "f438", "M54.5", "G35", "G35", "S52.5", "F32.2", None])
    counts = delivery.diagnosis_counts(codes, spells.DEFAULT_MAPPING)
    assert counts == {"rows": 7, "codes": 5, "rows_unmapped": 3, "codes_unmapped": 2,
                      "unmapped_most_frequent": {"G35": 2, "S525": 1}}


def test_mapping_parameter_is_named_when_it_cannot_be_read(tmp_path):
    assert delivery.read_mapping_param({"mapping": None}, tmp_path) is None
    with pytest.raises(ValidationError, match="no such file → check derivation.mapping"):
        delivery.read_mapping_param({"mapping": "saknas.csv"}, tmp_path)
    (tmp_path / "m.csv").write_text("prefix,group\nF43,psykisk\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="not a diagnosis table .*unknown group"):
        delivery.read_mapping_param({"mapping": "m.csv"}, tmp_path)
    (tmp_path / "m.csv").write_text("prefix,group\nF43,mental\n", encoding="utf-8")
    assert list(delivery.read_mapping_param({"mapping": str(tmp_path / "m.csv")}, "/x")
                ["prefix"]) == ["F43"]
