"""Spell derivations: hand-calculated cases for every rule and boundary, and the DuckDB result
compared with a plain per-person Python implementation on random persons (exact equality)."""

from __future__ import annotations

import calendar
import gc
import tempfile
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from rehabkoord import spells as sp
from rehabkoord.contract import normalise_icd10, normalise_icd10_sql

D = date.fromisoformat


def periods_frame(rows: list[tuple]) -> pd.DataFrame:
    """(LopNr, FromDatum, TomDatum, Omfattning, Diagnos) tuples as a delivery-like frame."""
    frame = pd.DataFrame(rows, columns=["LopNr", "FromDatum", "TomDatum", "Omfattning", "Diagnos"])
    frame["FromDatum"] = pd.to_datetime(frame["FromDatum"])
    frame["TomDatum"] = pd.to_datetime(frame["TomDatum"])
    return frame


def people(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame({"LopNr": [r[0] for r in rows],
                         "IndexDatum": pd.to_datetime([r[1] for r in rows])})


def day(ts) -> date | None:
    return None if pd.isna(ts) else pd.Timestamp(ts).date()


# --- the contract's ICD-10 rule ---------------------------------------------------------------

@pytest.mark.parametrize("code", ["F43.8", "F438", "f43.8", " F43 .8 ", "f438\t"])
def test_icd10_spellings_mean_the_same_in_python_and_sql(code):
    assert normalise_icd10(code) == "F438"
    got = duckdb.execute(f"SELECT {normalise_icd10_sql('x')} FROM (SELECT ? AS x)", [code])
    assert got.fetchone()[0] == "F438"


# --- join_periods -----------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "spells"), [("2014-01-06", 1), ("2014-01-07", 2)])
def test_a_period_starting_within_five_days_of_the_end_joins_five_free_days_do_not(start, spells):
    """SFB 27 kap. 32 § and MiDAS: TomDatum 1 January; 6 January starts within five days
    (2–5 January free, 4 days) and continues the spell, 7 January follows a break of five free
    days and starts a new one."""
    got = sp.join_periods(periods_frame([("1", "2014-01-01", "2014-01-01", 100, "F32"),
                                         ("1", start, start, 100, "F32")])).df()
    assert len(got) == spells
    if spells == 1:
        row = got.iloc[0]
        assert (row.CalendarDays, row.SickDays, row.GapDays, row.NetDays) == (6, 2, 4, 2.0)


def test_gap_rule_is_a_parameter_and_adjacent_or_overlapping_periods_always_join():
    rows = [("1", "2014-01-01", "2014-01-10", 100, "F32"), ("1", "2014-01-11", "2014-01-20", 50,
                                                             "F32"),
            ("1", "2014-01-15", "2014-01-16", 25, "F32"), ("1", "2014-01-23", "2014-01-23", 25,
                                                            "M54")]  # 3 days after 20 January
    assert len(sp.join_periods(periods_frame(rows), gap_days=1).df()) == 2
    assert len(sp.join_periods(periods_frame(rows), gap_days=2).df()) == 2
    assert len(sp.join_periods(periods_frame(rows), gap_days=3).df()) == 1
    with pytest.raises(ValueError, match="derivation.gap_days must be 1 or more"):
        sp.join_periods(periods_frame(rows), gap_days=0)


def test_overlap_sums_degrees_capped_at_100_and_counts_overlap_and_capped_days():
    rows = [("1", "2014-01-01", "2014-01-10", 75, "f43.8"),   # 10 days at 75 %
            ("1", "2014-01-06", "2014-01-15", 50, "M54"),     # 6–10 Jan: 125 % → 100 %
            ("1", "2014-01-11", "2014-01-15", 25, "M54")]     # 11–15 Jan: 50 + 25 = 75 %
    row = sp.join_periods(periods_frame(rows)).df().iloc[0]
    # 1–5 Jan 5 × 0.75, 6–10 Jan 5 × 1 (capped), 11–15 Jan 5 × 0.75
    assert row.NetDays == 5 * 0.75 + 5 * 1 + 5 * 0.75
    assert (row.OverlapDays, row.CappedDays, row.Periods, row.SickDays) == (10, 5, 3, 15)
    assert row.Diagnos == "F438"  # first period's code, normalised


def test_a_period_inside_a_longer_one_does_not_end_the_spell_early():
    rows = [("1", "2014-01-01", "2014-03-31", 50, "F32"), ("1", "2014-01-05", "2014-01-06", 50,
                                                            "F32"),
            ("1", "2014-04-05", "2014-04-05", 100, "F32")]  # 1–4 April free: 4 days, joins
    got = sp.join_periods(periods_frame(rows)).df()
    assert len(got) == 1 and day(got.SpellEnd[0]) == D("2014-04-05")


def test_first_diagnosis_is_the_earliest_start_then_higher_degree_then_code():
    rows = [("1", "2014-01-01", "2014-01-05", 50, "M54"),    # spell 1 alone
            ("1", "2014-02-03", "2014-02-04", 50, "F41"),    # spell 2: same start, lower degree
            ("1", "2014-02-03", "2014-02-20", 75, "M79"),    # same start and degree, code after
            ("1", "2014-02-03", "2014-02-03", 75, "F43.8"),  # ← the first period of spell 2
            ("1", "2014-02-01", "2014-02-02", 25, "J06"),    # spell 3: starts first, lowest degree
            ("2", "2014-02-01", "2014-02-02", 25, "J06"),    # person 2: 3–8 February free (6
            ("2", "2014-02-09", "2014-02-10", 100, "F32")]   # days), two spells
    got = sp.join_periods(periods_frame(rows[:4] + rows[5:])).df()
    assert got[["LopNr", "SpellNr", "Diagnos", "Periods"]].values.tolist() == [
        ["1", 1, "M54", 1], ["1", 2, "F438", 3], ["2", 1, "J06", 1], ["2", 2, "F32", 1]]
    with_earlier = sp.join_periods(periods_frame(rows[:5])).df()
    assert with_earlier.Diagnos.tolist() == ["M54", "J06"]  # 1–20 February is one spell
    with pytest.raises(ValueError, match="gap_days"):
        sp.join_periods(periods_frame(rows), gap_days=-1)


# --- net_days and degree_by_month --------------------------------------------------------------

def test_net_days_in_half_open_windows():
    periods = periods_frame([("1", "2014-01-01", "2014-01-31", 50, "F32")])
    windows = pd.DataFrame({"LopNr": ["1", "1", "2"], "WinStart": pd.to_datetime(
        ["2013-12-30", "2014-01-31", "2014-01-01"]), "WinEnd": pd.to_datetime(
        ["2014-01-03", "2014-02-05", "2014-02-01"]), "label": ["a", "b", "c"]})
    got = sp.net_days(periods, windows).df().set_index("label")
    assert got.loc["a", "NetDays"] == 1.0   # 1–2 January (3 January is outside)
    assert got.loc["b", "NetDays"] == 0.5   # 31 January only
    assert got.loc["c", "NetDays"] == 0.0   # nobody else on sick leave
    assert got.loc["a", "WindowDays"] == 4


def test_degree_by_month_uses_calendar_months_and_days_at_risk():
    periods = periods_frame([("1", "2014-01-31", "2014-02-27", 100, "F32")])
    index = pd.DataFrame({"LopNr": ["1"], "IndexDatum": pd.to_datetime(["2014-01-31"]),
                          "FollowUpEnd": pd.to_datetime(["2014-03-10"])})
    got = sp.degree_by_month(periods, index, 3).df()
    assert [day(d) for d in got.MonthStart] == [D("2014-01-31"), D("2014-02-28"),
                                                D("2014-03-31")]
    assert list(got.AtRiskDays) == [28, 10, 0]        # died / censored on 10 March
    assert got.MeanDegree[0] == 100.0
    assert got.MeanDegree[1] == 0.0
    assert pd.isna(got.MeanDegree[2])
    # 28 February is month 1: Jan 31 + 1 month clamps to 28 February, the first day of month 1.
    longer = periods_frame([("1", "2014-01-31", "2014-03-01", 100, "F32")])
    got = sp.degree_by_month(longer, index, 3).df()
    assert list(got.NetDays) == [28.0, 2.0, 0.0]
    segs = sp.degree_segments(longer).df()
    assert sp.degree_by_month(segs, index, 3).df().equals(got)


def test_sparse_degree_by_month_keeps_only_months_with_sick_leave():
    periods = periods_frame([("1", "2014-01-31", "2014-03-01", 100, "F32"),
                             ("2", "2013-01-01", "2013-02-01", 50, "M54")])
    index = pd.DataFrame({"LopNr": ["1", "2", "3"],
                          "IndexDatum": pd.to_datetime(["2014-01-31", "2014-01-01", "2014-01-01"]),
                          "FollowUpEnd": pd.to_datetime(["2014-03-10", "2015-01-01", None])})
    dense = sp.degree_by_month(periods, index, 3).df()
    sparse = sp.degree_by_month(periods, index, 3, sparse=True).df()
    # person 1, months 0 and 1; person 2 (sick leave before index) and 3 (none) have no row
    assert list(zip(sparse.LopNr, sparse.Month, strict=True)) == [("1", 0), ("1", 1)]
    pd.testing.assert_frame_equal(sparse, dense[dense.NetDays > 0].reset_index(drop=True))
    pd.testing.assert_frame_equal(sp.dense_months(sparse, index, 3).df(), dense)
    assert len(dense) == 9 and dense.MeanDegree.isna().sum() == 1  # person 1, month 2


def test_a_month_shared_by_two_spells_is_one_row_at_both_boundaries():
    """`derive_all` sums a month only when a neighbouring spell may have a day in it: spell B
    starts in the month whose first day is spell A's last, and spell D starts on the last day
    of the month spell C ends in; each such month is one row with both spells' days, as when
    every edge month is summed (`degree_by_month` on the periods)."""
    periods = periods_frame([("1", "2020-01-15", "2020-02-15", 100, "F32"),   # A
                             ("1", "2020-02-21", "2020-02-25", 50, "F32"),    # B: 5 free days
                             ("1", "2020-03-16", "2020-03-20", 100, "F43"),   # C
                             ("1", "2020-04-14", "2020-04-16", 100, "F43")])  # D
    participants = people([("1", "2020-01-15")])
    d = sp.derive_all(periods, participants, pd.DataFrame({"LopNr": ["1"]}),
                      pd.DataFrame({"LopNr": ["1"], "FodelseAr": [1970]}),
                      extraction_date="2030-01-01", months=4, sparse_months=True)
    assert d.flow["spells"] == 4
    got = d.months.df()
    assert list(got.Month) == [0, 1, 2, 3]
    assert list(got.NetDays) == [31.0, 3.5, 6.0, 2.0]   # month 1: 1 + 5 × 0.5; month 2: 5 + 1
    assert list(got.AtRiskDays) == [31, 29, 31, 30]
    assert list(got.MeanDegree) == [100.0, 350 / 29, 600 / 31, 200 / 30]
    index = pd.DataFrame({"LopNr": ["1"], "IndexDatum": pd.to_datetime(["2020-01-15"]),
                          "FollowUpEnd": pd.to_datetime(["2020-05-15"])})
    pd.testing.assert_frame_equal(got, sp.degree_by_month(periods, index, 4, sparse=True).df())


def test_months_at_clamped_month_ends_match_calendar_arithmetic():
    """Index dates on the 29th–31st, where adding months clamps to a shorter month's last day
    (31 January + 1 month = 28 February, the first day of month 1): every day of sick leave
    lands in the month pandas' DateOffset gives, and two one-day spells six days apart share a
    month row exactly when they fall in the same month (`derive_all`'s neighbour rule)."""
    rows, expected = [], {}
    for k, start in enumerate(("2014-01-29", "2014-01-30", "2014-01-31", "2014-03-31",
                               "2015-05-31")):
        first = pd.Timestamp(start)
        for offset in range(0, 400, 3):
            person = f"{k}-{offset}"
            for shift, degree in ((0, 100), (6, 50)):
                d = first + pd.Timedelta(days=offset + shift)
                rows.append((person, d, d, degree, "F32", first))
                month = max(m for m in range(16) if first + pd.DateOffset(months=m) <= d)
                expected[person, month] = expected.get((person, month), 0) + degree / 100
    periods = periods_frame([r[:5] for r in rows])
    participants = people(sorted({(r[0], r[5]) for r in rows}))
    d = sp.derive_all(periods, participants, participants[["LopNr"]],
                      participants.assign(FodelseAr=1970)[["LopNr", "FodelseAr"]],
                      extraction_date="2030-01-01", months=15, sparse_months=True)
    got = d.months.df()
    assert {(r.LopNr, r.Month): r.NetDays for r in got.itertuples()} == expected
    assert len(got) == len(expected)  # one row per person and month, never two


# --- follow_up --------------------------------------------------------------------------------

def test_each_end_of_follow_up_reason():
    part = people([("died", "2014-01-01"), ("emig", "2014-01-01"), ("old", "2014-01-01"),
                   ("data", "2015-06-01"), ("plan", "2014-01-01"), ("early_emig", "2014-01-01"),
                   ("dead_before", "2014-01-01"), ("old_at_index", "2014-01-01")])
    pop = pd.DataFrame({"LopNr": part.LopNr, "DodDatum": pd.to_datetime(
        ["2014-05-01", None, None, None, None, None, "2013-12-01", None]),
        "UtvandringDatum": pd.to_datetime([None, "2014-03-01", None, None, None, "2013-06-01",
                                           None, None])})
    birth = pd.DataFrame({"LopNr": part.LopNr, "FodelseDatum": pd.to_datetime(
        ["1970-01-01"] * 2 + ["1949-02-10"] + ["1970-01-01"] * 4 + ["1949-01-01"])})
    got = sp.follow_up(part, pop, birth, "2016-01-01", 12).df().set_index("LopNr")
    ends = {k: (day(r.FollowUpEnd), r.EndReason, bool(r.AtRisk)) for k, r in got.iterrows()}
    assert ends["died"] == (D("2014-05-01"), "died", True)
    assert ends["emig"] == (D("2014-03-01"), "emigrated", True)
    assert ends["old"] == (D("2014-02-10"), "age_65", True)   # 65th birthday
    assert ends["data"] == (D("2016-01-01"), "extraction", True)
    assert ends["plan"] == (D("2015-01-01"), "planned", True)
    assert ends["early_emig"] == (D("2015-01-01"), "planned", True)  # emigrated, came back
    assert ends["dead_before"][1:] == ("died", False)
    assert ends["old_at_index"] == (D("2014-01-01"), "age_65", False)  # 65 on index day
    assert got.loc["died", "FollowUpDays"] == 120


def test_birth_year_only_puts_the_birthday_on_1_july_and_ties_go_to_death():
    part = people([("a", "2014-01-01"), ("b", "2014-01-01")])
    pop = pd.DataFrame({"LopNr": ["a", "b"], "DodDatum": pd.to_datetime([None, "2014-07-01"])})
    birth = pd.DataFrame({"LopNr": ["a", "b"], "FodelseAr": [1949, 1949]})
    got = sp.follow_up(part, pop, birth, "2016-01-01", 24).df()
    assert [(day(e), r) for e, r in zip(got.FollowUpEnd, got.EndReason, strict=True)] == [
        (D("2014-07-01"), "age_65"), (D("2014-07-01"), "died")]


# --- index_spells, returns, re-sick-listings, flow ---------------------------------------------

def _study(rows, index, death=None, extraction="2020-01-01", months=24, after_days=14):
    """Spells, follow-up and index spells of a small hand-made study."""
    periods = periods_frame(rows)
    part = people(index)
    pop = pd.DataFrame({"LopNr": part.LopNr, "DodDatum": pd.to_datetime(
        [(death or {}).get(k) for k in part.LopNr])})
    birth = pd.DataFrame({"LopNr": part.LopNr, "FodelseAr": 1970})
    spells = sp.join_periods(periods).df()
    follow = sp.follow_up(part, pop, birth, extraction, months).df()
    index_ = sp.index_spells(spells, part, after_days).df()
    return periods, spells, follow, index_


def test_index_spell_ongoing_after_days_and_none():
    rows = [("on", "2014-01-01", "2014-02-01", 100, "F32"),
            ("after", "2014-01-15", "2014-02-01", 100, "F32"),   # 14 days after index
            ("late", "2014-01-16", "2014-02-01", 100, "F32"),    # 15 days after: too late
            ("ended", "2013-12-01", "2013-12-31", 100, "F32")]   # ended the day before index
    _, _, follow, index_ = _study(rows, [(k, "2014-01-01") for k in
                                         ("on", "after", "late", "ended")])
    got = dict(zip(index_.LopNr, index_.IndexType, strict=True))
    assert got == {"on": "ongoing", "after": "started_after", "late": "no_spell",
                   "ended": "no_spell"}
    flow = sp.flow(index_, follow)
    assert flow["by_status"]["analysed"] == 2 and flow["by_status"]["no_index_spell"] == 2
    assert sum(flow["by_status"].values()) == flow["participants"] == 4


@pytest.mark.parametrize(("next_start_after_return", "status"),
                         [(89, "resick_within"), (90, "full"), (91, "full")])
def test_full_return_at_89_90_91_days(next_start_after_return, status):
    # Spell ends 31 Jan; the return day R is 1 February; the next spell starts R + k days.
    nxt = (D("2014-02-01") + timedelta(days=next_start_after_return)).isoformat()
    rows = [("1", "2014-01-01", "2014-01-31", 100, "F32"), ("1", nxt, nxt, 100, "F32")]
    _, spells, follow, index_ = _study(rows, [("1", "2014-01-01")])
    got = sp.returns(index_, spells, follow).df().iloc[0]
    assert (got.Returned, got.ReturnDays, day(got.ReturnDatum)) == (1, 31, D("2014-02-01"))
    assert got.FullReturnStatus == status
    assert got.FullReturn == (0 if status == "resick_within" else 1)


@pytest.mark.parametrize(("death", "status", "full"), [("2014-05-01", "full", 1),
                                                     ("2014-04-30", "censored", None)])
def test_full_return_is_censored_when_follow_up_ends_before_90_days(death, status, full):
    # R = 1 Feb; R + 90 = 2 May. Follow-up must last until 2 May (FollowUpEnd ≥ R + 90).
    death = (D(death) + timedelta(days=1)).isoformat()
    rows = [("1", "2014-01-01", "2014-01-31", 100, "F32")]
    _, spells, follow, index_ = _study(rows, [("1", "2014-01-01")], death={"1": death})
    got = sp.returns(index_, spells, follow).df().iloc[0]
    assert got.FullReturnStatus == status
    assert (pd.isna(got.FullReturn) if full is None else got.FullReturn == full)


def test_return_censored_when_the_spell_outlasts_follow_up():
    rows = [("1", "2014-01-01", "2014-12-31", 100, "F32")]
    _, spells, follow, index_ = _study(rows, [("1", "2014-01-01")], extraction="2014-07-01")
    got = sp.returns(index_, spells, follow).df().iloc[0]
    assert (got.Returned, got.ReturnDays, got.FullReturnStatus) == (0, 181, "not_returned")
    assert sp.resick_listings(index_, spells, follow).df().empty


def test_resick_listing_status_re_sick_listed_competing_and_censored():
    rows = [("resick", "2014-01-01", "2014-01-31", 100, "F32"),
            ("resick", "2014-03-01", "2014-03-10", 100, "F32"),
            ("resick", "2014-06-01", "2014-06-10", 100, "F32"),
            ("died", "2014-01-01", "2014-01-31", 100, "F32"),
            ("cens", "2014-01-01", "2014-01-31", 100, "F32")]
    _, spells, follow, index_ = _study(rows, [(k, "2014-01-01") for k in ("resick", "died",
                                                                           "cens")],
                                       death={"died": "2014-06-01"}, months=12)
    got = sp.resick_listings(index_, spells, follow).df().set_index("LopNr")
    assert got.loc["resick", ["NewSpells", "ResickDays", "ResickStatus"]].tolist() == [2, 28, 1]
    assert got.loc["died", ["NewSpells", "ResickDays", "ResickStatus"]].tolist() == [0, 120, 2]
    assert got.loc["cens", ["NewSpells", "ResickDays", "ResickStatus"]].tolist() == [0, 334, 0]
    assert got.loc["cens", "PersonYears"] == 334 / 365.25


def test_prior_sick_leave_windows_end_at_the_index_spell_start():
    rows = [("1", "2012-06-01", "2012-06-30", 100, "M54"),   # 19–20 months before: 3 years only
            ("1", "2013-03-01", "2013-03-10", 50, "M54"),    # within 12 months: 5 net days
            ("1", "2013-12-01", "2014-02-01", 100, "F43.8")]  # index spell, ongoing on 1 Jan
    periods, spells, _, index_ = _study(rows, [("1", "2014-01-01")])
    got = sp.prior_sick_leave(periods, spells, index_).df().iloc[0]
    assert day(got.PriorRef) == D("2013-12-01")
    assert (got.NetDays12m, got.NetDays36m, got.Spells12m, got.Spells36m) == (5.0, 35.0, 1, 2)
    assert got.PriorCategory == "1-90"
    groups = sp.diagnosis_groups(index_, periods).df().iloc[0]
    assert (groups.IndexGroup, groups.PriorPain, groups.Diagnosgrupp) == ("mental", True, "both")


@pytest.mark.parametrize(("net", "category"), [(0, "none"), (0.25, "1-90"), (90, "1-90"),
                                               (90.25, ">90")])
def test_prior_category_boundaries(net, category):
    rows = [("1", "2014-06-01", "2014-06-30", 100, "F32")]
    start, full = D("2013-06-01"), int(net)
    if full:  # `full` days at 100 %
        rows.append(("1", start.isoformat(), (start + timedelta(full - 1)).isoformat(), 100,
                     "F32"))
    if net != full:  # and a quarter day: one day at 25 %
        extra = (start + timedelta(full)).isoformat()
        rows.append(("1", extra, extra, 25, "F32"))
    periods, spells, _, index_ = _study(rows, [("1", "2014-06-01")])
    got = sp.prior_sick_leave(periods, spells, index_).df().iloc[0]
    assert got.NetDays12m == net and got.PriorCategory == category


def test_diagnosis_groups_longest_prefix_and_an_edited_mapping():
    rows = [("sev", "2014-01-01", "2014-02-01", 100, "F32.2"),
            ("mild", "2014-01-01", "2014-02-01", 100, "f32.1"),
            ("pain", "2014-01-01", "2014-02-01", 100, "M79.7"),
            ("none", "2014-01-01", "2014-02-01", 100, "S82")]
    periods, _, _, index_ = _study(rows, [(k, "2014-01-01") for k in ("sev", "mild", "pain",
                                                                      "none")])
    got = sp.diagnosis_groups(index_, periods).df().set_index("LopNr").Diagnosgrupp
    assert got.to_dict() == {"sev": "other", "mild": "mental", "pain": "pain", "none": "other"}
    edited = pd.DataFrame({"prefix": ["S8"], "group": ["pain"]})
    got = sp.diagnosis_groups(index_, periods, edited).df().set_index("LopNr").Diagnosgrupp
    assert got["none"] == "pain" and got["mild"] == "other"


def test_default_mapping_csv_is_the_code_default():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "notebooks" / "stockholm" / "diagnosgrupper.csv"
    table = pd.read_csv(path, dtype=str)
    assert list(table.columns) == ["prefix", "group", "label_sv", "label_en"]
    assert sp.read_mapping(path).equals(sp._check_mapping(sp.DEFAULT_MAPPING))


# --- the independent reference -----------------------------------------------------------------

def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def days(a: date, b: date):
    """The days of the half-open window [a, b)."""
    return (a + timedelta(i) for i in range((b - a).days))


class Person:
    """One person's derivations, day by day, with no SQL and no vectorisation."""

    MAP = sp._check_mapping(sp.DEFAULT_MAPPING)

    def __init__(self, rows: list[tuple], index: date, death: date | None, emig: date | None,
                 born: int, extraction: date, months: int, after_days: int):
        self.periods = sorted(rows)  # (from, tom, degree, code)
        self.total: dict[date, int] = {}
        self.count: dict[date, int] = {}
        for f, t, deg, _ in self.periods:
            for x in days(f, t + timedelta(1)):
                self.total[x] = self.total.get(x, 0) + deg
                self.count[x] = self.count.get(x, 0) + 1
        self.index, self.months = index, months
        self.spells = self._spells()
        ends = [("planned", add_months(index, months))]
        if death:
            ends.append(("died", death))
        if emig and emig > index:
            ends.append(("emigrated", emig))
        bday = date(born, 7, 1)
        ends.append(("age_65", date(bday.year + 65, 7, 1)))
        ends.append(("extraction", extraction))
        order = ["died", "emigrated", "age_65", "extraction", "planned"]
        self.end, self.reason = min(((e, order.index(r), r) for r, e in ends))[::2]
        self.index_spell = None
        for s in self.spells:
            if s["start"] <= index <= s["end"]:
                self.index_spell, self.index_type = s, "ongoing"
                break
            if index < s["start"] <= index + timedelta(after_days):
                self.index_spell, self.index_type = s, "started_after"
                break

    def degree_days(self, a: date, b: date) -> int:
        return sum(min(self.total.get(x, 0), 100) for x in days(a, b))

    def _spells(self):
        out, cur = [], None
        for f, t, deg, code in self.periods:
            if cur is None or (f - cur["end"]).days > sp.GAP_DAYS:  # starts within 5 days
                cur = {"start": f, "end": t, "rows": []}
                out.append(cur)
            cur["end"] = max(cur["end"], t)
            cur["rows"].append((f, t, deg, code))
        for s in out:
            first = min(s["rows"], key=lambda r: (r[0], -r[2], normalise_icd10(r[3])))
            window = list(days(s["start"], s["end"] + timedelta(1)))
            s.update(dx=normalise_icd10(first[3]), n=len(s["rows"]),
                     sick=sum(1 for x in window if self.count.get(x, 0) > 0),
                     net=self.degree_days(s["start"], s["end"] + timedelta(1)) / 100,
                     overlap=sum(1 for x in window if self.count.get(x, 0) >= 2),
                     capped=sum(1 for x in window if self.total.get(x, 0) > 100))
        return out

    def group(self, code: str) -> str:
        hits = [(len(p), g) for p, g in zip(self.MAP.prefix, self.MAP.group, strict=True)
                if code.startswith(p)]
        return max(hits)[1] if hits else "other"

    def derived(self) -> dict:
        out: dict = {"spells": [(s["start"], s["end"], s["dx"], s["n"], s["sick"], s["net"],
                                 s["overlap"], s["capped"]) for s in self.spells],
                     "follow": (self.end, self.reason, self.end > self.index)}
        months = []
        for m in range(self.months):
            a, b = add_months(self.index, m), add_months(self.index, m + 1)
            b = max(min(b, self.end), a)
            dd = self.degree_days(a, b)
            months.append((m, (b - a).days, dd / 100, dd / (b - a).days if b > a else None))
        out["months"] = months
        s = self.index_spell
        out["index"] = None if s is None else (s["start"], self.index_type)
        ref = min(self.index, s["start"]) if s else self.index
        w12, w36 = add_months(ref, -12), add_months(ref, -36)
        dd12 = self.degree_days(w12, ref)
        out["prior"] = (dd12 / 100, self.degree_days(w36, ref) / 100,
                        sum(1 for t in self.spells if w12 <= t["end"] < ref),
                        sum(1 for t in self.spells if w36 <= t["end"] < ref),
                        "none" if dd12 == 0 else "1-90" if dd12 <= 9000 else ">90")
        if s is None or not self.end > self.index or s["start"] >= self.end:
            return out
        year_before = ref.replace(year=ref.year - 1) if not (ref.month == 2 and ref.day == 29) \
            else date(ref.year - 1, 2, 28)
        prior = {self.group(normalise_icd10(c)) for f, t, _, c in self.periods
                 if f < ref and t >= year_before}
        g = self.group(s["dx"])
        both = (g == "mental" and "pain" in prior) or (g == "pain" and "mental" in prior)
        out["group"] = "both" if both else g
        r = s["end"] + timedelta(1)
        returned = r < self.end
        later = [t["start"] for t in self.spells if t["start"] > s["end"] and t["start"] < self.end]
        nxt = min(later) if later else None
        if not returned:
            status = "not_returned"
        elif nxt is not None and nxt < r + timedelta(90):
            status = "resick_within"
        elif r + timedelta(90) <= self.end:
            status = "full"
        else:
            status = "censored"
        out["returns"] = (((r if returned else self.end) - self.index).days, int(returned), status)
        if returned:
            first = nxt if nxt is not None else self.end
            st = 1 if nxt else 2 if self.reason in ("died", "emigrated") else 0
            out["resick"] = (len(later), (first - r).days, st, (self.end - r).days / 365.25)
        return out


def random_study(n: int, seed: int):
    rng = np.random.default_rng(seed)
    codes = ["F32.1", "f43.8", "F438", "M54.5", "m79", "S82", "F41", "F32.3", "J06"]
    rows, part, pop, birth = [], [], [], []
    for k in range(n):
        key = f"{k:04d}"
        index = D("2014-01-01") + timedelta(int(rng.integers(0, 400)))
        t = index - timedelta(int(rng.integers(0, 1200)))
        for _ in range(int(rng.integers(0, 8))):
            length = int(rng.choice([1, 3, 10, 30, 90, 400]))
            rows.append((key, t, t + timedelta(length - 1), int(rng.choice([25, 50, 75, 100])),
                         str(rng.choice(codes))))
            t = t + timedelta(length + int(rng.choice([-20, -3, 0, 1, 4, 5, 6, 7, 40, 89, 120])))
        death = index + timedelta(int(rng.integers(-30, 700))) if rng.random() < 0.15 else None
        emig = index + timedelta(int(rng.integers(-400, 700))) if rng.random() < 0.15 else None
        part.append((key, index))
        pop.append((key, death, emig))
        birth.append((key, int(rng.choice([1948, 1949, 1950, 1970]))))
    return rows, part, pop, birth


def test_duckdb_equals_the_per_person_reference_on_random_persons():
    extraction, months, after = D("2015-09-01"), 14, 14
    rows, part, pop, birth = random_study(300, seed=7)
    periods = periods_frame(rows)
    participants = people(part)
    population = pd.DataFrame(pop, columns=["LopNr", "DodDatum", "UtvandringDatum"])
    births = pd.DataFrame(birth, columns=["LopNr", "FodelseAr"])
    d = sp.derive_all(periods.sample(frac=1, random_state=1), participants, population, births,
                      extraction_date=extraction.isoformat(), months=months, after_days=after)
    ref = {}
    for key, index in part:
        mine = [(r[1], r[2], r[3], r[4]) for r in rows if r[0] == key]
        _, death, emig = next(p for p in pop if p[0] == key)
        born = next(b[1] for b in birth if b[0] == key)
        ref[key] = Person(mine, index, death, emig, born, extraction, months, after).derived()

    spells = d.spells.df()
    got = {k: [(day(r.SpellStart), day(r.SpellEnd), r.Diagnos, r.Periods, r.SickDays, r.NetDays,
                r.OverlapDays, r.CappedDays) for r in g.itertuples()]
           for k, g in spells.groupby("LopNr")}
    assert got == {k: v["spells"] for k, v in ref.items() if v["spells"]}
    assert spells.OverlapDays.sum() > 0 and spells.CappedDays.sum() > 0  # the data exercise it

    follow = d.follow.df().set_index("LopNr")
    assert {k: (day(r.FollowUpEnd), r.EndReason, bool(r.AtRisk)) for k, r in follow.iterrows()} \
        == {k: v["follow"] for k, v in ref.items()}
    assert set(follow.EndReason) == {"died", "emigrated", "age_65", "extraction", "planned"}

    index_ = d.index.df()
    assert {r.LopNr: None if r.IndexType == "no_spell" else (day(r.SpellStart), r.IndexType)
            for r in index_.itertuples()} == {k: v["index"] for k, v in ref.items()}

    prior = d.prior.df()
    assert {r.LopNr: (r.NetDays12m, r.NetDays36m, r.Spells12m, r.Spells36m, r.PriorCategory)
            for r in prior.itertuples()} == {k: v["prior"] for k, v in ref.items()}

    groups = d.groups.df()
    analysed = {k for k, v in ref.items() if "returns" in v}
    assert {r.LopNr: r.Diagnosgrupp for r in groups.itertuples() if r.LopNr in analysed} == \
        {k: ref[k]["group"] for k in analysed}
    assert "both" in set(groups.Diagnosgrupp)

    ret = d.returns.df()
    assert {r.LopNr: (r.ReturnDays, r.Returned, r.FullReturnStatus) for r in ret.itertuples()} \
        == {k: ref[k]["returns"] for k in analysed}
    assert set(ret.FullReturnStatus) == {"full", "resick_within", "censored", "not_returned"}

    res = d.resick.df()
    assert {r.LopNr: (r.NewSpells, r.ResickDays, r.ResickStatus, r.PersonYears)
            for r in res.itertuples()} == {k: v["resick"] for k, v in ref.items() if "resick" in v}
    assert set(res.ResickStatus) == {0, 1, 2}

    m = d.months.df()
    at_risk = {k for k, v in ref.items() if v["follow"][2]}
    got_m = {k: [(r.Month, r.AtRiskDays, r.NetDays, None if pd.isna(r.MeanDegree) else
                  r.MeanDegree) for r in g.itertuples()] for k, g in m.groupby("LopNr")}
    assert got_m == {k: ref[k]["months"] for k in at_risk}

    # The sparse months: exactly the reference's person-months with net days (every degree
    # here is ≥ 25 %), the other derivations unchanged, and the dense panel restored exactly.
    s = sp.derive_all(periods, participants, population, births,
                      extraction_date=extraction.isoformat(), months=months, after_days=after,
                      sparse_months=True)
    sm = s.months.df()
    got_s = {k: [(r.Month, r.AtRiskDays, r.NetDays, r.MeanDegree) for r in g.itertuples()]
             for k, g in sm.groupby("LopNr")}
    want_s = {k: [r for r in ref[k]["months"] if r[2] > 0] for k in at_risk}
    assert got_s == {k: v for k, v in want_s.items() if v}
    assert 0 < len(sm) < len(m)
    at_risk_index = d.index.df().merge(d.follow.df()[["LopNr", "FollowUpEnd", "AtRisk"]],
                                       on="LopNr").query("AtRisk")
    pd.testing.assert_frame_equal(sp.dense_months(sm, at_risk_index, months).df(), m)
    for name in ("spells", "follow", "index", "prior", "groups", "returns", "resick"):
        pd.testing.assert_frame_equal(getattr(s, name).df(), getattr(d, name).df())
    assert s.flow == d.flow

    flow = d.flow
    assert sum(flow["by_status"].values()) == flow["participants"] == 300
    assert flow["by_status"]["analysed"] == len(analysed)
    assert flow["periods"] == len(rows)


def test_results_do_not_depend_on_row_order_or_threads():
    rows, part, pop, birth = random_study(120, seed=3)
    periods = periods_frame(rows)
    args = (people(part), pd.DataFrame(pop, columns=["LopNr", "DodDatum", "UtvandringDatum"]),
            pd.DataFrame(birth, columns=["LopNr", "FodelseAr"]))
    one = sp.derive_all(periods, *args, extraction_date="2015-09-01",
                        con=sp.connect(threads=1))
    two = sp.derive_all(periods.sample(frac=1, random_state=5).reset_index(drop=True), *args,
                        extraction_date="2015-09-01", con=sp.connect(threads=2))
    for name in ("spells", "follow", "index", "prior", "groups", "returns", "resick", "months"):
        pd.testing.assert_frame_equal(getattr(one, name).df(), getattr(two, name).df())
    assert one.flow == two.flow


def test_inputs_as_parquet_files(tmp_path):
    periods = periods_frame([("1", "2014-01-01", "2014-01-10", 100, "F32")])
    periods.to_parquet(tmp_path / "p.parquet")
    got = sp.join_periods(tmp_path / "p.parquet").df()
    assert got.NetDays.tolist() == [10.0]


@pytest.mark.parametrize(("keys", "integer"), [
    (pd.Series([7, 12, 100000], dtype="int64"), True),
    (pd.Series([7, 12, 100000], dtype="int32"), True),
    (pd.Series(["7", "-12", "100000"]), True),
    (pd.Series(["7", None, "100000"]), True),
    (pd.Series(["7", "012"]), False),       # a leading zero: 12 would come back as "12"
    (pd.Series(["7", " 12"]), False),
    (pd.Series(["7", "+12"]), False),
    (pd.Series(["7", "-0"]), False),
    (pd.Series(["7", "1e3"]), False),
    (pd.Series(["7", "99999999999999999999"]), False),  # beyond BIGINT
    (pd.Series(["7", "A12"]), False),
    (pd.Series([7.0, 12.0]), False),        # not an integer type
])
def test_integer_keys_only_when_the_text_comes_back_exactly(keys, integer):
    con = sp.connect()
    assert sp._integer_keys(con, (pd.DataFrame({"LopNr": keys}),)) is integer
    # every source must qualify
    other = pd.DataFrame({"LopNr": ["0012"]})
    assert sp._integer_keys(con, (pd.DataFrame({"LopNr": keys}), other)) is False


def test_integer_key_path_gives_the_text_key_results_in_text_order(monkeypatch):
    rows, part, pop, birth = random_study(200, seed=11)
    key = {f"{k:04d}": str(3 + 97 * k) for k in range(200)}  # 3 … 19306: text ≠ numeric order
    rows = [(key[r[0]], *r[1:]) for r in rows]
    periods = periods_frame(rows)
    args = (people([(key[k], i) for k, i in part]),
            pd.DataFrame([(key[k], d, e) for k, d, e in pop],
                         columns=["LopNr", "DodDatum", "UtvandringDatum"]),
            pd.DataFrame([(key[k], b) for k, b in birth], columns=["LopNr", "FodelseAr"]))
    con = sp.connect(threads=2)
    assert sp._integer_keys(con, (periods, *args))
    numeric_periods = periods.assign(LopNr=periods.LopNr.astype("int64"))  # as Parquet delivers
    fast = sp.derive_all(numeric_periods, *args, extraction_date="2015-09-01", months=14,
                         sparse_months=True, con=con)
    shuffled = sp.derive_all(numeric_periods.sample(frac=1, random_state=2), *args,
                             extraction_date="2015-09-01", months=14, sparse_months=True,
                             con=sp.connect(threads=1))
    monkeypatch.setattr(sp, "_integer_keys", lambda con, sources: False)
    text = sp.derive_all(periods, *args, extraction_date="2015-09-01", months=14,
                         sparse_months=True, con=sp.connect(threads=2))
    for name in ("spells", "follow", "index", "prior", "groups", "returns", "resick", "months"):
        a, b = getattr(fast, name).df(), getattr(text, name).df()
        assert a.LopNr.map(type).eq(str).all() and len(a) > 0
        assert a.LopNr.tolist() == sorted(a.LopNr)  # text order: "1000" before "997"
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(getattr(shuffled, name).df(), b)
    assert fast.flow == text.flow == shuffled.flow


def test_a_missing_diagnosis_stays_missing():
    rows = [("1", "2014-01-01", "2014-01-10", 100, None), ("1", "2014-01-05", "2014-01-20", 50,
                                                           "f43.8")]
    got = sp.join_periods(periods_frame(rows)).df()
    assert got.Diagnos.isna().tolist() == [True] and got.NetDays.tolist() == [15.0]


def test_a_connection_spills_to_its_own_temporary_folder_removed_with_it():
    """Not DuckDB's default `.tmp` in the working directory (beside the notebooks)."""
    con = sp.connect(memory_limit="100MB")
    folder = Path(con.sql("SELECT current_setting('temp_directory')").fetchall()[0][0])
    assert folder.parent == Path(tempfile.gettempdir()).resolve() or \
        folder.parent == Path(tempfile.gettempdir())
    assert folder.name.startswith("rehabkoord-duckdb-") and folder.is_dir()
    con.close()
    del con
    gc.collect()
    assert not folder.exists()


def test_derive_all_equals_the_public_derivations():
    """`derive_all` takes shortcuts the public functions cannot (spells that know their
    neighbours, an index table carrying follow-up, prior diagnoses found in the prior join,
    one-period spells read from the numbered periods); each table equals theirs."""
    rows, part, pop, birth = random_study(250, seed=23)
    # The boundaries of the shortcuts: X1's first spell ends on IndexDatum and the next starts
    # within `after_days` (the first is the index spell); X2's later spell is the last to start
    # before follow-up ends, its successor starts on FollowUpEnd (2015-05-01) and is not later.
    rows += [("X1", D("2014-02-01"), D("2014-03-01"), 100, "F32"),
             ("X1", D("2014-03-08"), D("2014-03-20"), 50, "M54"),
             ("X2", D("2014-03-01"), D("2014-03-10"), 100, "F43"),
             ("X2", D("2014-06-01"), D("2014-06-05"), 100, "M79"),
             ("X2", D("2015-05-01"), D("2015-05-05"), 100, "F32")]
    part += [("X1", D("2014-03-01")), ("X2", D("2014-03-01"))]
    pop += [("X1", None, None), ("X2", None, None)]
    birth += [("X1", 1970), ("X2", 1970)]
    periods = periods_frame(rows)
    participants = people(part)
    population = pd.DataFrame(pop, columns=["LopNr", "DodDatum", "UtvandringDatum"])
    births = pd.DataFrame(birth, columns=["LopNr", "FodelseAr"])
    con = sp.connect()
    d = sp.derive_all(periods, participants, population, births, extraction_date="2015-09-01",
                      months=14, con=con)
    spells = sp.join_periods(periods, con=con)
    follow = sp.follow_up(participants, population, births, "2015-09-01", 14, con=con)
    index_ = sp.index_spells(spells, participants, 14, con=con)
    want = {"spells": spells, "follow": follow, "index": index_,
            "prior": sp.prior_sick_leave(periods, spells, index_, con=con),
            "groups": sp.diagnosis_groups(index_, periods, con=con),
            "returns": sp.returns(index_, spells, follow, con=con),
            "resick": sp.resick_listings(index_, spells, follow, con=con)}
    for name, rel in want.items():
        pd.testing.assert_frame_equal(getattr(d, name).df(), rel.df(), obj=name)
    assert len(d.resick.df()) > 0 and d.returns.df().NextSpellStart.notna().any()
    index_ = d.index.df().set_index("LopNr")
    assert index_.loc["X1", "SpellStart"] == pd.Timestamp("2014-02-01")
    assert d.resick.df().set_index("LopNr").loc["X2", "NewSpells"] == 1


def test_derive_all_refuses_a_participant_listed_twice():
    """`derive_all`'s index and later steps find one match per participant without an
    aggregate; a participant listed twice must stop it (in `flow`), not be counted twice."""
    rows, part, pop, birth = random_study(20, seed=2)
    args = (people([*part, part[0]]), pd.DataFrame(pop, columns=["LopNr", "DodDatum",
                                                                 "UtvandringDatum"]),
            pd.DataFrame(birth, columns=["LopNr", "FodelseAr"]))
    with pytest.raises(ValueError, match="flow does not add up"):
        sp.derive_all(periods_frame(rows), *args, extraction_date="2015-09-01")
