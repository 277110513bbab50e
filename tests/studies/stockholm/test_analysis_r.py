"""The spell study's estimates against R on the same synthetic data: survival 3.5 (survfit,
survdiff, coxph with cluster) to 1e-8 relative (Kaplan–Meier and log-rank to 1e-10), cmprsk
(Gray's test) and glm (Poisson rate ratio with the same CR1 sandwich written out)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.r


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)



def _r_data(t, tmp_path) -> str:
    """R code reading the model's columns of `t` as `d`, with the analysis' factor levels."""
    csv = tmp_path / "t.csv"
    t[["ReturnDays", "Returned", "coordinator", "age", "sex", "Diagnosgrupp", "PriorCategory",
       "Vardcentral"]].to_csv(csv, index=False)
    return f"""
suppressMessages(library(survival))
d <- read.csv("{csv}", stringsAsFactors = FALSE)
d$sex <- factor(d$sex, levels = c("kvinna", "man"))
d$Diagnosgrupp <- factor(d$Diagnosgrupp, levels = c("mental", "pain", "both", "other"))
d$PriorCategory <- factor(d$PriorCategory, levels = c("none", "1-90", ">90"))
"""

def test_main_estimates_equal_r(tmp_path, run_r, sthlm_derived, sthlm_estimates):
    table, _, _ = sthlm_derived
    csv = tmp_path / "t.csv"
    cols = ["ReturnDays", "Returned", "coordinator", "age", "sex", "Diagnosgrupp",
            "PriorCategory", "Vardcentral", "Grupp", "ResickDays", "ResickStatus"]
    table[cols].to_csv(csv, index=False)
    out = run_r(f"""
suppressMessages({{library(survival); library(cmprsk)}})
d <- read.csv("{csv}", stringsAsFactors = FALSE)
d$sex <- factor(d$sex, levels = c("kvinna", "man"))
d$Diagnosgrupp <- factor(d$Diagnosgrupp, levels = c("mental", "pain", "both", "other"))
d$PriorCategory <- factor(d$PriorCategory, levels = c("none", "1-90", ">90"))
d$Grupp <- factor(d$Grupp, levels = c("Koordinator", "Kontroll"))
p <- function(name, v) cat(name, sprintf("%.17g", v), "\\n")
for (g in levels(d$Grupp)) {{
  f <- survfit(Surv(ReturnDays, Returned) ~ 1, data = d[d$Grupp == g, ])
  p(paste0("median_", g), summary(f)$table[c("median", "0.95LCL", "0.95UCL")])
}}
s <- survdiff(Surv(ReturnDays, Returned) ~ Grupp, data = d)
p("logrank", c(s$chisq, pchisq(s$chisq, 1, lower.tail = FALSE)))
ctl <- coxph.control(eps = 1e-13, iter.max = 100)
u <- coxph(Surv(ReturnDays, Returned) ~ coordinator, data = d, cluster = Vardcentral,
           ties = "efron", control = ctl)
p("hr_unadjusted", summary(u)$conf.int[1, c(1, 3, 4)])
p("hr_unadjusted_p", summary(u)$coefficients[1, 6])
a <- coxph(Surv(ReturnDays, Returned) ~ coordinator + age + sex + Diagnosgrupp + PriorCategory,
           data = d, cluster = Vardcentral, ties = "efron", control = ctl)
p("hr_adjusted", summary(a)$conf.int[1, c(1, 3, 4)])
p("hr_adjusted_p", summary(a)$coefficients[1, 6])
r <- d[!is.na(d$ResickStatus), ]
ci <- cuminc(r$ResickDays, r$ResickStatus, r$Grupp, cencode = 0)
p("gray", ci$Tests[1, 1:2])
""")
    got = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in out.splitlines()
           if line.strip()}
    m = sthlm_estimates.main.set_index("measure")
    for g in ("Koordinator", "Kontroll"):
        r = m.loc[f"median_days_{g}"]
        assert np.allclose([r.estimate, r.conf_low, r.conf_high], got[f"median_{g}"],
                           rtol=1e-10, atol=0)
    assert rel(m.loc["logrank_chisq", "estimate"], got["logrank"][0]) < 1e-10
    assert rel(m.loc["logrank_chisq", "pvalue"], got["logrank"][1]) < 1e-10
    for name in ("hr_unadjusted", "hr_adjusted"):
        r = m.loc[name]
        for ours, theirs in zip((r.estimate, r.conf_low, r.conf_high), got[name], strict=True):
            assert rel(ours, theirs) < 1e-8, (name, ours, theirs)
        assert rel(r.pvalue, got[f"{name}_p"][0]) < 1e-8
    assert rel(m.loc["gray_chisq", "estimate"], got["gray"][0]) < 1e-8
    assert rel(m.loc["gray_chisq", "pvalue"], got["gray"][1]) < 1e-8


def test_iptw_estimates_equal_r(tmp_path, run_r, sthlm_derived, sthlm_estimates):
    """Propensity model (glm), weighted Cox (coxph with weights and cluster) and the weighted
    differences in means (lm with weights and the CR1 sandwich written out), 1e-8 relative."""
    table, _, _ = sthlm_derived
    csv = tmp_path / "t.csv"
    cols = ["ReturnDays", "Returned", "coordinator", "age", "sex", "Diagnosgrupp",
            "PriorCategory", "Vardcentral", "NetDays", "MeanDegree", "FullReturn"]
    table[cols].to_csv(csv, index=False, float_format="%.17g")
    out = run_r(f"""
suppressMessages(library(survival))
d <- read.csv("{csv}", stringsAsFactors = FALSE)
d$sex <- factor(d$sex, levels = c("kvinna", "man"))
d$Diagnosgrupp <- factor(d$Diagnosgrupp, levels = c("mental", "pain", "both", "other"))
d$PriorCategory <- factor(d$PriorCategory, levels = c("none", "1-90", ">90"))
p <- function(name, v) cat(name, sprintf("%.17g", v), "\\n")
ps <- glm(coordinator ~ age + sex + Diagnosgrupp + PriorCategory, family = binomial, data = d,
          control = glm.control(epsilon = 1e-14, maxit = 100))
e <- fitted(ps); d$w <- ifelse(d$coordinator == 1, 1 / e, 1 / (1 - e))
cx <- coxph(Surv(ReturnDays, Returned) ~ coordinator, data = d, weights = w,
            cluster = Vardcentral, ties = "efron",
            control = coxph.control(eps = 1e-13, iter.max = 100))
p("hr_iptw", c(summary(cx)$conf.int[1, c(1, 3, 4)], summary(cx)$coefficients[1, 6]))
wcr1 <- function(y, g, w, cl) {{
  m <- lm(y ~ g, weights = w); X <- model.matrix(m); r <- residuals(m)
  n <- nrow(X); k <- ncol(X); G <- length(unique(cl))
  bread <- solve(crossprod(X, w * X)); meat <- matrix(0, k, k)
  for (h in unique(cl)) {{
    s <- crossprod(X[cl == h, , drop = FALSE], w[cl == h] * r[cl == h]); meat <- meat + s %*% t(s)
  }}
  V <- bread %*% meat %*% bread * G / (G - 1) * (n - 1) / (n - k)
  est <- unname(coef(m)[2]); se <- sqrt(V[2, 2]); q <- qt(0.975, G - 1)
  c(est, est - q * se, est + q * se, 2 * pt(-abs(est / se), G - 1))
}}
p("net_days_iptw_difference", wcr1(d$NetDays, d$coordinator, d$w, d$Vardcentral))
p("degree_iptw_difference", wcr1(d$MeanDegree, d$coordinator, d$w, d$Vardcentral))
f <- !is.na(d$FullReturn)
p("risk_difference_iptw", wcr1(d$FullReturn[f], d$coordinator[f], d$w[f], d$Vardcentral[f]))
""")
    got = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in out.splitlines()
           if line.strip()}
    m = sthlm_estimates.main.set_index("measure")
    for name in ("hr_iptw", "net_days_iptw_difference", "degree_iptw_difference",
                 "risk_difference_iptw"):
        r = m.loc[name]
        for ours, theirs in zip((r.estimate, r.conf_low, r.conf_high, r.pvalue), got[name],
                                strict=True):
            assert rel(ours, theirs) < 1e-8, (name, ours, theirs)


def test_empty_levels_are_left_out_of_the_adjusted_models_as_r(tmp_path, run_r, sthlm_derived):
    """A delivery without 'both' diagnoses and without > 90 prior net days: R's coxph and glm
    give NA for those levels and fit the rest; so do the adjusted and IPT-weighted hazard
    ratios (1e-8 relative), and the notes name each left-out level and subgroup."""
    from rehabkoord.studies.stockholm import analysis

    table, months, _ = sthlm_derived
    t = table[(table["Diagnosgrupp"] != "both") & (table["PriorCategory"] != ">90")]
    t = t.reset_index(drop=True)
    est = analysis.estimate(t, months[months["LopNr"].isin(t["LopNr"])],
                            {"conf_level": 0.95, "randomised": False, "cuminc_times": [90]})
    out = run_r(_r_data(t, tmp_path) + """
p <- function(name, v) cat(name, sprintf("%.17g", v), "\\n")
ctl <- coxph.control(eps = 1e-13, iter.max = 100)
a <- suppressWarnings(coxph(Surv(ReturnDays, Returned) ~ coordinator + age + sex +
           Diagnosgrupp + PriorCategory, data = d, cluster = Vardcentral, control = ctl))
p("hr_adjusted", c(summary(a)$conf.int[1, c(1, 3, 4)], summary(a)$coefficients[1, 6]))
p("na", sum(is.na(coef(a))))
ps <- glm(coordinator ~ age + sex + Diagnosgrupp + PriorCategory, family = binomial, data = d,
          control = glm.control(epsilon = 1e-14, maxit = 100))
e <- fitted(ps); d$w <- ifelse(d$coordinator == 1, 1 / e, 1 / (1 - e))
cx <- coxph(Surv(ReturnDays, Returned) ~ coordinator, data = d, weights = w,
            cluster = Vardcentral, control = ctl)
p("hr_iptw", c(summary(cx)$conf.int[1, c(1, 3, 4)], summary(cx)$coefficients[1, 6]))
""")
    got = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in out.splitlines()
           if line.strip()}
    assert got["na"] == [2.0]
    m = est.main.set_index("measure")
    for name in ("hr_adjusted", "hr_iptw"):
        r = m.loc[name]
        for ours, theirs in zip((r.estimate, r.conf_low, r.conf_high, r.pvalue), got[name],
                                strict=True):
            assert rel(ours, theirs) < 1e-8, (name, ours, theirs)
    assert m.loc["hr_adjusted", "params"] == 6  # 8 columns, 2 aliased
    aliased = {(n["estimate"], n["variable"], n["level"], n["n"])
               for n in est.notes if n["kind"] == "aliased"}
    assert aliased == {(e, v, lv, 0) for e in ("hr_adjusted", "propensity")
                       for v, lv in (("Diagnosgrupp", "both"), ("PriorCategory", ">90"))}
    levels = {(n["variable"], n["level"], n["note"]) for n in est.notes
              if n["kind"] == "subgroup_level"}
    assert {("Diagnosgrupp", "both", "no_persons"), ("PriorCategory", ">90", "no_persons")} \
        <= levels


def test_a_level_where_no_one_returned_is_noted_as_r_warns(tmp_path, run_r, sthlm_derived):
    """No one with both diagnoses returned: R's coxph (default control) warns "coefficient
    may be infinite" for that level only; the notes name it for the adjusted hazard ratio
    (with its persons) and for nothing else, and the adjusted hazard ratio equals R's fully
    converged one (1e-8 relative), the runaway term weighing nothing on it."""
    from rehabkoord.studies.stockholm import analysis

    table, months, _ = sthlm_derived
    both = table["Diagnosgrupp"] == "both"
    t = table.assign(Returned=table["Returned"].where(~both, 0),
                     FullReturn=table["FullReturn"].where(~both)).reset_index(drop=True)
    est = analysis.estimate(t, months, {"conf_level": 0.95, "randomised": True,
                                        "cuminc_times": [90]})
    out = run_r(_r_data(t, tmp_path) + """
f <- Surv(ReturnDays, Returned) ~ coordinator + age + sex + Diagnosgrupp + PriorCategory
hit <- character(0)
invisible(withCallingHandlers(coxph(f, data = d, cluster = Vardcentral), warning = function(w) {
  m <- regmatches(conditionMessage(w), regexpr("variable +[0-9,]+", conditionMessage(w)))
  k <- as.integer(strsplit(sub("variable +", "", m), ",")[[1]])
  hit <<- c(hit, colnames(model.matrix(f, d))[-1][k]); invokeRestart("muffleWarning") }))
cat("inf", hit, "\\n")
ctl <- coxph.control(eps = 1e-13, toler.chol = 1e-15, iter.max = 200)
a <- suppressWarnings(coxph(f, data = d, cluster = Vardcentral, control = ctl))
cat("hr_adjusted", sprintf("%.17g", c(summary(a)$conf.int[1, c(1, 3, 4)],
                                      summary(a)$coefficients[1, 6])), "\\n")
""")
    got = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert got["inf"] == ["Diagnosgruppboth"]
    r = est.main.set_index("measure").loc["hr_adjusted"]
    for ours, theirs in zip((r.estimate, r.conf_low, r.conf_high, r.pvalue),
                            map(float, got["hr_adjusted"]), strict=True):
        assert rel(ours, theirs) < 1e-8, (ours, theirs)
    infinite = [n for n in est.notes if n["kind"] == "infinite"]
    assert infinite == [{"kind": "infinite", "estimate": "hr_adjusted",
                         "variable": "Diagnosgrupp", "level": "both", "n": int(both.sum())}]
