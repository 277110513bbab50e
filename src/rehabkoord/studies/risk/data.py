"""The risk study's data: register deliveries (MiDAS periods, LISA, BAS, care visit days,
deaths and emigrations) read and validated with the shared delivery code, the new spells with
their predictors derived from them (`new_spells`), and a care centre's list to score.

The population is each person's first spell starting in the index years (the training and
test years): one row per person, so the rows are independent, as the bootstrap and DeLong's
intervals assume. Predictors are as registered at the spell's start (`spell_start`):

- age: the start year minus the birth year (LISA); sex (LISA);
- diagnosis group: the spell's first diagnosis through the editable mapping, 'both' for mental
  ill-health with a pain diagnosis in the 12 months before or vice versa (`spells`);
- net days in the 1 and 3 years before, and earlier spells ending in the 3 years before
  (`spells.prior_sick_leave`); care visit days in the year before;
- employment: BAS's main activity, and income group: LISA's disposable income (`DispInk04`)
  against that year's median in the delivered LISA (low below `low_share` of it, high above
  `high_share`), both in the calendar year before the start year.

The outcome's inputs: the spell's calendar days up to the extraction date, censored when it is
still ongoing on that date or the person died or emigrated before it ended.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import spells
from ...clean import (
    check_period_dates,
    check_periods,
    check_stable,
    check_years_cover,
    report,
)
from ...contract import (
    BAS,
    LISA_INCOME,
    PERSON_KEY,
    PERSONAL_RULE,
    POPULATION,
    SPELL_PERIODS,
    VISITS,
    has_personal_number,
)
from ...delivery import Source, diagnosis_counts, read_mapping_param, read_sources
from ...io import MAX_EXAMPLES, ValidationError, Violation
from ...params import project_root
from ...registeryears import year_before_values
from .model import INPUT_COLUMNS

#: Columns read as text whatever they look like (a person key with leading zeros stays one).
TEXT_COLUMNS = ("LopNr", "sex", "diagnosis_group", "employment", "income_group")
#: The risk study's delivery: each `data:` key, its contract table and, for an optional one,
#: what follows when it is null. LISA must carry `DispInk04` (income groups).
DELIVERY = (
    Source("periods", SPELL_PERIODS),
    Source("lisa", LISA_INCOME),
    Source("bas", BAS, when_missing="no employment predictor: allowed only when "
           "predictors.include leaves out employment"),
    Source("visits", VISITS),
    Source("population", POPULATION),
)
#: BAS main activity -> the model's employment level (other codes: 'ovrig').
EMPLOYMENT = {1: "sysselsatt", 2: "arbetslos", 3: "studerande"}


@dataclass(frozen=True)
class Deliveries:
    """The validated register tables (`bas` empty when `data.bas` is null), rows read per
    delivery and the reading flow (years delivered, rows not read)."""

    periods: pd.DataFrame
    lisa: pd.DataFrame
    bas: pd.DataFrame
    visits: pd.DataFrame
    population: pd.DataFrame
    rows_read: dict[str, int]


def index_years(params: Mapping[str, Any]) -> list[int]:
    """The index years: the training and test years of `validation:`."""
    v = params["validation"]
    return sorted(int(y) for y in [*v["train_years"], *v["test_years"]])


def read(data_params: Mapping[str, Any], root: Path,
         params: Mapping[str, Any] | None = None) -> Deliveries:
    """Read and validate every delivery named in `data:`; raise `ValidationError` listing
    every breach in every file. With the study's `params`, also what they need of the data:
    LISA and BAS for every year before an index year, periods from `data.periods_from` (three
    years before the first index year) to `data.extraction_date`, BAS when the model uses
    employment."""
    violations: list[Violation] = []
    tables, flow = read_sources(DELIVERY, data_params, root, violations)
    periods = tables.get("periods")
    if periods is not None:
        check_periods(periods, violations)
        check_period_dates(periods, violations, data_params.get("extraction_date"),
                           data_params.get("periods_from"))
    if "lisa" in tables:
        check_stable(tables["lisa"], ("Kon", "FodelseAr"), violations)
    if params is not None:
        _check_needs(params, tables, flow, violations)
    if violations:
        raise ValidationError(violations)
    if "bas" not in tables:
        tables["bas"] = pd.DataFrame({PERSON_KEY: pd.Series(dtype="string"),
                                      "Ar": pd.Series(dtype="float64"),
                                      "BAS": pd.Series(dtype="float64")})
    typed = {k: v.drop(columns=[c for c in v.columns if c.startswith("_")])
             for k, v in tables.items()}
    rows = {k: int(f["rows_read"]) for k, f in flow.items()}
    return Deliveries(**typed, rows_read=rows)


def _check_needs(params: Mapping[str, Any], tables: dict, flow: dict,
                 violations: list[Violation]) -> None:
    """What the other parameters need of the delivery: the years before the index years in
    LISA and BAS, three years of period history, BAS when the model uses employment."""
    years = index_years(params)
    data_params = params["data"]
    needed = {y - 1 for y in years}  # the year before each index year, as new_spells reads
    for key, name in (("lisa", "LISA"), ("bas", "BAS")):
        if key in tables and flow[key]["complete"]:
            check_years_cover(name, set(flow[key]["years"]), needed,
                              "before the index years (validation.train_years, test_years)",
                              violations, f"data.{key}")
    violations += _history(years, data_params.get("periods_from"))
    include = params.get("predictors", {}).get("include") or []
    if "bas" not in tables and "employment" in include:
        violations.append(Violation(
            "params.yaml", "data.bas", "null, but predictors.include uses employment (BAS's "
            "main activity), for the model and for scoring the spell study's participants in "
            "the effect section", 0, hint="set data.bas to the BAS delivery, or remove "
            "employment from predictors.include"))


def _history(years: list[int], periods_from: str | None) -> list[Violation]:
    """The 3-year history of the first index year must lie inside the periods delivered."""
    first = pd.Timestamp(f"{min(years)}-01-01") - pd.DateOffset(years=3)
    if not periods_from or first >= pd.Timestamp(periods_from):
        return []
    return [Violation("params.yaml", "data.periods_from", f"index year {min(years)} needs MiDAS "
                      f"periods from {first.date()} (three years of history), but "
                      f"data.periods_from is {periods_from}", 0, hint="drop the early years "
                      "from validation.train_years or deliver earlier periods")]


def check_effect_participants(table: pd.DataFrame, include: Sequence[str], source: str
                              ) -> list[Violation]:
    """The spell study's analysis table (`effect.participants`) must carry what the model
    scores: BAS's main activity when the model uses employment, LISA's income when it uses
    the income group (the spell study's `data.bas`, `data.lisa`)."""
    out = []
    for predictor, column, param in (("employment", "BAS", "data.bas"),
                                     ("income_group", "DispInk04", "data.lisa")):
        if predictor in include and (column not in table.columns
                                     or not table[column].notna().any()):
            out.append(Violation(source, column, f"no value, but the model uses {predictor}",
                                 len(table), hint=f"set {param} in "
                                 "notebooks/stockholm/params.yaml and re-run its derive stage, "
                                 f"or remove {predictor} from predictors.include"))
    return out


def check(params: Mapping[str, Any]) -> int:
    """`make check-data STUDY=risk`: every delivery and data file the parameters name
    (`data:`, `derivation.mapping`, `effect.participants` when built) read and checked as the
    fit and effect stages do; writes nothing. Returns the exit status."""
    root = project_root()

    def run() -> dict:
        problems: list[Violation] = []
        try:
            mapping = read_mapping_param(params["derivation"], root)
        except ValidationError as err:
            problems, mapping = err.violations, None
        try:
            d = read(params["data"], root, params)
        except ValidationError as err:
            raise ValidationError([*problems, *err.violations]) from err
        flow: dict = {"rows_read": d.rows_read, "diagnoses": diagnosis_counts(
            d.periods["Diagnos"], mapping if mapping is not None else spells.DEFAULT_MAPPING)}
        effect = root / params["effect"]["participants"]
        if effect.is_file():
            problems += check_effect_participants(
                pd.read_parquet(effect), params["predictors"]["include"], str(effect))
        else:
            flow["effect.participants"] = f"{effect} not built yet (the spell study's derive)"
        if problems:
            raise ValidationError(problems)
        return flow

    return report(params, "risk", run)


def new_spells(d: Deliveries, params: Mapping[str, Any],
               mapping: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per person's first spell starting in the index years, in the columns of
    `model.INPUT_COLUMNS`, and the derivation's flow (counts that add up, the income medians
    used). `params`: the study's params.yaml (`data`, `derivation`, `validation`)."""
    years = index_years(params)
    history = _history(years, str(params["data"]["periods_from"]))
    if history:
        raise ValidationError(history)
    der = params["derivation"]
    con = spells.connect()
    all_spells = spells.join_periods(d.periods, int(der["gap_days"]), con=con).df()
    start_year = pd.to_datetime(all_spells["SpellStart"]).dt.year
    in_years = all_spells[start_year.isin(years)]
    first = in_years.groupby(PERSON_KEY, sort=True).head(1)
    index = first.rename(columns={"SpellStart": "PriorRef"})[
        [PERSON_KEY, "PriorRef", "SpellNr", "Diagnos", "SpellEnd"]].reset_index(drop=True)
    prior = spells.prior_sick_leave(d.periods, all_spells, index, con=con).df()
    groups = spells.diagnosis_groups(index, d.periods, mapping, con=con).df()
    table = (index.merge(prior[[PERSON_KEY, "NetDays12m", "NetDays36m", "Spells36m"]],
                         on=PERSON_KEY, how="left", validate="1:1")
             .merge(groups[[PERSON_KEY, "Diagnosgrupp"]], on=PERSON_KEY, how="left",
                    validate="1:1"))
    table["spell_start"] = pd.to_datetime(table["PriorRef"])
    table["care_visits"] = _visits_before(d.visits, table)
    background = (d.lisa.sort_values([PERSON_KEY, "Ar"]).groupby(PERSON_KEY).tail(1)
                  [[PERSON_KEY, "Kon", "FodelseAr"]])
    table = table.merge(background, on=PERSON_KEY, how="left", validate="1:1")
    registers = d.lisa[[PERSON_KEY, "Ar", "DispInk04"]].merge(
        d.bas[[PERSON_KEY, "Ar", "BAS"]], on=[PERSON_KEY, "Ar"], how="outer")
    before = year_before_values(table, registers, ["DispInk04", "BAS"], "PriorRef")
    medians = d.lisa.groupby("Ar")["DispInk04"].median()
    pred = params["predictors"]
    table["employment"] = employment(before["BAS"])
    table["income_group"] = income_group(before["DispInk04"], before["Ar"], medians,
                                         float(pred["income_low_share"]),
                                         float(pred["income_high_share"]))
    table["index_year"] = table["spell_start"].dt.year
    table["age"] = (table["index_year"] - table["FodelseAr"]).astype(float)
    table["sex"] = table["Kon"].map({1: "man", 2: "kvinna"})
    extraction = pd.Timestamp(params["data"]["extraction_date"])
    end = pd.to_datetime(table["SpellEnd"])
    table["spell_days"] = (np.minimum(end, extraction) - table["spell_start"]).dt.days + 1
    gone = _gone(d.population, table)
    table["spell_censored"] = (end >= extraction) | (gone <= end).fillna(False)
    out = table.rename(columns={"Diagnosgrupp": "diagnosis_group",
                                "NetDays12m": "prior_netdays_1y",
                                "NetDays36m": "prior_netdays_3y", "Spells36m": "prior_spells"})
    out[PERSON_KEY] = out[PERSON_KEY].astype(str)
    flow = {"rows_read": d.rows_read, "spells": int(len(all_spells)),
            "diagnoses": diagnosis_counts(d.periods["Diagnos"], spells.DEFAULT_MAPPING
                                          if mapping is None else mapping),
            "spells_in_index_years": int(len(in_years)),
            "later_spells_same_person": int(len(in_years) - len(first)),
            "new_spells": int(len(out)),
            "income_groups": {"low_share": float(pred["income_low_share"]),
                              "high_share": float(pred["income_high_share"]),
                              "medians": {str(int(y)): float(m) for y, m in medians.items()}}}
    return out[list(INPUT_COLUMNS)].reset_index(drop=True), flow


def employment(bas_code: pd.Series) -> pd.Series:
    """BAS main activity as the model's employment level; missing stays missing."""
    code = pd.to_numeric(bas_code, errors="coerce")
    out = code.map(EMPLOYMENT).where(code.isna() | code.isin(list(EMPLOYMENT)), "ovrig")
    return out.astype(object).where(code.notna(), None)


def income_group(income: pd.Series, year: pd.Series, medians: pd.Series, low_share: float,
                 high_share: float) -> pd.Series:
    """'lag' below `low_share` × the year's median, 'hog' above `high_share` × it, else
    'mellan'; missing income or a year without a median stays missing."""
    med = pd.Series(year.to_numpy()).map(medians).to_numpy(float)
    inc = pd.to_numeric(income, errors="coerce").to_numpy(float)
    group = np.where(inc < low_share * med, "lag", np.where(inc > high_share * med, "hog",
                                                              "mellan")).astype(object)
    group[~np.isfinite(inc) | ~np.isfinite(med)] = None
    return pd.Series(group, index=income.index, dtype=object)


def _visits_before(visits: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Care visit days in [start − 1 year, start) per row of `table` (0 when none)."""
    ref = table[[PERSON_KEY, "spell_start"]].copy()
    ref["from"] = ref["spell_start"] - pd.DateOffset(years=1)
    hits = visits.merge(ref, on=PERSON_KEY)
    day = pd.to_datetime(hits["BesokDatum"])
    hits = hits[(day >= hits["from"]) & (day < hits["spell_start"])]
    return hits.groupby(PERSON_KEY).size().reindex(ref[PERSON_KEY], fill_value=0).to_numpy()


def _gone(population: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """The first of death and emigration per row of `table` (NaT when neither)."""
    cols = [c for c in ("DodDatum", "UtvandringDatum") if c in population.columns]
    first = population.set_index(PERSON_KEY)[cols].apply(pd.to_datetime).min(axis=1)
    return table[PERSON_KEY].map(first)


def read_spells(path: str | Path) -> pd.DataFrame:
    """A list of new spells to score (or an extract that already carries the predictors):
    Parquet, or CSV (comma, semicolon or tab; a semicolon file may use decimal commas; UTF-8
    with or without BOM). Text columns stay text, and `spell_start` is read as a date. A text
    column holding a personnummer stops with a message that does not repeat it (the scores'
    reasons quote a predictor's unknown level)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif path.suffix.lower() in (".csv", ".txt", ".tsv"):
        head = path.read_text(encoding="utf-8-sig").splitlines()[:1]
        sep = csv.Sniffer().sniff(head[0], delimiters=",;\t").delimiter if head else ","
        frame = pd.read_csv(path, sep=sep, decimal="," if sep == ";" else ".",
                            encoding="utf-8-sig",
                            dtype={c: "string" for c in TEXT_COLUMNS})
    else:
        raise ValueError(f"{path}: read as .csv or .parquet only")
    for col in TEXT_COLUMNS:
        if col in frame.columns:
            frame[col] = frame[col].astype("string").str.strip().astype(object)
            frame[col] = frame[col].where(frame[col].notna(), None)
    personal = []
    for col in TEXT_COLUMNS[1:]:
        if col in frame.columns:
            hits = np.flatnonzero(has_personal_number(frame[col]).to_numpy())
            if len(hits):
                personal.append(Violation(str(path), col, PERSONAL_RULE, len(hits),
                                          tuple(int(i) + 1 for i in hits[:MAX_EXAMPLES]),
                                          hint="the list to score holds codes, not names or "
                                          "personal identity numbers"))
    if personal:
        raise ValidationError(personal)
    if "spell_start" in frame.columns:
        frame["spell_start"] = pd.to_datetime(frame["spell_start"])
    return frame
