"""The study's comparisons: outcome tables per window and stratum, Table 1, Holm.

Everything here is computed on the real (unsuppressed) counts; disclosure control is applied
only when numbers are published (`rehabkoord.disclosure`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ... import provenance
from ...contract import GROUP_CONTROL, GROUP_INTERVENTION, PERSON_KEY, SEX_CODES
from ...io import atomic_outputs, write_json, write_parquet
from ...stats import (
    categorical_test,
    fisher_test,
    holm,
    risk_difference,
    wilcox_test,
)
from ...table1 import summarize

#: Outcomes in report order: column -> kind.
OUTCOMES = {
    "sjukpenning_netdays": "days",
    "sjukersattning_netdays": "days",
    "employed_or_studying": "binary",
}
STRATA = ("alla", *SEX_CODES.values())
#: Smallest group size for which a test is reported in a stratum.
MIN_GROUP_FOR_TEST = 2


#: How many of a group's largest absolute values the tables keep (`largest1` … ), so that the
#: publishing stage can apply the dominance rules (`report.dominance`, `report.p_percent`)
#: without the person-level data, for any `dominance` n up to this.
MAGNITUDE_TOP = 10
#: Percentiles of a box plot's whiskers (R quantile type 7); the box is the quartiles.
WHISKER_PERCENTILES = (10, 90)
#: Percentiles at which the days of those with at least one day are read (type 7).
DECILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


def magnitudes(values: np.ndarray) -> dict:
    """What the dominance rules need of a group: the total of absolute values (`abs_sum`) and
    the `MAGNITUDE_TOP` largest absolute values in descending order (`largest1` …, NaN when
    the group is smaller). Internal: the tables that hold them are never published."""
    a = np.sort(np.abs(values[~np.isnan(values)]))[::-1]
    top = [float(x) for x in a[:MAGNITUDE_TOP]] + [math.nan] * max(0, MAGNITUDE_TOP - len(a))
    return {"abs_sum": float(a.sum()), **{f"largest{i}": x for i, x in enumerate(top, 1)}}


def _describe_days(values: pd.Series) -> dict:
    """Group summaries of days: quartiles, whisker percentiles, mean, SD, the count with any
    days and the deciles among them, and the magnitudes the dominance rules need. Min and
    max are kept for the secure environment's tables only (each is one person's value)."""
    v = values.dropna().to_numpy(dtype=float)
    if len(v) == 0:
        return {"n": 0}
    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    lo, hi = np.quantile(v, np.array(WHISKER_PERCENTILES) / 100)
    positive = v[v > 0]
    deciles = (np.quantile(positive, np.array(DECILES) / 100) if len(positive)
               else [math.nan] * len(DECILES))
    return {"n": len(v), "median": med, "q1": q1, "q3": q3, "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
            "min": float(v.min()), "max": float(v.max()), "any_days": len(positive),
            f"p{WHISKER_PERCENTILES[0]}": float(lo), f"p{WHISKER_PERCENTILES[1]}": float(hi),
            **{f"pos_p{d}": float(x) for d, x in zip(DECILES, deciles, strict=True)},
            **magnitudes(v)}


def _describe_binary(values: pd.Series) -> dict:
    v = values.dropna().astype(bool)
    n, events = len(v), int(v.sum())
    return {"n": n, "events": events, "pct": 100 * events / n if n else math.nan}


def compare_days(x: pd.Series, y: pd.Series, conf_level: float) -> dict:
    """Wilcoxon rank-sum with Hodges–Lehmann shift (days, intervention − control)."""
    if pd.concat([x, y]).dropna().nunique() < 2:
        return {"test": "none", "note": "all values equal; no test"}
    res = wilcox_test(x.dropna(), y.dropna(), conf_level=conf_level)
    return {"test": "wilcoxon", "method": res.method, "statistic": res.statistic,
            "pvalue": res.pvalue, "estimate": res.estimate, "conf_low": res.conf_low,
            "conf_high": res.conf_high, "estimate_kind": "hodges_lehmann_days"}


def compare_binary(x: pd.Series, y: pd.Series, *, conf_level: float, expected_below: float,
                   chisq_correct: bool) -> dict:
    """Chi-square or Fisher (by expected counts), risk difference (pp) and conditional OR."""
    a, b = _describe_binary(x), _describe_binary(y)
    table = [[a["events"], a["n"] - a["events"]], [b["events"], b["n"] - b["events"]]]
    margins_ok = min(a["events"] + b["events"], a["n"] + b["n"] - a["events"] - b["events"]) > 0
    out = {"estimate_kind": "risk_difference_pp"}
    rd = risk_difference(a["events"], a["n"], b["events"], b["n"], conf_level)
    out.update(estimate=100 * rd.estimate, conf_low=100 * rd.conf_low,
               conf_high=100 * rd.conf_high)
    if not margins_ok:
        out.update(test="none", method="", note="no variation in the outcome")
        return out
    res = categorical_test(table, expected_below=expected_below, correct=chisq_correct,
                           conf_level=conf_level)
    fisher = res.detail if res.test == "fisher" else fisher_test(table, conf_level)
    out.update(test=res.test, method=res.method, statistic=res.statistic, pvalue=res.pvalue,
               min_expected=res.min_expected, odds_ratio=fisher.odds_ratio,
               or_conf_low=fisher.conf_low, or_conf_high=fisher.conf_high)
    return out


def _stratum(frame: pd.DataFrame, stratum: str) -> pd.DataFrame:
    return frame if stratum == "alla" else frame[frame["sex"] == stratum]


def outcome_results(cohort: pd.DataFrame, *, conf_level: float = 0.95,
                    expected_below: float = 5.0, chisq_correct: bool = True) -> pd.DataFrame:
    """One row per window × stratum × outcome with group summaries, test, p, Holm p, effect."""
    rows = []
    analysed = cohort[cohort["analysed"]]
    for window, w in analysed.groupby("window_months", sort=True):
        for stratum in STRATA:
            s = _stratum(w, stratum)
            for outcome, kind in OUTCOMES.items():
                xi = s.loc[s["Grupp"] == GROUP_INTERVENTION, outcome]
                xc = s.loc[s["Grupp"] == GROUP_CONTROL, outcome]
                describe = _describe_days if kind == "days" else _describe_binary
                row = {"window_months": int(window), "stratum": stratum, "outcome": outcome,
                       "kind": kind}
                for prefix, part in (("int", xi), ("ctl", xc)):
                    row.update({f"{k}_{prefix}": v for k, v in describe(part).items()})
                if min(row["n_int"], row["n_ctl"]) < MIN_GROUP_FOR_TEST:
                    row.update(test="none", note="stratum too small for a test")
                elif kind == "days":
                    row.update(compare_days(xi, xc, conf_level))
                else:
                    row.update(compare_binary(xi, xc, conf_level=conf_level,
                                              expected_below=expected_below,
                                              chisq_correct=chisq_correct))
                rows.append(row)
    table = pd.DataFrame(rows)
    for col in ("pvalue", "note", "statistic", "odds_ratio", "or_conf_low", "or_conf_high",
                "min_expected", "method"):
        if col not in table:
            table[col] = np.nan
    table["pvalue_holm"] = np.nan
    for _, idx in table.groupby("stratum", sort=False).groups.items():
        table.loc[idx, "pvalue_holm"] = holm(table.loc[idx, "pvalue"])
    table["note"] = table["note"].astype("string").fillna("")
    table["method"] = table["method"].astype("string").fillna("")
    return table


#: Table 1's variable types in the vocabulary of the outcome tables (`kind`), which the report
#: reads: summarised as median/IQR (days), n (%) per level (categorical) or n (%) (binary).
KIND_OF_TYPE = {"continuous": "days", "categorical": "categorical", "dichotomous": "binary"}


def baseline_table(cohort: pd.DataFrame, variables: Mapping[str, str], *,
                   expected_below: float = 5.0, chisq_correct: bool = True,
                   conf_level: float = 0.95) -> pd.DataFrame:
    """Table 1: baseline characteristics by group, one row per person, with the test used and
    its p-value (`rehabkoord.table1`). `variables` maps column -> type, from
    `analysis.baseline_variables`."""
    people = cohort.drop_duplicates(PERSON_KEY)
    absent = [v for v in variables if v not in people]
    if absent:
        raise KeyError(f"analysis.baseline_variables in params.yaml names {', '.join(absent)}, "
                       "not columns of data/processed/uppsala/analysis.parquet "
                       f"(columns: {', '.join(people.columns)})")
    res = summarize(people, "Grupp", list(variables), types=dict(variables),
                    groups=[GROUP_INTERVENTION, GROUP_CONTROL],
                    suffixes={GROUP_INTERVENTION: "int", GROUP_CONTROL: "ctl"},
                    expected_below=expected_below, chisq_correct=chisq_correct,
                    conf_level=conf_level)
    table = res.table.rename(columns={"type": "kind"})
    table["kind"] = table["kind"].map(KIND_OF_TYPE)
    for var in table.loc[table["kind"] == "days", "variable"]:
        for group, prefix in ((GROUP_INTERVENTION, "int"), (GROUP_CONTROL, "ctl")):
            values = people.loc[people["Grupp"] == group, var].to_numpy(dtype=float)
            for k, v in magnitudes(values).items():
                table.loc[table["variable"] == var, f"{k}_{prefix}"] = v
    return table


def headline_metrics(results: pd.DataFrame) -> dict:
    """Headline numbers for `dvc metrics`: per window, the whole-cohort p-values and effects."""
    metrics: dict = {}
    alla = results[results["stratum"] == "alla"]
    for _, row in alla.iterrows():
        key = f"{int(row['window_months'])}m"
        entry = metrics.setdefault(key, {})
        entry[f"{row['outcome']}_p"] = _num(row["pvalue"])
        entry[f"{row['outcome']}_p_holm"] = _num(row["pvalue_holm"])
        entry[f"{row['outcome']}_estimate"] = _num(row.get("estimate"))
        entry[f"{row['outcome']}_n"] = int(row["n_int"] + row["n_ctl"])
    return metrics


def _num(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 12)


def write_outputs(results: pd.DataFrame, baseline: pd.DataFrame, metrics: dict,
                  tables_dir: Path, metrics_path: Path) -> list[Path]:
    """Tables as CSV and Parquet, headline metrics for `dvc metrics`."""
    t = Path(tables_dir)
    targets = [t / "results.csv", t / "results.parquet", t / "baseline.csv",
               t / "baseline.parquet", Path(metrics_path)]
    with atomic_outputs(*targets) as (rc, rp, bc, bp, mj):
        results.to_csv(rc, index=False, float_format="%.15g", lineterminator="\n")
        write_parquet(results, rp)
        baseline.to_csv(bc, index=False, float_format="%.15g", lineterminator="\n")
        write_parquet(baseline, bp)
        write_json(metrics, mj)
    provenance.write_sidecars(t / "results.csv", t / "baseline.csv")
    return targets
