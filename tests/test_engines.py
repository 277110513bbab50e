"""The spell derivations on Spark equal DuckDB's: every output of `derive_all` and of each
public derivation of `spells`, row for row, on 300 random persons built to hit every rule's
boundaries (`test_spells.random_study`, some codes spelt with white space), run on a local
PySpark session through `engines.SparkConnection`. Integers, dates, text and booleans must be
equal; floats within a relative 1e-12. Each translation trap is also shown on both engines:
DuckDB's answer, the adapter's Spark answer (equal), and the naive Spark answer (the statement
as sqlglot alone transpiles it, or verbatim), which must differ or fail, so each fix in
`engines` is needed.

The Spark tests are slow (a JVM, about a hundred small Spark jobs) and skip, with the reason,
where pyspark (`requirements-spark.lock`, installed by `make test`) or Java 17+ is missing.
"""

from __future__ import annotations

import shutil
import subprocess

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from test_spells import people, periods_frame, random_study

from rehabkoord import engines
from rehabkoord import spells as sp


def _java_major() -> int | None:
    if shutil.which("java") is None:
        return None
    out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    version = out.split('"')[1] if '"' in out else "0"
    return int(version.split(".")[0] if not version.startswith("1.") else version.split(".")[1])


def _skip_reason() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (requirements-spark.lock; `make test` installs it)"
    major = _java_major()
    if major is None:
        return "no Java on PATH: Spark needs Java 17+ (.ci/run installs default-jre-headless)"
    if major < 17:
        return f"Java {major} found: Spark 4 needs Java 17+"
    return None


SKIP = _skip_reason()


def spark_test(test):
    """Slow, and skipped with the reason where pyspark or Java is missing."""
    return pytest.mark.slow(pytest.mark.skipif(SKIP is not None, reason=SKIP or "")(test))


@pytest.fixture(scope="module")
def spark():
    session = engines.local_spark(partitions=2, cores=2)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def con(spark):
    return engines.SparkConnection(spark)


def assert_same(duck: pd.DataFrame, spark: pd.DataFrame, what: str) -> None:
    """Equal columns and dtypes; after sorting by every column, equal values (floats within a
    relative 1e-12, NULLs in the same places)."""
    assert list(spark.columns) == list(duck.columns), what
    assert spark.dtypes.astype(str).tolist() == duck.dtypes.astype(str).tolist(), what
    assert len(spark) == len(duck), what
    cols = list(duck.columns)
    a = duck.sort_values(cols, na_position="last", kind="stable").reset_index(drop=True)
    b = spark.sort_values(cols, na_position="last", kind="stable").reset_index(drop=True)
    for c in cols:
        x, y = a[c], b[c]
        assert x.isna().tolist() == y.isna().tolist(), f"{what}.{c}: NULLs differ"
        if pd.api.types.is_float_dtype(x):
            np.testing.assert_allclose(y.to_numpy(float), x.to_numpy(float), rtol=1e-12, atol=0,
                                       equal_nan=True, err_msg=f"{what}.{c}")
        else:
            keep = x.notna()
            assert x[keep].tolist() == y[keep].tolist(), f"{what}.{c}"


# --- the traps, each on both engines --------------------------------------------------------

DATES = pd.DataFrame({"a": pd.to_datetime(["2014-01-31", "2014-02-28", "2012-02-29"]),
                      "b": pd.to_datetime(["2014-02-01", "2014-03-01", "2013-02-28"]),
                      "x": [2.5, -2.5, 2.7]})

#: (name, DuckDB query over table `t` = DATES, how the naive Spark query is made)
TRAPS = [
    ("date minus date is days, through a CTE",
     "WITH c AS (SELECT CAST(a AS DATE) AS a, CAST(b AS DATE) AS b FROM t) "
     "SELECT b - a - 1 AS gap, CAST(b - a AS INTEGER) AS days FROM c", "transpile"),
    ("date_diff('month') counts month boundaries",
     "SELECT date_diff('month', CAST(a AS DATE), CAST(b AS DATE)) AS m FROM t", "transpile"),
    ("POSIX class in a regular expression",
     "SELECT upper(regexp_replace(' f 43.8 a', '[[:space:].]', '', 'g')) AS code", "transpile"),
    ("NULLs sort last in ascending window order",
     "SELECT x FROM (SELECT x, ROW_NUMBER() OVER (ORDER BY x) AS rn FROM (SELECT CAST(NULL AS "
     "INTEGER) AS x UNION ALL SELECT 2 UNION ALL SELECT 1) AS v) AS w WHERE rn = 1", "verbatim"),
    ("FROM range(k) has one column named range",
     "SELECT range * 2 AS r FROM range(4)", "transpile"),
    ("a cast around UNNEST(range(a, b))",
     "SELECT CAST(UNNEST(range(1, 4)) AS INTEGER) AS m", "transpile"),
    ("CAST to INTEGER rounds a DOUBLE half to even",
     "SELECT CAST(x AS INTEGER) AS i, CAST(x * 3 AS BIGINT) AS j FROM t", "transpile"),
    ("CAST to INTEGER rounds a DECIMAL half away from zero",
     "SELECT CAST(2.5 AS INTEGER) AS i, CAST(-3.5 AS INTEGER) AS j", "transpile"),
]

#: The same meaning on both engines already: checked, no fix needed.
SAME = [
    ("date plus integer and calendar months",
     "SELECT CAST(a AS DATE) + 1 AS next_day, CAST(CAST(a AS DATE) + 1 * INTERVAL '1' MONTH "
     "AS DATE) AS next_month, CAST(CAST(a AS DATE) - 1 * INTERVAL '1' YEAR AS DATE) AS last_year "
     "FROM t"),
    ("LEAST and GREATEST skip NULL",
     "SELECT LEAST(CAST(a AS DATE), CAST(NULL AS DATE)) AS l, GREATEST(CAST(NULL AS INTEGER), 3) "
     "AS g FROM t"),
    ("division of integers is exact", "SELECT 7 / 2 AS q, CAST(334 AS DOUBLE) / 365.25 AS py"),
    ("keys as text", "SELECT CAST(12 AS VARCHAR) AS k, CAST(CAST(1 AS DOUBLE) AS VARCHAR) AS f"),
]


def _duck(query: str) -> pd.DataFrame:
    db = duckdb.connect()
    db.register("t", DATES)
    return db.sql(query).df()


@spark_test
@pytest.mark.parametrize(("name", "query", "naive"), TRAPS, ids=[t[0] for t in TRAPS])
def test_each_trap_is_real_and_fixed(con, spark, name, query, naive):
    con.register("t", DATES)
    want = _duck(query)
    assert_same(want, con.sql(query).df(), name)
    text = query if naive == "verbatim" else sqlglot.transpile(query, read="duckdb",
                                                                 write="spark")[0]
    try:
        got = engines.SparkRelation(con, spark.sql(text)).df()
    except Exception:  # noqa: BLE001 - failing is one way to be wrong
        return
    with pytest.raises(AssertionError):
        assert_same(want, got, name)


@spark_test
@pytest.mark.parametrize(("name", "query"), SAME, ids=[s[0] for s in SAME])
def test_same_meaning_on_both_engines(con, name, query):
    con.register("t", DATES)
    assert_same(_duck(query), con.sql(query).df(), name)


def test_what_cannot_be_translated_is_refused():
    with pytest.raises(NotImplementedError, match="first match"):
        engines.to_spark_sql("SELECT regexp_replace(x, 'a', 'b') FROM t", {"t": {"x": "VARCHAR"}})
    with pytest.raises(NotImplementedError, match="not a literal"):
        engines.to_spark_sql("SELECT regexp_replace(x, x, 'b', 'g') FROM t",
                             {"t": {"x": "VARCHAR"}})
    with pytest.raises(NotImplementedError, match="date_diff"):
        engines.to_spark_sql("SELECT date_diff('week', a, a) FROM t", {"t": {"a": "DATE"}})


# --- every derivation on both engines -----------------------------------------------------------

EXTRACTION, MONTHS, AFTER = "2015-09-01", 14, 14


@pytest.fixture(scope="module")
def study():
    rows, part, pop, birth = random_study(300, seed=7)
    periods = periods_frame(rows)
    # codes as delivered with white space too (" F32 .1"), so the ICD-10 rule's regular
    # expression is exercised on both engines
    periods.loc[::7, "Diagnos"] = " " + periods.Diagnos[::7].str.replace(".", " .") + "\t"
    return {"periods": periods, "participants": people(part),
            "population": pd.DataFrame(pop, columns=["LopNr", "DodDatum", "UtvandringDatum"]),
            "birth": pd.DataFrame(birth, columns=["LopNr", "FodelseAr"])}


def _derive(study, con):
    return sp.derive_all(study["periods"], study["participants"], study["population"],
                         study["birth"], extraction_date=EXTRACTION, months=MONTHS,
                         after_days=AFTER, con=con)


OUTPUTS = ("spells", "follow", "index", "prior", "groups", "returns", "resick", "months")


@spark_test
def test_derive_all_on_spark_equals_duckdb(study, con):
    duck = _derive(study, sp.connect())
    spark = _derive(study, con)
    for name in OUTPUTS:
        assert_same(getattr(duck, name).df(), getattr(spark, name).df(), name)
    assert spark.flow == duck.flow
    # the data reach the rules' boundaries (as in test_spells), so equality means something
    assert duck.flow["overlap_days"] > 0 and duck.flow["capped_days"] > 0
    assert set(duck.returns.df().FullReturnStatus) == {"full", "resick_within", "censored",
                                                       "not_returned"}


@spark_test
def test_each_public_derivation_on_spark_equals_duckdb(study, con, tmp_path):
    """Each derivation called alone, from pandas frames and a Parquet file, as a notebook
    would; dense and sparse months, birth dates as well as birth years."""
    duck_con = sp.connect()
    ref = _derive(study, duck_con)
    spells_, index_ = ref.spells.df(), ref.index.df()
    follow_ = ref.follow.df()
    at_risk = index_.merge(follow_[["LopNr", "FollowUpEnd", "AtRisk"]], on="LopNr").query("AtRisk")
    periods = study["periods"]
    path = tmp_path / "periods.parquet"
    periods.to_parquet(path)
    windows = index_[["LopNr"]].assign(WinStart=index_.IndexDatum,
                                       WinEnd=index_.IndexDatum + pd.Timedelta(days=200))
    births = study["birth"].assign(FodelseDatum=pd.to_datetime(
        study["birth"].FodelseAr.astype(str) + "-02-28")).drop(columns="FodelseAr")
    p, s = study["participants"], study["population"]
    calls = {
        "degree_segments": lambda c: sp.degree_segments(periods, con=c),
        "join_periods": lambda c: sp.join_periods(path, con=c),
        "join_periods_gap1": lambda c: sp.join_periods(periods, gap_days=1, con=c),
        "net_days": lambda c: sp.net_days(periods, windows, con=c),
        "degree_by_month": lambda c: sp.degree_by_month(periods, at_risk, MONTHS, con=c),
        "degree_by_month_sparse": lambda c: sp.degree_by_month(periods, at_risk, MONTHS,
                                                               sparse=True, con=c),
        "dense_months": lambda c: sp.dense_months(
            sp.degree_by_month(periods, at_risk, MONTHS, sparse=True, con=duck_con).df(),
            at_risk, MONTHS, con=c),
        "follow_up_birth_dates": lambda c: sp.follow_up(p, s, births, EXTRACTION, MONTHS, con=c),
        "index_spells": lambda c: sp.index_spells(spells_, p, AFTER, con=c),
        "returns": lambda c: sp.returns(index_, spells_, follow_, 60, con=c),
        "resick_listings": lambda c: sp.resick_listings(index_, spells_, follow_, con=c),
        "prior_sick_leave": lambda c: sp.prior_sick_leave(periods, spells_, index_, con=c),
        "diagnosis_groups": lambda c: sp.diagnosis_groups(index_, periods, con=c),
    }
    for name, call in calls.items():
        assert_same(call(duck_con).df(), call(con).df(), name)
    assert sp.flow(index_, follow_, spells_, con=con) == sp.flow(index_, follow_, spells_,
                                                                 con=duck_con)
