"""Synthetic register deliveries for the risk study, with a known true model.

A population of persons with their MiDAS sick-leave periods, LISA (sex, birth year, income),
BAS (main activity), care visit days and deaths, in the contract's formats. Each person's
spells are drawn in order; the first spell that starts in the index years is the person's new
spell, and its length follows the true logistic model of long sick leave applied to its
predictors, which the generator computes from the history it drew (an implementation of its
own, in numpy, against which `data.new_spells` is tested). Everything is drawn in whole arrays
from `RegisterSpec.seed`; the same spec gives the same frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...contract import PERSON_KEY
from ...io import atomic_outputs
from ...params import dataclass_fields
from .model import predictors

#: ICD-10 codes drawn per diagnosis group (each maps to its group in `spells.DEFAULT_MAPPING`).
CODES = {"mental": ("F32.1", "F33.1", "F41.1", "F43.8", "F43.2"),
         "pain": ("M54.5", "M75.1", "M79.7", "M53.1"),
         "other": ("S82.0", "J18.9", "C50.9", "I21.9", "K35.8")}
KINDS = ("mental", "pain", "other")
#: BAS main activity codes and their shares (sysselsatt, arbetslös, studerande, sjuk, övrigt).
BAS_CODES = (1, 2, 3, 5, 9)
BAS_SHARES = (0.72, 0.12, 0.06, 0.05, 0.05)
#: Files of a delivery, as `data:` of params.yaml names them.
FILES = {"periods": "sjukpenningperioder.parquet", "lisa": "lisa.parquet",
         "bas": "bas.parquet", "visits": "vardbesok.parquet",
         "population": "befolkning.parquet"}
MAX_SPELLS = 12


@dataclass(frozen=True)
class RegisterSpec:
    """The synthetic population; `true_coefficients` are log-odds on the design columns of
    `model.predictors()` (all others 0). Days are calendar days."""

    seed: int = 20240902
    n_persons: int = 30_000
    first_year: int = 2012          # index years: a person's first spell starting in these
    last_year: int = 2018
    extraction_date: str = "2019-02-28"
    threshold_days: int = 90        # the true model is for spells longer than this
    mean_gap_days: float = 1500.0   # between spells (a person's own mean varies around it)
    mean_visits_per_year: float = 4.0
    low_income_share: float = 0.6   # of the year's median: low below, high above the next
    high_income_share: float = 2.0
    p_death: float = 0.004
    true_coefficients: Mapping[str, float] = field(default_factory=lambda: {
        "Intercept": -2.6, "age": 0.02, "sex[kvinna]": 0.15,
        "diagnosis_group[mental]": 0.7, "diagnosis_group[pain]": 0.5,
        "diagnosis_group[both]": 1.0,
        "prior_netdays_1y[1-31]": 0.2, "prior_netdays_1y[31-91]": 0.5,
        "prior_netdays_1y[91-181]": 0.8, "prior_netdays_1y[181+]": 1.1,
        "prior_netdays_3y[1-91]": 0.1, "prior_netdays_3y[91-366]": 0.3,
        "prior_netdays_3y[366+]": 0.5,
        "prior_spells": 0.08, "care_visits": 0.04,
        "employment[arbetslos]": 0.5, "employment[studerande]": -0.3,
        "employment[ovrig]": 0.4, "income_group[lag]": 0.25, "income_group[hog]": -0.2})

    @property
    def history_start(self) -> pd.Timestamp:
        """First day the periods cover: three years before the first index year."""
        return pd.Timestamp(f"{self.first_year - 3}-01-01")


def _years_back(day: pd.DatetimeIndex, years: int) -> np.ndarray:
    """`day` minus calendar years (29 February → 28 February), as the derivations do."""
    return (day - pd.DateOffset(years=years)).to_numpy("datetime64[D]")


def generate(spec: RegisterSpec = RegisterSpec()) -> dict[str, pd.DataFrame]:  # noqa: B008
    """The deliveries (`periods`, `lisa`, `bas`, `visits`, `population`) and `truth`, one row
    per person's new spell with its predictors and outcome as the generator computed them."""
    rng = np.random.default_rng(spec.seed)
    n = spec.n_persons
    lopnr = (rng.permutation(n) + 3_000_000).astype(np.int64)
    women = rng.random(n) < 0.55
    birth = spec.first_year - rng.integers(20, 60, n)
    years = np.arange(spec.first_year - 1, spec.last_year + 1)
    level = rng.normal(0.0, 0.5, n)
    income = np.round(2400.0 * np.exp(level[:, None] + rng.normal(0.0, 0.25, (n, years.size))))
    bas_kind = rng.choice(len(BAS_CODES), size=n, p=BAS_SHARES)
    moves = rng.random((n, years.size)) < 0.15
    bas = np.where(moves, rng.choice(len(BAS_CODES), size=(n, years.size), p=BAS_SHARES),
                   bas_kind[:, None])
    lisa = pd.DataFrame({PERSON_KEY: np.repeat(lopnr, years.size), "Ar": np.tile(years, n),
                         "Kon": np.repeat(np.where(women, 2, 1), years.size),
                         "FodelseAr": np.repeat(birth, years.size),
                         "DispInk04": income.ravel()})
    bas_frame = pd.DataFrame({PERSON_KEY: lisa[PERSON_KEY], "Ar": lisa["Ar"],
                              "BAS": np.asarray(BAS_CODES)[bas.ravel()]})

    # Care visit days: Poisson per person and year, on distinct days of the year.
    rate = spec.mean_visits_per_year * np.exp(rng.normal(0.0, 0.6, n)) / 1.2
    k = rng.poisson(np.repeat(rate, years.size))
    who = np.repeat(np.repeat(np.arange(n), years.size), k)
    year_of = np.repeat(np.tile(years, n), k)
    day = (pd.to_datetime(pd.Series(year_of.astype(str))).to_numpy("datetime64[D]")
           + rng.integers(0, 365, who.size))
    visits = pd.DataFrame({"_p": who, "BesokDatum": day}).drop_duplicates(ignore_index=True)

    start0 = np.datetime64(spec.history_start.date(), "D")
    first_index = np.datetime64(f"{spec.first_year}-01-01", "D")
    last_index = np.datetime64(f"{spec.last_year}-12-31", "D")
    extraction = np.datetime64(spec.extraction_date, "D")
    death = np.where(rng.random(n) < spec.p_death,
                     first_index + rng.integers(0, (extraction - first_index).astype(int), n),
                     np.datetime64("NaT"))
    kind = rng.choice(3, size=n, p=(0.4, 0.3, 0.3))  # a person's usual kind of diagnosis
    mean_gap = spec.mean_gap_days * np.exp(rng.normal(0.0, 0.8, n) - 0.32)
    begin = np.full((n, MAX_SPELLS), np.datetime64("NaT"), dtype="datetime64[D]")
    end = begin.copy()
    degree = np.zeros((n, MAX_SPELLS), dtype=np.int64)
    dx = np.full((n, MAX_SPELLS), "", dtype=object)
    truth_rows = []
    clock = start0 + np.floor(rng.exponential(mean_gap)).astype(np.int64)
    done = np.zeros(n, dtype=bool)
    preds = predictors()
    beta = np.array([spec.true_coefficients.get(c, 0.0) for c in preds.columns()])
    unknown = set(spec.true_coefficients) - set(preds.columns())
    if unknown:
        raise ValueError(f"true coefficients for no design column: {sorted(unknown)}")
    for j in range(MAX_SPELLS):
        live = (clock <= extraction) & ~(clock >= death)
        new = live & ~done & (clock >= first_index) & (clock <= last_index)
        spell_kind = np.where(rng.random(n) < 0.7, kind, rng.integers(0, 3, n))
        pick = rng.integers(0, 1 << 30, n)
        code = np.empty(n, dtype=object)
        for g, name in enumerate(KINDS):
            m = spell_kind == g
            code[m] = np.asarray(CODES[name], dtype=object)[pick[m] % len(CODES[name])]
        length = 1 + np.floor(rng.exponential(45.0, n)).astype(np.int64)
        deg = rng.choice((25, 50, 75, 100), size=n, p=(0.1, 0.2, 0.1, 0.6))
        if new.any():
            rows = np.flatnonzero(new)
            table = _predictors(spec, rows, clock[rows], j, begin, end, degree, dx,
                                spell_kind[rows], birth, women, lisa, bas_frame, visits)
            X, reason = preds.design(table)
            ok = reason.isna().to_numpy()
            p = 1.0 / (1.0 + np.exp(-(X.to_numpy(float) @ beta)))
            long = np.zeros(rows.size, dtype=bool)
            long[ok] = rng.random(ok.sum()) < p
            t = spec.threshold_days
            length[rows] = np.where(long, t + 1 + np.floor(rng.exponential(150.0, rows.size)),
                                    rng.integers(1, t + 1, rows.size))
            table["_row"] = rows
            table["_long"] = long
            truth_rows.append(table)
            done |= new
        stop = np.minimum(clock + length - 1, np.where(np.isnat(death), extraction,
                                                        np.minimum(death, extraction)))
        begin[live, j], end[live, j] = clock[live], stop[live]
        degree[live, j], dx[live, j] = deg[live], code[live]
        gap = 7 + np.floor(rng.exponential(mean_gap)).astype(np.int64)
        clock = np.where(live, stop + gap, clock)

    has = ~np.isnat(begin)
    person = np.nonzero(has)[0]
    periods = pd.DataFrame({PERSON_KEY: lopnr[person], "FromDatum": begin[has],
                            "TomDatum": end[has], "Omfattning": degree[has],
                            "Diagnos": dx[has], "Formanstyp": "sjukpenning"})
    truth = pd.concat(truth_rows, ignore_index=True)
    ending = end[truth["_row"], [int(v) for v in truth["_spell"]]]
    truth["spell_days"] = ((ending - truth["spell_start"].to_numpy("datetime64[D]"))
                           .astype(int) + 1)
    censored = ending >= extraction
    dead = ~np.isnat(death[truth["_row"]]) & (death[truth["_row"]] <= ending)
    truth["spell_censored"] = censored | dead
    truth[PERSON_KEY] = lopnr[truth["_row"]].astype(str)
    truth = truth.drop(columns=["_row", "_spell", "_long"]).sort_values(
        PERSON_KEY, ignore_index=True)
    visits[PERSON_KEY] = lopnr[visits.pop("_p").to_numpy()]
    population = pd.DataFrame({PERSON_KEY: lopnr, "DodDatum": death}).dropna()
    return {"periods": periods, "lisa": lisa, "bas": bas_frame,
            "visits": visits[[PERSON_KEY, "BesokDatum"]], "population": population,
            "truth": truth}


def _predictors(spec: RegisterSpec, rows: np.ndarray, ref: np.ndarray, j: int,
                begin: np.ndarray, end: np.ndarray, degree: np.ndarray, dx: np.ndarray,
                kind: np.ndarray, birth: np.ndarray, women: np.ndarray, lisa: pd.DataFrame,
                bas: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """The new spells' predictors from the history drawn so far (spells 0..j−1)."""
    day = pd.DatetimeIndex(ref)
    one, three = _years_back(day, 1), _years_back(day, 3)
    b, e = begin[rows, :j], end[rows, :j]
    d = degree[rows, :j]

    def netdays(ws: np.ndarray) -> np.ndarray:
        lo = np.maximum(b, ws[:, None])
        hi = np.minimum(e + 1, ref[:, None])
        days = np.where(~np.isnat(b), np.maximum((hi - lo).astype(int), 0), 0)
        return (days * d).sum(axis=1) / 100.0

    kind_of = {c: k for k, codes in CODES.items() for c in codes}
    prior_kind = pd.DataFrame(dx[rows, :j]).apply(lambda col: col.map(kind_of)).to_numpy(object)
    recent = ~np.isnat(b) & (e >= one[:, None]) & (b < ref[:, None])
    prior_mental = (recent & (prior_kind == "mental")).any(axis=1)
    prior_pain = (recent & (prior_kind == "pain")).any(axis=1)
    index_kind = np.array(KINDS, dtype=object)[kind]
    group = np.where(((index_kind == "mental") & prior_pain)
                     | ((index_kind == "pain") & prior_mental), "both", index_kind)
    year = day.year.to_numpy()
    person_visits = visits[visits["_p"].isin(rows)]
    merged = person_visits.merge(pd.DataFrame({"_p": rows, "ref": ref, "one": one}), on="_p")
    counted = merged[(merged["BesokDatum"] >= merged["one"]) & (merged["BesokDatum"] < merged["ref"])]
    n_visits = counted.groupby("_p").size().reindex(rows, fill_value=0).to_numpy()
    years = np.sort(lisa["Ar"].unique())
    per_person = years.size
    at = rows * per_person + np.searchsorted(years, year - 1)
    inc = lisa["DispInk04"].to_numpy()[at]
    median = lisa.groupby("Ar")["DispInk04"].median().reindex(year - 1).to_numpy()
    income_group = np.where(inc < spec.low_income_share * median, "lag",
                            np.where(inc > spec.high_income_share * median, "hog", "mellan"))
    code = bas["BAS"].to_numpy()[at]
    employment = np.select([code == 1, code == 2, code == 3],
                           ["sysselsatt", "arbetslos", "studerande"], "ovrig")
    return pd.DataFrame({
        "spell_start": day, "index_year": year, "age": (year - birth[rows]).astype(float),
        "sex": np.where(women[rows], "kvinna", "man"), "diagnosis_group": group,
        "prior_netdays_1y": netdays(one), "prior_netdays_3y": netdays(three),
        "prior_spells": (~np.isnat(e) & (e >= three[:, None])).sum(axis=1),
        "care_visits": n_visits, "employment": employment, "income_group": income_group,
        "_spell": j})


def synthetic_spells(spec: RegisterSpec = RegisterSpec()) -> pd.DataFrame:  # noqa: B008
    """The new spells with their predictors and outcome as the generator drew them (what
    `data.new_spells` derives from the deliveries)."""
    return generate(spec)["truth"]


def write(frames: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """The deliveries as Parquet (dates as dates) in `out_dir`, all or nothing, as a delivery
    arrives: without a provenance stamp (it would hash the folder being written)."""
    targets = [Path(out_dir) / name for name in FILES.values()]
    with atomic_outputs(*targets) as temps:
        for key, tmp in zip(FILES, temps, strict=True):
            table = pa.Table.from_pandas(frames[key], preserve_index=False)
            fields = [pa.field(f.name, pa.date32()) if pa.types.is_timestamp(f.type) else f
                      for f in table.schema]
            pq.write_table(table.cast(pa.schema(fields)).replace_schema_metadata(None), tmp,
                           compression="zstd")
    return targets


def spec_from_params(cfg: Mapping[str, Any]) -> RegisterSpec:
    """`synthetic:` of params.yaml as a spec; an unknown key is an error
    (`params.dataclass_fields`)."""
    values = dataclass_fields(cfg, RegisterSpec)
    if "true_coefficients" in values:
        values["true_coefficients"] = {str(k): float(v)
                                       for k, v in values["true_coefficients"].items()}
    return RegisterSpec(**values)
