"""Reading deliveries in the formats SCB and regions use, and writing outputs atomically.

Formats: CSV (comma, semicolon or tab; UTF-8, UTF-16 with BOM, Windows-1252 or Latin-1; decimal
comma),
Parquet, SAS (``.sas7bdat``, ``.xpt``) and Stata (``.dta``). A file is recognised by its
content, not only its name: a gzip or Excel file renamed ``.csv`` is reported as what it is.
Column names are matched case-insensitively and renamed through the project's column map, so
the rest of the code sees contract names only. Every problem is a `Violation` naming the file,
column, rule, number of rows and a few row positions, never a value of the person key.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import difflib
import fnmatch
import glob
import io as _io
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pyreadstat

from . import provenance
from .contract import PERSONAL_NUMBER, WITHHELD, YEAR, Table

MAX_EXAMPLES = 5


class DeliveryError(ValueError):
    """A delivered file breaks the data contract; the message names file, column, rule and rows."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, how many rows, a few 1-based data-row positions, and
    what to do about it (`hint`, e.g. the parameter to change)."""

    source: str
    column: str
    rule: str
    n_rows: int
    rows: tuple[int, ...] = ()
    hint: str = ""

    def __str__(self) -> str:
        more = ", …" if self.n_rows > len(self.rows) else ""
        where = f" (rows {', '.join(map(str, self.rows))}{more})" if self.rows else ""
        fix = f" → {self.hint}" if self.hint else ""
        count = f": {self.n_rows} row(s)" if self.n_rows or self.rows else ""
        column = "" if self.column == "*" else f"column '{self.column}': "
        return f"{self.source}: {column}{self.rule}{count}{where}{fix}"


class ValidationError(DeliveryError):
    """All contract violations found in a delivery, reported together."""

    def __init__(self, violations: Sequence[Violation]):
        self.violations = list(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        super().__init__(f"{len(self.violations)} contract violation(s):\n{lines}")


def file_violation(path: Path | str, rule: str, hint: str = "", column: str = "*",
                   n_rows: int = 0) -> DeliveryError:
    """A problem with a whole file, as an error carrying one `Violation`."""
    return ValidationError([Violation(str(path), column, rule, n_rows, hint=hint)])


_YEAR_IN_NAME = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")

#: Leading bytes of the formats a delivery is mistaken for, and how to name them.
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"PAR1", ".parquet", "a Parquet file"),
    (b"<stata_dta>", ".dta", "a Stata .dta file"),
    (b"HEADER RECORD*******LIB", ".xpt", "a SAS transport (.xpt) file"),
    (b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xc2\xea\x81\x60\xb3\x14\x11\xcf",
     ".sas7bdat", "a SAS data set (.sas7bdat)"),
    (b"\x1f\x8b", ".gz", "a gzip-compressed file (unpack it first)"),
    (b"PK\x03\x04", ".zip", "a ZIP archive, e.g. an Excel .xlsx workbook (export it as CSV)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ".xls",
     "an Excel 97–2003 workbook or another OLE document (export it as CSV)"),
    (b"%PDF", ".pdf", "a PDF document"),
)
_FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".sas7bdat": "sas7bdat",
            ".xpt": "xpt", ".dta": "dta"}
_STATA_OLD = (b"\x71", b"\x72", b"\x73", b"\x74", b"\x75")  # Stata 8–13 format bytes


def sniff_format(path: Path) -> tuple[str, str]:
    """What the file's content is: (suffix it would carry, description); text is ('.csv', …)."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    for magic, suffix, what in _MAGIC:
        if head.startswith(magic):
            return suffix, what
    if path.suffix.lower() == ".dta" and head[:1] in _STATA_OLD:
        return ".dta", "a Stata .dta file"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ".csv", "UTF-16 text"
    if b"\x00" in head:
        return ".bin", "a binary file of unknown format"
    return ".csv", "text"


def data_dir(data_params: Mapping, root: Path | str) -> Path:
    """The delivery's folder, `data.dir` in a study's params.yaml: absolute (a delivery outside
    the project, e.g. on SCB's server), or relative to the project root; ``~`` is expanded."""
    return Path(root) / Path(str(data_params["dir"])).expanduser()


def data_patterns(data_params: Mapping, root: Path | str, key: str) -> list[str]:
    """The globs of `data.<key>` (one or a list) under `data.dir`; an absolute pattern stays."""
    value = data_params[key]
    base = data_dir(data_params, root)
    return [str(base / Path(str(p)).expanduser())
            for p in ([value] if isinstance(value, str) else value)]


def expand_paths(pattern: str | Sequence[str], violations: list[Violation] | None = None,
                 param: str = "data") -> list[Path]:
    """Files matching one glob or a list of globs, sorted so reading order is deterministic.

    Every pattern must match at least one file: a list where one pattern matches nothing
    (a wrong letter case, a moved folder) would otherwise read only part of a delivery.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    problems: list[Violation] = []
    found: list[Path] = []
    for p in patterns:
        hits = sorted(glob.glob(p)) if any(ch in p for ch in "*?[") else [p]
        hits = [h for h in hits if Path(h).is_file()]
        if not hits:
            problems.append(Violation(p, "*", "no file matches this path or pattern", 0,
                                      hint=f"check {param} in params.yaml"
                                      + _case_hint(Path(p))))
        found.extend(Path(h) for h in hits if Path(h) not in found)
    if violations is None and problems:
        raise ValidationError(problems)
    if violations is not None:
        violations.extend(problems)
    return found


def _case_hint(pattern: Path) -> str:
    """Files that the pattern would match if letter case were ignored (names only)."""
    folder = pattern.parent
    if not folder.is_dir():
        return f" (folder {folder} does not exist)"
    rx = re.compile(fnmatch.translate(pattern.name), re.IGNORECASE)
    near = sorted(f.name for f in folder.iterdir() if rx.match(f.name))
    if near:
        return (f"; patterns are case-sensitive and these files differ only in letter case: "
                f"{', '.join(near[:5])}")
    return ""


def year_from_filename(path: Path, pattern: str | None = None) -> int | None:
    """The register year in a file name such as ``LISA2023.csv`` or ``lisa_2019.sas7bdat``.

    With `pattern` (``data.year_pattern``, a regular expression whose first group is the year)
    the year is what it captures; without one, the name must hold exactly one year-like
    number: ``LISA2016_uttag_2024-05-02.csv`` is ambiguous and raises.
    """
    if pattern:
        hit = re.search(pattern, path.name)
        if hit is None or not hit.groups():
            raise file_violation(path, f"file name does not match data.year_pattern '{pattern}'",
                                 "rename the file or change data.year_pattern in params.yaml",
                                 column=YEAR)
        return int(hit.group(1))
    years = sorted(set(_YEAR_IN_NAME.findall(path.stem)))
    if len(years) > 1:
        raise file_violation(path, f"the file name holds more than one year ({', '.join(years)})",
                             "set data.year_pattern in params.yaml to a regular expression "
                             r"whose first group is the year, e.g. 'LISA(\d{4})'", column=YEAR)
    return int(years[0]) if years else None


#: Bytes that are printable in Windows-1252 (€, ‚, „, …, ‘, ’, “, ”, –, —, ™, Š, š, Ž, ž, Ÿ)
#: but control characters in Latin-1: a file holding them is Windows-1252, never Latin-1.
_CP1252_ONLY = re.compile(rb"[\x80-\x9f]")


def decode_text(raw: bytes, path: Path) -> tuple[str, str]:
    """The whole file decoded, and the encoding used: UTF-8 (BOM optional), UTF-16 with a BOM,
    Windows-1252 when a byte 0x80–0x9F occurs anywhere (Excel's "CSV" on Windows; read as
    Latin-1 they would become control characters in names), otherwise Latin-1. The whole file
    is checked, so the answer does not depend on where the first non-ASCII byte falls."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as err:
            raise file_violation(path, "starts with a UTF-16 byte-order mark but is not valid "
                                 f"UTF-16 (byte {err.start})") from err
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _CP1252_ONLY.search(raw) is None:
        return raw.decode("latin-1"), "latin-1"
    try:
        return raw.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as err:
        raise file_violation(path, "is neither UTF-8 nor Windows-1252 nor Latin-1 text (byte "
                             f"{err.start}: 0x{raw[err.start]:02X} is a control character in "
                             "Latin-1 and undefined in Windows-1252)",
                             "export the file again as UTF-8") from err


def csv_header(text: str, path: Path) -> tuple[list[str], str]:
    """Column names and delimiter from the first line (';', ',' or tab, the most frequent)."""
    first = text.splitlines()[0] if text else ""
    counts = {d: first.count(d) for d in (";", ",", "\t")}
    delimiter = max(counts, key=counts.get)
    if counts[delimiter] == 0:
        raise file_violation(path, "no delimiter found in the header line (expected ';', ',' or "
                             "tab)", "deliver the table as delimited text with a header line")
    names = next(csv.reader(_io.StringIO(first), delimiter=delimiter))
    return [n.strip() for n in names], delimiter


def header_key(name: object) -> str:
    """A header as it is compared: without case, spaces, underscores, slashes, hyphens, dots
    and accents (``Sysselsättning``, ``SYSSELSATTNING`` and ``sysselsattning`` are one key), so
    a Swedish workbook's headers meet the contract's ASCII names."""
    text = unicodedata.normalize("NFKD", str(name).lstrip("\ufeff")).casefold()
    return _HEADER_NOISE.sub("", "".join(ch for ch in text if not unicodedata.combining(ch)))


_HEADER_NOISE = re.compile(r"[\s_/\\.\-]+")


def match_columns(columns: Sequence[object], names: Sequence[str],
                  column_map: Mapping[str, str], source: Path | str) -> dict:
    """Delivered name -> contract name (`names`), through the column map and `header_key`.

    A column map entry wins over a name that matches by itself; its keys are compared the same
    way (``{"Diagnos/ICD-10": Diagnos}`` also maps ``DIAGNOS / ICD 10``). Two delivered
    columns that would become the same contract column (``LopNr`` and ``LOPNR``, ``Start
    datum`` next to ``Startdatum``, or a mapped ``P1105_LopNr_PersonNr`` next to an existing
    ``LopNr``) are an error: which one holds the data is a decision for the person who knows
    the delivery.
    """
    mapped = {header_key(k): str(v) for k, v in column_map.items()}
    contract = {header_key(n): n for n in names}
    out: dict = {}
    for col in columns:
        key = header_key(col)
        target = mapped.get(key, col)
        if header_key(target) in contract:
            out[col] = contract[header_key(target)]
    seen: dict[str, list[str]] = {}
    for delivered, name in out.items():
        seen.setdefault(name, []).append(str(delivered))
    clashes = {name: cols for name, cols in seen.items() if len(cols) > 1}
    if clashes:
        raise ValidationError([
            Violation(str(source), name, "several delivered columns become this contract column "
                      f"({', '.join(repr(c) for c in cols)})", 0,
                      hint="names are matched without regard to case, spaces, underscores and "
                      "å/ä/ö; drop one column or change data.column_map in params.yaml")
            for name, cols in sorted(clashes.items())])
    return out


def _mapping(columns: Sequence[str], table: Table, column_map: Mapping[str, str],
             source: Path | str) -> dict:
    """`match_columns` for a contract table."""
    return match_columns(columns, table.names, column_map, source)


def missing_columns(source: Path | str, missing: Sequence[str], found: Sequence[object],
                    n_rows: int, header_note: str = "",
                    matched: Sequence[object] = ()) -> list[Violation]:
    """One violation per required column not delivered, listing the columns the file has and
    the nearest of those not `matched` to another contract column (difflib on `header_key`),
    so a misspelt or renamed header is one ``data.column_map`` entry away. A header shaped
    like a personnummer is not repeated. `header_note` says where the header was taken from
    (`ExcelTable.note`)."""
    shown = [str(c).strip() for c in found
             if str(c).strip() and not PERSONAL_NUMBER.search(str(c))]
    taken = {header_key(c) for c in matched}
    keys = {header_key(c): c for c in shown if header_key(c) not in taken}
    listed = ", ".join(f"'{c}'" for c in shown[:30]) + (", …" if len(shown) > 30 else "")
    out = []
    for name in missing:
        near = difflib.get_close_matches(header_key(name), list(keys), n=1, cutoff=0.6)
        hint = (f"map it: data.column_map: {{'{keys[near[0]]}': {name}}}" if near
                else "add the column, or map the delivered column to it in data.column_map")
        rule = (f"required column missing (columns found: {listed or 'none'}"
                + (f"; nearest: '{keys[near[0]]}'" if near else "") + ")"
                + (f"; {header_note}" if header_note else ""))
        out.append(Violation(str(source), name, rule, n_rows, hint=hint))
    return out


#: How many rows from the top of a sheet are searched for the header row.
HEADER_SEARCH_ROWS = 20


@dataclass(frozen=True)
class ExcelTable:
    """One sheet read as text: the data below the header row (`frame`, delivered names), the
    sheet's name as asked for (`sheet`, None for a workbook's only sheet: a sheet's own name
    may be a person's), and the 1-based row the header was taken from (`header_row`)."""

    frame: pd.DataFrame
    sheet: str | None
    header_row: int
    found_by: str

    @property
    def note(self) -> str:
        """Where the header came from, for messages; empty when found in the first row."""
        if self.found_by == "parameter":
            return f"header taken from row {self.header_row}, as data.header_row says"
        if self.header_row == 1:
            return ""
        return (f"header taken from row {self.header_row}, under {self.header_row - 1} title "
                "row(s) skipped (set data.header_row to choose another row)")


def _cell_text(value: object) -> str:
    """An Excel cell as text: dates as ISO (YYYY-MM-DD, with a time only when it has one),
    whole numbers without '.0', empty cells as ''."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d" if value.time() == datetime.time() else
                              "%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def find_header_row(rows: Sequence[Sequence[str]], names: Sequence[str],
                    column_map: Mapping[str, str]) -> int:
    """The 0-based row among the first `HEADER_SEARCH_ROWS` whose cells match the most
    contract `names` (through `column_map`); the first non-empty row when none matches. A
    title above the header (a merged cell, a date line) matches none and is skipped."""
    mapped = {header_key(k): header_key(v) for k, v in column_map.items()}
    wanted = {header_key(n) for n in names}
    best, best_hits = None, 0
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        keys = {mapped.get(header_key(c), header_key(c)) for c in row if str(c).strip()}
        hits = len(keys & wanted)
        if hits > best_hits:
            best, best_hits = i, hits
    if best is not None:
        return best
    return next((i for i, row in enumerate(rows) if any(str(c).strip() for c in row)), 0)


def read_excel_table(path: Path, names: Sequence[str], column_map: Mapping[str, str] | None = None,
                     sheet: str | None = None, header_row: int | None = None) -> ExcelTable:
    """A sheet of an .xlsx workbook as text, with its header row found under title rows.

    `sheet` (``data.sheet``) is required when the workbook has several; `header_row`
    (``data.header_row``, 1-based as Excel numbers rows) overrides the search
    (`find_header_row`). Sheet names are never listed in a message (a sheet may be named after
    a patient). Rows are numbered as in Excel in every later message (`frame.index` + 1).
    """
    kind, what = sniff_format(path)
    if kind != ".zip":
        raise file_violation(path, f"the file is {what}, not an Excel workbook",
                             "deliver the list as .xlsx or .csv")
    try:
        book = pd.read_excel(path, sheet_name=None, header=None, dtype=object,
                             engine="openpyxl")
    except Exception as err:  # noqa: BLE001 — any reader failure is a delivery problem
        raise file_violation(path, f"cannot be read as an Excel workbook ({reader_detail(err)})",
                             "save it again from Excel as .xlsx") from err
    chosen = sheet if sheet is not None else (next(iter(book)) if len(book) == 1 else None)
    if chosen is None or chosen not in book:
        asked = f"no sheet '{sheet}' among" if sheet is not None else \
            "a sheet must be chosen among"
        raise file_violation(path, f"{asked} the workbook's {len(book)} sheets (their names "
                             "are not shown: they may identify a person)",
                             "set data.sheet in the study's params.yaml to the name of the "
                             "sheet to read")
    raw = book[chosen]
    rows = [[_cell_text(v) for v in row] for row in raw.itertuples(index=False)]
    if header_row is not None:
        if not 1 <= int(header_row) <= max(len(rows), 1):
            raise file_violation(path, f"data.header_row is {header_row} but the sheet has "
                                 f"{len(rows)} row(s)", "set data.header_row to the header's "
                                 "row number as Excel shows it, or null to find it")
        top, found_by = int(header_row) - 1, "parameter"
    else:
        top, found_by = find_header_row(rows, names, column_map or {}), "search"
    header = rows[top] if rows else []
    keep = [i for i, h in enumerate(header) if h]
    body = [[row[i] for i in keep] for row in rows[top + 1:]]
    frame = pd.DataFrame(body, columns=[header[i] for i in keep], dtype=object)
    frame.index = pd.RangeIndex(top + 2, top + 2 + len(body))
    return ExcelTable(frame, sheet if sheet is not None else None, top + 1, found_by)


def read_excel_delivery(path: Path, table: Table, column_map: Mapping[str, str] | None = None,
                        sheet: str | None = None, header_row: int | None = None
                        ) -> tuple[pd.DataFrame, dict]:
    """A contract table delivered as an .xlsx sheet, as `_read_csv` gives it: text values
    (empty cells as missing), only contract columns, and the delivered name -> contract name
    mapping; the header found under title rows (`read_excel_table`). The frame keeps the
    delivered headers (`attrs["columns_found"]`) and where the header was taken from
    (`attrs["header_note"]`) for `missing_columns`."""
    sheet_table = read_excel_table(path, table.names, column_map or {}, sheet, header_row)
    frame = sheet_table.frame
    mapping = match_columns(list(frame.columns), table.names, column_map or {}, path)
    out = frame[list(mapping)].replace("", None).reset_index(drop=True)
    out.attrs.update(columns_found=list(frame.columns), header_note=sheet_table.note)
    return out, mapping


def _read_csv(path: Path, table: Table, column_map: Mapping[str, str]) -> tuple[pd.DataFrame,
                                                                               dict]:
    """Delimited text, every value as text; every row must have the header's number of fields."""
    raw = path.read_bytes()
    if not raw.strip():
        raise file_violation(path, "the file is empty")
    text, encoding = decode_text(raw, path)
    names, delimiter = csv_header(text, path)
    mapping = _mapping(names, table, column_map, path)
    positional = [f"f{i}" for i in range(len(names))]
    bad: list[tuple[int, int]] = []
    decimal_comma_like: list[bool] = []

    def invalid(row: pa_csv.InvalidRow) -> str:
        bad.append((row.number - 1 if row.number else -1, row.actual_columns))
        decimal_comma_like.append(bool(re.search(r"\d,\d", row.text or "")))
        return "skip"

    data = raw if encoding == "utf-8" else text.encode("utf-8")
    parsed = pa_csv.read_csv(
        pa.BufferReader(data),
        read_options=pa_csv.ReadOptions(use_threads=False, skip_rows=1,
                                        column_names=positional),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, invalid_row_handler=invalid),
        convert_options=pa_csv.ConvertOptions(
            include_columns=[positional[names.index(c)] for c in mapping],
            column_types={positional[names.index(c)]: pa.string() for c in mapping},
            strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=True),
    )
    if bad:
        rows = tuple(r for r, _ in bad[:MAX_EXAMPLES])
        counts = sorted({n for _, n in bad})
        rule = (f"rows must have the header's {len(names)} fields (found "
                f"{', '.join(map(str, counts))})")
        hint = "a truncated or hand-edited file? deliver it again"
        if delimiter == "," and any(decimal_comma_like) and max(counts) > len(names):
            hint = ("the file is comma-separated but its values look like decimal commas "
                    "(8,25): deliver it with ';' as delimiter, or quote such values")
        raise ValidationError([Violation(str(path), "*", rule, len(bad), rows, hint=hint)])
    frame = parsed.to_pandas()
    frame.columns = [names[int(c[1:])] for c in frame.columns]
    return frame, mapping


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
#: Readers that echo the offending line after its field count ("Expected 6 columns, got 7: …").
_ROW_ECHO = re.compile(r"(got \d+)\s*:.*")


def reader_detail(err: BaseException) -> str:
    """A reader's error as a message may show it: its first line, without what it quotes, the
    line of data it echoes or anything shaped like a personnummer (a reader's message can
    repeat a cell)."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    text = _ROW_ECHO.sub(r"\1", text)
    text = PERSONAL_NUMBER.sub(f"({WITHHELD})", _QUOTED.sub("'…'", text))
    return text[:160]


def read_delivery(path: Path, table: Table, column_map: Mapping[str, str] | None = None,
                  year_pattern: str | None = None) -> pd.DataFrame:
    """One delivered file as a frame with contract column names; only contract columns are read.

    Values are read as delivered (text for CSV); typing and validation happen in `clean`.
    Raises `ValidationError` for a file that cannot be read, with what the file really is.
    """
    column_map = column_map or {}
    suffix = path.suffix.lower()
    kind = _FORMATS.get(suffix)
    if kind is None:
        raise file_violation(path, f"unsupported format '{suffix}'",
                             "use .csv, .txt, .parquet, .sas7bdat, .xpt or .dta")
    is_suffix, what = sniff_format(path)
    if _FORMATS.get(is_suffix, is_suffix) != kind and path.stat().st_size > 0:
        raise file_violation(path, f"the file is {what}, not {suffix}",
                             "rename it to what it is, or export it again in a supported format")
    try:
        if kind == "csv":
            frame, mapping = _read_csv(path, table, column_map)
        elif kind == "parquet":
            mapping = _mapping(pq.read_schema(path).names, table, column_map, path)
            frame = pd.read_parquet(path, columns=list(mapping))
        elif kind in ("sas7bdat", "xpt"):
            reader = pyreadstat.read_sas7bdat if kind == "sas7bdat" else pyreadstat.read_xport
            _, meta = reader(str(path), metadataonly=True)
            mapping = _mapping(meta.column_names, table, column_map, path)
            frame, _ = reader(str(path), usecols=list(mapping))
        else:
            frame = pd.read_stata(path, convert_categoricals=False)
            mapping = _mapping(frame.columns, table, column_map, path)
            frame = frame[list(mapping)]
    except DeliveryError:
        raise
    except Exception as err:  # noqa: BLE001 — any reader failure is a delivery problem
        detail = reader_detail(err)
        raise file_violation(path, f"cannot be read as {suffix} ({detail})",
                             "export the file again; a truncated copy?") from err
    frame = frame.rename(columns=mapping)
    if table.yearly and YEAR not in frame.columns:
        year = year_from_filename(path, year_pattern)
        if year is None:
            raise file_violation(path, "column missing and no year in the file name",
                                 "name yearly files like LISA2023.csv, add the column, or set "
                                 "data.year_pattern in params.yaml", column=YEAR)
        frame[YEAR] = year
    frame.attrs["source"] = str(path)
    return frame


def read_deliveries(pattern: str | Sequence[str], table: Table,
                    column_map: Mapping[str, str] | None = None,
                    violations: list[Violation] | None = None,
                    year_pattern: str | None = None, param: str = "data") -> list[pd.DataFrame]:
    """All files of one table (a glob or a list), each read with `read_delivery`.

    With `violations`, problems are collected there and the readable files returned, so one
    run reports every problem in every file; without it, the first problem raises.
    """
    frames = []
    for p in expand_paths(pattern, violations, param):
        try:
            frames.append(read_delivery(p, table, column_map, year_pattern))
        except ValidationError as err:
            if violations is None:
                raise
            violations.extend(err.violations)
    return frames


@contextlib.contextmanager
def atomic_outputs(*targets: str | Path) -> Iterator[list[Path]]:
    """Temporary paths for `targets`, renamed into place only if the block finishes.

    A crash or an exception leaves earlier outputs untouched and no half-written file that
    a later ``dvc repro`` could trust. Each file gets the mode a plain `open` would give it
    under the user's umask (mkstemp's own is 0600: an appendix others could not read).
    """
    finals = [Path(t) for t in targets]
    temps = []
    umask = os.umask(0o077)
    os.umask(umask)
    for final in finals:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~umask)
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


def write_all(outputs: Mapping[str | Path, pd.DataFrame | dict]) -> list[Path]:
    """Write a stage's data outputs all or nothing: frames as Parquet, dicts as JSON."""
    paths = [Path(p) for p in outputs]
    with atomic_outputs(*paths) as temps:
        for tmp, value in zip(temps, outputs.values(), strict=True):
            (write_parquet if isinstance(value, pd.DataFrame) else write_json)(value, tmp)
    return paths


def write_json(obj: object, path: Path) -> None:
    """Stable JSON: sorted keys, UTF-8, trailing newline, so identical inputs give identical bytes."""
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextlib.contextmanager
def stage_step(study: str, stage: str, what: str, hint: str) -> Iterator[None]:
    """A statistic or fit the data do not allow ends the stage with a message naming the
    study, stage, estimate, cause and what to change (`DeliveryError`), never a traceback."""
    try:
        yield
    except DeliveryError:
        raise
    except (ValueError, np.linalg.LinAlgError) as err:
        raise DeliveryError(f"{study}, stage {stage}: {what} could not be computed on these "
                            f"data: {err} → {hint}") from err
