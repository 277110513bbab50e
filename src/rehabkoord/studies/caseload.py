"""The coordinators' own caseload summary (uppföljning av rehabiliteringskoordinatorns ärenden).

Input is the case list as regions keep it: an Excel workbook (one sheet) or CSV, one row per
patient contact, with site, start date, diagnosis (ICD-10 code or free text such as
"Utmattning"), occupation, benefit and whether the sickness-benefit-qualifying income is zero
("SGI 0"). Output is counts per period and site by diagnosis group, occupation and benefit.
Diagnoses are grouped through an editable mapping table (text or ICD-10 prefix → group), so a
diagnosis that maps to nothing is listed, never dropped.

Every label the summary prints comes from the study's own lists (sites in params.yaml,
`OCCUPATIONS`, `BENEFITS`, the mapping table's groups), never from a cell of the case list, and
no message repeats a delivered text unless it is short and code-like (`contract.quote`): a
free-text cell may hold a name or a personnummer.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
import sys
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO, StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from .. import texts
from ..contract import PERSONAL_RULE, has_personal_number, is_code_like, quote_values
from ..disclosure import (
    ROUND,
    SMALL,
    SUPPRESSED,
    Interval,
    Rules,
    Structure,
    Withheld,
    audit,
    cost_statement,
    protect,
    record,
    rounding_statement,
)
from ..fmt import number
from ..io import (
    HEADER_SEARCH_ROWS,
    MAX_EXAMPLES,
    ExcelTable,
    ValidationError,
    Violation,
    decode_text,
    find_header_row,
    match_columns,
    missing_columns,
    read_excel_table,
    sniff_format,
    write_all,
)
from ..params import load_params, project_root

COLUMNS = ("Enhet", "Startdatum", "Diagnos", "Sysselsattning", "Ersattning", "SGI_noll")
OPTIONAL = ("KontaktId",)

#: Occupation as the coordinators record it; "lönebidrag" carries its percentage.
OCCUPATIONS = ("anställd", "arbetslös", "lönebidrag", "arbetsförberedande insats", "studerande")
BENEFITS = ("sjukpenning", "aktivitetsersättning", "sjukersättning", "ekonomiskt bistånd",
            "annan ersättning", "ingen")
YES_NO_LABEL = {"Ja": "SGI 0", "Nej": "SGI över 0"}
DIMENSIONS = ("diagnosgrupp", "diagnos", "sysselsattning", "ersattning", "sgi_noll")

_WAGE_SUBSIDY = re.compile(r"^lonebidrag\s*(\d{1,4})\s*%?$")  # on `_fold`ed text
_ICD10 = re.compile(r"^([A-Z])(\d{2})\.?(\d{0,2})$")


@dataclass(frozen=True)
class CaseList:
    """The validated case list: one row per contact with normalised categories."""

    contacts: pd.DataFrame
    source: str
    sheet: str | None
    header_row: int = 1
    blank_rows: int = 0


def normalise_icd10(text: str) -> str | None:
    """``F43.8``, ``F438`` and ``f43.8`` all become ``F43.8``; None when not an ICD-10 code."""
    hit = _ICD10.match(text.strip().upper().replace(" ", ""))
    if hit is None:
        return None
    letter, chapter, detail = hit.groups()
    return f"{letter}{chapter}" + (f".{detail}" if detail else "")


def read_mapping(path: str | Path) -> pd.DataFrame:
    """The editable diagnosis table: `monster` (free text, or an ICD-10 code prefix such as
    ``F43``), `diagnos` (the label to count) and `diagnosgrupp` (the readable group)."""
    table = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding="utf-8")
    missing = {"monster", "diagnos", "diagnosgrupp"} - set(table.columns)
    if missing:
        raise ValidationError([Violation(str(path), ", ".join(sorted(missing)),
                                         "required column missing in the mapping table", 0)])
    table["monster"] = table["monster"].str.strip()
    table.attrs["source"] = str(path)
    return table


def map_diagnosis(values: pd.Series, mapping: pd.DataFrame) -> pd.DataFrame:
    """Label and group per recorded diagnosis: exact text first (case-insensitive), then the
    longest ICD-10 prefix in the table (``F43.8`` matches ``F43`` before ``F4``)."""
    text = {m.lower(): (d, g) for m, d, g in mapping[["monster", "diagnos", "diagnosgrupp"]]
            .itertuples(index=False) if normalise_icd10(m) is None}
    codes = {normalise_icd10(m): (d, g) for m, d, g in mapping[["monster", "diagnos",
             "diagnosgrupp"]].itertuples(index=False) if normalise_icd10(m) is not None}
    codes.update({m.upper(): (d, g) for m, d, g in mapping[["monster", "diagnos",
                  "diagnosgrupp"]].itertuples(index=False) if re.fullmatch(r"[A-Za-z]\d?", m)})
    labels, groups = [], []
    for value in values:
        hit = text.get(str(value).strip().lower())
        code = normalise_icd10(str(value))
        if hit is None and code is not None:
            for n in range(len(code), 0, -1):
                if code[:n] in codes:
                    hit = codes[code[:n]]
                    label = hit[0] if hit[0] else code
                    hit = (label, hit[1])
                    break
        labels.append(hit[0] if hit else None)
        groups.append(hit[1] if hit else None)
    return pd.DataFrame({"diagnos": labels, "diagnosgrupp": groups}, index=values.index)


def _fold(text: object) -> str:
    """A category as it is compared: without case, accents (å/ä/ö), repeated or non-breaking
    spaces and spaces around '%', so ``Arbetslös``, ``ARBETSLOS`` and ``arbetslös `` meet."""
    t = unicodedata.normalize("NFKD", str(text)).casefold()
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    return re.sub(r"\s*%", " %", re.sub(r"\s+", " ", t)).strip()


def _categories(values: pd.Series, known: Sequence[str]) -> pd.Series:
    """Each value as the study's own label (`known`), matched by `_fold`; NA when unknown."""
    labels = {_fold(k): k for k in known}
    return values.map(lambda v: labels.get(_fold(v), pd.NA))


def _occupation(value: str) -> str | None:
    """Readable occupation; ``Lönebidrag 25%`` becomes ``lönebidrag 25 %``. A percentage
    outside 1–100 is not a wage subsidy (`_wage_out_of_range` names it)."""
    wage = _WAGE_SUBSIDY.match(_fold(value))
    if wage:
        pct = int(wage.group(1))
        return f"lönebidrag {pct} %" if 1 <= pct <= 100 else None
    known = {_fold(o): o for o in OCCUPATIONS if o != "lönebidrag"}
    return known.get(_fold(value))


def _wage_out_of_range(value: str) -> bool:
    wage = _WAGE_SUBSIDY.match(_fold(value))
    return bool(wage) and not 1 <= int(wage.group(1)) <= 100


def _read_csv_rows(path: Path, header_row: int | None, where: str
                   ) -> tuple[pd.DataFrame, int, str, list[Violation]]:
    """A delimited case list as text with its header found as in a workbook
    (`io.find_header_row`); the frame's index is each row's line number."""
    text, _ = decode_text(path.read_bytes(), path)
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise ValidationError([Violation(where, "*", "the file is empty", 0)])
    counts = {d: sum(line.count(d) for line in lines[:HEADER_SEARCH_ROWS]) for d in ";,\t"}
    delimiter = max(counts, key=counts.get)
    rows = [[c.strip() for c in row] for row in csv.reader(StringIO(text), delimiter=delimiter)]
    if header_row is not None:
        if not 1 <= int(header_row) <= len(rows):
            raise ValidationError([Violation(where, "*", f"data.header_row is {header_row} but "
                                             f"the file has {len(rows)} row(s)", 0,
                                             hint="set data.header_row to the header's line "
                                             "number, or null to find it")])
        top, found_by = int(header_row) - 1, "parameter"
    else:
        top, found_by = find_header_row(rows, (*COLUMNS, *OPTIONAL), {}), "search"
    header = rows[top]
    width = len(header)
    body = {i + 1: r for i, r in enumerate(rows) if i > top and any(c for c in r)}
    bad = [n for n, r in body.items() if len(r) != width]
    v = []
    if bad:
        v.append(Violation(where, "*", f"rows must have the header's {width} fields", len(bad),
                           tuple(bad[:MAX_EXAMPLES]), hint="a hand-edited file? export it again"))
    frame = pd.DataFrame([r for n, r in body.items() if len(r) == width], columns=header,
                         index=[n for n, r in body.items() if len(r) == width], dtype=object)
    frame = frame.loc[:, [bool(c) for c in header]]  # as in a workbook: unnamed columns unread
    frame.attrs["blank_rows"] = sum(1 for i, r in enumerate(rows) if i > top and not any(r))
    return frame, top + 1, found_by, v


def _read_table(path: Path, sheet: str | None, header_row: int | None,
                column_map: Mapping[str, str], where: str
                ) -> tuple[pd.DataFrame, str | None, int, str, list[Violation]]:
    """The case list as delivered (text, delivered headers, rows numbered as the file numbers
    them), the sheet as asked for, the header's row, a note on where the header came from
    (for messages) and problems of shape found while reading."""
    kind, what = sniff_format(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        table = read_excel_table(path, (*COLUMNS, *OPTIONAL), column_map, sheet, header_row)
        frame = table.frame
        empty = frame.apply(lambda r: not any(str(c).strip() for c in r), axis=1) \
            if len(frame.columns) else pd.Series(True, index=frame.index)
        frame = frame[~empty.astype(bool)]
        frame.attrs["blank_rows"] = int(empty.sum())
        return frame, table.sheet, table.header_row, table.note, []
    if suffix in (".csv", ".txt") and kind == ".csv":
        frame, top, found_by, v = _read_csv_rows(path, header_row, where)
        note = ExcelTable(frame, None, top, found_by).note
        return frame, None, top, note, v
    raise ValidationError([Violation(where, "*", f"unsupported case list ({what}, named "
                                     f"{suffix})", 0, hint="deliver .xlsx or .csv")])


def _parse_dates(values: pd.Series) -> pd.Series:
    """Start dates as Excel stores them or as text: YYYY-MM-DD (a time after it is ignored)
    or YYYYMMDD; anything else NaT."""
    iso = pd.to_datetime(values.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    compact = pd.to_datetime(values.where(values.str.fullmatch(r"\d{8}")), format="%Y%m%d",
                             errors="coerce")
    return iso.fillna(compact)


def read_case_list(path: str | Path, *, sites: Sequence[str], mapping: pd.DataFrame,
                   sheet: str | None = None, header_row: int | None = None,
                   column_map: Mapping[str, str] | None = None) -> CaseList:
    """Read and validate a case list; every problem names file, row and column.

    Headers match the contract without regard to case, spaces and å/ä/ö (``Start datum``,
    ``Sysselsättning``), others through `column_map` (``data.column_map``, e.g. ``{"SGI 0":
    SGI_noll, "Diagnos/ICD-10": Diagnos}``); a title row above the header is skipped or the
    header set by `header_row` (``data.header_row``). Rows are numbered as in Excel. Raises
    `ValidationError` listing every missing column with the columns found and the nearest,
    a cell that looks like a personnummer, an unknown site, an unreadable date, a diagnosis
    that maps to no group (naming the mapping table to extend), an unknown occupation or
    benefit, and duplicated contacts. A delivered text is quoted only when code-like, and the
    sheet only by the name `sheet` gives (a sheet's own name may be a person's).
    """
    path = Path(path)
    where = f"{path.name}" + (f", sheet '{sheet}'" if sheet else "")
    raw, chosen, top, note, v = _read_table(path, sheet, header_row, column_map or {}, where)
    if raw.columns.duplicated().any():
        twice = sorted({str(c) for c in raw.columns[raw.columns.duplicated()]})
        v.append(Violation(where, ", ".join(twice), "the header names this column more than "
                           "once", 0, hint="rename or remove one of them"))
        raise ValidationError(v)
    mapped = match_columns(list(raw.columns), (*COLUMNS, *OPTIONAL), column_map or {}, where)
    missing = [c for c in COLUMNS if c not in mapped.values()]
    v.extend(missing_columns(where, missing, list(raw.columns), len(raw), note, list(mapped)))
    if v:
        raise ValidationError(v)
    data = raw[list(mapped)].rename(columns=mapped).apply(lambda s: s.astype(str).str.strip())

    def flag(mask: pd.Series, column: str, rule: str, hint: str = "") -> None:
        hits = data.index[np.asarray(mask, dtype=bool)]
        if len(hits):
            rows = tuple(int(i) for i in hits[:MAX_EXAMPLES])
            v.append(Violation(where, column, rule, len(hits), rows, hint=hint))

    read = [c for c in (*COLUMNS, *OPTIONAL) if c in data.columns]
    personal = pd.DataFrame({c: has_personal_number(data[c]) for c in read})
    for column in read:
        flag(personal[column], column, PERSONAL_RULE, "remove names and personal identity "
             "numbers from the case list: the summary needs neither")
    data[read] = data[read].mask(personal, "")  # reported above, and not again by the rules below
    site = _categories(data["Enhet"], sites)
    unknown = site.isna() & ~personal["Enhet"]
    if unknown.any():
        flag(unknown, "Enhet", f"unknown site ({quote_values(data.loc[unknown, 'Enhet'])}"
             f"{_nearest_sites(data.loc[unknown, 'Enhet'], sites)}; known: {', '.join(sites)})",
             "add the site to caseload.sites in the study's params.yaml, or correct the list")
    start = _parse_dates(data["Startdatum"])
    flag(start.isna() & ~personal["Startdatum"], "Startdatum",
         "cannot be read as a date (YYYY-MM-DD, YYYYMMDD or an Excel date)")
    diagnosis = map_diagnosis(data["Diagnos"], mapping)
    unmapped = diagnosis["diagnosgrupp"].isna() & ~personal["Diagnos"]
    if unmapped.any():
        table = Path(mapping.attrs.get("source", "")).name or "the mapping table"
        found = quote_values(data.loc[unmapped, "Diagnos"])
        flag(unmapped, "Diagnos", f"maps to no diagnosis group ({found})",
             f"add the diagnosis (as text or ICD-10 code) to {table} (caseload.mapping in "
             "the study's params.yaml)")
    occupation = data["Sysselsattning"].map(_occupation)
    wage_range = data["Sysselsattning"].map(_wage_out_of_range) & ~personal["Sysselsattning"]
    flag(wage_range, "Sysselsattning", "lönebidrag percentage outside 1–100 % "
         f"({quote_values(data.loc[wage_range, 'Sysselsattning'].map(_wage_percent))})",
         "correct the list: a wage subsidy covers at most 100 %")
    flag(occupation.isna() & ~wage_range & ~personal["Sysselsattning"], "Sysselsattning",
         "unknown occupation ("
         f"{quote_values(data.loc[occupation.isna() & ~wage_range, 'Sysselsattning'])}; known: "
         f"{', '.join(o for o in OCCUPATIONS if o != 'lönebidrag')}, lönebidrag N %)",
         "correct the list (letter case, spaces and å/ä/ö do not matter)")
    benefit = _categories(data["Ersattning"], BENEFITS)
    flag(benefit.isna() & ~personal["Ersattning"], "Ersattning",
         f"unknown benefit ({quote_values(data.loc[benefit.isna(), 'Ersattning'])}; known: "
         f"{', '.join(BENEFITS)})", "correct the list (letter case, spaces and å/ä/ö do not "
         "matter)")
    sgi = _categories(data["SGI_noll"], ("Ja", "Nej")).map(YES_NO_LABEL)
    flag(sgi.isna() & ~personal["SGI_noll"], "SGI_noll", "must be Ja or Nej")
    key = ["KontaktId"] if "KontaktId" in data.columns and (data["KontaktId"] != "").all() \
        else list(COLUMNS)
    flag(data.duplicated(key, keep="first"), ", ".join(key), "duplicated contact",
         "remove the repeated row")
    if v:
        raise ValidationError(v)
    contacts = pd.DataFrame({
        "enhet": site, "startdatum": start,
        "diagnos": diagnosis["diagnos"], "diagnosgrupp": diagnosis["diagnosgrupp"],
        "sysselsattning": occupation, "ersattning": benefit, "sgi_noll": sgi,
    }).reset_index(drop=True).astype({c: object for c in ("enhet", "ersattning", "sgi_noll")})
    return CaseList(contacts, str(path), chosen, top, int(raw.attrs.get("blank_rows", 0)))


def _wage_percent(value: str) -> str:
    wage = _WAGE_SUBSIDY.match(_fold(value))
    return f"{int(wage.group(1))}" if wage else ""


def _nearest_sites(values: pd.Series, sites: Sequence[str]) -> str:
    """Known sites close to unknown, withheld values (``Hagfors VC`` → Hagfors): names from
    params, so they may be printed; the delivered text is not."""
    folded = {_fold(s): s for s in sites}
    near = sorted({folded[m] for v in values.unique() if not is_code_like(v)
                   for m in difflib.get_close_matches(_fold(v), list(folded), n=1, cutoff=0.6)})
    return f"; near known: {', '.join(near)}" if near else ""


def check_periods(periods: Mapping[str, Sequence[str]]) -> list[Violation]:
    """`caseload.periods` as the summary needs them: each a name with [first day, last day]
    (YYYY-MM-DD, first not after last), none overlapping another (a contact would be counted
    in the first only)."""
    where, v = "params.yaml", []
    if not periods:
        return [Violation(where, "caseload.periods", "no period given", 0,
                          hint="name at least one period: name: [first day, last day]")]
    spans = {}
    for name, span in periods.items():
        try:
            first, last = (pd.Timestamp(str(d)) for d in span)
        except (TypeError, ValueError):
            v.append(Violation(where, "caseload.periods", f"period '{name}' is not [first day, "
                               "last day] as YYYY-MM-DD", 0, hint="correct it in params.yaml"))
            continue
        if first > last:
            v.append(Violation(where, "caseload.periods", f"period '{name}' ends before it "
                               "starts", 0, hint="correct it in params.yaml"))
        spans[name] = (first, last)
    names = list(spans)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if spans[a][0] <= spans[b][1] and spans[b][0] <= spans[a][1]:
                v.append(Violation(where, "caseload.periods", f"periods '{a}' and '{b}' "
                                   "overlap", 0, hint="make the periods disjoint"))
    return v


def assign_periods(contacts: pd.DataFrame, periods: Mapping[str, Sequence[str]]
                   ) -> tuple[pd.DataFrame, int]:
    """Each contact's period (name → [first day, last day]); contacts outside every period are
    counted and returned separately, never silently dropped."""
    period = pd.Series(pd.NA, index=contacts.index, dtype="string")
    for name, (first, last) in periods.items():
        inside = contacts["startdatum"].between(pd.Timestamp(first), pd.Timestamp(last))
        period[inside & period.isna()] = name
    out = contacts.assign(period=period.astype(object))
    return out[period.notna()].reset_index(drop=True), int(period.isna().sum())


def _months(dates: pd.Series) -> str:
    return (f"{dates.min():%Y-%m} to {dates.max():%Y-%m}" if dates.notna().any()
            else "no dates")


@dataclass(frozen=True)
class Summary:
    """A case list read and counted: what the summarise stage writes (`table`, `flow`)."""

    cases: CaseList
    contacts: pd.DataFrame
    table: pd.DataFrame
    flow: dict


def summarise(params: Mapping, root: Path) -> Summary:
    """Read the case list `data:` points at, check `caseload:` and count per period, site and
    dimension: every problem of the parameters and the list in one `ValidationError`. No
    contact in any period stops (the report would be empty); a period without contacts is
    kept with zeros and named in the flow (`empty_periods`)."""
    data, study = params["data"], params["caseload"]
    v = check_periods(study.get("periods") or {})
    if not study.get("sites"):
        v.append(Violation("params.yaml", "caseload.sites", "no site given", 0,
                           hint="list the sites (Enhet) of the case list"))
    mapping = None
    try:
        mapping = read_mapping(root / study["mapping"])
    except FileNotFoundError:
        v.append(Violation(str(study["mapping"]), "*", "no such file", 0,
                           hint="check caseload.mapping in params.yaml"))
    path = root / data["dir"] / data["case_list"]
    cases = None
    if not path.is_file():
        v.append(Violation(str(path), "*", "no such file", 0,
                           hint="check data.dir and data.case_list in params.yaml"))
    elif mapping is not None and study.get("sites"):
        try:
            cases = read_case_list(path, sites=study["sites"], mapping=mapping,
                                   sheet=data.get("sheet"), header_row=data.get("header_row"),
                                   column_map=data.get("column_map") or {})
        except ValidationError as err:
            v.extend(err.violations)
    if v or cases is None:
        raise ValidationError(v)
    if cases.contacts.empty:
        raise ValidationError([Violation(
            Path(cases.source).name, "*", f"no contact below the header (row {cases.header_row})",
            0, hint="check data.case_list, data.sheet and data.header_row in params.yaml")])
    contacts, outside = assign_periods(cases.contacts, study["periods"])
    if contacts.empty:
        raise ValidationError([Violation(
            Path(cases.source).name, "Startdatum", "no contact starts in any period of "
            f"caseload.periods (contacts start {_months(cases.contacts['startdatum'])})",
            len(cases.contacts), hint="change caseload.periods in params.yaml")])
    table = all_counts(contacts, periods=list(study["periods"]))
    return Summary(cases, contacts, table, flow(cases, contacts, outside,
                                                periods=list(study["periods"])))


def check(params: Mapping | str | Path = "notebooks/caseload/params.yaml") -> int:
    """`make check-data STUDY=caseload` (`rehabkoord.clean.CHECKS`): read and check everything
    the summary reads, with `params` the study's parameters or its params.yaml; every problem
    on stderr, or the flow on stdout; writes nothing. Exit status 0 when the list fits."""
    if not isinstance(params, Mapping):
        params = load_params(params)
    where = Path(str(params["data"]["dir"])) / str(params["data"]["case_list"])
    try:
        summary = summarise(params, project_root())
    except ValidationError as err:
        print(f"caseload: the case list {where} does not fit the study.\n{err}",
              file=sys.stderr)
        return 1
    print(f"caseload: the case list {where} fits the study.")
    print(json.dumps(summary.flow, ensure_ascii=False, indent=2, sort_keys=True))
    return 0


def counts(contacts: pd.DataFrame, dimension: str,
           periods: Sequence[str] | None = None) -> pd.DataFrame:
    """Contacts per period, site and category of one dimension (long format, zeros kept so the
    table's structure does not depend on the data), with each period's and site's total.
    `periods` (all of ``caseload.periods``, in their order) keeps a period without contacts,
    as zeros, and orders the table (else periods sort by name)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}")
    cats = sorted(contacts[dimension].unique())
    sites = sorted(contacts["enhet"].unique())
    names = [*(periods or ()), *sorted(set(contacts["period"]) - set(periods or ()))]
    full = pd.MultiIndex.from_product([names, sites, cats],
                                      names=["period", "enhet", "kategori"])
    n = contacts.groupby(["period", "enhet", dimension]).size()
    n.index = n.index.set_names(["period", "enhet", "kategori"])
    table = n.reindex(full, fill_value=0).rename("antal").reset_index()
    table.insert(0, "dimension", dimension)
    return table


def all_counts(contacts: pd.DataFrame, periods: Sequence[str] | None = None) -> pd.DataFrame:
    """`counts` for every dimension, one long table (the internal, unsuppressed summary)."""
    return pd.concat([counts(contacts, d, periods) for d in DIMENSIONS], ignore_index=True)


def synthetic_case_list(seed: int, sites: Sequence[str], first_day: str, last_day: str,
                        contacts_per_site: int) -> pd.DataFrame:
    """A case list as a region keeps it (free-text and ICD-10 diagnoses, lönebidrag with
    percentages), for the embedded default; no real person is behind any row."""
    rng = np.random.default_rng(seed)
    diagnoses = ["Utmattning", "F43.8", "f32.1", "F41.1", "ADHD", "F90.0", "Depression", "PTSD",
                 "F84.5", "Anpassningsstörning", "Paniksyndrom", "F11.2"]
    weights = np.array([8, 6, 5, 4, 4, 3, 3, 2, 2, 2, 1, 1], dtype=float)
    occupations = ["anställd", "arbetslös", "lönebidrag 25 %", "lönebidrag 50 %",
                   "arbetsförberedande insats", "studerande"]
    benefits = ["sjukpenning", "aktivitetsersättning", "sjukersättning", "ekonomiskt bistånd",
                "ingen"]
    days = pd.date_range(first_day, last_day, freq="D")
    rows = []
    for site in sites:
        n = int(rng.poisson(contacts_per_site))
        for _ in range(n):
            rows.append({
                "Enhet": site,
                "Startdatum": days[rng.integers(len(days))].strftime("%Y-%m-%d"),
                "Diagnos": rng.choice(diagnoses, p=weights / weights.sum()),
                "Sysselsattning": rng.choice(occupations, p=[.35, .3, .1, .05, .1, .1]),
                "Ersattning": rng.choice(benefits, p=[.6, .1, .1, .15, .05]),
                "SGI_noll": rng.choice(["Nej", "Ja"], p=[.9, .1]),
            })
    frame = pd.DataFrame(rows).sort_values(["Startdatum", "Enhet"], kind="stable")
    frame.insert(0, "KontaktId", [f"K{i:04d}" for i in range(1, len(frame) + 1)])
    return frame.reset_index(drop=True)


_XLSX_TIMES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def write_case_list(frame: pd.DataFrame, path: Path) -> None:
    """A case list as an Excel workbook with one sheet, as regions keep it. The workbook's
    creation times and the archive's entry times are fixed, so the same list is the same
    bytes (DVC hashes it)."""
    buffer = BytesIO()
    frame.to_excel(buffer, index=False, sheet_name="Ärenden", engine="openpyxl")
    with zipfile.ZipFile(BytesIO(buffer.getvalue())) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = _XLSX_TIMES.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            out.writestr(zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0)), data,
                         compress_type=zipfile.ZIP_DEFLATED)


def flow(cases: CaseList, contacts: pd.DataFrame, outside_periods: int,
         periods: Sequence[str] = ()) -> dict:
    """Every row below the header is a blank row or a contact, and every contact read is
    counted in a period or outside every period; `empty_periods` are periods of
    ``caseload.periods`` no contact starts in (kept in the tables as zeros)."""
    return {"contacts_read": int(len(cases.contacts)), "contacts_in_periods": int(len(contacts)),
            "contacts_outside_periods": int(outside_periods), "source": Path(cases.source).name,
            "sheet": cases.sheet, "header_row": cases.header_row,
            "blank_rows": cases.blank_rows,
            "empty_periods": sorted(set(periods) - set(contacts["period"]))}


def write_summary(table: pd.DataFrame, flow_record: dict, out_dir: Path) -> list[Path]:
    """The internal counts (Parquet) and the flow (JSON), all or nothing."""
    return write_all({Path(out_dir) / "counts.parquet": table,
                      Path(out_dir) / "flow.json": flow_record})


PUBLISHED = ("diagnosgrupp", "sysselsattning", "ersattning", "sgi_noll")
ALL_SITES = "Alla enheter"
TOTAL = "Antal kontakter"


@dataclass(frozen=True)
class Publication:
    """The summary as it may be published: per period, one row per dimension and category and
    one column per site plus all sites (text: the count, "<min_cell" or `SUPPRESSED`); the withheld
    cells by name and reason (never values); and the audit's interval for each of them."""

    tables: dict[str, pd.DataFrame]
    withheld: list[tuple[tuple, str]]
    intervals: list[Interval]
    rules: Rules
    structure: Structure
    method: str = ""

    def decision(self) -> Withheld:
        """The withheld cells as `disclosure.protect` decided them, with its method."""
        return Withheld(dict(self.withheld), self.method)

    def record(self) -> dict:
        """The decision for the output check (`disclosure.record`; internal: true counts)."""
        return record(self.structure, self.decision(), self.rules)


def declare(table: pd.DataFrame) -> Structure:
    """The additive structure of the published summary, per period: in every dimension the
    categories add up to the site's contacts, and the sites add up to all sites, so a hidden
    count cannot be recovered from row or column totals, nor through another dimension."""
    s = Structure()
    shown = table[table["dimension"].isin(PUBLISHED)]
    for period, part in shown.groupby("period", sort=False):  # in the table's order
        sites = sorted(part["enhet"].unique())
        first = part[part["dimension"] == PUBLISHED[0]].groupby("enhet")["antal"].sum()
        totals = [s.cell((period, site, TOTAL), int(first[site]), cost=20) for site in sites]
        s.relation(s.cell((period, ALL_SITES, TOTAL), int(first.sum()), cost=50), totals)
        for dim in PUBLISHED:
            block = part[part["dimension"] == dim]
            cats = sorted(block["kategori"].unique())
            for cat in cats:
                by_site = block[block["kategori"] == cat]
                cells = [s.cell((period, r.enhet, dim, cat), r.antal) for r in
                         by_site.itertuples()]
                s.relation(s.cell((period, ALL_SITES, dim, cat), int(by_site["antal"].sum()),
                                  cost=5), cells)
            for site in [*sites, ALL_SITES]:
                s.relation((period, site, TOTAL), [(period, site, dim, c) for c in cats])
    return s


def _text(structure: Structure, withheld: dict, key: tuple, rules: Rules) -> str:
    if key not in withheld:
        return number(rules.printed(structure.values[key]), 0, "sv")
    return rules.mark if withheld[key] == SMALL else SUPPRESSED


def publish(table: pd.DataFrame, rules: Rules) -> Publication:
    """Primary and complementary suppression (decided by `disclosure.protect`) over `declare`'s
    structure, and the tables to print (with `report.protection: round`, every count rounded
    as `Rules.printed` says: the summary holds counts only)."""
    structure = declare(table)
    withheld = protect(structure, rules, rounded_print=True)
    rows = []
    for key in structure.values:
        period, site, *rest = key
        dim, cat = ("total", TOTAL) if rest == [TOTAL] else rest
        rows.append({"period": period, "dimension": dim, "kategori": cat, "enhet": site,
                     "text": _text(structure, withheld, key, rules)})
    frame = pd.DataFrame(rows)
    order = {d: i for i, d in enumerate(("total", *PUBLISHED))}
    tables = {}
    for period, part in frame.groupby("period", sort=False):  # in caseload.periods' order
        wide = part.pivot(index=["dimension", "kategori"], columns="enhet", values="text")
        sites = [c for c in wide.columns if c != ALL_SITES]
        wide = wide[[*sites, ALL_SITES]]
        wide = wide.sort_index(key=lambda ix: ix.map(order) if ix.name == "dimension" else ix)
        tables[period] = wide
    listed = sorted(withheld.items(), key=lambda kv: [str(x) for x in kv[0]])
    return Publication(tables, listed, audit(structure, withheld, rules), rules, structure,
                       withheld.method)


STUDY = "caseload"


def _labels(language: str) -> dict[str, str]:
    """Every fixed label and category in the report language, so authors edit them in
    `text/<language>/`: the row groups and the all-sites and all-contacts labels in
    `rubriker.yaml`, categories in `kategorier.yaml` (the list's own Swedish words; a category
    it lacks keeps the list's word)."""
    headings = texts.glossary(STUDY, "rubriker", texts.check_language(language))
    return {**texts.glossary(STUDY, "kategorier", language), **headings["dimensions"],
            ALL_SITES: headings["all_sites"], TOTAL: headings["contacts"]}


def words(key: str, language: str, **fields) -> str:
    """A heading or caption of the summary (`text/<language>/rubriker.yaml`), filled."""
    return texts.fill(texts.glossary(STUDY, "rubriker", language)[key], **fields)


def display_table(pub: Publication, period: str, language: str = "sv") -> pd.DataFrame:
    """One period's published table to print with `tables.styled`: a heading row per
    dimension and its categories indented under it (`attrs["levels"]`), one column per site
    and all sites, right-aligned (`attrs["numeric"]`)."""
    words = _labels(language)
    wide = pub.tables[period]
    stub = texts.glossary(STUDY, "rubriker", language)["stub"]
    columns = [words.get(c, c) for c in wide.columns]
    rows, levels = [], []
    for dim in wide.index.get_level_values(0).unique():
        block = wide.loc[dim]
        if dim == "total":
            for cat, values in block.iterrows():
                rows.append([words.get(cat, cat), *values])
                levels.append(0)
            continue
        rows.append([words.get(dim, dim), *([""] * len(columns))])
        levels.append(0)
        for cat, values in block.iterrows():
            shown = words.get(cat, cat)
            rows.append([shown[:1].upper() + shown[1:], *values])
            levels.append(1)
    out = pd.DataFrame(rows, columns=[stub, *columns])
    out.attrs.update(levels=levels, numeric=columns)
    return out


def summary_text(params: dict, flow_record: dict, pub: Publication, language: str = "sv") -> str:
    """The summary's introduction: what was counted, from what, and the release rules
    (template `sammanfattning` in the report language)."""
    c = params["caseload"]
    outside = flow_record["contacts_outside_periods"]
    return texts.render(
        STUDY, "sammanfattning", language, n_periods=len(c["periods"]),
        source=flow_record["source"], sheet=flow_record.get("sheet") or "",
        contacts_read=number(flow_record["contacts_read"], 0, language),
        contacts_in_periods=number(flow_record["contacts_in_periods"], 0, language),
        outside=number(outside, 0, language) if outside else "",
        mapping=Path(c["mapping"]).name, min_cell=pub.rules.min_cell, mark=pub.rules.mark,
        suppressed=SUPPRESSED,
        rounding=(rounding_statement(pub.rules, language, statistics=False)
                  if pub.rules.method == ROUND else ""),
        cost=cost_statement(pub.structure, pub.decision(), language))


def withheld_list(pub: Publication, language: str = "sv") -> list[str]:
    """One sentence per published table (period): how many cells are withheld and in which
    rows (never their values); when small counts are not marked, neither is the reason,
    which would tell them from their complements."""
    words = _labels(language)
    out = []
    for period in pub.tables:
        cells = [(key, reason) for key, reason in pub.withheld if key[0] == period]
        if not cells:
            continue
        hidden = {("total", TOTAL) if rest == [TOTAL] else tuple(rest)
                  for (_, _site, *rest), _reason in cells}
        by_dimension: dict[str, list[str]] = {}
        for dim, cat in pub.tables[period].index:  # the table's order
            if (dim, cat) in hidden:
                by_dimension.setdefault(words.get(dim, dim), []).append(words.get(cat, cat))
        rows = [f"{dim}: {', '.join(cats)}" for dim, cats in by_dimension.items()]
        small = sum(reason == SMALL for _, reason in cells)
        out.append(texts.render(
            STUDY, "undertryckta", language, period=period, n=len(cells),
            marked=pub.rules.mark_small, small=small, complement=len(cells) - small,
            rows="; ".join(rows)))
    return out


if __name__ == "__main__":
    sys.exit(check(*sys.argv[1:2]))
