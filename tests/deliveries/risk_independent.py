"""An independent register delivery for the risk study (MiDAS periods, yearly LISA files, BAS,
care visit days and the population register as CSV), and the truth it was built from.

It shares no code with `rehabkoord.studies.risk.synth` (nor imports rehabkoord at all). Each
person's first new spell in the index years, the history before it and the registers of the
year before are laid out so that every predictor is known by construction: prior sick leave
lies wholly inside the 12 months before the spell (30–320 days) or wholly between 400 and
1000 days before it, care visits 10–330 days before it (and some outside the window), income
and main activity in every year. The outcome (the spell lasting more than 90 days) follows a
logistic model; every spell ends before the extraction date, so none is censored.

Other spellings the study must read: yearly LISA files whose names hold two years
(`lisa_2011_uttag2019.csv`, read with `data.year_pattern`), lower-case headers, the person key
under MiDAS's name with leading zeros (`data.column_map`), degree as `SJP_OMFATTNING`, the
visit date as `Besoksdatum` in YYYYMMDD, diagnoses as `F43.8`, `F438` or `f43.8`. No prior
sick leave has another diagnosis group than the new spell, so no spell is 'both': an empty
level of the model, as a small delivery may have.

`write(out_dir)` writes the files and returns the `data:` parameters and the truth: one row
per person with the model's predictors as the study defines them (`age`, `sex`,
`diagnosis_group`, `prior_netdays_1y`, `prior_netdays_3y`, `prior_spells`, `care_visits`,
`employment`, `income_group`), `index_year` and `long_sickleave`.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

EXTRACTION = date(2019, 2, 28)
FIRST, LAST = date(2012, 1, 1), date(2018, 10, 31)
CODES = {"mental": ["F43.8", "F438", "f43.8", "F32.1", "F41.1"],
         "pain": ["M54.5", "M545", "M79.7"], "other": ["S82.0", "J45.9", "I10"]}
BAS_EMPLOYMENT = {1: "sysselsatt", 2: "arbetslos", 3: "studerande", 5: "ovrig", 4: "ovrig"}
#: The truth's log-odds (independent of the study's synthetic truth).
TRUE = {"Intercept": -2.2, "age": 0.015, "kvinna": 0.2, "mental": 0.8, "pain": 0.5,
        "prior": 0.006, "visits": 0.05, "arbetslos": 0.6, "studerande": -0.4, "ovrig": 0.5,
        "lag": 0.3, "hog": -0.3}


def _d(day: date, compact: bool = False) -> str:
    return day.strftime("%Y%m%d" if compact else "%Y-%m-%d")


def write(out_dir: Path, n: int = 2500, seed: int = 4711) -> tuple[dict, pd.DataFrame]:
    """Write the delivery into `out_dir`; return its `data:` parameters (absolute `dir`) and
    the truth per person."""
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = rng.choice(np.arange(100_000, 999_999), size=n, replace=False)
    years = list(range(2009, 2019))
    periods, visits, lisa, bas, truth = [], [], [], [], []
    span = (LAST - FIRST).days
    for key in (int(k) for k in keys):
        sex = int(rng.integers(1, 3))
        born = int(rng.integers(1955, 1993))
        start = FIRST + timedelta(days=int(rng.integers(0, span + 1)))
        group = str(rng.choice(["mental", "pain", "other"], p=[0.45, 0.3, 0.25]))
        code = str(rng.choice(CODES[group]))
        prior1 = prior3 = spells = 0
        # earlier sick leave must start before the index years (else it is the new spell)
        if start < date(2012, 10, 1) and rng.random() < 0.7:
            end = start - timedelta(days=int(rng.integers(30, 41)))
            s = end - timedelta(days=int(rng.integers(1, 281)) - 1)
            if s < FIRST:  # inside the 12 months before (≥ start − 320 days)
                periods.append((key, s, end, 100, code))
                prior1 += (end - s).days + 1
                spells += 1
        if start < date(2014, 9, 1) and rng.random() < 0.5:
            s = start - timedelta(days=int(rng.integers(800, 1001)))
            e = min(s + timedelta(days=int(rng.integers(5, 400))), start - timedelta(days=400),
                    date(2011, 12, 20))
            degree = int(rng.choice([100, 50]))
            if s <= e and s >= date(2009, 1, 1):
                periods.append((key, s, e, degree, code))  # half time: quarter days stay exact
                prior3 += degree / 100 * ((e - s).days + 1)
                spells += 1
        prior3 += prior1
        if start >= date(2013, 1, 1) and rng.random() < 0.05:  # long before any window
            s = date(2009, 1, 1) + timedelta(days=int(rng.integers(0, 80)))
            periods.append((key, s, s + timedelta(days=9), 100, code))
        n_visits = int(rng.poisson(4))
        days = sorted(set(int(v) for v in rng.integers(10, 331, n_visits)))
        visits += [(key, start - timedelta(days=v)) for v in days]
        visits += [(key, start - timedelta(days=int(rng.integers(400, 700))))]  # outside
        incomes = {y: float(np.round(rng.lognormal(7.8, 0.6), 1)) for y in years}
        codes = {y: int(rng.choice([1, 1, 1, 1, 2, 3, 5])) for y in years}
        lisa += [(key, y, sex, born, incomes[y]) for y in years]
        bas += [(key, y, codes[y]) for y in years]
        truth.append({"LopNr": str(key), "spell_start": start, "index_year": start.year,
                      "age": start.year - born, "sex": "kvinna" if sex == 2 else "man",
                      "diagnosis_group": group, "prior_netdays_1y": float(prior1),
                      "prior_netdays_3y": float(prior3), "prior_spells": spells,
                      "care_visits": len(days),
                      "employment": BAS_EMPLOYMENT[codes[start.year - 1]],
                      "income": incomes[start.year - 1], "code": code})
    t = pd.DataFrame(truth)
    medians = pd.DataFrame(lisa, columns=["k", "y", "s", "b", "inc"]).groupby("y")["inc"].median()
    ratio = t["income"] / t["index_year"].sub(1).map(medians)
    t["income_group"] = np.where(ratio < 0.6, "lag", np.where(ratio > 2.0, "hog", "mellan"))
    lp = (TRUE["Intercept"] + TRUE["age"] * t["age"] + TRUE["kvinna"] * (t["sex"] == "kvinna")
          + TRUE["mental"] * (t["diagnosis_group"] == "mental")
          + TRUE["pain"] * (t["diagnosis_group"] == "pain")
          + TRUE["prior"] * t["prior_netdays_3y"] + TRUE["visits"] * t["care_visits"]
          + sum(TRUE[e] * (t["employment"] == e) for e in ("arbetslos", "studerande", "ovrig"))
          + TRUE["lag"] * (t["income_group"] == "lag") + TRUE["hog"] * (t["income_group"] == "hog"))
    t["long_sickleave"] = (rng.random(len(t)) < 1 / (1 + np.exp(-lp))).astype(int)
    for r in t.itertuples():
        length = int(rng.integers(91, 111)) if r.long_sickleave else int(rng.integers(5, 91))
        end = r.spell_start + timedelta(days=length - 1)
        cut = r.spell_start + timedelta(days=int(rng.integers(0, length)))
        free = int(rng.integers(0, 5))
        if (cut - r.spell_start).days > free and rng.random() < 0.4:  # two periods, < 5 free days
            periods.append((int(r.LopNr), r.spell_start, cut - timedelta(days=1 + free), 100,
                            r.code))
            periods.append((int(r.LopNr), cut, end, 100, r.code))
        else:
            periods.append((int(r.LopNr), r.spell_start, end, int(rng.choice([100, 50])),
                            r.code))
        s = end + timedelta(days=int(rng.integers(30, 90)))
        if rng.random() < 0.2 and s + timedelta(days=30) < EXTRACTION:  # a later spell
            periods.append((int(r.LopNr), s, s + timedelta(days=int(rng.integers(5, 30))),
                            100, r.code))
    t = t.drop(columns=["income", "code"])

    midas = pd.DataFrame(periods, columns=["key", "from", "to", "degree", "code"])
    pd.DataFrame({"P1105_LopNr_PersonNr": midas["key"].map("{:09d}".format),
                  "fromdatum": midas["from"].map(_d), "tomdatum": midas["to"].map(_d),
                  "SJP_OMFATTNING": midas["degree"], "Diagnos": midas["code"]}
                 ).to_csv(out_dir / "midas_perioder.csv", index=False)
    frame = pd.DataFrame(lisa, columns=["lopnr", "ar", "kon", "fodelsear", "dispink04"])
    (out_dir / "lisa").mkdir(exist_ok=True)
    for y in years:
        part = frame[frame["ar"] == y].drop(columns="ar")
        part.to_csv(out_dir / "lisa" / f"lisa_{y}_uttag2019.csv", sep=";", index=False,
                    decimal=",")
    pd.DataFrame(bas, columns=["LOPNR", "AR", "BAS"]).to_csv(out_dir / "bas.csv", sep=";",
                                                            index=False)
    pd.DataFrame({"LopNr": [k for k, _ in visits],
                  "Besoksdatum": [_d(v, True) for _, v in visits]}).drop_duplicates().to_csv(
        out_dir / "vardbesok.csv", sep=";", index=False)
    pd.DataFrame({"LopNr": [int(k) for k in keys], "DodDatum": "", "UtvandringDatum": ""}
                 ).to_csv(out_dir / "befolkning.csv", sep=";", index=False)
    params = {"dir": str(out_dir.resolve()), "periods": "midas_perioder.csv",
              "lisa": "lisa/lisa_*_uttag2019.csv", "bas": "bas.csv", "visits": "vardbesok.csv",
              "population": "befolkning.csv",
              "column_map": {"P1105_LopNr_PersonNr": "LopNr", "SJP_OMFATTNING": "Omfattning",
                             "Besoksdatum": "BesokDatum"},
              "year_pattern": r"lisa_(\d{4})_", "periods_from": "2009-01-01",
              "extraction_date": EXTRACTION.isoformat()}
    return params, t
