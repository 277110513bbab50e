"""The spell study's deliveries: participants (the region), MiDAS sick-leave periods, the
population register (death, emigration), LISA (sex, birth year, income) and, optionally, BAS
(main activity; `data.bas`, for scoring the participants with the risk model), read and
validated with
the shared delivery code (`io`, `clean.validate_table`) in one pass: every problem in every
file is reported together, and register rows of people outside the study are counted, not
kept."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ...clean import check_periods, validate_table
from ...contract import (
    BAS,
    LISA_BACKGROUND,
    PARTICIPANTS,
    PERSON_KEY,
    POPULATION,
    SPELL_PERIODS,
    Table,
)
from ...io import ValidationError, Violation, read_deliveries, write_all

#: params key under `data:` -> (contract table, whether it covers only the study's people)
SOURCES: dict[str, tuple[Table, bool]] = {
    "participants": (PARTICIPANTS, True),
    "periods": (SPELL_PERIODS, False),
    "population": (POPULATION, False),
    "lisa": (LISA_BACKGROUND, False),
    "bas": (BAS, False),
}
#: Deliveries a study may leave out (its key in `data:` absent or null).
OPTIONAL = ("bas",)


@dataclass(frozen=True)
class Deliveries:
    """The validated tables (one row per key) and the reading flow (rows read, rows of people
    outside the study, persons without a LISA row). `registers`: LISA's and BAS's yearly rows
    of the participants (LopNr, Ar, DispInk04 and BAS when delivered)."""

    participants: pd.DataFrame
    periods: pd.DataFrame
    population: pd.DataFrame
    background: pd.DataFrame
    flow: dict
    registers: pd.DataFrame


def _patterns(data_params: Mapping, root: Path, key: str) -> list[str]:
    value = data_params[key]
    return [str(root / data_params["dir"] / p) for p in ([value] if isinstance(value, str)
                                                          else value)]


def read(data_params: Mapping, root: Path) -> Deliveries:
    """Read and validate every delivery named in `data:`; raise `ValidationError` listing
    every breach."""
    violations: list[Violation] = []
    column_map = data_params.get("column_map") or {}
    tables: dict[str, pd.DataFrame] = {}
    flow: dict = {}
    keep = None
    for key, (table, own) in SOURCES.items():
        if key in OPTIONAL and not data_params.get(key):
            continue
        before = len(violations)
        frames = read_deliveries(_patterns(data_params, root, key), table, column_map,
                                 violations, param=f"data.{key}")
        counts: dict = {"complete": len(violations) == before}
        tables[key] = validate_table(frames, table, violations, None if own else keep, counts)
        flow[key] = {"rows_read": int(counts["rows_read"]),
                     "rows_not_in_study": int(counts["rows_not_in_study"])}
        if own:
            keep = pd.Index(tables[key][PERSON_KEY].dropna().unique())
    check_periods(tables["periods"], violations)
    background = tables["lisa"]
    if {"Kon", "FodelseAr", "Ar"} <= set(background.columns) and \
            PERSON_KEY in tables["participants"].columns:
        background = _background(background, tables["participants"], violations)
    if violations:
        raise ValidationError(violations)
    flow["participants"]["persons"] = int(len(tables["participants"]))
    return Deliveries(_typed(tables["participants"]), _typed(tables["periods"]),
                      _typed(tables["population"]), _typed(background), flow,
                      _registers(tables["lisa"], tables.get("bas")))


def _registers(lisa: pd.DataFrame, bas: pd.DataFrame | None) -> pd.DataFrame:
    """Yearly LISA income and BAS main activity per person (either may be absent)."""
    keys = [PERSON_KEY, "Ar"]
    out = lisa[keys + (["DispInk04"] if "DispInk04" in lisa.columns else [])]
    if bas is not None:
        out = out.merge(bas[[*keys, "BAS"]], on=keys, how="outer")
    return _typed(out.sort_values(keys, ignore_index=True))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the reading bookkeeping (`_source`, `_row`); whole numbers as integers."""
    out = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
    for col in ("SjukfallNr", "Omfattning", "VardbesokForeAr", "Kon", "FodelseAr", "BAS"):
        if col in out.columns:
            out[col] = out[col].astype("Int64")
    return out


def _background(lisa: pd.DataFrame, participants: pd.DataFrame,
                violations: list[Violation]) -> pd.DataFrame:
    """Sex and birth year per participant from LISA (the latest year delivered); a participant
    missing from LISA, or with sex or birth year differing between years, is a violation."""
    per_person = lisa.groupby(PERSON_KEY)[["Kon", "FodelseAr"]].nunique()
    unstable = per_person[(per_person > 1).any(axis=1)]
    if len(unstable):
        violations.append(Violation("LISA", "Kon/FodelseAr", "sex or birth year differs between "
                                    "years for the same person", len(unstable),
                                    hint="check the LISA delivery"))
    latest = (lisa.sort_values([PERSON_KEY, "Ar"]).groupby(PERSON_KEY).tail(1)
              .set_index(PERSON_KEY)[["Kon", "FodelseAr"]])
    missing = ~participants[PERSON_KEY].isin(latest.index)
    if missing.any():
        violations.append(Violation("LISA", PERSON_KEY, "participant not found in LISA",
                                    int(missing.sum()), hint="check data.lisa and that LISA "
                                    "covers the participants' index years"))
    return latest.reset_index()


INTERIM_FILES = ("participants.parquet", "periods.parquet", "population.parquet",
                 "background.parquet", "read_flow.json")


def write_interim(d: Deliveries, out_dir: str | Path) -> list[Path]:
    """The validated tables and the reading flow, all or nothing."""
    values = (d.participants, d.periods, d.population, d.background, d.flow)
    return write_all({Path(out_dir) / name: v for name, v in zip(INTERIM_FILES, values,
                                                                 strict=True)})
