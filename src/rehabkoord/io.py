"""Reading deliveries in the formats SCB and regions use, and writing outputs atomically.

Formats: CSV (comma or semicolon, UTF-8 or Latin-1, decimal comma), Parquet, SAS
(``.sas7bdat``, ``.xpt``) and Stata (``.dta``). Column names are matched case-insensitively
and renamed through the project's column map, so the rest of the code sees contract names only.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat

from . import provenance
from .contract import YEAR, Table


class DeliveryError(ValueError):
    """A delivered file breaks the data contract; the message names file, column, rule and rows."""


_YEAR_IN_NAME = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")


def expand_paths(pattern: str | Sequence[str]) -> list[Path]:
    """Files matching one glob or a list of globs, sorted so reading order is deterministic."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    found: list[Path] = []
    for p in patterns:
        hits = sorted(glob.glob(p)) if any(ch in p for ch in "*?[") else [p]
        found.extend(Path(h) for h in hits)
    if not found:
        raise DeliveryError(f"{patterns}: no file matches (check the paths in params.yaml)")
    for f in found:
        if not f.is_file():
            raise DeliveryError(f"{f}: file not found (check the paths in params.yaml)")
    return found


def year_from_filename(path: Path) -> int | None:
    """The register year in a file name such as ``LISA2023.csv`` or ``lisa_2023.sas7bdat``."""
    hits = _YEAR_IN_NAME.findall(path.stem)
    return int(hits[-1]) if len(hits) >= 1 else None


def _sniff_csv(path: Path) -> tuple[str, str, str]:
    """Encoding, delimiter and decimal mark of a CSV delivery, from its first bytes."""
    raw = path.read_bytes()[:65536]
    if not raw.strip():
        raise DeliveryError(f"{path}: the file is empty")
    try:
        head = raw.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError as err:
        if err.start >= len(raw) - 3:  # a multibyte character cut by the 64 KiB window
            head = raw[: err.start].decode("utf-8")
            encoding = "utf-8"
        else:
            head = raw.decode("latin-1")
            encoding = "latin-1"
    first = head.lstrip("\ufeff").splitlines()[0]
    counts = {d: first.count(d) for d in (";", ",", "\t")}
    delimiter = max(counts, key=counts.get)
    if counts[delimiter] == 0:
        raise DeliveryError(
            f"{path}: no delimiter found in the header line (expected ';', ',' or tab)"
        )
    decimal = "," if delimiter in (";", "\t") else "."
    return encoding, delimiter, decimal


def _mapping(columns: Sequence[str], table: Table, column_map: Mapping[str, str]) -> dict:
    """Delivered name -> contract name, case-insensitively, through the column map."""
    lowered_map = {k.lower(): v for k, v in column_map.items()}
    contract = {n.lower(): n for n in table.names}
    out = {}
    for col in columns:
        key = str(col).strip().lstrip("\ufeff")
        target = lowered_map.get(key.lower(), key)
        if target.lower() in contract:
            out[col] = contract[target.lower()]
    return out


def _available_columns(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return list(pq.read_schema(path).names)
    if suffix in (".csv", ".txt"):
        encoding, delimiter, _ = _sniff_csv(path)
        return list(pd.read_csv(path, sep=delimiter, encoding=encoding, nrows=0).columns)
    return []


def read_delivery(
    path: Path, table: Table, column_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One delivered file as a frame with contract column names; only contract columns are read.

    Values are read as delivered (strings for CSV); typing and validation happen in `clean`.
    """
    column_map = column_map or {}
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            encoding, delimiter, decimal = _sniff_csv(path)
            names = _available_columns(path)
            mapping = _mapping(names, table, column_map)
            frame = pd.read_csv(
                path, sep=delimiter, encoding=encoding, decimal=decimal,
                usecols=list(mapping), dtype=str, keep_default_na=False, na_values=[""],
            )
        elif suffix == ".parquet":
            mapping = _mapping(_available_columns(path), table, column_map)
            frame = pd.read_parquet(path, columns=list(mapping))
        elif suffix in (".sas7bdat", ".xpt"):
            reader = pyreadstat.read_sas7bdat if suffix == ".sas7bdat" else pyreadstat.read_xport
            _, meta = reader(str(path), metadataonly=True)
            mapping = _mapping(meta.column_names, table, column_map)
            frame, _ = reader(str(path), usecols=list(mapping))
        elif suffix == ".dta":
            frame = pd.read_stata(path, convert_categoricals=False)
            mapping = _mapping(frame.columns, table, column_map)
            frame = frame[list(mapping)]
        else:
            raise DeliveryError(
                f"{path}: unsupported format '{suffix}' "
                "(use .csv, .txt, .parquet, .sas7bdat, .xpt or .dta)"
            )
    except DeliveryError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError,
            pyreadstat.ReadstatError) as err:
        raise DeliveryError(f"{path}: cannot be read as {suffix} ({err})") from err
    frame = frame.rename(columns=mapping)
    if table.yearly and YEAR not in frame.columns:
        year = year_from_filename(path)
        if year is None:
            raise DeliveryError(
                f"{path}: column '{YEAR}' missing and no year in the file name "
                "(name yearly files like LISA2023.csv, or add the column)"
            )
        frame[YEAR] = year
    frame.attrs["source"] = str(path)
    return frame


def read_deliveries(
    pattern: str | Sequence[str], table: Table, column_map: Mapping[str, str] | None = None
) -> list[pd.DataFrame]:
    """All files of one table (a glob or a list), each read with `read_delivery`."""
    return [read_delivery(p, table, column_map) for p in expand_paths(pattern)]


@contextlib.contextmanager
def atomic_outputs(*targets: str | Path) -> Iterator[list[Path]]:
    """Temporary paths for `targets`, renamed into place only if the block finishes.

    A crash or an exception leaves earlier outputs untouched and no half-written file that
    a later ``dvc repro`` could trust.
    """
    finals = [Path(t) for t in targets]
    temps = []
    for final in finals:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        temps.append(Path(tmp))
    try:
        yield temps
        for tmp, final in zip(temps, finals, strict=True):
            os.replace(tmp, final)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Parquet without pandas' index or writer metadata that would vary between runs,
    stamped with the run's provenance (`rehabkoord.provenance`)."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    stamp = provenance.parquet_metadata(provenance.collect(output=path))
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **stamp}), path,
                   compression="zstd")


def write_json(obj: object, path: Path) -> None:
    """Stable JSON: sorted keys, UTF-8, trailing newline, so identical inputs give identical bytes."""
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
