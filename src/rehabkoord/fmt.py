"""Number formatting for the appendix: Swedish (decimal comma, space thousands) or English,
and the symbols a table or figure prints instead of a number.

The symbols follow the "Teckenförklaring" of Swedish official statistics (SCB and the other
statistics authorities, e.g. Trafikanalys): "–" means zero (nothing to report), ".." not
available, "." cannot occur. "–" is therefore never printed for anything but a zero, and this
compendium prints zeros as "0"; a value withheld by disclosure control has its own mark, "×",
and a small count "<min_cell". Every table or figure holding a mark gets a legend line
(`legend`), in the appendix language; its words are the shared glossary `tecken`
(`src/rehabkoord/text/<language>/tecken.yaml`).
"""

from __future__ import annotations

import math
import re

from . import texts

NBSP = "\u00a0"
#: A value withheld by disclosure control (primary or complementary suppression).
PROTECTED = "\u00d7"
#: A value that exists in principle but is not available (not estimable, NaN).
NOT_AVAILABLE = ".."
#: A value that cannot occur for the cell (no test for the row, no median of an empty group).
NOT_APPLICABLE = "."
#: Each symbol and the key of its meaning in `tecken.yaml`, in the legend's order.
SYMBOLS = {
    PROTECTED: "skyddad",
    NOT_AVAILABLE: "saknas",
    NOT_APPLICABLE: "kan_inte_forekomma",
}
#: A small count's mark, "<3": the count is below the publication threshold.
SMALL_MARK = re.compile(r"<(\d+)")
_TOKENS = re.compile(r"[^\s()\[\]/,;:=]+")


def marks_in(text: str) -> list[str]:
    """The symbols (and small-count marks "<3") that `text` prints, in order of appearance;
    "< 0,001" (a p-value) and "2,5" are numbers, not marks."""
    found: list[str] = []
    for token in _TOKENS.findall(text):
        if (token in SYMBOLS or SMALL_MARK.fullmatch(token)) and token not in found:
            found.append(token)
    return found


def legend(marks: list[str], language: str = "sv") -> str:
    """The legend line for the `marks` a table or figure holds ("" when none): each symbol
    and its meaning, in the appendix language, in the order of `SYMBOLS` (small counts
    after the protection mark)."""
    def order(mark: str) -> int:
        return 1 if SMALL_MARK.fullmatch(mark) else 2 * list(SYMBOLS).index(mark)

    if not marks:
        return ""
    words = texts.shared("tecken", language)
    parts = []
    for mark in sorted(dict.fromkeys(marks), key=order):
        m = SMALL_MARK.fullmatch(mark)
        meaning = (texts.fill(words["litet_antal"], threshold=m.group(1)) if m
                   else words[SYMBOLS[mark]])
        parts.append(f"{mark} {meaning}")
    return f"{words['rubrik']}: " + "; ".join(parts) + "."


def number(value: float | None, decimals: int = 1, language: str = "sv") -> str:
    """`value` rounded half away from zero to `decimals`, in the report language's format;
    a missing value (None, NaN) as `NOT_AVAILABLE`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_AVAILABLE
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
        return NOT_AVAILABLE
    if p < 0.001:
        return "< " + number(0.001, 3, language)
    return number(p, 3, language)


def interval(low: float, high: float, decimals: int = 1, language: str = "sv") -> str:
    """'1,2 till 3,4': the words between the bounds are the shared glossary's."""
    return texts.fill(texts.shared("tecken", language)["intervall"],
                      low=number(low, decimals, language), high=number(high, decimals, language))
