"""Statistics against hand calculations and published values (tolerances stated per test)."""

import math

import numpy as np
import pytest

from rehabkoord import stats


def test_published_male_subgroup_uses_fisher():
    # Slutrapport: men, intervention 9 of 21 employed or studying, control 1 of 12.
    table = [[9, 12], [1, 11]]
    res = stats.categorical_test(table)
    assert res.test == "fisher"
    assert res.min_expected == pytest.approx(12 * 10 / 33, rel=1e-12)
    # R 4.2.2: fisher.test(matrix(c(9,1,12,11),2))$p.value = 0.05447077949858814
    assert res.pvalue == pytest.approx(0.05447077949858814, rel=1e-10)


def test_chisq_yates_hand_calculation():
    # 2x2 [[20, 10], [10, 20]]: E = 15 everywhere, |O-E| = 5, Yates: 4 * 4.5^2 / 15 = 5.4
    res = stats.chisq_test([[20, 10], [10, 20]])
    assert res.statistic == pytest.approx(5.4, rel=1e-14)
    assert res.df == 1
    assert res.pvalue == pytest.approx(math.erfc(math.sqrt(5.4 / 2)), rel=1e-12)
    assert stats.chisq_test([[20, 10], [10, 20]], correct=False).statistic == pytest.approx(
        20 / 3, rel=1e-14)


def test_newcombe_published_example():
    # Newcombe (1998), Stat Med 17:873, Table II, example (a): 56/70 - 48/80,
    # method 10 interval 0.0524 to 0.3339 (published to 4 decimals).
    rd = stats.risk_difference(56, 70, 48, 80)
    assert rd.estimate == pytest.approx(0.2, abs=1e-15)
    assert rd.confidence_interval() == pytest.approx((0.0524, 0.3339), abs=5e-5)


def test_fisher_2x2_symmetry_and_bounds():
    res = stats.fisher_test([[0, 5], [5, 0]])
    assert res.odds_ratio == 0.0 and res.conf_low == 0.0
    assert 0 < res.pvalue <= 1
    res = stats.fisher_test([[3, 3], [3, 3]])
    assert res.odds_ratio == pytest.approx(1.0, abs=1e-3)  # R's uniroot tolerance
    assert res.pvalue == pytest.approx(1.0, abs=1e-12)


def test_fisher_2xk_hand_enumeration():
    # Small 2x3 table checked by brute-force enumeration of the multivariate hypergeometric.
    x = np.array([[2, 1, 0], [0, 1, 2]])
    cols = x.sum(axis=0)

    def prob(row):
        return np.prod([math.comb(c, r) for c, r in zip(cols, row, strict=True)]) / math.comb(6, 3)

    tables = [r for r in np.ndindex(*(cols + 1)) if sum(r) == 3]
    p_obs = prob(x[0])
    expected = sum(prob(r) for r in tables if prob(r) <= p_obs * (1 + 1e-7))
    assert stats.fisher_test(x).pvalue == pytest.approx(expected, rel=1e-12)
    assert stats.fisher_test(x.T).pvalue == pytest.approx(expected, rel=1e-12)


def test_fisher_rejects_bad_tables():
    with pytest.raises(ValueError):
        stats.fisher_test([[1, -1], [2, 3]])
    with pytest.raises(NotImplementedError):
        stats.fisher_test(np.ones((3, 3), dtype=int))


def test_wilcoxon_exact_small_hand_case():
    # x = (1, 2), y = (3, 4): W = 0, P(W <= 0) = 1 / C(4, 2) = 1/6, two-sided 1/3.
    res = stats.wilcox_test([1, 2], [3, 4])
    assert res.exact and res.statistic == 0
    assert res.pvalue == pytest.approx(1 / 3, rel=1e-14)


def test_wilcoxon_ties_use_normal_approximation():
    res = stats.wilcox_test([0, 0, 1, 2, 3], [0, 1, 1, 4, 5, 6])
    assert not res.exact
    assert "continuity correction" in res.method


def test_power_prop_test_textbook():
    # Fleiss-type normal approximation: p1 = .3, p2 = .5, power .8 -> 92.99884 per group
    # (R 4.2.2 power.prop.test prints n = 92.99884).
    res = stats.power_prop_test(p1=0.3, p2=0.5, power=0.8)
    assert res.n == pytest.approx(92.99884, abs=5e-6)
    back = stats.power_prop_test(n=res.n, p1=0.3, p2=0.5)
    assert back.power == pytest.approx(0.8, abs=1e-4)  # uniroot tolerance on n


def test_holm_matches_definition():
    p = [0.01, 0.04, 0.03, float("nan")]
    adj = stats.holm(p)
    assert adj[:3] == pytest.approx([0.03, 0.06, 0.06], rel=1e-14)
    assert math.isnan(adj[3])


def test_wilcoxon_all_tied_is_a_clear_error():
    with pytest.raises(ValueError, match="all observations are tied"):
        stats.wilcox_test([0, 0, 0], [0, 0])


@pytest.mark.parametrize(("x", "y"), [
    ([1.5, 3.0, 7.25, 9.0], [2.0, 4.0, 5.5]),                  # exact, no ties
    ([0, 0, 3, 5, 5, 8], [0, 1, 2, 2, 9]),                     # ties: normal approximation
    (list(np.linspace(0, 10, 60)), list(np.linspace(1, 12, 55))),  # n >= 50
])
def test_wilcox_pvalue_is_wilcox_tests_p(x, y):
    """The p-only path returns exactly (==) wilcox_test's W and p, with and without correction."""
    for correct in (True, False):
        full = stats.wilcox_test(x, y, correct=correct)
        fast = stats.wilcox_pvalue(x, y, correct=correct)
        assert (fast.statistic, fast.pvalue, fast.exact) == (full.statistic, full.pvalue,
                                                             full.exact)


def test_kruskal_wallis_hand_calculation():
    # ranks 1..6; rank sums 6 and 15: H = 12/(6·7)·(36/3 + 225/3) − 3·7 = 27/7, df 1
    res = stats.kruskal_test([[1, 2, 3], [4, 5, 6]])
    assert res.statistic == pytest.approx(27 / 7, rel=1e-14) and res.df == 1
    assert res.pvalue == pytest.approx(math.erfc(math.sqrt(27 / 14)), rel=1e-12)
    # ties: 1,1,2 | 2,3,3 have mid-ranks 1.5,1.5,3.5 | 3.5,5.5,5.5; three pairs of ties give
    # the correction 1 − Σ(t³ − t)/(n³ − n) = 1 − 18/210
    tied = stats.kruskal_test([[1, 1, 2], [2, 3, 3, math.nan]])
    assert tied.statistic == pytest.approx((12 / 42 * (6.5**2 / 3 + 14.5**2 / 3) - 21)
                                           / (1 - 18 / 210), rel=1e-14)
    with pytest.raises(ValueError, match="all observations are tied"):
        stats.kruskal_test([[2, 2], [2, 2, 2]])
    with pytest.raises(ValueError, match="two groups"):
        stats.kruskal_test([[1, 2], []])
