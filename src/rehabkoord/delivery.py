"""The delivery layer every study reads its data through, and `make check-data`.

Each study declares its delivery in one place: a tuple of `Source` (the `data:` key in its
params.yaml, the contract table in `contract`, whether the key may be null and what follows
then). `read_sources` reads and validates them all in one pass with the shared `io` and `clean`
code, so every study reads the same `data:` keys the same way (`dir` absolute or relative,
`column_map`, `year_pattern`) and applies the same rules (person keys, register years, dates,
codes, encodings). Each study's check for `make check-data` (``check(params) -> int``, listed
in `clean.CHECKS`) reads its sources with `read_sources` and prints with `clean.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import spells
from .clean import validate_table
from .contract import PERSON_KEY, Table, is_code_like, normalise_icd10
from .io import ValidationError, Violation, data_patterns, read_deliveries


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
    dropped and counted), and the reading flow per source (rows read = rows kept + rows not in
    the study, years delivered); problems go to `violations`. A required source left out is a
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
                            "rows_kept": int(len(tables[source.key])),
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


__all__ = ["Source", "diagnosis_counts", "given", "read_mapping_param", "read_sources"]
