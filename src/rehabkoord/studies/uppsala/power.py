"""Power and sample size from the study's design assumptions (params.yaml `power`).

Nothing here reads the delivered data or the synthetic generator: the a priori sample size
comes from the assumed shares employed, and the simulated power for net days of sickness
benefit from the study's outcome model below, so the stage runs the same on a real delivery.
The smallest detectable difference with the *achieved* n is computed where the data are known
(`detectable_difference`, from the flow).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ...io import atomic_outputs, write_json
from ...registeryears import outcome_year
from ...stats import power_prop_test, simulated_power, wilcox_pvalue

#: Fixed structure of the outcome model (the design parameters are in params.yaml `power`):
#: person frailty N(0, 1) acting on employment (log-odds) and sick days (log scale), an
#: employer bonus on employment, lower employment before randomisation, gamma-distributed days
#: with zeros, and sickness compensation that replaces sickness benefit.
FRAILTY_ON_EMPLOYMENT = 0.8
FRAILTY_ON_DAYS = 0.4
SHARE_WITH_EMPLOYER = 0.6
EMPLOYER_LOGODDS = 0.6
BEFORE_RANDOMISATION_LOGODDS = -0.8
DAYS_MULTIPLIER_EMPLOYED, DAYS_MULTIPLIER_NOT_EMPLOYED = 0.5, 1.2
GAMMA_SHAPE = 0.9
P_ZERO_RANDOMISATION_YEAR, P_ZERO_EMPLOYED, P_ZERO_NOT_EMPLOYED = 0.05, 0.55, 0.3
COMPENSATION_DAYS = (90.0, 420.0)
COMPENSATION_REPLACES_BENEFIT_ABOVE = 200
BLOCK = (1, 1, 0, 0)  # randomisation in blocks of four, 1 = intervention
AGES = (25, 65)  # drawn to keep the random stream; age does not act on the outcome
DIAGNOSIS_SHARES = (0.45, 0.25, 0.10, 0.10, 0.10)  # likewise


@dataclass(frozen=True)
class Design:
    """The study's design assumptions: shares employed for the a priori sample size, and the
    outcome model for the simulated power (days per year; probabilities; dates ISO)."""

    p_control: float
    p_intervention: float
    power: float
    alpha: float
    window_months: int
    n_per_group: int
    recruitment_start: str
    recruitment_end: str
    first_register_year: int
    last_register_year: int
    p_employed_control: float
    effect_employed_logodds: float
    mean_sick_days_control: float
    effect_sick_days_ratio: float
    p_sickness_compensation: float
    n_sim: int
    seed: int


def design_from_params(cfg: dict) -> Design:
    """The `power` section of params.yaml; a missing or unknown key is an error."""
    names = set(Design.__dataclass_fields__)
    if set(cfg) != names:
        raise ValueError(f"params.yaml power: missing {sorted(names - set(cfg))}, "
                         f"unknown {sorted(set(cfg) - names)}")
    return Design(**cfg)


def _quarter_days(values: np.ndarray) -> np.ndarray:
    return np.round(values * 4) / 4


@lru_cache(maxsize=8)
def _recruitment_calendar(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Calendar year and outcome year of each day of the recruitment period (by day number)."""
    start, end = pd.Timestamp(design.recruitment_start), pd.Timestamp(design.recruitment_end)
    days = pd.Series(start + pd.to_timedelta(np.arange((end - start).days + 1), unit="D"))
    return days.dt.year.to_numpy(), outcome_year(days, design.window_months).to_numpy()


def simulate_sick_days(design: Design, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One simulated trial: net days of sickness benefit in the outcome year of the design's
    window, for the analysed intervention and control persons (in that order).

    Persons are followed from `first_register_year` to `last_register_year`; a person whose
    outcome year falls after the last register year is not analysed. The random numbers are
    drawn in the order of the synthetic generator that first embodied these assumptions, so a
    seed gives the same trial as before the model moved here.
    """
    n = 2 * design.n_per_group
    rand_year_of_day, outcome_year_of_day = _recruitment_calendar(design)
    rng.choice(999_999 - 100_000, size=n, replace=False)  # person keys: stream only
    offsets = np.sort(rng.integers(0, len(rand_year_of_day), size=n))
    blocks = np.concatenate([rng.permutation(BLOCK) for _ in range((n + 3) // 4)])[:n]
    intervention = blocks.astype(bool)
    rng.random(n)  # sex: stream only
    rng.integers(*AGES, size=n)
    rng.integers(2017, 2020, size=0)
    rng.choice(len(DIAGNOSIS_SHARES), p=DIAGNOSIS_SHARES, size=n)
    has_employer = rng.random(n) < SHARE_WITH_EMPLOYER

    years = np.arange(design.first_register_year, design.last_register_year + 1)
    rand_year = rand_year_of_day[offsets]
    person = np.repeat(np.arange(n), len(years))
    year = np.tile(years, n)
    after = year > rand_year[person]
    effect_on = intervention[person] & after
    frailty = rng.normal(0, 1, size=n)[person]
    logit = (float(np.log(design.p_employed_control / (1 - design.p_employed_control)))
             + FRAILTY_ON_EMPLOYMENT * frailty
             + np.where(has_employer, EMPLOYER_LOGODDS, -EMPLOYER_LOGODDS)[person]
             + np.where(~after, BEFORE_RANDOMISATION_LOGODDS, 0.0)
             + np.where(effect_on, design.effect_employed_logodds, 0.0))
    employed = rng.random(len(year)) < 1 / (1 + np.exp(-logit))

    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days_in_year = np.where(leap, 366, 365)
    mean = design.mean_sick_days_control * np.where(
        employed, DAYS_MULTIPLIER_EMPLOYED, DAYS_MULTIPLIER_NOT_EMPLOYED)
    mean = mean * np.exp(FRAILTY_ON_DAYS * frailty)
    mean = mean * np.where(effect_on, design.effect_sick_days_ratio, 1.0)
    p_zero = np.where(year == rand_year[person], P_ZERO_RANDOMISATION_YEAR,
                      np.where(employed, P_ZERO_EMPLOYED, P_ZERO_NOT_EMPLOYED))
    sick = rng.gamma(shape=GAMMA_SHAPE, scale=mean / GAMMA_SHAPE)
    sick = np.where(rng.random(len(year)) < p_zero, 0.0,
                    np.minimum(_quarter_days(sick), days_in_year))
    compensated = (rng.random(n) < design.p_sickness_compensation)[person] & after
    compensation = np.where(compensated, np.minimum(
        _quarter_days(rng.uniform(*COMPENSATION_DAYS, len(year))), days_in_year), 0.0)
    sick = np.where(compensated & (compensation > COMPENSATION_REPLACES_BENEFIT_ABOVE), 0.0, sick)
    sick = np.minimum(sick, days_in_year - compensation)

    target = outcome_year_of_day[offsets]
    analysed = target <= design.last_register_year
    index = np.arange(n) * len(years) + (target - design.first_register_year)
    days = sick[index[analysed]]
    arm = intervention[analysed]
    return days[arm], days[~arm]


@dataclass(frozen=True)
class PowerResult:
    """A priori n per group (R `power.prop.test`) and the simulated power for sick days."""

    a_priori_n_per_group: float
    a_priori_n_per_group_ceiling: int
    simulated_power_sjukpenning: float


def design_power(design: Design) -> PowerResult:
    """Sample size for the employment shares, and the share of `n_sim` simulated trials whose
    Wilcoxon p (exactly `stats.wilcox_test`'s) is below the design's alpha."""
    a_priori = power_prop_test(p1=design.p_control, p2=design.p_intervention,
                               power=design.power, sig_level=design.alpha)

    def one_trial(rng: np.random.Generator) -> float:
        trial = np.random.default_rng(int(rng.integers(2**31)))
        return wilcox_pvalue(*simulate_sick_days(design, trial)).pvalue

    return PowerResult(a_priori.n, math.ceil(a_priori.n),
                       simulated_power(one_trial, design.n_sim, design.alpha, design.seed))


@dataclass(frozen=True)
class Detectable:
    """Smallest share in the intervention group detectable with the achieved n per group."""

    achieved_n_per_group: int
    p_intervention: float
    difference_pp: float


def detectable_difference(power: dict, flow: dict) -> Detectable:
    """With the smaller analysed group of the design's window (from the flow) and the design's
    control share, power and alpha (from power.json): the detectable share (R `power.prop.test`)."""
    groups = flow["windows"][str(power["window_months"])]
    n = min(g["analysed"] for g in groups.values())
    res = power_prop_test(n=n, p1=power["p_control"], power=power["power"],
                          sig_level=power["alpha"])
    return Detectable(n, res.p2, 100 * (res.p2 - power["p_control"]))


def write_power(design: Design, result: PowerResult, path: Path) -> Path:
    """The design assumptions and their results as one JSON file."""
    with atomic_outputs(path) as (tmp,):
        write_json({**asdict(design), **asdict(result)}, tmp)
    return Path(path)

