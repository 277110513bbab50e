"""Report figures: one palette and style, labels in the report language, PNG + SVG.

Figures show only aggregates (quartiles, shares with intervals); no individual value is drawn
(box plots without outlier points, whiskers at the 10th and 90th percentiles). Groups whose
counts are suppressed by disclosure control are not drawn. Every figure is saved with the
table of the numbers it draws (`<name>.csv`, suppressed values empty).

Days outcomes are zero-heavy (most people have no days), so they are also shown as the share
with any days and the distribution among those with days, read at the deciles.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

from .cohort import EXCLUSION_REASONS  # noqa: E402
from .contract import GROUP_CONTROL, GROUP_INTERVENTION, GROUPS  # noqa: E402
from .disclosure import publish_binary, publish_count  # noqa: E402
from .report import is_suppressed, label  # noqa: E402

PALETTE = {GROUP_INTERVENTION: "#1b6f8a", GROUP_CONTROL: "#d08c2e"}
DAYS_OUTCOMES = ("sjukpenning_netdays", "sjukersattning_netdays")
#: Percentiles at which the distribution among those with days is read (R quantile type 7).
DECILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
BOX_PERCENTILES = (10, 25, 50, 75, 90)


def set_style() -> None:
    """The house style; deterministic SVG ids and no timestamps in saved files."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams.update({"svg.hashsalt": "rehabkoord", "figure.dpi": 100,
                         "savefig.dpi": 200, "font.family": "DejaVu Sans",
                         "svg.fonttype": "none"})  # text stays text: searchable in the PDF


def save(fig: plt.Figure, stem: str | Path, data: pd.DataFrame | None = None) -> list[Path]:
    """Save as PNG (200 dpi) and SVG without date metadata, and the figure's numbers as CSV
    when given; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    if data is not None:
        paths.append(stem.with_suffix(".csv"))
        data.to_csv(paths[2], index=False, float_format="%.6g", lineterminator="\n")
    return paths


def _window_label(months: int, language: str) -> str:
    return f"≥ {months} mån" if language == "sv" else f"≥ {months} mo"


def any_days_table(cohort: pd.DataFrame, min_cell: int, conf_level: float = 0.95,
                   outcomes: tuple[str, ...] = DAYS_OUTCOMES) -> pd.DataFrame:
    """Per outcome, window and group: analysed n, n with at least one day, share (%) with a
    Wilson interval (%). Suppressed rows keep n but lose the count, share and interval."""
    data = cohort[cohort["analysed"]]
    rows = []
    for outcome in outcomes:
        for window, w in data.groupby("window_months", sort=True):
            for group in GROUPS:
                v = w.loc[w["Grupp"] == group, outcome].dropna()
                n, k = len(v), int((v > 0).sum())
                suppressed = publish_binary(k, n, min_cell, "").suppressed
                lo, hi = proportion_confint(k, n, alpha=1 - conf_level, method="wilson") \
                    if n else (np.nan, np.nan)
                rows.append({"outcome": outcome, "window_months": int(window), "group": group,
                             "n": n, "suppressed": suppressed,
                             "n_with_days": np.nan if suppressed else k,
                             "pct": np.nan if suppressed or not n else 100 * k / n,
                             "conf_low": np.nan if suppressed else 100 * lo,
                             "conf_high": np.nan if suppressed else 100 * hi})
    return pd.DataFrame(rows)


def days_among_with_days_table(cohort: pd.DataFrame, min_cell: int,
                               outcomes: tuple[str, ...] = DAYS_OUTCOMES) -> pd.DataFrame:
    """Per outcome, window and group, among those with at least one day: their number and
    the days at each of `DECILES` (R quantile type 7). Groups with fewer than `min_cell` people
    with days are suppressed."""
    data = cohort[cohort["analysed"]]
    rows = []
    for outcome in outcomes:
        for window, w in data.groupby("window_months", sort=True):
            for group in GROUPS:
                v = w.loc[w["Grupp"] == group, outcome].dropna().to_numpy(dtype=float)
                v = v[v > 0]
                suppressed = len(v) < min_cell
                row = {"outcome": outcome, "window_months": int(window), "group": group,
                       "n_with_days": len(v), "suppressed": suppressed}
                q = np.quantile(v, np.array(DECILES) / 100) if len(v) and not suppressed \
                    else [np.nan] * len(DECILES)
                row.update({f"p{d}": float(x) for d, x in zip(DECILES, q, strict=True)})
                rows.append(row)
    return pd.DataFrame(rows)


def share_with_days(table: pd.DataFrame, language: str) -> plt.Figure:
    """Share with at least one day by group and window, one panel per outcome (from
    `any_days_table`); suppressed groups are marked, not drawn."""
    outcomes = list(dict.fromkeys(table["outcome"]))
    fig, axes = plt.subplots(1, len(outcomes), figsize=(4.2 * len(outcomes), 3.8), sharey=True,
                             squeeze=False)
    for ax, outcome in zip(axes[0], outcomes, strict=True):
        part = table[table["outcome"] == outcome]
        windows = sorted(part["window_months"].unique())
        for j, group in enumerate(GROUPS):
            for i, w in enumerate(windows):
                r = part[(part["window_months"] == w) & (part["group"] == group)].iloc[0]
                xpos = i + (j - 0.5) * 0.36
                if r["suppressed"]:
                    ax.text(xpos, 2, "undertryckt" if language == "sv" else "suppressed",
                            rotation=90, ha="center", va="bottom", fontsize=8)
                    continue
                ax.bar(xpos, r["pct"], width=0.34, color=PALETTE[group],
                       label=label(group, language) if i == 0 else None)
                ax.errorbar(xpos, r["pct"], yerr=[[r["pct"] - r["conf_low"]],
                                                  [r["conf_high"] - r["pct"]]],
                            color="black", capsize=3, lw=1)
        ax.set_xticks(range(len(windows)))
        ax.set_xticklabels([_window_label(w, language) for w in windows])
        ax.set_ylim(0, 100)
        ax.set_title(label(outcome, language), fontsize=9, wrap=True)
        ax.set_ylabel("Andel med minst en dag (%)" if language == "sv"
                      else "Share with at least one day (%)")
    axes[0][0].legend(title="", loc="upper left")
    fig.tight_layout()
    return fig


def days_among_with_days(table: pd.DataFrame, language: str) -> plt.Figure:
    """Distribution of days among those with any days: the empirical distribution function
    read at the deciles, per group (from `days_among_with_days_table`); rows are outcomes,
    columns windows."""
    outcomes = list(dict.fromkeys(table["outcome"]))
    windows = sorted(table["window_months"].unique())
    fig, axes = plt.subplots(len(outcomes), len(windows), figsize=(3.6 * len(windows),
                                                                   2.9 * len(outcomes)),
                             sharey=True, squeeze=False)
    cols = [f"p{d}" for d in DECILES]
    for row_axes, outcome in zip(axes, outcomes, strict=True):
        for ax, w in zip(row_axes, windows, strict=True):
            part = table[(table["outcome"] == outcome) & (table["window_months"] == w)]
            for _, r in part.iterrows():
                name = f"{label(r['group'], language)} (n = {r['n_with_days']})"
                if r["suppressed"]:
                    ax.plot([], [], color=PALETTE[r["group"]],
                            label=f"{label(r['group'], language)}: "
                                  + ("undertryckt" if language == "sv" else "suppressed"))
                    continue
                ax.plot(r[cols].to_numpy(dtype=float), DECILES, marker="o", ms=3.5,
                        drawstyle="steps-post", color=PALETTE[r["group"]], label=name)
            ax.set_ylim(0, 100)
            ax.set_title(f"{label(outcome, language)}, {_window_label(w, language)}",
                         fontsize=8.5, wrap=True)
            ax.set_xlabel("Dagar (bland dem med minst en dag)" if language == "sv"
                          else "Days (among those with at least one)", fontsize=8.5)
            ax.set_ylabel("Kumulativ andel (%)" if language == "sv"
                          else "Cumulative share (%)", fontsize=8.5)
            ax.legend(title="", fontsize=7.5, loc="lower right")
    fig.tight_layout()
    return fig


def days_distribution(cohort: pd.DataFrame, outcome: str, language: str,
                      min_cell: int) -> plt.Figure:
    """Box plots of days by group and window (whiskers 10th–90th percentile, no points)."""
    data = cohort[cohort["analysed"]].copy()
    data["group"] = data["Grupp"].astype(str).map(lambda g: label(g, language))
    data["window"] = data["window_months"].map(lambda m: f"≥ {m} mån" if language == "sv"
                                               else f"≥ {m} mo")
    sizes = data.groupby(["window", "group"]).size()
    data = data[data.set_index(["window", "group"]).index.map(sizes) >= min_cell]
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.boxplot(data=data, x="window", y=outcome, hue="group", showfliers=False, whis=(10, 90),
                palette={label(g, language): c for g, c in PALETTE.items()}, ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel(label(outcome, language))
    ax.legend(title="")
    return fig


def share_by_group(results: pd.DataFrame, language: str, min_cell: int,
                   by_sex: bool = False) -> plt.Figure:
    """Share employed or studying by group and window, with Wilson 95 % intervals."""
    rows = results[(results["outcome"] == "employed_or_studying")]
    strata = ["kvinna", "man"] if by_sex else ["alla"]
    fig, axes = plt.subplots(1, len(strata), figsize=(4.2 * len(strata), 4), sharey=True,
                             squeeze=False)
    for ax, stratum in zip(axes[0], strata, strict=True):
        part = rows[rows["stratum"] == stratum]
        windows = sorted(part["window_months"].unique())
        for j, group in enumerate(GROUPS):
            prefix = "int" if group == GROUP_INTERVENTION else "ctl"
            for i, w in enumerate(windows):
                r = part[part["window_months"] == w].iloc[0]
                events, n = int(r[f"events_{prefix}"]), int(r[f"n_{prefix}"])
                xpos = i + (j - 0.5) * 0.36
                if publish_binary(events, n, min_cell, "").suppressed:
                    ax.text(xpos, 2, "undertryckt" if language == "sv" else "suppressed",
                            rotation=90, ha="center", va="bottom", fontsize=8)
                    continue
                lo, hi = proportion_confint(events, n, method="wilson")
                ax.bar(xpos, 100 * events / n, width=0.34, color=PALETTE[group],
                       label=label(group, language) if i == 0 else None)
                ax.errorbar(xpos, 100 * events / n, yerr=[[100 * (events / n - lo)],
                                                          [100 * (hi - events / n)]],
                            color="black", capsize=3, lw=1)
        ax.set_xticks(range(len(windows)))
        ax.set_xticklabels([f"≥ {w} mån" if language == "sv" else f"≥ {w} mo" for w in windows])
        ax.set_ylim(0, 100)
        ax.set_title(label(stratum, language))
        ax.set_ylabel("Andel (%)" if language == "sv" else "Share (%)")
    axes[0][0].legend(title="", loc="upper left")
    fig.tight_layout()
    return fig


def forest_risk_difference(results: pd.DataFrame, language: str, min_cell: int) -> plt.Figure:
    """Risk differences (percentage points, Newcombe 95 % CI) across windows and strata."""
    rows = results[(results["outcome"] == "employed_or_studying")
                   & results["estimate"].notna()].reset_index(drop=True)
    rows = rows[[not is_suppressed(r, min_cell) for _, r in rows.iterrows()]]
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(rows), 2) + 1.2))
    ylabels = []
    for i, (_, r) in enumerate(rows.iloc[::-1].iterrows()):
        ax.errorbar(r["estimate"], i, xerr=[[r["estimate"] - r["conf_low"]],
                                            [r["conf_high"] - r["estimate"]]],
                    fmt="o", color=PALETTE[GROUP_INTERVENTION], capsize=3)
        win = f"≥ {r['window_months']} mån" if language == "sv" else f"≥ {r['window_months']} mo"
        ylabels.append(f"{label(r['stratum'], language)}, {win}")
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_yticks(range(len(ylabels)))
    ax.set_yticklabels(ylabels)
    ax.set_xlabel("Skillnad i andel i arbete eller studier, procentenheter (95 % KI)"
                  if language == "sv" else
                  "Difference in share employed or studying, percentage points (95% CI)")
    fig.tight_layout()
    return fig


def consort(flow: dict, window: str, language: str, min_cell: int) -> plt.Figure:
    """CONSORT-style flow diagram for one window, drawn from the flow table."""
    groups = flow["windows"][window]
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    box = dict(boxstyle="round,pad=0.4", fc="white", ec="#333333")
    arrow = dict(arrowstyle="->", color="#333333", lw=1.2, shrinkA=0, shrinkB=0)
    total = sum(g["randomised"] for g in groups.values())
    ax.text(5, 9.3, f"{label('randomised', language)}\nn = {total}", ha="center", va="center",
            bbox=box)
    for x, group in ((2.5, GROUP_INTERVENTION), (7.5, GROUP_CONTROL)):
        g = groups[group]
        ax.annotate("", xy=(x, 7.75), xytext=(5, 8.75), arrowprops=arrow, zorder=1)
        ax.text(x, 7.2, f"{label(group, language)}\nn = {g['randomised']}", ha="center",
                va="center", bbox=box)
        lines = [f"{label(r, language)}: {publish_count(g['excluded'][r], min_cell).count}"
                 for r in EXCLUSION_REASONS]
        ax.text(x, 4.8, "\n".join(lines), ha="center", va="center", fontsize=7.5,
                bbox=dict(boxstyle="round,pad=0.4", fc="#f3f3f3", ec="#999999"))
        ax.annotate("", xy=(x, 2.65), xytext=(x, 6.65), arrowprops=arrow, zorder=1)
        ax.text(x, 2.1, f"{label('analysed', language)}\nn = {g['analysed']}", ha="center",
                va="center", bbox=box)
    title = label("window", language).format(m=window)
    ax.set_title(title, fontsize=10)
    return fig


def all_figures(cohort: pd.DataFrame, results: pd.DataFrame, flow: dict, out_dir: str | Path,
                language: str, min_cell: int) -> dict[str, list[str]]:
    """Draw and save every report figure; returns name -> saved files."""
    set_style()
    out = Path(out_dir)
    any_days = any_days_table(cohort, min_cell)
    among = days_among_with_days_table(cohort, min_cell)
    data = {"andel_med_dagar": any_days, "dagar_bland_dem_med_dagar": among,
            "dagar_sjukpenning": days_percentiles_table(cohort, "sjukpenning_netdays", min_cell),
            "andel_sysselsatta": share_table(results, min_cell),
            "andel_sysselsatta_kon": share_table(results, min_cell, by_sex=True),
            "forest_riskskillnad": risk_difference_table(results, min_cell),
            **{f"consort_{w}m": consort_table(flow, w, min_cell) for w in flow["windows"]}}
    figs = {
        "dagar_sjukpenning": days_distribution(cohort, "sjukpenning_netdays", language, min_cell),
        "andel_med_dagar": share_with_days(any_days, language),
        "dagar_bland_dem_med_dagar": days_among_with_days(among, language),
        "andel_sysselsatta": share_by_group(results, language, min_cell),
        "andel_sysselsatta_kon": share_by_group(results, language, min_cell, by_sex=True),
        "forest_riskskillnad": forest_risk_difference(results, language, min_cell),
    }
    for window in flow["windows"]:
        figs[f"consort_{window}m"] = consort(flow, window, language, min_cell)
    return {name: [str(p) for p in save(fig, out / name, data[name])]
            for name, fig in figs.items()}


def days_percentiles_table(cohort: pd.DataFrame, outcome: str, min_cell: int) -> pd.DataFrame:
    """The numbers of a box plot: days at `BOX_PERCENTILES` per window and group (groups
    smaller than `min_cell` are not drawn and have no row)."""
    data = cohort[cohort["analysed"]]
    rows = []
    for window, w in data.groupby("window_months", sort=True):
        for group in GROUPS:
            v = w.loc[w["Grupp"] == group, outcome].dropna().to_numpy(dtype=float)
            if len(v) < min_cell:
                continue
            q = np.quantile(v, np.array(BOX_PERCENTILES) / 100)
            rows.append({"outcome": outcome, "window_months": int(window), "group": group,
                         "n": len(v), **{f"p{p}": float(x)
                                         for p, x in zip(BOX_PERCENTILES, q, strict=True)}})
    return pd.DataFrame(rows)


def share_table(results: pd.DataFrame, min_cell: int, by_sex: bool = False) -> pd.DataFrame:
    """The numbers of `share_by_group`: n, events, share (%) and Wilson interval (%)."""
    rows = []
    strata = ["kvinna", "man"] if by_sex else ["alla"]
    part = results[(results["outcome"] == "employed_or_studying")
                   & results["stratum"].isin(strata)]
    for _, r in part.iterrows():
        for group, prefix in ((GROUP_INTERVENTION, "int"), (GROUP_CONTROL, "ctl")):
            events, n = int(r[f"events_{prefix}"]), int(r[f"n_{prefix}"])
            suppressed = publish_binary(events, n, min_cell, "").suppressed
            lo, hi = proportion_confint(events, n, method="wilson")
            rows.append({"stratum": r["stratum"], "window_months": int(r["window_months"]),
                         "group": group, "n": n, "suppressed": suppressed,
                         "events": np.nan if suppressed else events,
                         "pct": np.nan if suppressed else 100 * events / n,
                         "conf_low": np.nan if suppressed else 100 * lo,
                         "conf_high": np.nan if suppressed else 100 * hi})
    return pd.DataFrame(rows)


def risk_difference_table(results: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """The numbers of `forest_risk_difference` (percentage points; suppressed rows left out)."""
    rows = results[(results["outcome"] == "employed_or_studying")
                   & results["estimate"].notna()]
    rows = rows[[not is_suppressed(r, min_cell) for _, r in rows.iterrows()]]
    return rows[["stratum", "window_months", "estimate", "conf_low", "conf_high"]] \
        .reset_index(drop=True)


def consort_table(flow: dict, window: str, min_cell: int) -> pd.DataFrame:
    """The numbers of the CONSORT diagram for one window, as published."""
    rows = []
    for group, g in flow["windows"][window].items():
        rows.append({"group": group, "step": "randomised", "count": str(g["randomised"])})
        rows.extend({"group": group, "step": r,
                     "count": publish_count(g["excluded"][r], min_cell).count}
                    for r in EXCLUSION_REASONS)
        rows.append({"group": group, "step": "analysed", "count": str(g["analysed"])})
    return pd.DataFrame(rows)


