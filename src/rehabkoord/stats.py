"""Hypothesis tests and effect sizes that agree with R (the study was analysed in R).

Each function mirrors one R function and returns a result object with named fields, in the
manner of `scipy.stats`: `chisq_test` (R `chisq.test`), `fisher_test` (R `fisher.test`),
`wilcox_test` (R `wilcox.test`), `kruskal_test` (R `kruskal.test`), `power_prop_test`
(R `power.prop.test`). Defaults are R's.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln, ndtr, ndtri

from .rmath import UNIROOT_TOL, pwilcox, qwilcox, uniroot


class _Lazy:
    """A module imported on first use: scipy.stats and statsmodels cost most of a second to
    import, and a stage that needs only `power_prop_test` (the appendix) never uses them."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


sps = _Lazy("scipy.stats")
_proportion = _Lazy("statsmodels.stats.proportion")


def _rankdata(values: np.ndarray) -> np.ndarray:
    """Average ranks, as scipy.stats.rankdata (its algorithm and bits: first position + (ties −
    1) / 2, exact half-integers), without importing scipy.stats; no NaN in `values`."""
    order = np.argsort(values, kind="quicksort")
    ordered = values[order]
    first = np.concatenate([[True], ordered[:-1] != ordered[1:]])
    starts = np.flatnonzero(first)
    counts = np.diff(starts, append=len(values))
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.repeat(starts + 1 + (counts - 1) / 2, counts)
    return ranks

EPS = float(np.finfo(float).eps)
FISHER_REL_ERR = 1 + 1e-7  # R treats probabilities within this factor of the observed as equal


@dataclass(frozen=True)
class ChisqResult:
    """Pearson's chi-square test of independence (R `chisq.test`)."""

    statistic: float
    df: int
    pvalue: float
    expected: np.ndarray = field(repr=False)
    correct: bool
    method: str


def chisq_test(table: Sequence[Sequence[float]], correct: bool = True) -> ChisqResult:
    """Pearson's chi-square on an r×c table; Yates' correction on 2×2 tables when `correct`.

    As R: the correction subtracts min(0.5, |O − E|) from every |O − E| and is used only for
    2×2 tables.
    """
    x = np.asarray(table, dtype=float)
    if x.ndim != 2 or min(x.shape) < 2:
        raise ValueError("chisq_test needs a table with at least 2 rows and 2 columns")
    n = x.sum()
    expected = np.outer(x.sum(axis=1), x.sum(axis=0)) / n
    use_yates = correct and x.shape == (2, 2)
    yates = min(0.5, float(np.abs(x - expected).min())) if use_yates else 0.0
    statistic = float(np.sum((np.abs(x - expected) - yates) ** 2 / expected))
    df = (x.shape[0] - 1) * (x.shape[1] - 1)
    method = "Pearson's Chi-squared test" + (" with Yates' continuity correction"
                                             if use_yates else "")
    return ChisqResult(statistic, df, float(sps.chi2.sf(statistic, df)), expected, use_yates,
                       method)


@dataclass(frozen=True)
class FisherResult:
    """Fisher's exact test (R `fisher.test`); odds ratio fields only for 2×2 tables."""

    pvalue: float
    method: str
    odds_ratio: float | None = None
    conf_low: float | None = None
    conf_high: float | None = None
    conf_level: float = 0.95

    def confidence_interval(self) -> tuple[float, float]:
        """Exact conditional interval of the odds ratio (2×2 tables only)."""
        if self.conf_low is None:
            raise ValueError("a confidence interval exists only for 2×2 tables")
        return self.conf_low, self.conf_high


def _log_choose(n: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
    return gammaln(np.asarray(n) + 1.0) - gammaln(np.asarray(k) + 1.0) - gammaln(
        np.asarray(n) - np.asarray(k) + 1.0)


def _fisher_2x2(x: np.ndarray, conf_level: float) -> FisherResult:
    m, n = int(x[:, 0].sum()), int(x[:, 1].sum())
    k, x11 = int(x[0, :].sum()), int(x[0, 0])
    lo, hi = max(0, k - n), min(k, m)
    support = np.arange(lo, hi + 1)
    logdc = sps.hypergeom.logpmf(support, m + n, m, k)
    hyper = sps.hypergeom(m + n, m, k)

    def dnhyper(ncp: float) -> np.ndarray:
        d = logdc + math.log(ncp) * support
        d = np.exp(d - d.max())
        return d / d.sum()

    def mnhyper(ncp: float) -> float:
        if ncp == 0:
            return float(lo)
        if ncp == math.inf:
            return float(hi)
        return float(np.sum(support * dnhyper(ncp)))

    def pnhyper(q: int, ncp: float, upper_tail: bool = False) -> float:
        if ncp == 1:
            return float(hyper.sf(x11 - 1) if upper_tail else hyper.cdf(x11))
        if ncp == 0:
            return float(q <= lo if upper_tail else q >= lo)
        if ncp == math.inf:
            return float(q <= hi if upper_tail else q >= hi)
        d = dnhyper(ncp)
        return float(np.sum(d[support >= q] if upper_tail else d[support <= q]))

    d = dnhyper(1.0)
    pvalue = float(np.sum(d[d <= d[x11 - lo] * FISHER_REL_ERR]))

    def mle() -> float:
        if x11 == lo:
            return 0.0
        if x11 == hi:
            return math.inf
        mu = mnhyper(1.0)
        if mu > x11:
            return uniroot(lambda t: mnhyper(t) - x11, 0.0, 1.0)
        if mu < x11:
            return 1 / uniroot(lambda t: mnhyper(1 / t) - x11, EPS, 1.0)
        return 1.0

    def ncp_upper(alpha: float) -> float:
        if x11 == hi:
            return math.inf
        p = pnhyper(x11, 1.0)
        if p < alpha:
            return uniroot(lambda t: pnhyper(x11, t) - alpha, 0.0, 1.0)
        if p > alpha:
            return 1 / uniroot(lambda t: pnhyper(x11, 1 / t) - alpha, EPS, 1.0)
        return 1.0

    def ncp_lower(alpha: float) -> float:
        if x11 == lo:
            return 0.0
        p = pnhyper(x11, 1.0, upper_tail=True)
        if p > alpha:
            return uniroot(lambda t: pnhyper(x11, t, True) - alpha, 0.0, 1.0)
        if p < alpha:
            return 1 / uniroot(lambda t: pnhyper(x11, 1 / t, True) - alpha, EPS, 1.0)
        return 1.0

    alpha = (1 - conf_level) / 2
    return FisherResult(max(0.0, min(1.0, pvalue)),
                        "Fisher's Exact Test for Count Data", mle(), ncp_lower(alpha),
                        ncp_upper(alpha), conf_level)


def _fisher_2xk(x: np.ndarray) -> FisherResult:
    """Exact two-sided p for a 2×k table by full enumeration of tables with the same margins."""
    if x.shape[0] != 2:
        x = x.T
    cols = x.sum(axis=0).astype(int)
    r1 = int(x[0].sum())
    n = int(cols.sum())
    logp_obs = float(np.sum(_log_choose(cols, x[0].astype(int))) - _log_choose(n, r1))
    partial_sum = np.zeros(1, dtype=np.int64)
    partial_logp = np.zeros(1)
    remaining = np.concatenate([np.cumsum(cols[::-1])[::-1][1:], [0]])
    for j, c in enumerate(cols):
        xs = np.arange(c + 1)
        s = (partial_sum[:, None] + xs[None, :]).ravel()
        lp = (partial_logp[:, None] + _log_choose(c, xs)[None, :]).ravel()
        feasible = (s <= r1) & (s + remaining[j] >= r1)
        partial_sum, partial_logp = s[feasible], lp[feasible]
    logp = partial_logp - _log_choose(n, r1)
    probs = np.exp(logp)
    pvalue = float(np.sum(probs[probs <= math.exp(logp_obs) * FISHER_REL_ERR]))
    return FisherResult(max(0.0, min(1.0, pvalue)), "Fisher's Exact Test for Count Data")


def fisher_test(table: Sequence[Sequence[int]], conf_level: float = 0.95) -> FisherResult:
    """Fisher's exact test, two-sided as R defines it (sum of tables no more probable).

    2×2 tables also give R's conditional maximum-likelihood odds ratio and its exact interval;
    2×k and k×2 tables are enumerated exactly (no simulation).
    """
    x = np.asarray(table)
    if x.ndim != 2 or min(x.shape) < 2:
        raise ValueError("fisher_test needs a table with at least 2 rows and 2 columns")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("fisher_test needs non-negative whole counts")
    x = x.astype(np.int64)
    if x.shape == (2, 2):
        return _fisher_2x2(x, conf_level)
    if 2 not in x.shape:
        raise NotImplementedError("fisher_test supports 2×k and k×2 tables (group comparisons)")
    return _fisher_2xk(x)


@dataclass(frozen=True)
class CategoricalResult:
    """The test chosen for a contingency table, as gtsummary chooses it."""

    test: str  # "fisher" or "chisq"
    pvalue: float
    statistic: float | None
    method: str
    min_expected: float
    detail: FisherResult | ChisqResult = field(repr=False)


def categorical_test(table: Sequence[Sequence[int]], *, expected_below: float = 5.0,
                     correct: bool = True, conf_level: float = 0.95) -> CategoricalResult:
    """Fisher's exact test when any expected count is below `expected_below`, else chi-square.

    `detail` holds the chosen test's own result (for Fisher on 2×2: the odds ratio and CI).
    """
    x = np.asarray(table, dtype=float)
    chi = chisq_test(x, correct=correct)
    min_expected = float(chi.expected.min())
    if min_expected < expected_below:
        res = fisher_test(x, conf_level)
        return CategoricalResult("fisher", res.pvalue, None, res.method, min_expected, res)
    return CategoricalResult("chisq", chi.pvalue, chi.statistic, chi.method, min_expected, chi)


@dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon rank-sum test (R `wilcox.test(x, y, conf.int = TRUE)`).

    `statistic` is R's W (rank sum of `x` minus n_x(n_x+1)/2); `estimate` the Hodges–Lehmann
    location shift x − y with its interval.
    """

    statistic: float
    pvalue: float
    exact: bool
    method: str
    estimate: float
    conf_low: float
    conf_high: float
    conf_level: float

    def confidence_interval(self) -> tuple[float, float]:
        return self.conf_low, self.conf_high


def wilcox_test(x: Sequence[float], y: Sequence[float], *, exact: bool | None = None,
                correct: bool = True, conf_level: float = 0.95,
                tol_root: float = 1e-4) -> WilcoxonResult:
    """Two-sided Wilcoxon rank-sum test with R's defaults.

    Exact p and interval when both groups have fewer than 50 observations and there are no
    ties; otherwise the normal approximation with tie and continuity correction, and the
    interval and estimate found by R's root search.
    """
    x, y, rank_sum = _rank_sum(x, y, exact, correct)
    nx, ny = float(len(x)), float(len(y))
    statistic = rank_sum.statistic
    alpha = 1 - conf_level
    if rank_sum.exact:
        m, n = len(x), len(y)
        diffs = np.sort(np.subtract.outer(x, y).ravel())
        qu = qwilcox(alpha / 2, m, n)
        if qu == 0:
            qu = 1
        ql = m * n - qu
        achieved = 2 * pwilcox(math.trunc(qu) - 1, m, n)
        level = 1 - achieved if achieved - alpha > alpha / 2 else conf_level
        return WilcoxonResult(statistic, rank_sum.pvalue, True,
                              "Wilcoxon rank sum exact test", float(np.median(diffs)),
                              float(diffs[qu - 1]), float(diffs[ql]), level)

    method = "Wilcoxon rank sum test" + (" with continuity correction" if correct else "")

    def w_stat(d: float, use_correction: bool) -> float:
        dr = _rankdata(np.concatenate([x - d, y]))
        ties_ci = np.unique(dr, return_counts=True)[1].astype(float)
        dz = float(np.sum(dr[: len(x)])) - nx * (nx + 1) / 2 - nx * ny / 2
        corr = float(np.sign(dz)) * 0.5 if use_correction else 0.0
        sig = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - np.sum(ties_ci**3 - ties_ci)
                                          / ((nx + ny) * (nx + ny - 1))))
        if sig == 0:
            raise ValueError("cannot compute confidence interval when all observations are tied")
        return (dz - corr) / sig

    mumin, mumax = float(x.min() - y.max()), float(x.max() - y.min())
    w_min, w_max = w_stat(mumin, correct), w_stat(mumax, correct)

    def root(zq: float) -> float:
        f_lower = w_min - zq
        if f_lower <= 0:
            return mumin
        f_upper = w_max - zq
        if f_upper >= 0:
            return mumax
        return uniroot(lambda d: w_stat(d, correct) - zq, mumin, mumax,
                       f_lower=f_lower, f_upper=f_upper, tol=tol_root)

    low = root(float(-ndtri(alpha / 2)))  # scipy.stats.norm's isf and ppf, the same bits
    high = root(float(ndtri(alpha / 2)))
    estimate = uniroot(lambda d: w_stat(d, False), mumin, mumax, tol=tol_root)
    return WilcoxonResult(statistic, rank_sum.pvalue, False, method, estimate, low, high,
                          conf_level)


@dataclass(frozen=True)
class RankSum:
    """W and the two-sided p of the Wilcoxon rank-sum test, without estimate or interval."""

    statistic: float
    pvalue: float
    exact: bool


def _rank_sum(x: Sequence[float], y: Sequence[float], exact: bool | None,
              correct: bool) -> tuple[np.ndarray, np.ndarray, RankSum]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) < 1 or len(y) < 1:
        raise ValueError("wilcox_test needs at least one observation in each group")
    nx, ny = float(len(x)), float(len(y))
    r = _rankdata(np.concatenate([x, y]))
    statistic = float(np.sum(r[: len(x)]) - nx * (nx + 1) / 2)
    n_ties = np.unique(r, return_counts=True)[1].astype(float)
    if exact is None:
        exact = nx < 50 and ny < 50
    if exact and len(n_ties) == len(r):
        m, n = len(x), len(y)
        if statistic > nx * ny / 2:
            p = pwilcox(statistic - 1, m, n, lower_tail=False)
        else:
            p = pwilcox(statistic, m, n)
        return x, y, RankSum(statistic, min(2 * p, 1.0), True)
    z = statistic - nx * ny / 2
    sigma = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - np.sum(n_ties**3 - n_ties)
                                        / ((nx + ny) * (nx + ny - 1))))
    if sigma == 0:
        raise ValueError("all observations are tied: the Wilcoxon test is undefined")
    correction = float(np.sign(z)) * 0.5 if correct else 0.0
    z = (z - correction) / sigma
    # scipy.stats.norm's cdf(z) and sf(z) are ndtr(z) and ndtr(-z), bit for bit
    return x, y, RankSum(statistic, float(2 * min(ndtr(z), ndtr(-z))), False)


def wilcox_pvalue(x: Sequence[float], y: Sequence[float], *, exact: bool | None = None,
                  correct: bool = True) -> RankSum:
    """`wilcox_test` without the Hodges–Lehmann estimate and interval (their root search is
    most of its cost): the same W and p, for simulations that use only the p-value."""
    return _rank_sum(x, y, exact, correct)[2]


@dataclass(frozen=True)
class KruskalResult:
    """Kruskal–Wallis rank-sum test (R `kruskal.test`)."""

    statistic: float
    df: int
    pvalue: float
    method: str = "Kruskal-Wallis rank sum test"


def kruskal_test(groups: Sequence[Sequence[float]]) -> KruskalResult:
    """Kruskal–Wallis test of k ≥ 2 groups, as R: mid-ranks, tie-corrected H, chi-square(k − 1).

    NaN values are dropped (R's `na.omit`); groups left empty are ignored, as R does.
    """
    parts = [np.asarray(g, dtype=float) for g in groups]
    parts = [g[~np.isnan(g)] for g in parts]
    parts = [g for g in parts if len(g) > 0]
    if len(parts) < 2:
        raise ValueError("kruskal_test needs at least two groups with observations")
    values = np.concatenate(parts)
    n = len(values)
    ranks = sps.rankdata(values)
    bounds = np.cumsum([0] + [len(g) for g in parts])
    h = sum(ranks[a:b].sum() ** 2 / (b - a) for a, b in zip(bounds[:-1], bounds[1:],
                                                               strict=True))
    ties = np.unique(values, return_counts=True)[1].astype(float)
    denominator = 1 - np.sum(ties**3 - ties) / (n**3 - n)
    if denominator == 0:
        raise ValueError("all observations are tied: the Kruskal-Wallis test is undefined")
    statistic = float((12 * h / (n * (n + 1)) - 3 * (n + 1)) / denominator)
    df = len(parts) - 1
    return KruskalResult(statistic, df, float(sps.chi2.sf(statistic, df)))


@dataclass(frozen=True)
class RiskDifference:
    """Difference in proportions p1 − p2 with Newcombe's hybrid score (Wilson) interval."""

    estimate: float
    conf_low: float
    conf_high: float
    conf_level: float

    def confidence_interval(self) -> tuple[float, float]:
        return self.conf_low, self.conf_high


def risk_difference(x1: int, n1: int, x2: int, n2: int,
                    conf_level: float = 0.95) -> RiskDifference:
    """x1/n1 − x2/n2 (a proportion; ×100 for percentage points), Newcombe (1998) method 10."""
    low, high = _proportion.confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff",
                                           alpha=1 - conf_level)
    return RiskDifference(x1 / n1 - x2 / n2, float(low), float(high), conf_level)


@dataclass(frozen=True)
class PowerResult:
    """Two-sample comparison of proportions power calculation (R `power.prop.test`)."""

    n: float
    p1: float
    p2: float
    sig_level: float
    power: float


def power_prop_test(n: float | None = None, p1: float | None = None, p2: float | None = None,
                    sig_level: float = 0.05, power: float | None = None,
                    tol: float = UNIROOT_TOL) -> PowerResult:
    """Solve for the one of `n` (per group), `p2` or `power` that is None, as R does (two-sided,
    strict = FALSE)."""
    if sum(v is None for v in (n, p1, p2, power)) != 1:
        raise ValueError("exactly one of n, p1, p2 and power must be None")
    # the standard normal through scipy.special: the same functions (and bits) as
    # scipy.stats.norm's isf and cdf, without importing scipy.stats
    qu = float(-ndtri(sig_level / 2))

    def body(n_: float, p1_: float, p2_: float) -> float:
        return float(ndtr((math.sqrt(n_ * (p1_ - p2_) ** 2)
                                   - qu * math.sqrt((p1_ + p2_) * (1 - (p1_ + p2_) / 2)))
                                  / math.sqrt(p1_ * (1 - p1_) + p2_ * (1 - p2_))))

    if power is None:
        power = body(n, p1, p2)
    elif n is None:
        n = uniroot(lambda v: body(v, p1, p2) - power, 1.0, 1e7, tol=tol, extend_int="upX")
    elif p2 is None:
        p2 = uniroot(lambda v: body(n, p1, v) - power, p1, 1.0, tol=tol, extend_int="yes")
    else:
        p1 = uniroot(lambda v: body(n, v, p2) - power, 0.0, p2, tol=tol, extend_int="yes")
    return PowerResult(n, p1, p2, sig_level, power)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (R `p.adjust(p, "holm")`); NaN entries stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():  # statsmodels' multipletests(method="holm") arithmetic, without its gc.collect()
        valid = p[ok]
        order = np.argsort(valid)
        adjusted = np.maximum.accumulate(np.take(valid, order) * np.arange(len(valid), 0, -1))
        adjusted[adjusted > 1] = 1
        unsorted = np.empty_like(adjusted)
        unsorted[order] = adjusted
        out[ok] = unsorted
    return out


def simulated_power(simulate, n_sim: int, alpha: float, seed: int) -> float:
    """Share of `n_sim` simulated trials with p < `alpha`; `simulate(rng)` returns one p-value."""
    rng = np.random.default_rng(seed)
    return sum(simulate(rng) < alpha for _ in range(n_sim)) / n_sim
