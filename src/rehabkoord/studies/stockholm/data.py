"""The spell study's deliveries: participants (the region), MiDAS sick-leave periods, the
population register (death, emigration), LISA (sex, birth year, income) and, optionally, BAS
(main activity; `data.bas`, for scoring the participants with the risk model), read and
validated with the shared delivery code (`io`, `clean.validate_table`) in one pass: every
problem in every file is reported together, and register rows of people outside the study are
counted, not kept.

The care centre (`Vardcentral`) is the one delivered text the appendix prints (a table per
centre). Its printed label comes from `data.centres` in params.yaml (delivered name -> label, or
a list of names), and a centre not listed there stops the run; without that key, delivered
names are kept only when all are code-like (`contract.is_code_like`, e.g. VC01), and otherwise
replaced by the codes VC1, VC2, … in alphabetical order of the delivered names: a free-text
cell may hold a person's name, which no check of the text can tell from a centre's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    is_code_like,
    quote_values,
)
from ...io import MAX_EXAMPLES, ValidationError, Violation, read_deliveries, write_all

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
    participants = tables["participants"]
    if CENTRE in participants.columns:
        labels, how = centre_labels(participants, data_params.get("centres"), violations)
        participants = participants.assign(**{CENTRE: labels})
        flow["participants"]["centre_labels"] = how
    background = tables["lisa"]
    if {"Kon", "FodelseAr", "Ar"} <= set(background.columns) and \
            PERSON_KEY in tables["participants"].columns:
        background = _background(background, tables["participants"], violations)
    if violations:
        raise ValidationError(violations)
    flow["participants"]["persons"] = int(len(tables["participants"]))
    return Deliveries(_typed(participants), _typed(tables["periods"]),
                      _typed(tables["population"]), _typed(background), flow,
                      _registers(tables["lisa"], tables.get("bas")))


#: The participants' column whose text the appendix prints.
CENTRE = "Vardcentral"


def centre_labels(participants: pd.DataFrame, centres: Mapping[str, str] | Sequence[str] | None,
                  violations: list[Violation]) -> tuple[pd.Series, str]:
    """Each participant's care centre as the appendix may print it, and how the labels were
    made: 'data.centres' (the labels params.yaml gives; an unlisted centre is a violation),
    'delivered codes' (every delivered name is code-like) or 'coded' (VC1, VC2, … in
    alphabetical order of the delivered names)."""
    names = participants[CENTRE]
    if centres:
        table = ({str(k): str(v) for k, v in centres.items()} if isinstance(centres, Mapping)
                 else {str(c): str(c) for c in centres})
        unknown = names.notna() & ~names.isin(list(table))
        if unknown.any():
            part = participants[unknown.to_numpy(dtype=bool)]
            violations.append(Violation(
                str(part["_source"].iloc[0]), CENTRE, "not a care centre of data.centres "
                f"({quote_values(names[unknown])})", len(part),
                tuple(int(r) for r in part["_row"].head(MAX_EXAMPLES)),
                hint="add the centre to data.centres in the study's params.yaml, with the "
                "label to print"))
        return names.map(table).astype("string"), "data.centres"
    distinct = sorted(names.dropna().unique())
    if all(is_code_like(n) for n in distinct):
        return names, "delivered codes"
    return names.map({n: f"VC{i}" for i, n in enumerate(distinct, 1)}).astype("string"), "coded"


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
