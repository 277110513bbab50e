"""The effect within subgroup levels and the interaction test, against R's `survival`
(coxph with cluster(), Wald test of the interaction terms with the robust variance) and a
hand-written CR1 cluster sandwich in base R for the difference in means. Tolerance 1e-8
relative (R iterates). Locally skipped without Rscript; required in CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rehabkoord.subgroups import effect_by_level

pytestmark = pytest.mark.r

FMT = "fmt <- function(v) cat('ROW', sprintf('%.17g', v), '\\n')"


def _data(seed: int = 7, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centre = rng.integers(0, 8, n)
    treated = (centre < 4).astype(int)
    level = rng.choice(["low", "medium", "high"], n, p=[0.3, 0.3, 0.4])
    hr = np.where(level == "high", 1.8, np.where(level == "medium", 1.3, 1.0)) ** treated
    t = np.ceil(rng.exponential(60.0 / hr))  # whole days: heavy ties
    e = (rng.random(n) < 0.8).astype(int)
    y = np.round(rng.gamma(2.0, 40.0, n) - 15 * treated * (level == "high"), 2)
    return pd.DataFrame({"t": t, "e": e, "treated": treated, "level": level,
                         "centre": centre, "y": y})


def test_effect_by_level_agrees_with_r(run_r, tmp_path):
    d = _data()
    d.to_csv(tmp_path / "d.csv", index=False)
    code = f"""suppressMessages(library(survival)); {FMT}
d <- read.csv('{tmp_path / "d.csv"}')
d$level <- factor(d$level, levels = c('low', 'medium', 'high'))
full <- coxph(Surv(t, e) ~ treated * level + cluster(centre), data = d, ties = 'efron')
k <- grep(':', names(coef(full)))
b <- coef(full)[k]; V <- vcov(full)[k, k]
fmt(pchisq(drop(t(b) %*% solve(V) %*% b), length(k), lower.tail = FALSE))
cr1 <- function(y, x, g) {{
  X <- cbind(1, x); fit <- lm.fit(X, y); e <- fit$residuals
  bread <- solve(crossprod(X))
  meat <- Reduce('+', lapply(split(seq_along(y), g), function(i) {{
    s <- crossprod(X[i, , drop = FALSE], e[i]); s %*% t(s) }}))
  G <- length(unique(g)); N <- length(y)
  V <- G / (G - 1) * (N - 1) / (N - 2) * bread %*% meat %*% bread
  est <- fit$coefficients[2]; se <- sqrt(V[2, 2]); q <- qt(0.975, G - 1)
  c(est, est - q * se, est + q * se)
}}
for (lv in levels(d$level)) {{
  s <- d[d$level == lv, ]
  f <- coxph(Surv(t, e) ~ treated + cluster(centre), data = s, ties = 'efron')
  ci <- exp(confint(f))
  fmt(c(exp(coef(f)), ci, summary(f)$coefficients[, 'Pr(>|z|)'], cr1(s$y, s$treated, s$centre)))
}}
"""
    rows = [np.array([float(v) for v in line.split()[1:]])
            for line in run_r(code).splitlines() if line.startswith("ROW")]
    got = effect_by_level(d, "level", ["low", "medium", "high"], time="t", event="e",
                          outcome="y", treated="treated", cluster="centre")
    cols = ["hr", "hr_low", "hr_high", "hr_p", "netdays_diff", "netdays_low", "netdays_high"]
    np.testing.assert_allclose(got["p_interaction"].to_numpy(), rows[0][0], rtol=1e-8)
    np.testing.assert_allclose(got[cols].to_numpy(float), np.vstack(rows[1:]), rtol=1e-8)
    assert list(got["n_treated"] + got["n_control"]) == [int((d.level == lv).sum())
                                                       for lv in ("low", "medium", "high")]


def test_a_level_too_small_gets_counts_only():
    d = _data(n=200)
    d.loc[d["level"] == "low", "treated"] = 0
    d.loc[d.index[d["level"] == "low"][:1], "treated"] = 1
    got = effect_by_level(d, "level", ["low", "medium", "high", "absent"], time="t", event="e",
                          outcome="y", treated="treated", cluster="centre")
    low = got.set_index("level").loc["low"]
    assert low["n_treated"] == 1 and np.isnan(low["hr"])
    assert got.set_index("level").loc["absent", "n_treated"] == 0
    assert np.isfinite(got["p_interaction"]).all()
