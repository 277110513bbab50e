"""The caseload study: reading case lists, mapping diagnoses, counting per site and period.

The fixture is the Värmland project report's two sites (Hagfors, Torsby; mid-February to May
2020) as published: its counts are reproduced exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rehabkoord.disclosure import Rules
from rehabkoord.io import ValidationError
from rehabkoord.studies import caseload

ROOT = Path(__file__).resolve().parents[3]
MAPPING = ROOT / "notebooks" / "caseload" / "diagnosgrupper.csv"
SITES = ["Hagfors", "Torsby"]
PERIODS = {"2020-02-15–2020-05-31": ["2020-02-15", "2020-05-31"]}


def _rows(site, diagnoses, occupations, start="2020-03-02"):
    assert len(diagnoses) == len(occupations)
    return [{"Enhet": site, "Startdatum": start, "Diagnos": d, "Sysselsattning": o,
             "Ersattning": "annan ersättning", "SGI_noll": "Nej"}
            for d, o in zip(diagnoses, occupations, strict=True)]


def varmland() -> pd.DataFrame:
    """Hagfors: 12 contacts (Utmattning 8, ADD/ADHD 2, PTSD 1, Asperger 1; 6 arbetslösa,
    2 lönebidrag 25 %, 4 anställda). Torsby: 9 contacts with nine diagnoses (4 anställda,
    1 arbetsförberedande insats, 4 arbetslösa). Everyone on some benefit, nobody SGI 0."""
    hagfors = _rows("Hagfors", ["Utmattning"] * 8 + ["ADD/ADHD"] * 2
                    + ["PTSD", "Aspberger"],
                    ["arbetslös"] * 6 + ["Lönebidrag 25 %"] * 2 + ["anställd"] * 4)
    torsby = _rows("Torsby", ["Utmattning", "Medelsvår depression", "Anpassningsstörning", "ADHD",
                              "Tvång", "Autism", "Paniksyndrom", "Opioider beroende syndrom",
                              "Ångestsyndrom"],
                   ["anställd"] * 4 + ["arbetsförberedande insats"] + ["arbetslös"] * 4,
                   start="2020-04-14")
    frame = pd.DataFrame(hagfors + torsby)
    frame.insert(0, "KontaktId", [f"V{i:02d}" for i in range(len(frame))])
    return frame


@pytest.fixture()
def varmland_xlsx(tmp_path) -> Path:
    path = tmp_path / "arenden.xlsx"
    varmland().to_excel(path, index=False, sheet_name="Ärenden")
    return path


def _table(contacts, dimension):
    t = caseload.counts(contacts, dimension)
    return {(r.enhet, r.kategori): r.antal for r in t.itertuples() if r.antal}


def test_varmland_report_is_reproduced_exactly(varmland_xlsx):
    cases = caseload.read_case_list(varmland_xlsx, sites=SITES,
                                    mapping=caseload.read_mapping(MAPPING))
    contacts, outside = caseload.assign_periods(cases.contacts, PERIODS)
    assert outside == 0
    assert contacts.groupby("enhet").size().to_dict() == {"Hagfors": 12, "Torsby": 9}
    diag = _table(contacts, "diagnos")
    assert {k[1]: n for k, n in diag.items() if k[0] == "Hagfors"} == {
        "Utmattningssyndrom": 8, "ADHD": 2, "PTSD": 1, "Autismspektrumtillstånd": 1}
    torsby = {k[1]: n for k, n in diag.items() if k[0] == "Torsby"}
    assert len(torsby) == 9 and set(torsby.values()) == {1}
    occ = _table(contacts, "sysselsattning")
    assert {k[1]: n for k, n in occ.items() if k[0] == "Hagfors"} == {
        "arbetslös": 6, "lönebidrag 25 %": 2, "anställd": 4}
    assert {k[1]: n for k, n in occ.items() if k[0] == "Torsby"} == {
        "anställd": 4, "arbetsförberedande insats": 1, "arbetslös": 4}
    assert _table(contacts, "sgi_noll") == {("Hagfors", "SGI över 0"): 12,
                                            ("Torsby", "SGI över 0"): 9}
    assert "ingen" not in set(contacts["ersattning"])


def test_icd10_codes_are_normalised_and_grouped_by_longest_prefix():
    assert caseload.normalise_icd10("f43.8") == caseload.normalise_icd10("F438") == "F43.8"
    assert caseload.normalise_icd10("Utmattning") is None
    mapped = caseload.map_diagnosis(pd.Series(["F43.8", "f438", "F41.0", "F41.1", "F32.1"]),
                                    caseload.read_mapping(MAPPING))
    assert list(mapped["diagnos"]) == ["Utmattningssyndrom", "Utmattningssyndrom",
                                       "Paniksyndrom", "Ångestsyndrom", "Depression"]


def test_bad_case_list_names_sheet_row_and_column(tmp_path):
    frame = varmland()
    frame.loc[0, "Enhet"] = "Kil"
    frame.loc[1, "Startdatum"] = "2020-02-30"
    frame.loc[2, "Diagnos"] = "Trötthet"
    frame = pd.concat([frame, frame.iloc[[5]]])
    path = tmp_path / "arenden.xlsx"
    frame.to_excel(path, index=False, sheet_name="Ärenden")
    with pytest.raises(ValidationError) as err:
        caseload.read_case_list(path, sites=SITES, mapping=caseload.read_mapping(MAPPING))
    text = str(err.value)
    assert "arenden.xlsx: column 'Enhet': unknown site (1 text(s) withheld" in text
    assert ("column 'Startdatum': cannot be read as a date (YYYY-MM-DD, YYYYMMDD or an "
            "Excel date): 1 row(s) (rows 3)") in text
    assert ("column 'Diagnos': maps to no diagnosis group (1 text(s) withheld: they may "
            "identify a person): 1 row(s) (rows 4) → add the diagnosis (as text or ICD-10 "
            "code) to diagnosgrupper.csv") in text
    assert "column 'KontaktId': duplicated contact: 1 row(s) (rows 23)" in text
    assert "Kil" not in text and "Trötthet" not in text and "Ärenden" not in text


PERSON = "Anna Andersson 19850312-1234"


def _assert_no_person(text: str) -> None:
    for part in ("Anna", "Andersson", "19850312", "850312", "1234"):
        assert part not in text


def test_unmapped_diagnosis_holding_a_person_is_not_repeated(tmp_path):
    """Issue 26: a free-text diagnosis with a name and a personnummer stopped the run with a
    message quoting it (terminal, executed notebook). The message names file, column, rows and
    the mapping table to extend, and holds neither the name nor any of the digits."""
    frame = varmland()
    frame.loc[3, "Diagnos"] = "Anna Andersson"
    frame.loc[4, "Diagnos"] = f"Depression ({PERSON})"
    frame.loc[6, "Diagnos"] = "F99"
    path = tmp_path / "arenden.csv"
    frame.to_csv(path, sep=";", index=False)
    with pytest.raises(ValidationError) as err:
        caseload.read_case_list(path, sites=SITES, mapping=caseload.read_mapping(MAPPING))
    text = str(err.value)
    _assert_no_person(text)
    assert ("arenden.csv: column 'Diagnos': looks like a personnummer or samordningsnummer "
            "(value withheld: it may identify a person): 1 row(s) (rows 6)") in text
    assert ("arenden.csv: column 'Diagnos': maps to no diagnosis group ('F99'; 1 text(s) "
            "withheld: they may identify a person): 2 row(s) (rows 5, 8) → add the diagnosis "
            "(as text or ICD-10 code) to diagnosgrupper.csv") in text


def test_unknown_site_is_named_only_when_code_like(tmp_path):
    frame = varmland()
    frame.loc[0, "Enhet"] = "VC9"
    frame.loc[1, "Enhet"] = "Andersson"
    frame.loc[2, "Enhet"] = "8503121234"
    path = tmp_path / "arenden.csv"
    frame.to_csv(path, sep=";", index=False)
    with pytest.raises(ValidationError) as err:
        caseload.read_case_list(path, sites=SITES, mapping=caseload.read_mapping(MAPPING))
    text = str(err.value)
    assert "column 'Enhet': unknown site ('VC9'; 1 text(s) withheld" in text
    assert "column 'Enhet': looks like a personnummer" in text
    assert "Andersson" not in text and "850312" not in text


def test_sheet_names_of_the_workbook_are_not_shown(tmp_path):
    """A sheet may be named after a patient: asking which sheet to read does not list them."""
    path = tmp_path / "arenden.xlsx"
    with pd.ExcelWriter(path) as writer:
        varmland().to_excel(writer, index=False, sheet_name="Ärenden")
        varmland().to_excel(writer, index=False, sheet_name="Anna Andersson")
    with pytest.raises(ValidationError) as err:
        caseload.read_case_list(path, sites=SITES, mapping=caseload.read_mapping(MAPPING))
    assert "the workbook's 2 sheets" in str(err.value) and "Anna" not in str(err.value)
    cases = caseload.read_case_list(path, sites=SITES, mapping=caseload.read_mapping(MAPPING),
                                    sheet="Ärenden")
    assert cases.sheet == "Ärenden" and len(cases.contacts) == 21


def test_printed_labels_come_from_the_studys_lists(varmland_xlsx):
    """Every category the summary prints is a site of params, a group of the mapping table,
    an occupation, a benefit or an SGI label of the module, never a delivered cell."""
    mapping = caseload.read_mapping(MAPPING)
    cases = caseload.read_case_list(varmland_xlsx, sites=SITES, mapping=mapping)
    contacts, _ = caseload.assign_periods(cases.contacts, PERIODS)
    pub = caseload.publish(caseload.all_counts(contacts), Rules(3))
    allowed = {"diagnosgrupp": set(mapping["diagnosgrupp"]), "ersattning": set(caseload.BENEFITS),
               "sgi_noll": {"SGI 0", "SGI över 0"}, "total": {caseload.TOTAL}}
    for table in pub.tables.values():
        assert set(table.columns) <= {*SITES, caseload.ALL_SITES}
        for dimension, category in table.index:
            if dimension == "sysselsattning":
                assert category in caseload.OCCUPATIONS or \
                    re.fullmatch(r"lönebidrag \d{1,3} %", category)
            else:
                assert category in allowed[dimension]
    assert cases.sheet is None  # the workbook's only sheet, not named in the summary


def test_synthetic_case_list_reads_back():
    frame = caseload.synthetic_case_list(1, ["A", "B"], "2023-01-01", "2023-12-31", 30)
    assert frame["KontaktId"].is_unique and len(frame) > 30


@pytest.mark.parametrize("mark_small", [True, False])
def test_varmland_publication_hides_small_counts_and_cannot_be_undone(varmland_xlsx, mark_small):
    """Published: totals 12 and 9; every count 1–2 withheld; the LP audit finds every withheld
    count's interval at least as wide as the rule asks (what an attacker could narrow it to)."""
    cases = caseload.read_case_list(varmland_xlsx, sites=SITES,
                                    mapping=caseload.read_mapping(MAPPING))
    contacts, _ = caseload.assign_periods(cases.contacts, PERIODS)
    rules = Rules(3, mark_small=mark_small)
    pub = caseload.publish(caseload.all_counts(contacts), rules)
    table = pub.tables["2020-02-15–2020-05-31"]
    assert table.loc[("total", "Antal kontakter"), "Hagfors"] == "12"
    assert table.loc[("total", "Antal kontakter"), "Torsby"] == "9"
    shown = [t for t in table.to_numpy().ravel() if t not in ("×", "<3")]
    assert all(int(t) == 0 or int(t) >= 3 for t in shown)
    assert table.loc[("sysselsattning", "arbetslös"), "Hagfors"] == "6"
    assert pub.intervals and all(iv.protected for iv in pub.intervals)
    listed = " ".join(caseload.withheld_list(pub))
    assert ("litet antal" in listed) == mark_small


def test_synthetic_workbook_is_the_same_bytes_every_time(tmp_path):
    """DVC hashes the workbook: the same list must give the same bytes, whenever written."""
    frame = caseload.synthetic_case_list(3, SITES, "2023-01-01", "2023-12-31", 10)
    caseload.write_case_list(frame, tmp_path / "a.xlsx")
    caseload.write_case_list(frame, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    cases = caseload.read_case_list(tmp_path / "a.xlsx", sites=SITES,
                                    mapping=caseload.read_mapping(MAPPING))
    assert len(cases.contacts) == len(frame)


def _params_file(tmp_path: Path, list_name: str, periods: dict, sites=SITES) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"dir": str(tmp_path), "case_list": list_name, "sheet": None,
                 "header_row": None, "column_map": {}},
        "caseload": {"mapping": str(MAPPING), "sites": list(sites), "periods": periods}},
        allow_unicode=True), encoding="utf-8")
    return path


def test_check_prints_every_problem_in_one_pass_and_writes_nothing(tmp_path, capsys):
    """`make check-data STUDY=caseload`: the parameters' problems and the list's together,
    exit status 1; a list that fits prints its flow, exit status 0; no file is written."""
    frame = varmland()
    frame.loc[0, "Enhet"] = "VC9"
    frame.to_csv(tmp_path / "arenden.csv", sep=";", index=False)
    before = sorted(tmp_path.iterdir())
    bad = _params_file(tmp_path, "arenden.csv", {"a": ["2020-06-30", "2020-01-01"]})
    assert caseload.check(bad) == 1
    out = capsys.readouterr().err  # the problems on stderr: `make report` discards stdout
    assert "caseload: the case list" in out and "does not fit the study" in out
    assert "caseload.periods': period 'a' ends before it starts" in out
    assert "column 'Enhet': unknown site ('VC9'" in out
    frame.loc[0, "Enhet"] = "hagfors "  # case and spaces do not matter
    frame.to_csv(tmp_path / "arenden.csv", sep=";", index=False)
    good = _params_file(tmp_path, "arenden.csv", PERIODS)
    assert caseload.check(yaml.safe_load(good.read_text(encoding="utf-8"))) == 0
    out = capsys.readouterr().out
    assert '"contacts_in_periods": 21' in out
    assert sorted(tmp_path.iterdir()) == sorted({*before, bad, good})


def test_no_contact_in_any_period_stops_with_the_parameter_to_change(tmp_path, capsys):
    """Issue 28: periods matching no contact wrote 0 contacts and the report died with
    KeyError 'period'."""
    varmland().to_csv(tmp_path / "arenden.csv", sep=";", index=False)
    path = _params_file(tmp_path, "arenden.csv", {"2023": ["2023-01-01", "2023-12-31"]})
    assert caseload.check(path) == 1
    out = capsys.readouterr().err
    assert ("arenden.csv: column 'Startdatum': no contact starts in any period of "
            "caseload.periods (contacts start 2020-03 to 2020-04): 21 row(s) → change "
            "caseload.periods in params.yaml") in out


def test_csv_list_with_a_title_line_and_trailing_delimiters(tmp_path):
    """A CSV saved from Excel: a title line, the region's headers, empty trailing columns."""
    frame = varmland()
    frame.columns = ["kontakt id", "ENHET", "Start datum", "Diagnos/ICD-10", "Sysselsättning", "Ersättning",
                     "SGI 0"]
    text = "Ärenden 2020;;;;;;;\n" + frame.assign(a="", b="").to_csv(sep=";", index=False)
    (tmp_path / "arenden.csv").write_text(text.replace(";a;b\n", ";;\n", 1), encoding="cp1252")
    cases = caseload.read_case_list(tmp_path / "arenden.csv", sites=SITES,
                                    mapping=caseload.read_mapping(MAPPING),
                                    column_map={"SGI 0": "SGI_noll", "diagnos/icd-10": "Diagnos"})
    assert cases.header_row == 2 and len(cases.contacts) == 21


def test_varmland_summary_rounded_cannot_be_undone(varmland_xlsx):
    """`report.protection: round`: every printed count a multiple of 5 (totals 12 and 9 print
    10 and 10), 1–4 as "<5"; the attacker's LP (tests/attacker.Model, scipy) over the
    summary's relations, reading each printed count as the values that round to it, narrows
    no small count below 1–4."""
    from attacker import Model

    from rehabkoord import disclosure

    cases = caseload.read_case_list(varmland_xlsx, sites=SITES,
                                    mapping=caseload.read_mapping(MAPPING))
    contacts, _ = caseload.assign_periods(cases.contacts, PERIODS)
    rules = Rules(3, method="round")
    pub = caseload.publish(caseload.all_counts(contacts), rules)
    table = pub.tables["2020-02-15–2020-05-31"]
    assert table.loc[("total", "Antal kontakter"), "Hagfors"] == "10"
    assert table.loc[("total", "Antal kontakter"), "Torsby"] == "10"
    assert all(t in ("<5", disclosure.SUPPRESSED) or int(t) % 5 == 0 for t in table.to_numpy().ravel())
    withheld = dict(pub.withheld)
    cells = [{"key": list(k), "published": None if k in withheld else rules.printed(v),
              "mark": (("<5" if withheld[k] == disclosure.SMALL else disclosure.SUPPRESSED)
                       if k in withheld else "")}
             for k, v in pub.structure.values.items()]
    reader = Model(cells)
    for total, parts in pub.structure.relations:
        reader.equal(total, list(parts))
    bounds = reader.bounds(5, zeros=False, base=5)
    small = [k for k, v in pub.structure.values.items() if 0 < v < 5]
    assert small
    for k in small:
        low, high = reader.interval(k, bounds, [])
        assert high - low >= 3 - 1e-9, (k, low, high)
    assert "Alla antal avrundas" in caseload.summary_text(
        {"caseload": {"periods": PERIODS, "mapping": str(MAPPING)}},
        {"source": "x.xlsx", "contacts_read": 21, "contacts_in_periods": 21,
         "contacts_outside_periods": 0}, pub)
