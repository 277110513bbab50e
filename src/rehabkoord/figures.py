"""Report figures: one palette and style, labels in the report language, PNG + SVG.

Figures show only aggregates (quartiles, shares with intervals); no individual value is drawn
(box plots without outlier points, whiskers at the 10th and 90th percentiles). Groups whose
counts are suppressed by disclosure control are not drawn.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

from . import provenance  # noqa: E402
from .cohort import EXCLUSION_REASONS  # noqa: E402
from .contract import GROUP_CONTROL, GROUP_INTERVENTION, GROUPS  # noqa: E402
from .disclosure import publish_binary, publish_count  # noqa: E402
from .report import is_suppressed, label  # noqa: E402

PALETTE = {GROUP_INTERVENTION: "#1b6f8a", GROUP_CONTROL: "#d08c2e"}


def set_style() -> None:
    """The house style; deterministic SVG ids and no timestamps in saved files."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams.update({"svg.hashsalt": "rehabkoord", "figure.dpi": 100,
                         "savefig.dpi": 200, "font.family": "DejaVu Sans"})


def save(fig: plt.Figure, stem: str | Path) -> list[Path]:
    """Save as PNG (200 dpi) and SVG without date metadata, stamped with provenance."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    stamp = provenance.collect(output=paths[0])
    fig.savefig(paths[0], bbox_inches="tight",
                metadata={"Software": None, **provenance.png_metadata(stamp)})
    fig.savefig(paths[1], bbox_inches="tight",
                metadata={"Date": None, "Creator": None, **provenance.svg_metadata(stamp)})
    plt.close(fig)
    return paths


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
    figs = {
        "dagar_sjukpenning": days_distribution(cohort, "sjukpenning_netdays", language, min_cell),
        "dagar_sjukersattning": days_distribution(cohort, "sjukersattning_netdays", language,
                                                  min_cell),
        "andel_sysselsatta": share_by_group(results, language, min_cell),
        "andel_sysselsatta_kon": share_by_group(results, language, min_cell, by_sex=True),
        "forest_riskskillnad": forest_risk_difference(results, language, min_cell),
    }
    for window in flow["windows"]:
        figs[f"consort_{window}m"] = consort(flow, window, language, min_cell)
    return {name: [str(p) for p in save(fig, out / name)] for name, fig in figs.items()}


