"""Power from the design assumptions: the outcome model, the simulated power, the detectable
difference. References: the synthetic generator with the cohort code (the path the simulation
took before it became the design's own model) and R's power.prop.test."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from pipeline_helpers import UPPSALA_PARAMS

from rehabkoord import stats
from rehabkoord.params import project_root
from rehabkoord.studies.uppsala import power, synth
from rehabkoord.studies.uppsala.cohort import build_cohort


@pytest.fixture(scope="module")
def design() -> power.Design:
    cfg = yaml.safe_load((project_root() / UPPSALA_PARAMS).read_text(encoding="utf-8"))["power"]
    return power.design_from_params(cfg)


def generator_trial(design: power.Design, seed: int) -> tuple[pd.Series, pd.Series]:
    """One trial through the synthetic generator and build_cohort, as the simulation ran before."""
    spec = synth.SyntheticSpec(
        seed=seed, n_participants=2 * design.n_per_group, n_nonparticipants=0,
        rand_start=design.recruitment_start, rand_end=design.recruitment_end,
        first_year=design.first_register_year, last_year=design.last_register_year,
        p_employed_control=design.p_employed_control,
        effect_employed_logodds=design.effect_employed_logodds,
        mean_sick_days_control=design.mean_sick_days_control,
        effect_sick_days_ratio=design.effect_sick_days_ratio,
        p_sickness_compensation=design.p_sickness_compensation, emigration_or_death_rate=0.0)
    frames = synth.generate(spec)
    rand = frames["randomisering"].assign(RandDatum=lambda f: pd.to_datetime(f["RandDatum"]))
    table, _ = build_cohort(rand, frames["LISA"], frames["BAS"], [design.window_months])
    table = table[table["analysed"]]
    days = table["sjukpenning_netdays"]
    return days[table["Grupp"] == "Intervention"], days[table["Grupp"] == "Kontroll"]


@pytest.mark.parametrize("seed", [0, 1, 7, 20240901, 2**31 - 1])
def test_model_gives_the_generators_trial_exactly(design, seed):
    x, y = power.simulate_sick_days(design, np.random.default_rng(seed))
    gx, gy = generator_trial(design, seed)
    assert sorted(x) == sorted(gx) and sorted(y) == sorted(gy)
    assert stats.wilcox_pvalue(x, y).pvalue == stats.wilcox_test(gx, gy).pvalue


def test_late_recruits_fall_outside_the_registers(design):
    late = replace(design, recruitment_start="2020-03-01", recruitment_end="2020-12-31",
                   n_per_group=20)
    x, y = power.simulate_sick_days(late, np.random.default_rng(3))
    gx, gy = generator_trial(late, 3)
    assert len(x) + len(y) == len(gx) + len(gy) < 40  # 12 months after 2020-03-01 is 2022
    assert sorted(x) == sorted(gx)


def test_simulated_power_as_before(design):
    """20 replicates through the generator path give the same share as the design model."""
    small = replace(design, n_sim=20)
    rng = np.random.default_rng(small.seed)
    before = [stats.wilcox_test(*generator_trial(small, int(rng.integers(2**31)))).pvalue
              for _ in range(small.n_sim)]
    expected = sum(p < small.alpha for p in before) / small.n_sim
    assert power.design_power(small).simulated_power_sjukpenning == expected


def test_design_power_a_priori_n_is_rs(design):
    # R 4.2: power.prop.test(p1 = 0.3, p2 = 0.5, power = 0.8)$n = 92.9988448228649
    res = power.design_power(replace(design, n_sim=2))
    assert res.a_priori_n_per_group == pytest.approx(92.9988448228649, rel=1e-12)
    assert res.a_priori_n_per_group_ceiling == 93


def test_detectable_difference_uses_the_smaller_analysed_group():
    flow = {"windows": {"12": {"Intervention": {"analysed": 60}, "Kontroll": {"analysed": 53}},
                        "6": {"Intervention": {"analysed": 10}, "Kontroll": {"analysed": 10}}}}
    design = {"window_months": 12, "p_control": 0.3, "power": 0.8, "alpha": 0.05}
    res = power.detectable_difference(design, flow)
    # R 4.2: power.prop.test(n = 53, p1 = 0.3, power = 0.8)$p2 = 0.566676879518726
    assert res.achieved_n_per_group == 53
    assert res.p_intervention == pytest.approx(0.566676879518726, rel=1e-12)
    assert res.difference_pp == pytest.approx(100 * (0.566676879518726 - 0.3), rel=1e-12)


def test_design_keys_are_checked():
    with pytest.raises(ValueError, match="missing.*'seed'"):
        power.design_from_params({"n_sim": 5})
