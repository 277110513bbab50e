"""Follow-up windows and per-person outcomes, exactly as the study defines them.

The study measures outcomes in "the calendar year that occurred at least six (twelve) months
after the randomisation date". Two readings of that sentence are offered (`WINDOW_RULES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ...contract import (
    BAS_EMPLOYED_OR_STUDYING,
    GROUPS,
    PERSON_KEY,
    RANDOMISATION,
    SEX_CODES,
    SYSSSTAT_EMPLOYED,
    YEAR,
)
from ...io import write_all
from ...registeryears import baseline_year, outcome_year

#: Exclusion reasons in the flow table (key -> description used by the report).
REASON_NOT_YET_IN_REGISTERS = "outcome_year_not_in_registers"
REASON_ABSENT_FROM_LISA = "absent_from_lisa_in_outcome_year"
REASON_EMPLOYMENT_MISSING = "employment_status_missing"
EXCLUSION_REASONS = (REASON_NOT_YET_IN_REGISTERS, REASON_ABSENT_FROM_LISA)


def _employment(lisa_year: pd.DataFrame, bas: pd.DataFrame, bas_years: set[int]) -> pd.DataFrame:
    """Employed-or-studying from BAS {1, 3}; from SyssStat19/11 (employed only) before BAS."""
    merged = lisa_year.merge(bas[[PERSON_KEY, YEAR, "BAS"]], on=[PERSON_KEY, YEAR], how="left")
    syss = merged["SyssStat19"].fillna(merged["SyssStat11"])
    from_bas = merged[YEAR].isin(bas_years)
    status = np.where(
        from_bas,
        np.where(merged["BAS"].isna(), np.nan,
                 merged["BAS"].isin(BAS_EMPLOYED_OR_STUDYING).astype(float)),
        np.where(syss.isna(), np.nan, (syss == SYSSSTAT_EMPLOYED).astype(float)),
    )
    merged["employed_or_studying"] = pd.array(
        np.where(np.isnan(status), None, status == 1), dtype="boolean")
    merged["employment_source"] = np.where(from_bas, "BAS", "SyssStat")
    return merged


def build_cohort(
    randomisation: pd.DataFrame,
    lisa: pd.DataFrame,
    bas: pd.DataFrame,
    offsets_months: Sequence[int] = (6, 12),
    rule: str = "first_full_year",
) -> tuple[pd.DataFrame, dict]:
    """One row per person and window with outcomes and baseline covariates, plus the flow.

    A person absent from LISA in the outcome year (emigrated, died) is missing for that
    window, not zero; an outcome year after the last delivered register year is missing too.
    Both are counted in the flow with their reason. The baseline columns the tables print by
    level must hold the contract's codes only (as `clean` ensures): their levels become row
    labels of the appendix, so other text stops here too, unrepeated.
    """
    _check_printed_codes(randomisation)
    rand = randomisation.copy()
    rand["RandDatum"] = pd.to_datetime(rand["RandDatum"])
    lisa_years = set(int(y) for y in lisa[YEAR].unique())
    bas_years = set(int(y) for y in bas[YEAR].unique())
    last_year = max(lisa_years)

    person = (lisa.sort_values([PERSON_KEY, YEAR]).groupby(PERSON_KEY, sort=True)
              .agg(Kon=("Kon", "last"), FodelseAr=("FodelseAr", "first")))
    base = rand.join(person, on=PERSON_KEY)
    base["age_at_randomisation"] = (base["RandDatum"].dt.year - base["FodelseAr"]).astype("Int16")
    base["sex"] = base["Kon"].map(SEX_CODES).astype("string")
    base["baseline_year"] = baseline_year(base["RandDatum"])

    lisa_emp = _employment(lisa, bas, bas_years)
    lisa_emp["sjukpenning_netdays"] = lisa_emp["SjukP_Ndag_MiDAS"]
    lisa_emp["sjukersattning_netdays"] = (lisa_emp["SjukErs_Ndag_MiDAS"]
                                          + lisa_emp["AktErs_Ndag_MiDAS"])
    values = ["sjukpenning_netdays", "sjukersattning_netdays", "employed_or_studying",
              "employment_source"]
    lisa_emp = lisa_emp[[PERSON_KEY, YEAR, *values]]

    bl = base[[PERSON_KEY, "baseline_year"]].merge(
        lisa_emp, left_on=[PERSON_KEY, "baseline_year"], right_on=[PERSON_KEY, YEAR], how="left")
    base["baseline_sjukpenning_netdays"] = bl["sjukpenning_netdays"].to_numpy()
    base["baseline_employed_or_studying"] = bl["employed_or_studying"].array

    keep = [PERSON_KEY, "Grupp", "RandDatum", "sex", "age_at_randomisation",
            "baseline_sjukpenning_netdays", "baseline_employed_or_studying"]
    keep += [c for c in ("Diagnosgrupp", "Arbetsgivare") if base[c].notna().any()]
    windows = []
    for offset in offsets_months:
        w = base[keep].copy()
        w["window_months"] = np.int16(offset)
        w["outcome_year"] = outcome_year(w["RandDatum"], offset, rule)
        w = w.merge(lisa_emp, left_on=[PERSON_KEY, "outcome_year"],
                    right_on=[PERSON_KEY, YEAR], how="left")
        not_yet = w["outcome_year"] > last_year
        absent = ~not_yet & w[YEAR].isna()
        reason = pd.Series(pd.NA, index=w.index, dtype="string")
        reason[not_yet] = REASON_NOT_YET_IN_REGISTERS
        reason[absent] = REASON_ABSENT_FROM_LISA
        w["exclusion_reason"] = reason
        w["analysed"] = w["exclusion_reason"].isna()
        windows.append(w.drop(columns=[YEAR]))
    table = pd.concat(windows, ignore_index=True)
    table["Grupp"] = pd.Categorical(table["Grupp"], categories=list(GROUPS))
    table = table.sort_values(["window_months", PERSON_KEY], kind="stable").reset_index(drop=True)
    return table, flow_table(table)


#: Randomisation columns whose levels the appendix prints as row labels.
PRINTED_CODES = ("Grupp", "Diagnosgrupp", "Arbetsgivare")


def _check_printed_codes(randomisation: pd.DataFrame) -> None:
    for name in PRINTED_CODES:
        if name not in randomisation.columns:
            continue
        values = randomisation[name]
        codes = list(RANDOMISATION.column(name).codes)
        outside = int((values.notna() & ~values.isin(codes)).sum())
        if outside:
            raise ValueError(f"{name}: {outside} value(s) outside the contract's codes "
                             f"({', '.join(codes)}; values withheld: they may identify a "
                             "person): build the cohort from rehabkoord.clean's tables")


def flow_table(table: pd.DataFrame) -> dict:
    """CONSORT counts per window and group: randomised -> exclusions by reason -> analysed."""
    flow: dict = {"windows": {}}
    for offset, w in table.groupby("window_months", sort=True, observed=True):
        per_group = {}
        for group in GROUPS:
            g = w[w["Grupp"] == group]
            excluded = {r: int((g["exclusion_reason"] == r).sum()) for r in EXCLUSION_REASONS}
            analysed = g[g["analysed"]]
            per_group[group] = {
                "randomised": int(len(g)),
                "excluded": excluded,
                "analysed": int(len(analysed)),
                REASON_EMPLOYMENT_MISSING: int(analysed["employed_or_studying"].isna().sum()),
            }
        flow["windows"][str(int(offset))] = per_group
    return flow


def write_outputs(table: pd.DataFrame, flow: dict, out_dir: Path) -> list[Path]:
    """The analysis table (Parquet) and the flow (JSON), all or nothing."""
    return write_all({Path(out_dir) / "analysis.parquet": table, Path(out_dir) / "flow.json": flow})


def aggregate_checks(table: pd.DataFrame) -> pd.DataFrame:
    """Per window and group: n, analysed, mean days, share employed — never person rows."""
    analysed = table[table["analysed"]]
    counts = table.groupby(["window_months", "Grupp"], observed=True).agg(
        n=("analysed", "size"), analysed=("analysed", "sum"))
    means = analysed.groupby(["window_months", "Grupp"], observed=True).agg(
        mean_sjukpenning_netdays=("sjukpenning_netdays", "mean"),
        mean_sjukersattning_netdays=("sjukersattning_netdays", "mean"),
        share_employed_or_studying=("employed_or_studying", "mean"))
    return counts.join(means).round(2)
