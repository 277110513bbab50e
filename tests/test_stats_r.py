"""Cross-check every statistic against R itself: relative tolerance 1e-10 (absolute 1e-300 for
p-values that underflow). Locally skipped without Rscript; required in CI (CI=true)."""

from __future__ import annotations

import numpy as np
import pytest

from rehabkoord import stats

REL = 1e-10
pytestmark = pytest.mark.r


def rvec(values) -> str:
    return "c(" + ",".join(repr(float(v)) for v in values) + ")"


def parse(out: str) -> list[list[float]]:
    rows = []
    for line in out.strip().splitlines():
        if line.startswith("ROW"):
            rows.append([float(v) for v in line.split()[1:]])
    return rows


def close(a: float, b: float, scale: float = 0.0) -> bool:
    """Relative 1e-10; for roots found on an interval, relative to the interval's `scale`
    (a root near zero carries the absolute rounding of its search interval)."""
    if np.isinf(a) or np.isinf(b):
        return a == b
    return abs(a - b) <= REL * max(abs(a), abs(b), scale) + 1e-300


def random_tables(seed: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    tables = []
    for _ in range(n):
        size = int(rng.choice([4, 10, 30, 124, 600]))
        p = rng.dirichlet(np.ones(4))
        t = rng.multinomial(size, p).reshape(2, 2)
        if (t.sum(axis=0) > 0).all() and (t.sum(axis=1) > 0).all():
            tables.append(t)
    tables.append(np.array([[9, 12], [1, 11]]))  # the study's male subgroup
    tables.append(np.array([[0, 7], [5, 3]]))
    return tables


def test_chisq_and_fisher_2x2_agree_with_r(run_r):
    tables = random_tables(1, 40)
    code = ["fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')"]
    for t in tables:
        m = f"matrix({rvec(t.T.ravel())}, 2)"
        code.append(f"x <- {m}; a <- suppressWarnings(chisq.test(x)); b <- suppressWarnings("
                    "chisq.test(x, correct=FALSE)); f <- fisher.test(x); "
                    "fmt(c(a$statistic, a$p.value, b$statistic, b$p.value, f$p.value, "
                    "f$estimate, f$conf.int))")
    rows = parse(run_r("\n".join(code)))
    assert len(rows) == len(tables)
    for t, r in zip(tables, rows, strict=True):
        a, b, f = stats.chisq_test(t), stats.chisq_test(t, correct=False), stats.fisher_test(t)
        mine = [a.statistic, a.pvalue, b.statistic, b.pvalue, f.pvalue, f.odds_ratio,
                f.conf_low, f.conf_high]
        for got, want in zip(mine, r, strict=True):
            if np.isnan(want):
                assert np.isnan(got)
            else:
                assert close(got, want), (t.tolist(), mine, r)


def test_fisher_2xk_agrees_with_r(run_r):
    rng = np.random.default_rng(2)
    tables = []
    for _ in range(25):
        k = int(rng.integers(3, 6))
        t = rng.multinomial(int(rng.choice([12, 30, 62])), rng.dirichlet(np.ones(2 * k)))
        t = t.reshape(2, k)
        if (t.sum(axis=0) > 0).all() and (t.sum(axis=1) > 0).all():
            tables.append(t)
    code = ["fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')"]
    for t in tables:
        code.append(f"fmt(fisher.test(matrix({rvec(t.T.ravel())}, 2))$p.value)")
    rows = parse(run_r("\n".join(code)))
    for t, r in zip(tables, rows, strict=True):
        # R's FEXACT sums in a different order; agreement is to its own 1e-7 tie tolerance
        # only for tables with near-tied probabilities, so the bound here is 1e-10 relative.
        assert close(stats.fisher_test(t).pvalue, r[0]), t.tolist()


def samples(seed: int):
    rng = np.random.default_rng(seed)
    cases = []
    for nx, ny in [(5, 7), (12, 9), (30, 31), (49, 45), (55, 60), (62, 62), (3, 80)]:
        cases.append((rng.normal(10, 3, nx), rng.normal(11, 3, ny)))  # no ties
        zero = lambda n: np.where(rng.random(n) < 0.4, 0.0,  # noqa: E731
                                  np.round(rng.gamma(0.9, 150, n) * 4) / 4)
        cases.append((zero(nx), zero(ny)))  # zero-inflated, tied, quarter days
        cases.append((rng.integers(0, 5, nx).astype(float), rng.integers(0, 5, ny).astype(float)))
    return cases


def test_wilcoxon_agrees_with_r(run_r):
    cases = samples(3)
    code = ["fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')"]
    for x, y in cases:
        code.append(f"w <- suppressWarnings(wilcox.test({rvec(x)}, {rvec(y)}, conf.int=TRUE)); "
                    "fmt(c(w$statistic, w$p.value, w$estimate, w$conf.int))")
    rows = parse(run_r("\n".join(code)))
    assert len(rows) == len(cases)
    for (x, y), r in zip(cases, rows, strict=True):
        res = stats.wilcox_test(x, y)
        mine = [res.statistic, res.pvalue, res.estimate, res.conf_low, res.conf_high]
        span = float(max(x.max(), y.max()) - min(x.min(), y.min()))
        assert close(mine[0], r[0]) and close(mine[1], r[1]), (len(x), len(y), mine, r)
        for got, want in zip(mine[2:], r[2:], strict=True):
            assert close(got, want, span), (len(x), len(y), mine, r)


def test_power_prop_test_agrees_with_r(run_r):
    cases = [(0.3, 0.5, 0.8), (0.1, 0.25, 0.9), (0.45, 0.55, 0.8), (0.2, 0.6, 0.8)]
    code = ["fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')"]
    for p1, p2, pw in cases:
        code.append(f"a <- power.prop.test(p1={p1}, p2={p2}, power={pw}); "
                    f"b <- power.prop.test(n=53, p1={p1}, power={pw}); "
                    f"c <- power.prop.test(n=62, p1={p1}, p2={p2}); fmt(c(a$n, b$p2, c$power))")
    rows = parse(run_r("\n".join(code)))
    for (p1, p2, pw), r in zip(cases, rows, strict=True):
        mine = [stats.power_prop_test(p1=p1, p2=p2, power=pw).n,
                stats.power_prop_test(n=53, p1=p1, power=pw).p2,
                stats.power_prop_test(n=62, p1=p1, p2=p2).power]
        for got, want in zip(mine, r, strict=True):
            assert close(got, want), (p1, p2, mine, r)


def test_holm_and_wilson_agree_with_r(run_r):
    p = [0.01, 0.2, 0.03, 0.004, 0.5, 0.049]
    counts = [(9, 21, 1, 12), (56, 70, 48, 80), (0, 10, 3, 12), (30, 62, 18, 62)]
    code = ["fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')",
            f"fmt(p.adjust({rvec(p)}, 'holm'))"]
    for x1, n1, x2, n2 in counts:
        # Newcombe method 10 from R's own Wilson intervals (prop.test without correction)
        code.append(f"a <- prop.test({x1}, {n1}, correct=FALSE)$conf.int; "
                    f"b <- prop.test({x2}, {n2}, correct=FALSE)$conf.int; "
                    f"p1 <- {x1}/{n1}; p2 <- {x2}/{n2}; d <- p1 - p2; "
                    "fmt(c(d - sqrt((p1-a[1])^2 + (b[2]-p2)^2), d + sqrt((a[2]-p1)^2 + (p2-b[1])^2)))")
    rows = parse(run_r("\n".join(code)))
    assert all(close(g, w) for g, w in zip(stats.holm(p), rows[0], strict=True))
    for (x1, n1, x2, n2), r in zip(counts, rows[1:], strict=True):
        rd = stats.risk_difference(x1, n1, x2, n2)
        # statsmodels' Wilson limits and R's prop.test differ in the last bits only
        assert rd.conf_low == pytest.approx(r[0], rel=1e-9, abs=1e-12)
        assert rd.conf_high == pytest.approx(r[1], rel=1e-9, abs=1e-12)


def test_kruskal_wallis_agrees_with_r(run_r):
    rng = np.random.default_rng(11)
    cases = []
    for k in (2, 3, 5):
        groups = [rng.normal(i * 0.3, 1, int(rng.integers(3, 40))) for i in range(k)]
        cases.append(groups)
        cases.append([np.round(g * 2) for g in groups])  # heavy ties
        cases.append([np.where(rng.random(len(g)) < 0.6, 0.0, np.abs(g) * 100)
                      for g in groups])  # zero-inflated
    code = ["fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')"]
    for groups in cases:
        values = np.concatenate(groups)
        labels = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
        code.append(f"k <- kruskal.test({rvec(values)}, factor({rvec(labels)})); "
                    "fmt(c(k$statistic, k$parameter, k$p.value))")
    rows = parse(run_r("\n".join(code)))
    assert len(rows) == len(cases)
    for groups, r in zip(cases, rows, strict=True):
        res = stats.kruskal_test(groups)
        assert close(res.statistic, r[0]) and res.df == r[1] and close(res.pvalue, r[2]), \
            (res, r)
