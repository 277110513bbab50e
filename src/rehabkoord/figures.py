"""Report figures: one palette and style, labels in the report language, PNG + SVG.

Figures show only aggregates (quartiles, shares with intervals); no individual value is drawn
(box plots without outlier points, whiskers at the 10th and 90th percentiles). What to draw is
decided by `rehabkoord.disclosure`: a bar, box, point or label for a withheld cell is not
drawn, so a figure never shows a number the tables withhold.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

from .cohort import EXCLUSION_REASONS  # noqa: E402
from .contract import GROUP_CONTROL, GROUP_INTERVENTION, GROUPS  # noqa: E402
from .disclosure import Publication, SafeCell  # noqa: E402
from .report import label  # noqa: E402

PALETTE = {GROUP_INTERVENTION: "#1b6f8a", GROUP_CONTROL: "#d08c2e"}


def set_style() -> None:
    """The house style; deterministic SVG ids and no timestamps in saved files."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams.update({"svg.hashsalt": "rehabkoord", "figure.dpi": 100,
                         "savefig.dpi": 200, "font.family": "DejaVu Sans"})


def save(fig: plt.Figure, stem: str | Path) -> list[Path]:
    """Save as PNG (200 dpi) and SVG without date metadata; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths


def _prefix(group: str) -> str:
    return "int" if group == GROUP_INTERVENTION else "ctl"


def _cell_text(cell: SafeCell) -> str:
    return cell.mark if cell.withheld else str(int(cell.value))


def days_distribution(cohort: pd.DataFrame, outcome: str, language: str,
                      pub: Publication) -> plt.Figure:
    """Box plots of days by group and window (whiskers 10th–90th percentile, no points);
    a window and group whose summary the outcome table withholds is not drawn."""
    data = cohort[cohort["analysed"]].copy()
    shown = {(r["window"], g) for r in pub.outcomes
             if r["stratum"] == "alla" and r["outcome"] == outcome
             for g in GROUPS if not r[f"summary_{_prefix(g)}"].withheld}
    data = data[[(int(w), str(g)) in shown for w, g in zip(data["window_months"],
                                                            data["Grupp"], strict=True)]]
    data["group"] = data["Grupp"].astype(str).map(lambda g: label(g, language))
    data["window"] = data["window_months"].map(lambda m: f"≥ {m} mån" if language == "sv"
                                               else f"≥ {m} mo")
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.boxplot(data=data, x="window", y=outcome, hue="group", showfliers=False, whis=(10, 90),
                palette={label(g, language): c for g, c in PALETTE.items()}, ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel(label(outcome, language))
    ax.legend(title="")
    return fig


def share_by_group(pub: Publication, language: str, by_sex: bool = False) -> plt.Figure:
    """Share employed or studying by group and window, with Wilson 95 % intervals; a withheld
    share is marked, not drawn."""
    rows = pd.DataFrame([r for r in pub.outcomes if r["outcome"] == "employed_or_studying"])
    strata = ["kvinna", "man"] if by_sex else ["alla"]
    fig, axes = plt.subplots(1, len(strata), figsize=(4.2 * len(strata), 4), sharey=True,
                             squeeze=False)
    for ax, stratum in zip(axes[0], strata, strict=True):
        part = rows[rows["stratum"] == stratum]
        windows = sorted(part["window"].unique())
        for j, group in enumerate(GROUPS):
            prefix = _prefix(group)
            for i, w in enumerate(windows):
                r = part[part["window"] == w].iloc[0]
                xpos = i + (j - 0.5) * 0.36
                if r[f"pct_{prefix}"].withheld:
                    ax.text(xpos, 2, "undertryckt" if language == "sv" else "suppressed",
                            rotation=90, ha="center", va="bottom", fontsize=8)
                    continue
                events, n = r[f"events_{prefix}"].value, r[f"n_{prefix}"].value
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


def forest_risk_difference(pub: Publication, language: str) -> plt.Figure:
    """Risk differences (percentage points, Newcombe 95 % CI) across windows and strata; only
    the differences the outcome tables publish."""
    rows = [r for r in pub.outcomes if r["outcome"] == "employed_or_studying"
            and not r["effect"].withheld and r["effect"].value is not None]
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(rows), 2) + 1.2))
    ylabels = []
    for i, r in enumerate(rows[::-1]):
        e = r["effect"].value
        ax.errorbar(e["estimate"], i, xerr=[[e["estimate"] - e["low"]],
                                            [e["high"] - e["estimate"]]],
                    fmt="o", color=PALETTE[GROUP_INTERVENTION], capsize=3)
        win = f"≥ {r['window']} mån" if language == "sv" else f"≥ {r['window']} mo"
        ylabels.append(f"{label(r['stratum'], language)}, {win}")
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_yticks(range(len(ylabels)))
    ax.set_yticklabels(ylabels)
    ax.set_xlabel("Skillnad i andel i arbete eller studier, procentenheter (95 % KI)"
                  if language == "sv" else
                  "Difference in share employed or studying, percentage points (95% CI)")
    fig.tight_layout()
    return fig


def consort(pub: Publication, window: int, language: str) -> plt.Figure:
    """CONSORT-style flow diagram for one window, drawn from the published flow table."""
    groups = pub.flow[window]
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    box = dict(boxstyle="round,pad=0.4", fc="white", ec="#333333")
    arrow = dict(arrowstyle="->", color="#333333", lw=1.2, shrinkA=0, shrinkB=0)
    ax.text(5, 9.3, f"{label('randomised', language)}\nn = {_cell_text(pub.flow_total)}",
            ha="center", va="center", bbox=box)
    for x, group in ((2.5, GROUP_INTERVENTION), (7.5, GROUP_CONTROL)):
        g = groups[group]
        ax.annotate("", xy=(x, 7.75), xytext=(5, 8.75), arrowprops=arrow, zorder=1)
        ax.text(x, 7.2, f"{label(group, language)}\nn = {_cell_text(g['randomised'])}", ha="center",
                va="center", bbox=box)
        lines = [f"{label(r, language)}: {_cell_text(g['excluded'][r])}"
                 for r in EXCLUSION_REASONS]
        ax.text(x, 4.8, "\n".join(lines), ha="center", va="center", fontsize=7.5,
                bbox=dict(boxstyle="round,pad=0.4", fc="#f3f3f3", ec="#999999"))
        ax.annotate("", xy=(x, 2.65), xytext=(x, 6.65), arrowprops=arrow, zorder=1)
        ax.text(x, 2.1, f"{label('analysed', language)}\nn = {_cell_text(g['analysed'])}", ha="center",
                va="center", bbox=box)
    title = label("window", language).format(m=window)
    ax.set_title(title, fontsize=10)
    return fig


def all_figures(cohort: pd.DataFrame, pub: Publication, out_dir: str | Path,
                language: str) -> dict[str, list[str]]:
    """Draw and save every report figure from the published cells; returns name -> files."""
    set_style()
    out = Path(out_dir)
    figs = {
        "dagar_sjukpenning": days_distribution(cohort, "sjukpenning_netdays", language, pub),
        "dagar_sjukersattning": days_distribution(cohort, "sjukersattning_netdays", language,
                                                  pub),
        "andel_sysselsatta": share_by_group(pub, language),
        "andel_sysselsatta_kon": share_by_group(pub, language, by_sex=True),
        "forest_riskskillnad": forest_risk_difference(pub, language),
    }
    for window in pub.flow:
        figs[f"consort_{window}m"] = consort(pub, window, language)
    return {name: [str(p) for p in save(fig, out / name)] for name, fig in figs.items()}


