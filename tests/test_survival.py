"""Hand-checkable cases for the survival statistics, and where the libraries they build on agree
(or, for statsmodels' robust Cox SEs with ties, why they do not)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.nonparametric import cumulative_incidence_competing_risks
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight

from rehabkoord import survival as sv


def tied(seed: int, n: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = rng.integers(0, 3, n)
    t = np.ceil(rng.exponential(8 * np.exp(-0.4 * x)))
    e = (rng.random(n) < 0.7).astype(float)
    return t, e, x, g


def test_kaplan_meier_by_hand():
    km = sv.kaplan_meier([1, 2, 2, 3, 4, 4], [1, 1, 0, 1, 1, 1])
    assert km.time.tolist() == [1, 2, 3, 4]
    assert km.n_risk.tolist() == [6, 5, 3, 2]
    assert km.n_censor.tolist() == [0, 1, 0, 0]
    assert km.surv == pytest.approx([5 / 6, 2 / 3, 4 / 9, 0])
    assert km.std_err_log[0] == pytest.approx(np.sqrt(1 / (6 * 5)))
    assert km.median == 3 and km.median_lower == 2 and np.isnan(km.median_upper)
    assert np.isnan(km.lower[-1]) and np.isinf(km.std_err_log[-1])
    at = sv.numbers_at_risk(km, [0, 2, 2.5, 9])
    assert at.n_risk.tolist() == [6, 5, 3, 0]


def test_median_rules_when_the_curve_sits_at_one_half():
    flat_then_drop = sv.kaplan_meier([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 0, 1])
    assert flat_then_drop.median == 3.5 and flat_then_drop.quantile(0.5)[0] == 3.5
    flat_to_end = sv.kaplan_meier([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 0, 0])
    assert flat_to_end.median == 3  # print.survfit
    assert flat_to_end.quantile(0.5)[0] == 4.5  # quantile.survfit: midpoint to the last time
    assert np.isnan(sv.kaplan_meier([5, 5, 7], [1, 0, 0]).median)


def test_kaplan_meier_matches_statsmodels_at_event_times():
    t, e, _, _ = tied(1, 300)
    km = sv.kaplan_meier(t, e)
    sf = SurvfuncRight(t, e)
    at_events = km.n_event > 0
    assert km.surv[at_events] == pytest.approx(sf.surv_prob, rel=1e-12)
    assert km.std_err[at_events] == pytest.approx(sf.surv_prob_se, rel=1e-10, nan_ok=True)


def test_logrank_by_hand():
    lr = sv.logrank([1, 2, 3, 4], [1, 1, 1, 1], ["A", "A", "B", "B"])
    assert lr.observed.tolist() == [2, 2]
    assert lr.expected == pytest.approx([5 / 6, 19 / 6])
    assert lr.statistic == pytest.approx(49 / 17) and lr.df == 1


def test_cox_robust_se_equals_statsmodels_without_ties_but_not_with():
    t, e, x, g = tied(2, 400)
    cl = np.random.default_rng(3).integers(0, 7, 400)
    xdf = pd.DataFrame({"x": x, "g1": (g == 1) * 1.0, "g2": (g == 2) * 1.0})
    untied = t + np.random.default_rng(4).uniform(0, 0.5, 400)  # breaks every tie
    ours = sv.cox(untied, e, xdf, cluster=cl)
    theirs = PHReg(untied, xdf.to_numpy(), status=e, ties="efron").fit(groups=cl)
    assert ours.robust_se == pytest.approx(np.asarray(theirs.bse), rel=1e-8)
    # with day-level ties statsmodels' Breslow score residuals drift away from coxph's
    ours = sv.cox(t, e, xdf, cluster=cl)
    theirs = PHReg(t, xdf.to_numpy(), status=e, ties="efron").fit(groups=cl)
    assert ours.coef == pytest.approx(np.asarray(theirs.params), rel=1e-10)
    assert np.max(np.abs(ours.robust_se / np.asarray(theirs.bse) - 1)) > 1e-3


def test_cox_score_residuals_sum_to_the_efron_score():
    t, e, x, g = tied(5, 200)
    w = np.random.default_rng(6).uniform(0.5, 2, 200)
    xm = np.column_stack([x, g == 1, g == 2]).astype(float)
    beta = np.array([0.3, -0.2, 0.1])
    _, score, _, resid = sv._cox_parts(beta, t, e, xm, w, residuals=True)
    assert (w[:, None] * resid).sum(axis=0) == pytest.approx(score, abs=1e-10)


def test_wald_test_single_term_is_z_squared():
    t, e, x, g = tied(7, 300)
    res = sv.cox(t, e, pd.DataFrame({"x": x, "g1": (g == 1) * 1.0}), cluster=g)
    assert sv.wald_test(res, ["x"]).statistic == pytest.approx(res.z[0] ** 2, rel=1e-12)


def test_survival_at_by_hand():
    km = sv.kaplan_meier([1, 2, 2, 3, 4, 4], [1, 1, 0, 1, 1, 1])
    at = sv.survival_at(km, [3, 0.5, float("inf"), 2.5, 9])
    assert at.time.tolist() == [0.5, 2.5, 3]  # sorted; infinite and beyond follow-up dropped
    assert at.n_risk.tolist() == [6, 3, 3]
    assert at.n_event.tolist() == [0, 2, 1] and at.n_censor.tolist() == [0, 1, 0]
    assert at.surv == pytest.approx([1, 2 / 3, 4 / 9])
    assert at.std_err[0] == 0 and at.lower[0] == 1 and at.upper[0] == 1
    assert at.std_err[1] == pytest.approx(km.std_err[1], rel=1e-15)
    ext = sv.survival_at(km, [9], extend=True)
    assert ext.n_risk.tolist() == [0] and ext.surv.tolist() == [0] and ext.n_event.tolist() == [5]
    with pytest.raises(ValueError, match="extend"):
        sv.survival_at(km, [9])


def test_breslow_equals_statsmodels_and_efron_without_ties():
    t, e, x, g = tied(11, 300)
    xdf = pd.DataFrame({"x": x, "g1": (g == 1) * 1.0})
    ours = sv.cox(t, e, xdf, ties="breslow")
    theirs = PHReg(t, xdf.to_numpy(), status=e, ties="breslow").fit()
    assert ours.ties == "breslow" and ours.loglik == pytest.approx(theirs.llf, rel=1e-12)
    assert ours.coef == pytest.approx(np.asarray(theirs.params), rel=1e-10)
    assert np.max(np.abs(ours.coef / sv.cox(t, e, xdf).coef - 1)) > 1e-3  # ties matter here
    untied = t + np.random.default_rng(12).uniform(0, 0.5, 300)
    a, b = sv.cox(untied, e, xdf, ties="breslow"), sv.cox(untied, e, xdf, ties="efron")
    assert a.coef == pytest.approx(b.coef, rel=1e-10)
    assert a.robust_se == pytest.approx(b.robust_se, rel=1e-8)
    with pytest.raises(ValueError, match="ties"):
        sv.cox(t, e, xdf, ties="exact")


def test_lr_test_is_twice_the_loglik_gain_and_refuses_what_anova_refuses():
    t, e, x, g = tied(13, 300)
    small = pd.DataFrame({"x": x})
    big = small.assign(g1=(g == 1) * 1.0, g2=(g == 2) * 1.0)
    fit0, fit1 = sv.cox(t, e, small), sv.cox(t, e, big)
    lr = sv.lr_test(fit1, fit0)
    assert lr.terms == ("g1", "g2") and lr.df == 2 and lr.method == "likelihood ratio"
    assert lr.statistic == pytest.approx(2 * (fit1.loglik - fit0.loglik), rel=1e-15)
    assert sv.lr_test(fit0).statistic == pytest.approx(2 * (fit0.loglik - fit0.loglik_null))
    with pytest.raises(ValueError, match="nested"):
        sv.lr_test(fit0, sv.cox(t, e, big[["g1"]]))
    with pytest.raises(ValueError, match="robust"):
        sv.lr_test(sv.cox(t, e, big, cluster=g), fit0)
    with pytest.raises(ValueError, match="same observations"):
        sv.lr_test(fit1, sv.cox(t, e, small, ties="breslow"))
    wald = sv.wald_test(sv.cox(t, e, big, cluster=g), ["g1", "g2"])
    assert wald.method == "Wald, robust variance"
    assert sv.wald_test(fit1, ["g1"]).method == "Wald, model-based variance"


def test_cumulative_incidence_without_competing_events_is_one_minus_km():
    t, e, _, _ = tied(8, 150)
    ci = sv.cumulative_incidence(t, e)
    km = sv.kaplan_meier(t, e)
    assert ci.est == pytest.approx(1 - km.surv[km.n_event > 0], rel=1e-12)


def test_cumulative_incidence_matches_scikit_survival():
    rng = np.random.default_rng(9)
    t = np.ceil(rng.exponential(10, 300))
    status = rng.choice([0, 1, 2], 300)
    times, cif = cumulative_incidence_competing_risks(status, t)
    ours = sv.cumulative_incidence(t, status, cause=1)
    at = sv.cumulative_incidence_at(ours, times)
    assert at.est == pytest.approx(cif[1], rel=1e-12)
    assert np.all((at.lower <= at.est) | np.isnan(at.lower))


def test_cumulative_incidence_at_times():
    ci = sv.cumulative_incidence([1, 2, 2, 3, 5], [1, 2, 1, 0, 1])
    at = sv.cumulative_incidence_at(ci, [-1, 0, 1, 1.5, 2, 4, 5, 6])
    assert np.isnan(at.est[0]) and np.isnan(at.est[-1])
    assert at.est[1:-1] == pytest.approx([0, 0.2, 0.2, 0.4, 0.4, 0.8])


def test_gray_test_does_not_depend_on_group_labels():
    rng = np.random.default_rng(10)
    t = np.ceil(rng.exponential(10, 200))
    status, g = rng.choice([0, 1, 2], 200), rng.integers(0, 2, 200)
    a = sv.gray_test(t, status, g)
    b = sv.gray_test(t, status, np.where(g == 0, "z", "a"))
    assert a.statistic == pytest.approx(b.statistic, rel=1e-10) and a.df == 1


def test_poisson_rate_ratio_is_the_ratio_of_crude_rates():
    res = sv.poisson_rate_ratio([2, 3, 10, 4], [1.5, 2.5, 3.0, 1.0], ["K", "K", "I", "I"])
    assert res.groups == ("I", "K")
    assert res.rate == pytest.approx([14 / 4.0, 5 / 4.0])
    assert res.ratio[0] == pytest.approx((5 / 4) / (14 / 4), rel=1e-10)
    assert res.se[0] == pytest.approx(np.sqrt(1 / 14 + 1 / 5), rel=1e-10)


def test_a_level_without_events_is_infinite_and_the_rest_is_the_fit_without_its_persons():
    """A 0/1 level with persons but no events: its coefficient runs to −∞, where those persons
    drop out of every risk set; the other terms' limit is therefore the fit to the remaining
    persons, estimates and (model-based and robust) SEs alike."""
    t, e, x, g = tied(5, 300)
    e = np.where(g == 2, 0.0, e)
    design = pd.DataFrame({"x": x, "g1": (g == 1) * 1.0, "g2": (g == 2) * 1.0})
    cl = np.arange(t.size) % 9
    res = sv.cox(t, e, design, cluster=cl)
    assert res.infinite == ("g2",) and res.coef[2] == -np.inf
    assert np.isnan([res.se[2], res.robust_se[2], res.hr[2], res.conf_low[2], res.conf_high[2],
                     res.z[2], res.pvalue[2]]).all()
    rest = g != 2
    sub = sv.cox(t[rest], e[rest], design.loc[rest, ["x", "g1"]], cluster=cl[rest])
    assert sub.infinite == ()
    for f in ("coef", "se", "robust_se", "hr", "conf_low", "conf_high", "pvalue"):
        assert getattr(res, f)[:2] == pytest.approx(getattr(sub, f), rel=1e-9), f
    assert res.loglik == pytest.approx(sub.loglik, rel=1e-12)
    with pytest.raises(ValueError, match="g2 may be infinite"):
        sv.wald_test(res, ["g1", "g2"])
    assert sv.wald_test(res, ["g1"]).df == 1


def test_events_in_every_level_flag_nothing_and_leave_the_fit_as_it_was():
    t, e, x, g = tied(6, 300)
    design = pd.DataFrame({"x": x, "g1": (g == 1) * 1.0, "g2": (g == 2) * 1.0})
    res = sv.cox(t, e, design)
    assert res.infinite == ()
    fit = PHReg(t, design.to_numpy(), status=e, ties="efron").fit()
    assert np.array_equal(res.coef, fit.params)  # the statsmodels estimate, unchanged


def test_the_rule_is_rs_next_newton_step():
    """coxph_infinite flags where |u·var| > eps and > sqrt(eps)·|coef| (coxph.fit)."""
    path = sv.CoxphPath(np.array([-20.0, 0.5, 1e6]), np.array([1e-9, 1e-12, 1e-3]),
                        np.diag([1e9, 1.0, 1.0]), -100.0, 12, True)
    assert sv.coxph_infinite(path).tolist() == [True, False, False]


def test_a_fit_that_does_not_converge_stops_in_rs_words():
    """Every death the largest x in its risk set: coxph runs out of iterations and names no
    variable; so cox stops rather than print a coefficient."""
    x = np.linspace(-2, 2, 40)
    with pytest.raises(ValueError, match="Ran out of iterations"):
        sv.cox(np.argsort(np.argsort(-x)) + 1.0, np.ones(40), pd.DataFrame({"x": x}))
