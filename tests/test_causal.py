"""Standardised mean differences by hand, and properties of the weights and cluster means."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rehabkoord import causal


def test_smd_continuous_by_hand():
    x = [1.0, 2.0, 3.0, 4.0, 10.0, 12.0]
    g = [0, 0, 0, 1, 1, 1]
    # means 2 and 26/3; sample variances 1 and the treated group's below
    m0, m1 = 2.0, 26 / 3
    v0 = 1.0
    v1 = ((4 - m1) ** 2 + (10 - m1) ** 2 + (12 - m1) ** 2) / 2
    res = causal.smd(x, g)
    assert res.kind == "continuous"
    assert res.smd[0] == pytest.approx((m1 - m0) / math.sqrt((v1 + v0) / 2), rel=1e-14)


def test_smd_binary_and_categorical_by_hand():
    g = ["K"] * 4 + ["I"] * 5  # levels sorted: I (reference), K (treated) unless named
    b = [1, 0, 0, 0, 1, 1, 1, 0, 0]
    res = causal.smd(b, g, treated="I")
    p1, p0 = 3 / 5, 1 / 4
    assert res.kind == "binary"
    assert res.smd[0] == pytest.approx((p1 - p0) / math.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2))
    cat = ["a", "b", "c", "c", "a", "a", "b", "c", "c"]
    res = causal.smd(cat, g, treated="I")
    assert res.kind == "categorical" and res.levels == ("a", "b", "c")
    for lev, got in zip(res.levels, res.smd, strict=True):
        ind = np.array([c == lev for c in cat], float)
        q1, q0 = ind[4:].mean(), ind[:4].mean()
        assert got == pytest.approx((q1 - q0) / math.sqrt((q1 * (1 - q1) + q0 * (1 - q0)) / 2))
    assert causal.smd(cat, g).smd == pytest.approx(-res.smd)  # default treated is the 2nd level


def test_smd_weighted_keeps_unweighted_denominator():
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=50), rng.integers(0, 2, 50)
    w = rng.uniform(0.5, 2, 50)
    un, wt = causal.smd(x, g), causal.smd(x, g, weights=w)
    sd = math.sqrt((x[g == 1].var(ddof=1) + x[g == 0].var(ddof=1)) / 2)
    m1 = np.sum(w[g == 1] * x[g == 1]) / w[g == 1].sum()
    m0 = np.sum(w[g == 0] * x[g == 0]) / w[g == 0].sum()
    assert wt.smd[0] == pytest.approx((m1 - m0) / sd, rel=1e-13)
    assert un.smd[0] != wt.smd[0]


def test_propensity_weights_balance_and_stabilise():
    rng = np.random.default_rng(2)
    n = 2000
    age = rng.uniform(25, 64, n)
    trt = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 0.05 * age)))).astype(float)
    res = causal.propensity_weights(trt, pd.DataFrame({"age": age}))
    st = causal.propensity_weights(trt, pd.DataFrame({"age": age}), stabilised=True)
    before = abs(causal.smd(age, trt).smd[0])
    after = abs(causal.smd(age, trt, weights=res.weights).smd[0])
    assert after < 0.05 < before
    # ATE weights make each group stand for the whole sample (n in expectation)
    assert res.weights[trt == 1].sum() == pytest.approx(n, rel=0.05)
    assert res.weights[trt == 0].sum() == pytest.approx(n, rel=0.05)
    assert st.weights[trt == 1].mean() == pytest.approx(1.0, rel=0.05)


def test_a_separated_propensity_model_stops_in_r_s_words():
    """Everyone over 50 treated: R's glm warns (fitted probabilities numerically 0 or 1), and
    the weights of the oldest untreated would be infinite; a mixed design fits as before."""
    age = np.arange(20.0, 80.0)
    treated = (age > 50).astype(float)
    with pytest.raises(ValueError, match="fitted probabilities numerically 0 or 1"):
        causal.propensity_weights(treated, pd.DataFrame({"age": age}))
    mixed = treated.copy()
    mixed[[5, 40]] = 1 - mixed[[5, 40]]
    assert np.isfinite(causal.propensity_weights(mixed, pd.DataFrame({"age": age})).weights).all()


def test_cluster_mean_ci_by_hand():
    y = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 4.0])
    cl = np.array([0, 0, 0, 1, 1, 2])
    res = causal.cluster_mean_ci(y, cl)
    ybar = y.mean()
    sums = np.array([np.sum(y[cl == g] - ybar) for g in range(3)])
    se = math.sqrt(3 / 2 * np.sum(sums ** 2) / 36)
    assert res.estimate == pytest.approx(ybar) and res.se == pytest.approx(se, rel=1e-12)
    assert res.df == 2 and res.n_clusters == 3
    from scipy import stats
    q = stats.t.ppf(0.975, 2)
    assert res.conf_low == pytest.approx(ybar - q * se) and res.conf_high == pytest.approx(ybar + q * se)


def test_cluster_mean_difference_is_the_difference_of_means():
    rng = np.random.default_rng(3)
    y, g, cl = rng.normal(size=80), rng.integers(0, 2, 80), rng.integers(0, 7, 80)
    res = causal.cluster_mean_difference(y, g, cl)
    assert res.estimate == pytest.approx(y[g == 1].mean() - y[g == 0].mean(), rel=1e-12)
    assert res.means == pytest.approx((y[g == 0].mean(), y[g == 1].mean()))
    assert res.df == 6 and res.conf_low < res.estimate < res.conf_high


def test_weighted_mean_difference_without_weights_is_cluster_mean_difference():
    rng = np.random.default_rng(4)
    y, g, cl = rng.normal(size=90), rng.integers(0, 2, 90), rng.integers(0, 7, 90)
    a = causal.weighted_mean_difference(y, g, cl)
    b = causal.cluster_mean_difference(y, g, cl)
    assert [a.estimate, a.se, a.conf_low, a.conf_high, a.pvalue] == pytest.approx(
        [b.estimate, b.se, b.conf_low, b.conf_high, b.pvalue], rel=1e-12)
    assert a.means == pytest.approx(b.means, rel=1e-12) and a.df == b.df == 6


def test_weighted_mean_difference_is_the_difference_of_weighted_means():
    rng = np.random.default_rng(5)
    y, g, cl = rng.normal(size=80), rng.integers(0, 2, 80), rng.integers(0, 5, 80)
    w = rng.uniform(1, 6, 80)
    res = causal.weighted_mean_difference(y, g, cl, w)
    m0 = np.sum(w[g == 0] * y[g == 0]) / w[g == 0].sum()
    m1 = np.sum(w[g == 1] * y[g == 1]) / w[g == 1].sum()
    assert res.estimate == pytest.approx(m1 - m0, rel=1e-12)
    assert res.means == pytest.approx((m0, m1), rel=1e-12)
    # scaling the weights within a group changes neither the estimate nor its SE (stabilising)
    scaled = causal.weighted_mean_difference(y, g, cl, np.where(g == 1, 0.3, 2.0) * w)
    assert [scaled.estimate, scaled.se] == pytest.approx([res.estimate, res.se], rel=1e-10)
    with pytest.raises(ValueError, match="positive"):
        causal.weighted_mean_difference(y, g, cl, np.where(g == 1, 0.0, 1.0))
