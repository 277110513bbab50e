"""R numerical routines: zeroin iterates, Wilcoxon distribution (exact counts)."""

import math

import pytest

from rehabkoord import rmath


def test_wilcox_counts_sum_to_binomial():
    for m, n in [(1, 1), (3, 4), (10, 12), (49, 49)]:
        counts = rmath.wilcox_counts(m, n)
        assert sum(counts) == math.comb(m + n, n)
        assert counts == counts[::-1]  # symmetric distribution


def test_pwilcox_qwilcox_consistent():
    for m, n in [(4, 5), (12, 9)]:
        for q in range(m * n + 1):
            p = rmath.pwilcox(q, m, n)
            assert rmath.qwilcox(p, m, n) <= q
        assert rmath.pwilcox(m * n, m, n) == 1.0


def test_uniroot_matches_r_iterate():
    # R 4.2.2: uniroot(function(x) x^2 - 2, c(0, 2))$root = 1.4142133199955025
    assert rmath.uniroot(lambda x: x * x - 2, 0, 2) == 1.4142133199955025


def test_uniroot_extends_interval():
    root = rmath.uniroot(lambda x: x - 5, 0, 1, extend_int="yes", tol=1e-10)
    assert root == pytest.approx(5, abs=1e-9)
    with pytest.raises(rmath.RootNotFound):
        rmath.uniroot(lambda x: x * x + 1, -1, 1)
