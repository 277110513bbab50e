"""The delivery layer every study reads its data through, and `make check-data`.

Each study declares its delivery in one place: a tuple of `Source` (the `data:` key in its
params.yaml, the contract table in `contract`, whether the key may be null and what follows
then). `read_sources` reads and validates them all in one pass with the shared `io` and `clean`
code, so every study reads the same `data:` keys the same way (`dir` absolute or relative,
`column_map`, `year_pattern`) and applies the same rules (person keys, register years, dates,
codes, encodings). `check` runs a study's own delivery check (`CHECKS`), reading everything and
writing nothing; ``python -m rehabkoord.clean --params notebooks/<study>/params.yaml`` calls it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import spells
from .clean import validate_table
from .contract import PERSON_KEY, Table, is_code_like, normalise_icd10
from .io import DeliveryError, ValidationError, Violation, data_patterns, read_deliveries


@dataclass(frozen=True)
class Source:
    """One delivered table of a study: the `data:` key naming its files, its contract table,
    whether it is the study's own list of persons (`own`: other registers keep only their
    rows), and, for an optional source, what follows when the key is null or absent."""

    key: str
    table: Table
    own: bool = False
    when_missing: str | None = None

    @property
    def optional(self) -> bool:
        return self.when_missing is not None


def given(data_params: Mapping, key: str) -> bool:
    """Whether `data.<key>` names files (absent, null or an empty list leave it out)."""
    return bool(data_params.get(key))


def read_sources(sources: Sequence[Source], data_params: Mapping, root: Path | str,
                 violations: list[Violation]) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every source `data:` names, validated (rows of people outside the study's own list
    dropped and counted), and the reading flow per source (rows read, rows not in the study,
    years delivered); problems go to `violations`. A required source left out is a
    violation naming its key."""
    column_map = data_params.get("column_map") or {}
    year_pattern = data_params.get("year_pattern") or None
    tables: dict[str, pd.DataFrame] = {}
    flow: dict = {}
    keep = None
    for source in sources:
        if not given(data_params, source.key):
            if not source.optional:
                violations.append(Violation("params.yaml", f"data.{source.key}",
                                            f"required delivery ({source.table.name}) not set",
                                            0, hint=f"set data.{source.key} to its file(s)"))
            continue
        before = len(violations)
        frames = read_deliveries(data_patterns(data_params, root, source.key), source.table,
                                 column_map, violations, year_pattern, f"data.{source.key}")
        counts: dict = {"complete": len(violations) == before}
        tables[source.key] = validate_table(frames, source.table, violations,
                                            None if source.own else keep, counts)
        flow[source.key] = {"rows_read": int(counts["rows_read"]),
                            "rows_not_in_study": int(counts["rows_not_in_study"]),
                            "complete": bool(counts["complete"])}
        if source.table.yearly:
            flow[source.key]["years"] = sorted(int(y) for y in counts["years_delivered"])
        if source.own:
            keep = pd.Index(tables[source.key][PERSON_KEY].dropna().unique())
    return tables, flow


#: Distinct unmapped codes a flow lists by name (the rest are only counted).
UNMAPPED_SHOWN = 20


def diagnosis_counts(codes: pd.Series, mapping: pd.DataFrame) -> dict:
    """How the delivered ICD-10 codes (`Diagnos`, shape-checked by `clean`) meet the editable
    diagnosis table (`prefix`, `group`; longest prefix wins, as in `spells`): rows and
    distinct codes mapped, and those matching no prefix (they count as 'other'), with the most
    frequent unmapped codes and their rows, so a delivery's unexpected codes are seen."""
    delivered = codes.dropna().astype(str).value_counts()  # distinct first: registers are large
    distinct = delivered.groupby(delivered.index.map(normalise_icd10)).sum()
    distinct = distinct.sort_values(ascending=False, kind="stable")
    prefixes = sorted(mapping["prefix"].map(normalise_icd10), key=len, reverse=True)
    unmapped = distinct[[not any(c.startswith(p) for p in prefixes) for c in distinct.index]]
    shown = {c: int(n) for c, n in unmapped.head(UNMAPPED_SHOWN).items() if is_code_like(c)}
    return {"rows": int(distinct.sum()), "codes": int(len(distinct)),
            "rows_unmapped": int(unmapped.sum()), "codes_unmapped": int(len(unmapped)),
            "unmapped_most_frequent": shown}


def read_mapping_param(derivation: Mapping, root: Path | str,
                       param: str = "derivation.mapping") -> pd.DataFrame | None:
    """The editable diagnosis table `derivation.mapping` names (relative to the project root or
    absolute; null: None, the shared table), or a `ValidationError` naming the parameter."""
    value = derivation.get("mapping")
    if not value:
        return None
    path = Path(root) / Path(str(value)).expanduser()
    if not path.is_file():
        raise ValidationError([Violation(str(path), "*", "no such file", 0,
                                         hint=f"check {param} in params.yaml")])
    try:
        return spells.read_mapping(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValidationError([Violation(str(path), "*", f"not a diagnosis table ({err})", 0,
                                         hint=f"columns prefix, group (mental, pain, other), "
                                         f"label_sv, label_en; or fix {param}")]) from err


#: Each study's delivery check, ``check(params) -> int`` (0: the delivery fits), by the name
#: of the study's folder (`notebooks/<study>/params.yaml`). Named as text and imported only when
#: asked, so this shared module depends on no study; a new study adds its line here.
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
        print(f"{study}: the delivery in {where} does not fit the data contract.\n{err}",
              file=sys.stderr)
        return 1
    print(f"{study}: the delivery in {where} fits the data contract.")
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
              f"{', '.join(CHECKS)}) → add it to rehabkoord.delivery.CHECKS", file=sys.stderr)
        return 2
    module, _, name = target.partition(":")
    run = getattr(importlib.import_module(module), name, None)
    if run is None:
        print(f"{study}: {module} has no delivery check '{name}' yet", file=sys.stderr)
        return 2
    return int(run(load_params(params_file)))


def main(argv: Sequence[str] | None = None, default: str = "notebooks/uppsala/params.yaml"
         ) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehabkoord.clean",
                                     description="Check deliveries against the data contract "
                                     "without running the analysis (one or more studies).")
    parser.add_argument("--params", action="append",
                        help=f"a study's parameters file (repeatable; default {default})")
    files = parser.parse_args(argv).params or [default]
    return max(check(f) for f in files)


__all__ = ["CHECKS", "Source", "check", "diagnosis_counts", "given", "main", "read_mapping_param",
           "read_sources", "report", "study_of"]
