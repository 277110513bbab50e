"""An independent case list as a region delivers it, for the caseload study's delivery tests.

It shares no code with `caseload.synthetic_case_list` or `write_case_list`: the workbook is
written cell by cell with openpyxl, with a merged title row above the header, the region's
own headers (``ENHET``, ``Start datum``, ``Diagnos/ICD-10``, ``Sysselsättning``,
``Ersättning``, ``SGI 0``), other spellings of every category, Excel dates and dates as text,
a blank row, and contacts outside the periods. Each row's true category is kept beside it
(`truth`), chosen by hand from the published diagnosis table, so the summary's counts can be
checked against an independent count.
"""

from __future__ import annotations

import datetime
import random
from pathlib import Path

import pandas as pd
from openpyxl import Workbook

SITES = {"Hagfors": ["HAGFORS", "Hagfors", "hagfors "], "Torsby": ["Torsby", " TORSBY"],
         "Arvika": ["Arvika", "ARVIKA"], "Karlstad": ["Karlstad", "karlstad"]}
ANXIETY = "Ångest-, stress- och anpassningssyndrom (F40–F48)"
MOOD = "Förstämningssyndrom (F30–F39)"
NEURO = "Neuropsykiatriska tillstånd (F84, F90)"
ADDICTION = "Beroende (F10–F19)"
#: (as written in the list, its group in notebooks/caseload/diagnosgrupper.csv)
DIAGNOSES = [("F43.8", ANXIETY), ("f438", ANXIETY), ("utmattning", ANXIETY),
             ("UTMATTNINGSSYNDROM", ANXIETY), ("F41.0", ANXIETY), ("PTSD", ANXIETY),
             ("F32.1", MOOD), ("f33", MOOD), ("Medelsvår depression", MOOD),
             ("ADHD", NEURO), ("F90.0", NEURO), ("F84.5", NEURO), ("Asperger", NEURO),
             ("F11.2", ADDICTION)]
OCCUPATIONS = [("Anställd", "anställd"), ("ANSTÄLLD", "anställd"), ("arbetslös", "arbetslös"),
               ("Arbetslös ", "arbetslös"), ("Lönebidrag 50%", "lönebidrag 50 %"),
               ("lönebidrag  75 %", "lönebidrag 75 %"), ("LÖNEBIDRAG 100 %", "lönebidrag 100 %"),
               ("Arbetsförberedande  insats", "arbetsförberedande insats"),
               ("Studerande", "studerande")]
BENEFITS = [("Sjukpenning", "sjukpenning"), ("SJUKPENNING", "sjukpenning"),
            ("Aktivitetsersättning", "aktivitetsersättning"),
            ("sjukersättning", "sjukersättning"), ("Ekonomiskt bistånd", "ekonomiskt bistånd"),
            ("Annan ersättning", "annan ersättning"), ("Ingen", "ingen")]
SGI = [("Nej", "SGI över 0"), ("nej", "SGI över 0"), ("NEJ", "SGI över 0"), ("Ja", "SGI 0"),
       ("JA", "SGI 0")]
HEADER = ["ENHET", "Start datum", "Diagnos/ICD-10", "Sysselsättning", "Ersättning", "SGI 0"]
#: What a user sets for this list (besides data.dir, data.case_list and caseload.periods).
COLUMN_MAP = {"SGI 0": "SGI_noll", "Diagnos/ICD-10": "Diagnos"}
PERIODS = {"2023 vår": ["2023-01-01", "2023-06-30"], "2023 höst": ["2023-07-01", "2023-12-31"]}


def _date_cell(day: datetime.date, rng: random.Random) -> object:
    """An Excel date mostly; some typed as text, ISO or without dashes."""
    r = rng.random()
    if r < 0.7:
        return datetime.datetime(day.year, day.month, day.day)
    return day.isoformat() if r < 0.85 else day.strftime("%Y%m%d")


def contacts(seed: int, n: int) -> pd.DataFrame:
    """`n` distinct contacts: the cells as written (`cell_*`) and the truth (the rest)."""
    rng = random.Random(seed)
    first = datetime.date(2022, 11, 1)
    rows, seen = [], set()
    while len(rows) < n:
        site = rng.choice(sorted(SITES))
        day = first + datetime.timedelta(days=rng.randrange(0, 456))  # to 2024-01-30
        diag, group = rng.choice(DIAGNOSES)
        occ, occupation = rng.choice(OCCUPATIONS)
        ben, benefit = rng.choice(BENEFITS)
        sgi_cell, sgi = rng.choice(SGI)
        key = (site, day, diag.upper().replace(".", ""), occupation, benefit, sgi)
        if key in seen:  # a repeated contact is a delivery error, not what this list tests
            continue
        seen.add(key)
        rows.append({"cell_site": rng.choice(SITES[site]), "cell_date": _date_cell(day, rng),
                     "cell_diagnosis": diag, "cell_occupation": occ, "cell_benefit": ben,
                     "cell_sgi": sgi_cell, "enhet": site, "startdatum": day,
                     "diagnosgrupp": group, "sysselsattning": occupation,
                     "ersattning": benefit, "sgi_noll": sgi})
    return pd.DataFrame(rows)


CELLS = ["cell_site", "cell_date", "cell_diagnosis", "cell_occupation", "cell_benefit",
         "cell_sgi"]


def write_workbook(truth: pd.DataFrame, path: Path, title: str | None = "Ärendelista "
                   "rehabiliteringskoordinator 2023", header: list[str] | None = None,
                   blank_after: int | None = 10, sheet: str = "Blad1") -> Path:
    """The list as an .xlsx: an optional merged title over the header's width, the header,
    one row per contact and a blank row after `blank_after` contacts."""
    book = Workbook()
    ws = book.active
    ws.title = sheet
    header = header or HEADER
    if title is not None:
        ws.append([title])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    ws.append(header)
    for i, row in enumerate(truth[CELLS].itertuples(index=False)):
        if blank_after is not None and i == blank_after:
            ws.append([])
        ws.append(list(row))
    book.save(path)
    return path


def independent_counts(truth: pd.DataFrame, periods: dict) -> dict:
    """(period, site or "all", dimension, category) -> contacts, counted here from the truth;
    ("total") per site and period as well."""
    out: dict = {}
    for name, (first, last) in periods.items():
        inside = truth[(truth["startdatum"] >= datetime.date.fromisoformat(first))
                       & (truth["startdatum"] <= datetime.date.fromisoformat(last))]
        for site in [*sorted(SITES), "all"]:
            part = inside if site == "all" else inside[inside["enhet"] == site]
            out[(name, site, "total", "Antal kontakter")] = len(part)
            for dim in ("diagnosgrupp", "sysselsattning", "ersattning", "sgi_noll"):
                for cat, n in part[dim].value_counts().items():
                    out[(name, site, dim, cat)] = int(n)
    return out
