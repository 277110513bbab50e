"""Disclosure control for published counts (SCB practice: small cells are not published).

Counts below `min_cell` are shown as "<min_cell"; the complementary cell that the published
group total would reveal is suppressed too, with the percentages and any effect estimate that
would let a reader recompute them. Tests are computed on the real counts before suppression.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPRESSED = "–"


@dataclass(frozen=True)
class PublishedCount:
    """A count as it may be published: text for the count and percentage, and why."""

    count: str
    pct: str | None
    suppressed: bool
    reason: str = ""


def is_small(count: int, min_cell: int) -> bool:
    """Counts 0 < count < min_cell reveal individuals; 0 and totals ≥ min_cell are publishable."""
    return 0 < count < min_cell


def publish_binary(events: int, n: int, min_cell: int, pct_text: str) -> PublishedCount:
    """`events` of `n` (with `n` published): suppressed when either events or n − events is small,
    or when the group itself is smaller than `min_cell`."""
    if n < min_cell:
        return PublishedCount(SUPPRESSED, None, True, "group smaller than the threshold")
    if events < min_cell:
        return PublishedCount(f"<{min_cell}", None, True, "small count")
    if n - events < min_cell:
        return PublishedCount(SUPPRESSED, None, True, "complement of a small count")
    return PublishedCount(str(events), pct_text, False)


def publish_count(count: int, min_cell: int) -> PublishedCount:
    """A stand-alone count (a flow exclusion): small non-zero counts become "<min_cell"."""
    if is_small(count, min_cell):
        return PublishedCount(f"<{min_cell}", None, True, "small count")
    return PublishedCount(str(count), None, False)
