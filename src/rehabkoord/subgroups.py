"""Who benefits: a treatment's effect within the levels of one subgroup variable, and the
interaction test, for studies of time to return with clustering (vårdcentral).

Within each level: the Cox hazard ratio for return (Efron ties, R's robust variance clustered,
`survival.cox`) and the difference in mean net days (cluster-robust, `causal`). Across levels:
the robust Wald test of treatment × level in one Cox model (k − 1 degrees of freedom), as R's
`coxph(Surv(t, e) ~ treated * level + cluster(c))` followed by a Wald test of the
interaction terms. Levels too small to estimate (fewer than 2 per arm, or no event) get
counts only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import causal, survival


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


def effect_by_level(data: pd.DataFrame, variable: str, levels: Sequence[str], *,
                    time: str, event: str, outcome: str, treated: str, cluster: str,
                    conf_level: float = 0.95) -> pd.DataFrame:
    """One row per level: variable, level, n_treated, n_control, p_interaction, and where
    estimable hr (+ conf_low/high, p), netdays_diff (treated − control, + limits).

    `treated`: a 0/1 column; `time`/`event`: days to return and whether it was observed;
    `outcome`: net days; `cluster`: the cluster column. Rows with a missing level are left out.
    """
    d = data[data[variable].notna()]
    present = [lv for lv in levels if (d[variable].astype(str) == str(lv)).any()]
    p_inter = np.nan
    if len(present) > 1:
        x, inter = _design(d, treated, variable, present)
        full = survival.cox(d[time], d[event], x, cluster=d[cluster], conf_level=conf_level)
        p_inter = survival.wald_test(full, inter).pvalue
    rows = []
    for level in levels:
        part = d[d[variable].astype(str) == str(level)]
        n_t = int((part[treated] == 1).sum())
        n_c = int((part[treated] == 0).sum())
        row = {"variable": variable, "level": level, "n_treated": n_t, "n_control": n_c,
               "p_interaction": p_inter}
        if min(n_t, n_c) >= 2 and part[event].sum() > 0:
            fit = survival.cox(part[time], part[event], part[[treated]],
                               cluster=part[cluster], conf_level=conf_level)
            diff = causal.cluster_mean_difference(part[outcome], part[treated], part[cluster],
                                                  conf_level, treated=1)
            row.update(hr=fit.hr[0], hr_low=fit.conf_low[0], hr_high=fit.conf_high[0],
                       hr_p=fit.pvalue[0], netdays_diff=diff.estimate,
                       netdays_low=diff.conf_low, netdays_high=diff.conf_high)
        rows.append(row)
    return pd.DataFrame(rows)
