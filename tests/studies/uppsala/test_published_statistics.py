"""Regression tests for issue 26: the default appendix's statistics other than counts gave
persons' values and withheld counts away. Each leak is reproduced by the independent attacker
(tests/attacker.py) on what the old code published, then shown closed on what is published now.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from attacker import deciles_attack, invert_quantiles, pvalue_attack
from pipeline_helpers import UPPSALA_PARAMS

from rehabkoord import disclosure
from rehabkoord.params import load_params
from rehabkoord.studies.uppsala import analysis, cohort, figures
from rehabkoord.style import withheld_label

DECILE_PROBS = [d / 100 for d in figures.DECILES]


@pytest.fixture(scope="module")
def default(synthetic_frames):
    """The default data's cohort, tables and publication under params.yaml's rules."""
    params = load_params(UPPSALA_PARAMS)
    rand = synthetic_frames["randomisering"].assign(
        RandDatum=lambda f: pd.to_datetime(f["RandDatum"]))
    table, flow = cohort.build_cohort(rand, synthetic_frames["LISA"], synthetic_frames["BAS"])
    flow = json.loads(json.dumps(flow))
    results = analysis.outcome_results(table)
    baseline = analysis.baseline_table(table, params["analysis"]["baseline_variables"])
    rules = disclosure.Rules.from_params(params["report"])
    pub = disclosure.publish(results, baseline, flow, rules, params["power"]["window_months"])
    return table, results, baseline, flow, rules, pub


def _with_days(table, outcome, window, group) -> np.ndarray:
    w = table[table["analysed"] & (table["window_months"] == window) & (table["Grupp"] == group)]
    v = w[outcome].dropna().to_numpy(dtype=float)
    return np.sort(v[v > 0])


def test_deciles_of_a_small_group_give_its_values_back(default):
    """The leak: Figure 8's deciles of the 6 controls with sickness compensation at 12 months
    (type 7) solve back to the 6 values (115, 124.75, 136.75, 180.5, 298, 332.5)."""
    table = default[0]
    values = _with_days(table, "sjukersattning_netdays", 12, "Kontroll")
    assert len(values) == 6
    published_before = np.quantile(values, DECILE_PROBS)  # what the figure's CSV held
    recovered = invert_quantiles(published_before, DECILE_PROBS, len(values))
    assert recovered == pytest.approx(values, abs=1e-9)
    assert recovered[:2] == pytest.approx([115, 124.75])
    # ten persons are one equation short: the deciles alone no longer determine them
    assert invert_quantiles(np.quantile(np.arange(1.0, 11.0), DECILE_PROBS), DECILE_PROBS,
                            10) is None


def test_figures_publish_no_deciles_that_invert(default, tmp_path):
    """Fixed: the figure's data and drawing carry no quantiles of a group below
    report.min_quantile_n; such groups are rows marked with the reason, not dropped."""
    table, *_, rules, pub = default
    saved = figures.all_figures(pub, tmp_path, "sv", parallel=False)
    among = pd.read_csv(saved["dagar_bland_dem_med_dagar"][2])
    assert deciles_attack(among) == {}
    assert len(among) == 8  # 2 outcomes × 2 windows × 2 groups, none dropped
    small = among[among["n_with_days"] < rules.min_quantile_n]
    assert len(small) == 4 and small["suppressed"].all()
    assert (small["reason"] == disclosure.FEW_FOR_QUANTILES).all()
    assert small[[f"p{d}" for d in figures.DECILES]].isna().all(axis=None)
    shown = among[~among["suppressed"]]
    assert (shown["n_with_days"] >= rules.min_quantile_n).all()
    fig = figures.days_among_with_days(figures.days_among_with_days_table(pub), "sv")
    legends = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert sum(t.endswith(": " + withheld_label("sv")) for t in legends) == 4


def test_no_figure_or_published_cell_carries_a_minimum_or_maximum(default, tmp_path):
    table, results, *_, pub = default
    saved = figures.all_figures(pub, tmp_path, "sv", parallel=False)
    for name, paths in saved.items():
        columns = pd.read_csv(paths[2]).columns
        assert not [c for c in columns if "min" in c or "max" in c], name
    extremes = {results[f"{k}_{p}"].dropna().iloc[0] for k in ("min", "max") for p in ("int",
                                                                                      "ctl")}
    for cell in disclosure.to_json(pub)["statistics"]:
        if isinstance(cell["published"], dict):
            assert not {"min", "max"} & set(cell["published"]), cell["key"]
    assert extremes  # the secure environment's tables keep them


def test_seaborn_whiskers_ended_at_persons_values(default):
    """The leak: the old box plot (seaborn, whis=(10, 90)) ends each whisker at the last
    person inside the percentile, so its upper end is one person's days, not the 90th
    percentile the caption names."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = default[0]
    data = table[table["analysed"] & (table["window_months"] == 12)
                 & (table["Grupp"] == "Kontroll")]["sjukpenning_netdays"].dropna()
    fig, ax = plt.subplots()
    sns.boxplot(y=data.to_numpy(), showfliers=False, whis=(10, 90), ax=ax)
    top = max(y for line in ax.lines for y in line.get_ydata())
    plt.close(fig)
    assert top in set(data) and top != np.quantile(data, 0.9)


def test_box_plot_whiskers_are_interpolated_percentiles_not_persons(default):
    """Fixed: the box plot is drawn from the published (interpolated) percentiles alone."""
    *_, pub = default
    data = figures.days_percentiles_table(pub, "sjukpenning_netdays")
    fig = figures.days_distribution(data, "sjukpenning_netdays", "sv")
    ends = {round(y, 9) for line in fig.axes[0].lines for y in line.get_ydata()}
    published = {round(v, 9) for c in ("p10", "p25", "p50", "p75", "p90")
                 for v in data[c].dropna()}
    assert ends <= published
    assert not any(len(line.get_xdata()) == 1 for line in fig.axes[0].lines)  # no points


def _published_before_the_fix(pub: disclosure.Publication, results: pd.DataFrame) -> dict:
    """What the old appendix printed: the same counts, and every p-value (3 decimals) and
    Holm p-value regardless of the counts."""
    out = json.loads(json.dumps(disclosure.to_json(pub)))
    out["statistics"] = []
    for _, r in results.iterrows():
        key = ["outcome", int(r["window_months"]), r["stratum"], r["outcome"]]
        out["statistics"].append({"key": [*key, "pvalue"], "published": round(r["pvalue"], 3),
                                  "reason": ""})
    return out


def test_a_published_pvalue_pinned_a_withheld_count(default):
    """The leak: 22/55 against 14/– with p = 0,085; of every n from 0 to 62 randomised, only
    60 reproduces that p, so the "<3" absent beside it is 2 (and the men's n 60 − 43 = 17).
    The Holm p-value 0,339 = 4 × 0,0847 gave the same p."""
    *_, results, baseline, flow, rules, pub = default
    found = pvalue_attack(_published_before_the_fix(pub, results))
    key = ("n", 6, "alla", "employed_or_studying", "Kontroll")
    assert found[key] == [60]
    row = results.query("window_months == 6 and stratum == 'alla' and "
                        "outcome == 'employed_or_studying'").iloc[0]
    assert row["pvalue_holm"] == pytest.approx(4 * row["pvalue"], rel=1e-12)


def test_pvalues_are_published_only_with_their_counts(default):
    """Fixed: the p-value (and every Holm p-value of its family) is withheld with the count,
    so the search has nothing to match; every published p rests on published counts."""
    *_, results, baseline, flow, rules, pub = default
    published = json.loads(json.dumps(disclosure.to_json(pub)))
    assert pvalue_attack(published) == {}
    status = {tuple(c["key"]): c for c in published["statistics"]}
    for stratum in ("alla", "man"):
        p = status["outcome", 6, stratum, "employed_or_studying", "pvalue"]
        assert p["published"] is None and p["reason"] == disclosure.REVEALS
    for key, cell in status.items():
        if key[0] == "outcome" and key[-1] == "pvalue_holm" and key[2] == "alla":
            assert cell["published"] is None and cell["reason"] == disclosure.REVEALS
    counts = {tuple(c["key"]): c for c in published["cells"]}
    for key, cell in status.items():
        if key[0] == "outcome" and key[-1] in ("pvalue", "effect") and cell["published"]:
            w, stratum, outcome = key[1:4]
            for g in ("Intervention", "Kontroll"):
                for kind in ("n", "events"):
                    k = (kind, w, stratum, outcome, g)
                    assert k not in counts or counts[k]["published"] is not None, (key, k)


def test_means_are_withheld_when_few_persons_dominate(default):
    """The controls' sickness compensation at 12 months among the men: the days of few
    persons make up the sum; the mean and SD are withheld, decided from the kept magnitudes
    exactly as the rule on the persons' own values."""
    table, results, *_, rules, pub = default
    checked = 0
    for r in pub.outcomes:
        if r["kind"] != "days":
            continue
        for p, g in (("int", "Intervention"), ("ctl", "Kontroll")):
            w = table[table["analysed"] & (table["window_months"] == r["window"])
                      & (table["Grupp"] == g)]
            if r["stratum"] != "alla":
                w = w[w["sex"] == r["stratum"]]
            expected = rules.magnitude_reason(w[r["outcome"]].dropna())
            assert r[f"mean_{p}"].reason == expected, (r["key"], p)
            checked += expected == disclosure.DOMINATED
    assert checked >= 1  # the default data has a dominated group
