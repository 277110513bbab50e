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
get counts only, and a `note` saying why (`NOTES`). As R does, an interaction term that
cannot be estimated (a level with persons in one arm only) is aliased and left out of the
test, whose degrees of freedom fall accordingly; a level without events in each arm is left
out of the interaction test (its coefficients would be infinite: R warns and prints a huge
one) and noted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import causal, survival

TESTS = ("wald", "lr")


class NotTestable(ValueError):
    """The interaction test cannot be done on these data (too few levels with events in both
    arms, or no estimable interaction term)."""

#: Why a level has counts only (the `note` column; empty when estimated).
NOTES = {"no_persons": "no persons in the level",
         "too_few_per_arm": "fewer than 2 persons in an arm",
         "no_events": "no events in an arm of the level (hazard ratio infinite or zero)",
         "one_cluster": "all persons in one cluster (no cluster-robust variance)"}


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


def _events_per_arm(part: pd.DataFrame, event: str, treated: str) -> tuple[float, float]:
    return (float(part.loc[part[treated] == 1, event].sum()),
            float(part.loc[part[treated] == 0, event].sum()))


def _testable(data: pd.DataFrame, variable: str, levels: Sequence[str], event: str,
              treated: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows with a level, and the levels with events in both arms."""
    d = data[data[variable].notna()]
    text = d[variable].astype(str)
    return d, [lv for lv in levels
               if min(_events_per_arm(d[text == str(lv)], event, treated)) > 0]


def interaction_test(data: pd.DataFrame, variable: str, levels: Sequence[str], *, time: str,
                     event: str, treated: str, cluster: str | None = None, test: str = "wald",
                     ties: str = "efron"
                     ) -> survival.WaldResult | survival.LikelihoodRatioResult:
    """Does the treatment's hazard ratio differ across the levels of `variable`? A chi-square
    on k − 1 df (k the levels present), with `statistic`, `df`, `pvalue` and `method`.

    `test="wald"`: Wald test of the treatment × level terms, with the cluster-robust variance
    when `cluster` is given (model-based otherwise). `test="lr"`: likelihood-ratio test of the
    models with and without those terms (`survival.lr_test`); it assumes independent
    observations, so `cluster` must be None. Rows with a missing level are left out, and so
    are levels without events in each arm (`NotTestable` when fewer than two remain);
    interaction terms that are aliased (a level in one arm only)
    are left out of the test as R's NA, and the df counts the terms tested. An interaction
    term whose coefficient may be infinite (`survival.cox`'s `infinite`) makes the Wald test
    `NotTestable` (its statistic would mean nothing); the likelihood-ratio test compares the
    likelihoods at the limit, as R's anova does.
    """
    if test not in TESTS:
        raise ValueError(f"interaction test must be one of {TESTS}, not {test!r}")
    if test == "lr" and cluster is not None:
        raise ValueError("the likelihood-ratio interaction test assumes independent observations;"
                         " use test='wald' with a cluster, or leave cluster out")
    d, present = _testable(data, variable, levels, event, treated)
    if len(present) < 2:
        raise NotTestable(f"interaction test: {variable!r} has fewer than two levels with "
                          "events in both arms")
    d = d[d[variable].astype(str).isin([str(lv) for lv in present])]
    x, inter = _design(d, treated, variable, present)
    groups = None if cluster is None else d[cluster]
    full = survival.cox(d[time], d[event], x, cluster=groups, ties=ties,
                        robust=None if test == "wald" else False)
    inter = [t for t in inter if t not in full.aliased]
    if not inter:
        raise NotTestable(f"interaction test: no treatment × {variable!r} term can be "
                          "estimated (aliased)")
    if test == "wald":
        if set(inter) & set(full.infinite):
            raise NotTestable(f"interaction test: a treatment × {variable!r} coefficient may "
                              "be infinite (R: coefficient may be infinite): no Wald test")
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
    `cluster`: the cluster column. Rows with a missing level are left out. `note`: why a
    level has counts only (a key of `NOTES`, empty when estimated); `interaction_df`: the
    interaction test's degrees of freedom (0 when it cannot be done: then p is NaN).
    """
    if interaction not in TESTS:
        raise ValueError(f"interaction must be one of {TESTS}, not {interaction!r}")
    d = data[data[variable].notna()]
    p_inter, method, df = np.nan, "", 0
    try:
        res = interaction_test(d, variable, levels, time=time, event=event, treated=treated,
                               cluster=cluster if interaction == "wald" else None,
                               test=interaction, ties=ties)
        p_inter, method, df = res.pvalue, res.method, res.df
    except NotTestable:
        pass
    rows = []
    for level in levels:
        part = d[d[variable].astype(str) == str(level)]
        n_t = int((part[treated] == 1).sum())
        n_c = int((part[treated] == 0).sum())
        note = ("no_persons" if n_t + n_c == 0 else "too_few_per_arm" if min(n_t, n_c) < 2
                else "no_events" if min(_events_per_arm(part, event, treated)) == 0
                else "one_cluster" if part[cluster].nunique() < 2 else "")
        row = {"variable": variable, "level": level, "n_treated": n_t, "n_control": n_c,
               "p_interaction": p_inter, "interaction_test": method, "interaction_df": df,
               "note": note}
        if not note:
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
