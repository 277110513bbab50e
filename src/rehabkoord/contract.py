"""The register variable contract: one source of truth for names, types and codes.

Real deliveries from Statistics Sweden (SCB) and the region use these variable names;
`params.yaml` maps project-specific names (e.g. ``P1105_LopNr_PersonNr``) onto them.
"""

from __future__ import annotations

import re
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
    """One contract column: name, kind ('int', 'float', 'str', 'date'), allowed codes or range."""

    name: str
    kind: str
    required: bool = True
    codes: tuple | None = None
    min_value: float | None = None
    max_value: float | None = None


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

RANDOMISATION = Table(
    name="randomisering",
    columns=(
        Column(PERSON_KEY, "str"),
        Column("Grupp", "str", codes=GROUPS),
        Column("RandDatum", "date"),
        Column("Diagnosgrupp", "str", required=False),
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
        Column("Diagnos", "str"),
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
#: columns are optional, but a delivery must carry at least one of them.
POPULATION = Table(
    name="befolkning",
    columns=(
        Column(PERSON_KEY, "str"),
        Column("DodDatum", "date", required=False),
        Column("UtvandringDatum", "date", required=False),
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
