"""Time-to-event statistics that agree with R's `survival` and `cmprsk` (the study was analysed in R).

Each function mirrors one R function and returns a frozen result object with named fields:
`kaplan_meier` (`survfit`, `print.survfit`, `quantile.survfit`), `numbers_at_risk` and
`survival_at` (`summary(survfit, times=)`), `logrank` (`survdiff`), `cox` (`coxph(ties="efron")`
or `"breslow"`, with the cluster-robust variance of `coxph(cluster=)`), `wald_test` (the joint
Wald chi-square from `coef`/`vcov`), `lr_test` (`anova(fit0, fit1)`), `cumulative_incidence`
and `cumulative_incidence_at` (`cmprsk::cuminc`, `cmprsk::timepoints`), `gray_test`
(`cuminc(...)$Tests`) and `poisson_rate_ratio` (`glm(family=poisson, offset=log(py))`).
`coxph_path` and `coxph_infinite` repeat coxph's iteration and its "coefficient may be
infinite" check, so that `cox` names the same terms R warns about.
Times are in whatever unit the caller uses (days in the study); nothing is rounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as sps
from statsmodels.duration.hazard_regression import PHReg

R_TOL = float(np.finfo(float).eps) ** 0.5  # survival's `tolerance = sqrt(.Machine$double.eps)`


def _z(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must lie strictly between 0 and 1")
    return float(sps.norm.ppf(1 - (1 - conf_level) / 2))


def _as_time_event(time: Sequence[float], event: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    d = np.asarray(event).astype(float)
    if t.ndim != 1 or t.shape != d.shape:
        raise ValueError("time and event must be one-dimensional and of equal length")
    if np.isnan(t).any() or np.isnan(d).any():
        raise ValueError("time and event must not contain missing values (drop them first)")
    if not np.isin(d, (0, 1)).all():
        raise ValueError("event must be 0 (censored) or 1 (event)")
    return t, d


# --------------------------------------------------------------------------------------------
# Kaplan–Meier


@dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan–Meier table, one row per distinct time (events or censorings), as `survfit` keeps it.

    `std_err` is the standard error of the survival probability (as `summary(survfit)` prints it);
    `std_err_log` is the Greenwood standard error of log S (what `survfit()$std.err` holds). The
    interval is R's default `conf.type="log"`: exp(log S ± z·std_err_log), the upper limit
    capped at 1, missing where S = 0. The median and its limits follow `print(survfit)`; the
    `quantile` method follows `quantile.survfit` (they differ only when the curve ends flat at
    exactly 0.5).
    """

    time: np.ndarray = field(repr=False)
    n_risk: np.ndarray = field(repr=False)
    n_event: np.ndarray = field(repr=False)
    n_censor: np.ndarray = field(repr=False)
    surv: np.ndarray = field(repr=False)
    std_err: np.ndarray = field(repr=False)
    std_err_log: np.ndarray = field(repr=False)
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)
    n: int
    events: int
    median: float
    median_lower: float
    median_upper: float
    conf_level: float

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"time": self.time, "n_risk": self.n_risk, "n_event": self.n_event,
                             "n_censor": self.n_censor, "surv": self.surv, "std_err": self.std_err,
                             "lower": self.lower, "upper": self.upper})

    def quantile(self, p: float) -> tuple[float, float, float]:
        """(quantile, lower, upper) of the survival time at probability p, as `quantile.survfit`.

        The p-quantile is the first time where S ≤ 1 − p; where S equals 1 − p (within R's
        sqrt(eps)) over an interval, the midpoint of that interval; NaN where not reached.
        """
        x = np.concatenate([[0.0], self.time])
        return (_findq(x, 1 - np.concatenate([[1.0], self.surv]), p),
                _findq(x, 1 - np.concatenate([[1.0], self.lower]), p),
                _findq(x, 1 - np.concatenate([[1.0], self.upper]), p))


def _minmin(y: np.ndarray, x: np.ndarray) -> float:
    """`survmean`'s median rule (print.survfit): first time with y < 0.5 + tol; if y is 0.5
    there and drops later, the midpoint between that time and the first time y drops."""
    keep = ~np.isnan(y) & (y < 0.5 + R_TOL)
    if not keep.any():
        return float("nan")
    x, y = x[keep], y[keep]
    if abs(y[0] - 0.5) < R_TOL and (y < y[0]).any():
        return float((x[0] + x[np.flatnonzero(y < y[0])[0]]) / 2)
    return float(x[0])


def _findq(x: np.ndarray, y: np.ndarray, p: float) -> float:
    """`survival:::findq` for one probability: x the times with the start time first, y = 1 − S."""
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return float("nan")
    xmax = x[-1]
    seen: set = set()
    keep = []
    for v in y:  # R's duplicated(): all NaN count as one value
        key = "nan" if np.isnan(v) else v
        keep.append(key not in seen)
        seen.add(key)
    x, y = x[np.array(keep)], y[np.array(keep)]
    ok = ~np.isnan(y)
    if p == 0:
        return float(x[0])

    def first_at_or_above(shifted: np.ndarray) -> int | None:
        # approx(shifted, 1:n, p, method="constant", f=1): the first point with shifted >= p
        hit = np.flatnonzero(ok & (shifted >= p))
        return int(hit[0]) if hit.size else None

    i1, i2 = first_at_or_above(y + R_TOL), first_at_or_above(y - R_TOL)
    if not np.isnan(y[-1]) and abs(p - y[-1]) < R_TOL:
        return float("nan") if i1 is None else float((x[i1] + xmax) / 2)
    if i1 is None or i2 is None:
        return float("nan")
    return float((x[i1] + x[i2]) / 2)


def kaplan_meier(time: Sequence[float], event: Sequence[float],
                 conf_level: float = 0.95) -> KaplanMeierResult:
    """Kaplan–Meier estimate with R `survfit`'s Greenwood standard errors and log-scale interval.

    statsmodels' `SurvfuncRight` gives the same survival probabilities at event times but drops
    censoring-only times from its table and reports the standard error of S only, so the table is
    built here directly (the product-limit estimate and Greenwood sum are one line each).
    """
    t, d = _as_time_event(time, event)
    if t.size == 0:
        raise ValueError("kaplan_meier needs at least one observation")
    ut, inv = np.unique(t, return_inverse=True)
    n_event = np.bincount(inv, weights=d, minlength=ut.size)
    n_all = np.bincount(inv, minlength=ut.size).astype(float)
    n_censor = n_all - n_event
    n_risk = np.cumsum(n_all[::-1])[::-1]
    surv = np.cumprod(1 - n_event / n_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    std_err_log = np.sqrt(np.cumsum(inc))
    z = _z(conf_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = surv > 0
        lower = np.where(pos, np.exp(np.log(np.where(pos, surv, 1)) - z * std_err_log), np.nan)
        upper = np.where(pos, np.minimum(np.exp(np.log(np.where(pos, surv, 1)) + z * std_err_log),
                                         1.0), np.nan)
        std_err = std_err_log * surv
    std_err = np.where(np.isinf(std_err_log), np.nan, std_err)
    return KaplanMeierResult(ut, n_risk.astype(int), n_event.astype(int), n_censor.astype(int),
                             surv, std_err, std_err_log, lower, upper, int(t.size), int(d.sum()),
                             _minmin(surv, ut), _minmin(lower, ut), _minmin(upper, ut), conf_level)


@dataclass(frozen=True)
class AtRisk:
    """Numbers at risk and survival at chosen times (R `summary(fit, times=, extend=TRUE)`)."""

    time: np.ndarray
    n_risk: np.ndarray
    surv: np.ndarray


def numbers_at_risk(fit: KaplanMeierResult, times: Sequence[float]) -> AtRisk:
    """Subjects still under observation at each time (time ≥ t) and S(t), for the KM figure.

    Times beyond the last follow-up give 0 at risk and the last S, as R with `extend=TRUE`.
    """
    tt = np.asarray(times, dtype=float)
    # n_risk at t = number with time >= t = n_risk of the first table row with time >= t
    idx = np.searchsorted(fit.time, tt, side="left")
    n_risk = np.where(idx < fit.time.size, fit.n_risk[np.minimum(idx, fit.time.size - 1)], 0)
    last = np.searchsorted(fit.time, tt, side="right") - 1
    surv = np.where(last >= 0, fit.surv[np.maximum(last, 0)], 1.0)
    return AtRisk(tt, n_risk.astype(int), surv)


@dataclass(frozen=True)
class SurvivalAt:
    """The Kaplan–Meier curve read at chosen times, as R `summary(survfit, times=)` prints it.

    Per time t (sorted): `n_risk` still under observation at t (time ≥ t), `n_event` and
    `n_censor` since the previous chosen time (the first counts from the start), `surv` S(t),
    `std_err` its standard error (Greenwood, on the scale of S) and the log-scale interval
    `lower`/`upper` at the curve's `conf_level`.
    """

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    conf_level: float

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"time": self.time, "n_risk": self.n_risk, "n_event": self.n_event,
                             "n_censor": self.n_censor, "surv": self.surv, "std_err": self.std_err,
                             "lower": self.lower, "upper": self.upper})


def survival_at(fit: KaplanMeierResult, times: Sequence[float],
                extend: bool = False) -> SurvivalAt:
    """S(t) with its standard error and confidence limits at `times`, for a table of survival
    at 6 and 12 months, say; equal to `summary(survfit(...), times=, extend=)` in R.

    As R: times are sorted, non-finite ones dropped, and (unless `extend`) so are those after
    the last follow-up time; before the first time S = 1 with standard error 0 and limits 1;
    beyond the last time S stays at its last value with 0 at risk.
    """
    tt = np.sort(np.asarray(times, dtype=float))
    tt = tt[np.isfinite(tt)]
    if not extend:
        tt = tt[tt <= fit.time[-1]]
    if tt.size == 0:
        raise ValueError("survival_at: no time within follow-up (use extend=True)")
    # R adds a row at the start time min(0, first time): S = 1, SE 0, limits 1, nothing happens
    start = min(0.0, float(fit.time[0]))
    add = fit.time[0] != start
    time = np.concatenate([[start], fit.time]) if add else fit.time

    def lead(v: np.ndarray, first: float) -> np.ndarray:
        return np.concatenate([[first], v]).astype(float) if add else v.astype(float)

    surv, lower, upper = lead(fit.surv, 1.0), lead(fit.lower, 1.0), lead(fit.upper, 1.0)
    std_err = lead(fit.std_err, 0.0)
    n_risk = lead(fit.n_risk, fit.n_risk[0])
    idx = np.searchsorted(time, tt, side="right")  # rows at or before t (findInterval)
    row = np.maximum(idx, 1) - 1
    risk_row = np.searchsorted(time, tt, side="left")  # the first row at or after t
    at_risk = np.concatenate([n_risk, [0.0]])[risk_row]

    def between(v: np.ndarray) -> np.ndarray:
        cum = np.concatenate([[0.0], np.cumsum(lead(v, 0.0))])[idx]
        return np.diff(np.concatenate([[0.0], cum]))

    return SurvivalAt(tt, at_risk.astype(int), between(fit.n_event).astype(int),
                      between(fit.n_censor).astype(int), surv[row], std_err[row], lower[row],
                      upper[row], fit.conf_level)


# --------------------------------------------------------------------------------------------
# Log-rank


@dataclass(frozen=True)
class LogrankResult:
    """Log-rank test (R `survdiff`, rho = 0): chi-square on (number of groups with E > 0) − 1 df."""

    statistic: float
    df: int
    pvalue: float
    groups: tuple
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray = field(repr=False)


def logrank(time: Sequence[float], event: Sequence[float], group: Sequence) -> LogrankResult:
    """Log-rank test of equal hazards across groups, as `survdiff(Surv(time, event) ~ group)`.

    Groups are ordered as R orders factor levels (sorted, or the categories of a pandas
    Categorical). Variance uses the hypergeometric form with tied deaths.
    """
    t, d = _as_time_event(time, event)
    g = pd.Categorical(group)
    g = g.remove_unused_categories()
    levels = tuple(g.categories)
    k = len(levels)
    codes = np.asarray(g.codes)
    if codes.size != t.size or (codes < 0).any():
        raise ValueError("group must have one non-missing label per observation")
    ut, inv = np.unique(t, return_inverse=True)
    n_at = np.zeros((ut.size, k))
    dead = np.zeros((ut.size, k))
    np.add.at(n_at, (inv, codes), 1.0)
    np.add.at(dead, (inv, codes), d)
    risk = np.cumsum(n_at[::-1], axis=0)[::-1]
    n = risk.sum(axis=1)
    deaths = dead.sum(axis=1)
    expected = (risk * (deaths / n)[:, None]).sum(axis=0)
    observed = dead.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kk = np.where(n > 1, deaths * (n - deaths) / (n * (n - 1)), 0.0)
    frac = risk / n[:, None]
    var = (np.einsum("t,tj->j", kk * n, frac)[:, None] * np.eye(k)
           - np.einsum("t,tj,tk->jk", kk * n, frac, frac))
    use = expected > 0
    if use.sum() < 2:
        stat = 0.0
    else:
        diff = (observed - expected)[use][1:]
        vv = var[np.ix_(use, use)][1:, 1:]
        stat = float(diff @ np.linalg.solve(vv, diff))
    df = int(use.sum()) - 1
    return LogrankResult(stat, df, float(sps.chi2.sf(stat, df)) if df > 0 else float("nan"),
                         levels, np.bincount(codes, minlength=k), observed, expected, var)


# --------------------------------------------------------------------------------------------
# Cox regression


def _cox_parts(beta: np.ndarray, t: np.ndarray, d: np.ndarray, x: np.ndarray,
               w: np.ndarray, ties: str = "efron", residuals: bool = False):
    """Weighted log partial likelihood, score, information and (optionally) score residuals.

    As survival's coxfit6.c / coxscore2.c with case weights. Efron: at a time with `m` tied
    deaths the k-th (k = 0..m−1) sub-step removes k/m of the deaths' weighted risk and carries
    the hazard (sum of the deaths' weights / m) / denominator. The score residual of subject i
    is ∫ (x_i − x̄(s)) dM_i(s) under that approximation: a death at a tied time sees the mean of
    the m sub-step averages, and is at risk in sub-step k with multiplicity (1 − k/m).
    Breslow: one step per distinct time, every tied death seeing the full risk set (the hazard
    jump is the deaths' summed weight / denominator).
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', not {ties!r}")
    eta = x @ beta
    eta = eta - eta.max() if eta.size else eta
    r = w * np.exp(eta)
    ut, inv = np.unique(t, return_inverse=True)
    nt, p = ut.size, x.shape[1]

    def by_time(v: np.ndarray) -> np.ndarray:
        out = np.zeros((nt,) + v.shape[1:])
        np.add.at(out, inv, v)
        return out

    xx = np.einsum("ij,ik->ijk", x, x)
    s0 = np.cumsum(by_time(r)[::-1])[::-1]
    s1 = np.cumsum(by_time(r[:, None] * x)[::-1], axis=0)[::-1]
    s2 = np.cumsum(by_time(r[:, None, None] * xx)[::-1], axis=0)[::-1]
    dr = d * r
    e0, e1, e2 = by_time(dr), by_time(dr[:, None] * x), by_time(dr[:, None, None] * xx)
    m = by_time(d)
    if ties == "breslow":
        m = (m > 0).astype(float)  # one step per time, carrying all its deaths' weight
    wd = by_time(d * w)
    meanwt = np.where(m > 0, wd / np.maximum(m, 1), 0.0)
    loglik = float(np.sum(d * w * (x @ beta)))
    score = (d * w) @ x
    info = np.zeros((p, p))
    hz = np.zeros(nt)       # Σ_k h_k
    hz_d = np.zeros(nt)     # Σ_k (1 − k/m) h_k
    xh = np.zeros((nt, p))  # Σ_k h_k x̄_k
    xh_d = np.zeros((nt, p))
    xbar_mean = np.zeros((nt, p))
    mm = int(m.max()) if m.size else 0
    # the loglik offset from centring eta cancels in the score; restore it for the likelihood
    shift = float((x @ beta).max()) if x.size else 0.0
    for k in range(mm):
        on = m > k
        frac = np.where(on, k / np.maximum(m, 1), 0.0)
        d2 = s0[on] - frac[on] * e0[on]
        xbar = (s1[on] - frac[on, None] * e1[on]) / d2[:, None]
        h = meanwt[on] / d2
        loglik -= float(np.sum(meanwt[on] * (np.log(d2) + shift)))
        score -= meanwt[on] @ xbar
        x2 = (s2[on] - frac[on, None, None] * e2[on]) / d2[:, None, None]
        info += np.einsum("t,tjk->jk", meanwt[on],
                          x2 - np.einsum("tj,tk->tjk", xbar, xbar))
        hz[on] += h
        hz_d[on] += (1 - frac[on]) * h
        xh[on] += h[:, None] * xbar
        xh_d[on] += ((1 - frac[on]) * h)[:, None] * xbar
        xbar_mean[on] += xbar / m[on, None]
    if not residuals:
        return loglik, score, info, None
    # cumulative hazard pieces up to the previous distinct time, then this time's own piece
    c_hz = np.concatenate([[0.0], np.cumsum(hz)[:-1]])[inv]
    c_xh = np.concatenate([np.zeros((1, p)), np.cumsum(xh, axis=0)[:-1]])[inv]
    own_hz = np.where(d > 0, hz_d[inv], hz[inv])
    own_xh = np.where(d[:, None] > 0, xh_d[inv], xh[inv])
    rr = np.exp(eta)  # risk score on the centred scale of the hazard pieces h (product invariant)
    resid = (d[:, None] * (x - xbar_mean[inv])
             - rr[:, None] * (x * (c_hz + own_hz)[:, None] - (c_xh + own_xh)))
    return loglik, score, info, resid


class _WeightedPH(PHReg):
    """statsmodels' PHReg with coxph-style case weights in the partial likelihood (PHReg has
    none), for Efron or Breslow ties."""

    def __init__(self, time, event, exog, weights, ties):
        super().__init__(time, exog, status=event, ties=ties)
        self._t, self._d = np.asarray(time, float), np.asarray(event, float)
        self._x, self._w = np.asarray(exog, float), np.asarray(weights, float)
        self._ties = ties

    def _parts(self, params):
        return _cox_parts(np.asarray(params), self._t, self._d, self._x, self._w, self._ties)

    def loglike(self, params):
        return self._parts(params)[0]

    def score(self, params):
        return self._parts(params)[1]

    def hessian(self, params):
        return -self._parts(params)[2]


@dataclass(frozen=True)
class CoxResult:
    """Cox proportional-hazards fit (R `coxph`), one entry per covariate column.

    `se` is model-based (inverse information); `robust_se` is the sandwich of `coxph(cluster=)`
    (each row its own cluster when no cluster is given, as `coxph(robust=TRUE)`). z, p and the
    hazard-ratio interval use `robust_se` when `robust` (by default: a cluster was given or the
    case weights are not whole numbers, coxph's rule), else `se`, as `summary(coxph)` does.
    `loglik` is the log partial likelihood at the estimate and `loglik_null` at β = 0
    (`coxph()$loglik[2:1]`); `ties` is "efron" or "breslow". `aliased` names the columns that
    could not be estimated (constant, e.g. an empty factor level, or a combination of earlier
    columns): their entries are NaN, as R's NA, and the rest is the fit without them.

    `infinite` names the columns whose estimate runs to ±infinity (monotone likelihood, e.g. a
    factor level with persons but no events), where R warns "Loglik converged before variable
    k; coefficient may be infinite" (`coxph_infinite` gives R's rule). R prints the huge finite
    value where its iteration stopped; here `coef` is −inf or +inf (the direction) and `se`,
    `robust_se`, `hr`, the limits, `z` and `pvalue` are NaN, so no number stands for an
    estimate that does not exist. The other terms are the limit of the fit as those
    coefficients run off (the likelihood's supremum), with their variance from the
    information of the finite terms at that limit.
    """

    terms: tuple
    coef: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray
    hr: np.ndarray
    conf_low: np.ndarray
    conf_high: np.ndarray
    z: np.ndarray
    pvalue: np.ndarray
    n: int
    events: int
    n_clusters: int | None
    robust: bool
    loglik: float
    conf_level: float
    var: np.ndarray = field(repr=False)
    robust_var: np.ndarray = field(repr=False)
    loglik_null: float = float("nan")
    ties: str = "efron"
    aliased: tuple = ()
    infinite: tuple = ()

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"coef": self.coef, "hr": self.hr, "se": self.se,
                             "robust_se": self.robust_se, "z": self.z, "p": self.pvalue,
                             "conf_low": self.conf_low, "conf_high": self.conf_high},
                            index=list(self.terms))


#: A column is aliased when less than this share of its norm is left after projecting out the
#: columns before it (and the constant): R's `lm`/`glm` QR tolerance (`tol = 1e-7`).
ALIAS_TOL = 1e-7


def aliased_columns(x: np.ndarray, intercept: bool = True, tol: float = ALIAS_TOL
                    ) -> np.ndarray:
    """Which columns of a design are aliased, in R's order: a column is aliased when it is
    (numerically) constant given an intercept, or a linear combination of the columns before
    it that are kept (R's limited-pivoting QR, `dqrdc2`, which moves such columns aside and
    reports NA for them). Cox models have no intercept column but a constant column is
    aliased with the baseline hazard, so `intercept=True` for them too."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    basis = [np.full(n, 1 / np.sqrt(n))] if intercept and n else []
    out = np.zeros(x.shape[1], dtype=bool)
    for j in range(x.shape[1]):
        v = x[:, j].copy()
        norm = float(np.linalg.norm(v))
        for _ in range(2):  # twice: Gram–Schmidt loses orthogonality once
            for q in basis:
                v -= (q @ v) * q
        left = float(np.linalg.norm(v))
        if norm == 0 or left <= tol * norm:
            out[j] = True
        else:
            basis.append(v / left)
    return out


def _expand(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Estimates of the kept columns back in the full design's places, NaN where aliased."""
    if values.ndim == 1:
        out = np.full(keep.size, np.nan)
        out[keep] = values
        return out
    out = np.full((keep.size, keep.size), np.nan)
    out[np.ix_(keep, keep)] = values
    return out


#: coxph.control() defaults: convergence `eps` (relative change in the log partial
#: likelihood), `iter.max`, `toler.chol` and `toler.inf = sqrt(eps)`.
COXPH_EPS = 1e-9
COXPH_ITER_MAX = 20
COXPH_TOLER_CHOL = float(np.finfo(float).eps) ** 0.75


@dataclass(frozen=True)
class CoxphPath:
    """Where coxph's Newton–Raphson iteration (`coxfit6.c`) stops: the coefficients, the score
    `u` and inverse information `var` there (their product is the next Newton step), the
    log partial likelihood, the iterations used and whether it converged (else R warns "Ran
    out of iterations and did not converge")."""

    coef: np.ndarray
    u: np.ndarray
    var: np.ndarray
    loglik: float
    iterations: int
    converged: bool


def _chol_solve(info: np.ndarray, u: np.ndarray, toler: float) -> tuple[np.ndarray, np.ndarray]:
    """`cholesky2` + `chsolve2`/`chinv2`: solve and invert with pivots below toler × the
    largest diagonal treated as zero (that column gets step 0 and variance 0)."""
    p = info.shape[0]
    diag = np.diag(info)
    big = float(diag[np.isfinite(diag)].max(initial=0.0))
    tol = toler * big if big > 0 else toler
    keep = np.zeros(p, dtype=bool)
    work = info.copy()
    for i in range(p):  # LDL' elimination order decides which pivots count as zero
        piv = work[i, i]
        if np.isfinite(piv) and piv >= tol:
            keep[i] = True
            rest = slice(i + 1, p)
            work[rest, rest] -= np.outer(work[rest, i], work[i, rest]) / piv
    step, var = np.zeros(p), np.zeros((p, p))
    if keep.any():
        sub = np.linalg.inv(info[np.ix_(keep, keep)])
        var[np.ix_(keep, keep)] = sub
        step[keep] = sub @ u[keep]
    return step, var


def coxph_path(time: Sequence[float], event: Sequence[float], x: np.ndarray,
               weights: np.ndarray | None = None, ties: str = "efron",
               init: np.ndarray | None = None, eps: float = COXPH_EPS,
               iter_max: int = COXPH_ITER_MAX, toler_chol: float = COXPH_TOLER_CHOL
               ) -> CoxphPath:
    """coxph's iteration as `coxfit6.c` runs it, so that R's infinite-coefficient check sees
    the same point: Newton–Raphson from `init` (0), the step halved towards the last better
    point while the log-likelihood falls or is not finite, stop when |1 − l_old/l_new| ≤ eps.
    Columns of values other than −1, 0, 1 are centred and scaled as coxph does (`nocenter`),
    which matters only to the Cholesky tolerance."""
    t, d = _as_time_event(time, event)
    x = np.asarray(x, dtype=float)
    w = np.ones(t.size) if weights is None else np.asarray(weights, dtype=float)
    dummy = np.isin(x, (-1.0, 0.0, 1.0)).all(axis=0)
    means = np.where(dummy, 0.0, (w @ x) / w.sum())
    spread = w @ np.abs(x - means)
    scale = np.where(dummy | (spread <= 0), 1.0, w.sum() / np.where(spread > 0, spread, 1.0))
    xs = (x - means) * scale
    beta = np.zeros(x.shape[1]) if init is None else np.asarray(init, float) / scale

    def at(b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # halved below
            ll, u, info, _ = _cox_parts(b, t, d, xs, w, ties)
        return ll, u, info

    def result(b, u, info, ll, it, ok) -> CoxphPath:
        var = _chol_solve(info, u, toler_chol)[1]
        return CoxphPath(b * scale, u / scale, var * np.outer(scale, scale), float(ll), it, ok)

    best, u, info = at(beta)
    if not np.isfinite(best) or iter_max == 0:
        return result(beta, u, info, best, 0, iter_max == 0)
    new = beta + _chol_solve(info, u, toler_chol)[0]
    halving = 0
    for it in range(1, iter_max + 1):
        ll, u, info = at(new)
        finite = np.isfinite(ll) and np.isfinite(u).all() and np.isfinite(info).all()
        if finite and abs(1 - best / ll) <= eps:
            return result(new, u, info, ll, it, True)
        if not finite or ll < best:
            halving += 1
            new = (new + halving * beta) / (halving + 1)
        else:
            halving, best = 0, ll
            beta, new = new, new + _chol_solve(info, u, toler_chol)[0]
    ll, u, info = at(beta)
    return result(beta, u, info, ll, iter_max, False)


def coxph_infinite(path: CoxphPath, eps: float = COXPH_EPS) -> np.ndarray:
    """R's check after the fit (`coxph.fit`): a coefficient "may be infinite" where the score
    is not finite, or where the next Newton step |u·var| exceeds both `eps` and
    toler.inf·|coef| (toler.inf = sqrt(eps)). Only for a converged path: when the iteration
    runs out coxph names no variable ("Ran out of iterations and did not converge")."""
    step = np.abs(path.u @ path.var)
    return ~np.isfinite(path.u) | ((step > eps) & (step > np.sqrt(eps) * np.abs(path.coef)))


def _infinite_fit(t: np.ndarray, d: np.ndarray, xdf: pd.DataFrame, w: np.ndarray,
                  path: CoxphPath, infinite: np.ndarray, cluster: Sequence | None,
                  conf_level: float, robust: bool, ties: str) -> CoxResult:
    """The fit with infinite coefficients at their limit: Newton–Raphson goes on from where
    coxph stopped until the log-likelihood no longer moves (the runaway terms then weigh
    ~e^-30 on the others), and the finite terms' variances come from their own information
    there (the limit of the full inverse, whose runaway block has no limit)."""
    x = xdf.to_numpy()
    far = coxph_path(t, d, x, w, ties, init=path.coef, eps=1e-15, iter_max=200,
                     toler_chol=1e-15)
    fin = ~infinite
    _, _, info, resid = _cox_parts(far.coef, t, d, x, w, ties, residuals=True)
    var = np.linalg.inv(info[np.ix_(fin, fin)])
    dfbeta = (w[:, None] * resid[:, fin]) @ var
    n_clusters = None
    if cluster is not None:
        codes = pd.factorize(pd.Series(np.asarray(cluster)), use_na_sentinel=False)[0]
        if codes.size != t.size:
            raise ValueError("cluster must have one label per observation")
        n_clusters = int(codes.max() + 1)
        collapsed = np.zeros((n_clusters, int(fin.sum())))
        np.add.at(collapsed, codes, dfbeta)
        dfbeta = collapsed
    robust_var = dfbeta.T @ dfbeta
    se, robust_se = np.sqrt(np.diag(var)), np.sqrt(np.diag(robust_var))
    use_se = robust_se if robust else se
    zq = _z(conf_level)
    b = far.coef[fin]
    z = b / use_se
    terms = tuple(str(c) for c in xdf.columns)
    return CoxResult(terms, np.where(infinite, np.sign(path.coef) * np.inf, far.coef),
                     _expand(se, fin), _expand(robust_se, fin), _expand(np.exp(b), fin),
                     _expand(np.exp(b - zq * use_se), fin), _expand(np.exp(b + zq * use_se), fin),
                     _expand(z, fin), _expand(2 * sps.norm.sf(np.abs(z)), fin), int(t.size),
                     int(d.sum()), n_clusters, robust, far.loglik, conf_level,
                     _expand(var, fin), _expand(robust_var, fin),
                     _cox_parts(np.zeros(x.shape[1]), t, d, x, w, ties)[0], ties,
                     infinite=tuple(c for c, i in zip(terms, infinite, strict=True) if i))


def cox(time: Sequence[float], event: Sequence[float], covariates: pd.DataFrame,
        cluster: Sequence | None = None, weights: Sequence[float] | None = None,
        conf_level: float = 0.95, robust: bool | None = None, ties: str = "efron"
        ) -> CoxResult:
    """Cox model, `coxph(..., ties=)`; coefficients by statsmodels `PHReg(ties=)`.

    `ties="efron"` (R's default) or `"breslow"` (SAS PHREG's default; every death at a tied
    time sees the whole risk set), for the model-based, cluster-robust and weighted fits alike.

    `covariates` must already be numeric (dummy-code factors first, e.g. `pd.get_dummies(...,
    drop_first=True)`, which matches R's treatment contrasts). `robust=None` follows coxph's
    default (see `CoxResult`). With `weights`, PHReg (which has
    no case weights) is given the weighted partial likelihood of coxph and fitted by its own
    Newton routine.

    The robust variance is ours: statsmodels' `PHReg.fit(groups=)` builds its sandwich from
    *Breslow* score residuals (one hazard jump d/S0 per distinct time, every tied death seeing the
    full risk set) around the *Efron* information, which is inconsistent when times are tied:
    the residuals no longer sum to the Efron score (zero at the estimate) and the SEs come out
    too small by a few per cent with day-level ties (2–7 % in our tests, growing with the number
    of deaths per distinct day); without ties the two agree to 1e-8. R (coxph with `cluster=`)
    uses score residuals of the ties method fitted (Efron-aware for Efron) times the inverse
    information (dfbeta), weighted by the case weights, summed within clusters: V = D'D. That
    is what is computed here.

    Aliased columns (`aliased_columns`: an empty factor level, a constant, a combination of
    earlier columns) are left out of the fit and reported as NaN with their names in
    `aliased`, as coxph reports NA ("X matrix deemed to be singular").

    Coefficients that may be infinite are found as coxph finds them (`coxph_path`, the
    iteration R runs, then `coxph_infinite`, R's rule) and named in `infinite` (see
    `CoxResult`); a fit whose R iteration runs out without converging raises ValueError.
    """
    t, d = _as_time_event(time, event)
    xdf = pd.DataFrame(covariates).astype(float)
    if len(xdf) != t.size:
        raise ValueError("covariates must have one row per observation")
    keep = ~aliased_columns(xdf.to_numpy())
    if not keep.all():
        if not keep.any():
            raise ValueError("cox: no covariate can be estimated; every column is constant "
                             f"or aliased ({', '.join(map(str, xdf.columns))})")
        fit = cox(time, event, xdf.loc[:, keep], cluster=cluster, weights=weights,
                  conf_level=conf_level, robust=robust, ties=ties)
        return replace(fit, terms=tuple(str(c) for c in xdf.columns),
                       aliased=tuple(str(c) for c in xdf.columns[~keep]),
                       **{f: _expand(getattr(fit, f), keep)
                          for f in ("coef", "se", "robust_se", "hr", "conf_low", "conf_high",
                                    "z", "pvalue", "var", "robust_var")})
    x = xdf.to_numpy()
    w = np.ones(t.size) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != t.shape or (w <= 0).any():
        raise ValueError("weights must be positive, one per observation")
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', not {ties!r}")
    if robust is None:  # coxph's default: robust with a cluster or non-integer case weights
        robust = cluster is not None or bool(np.any(w != np.floor(w)))
    path = coxph_path(t, d, x, None if weights is None else w, ties)
    if not path.converged:
        raise ValueError(f"cox: the fit does not converge in {COXPH_ITER_MAX} Newton steps "
                         "(coxph: 'Ran out of iterations and did not converge'), typically "
                         "because a coefficient runs to infinity in a way coxph cannot name; "
                         "check the covariates against the events")
    infinite = coxph_infinite(path)
    if infinite.any():
        return _infinite_fit(t, d, xdf, w, path, infinite, cluster, conf_level, robust, ties)
    return _cox_fit(t, d, xdf, w, weights is not None, cluster, conf_level, robust, ties)


def _cox_fit(t: np.ndarray, d: np.ndarray, xdf: pd.DataFrame, w: np.ndarray, weighted: bool,
             cluster: Sequence | None, conf_level: float, robust: bool, ties: str
             ) -> CoxResult:
    """statsmodels' estimate with coxph's model-based and robust variances (see `cox`)."""
    x = xdf.to_numpy()
    if not weighted:
        res = PHReg(t, x, status=d, ties=ties).fit()
    else:
        res = _WeightedPH(t, d, x, w, ties).fit()
    beta = np.asarray(res.params, dtype=float)
    loglik, _, info, resid = _cox_parts(beta, t, d, x, w, ties, residuals=True)
    loglik_null = _cox_parts(np.zeros_like(beta), t, d, x, w, ties)[0]
    var = np.linalg.inv(info)
    if not weighted:
        se = np.asarray(res.bse, dtype=float)
    else:
        se = np.sqrt(np.diag(var))
    dfbeta = (w[:, None] * resid) @ var
    if cluster is None:
        collapsed = dfbeta
        n_clusters = None
    else:
        codes = pd.factorize(pd.Series(np.asarray(cluster)), use_na_sentinel=False)[0]
        if codes.size != t.size:
            raise ValueError("cluster must have one label per observation")
        collapsed = np.zeros((codes.max() + 1, x.shape[1]))
        np.add.at(collapsed, codes, dfbeta)
        n_clusters = int(codes.max() + 1)
    robust_var = collapsed.T @ collapsed
    robust_se = np.sqrt(np.diag(robust_var))
    use_se = robust_se if robust else se
    z = beta / use_se
    zq = _z(conf_level)
    return CoxResult(tuple(str(c) for c in xdf.columns), beta, se, robust_se, np.exp(beta),
                     np.exp(beta - zq * use_se), np.exp(beta + zq * use_se), z,
                     2 * sps.norm.sf(np.abs(z)), int(t.size), int(d.sum()), n_clusters, robust,
                     loglik, conf_level, var, robust_var, loglik_null, ties)


@dataclass(frozen=True)
class WaldResult:
    """Joint Wald chi-square for a set of coefficients being zero; `method` says which
    variance was used ("Wald, robust variance" or "Wald, model-based variance")."""

    terms: tuple
    statistic: float
    df: int
    pvalue: float
    method: str


def wald_test(result: CoxResult, terms: Sequence[str]) -> WaldResult:
    """b' V⁻¹ b over the named terms, V the variance `vcov(coxph)` reports (robust if used).

    For example the interaction terms of a model, to test effect modification as one test.
    With a cluster-robust variance it stays valid when observations are correlated within
    clusters; `lr_test` is the model-based alternative for independent observations.
    """
    idx = [result.terms.index(t) for t in terms]
    if not idx:
        raise ValueError("wald_test needs at least one term")
    gone = [t for t in terms if t in result.aliased]
    if gone:
        raise ValueError(f"wald_test: {', '.join(gone)} aliased (not estimable); test the "
                         "estimable terms only")
    runaway = [t for t in terms if t in result.infinite]
    if runaway:
        raise ValueError(f"wald_test: the coefficient of {', '.join(runaway)} may be infinite "
                         "(no Wald test); use lr_test, or test the finite terms only")
    v = result.robust_var if result.robust else result.var
    b = result.coef[idx]
    stat = float(b @ np.linalg.solve(v[np.ix_(idx, idx)], b))
    method = "Wald, robust variance" if result.robust else "Wald, model-based variance"
    return WaldResult(tuple(terms), stat, len(idx), float(sps.chi2.sf(stat, len(idx))), method)


@dataclass(frozen=True)
class LikelihoodRatioResult:
    """Likelihood-ratio chi-square between nested Cox models (R `anova(reduced, full)`).

    `statistic` = 2·(loglik_full − loglik_reduced) on `df` = the number of added `terms`;
    `loglik` is (reduced, full), the log partial likelihoods.
    """

    terms: tuple
    statistic: float
    df: int
    pvalue: float
    method: str
    loglik: tuple


def lr_test(full: CoxResult, reduced: CoxResult | None = None) -> LikelihoodRatioResult:
    """Likelihood-ratio test that the terms of `full` missing from `reduced` are all zero, as
    `anova(reduced, full)`; without `reduced`, against the null model (β = 0), as
    `summary(coxph)$logtest`.

    Both fits must be to the same observations with the same ties method, and `reduced`'s
    terms a subset of `full`'s. The test assumes independent observations: like R's anova,
    it refuses fits with a robust variance (a cluster, or non-whole weights; refit with
    `robust=False` to test as if independent, or use `wald_test` on the robust fit, which
    allows for clustering and is a different quantity).
    """
    fits = (full,) if reduced is None else (full, reduced)
    if any(f.robust for f in fits):
        raise ValueError("lr_test: a fit has a robust variance (cluster or non-whole weights); "
                         "the likelihood-ratio test assumes independent observations. Refit "
                         "with robust=False, or use wald_test for the cluster-robust test")
    if reduced is None:
        added, ll0 = tuple(t for t in full.terms if t not in full.aliased), full.loglik_null
    else:
        if (reduced.n, reduced.events, reduced.ties) != (full.n, full.events, full.ties):
            raise ValueError("lr_test: the models must be fitted to the same observations "
                             "with the same ties method")
        extra = set(reduced.terms) - set(full.terms)
        if extra:
            raise ValueError(f"lr_test: the models are not nested; {sorted(extra)} are in "
                             "the reduced model only")
        added = tuple(t for t in full.terms
                      if t not in reduced.terms and t not in full.aliased)
        ll0 = reduced.loglik
    if not added:
        raise ValueError("lr_test: the full model adds no terms")
    stat = 2 * (full.loglik - ll0)
    return LikelihoodRatioResult(added, float(stat), len(added),
                                 float(sps.chi2.sf(stat, len(added))), "likelihood ratio",
                                 (float(ll0), float(full.loglik)))


# --------------------------------------------------------------------------------------------
# Competing risks


def _as_time_status(time: Sequence[float], status: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    s = np.asarray(status, dtype=float)
    if t.ndim != 1 or t.shape != s.shape:
        raise ValueError("time and status must be one-dimensional and of equal length")
    if np.isnan(t).any() or np.isnan(s).any():
        raise ValueError("time and status must not contain missing values (drop them first)")
    if (t < 0).any():
        raise ValueError("times must be non-negative")
    return t, s


@dataclass(frozen=True)
class CumIncResult:
    """Aalen–Johansen cumulative incidence of one cause with Gray's variance (`cmprsk::cuminc`).

    One row per distinct time with an event of the cause: `est` is the value from that time on
    and `var` its variance as cuminc reports it (the variance moves only at the cause's own
    event times, though competing events before contribute). The interval is on the log(−log)
    scale, est^exp(±z·√var / (est·log est)), which keeps it inside (0, 1); cuminc prints none.
    `last_time` is the largest follow-up time (the curve is defined up to it).
    """

    time: np.ndarray = field(repr=False)
    est: np.ndarray = field(repr=False)
    var: np.ndarray = field(repr=False)
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)
    cause: float
    n: int
    events: int
    last_time: float
    conf_level: float

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"time": self.time, "est": self.est, "var": self.var,
                             "lower": self.lower, "upper": self.upper})


def _loglog_ci(est: np.ndarray, var: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (est > 0) & (est < 1)
        a = np.where(inner, z * np.sqrt(var) / (est * np.log(est)), np.nan)
        return np.where(inner, est ** np.exp(-a), np.nan), np.where(inner, est ** np.exp(a), np.nan)


def _cinc(t: np.ndarray, failed: np.ndarray, of_cause: np.ndarray):
    """cmprsk's Fortran `cinc` (Gray): estimate and variance at the cause's distinct event times."""
    ut, inv = np.unique(t, return_inverse=True)
    n_all = np.bincount(inv, minlength=ut.size).astype(float)
    nd1_all = np.bincount(inv, weights=of_cause, minlength=ut.size)
    nd2_all = np.bincount(inv, weights=failed - of_cause, minlength=ut.size)
    rs_all = np.cumsum(n_all[::-1])[::-1]
    fk, f, v1, v2, v3 = 1.0, 0.0, 0.0, 0.0, 0.0
    times, ests, vars_ = [], [], []
    for u, rs, nd1, nd2 in zip(ut, rs_all, nd1_all, nd2_all, strict=True):
        nd = nd1 + nd2
        if nd == 0:
            continue
        fkn = fk * (rs - nd) / rs
        if nd1 > 0:
            f = f + fk * nd1 / rs
        if nd2 > 0 and fkn > 0:
            t5 = 1 - (nd2 - 1.0) / (rs - 1.0) if nd2 > 1 else 1.0
            t6 = fk * fk * t5 * nd2 / (rs * rs)
            t3, t4 = 1.0 / fkn, f / fkn
            v1, v2, v3 = v1 + t4 * t4 * t6, v2 + t3 * t4 * t6, v3 + t3 * t3 * t6
        if nd1 > 0:
            t5 = 1 - (nd1 - 1.0) / (rs - 1.0) if nd1 > 1 else 1.0
            t6 = fk * fk * t5 * nd1 / (rs * rs)
            t3 = 1.0 / fkn if fkn > 0 else 0.0
            t4 = 1 + t3 * f
            v1, v2, v3 = v1 + t4 * t4 * t6, v2 + t3 * t4 * t6, v3 + t3 * t3 * t6
            times.append(u)
            ests.append(f)
            vars_.append(v1 + f * f * v3 - 2 * f * v2)
        fk = fkn
    return np.array(times), np.array(ests), np.array(vars_)


def cumulative_incidence(time: Sequence[float], status: Sequence[float], cause: float = 1,
                         conf_level: float = 0.95) -> CumIncResult:
    """Cumulative incidence of `cause` in the presence of competing events (status 0 censored).

    Follows cmprsk's `cinc` routine line by line, so estimate and variance equal `cuminc`'s.
    The estimate equals scikit-survival's `cumulative_incidence_competing_risks` (Aalen–Johansen);
    its variance is not Gray's, hence the port.
    """
    t, s = _as_time_status(time, status)
    failed = (s != 0).astype(float)
    of_cause = (s == cause).astype(float)
    ut, est, var = _cinc(t, failed, of_cause)
    lower, upper = _loglog_ci(est, var, _z(conf_level))
    return CumIncResult(ut, est, var, lower, upper, float(cause), int(t.size), int(of_cause.sum()),
                        float(t.max()) if t.size else float("nan"), conf_level)


@dataclass(frozen=True)
class CumIncAt:
    """Cumulative incidence at chosen times (`cmprsk::timepoints`); NaN beyond follow-up."""

    time: np.ndarray
    est: np.ndarray
    var: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def cumulative_incidence_at(fit: CumIncResult, times: Sequence[float]) -> CumIncAt:
    """Estimate, variance and interval at `times`: the value at the last event time ≤ t (0 before
    the first), NaN for t < 0 or t beyond the largest follow-up time, as `timepoints`."""
    tt = np.asarray(times, dtype=float)
    idx = np.searchsorted(fit.time, tt, side="right") - 1
    est = np.where(idx >= 0, fit.est[np.maximum(idx, 0)] if fit.est.size else 0.0, 0.0)
    var = np.where(idx >= 0, fit.var[np.maximum(idx, 0)] if fit.var.size else 0.0, 0.0)
    out = (tt < 0) | (tt > fit.last_time)
    est, var = np.where(out, np.nan, est), np.where(out, np.nan, var)
    lower, upper = _loglog_ci(est, var, _z(fit.conf_level))
    return CumIncAt(tt, est, var, lower, upper)


@dataclass(frozen=True)
class GrayResult:
    """Gray's (1988) k-sample test of equal cumulative incidence of one cause (`cuminc()$Tests`)."""

    statistic: float
    df: int
    pvalue: float
    groups: tuple
    score: np.ndarray = field(repr=False)
    variance: np.ndarray = field(repr=False)


def _crst(y: np.ndarray, m: np.ndarray, ig: np.ndarray, ng: int, rho: float):
    """cmprsk's Fortran `crst` for one stratum: scores of groups 1..ng−1 and their covariance.

    y sorted times; m 0 censored, 1 cause of interest, 2 other cause; ig group codes 0..ng−1.
    Variable names follow the Fortran (and the notation of Gray 1988).
    """
    ng1 = ng - 1
    rs = np.bincount(ig, minlength=ng).astype(float)
    s = np.zeros(ng1)
    v = np.zeros((ng1, ng1))
    f1m, f1 = np.zeros(ng), np.zeros(ng)
    skmm, skm = np.ones(ng), np.ones(ng)
    v3 = np.zeros(ng)
    v2 = np.zeros((ng1, ng))
    c = np.zeros((ng, ng))
    fm = 0.0
    ut, inv = np.unique(y, return_inverse=True)
    dcount = np.zeros((ut.size, 3, ng))
    np.add.at(dcount, (inv, m, ig), 1.0)
    leaving = np.zeros((ut.size, ng))
    np.add.at(leaving, (inv, ig), 1.0)
    for u in range(ut.size):
        d = dcount[u]
        nd1, nd2 = d[1].sum(), d[2].sum()
        if nd1 > 0 or nd2 > 0:
            live = rs > 0
            td = d[1] + d[2]
            skm = np.where(live, skmm * (rs - td) / np.where(live, rs, 1), skm)
            f1 = np.where(live, f1m + skmm * d[1] / np.where(live, rs, 1), f1)
            sk = np.where(live, skmm, 1.0)  # a group's KM is 0 only once its risk set is empty
            tr = float(np.sum(np.where(live, rs / sk, 0.0)))
            tq = float(np.sum(np.where(live, rs * (1 - f1m) / sk, 0.0)))
            f = fm + nd1 / tr
            fb = (1 - fm) ** rho
            t1 = np.where(live, rs / sk, 0.0)
            a = -fb * np.outer(t1, t1) / tr
            a[np.diag_indices(ng)] = fb * t1 * (1 - t1 / tr)
            a[~live, :] = 0.0
            a[:, ~live] = 0.0
            c += a * nd1 / (tr * (1 - fm))
            for i in range(ng1):
                if rs[i] > 0:
                    s[i] += fb * (d[1, i] - nd1 * rs[i] * (1 - f1m[i]) / (skmm[i] * tq))
            if nd1 > 0:
                for k in range(ng):
                    if rs[k] <= 0:
                        continue
                    t4 = 1 - (1 - f) / skm[k] if skm[k] > 0 else 1.0
                    t5 = 1 - (nd1 - 1) / (tr * skmm[k] - 1) if nd1 > 1 else 1.0
                    t3 = t5 * skmm[k] * nd1 / (tr * rs[k])
                    v3[k] += t4 * t4 * t3
                    t1k = a[:ng1, k] - t4 * c[:ng1, k]
                    v2[:, k] += t1k * t4 * t3
                    v += np.outer(t1k, t1k) * t3
            if nd2 > 0:
                for k in range(ng):
                    if skm[k] <= 0 or d[2, k] <= 0:
                        continue
                    t4 = (1 - f) / skm[k]
                    t5 = 1 - (d[2, k] - 1.0) / (rs[k] - 1.0) if d[2, k] > 1 else 1.0
                    t3 = t5 * (skmm[k] ** 2) * d[2, k] / (rs[k] ** 2)
                    v3[k] += t4 * t4 * t3
                    t1k = t4 * c[:ng1, k]
                    v2[:, k] -= t1k * t4 * t3
                    v += np.outer(t1k, t1k) * t3
            fm = f
            f1m = f1.copy()
            skmm = skm.copy()
        rs = rs - leaving[u]
    cc = c[:ng1]
    v += (cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T
    return s, v


def gray_test(time: Sequence[float], status: Sequence[float], group: Sequence, cause: float = 1,
              rho: float = 0.0) -> GrayResult:
    """Gray's test that the cumulative incidence of `cause` is equal across groups.

    Our port of cmprsk's `crstm`/`crst` (single stratum): a weighted difference of subdistribution
    hazards, weight (1 − F(t−))^rho (rho = 0, cuminc's default). Statistic s'V⁻¹s on
    (groups − 1) df. Groups ordered as R's factor levels. The p-value is the chi-square upper
    tail computed directly; cuminc's `1 - pchisq(stat)` carries an absolute error of ~1e-16, so
    very small p-values agree with it only to that absolute accuracy.
    """
    t, s = _as_time_status(time, status)
    g = pd.Categorical(group).remove_unused_categories()
    codes = np.asarray(g.codes)
    if codes.size != t.size or (codes < 0).any():
        raise ValueError("group must have one non-missing label per observation")
    ng = len(g.categories)
    if ng < 2:
        raise ValueError("gray_test needs at least two groups")
    m = np.where(s == 0, 0, np.where(s == cause, 1, 2))
    order = np.argsort(t, kind="stable")
    score, var = _crst(t[order], m[order], codes[order], ng, rho)
    stat = float(score @ np.linalg.solve(var, score))
    return GrayResult(stat, ng - 1, float(sps.chi2.sf(stat, ng - 1)), tuple(g.categories), score,
                      var)


# --------------------------------------------------------------------------------------------
# Rates


@dataclass(frozen=True)
class RateRatioResult:
    """Event rates per person-year by group and rate ratios against the first group.

    `rate` is events / person-years per group (crude). `ratio`, `conf_low`, `conf_high`, `se`
    (of the log ratio), `z` and `pvalue` are per non-reference group, from a Poisson GLM with
    log(person-years) offset: Wald intervals exp(b ± z·se), as `confint.default` on R's glm.
    """

    groups: tuple
    events: np.ndarray
    person_years: np.ndarray
    rate: np.ndarray
    coef: np.ndarray
    se: np.ndarray
    ratio: np.ndarray
    conf_low: np.ndarray
    conf_high: np.ndarray
    z: np.ndarray
    pvalue: np.ndarray
    clustered: bool
    conf_level: float


def poisson_rate_ratio(count: Sequence[float], person_years: Sequence[float], group: Sequence,
                       cluster: Sequence | None = None, conf_level: float = 0.95
                       ) -> RateRatioResult:
    """Rate ratio by Poisson regression, equal to `glm(count ~ group + offset(log(py)),
    family=poisson)` in R (coefficients, SEs, Wald intervals and z-test p-values).

    With `cluster`, the SEs are statsmodels' cluster-robust sandwich (`cov_type="cluster"`,
    CR1 with the G/(G−1)·(n−1)/(n−k) small-sample factor) and the test stays normal.
    """
    y = np.asarray(count, dtype=float)
    py = np.asarray(person_years, dtype=float)
    if y.shape != py.shape or (py <= 0).any():
        raise ValueError("count and person_years must match, person_years positive")
    g = pd.Categorical(group).remove_unused_categories()
    codes = np.asarray(g.codes)
    if codes.size != y.size or (codes < 0).any():
        raise ValueError("group must have one non-missing label per observation")
    k = len(g.categories)
    x = np.column_stack([np.ones(y.size)] + [(codes == j).astype(float) for j in range(1, k)])
    model = sm.GLM(y, x, family=sm.families.Poisson(), offset=np.log(py))
    if cluster is None:
        res = model.fit(tol=1e-14, maxiter=100)
    else:
        labels = pd.factorize(pd.Series(np.asarray(cluster)), use_na_sentinel=False)[0]
        res = model.fit(tol=1e-14, maxiter=100, cov_type="cluster",
                        cov_kwds={"groups": labels, "use_correction": True})
    coef = np.asarray(res.params)[1:]
    se = np.asarray(res.bse)[1:]
    zq = _z(conf_level)
    z = coef / se
    events = np.bincount(codes, weights=y, minlength=k)
    pyears = np.bincount(codes, weights=py, minlength=k)
    return RateRatioResult(tuple(g.categories), events, pyears, events / pyears, coef, se,
                           np.exp(coef), np.exp(coef - zq * se), np.exp(coef + zq * se), z,
                           2 * sps.norm.sf(np.abs(z)), cluster is not None, conf_level)
