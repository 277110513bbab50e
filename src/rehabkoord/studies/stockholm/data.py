"""The spell study's deliveries: participants (the region), MiDAS sick-leave periods, the
population register (death, emigration; optionally sex and birth year), LISA (sex, birth year,
income; optional when the population file carries sex and birth year) and, optionally, BAS
(main activity; `data.bas`, for scoring the participants with the risk model), declared in
`DELIVERY` and read with the shared delivery layer (`rehabkoord.delivery`) in one pass: every
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

from ...clean import (
    check_period_dates,
    check_periods,
    check_stable,
    check_years_cover,
    report,
)
from ...contract import (
    BAS,
    LISA_BACKGROUND,
    PARTICIPANTS,
    PERSON_KEY,
    POPULATION,
    SPELL_PERIODS,
    is_code_like,
    quote_values,
)
from ...delivery import Source, diagnosis_counts, read_mapping_param, read_sources
from ...io import MAX_EXAMPLES, ValidationError, Violation, write_all
from ...params import project_root
from ...registeryears import baseline_year

#: The spell study's delivery: each `data:` key, its contract table and, for an optional one,
#: what follows when it is null or absent.
DELIVERY = (
    Source("participants", PARTICIPANTS, own=True),
    Source("periods", SPELL_PERIODS),
    Source("population", POPULATION),
    Source("lisa", LISA_BACKGROUND, when_missing="sex and birth year come from the population "
           "file (its Kon and FodelseAr columns); no income (DispInk04) to score the "
           "participants with the risk model"),
    Source("bas", BAS, when_missing="no main activity (BAS) to score the participants with "
           "the risk model"),
)
#: Person facts the spell study reads: from LISA when delivered, else from the population file.
BACKGROUND = ("Kon", "FodelseAr")


@dataclass(frozen=True)
class Deliveries:
    """The validated tables (one row per key) and the reading flow (rows read, rows of people
    outside the study, years delivered, diagnosis codes against the mapping). `registers`:
    LISA's and BAS's yearly rows of the participants (LopNr, Ar, DispInk04 and BAS when
    delivered)."""

    participants: pd.DataFrame
    periods: pd.DataFrame
    population: pd.DataFrame
    background: pd.DataFrame
    flow: dict
    registers: pd.DataFrame


def read(data_params: Mapping, root: Path, mapping: pd.DataFrame | None = None) -> Deliveries:
    """Read and validate every delivery named in `data:`; raise `ValidationError` listing
    every breach. With `mapping` (the diagnosis table), the flow counts the delivered codes it
    does not map."""
    violations: list[Violation] = []
    tables, flow = read_sources(DELIVERY, data_params, root, violations)
    if "participants" not in tables or "periods" not in tables or "population" not in tables:
        raise ValidationError(violations)
    participants = tables["participants"]
    check_periods(tables["periods"], violations)
    check_period_dates(tables["periods"], violations, data_params.get("extraction_date"))
    if CENTRE in participants.columns:
        labels, how = centre_labels(participants, data_params.get("centres"), violations)
        participants = participants.assign(**{CENTRE: labels})
        flow["participants"]["centre_labels"] = how
    needed = {int(y) for y in baseline_year(participants["IndexDatum"].dropna()).unique()}
    for key, name in (("lisa", "LISA"), ("bas", "BAS")):
        if key in tables and flow[key]["complete"] and flow["participants"]["complete"]:
            check_years_cover(name, set(flow[key]["years"]), needed,
                              "before the participants' index dates", violations,
                              f"data.{key}")
    if "lisa" in tables:
        source, table = tables["lisa"], "LISA"
    else:
        source, table = tables["population"], "the population file"
        absent = [c for c in BACKGROUND if not source[c].notna().any()]
        if absent:
            violations.append(Violation(
                str(data_params.get("population")), "/".join(absent), "data.lisa is not set "
                "and the population file has no such column", 0,
                hint="set data.lisa to the LISA extract, or deliver Kon and FodelseAr in the "
                "population file"))
            raise ValidationError(violations)
    background = _background(source, participants, table, violations)
    if mapping is not None:
        flow["periods"]["diagnoses"] = diagnosis_counts(tables["periods"]["Diagnos"], mapping)
    if violations:
        raise ValidationError(violations)
    flow["participants"]["persons"] = int(len(participants))
    flow["background_from"] = "data.lisa" if "lisa" in tables else "data.population"
    return Deliveries(_typed(participants), _typed(tables["periods"]),
                      _typed(tables["population"].drop(columns=list(BACKGROUND))),
                      _typed(background), flow,
                      _registers(tables.get("lisa"), tables.get("bas")))


def check(params: Mapping) -> int:
    """`make check-data STUDY=stockholm`: every delivery and data file the parameters name
    (`data:`, `derivation.mapping`) read and checked as the derive stage does; writes nothing.
    Returns the exit status."""
    root = project_root()

    def run() -> dict:
        problems: list[Violation] = []
        try:
            mapping = read_mapping_param(params["derivation"], root)
        except ValidationError as err:  # reported with the delivery's problems, in one pass
            problems, mapping = err.violations, None
        try:
            flow = read(params["data"], root, mapping).flow
        except ValidationError as err:
            raise ValidationError([*problems, *err.violations]) from err
        if problems:
            raise ValidationError(problems)
        return flow

    return report(params, "stockholm", run)


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


def _registers(lisa: pd.DataFrame | None, bas: pd.DataFrame | None) -> pd.DataFrame:
    """Yearly LISA income and BAS main activity per person (either may be absent)."""
    keys = [PERSON_KEY, "Ar"]
    out = None if lisa is None else lisa[[*keys, "DispInk04"]]
    if bas is not None:
        out = bas[[*keys, "BAS"]] if out is None else out.merge(bas[[*keys, "BAS"]], on=keys,
                                                                 how="outer")
    if out is None:
        out = pd.DataFrame({PERSON_KEY: pd.Series(dtype="string"),
                            "Ar": pd.Series(dtype="float64")})
    return _typed(out.sort_values(keys, ignore_index=True))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the reading bookkeeping (`_source`, `_row`); whole numbers as integers."""
    out = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
    for col in ("SjukfallNr", "Omfattning", "VardbesokForeAr", "Kon", "FodelseAr", "BAS"):
        if col in out.columns:
            out[col] = out[col].astype("Int64")
    return out


def _background(source: pd.DataFrame, participants: pd.DataFrame, name: str,
                violations: list[Violation]) -> pd.DataFrame:
    """Sex and birth year per participant (from LISA's latest year delivered, or the population
    file); a participant missing there, or with sex or birth year differing between years
    (`clean.check_stable`), is a violation."""
    check_stable(source, BACKGROUND, violations)
    order = [PERSON_KEY, "Ar"] if "Ar" in source.columns else [PERSON_KEY]
    known = source.dropna(subset=list(BACKGROUND))
    latest = (known.sort_values(order).groupby(PERSON_KEY).tail(1)
              .set_index(PERSON_KEY)[list(BACKGROUND)])
    missing = ~participants[PERSON_KEY].isin(latest.index)
    if missing.any():
        part = participants[missing.to_numpy(dtype=bool)]
        violations.append(Violation(
            "LISA" if name == "LISA" else str(part["_source"].iloc[0]), PERSON_KEY,
            f"participant not found in {name}" + ("" if name == "LISA" else
                                                  " with Kon and FodelseAr"),
            len(part), tuple(int(r) for r in part["_row"].head(MAX_EXAMPLES)),
            hint="check data.lisa and that LISA covers the participants' index years"
            if name == "LISA" else "deliver Kon and FodelseAr for every participant, or "
            "set data.lisa"))
    return latest.reset_index()


INTERIM_FILES = ("participants.parquet", "periods.parquet", "population.parquet",
                 "background.parquet", "read_flow.json")


def write_interim(d: Deliveries, out_dir: str | Path) -> list[Path]:
    """The validated tables and the reading flow, all or nothing."""
    values = (d.participants, d.periods, d.population, d.background, d.flow)
    return write_all({Path(out_dir) / name: v for name, v in zip(INTERIM_FILES, values,
                                                                 strict=True)})
