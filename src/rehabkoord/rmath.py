"""Ports of the few R numerical routines whose exact iterates R's printed results depend on.

R's `uniroot` stops at a tolerance of about 1.2e-4 by default, so the odds-ratio estimate and
interval of `fisher.test`, the Hodges–Lehmann estimate of `wilcox.test` and `power.prop.test`
are R's *iterates*, not the exact roots. To agree with R beyond that tolerance we run the same
algorithm: Brent's zeroin as in R's ``src/library/stats/src/zeroin.c`` (R_zeroin2) and the
interval-extension logic of `uniroot`. The Wilcoxon distribution mirrors R's ``pwilcox`` and
``qwilcox`` summation order. `glm_warnings` runs glm.fit's IRLS for a logistic model to say
what R would warn (separation), which statsmodels' fit does not.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

EPSILON = sys.float_info.epsilon
DBL_MAX = sys.float_info.max
UNIROOT_TOL = EPSILON**0.25


class RootNotFound(ArithmeticError):
    """No sign change of f over the interval (R: 'f() values at end points not of opposite sign')."""


def _finite(value: float) -> float:
    """R's fcn2: -Inf becomes -DBL_MAX and NaN/+Inf become DBL_MAX, keeping the root search going."""
    if math.isfinite(value):
        return value
    return -DBL_MAX if value == -math.inf else DBL_MAX


def zeroin2(f: Callable[[float], float], ax: float, bx: float, fa: float, fb: float,
            tol: float = UNIROOT_TOL, maxit: int = 1000) -> tuple[float, int, float]:
    """Brent's root finder exactly as R's R_zeroin2; returns (root, iterations, precision)."""
    a, b = ax, bx
    c, fc = a, fa
    maxit_left = maxit + 1
    if fa == 0.0:
        return a, 0, 0.0
    if fb == 0.0:
        return b, 0, 0.0
    while maxit_left:
        maxit_left -= 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * EPSILON * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b, maxit + 1 - maxit_left - 1, abs(c - b)
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = _finite(f(b))
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b, -1, -1.0


def uniroot(f: Callable[[float], float], lower: float, upper: float, *,
            f_lower: float | None = None, f_upper: float | None = None,
            tol: float = UNIROOT_TOL, maxiter: int = 1000, extend_int: str = "no") -> float:
    """R's `uniroot(...)$root`, including `extendInt` ('no', 'yes', 'upX', 'downX')."""
    f_lower = f(lower) if f_lower is None else f_lower
    f_upper = f(upper) if f_upper is None else f_upper
    sig = {"yes": None, "downX": -1, "no": 0, "upX": 1}[extend_int]

    def trunc(v: float) -> float:
        return max(min(v, DBL_MAX), -DBL_MAX)

    fl, fu = trunc(f_lower), trunc(f_upper)
    do_x = (sig is None and fl * fu > 0) or (
        sig is not None and sig != 0 and (sig * fl > 0 or sig * fu < 0))
    if do_x:
        it = 0
        if sig is None:
            delta = [0.01 * max(1e-4, abs(lower)), 0.01 * max(1e-4, abs(upper))]
            while f_lower * f_upper > 0 and (math.isfinite(lower) or math.isfinite(upper)):
                it += 1
                if it > maxiter:
                    raise RootNotFound(f"no sign change found in {it - 1} iterations")
                if math.isfinite(lower):
                    ol, of = lower, f_lower
                    lower -= delta[0]
                    f_lower = f(lower)
                    if math.isnan(f_lower):
                        lower, f_lower = ol, of
                        delta[0] /= 4
                if math.isfinite(upper):
                    ol, of = upper, f_upper
                    upper += delta[1]
                    f_upper = f(upper)
                    if math.isnan(f_upper):
                        upper, f_upper = ol, of
                        delta[1] /= 4
                delta = [2 * d for d in delta]
        else:
            delta = 0.01 * max(1e-4, abs(lower))
            while sig * f_lower > 0:
                it += 1
                if it > maxiter:
                    raise RootNotFound(f"no sign change found in {it - 1} iterations")
                lower -= delta
                f_lower = f(lower)
                delta *= 2
            delta = 0.01 * max(1e-4, abs(upper))
            while sig * f_upper < 0:
                it += 1
                if it > maxiter:
                    raise RootNotFound(f"no sign change found in {it - 1} iterations")
                upper += delta
                f_upper = f(upper)
                delta *= 2
    if not (math.copysign(1, f_lower) * math.copysign(1, f_upper) <= 0
            or f_lower == 0 or f_upper == 0):
        raise RootNotFound("f() values at end points not of opposite sign")
    root, _, _ = zeroin2(f, lower, upper, f_lower, f_upper, tol, maxiter)
    return root


@lru_cache(maxsize=256)
def wilcox_counts(m: int, n: int) -> tuple[int, ...]:
    """Exact counts of the Mann–Whitney statistic 0..m*n (Gaussian binomial coefficients)."""
    counts = [1] + [0] * (m * n)
    for i in range(1, m + 1):
        top = n + i
        for k in range(len(counts) - 1, top - 1, -1):  # multiply by (1 - q^(n+i))
            counts[k] -= counts[k - top]
        for k in range(i, len(counts)):  # divide by (1 - q^i)
            counts[k] += counts[k - i]
    return tuple(counts)


def pwilcox(q: float, m: int, n: int, lower_tail: bool = True) -> float:
    """R's pwilcox: P(W <= q) (or P(W > q)), summed in R's order."""
    q = math.floor(q + 1e-7)
    if q < 0.0:
        return 0.0 if lower_tail else 1.0
    if q >= m * n:
        return 1.0 if lower_tail else 0.0
    counts = wilcox_counts(m, n)
    c = float(math.comb(m + n, n))
    p = 0.0
    if q <= m * n / 2:
        for i in range(int(q) + 1):
            p += counts[i] / c
    else:
        q = m * n - q
        for i in range(int(q)):
            p += counts[i] / c
        lower_tail = not lower_tail
    return p if lower_tail else 0.5 - p + 0.5


def qwilcox(x: float, m: int, n: int) -> int:
    """R's qwilcox (lower tail): smallest q with P(W <= q) >= x."""
    counts = wilcox_counts(m, n)
    c = float(math.comb(m + n, n))
    p = 0.0
    q = 0
    if x <= 0.5:
        x = x - 10 * EPSILON
        while True:
            p += counts[q] / c
            if p >= x:
                return q
            q += 1
    x = 1 - x + 10 * EPSILON
    while True:
        p += counts[q] / c
        if p > x:
            return m * n - q
        q += 1


#: glm.control()'s defaults and glm.fit's bound for a fitted probability "numerically 0 or
#: 1" (10·.Machine$double.eps); R's logit link clamps the linear predictor at ±30.
GLM_EPSILON, GLM_MAXIT = 1e-8, 25
NUMERICALLY_01 = 10 * float(np.finfo(float).eps)
_LOGIT_THRESH = 30.0


@dataclass(frozen=True)
class GlmWarnings:
    """Where R's `glm(family=binomial)` stops (glm.fit's IRLS from its own start) and what it
    warns there: not `converged` within GLM_MAXIT iterations, `extreme` fitted risks within
    NUMERICALLY_01 of 0 or 1."""

    converged: bool
    iterations: int
    extreme: int

    def messages(self) -> tuple[str, ...]:
        """R's warnings, in R's words."""
        return ((() if self.converged else ("algorithm did not converge",))
                + (("fitted probabilities numerically 0 or 1 occurred",) if self.extreme
                   else ()))


def _logit_inverse(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R's `logit_linkinv` and `logit_mu_eta` (family.c): clamped beyond ±30."""
    eps = float(np.finfo(float).eps)
    e = np.exp(np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH))
    e = np.where(eta < -_LOGIT_THRESH, eps, np.where(eta > _LOGIT_THRESH, 1 / eps, e))
    mu_eta = np.where(np.abs(eta) > _LOGIT_THRESH, eps, e / (1 + e) ** 2)
    return e / (1 + e), mu_eta


def glm_warnings(X: np.ndarray, y: np.ndarray, epsilon: float = GLM_EPSILON,
                 maxit: int = GLM_MAXIT) -> GlmWarnings:
    """R's glm.fit for a logistic model on a full-rank design, to see what it warns: IRLS
    from mustart = (y + 0.5)/2, stop when |dev − dev_old|/(|dev| + 0.1) < epsilon."""
    X = np.asarray(X, dtype=float)
    yy = np.asarray(y, dtype=float)
    mu = (yy + 0.5) / 2
    eta = np.log(mu / (1 - mu))
    mu_eta = mu * (1 - mu)

    def deviance(m: np.ndarray) -> float:
        return float(-2 * np.sum(np.where(yy == 1, np.log(m), np.log(1 - m))))

    dev_old, converged, it = deviance(mu), False, 0
    while not converged and it < maxit:
        it += 1
        z = eta + (yy - mu) / mu_eta
        w = np.sqrt(mu_eta ** 2 / (mu * (1 - mu)))
        beta = np.linalg.lstsq(X * w[:, None], z * w, rcond=None)[0]
        eta = X @ beta
        mu, mu_eta = _logit_inverse(eta)
        dev = deviance(mu)
        converged = abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon
        dev_old = dev
    extreme = int(np.sum((mu > 1 - NUMERICALLY_01) | (mu < NUMERICALLY_01)))
    return GlmWarnings(converged, it, extreme)
