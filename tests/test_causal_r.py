"""Cross-check the propensity model against R's glm and the cluster-robust means against the CR1
sandwich written out in base R matrix algebra (an independent implementation). Relative
tolerance 1e-8. Locally skipped without Rscript; required in CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rehabkoord import causal

pytestmark = pytest.mark.r
REL = 1e-8
FMT = "fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')"


def rvec(values) -> str:
    return "c(" + ",".join(repr(float(v)) for v in values) + ")"


def parse(out: str) -> list[np.ndarray]:
    return [np.array([float(v) for v in line.split()[1:]]) for line in out.strip().splitlines()
            if line.startswith("ROW")]


def assert_close(got, want, what: str = "") -> None:
    got, want = np.atleast_1d(np.asarray(got, float)), np.atleast_1d(np.asarray(want, float))
    assert got.shape == want.shape, what
    err = np.abs(got - want) / np.maximum(np.maximum(np.abs(got), np.abs(want)), 1e-300)
    assert (err <= REL).all(), (what, float(err.max()), got, want)


def test_propensity_model_agrees_with_glm(run_r):
    rng = np.random.default_rng(41)
    cases = []
    for n in (60, 400):
        age = np.round(rng.uniform(25, 64, n))
        female = rng.integers(0, 2, n).astype(float)
        days = np.round(rng.gamma(1.0, 90, n))
        lin = -3 + 0.05 * age + 0.4 * female - 0.003 * days
        trt = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(float)
        cases.append((trt, pd.DataFrame({"age": age, "female": female, "days": days})))
    # glm stops at a 1e-8 relative change in deviance; asked to converge fully here
    code = [FMT, "ctl <- glm.control(epsilon=1e-14, maxit=100)"]
    for trt, cov in cases:
        code.append(f"d <- data.frame(t={rvec(trt)}, age={rvec(cov.age)}, "
                    f"female={rvec(cov.female)}, days={rvec(cov.days)}); "
                    "m <- glm(t ~ age + female + days, family=binomial, data=d, control=ctl); "
                    "e <- fitted(m); p1 <- mean(d$t); "
                    "fmt(coef(m)); fmt(sqrt(diag(vcov(m)))); fmt(e); "
                    "fmt(ifelse(d$t == 1, 1 / e, 1 / (1 - e))); "
                    "fmt(ifelse(d$t == 1, p1 / e, (1 - p1) / (1 - e)))")
    rows = parse(run_r("\n".join(code)))
    for i, (trt, cov) in enumerate(cases):
        r = rows[5 * i:5 * (i + 1)]
        res = causal.propensity_weights(trt, cov)
        st = causal.propensity_weights(trt, cov, stabilised=True)
        assert_close(res.coef, r[0], "coef")
        assert_close(res.se, r[1], "se")
        assert_close(res.score, r[2], "ps")
        assert_close(res.weights, r[3], "weights")
        assert_close(st.weights, r[4], "stabilised weights")


def test_propensity_model_leaves_out_an_empty_level_as_glm(run_r):
    """An all-zero dummy (an empty factor level): glm reports NA for it and fits the rest."""
    rng = np.random.default_rng(43)
    n = 200
    age = np.round(rng.uniform(25, 64, n))
    level = rng.choice(["a", "b", "d"], n)
    trt = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 0.04 * age)))).astype(float)
    cov = pd.concat([pd.DataFrame({"age": age}),
                     pd.get_dummies(pd.Categorical(level, ["a", "b", "c", "d"]), prefix="g",
                                    drop_first=True, dtype=float)], axis=1)
    levels = "c(" + ",".join(f"'{v}'" for v in level) + ")"
    out = run_r(f"{FMT}; d <- data.frame(t={rvec(trt)}, age={rvec(age)}, "
                f"g=factor({levels}, levels=c('a', 'b', 'c', 'd'))); "
                "m <- glm(t ~ age + g, family=binomial, data=d, "
                "control=glm.control(epsilon=1e-14, maxit=100)); "
                "fmt(coef(m)[!is.na(coef(m))]); fmt(fitted(m))")
    r = parse(out)
    res = causal.propensity_weights(trt, cov)
    assert res.aliased == ("g_c",) and np.isnan(res.coef[3]) and np.isnan(res.se[3])
    assert_close(np.delete(res.coef, 3), r[0], "coef")
    assert_close(res.score, r[1], "ps")


SANDWICH = """
cr1 <- function(y, X, cl) {
  n <- nrow(X); k <- ncol(X); G <- length(unique(cl))
  bread <- solve(crossprod(X)); b <- bread %*% crossprod(X, y); e <- drop(y - X %*% b)
  meat <- matrix(0, k, k)
  for (g in unique(cl)) { s <- crossprod(X[cl == g, , drop=FALSE], e[cl == g]); meat <- meat + s %*% t(s) }
  V <- bread %*% meat %*% bread * G / (G - 1) * (n - 1) / (n - k)
  j <- k; est <- b[j]; se <- sqrt(V[j, j]); q <- qt(0.975, G - 1); tt <- est / se
  c(est, se, est - q * se, est + q * se, tt, 2 * pt(-abs(tt), G - 1), G - 1)
}
"""


def test_cluster_means_agree_with_sandwich_in_r(run_r):
    rng = np.random.default_rng(42)
    cases = []
    for n, g in ((40, 7), (300, 7), (120, 12), (25, 3)):
        cl = rng.integers(0, g, n)
        effect = rng.normal(0, 10, g)[cl]
        grp = rng.integers(0, 2, n)
        y = np.clip(np.round(50 + effect + 8 * grp + rng.normal(0, 25, n) / 25) * 25 / 25, 0, 100)
        y = np.round(y / 25) * 25  # sick-leave degree: 0, 25, 50, 75, 100 (heavy ties)
        cases.append((y, grp, cl))
    code = [FMT, SANDWICH]
    for y, grp, cl in cases:
        code.append(f"y <- {rvec(y)}; grp <- {rvec(grp)}; cl <- {rvec(cl)}; "
                    "fmt(cr1(y, cbind(1, grp), cl)); fmt(cr1(y, cbind(rep(1, length(y))), cl))")
    rows = parse(run_r("\n".join(code)))
    for i, (y, grp, cl) in enumerate(cases):
        d = causal.cluster_mean_difference(y, grp, cl)
        m = causal.cluster_mean_ci(y, cl)
        assert_close([d.estimate, d.se, d.conf_low, d.conf_high, d.statistic, d.pvalue, d.df],
                     rows[2 * i], f"difference {i}")
        assert_close([m.estimate, m.se, m.conf_low, m.conf_high, m.statistic, m.pvalue, m.df],
                     rows[2 * i + 1], f"mean {i}")


WLS_SANDWICH = """
wcr1 <- function(y, g, w, cl) {
  m <- lm(y ~ g, weights = w); X <- model.matrix(m); e <- residuals(m)
  n <- nrow(X); k <- ncol(X); G <- length(unique(cl))
  bread <- solve(crossprod(X, w * X))
  meat <- matrix(0, k, k)
  for (h in unique(cl)) {
    s <- crossprod(X[cl == h, , drop=FALSE], w[cl == h] * e[cl == h]); meat <- meat + s %*% t(s)
  }
  V <- bread %*% meat %*% bread * G / (G - 1) * (n - 1) / (n - k)
  est <- unname(coef(m)[2]); se <- sqrt(V[2, 2]); q <- qt(0.975, G - 1); tt <- est / se
  c(est, se, est - q * se, est + q * se, tt, 2 * pt(-abs(tt), G - 1), G - 1,
    weighted.mean(y[g == 0], w[g == 0]), weighted.mean(y[g == 1], w[g == 1]))
}
"""


def test_weighted_mean_difference_agrees_with_weighted_lm_and_sandwich_in_r(run_r):
    """lm(y ~ g, weights = w) and the CR1 sandwich in R matrix algebra, with propensity
    weights, arbitrary weights and unit weights; net days (heavy ties) and a 0/1 outcome."""
    rng = np.random.default_rng(43)
    cases = []
    for n, g, binary in ((60, 7, False), (400, 7, False), (150, 12, True), (30, 3, False)):
        cl = rng.integers(0, g, n)
        age = rng.uniform(25, 64, n)
        grp = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 0.04 * age + 0.2 * (cl % 3))))).astype(int)
        if binary:
            y = (rng.random(n) < 0.4 + 0.15 * grp).astype(float)
        else:
            y = np.round(rng.gamma(1.2, 60, n) - 25 * grp + rng.normal(0, 10, g)[cl]).clip(0)
        ps = causal.propensity_weights(grp, pd.DataFrame({"age": age}))
        for w in (ps.weights, rng.uniform(0.2, 5, n), None):
            cases.append((y, grp, cl, w))
    code = [FMT, WLS_SANDWICH]
    for y, grp, cl, w in cases:
        code.append(f"fmt(wcr1({rvec(y)}, {rvec(grp)}, "
                    f"{rvec(np.ones(y.size) if w is None else w)}, {rvec(cl)}))")
    rows = parse(run_r("\n".join(code)))
    assert len(rows) == len(cases) == 12
    for i, (y, grp, cl, w) in enumerate(cases):
        d = causal.weighted_mean_difference(y, grp, cl, w)
        assert_close([d.estimate, d.se, d.conf_low, d.conf_high, d.statistic, d.pvalue, d.df,
                      *d.means], rows[i], f"case {i}")
