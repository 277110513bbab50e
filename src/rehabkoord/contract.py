"""The register variable contract: one source of truth for names, types and codes.

Real deliveries from Statistics Sweden (SCB) and the region use these variable names;
`params.yaml` maps project-specific names (e.g. ``P1105_LopNr_PersonNr``) onto them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PERSON_KEY = "LopNr"
YEAR = "Ar"

GROUP_INTERVENTION = "Intervention"
GROUP_CONTROL = "Kontroll"
GROUPS = (GROUP_INTERVENTION, GROUP_CONTROL)

SEX_CODES = {1: "man", 2: "kvinna"}

#: BAS main activity codes (Befolkningens arbetsmarknadsstatus).
BAS_CODES = {
    1: "sysselsatt",
    2: "arbetslös",
    3: "studerande",
    4: "pensionär",
    5: "sjuk",
    8: "barn",
    9: "övrigt",
}
#: BAS codes counted as "employed or studying" (huvudsakligen i arbete eller studier).
BAS_EMPLOYED_OR_STUDYING = (1, 3)

#: LISA employment status (SyssStat11 / SyssStat19): 1 förvärvsarbetande, 5 ej förvärvsarbetande.
SYSSSTAT_CODES = {1: "förvärvsarbetande", 5: "ej förvärvsarbetande"}
SYSSSTAT_EMPLOYED = 1

#: LISA's employment status matters only in years BAS does not cover (see `cohort`): in years
#: BAS covers, an unknown code there is counted in the cleaning flow and ignored.
SYSSSTAT_COLUMNS = ("SyssStat19", "SyssStat11")

#: Net days are bounded by the length of a calendar year.
MAX_DAYS_PER_YEAR = 366


@dataclass(frozen=True)
class Column:
    """One contract column: name, kind ('int', 'float', 'str', 'date'), allowed codes or range,
    or the shape its codes take (`shape`, a key of `CODE_SHAPES`)."""

    name: str
    kind: str
    required: bool = True
    codes: tuple | None = None
    min_value: float | None = None
    max_value: float | None = None
    shape: str | None = None


@dataclass(frozen=True)
class Table:
    """One delivered table: its columns and the key that must be unique."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    yearly: bool = False
    optional_groups: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


DAYS = dict(kind="float", min_value=0, max_value=MAX_DAYS_PER_YEAR)

#: The diagnosis groups of the Uppsala study (its inclusion criteria: moderate or severe
#: affective or anxiety disorder, among them bipolar disorder, depression, PTSD, generalised
#: anxiety and neurodevelopmental disorders), as the region's randomisation list records them.
#: They are the only row labels of Diagnosgrupp the appendix can print.
DIAGNOSIS_GROUPS = ("Depression", "Ångestsyndrom", "Bipolär sjukdom", "PTSD",
                    "Neuropsykiatrisk funktionsnedsättning")

RANDOMISATION = Table(
    name="randomisering",
    columns=(
        Column(PERSON_KEY, "str"),
        Column("Grupp", "str", codes=GROUPS),
        Column("RandDatum", "date"),
        Column("Diagnosgrupp", "str", required=False, codes=DIAGNOSIS_GROUPS),
        Column("Arbetsgivare", "str", required=False, codes=("Ja", "Nej")),
    ),
    key=(PERSON_KEY,),
)

LISA = Table(
    name="LISA",
    columns=(
        Column(PERSON_KEY, "str"),
        Column(YEAR, "int", min_value=1990, max_value=2100),
        Column("Kon", "int", codes=tuple(SEX_CODES)),
        Column("FodelseAr", "int", min_value=1900, max_value=2100),
        Column("SjukP_Ndag_MiDAS", **DAYS),
        Column("SjukErs_Ndag_MiDAS", **DAYS),
        Column("AktErs_Ndag_MiDAS", **DAYS),
        Column("SyssStat19", "int", required=False, codes=tuple(SYSSSTAT_CODES)),
        Column("SyssStat11", "int", required=False, codes=tuple(SYSSSTAT_CODES)),
        Column("DispInk04", "float", required=False),
    ),
    key=(PERSON_KEY, YEAR),
    yearly=True,
    optional_groups=(("SyssStat19", "SyssStat11"),),
)

BAS = Table(
    name="BAS",
    columns=(
        Column(PERSON_KEY, "str"),
        Column(YEAR, "int", min_value=1990, max_value=2100),
        Column("BAS", "int", codes=tuple(BAS_CODES)),
    ),
    key=(PERSON_KEY, YEAR),
    yearly=True,
)

TABLES = {t.name: t for t in (RANDOMISATION, LISA, BAS)}


def normalise_key(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The person key as canonical text, and a mask of values that are not a key.

    SCB's LopNr is a positive whole number, delivered as a number or as text; these all mean
    the same person and become ``"863232"``: ``863232``, ``863232.0`` (a float column),
    ``"863232.0"``, ``" 863232 "`` and the zero-padded ``"0000863232"``. Anything else (letters,
    fractions) is flagged, never guessed. Missing values stay missing and are not flagged.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        if pd.api.types.is_integer_dtype(values):  # their digits, without a detour via float
            bad = (values < 0).fillna(False).astype(bool)
            text = values.astype("string")
            if bad.any():
                text = text.where(~bad, values.astype("float64").astype("string"))
            return text, bad
        numbers = values.astype("float64")
        bad = numbers.notna() & ((numbers != np.floor(numbers)) | (numbers < 0))
        whole = numbers.notna() & ~bad
        if (numbers[whole] >= 2.0**63).any():  # beyond int64: the nullable path
            text = numbers.where(~bad).astype("Int64").astype("string")
        else:  # int64 -> text is vectorised; the nullable Int64 -> text path is not
            text = numbers.where(whole, 0).astype("int64").astype("string").where(whole)
        if bad.any():  # float -> text is slow: only when a value is not a key (and reported)
            text = text.where(~bad, numbers.astype("string"))
        return text, bad
    text = values.astype("string").str.strip()
    text = text.where(text != "")
    canonical = text.str.replace(r"\.0+$", "", regex=True).str.lstrip("0")
    canonical = canonical.mask((canonical == "").fillna(False), "0")
    bad = (text.notna() & ~canonical.str.fullmatch(r"\d+").fillna(False)).astype(bool)
    return canonical.where(~bad, text), bad


# --- Sick-leave spells (the Stockholm-type evaluation, Försäkringskassan's MiDAS) -------------

GROUP_COORDINATOR = "Koordinator"
#: Groups of the spell study: coordinator support at the vårdcentral, or usual care.
SPELL_GROUPS = (GROUP_COORDINATOR, GROUP_CONTROL)

#: Sick-leave degree (omfattning) in percent of full time: quarter, half, three quarters, full.
SICK_LEAVE_DEGREES = (25, 50, 75, 100)

#: MiDAS sickness-benefit periods: one row per decided period, dates inclusive (a period
#: 2014-03-01–2014-03-01 is one day). Periods of one person may overlap (two part-time
#: decisions); the derivations in `rehabkoord.spells` sum their degrees per day, capped at 100.
#: The key rejects exact double deliveries, which would otherwise double a day's degree.
SPELL_PERIODS = Table(
    name="sjukpenningperioder",
    columns=(
        Column(PERSON_KEY, "str"),
        Column("SjukfallNr", "int", required=False, min_value=0),
        Column("FromDatum", "date"),
        Column("TomDatum", "date"),
        Column("Omfattning", "int", codes=SICK_LEAVE_DEGREES),
        Column("Diagnos", "str", shape="icd10"),
        Column("Formanstyp", "str", required=False),
    ),
    key=(PERSON_KEY, "FromDatum", "TomDatum", "Omfattning"),
)

#: The evaluation's participants: one row per patient, the date they entered (IndexDatum),
#: their vårdcentral and area, and the number of care visits in the year before (optional).
PARTICIPANTS = Table(
    name="deltagare",
    columns=(
        Column(PERSON_KEY, "str"),
        Column("Grupp", "str", codes=SPELL_GROUPS),
        Column("Vardcentral", "str"),
        Column("Omrade", "str"),
        Column("IndexDatum", "date"),
        Column("VardbesokForeAr", "int", required=False, min_value=0),
    ),
    key=(PERSON_KEY,),
)

#: Deaths and emigrations (RTB / dödsorsaksregistret): a missing date means none known. Both
#: columns are optional, but a delivery must carry at least one of them. A population file may
#: also carry sex and birth year (RTB's `Kon`, `FodelseAr`), which then stand in for LISA's in
#: the spell study.
POPULATION = Table(
    name="befolkning",
    columns=(
        Column(PERSON_KEY, "str"),
        Column("DodDatum", "date", required=False),
        Column("UtvandringDatum", "date", required=False),
        Column("Kon", "int", required=False, codes=tuple(SEX_CODES)),
        Column("FodelseAr", "int", required=False, min_value=1900, max_value=2100),
    ),
    key=(PERSON_KEY,),
    optional_groups=(("DodDatum", "UtvandringDatum"),),
)

#: Care visits (the region's care database or the patient register): one row per person and
#: day with a visit (several visits on one day count once).
VISITS = Table(
    name="vardbesok",
    columns=(Column(PERSON_KEY, "str"), Column("BesokDatum", "date")),
    key=(PERSON_KEY, "BesokDatum"),
)

SPELL_TABLES = {t.name: t for t in (SPELL_PERIODS, PARTICIPANTS, POPULATION, VISITS)}


def normalise_icd10(code: str) -> str:
    """An ICD-10 code as delivered (``F43.8``, ``F438``, ``f43.8``, ``F43 .8``) in one spelling:
    upper case without dots or white space (``F438``), so prefixes compare as text.

    `normalise_icd10_sql` is the same rule for SQL; the tests hold the two together.
    """
    return re.sub(r"[\s.]", "", str(code)).upper()


#: Shapes of codes in text columns without a closed code list: (what the value becomes before
#: it is matched, the regular expression it must match, the rule as a message states it).
CODE_SHAPES = {
    "icd10": (normalise_icd10, re.compile(r"[A-Z]\d{2}[0-9A-Z]{0,4}"),
              "not an ICD-10 code (a letter, two digits and up to four more characters, e.g. "
              "F43.2)"),
}


def fits_shape(values: pd.Series, shape: str) -> pd.Series:
    """Which non-missing `values` have the code shape `shape` (missing values count as fitting;
    each distinct value is matched once, as registers repeat few codes many times)."""
    normalise, pattern, _ = CODE_SHAPES[shape]
    distinct = values.dropna().unique()
    bad = [v for v in distinct if pattern.fullmatch(normalise(v)) is None]
    return ~values.isin(bad) if bad else pd.Series(True, index=values.index)


def normalise_icd10_sql(column: str) -> str:
    """`normalise_icd10` as a SQL expression on `column` (upper case, dots and white space
    removed), for derivations that run in the database."""
    return f"upper(regexp_replace({column}, '[[:space:].]', '', 'g'))"



#: LISA as a source of sex, birth year and (optional) disposable income (`DispInk04`, as
#: delivered: only its rank within a year is used) for the spell study and the risk model:
#: LISA's own definitions of these columns; a full LISA extract fits, its other variables are
#: not read.
LISA_BACKGROUND = Table(
    name="LISA",
    columns=tuple(LISA.column(name) for name in (PERSON_KEY, YEAR, "Kon", "FodelseAr",
                                                  "DispInk04")),
    key=LISA.key,
    yearly=True,
)


#: LISA for the risk model: as `LISA_BACKGROUND`, with disposable income required (income
#: groups are relative to each year's median in the delivery).
LISA_INCOME = Table(
    name="LISA",
    columns=tuple(Column(c.name, c.kind, True, c.codes, c.min_value, c.max_value, c.shape)
                  for c in LISA_BACKGROUND.columns),
    key=LISA.key,
    yearly=True,
)


# --- Delivered text that may identify a person -------------------------------------------------

#: A personnummer or samordningsnummer as people write it: YYYYMMDD-NNNN, YYMMDD-NNNN,
#: YYMMDD+NNNN (aged 100 or more), with a space, or its 10 or 12 digits run together; month
#: 01–12 and day 01–31, or 61–91 for a samordningsnummer (day + 60). The check digit is not
#: tested: a mistyped number identifies a person as well. Digits on either side (a longer
#: number) make it no match, and so do a date alone (2019-03-12, 20190312), an ICD-10 code or
#: a percentage.
PERSONAL_NUMBER = re.compile(
    r"(?<!\d)(?:19|20)?\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])"
    r"[-+ ]?\d{4}(?!\d)")

#: A value a message may quote: up to 12 letters, digits and ``. - _`` with at least one digit
#: (a code: F43.2, VC01, 7) and at most five (six make a birth date, 1985-03-12 or 850312).
#: A word of letters alone is not quoted, as it may be a name (Andersson).
_CODE_LIKE = re.compile(r"(?=\D*\d)(?!(?:\D*\d){6})[A-Za-z0-9._-]{1,12}")


def has_personal_number(values: pd.Series) -> pd.Series:
    """Which `values` hold text shaped like a personnummer or samordningsnummer anywhere
    (`PERSONAL_NUMBER`); each distinct value is searched once."""
    hits = [v for v in values.dropna().unique() if PERSONAL_NUMBER.search(str(v))]
    if not hits:
        return pd.Series(False, index=values.index)
    return values.isin(hits).fillna(False).astype(bool)


def is_code_like(value: object) -> bool:
    """Whether a delivered value is short and code-like enough to be quoted in a message or
    printed as a label (`_CODE_LIKE`); anything else may identify a person."""
    return _CODE_LIKE.fullmatch(str(value).strip()) is not None


#: What a message says instead of a delivered value that is not code-like.
WITHHELD = "value withheld: it may identify a person"
#: The rule a value breaks when it holds a personnummer (the message never repeats it).
PERSONAL_RULE = f"looks like a personnummer or samordningsnummer ({WITHHELD})"


def quote(value: object) -> str:
    """A delivered value as a message may show it: quoted when code-like, else withheld."""
    return f"'{str(value).strip()}'" if is_code_like(value) else f"({WITHHELD})"


def quote_values(values: Iterable[object], limit: int = 10) -> str:
    """Distinct delivered values as a message may list them: the code-like ones quoted (at
    most `limit`), the others only counted."""
    distinct = sorted({str(v).strip() for v in values})
    shown = [quote(v) for v in distinct if is_code_like(v)][:limit]
    hidden = sum(not is_code_like(v) for v in distinct)
    return "; ".join(shown + ([f"{hidden} text(s) withheld: they may identify a person"]
                              if hidden else []))
