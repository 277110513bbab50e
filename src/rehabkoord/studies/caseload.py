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

import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO, StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from ..contract import PERSONAL_RULE, has_personal_number, quote_values
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
    MAX_EXAMPLES,
    ValidationError,
    Violation,
    csv_header,
    decode_text,
    sniff_format,
    write_all,
)

COLUMNS = ("Enhet", "Startdatum", "Diagnos", "Sysselsattning", "Ersattning", "SGI_noll")
OPTIONAL = ("KontaktId",)

#: Occupation as the coordinators record it; "lönebidrag" carries its percentage.
OCCUPATIONS = ("anställd", "arbetslös", "lönebidrag", "arbetsförberedande insats", "studerande")
BENEFITS = ("sjukpenning", "aktivitetsersättning", "sjukersättning", "ekonomiskt bistånd",
            "annan ersättning", "ingen")
YES_NO = {"ja": True, "nej": False}
DIMENSIONS = ("diagnosgrupp", "diagnos", "sysselsattning", "ersattning", "sgi_noll")

_WAGE_SUBSIDY = re.compile(r"^lönebidrag\s*(\d{1,3})\s*%?$")
_ICD10 = re.compile(r"^([A-Z])(\d{2})\.?(\d{0,2})$")


@dataclass(frozen=True)
class CaseList:
    """The validated case list: one row per contact with normalised categories."""

    contacts: pd.DataFrame
    source: str
    sheet: str | None


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


def _occupation(value: str) -> str | None:
    """Readable occupation; ``lönebidrag 25 %`` keeps its percentage."""
    v = re.sub(r"\s+", " ", value.strip().lower())
    wage = _WAGE_SUBSIDY.match(v)
    if wage:
        return f"lönebidrag {int(wage.group(1))} %"
    return v if v in OCCUPATIONS and v != "lönebidrag" else None


def _read_table(path: Path, sheet: str | None) -> tuple[pd.DataFrame, str | None]:
    kind, what = sniff_format(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        if kind != ".zip":
            raise ValidationError([Violation(str(path), "*", f"the file is {what}, not an Excel "
                                             "workbook", 0)])
        sheets = pd.read_excel(path, sheet_name=None, dtype=str, engine="openpyxl")
        chosen = sheet or (next(iter(sheets)) if len(sheets) == 1 else None)
        if chosen is None or chosen not in sheets:
            asked = f"no sheet '{sheet}' among" if sheet else "a sheet must be chosen among"
            raise ValidationError([Violation(str(path), "*", f"{asked} the workbook's "
                                             f"{len(sheets)} sheets (their names are not shown: "
                                             "they may identify a person)", 0, hint="set "
                                             "caseload.sheet in the study's params.yaml to the "
                                             "name of the sheet to read")])
        return sheets[chosen].fillna(""), chosen
    if suffix == ".csv" and kind == ".csv":
        text, _ = decode_text(path.read_bytes(), path)
        _, delimiter = csv_header(text, path)
        return pd.read_csv(StringIO(text), sep=delimiter, dtype=str, keep_default_na=False), None
    raise ValidationError([Violation(str(path), "*", f"unsupported case list ({what}, named "
                                     f"{suffix})", 0, hint="deliver .xlsx (one sheet) or .csv")])


def read_case_list(path: str | Path, *, sites: Sequence[str], mapping: pd.DataFrame,
                   sheet: str | None = None) -> CaseList:
    """Read and validate a case list; every problem names file, row and column.

    Rows are numbered as in Excel (the header is row 1). Raises `ValidationError` listing a
    cell that looks like a personnummer, an unknown site, an unreadable date, a diagnosis that
    maps to no group (naming the mapping table to extend), an unknown occupation or benefit,
    and duplicated contacts. A delivered text is quoted only when code-like, and the sheet only
    by the name `sheet` gives (a sheet's own name may be a person's).
    """
    path = Path(path)
    raw, chosen = _read_table(path, sheet)
    where = f"{path.name}" + (f", sheet '{sheet}'" if sheet else "")
    raw.columns = [str(c).strip() for c in raw.columns]
    v: list[Violation] = []
    missing = [c for c in COLUMNS if c not in raw.columns]
    for c in missing:
        v.append(Violation(where, c, "required column missing", len(raw)))
    if missing:
        raise ValidationError(v)
    data = raw.apply(lambda s: s.astype(str).str.strip())
    data = data[~(data[list(COLUMNS)] == "").all(axis=1)]

    def flag(mask: pd.Series, column: str, rule: str, hint: str = "") -> None:
        hits = data.index[np.asarray(mask, dtype=bool)]
        if len(hits):
            rows = tuple(int(i) + 2 for i in hits[:MAX_EXAMPLES])
            v.append(Violation(where, column, rule, len(hits), rows, hint=hint))

    read = [c for c in (*COLUMNS, *OPTIONAL) if c in data.columns]
    personal = pd.DataFrame({c: has_personal_number(data[c]) for c in read})
    for column in read:
        flag(personal[column], column, PERSONAL_RULE, "remove names and personal identity "
             "numbers from the case list: the summary needs neither")
    data[read] = data[read].mask(personal, "")  # reported above, and not again by the rules below
    site = data["Enhet"]
    unknown = ~site.isin(list(sites)) & ~personal["Enhet"]
    if unknown.any():
        flag(unknown, "Enhet", f"unknown site ({quote_values(site[unknown])}; known: "
             f"{', '.join(sites)})", "add the site to caseload.sites in the study's params.yaml")
    start = pd.to_datetime(data["Startdatum"].str.slice(0, 10), format="%Y-%m-%d",
                           errors="coerce")
    flag(start.isna() & ~personal["Startdatum"], "Startdatum",
         "cannot be read as a date (YYYY-MM-DD)")
    diagnosis = map_diagnosis(data["Diagnos"], mapping)
    unmapped = diagnosis["diagnosgrupp"].isna() & ~personal["Diagnos"]
    if unmapped.any():
        table = Path(mapping.attrs.get("source", "")).name or "the mapping table"
        found = quote_values(data.loc[unmapped, "Diagnos"])
        flag(unmapped, "Diagnos", f"maps to no diagnosis group ({found})",
             f"add the diagnosis (as text or ICD-10 code) to {table} (caseload.mapping in "
             "the study's params.yaml)")
    occupation = data["Sysselsattning"].map(_occupation)
    flag(occupation.isna() & ~personal["Sysselsattning"], "Sysselsattning",
         "unknown occupation (known: "
         f"{', '.join(OCCUPATIONS)}, lönebidrag with its percentage)")
    benefit = data["Ersattning"].str.lower()
    flag(~benefit.isin(list(BENEFITS)) & ~personal["Ersattning"], "Ersattning",
         f"unknown benefit (known: {', '.join(BENEFITS)})")
    sgi = data["SGI_noll"].str.lower().map(YES_NO)
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
        "sysselsattning": occupation, "ersattning": benefit,
        "sgi_noll": sgi.map({True: "SGI 0", False: "SGI över 0"}),
    }).reset_index(drop=True)
    return CaseList(contacts, str(path), sheet if chosen else None)


def assign_periods(contacts: pd.DataFrame, periods: Mapping[str, Sequence[str]]
                   ) -> tuple[pd.DataFrame, int]:
    """Each contact's period (name → [first day, last day]); contacts outside every period are
    counted and returned separately, never silently dropped."""
    period = pd.Series(pd.NA, index=contacts.index, dtype="string")
    for name, (first, last) in periods.items():
        inside = contacts["startdatum"].between(pd.Timestamp(first), pd.Timestamp(last))
        period[inside & period.isna()] = name
    out = contacts.assign(period=period)
    return out[period.notna()].reset_index(drop=True), int(period.isna().sum())


def counts(contacts: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """Contacts per period, site and category of one dimension (long format, zeros kept so the
    table's structure does not depend on the data), with each period's and site's total."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}")
    cats = sorted(contacts[dimension].unique())
    sites = sorted(contacts["enhet"].unique())
    full = pd.MultiIndex.from_product([sorted(contacts["period"].unique()), sites, cats],
                                      names=["period", "enhet", "kategori"])
    n = contacts.groupby(["period", "enhet", dimension]).size()
    n.index = n.index.set_names(["period", "enhet", "kategori"])
    table = n.reindex(full, fill_value=0).rename("antal").reset_index()
    table.insert(0, "dimension", dimension)
    return table


def all_counts(contacts: pd.DataFrame) -> pd.DataFrame:
    """`counts` for every dimension, one long table (the internal, unsuppressed summary)."""
    return pd.concat([counts(contacts, d) for d in DIMENSIONS], ignore_index=True)


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


def flow(cases: CaseList, contacts: pd.DataFrame, outside_periods: int) -> dict:
    """Every contact read is either counted in a period or outside every period."""
    return {"contacts_read": int(len(cases.contacts)), "contacts_in_periods": int(len(contacts)),
            "contacts_outside_periods": int(outside_periods), "source": Path(cases.source).name,
            "sheet": cases.sheet}


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
    one column per site plus all sites (text: the count, "<min_cell" or "–"); the withheld
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
    for period, part in shown.groupby("period", sort=True):
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
    for period, part in frame.groupby("period", sort=True):
        wide = part.pivot(index=["dimension", "kategori"], columns="enhet", values="text")
        sites = [c for c in wide.columns if c != ALL_SITES]
        wide = wide[[*sites, ALL_SITES]]
        wide = wide.sort_index(key=lambda ix: ix.map(order) if ix.name == "dimension" else ix)
        tables[period] = wide
    listed = sorted(withheld.items(), key=lambda kv: [str(x) for x in kv[0]])
    return Publication(tables, listed, audit(structure, withheld, rules), rules, structure,
                       withheld.method)


DIMENSION_LABELS = {"total": "Totalt", "diagnosgrupp": "Diagnosgrupp",
                    "sysselsattning": "Sysselsättning", "ersattning": "Ersättning",
                    "sgi_noll": "Sjukpenninggrundande inkomst"}


def display_table(pub: Publication, period: str) -> pd.DataFrame:
    """One period's published table with readable row labels, ready to print."""
    wide = pub.tables[period].copy()
    wide.index = wide.index.set_levels(
        [wide.index.levels[0].map(lambda d: DIMENSION_LABELS.get(d, d)),
         wide.index.levels[1].map(lambda c: c[:1].upper() + c[1:])])
    wide.index.names = ["", ""]
    wide.columns.name = None
    return wide


def summary_text(params: dict, flow_record: dict, pub: Publication) -> str:
    """The summary's introduction: what was counted, from what, and the release rules."""
    c = params["caseload"]
    n_periods = len(c["periods"])
    m = pub.rules.min_cell
    outside = flow_record["contacts_outside_periods"]
    return (
        f"Sammanställningen räknar rehabiliteringskoordinatorns kontakter per enhet och period "
        f"({n_periods} {'period' if n_periods == 1 else 'perioder'}) utifrån ärendelistan "
        f"*{flow_record['source']}*"
        + (f" (blad *{flow_record['sheet']}*)" if flow_record.get("sheet") else "")
        + f". Listan innehöll {number(flow_record['contacts_read'], 0, 'sv')} kontakter, varav "
        f"{number(flow_record['contacts_in_periods'], 0, 'sv')} med startdatum inom perioderna"
        + (f" ({number(outside, 0, 'sv')} utanför)" if outside else "")
        + ". Diagnoser är grupperade efter ICD-10-kapitel genom en redigerbar tabell "
        f"(*{Path(c['mapping']).name}*); fritext som \"Utmattning\" mappas på samma sätt. "
        + (rounding_statement(pub.rules, "sv", statistics=False) + " "
           if pub.rules.method == ROUND else
           f"Antal under {m} redovisas inte och visas som \"{pub.rules.mark}\"; celler som "
           "annars kunde räknas fram ur rad- eller kolumnsummor eller via en annan indelning "
           "visas som \"–\" (kompletterande undertryckning, granskad med linjärprogrammering "
           "som i tau-ARGUS). ")
        + cost_statement(pub.structure, pub.decision(), "sv"))


def withheld_list(pub: Publication) -> list[str]:
    """Withheld cells by name and reason (never their values); when small counts are not
    marked, neither is the reason, which would tell them from their complements."""
    out = []
    for key, reason in pub.withheld:
        period, site, *rest = key
        what = TOTAL if rest == [TOTAL] else f"{DIMENSION_LABELS[rest[0]]}: {rest[1]}"
        why = ("undertryckt" if not pub.rules.mark_small else "litet antal" if reason == SMALL
               else "kompletterande undertryckning")
        out.append(f"{period}, {site}, {what} ({why})")
    return out
