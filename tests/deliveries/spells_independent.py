"""An independent MiDAS-like delivery for the spell study, written the way a region and
Försäkringskassan might deliver it, and the truth it was built from.

It shares no code with `rehabkoord.studies.stockholm.synth` (nor imports rehabkoord at all):
each person's sick leave is laid out period by period, so the index spell, its end and the
return are known by construction, not derived. What the study must cope with:

- three CSV files in other spellings: participants UTF-8 with a BOM and semicolons, lower- and
  upper-case headers, `IndexDatum` as YYYYMMDD text; MiDAS periods in two comma-separated
  files (a list of globs), the person key under MiDAS's own name
  (`P1105_LopNr_PersonNr`, mapped by `data.column_map`) with leading zeros, degree as
  `SJP_OMFATTNING` (mapped), diagnoses as `F43.8`, `F438` or `f43.8`; the population file
  tab-separated, Latin-1, with `Kon` and `FodelseAr` (no LISA, no BAS);
- periods joined across up to 4 free days and split by 5 (the law's boundary, both sides);
- index spells ongoing at the index date, starting 1–14 days after it, and none;
- deaths and emigrations during follow-up (periods end with them), emigrations before the
  index date (ignored), the extraction date capping periods still running;
- no 'both' diagnoses and no participant with more than 90 net days in the year before: two
  empty levels of the adjusted model, as in issue 28's delivery;
- register rows of people outside the study (counted, not kept).

`write(out_dir)` writes the files and returns the `data:` parameters that read them and the
truth: one row per participant with `analysed`, `Returned` and `ReturnDays` as the study
defines them (days from the index date to the first day without sick leave, censored at the
first of 12 months, death, emigration after the index date and the extraction date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

EXTRACTION = date(2017, 9, 30)
CENTRES = {"Vårdcentralen Åsen": ("Koordinator", "Norr"),
           "VC Björkhagen": ("Koordinator", "Söder"),
           "Hälsocentralen Ekbacken": ("Koordinator", "Norr"),
           "Vårdcentralen Dalen": ("Kontroll", "Söder"),
           "VC Fjällbo": ("Kontroll", "Norr"),
           "Vårdcentralen Gärdet": ("Kontroll", "Söder")}
DIAGNOSES = {"mental": ["F43.8", "F438", "f43.8", "F32.1", "F41.1", "F43.2"],
             "pain": ["M54.5", "M545", "M79.7", "M75.1"],
             "other": ["S82.0", "J45.9", "I10"]}
DEGREES = (100, 100, 100, 75, 50, 25)


@dataclass(frozen=True)
class Period:
    key: int
    start: date
    end: date  # inclusive
    degree: int
    code: str


def _plus_months(day: date, months: int) -> date:
    """A calendar month later, the day capped at the month's last (31 Jan + 1 = 28/29 Feb)."""
    return (pd.Timestamp(day) + pd.DateOffset(months=months)).date()


def _person(rng: np.random.Generator, key: int, index: date, group: str
            ) -> tuple[list[Period], dict]:
    """One participant's periods and truth."""
    kind = rng.choice(["ongoing", "after", "none"], p=[0.88, 0.08, 0.04])
    diagnosis = str(rng.choice(["mental", "pain", "other"], p=[0.55, 0.3, 0.15]))
    code = str(rng.choice(DIAGNOSES[diagnosis]))
    periods: list[Period] = []
    if kind == "none":
        end = index - timedelta(days=int(rng.integers(20, 200)))
        periods.append(Period(key, end - timedelta(days=int(rng.integers(10, 40))), end, 100,
                              code))
        return periods, {"kind": kind, "end": None, "died": None, "emigrated": None}
    start = (index - timedelta(days=int(rng.integers(0, 61))) if kind == "ongoing"
             else index + timedelta(days=int(rng.integers(1, 15))))
    already = max((index - start).days, 0)  # an ongoing spell lasts at least to the index date
    length = already + 1 + int(rng.exponential(80 if group == "Koordinator" else 130))
    pieces = int(rng.integers(1, 4))
    cuts = sorted(rng.choice(np.arange(1, length), size=min(pieces - 1, length - 1),
                             replace=False).tolist()) if length > 1 else []
    bounds = [0, *cuts, length]
    day = start
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        end = day + timedelta(days=b - a - 1)
        periods.append(Period(key, day, end, int(rng.choice(DEGREES)), code))
        free = 4 if rng.random() < 0.15 else int(rng.integers(0, 4))  # joined: < 5 free days
        day = end + timedelta(days=1 + free)
    spell_end = periods[-1].end
    if rng.random() < 0.5:  # a later spell after 5 free days (the boundary) or more
        free = 5 if rng.random() < 0.2 else int(rng.integers(6, 200))
        s = spell_end + timedelta(days=1 + free)
        periods.append(Period(key, s, s + timedelta(days=int(rng.integers(5, 60))), 100, code))
    if rng.random() < 0.3:  # an earlier spell: at most 40 net days, ≥ 30 days before
        e = start - timedelta(days=int(rng.integers(30, 300)))
        periods.insert(0, Period(key, e - timedelta(days=int(rng.integers(5, 41)) - 1), e, 100,
                                 code))
    died = emigrated = None
    u = rng.random()
    if u < 0.03:
        died = index + timedelta(days=int(rng.integers(30, 300)))
    elif u < 0.06:
        emigrated = index + timedelta(days=int(rng.integers(30, 300)))
    elif u < 0.08:
        emigrated = index - timedelta(days=int(rng.integers(1, 400)))  # before: ignored
    stop = min(d for d in (died, emigrated if emigrated and emigrated > index else None,
                           EXTRACTION) if d is not None)
    kept = []
    for p in periods:
        if p.start >= stop:
            continue
        kept.append(Period(p.key, p.start, min(p.end, stop - timedelta(days=1)), p.degree,
                           p.code))
    true_end = min(spell_end, stop - timedelta(days=1))
    return kept, {"kind": kind, "end": true_end, "died": died, "emigrated": emigrated}


def _truth(index: date, facts: dict) -> dict:
    if facts["kind"] == "none":
        return {"analysed": False, "Returned": np.nan, "ReturnDays": np.nan}
    ends = [_plus_months(index, 12), EXTRACTION]
    if facts["died"] is not None:
        ends.append(facts["died"])
    if facts["emigrated"] is not None and facts["emigrated"] > index:
        ends.append(facts["emigrated"])
    follow_end = min(ends)
    back = facts["end"] + timedelta(days=1)
    returned = back < follow_end
    return {"analysed": True, "Returned": int(returned),
            "ReturnDays": ((back if returned else follow_end) - index).days}


def _csv_date(day: date | None, compact: bool) -> str:
    if day is None:
        return ""
    return day.strftime("%Y%m%d" if compact else "%Y-%m-%d")


def write(out_dir: Path, n: int = 300, seed: int = 2028) -> tuple[dict, pd.DataFrame]:
    """Write the delivery into `out_dir`; return its `data:` parameters (with the absolute
    `dir`) and the truth per participant (LopNr, Grupp, Vardcentral, analysed, Returned,
    ReturnDays)."""
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(CENTRES)
    people, periods, truth = [], [], []
    keys = rng.choice(np.arange(10_000, 99_999), size=n + 40, replace=False)
    for i, key in enumerate(int(k) for k in keys[:n]):
        centre = names[i % len(names)]
        group, area = CENTRES[centre]
        index = date(2015, 1, 5) + timedelta(days=int(rng.integers(0, 540)))
        own, facts = _person(rng, key, index, group)
        periods += own
        born = int(rng.integers(1962, 1989))
        people.append({"key": key, "group": group, "centre": centre, "area": area,
                       "index": index, "visits": int(rng.poisson(6)), "sex": int(rng.integers(1, 3)),
                       "born": born, "died": facts["died"], "emigrated": facts["emigrated"]})
        truth.append({"LopNr": str(key), "Grupp": group, "Vardcentral": centre,
                      **_truth(index, facts)})
    outsiders = [int(k) for k in keys[n:]]
    for key in outsiders:  # register rows of people outside the study
        s = date(2014, 1, 1) + timedelta(days=int(rng.integers(0, 900)))
        periods.append(Period(key, s, s + timedelta(days=int(rng.integers(5, 90))), 100,
                              "F43.8"))

    part = pd.DataFrame({"lopnr": [p["key"] for p in people],
                         "GRUPP": [p["group"] for p in people],
                         "vardcentral": [p["centre"] for p in people],
                         "Omrade": [p["area"] for p in people],
                         "INDEXDATUM": [_csv_date(p["index"], True) for p in people],
                         "vardbesokforear": [p["visits"] for p in people]})
    part.to_csv(out_dir / "deltagare_region.csv", sep=";", index=False, encoding="utf-8-sig")

    midas = pd.DataFrame({"P1105_LopNr_PersonNr": [f"{p.key:08d}" for p in periods],
                          "FromDatum": [_csv_date(p.start, False) for p in periods],
                          "TOMDATUM": [_csv_date(p.end, False) for p in periods],
                          "SJP_OMFATTNING": [p.degree for p in periods],
                          "diagnos": [p.code for p in periods]})
    year = pd.to_datetime(midas["FromDatum"]).dt.year
    (out_dir / "midas").mkdir(exist_ok=True)
    midas[year < 2015].to_csv(out_dir / "midas" / "perioder_tidiga.csv", index=False)
    midas[year >= 2015].to_csv(out_dir / "midas" / "perioder_sena.csv", index=False)

    pop = pd.DataFrame({"LOPNR": [p["key"] for p in people] + outsiders,
                        "Kon": [p["sex"] for p in people] + [1] * len(outsiders),
                        "FodelseAr": [p["born"] for p in people] + [1970] * len(outsiders),
                        "DodDatum": [_csv_date(p["died"], True) for p in people]
                        + [""] * len(outsiders),
                        "UtvandringDatum": [_csv_date(p["emigrated"], False) for p in people]
                        + [""] * len(outsiders)})
    pop.to_csv(out_dir / "befolkning.txt", sep="\t", index=False, encoding="latin-1")

    params = {"dir": str(out_dir.resolve()), "participants": "deltagare_region.csv",
              "periods": ["midas/perioder_tidiga.csv", "midas/perioder_sena.csv"],
              "population": "befolkning.txt", "lisa": None, "bas": None,
              "column_map": {"P1105_LopNr_PersonNr": "LopNr", "SJP_OMFATTNING": "Omfattning"},
              "year_pattern": None, "extraction_date": EXTRACTION.isoformat()}
    return params, pd.DataFrame(truth)
