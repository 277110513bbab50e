"""Table 1 for any data frame: summaries by group with a test per variable.

What gtsummary's `tbl_summary(by = ...) |> add_p()` gives, with the R-identical tests of
`rehabkoord.stats`: any `by` column with two or more labels, each variable continuous,
categorical or dichotomous (inferred as gtsummary does, or given), missing values counted per
variable and group, and the test chosen per variable by one documented rule:

- continuous, two groups: Wilcoxon rank-sum (R `wilcox.test`); more groups: Kruskal–Wallis
  (R `kruskal.test`);
- categorical and dichotomous: Pearson's chi-square without continuity correction (R
  `chisq.test(correct = FALSE)`, gtsummary's default; Yates' correction on 2×2 tables only when
  asked for with `chisq_correct=True`), or Fisher's exact test when any expected count is below
  `expected_below`.

Quartiles are R's `quantile(type = 7)` by default (R's default, and what the published tables
were made with); `quantile_type=2` gives gtsummary's (the inverse of the empirical distribution,
averaging where it is flat). Group statistics sit in columns `<stat>_<suffix>`, one suffix per
group (the group label unless `suffixes` names another). `rehabkoord.table1_display` lays the
result out as gtsummary does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .stats import categorical_test, kruskal_test, wilcox_test

TYPES = ("continuous", "categorical", "dichotomous")
#: Numeric variables with fewer distinct values than this are summarised as categories.
CONTINUOUS_MIN_LEVELS = 10
#: Two-valued codings read as yes/no (the value counted first).
DICHOTOMOUS_CODINGS = ((1, 0), (True, False), ("yes", "no"), ("ja", "nej"))
#: R's `quantile` types offered: 7 (R's default) and 2 (gtsummary's).
QUANTILE_TYPES = (2, 7)


@dataclass(frozen=True)
class Table1:
    """The summary rows with their tests, and what was decided on the way.

    `table` has one row per continuous or dichotomous variable and one per level of a
    categorical variable; `groups` are the `by` labels in order and `n` their sizes;
    `quantile_type` is R's type of the quartiles q1, median, q3.
    """

    table: pd.DataFrame
    by: str
    groups: tuple[str, ...]
    suffixes: dict[str, str]
    n: dict[str, int]
    types: dict[str, str]
    tests: dict[str, str] = field(default_factory=dict)
    quantile_type: int = 7


def _dichotomous_value(values: pd.Series) -> object | None:
    """The value counted for a yes/no variable, or None when it is not one."""
    distinct = values.dropna().unique()
    if len(distinct) == 0 or len(distinct) > 2:
        return None
    if pd.api.types.is_bool_dtype(values):
        return True
    keys = {str(v).strip().lower() if isinstance(v, str) else v for v in distinct}
    for yes, no in DICHOTOMOUS_CODINGS:
        if keys <= {yes, no}:
            spelled = [v for v in distinct if isinstance(v, str) and v.strip().lower() == yes]
            return spelled[0] if spelled else yes
    return None


def infer_type(values: pd.Series) -> str:
    """gtsummary's rule: 0/1, TRUE/FALSE and yes/no are dichotomous; numbers with at least
    `CONTINUOUS_MIN_LEVELS` distinct values continuous; everything else categorical."""
    if _dichotomous_value(values) is not None:
        return "dichotomous"
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.dropna().nunique() >= CONTINUOUS_MIN_LEVELS:
        return "continuous"
    return "categorical"


def _groups(data: pd.DataFrame, by: str, groups: Sequence[str] | None) -> list:
    if by not in data:
        raise KeyError(f"Table 1: the by column {by!r} is not in the data "
                       f"(columns: {', '.join(map(str, data.columns))})")
    missing = int(data[by].isna().sum())
    if missing:
        raise ValueError(f"Table 1: {missing} rows have no value in the by column {by!r}; "
                         "label or drop them before summarising")
    present = list(data[by].cat.categories) if isinstance(data[by].dtype, pd.CategoricalDtype) \
        else sorted(data[by].unique(), key=str)
    order = list(groups) if groups is not None else present
    empty = [g for g in order if not (data[by] == g).any()]
    if empty:
        raise ValueError(f"Table 1: no rows with {by!r} equal to {', '.join(map(repr, empty))}")
    if len(order) < 2:
        raise ValueError(f"Table 1: the by column {by!r} needs at least two groups, found "
                         f"{len(order)} ({', '.join(map(repr, order))})")
    return order


def quantile(values: Sequence[float], probs: Sequence[float], quantile_type: int = 7
             ) -> np.ndarray:
    """Sample quantiles as R's `quantile(x, probs, type=)`, for type 7 (R's default: linear
    between order statistics) or 2 (gtsummary's: the inverse empirical distribution function,
    the mean of the two order statistics where it is flat). Missing values must be dropped."""
    v = np.sort(np.asarray(values, dtype=float))
    pp = np.asarray(probs, dtype=float)
    if v.size == 0 or np.isnan(v).any():
        raise ValueError("quantile needs at least one value and no missing values")
    if ((pp < 0) | (pp > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    if quantile_type == 7:
        return np.quantile(v, pp)
    if quantile_type != 2:
        raise ValueError(f"quantile_type must be one of {QUANTILE_TYPES}, not {quantile_type!r}")
    padded = np.concatenate([v[:1], v[:1], v, v[-1:], v[-1:]])  # as R pads x
    out = []
    for p in pp:
        nppm = v.size * p
        j = math.floor(nppm)
        lo, hi = padded[j + 1], padded[j + 2]  # x[j], x[j + 1] in R's 1-based order statistics
        out.append(hi if nppm > j else (0.5 * lo + 0.5 * hi if lo != hi else lo))
    return np.array(out)


def _continuous(values: pd.Series, quantile_type: int) -> dict:
    v = values.dropna().to_numpy(dtype=float)
    if len(v) == 0:
        return {"n": 0}
    q1, med, q3 = quantile(v, [0.25, 0.5, 0.75], quantile_type)
    return {"n": len(v), "median": float(med), "q1": float(q1), "q3": float(q3),
            "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
            "min": float(v.min()), "max": float(v.max())}


def _continuous_test(parts: list[np.ndarray], *, correct: bool, conf_level: float) -> dict:
    present = [p for p in parts if len(p) > 0]
    if len(present) < 2 or len(np.unique(np.concatenate(present))) < 2:
        return {"test": "none", "note": "fewer than two groups with data, or all values equal"}
    if len(parts) == 2:
        res = wilcox_test(parts[0], parts[1], correct=correct, conf_level=conf_level)
        return {"test": "wilcoxon", "method": res.method, "statistic": res.statistic,
                "pvalue": res.pvalue, "estimate": res.estimate, "conf_low": res.conf_low,
                "conf_high": res.conf_high, "estimate_kind": "hodges_lehmann"}
    res = kruskal_test(parts)
    return {"test": "kruskal", "method": res.method, "statistic": res.statistic,
            "pvalue": res.pvalue}


def _categorical_test(counts: pd.DataFrame, *, expected_below: float, correct: bool,
                      variable: str) -> dict:
    table = counts.loc[counts.sum(axis=1) > 0, counts.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return {"test": "none", "note": "only one level, or only one group with data"}
    try:
        res = categorical_test(table.to_numpy(), expected_below=expected_below, correct=correct)
    except NotImplementedError as exc:
        raise NotImplementedError(f"Table 1, variable {variable!r}: {exc}; a {table.shape[0]}×"
                                  f"{table.shape[1]} table has expected counts below "
                                  f"{expected_below}; merge levels or groups") from exc
    return {"test": res.test, "method": res.method, "statistic": res.statistic,
            "pvalue": res.pvalue, "min_expected": res.min_expected}


def summarize(data: pd.DataFrame, by: str, variables: Sequence[str] | None = None, *,
              types: Mapping[str, str] | None = None, groups: Sequence[str] | None = None,
              suffixes: Mapping[str, str] | None = None, expected_below: float = 5.0,
              chisq_correct: bool = False, wilcox_correct: bool = True,
              conf_level: float = 0.95, quantile_type: int = 7) -> Table1:
    """Summaries of `variables` (default: every column but `by`) per group of `by`, with the
    test chosen per variable (module docstring). `types` overrides the inferred type per
    variable; `groups` fixes the group order (default: category order, else sorted).

    Defaults are gtsummary's `add_p()` (no continuity correction for chi-square, continuity
    correction for the Wilcoxon normal approximation, as `wilcox.test`), except the quartiles:
    R's type 7 unless `quantile_type=2` (gtsummary's)."""
    if quantile_type not in QUANTILE_TYPES:
        raise ValueError(f"quantile_type must be one of {QUANTILE_TYPES}, not {quantile_type!r}")
    order = _groups(data, by, groups)
    sfx = {g: str((suffixes or {}).get(g, g)) for g in order}
    variables = [c for c in data.columns if c != by] if variables is None else list(variables)
    absent = [v for v in variables if v not in data]
    if absent:
        raise KeyError(f"Table 1: variables not in the data: {', '.join(map(repr, absent))}")
    given = dict(types or {})
    wrong = {v: t for v, t in given.items() if t not in TYPES}
    if wrong:
        raise ValueError(f"Table 1: unknown variable types {wrong}; use one of {TYPES}")
    data = data[data[by].isin(order)]
    rows: list[dict] = []
    kinds: dict[str, str] = {}
    tests: dict[str, str] = {}
    for var in variables:
        kind = given.get(var) or infer_type(data[var])
        kinds[var] = kind
        per_group = {g: data.loc[data[by] == g, var] for g in order}
        missing = {f"missing_{sfx[g]}": int(v.isna().sum()) for g, v in per_group.items()}
        if kind == "continuous":
            if not pd.api.types.is_numeric_dtype(data[var]):
                raise TypeError(f"Table 1: variable {var!r} is declared continuous but holds "
                                f"{data[var].dtype} values")
            row = {"variable": var, "level": "", "type": kind}
            for g, v in per_group.items():
                row.update({f"{k}_{sfx[g]}": x
                            for k, x in _continuous(v, quantile_type).items()})
            row.update(missing)
            row.update(_continuous_test([v.dropna().to_numpy(dtype=float)
                                         for v in per_group.values()],
                                        correct=wilcox_correct, conf_level=conf_level))
            tests[var] = row["test"]
            rows.append(row)
            continue
        present = data[[by, var]].dropna()
        if kind == "dichotomous":
            yes = _dichotomous_value(data[var])
            if yes is None:
                raise ValueError(f"Table 1: variable {var!r} is declared dichotomous but has "
                                 f"values {sorted(map(str, data[var].dropna().unique()))}")
            values = (present[var] == yes).map({True: str(yes), False: "other"})
            levels = [str(yes)]
        else:
            values = present[var].astype(str)
            levels = [str(c) for c in data[var].cat.categories] \
                if isinstance(data[var].dtype, pd.CategoricalDtype) else sorted(values.unique())
        counts = pd.crosstab(present[by], values).reindex(index=order, fill_value=0)
        if kind == "dichotomous":
            counts = counts.reindex(columns=["other", str(yes)], fill_value=0)
        test = _categorical_test(counts, expected_below=expected_below, correct=chisq_correct,
                                 variable=var)
        tests[var] = test["test"]
        for level in levels:
            row = {"variable": var, "level": level, "type": kind}
            for g in order:
                n = int(counts.loc[g].sum())
                events = int(counts.loc[g].get(level, 0))
                row.update({f"n_{sfx[g]}": n, f"events_{sfx[g]}": events,
                            f"pct_{sfx[g]}": 100 * events / n if n else math.nan})
            row.update(missing)
            row.update(test)
            rows.append(row)
    table = pd.DataFrame(rows)
    for col in ("test", "method", "statistic", "pvalue", "note"):
        if col not in table:
            table[col] = np.nan
    return Table1(table, by, tuple(str(g) for g in order), sfx,
                  {str(g): int((data[by] == g).sum()) for g in order}, kinds, tests,
                  quantile_type)
