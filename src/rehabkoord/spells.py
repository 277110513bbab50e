"""Sick-leave spells from MiDAS periods, as set operations in SQL (DuckDB).

Shared by the spell study (the Stockholm-type evaluation) and the risk model. Every derivation
is one SQL query over whole tables: no per-person Python, so the same code runs on 1 000 and on
8 000 000 persons, and the SQL (standard window functions, ``date + integer`` for days) could
run on another engine. Inputs are pandas frames, Parquet/CSV paths or DuckDB relations of the
same connection; outputs are lazy DuckDB relations (``.df()`` for pandas, ``.to_table(name)``
to materialise), every one ordered by person so results never depend on row order or threads.

Units and conventions, everywhere in this module:

- dates are calendar days (no time of day); a period's `FromDatum`–`TomDatum` is inclusive;
  every derived window is half-open, ``[start, end)``: `end` is the first day outside;
- day counts are integers (``end - start``); degrees are percent of full time (25–100);
- net days are Σ degree/100 over days, with the degree on a day the sum of the person's periods
  that day capped at 100 (quarter days, exact in floating point);
- months are calendar months added to a date (``2013-01-31 + 1 month = 2013-02-28``);
- person-years are days / 365.25.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from .contract import PERSON_KEY, normalise_icd10, normalise_icd10_sql

__all__ = [
    "DEFAULT_MAPPING", "GAP_DAYS", "FULL_RETURN_DAYS", "Derived", "connect", "degree_by_month",
    "degree_segments", "dense_months", "derive_all", "diagnosis_groups", "flow", "follow_up", "index_spells",
    "join_periods", "net_days", "prior_sick_leave", "read_mapping", "resick_listings",
    "returns",
]

#: Försäkringskassan's rule: a new period within 5 days of the last one continues the spell.
GAP_DAYS = 5
#: A return is full when no new spell starts within this many days after it.
FULL_RETURN_DAYS = 90
#: Age at which sickness benefit ends and follow-up is censored (years).
MAX_AGE = 65
DAYS_PER_YEAR = 365.25

Source = pd.DataFrame | str | os.PathLike | duckdb.DuckDBPyRelation

#: Diagnosis groups (ICD-10 prefix, longest prefix wins), also `notebooks/stockholm/
#: diagnosgrupper.csv`: mild/moderate mental ill-health, diagnoses with a risk of long-term
#: pain, the rest. Severe depressive episodes (F32.2/F32.3, F33.2/F33.3) are not mild/moderate.
DEFAULT_MAPPING = pd.DataFrame(
    [
        ("F32", "mental", "Depressiv episod", "Depressive episode"),
        ("F322", "other", "Svår depressiv episod", "Severe depressive episode"),
        ("F323", "other", "Svår depressiv episod med psykotiska symtom",
         "Severe depressive episode with psychotic symptoms"),
        ("F33", "mental", "Recidiverande depression", "Recurrent depressive disorder"),
        ("F332", "other", "Recidiverande depression, svår", "Recurrent depression, severe"),
        ("F333", "other", "Recidiverande depression, svår med psykotiska symtom",
         "Recurrent depression, severe with psychotic symptoms"),
        ("F41", "mental", "Andra ångestsyndrom", "Other anxiety disorders"),
        ("F43", "mental", "Anpassningsstörningar och reaktion på svår stress (t.ex. "
         "utmattningssyndrom F43.8)", "Reaction to severe stress and adjustment disorders "
         "(e.g. exhaustion disorder F43.8)"),
        ("M54", "pain", "Ryggvärk", "Dorsalgia"),
        ("M53", "pain", "Andra sjukdomar i kotpelaren och ryggen", "Other dorsopathies"),
        ("M75", "pain", "Sjukdomstillstånd i skulderled", "Shoulder lesions"),
        ("M79", "pain", "Andra sjukdomstillstånd i mjukvävnader (t.ex. fibromyalgi)",
         "Other soft tissue disorders (e.g. fibromyalgia)"),
        ("M51", "pain", "Andra disksjukdomar", "Other intervertebral disc disorders"),
        ("M77", "pain", "Andra entesopatier (t.ex. epikondylit)",
         "Other enthesopathies (e.g. epicondylitis)"),
        ("M25", "pain", "Andra ledsjukdomar (t.ex. ledvärk)", "Other joint disorders (e.g. "
         "joint pain)"),
        ("R52", "pain", "Smärta, ej klassificerad annorstädes", "Pain, not elsewhere classified"),
    ],
    columns=["prefix", "group", "label_sv", "label_en"],
)
MAPPING_GROUPS = ("mental", "pain", "other")

_names = itertools.count()


def _fresh_name() -> str:
    """A view name no other view of the connection has."""
    return f"_rk_{next(_names)}"


#: Whether outputs are sorted by person (and period or month). `derive_all` materialises its
#: tables unsorted (a sort of every intermediate table costs time, not correctness) and sorts
#: when they are read.
_SORTED: contextvars.ContextVar[bool] = contextvars.ContextVar("sorted", default=True)


#: The SQL type of the person key inside the queries. `derive_all` switches to BIGINT when
#: every delivered key is an integer or the canonical text of one (no sign, leading zero or
#: blank: ``CAST(CAST(k AS BIGINT) AS VARCHAR) = k``), so the text key is recovered exactly
#: and sorts, joins and windows compare 8-byte integers instead of strings.
_KEY: contextvars.ContextVar[str] = contextvars.ContextVar("key", default="VARCHAR")


def _key(column: str = PERSON_KEY) -> str:
    return f"CAST({column} AS {_KEY.get()})"


def _order(columns: str) -> str:
    return f"ORDER BY {columns}" if _SORTED.get() else ""


def connect(memory_limit: str | None = None, threads: int | None = None,
            temp_directory: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with its memory limit (e.g. ``"2GB"``), threads and spill directory
    set explicitly, so large derivations spill to disk instead of failing. Without
    `temp_directory` it spills to a fresh folder of the system's temporary directory, removed
    with the connection (DuckDB's own default, ``.tmp`` in the working directory, would put
    person-level rows beside the notebooks)."""
    con = duckdb.connect()
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory is None:
        temp_directory = tempfile.mkdtemp(prefix="rehabkoord-duckdb-")
        weakref.finalize(con, shutil.rmtree, temp_directory, ignore_errors=True)
    con.execute(f"SET temp_directory = '{Path(temp_directory).as_posix()}'")
    con.execute("SET preserve_insertion_order = false")
    return con


_DEFAULT: list[duckdb.DuckDBPyConnection] = []


def _con(con: duckdb.DuckDBPyConnection | None) -> duckdb.DuckDBPyConnection:
    if con is not None:
        return con
    if not _DEFAULT:
        _DEFAULT.append(connect())
    return _DEFAULT[0]


#: Columns read as dates whatever their delivered type (pandas gives timestamps).
_DATE_COLUMNS = ("FromDatum", "TomDatum", "SpellStart", "SpellEnd", "IndexDatum", "FollowUpEnd",
                 "PriorRef", "WinStart", "WinEnd", "DodDatum", "UtvandringDatum", "FodelseDatum",
                 "ReturnDatum", "NextSpellStart", "SegStart", "SegEnd", "MonthStart", "MonthEnd")


def _view(con: duckdb.DuckDBPyConnection, source: Source) -> str:
    """A fresh view over `source` (frame, Parquet/CSV path or relation of `con`), with the
    person key as text and date columns as dates."""
    raw = _raw_view(con, source)
    name = _fresh_name()
    cols = []
    for c in _columns(con, raw):
        if c == PERSON_KEY:
            cols.append(f"{_key(c)} AS {c}")
        elif c in _DATE_COLUMNS:
            cols.append(f"CAST({c} AS DATE) AS {c}")
        else:
            cols.append(f'"{c}"')
    con.execute(f"CREATE VIEW {name} AS SELECT {', '.join(cols)} FROM {raw}")
    return name


def _raw_view(con: duckdb.DuckDBPyConnection, source: Source) -> str:
    name = _fresh_name()
    if isinstance(source, pd.DataFrame):
        con.register(name, source)
    elif hasattr(source, "create_view"):  # a relation of `con` (also engines.SparkRelation)
        source.create_view(name)
    else:
        path = Path(source).as_posix().replace("'", "''")
        reader = "read_csv" if path.lower().endswith((".csv", ".txt")) else "read_parquet"
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {reader}('{path}')")
    return name


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> list[str]:
    return list(con.sql(f"SELECT * FROM {view} LIMIT 0").columns)


def _periods_sql(view: str) -> str:
    """Typed periods: person key (text, or BIGINT in `derive_all`'s integer path), dates,
    integer degree, normalised ICD-10 code. The code is normalised once per distinct delivered
    spelling (a few hundred) and joined back, instead of a regular expression on every period."""
    raw = "CAST(Diagnos AS VARCHAR)"
    return f"""SELECT {_key()} AS LopNr, CAST(FromDatum AS DATE) AS FromDatum,
        CAST(TomDatum AS DATE) AS TomDatum, CAST(Omfattning AS INTEGER) AS Omfattning,
        dx.code AS Diagnos
        FROM {view} LEFT JOIN (SELECT raw, {normalise_icd10_sql('raw')} AS code
                               FROM (SELECT DISTINCT {raw} AS raw FROM {view}) AS r) AS dx
          ON {raw} = dx.raw"""


def _typed_periods_sql(con: duckdb.DuckDBPyConnection, view: str) -> str:
    """`_periods_sql`, or the periods as they are when `view` holds periods already typed and
    numbered into spells (`derive_all`'s table, recognised by its SpellNr)."""
    if "SpellNr" in _columns(con, view):
        return f"SELECT LopNr, FromDatum, TomDatum, Omfattning, Diagnos FROM {view}"
    return _periods_sql(view)


def _segments_sql(periods_cte: str, carry: str = "") -> str:
    """Piecewise-constant degree per person: a sweep over period starts (+degree) and the day
    after their ends (−degree). Columns: LopNr, `carry` (a column constant on a person's day,
    e.g. SpellNr: spells never share a day), SegStart, SegEnd (exclusive), Degree (summed, not
    capped), Active (number of periods that day); only days with a period.

    One window pass over the events, without grouping them by day first: of the events on one
    day only the last in the window's order reaches the next day (the others end where they
    start and are dropped), and its running sums include every event of that day, whichever
    order the day's events have."""
    keys = f"LopNr, {carry}" if carry else "LopNr"
    w = "PARTITION BY LopNr ORDER BY d"
    return f"""
    ev AS (SELECT {keys}, FromDatum AS d, Omfattning AS dd, 1 AS dc FROM {periods_cte}
           UNION ALL
           SELECT {keys}, TomDatum + 1 AS d, -Omfattning AS dd, -1 AS dc FROM {periods_cte}),
    run AS (SELECT {keys}, d AS SegStart, LEAD(d) OVER ({w}) AS SegEnd,
                   SUM(dd) OVER ({w} ROWS UNBOUNDED PRECEDING) AS Degree,
                   SUM(dc) OVER ({w} ROWS UNBOUNDED PRECEDING) AS Active
            FROM ev),
    seg AS (SELECT * FROM run WHERE Active > 0 AND SegEnd > SegStart)"""


def degree_segments(periods: Source, *, con: duckdb.DuckDBPyConnection | None = None
                    ) -> duckdb.DuckDBPyRelation:
    """The daily degree as intervals: per person, [SegStart, SegEnd) days on which the summed
    degree (`Degree`, percent, not yet capped) and the number of periods (`Active`) are
    constant. The degree on a day is ``min(Degree, 100)``; days without a period have no row."""
    con = _con(con)
    p = _view(con, periods)
    return con.sql(f"""WITH p AS ({_periods_sql(p)}), {_segments_sql('p')}
        SELECT LopNr, SegStart, SegEnd, CAST(Degree AS INTEGER) AS Degree,
               CAST(Active AS INTEGER) AS Active
        FROM seg {_order("LopNr, SegStart")}""")


def join_periods(periods: Source, gap_days: int = GAP_DAYS, *,
                 con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """Periods → spells (sjukfall). A period continues the spell when it starts within
    `gap_days` days after the spell's latest end so far (``FromDatum − max(TomDatum) ≤
    gap_days``), so a break of `gap_days` free days or more starts a new spell: with
    ``gap_days=5``, TomDatum 1 January and FromDatum 6 January join (2–5 January free, 4 days),
    7 January starts a new spell (5 free days). This is socialförsäkringsbalken 27 kap. 32 §
    ("börjar inom fem dagar från det att en tidigare sjukperiod har avslutats") and MiDAS's
    spell definition (a spell "avslutas om det har varit ett uppehåll på minst fem dagar").
    `gap_days` is at least 1: a period starting the day after the previous one ends always
    continues it.

    One row per spell: `SpellNr` (1, 2, … per person by start), `SpellStart`, `SpellEnd`
    (inclusive), `Diagnos` (normalised ICD-10 code of the spell's first period; ties: higher
    degree, then code), `Periods`, `CalendarDays` (SpellEnd − SpellStart + 1), `SickDays`
    (days with a period), `GapDays` (days inside the spell without one), `NetDays`,
    `OverlapDays` (days covered by two or more periods) and `CappedDays` (days whose summed
    degree exceeded 100 and was capped).
    """
    con = _con(con)
    numbered = f"SELECT * FROM ({_numbered_sql(_view(con, periods), gap_days)})"
    return con.sql(f"""WITH s AS ({numbered}), {_spell_segments_sql('s')}
        {_spells_sql('s', 'spell_seg')}""")


def _spell_segments_sql(numbered: str) -> str:
    """CTEs ending in `spell_seg` (`_segments_sql`'s columns with SpellNr and Single, and for a
    spell of one period the neighbouring spells' PrevEnd and NextStart) from numbered periods.
    A spell of one period shares no day with another period, so it is its own segment; only
    the periods of spells with several are swept."""
    return f"""multi AS (SELECT * FROM {numbered} WHERE Single = 0),
    {_segments_sql('multi', 'SpellNr, Single')},
    spell_seg AS (SELECT LopNr, SpellNr, Single, SegStart, SegEnd, Degree, Active,
                         CAST(NULL AS DATE) AS PrevEnd, CAST(NULL AS DATE) AS NextStart FROM seg
                  UNION ALL
                  {_lone_segments_sql(numbered)})"""


def _lone_segments_sql(numbered: str) -> str:
    """The segments of the spells of one period: the periods themselves."""
    return f"""SELECT LopNr, SpellNr, Single, FromDatum AS SegStart, TomDatum + 1 AS SegEnd,
                         Omfattning AS Degree, 1 AS Active, PrevEnd, NextStart
                  FROM {numbered} WHERE Single = 1"""


def _numbered_sql(view: str, gap_days: int) -> str:
    """Typed periods with the person's SpellNr (the gap rule of `join_periods`), `First`
    (1 on the spell's first period: earliest start, then higher degree, then code),
    `Single` (1 when the period is its spell's only one: the next period starts a new spell),
    `Last` (1 on the spell's last period in this order), `PrevEnd` (the latest end of the
    person's earlier periods: on a spell's first period, the previous spell's end) and
    `NextStart` (the next period's start: after a spell's last period, the next spell's
    start).

    Periods are ordered by start, then degree (descending), code and end. Only the first
    period of a start day can begin a spell (the others start on or before the end of one
    before them, so with `gap_days` ≥ 1 they join), and whether it does depends only on the
    periods that start earlier; so the spell numbers are those of any order by start, and the
    spell's first row in this order is its first period."""
    if int(gap_days) < 1:
        raise ValueError(f"derivation.gap_days must be 1 or more days (a period starting the "
                         f"day after the previous one ends continues the spell), not {gap_days}")
    w = "PARTITION BY LopNr ORDER BY FromDatum, Omfattning DESC, Diagnos, TomDatum"
    return f"""
    WITH p AS ({_periods_sql(view)}),
    o AS (SELECT *, MAX(TomDatum) OVER ({w}
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end FROM p),
    f AS (SELECT *, CASE WHEN prev_end IS NULL OR FromDatum - prev_end > {int(gap_days)}
                         THEN 1 ELSE 0 END AS First FROM o)
    SELECT LopNr, FromDatum, TomDatum, Omfattning, Diagnos,
           CAST(SUM(First) OVER ({w} ROWS UNBOUNDED PRECEDING) AS INTEGER) AS SpellNr,
           CAST(First AS INTEGER) AS First,
           CAST(First = 1 AND COALESCE(LEAD(First) OVER ({w}), 1) = 1 AS INTEGER) AS Single,
           CAST(COALESCE(LEAD(First) OVER ({w}), 1) = 1 AS INTEGER) AS Last,
           prev_end AS PrevEnd, LEAD(FromDatum) OVER ({w}) AS NextStart
    FROM f"""


def _spells_sql(numbered: str, seg: str, prev_end: bool = False,
                parts: tuple[str, ...] = ("several", "one")) -> str:
    """CTEs and the final SELECT of `join_periods` from numbered periods and their segments
    (per person, spell and Single; spells never share a day, so these are also the person's).

    A spell of one period is that period: one segment of its degree, no gap, no overlap. Such
    spells are written directly; only spells of several periods are aggregated, which is the
    costly step when most spells have one period (as in the national benchmark).

    `prev_end` adds PrevSpellEnd, the previous spell's end (NULL for the first), the PrevEnd
    of the spell's first period, and NextSpellStart, the next spell's start (NULL for the
    last), the NextStart of its last period: `index_spells` then finds the first spell ending
    on or after a day, and `_later_sql` the last starting before a day, without an aggregate
    (`derive_all`; not output columns). `parts`: the
    spells of several periods ('several'), of one ('one'), or a relation already holding
    either (`derive_all` keeps the first as a table and reads the others from the numbered
    periods)."""
    prev = ", PrevSpellEnd, NextSpellStart" if prev_end else ""
    prev_first = (", MAX(CASE WHEN First = 1 THEN PrevEnd END) AS PrevSpellEnd, "
                  "MAX(CASE WHEN Last = 1 THEN NextStart END) AS NextSpellStart"
                  if prev_end else "")
    single_prev = ", PrevEnd AS PrevSpellEnd, NextStart AS NextSpellStart" if prev_end else ""
    return f""",
    single AS (SELECT LopNr, SpellNr, FromDatum AS SpellStart, TomDatum AS SpellEnd, Diagnos,
                 CAST(TomDatum - FromDatum + 1 AS BIGINT) AS days, Omfattning{single_prev}
               FROM {numbered} WHERE Single = 1),
    segsum AS (SELECT LopNr, SpellNr,
                 SUM(LEAST(Degree, 100) * (SegEnd - SegStart)) AS degree_days,
                 SUM(SegEnd - SegStart) AS sick_days,
                 SUM(CASE WHEN Active >= 2 THEN SegEnd - SegStart ELSE 0 END) AS overlap_days,
                 SUM(CASE WHEN Degree > 100 THEN SegEnd - SegStart ELSE 0 END) AS capped_days
               FROM {seg} WHERE Single = 0 GROUP BY LopNr, SpellNr),
    spell AS (SELECT LopNr, SpellNr, MIN(FromDatum) AS SpellStart, MAX(TomDatum) AS SpellEnd,
                     MAX(CASE WHEN First = 1 THEN Diagnos END) AS Diagnos,
                     COUNT(*) AS Periods{prev_first} FROM {numbered} WHERE Single = 0
              GROUP BY LopNr, SpellNr),
    several AS (SELECT spell.LopNr, CAST(spell.SpellNr AS INTEGER) AS SpellNr, SpellStart, SpellEnd,
           spell.Diagnos, CAST(Periods AS INTEGER) AS Periods,
           CAST(SpellEnd - SpellStart + 1 AS INTEGER) AS CalendarDays,
           CAST(sick_days AS INTEGER) AS SickDays,
           CAST(SpellEnd - SpellStart + 1 - sick_days AS INTEGER) AS GapDays,
           CAST(degree_days AS DOUBLE) / 100 AS NetDays,
           CAST(overlap_days AS INTEGER) AS OverlapDays, CAST(capped_days AS INTEGER) AS CappedDays
           {prev}
    FROM spell JOIN segsum USING (LopNr, SpellNr)),
    one AS (SELECT LopNr, CAST(SpellNr AS INTEGER) AS SpellNr, SpellStart, SpellEnd, Diagnos,
           1 AS Periods, CAST(days AS INTEGER) AS CalendarDays, CAST(days AS INTEGER) AS SickDays,
           0 AS GapDays, CAST(LEAST(Omfattning, 100) * days AS DOUBLE) / 100 AS NetDays,
           0 AS OverlapDays,
           CAST(CASE WHEN Omfattning > 100 THEN days ELSE 0 END AS INTEGER) AS CappedDays
           {prev}
    FROM single),
    joined AS ({" UNION ALL ".join(f"SELECT * FROM {part}" for part in parts)})
    SELECT * FROM joined {_order("LopNr, SpellNr")}"""


def _seg_cte(con: duckdb.DuckDBPyConnection, view: str) -> str:
    """CTEs ending in `seg` (LopNr, SegStart, SegEnd, Degree, Active) from periods, or from
    `degree_segments` already computed (recognised by their columns), so a pipeline sweeps
    the periods once."""
    if "SegStart" in _columns(con, view):
        return f"seg AS (SELECT * FROM {view})"
    return f"p AS ({_periods_sql(view)}), {_segments_sql('p')}"


def _window_degree_sql(seg_cte: str, windows_sql: str, keys: list[str]) -> str:
    """Degree-days (Σ min(degree,100) × days, percent-days) per window row of `windows_sql`
    (columns `keys`, LopNr, ws, we: a half-open day window)."""
    cols = ", ".join(f"w.{k}" for k in keys)
    return f"""
    WITH {seg_cte},
    w AS ({windows_sql}),
    hit AS (SELECT {cols}, SUM(LEAST(seg.Degree, 100) *
                   (LEAST(seg.SegEnd, w.we) - GREATEST(seg.SegStart, w.ws))) AS degree_days
            FROM w JOIN seg ON seg.LopNr = w.LopNr AND seg.SegStart < w.we AND seg.SegEnd > w.ws
            GROUP BY {cols})
    SELECT w.*, COALESCE(hit.degree_days, 0) AS degree_days
    FROM w LEFT JOIN hit USING ({', '.join(keys)})"""


def net_days(periods: Source, windows: Source, *,
             con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """Net days (Σ degree/100 over days, degree capped at 100) per window.

    `periods`: periods, or their `degree_segments`. `windows`: LopNr, WinStart, WinEnd
    (half-open day window) and any other columns, which are kept; (LopNr, WinStart, WinEnd,
    other columns) must be unique. Adds `WindowDays` (WinEnd − WinStart) and `NetDays`; a
    window without sick leave has 0.
    """
    con = _con(con)
    p, w = _view(con, periods), _view(con, windows)
    extra = [c for c in _columns(con, w) if c not in (PERSON_KEY, "WinStart", "WinEnd")]
    keys = [PERSON_KEY, "WinStart", "WinEnd", *extra]
    wsql = (f"SELECT LopNr, WinStart, WinEnd{''.join(f', {c}' for c in extra)}, "
            f"WinStart AS ws, WinEnd AS we FROM {w}")
    out = ", ".join(f"{k}" for k in keys)
    return con.sql(f"""SELECT {out}, CAST(we - ws AS INTEGER) AS WindowDays,
        CAST(degree_days AS DOUBLE) / 100 AS NetDays
        FROM ({_window_degree_sql(_seg_cte(con, p), wsql, keys)}) {_order(out)}""")


def _add_months(day: str, months: str) -> str:
    return f"CAST({day} + ({months}) * INTERVAL '1' MONTH AS DATE)"


def _month_index_sql(view: str, end: str, k: int) -> str:
    """LopNr, IndexDatum and `stop`, the first day after the last month at risk."""
    return f"""SELECT LopNr, IndexDatum,
        LEAST(COALESCE({end}, DATE '9999-12-31'), {_add_months('IndexDatum', str(k))}) AS stop
        FROM {view}"""


def _dense_sql(index_cte: str, sparse: str, k: int) -> str:
    """The dense person × month rows from CTE `i` (`index_cte`, `_month_index_sql`) and the
    sparse rows `sparse` (LopNr, Month, NetDays, MeanDegree); `we` ends a month's days at risk."""
    return f"""
    WITH i AS ({index_cte}),
    grid AS (SELECT i.LopNr, i.stop, CAST(m.Month AS INTEGER) AS Month,
               {_add_months('i.IndexDatum', 'm.Month')} AS MonthStart,
               {_add_months('i.IndexDatum', 'm.Month + 1')} AS MonthEnd
             FROM i CROSS JOIN (SELECT range AS Month FROM range({k})) AS m),
    g AS (SELECT grid.*, GREATEST(LEAST(MonthEnd, stop), MonthStart) AS we FROM grid)
    SELECT g.LopNr, g.Month, g.MonthStart, g.MonthEnd,
           CAST(g.we - g.MonthStart AS INTEGER) AS AtRiskDays,
           COALESCE(s.NetDays, CAST(0 AS DOUBLE)) AS NetDays,
           CASE WHEN g.we > g.MonthStart THEN COALESCE(s.MeanDegree, CAST(0 AS DOUBLE)) END
             AS MeanDegree
    FROM g LEFT JOIN (SELECT LopNr, Month, NetDays, MeanDegree FROM {sparse}) AS s
      USING (LopNr, Month) {_order("g.LopNr, g.Month")}"""


def dense_months(sparse: Source, index: Source, months: int, *,
                 con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """The dense output of `degree_by_month` (one row per person × month) from its sparse
    output and the same `index` and `months`: the person-months without a sparse row get
    NetDays 0 and MeanDegree 0 (NULL with no day at risk)."""
    con = _con(con)
    sv, i = _view(con, sparse), _view(con, index)
    end = "FollowUpEnd" if "FollowUpEnd" in _columns(con, i) else "CAST(NULL AS DATE)"
    k = int(months)
    return con.sql(_dense_sql(_month_index_sql(i, end, k), sv, k))


def _sparse_months_sql(seg_cte: str, index_view: str, end: str, k: int,
                       neighbours: bool = False) -> str:
    """The sparse rows of `degree_by_month` (see there) as one query.

    Each segment, clipped to the days at risk, covers months ma … mb since index. Its interior
    months (ma < m < mb) lie wholly inside it and so inside the days at risk: no other segment
    has a day there, and the row follows from the segment alone (MeanDegree is its degree).
    Only its first and last month can be shared with the person's other segments; only those
    are summed by person and month.

    With `neighbours` (segments from `derive_all`: `Single`, `PrevEnd`, `NextStart`), an edge
    month is summed only when another segment may have a day in it: a spell of one period is
    one segment, and the spells before and after it end on PrevEnd and start on NextStart, so
    its first month is its own when PrevEnd falls before that month, and its last when
    NextStart falls after it. At national scale almost every edge month is a segment's own,
    and the aggregation, the costly step, sees only the others. A month counted alone gets the
    same integer degree-days as its group of one would, so the rows are the same.

    Month bounds come from a small calendar (`cal`: each distinct IndexDatum × month), joined
    on, instead of adding a month interval to a date twice on each of the tens of millions of
    rows (the costliest expression here); each segment's months and flags are computed once,
    in the one table (`spans`) that every branch reads."""

    def month_of(d: str) -> str:
        """The month since index (0-based, negative before it) that day `d` falls in: the
        calendar months between them, less one when IndexDatum + that many months (its day,
        clamped to the month's length) is after `d`, i.e. when IndexDatum's day of month is
        after `d`'s and `d` is not its month's last day. Day parts instead of adding an
        interval: a third of the cost on tens of millions of rows, same months."""
        dd = f"date_diff('month', c.IndexDatum, {d})"
        late = f"day(c.IndexDatum) > day({d}) AND day({d} + 1) <> 1"
        return f"({dd} - CASE WHEN {late} THEN 1 ELSE 0 END)"

    if neighbours:
        near = "seg.Single AS lone, seg.PrevEnd AS pe, seg.NextStart AS ns"
        left = f"NOT (c.lone = 1 AND (c.pe IS NULL OR {month_of('c.pe')} < ma))"
        right = f"NOT (c.lone = 1 AND (c.ns IS NULL OR {month_of('c.ns')} > mb))"
    else:
        near, left, right = "0 AS lone", "TRUE", "TRUE"

    def edge(shared: bool) -> str:
        """Edge months with their calendar days, with (`shared`) or without another segment
        that may have a day there (a union rather than an UNNEST of two: Spark allows one
        generator per select)."""
        cols = "s.LopNr, s.IndexDatum, s.stop, s.a, s.b, s.deg"
        is_ = "" if shared else "NOT "
        return f"""SELECT x.*, cal.MonthStart, cal.MonthEnd FROM (
            SELECT {cols}, CAST(s.ma AS INTEGER) AS Month FROM spans AS s
            WHERE {is_}(CASE WHEN s.mb > s.ma THEN s.ls ELSE s.ls OR s.rs END)
            UNION ALL
            SELECT {cols}, CAST(s.mb AS INTEGER) AS Month FROM spans AS s
            WHERE s.mb > s.ma AND {is_}s.rs) AS x
            JOIN cal ON cal.IndexDatum = x.IndexDatum AND cal.Month = x.Month"""

    days = "deg * (LEAST(b, MonthEnd) - GREATEST(a, MonthStart))"
    summed = (f"SELECT LopNr, stop, Month, MonthStart, MonthEnd, SUM({days}) AS degree_days "
              f"FROM ({edge(True)}) AS x GROUP BY LopNr, stop, Month, MonthStart, MonthEnd")
    alone = (f"SELECT LopNr, stop, Month, MonthStart, MonthEnd, {days} AS degree_days "
             f"FROM ({edge(False)}) AS x")
    return f"""
    WITH {seg_cte},
    i AS ({_month_index_sql(index_view, end, k)}),
    cal AS (SELECT d.IndexDatum, CAST(m.Month AS INTEGER) AS Month,
                   {_add_months('d.IndexDatum', 'm.Month')} AS MonthStart,
                   {_add_months('d.IndexDatum', 'm.Month + 1')} AS MonthEnd
            FROM (SELECT DISTINCT IndexDatum FROM i) AS d
            CROSS JOIN (SELECT range AS Month FROM range({k})) AS m),
    spans AS (SELECT c.LopNr, c.IndexDatum, c.stop, c.a, c.b, c.deg, c.ma, c.mb,
                     {left} AS ls, {right} AS rs FROM (
                SELECT c.*, {month_of('c.a')} AS ma, {month_of('c.b - 1')} AS mb FROM (
                  SELECT i.LopNr, i.IndexDatum, i.stop, GREATEST(seg.SegStart, i.IndexDatum) AS a,
                         LEAST(seg.SegEnd, i.stop) AS b, LEAST(seg.Degree, 100) AS deg, {near}
                  FROM seg JOIN i ON seg.LopNr = i.LopNr
                  WHERE seg.SegEnd > i.IndexDatum AND seg.SegStart < i.stop) AS c
                WHERE c.b > c.a) AS c),
    inner_ AS (SELECT r.LopNr, r.deg, r.Month, cal.MonthStart, cal.MonthEnd FROM (
                 SELECT s.LopNr, s.IndexDatum, s.deg,
                        CAST(UNNEST(range(s.ma + 1, s.mb)) AS INTEGER) AS Month
                 FROM spans AS s WHERE s.mb > s.ma + 1) AS r
               JOIN cal ON cal.IndexDatum = r.IndexDatum AND cal.Month = r.Month),
    edges AS ({summed} UNION ALL {alone}),
    edges_at_risk AS (SELECT *, GREATEST(LEAST(MonthEnd, stop), MonthStart) AS we
                      FROM edges)
    SELECT LopNr, Month, MonthStart, MonthEnd,
           CAST(MonthEnd - MonthStart AS INTEGER) AS AtRiskDays,
           CAST(deg * (MonthEnd - MonthStart) AS DOUBLE) / 100 AS NetDays,
           CAST(deg AS DOUBLE) AS MeanDegree
    FROM inner_
    UNION ALL
    SELECT LopNr, Month, MonthStart, MonthEnd, CAST(we - MonthStart AS INTEGER) AS AtRiskDays,
           CAST(degree_days AS DOUBLE) / 100 AS NetDays,
           CAST(degree_days AS DOUBLE) / (we - MonthStart) AS MeanDegree
    FROM edges_at_risk"""


def degree_by_month(periods: Source, index: Source, months: int, *, sparse: bool = False,
                    con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """Mean sick-leave degree (0–100 %) per person and month since index.

    `periods`: periods, or their `degree_segments`. `index`: LopNr, IndexDatum and optionally
    FollowUpEnd (first day not at risk, from `follow_up`). Month m (0 … months−1) is
    [IndexDatum + m months, IndexDatum + m+1 months); its days at risk are those before
    FollowUpEnd. One row per person × month: MonthStart, MonthEnd, AtRiskDays, NetDays,
    MeanDegree = 100 × NetDays / AtRiskDays (NULL with no day at risk).

    With `sparse`, only the person-months that a sick-leave segment overlaps on a day at risk
    (so AtRiskDays > 0), with the same values as their dense rows; every other person-month has
    NetDays 0 and MeanDegree 0 when it has a day at risk, NULL when not. A mean over the persons
    at risk must count those (`dense_months` restores them); the sparse output grows with sick
    leave, not with persons × months.

    Each sick-leave segment is split at month boundaries (its first and last month found from
    the calendar month difference, corrected where adding months clamps to a shorter month),
    so the work grows with segments, not with persons × months × segments.
    """
    con = _con(con)
    p, i = _view(con, periods), _view(con, index)
    end = "FollowUpEnd" if "FollowUpEnd" in _columns(con, i) else "CAST(NULL AS DATE)"
    k = int(months)
    rows = _sparse_months_sql(_seg_cte(con, p), i, end, k,
                              neighbours="NextStart" in _columns(con, p))
    if sparse:
        return con.sql(f"SELECT * FROM ({rows}) AS s {_order('LopNr, Month')}")
    name = _fresh_name()
    con.execute(f"CREATE VIEW {name} AS {rows}")
    return con.sql(_dense_sql(_month_index_sql(i, end, k), name, k))


def follow_up(participants: Source, population: Source, birth: Source,
              extraction_date: str, months: int, *,
              con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """End of follow-up per participant: the first of IndexDatum + `months` calendar months
    ('planned'), death ('died'), emigration after index ('emigrated'), the 65th birthday
    ('age_65') and `extraction_date` ('extraction'; the data cover the days before it). On a
    tie the reason is the first in that order: died, emigrated, age_65, extraction, planned.

    `birth`: LopNr with FodelseDatum (date) or FodelseAr (year; the birthday is then taken as
    1 July, the middle of the year). An emigration on or before IndexDatum is ignored (the
    person lived in Sweden at index, so returned). FollowUpEnd is the first day not at risk;
    FollowUpDays = FollowUpEnd − IndexDatum; AtRisk is False when that is ≤ 0 (died, turned 65
    or data ended on or before index), a reason to exclude in `flow`.
    """
    con = _con(con)
    pa_, po, b = _view(con, participants), _view(con, population), _view(con, birth)
    pop_cols, birth_cols = _columns(con, po), _columns(con, b)
    death = "CAST(DodDatum AS DATE)" if "DodDatum" in pop_cols else "CAST(NULL AS DATE)"
    emig = ("CAST(UtvandringDatum AS DATE)" if "UtvandringDatum" in pop_cols
            else "CAST(NULL AS DATE)")
    born = ("CAST(FodelseDatum AS DATE)" if "FodelseDatum" in birth_cols
            else "make_date(CAST(FodelseAr AS INTEGER), 7, 1)")
    return con.sql(f"""
    WITH p AS (SELECT {_key()} AS LopNr, CAST(IndexDatum AS DATE) AS IndexDatum
               FROM {pa_}),
    po AS (SELECT {_key()} AS LopNr, {death} AS d, {emig} AS e FROM {po}),
    b AS (SELECT {_key()} AS LopNr, {born} AS born FROM {b}),
    c AS (SELECT p.LopNr, p.IndexDatum,
            CAST(p.IndexDatum + {int(months)} * INTERVAL '1' MONTH AS DATE) AS planned,
            po.d AS died, CASE WHEN po.e > p.IndexDatum THEN po.e END AS emigrated,
            CAST(b.born + {MAX_AGE} * INTERVAL '1' YEAR AS DATE) AS age_65,
            DATE '{pd.Timestamp(extraction_date).date().isoformat()}' AS extraction
          FROM p LEFT JOIN po USING (LopNr) LEFT JOIN b USING (LopNr)),
    e AS (SELECT *, LEAST(planned, COALESCE(died, planned), COALESCE(emigrated, planned),
                          COALESCE(age_65, planned), extraction) AS FollowUpEnd FROM c)
    SELECT LopNr, IndexDatum, FollowUpEnd,
           CASE WHEN FollowUpEnd = died THEN 'died' WHEN FollowUpEnd = emigrated THEN 'emigrated'
                WHEN FollowUpEnd = age_65 THEN 'age_65'
                WHEN FollowUpEnd = extraction THEN 'extraction' ELSE 'planned' END AS EndReason,
           CAST(FollowUpEnd - IndexDatum AS INTEGER) AS FollowUpDays,
           FollowUpEnd > IndexDatum AS AtRisk
    FROM e {_order("LopNr")}""")


def index_spells(spells: Source, participants: Source, after_days: int, *,
                 con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """The index spell per participant: the spell ongoing on IndexDatum (SpellStart ≤ IndexDatum
    ≤ SpellEnd, 'ongoing'), else the first starting 1 … `after_days` days after it
    ('started_after'); else 'no_spell' with the spell columns NULL. One row per participant.
    Spell numbers follow start days, so the first candidate is the one with the lowest number:
    one join and one aggregate per participant (`arg_min` over the candidates' spell numbers,
    unique per person; `arg_min_null` keeps a missing code), no ranking and no join back;
    `derive_all`'s spells need no aggregate (see below). `PriorRef` is the day prior sick
    leave is measured up to: the index spell's start, or IndexDatum when it has none (so the
    index spell itself is never 'prior').
    """
    con = _con(con)
    s, p = _view(con, spells), _view(con, participants)
    near = f"s.LopNr = p.LopNr AND s.SpellEnd >= p.IndexDatum AND " \
           f"s.SpellStart <= p.IndexDatum + {int(after_days)}"
    carry_p = carry_c = carry = ""
    if "PrevSpellEnd" in _columns(con, s):
        # `derive_all`'s spells know the previous spell's end: the first candidate is the one
        # whose predecessor ended before IndexDatum, at most one per participant, so no
        # aggregate (derive_all fails on a participant listed twice, in `flow`). Its
        # participants are the follow-up table, whose end, reason and AtRisk are carried
        # along with the next spell's start (not output columns), so later steps need not
        # join follow-up or the spells back.
        if "AtRisk" in _columns(con, p):
            follow = _CARRIED[:-1]
            carry_p = "".join(f", {c}" for c in follow)
            carry_c = "".join(f", p.{c}" for c in follow) + ", s.NextSpellStart"
            carry = "".join(f", {c}" for c in _CARRIED)
        c = f"""SELECT p.LopNr, p.IndexDatum, s.SpellNr, s.SpellStart, s.SpellEnd,
                 s.Diagnos{carry_c}
          FROM p LEFT JOIN {s} AS s ON {near}
               AND (s.PrevSpellEnd IS NULL OR s.PrevSpellEnd < p.IndexDatum)"""
    else:
        c = f"""SELECT p.LopNr, p.IndexDatum, MIN(s.SpellNr) AS SpellNr,
                 arg_min(s.SpellStart, s.SpellNr) AS SpellStart,
                 arg_min(s.SpellEnd, s.SpellNr) AS SpellEnd,
                 arg_min_null(s.Diagnos, s.SpellNr) AS Diagnos
          FROM p LEFT JOIN {s} AS s ON {near}
          GROUP BY p.LopNr, p.IndexDatum"""
    return con.sql(f"""
    WITH p AS (SELECT {_key()} AS LopNr, CAST(IndexDatum AS DATE) AS IndexDatum{carry_p}
               FROM {p}),
    c AS ({c})
    SELECT LopNr, IndexDatum, SpellNr, SpellStart, SpellEnd, Diagnos,
           CASE WHEN SpellNr IS NULL THEN 'no_spell' WHEN SpellStart <= IndexDatum THEN 'ongoing'
                ELSE 'started_after' END AS IndexType,
           CAST(SpellStart - IndexDatum AS INTEGER) AS StartDays,
           LEAST(IndexDatum, COALESCE(SpellStart, IndexDatum)) AS PriorRef{carry}
    FROM c {_order("LopNr")}""")


#: Columns `derive_all`'s index table carries (see `index_spells`): follow-up's, and the
#: start of the spell after the index spell.
_CARRIED = ("FollowUpEnd", "EndReason", "AtRisk", "NextSpellStart")


def _analysed_sql(index_view: str, follow_view: str, carried: bool = False) -> str:
    """Participants with an index spell that starts before the end of their follow-up;
    `carried`: `index_view` carries the follow-up columns (`derive_all`), no join."""
    if carried:
        return f"""SELECT LopNr, IndexDatum, SpellNr, SpellStart, SpellEnd, FollowUpEnd,
            EndReason, NextSpellStart FROM {index_view}
            WHERE AtRisk AND SpellNr IS NOT NULL AND SpellStart < FollowUpEnd"""
    return f"""SELECT i.LopNr, i.IndexDatum, i.SpellNr, i.SpellStart, i.SpellEnd,
        f.FollowUpEnd, f.EndReason FROM {index_view} AS i JOIN {follow_view} AS f USING (LopNr)
        WHERE f.AtRisk AND i.SpellNr IS NOT NULL AND i.SpellStart < f.FollowUpEnd"""


def returns(index: Source, spells: Source, follow: Source,
            full_return_days: int = FULL_RETURN_DAYS, *,
            con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """Return to work (end of the index spell) and full return, per analysed participant.

    The return day R is SpellEnd + 1, the first day without sick leave. Returned = 1 when R is
    before FollowUpEnd; ReturnDays = R − IndexDatum, or FollowUpEnd − IndexDatum when censored
    (Returned = 0). NextSpellStart is the first later spell starting before FollowUpEnd.

    Full return (of those returned): FullReturn = 0 when the next spell starts before R +
    `full_return_days` (with 90: on day R+89 or earlier), 1 when none does and follow-up lasts
    at least until R + `full_return_days` (a next spell on R+90 is outside the window), and
    NULL – censored, neither full nor not – when follow-up ends before the window is over
    without a new spell. `FullReturnStatus` names the case ('full', 'resick_within',
    'censored', 'not_returned').
    """
    con = _con(con)
    i, s, f = _view(con, index), _view(con, spells), _view(con, follow)
    return con.sql(_returns_sql(f"({_later_sql(i, s, f)})", full_return_days))


def _later_sql(index_view: str, spells_view: str, follow_view: str,
               carried: bool = False) -> str:
    """Analysed participants with R (the return day), `ret` (R before FollowUpEnd), and the
    first start (NextSpellStart) and number (Later) of their later spells starting before
    FollowUpEnd: what `returns` and `resick_listings` both read (`derive_all` joins once).

    `carried` (`derive_all`: the index table carries follow-up and the next spell's start,
    the spells their neighbours'): spells are numbered 1, 2, … by start, so the later spells
    starting before FollowUpEnd are those up to the last one that does, the one spell whose
    next starts on or after FollowUpEnd (or never): one match at most, no aggregate. Later is
    its number less the index spell's, and the first of them starts at the index spell's
    NextSpellStart."""
    if carried:
        return f"""
    WITH a AS ({_analysed_sql(index_view, follow_view, carried)})
    SELECT a.LopNr, a.IndexDatum, a.FollowUpEnd, a.EndReason, a.SpellEnd + 1 AS R,
           a.SpellEnd + 1 < a.FollowUpEnd AS ret,
           CASE WHEN s.SpellNr IS NOT NULL THEN a.NextSpellStart END AS NextSpellStart,
           CAST(COALESCE(s.SpellNr - a.SpellNr, 0) AS BIGINT) AS Later
    FROM a LEFT JOIN {spells_view} AS s ON s.LopNr = a.LopNr AND s.SpellNr > a.SpellNr
         AND s.SpellStart < a.FollowUpEnd
         AND (s.NextSpellStart IS NULL OR s.NextSpellStart >= a.FollowUpEnd)"""
    return f"""
    WITH a AS ({_analysed_sql(index_view, follow_view, carried)}),
    n AS (SELECT a.LopNr, COUNT(*) AS k, MIN(s.SpellStart) AS first_start FROM a
          JOIN {spells_view} AS s ON s.LopNr = a.LopNr AND s.SpellNr > a.SpellNr
               AND s.SpellStart < a.FollowUpEnd GROUP BY a.LopNr)
    SELECT a.LopNr, a.IndexDatum, a.FollowUpEnd, a.EndReason, a.SpellEnd + 1 AS R,
           a.SpellEnd + 1 < a.FollowUpEnd AS ret, n.first_start AS NextSpellStart,
           COALESCE(n.k, 0) AS Later
    FROM a LEFT JOIN n USING (LopNr)"""


def _returns_sql(later: str, full_return_days: int) -> str:
    k = int(full_return_days)
    return f"""
    SELECT LopNr, IndexDatum, FollowUpEnd, EndReason,
           CASE WHEN ret THEN R END AS ReturnDatum, CAST(ret AS INTEGER) AS Returned,
           CAST(CASE WHEN ret THEN R ELSE FollowUpEnd END - IndexDatum AS INTEGER) AS ReturnDays,
           NextSpellStart,
           CASE WHEN NOT ret THEN NULL WHEN NextSpellStart < R + {k} THEN 0
                WHEN R + {k} <= FollowUpEnd THEN 1 END AS FullReturn,
           CASE WHEN NOT ret THEN 'not_returned' WHEN NextSpellStart < R + {k} THEN 'resick_within'
                WHEN R + {k} <= FollowUpEnd THEN 'full' ELSE 'censored' END AS FullReturnStatus
    FROM {later} AS r {_order("LopNr")}"""


def resick_listings(index: Source, spells: Source, follow: Source, *,
                    con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """Re-sick-listings after return, per participant who returned (see `returns`).

    NewSpells: spells starting on or after the return day R and before FollowUpEnd.
    PersonYears: (FollowUpEnd − R) / 365.25, the time at risk after return. ResickDays: days
    from R to the first new spell, or to FollowUpEnd; ResickStatus 1 re-sick-listed, 2 died or
    emigrated first (competing), 0 censored (planned end, 65th birthday or end of data).
    """
    con = _con(con)
    i, s, f = _view(con, index), _view(con, spells), _view(con, follow)
    return con.sql(_resick_sql(f"({_later_sql(i, s, f)})"))


def _resick_sql(later: str) -> str:
    return f"""
    SELECT LopNr, R AS ReturnDatum, FollowUpEnd, EndReason,
           CAST(Later AS INTEGER) AS NewSpells,
           CAST(FollowUpEnd - R AS DOUBLE) / {DAYS_PER_YEAR} AS PersonYears,
           CAST(COALESCE(NextSpellStart, FollowUpEnd) - R AS INTEGER) AS ResickDays,
           CASE WHEN NextSpellStart IS NOT NULL THEN 1
                WHEN EndReason IN ('died', 'emigrated') THEN 2 ELSE 0 END AS ResickStatus
    FROM {later} AS r WHERE ret {_order("LopNr")}"""


def prior_sick_leave(periods: Source, spells: Source, index: Source, *,
                     con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """Sick leave before the index spell, per participant (`index` from `index_spells`;
    `periods`: periods or their `degree_segments`).

    Windows end at PriorRef (the index spell's start, or IndexDatum): NetDays12m over
    [PriorRef − 12 months, PriorRef), NetDays36m over [PriorRef − 36 months, PriorRef);
    Spells12m / Spells36m count earlier spells ending in those windows. PriorCategory from
    NetDays12m: 'none' (0), '1-90' (above 0, at most 90), '>90'.
    """
    con = _con(con)
    p, s, i = _view(con, periods), _view(con, spells), _view(con, index)
    return con.sql(_prior_sql(con, p, s, i))


def _prior_sql(con: duckdb.DuckDBPyConnection, p: str, s: str, i: str,
               numbered: str | None = None, mv: str | None = None) -> str:
    """`prior_sick_leave`'s query: one join and one aggregate per participant over the 36
    months, for the degree-days and the spell counts alike (a spell is a row [SpellEnd,
    SpellEnd + 1) of degree 0 beside the segments).

    `derive_all` passes its `numbered` periods and mapping view `mv`: a spell of one period is
    its period and its segment, so the rows are those periods (with their codes), the
    segments of spells of several periods, those spells, and their periods (codes only, degree
    0); the aggregate also finds `diagnosis_groups`' prior diagnoses (PriorMental_,
    PriorPain_: a period with such a code overlaps the 12 months before PriorRef of a
    participant with an index spell), so the periods are joined to the participants once."""
    ref = "CAST(PriorRef AS DATE)"
    if numbered is None:
        seg_cte, flags, diag, indexed = _seg_cte(con, p), "", "", ""
        x = f"""SELECT seg.LopNr, seg.SegStart AS a, seg.SegEnd AS b,
                 LEAST(seg.Degree, 100) AS deg, 0 AS k FROM seg
          UNION ALL
          SELECT LopNr, SpellEnd AS a, SpellEnd + 1 AS b, 0 AS deg, 1 AS k FROM {s}"""
    else:
        seg_cte = f"seg AS (SELECT * FROM {p})"
        x = _grouped_sql(f"""(
          SELECT LopNr, FromDatum AS a, TomDatum + 1 AS b, LEAST(Omfattning, 100) AS deg,
                 1 AS k, Diagnos FROM {numbered} WHERE Single = 1
          UNION ALL
          SELECT LopNr, SegStart, SegEnd, LEAST(Degree, 100), 0, NULL FROM seg WHERE Single = 0
          UNION ALL
          SELECT LopNr, SpellEnd, SpellEnd + 1, 0, 1, NULL FROM {s} WHERE Periods > 1
          UNION ALL
          SELECT LopNr, FromDatum, TomDatum + 1, 0, 0, Diagnos FROM {numbered}
          WHERE Single = 0)""", mv)
        prior12 = "i.indexed AND x.b > i.ws12"
        flags = f""",
              MAX(CASE WHEN {prior12} AND x.grp = 'mental' THEN 1 ELSE 0 END) AS pm,
              MAX(CASE WHEN {prior12} AND x.grp = 'pain' THEN 1 ELSE 0 END) AS pp"""
        diag = ", hit.pm AS PriorMental_, hit.pp AS PriorPain_"
        indexed = ", SpellNr IS NOT NULL AS indexed"
    return f"""
    WITH {seg_cte},
    i AS (SELECT {_key()} AS LopNr, {ref} AS PriorRef,
                 CAST({ref} - INTERVAL '1' YEAR AS DATE) AS ws12,
                 CAST({ref} - 3 * INTERVAL '1' YEAR AS DATE) AS ws36{indexed} FROM {i}),
    x AS ({x}),
    hit AS (SELECT i.LopNr,
              SUM(CASE WHEN x.b > i.ws12 THEN x.deg *
                  (LEAST(x.b, i.PriorRef) - GREATEST(x.a, i.ws12)) ELSE 0 END) AS dd12,
              SUM(x.deg * (LEAST(x.b, i.PriorRef) - GREATEST(x.a, i.ws36))) AS dd36,
              SUM(CASE WHEN x.k = 1 AND x.b > i.ws12 AND x.b <= i.PriorRef THEN 1 ELSE 0 END)
                AS k12,
              SUM(CASE WHEN x.k = 1 AND x.b <= i.PriorRef THEN 1 ELSE 0 END) AS k36{flags}
            FROM i JOIN x ON x.LopNr = i.LopNr AND x.a < i.PriorRef AND x.b > i.ws36
            GROUP BY i.LopNr),
    piv AS (SELECT i.LopNr, i.PriorRef, COALESCE(hit.dd12, 0) AS dd12,
                   COALESCE(hit.dd36, 0) AS dd36, COALESCE(hit.k12, 0) AS k12,
                   COALESCE(hit.k36, 0) AS k36{diag}
            FROM i LEFT JOIN hit USING (LopNr))
    SELECT LopNr, PriorRef, CAST(dd12 AS DOUBLE) / 100 AS NetDays12m,
           CAST(dd36 AS DOUBLE) / 100 AS NetDays36m, CAST(k12 AS INTEGER) AS Spells12m,
           CAST(k36 AS INTEGER) AS Spells36m,
           CASE WHEN dd12 = 0 THEN 'none' WHEN dd12 <= 9000 THEN '1-90' ELSE '>90' END
             AS PriorCategory{", PriorMental_, PriorPain_" if diag else ""}
    FROM piv {_order("LopNr")}"""


def read_mapping(path: str | os.PathLike) -> pd.DataFrame:
    """The editable diagnosis table (prefix, group, label_sv, label_en), prefixes normalised;
    groups must be one of 'mental', 'pain', 'other'."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    return _check_mapping(table)


def _check_mapping(table: pd.DataFrame) -> pd.DataFrame:
    missing = {"prefix", "group"} - set(table.columns)
    if missing:
        raise ValueError(f"diagnosis mapping lacks column(s) {', '.join(sorted(missing))}")
    bad = sorted(set(table["group"]) - set(MAPPING_GROUPS))
    if bad:
        raise ValueError(f"diagnosis mapping: unknown group(s) {bad}; use {MAPPING_GROUPS}")
    out = table.copy()
    out["prefix"] = out["prefix"].map(normalise_icd10)
    if out["prefix"].duplicated().any():
        raise ValueError("diagnosis mapping: a prefix is listed twice")
    return out[["prefix", "group"]].reset_index(drop=True)


def diagnosis_groups(index: Source, periods: Source, mapping: pd.DataFrame | None = None, *,
                     con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
    """Diagnosis group per participant with an index spell (`index` from `index_spells`).

    Each code maps through `mapping` (longest matching prefix; unmapped → 'other'). IndexGroup
    is the index spell's group; PriorMental / PriorPain: a period overlapping the 12 months
    before PriorRef carries such a diagnosis. Diagnosgrupp is 'both' for a mental index
    diagnosis with prior pain or a pain index diagnosis with prior mental ill-health, else
    IndexGroup ('mental', 'pain', 'other').
    """
    con = _con(con)
    m = _check_mapping(DEFAULT_MAPPING if mapping is None else mapping)
    i, p, mv = _view(con, index), _view(con, periods), _view(con, m)

    def grouped(codes: str) -> str:
        return _grouped_sql(codes, mv)

    if "PriorMental_" in _columns(con, p):
        # `derive_all`'s prior table: the prior diagnoses were found in its join (see
        # `_prior_sql`), so the periods are not joined again.
        return con.sql(f"""
    WITH ix AS (SELECT {_key()} AS LopNr, Diagnos FROM {i} WHERE SpellNr IS NOT NULL),
    ig AS ({grouped('ix')}),
    pg AS (SELECT LopNr, PriorMental_ AS pm, PriorPain_ AS pp FROM {p})
    SELECT ig.LopNr, ig.Diagnos AS IndexDiagnos, ig.grp AS IndexGroup,
           COALESCE(pg.pm, 0) = 1 AS PriorMental, COALESCE(pg.pp, 0) = 1 AS PriorPain,
           CASE WHEN (ig.grp = 'mental' AND pg.pp = 1) OR (ig.grp = 'pain' AND pg.pm = 1)
                THEN 'both' ELSE ig.grp END AS Diagnosgrupp
    FROM ig LEFT JOIN pg USING (LopNr) {_order("ig.LopNr")}""")
    return con.sql(f"""
    WITH ix AS (SELECT {_key()} AS LopNr, CAST(PriorRef AS DATE) AS PriorRef,
                       Diagnos FROM {i} WHERE SpellNr IS NOT NULL),
    ig AS ({grouped('ix')}),
    p AS ({_typed_periods_sql(con, p)}),
    pp AS (SELECT p.LopNr, p.Diagnos FROM p JOIN ix ON p.LopNr = ix.LopNr
           AND p.FromDatum < ix.PriorRef
           AND p.TomDatum >= CAST(ix.PriorRef - INTERVAL '1' YEAR AS DATE)),
    pg AS (SELECT LopNr, MAX(CASE WHEN grp = 'mental' THEN 1 ELSE 0 END) AS pm,
                  MAX(CASE WHEN grp = 'pain' THEN 1 ELSE 0 END) AS pp
           FROM ({grouped('pp')}) GROUP BY LopNr)
    SELECT ig.LopNr, ig.Diagnos AS IndexDiagnos, ig.grp AS IndexGroup,
           COALESCE(pg.pm, 0) = 1 AS PriorMental, COALESCE(pg.pp, 0) = 1 AS PriorPain,
           CASE WHEN (ig.grp = 'mental' AND pg.pp = 1) OR (ig.grp = 'pain' AND pg.pm = 1)
                THEN 'both' ELSE ig.grp END AS Diagnosgrupp
    FROM ig LEFT JOIN pg USING (LopNr) {_order("ig.LopNr")}""")


def _grouped_sql(codes: str, mv: str) -> str:
    """`codes` (a relation with Diagnos) with `grp`, its code's group in mapping view `mv`
    (longest prefix; unmapped or missing → 'other'), looked up once per distinct code."""
    return f"""SELECT c.*, COALESCE(g."group", 'other') AS grp FROM {codes} AS c
        LEFT JOIN (SELECT code, "group" FROM (
            SELECT x.code, mv."group", ROW_NUMBER() OVER (PARTITION BY x.code
                   ORDER BY LENGTH(mv.prefix) DESC) AS rn
            FROM (SELECT DISTINCT Diagnos AS code FROM {codes}) AS x
            JOIN {mv} AS mv ON x.code LIKE mv.prefix || '%') WHERE rn = 1) AS g
        ON g.code = c.Diagnos"""


#: Flow statuses in the order they are checked; each participant gets the first that applies.
FLOW_STATUSES = ("no_follow_up", "no_index_spell", "index_spell_after_follow_up", "analysed")


def flow(index: Source, follow: Source, spells: Source | None = None, *,
         con: duckdb.DuckDBPyConnection | None = None) -> dict:
    """Counts by reason that add up: every participant gets exactly one status, the first of
    'no_follow_up' (not at risk at index: died, turned 65 or data ended on or before it),
    'no_index_spell', 'index_spell_after_follow_up', 'analysed'. With `spells`, also the
    spells and the overlap and capped person-days among them (days)."""
    con = _con(con)
    i, f = _view(con, index), _view(con, follow)
    rows = con.sql(f"""
    SELECT status, reason, COUNT(*) AS n FROM (
      SELECT CASE WHEN NOT f.AtRisk THEN 'no_follow_up'
                  WHEN i.SpellNr IS NULL THEN 'no_index_spell'
                  WHEN i.SpellStart >= f.FollowUpEnd THEN 'index_spell_after_follow_up'
                  ELSE 'analysed' END AS status,
             CASE WHEN NOT f.AtRisk THEN f.EndReason END AS reason
      FROM {i} AS i LEFT JOIN {f} AS f USING (LopNr)) AS x
    GROUP BY status, reason ORDER BY status, reason""").fetchall()
    n_index = con.sql(f"SELECT COUNT(*) FROM {i}").fetchall()[0][0]
    by_status = {s: 0 for s in FLOW_STATUSES}
    reasons: dict[str, int] = {}
    for status, reason, n in rows:
        by_status[status] += int(n)
        if reason is not None:
            reasons[reason] = reasons.get(reason, 0) + int(n)
    out: dict = {"participants": int(n_index), "by_status": by_status,
                 "no_follow_up_by_reason": reasons}
    if sum(by_status.values()) != n_index:
        raise ValueError("flow does not add up: participants missing from follow-up")
    if spells is not None:
        s = _view(con, spells)
        k, periods, overlap, capped = con.sql(
            f"SELECT COUNT(*), SUM(Periods), SUM(OverlapDays), SUM(CappedDays) FROM {s}"
        ).fetchall()[0]
        out.update(spells=int(k), periods=int(periods or 0), overlap_days=int(overlap or 0),
                   capped_days=int(capped or 0))
    return out


@dataclass
class Derived:
    """Every derivation, materialised as tables of one connection."""

    con: duckdb.DuckDBPyConnection
    spells: duckdb.DuckDBPyRelation
    follow: duckdb.DuckDBPyRelation
    index: duckdb.DuckDBPyRelation
    prior: duckdb.DuckDBPyRelation
    groups: duckdb.DuckDBPyRelation
    returns: duckdb.DuckDBPyRelation
    resick: duckdb.DuckDBPyRelation
    months: duckdb.DuckDBPyRelation
    flow: dict


def derive_all(periods: Source, participants: Source, population: Source, birth: Source, *,
               extraction_date: str, months: int = 12, after_days: int = 14,
               gap_days: int = GAP_DAYS, full_return_days: int = FULL_RETURN_DAYS,
               mapping: pd.DataFrame | None = None, sparse_months: bool = False,
               con: duckdb.DuckDBPyConnection | None = None,
               timings: Mapping | None = None) -> Derived:
    """All derivations in order, each materialised once as a table (so later steps read it
    instead of re-deriving it, unsorted); the outputs read them sorted by person. `timings`,
    a dict, receives seconds per step. `sparse_months`: `months` is the sparse output of
    `degree_by_month` (person-months with sick leave; `dense_months` restores the rest), for
    large populations where persons × months rows cost most of the time."""
    con = _con(con)
    key = "BIGINT" if _integer_keys(con, (periods, participants, population, birth)) \
        else "VARCHAR"
    token, key_token = _SORTED.set(False), _KEY.set(key)
    try:
        derived = _derive_all(con, periods, participants, population, birth, extraction_date,
                              months, after_days, gap_days, full_return_days, mapping, timings,
                              sparse_months)
    finally:
        _KEY.reset(key_token)
        _SORTED.reset(token)
    return derived


#: Key types whose every value is a BIGINT with that value's text as the delivered key.
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                  "UINTEGER")


def _integer_keys(con: duckdb.DuckDBPyConnection, sources: tuple[Source, ...]) -> bool:
    """Whether every person key of `sources` is an integer, or the canonical text of one
    (``CAST(CAST(k AS BIGINT) AS VARCHAR) = k``: no sign, leading zero, blank or other
    spelling), so the queries may use BIGINT keys and turn them back into the same text.
    Text keys cost one scan of each source."""
    for source in sources:
        raw = _raw_view(con, source)
        kind = str(con.sql(f"SELECT {PERSON_KEY} FROM {raw} LIMIT 0").types[0])
        if kind in _INTEGER_TYPES:
            continue
        if kind != "VARCHAR":
            return False
        k = PERSON_KEY
        bad = con.sql(f"""SELECT COUNT(*) FROM {raw} WHERE {k} IS NOT NULL AND NOT COALESCE(
            CAST(TRY_CAST({k} AS BIGINT) AS VARCHAR) = {k}, FALSE)""").fetchall()[0][0]
        if bad:
            return False
    return True


#: The sort order of each output of `derive_all`.
_KEYS = {"spells": "LopNr, SpellNr", "months": "LopNr, Month"}


#: Columns of `derive_all`'s tables that only later steps read, not outputs.
_INTERNAL = {"spells": ("PrevSpellEnd", "NextSpellStart"), "index": _CARRIED,
             "prior": ("PriorMental_", "PriorPain_")}


def _text_key(con: duckdb.DuckDBPyConnection, view: str, name: str) -> str:
    """A SELECT of `view`'s columns in order (output `name`'s, without the internal ones),
    with the person key back as text."""
    cols = [f"CAST({c} AS VARCHAR) AS {c}" if c == PERSON_KEY else f'"{c}"'
            for c in _columns(con, view) if c not in _INTERNAL.get(name, ())]
    return f"SELECT {', '.join(cols)} FROM {view}"


def _derive_all(con: duckdb.DuckDBPyConnection, periods: Source, participants: Source,
                population: Source, birth: Source, extraction_date: str, months: int,
                after_days: int, gap_days: int, full_return_days: int,
                mapping: pd.DataFrame | None, timings: Mapping | None,
                sparse_months: bool = False) -> Derived:
    import time

    periods_v = _view(con, periods)
    out: dict = {}
    tables: dict[str, str] = {}
    clock = time.perf_counter()

    def keep(name: str, rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
        nonlocal clock
        tables[name] = table = f"{name}_{next(_names)}"
        rel.to_table(table)
        if timings is not None:
            now = time.perf_counter()
            timings[name] = now - clock  # type: ignore[index]
            clock = now
        return con.table(table)

    def drop(name: str) -> None:
        """Free an intermediate table after its last reader (less to spill)."""
        con.execute(f"DROP TABLE {tables[name]}")

    # The periods are numbered into spells once; only the spells of several periods are swept
    # into degree segments and aggregated into spells as tables. A spell of one period (almost
    # all at national scale) is its period and its only segment, so the spells and segments
    # are views that read those from the numbered periods instead of copying 20 M rows twice
    # (less written, held and spilled). Spells, prior sick leave, months since index and
    # diagnosis groups read these, and the participants (a delivery that may be a CSV file)
    # are read once.
    numbered = keep("numbered", con.sql(_numbered_sql(periods_v, gap_days)))
    nv = _view(con, numbered)
    several = keep("segments", con.sql(
        f"WITH multi AS (SELECT * FROM {nv} WHERE Single = 0), "
        f"{_segments_sql('multi', 'SpellNr, Single')} SELECT LopNr, SpellNr, Single, SegStart, "
        "SegEnd, CAST(Degree AS INTEGER) AS Degree, CAST(Active AS INTEGER) AS Active, "
        "CAST(NULL AS DATE) AS PrevEnd, CAST(NULL AS DATE) AS NextStart FROM seg"))
    sv = _view(con, several)
    segments = con.sql(f"SELECT * FROM {sv} UNION ALL SELECT LopNr, SpellNr, Single, SegStart, "
                       f"SegEnd, CAST(Degree AS INTEGER) AS Degree, CAST(Active AS INTEGER) AS "
                       f"Active, PrevEnd, NextStart FROM ({_lone_segments_sql(nv)})")
    spells_several = keep("spells", con.sql(
        f"WITH s AS (SELECT * FROM {nv}), seg AS (SELECT * FROM {sv}) "
        f"{_spells_sql('s', 'seg', True, ('several',))}"))
    out["spells"] = con.sql(f"WITH s AS (SELECT * FROM {nv}), seg AS (SELECT * FROM {sv}) "
                            + _spells_sql("s", "seg", True, (_view(con, spells_several), "one")))
    pv = _view(con, participants)
    part = keep("participants", con.sql(f"SELECT LopNr, CAST(IndexDatum AS DATE) AS IndexDatum "
                                        f"FROM {pv}"))
    out["follow"] = keep("follow", follow_up(part, population, birth, extraction_date, months,
                                             con=con))
    drop("participants")
    out["index"] = keep("index", index_spells(out["spells"], out["follow"], after_days,
                                              con=con))
    mv = _view(con, _check_mapping(DEFAULT_MAPPING if mapping is None else mapping))
    out["prior"] = keep("prior", con.sql(_prior_sql(con, sv, _view(con, out["spells"]),
                                                    _view(con, out["index"]), nv, mv)))
    out["groups"] = keep("groups", diagnosis_groups(out["index"], out["prior"], mapping,
                                                    con=con))
    iv, fv = _view(con, out["index"]), _view(con, out["follow"])
    at_risk = con.sql(f"SELECT LopNr, IndexDatum, FollowUpEnd FROM {iv} WHERE AtRisk")
    out["months"] = keep("months", degree_by_month(segments, at_risk, months,
                                                     sparse=sparse_months, con=con))
    later = keep("later", con.sql(_later_sql(iv, _view(con, out["spells"]), fv, True)))
    lv = _view(con, later)
    out["returns"] = keep("returns", con.sql(_returns_sql(lv, full_return_days)))
    out["resick"] = keep("resick", con.sql(_resick_sql(lv)))
    drop("later")
    result = flow(out["index"], out["follow"], out["spells"], con=con)
    if timings is not None:
        timings["flow"] = time.perf_counter() - clock  # type: ignore[index]
    sorted_ = {name: con.sql(f"SELECT * FROM ({_text_key(con, _raw_view(con, rel), name)}) "
                             f"AS o "
                             f"ORDER BY {_KEYS.get(name, 'LopNr')}")
               for name, rel in out.items()}
    return Derived(con=con, flow=result, **sorted_)
