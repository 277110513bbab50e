"""Synthetic register extracts with the real registers' structure, names and formats.

The default data of the compendium: real LISA/BAS data never leave SCB's secure environment.
The files are written as deliveries arrive (region CSV in Latin-1 with semicolons, LISA as one
CSV per year with decimal commas, BAS as yearly Parquet), so `clean` cannot tell them apart
from a real delivery. Same parameters -> byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...contract import (
    BAS_EMPLOYED_OR_STUDYING,
    DIAGNOSIS_GROUPS,
    GROUP_CONTROL,
    GROUP_INTERVENTION,
    PERSON_KEY,
)
from ...io import atomic_outputs

#: The share of each of the contract's diagnosis groups (`contract.DIAGNOSIS_GROUPS`).
DIAGNOSIS_SHARES = (0.45, 0.25, 0.10, 0.10, 0.10)


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the synthetic study; effects are the true effects built into the data."""

    seed: int = 20240901
    n_participants: int = 124
    n_nonparticipants: int = 300
    rand_start: str = "2017-03-01"
    rand_end: str = "2019-06-30"
    first_year: int = 2016
    last_year: int = 2021
    bas_first_year: int = 2019
    share_women: float = 0.66
    p_employed_control: float = 0.30
    effect_employed_logodds: float = 0.75
    mean_sick_days_control: float = 150.0
    effect_sick_days_ratio: float = 0.85
    p_sickness_compensation: float = 0.12
    emigration_or_death_rate: float = 0.02


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _days_in_year(year: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return np.where(leap, 366, 365)


def _quarter_days(values: np.ndarray) -> np.ndarray:
    """Net days come in quarter days (partial sick leave 25/50/75 %)."""
    return np.round(values * 4) / 4


def generate(spec: SyntheticSpec) -> dict[str, pd.DataFrame]:
    """Randomisation list, LISA and BAS (long, with `Ar`) as data frames."""
    rng = np.random.default_rng(spec.seed)
    n = spec.n_participants
    n_all = n + spec.n_nonparticipants
    keys = rng.choice(np.arange(100_000, 999_999), size=n_all, replace=False)
    lopnr = np.array([f"{k:06d}" for k in keys])

    start, end = pd.Timestamp(spec.rand_start), pd.Timestamp(spec.rand_end)
    offsets = np.sort(rng.integers(0, (end - start).days + 1, size=n))
    rand_date = start + pd.to_timedelta(offsets, unit="D")
    blocks = np.concatenate([rng.permutation([1, 1, 0, 0]) for _ in range((n + 3) // 4)])[:n]
    intervention = blocks.astype(bool)
    group = np.where(intervention, GROUP_INTERVENTION, GROUP_CONTROL)

    sex = np.where(rng.random(n_all) < spec.share_women, 2, 1)
    age = rng.integers(25, 65, size=n_all)
    rand_year = np.concatenate([rand_date.year.to_numpy(),
                                rng.integers(2017, 2020, size=n_all - n)])
    birth_year = rand_year - age
    diagnosis = rng.choice(list(DIAGNOSIS_GROUPS), p=list(DIAGNOSIS_SHARES), size=n)
    has_employer = rng.random(n) < 0.6

    randomisation = pd.DataFrame({
        PERSON_KEY: lopnr[:n], "Grupp": group, "RandDatum": rand_date.strftime("%Y-%m-%d"),
        "Diagnosgrupp": diagnosis, "Arbetsgivare": np.where(has_employer, "Ja", "Nej"),
    })

    years = np.arange(spec.first_year, spec.last_year + 1)
    person = np.repeat(np.arange(n_all), len(years))
    year = np.tile(years, n_all)
    is_participant = person < n
    treated = np.zeros(n_all, dtype=bool)
    treated[:n] = intervention
    rand_year_p = rand_year[person]
    after = is_participant & (year > rand_year_p)
    effect_on = treated[person] & after

    frailty = rng.normal(0, 1, size=n_all)[person]
    employer_bonus = np.concatenate([np.where(has_employer, 0.6, -0.6), np.zeros(n_all - n)])
    logit = (_logit(spec.p_employed_control) + 0.8 * frailty + employer_bonus[person]
             + np.where(is_participant & ~after, -0.8, 0.0) + np.where(~is_participant, 1.2, 0.0)
             + np.where(effect_on, spec.effect_employed_logodds, 0.0))
    employed = rng.random(len(year)) < 1 / (1 + np.exp(-logit))

    ylen = _days_in_year(year)
    sick_mean = np.where(is_participant, spec.mean_sick_days_control, 25.0)
    sick_mean = sick_mean * np.where(employed, 0.5, 1.2) * np.exp(0.4 * frailty)
    sick_mean = sick_mean * np.where(effect_on, spec.effect_sick_days_ratio, 1.0)
    p_zero = np.where(is_participant & (year == rand_year_p), 0.05, np.where(employed, 0.55, 0.3))
    sick = rng.gamma(shape=0.9, scale=sick_mean / 0.9)
    sick = np.where(rng.random(len(year)) < p_zero, 0.0, np.minimum(_quarter_days(sick), ylen))

    compensated = (rng.random(n_all) < spec.p_sickness_compensation)[person] & (
        ~is_participant | after)
    comp_days = np.where(compensated, np.minimum(_quarter_days(rng.uniform(90, 420, len(year))),
                                                 ylen), 0.0)
    activity_comp = (age[person] - (year - rand_year_p)) < 30
    sjukers = np.where(activity_comp, 0.0, comp_days)
    aktivers = np.where(activity_comp, comp_days, 0.0)
    sick = np.where(compensated & (comp_days > 200), 0.0, sick)
    sick = np.minimum(sick, ylen - sjukers - aktivers)

    studying = employed & (rng.random(len(year)) < 0.12)
    bas = np.where(studying, 3, np.where(employed, 1, rng.choice([2, 5, 9], size=len(year),
                                                                    p=[0.4, 0.5, 0.1])))
    bas = np.where(compensated & (comp_days > 200) & ~employed, 5, bas)
    syss = np.where(np.isin(bas, BAS_EMPLOYED_OR_STUDYING) & ~studying, 1, 5)

    gone_from = np.where(rng.random(n_all) < spec.emigration_or_death_rate * len(years),
                         rng.integers(spec.first_year + 2, spec.last_year + 1, size=n_all), 9999)
    present = year < gone_from[person]

    lisa = pd.DataFrame({
        PERSON_KEY: lopnr[person], "Ar": year, "Kon": sex[person],
        "FodelseAr": birth_year[person], "SjukP_Ndag_MiDAS": sick,
        "SjukErs_Ndag_MiDAS": sjukers, "AktErs_Ndag_MiDAS": aktivers,
        "SyssStat19": np.where(year >= spec.bas_first_year, syss, np.nan),
        "SyssStat11": np.where(year < spec.bas_first_year, syss, np.nan),
    })[present]
    bas_frame = pd.DataFrame({PERSON_KEY: lopnr[person], "Ar": year, "BAS": bas})[
        present & (year >= spec.bas_first_year)]
    order = np.argsort(lopnr[person][present], kind="stable")
    lisa = lisa.iloc[order].reset_index(drop=True)
    bas_frame = bas_frame.sort_values([PERSON_KEY, "Ar"], kind="stable").reset_index(drop=True)
    return {"randomisering": randomisation, "LISA": lisa, "BAS": bas_frame}


def write_extracts(frames: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write the extracts in SCB's and the region's delivery formats; returns the files written.

    Randomisation: ``randomisering.csv`` (semicolon, Latin-1). LISA: ``lisa/LISA{year}.csv``
    (semicolon, decimal comma, Latin-1, no year column). BAS: ``bas/BAS{year}.parquet``.
    """
    out = Path(out_dir)
    lisa = frames["LISA"]
    bas = frames["BAS"]
    targets = {out / "randomisering.csv": ("rand", None)}
    for year in sorted(lisa["Ar"].unique()):
        targets[out / "lisa" / f"LISA{year}.csv"] = ("lisa", int(year))
    for year in sorted(bas["Ar"].unique()):
        targets[out / "bas" / f"BAS{year}.parquet"] = ("bas", int(year))
    with atomic_outputs(*targets) as temps:
        for tmp, (kind, year) in zip(temps, targets.values(), strict=True):
            if kind == "rand":
                frames["randomisering"].to_csv(tmp, sep=";", index=False, encoding="latin-1")
            elif kind == "lisa":
                part = lisa[lisa["Ar"] == year].drop(columns="Ar")
                syss = "SyssStat19" if part["SyssStat19"].notna().any() else "SyssStat11"
                part = part.drop(columns=[c for c in ("SyssStat19", "SyssStat11") if c != syss])
                part[syss] = part[syss].astype("Int64")
                part.to_csv(tmp, sep=";", decimal=",", index=False, encoding="latin-1")
            else:
                part = bas[bas["Ar"] == year].astype({"Ar": "int32", "BAS": "int8"})
                part.to_parquet(tmp, index=False)
    return list(targets)


def spec_from_params(cfg: dict) -> SyntheticSpec:
    """The `synthetic` section of params.yaml as a spec (keys not in the spec are ignored)."""
    names = SyntheticSpec.__dataclass_fields__
    return SyntheticSpec(**{k: v for k, v in cfg.items() if k in names})
