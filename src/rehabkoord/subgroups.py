"""Who benefits: a treatment's effect within the levels of one subgroup variable, and the
interaction test, for studies of time to return with clustering (vårdcentral).

Within each level: the Cox hazard ratio for return (Efron ties unless `ties="breslow"`, R's
robust variance clustered, `survival.cox`) with the standard error of its logarithm, and, when
an outcome column is given, the difference in mean net days (cluster-robust, `causal`) with its
standard error. Across levels, one of two interaction tests on k − 1 degrees of freedom
(`interaction_test`):

- `"wald"` (the default): the robust Wald test of treatment × level in one Cox model, as R's
  `coxph(Surv(t, e) ~ treated * level + cluster(c))` followed by a Wald test of the interaction
  terms; it allows for correlation within clusters;
- `"lr"`: the likelihood-ratio test of that model against the one without the interaction, as
  R's `anova(fit0, fit1)`; model-based, so it treats the observations as independent (R's anova
  refuses robust fits for that reason).

The two are different quantities and agree only approximately. Levels too small to estimate
(fewer than 2 per arm, or no event) get counts only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import causal, survival

TESTS = ("wald", "lr")


def _design(data: pd.DataFrame, treated: str, variable: str, levels: Sequence[str]
            ) -> tuple[pd.DataFrame, list[str]]:
    """treated, one indicator per non-reference level and their products with treated."""
    x = pd.DataFrame({treated: data[treated].astype(float)}, index=data.index)
    inter = []
    for level in list(levels)[1:]:
        col = f"{variable}_{level}"
        x[col] = (data[variable].astype(str) == str(level)).astype(float)
        x[f"{treated}:{col}"] = x[treated] * x[col]
        inter.append(f"{treated}:{col}")
    return x, inter


def _present(data: pd.DataFrame, variable: str, levels: Sequence[str]
             ) -> tuple[pd.DataFrame, list[str]]:
    d = data[data[variable].notna()]
    return d, [lv for lv in levels if (d[variable].astype(str) == str(lv)).any()]


def interaction_test(data: pd.DataFrame, variable: str, levels: Sequence[str], *, time: str,
                     event: str, treated: str, cluster: str | None = None, test: str = "wald",
                     ties: str = "efron"
                     ) -> survival.WaldResult | survival.LikelihoodRatioResult:
    """Does the treatment's hazard ratio differ across the levels of `variable`? A chi-square
    on k − 1 df (k the levels present), with `statistic`, `df`, `pvalue` and `method`.

    `test="wald"`: Wald test of the treatment × level terms, with the cluster-robust variance
    when `cluster` is given (model-based otherwise). `test="lr"`: likelihood-ratio test of the
    models with and without those terms (`survival.lr_test`); it assumes independent
    observations, so `cluster` must be None. Rows with a missing level are left out.
    """
    if test not in TESTS:
        raise ValueError(f"interaction test must be one of {TESTS}, not {test!r}")
    if test == "lr" and cluster is not None:
        raise ValueError("the likelihood-ratio interaction test assumes independent observations;"
                         " use test='wald' with a cluster, or leave cluster out")
    d, present = _present(data, variable, levels)
    if len(present) < 2:
        raise ValueError(f"interaction test: {variable!r} has fewer than two levels with data")
    x, inter = _design(d, treated, variable, present)
    groups = None if cluster is None else d[cluster]
    full = survival.cox(d[time], d[event], x, cluster=groups, ties=ties,
                        robust=None if test == "wald" else False)
    if test == "wald":
        return survival.wald_test(full, inter)
    reduced = survival.cox(d[time], d[event], x.drop(columns=inter), ties=ties, robust=False)
    return survival.lr_test(full, reduced)


def effect_by_level(data: pd.DataFrame, variable: str, levels: Sequence[str], *,
                    time: str, event: str, treated: str, cluster: str,
                    outcome: str | None = None, conf_level: float = 0.95, ties: str = "efron",
                    interaction: str = "wald") -> pd.DataFrame:
    """One row per level: variable, level, n_treated, n_control, p_interaction and
    interaction_test (the method, see `interaction_test`; the LR test ignores `cluster`), and
    where estimable hr (+ hr_low/high, hr_p, log_hr_se: the robust SE of log HR) and, with
    `outcome`, netdays_diff (treated − control, + netdays_low/high, netdays_se).

    `treated`: a 0/1 column; `time`/`event`: days to return and whether it was observed;
    `outcome`: net days (None when only hazard ratios are wanted: no net-days columns);
    `cluster`: the cluster column. Rows with a missing level are left out.
    """
    if interaction not in TESTS:
        raise ValueError(f"interaction must be one of {TESTS}, not {interaction!r}")
    d, present = _present(data, variable, levels)
    p_inter, method = np.nan, ""
    if len(present) > 1:
        res = interaction_test(d, variable, present, time=time, event=event, treated=treated,
                               cluster=cluster if interaction == "wald" else None,
                               test=interaction, ties=ties)
        p_inter, method = res.pvalue, res.method
    rows = []
    for level in levels:
        part = d[d[variable].astype(str) == str(level)]
        n_t = int((part[treated] == 1).sum())
        n_c = int((part[treated] == 0).sum())
        row = {"variable": variable, "level": level, "n_treated": n_t, "n_control": n_c,
               "p_interaction": p_inter, "interaction_test": method}
        if min(n_t, n_c) >= 2 and part[event].sum() > 0:
            fit = survival.cox(part[time], part[event], part[[treated]],
                               cluster=part[cluster], conf_level=conf_level, ties=ties)
            row.update(hr=fit.hr[0], hr_low=fit.conf_low[0], hr_high=fit.conf_high[0],
                       hr_p=fit.pvalue[0],
                       log_hr_se=(fit.robust_se if fit.robust else fit.se)[0])
            if outcome is not None:
                diff = causal.cluster_mean_difference(part[outcome], part[treated],
                                                      part[cluster], conf_level, treated=1)
                row.update(netdays_diff=diff.estimate, netdays_low=diff.conf_low,
                           netdays_high=diff.conf_high, netdays_se=diff.se)
        rows.append(row)
    return pd.DataFrame(rows)
