"""Register years at the calendar's edges: month ends, leap days, both window rules."""

from __future__ import annotations

import pandas as pd
import pytest

from rehabkoord import registeryears

EDGES = [
    # date, offset, first_full_year, year_containing
    ("2019-01-01", 6, 2020, 2019),   # +6 = 1 Jul 2019 -> next 1 Jan is 2020
    ("2019-01-01", 12, 2020, 2020),  # +12 = 1 Jan 2020 exactly -> 2020 itself
    ("2019-06-30", 6, 2020, 2019),   # +6 = 30 Dec 2019
    ("2019-07-01", 6, 2020, 2020),   # +6 = 1 Jan 2020 exactly
    ("2019-12-31", 6, 2021, 2020),   # +6 = 30 Jun 2020
    ("2020-02-29", 6, 2021, 2020),   # leap day + 6 = 29 Aug 2020
    ("2020-02-29", 12, 2022, 2021),  # + 12 = 28 Feb 2021 (clipped)
    ("2019-08-31", 6, 2021, 2020),   # + 6 = 29 Feb 2020 (month end)
    ("2018-08-31", 6, 2020, 2019),   # + 6 = 28 Feb 2019
]


@pytest.mark.parametrize(("date", "offset", "first_full", "containing"), EDGES)
def test_outcome_year_edges(date, offset, first_full, containing):
    d = pd.Series(pd.to_datetime([date]))
    assert registeryears.outcome_year(d, offset, "first_full_year").iat[0] == first_full
    assert registeryears.outcome_year(d, offset, "year_containing").iat[0] == containing


def test_month_end_arithmetic():
    d = pd.Series(pd.to_datetime(["2019-08-31", "2020-08-31", "2019-03-31", "2019-01-31"]))
    got = registeryears.add_months(d, 6).dt.strftime("%Y-%m-%d").tolist()
    assert got == ["2020-02-29", "2021-02-28", "2019-09-30", "2019-07-31"]


def test_baseline_year_and_unknown_rule():
    assert registeryears.baseline_year(pd.Series(pd.to_datetime(["2019-01-01"]))).iat[0] == 2018
    with pytest.raises(ValueError, match="window rule"):
        registeryears.outcome_year(pd.Series(pd.to_datetime(["2019-01-01"])), 6, "nearest")
