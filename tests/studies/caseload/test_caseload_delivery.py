"""The caseload study on a list written outside the project (`caseload_delivery`): end to end by
parameters only, every published count against an independent count; a bad-delivery corpus
(each case's expected message) and a fuzz test, with counts by class."""

from __future__ import annotations

import csv
import datetime
import json
import random
from collections import Counter
from pathlib import Path

import caseload_delivery as region
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from pipeline_helpers import copy_project, dvc, set_params

from rehabkoord import texts
from rehabkoord.io import DeliveryError
from rehabkoord.studies import caseload

ROOT = Path(__file__).resolve().parents[3]
MAPPING = str(ROOT / "notebooks" / "caseload" / "diagnosgrupper.csv")
N = 160


def params(folder: Path, name: str = "arenden_region.xlsx", **data) -> dict:
    """What a user sets for the region's list: the rest are the study's defaults."""
    return {"data": {"dir": str(folder), "case_list": name, "sheet": None, "header_row": None,
                     "column_map": dict(region.COLUMN_MAP), **data},
            "caseload": {"mapping": MAPPING, "sites": sorted(region.SITES),
                         "periods": dict(region.PERIODS)}}


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return region.contacts(seed=2028, n=N)


def _accounted(summary: caseload.Summary, rows_below_header: int) -> bool:
    """Every row below the header is a blank row or a contact; every contact is in a period
    or outside all; every dimension's counts add up to the contacts in periods."""
    f = summary.flow
    per_dim = summary.table.groupby("dimension")["antal"].sum()
    return (f["contacts_read"] + f["blank_rows"] == rows_below_header
            and f["contacts_in_periods"] + f["contacts_outside_periods"] == f["contacts_read"]
            and (per_dim == f["contacts_in_periods"]).all())


def test_region_list_reads_by_parameters_alone(tmp_path, truth):
    region.write_workbook(truth, tmp_path / "arenden_region.xlsx")
    summary = caseload.summarise(params(tmp_path), ROOT)
    assert summary.flow["header_row"] == 2 and summary.flow["blank_rows"] == 1
    assert summary.flow["contacts_read"] == N
    assert _accounted(summary, N + 1)
    expected = region.independent_counts(truth, region.PERIODS)
    got = {(r.period, r.enhet, r.dimension, r.kategori): r.antal
           for r in summary.table.itertuples() if r.dimension != "diagnos"}
    assert {k: v for k, v in got.items() if v} == {
        k: v for k, v in expected.items() if v and k[1] != "all" and k[2] != "total"}


def _published(path: Path, period: str) -> dict:
    """(site, dimension, category as printed) -> the cell's text, from a published table's CSV:
    a caption line naming the period when there is one, then a dimension and a category
    column, or one label column with a heading row per dimension."""
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    if len(rows[0]) == 1:
        assert period in rows[0][0], (path.name, rows[0][0])
        rows = rows[1:]
    headings = texts.glossary(caseload.STUDY, "rubriker", "sv")
    dimensions = {label: dim for dim, label in headings["dimensions"].items()}
    dimensions.update({caseload.ALL_SITES: caseload.ALL_SITES, caseload.TOTAL: caseload.TOTAL})
    sites = [*sorted(region.SITES), caseload.ALL_SITES]
    stub = rows[0].index(sites[0])
    assert rows[0][stub:] == sites
    out, dim = {}, None
    for row in rows[1:]:
        if len(row) == 1:  # the legend line under the table ("Teckenförklaring: × …")
            assert row[0].startswith(("Teckenförklaring", "Symbols")), row
            continue
        if stub == 2:
            dim, label = dimensions[row[0]], row[1]
        elif not any(row[1:]):
            dim = dimensions[row[0]]
            continue
        else:
            label = row[0]
            dim = "total" if label == caseload.TOTAL else dim
        out.update({(site, dim, label): text for site, text in zip(sites, row[stub:],
                                                                    strict=True)})
    return out


@pytest.mark.slow
def test_region_list_end_to_end_by_parameters(tmp_path_factory, truth):
    """`dvc repro` of the caseload study in a copy of the project, pointed at the list by an
    absolute data.dir, data.column_map and the study's periods only: nothing synthetic runs,
    every row is accounted for, and every count the published tables show (reports/caseload/
    tables/*.csv) equals the independent count."""
    folder = tmp_path_factory.mktemp("region")
    region.write_workbook(truth, folder / "arenden_region.xlsx")
    project = copy_project(tmp_path_factory.mktemp("caseload_project"))
    p = params(folder)
    set_params(project, of="caseload", data=p["data"],
               caseload={"sites": p["caseload"]["sites"], "periods": p["caseload"]["periods"]})
    done = dvc("repro", "notebooks/caseload/dvc.yaml:report", cwd=project)
    assert "synthesize" not in done.stdout
    flow = json.loads((project / "data/processed/caseload/flow.json").read_text())
    inside = sum(region.independent_counts(truth, {k: v})[(k, "all", "total", "Antal kontakter")]
                 for k, v in region.PERIODS.items())
    assert flow["contacts_read"] == N and flow["blank_rows"] == 1 and flow["header_row"] == 2
    assert (flow["contacts_in_periods"], flow["contacts_outside_periods"]) == (inside, N - inside)
    expected = region.independent_counts(truth, region.PERIODS)
    labels = {(dim, cat[:1].upper() + cat[1:]): cat for _, _, dim, cat in expected}
    tables = sorted((project / "reports/caseload/tables").glob("*.csv"))
    assert len(tables) == len(region.PERIODS)
    shown = 0
    for period, path in zip(region.PERIODS, tables, strict=True):  # in params' order
        for (site, dim, label), text in _published(path, period).items():
            if text in (caseload.SUPPRESSED, "<3"):
                continue
            key = (period, "all" if site == caseload.ALL_SITES else site, dim,
                   labels.get((dim, label), label))
            assert int(text) == expected.get(key, 0), (path.name, key)
            shown += 1
    assert shown > 40


# --- the bad-delivery corpus --------------------------------------------------------------

def _edit(truth: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    out = truth.copy()
    out[column] = out[column].astype(object)
    out.loc[row, column] = value
    return out


def _workbook(folder: Path, frame: pd.DataFrame, **kw) -> Path:
    return region.write_workbook(frame, folder / "arenden_region.xlsx", **kw)


def _two_sheets(folder: Path, frame: pd.DataFrame) -> None:
    path = _workbook(folder, frame)
    book = load_workbook(path)
    book.create_sheet("Anna Andersson").append(["x"])
    book.save(path)


def _csv_list(folder: Path, frame: pd.DataFrame) -> None:
    with (folder / "arenden_region.csv").open("w", encoding="cp1252", newline="") as fh:
        out = csv.writer(fh, delimiter=";")
        out.writerow(["Ärendelista 2023"])
        out.writerow(region.HEADER)
        for i, row in enumerate(frame[region.CELLS].itertuples(index=False)):
            if i == 10:
                out.writerow([])
            cells = list(row)
            if isinstance(cells[1], datetime.datetime):
                cells[1] = cells[1].date().isoformat()
            out.writerow(cells)


def _text_named_xlsx(folder: Path, frame: pd.DataFrame) -> None:
    (folder / "arenden_region.xlsx").write_text("ENHET;Start datum\nHagfors;2023-01-02\n")


def _empty_sheet(folder: Path, frame: pd.DataFrame) -> None:
    book = Workbook()
    book.active.append(["Ärendelista 2023"])
    book.save(folder / "arenden_region.xlsx")


HEADER = region.HEADER
#: name -> (how to write the list, parameter changes, expected message or None when accepted)
CORPUS = {
    "title row above the header": (lambda d, t: _workbook(d, t), {}, None),
    "no title row": (lambda d, t: _workbook(d, t, title=None), {}, None),
    "headers in other letter case": (lambda d, t: _workbook(d, t, header=[
        "enhet", "START DATUM", "diagnos/icd-10", "SYSSELSATTNING", "ersättning", "sgi 0"]), {},
        None),
    "header set by data.header_row": (lambda d, t: _workbook(d, t), {"header_row": 2}, None),
    "CSV in Windows-1252 with a title line": (_csv_list, {"case_list": "arenden_region.csv"},
                                              None),
    "period without contacts": (lambda d, t: _workbook(d, t), {"periods": {
        **region.PERIODS, "2025": ["2025-01-01", "2025-06-30"]}}, None),
    "a column missing": (lambda d, t: _workbook(d, t, header=[*HEADER[:4], "Övrigt", HEADER[5]]),
                         {}, "column 'Ersattning': required column missing (columns found: "
                         "'ENHET', 'Start datum', 'Diagnos/ICD-10', 'Sysselsättning', 'Övrigt', "
                         "'SGI 0'); header taken from row 2, under 1 title row(s) skipped"),
    "a misspelt header": (lambda d, t: _workbook(d, t, header=[*HEADER[:4], "Ersätning",
                                                               HEADER[5]]), {},
                          "nearest: 'Ersätning')"),
    "column_map left out": (lambda d, t: _workbook(d, t), {"column_map": {}},
                            "column 'Diagnos': required column missing"),
    "header_row pointing at the title": (lambda d, t: _workbook(d, t), {"header_row": 1},
                                         "column 'Enhet': required column missing (columns "
                                         "found: 'Ärendelista rehabiliteringskoordinator 2023')"),
    "header_row past the sheet": (lambda d, t: _workbook(d, t), {"header_row": 999},
                                  "data.header_row is 999 but the sheet has"),
    "a header and no contacts": (lambda d, t: _workbook(d, t.iloc[:0]), {},
                                 "arenden_region.xlsx: no contact below the header (row 2) → "
                                 "check data.case_list, data.sheet and data.header_row"),
    "only a title, no header": (_empty_sheet, {}, "column 'Enhet': required column missing"),
    "two sheets, none chosen": (_two_sheets, {}, "a sheet must be chosen among the workbook's "
                                "2 sheets"),
    "a sheet that is not there": (_two_sheets, {"sheet": "Ärenden"}, "no sheet 'Ärenden'"),
    "text named .xlsx": (_text_named_xlsx, {}, "the file is text, not an Excel workbook"),
    "no such file": (lambda d, t: None, {}, "no such file → check data.dir and data.case_list"),
    "two headers for one column": (lambda d, t: _workbook(d, t.assign(extra=t["cell_date"]),
                                                          header=[*HEADER, "Startdatum"]), {},
                                   "several delivered columns become this contract column "
                                   "('Start datum', 'Startdatum')"),
    "a header twice": (lambda d, t: _workbook(d, t.assign(extra=t["cell_site"]),
                                              header=[*HEADER, "ENHET"]), {},
                       "the header names this column more than once"),
    "unknown site, code-like": (lambda d, t: _workbook(d, _edit(t, 3, "cell_site", "VC9")), {},
                                "column 'Enhet': unknown site ('VC9'; known: Arvika, Hagfors, "
                                "Karlstad, Torsby): 1 row(s) (rows 6)"),
    "unknown site, a name": (lambda d, t: _workbook(d, _edit(t, 3, "cell_site", "Hagfors VC")),
                             {}, "unknown site (1 text(s) withheld: they may identify a person; "
                             "near known: Hagfors"),
    "lönebidrag 150 %": (lambda d, t: _workbook(d, _edit(t, 0, "cell_occupation",
                                                         "lönebidrag 150 %")), {},
                         "column 'Sysselsattning': lönebidrag percentage outside 1–100 % ('150')"
                         ": 1 row(s) (rows 3)"),
    "lönebidrag without percentage": (lambda d, t: _workbook(
        d, _edit(t, 0, "cell_occupation", "Lönebidrag")), {}, "unknown occupation (1 text(s) "
        "withheld: they may identify a person; known: anställd, arbetslös"),
    "unknown benefit": (lambda d, t: _workbook(d, _edit(t, 20, "cell_benefit", "sjukpeng")), {},
                        "column 'Ersattning': unknown benefit"),
    "SGI neither Ja nor Nej": (lambda d, t: _workbook(d, _edit(t, 20, "cell_sgi", "kanske")), {},
                               "column 'SGI_noll': must be Ja or Nej: 1 row(s) (rows 24)"),
    "impossible date": (lambda d, t: _workbook(d, _edit(t, 1, "cell_date", "2023-02-30")), {},
                        "column 'Startdatum': cannot be read as a date"),
    "day-first date": (lambda d, t: _workbook(d, _edit(t, 1, "cell_date", "05/03/2023")), {},
                       "column 'Startdatum': cannot be read as a date"),
    "free-text diagnosis": (lambda d, t: _workbook(d, _edit(t, 2, "cell_diagnosis", "Ryggvärk")),
                            {}, "column 'Diagnos': maps to no diagnosis group (1 text(s) withheld"),
    "personnummer in a cell": (lambda d, t: _workbook(
        d, _edit(t, 2, "cell_diagnosis", "F43.8 19850312-1234")), {},
        "column 'Diagnos': looks like a personnummer or samordningsnummer"),
    "a repeated row": (lambda d, t: _workbook(d, pd.concat([t, t.iloc[[7]]], ignore_index=True)),
                       {}, "duplicated contact: 1 row(s)"),
    "no contact in any period": (lambda d, t: _workbook(d, t), {"periods": {
        "2019": ["2019-01-01", "2019-12-31"]}}, "no contact starts in any period of "
        "caseload.periods (contacts start 2022-11 to 2024-01): 160 row(s) → change "
        "caseload.periods"),
    "overlapping periods": (lambda d, t: _workbook(d, t), {"periods": {
        "a": ["2023-01-01", "2023-06-30"], "b": ["2023-06-01", "2023-12-31"]}},
        "periods 'a' and 'b' overlap"),
    "period ending before it starts": (lambda d, t: _workbook(d, t), {"periods": {
        "a": ["2023-06-30", "2023-01-01"]}}, "period 'a' ends before it starts"),
}


def _run_case(folder: Path, truth: pd.DataFrame, write, changes: dict
              ) -> tuple[str, str]:
    """(class, message): 'stopped' with the contract message, 'cleaned' with every row
    accounted for, or 'other' (any other exception, or a clean run that loses a row)."""
    write(folder, truth)
    p = params(folder)
    for key, value in changes.items():
        (p["caseload"] if key == "periods" else p["data"])[key] = value
    rows = len(truth) + 1  # every writer adds one blank row
    try:
        summary = caseload.summarise(p, ROOT)
    except DeliveryError as err:
        return "stopped", str(err)
    except Exception as err:  # noqa: BLE001 — what the corpus exists to find
        return "other", f"{type(err).__name__}: {err}"
    if not _accounted(summary, rows):
        return "other", f"rows not accounted for: {summary.flow}"
    return "cleaned", str(summary.flow)


def test_bad_delivery_corpus(tmp_path, truth, capsys):
    """Each case stops with its own message or is rightly accepted with every row accounted
    for; nothing else. Prints the counts by class."""
    classes = Counter()
    for i, (name, (write, changes, expected)) in enumerate(CORPUS.items()):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        kind, message = _run_case(folder, truth, write, changes)
        classes[kind] += 1
        if expected is None:
            assert kind == "cleaned", f"{name}: {message}"
        else:
            assert kind == "stopped" and expected in message, f"{name}: {message}"
        assert "Anna" not in message and "850312" not in message and "Ryggvärk" not in message
    with capsys.disabled():
        print(f"\ncaseload corpus: {dict(classes)} of {len(CORPUS)}")
    assert classes["other"] == 0


def test_a_period_without_contacts_is_kept_as_zeros(tmp_path, truth):
    region.write_workbook(truth, tmp_path / "arenden_region.xlsx")
    p = params(tmp_path)
    p["caseload"]["periods"]["2025"] = ["2025-01-01", "2025-06-30"]
    summary = caseload.summarise(p, ROOT)
    assert summary.flow["empty_periods"] == ["2025"]
    empty = summary.table[summary.table["period"] == "2025"]
    assert len(empty) and (empty["antal"] == 0).all()
    pub = caseload.publish(summary.table, caseload.Rules(3))
    assert pub.tables["2025"].loc[("total", caseload.TOTAL), caseload.ALL_SITES] == "0"


# --- fuzz --------------------------------------------------------------------------------

JUNK = ["", "abc", "NA", "-1", "1e9", "ö", "lönebidrag 150 %", "2023-13-01", "Ja ja", "F99.9",
        "0", "#REF!"]


def _fuzz_case(rng: random.Random, truth: pd.DataFrame) -> tuple[pd.DataFrame, dict, bool]:
    """A random corruption: (cells to write, workbook options, whether a cell was spoiled)."""
    frame, options, spoiled = truth.copy(), {}, False
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["cell", "cell", "header_case", "header_space", "drop_column",
                           "swap_columns", "no_title", "repeat_row", "blank_row"])
        header = options.get("header", list(region.HEADER))
        if kind == "cell":
            col = rng.choice(region.CELLS)
            frame[col] = frame[col].astype(object)
            frame.loc[rng.randrange(len(frame)), col] = rng.choice(JUNK)
            spoiled = True
        elif kind == "header_case":
            i = rng.randrange(len(header))
            header[i] = header[i].upper() if rng.random() < 0.5 else header[i].lower()
        elif kind == "header_space":
            i = rng.randrange(len(header))
            header[i] = f" {header[i].replace(' ', '_')} "
        elif kind == "drop_column":
            i = rng.randrange(len(header))
            header[i] = f"Kolumn{i}"
        elif kind == "swap_columns":
            i, j = rng.sample(range(len(header)), 2)
            header[i], header[j] = header[j], header[i]
            a, b = region.CELLS[i], region.CELLS[j]
            frame[[a, b]] = frame[[b, a]].to_numpy()
        elif kind == "no_title":
            options["title"] = None
        elif kind == "repeat_row":
            frame = pd.concat([frame, frame.iloc[[rng.randrange(len(frame))]]], ignore_index=True)
            spoiled = True
        else:
            options["blank_after"] = rng.randrange(len(frame))
        options["header"] = header
    return frame.reset_index(drop=True), options, spoiled


def test_fuzzed_lists_stop_with_a_message_or_clean_with_every_row(tmp_path, truth, capsys):
    """200 random corruptions of the region's list (cells, headers, columns, rows): each stops
    with a contract message or cleans with every row accounted for; a spoiled cell or a
    repeated row never cleans."""
    rng = random.Random(20261207)
    small = truth.iloc[:40].reset_index(drop=True)
    classes = Counter()
    for i in range(200):
        frame, options, spoiled = _fuzz_case(rng, small)
        folder = tmp_path / f"f{i}"
        folder.mkdir()
        kind, message = _run_case(folder, frame, lambda d, t, o=options: _workbook(d, t, **o),
                                  {})
        classes[kind] += 1
        assert kind != "other", f"case {i} ({options}): {message}"
        if spoiled and kind == "cleaned":
            raise AssertionError(f"case {i}: a spoiled list was accepted: {message}")
    with capsys.disabled():
        print(f"\ncaseload fuzz: {dict(classes)} of 200")
