"""Table 1 for any data: checked against base R on a regenerated copy of gtsummary's `trial`.

gtsummary itself is not installed, so R applies the same documented rule with base R's
`wilcox.test`, `kruskal.test`, `chisq.test` and `fisher.test`, and `quantile`/`tapply` for the
summaries. Tolerance: relative 1e-10 on statistics and p-values, exact on counts.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rehabkoord import table1

REL = 1e-10
TRIAL_TYPES = {"age": "continuous", "marker": "continuous", "stage": "categorical",
               "grade": "categorical", "response": "dichotomous", "death": "dichotomous",
               "ttdeath": "continuous", "trt": "categorical"}


def trial_like(seed: int = 20240901, n: int = 200) -> pd.DataFrame:
    """gtsummary's `trial` regenerated: two drugs, mixed types, missing values as in the
    original (age 11, marker 10, response 7)."""
    rng = np.random.default_rng(seed)

    def with_missing(values: np.ndarray, k: int) -> np.ndarray:
        values = values.astype(float)
        values[rng.choice(n, k, replace=False)] = np.nan
        return values

    return pd.DataFrame({
        "trt": rng.choice(["Drug A", "Drug B"], n),
        "age": with_missing(np.round(rng.normal(47, 14, n)), 11),
        "marker": with_missing(np.round(rng.gamma(1.2, 0.77, n), 3), 10),
        "stage": pd.Categorical(rng.choice(["T1", "T2", "T3", "T4"], n,
                                           p=[0.265, 0.27, 0.215, 0.25]),
                                categories=["T1", "T2", "T3", "T4"]),
        "grade": pd.Categorical(rng.choice(["I", "II", "III"], n), categories=["I", "II", "III"]),
        "response": with_missing(rng.binomial(1, 0.32, n), 7),
        "death": rng.binomial(1, 0.56, n),
        "ttdeath": np.round(np.minimum(rng.exponential(30, n), 24), 2),
    })


R_RULE = r"""
d <- read.csv('%(csv)s', stringsAsFactors = FALSE, na.strings = '')
d$stage <- factor(d$stage, levels = c('T1', 'T2', 'T3', 'T4'))
d$grade <- factor(d$grade, levels = c('I', 'II', 'III'))
types <- c(%(types)s)
out <- function(...) cat(..., '\n')
num <- function(v) sprintf('%%.17g', v)
for (by in c(%(bys)s)) for (correct in c(TRUE, FALSE)) for (v in names(types)) {
  if (v == by) next
  ok <- !is.na(d[[v]]); x <- d[[v]][ok]; g <- factor(d[[by]][ok])
  if (types[[v]] == 'continuous') {
    if (nlevels(g) == 2) {
      t <- suppressWarnings(wilcox.test(x ~ g, correct = correct))
    } else t <- kruskal.test(x, g)
    out('P', v, by, correct, num(t$statistic), num(t$p.value))
    for (lev in levels(g)) {
      y <- x[g == lev]; q <- quantile(y, c(0.25, 0.5, 0.75))
      q2 <- quantile(y, c(0.25, 0.5, 0.75), type = 2)
      missing <- sum(is.na(d[[v]][d[[by]] == lev]))
      out('S', v, by, gsub(' ', '_', lev), num(c(length(y), q, mean(y), sd(y), missing, q2)))
    }
  } else {
    if (types[[v]] == 'dichotomous') x <- x == 1
    tab <- table(g, x)
    chi <- suppressWarnings(chisq.test(tab, correct = correct))
    if (any(chi$expected < 5)) {
      out('P', v, by, correct, 'NA', num(fisher.test(tab)$p.value))
    } else out('P', v, by, correct, num(chi$statistic), num(chi$p.value))
    for (lev in levels(g)) out('C', v, by, gsub(' ', '_', lev),
                               paste(gsub(' ', '_', names(tab[lev, ])), collapse = '|'),
                               num(tab[lev, ]))
  }
}
%(extra)s
"""


def run_rule_in_r(run_r, data: pd.DataFrame, bys: list[str], path, extra: str = "") -> str:
    data.to_csv(path, index=False, float_format="%.17g")
    types = ", ".join(f"{v} = '{t}'" for v, t in TRIAL_TYPES.items())
    return run_r(R_RULE % {"csv": path, "types": types,
                           "bys": ", ".join(f"'{b}'" for b in bys), "extra": extra})


#: `table1.quantile` against R's quantile(type = 2 and 7): sizes 1 to 13 (n·p whole and not),
#: ties, negative values, p = 0 and 1
QUANTILE_PROBS = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1]


def quantile_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    cases = [np.round(rng.normal(0, 3, n), int(rng.integers(0, 3))) for n in range(1, 14)]
    return cases + [np.array([2.0, 2, 2, 5]), np.array([1.0, 1, 3, 3, 3, 3, 8, 8])]


def quantile_code() -> str:
    probs = ", ".join(map(repr, QUANTILE_PROBS))
    return "\n".join(
        f"out('Q', num(quantile(c({', '.join(map(repr, v.tolist()))}), c({probs}), type = {k})))"
        for v in quantile_cases() for k in (2, 7))


def close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b)) + 1e-300


def _labelled_lines(out: str, tag: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.startswith(tag + " ")]


@pytest.mark.r
@pytest.mark.parametrize("rows", [200, 40], ids=["all_200", "first_40_fisher_exact"])
def test_tests_and_summaries_agree_with_r(run_r, tmp_path, rows):
    """Every p-value and statistic, with and without continuity correction, two groups
    (Wilcoxon, chi-square/Fisher) and three (Kruskal–Wallis, r×c chi-square)."""
    data = trial_like().iloc[:rows]
    bys = ["trt", "grade"] if rows == 200 else ["trt"]
    out = run_rule_in_r(run_r, data, bys, tmp_path / "trial.csv",
                        quantile_code() if rows == 200 else "")
    checked = {"wilcoxon": 0, "kruskal": 0, "chisq": 0, "fisher": 0}
    for by in bys:
        for correct in (True, False):
            res = table1.summarize(data, by, types=TRIAL_TYPES | {by: "categorical"},
                                   variables=[v for v in TRIAL_TYPES if v != by],
                                   chisq_correct=correct, wilcox_correct=correct)
            first = res.table.drop_duplicates("variable").set_index("variable")
            for _, v, b, corr, stat, p in _labelled_lines(out, "P"):
                if b != by or corr != str(correct).upper():
                    continue
                row = first.loc[v]
                checked[row["test"]] += 1
                assert close(row["pvalue"], float(p)), (v, by, correct, row["pvalue"], p)
                if stat == "NA":
                    assert row["test"] == "fisher", (v, by, correct)
                else:
                    assert row["test"] != "fisher" and close(row["statistic"], float(stat)), \
                        (v, by, correct)
        type2 = table1.summarize(data, by, types=TRIAL_TYPES | {by: "categorical"},
                                 variables=[v for v in TRIAL_TYPES if v != by],
                                 quantile_type=2).table.set_index("variable")
        assert res.quantile_type == 7
        for _, v, b, group, n, q1, med, q3, mean, sd, missing, *q2 in _labelled_lines(out, "S"):
            if b != by:
                continue
            row = res.table.set_index("variable").loc[v]
            sfx = res.suffixes[group.replace("_", " ")]
            assert row[f"n_{sfx}"] == int(n) and row[f"missing_{sfx}"] == int(missing)
            for key, want in (("q1", q1), ("median", med), ("q3", q3), ("mean", mean),
                              ("sd", sd)):
                assert close(row[f"{key}_{sfx}"], float(want)), (v, group, key)
            for key, want in zip(("q1", "median", "q3"), q2, strict=True):
                assert close(type2.loc[v, f"{key}_{sfx}"], float(want)), (v, group, key, 2)
        for _, v, b, group, levels, *counts in _labelled_lines(out, "C"):
            if b != by:
                continue
            part = res.table[res.table["variable"] == v].set_index("level")
            group = group.replace("_", " ")
            by_level = dict(zip(levels.replace("_", " ").split("|"), map(float, counts), strict=True))
            if TRIAL_TYPES[v] == "dichotomous":
                assert part.loc["1", f"events_{group}"] == by_level.get("TRUE", 0)
            else:
                for level, count in by_level.items():
                    assert part.loc[level, f"events_{group}"] == count, (v, group, level)
    used = {"wilcoxon", "kruskal", "chisq"} if rows == 200 else {"wilcoxon", "fisher"}
    assert all(checked[t] > 0 for t in used), checked
    if rows == 200:
        want = [[float(q) for q in line[1:]] for line in _labelled_lines(out, "Q")]
        got = [table1.quantile(v, QUANTILE_PROBS, k) for v in quantile_cases() for k in (2, 7)]
        assert len(want) == len(got) == 2 * len(quantile_cases())
        for g, w in zip(got, want, strict=True):
            assert all(close(a, b) for a, b in zip(g, w, strict=True)), (g, w)


def test_defaults_are_gtsummarys_and_the_correction_is_a_choice():
    """add_p(): chi-square without Yates' correction unless asked for; quartiles type 7 unless
    type 2 is asked for (gtsummary's), which differ where n·p is whole."""
    data = trial_like()
    default = table1.summarize(data, "trt", ["response", "death", "age"])
    plain = table1.summarize(data, "trt", ["response", "death", "age"], chisq_correct=False)
    yates = table1.summarize(data, "trt", ["response", "death", "age"], chisq_correct=True)
    pd.testing.assert_frame_equal(default.table, plain.table)
    chi = default.table["test"] == "chisq"
    assert chi.any() and (default.table.loc[chi, "pvalue"] < yates.table.loc[chi, "pvalue"]).all()
    assert set(yates.table.loc[chi, "method"]) == {
        "Pearson's Chi-squared test with Yates' continuity correction"}
    assert list(table1.quantile([1, 2, 3, 4], [0.25, 0.5], 2)) == [1.5, 2.5]
    assert list(table1.quantile([1, 2, 3, 4], [0.25, 0.5], 7)) == [1.75, 2.5]
    with pytest.raises(ValueError, match="quantile_type"):
        table1.summarize(data, "trt", ["age"], quantile_type=6)


def test_types_inferred_as_gtsummary():
    data = trial_like()
    res = table1.summarize(data, "trt")
    assert res.types == {k: v for k, v in TRIAL_TYPES.items() if k != "trt"}
    assert res.groups == ("Drug A", "Drug B") and sum(res.n.values()) == 200
    assert table1.infer_type(pd.Series([True, False, None])) == "dichotomous"
    assert table1.infer_type(pd.Series(["Ja", "Nej", "Ja"])) == "dichotomous"
    assert table1.infer_type(pd.Series([2.0, 5.0, 2.0])) == "categorical"


def test_missing_counted_per_variable_and_group():
    data = trial_like()
    res = table1.summarize(data, "trt", ["age", "response"])
    for var in ("age", "response"):
        row = res.table[res.table["variable"] == var].iloc[0]
        for group in res.groups:
            part = data.loc[data["trt"] == group, var]
            assert row[f"missing_{group}"] == part.isna().sum()
            assert row[f"n_{group}"] == part.notna().sum()
    assert res.table.loc[res.table["variable"] == "age", ["missing_Drug A", "missing_Drug B"]
                         ].sum(axis=1).iat[0] == 11


def test_any_labels_and_suffixes_and_more_groups():
    data = trial_like().assign(arm=lambda f: f["grade"].map({"I": "a", "II": "b", "III": "c"}))
    res = table1.summarize(data, "arm", ["age", "stage"], suffixes={"a": "x"})
    assert res.groups == ("a", "b", "c") and {"n_x", "n_b", "n_c"} <= set(res.table.columns)
    assert res.tests == {"age": "kruskal", "stage": "chisq"}
    stage = res.table[res.table["variable"] == "stage"]
    assert list(stage["level"]) == ["T1", "T2", "T3", "T4"]
    assert math.isclose(stage["pct_x"].sum(), 100.0)


def test_bad_input_stops_with_a_clear_message():
    data = trial_like()
    with pytest.raises(KeyError, match="by column 'arm'"):
        table1.summarize(data, "arm")
    with pytest.raises(ValueError, match="at least two groups"):
        table1.summarize(data.assign(trt="Drug A"), "trt")
    with pytest.raises(ValueError, match="2 rows have no value in the by column"):
        table1.summarize(data.assign(trt=data["trt"].where(data.index > 1)), "trt")
    with pytest.raises(ValueError, match="no rows with 'trt' equal to 'Placebo'"):
        table1.summarize(data, "trt", groups=["Drug A", "Placebo"])
    with pytest.raises(ValueError, match="unknown variable types"):
        table1.summarize(data, "trt", ["age"], types={"age": "numeric"})
    with pytest.raises(TypeError, match="'stage' is declared continuous"):
        table1.summarize(data, "trt", ["stage"], types={"stage": "continuous"})
    with pytest.raises(KeyError, match="'LopNr'"):
        table1.summarize(data, "trt", ["LopNr"])


def test_no_variation_gives_no_test_not_an_error():
    data = trial_like().assign(constant=1.5, one_level="x")
    res = table1.summarize(data, "trt", ["constant", "one_level"],
                           types={"constant": "continuous"})
    assert res.tests == {"constant": "none", "one_level": "none"}

