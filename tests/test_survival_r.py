"""Cross-check the survival statistics against R's `survival` and `cmprsk` on heavily tied data
(whole days, many equal times). Tolerances are relative and stated per test: 1e-10 for closed
forms (Kaplan–Meier, `summary(survfit, times=)`, log-rank), 1e-8 where R iterates (coxph with
Efron and Breslow ties, anova of nested coxph fits, glm) or where the check is stated at that
level (cuminc, Gray's test). Locally skipped without Rscript; required in CI."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rehabkoord import survival as sv

pytestmark = pytest.mark.r

FMT = "fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')"


def rvec(values) -> str:
    return "c(" + ",".join("NA" if v is None else repr(float(v)) for v in values) + ")"


def rstr(values) -> str:
    return "c(" + ",".join(f"'{v}'" for v in values) + ")"


def parse(out: str) -> list[np.ndarray]:
    rows = []
    for line in out.strip().splitlines():
        if line.startswith("ROW"):
            rows.append(np.array([float("nan") if v == "NA" else float(v)
                                  for v in line.split()[1:]]))
    return rows


def assert_close(got, want, rel: float, what: str = "") -> None:
    got, want = np.atleast_1d(np.asarray(got, float)), np.atleast_1d(np.asarray(want, float))
    assert got.shape == want.shape, (what, got.shape, want.shape)
    nan = np.isnan(want)
    assert (np.isnan(got) == nan).all(), (what, got, want)
    g, w = got[~nan], want[~nan]
    inf = np.isinf(w)
    assert (g[inf] == w[inf]).all(), (what, got, want)
    g, w = g[~inf], w[~inf]
    err = np.abs(g - w) / np.maximum(np.maximum(np.abs(g), np.abs(w)), 1e-300)
    err = np.where(np.abs(g - w) <= 1e-300, 0.0, err)
    assert (err <= rel).all(), (what, float(err.max()), got, want)


def tied_data(seed: int, n: int, groups: int = 2, scale: float = 20.0):
    """Whole-day times on a short range (heavy ties), ~30 % censored, a group effect."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    t = np.ceil(rng.exponential(scale * np.exp(-0.3 * g - 0.4 * x)))
    e = (rng.random(n) < 0.7).astype(float)
    return t, e, g, x


KM_CASES = [tied_data(s, n)[:2] for s, n in ((1, 15), (2, 60), (3, 250), (4, 40))] + [
    (np.array([1, 2, 2, 3, 4, 4.]), np.array([1, 1, 0, 1, 1, 1.])),   # ends at 0
    (np.array([1, 2, 3, 4, 5, 6.]), np.array([1, 1, 1, 0, 0, 0.])),   # flat at 0.5 to the end
    (np.array([1, 2, 3, 4, 5, 6.]), np.array([1, 1, 1, 1, 0, 1.])),   # 0.5 over [3, 4)
    (np.array([5, 5, 5, 7, 9.]), np.array([0, 0, 1, 0, 0.])),         # median not reached
    (np.array([0, 0, 1, 2, 2, 3.]), np.array([1, 0, 1, 1, 0, 0.])),   # events at time 0
]
#: `summary(survfit, times=)`: unsorted, a duplicate, before the start, between, at and after
#: event times, beyond follow-up
AT_TIMES = [10, 0, 3, 1.5, 3, -1, 2, 20, 1000]


def test_kaplan_meier_agrees_with_r(run_r):
    code = ["library(survival)", FMT]
    for t, e in KM_CASES:
        code.append(f"f <- survfit(Surv({rvec(t)}, {rvec(e)}) ~ 1); s <- summary(f, censored=TRUE); "
                    "fmt(f$time); fmt(f$n.risk); fmt(f$n.event); fmt(f$n.censor); fmt(f$surv); "
                    "fmt(f$std.err); fmt(s$std.err); fmt(f$lower); fmt(f$upper); "
                    "fmt(summary(f)$table[c('median', '0.95LCL', '0.95UCL')]); "
                    "q <- quantile(f, c(0.25, 0.5, 0.75)); fmt(c(q$quantile, q$lower, q$upper)); "
                    "a <- summary(f, times=c(0, 1.5, 3, 10, 20, 1000), extend=TRUE); "
                    "fmt(a$n.risk); fmt(a$surv); "
                    f"for (ext in c(FALSE, TRUE)) {{ a <- summary(f, times={rvec(AT_TIMES)}, "
                    "extend=ext); fmt(a$time); fmt(a$n.risk); fmt(a$n.event); fmt(a$n.censor); "
                    "fmt(a$surv); fmt(a$std.err); fmt(a$lower); fmt(a$upper) }")
    rows = parse(run_r("\n".join(code)))
    assert len(rows) == 29 * len(KM_CASES)
    for i, (t, e) in enumerate(KM_CASES):
        r = rows[29 * i:29 * (i + 1)]
        km = sv.kaplan_meier(t, e)
        for got, want, what in zip(
                [km.time, km.n_risk, km.n_event, km.n_censor, km.surv, km.std_err_log,
                 km.std_err, km.lower, km.upper], r[:9],
                ["time", "n_risk", "n_event", "n_censor", "surv", "std.err", "summary std.err",
                 "lower", "upper"], strict=True):
            assert_close(got, want, 1e-10, f"case {i} {what}")
        assert_close([km.median, km.median_lower, km.median_upper], r[9], 1e-10, f"median {i}")
        qs = [km.quantile(p) for p in (0.25, 0.5, 0.75)]
        assert_close([q[0] for q in qs] + [q[1] for q in qs] + [q[2] for q in qs], r[10], 1e-10,
                     f"quantile {i}")
        at = sv.numbers_at_risk(km, [0, 1.5, 3, 10, 20, 1000])
        assert_close(at.n_risk, r[11], 0, f"at risk {i}")
        assert_close(at.surv, r[12], 1e-10, f"surv at {i}")
        for j, extend in enumerate((False, True)):
            s = sv.survival_at(km, AT_TIMES, extend=extend)
            for got, want, what in zip(
                    [s.time, s.n_risk, s.n_event, s.n_censor, s.surv, s.std_err, s.lower,
                     s.upper], r[13 + 8 * j:21 + 8 * j],
                    ["time", "n.risk", "n.event", "n.censor", "surv", "std.err", "lower", "upper"],
                    strict=True):
                assert_close(got, want, 1e-10, f"case {i} extend={extend} {what}")


def test_logrank_agrees_with_r(run_r):
    cases = [tied_data(s, n, k) for s, n, k in ((5, 30, 2), (6, 200, 2), (7, 150, 3), (8, 400, 4))]
    code = ["library(survival)", FMT]
    for t, e, g, _ in cases:
        code.append(f"tt <- {rvec(t)}; ee <- {rvec(e)}; gg <- factor({rvec(g)}); "
                    "s <- survdiff(Surv(tt, ee) ~ gg); "
                    "fmt(c(s$chisq, length(s$n) - 1, pchisq(s$chisq, length(s$n) - 1, "
                    "lower.tail=FALSE))); fmt(s$obs); fmt(s$exp); fmt(s$var)")
    rows = parse(run_r("\n".join(code)))
    for i, (t, e, g, _) in enumerate(cases):
        r = rows[4 * i:4 * (i + 1)]
        lr = sv.logrank(t, e, g)
        assert_close([lr.statistic, lr.df, lr.pvalue], r[0], 1e-10, f"chisq {i}")
        assert_close(lr.observed, r[1], 1e-10)
        assert_close(lr.expected, r[2], 1e-10)
        assert_close(lr.variance.T.ravel(), r[3], 1e-10)


def cox_cases():
    cases = []
    for seed, n, k in ((11, 80, 2), (12, 300, 3), (13, 500, 3), (14, 150, 2)):
        t, e, g, x = tied_data(seed, n, k, scale=8.0)
        rng = np.random.default_rng(seed + 100)
        cluster = rng.integers(1, 8, n)  # 7 clusters (vårdcentraler)
        weights = np.round(rng.uniform(0.3, 3.0, n), 3)
        cases.append((t, e, g, x, cluster, weights))
    return cases


@pytest.mark.parametrize("weighted", [False, True])
def test_cox_agrees_with_r(run_r, weighted):
    code = ["library(survival)", FMT]
    specs = []
    for t, e, g, x, cl, w in cox_cases():
        dummies = pd.get_dummies(pd.Categorical(g), prefix="g", drop_first=True, dtype=float)
        designs = {"one": pd.DataFrame({"x": x}),
                   "several": pd.concat([pd.DataFrame({"x": x}), dummies], axis=1),
                   "interaction": pd.concat([pd.DataFrame({"x": x}), dummies,
                                             dummies.mul(x, axis=0).add_prefix("x:")], axis=1)}
        rform = {"one": "x", "several": "x + factor(g)", "interaction": "x * factor(g)"}
        wts = f", weights={rvec(w)}" if weighted else ""
        for name, design in designs.items():
            for clustered, ties in itertools.product((False, True), ("efron", "breslow")):
                cl_arg = ", cluster=cl" if clustered else ""
                code.append(f"d <- data.frame(t={rvec(t)}, e={rvec(e)}, x={rvec(x)}, "
                            f"g={rvec(g)}, cl={rvec(cl)}); "
                            f"m <- coxph(Surv(t, e) ~ {rform[name]}, data=d, ties='{ties}'"
                            f"{wts}{cl_arg}, control=ctl); sm <- summary(m)$coefficients; "
                            "ci <- summary(m)$conf.int; "
                            "fmt(coef(m)); fmt(sqrt(diag(m$naive.var %||% m$var))); "
                            "fmt(sqrt(diag(vcov(m)))); fmt(ci[, 3]); fmt(ci[, 4]); "
                            "fmt(sm[, ncol(sm)]); fmt(sm[, ncol(sm) - 1])")
                if name == "interaction":
                    code.append("b <- coef(m)[grep(':', names(coef(m)))]; "
                                "V <- vcov(m)[names(b), names(b)]; "
                                "fmt(drop(t(b) %*% solve(V) %*% b))")
                specs.append((t, e, design, cl if clustered else None, w if weighted else None,
                              name, ties))
    # coxph stops when the log-likelihood changes by < 1e-9 relatively (its default eps), which can
    # leave a coefficient near zero ~1e-8 from the maximiser; statsmodels iterates to a zero
    # score. R is therefore asked to converge fully, so the check is of the estimator itself.
    code[0] = ("library(survival); `%||%` <- function(a, b) if (is.null(a)) b else a; "
               "ctl <- coxph.control(eps=1e-13, iter.max=100)")
    rows = parse(run_r("\n".join(code)))
    i = 0
    for t, e, design, cl, w, name, ties in specs:
        r = rows[i:i + 7]
        i += 7
        res = sv.cox(t, e, design, cluster=cl, weights=w, ties=ties)
        tag = f"{name} cluster={cl is not None} weighted={w is not None} ties={ties}"
        assert_close(res.coef, r[0], 1e-8, "coef " + tag)
        assert_close(res.se, r[1], 1e-8, "se " + tag)
        shown = res.robust_se if res.robust else res.se
        assert_close(shown, r[2], 1e-8, "vcov se " + tag)
        assert_close(res.conf_low, r[3], 1e-8, "lower " + tag)
        assert_close(res.conf_high, r[4], 1e-8, "upper " + tag)
        assert_close(res.pvalue, r[5], 1e-8, "p " + tag)
        assert_close(res.z, r[6], 1e-8, "z " + tag)
        if name == "interaction":
            terms = [c for c in design.columns if c.startswith("x:")]
            assert_close(sv.wald_test(res, terms).statistic, rows[i], 1e-8, "wald " + tag)
            i += 1
    assert i == len(rows)


def test_lr_test_agrees_with_anova(run_r):
    """`lr_test` against `anova(fit0, fit1)` (nested: main effects within the interaction
    model) and `summary(fit)$logtest` (against the null model), both ties methods, with and
    without case weights (R's `robust=FALSE`, the model-based test anova requires)."""
    code = ["library(survival); ctl <- coxph.control(eps=1e-13, iter.max=100)", FMT]
    specs = []
    for (t, e, g, x, _, w), ties, weighted in itertools.product(
            cox_cases(), ("efron", "breslow"), (False, True)):
        dummies = pd.get_dummies(pd.Categorical(g), prefix="g", drop_first=True, dtype=float)
        main = pd.concat([pd.DataFrame({"x": x}), dummies], axis=1)
        full = pd.concat([main, dummies.mul(x, axis=0).add_prefix("x:")], axis=1)
        wts = f", weights={rvec(w)}, robust=FALSE" if weighted else ""
        code.append(f"d <- data.frame(t={rvec(t)}, e={rvec(e)}, x={rvec(x)}, g={rvec(g)}); "
                    f"m0 <- coxph(Surv(t, e) ~ x + factor(g), data=d, ties='{ties}'{wts}, "
                    f"control=ctl); m1 <- coxph(Surv(t, e) ~ x * factor(g), data=d, "
                    f"ties='{ties}'{wts}, control=ctl); a <- anova(m0, m1); "
                    "fmt(c(a$Chisq[2], a$Df[2], a[['Pr(>|Chi|)']][2], a$loglik)); "
                    "fmt(summary(m1)$logtest)")
        specs.append((t, e, main, full, w if weighted else None, ties))
    rows = parse(run_r("\n".join(code)))
    assert len(rows) == 2 * len(specs)
    for (t, e, main, full, w, ties), want, null in zip(specs, rows[::2], rows[1::2], strict=True):
        kw = {"weights": w, "ties": ties, "robust": False}
        fit0, fit1 = sv.cox(t, e, main, **kw), sv.cox(t, e, full, **kw)
        tag = f"ties={ties} weighted={w is not None}"
        got = sv.lr_test(fit1, fit0)
        assert got.terms == tuple(c for c in full.columns if c.startswith("x:"))
        assert_close([got.statistic, got.df, got.pvalue, *got.loglik], want, 1e-8, "anova " + tag)
        vs_null = sv.lr_test(fit1)
        assert_close([vs_null.statistic, vs_null.df, vs_null.pvalue], null, 1e-8, "null " + tag)


def competing_data(seed: int, n: int, groups: int, causes: int = 2):
    """Whole-day times (heavy ties), status 0 censored, 1 the event of interest, 2.. competing."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    t = np.ceil(rng.exponential(15 * np.exp(-0.3 * g)))
    status = rng.choice(np.arange(causes + 1), n, p=[0.3] + [0.7 / causes] * causes)
    status = np.where(rng.random(n) < 0.2 * g, 1, status)
    return t, status, g


CR_CASES = [competing_data(s, n, k, c) for s, n, k, c in
            ((21, 25, 2, 2), (22, 120, 2, 2), (23, 300, 3, 3), (24, 500, 3, 2), (25, 60, 2, 2))]
CR_CASES.append((np.array([1, 1, 2, 2, 2, 3, 4, 4, 5, 6.]), np.array([1, 2, 1, 1, 0, 2, 1, 0, 2, 1]),
                 np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])))  # ends on an event of interest


def test_cumulative_incidence_agrees_with_cmprsk(run_r):
    times = [0, 1, 2.5, 5, 10, 20, 40, 10_000]
    code = ["library(cmprsk)", FMT]
    for t, s, _ in CR_CASES:
        code.append(f"ci <- cuminc({rvec(t)}, {rvec(s)}); for (cz in c(1, 2)) {{ "
                    "a <- ci[[paste('1', cz)]]; j <- seq(3, length(a$time) - 1, by=2); "
                    "fmt(a$time[j]); fmt(a$est[j]); fmt(a$var[j]); "
                    f"tp <- timepoints(ci, {rvec(times)}); fmt(tp$est[paste('1', cz), ]); "
                    "fmt(tp$var[paste('1', cz), ]) }")
    rows = parse(run_r("\n".join(code)))
    assert len(rows) == 10 * len(CR_CASES)
    for i, (t, s, _) in enumerate(CR_CASES):
        for j, cause in enumerate((1, 2)):
            r = rows[10 * i + 5 * j:10 * i + 5 * (j + 1)]
            fit = sv.cumulative_incidence(t, s, cause=cause)
            assert_close(fit.time, r[0], 0, f"time {i} {cause}")
            assert_close(fit.est, r[1], 1e-8, f"est {i} {cause}")
            assert_close(fit.var, r[2], 1e-8, f"var {i} {cause}")
            at = sv.cumulative_incidence_at(fit, times)
            assert_close(at.est, r[3], 1e-8, f"est at {i} {cause}")
            assert_close(at.var, r[4], 1e-8, f"var at {i} {cause}")


def test_gray_test_agrees_with_cmprsk(run_r):
    code = ["library(cmprsk)", FMT]
    for t, s, g in CR_CASES:
        code.append(f"ci <- cuminc({rvec(t)}, {rvec(s)}, {rvec(g)}); fmt(t(ci$Tests))")
    rows = parse(run_r("\n".join(code)))
    for (t, s, g), r in zip(CR_CASES, rows, strict=True):
        causes = sorted(set(s.tolist()) - {0})
        r = r.reshape(len(causes), 3)
        for cause, want in zip(causes, r, strict=True):
            got = sv.gray_test(t, s, g, cause=cause)
            assert_close([got.statistic, got.df], want[[0, 2]], 1e-8, f"gray {cause}")
            # cuminc's p is 1 - pchisq(stat): absolute error ~1e-16, so only ~1e-9 relative
            # for the small p-values here; ours is the upper tail computed directly
            assert_close(got.pvalue, want[1], 1e-8, f"grayp {cause}")


def test_poisson_rate_ratio_agrees_with_glm(run_r):
    rng = np.random.default_rng(31)
    cases = []
    for n, k in ((40, 2), (200, 3), (25, 2)):
        g = rng.integers(0, k, n)
        py = np.round(rng.uniform(0.1, 3.0, n), 3)
        count = rng.poisson(py * 0.4 * (1 + 0.5 * g))
        cases.append((count, py, g))
    # glm stops at a 1e-8 relative change in deviance and reports SEs from the weights of the
    # previous iterate (~1e-7 off the MLE's); R is asked to converge fully (as for coxph above).
    code = [FMT, "ctl <- glm.control(epsilon=1e-14, maxit=100)"]
    for count, py, g in cases:
        code.append(f"d <- data.frame(y={rvec(count)}, py={rvec(py)}, g=factor({rvec(g)})); "
                    "m <- glm(y ~ g + offset(log(py)), family=poisson, data=d, control=ctl); "
                    "s <- summary(m)$coefficients[-1, , drop=FALSE]; ci <- confint.default(m)[-1, ,"
                    " drop=FALSE]; fmt(s[, 1]); fmt(s[, 2]); fmt(s[, 4]); fmt(exp(ci[, 1])); "
                    "fmt(exp(ci[, 2]))")
    rows = parse(run_r("\n".join(code)))
    for i, (count, py, g) in enumerate(cases):
        r = rows[5 * i:5 * (i + 1)]
        res = sv.poisson_rate_ratio(count, py, g)
        for got, want, what in zip([res.coef, res.se, res.pvalue, res.conf_low, res.conf_high], r,
                                   ["coef", "se", "p", "lower", "upper"], strict=True):
            assert_close(got, want, 1e-8, f"{what} {i}")


def test_clustered_poisson_agrees_with_sandwich_in_r(run_r):
    """CR1 sandwich for the Poisson GLM written out in base R: (X'WX)⁻¹ Σ_g u_g u_g' (X'WX)⁻¹
    · G/(G−1)·(N−1)/(N−K), u_g the summed scores X'(y − μ) of cluster g."""
    rng = np.random.default_rng(32)
    n = 150
    g, cl = rng.integers(0, 3, n), rng.integers(0, 7, n)
    py = np.round(rng.uniform(0.1, 3.0, n), 3)
    count = rng.poisson(py * 0.4 * (1 + 0.5 * g) * rng.gamma(2, 0.5, 7)[cl])
    code = [FMT, "ctl <- glm.control(epsilon=1e-14, maxit=100)",
            f"d <- data.frame(y={rvec(count)}, py={rvec(py)}, g=factor({rvec(g)}), cl={rvec(cl)})",
            "m <- glm(y ~ g + offset(log(py)), family=poisson, data=d, control=ctl)",
            "X <- model.matrix(m); mu <- fitted(m); B <- solve(crossprod(X * sqrt(mu)))",
            "U <- rowsum(X * (d$y - mu), d$cl); G <- nrow(U); N <- nrow(X); K <- ncol(X)",
            "V <- B %*% crossprod(U) %*% B * G / (G - 1) * (N - 1) / (N - K)",
            "se <- sqrt(diag(V))[-1]; b <- coef(m)[-1]",
            "fmt(b); fmt(se); fmt(2 * pnorm(-abs(b / se))); fmt(exp(b - qnorm(0.975) * se))"]
    r = parse(run_r("\n".join(code)))
    res = sv.poisson_rate_ratio(count, py, g, cluster=cl)
    for got, want, what in zip([res.coef, res.se, res.pvalue, res.conf_low], r,
                               ["coef", "se", "p", "lower"], strict=True):
        assert_close(got, want, 1e-8, what)


def test_cox_drops_aliased_columns_as_r(run_r):
    """An empty factor level (an all-zero dummy) and a column that is a sum of two others:
    coxph reports NA for them and fits the rest; so must `cox`, clustered or not, and a Wald
    test of the estimable terms must equal R's on the non-NA coefficients (1e-8 relative)."""
    t, e, g, x, cl, _ = cox_cases()[1]
    g4 = pd.Categorical(np.array(["a", "b", "d"])[g % 3], ["a", "b", "c", "d"])
    design = pd.concat([pd.DataFrame({"x": x}),
                        pd.get_dummies(g4, prefix="g", drop_first=True, dtype=float)], axis=1)
    design["xg"] = design["x"] + design["g_b"]
    design["x:g_b"] = design["x"] * design["g_b"]
    code = [FMT, "library(survival); ctl <- coxph.control(eps=1e-13, toler.chol=1e-14, "
            "iter.max=100)",
            f"d <- data.frame(t={rvec(t)}, e={rvec(e)}, x={rvec(x)}, cl={rvec(cl)}, "
            f"g=factor({rstr(np.asarray(g4))}, levels=c('a','b','c','d')))",
            "d$xg <- d$x + (d$g == 'b')"]
    for cl_arg in ("", ", cluster=cl"):
        code.append(f"m <- coxph(Surv(t, e) ~ x + g + xg + x:I(g == 'b'), data=d{cl_arg}, "
                    "control=ctl); s <- summary(m)$coefficients; fmt(coef(m)); "
                    "fmt(s[, ncol(s)]); "
                    "b <- coef(m)[c('gb', 'gd')]; V <- vcov(m)[c('gb', 'gd'), c('gb', 'gd')]; "
                    "fmt(drop(t(b) %*% solve(V) %*% b))")
    rows = parse(run_r("\n".join(code)))
    for i, cluster in enumerate((None, cl)):
        res = sv.cox(t, e, design, cluster=cluster)
        assert res.aliased == ("g_c", "xg")
        assert_close(res.coef, rows[3 * i], 1e-8, f"coef cluster={cluster is not None}")
        assert_close(res.pvalue, rows[3 * i + 1], 1e-8, "p")
        assert_close(sv.wald_test(res, ["g_b", "g_d"]).statistic, rows[3 * i + 2], 1e-8, "wald")
        with pytest.raises(ValueError, match="g_c aliased"):
            sv.wald_test(res, ["g_b", "g_c"])


def monotone_cases():
    """Constructed data for coxph's infinite-coefficient warning, as (name, t, e, g, x, cluster,
    weights): a level with persons but no events (the estimate runs to −∞); a covariate that
    orders every death first in its risk set (runs to +∞); a level with few events (finite,
    not to be flagged)."""
    cases = []
    t, e, g, x, cl, w = cox_cases()[1]
    cases.append(("no events at level 2", t, np.where(g == 2, 0.0, e), g, x, cl, w))
    few = e * (g != 2)
    few[np.flatnonzero(g == 2)[:3]] = 1.0
    cases.append(("three events at level 2", t, few, g, x, cl, w))
    cases.append(("events in every level", t, e, g, x, cl, w))
    t2, e2, g2, x2, cl2, w2 = cox_cases()[0]
    order = np.argsort(np.argsort(-x2))  # the largest x dies first, the next largest next, ...
    cases.append(("x orders the deaths", order + 1.0, np.ones_like(e2), g2, x2, cl2, w2))
    return cases


def r_flagged(out: str) -> list[list[int] | None]:
    """The variables (0-based) each fit's 'Loglik converged before variable ...' names; None
    where coxph 'Ran out of iterations and did not converge' (it names none then)."""
    return [None if "NA" in line else [int(v) - 1 for v in line.split()[1:]]
            for line in out.splitlines() if line.startswith("INF")]


@pytest.mark.parametrize("weighted", [False, True])
def test_cox_flags_infinite_coefficients_as_r(run_r, weighted):
    """Which terms coxph warns "coefficient may be infinite" about (default control) is exactly
    which terms `cox` names in `infinite`, for both ties methods, clustered or not; there
    coef is ±inf and HR, limits, SE, z and p are NaN. The finite terms equal R's fully
    converged fit (1e-8 relative; R's runaway coefficient then weighs < 1e-10 on them)."""
    specs, code = [], [FMT, "library(survival)",
                       "ctl <- coxph.control(eps=1e-13, toler.chol=1e-15, iter.max=200)",
                       "flag <- function(expr) { hit <- integer(0); withCallingHandlers(expr, "
                       "warning=function(w) { m <- regmatches(conditionMessage(w), "
                       "regexpr('variable +[0-9,]+', conditionMessage(w))); "
                       "if (length(m)) hit <<- as.integer(strsplit(sub('variable +', '', m), "
                       "',')[[1]]); if (grepl('Ran out', conditionMessage(w))) hit <<- NA; "
                       "invokeRestart('muffleWarning') }); cat('INF', hit, '\\n') }"]
    for (name, t, e, g, x, cl, w), ties, clustered in itertools.product(
            monotone_cases(), ("efron", "breslow"), (False, True)):
        design = pd.concat([pd.DataFrame({"x": x}), pd.get_dummies(
            pd.Categorical(g), prefix="g", drop_first=True, dtype=float)], axis=1)
        args = (f"data=d, ties='{ties}'" + (f", weights={rvec(w)}" if weighted else "")
                + (", cluster=cl" if clustered else ""))
        code.append(f"d <- data.frame(t={rvec(t)}, e={rvec(e)}, x={rvec(x)}, g={rvec(g)}, "
                    f"cl={rvec(cl)}); flag(coxph(Surv(t, e) ~ x + factor(g), {args})); "
                    f"m <- suppressWarnings(coxph(Surv(t, e) ~ x + factor(g), {args}, "
                    "control=ctl)); ci <- summary(m)$conf.int; s <- summary(m)$coefficients; "
                    "fmt(coef(m)); fmt(sqrt(diag(vcov(m)))); fmt(ci[, 3]); fmt(ci[, 4]); "
                    "fmt(s[, ncol(s)])")
        specs.append((name, t, e, design, cl if clustered else None, w if weighted else None,
                      ties))
    out = run_r("\n".join(code))
    flagged, rows = r_flagged(out), parse(out)
    assert len(flagged) == len(specs) and len(rows) == 5 * len(specs)
    seen = set()
    for (name, t, e, design, cl, w, ties), want, r in zip(
            specs, flagged, [rows[i:i + 5] for i in range(0, len(rows), 5)], strict=True):
        tag = f"{name} ties={ties} cluster={cl is not None} weighted={w is not None}"
        if want is None:  # "Ran out of iterations and did not converge": no variable named
            with pytest.raises(ValueError, match="Ran out of iterations"):
                sv.cox(t, e, design, cluster=cl, weights=w, ties=ties)
            seen.add(None)
            continue
        res = sv.cox(t, e, design, cluster=cl, weights=w, ties=ties)
        assert res.infinite == tuple(design.columns[want]), tag
        seen.add(bool(want))
        inf = np.isin(design.columns, res.infinite)
        assert np.isinf(res.coef[inf]).all() and np.isfinite(res.coef[~inf]).all(), tag
        assert (np.sign(res.coef[inf]) == np.sign(r[0][inf])).all(), tag
        for f in ("se", "robust_se", "hr", "conf_low", "conf_high", "z", "pvalue"):
            got = getattr(res, f)
            assert np.isnan(got[inf]).all() and np.isfinite(got[~inf]).all(), (f, tag)
        shown = res.robust_se if res.robust else res.se
        for got, want_r, what in zip([res.coef, shown, res.conf_low, res.conf_high, res.pvalue],
                                     r, ["coef", "se", "lower", "upper", "p"], strict=True):
            assert_close(got[~inf], want_r[~inf], 1e-8, f"{what} {tag}")
    assert seen == {True, False, None}
