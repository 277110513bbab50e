"""The caseload study: reading case lists, mapping diagnoses, counting per site and period.

The fixture is the Värmland project report's two sites (Hagfors, Torsby; mid-February to May
2020) as published: its counts are reproduced exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

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
    assert "arenden.xlsx, sheet 'Ärenden': column 'Enhet': unknown site" in text
    assert "column 'Startdatum': cannot be read as a date (YYYY-MM-DD): 1 row(s) (rows 3)" in text
    assert "column 'Diagnos': maps to no diagnosis group ('Trötthet'): 1 row(s) (rows 4)" in text
    assert "column 'KontaktId': duplicated contact: 1 row(s) (rows 23)" in text


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
    shown = [t for t in table.to_numpy().ravel() if t not in ("–", "<3")]
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
