"""Number formatting for the appendix: Swedish (decimal comma, space thousands) or English."""

from __future__ import annotations

import math

NBSP = "\u00a0"


def number(value: float | None, decimals: int = 1, language: str = "sv") -> str:
    """`value` rounded half away from zero to `decimals`, in the report language's format."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    rounded = _round_half_away(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = f"{rounded:,.{decimals}f}"
    if language == "sv":
        text = text.replace(",", NBSP).replace(".", ",")
    return text.replace("-", "−")


def _round_half_away(value: float, decimals: int) -> float:
    """Round as a reader expects (2,25 → 2,3), not banker's rounding of binary floats."""
    from decimal import ROUND_HALF_UP, Decimal

    q = Decimal(1).scaleb(-decimals)  # repr of a Python float: numpy 2 scalars repr as np.float64(…)
    return float(Decimal(repr(float(value))).quantize(q, rounding=ROUND_HALF_UP))


def pvalue(p: float | None, language: str = "sv") -> str:
    """p with three decimals, 'p < 0,001' style below one per mille."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    if p < 0.001:
        return "< " + number(0.001, 3, language)
    return number(p, 3, language)


def interval(low: float, high: float, decimals: int = 1, language: str = "sv") -> str:
    sep = " till " if language == "sv" else " to "
    return f"{number(low, decimals, language)}{sep}{number(high, decimals, language)}"
