"""Validate deliveries against the contract and write tidy, typed interim tables.

One pass checks every rule on every file and reports every violation together, each naming the
file, column, rule, number of rows, a few row positions and the parameter to change. Facts of
register data (a participant missing from some years after emigration, register rows of people
outside the study, an unknown employment code in a year BAS covers) are not errors: they are
counted in the flow record, shown in the cleaning notebook and in the appendix.

Run ``python -m rehabkoord.clean --params notebooks/<study>/params.yaml`` to check any study's
delivery without writing anything (`CHECKS` names each study's check).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .contract import (
    BAS,
    CODE_SHAPES,
    LISA,
    PERSON_KEY,
    PERSONAL_NUMBER,
    PERSONAL_RULE,
    RANDOMISATION,
    SYSSSTAT_COLUMNS,
    WITHHELD,
    YEAR,
    Column,
    Table,
    fits_shape,
    has_personal_number,
    normalise_key,
)
from .io import (
    MAX_EXAMPLES,
    DeliveryError,
    ValidationError,
    Violation,
    data_patterns,
    read_deliveries,
    read_json,
    write_all,
)
from .registeryears import WINDOW_RULES, baseline_year, outcome_year

__all__ = ["Cleaned", "DeliveryError", "Rules", "ValidationError", "Violation", "clean",
           "clean_from_params", "read_interim", "write_interim"]


@dataclass(frozen=True)
class Rules:
    """The study-specific rules a delivery is checked against (``data`` and ``cohort`` in
    params.yaml; each field names its parameter in messages)."""

    rand_period: tuple[str, str]
    age_range: tuple[int, int] = (25, 64)
    offsets_months: tuple[int, ...] = (6, 12)
    window_rule: str = "first_full_year"
    min_linkage: float = 0.7
    max_linkage_gap: float = 0.10
    require_all_years: bool = True
    year_pattern: str | None = None
    #: Optional randomisation-list columns another parameter names (`analysis.
    #: baseline_variables`), so they must be delivered: (column, the parameter naming it).
    named_columns: tuple[tuple[str, str], ...] = ()


@dataclass
class Cleaned:
    """Typed, validated tables plus the counts that feed the flow table."""

    randomisation: pd.DataFrame
    lisa: pd.DataFrame
    bas: pd.DataFrame
    flow: dict = field(default_factory=dict)


def _positions(mask: pd.Series) -> tuple[int, tuple[int, ...]]:
    """Count and the first 1-based data-row positions in the delivered file (the frame index)."""
    hits = mask.index[np.asarray(mask, dtype=bool)]
    return len(hits), tuple(int(i) + 1 for i in hits[:MAX_EXAMPLES])


#: The parameters ``python -m rehabkoord.clean`` reads without ``--params``: the study whose
#: delivery this module validates (randomisation list, LISA, BAS).
DEFAULT_PARAMS = "notebooks/uppsala/params.yaml"

_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_COMPACT_DATE = r"\d{8}"


def _dates(raw: pd.Series, text: pd.Series, present: pd.Series, source: str, name: str,
           out: list[Violation]) -> pd.Series:
    """Calendar dates: YYYY-MM-DD or YYYYMMDD text, or typed dates (time zones converted to
    Swedish time). A time of day other than midnight, or any other text (a seven-digit
    number), is a violation, never a guess."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        values = raw
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("Europe/Stockholm").dt.tz_localize(None)
        values = values.astype("datetime64[ns]")
        timed = values.notna() & (values != values.dt.normalize())
        n, rows = _positions(timed)
        if n:
            out.append(Violation(source, name, "has a time of day (expected dates)", n, rows,
                                 hint="deliver the column as dates"))
        return values.dt.normalize()
    iso = text.str.fullmatch(_ISO_DATE).fillna(False).astype(bool)
    compact = text.str.fullmatch(_COMPACT_DATE).fillna(False).astype(bool)
    values = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    values[iso] = pd.to_datetime(text[iso], format="%Y-%m-%d", errors="coerce")
    values[compact] = pd.to_datetime(text[compact], format="%Y%m%d", errors="coerce")
    return values.where(present)


def _coerce(frame: pd.DataFrame, col: Column, source: str, out: list[Violation],
            keys: tuple[pd.Series, pd.Series]) -> pd.Series:
    """The column in its contract type; unparseable values are violations, not silent NaN.

    Typed columns (Parquet, SAS, Stata) are converted directly; text (CSV) is parsed. The
    person key comes already normalised (`keys`: values and the mask of non-keys).
    """
    raw = frame[col.name]
    is_numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
    if col.name == PERSON_KEY:
        values, bad = keys
        present = values.notna()
        n, rows = _positions(bad)
        if n:
            out.append(Violation(source, col.name, "not a person key (SCB's LopNr is a whole "
                                 "number)", n, rows, hint="check data.column_map: is the right "
                                 "column mapped to LopNr?"))
            values = values.where(~bad)
    elif is_numeric and col.kind in ("int", "float"):
        values = raw.astype("float64")
        present = values.notna()
    elif pd.api.types.is_datetime64_any_dtype(raw) and col.kind != "date":
        values = pd.Series(np.nan, index=raw.index)
        present = raw.notna()
    else:
        text = raw.astype("string").str.strip()
        present = (text.notna() & (text != "")).astype(bool)
        if col.kind == "str":
            values = text.where(present)
        elif col.kind == "date":
            values = _dates(raw, text, present, source, col.name, out)
        else:
            values = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
            values = values.astype("float64")
    if col.kind == "int":
        fractional = values.notna() & (values != np.floor(values.fillna(0)))
        n, rows = _positions(fractional)
        if n:
            out.append(Violation(source, col.name, "must be a whole number", n, rows))
    unreadable = present & values.isna() & (col.name != PERSON_KEY)
    n, rows = _positions(unreadable)
    if n:
        out.append(Violation(source, col.name, f"cannot be read as {col.kind}", n, rows))
    if col.required:
        n, rows = _positions(~present)
        if n:
            out.append(Violation(source, col.name, "missing value", n, rows))
    return values


#: The advice when delivered text looks like a personnummer (`contract.PERSONAL_RULE`).
PERSONAL_HINT = ("remove names and personal identity numbers from the delivery: this column "
                 "holds codes, and the person key is LopNr")


def check_text(values: pd.Series, col: Column, source: str, out: list[Violation]) -> pd.Series:
    """Delivered text that may identify a person: a value holding a personnummer or
    samordningsnummer, or free text where a code of a known shape (`Column.shape`) is expected,
    is a violation whose message never repeats it. Returns the rows flagged."""
    flagged = pd.Series(False, index=values.index)
    if col.kind != "str" or col.name == PERSON_KEY:
        return flagged
    personal = has_personal_number(values)
    n, rows = _positions(personal)
    if n:
        out.append(Violation(source, col.name, PERSONAL_RULE, n, rows, hint=PERSONAL_HINT))
        flagged = personal
    if col.shape is not None:
        rest = values.where(~flagged)
        bad = rest.notna() & ~fits_shape(rest, col.shape)
        n, rows = _positions(bad)
        if n:
            out.append(Violation(source, col.name, f"{CODE_SHAPES[col.shape][2]} ({WITHHELD})",
                                 n, rows, hint="deliver the code, not text"))
            flagged = flagged | bad
    return flagged


def _check_rules(values: pd.Series, col: Column, source: str, out: list[Violation]) -> None:
    """Codes and ranges; text that may identify a person (`check_text`) is reported as such and
    not again as an unknown code. No message repeats a delivered value."""
    ok = values.notna() & ~check_text(values, col, source, out)
    if col.codes is not None and col.name not in SYSSSTAT_COLUMNS:
        bad = ok & ~values.isin(list(col.codes))
        n, rows = _positions(bad)
        if n:
            codes = ", ".join(map(str, col.codes))
            out.append(Violation(source, col.name, f"unknown code (allowed: {codes})", n, rows))
    if col.min_value is not None or col.max_value is not None:
        lo = -np.inf if col.min_value is None else col.min_value
        hi = np.inf if col.max_value is None else col.max_value
        bad = ok & ((values < lo) | (values > hi))
        n, rows = _positions(bad)
        if n:
            out.append(Violation(source, col.name, f"outside {col.min_value}–{col.max_value}",
                                 n, rows))


#: Keys looked at to tell a column of personnummer from SCB's LopNr, and the share of them
#: shaped like a personnummer that makes it one (a tenth of random 10-digit serial numbers
#: happen to have that shape, so single keys are not judged).
KEY_SAMPLE = 5000
PERSONAL_KEY_SHARE = 0.5


def _check_key_is_pseudonymous(keys: pd.Series, source: str, out: list[Violation]) -> None:
    """A person key column that holds personnummer (whole, 10 or 12 digits) rather than
    SCB's pseudonymised LopNr: one violation for the column, values never shown."""
    sample = keys.iloc[:KEY_SAMPLE].dropna().unique()
    if len(sample) < 10:
        return
    shaped = sum(PERSONAL_NUMBER.fullmatch(str(k)) is not None for k in sample)
    if shaped < PERSONAL_KEY_SHARE * len(sample):
        return
    n, rows = _positions(keys.str.fullmatch(PERSONAL_NUMBER.pattern).fillna(False))
    out.append(Violation(source, PERSON_KEY, "looks like personnummer, not SCB's pseudonymised "
                         "LopNr (values withheld: they identify persons)", n, rows,
                         hint="deliver the project's LopNr; identity numbers must not leave "
                         "SCB's or the region's keeping"))


def _check_register_keys(keys: pd.Series, bad: pd.Series, source: str,
                         out: list[Violation]) -> None:
    """Keys of a register that covers more people than the study, checked before the rows of
    other people are dropped: a malformed or missing key cannot be told apart from another
    person's, and dropping it would show a study person as emigrated, dead or without a
    spell."""
    n, rows = _positions(bad)
    if n:
        out.append(Violation(source, PERSON_KEY, "not a person key (SCB's LopNr is a whole "
                             "number); such rows cannot be linked, nor dropped as other "
                             "people's", n, rows, hint="check data.column_map: is the right "
                             "column mapped to LopNr? else correct the delivery"))
    n, rows = _positions(keys.isna() & ~bad)
    if n:
        out.append(Violation(source, PERSON_KEY, "missing value (a row that links to no person)",
                             n, rows, hint="correct the delivery"))


def check_periods(periods: pd.DataFrame, out: list[Violation]) -> None:
    """MiDAS periods (`contract.SPELL_PERIODS`, validated) end on or after the day they start,
    both days inclusive; the breaches per file, with their first rows."""
    if not {"FromDatum", "TomDatum"} <= set(periods.columns):
        return
    bad = periods["TomDatum"] < periods["FromDatum"]
    for source, part in periods[bad].groupby("_source", sort=True):
        rows = tuple(int(r) for r in part["_row"].head(5))
        out.append(Violation(source, "TomDatum", "period ends before it starts", len(part),
                             rows, hint="check FromDatum/TomDatum"))


#: Days after `data.periods_from` within which some delivered period must lie: a population's
#: periods start or run on any quarter, so none there means the history was not delivered.
PERIODS_FROM_SLACK_DAYS = 90


def check_period_dates(periods: pd.DataFrame, out: list[Violation],
                       extraction_date: str | None = None,
                       periods_from: str | None = None) -> None:
    """MiDAS periods inside the delivery's dates: none starts or ends after
    `data.extraction_date` (paid days cannot lie in the future: a later date means the
    parameter or the delivery is wrong, and follow-up would be cut at the wrong day), and,
    with `data.periods_from`, some period lies in its first `PERIODS_FROM_SLACK_DAYS` days
    (else the history the predictors look back on was not delivered)."""
    if not {"FromDatum", "TomDatum"} <= set(periods.columns) or periods.empty:
        return
    if extraction_date:
        cut = pd.Timestamp(extraction_date)
        for column, verb in (("FromDatum", "starts"), ("TomDatum", "ends")):
            late = periods[column] > cut
            for source, part in periods[late.to_numpy(dtype=bool)].groupby("_source",
                                                                             sort=True):
                out.append(Violation(
                    source, column, f"period {verb} after data.extraction_date "
                    f"({cut.date()})", len(part),
                    tuple(int(r) for r in part["_row"].head(MAX_EXAMPLES)),
                    hint="set data.extraction_date to the day the periods were extracted, or "
                    "correct the delivery"))
    if periods_from:
        first = pd.Timestamp(periods_from)
        until = first + pd.Timedelta(days=PERIODS_FROM_SLACK_DAYS)
        covered = (periods["TomDatum"] >= first) & (periods["FromDatum"] < until)
        if not covered.any():
            earliest = periods["FromDatum"].min()
            out.append(Violation(
                _source(periods, default="periods"), "FromDatum",
                f"the periods do not reach back to data.periods_from ({first.date()}): none "
                f"lies in its first {PERIODS_FROM_SLACK_DAYS} days, the earliest starts "
                f"{earliest.date() if pd.notna(earliest) else 'never'}", 0,
                hint="deliver the earlier periods, or set data.periods_from to the first day "
                "the periods cover and drop the index years without three years of history "
                "from validation.train_years"))


def check_year_gaps(register: str, years: set[int], out: list[Violation]) -> None:
    """Delivered register years must be contiguous: a missing year inside them is a lost
    file, not a year without data."""
    gaps = sorted(set(range(min(years), max(years) + 1)) - years) if years else []
    if gaps:
        out.append(Violation(register, YEAR, "register years not contiguous (missing: "
                             f"{', '.join(map(str, gaps))})", 0,
                             hint=f"deliver {register} for the missing years"))


def check_years_cover(register: str, years: set[int], needed: set[int], why: str,
                      out: list[Violation], param: str) -> None:
    """The years a study reads (`needed`, e.g. the year before each index date) must all be
    delivered, and the delivered years contiguous; `why` says what the years are for."""
    check_year_gaps(register, years, out)
    missing = sorted(needed - years)
    if missing:
        out.append(Violation(register, YEAR, f"years {why} not delivered: "
                             f"{', '.join(map(str, missing))} (delivered "
                             f"{_span(sorted(years))})", 0,
                             hint=f"deliver {register} for these years ({param})"))


def check_stable(data: pd.DataFrame, columns: Sequence[str], out: list[Violation]) -> pd.Index:
    """Person facts that cannot change (birth year, sex) must agree across a register's years;
    one violation per column, with rows. Returns the persons concerned."""
    conflicting = pd.Index([])
    for name in columns:
        if name not in data.columns or data.empty:
            continue
        spread = data.dropna(subset=[name]).groupby(PERSON_KEY)[name].nunique()
        persons = spread.index[spread > 1]
        if len(persons):
            mask = data[PERSON_KEY].isin(persons)
            n, rows = _rows(data, mask)
            out.append(Violation(_source(data, mask, "LISA"), name,
                                 "differs between years for the same person", n, rows,
                                 hint="correct the delivery: a person's birth year and sex are "
                                 "the same in every year"))
            conflicting = conflicting.union(persons)
    return conflicting


def validate_table(frames: Sequence[pd.DataFrame], table: Table, out: list[Violation],
                   keep: pd.Index | None = None, counts: dict | None = None) -> pd.DataFrame:
    """Typed concatenation of one table's files; violations are appended to `out`.

    With `keep` (the randomised person keys), rows of other people are removed before the
    value rules run, and counted in `counts` (rows_read, rows_not_in_study, years_delivered):
    register deliveries cover whole populations, and only the study's rows enter the analysis.
    `counts["complete"]` is False when a file lacked required columns.
    """
    typed_parts = []
    counts = counts if counts is not None else {}
    counts.setdefault("rows_read", 0)
    counts.setdefault("rows_not_in_study", 0)
    counts.setdefault("years_delivered", set())
    counts.setdefault("complete", True)
    for frame in frames:
        source = frame.attrs.get("source", table.name)
        if len(frame) == 0:
            out.append(Violation(source, "*", "the file has no data rows", 0))
            counts["complete"] = False
            continue
        missing = [c.name for c in table.columns if c.required and c.name not in frame.columns]
        for name in missing:
            out.append(Violation(source, name, "required column missing", len(frame),
                                 hint="check data.column_map in params.yaml"))
        for group in table.optional_groups:
            if not any(g in frame.columns for g in group):
                out.append(Violation(source, " or ".join(group),
                                     "one of these columns is required", len(frame)))
        if missing:
            counts["complete"] = False
            continue
        counts["rows_read"] += len(frame)
        if table.yearly:
            years = pd.to_numeric(frame[YEAR].astype("string").str.strip(), errors="coerce")
            counts["years_delivered"].update(int(y) for y in years.dropna().unique()
                                             if float(y).is_integer())
        keys, bad_keys = normalise_key(frame[PERSON_KEY])  # once: registers are large
        if keep is not None:
            _check_register_keys(keys, bad_keys, source, out)
            in_study = keys.isin(keep).to_numpy(dtype=bool)
            counts["rows_not_in_study"] += int((~in_study).sum())
            frame, keys, bad_keys = frame[in_study], keys[in_study], bad_keys[in_study]
        _check_key_is_pseudonymous(keys, source, out)
        typed = pd.DataFrame(index=frame.index)
        for col in table.columns:
            if col.name not in frame.columns:
                typed[col.name] = pd.Series(np.nan, index=frame.index,
                                            dtype="string" if col.kind == "str" else "float64")
                continue
            values = _coerce(frame, col, source, out, (keys, bad_keys))
            _check_rules(values, col, source, out)
            typed[col.name] = values
        typed["_source"] = source
        typed["_row"] = frame.index.to_numpy() + 1
        typed_parts.append(typed)
    if not typed_parts:
        return pd.DataFrame({**{c.name: pd.Series(dtype="string" if c.kind == "str" else
                                                  "datetime64[ns]" if c.kind == "date" else
                                                  "float64") for c in table.columns},
                             "_source": pd.Series(dtype="string"),
                             "_row": pd.Series(dtype="int64")})
    data = pd.concat(typed_parts, ignore_index=True)
    dup = data.duplicated(list(table.key), keep=False) & data[list(table.key)].notna().all(axis=1)
    if dup.any():
        for source, part in data[dup].groupby("_source", sort=True):
            rows = tuple(int(r) for r in part["_row"].head(MAX_EXAMPLES))
            out.append(Violation(source, ", ".join(table.key), "duplicate key", len(part), rows))
    return data


def _rows(data: pd.DataFrame, mask: pd.Series) -> tuple[int, tuple[int, ...]]:
    """Count and first row positions of `mask` in a concatenated table (its `_row` column)."""
    mask = np.asarray(mask, dtype=bool)
    return int(mask.sum()), tuple(int(r) for r in data.loc[mask, "_row"].head(MAX_EXAMPLES))


def _source(data: pd.DataFrame, mask: pd.Series | None = None, default: str = "") -> str:
    part = data if mask is None else data[np.asarray(mask, dtype=bool)]
    sources = sorted(set(part["_source"].dropna())) if len(part) else []
    if not sources:
        return default
    return sources[0] if len(sources) == 1 else f"{sources[0]} (and {len(sources) - 1} more)"


def _span(years: Sequence[int]) -> str:
    return f"{min(years)}–{max(years)}" if years else "none"


def needed_years(rand: pd.DataFrame, rules: Rules) -> tuple[set[int], set[int]]:
    """Baseline years and outcome years the windows need, from the valid randomisation dates."""
    dates = rand["RandDatum"].dropna()
    if dates.empty:
        return set(), set()
    base = set(int(y) for y in baseline_year(dates).unique())
    outcome = set()
    for offset in rules.offsets_months:
        outcome |= set(int(y) for y in outcome_year(dates, offset, rules.window_rule).unique())
    return base, outcome


def _linkage(data: pd.DataFrame, n_randomised: int) -> dict[int, float]:
    """Share of randomised persons found in each delivered year of a register."""
    if n_randomised == 0 or data.empty:
        return {}
    per_year = data.dropna(subset=[PERSON_KEY]).groupby(YEAR)[PERSON_KEY].nunique()
    return {int(y): float(n) / n_randomised for y, n in per_year.items()}


def _check_linkage(table: Table, counts: dict, shares: dict[int, float], rules: Rules,
                   source: str, out: list[Violation]) -> None:
    """A register year where few study persons are found means the keys do not match (type,
    padding, another project's LopNr, a column map to the wrong column): stop, don't drop."""
    for year in sorted(counts["years_delivered"]):
        share = shares.get(year, 0.0)
        if share < rules.min_linkage:
            out.append(Violation(
                f"{table.name} {year} ({source})", PERSON_KEY,
                f"only {share:.0%} of randomised persons found (minimum data.min_linkage = "
                f"{rules.min_linkage:.0%})", 0,
                hint="the person key does not link to the randomisation list: is it the same "
                "project's LopNr (each SCB delivery numbers persons anew), and does "
                "data.column_map point at the key column?"))


def _check_years(lisa_years: set[int], bas_years: set[int], base: set[int], outcome: set[int],
                 rules: Rules, out: list[Violation]) -> None:
    """The delivered register years must cover every baseline and outcome year the windows need,
    and be contiguous; employment comes from BAS from its first delivered year on."""
    for name, years in (("LISA", lisa_years), ("BAS", bas_years)):
        check_year_gaps(name, years, out)
    if not lisa_years:
        return
    last = max(lisa_years)
    missing_base = sorted(base - lisa_years)
    if missing_base:
        out.append(Violation("LISA", YEAR, "baseline years (the year before randomisation) not "
                             f"delivered: {', '.join(map(str, missing_base))}", 0,
                             hint="deliver LISA for these years"))
    later = {y for y in outcome if y > last}
    missing_outcome = sorted((outcome - lisa_years) - (later if not rules.require_all_years
                                                       else set()))
    if missing_outcome:
        out.append(Violation("LISA", YEAR, "outcome years the windows need not delivered: "
                             f"{', '.join(map(str, missing_outcome))} (delivered "
                             f"{_span(sorted(lisa_years))})", 0,
                             hint="deliver LISA for these years, or set "
                             "data.require_all_years: false to count the persons concerned as "
                             "'outcome year not yet in the registers' in the flow"))
    if bas_years:
        needed = {y for y in base | outcome if min(bas_years) <= y <= last}
        missing_bas = sorted(needed - bas_years)
        if missing_bas:
            out.append(Violation("BAS", YEAR, "years needed for employment not delivered: "
                                 f"{', '.join(map(str, missing_bas))} (delivered "
                                 f"{_span(sorted(bas_years))}; LISA's SyssStat, which does not "
                                 "count students, is used only before BAS's first year)", 0,
                                 hint="deliver BAS for these years"))


def _employment_codes(lisa: pd.DataFrame, bas_years: set[int], out: list[Violation]) -> dict:
    """Unknown SyssStat codes: counted and ignored in years BAS covers, violations otherwise."""
    ignored: dict[str, dict[str, int]] = {}
    for name in SYSSSTAT_COLUMNS:
        codes = LISA.column(name).codes
        values = lisa[name]
        unknown = (values.notna() & ~values.isin(list(codes))).to_numpy(dtype=bool)
        if not unknown.any():
            continue
        covered = lisa[YEAR].isin(list(bas_years)).to_numpy(dtype=bool)
        used = unknown & ~covered
        if used.any():
            n, rows = _rows(lisa, used)
            out.append(Violation(_source(lisa, used, "LISA"), name, "unknown code (allowed: "
                                 f"{', '.join(map(str, codes))}) in a year BAS does not cover",
                                 n, rows, hint="employment in these years comes from this "
                                 "column: correct the delivery"))
        counted = unknown & covered
        if counted.any():
            tally = values[counted].astype("int64").value_counts().sort_index()
            ignored[f"LISA.{name}"] = {str(int(k)): int(v) for k, v in tally.items()}
            lisa.loc[counted, name] = np.nan
    return ignored


def clean(
    randomisation_paths: str | Sequence[str],
    lisa_paths: str | Sequence[str],
    bas_paths: str | Sequence[str],
    *,
    column_map: Mapping[str, str] | None = None,
    rules: Rules,
) -> Cleaned:
    """Read, validate and type the three deliveries; raise `ValidationError` listing every breach.

    Register rows of people who were not randomised are removed (counted, never silently);
    randomised people must be found in LISA and be aged `rules.age_range` at randomisation
    (age = randomisation year − birth year, as LISA gives the birth year only); every register
    year must link to the study persons; the delivered years must cover the windows.
    """
    if rules.window_rule not in WINDOW_RULES:
        raise ValidationError([Violation("params.yaml", "cohort.window_rule",
                                         f"unknown rule '{rules.window_rule}'", 0,
                                         hint=f"use one of {', '.join(WINDOW_RULES)}")])
    v: list[Violation] = []

    def read(paths: str | Sequence[str], table: Table, param: str,
             keep: pd.Index | None) -> tuple[pd.DataFrame, dict]:
        """A table and its counts; a file that could not be read makes the table incomplete,
        so rules over all years are not checked on a part of the delivery."""
        before = len(v)
        frames = read_deliveries(paths, table, column_map, v, rules.year_pattern, param)
        counts: dict = {"complete": len(v) == before}
        return validate_table(frames, table, v, keep, counts), counts

    rand, rand_counts = read(randomisation_paths, RANDOMISATION, "data.randomisation", None)
    keys = pd.Index(rand[PERSON_KEY].dropna().unique())
    lisa, lisa_counts = read(lisa_paths, LISA, "data.lisa", keys)
    bas, bas_counts = read(bas_paths, BAS, "data.bas", keys)
    rand_source = _source(rand, default="randomisation list")
    n_rand = len(keys)

    lisa_years, bas_years = lisa_counts["years_delivered"], bas_counts["years_delivered"]
    shares = {"LISA": _linkage(lisa, n_rand), "BAS": _linkage(bas, n_rand)}
    if rand_counts["complete"] and n_rand:
        for table, counts in ((LISA, lisa_counts), (BAS, bas_counts)):
            if counts["complete"]:
                _check_linkage(table, counts, shares[table.name], rules,
                               _source(lisa if table is LISA else bas, default=table.name), v)
        for year in sorted(lisa_years & bas_years):
            gap = shares["LISA"].get(year, 0.0) - shares["BAS"].get(year, 0.0)
            if gap > rules.max_linkage_gap and shares["BAS"].get(year, 0.0) >= rules.min_linkage:
                v.append(Violation(f"BAS {year}", PERSON_KEY,
                                   f"links {gap:.0%} fewer randomised persons than LISA {year} "
                                   f"(at most data.max_linkage_gap = {rules.max_linkage_gap:.0%})",
                                   0, hint="are some keys in another format or another "
                                   "project's LopNr?"))

    if rand_counts["complete"]:
        for name, param in rules.named_columns:
            if not rand[name].notna().any():
                v.append(Violation(rand_source, name, f"column missing or without a value, but "
                                   f"{param} in params.yaml names it", len(rand),
                                   hint=f"deliver the column (data.column_map maps another "
                                   f"name to it), or remove {name} from {param}"))
    start, end = pd.Timestamp(rules.rand_period[0]), pd.Timestamp(rules.rand_period[1])
    outside = (rand["RandDatum"] < start) | (rand["RandDatum"] > end)
    n, rows = _rows(rand, outside)
    if n:
        v.append(Violation(rand_source, "RandDatum", "outside the randomisation period "
                           f"{rules.rand_period[0]}–{rules.rand_period[1]}", n, rows,
                           hint="check the dates, or change data.rand_period in params.yaml"))
    base_years, outcome_years = needed_years(rand, rules)
    if lisa_counts["complete"] and bas_counts["complete"]:
        _check_years(lisa_years, bas_years, base_years, outcome_years, rules, v)
    ignored = _employment_codes(lisa, bas_years, v)

    lisa_complete = lisa_counts["complete"] and rand_counts["complete"]
    in_lisa = rand[PERSON_KEY].isin(lisa[PERSON_KEY])
    if lisa_complete:
        n, rows = _rows(rand, rand[PERSON_KEY].notna() & ~in_lisa)
        if n:
            v.append(Violation(rand_source, PERSON_KEY, "randomised person not found in any "
                               "LISA year (linkage failure)", n, rows))
    birth = lisa.groupby(PERSON_KEY)["FodelseAr"].agg(["min", "max"])
    check_stable(lisa, ["FodelseAr"], v)
    age = rand["RandDatum"].dt.year - rand[PERSON_KEY].map(birth["min"]).astype("float64")
    lo, hi = rules.age_range
    n, rows = _rows(rand, in_lisa & ((age < lo) | (age > hi)))
    if n:
        v.append(Violation(rand_source, "RandDatum/FodelseAr",
                           f"age at randomisation outside {lo}–{hi}", n, rows,
                           hint="check the randomisation list, or change data.age_range in "
                           "params.yaml"))
    if v:
        raise ValidationError(v)

    flow = {
        "randomised": int(len(rand)),
        "randomised_by_group": {g: int(c) for g, c in rand["Grupp"].value_counts().sort_index()
                                .items()},
        "lisa_rows_read": lisa_counts["rows_read"],
        "lisa_rows_not_in_study": lisa_counts["rows_not_in_study"],
        "bas_rows_read": bas_counts["rows_read"],
        "bas_rows_not_in_study": bas_counts["rows_not_in_study"],
        "lisa_years": sorted(lisa_years),
        "bas_years": sorted(bas_years),
        "linkage": {name: {str(y): round(s, 4) for y, s in sorted(per.items())}
                    for name, per in shares.items()},
        "unknown_codes_ignored": ignored,
    }
    return Cleaned(_finish(rand, RANDOMISATION), _finish(lisa, LISA), _finish(bas, BAS), flow)


def _finish(data: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Contract dtypes: nullable integers, float days, strings, dates; sorted by the key."""
    out = pd.DataFrame()
    for col in table.columns:
        s = data[col.name]
        if col.kind == "int":
            s = s.astype("Int32" if col.name == YEAR else "Int16")
        elif col.kind == "float":
            s = s.astype("float64")
        elif col.kind == "str":
            s = s.astype("string")
        out[col.name] = s
    return out.sort_values(list(table.key), kind="stable").reset_index(drop=True)


def delivery_paths(data_params: dict, root: Path) -> dict[str, list[str]]:
    """The delivered files' globs from the `data` section of params.yaml, under `data.dir`."""
    return {key: data_patterns(data_params, root, key) for key in ("randomisation", "lisa", "bas")}


def rules_from_params(data_params: dict, cohort_params: Mapping | None = None,
                      analysis_params: Mapping | None = None) -> Rules:
    """`Rules` from the `data` (and `cohort`, `analysis`) sections of params.yaml; absent keys
    take the documented defaults. Optional randomisation columns that
    `analysis.baseline_variables` names become required."""
    cohort_params = cohort_params or {}
    defaults = Rules(rand_period=("", ""))
    optional = [c.name for c in RANDOMISATION.columns if not c.required]
    named = tuple((name, "analysis.baseline_variables")
                  for name in (analysis_params or {}).get("baseline_variables") or {}
                  if name in optional)
    return Rules(
        rand_period=tuple(data_params["rand_period"]),
        age_range=tuple(data_params.get("age_range", defaults.age_range)),
        offsets_months=tuple(cohort_params.get("offsets_months", defaults.offsets_months)),
        window_rule=cohort_params.get("window_rule", defaults.window_rule),
        min_linkage=float(data_params.get("min_linkage", defaults.min_linkage)),
        max_linkage_gap=float(data_params.get("max_linkage_gap", defaults.max_linkage_gap)),
        require_all_years=bool(data_params.get("require_all_years", defaults.require_all_years)),
        year_pattern=data_params.get("year_pattern") or None,
        named_columns=named,
    )


def clean_from_params(data_params: dict, root: Path, cohort_params: Mapping | None = None,
                      analysis_params: Mapping | None = None) -> Cleaned:
    """`clean` with every argument taken from the `data`, `cohort` and `analysis` sections of
    params.yaml."""
    paths = delivery_paths(data_params, root)
    return clean(paths["randomisation"], paths["lisa"], paths["bas"],
                 column_map=data_params.get("column_map") or {},
                 rules=rules_from_params(data_params, cohort_params, analysis_params))


INTERIM_FILES = ("randomisation.parquet", "lisa.parquet", "bas.parquet", "clean_flow.json")


def write_interim(cleaned: Cleaned, out_dir: Path) -> list[Path]:
    """Write the interim tables and the cleaning flow, all or nothing."""
    values = (cleaned.randomisation, cleaned.lisa, cleaned.bas, cleaned.flow)
    return write_all({Path(out_dir) / name: v for name, v in zip(INTERIM_FILES, values,
                                                                 strict=True)})


def read_interim(in_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """The interim tables written by `write_interim`."""
    d = Path(in_dir)
    return (pd.read_parquet(d / INTERIM_FILES[0]), pd.read_parquet(d / INTERIM_FILES[1]),
            pd.read_parquet(d / INTERIM_FILES[2]), read_json(d / INTERIM_FILES[3]))


def check_params(params: Mapping) -> int:
    """`make check-data` for the Uppsala study: the delivery `params` (its params.yaml) points
    at, checked with every parameter that names data (`data`, `cohort`, `analysis.
    baseline_variables`); prints every problem or the flow and writes nothing. Returns the exit
    status (0 fits the contract, 1 does not)."""
    from .params import project_root

    return report(params, "uppsala", lambda: clean_from_params(
        params["data"], project_root(), params.get("cohort"), params.get("analysis")).flow)


#: Each study's delivery check, ``check(params) -> int`` (0: the delivery fits), by the name
#: of the study's folder (`notebooks/<study>/params.yaml`). Named as text and imported only when
#: asked, so shared code depends on no study; a new study adds its line here.
CHECKS = {
    "uppsala": "rehabkoord.clean:check_params",
    "caseload": "rehabkoord.studies.caseload:check",
    "stockholm": "rehabkoord.studies.stockholm.data:check",
    "risk": "rehabkoord.studies.risk.data:check",
}


def report(params: Mapping, study: str, run: Callable[[], Mapping]) -> int:
    """Run a study's check (`run` returns its flow, or raises `DeliveryError`) and print the
    outcome: the flow on stdout, or every problem on stderr. Returns the exit status."""
    where = params.get("data", {}).get("dir", "data.dir")
    try:
        flow = run()
    except DeliveryError as err:
        print(f"The delivery in {where} does not fit the data contract ({study} study).\n"
              f"{err}", file=sys.stderr)
        return 1
    print(f"The delivery in {where} fits the data contract ({study} study).")
    for key, value in flow.items():
        print(f"  {key}: {value}")
    return 0


def study_of(params_file: str | Path) -> str:
    """The study a params.yaml belongs to: its folder's name (`notebooks/<study>/`)."""
    return Path(params_file).resolve().parent.name


def check(params_file: str | Path) -> int:
    """Check the delivery a study's params.yaml points at with the study's own check; writes
    nothing. Returns the exit status (0 fits, 1 does not, 2 no check for this study)."""
    from .params import load_params

    study = study_of(params_file)
    target = CHECKS.get(study)
    if target is None:
        print(f"{params_file}: no delivery check for a study named '{study}' (known: "
              f"{', '.join(CHECKS)}) → add it to rehabkoord.clean.CHECKS", file=sys.stderr)
        return 2
    module, _, name = target.partition(":")
    run = getattr(importlib.import_module(module), name, None)
    if run is None:
        print(f"{study}: {module} has no delivery check '{name}' yet", file=sys.stderr)
        return 2
    return int(run(load_params(params_file)))


def main(argv: Sequence[str] | None = None, default: str = DEFAULT_PARAMS) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehabkoord.clean",
                                     description="Check deliveries against the data contract "
                                     "without running the analysis (one or more studies).")
    parser.add_argument("--params", action="append",
                        help=f"a study's parameters file (repeatable; default {default})")
    files = parser.parse_args(argv).params or [default]
    return max(check(f) for f in files)


if __name__ == "__main__":
    sys.exit(main())
