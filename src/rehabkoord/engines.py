"""The spell derivations on Apache Spark, for populations that outgrow one machine.

`spells` writes every derivation once, as SQL in DuckDB's dialect run through a DuckDB
connection. `SparkConnection` offers the part of that connection's API `spells` uses (``sql``,
``execute``, ``register``, ``table``; relations with ``columns``, ``df``, ``fetchall``,
``create_view``, ``to_table``) on a `pyspark.sql.SparkSession`, and translates each statement
to Spark SQL (`to_spark_sql`), so ``spells.derive_all(..., con=SparkConnection(spark))`` runs
the same expressions on a cluster. sqlglot moves the syntax between the dialects; where the
two engines give the same syntax different meanings, the translation fixes it here, with the
column types Spark reports for the tables a statement reads:

- ``date - date`` is a number of days (BIGINT) in DuckDB, an interval in Spark:
  ``CAST(DATEDIFF(a, b) AS BIGINT)``;
- ``date_diff('month', a, b)`` counts month boundaries in DuckDB, whole months in Spark's
  ``DATEDIFF(MONTH, …)``: written as the boundary count, a BIGINT (``'day'`` and ``'year'``
  likewise; other parts are refused);
- ``range(a, b)`` excludes b and is empty when b ≤ a; Spark's ``SEQUENCE(a, b - 1)`` counts
  down then: guarded, and ``FROM range(k)`` keeps its column name ``range``;
- POSIX classes in a regular expression (``[[:space:]]``, RE2) are literal characters in
  Java's regular expressions: written as ``\\p{Space}``; DuckDB's ``regexp_replace`` replaces
  only the first match without the ``'g'`` option (Spark replaces all), so only ``'g'`` is
  accepted;
- a cast around a generator (``CAST(UNNEST(…) AS INTEGER)``) is refused by Spark: the cast
  moves onto the array;
- ``arg_min_null(x, y)`` (x at the least y, a NULL x included; DuckDB's ``arg_min`` skips
  rows whose x is NULL) is Spark's ``MIN_BY``, which keeps a NULL x;
- ``CAST(x AS INTEGER)`` rounds a DOUBLE half to even and a DECIMAL half away from zero in
  DuckDB, and truncates in Spark: ``BROUND(x)`` / ``ROUND(x)`` first.

NULL ordering (DuckDB sorts NULL last in ascending order, Spark first), quoting and type names
are sqlglot's own translation. Naive timestamps from pandas enter Spark as ``TIMESTAMP_NTZ``, so
casting them to dates does not depend on the session's time zone. A statement that still
yields an interval column is refused rather than returned (an untranslated date difference).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

__all__ = ["SparkConnection", "SparkRelation", "local_spark", "to_spark_sql"]

READ = "duckdb"
WRITE = "spark"

#: POSIX bracket classes (RE2, DuckDB) and Java's equivalents (both ASCII-only).
_POSIX = {"alnum": "Alnum", "alpha": "Alpha", "blank": "Blank", "cntrl": "Cntrl",
          "digit": "Digit", "graph": "Graph", "lower": "Lower", "print": "Print",
          "punct": "Punct", "space": "Space", "upper": "Upper", "xdigit": "XDigit"}

_tags = itertools.count()


def _java_regex(pattern: str) -> str:
    """An RE2 pattern with its POSIX classes as Java's ``\\p{…}`` (inside brackets)."""
    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name not in _POSIX:
            raise NotImplementedError(f"POSIX class [:{name}:] has no Java equivalent here")
        return "\\p{" + _POSIX[name] + "}"
    return re.sub(r"\[:(\w+):\]", repl, pattern)


def _regexes(tree: exp.Expression) -> None:
    for node in list(tree.find_all(exp.RegexpReplace, exp.RegexpLike, exp.RegexpExtract,
                                   exp.RegexpILike, exp.RegexpSplit)):
        pattern = node.args.get("expression")
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise NotImplementedError(f"a regular expression that is not a literal: {node.sql(READ)}")
        pattern.replace(exp.Literal.string(_java_regex(pattern.this)))
        if isinstance(node, exp.RegexpReplace):
            flags = node.args.get("modifiers")
            if flags is None or flags.name != "g":
                raise NotImplementedError(
                    "regexp_replace without the 'g' option (or with other options) replaces only "
                    f"the first match in DuckDB, every match in Spark: {node.sql(READ)}")
            node.set("modifiers", None)


def _boundary_date_diffs(tree: exp.Expression) -> None:
    """DuckDB's ``date_diff(part, a, b)``: the number of `part` boundaries from a to b."""
    for node in list(tree.find_all(exp.DateDiff)):
        end, start = node.this, node.expression
        unit = (node.text("unit") or "DAY").upper()
        if not node.args.get("date_part_boundary") and unit != "DAY":
            raise NotImplementedError(f"date_diff/date_sub by {unit!r}: {node.sql(READ)}")

        def f(name: str, arg: exp.Expression) -> exp.Expression:
            return exp.Anonymous(this=name, expressions=[arg.copy()])

        if unit == "DAY":
            new: exp.Expression = exp.Anonymous(this="DATEDIFF", expressions=[end.copy(), start.copy()])
        elif unit == "YEAR":
            new = exp.Sub(this=f("YEAR", end), expression=f("YEAR", start))
        elif unit == "MONTH":
            years = exp.Sub(this=f("YEAR", end), expression=f("YEAR", start))
            new = exp.Add(this=exp.Mul(this=exp.Paren(this=years), expression=exp.Literal.number(12)),
                          expression=exp.Paren(this=exp.Sub(this=f("MONTH", end),
                                                            expression=f("MONTH", start))))
        else:
            raise NotImplementedError(f"date_diff by {unit!r}")
        node.replace(exp.cast(new, "BIGINT"))


def _sequence(start: exp.Expression, end: exp.Expression, element: exp.DataType) -> exp.Expression:
    """DuckDB's ``range(start, end)`` (end excluded; empty when end ≤ start) as a Spark array."""
    lo = exp.cast(start.copy(), element)
    hi = exp.cast(exp.Sub(this=exp.Paren(this=end.copy()), expression=exp.Literal.number(1)), element)
    array_type = exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[element], nested=True)
    empty = exp.cast(exp.Array(expressions=[]), array_type)
    return exp.If(this=exp.GT(this=lo.copy(), expression=hi.copy()), true=empty,
                  false=exp.Anonymous(this="SEQUENCE", expressions=[lo, hi]))


def _ranges(tree: exp.Expression) -> None:
    bigint = exp.DataType.build("BIGINT")
    for series in list(tree.find_all(exp.GenerateSeries)):
        if not series.args.get("is_end_exclusive"):
            raise NotImplementedError(f"generate_series: {series.sql(READ)}")
        start = series.args.get("start") or exp.Literal.number(0)
        parent = series.parent
        if isinstance(parent, exp.Table):  # FROM range(k): one BIGINT column named range
            alias = parent.args.get("alias")
            columns = alias.columns if alias is not None else []
            column = columns[0].name if columns else "range"
            gen = exp.Explode(this=_sequence(start, series.args["end"], bigint))
            sub = exp.select(exp.alias_(gen, column)).subquery(alias.name if alias and alias.name
                                                               else None)
            parent.replace(sub)
        elif isinstance(parent, exp.Explode):  # UNNEST(range(a, b)) in a select list
            cast = parent.parent
            element = cast.args["to"] if isinstance(cast, exp.Cast) else bigint
            parent.set("this", _sequence(start, series.args["end"], element))
            if isinstance(cast, exp.Cast):
                cast.replace(parent)
        else:
            raise NotImplementedError(f"range() used as {type(parent).__name__}")


_T = exp.DataType.Type
_INTEGERS = {_T.TINYINT, _T.SMALLINT, _T.INT, _T.BIGINT}


def _is_date(node: exp.Expression) -> bool:
    return node.type is not None and node.type.this in (_T.DATE, _T.DATE32)


def _annotated(tree: exp.Expression, schema: MappingSchema) -> dict[int, exp.Expression]:
    """Each tagged node's copy in `tree`, qualified and typed (through CTEs and subqueries)
    from `schema`; the tree itself keeps its names and shape."""
    typed = tree.copy()
    qualify(typed, schema=schema, dialect=READ, quote_identifiers=False,
            validate_qualify_columns=False)
    annotate_types(typed, schema=schema, dialect=READ)
    return {n.meta["rk"]: n for n in typed.find_all(exp.Sub, exp.Cast) if "rk" in n.meta}


def _typed_rewrites(tree: exp.Expression, schema: MappingSchema) -> None:
    """The rewrites that need column types.

    ``date - date`` → ``DATEDIFF(date, date)``, innermost first: sqlglot types the difference
    as a date, so each round rewrites the innermost ones and infers the types again.
    ``CAST(x AS <integer>)`` rounds in DuckDB (half to even from DOUBLE, half away from zero
    from DECIMAL) and truncates in Spark: x becomes ``BROUND(x)`` / ``ROUND(x)``.
    """
    while True:
        nodes = list(tree.find_all(exp.Sub, exp.Cast))
        for node in nodes:
            node.meta["rk"] = next(_tags)
        typed = _annotated(tree, schema)
        dated = {k for k, n in typed.items()
                 if isinstance(n, exp.Sub) and _is_date(n.left) and _is_date(n.right)}
        innermost = {k for k in dated
                     if not any(d is not typed[k] and d.meta.get("rk") in dated
                                for d in typed[k].find_all(exp.Sub))}
        if not innermost:
            break
        for node in nodes:
            if node.meta.get("rk") in innermost:
                node.replace(exp.cast(exp.Anonymous(
                    this="DATEDIFF", expressions=[node.left.copy(), node.right.copy()]), "BIGINT"))
    for node in nodes:
        copy = typed.get(node.meta.get("rk"))
        if not isinstance(node, exp.Cast) or copy is None or node.to.this not in _INTEGERS:
            continue
        source = copy.this.type
        if isinstance(copy.this, exp.Literal) and not copy.this.is_string:  # 2.5 is a DECIMAL
            source = exp.DataType.build("DOUBLE" if "e" in copy.this.name.lower() else
                                        "DECIMAL" if "." in copy.this.name else "INT")
        if source is not None and source.this in (_T.DOUBLE, _T.FLOAT):
            node.set("this", exp.Anonymous(this="BROUND", expressions=[node.this.copy()]))
        elif source is not None and source.this == _T.DECIMAL:
            node.set("this", exp.Anonymous(this="ROUND", expressions=[node.this.copy()]))


def _spark_type(dtype: str) -> str:
    return exp.DataType.build(dtype, dialect=WRITE).sql(READ)


def _tables(tree: exp.Expression) -> set[str]:
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table)
            if isinstance(t.this, exp.Identifier) and t.name not in ctes}


def _arg_min_null(tree: exp.Expression) -> None:
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.lower() == "arg_min_null":
            node.replace(exp.Anonymous(this="MIN_BY", expressions=[e.copy()
                                                                  for e in node.expressions]))


def to_spark_sql(sql: str, schema: dict[str, dict[str, str]]) -> str:
    """One DuckDB SELECT (or WITH …) as Spark SQL. `schema`: table → column → type (DuckDB
    type names) of every table the statement reads."""
    tree = sqlglot.parse_one(sql, read=READ)
    _arg_min_null(tree)
    _regexes(tree)
    _boundary_date_diffs(tree)
    _ranges(tree)
    _typed_rewrites(tree, MappingSchema(schema, dialect=READ))
    return tree.sql(WRITE)


def local_spark(partitions: int = 2, cores: int = 2):
    """A local SparkSession (``local[cores]``, `partitions` shuffle partitions, no UI, UTC)."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(f"local[{int(cores)}]").appName("rehabkoord")
             .config("spark.sql.shuffle.partitions", str(int(partitions)))
             .config("spark.default.parallelism", str(int(partitions)))
             .config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


#: Spark type names -> DuckDB's, for the types `spells` reads.
_DUCK_TYPES = {"byte": "TINYINT", "short": "SMALLINT", "integer": "INTEGER", "long": "BIGINT",
               "string": "VARCHAR", "double": "DOUBLE", "float": "FLOAT", "date": "DATE",
               "boolean": "BOOLEAN", "timestamp_ntz": "TIMESTAMP"}


class SparkRelation:
    """A Spark DataFrame with the relation methods `spells` uses."""

    def __init__(self, con: SparkConnection, frame):
        self._con, self.frame = con, frame

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def types(self) -> list[str]:
        """Column types in DuckDB's names (`spells` chooses integer keys by them); a type
        without a DuckDB twin keeps Spark's name."""
        return [_DUCK_TYPES.get(f.dataType.typeName(), f.dataType.simpleString().upper())
                for f in self.frame.schema.fields]

    def df(self) -> pd.DataFrame:
        """The rows as pandas with the dtypes DuckDB's ``.df()`` gives: dates as
        ``datetime64[us]``, integer columns with a NULL as pandas' nullable integers."""
        table = self.frame.toArrow()
        out = table.to_pandas()
        for name, column in zip(table.column_names, table.columns, strict=True):
            kind = column.type
            if str(kind).startswith("date"):
                out[name] = pd.to_datetime(out[name]).astype("datetime64[us]")
            elif column.null_count and str(kind).startswith(("int", "uint")):
                out[name] = pd.Series(column.to_pylist(), dtype=str(kind).capitalize())
        return out

    def fetchall(self) -> list[tuple]:
        return [tuple(row) for row in self.frame.collect()]

    def create_view(self, name: str) -> None:
        self._con._view(name, self.frame)

    def to_table(self, name: str) -> None:
        """Materialise (computed once, kept in memory and on local disk) under `name`."""
        from pyspark import StorageLevel

        frame = self.frame.persist(StorageLevel.MEMORY_AND_DISK)
        frame.count()
        self._con._view(name, frame)


class SparkConnection:
    """The part of `duckdb.DuckDBPyConnection` that `spells` uses, on a SparkSession; every
    table it creates is a temporary view of that session."""

    def __init__(self, spark):
        self.spark = spark
        self._schemas: dict[str, dict[str, str]] = {}
        self.statements: list[tuple[str, str]] = []  # (DuckDB, Spark) of each query, in order

    def _view(self, name: str, frame) -> None:
        frame.createOrReplaceTempView(name)
        self._schemas.pop(name, None)

    def _schema(self, names: Iterable[str]) -> dict[str, dict[str, str]]:
        out = {}
        for name in names:
            if name not in self._schemas:
                self._schemas[name] = {c: _spark_type(t) for c, t in self.spark.table(name).dtypes}
            out[name] = self._schemas[name]
        return out

    def sql(self, query: str) -> SparkRelation:
        tree = sqlglot.parse_one(query, read=READ)
        spark_sql = to_spark_sql(query, self._schema(_tables(tree)))
        self.statements.append((query, spark_sql))
        frame = self.spark.sql(spark_sql)
        intervals = [f.name for f in frame.schema.fields if "interval" in f.dataType.typeName()]
        if intervals:
            raise TypeError(f"columns {intervals} are intervals in Spark (an untranslated date "
                            f"difference?): {spark_sql}")
        return SparkRelation(self, frame)

    def execute(self, statement: str) -> SparkConnection:
        """``CREATE VIEW name AS SELECT …`` (a temporary view), including views over
        ``read_parquet('path')``, and ``DROP TABLE``/``DROP VIEW name`` (the view and its
        cached rows go); nothing else."""
        tree = sqlglot.parse_one(statement, read=READ)
        if isinstance(tree, exp.Drop) and tree.kind in ("TABLE", "VIEW"):
            for table in tree.args.get("tables") or [tree.this]:
                self.spark.catalog.dropTempView(table.name)  # uncaches a persisted one too
                self._schemas.pop(table.name, None)
            return self
        if not (isinstance(tree, exp.Create) and tree.kind == "VIEW"):
            raise NotImplementedError(f"only CREATE VIEW is translated: {statement}")
        name, select = tree.this.name, tree.expression
        for table in list(select.find_all(exp.Table)):
            if isinstance(table.this, exp.ReadParquet):
                path = table.this.expressions[0].name
                file_view = f"_rk_parquet_{next(_tags)}"
                self._view(file_view, self.spark.read.parquet(path))
                table.replace(exp.to_table(file_view))
            elif isinstance(table.this, exp.Func) and not isinstance(table.this,
                                                                    exp.GenerateSeries):
                # (range(k), as in a query, becomes an exploded sequence in `to_spark_sql`)
                raise NotImplementedError(f"table function {table.this.sql(READ)}")
        self._view(name, self.sql(select.sql(READ)).frame)
        return self

    def register(self, name: str, frame: pd.DataFrame) -> SparkConnection:
        """A pandas frame as a temporary view; naive timestamps as ``TIMESTAMP_NTZ``."""
        from pyspark.sql.types import StructField, StructType, TimestampNTZType

        sdf = self.spark.createDataFrame(frame)
        naive = {c for c in frame.columns if pd.api.types.is_datetime64_dtype(frame[c])}
        if naive:
            schema = StructType([StructField(f.name, TimestampNTZType(), f.nullable)
                                 if f.name in naive else f for f in sdf.schema.fields])
            sdf = self.spark.createDataFrame(frame, schema=schema)
        self._view(name, sdf)
        return self

    def table(self, name: str) -> SparkRelation:
        return SparkRelation(self, self.spark.table(name))
