"""Validate deliveries against the contract and write tidy, typed interim tables.

Every rule is checked on all files before anything is written; a violation stops the stage
with a message naming the file, column, rule, number of rows and a few row positions.
Facts of register data (a participant missing from some years after emigration, register
rows of people outside the study) are not errors: they are counted in the flow record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .contract import BAS, LISA, PERSON_KEY, RANDOMISATION, YEAR, Column, Table
from .io import DeliveryError, atomic_outputs, read_deliveries, read_json, write_json, write_parquet

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, how many rows, and a few 1-based data-row positions."""

    source: str
    column: str
    rule: str
    n_rows: int
    rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        more = ", …" if self.n_rows > len(self.rows) else ""
        where = f" (rows {', '.join(map(str, self.rows))}{more})" if self.rows else ""
        return f"{self.source}: column '{self.column}': {self.rule}: {self.n_rows} row(s){where}"


class ValidationError(DeliveryError):
    """All contract violations found in a delivery, reported together."""

    def __init__(self, violations: Sequence[Violation]):
        self.violations = list(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        super().__init__(f"{len(self.violations)} contract violation(s):\n{lines}")


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


def _key_text(raw: pd.Series) -> pd.Series:
    """The person key as stripped text, whether delivered as text or as a number."""
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("Int64").astype("string")
    return raw.astype("string").str.strip()


def _coerce(frame: pd.DataFrame, col: Column, source: str, out: list[Violation]) -> pd.Series:
    """The column in its contract type; unparseable values are violations, not silent NaN.

    Typed columns (Parquet, SAS, Stata) are converted directly; text (CSV) is parsed.
    """
    raw = frame[col.name]
    is_numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
    if is_numeric and col.kind in ("int", "float"):
        values = raw.astype("float64")
        present = values.notna()
    else:
        text = raw.astype("string").str.strip()
        present = text.notna() & (text != "")
        if col.kind == "str":
            if is_numeric:  # a numeric key in a typed file: 123.0 -> "123"
                text = _key_text(raw)
            values = text.where(present)
        elif col.kind == "date":
            if pd.api.types.is_datetime64_any_dtype(raw):
                values = raw
            else:
                values = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
                if values[present].isna().any():
                    values = values.fillna(pd.to_datetime(text, format="%Y%m%d", errors="coerce"))
        else:
            values = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
    if col.kind == "int":
        fractional = values.notna() & (values != np.floor(values.fillna(0)))
        n, rows = _positions(fractional)
        if n:
            out.append(Violation(source, col.name, "must be a whole number", n, rows))
    bad = present & values.isna()
    n, rows = _positions(bad)
    if n:
        out.append(Violation(source, col.name, f"cannot be read as {col.kind}", n, rows))
    if col.required:
        n, rows = _positions(~present)
        if n:
            out.append(Violation(source, col.name, "missing value", n, rows))
    return values


def _check_rules(values: pd.Series, col: Column, source: str, out: list[Violation]) -> None:
    ok = values.notna()
    if col.codes is not None:
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


def validate_table(frames: Sequence[pd.DataFrame], table: Table, out: list[Violation],
                   keep: pd.Index | None = None, counts: dict | None = None) -> pd.DataFrame:
    """Typed concatenation of one table's files; violations are appended to `out`.

    With `keep` (the randomised person keys), rows of other people are removed before the
    value rules run, and counted in `counts` (rows_read, rows_not_in_study): register
    deliveries cover whole populations, and only the study's rows enter the analysis.
    """
    typed_parts = []
    counts = counts if counts is not None else {}
    counts.setdefault("rows_read", 0)
    counts.setdefault("rows_not_in_study", 0)
    for frame in frames:
        source = frame.attrs.get("source", table.name)
        if len(frame) == 0:
            out.append(Violation(source, "*", "the file has no data rows", 0))
            continue
        missing = [c.name for c in table.columns if c.required and c.name not in frame.columns]
        for name in missing:
            out.append(Violation(source, name, "required column missing (check the column map "
                                 "in params.yaml)", len(frame)))
        for group in table.optional_groups:
            if not any(g in frame.columns for g in group):
                out.append(Violation(source, " or ".join(group),
                                     "one of these columns is required", len(frame)))
        if missing:
            continue
        counts["rows_read"] += len(frame)
        if keep is not None:
            in_study = _key_text(frame[PERSON_KEY]).isin(keep).to_numpy(dtype=bool)
            counts["rows_not_in_study"] += int((~in_study).sum())
            frame = frame[in_study]
        typed = pd.DataFrame(index=frame.index)
        for col in table.columns:
            if col.name not in frame.columns:
                typed[col.name] = pd.Series(np.nan, index=frame.index,
                                            dtype="string" if col.kind == "str" else "float64")
                continue
            values = _coerce(frame, col, source, out)
            _check_rules(values, col, source, out)
            typed[col.name] = values
        typed["_source"] = source
        typed["_row"] = frame.index.to_numpy() + 1
        typed_parts.append(typed)
    if not typed_parts:
        return pd.DataFrame(columns=[*table.names, "_source", "_row"])
    data = pd.concat(typed_parts, ignore_index=True)
    dup = data.duplicated(list(table.key), keep=False) & data[list(table.key)].notna().all(axis=1)
    if dup.any():
        for source, part in data[dup].groupby("_source", sort=True):
            rows = tuple(int(r) for r in part["_row"].head(MAX_EXAMPLES))
            out.append(Violation(source, ", ".join(table.key), "duplicate key", len(part), rows))
    return data


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


def clean(
    randomisation_paths: str | Sequence[str],
    lisa_paths: str | Sequence[str],
    bas_paths: str | Sequence[str],
    *,
    column_map: Mapping[str, str] | None = None,
    rand_period: tuple[str, str],
    age_range: tuple[int, int] = (25, 64),
) -> Cleaned:
    """Read, validate and type the three deliveries; raise `ValidationError` listing every breach.

    Register rows of people who were not randomised are removed (counted, never silently);
    randomised people must be found in LISA and be aged `age_range` at randomisation
    (age = randomisation year − birth year, as LISA gives the birth year only).
    """
    violations: list[Violation] = []
    rand = validate_table(read_deliveries(randomisation_paths, RANDOMISATION, column_map),
                          RANDOMISATION, violations)
    keys = pd.Index(rand[PERSON_KEY].dropna().unique()) if PERSON_KEY in rand else pd.Index([])
    lisa_counts: dict = {}
    bas_counts: dict = {}
    lisa = validate_table(read_deliveries(lisa_paths, LISA, column_map), LISA, violations,
                          keys, lisa_counts)
    bas = validate_table(read_deliveries(bas_paths, BAS, column_map), BAS, violations,
                         keys, bas_counts)
    if violations:
        raise ValidationError(violations)

    for table, data in ((LISA, lisa), (BAS, bas)):
        years = sorted(int(y) for y in data[YEAR].unique())
        gaps = sorted(set(range(years[0], years[-1] + 1)) - set(years)) if years else []
        if gaps:
            violations.append(Violation(table.name, YEAR, "register years not contiguous "
                                        f"(missing: {', '.join(map(str, gaps))})", 0))
    start, end = pd.Timestamp(rand_period[0]), pd.Timestamp(rand_period[1])
    outside = (rand["RandDatum"] < start) | (rand["RandDatum"] > end)
    n, rows = _positions(outside)
    if n:
        violations.append(Violation(rand["_source"].iat[0], "RandDatum",
                                    f"outside the study period {rand_period[0]}–{rand_period[1]}",
                                    n, rows))
    in_lisa = rand[PERSON_KEY].isin(lisa[PERSON_KEY])
    n, rows = _positions(~in_lisa)
    if n:
        violations.append(Violation(rand["_source"].iat[0], PERSON_KEY,
                                    "randomised person not found in any LISA year "
                                    "(linkage failure)", n, rows))
    birth = (lisa.groupby(PERSON_KEY)["FodelseAr"].agg(["min", "max"]))
    conflicting = birth.index[birth["min"] != birth["max"]]
    if len(conflicting):
        mask = lisa[PERSON_KEY].isin(conflicting)
        violations.append(Violation(LISA.name, "FodelseAr",
                                    "differs between years for the same person",
                                    int(mask.sum()), tuple(int(r) for r in
                                                           lisa.loc[mask, "_row"].head(5))))
    age = rand["RandDatum"].dt.year - rand[PERSON_KEY].map(birth["min"]).astype("float64")
    bad_age = in_lisa & ((age < age_range[0]) | (age > age_range[1]))
    n, rows = _positions(bad_age)
    if n:
        violations.append(Violation(rand["_source"].iat[0], "RandDatum/FodelseAr",
                                    f"age at randomisation outside {age_range[0]}–{age_range[1]}",
                                    n, rows))
    if violations:
        raise ValidationError(violations)

    flow = {
        "randomised": int(len(rand)),
        "randomised_by_group": {g: int(v) for g, v in rand["Grupp"].value_counts().sort_index()
                                .items()},
        "lisa_rows_read": lisa_counts["rows_read"],
        "lisa_rows_not_in_study": lisa_counts["rows_not_in_study"],
        "bas_rows_read": bas_counts["rows_read"],
        "bas_rows_not_in_study": bas_counts["rows_not_in_study"],
        "lisa_years": sorted(int(y) for y in lisa[YEAR].unique()),
        "bas_years": sorted(int(y) for y in bas[YEAR].unique()),
    }
    return Cleaned(_finish(rand, RANDOMISATION), _finish(lisa, LISA), _finish(bas, BAS), flow)


def delivery_paths(data_params: dict, root: Path) -> dict[str, list[str]]:
    """The delivered files' globs from the `data` section of params.yaml, under `data.dir`."""
    base = root / data_params["dir"]
    out = {}
    for key in ("randomisation", "lisa", "bas"):
        value = data_params[key]
        patterns = [value] if isinstance(value, str) else list(value)
        out[key] = [str(base / p) for p in patterns]
    return out


def clean_from_params(data_params: dict, root: Path) -> Cleaned:
    """`clean` with every argument taken from the `data` section of params.yaml."""
    paths = delivery_paths(data_params, root)
    return clean(paths["randomisation"], paths["lisa"], paths["bas"],
                 column_map=data_params.get("column_map") or {},
                 rand_period=tuple(data_params["rand_period"]),
                 age_range=tuple(data_params["age_range"]))


INTERIM_FILES = ("randomisation.parquet", "lisa.parquet", "bas.parquet", "clean_flow.json")


def write_interim(cleaned: Cleaned, out_dir: Path) -> list[Path]:
    """Write the interim tables and the cleaning flow, all or nothing."""
    targets = [Path(out_dir) / name for name in INTERIM_FILES]
    with atomic_outputs(*targets) as (rand, lisa, bas, flow):
        write_parquet(cleaned.randomisation, rand)
        write_parquet(cleaned.lisa, lisa)
        write_parquet(cleaned.bas, bas)
        write_json(cleaned.flow, flow)
    return targets


def read_interim(in_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """The interim tables written by `write_interim`."""
    d = Path(in_dir)
    return (pd.read_parquet(d / INTERIM_FILES[0]), pd.read_parquet(d / INTERIM_FILES[1]),
            pd.read_parquet(d / INTERIM_FILES[2]), read_json(d / INTERIM_FILES[3]))
