"""Covariate balance, propensity-score weights and cluster-robust mean differences.

`smd` (standardised mean differences, as `tableone`/`cobalt` define them), `propensity_weights`
(logistic propensity score equal to R's `glm(family=binomial)`, inverse-probability-of-treatment
weights for the average treatment effect), `cluster_mean_difference` and `cluster_mean_ci`
(means whose uncertainty respects clustering, e.g. patients within vårdcentraler), and
`weighted_mean_difference` (the same with weights, e.g. the IPT-weighted difference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as sps

from .rmath import glm_warnings
from .survival import aliased_columns


def _two_groups(group: Sequence, treated: object | None) -> tuple[np.ndarray, tuple]:
    g = pd.Categorical(group).remove_unused_categories()
    levels = tuple(g.categories)
    if len(levels) != 2 or (np.asarray(g.codes) < 0).any():
        raise ValueError("group must have exactly two non-missing levels")
    ref, trt = (levels[0], levels[1]) if treated is None else (
        next(v for v in levels if v != treated), treated)
    if trt not in levels:
        raise ValueError(f"treated level {treated!r} is not a level of group")
    return np.asarray(g == trt), (ref, trt)


@dataclass(frozen=True)
class SmdResult:
    """Standardised mean difference(s), treated minus reference, one per level if categorical."""

    kind: str  # "continuous", "binary" or "categorical"
    levels: tuple
    smd: np.ndarray
    mean_treated: np.ndarray
    mean_reference: np.ndarray
    groups: tuple  # (reference, treated)


def _wmean(v: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * v) / np.sum(w))


def smd(x: Sequence, group: Sequence, treated: object | None = None,
        weights: Sequence[float] | None = None, kind: str = "auto") -> SmdResult:
    """Standardised mean difference between two groups (treated minus reference).

    Continuous: (m₁ − m₀) / √((s₁² + s₀²)/2), sample variances (n − 1). Binary: proportions,
    (p₁ − p₀) / √((p₁(1−p₁) + p₀(1−p₀))/2). Categorical: the binary SMD of each level's
    indicator. `kind="auto"`: bool or 0/1 numbers are binary, strings/categoricals categorical,
    other numbers continuous. With `weights` (e.g. IPT weights) the means are weighted and the
    denominator stays the unweighted pooled SD, so balance before and after weighting is judged
    on one scale (cobalt's default). The reference group is the first level unless `treated`.
    """
    is_t, groups = _two_groups(group, treated)
    xs = pd.Series(x).reset_index(drop=True)
    if xs.isna().any():
        raise ValueError("x must not contain missing values (drop or impute them first)")
    w = np.ones(len(xs)) if weights is None else np.asarray(weights, dtype=float)
    if kind == "auto":
        if xs.dtype == bool or (pd.api.types.is_numeric_dtype(xs)
                                and set(pd.unique(xs)) <= {0, 1}):
            kind = "binary"
        elif pd.api.types.is_numeric_dtype(xs):
            kind = "continuous"
        else:
            kind = "categorical"
    if kind == "continuous":
        v = xs.to_numpy(dtype=float)
        a, b = v[is_t], v[~is_t]
        denom = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        m1, m0 = _wmean(a, w[is_t]), _wmean(b, w[~is_t])
        return SmdResult(kind, ("",), np.array([(m1 - m0) / denom]), np.array([m1]),
                         np.array([m0]), groups)
    if kind == "binary":
        cols = {"": xs.astype(float).to_numpy()}
    elif kind == "categorical":
        cat = pd.Categorical(xs)
        cols = {lev: np.asarray(cat == lev, dtype=float) for lev in cat.categories}
    else:
        raise ValueError("kind must be 'auto', 'continuous', 'binary' or 'categorical'")
    out, m1s, m0s = [], [], []
    for v in cols.values():
        p1, p0 = v[is_t].mean(), v[~is_t].mean()
        denom = np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
        m1, m0 = _wmean(v[is_t], w[is_t]), _wmean(v[~is_t], w[~is_t])
        out.append((m1 - m0) / denom if denom > 0 else 0.0)
        m1s.append(m1)
        m0s.append(m0)
    return SmdResult(kind, tuple(cols), np.array(out), np.array(m1s), np.array(m0s), groups)


@dataclass(frozen=True)
class PropensityResult:
    """Logistic propensity model and inverse-probability-of-treatment weights (ATE)."""

    terms: tuple
    coef: np.ndarray
    se: np.ndarray
    score: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    stabilised: bool
    effective_n: tuple  # Kish's (Σw)²/Σw², (reference, treated)
    aliased: tuple = ()  # covariates left out as R's glm leaves them out (NA coefficient)


def propensity_weights(treated: Sequence, covariates: pd.DataFrame,
                       stabilised: bool = False) -> PropensityResult:
    """P(treated | covariates) by logistic regression with an intercept, and ATE weights.

    The fit is statsmodels' GLM (binomial, logit), equal to R's `glm(treated ~ ., binomial)`;
    covariates must be numeric (dummy-code factors first). Weights are 1/e for the treated and
    1/(1 − e) for the others; stabilised weights multiply by the marginal P(treated) and
    P(untreated) respectively, so they average about 1 in each group. Aliased covariates
    (an empty factor level, a combination of others: `survival.aliased_columns`) are left
    out, as glm reports NA for them; their coefficient and SE are NaN and `aliased` names
    them. Where R's glm would warn of separation (`rmath.glm_warnings`: fitted probabilities
    numerically 0 or 1, no convergence) a weight would be infinite: ValueError in R's words.
    """
    tr = np.asarray(treated).astype(float)
    if not np.isin(tr, (0, 1)).all():
        raise ValueError("treated must be 0/1 (or boolean)")
    xdf = pd.DataFrame(covariates).astype(float).reset_index(drop=True)
    if len(xdf) != tr.size:
        raise ValueError("covariates must have one row per observation")
    gone = aliased_columns(xdf.to_numpy())
    if gone.any():
        fit = propensity_weights(tr, xdf.loc[:, ~gone], stabilised)
        keep = np.concatenate([[True], ~gone])
        coef, se = np.full(keep.size, np.nan), np.full(keep.size, np.nan)
        coef[keep], se[keep] = fit.coef, fit.se
        return replace(fit, terms=("(Intercept)",) + tuple(str(c) for c in xdf.columns),
                       coef=coef, se=se, aliased=tuple(str(c) for c in xdf.columns[gone]))
    x = np.column_stack([np.ones(tr.size), xdf.to_numpy()])
    said = glm_warnings(x, tr).messages()
    if said:
        raise ValueError(f"the propensity model is separated: R's glm warns "
                         f"{' and '.join(repr(w) for w in said)}, so some weights would be "
                         "infinite; leave out or merge the covariate levels that decide "
                         "who is treated")
    res = sm.GLM(tr, x, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=100)
    e = np.asarray(res.fittedvalues)
    p1 = tr.mean()
    w = np.where(tr == 1, (p1 if stabilised else 1.0) / e,
                 ((1 - p1) if stabilised else 1.0) / (1 - e))
    ess = tuple(float(w[m].sum() ** 2 / np.sum(w[m] ** 2)) for m in (tr == 0, tr == 1))
    return PropensityResult(("(Intercept)",) + tuple(str(c) for c in xdf.columns),
                            np.asarray(res.params), np.asarray(res.bse), e, w, stabilised, ess)


@dataclass(frozen=True)
class ClusterMean:
    """A mean (or difference in means) with a cluster-robust CR1 standard error and t-interval."""

    estimate: float
    se: float
    conf_low: float
    conf_high: float
    statistic: float
    pvalue: float
    df: int
    n: int
    n_clusters: int
    conf_level: float
    means: tuple = ()  # (reference, treated) means for a difference
    groups: tuple = ()


def _cluster_ols(y: np.ndarray, x: np.ndarray, cluster: Sequence, conf_level: float,
                 column: int) -> tuple[float, float, float, float, float, float, int, int]:
    labels = pd.factorize(pd.Series(np.asarray(cluster)), use_na_sentinel=False)[0]
    if labels.size != y.size:
        raise ValueError("cluster must have one label per observation")
    n_clusters = int(labels.max() + 1)
    if n_clusters < 2:
        raise ValueError("a cluster-robust SE needs at least two clusters")
    res = sm.OLS(y, x).fit(cov_type="cluster",
                           cov_kwds={"groups": labels, "use_correction": True,
                                     "df_correction": True})
    est, se = float(res.params[column]), float(res.bse[column])
    df = n_clusters - 1
    q = float(sps.t.ppf(1 - (1 - conf_level) / 2, df))
    stat = est / se
    return est, se, est - q * se, est + q * se, stat, float(2 * sps.t.sf(abs(stat), df)), df, \
        n_clusters


def cluster_mean_difference(y: Sequence[float], group: Sequence, cluster: Sequence,
                            conf_level: float = 0.95, treated: object | None = None
                            ) -> ClusterMean:
    """Treated-minus-reference difference in means with a cluster-robust SE.

    OLS of y on a treatment indicator; the sandwich is CR1 (Stata's and statsmodels'
    `cov_type="cluster"`): Σ_g (X_g'e_g)(X_g'e_g)' between (X'X)⁻¹, times
    G/(G−1)·(N−1)/(N−K). The interval and test use t with G − 1 degrees of freedom, not the normal:
    with few clusters (a handful of vårdcentraler) the variance estimate rests on G cluster sums
    and the normal interval is too narrow (Cameron & Miller 2015; Stata does the same).
    """
    yy = np.asarray(y, dtype=float)
    is_t, groups = _two_groups(group, treated)
    if is_t.size != yy.size or np.isnan(yy).any():
        raise ValueError("y and group must match and y must not be missing")
    x = np.column_stack([np.ones(yy.size), is_t.astype(float)])
    est, se, lo, hi, stat, p, df, g = _cluster_ols(yy, x, cluster, conf_level, 1)
    return ClusterMean(est, se, lo, hi, stat, p, df, int(yy.size), g, conf_level,
                       (float(yy[~is_t].mean()), float(yy[is_t].mean())), groups)


def cluster_mean_ci(y: Sequence[float], cluster: Sequence, conf_level: float = 0.95) -> ClusterMean:
    """Mean of y with a CR1 cluster-robust SE and a t(G − 1) interval.

    For example the mean sick-leave degree in a month, patients clustered by vårdcentral:
    SE² = G/(G−1) · Σ_g (Σ_{i∈g} (y_i − ȳ))² / N².
    """
    yy = np.asarray(y, dtype=float)
    if np.isnan(yy).any():
        raise ValueError("y must not be missing")
    est, se, lo, hi, stat, p, df, g = _cluster_ols(yy, np.ones((yy.size, 1)), cluster,
                                                   conf_level, 0)
    return ClusterMean(est, se, lo, hi, stat, p, df, int(yy.size), g, conf_level)


def weighted_mean_difference(y: Sequence[float], group: Sequence, cluster: Sequence,
                             weights: Sequence[float] | None = None, conf_level: float = 0.95,
                             treated: object | None = None) -> ClusterMean:
    """Treated-minus-reference difference in weighted means with a cluster-robust SE.

    Weighted least squares of y on a treatment indicator (R's `lm(y ~ g, weights = w)`), so
    the estimate is the difference of the two weighted means; with inverse-probability-of-
    treatment weights (`propensity_weights`) it estimates the average treatment effect, in the
    unit of y (net days, percentage points of degree, or a risk difference for a 0/1 y). The
    sandwich is CR1 as in `cluster_mean_difference`: (X'WX)⁻¹ Σ_g (X_g'W_g e_g)(X_g'W_g e_g)'
    (X'WX)⁻¹ · G/(G−1)·(N−1)/(N−K), with a t(G − 1) interval and test. The weights are taken
    as known: the estimation of a propensity model behind them is not propagated into the
    variance (for the ATE this is usually conservative, Lunceford & Davidian 2004). Without
    `weights` the result equals `cluster_mean_difference`. Weights must be positive and finite.
    """
    yy = np.asarray(y, dtype=float)
    is_t, groups = _two_groups(group, treated)
    if is_t.size != yy.size or np.isnan(yy).any():
        raise ValueError("y and group must match and y must not be missing")
    w = np.ones(yy.size) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != yy.shape or not np.isfinite(w).all() or (w <= 0).any():
        raise ValueError("weights must be positive and finite, one per observation")
    # WLS as OLS on rows scaled by √w: the scores X_i'w_i e_i and (X'WX) are unchanged
    root = np.sqrt(w)
    x = np.column_stack([np.ones(yy.size), is_t.astype(float)]) * root[:, None]
    est, se, lo, hi, stat, p, df, g = _cluster_ols(yy * root, x, cluster, conf_level, 1)
    means = tuple(float(np.sum(w[m] * yy[m]) / np.sum(w[m])) for m in (~is_t, is_t))
    return ClusterMean(est, se, lo, hi, stat, p, df, int(yy.size), g, conf_level, means, groups)
