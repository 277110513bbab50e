"""The effect within subgroup levels and the interaction tests, against R's `survival`
(coxph with cluster(), Wald test of the interaction terms with the robust variance; anova of
the models with and without them; Efron and Breslow ties) and a hand-written CR1 cluster
sandwich in base R for the difference in means. Tolerance 1e-8 relative (R iterates). Locally
skipped without Rscript; required in CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rehabkoord.subgroups import effect_by_level, interaction_test

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
    """Both ties methods; the robust Wald and the likelihood-ratio interaction tests; hazard
    ratios with the robust SE of log HR; the CR1 difference in means with its SE."""
    d = _data()
    d.to_csv(tmp_path / "d.csv", index=False)
    code = f"""suppressMessages(library(survival)); {FMT}
d <- read.csv('{tmp_path / "d.csv"}')
d$level <- factor(d$level, levels = c('low', 'medium', 'high'))
ctl <- coxph.control(eps = 1e-13, iter.max = 100)
cr1 <- function(y, x, g) {{
  X <- cbind(1, x); fit <- lm.fit(X, y); e <- fit$residuals
  bread <- solve(crossprod(X))
  meat <- Reduce('+', lapply(split(seq_along(y), g), function(i) {{
    s <- crossprod(X[i, , drop = FALSE], e[i]); s %*% t(s) }}))
  G <- length(unique(g)); N <- length(y)
  V <- G / (G - 1) * (N - 1) / (N - 2) * bread %*% meat %*% bread
  est <- fit$coefficients[2]; se <- sqrt(V[2, 2]); q <- qt(0.975, G - 1)
  c(est, est - q * se, est + q * se, se)
}}
for (ties in c('efron', 'breslow')) {{
  full <- coxph(Surv(t, e) ~ treated * level + cluster(centre), data = d, ties = ties,
                control = ctl)
  k <- grep(':', names(coef(full)))
  b <- coef(full)[k]; V <- vcov(full)[k, k]
  fmt(pchisq(drop(t(b) %*% solve(V) %*% b), length(k), lower.tail = FALSE))
  m0 <- coxph(Surv(t, e) ~ treated + level, data = d, ties = ties, control = ctl)
  m1 <- coxph(Surv(t, e) ~ treated * level, data = d, ties = ties, control = ctl)
  a <- anova(m0, m1); fmt(c(a$Chisq[2], a$Df[2], a[['Pr(>|Chi|)']][2]))
  for (lv in levels(d$level)) {{
    s <- d[d$level == lv, ]
    f <- coxph(Surv(t, e) ~ treated + cluster(centre), data = s, ties = ties, control = ctl)
    ci <- exp(confint(f)); sm <- summary(f)$coefficients
    fmt(c(exp(coef(f)), ci, sm[, 'Pr(>|z|)'], sm[, 'robust se'],
          cr1(s$y, s$treated, s$centre)))
  }}
}}
"""
    rows = [np.array([float(v) for v in line.split()[1:]])
            for line in run_r(code).splitlines() if line.startswith("ROW")]
    assert len(rows) == 10
    cols = ["hr", "hr_low", "hr_high", "hr_p", "log_hr_se", "netdays_diff", "netdays_low",
            "netdays_high", "netdays_se"]
    for i, ties in enumerate(("efron", "breslow")):
        r = rows[5 * i:5 * (i + 1)]
        got = effect_by_level(d, "level", ["low", "medium", "high"], time="t", event="e",
                              outcome="y", treated="treated", cluster="centre", ties=ties)
        np.testing.assert_allclose(got["p_interaction"].to_numpy(), r[0][0], rtol=1e-8)
        assert set(got["interaction_test"]) == {"Wald, robust variance"}
        np.testing.assert_allclose(got[cols].to_numpy(float), np.vstack(r[2:]), rtol=1e-8)
        lr = interaction_test(d, "level", ["low", "medium", "high"], time="t", event="e",
                              treated="treated", test="lr", ties=ties)
        np.testing.assert_allclose([lr.statistic, lr.df, lr.pvalue], r[1], rtol=1e-8)
        assert lr.method == "likelihood ratio"
        by_lr = effect_by_level(d, "level", ["low", "medium", "high"], time="t", event="e",
                                treated="treated", cluster="centre", ties=ties,
                                interaction="lr")
        np.testing.assert_allclose(by_lr["p_interaction"].to_numpy(), r[1][2], rtol=1e-8)
        assert list(got["n_treated"] + got["n_control"]) == [int((d.level == lv).sum())
                                                           for lv in ("low", "medium", "high")]


def test_net_days_are_optional():
    d = _data(n=200)
    hr_only = effect_by_level(d, "level", ["low", "medium", "high"], time="t", event="e",
                              treated="treated", cluster="centre")
    both = effect_by_level(d, "level", ["low", "medium", "high"], time="t", event="e",
                           treated="treated", cluster="centre", outcome="y")
    assert not any(c.startswith("netdays") for c in hr_only.columns)
    pd.testing.assert_frame_equal(hr_only, both[hr_only.columns])


def test_interaction_tests_refuse_what_they_cannot_do():
    d = _data(n=200)
    kw = {"time": "t", "event": "e", "treated": "treated"}
    with pytest.raises(ValueError, match="independent"):
        interaction_test(d, "level", ["low", "high"], cluster="centre", test="lr", **kw)
    with pytest.raises(ValueError, match="one of"):
        interaction_test(d, "level", ["low", "high"], test="score", **kw)
    with pytest.raises(ValueError, match="fewer than two"):
        interaction_test(d, "level", ["low", "absent"], **kw)
    wald = interaction_test(d, "level", ["low", "medium", "high"], cluster="centre", **kw)
    assert wald.df == 2 and wald.method == "Wald, robust variance"


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


def test_levels_without_events_or_arms_or_clusters_are_noted_and_left_out_as_in_r(run_r,
                                                                                   tmp_path):
    """Real shapes of data: a level with persons in one arm only, one without events in an arm,
    one in a single cluster, one empty. Each gets counts and a note; the interaction test uses
    the levels with events in both arms and equals R's robust Wald test on those (1e-8)."""
    d = _data(n=400)
    rng = np.random.default_rng(3)
    one_arm = pd.DataFrame({"t": rng.integers(1, 90, 12), "e": 1, "treated": 0,
                            "level": "one_arm", "centre": rng.integers(0, 8, 12), "y": 10.0})
    no_events = pd.DataFrame({"t": rng.integers(1, 90, 12), "e": [0] * 6 + [1] * 6,
                              "treated": [1] * 6 + [0] * 6, "level": "no_events",
                              "centre": rng.integers(0, 8, 12), "y": 10.0})
    one_centre = pd.DataFrame({"t": rng.integers(1, 90, 12), "e": 1, "treated": [1, 0] * 6,
                               "level": "one_centre", "centre": 3, "y": 10.0})
    d = pd.concat([d, one_arm, no_events, one_centre], ignore_index=True)
    d.to_csv(tmp_path / "d.csv", index=False)
    levels = ["low", "medium", "high", "one_arm", "no_events", "one_centre", "absent"]
    got = effect_by_level(d, "level", levels, time="t", event="e", outcome="y",
                          treated="treated", cluster="centre").set_index("level")
    assert got["note"].to_dict() == {"low": "", "medium": "", "high": "",
                                     "one_arm": "too_few_per_arm", "no_events": "no_events",
                                     "one_centre": "one_cluster", "absent": "no_persons"}
    assert got.loc[["one_arm", "no_events", "one_centre", "absent"], "hr"].isna().all()
    assert (got["interaction_df"] == 3).all()  # low, medium, high, one_centre: 3 terms
    code = f"""suppressMessages(library(survival)); {FMT}
d <- read.csv('{tmp_path / "d.csv"}')
d <- d[d$level %in% c('low', 'medium', 'high', 'one_centre'), ]
d$level <- factor(d$level, levels = c('low', 'medium', 'high', 'one_centre'))
m <- coxph(Surv(t, e) ~ treated * level + cluster(centre), data = d,
           control = coxph.control(eps = 1e-13, iter.max = 100))
k <- grep(':', names(coef(m))); b <- coef(m)[k]; V <- vcov(m)[k, k]
fmt(pchisq(drop(t(b) %*% solve(V) %*% b), length(k), lower.tail = FALSE))
"""
    want = float(run_r(code).split()[1])
    np.testing.assert_allclose(got["p_interaction"].to_numpy(), want, rtol=1e-8)


def test_no_interaction_test_without_two_levels_with_events_in_both_arms():
    d = _data(n=200)
    d.loc[d["level"] != "low", "e"] = 0
    got = effect_by_level(d, "level", ["low", "medium", "high"], time="t", event="e",
                          treated="treated", cluster="centre")
    assert got["p_interaction"].isna().all() and (got["interaction_df"] == 0).all()
    assert list(got["note"]) == ["", "no_events", "no_events"]


def test_an_interaction_whose_coefficient_may_be_infinite_is_not_tested(run_r, tmp_path):
    """Treated persons at level B all return first, everyone else only after they have left
    the risk set: the treatment × B coefficient runs to infinity (monotone likelihood,
    coxph's warning) although each level has returns in both arms."""
    from rehabkoord.subgroups import NotTestable

    rows = [(1, "B", float(t), 1) for t in range(1, 6)]
    rows += [(0, "B", 10.0 + t, t % 2) for t in range(6)]
    rows += [(arm, "A", 10.0 + 1.5 * t + arm, (t + arm) % 3 > 0) for t in range(8)
             for arm in (0, 1)]
    d = pd.DataFrame(rows, columns=["treated", "level", "t", "e"]).astype({"e": int})
    d["centre"] = np.arange(len(d)) % 4
    with pytest.raises(NotTestable, match="may be infinite"):
        interaction_test(d, "level", ["A", "B"], time="t", event="e", treated="treated")
    lr = interaction_test(d, "level", ["A", "B"], time="t", event="e", treated="treated",
                          test="lr")
    d.to_csv(tmp_path / "d.csv", index=False)
    want = run_r(f"""suppressMessages(library(survival)); d <- read.csv("{tmp_path / 'd.csv'}")
f <- suppressWarnings(coxph(Surv(t, e) ~ treated * level, data = d))
a <- anova(coxph(Surv(t, e) ~ treated + level, data = d), f)
cat(sprintf("%.17g", c(a$Chisq[2], a[["Pr(>|Chi|)"]][2])))""").split()
    # the likelihoods at the limit, as R's anova (R stops at a relative change of 1e-9)
    assert lr.df == 1
    np.testing.assert_allclose([lr.statistic, lr.pvalue], np.array(want, float), rtol=1e-8)
    got = effect_by_level(d, "level", ["A", "B"], time="t", event="e", treated="treated",
                          cluster="centre")
    assert got["p_interaction"].isna().all() and (got["interaction_df"] == 0).all()
