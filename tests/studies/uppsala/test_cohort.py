"""The Uppsala cohort: outcome semantics and flow arithmetic."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rehabkoord.registeryears import WINDOW_RULES
from rehabkoord.studies.uppsala import cohort


def _frames(rows_lisa, bas_rows, rand_rows):
    rand = pd.DataFrame(rand_rows, columns=["LopNr", "Grupp", "RandDatum"])
    rand["RandDatum"] = pd.to_datetime(rand["RandDatum"])
    rand["Diagnosgrupp"] = pd.NA
    rand["Arbetsgivare"] = pd.NA
    lisa = pd.DataFrame(rows_lisa, columns=["LopNr", "Ar", "Kon", "FodelseAr", "SjukP_Ndag_MiDAS",
                                            "SjukErs_Ndag_MiDAS", "AktErs_Ndag_MiDAS",
                                            "SyssStat19", "SyssStat11"])
    bas = pd.DataFrame(bas_rows, columns=["LopNr", "Ar", "BAS"])
    return rand, lisa, bas


def test_absent_is_missing_and_zero_is_zero():
    nan = float("nan")
    rand, lisa, bas = _frames(
        [("a", 2018, 2, 1980, 10.5, 0, 0, nan, 1), ("a", 2019, 2, 1980, 0.0, 0, 0, 5, nan),
         ("b", 2018, 1, 1970, 100, 0, 0, nan, 5),  # b emigrates after 2018
         ("c", 2018, 1, 1975, 3, 0, 0, nan, 1), ("c", 2019, 1, 1975, 7.25, 100, 20, 1, nan)],
        [("a", 2019, 3), ("c", 2019, 2)],
        [("a", "Intervention", "2018-03-01"), ("b", "Kontroll", "2018-03-01"),
         ("c", "Kontroll", "2018-03-01")])
    table, flow = cohort.build_cohort(rand, lisa, bas, [6], "first_full_year")
    t = table.set_index("LopNr")
    assert t.loc["a", "outcome_year"] == 2019
    assert t.loc["a", "sjukpenning_netdays"] == 0.0 and t.loc["a", "analysed"]
    assert bool(t.loc["a", "employed_or_studying"])  # BAS 3 = studying counts
    assert not t.loc["b", "analysed"]
    assert t.loc["b", "exclusion_reason"] == cohort.REASON_ABSENT_FROM_LISA
    assert pd.isna(t.loc["b", "sjukpenning_netdays"])
    assert t.loc["c", "sjukersattning_netdays"] == 120
    assert not bool(t.loc["c", "employed_or_studying"])  # BAS 2 beats SyssStat 1
    assert pd.isna(t.loc["a", "baseline_sjukpenning_netdays"])  # 2017 not delivered
    assert t.loc["c", "age_at_randomisation"] == 2018 - 1975
    assert flow["windows"]["6"]["Kontroll"]["excluded"][cohort.REASON_ABSENT_FROM_LISA] == 1


def test_syssstat_before_bas_and_years_beyond_registers():
    nan = float("nan")
    rand, lisa, bas = _frames(
        [("a", 2017, 2, 1980, 0, 0, 0, nan, 1), ("a", 2018, 2, 1980, 0, 0, 0, nan, 1)],
        [("x", 2019, 1)],
        [("a", "Intervention", "2017-02-01")])
    table, flow = cohort.build_cohort(rand, lisa, bas, [6, 12], "first_full_year")
    six = table[table["window_months"] == 6].iloc[0]
    assert six["employment_source"] == "SyssStat" and bool(six["employed_or_studying"])
    twelve = table[table["window_months"] == 12].iloc[0]
    assert twelve["outcome_year"] == 2019  # 1 Feb 2018 + ... -> first 1 Jan after is 2019
    assert twelve["exclusion_reason"] == cohort.REASON_NOT_YET_IN_REGISTERS


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 364), st.sets(st.integers(2016, 2021))),
                min_size=1, max_size=30),
       st.sampled_from(WINDOW_RULES))
def test_flow_adds_up(people, rule):
    rand_rows, lisa_rows, bas_rows = [], [], []
    for i, (treated, day, years) in enumerate(people):
        key = f"p{i}"
        rand_rows.append((key, "Intervention" if treated else "Kontroll",
                          (pd.Timestamp("2017-01-01") + pd.Timedelta(days=day)).date()))
        for y in sorted(years | {2016}):
            lisa_rows.append((key, y, 1 + i % 2, 1970, float(day % 50), 0.0, 0.0,
                              1 if y >= 2019 else None, 1 if y < 2019 else None))
            if y >= 2019 and (i + y) % 3:
                bas_rows.append((key, y, 1 + (i + y) % 5))
    rand, lisa, bas = _frames(lisa_rows, bas_rows or [("zz", 2019, 1)], rand_rows)
    table, flow = cohort.build_cohort(rand, lisa, bas, [6, 12, 24], rule)
    for window, groups in flow["windows"].items():
        for group, g in groups.items():
            assert g["randomised"] == g["analysed"] + sum(g["excluded"].values())
            part = table[(table["window_months"] == int(window)) & (table["Grupp"] == group)]
            assert g["randomised"] == len(part)
        assert sum(g["randomised"] for g in groups.values()) == len(people)


def test_a_printed_level_outside_the_contract_stops_unrepeated():
    """Issue 26: Diagnosgrupp's levels become Table 2's row labels; text outside the contract's
    groups (a table not built by `clean`) stops the cohort without repeating it."""
    rand, lisa, bas = _frames([("a", 2018, 2, 1980, 1.0, 0, 0, 1, 1)], [("a", 2019, 1)],
                              [("a", "Intervention", "2018-03-01")])
    rand["Diagnosgrupp"] = "Depression"
    cohort.build_cohort(rand, lisa, bas, [6])
    rand["Diagnosgrupp"] = "Depression (Anna Andersson 19850312-1234)"
    with pytest.raises(ValueError, match="Diagnosgrupp: 1 value") as err:
        cohort.build_cohort(rand, lisa, bas, [6])
    assert "Anna" not in str(err.value) and "850312" not in str(err.value)
