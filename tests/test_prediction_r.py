"""Cross-check the validation statistics against R: pROC's AUC and DeLong interval, glm's
calibration intercept and slope, R's lowess, and Harrell's bootstrap written independently in
base R + pROC on the same resamples. Relative tolerance 1e-8 (a value that is exactly 0 in
theory, such as the apparent calibration intercept of a logistic model, is compared on the
scale of 1). R's glm is asked for epsilon = 1e-14: its default (1e-8 on the relative change of
the deviance) leaves coefficients right to about 1e-8 only. Locally skipped without Rscript."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rehabkoord import prediction

REL = 1e-8
pytestmark = pytest.mark.r
GLM_CONTROL = "control = glm.control(epsilon = 1e-14, maxit = 100)"
HEADER = ("suppressMessages(library(pROC))\n"
          "fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')")

#: summary.glm takes standard errors from the IRLS weights of the last-but-one iterate; one more
#: iteration started at the solution makes them the weights at the solution (estimates unmoved).
REFIT = "refit <- function(m) update(m, start = coef(m))"


def rvec(values) -> str:
    return "c(" + ",".join(repr(float(v)) for v in values) + ")"


def parse(out: str) -> list[list[float]]:
    return [[np.nan if v == "NA" else float(v) for v in line.split()[1:]]
            for line in out.strip().splitlines() if line.startswith("ROW")]


def close(a: float, b: float, scale: float = 0.0) -> bool:
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return abs(a - b) <= REL * max(abs(a), abs(b), scale)


def datasets() -> list[tuple[np.ndarray, np.ndarray]]:
    """Continuous, heavily tied, tiny and degenerate predictions."""
    rng = np.random.default_rng(7)
    out = []
    for n in (12, 60, 400, 3000):
        p = rng.beta(2, 5, n)
        y = (rng.random(n) < np.clip(1.3 * p, 0, 1)).astype(int)
        out.append((y, p))
        out.append((y, np.round(p, 1)))  # heavy ties
        out.append((y, np.round(p * 3) / 3 * 0.9 + 0.05))  # three distinct values
    out.append((np.array([0, 1, 0, 1]), np.array([0.2, 0.4, 0.4, 0.9])))
    out.append((np.array([0, 0, 1, 1, 1]), np.array([0.3, 0.3, 0.3, 0.3, 0.3])))  # all tied
    out.append((np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.8])))  # separation
    out.append((np.array([0, 1, 1, 0, 0]), np.array([0.9, 0.1, 0.2, 0.8, 0.7])))  # AUC 0
    out.append((np.array([0, 1, 0, 0]), np.array([0.2, 0.6, 0.5, 0.1])))  # one case: NA
    return out


def test_auc_and_delong_interval_agree_with_proc(run_r):
    data = datasets()
    code = [HEADER]
    for y, p in data:
        code.append(f"y <- {rvec(y)}; p <- {rvec(p)}; "
                    "r <- roc(y, p, levels = c(0, 1), direction = '<', quiet = TRUE); "
                    "fmt(c(as.numeric(ci.auc(r)), as.numeric(r$auc)))")
    rows = parse(run_r("\n".join(code)))
    assert len(rows) == len(data)
    for (y, p), (low, _, high, value) in zip(data, rows, strict=True):
        got = prediction.auc(y, p)
        assert close(got.auc, value), (y, p)
        assert close(prediction.auc_value(y, p), value)
        assert close(got.conf_low, low) and close(got.conf_high, high), (got, low, high)


def test_auc_interval_at_other_confidence_levels(run_r):
    y, p = datasets()[4]
    code = [HEADER, f"y <- {rvec(y)}; p <- {rvec(p)}; r <- roc(y, p, levels = c(0, 1), "
            "direction = '<', quiet = TRUE)"]
    levels = (0.5, 0.9, 0.99)
    code += [f"fmt(as.numeric(ci.auc(r, conf.level = {lv})))" for lv in levels]
    for lv, (low, _, high) in zip(levels, parse(run_r("\n".join(code))), strict=True):
        got = prediction.auc(y, p, conf_level=lv)
        assert close(got.conf_low, low) and close(got.conf_high, high)


def test_calibration_intercept_and_slope_agree_with_glm(run_r):
    data = [(y, p) for y, p in datasets() if 0 < y.sum() < y.size and len(np.unique(p)) > 1
            and 0 < p.min() and p.max() < 1 and y.size >= 12]  # the tiny ones are (quasi-)separated
    code = [HEADER, REFIT]
    for y, p in data:
        code.append(
            f"y <- {rvec(y)}; p <- {rvec(p)}; "
            f"a <- refit(glm(y ~ offset(qlogis(p)), family = binomial, {GLM_CONTROL})); "
            f"b <- refit(glm(y ~ qlogis(p), family = binomial, {GLM_CONTROL})); "
            "sa <- summary(a)$coefficients; sb <- summary(b)$coefficients; "
            "fmt(c(sa[1, 1:2], confint.default(a)[1, ], sb[2, 1:2], confint.default(b)[2, ], "
            "sb[1, 1:2]))")
    rows = parse(run_r("\n".join(code)))
    assert len(rows) == len(data)
    for (y, p), want in zip(data, rows, strict=True):
        c = prediction.calibration(y, p)
        got = [c.intercept.estimate, c.intercept.std_error, c.intercept.conf_low,
               c.intercept.conf_high, c.slope.estimate, c.slope.std_error, c.slope.conf_low,
               c.slope.conf_high, c.slope_intercept.estimate, c.slope_intercept.std_error]
        # an estimate that is 0 in truth is compared on the scale of its standard error
        scales = [want[1]] * 4 + [want[5]] * 4 + [want[9]] * 2
        for g, w, sc in zip(got, want, scales, strict=True):
            assert close(g, w, sc), (y.size, got, want)


def test_calibration_curve_agrees_with_r_lowess(run_r):
    data = [datasets()[i] for i in (3, 4, 9)]
    code = [HEADER]
    for y, p in data:
        code.append(f"y <- {rvec(y)}; p <- {rvec(p)}; "
                    "s <- lowess(p, y, f = 2/3, iter = 0, delta = 0); fmt(s$x); fmt(s$y)")
    rows = parse(run_r("\n".join(code)))
    for k, (y, p) in enumerate(data):
        curve = prediction.calibration_curve(y, p)
        x_r, s_r = rows[2 * k], rows[2 * k + 1]
        assert np.array_equal(curve.predicted, np.array(x_r))
        for g, w in zip(curve.smoothed, s_r, strict=True):
            assert close(g, w, scale=1.0)


def _glm_fitter(X, y):
    design = np.column_stack([np.ones(len(y)), np.asarray(X, dtype=float)])
    beta = prediction.glm_logit(y, design).params

    def predict(Xn):
        d = np.column_stack([np.ones(len(Xn)), np.asarray(Xn, dtype=float)])
        return 1 / (1 + np.exp(-(d @ beta)))

    return predict


def test_optimism_correction_agrees_with_independent_r(run_r, tmp_path):
    """Base R glm + pROC auc, on the resamples drawn in Python (passed as 1-based rows)."""
    rng = np.random.default_rng(11)
    n, n_boot = 250, 25
    X = rng.normal(size=(n, 3))
    lp = -0.8 + X @ np.array([0.9, -0.5, 0.0])
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    idx = prediction.bootstrap_indices(n, n_boot, seed=3)
    sub = rng.random(n) < 0.45  # a subgroup (e.g. women) not among the predictors
    pd.DataFrame({"y": y, "x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "s": sub.astype(int)}
                 ).to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    pd.DataFrame(idx + 1).to_csv(tmp_path / "idx.csv", index=False, header=False)
    code = f"""{HEADER}
d <- read.csv('{tmp_path / "d.csv"}'); idx <- as.matrix(read.csv('{tmp_path / "idx.csv"}',
  header = FALSE))
perf <- function(y, p) {{
  lp <- qlogis(p)
  a <- glm(y ~ offset(lp), family = binomial, {GLM_CONTROL})
  b <- glm(y ~ lp, family = binomial, {GLM_CONTROL})
  c(as.numeric(auc(roc(y, p, levels = c(0, 1), direction = '<', quiet = TRUE))),
    coef(a)[1], coef(b)[2], mean((p - y)^2))
}}
fitp <- function(train, new) {{
  m <- glm(y ~ x1 + x2 + x3, family = binomial, data = train, {GLM_CONTROL})
  predict(m, newdata = new, type = 'response')
}}
app <- perf(d$y, fitp(d, d))
opt <- t(sapply(seq_len(nrow(idx)), function(b) {{
  db <- d[idx[b, ], ]
  perf(db$y, fitp(db, db)) - perf(d$y, fitp(db, d))
}}))
for (b in seq_len(nrow(opt))) fmt(opt[b, ])
fmt(app); fmt(colMeans(opt)); fmt(app - colMeans(opt))
s1 <- d$s == 1
app_s <- perf(d$y[s1], fitp(d, d)[s1])
opt_s <- t(sapply(seq_len(nrow(idx)), function(b) {{
  db <- d[idx[b, ], ]
  k <- db$s == 1
  perf(db$y[k], fitp(db, db)[k]) - perf(d$y[s1], fitp(db, d)[s1])
}}))
fmt(app_s); fmt(colMeans(opt_s)); fmt(app_s - colMeans(opt_s))
"""
    rows = parse(run_r(code))
    res = prediction.optimism_corrected(_glm_fitter, X, y, indices=idx,
                                        subgroups={"s": sub, "not s": ~sub})
    assert res.n_boot == n_boot and res.seed is None
    per_r = np.array(rows[:n_boot])
    # apparent calibration intercept and its resample counterparts are 0 in theory: scale 1
    scales = {"auc": 0.0, "cal_intercept": 1.0, "cal_slope": 0.0, "brier": 0.0}
    for j, k in enumerate(prediction.MEASURES):
        for g, w in zip(res.per_resample[k], per_r[:, j], strict=True):
            assert close(g, w, scales[k]), (k, g, w)
    for got, want in ((res.apparent, rows[n_boot]), (res.optimism, rows[n_boot + 1]),
                      (res.corrected, rows[n_boot + 2]),
                      *zip(res.by_subgroup["s"], rows[n_boot + 3:n_boot + 6], strict=True)):
        for k, w in zip(prediction.MEASURES, want, strict=True):
            assert close(got.as_dict()[k], w, scales[k]), (k, got, want)
    assert res.by_subgroup["s"][2] != res.by_subgroup["not s"][2] != res.corrected


def test_risk_model_coefficients_agree_with_glm(run_r, tmp_path):
    """The unpenalised risk model on its design matrix equals R's glm, standard errors too."""
    from rehabkoord.studies import risk

    spec = risk.RegisterSpec(n_persons=4000, seed=5)
    table = risk.with_outcome(risk.synthetic_spells(spec), 90).table
    model = risk.fit(table, risk.predictors())
    X, _ = model.predictors.design(table)
    design = X.drop(columns="Intercept").set_axis([f"x{i}" for i in range(X.shape[1] - 1)],
                                                  axis=1)
    design.insert(0, "y", table[risk.OUTCOME].to_numpy())
    design.to_csv(tmp_path / "x.csv", index=False, float_format="%.17g")
    out = run_r(f"""{HEADER}
{REFIT}
d <- read.csv('{tmp_path / "x.csv"}')
m <- refit(glm(y ~ ., family = binomial, data = d, {GLM_CONTROL}))
s <- summary(m)$coefficients; fmt(s[, 1]); fmt(s[, 2])
""")
    est, se = parse(out)
    names = model.predictors.columns()
    assert model.std_errors is not None
    for j, name in enumerate(names):
        assert close(model.coefficients[name], est[j], se[j]), name
        assert close(model.std_errors[name], se[j]), name
