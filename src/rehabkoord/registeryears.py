"""Register years relative to an index date: the calendar year a yearly register (LISA, BAS)
describes a window in, and the year before for baseline covariates.

A study measures an outcome "in the calendar year at least six (twelve) months after the index
date"; two readings of that sentence are offered (`WINDOW_RULES`). Shared by the delivery
checks (`rehabkoord.clean` and the studies' `data` modules: which years must be delivered)
and the studies' cohorts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOW_RULES = ("first_full_year", "year_containing")


def add_months(dates: pd.Series, months: int) -> pd.Series:
    """`dates` + `months` calendar months, clipped to month end (31 Aug + 6 months = 28/29 Feb)."""
    d = pd.to_datetime(dates)
    total = d.dt.year * 12 + (d.dt.month - 1) + months
    year, month = total // 12, total % 12 + 1
    first = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": 1}))
    last_day = first.dt.days_in_month
    day = np.minimum(d.dt.day, last_day)
    return first + pd.to_timedelta(day - 1, unit="D")


def outcome_year(rand_date: pd.Series, offset_months: int,
                 rule: str = "first_full_year") -> pd.Series:
    """Calendar year of the outcome window for each randomisation date.

    ``first_full_year``: the first year whose 1 January is on or after date + offset;
    ``year_containing``: the year that contains date + offset.
    """
    if rule not in WINDOW_RULES:
        raise ValueError(f"window rule '{rule}' unknown; use one of {WINDOW_RULES}")
    shifted = add_months(rand_date, offset_months)
    year = shifted.dt.year
    if rule == "first_full_year":
        on_new_year = (shifted.dt.month == 1) & (shifted.dt.day == 1)
        year = year + (~on_new_year).astype(int)
    return year.astype("int32")


def baseline_year(rand_date: pd.Series) -> pd.Series:
    """The calendar year before randomisation, for baseline covariates."""
    return (pd.to_datetime(rand_date).dt.year - 1).astype("int32")


def year_before_values(index: pd.DataFrame, register: pd.DataFrame, columns: list[str],
                       date_column: str = "IndexDatum", key: str = "LopNr") -> pd.DataFrame:
    """A yearly register's `columns` in the calendar year before each row's `date_column`
    (`baseline_year`), one output row per `index` row in its order; no register row for that
    person and year gives missing values (a reason for the caller, never a default)."""
    year = baseline_year(index[date_column])
    wanted = pd.DataFrame({key: index[key].to_numpy(), "Ar": year.to_numpy()})
    rows = register[[key, "Ar", *columns]].drop_duplicates([key, "Ar"])
    rows = rows.astype({key: str, "Ar": "int32"})
    out = wanted.astype({key: str}).merge(rows, on=[key, "Ar"], how="left", validate="m:1")
    out.index = index.index
    return out
