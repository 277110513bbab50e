"""Report figures: one palette and style, labels in the report language, PNG + SVG.

Figures show only aggregates (quantiles, shares with intervals), every number taken from the
published cells of `rehabkoord.disclosure`, never from person-level rows: no individual value
is drawn (box plots are drawn from their interpolated percentiles, whiskers at the 10th and
90th, no outlier points; no minimum or maximum; quantiles only for groups of at least
`report.min_quantile_n`). A bar, box, point or curve for a withheld cell is not drawn but
marked "× skyddad"/"× withheld" inside the axes (`style.mark_withheld`), and every figure that
prints a mark has its legend line (`style.save`), so a figure never shows a number the tables
withhold nor leaves a group out without a word. Every figure
is saved with the table of the numbers it draws (`<name>.csv`: withheld values empty, with the
reason).

Days outcomes are zero-heavy (most people have no days), so they are also shown as the share
with any days and the distribution among those with days, read at the deciles.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from scipy.special import ndtri  # noqa: E402


def _import_seaborn():
    """seaborn without importing scipy.stats (about 0.8 s, half of this stage's imports).

    seaborn imports scipy.stats only for its kernel density estimate and falls back to its own
    copy when scipy.stats cannot be imported; no figure here draws a density, and box plots and
    the theme do not touch it. Where scipy.stats or seaborn is already loaded, nothing changes.
    """
    if "seaborn" in sys.modules or "scipy.stats" in sys.modules:
        import seaborn
        return seaborn
    sys.modules["scipy.stats"] = None  # makes `import scipy.stats` raise ImportError
    try:
        import seaborn
    finally:
        del sys.modules["scipy.stats"]
    return seaborn


sns = _import_seaborn()

from ...contract import GROUP_CONTROL, GROUP_INTERVENTION, GROUPS  # noqa: E402
from ...disclosure import DECILE_KEYS, TOLERANCE, Publication, SafeCell  # noqa: E402
from ...style import ARM_COLOURS, mark_withheld, save_all, set_style, withheld_label  # noqa: E402
from ...texts import conf_label, fill  # noqa: E402
from .cohort import EXCLUSION_REASONS  # noqa: E402
from .report import label  # noqa: E402

PALETTE = dict(zip(GROUPS, ARM_COLOURS, strict=True))
DAYS_OUTCOMES = ("sjukpenning_netdays", "sjukersattning_netdays")
#: Percentiles at which the distribution among those with days is read (R quantile type 7).
DECILES = tuple(int(k[1:]) for k in DECILE_KEYS)
#: A box plot's percentiles (whiskers, box, median) and the published cell's names for them.
BOX_PERCENTILES = {10: "p10", 25: "q1", 50: "median", 75: "q3", 90: "p90"}

def wilson_interval(count: int, nobs: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for count/nobs (proportions, clipped to [0, 1]), as R's
    `prop.test(count, nobs, correct = FALSE)$conf.int`; the arithmetic of statsmodels'
    `proportion_confint(method="wilson")` step by step, so the same bits, with the normal
    quantile from scipy.special (as scipy.stats.norm.isf) instead of importing scipy.stats."""
    crit = -ndtri((1 - conf_level) / 2)
    crit2 = crit**2
    q = count / nobs
    denom = 1 + crit2 / nobs
    center = (q + crit2 / (2 * nobs)) / denom
    dist = crit * np.sqrt(q * (1.0 - q) / nobs + crit2 / (4.0 * nobs**2)) / denom
    return float(np.clip(center - dist, 0, 1)), float(np.clip(center + dist, 0, 1))


def _prefix(group: str) -> str:
    return "int" if group == GROUP_INTERVENTION else "ctl"


def _window_label(months: int, language: str) -> str:
    """A window on an axis or in a title (`etiketter.yaml`), so authors edit it with the rest."""
    return fill(label("window_at_least", language), m=months)


def _alla_rows(pub: Publication, outcomes: tuple[str, ...]) -> list[dict]:
    return [r for r in pub.outcomes if r["stratum"] == "alla" and r["outcome"] in outcomes]


def any_days_table(pub: Publication, conf_level: float = 0.95,
                   outcomes: tuple[str, ...] = DAYS_OUTCOMES) -> pd.DataFrame:
    """Per outcome, window and group: analysed n, n with at least one day, share (%) with a
    Wilson interval (%), from the published cells; a withheld n or count leaves the row empty."""
    rows = []
    for r in _alla_rows(pub, outcomes):
        for group in GROUPS:
            p = _prefix(group)
            n, k = r[f"n_{p}"], r[f"any_days_{p}"]
            withheld = n.withheld or k.withheld
            lo, hi = (wilson_interval(k.value, n.value, conf_level)
                      if not withheld and n.value else (np.nan, np.nan))
            rows.append({"outcome": r["outcome"], "window_months": int(r["window"]),
                         "group": group, "suppressed": withheld,
                         "n": np.nan if n.withheld else n.value,
                         "n_with_days": np.nan if withheld else k.value,
                         "pct": np.nan if withheld or not n.value else 100 * k.value / n.value,
                         "conf_low": np.nan if withheld else 100 * lo,
                         "conf_high": np.nan if withheld else 100 * hi})
    return pd.DataFrame(rows)


def _quantile_rows(pub: Publication, outcome: str, cell: str, names: dict[int, str],
                   count: str | None) -> list[dict]:
    """Per window and group of the whole cohort: the published `cell` (quantiles or
    deciles) as columns p<percentile>, empty and with the reason when withheld; `count` the
    published group size column shown with it. `n_at_least` is the smallest size the
    published counts allow the group (its size when published): what the quantile rule was
    applied to, and what the output check (`rehabkoord.export`) checks it against."""
    rows = []
    for r in _alla_rows(pub, (outcome,)):
        for group in GROUPS:
            p = _prefix(group)
            c: SafeCell = r[f"{cell}_{p}"]
            row = {"outcome": outcome, "window_months": int(r["window"]), "group": group}
            key = ("any days" if count else "n", int(r["window"]), "alla", outcome, group)
            row["n_at_least"] = math.ceil(pub.bounds(key)[0] - TOLERANCE)
            if count is not None:
                k = r[f"{count}_{p}"]
                row["n_with_days"] = np.nan if k.withheld else k.value
            row.update(suppressed=c.withheld, reason=c.reason)
            row.update({f"p{d}": np.nan if c.withheld else c.value[name]
                        for d, name in names.items()})
            rows.append(row)
    return rows


def days_among_with_days_table(pub: Publication,
                               outcomes: tuple[str, ...] = DAYS_OUTCOMES) -> pd.DataFrame:
    """Per outcome, window and group, among those with at least one day: their number and
    the days at each of `DECILES` (R quantile type 7), as published; a group below
    `report.min_quantile_n` (or whose number is withheld) is a row with its reason."""
    rows = [row for o in outcomes for row in _quantile_rows(
        pub, o, "deciles", {d: f"p{d}" for d in DECILES}, "any_days")]
    return pd.DataFrame(rows)


def _share_panels(table: pd.DataFrame, panel: str, panels: list[str], ylabel: str,
                  language: str, height: float) -> plt.Figure:
    """Bars of `pct` with their interval (`conf_low`, `conf_high`, %) by window and group, one
    panel per value of `panel` (in the order of `panels`); a `suppressed` row is marked, not
    drawn."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), height), sharey=True,
                             squeeze=False)
    for ax, name in zip(axes[0], panels, strict=True):
        part = table[table[panel] == name]
        windows = sorted(part["window_months"].unique())
        for j, group in enumerate(GROUPS):
            for i, w in enumerate(windows):
                r = part[(part["window_months"] == w) & (part["group"] == group)].iloc[0]
                xpos = i + (j - 0.5) * 0.36
                if r["suppressed"]:
                    mark_withheld(ax, xpos, language)
                    continue
                ax.bar(xpos, r["pct"], width=0.34, color=PALETTE[group],
                       label=label(group, language) if i == 0 else None)
                ax.errorbar(xpos, r["pct"], yerr=[[r["pct"] - r["conf_low"]],
                                                  [r["conf_high"] - r["pct"]]],
                            color="black", capsize=3, lw=1)
        ax.set_xticks(range(len(windows)))
        ax.set_xticklabels([_window_label(w, language) for w in windows])
        ax.set_xlim(-0.6, len(windows) - 0.4)  # every slot, drawn or marked withheld
        ax.set_ylim(0, 100)
        ax.set_title(label(name, language), fontsize=9, wrap=True)
        ax.set_ylabel(ylabel)
    axes[0][0].legend(title="", loc="upper left")
    fig.tight_layout()
    return fig


def share_with_days(table: pd.DataFrame, language: str) -> plt.Figure:
    """Share with at least one day by group and window, one panel per outcome (from
    `any_days_table`); suppressed groups are marked, not drawn."""
    return _share_panels(table, "outcome", list(dict.fromkeys(table["outcome"])),
                         label("axis_share_with_days", language), language, 3.8)


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
                if r["suppressed"]:
                    ax.plot([], [], color=PALETTE[r["group"]],
                            label=f"{label(r['group'], language)}: {withheld_label(language)}")
                    continue
                name = f"{label(r['group'], language)} (n = {int(r['n_with_days'])})"
                ax.plot(r[cols].to_numpy(dtype=float), DECILES, marker="o", ms=3.5,
                        drawstyle="steps-post", color=PALETTE[r["group"]], label=name)
            if part["suppressed"].all():  # an empty panel says so instead of a bare axis
                ax.set_xticks([])
                ax.text(0.5, 0.5, withheld_label(language), transform=ax.transAxes, ha="center",
                        va="center", fontsize=9, color="#555555")
            ax.set_ylim(0, 100)
            ax.set_title(f"{label(outcome, language)}, {_window_label(w, language)}",
                         fontsize=8.5, wrap=True)
            ax.set_xlabel(label("axis_days_among_with_days", language), fontsize=8.5)
            ax.set_ylabel(label("axis_cumulative_share", language), fontsize=8.5)
            ax.legend(title="", fontsize=7.5, loc="lower right")
    fig.tight_layout()
    return fig


def days_distribution(table: pd.DataFrame, outcome: str, language: str) -> plt.Figure:
    """Box plots of days by group and window from their published percentiles
    (`days_percentiles_table`: box the quartiles, whiskers the 10th and 90th percentile,
    interpolated, so no end is a person's value; no points); a withheld group is marked."""
    fig, ax = plt.subplots(figsize=(7, 4))
    windows = sorted(table["window_months"].unique())
    for j, group in enumerate(GROUPS):
        for i, w in enumerate(windows):
            r = table[(table["window_months"] == w) & (table["group"] == group)].iloc[0]
            xpos = i + (j - 0.5) * 0.4
            if r["suppressed"]:
                mark_withheld(ax, xpos, language)
                continue
            ax.bxp([{"whislo": r["p10"], "q1": r["p25"], "med": r["p50"], "q3": r["p75"],
                     "whishi": r["p90"], "fliers": []}], positions=[xpos], widths=0.34,
                   showfliers=False, patch_artist=True,
                   boxprops={"facecolor": PALETTE[group]}, medianprops={"color": "black"})
    ax.set_xticks(range(len(windows)))
    ax.set_xticklabels([_window_label(w, language) for w in windows])
    ax.set_xlim(-0.6, len(windows) - 0.4)
    ax.set_xlabel("")
    ax.set_ylabel(label(outcome, language))
    ax.legend(handles=[Patch(color=PALETTE[g], label=label(g, language))
                       for g in GROUPS], title="")
    return fig


def share_by_group(pub: Publication, language: str, by_sex: bool = False,
                   conf_level: float = 0.95) -> plt.Figure:
    """Share employed or studying by group and window, with Wilson intervals at `conf_level`
    (from `share_table`); a withheld share is marked, not drawn."""
    strata = ["kvinna", "man"] if by_sex else ["alla"]
    return _share_panels(share_table(pub, by_sex, conf_level), "stratum", strata,
                         label("axis_share", language), language, 4)

def forest_risk_difference(pub: Publication, language: str,
                           conf_level: float = 0.95) -> plt.Figure:
    """Risk differences (percentage points, Newcombe CI at the analysis' `conf_level`, named
    on the axis) across windows and strata, as the outcome tables publish them; a withheld
    difference is a row marked, not drawn."""
    rows = _forest_rows(pub)
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(rows), 2) + 1.2))
    ylabels = []
    for i, r in enumerate(rows[::-1]):
        if r["effect"].withheld:
            mark_withheld(ax, i, language, across=True, bbox={"fc": "white", "ec": "none"})
        else:
            e = r["effect"].value
            ax.errorbar(e["estimate"], i, xerr=[[e["estimate"] - e["low"]],
                                                [e["high"] - e["estimate"]]],
                        fmt="o", color=PALETTE[GROUP_INTERVENTION], capsize=3)
        ylabels.append(f"{label(r['stratum'], language)}, {_window_label(r['window'], language)}")
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_ylim(-0.6, len(ylabels) - 0.4)
    ax.set_yticks(range(len(ylabels)))
    ax.set_yticklabels(ylabels)
    ci = conf_label(conf_level, language)
    ax.set_xlabel(fill(label("axis_risk_difference", language), ci=ci))
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
    ax.text(5, 9.3, f"{label('randomised', language)}\nn = {pub.flow_total.text}",
            ha="center", va="center", bbox=box)
    for x, group in ((2.5, GROUP_INTERVENTION), (7.5, GROUP_CONTROL)):
        g = groups[group]
        ax.annotate("", xy=(x, 7.75), xytext=(5, 8.75), arrowprops=arrow, zorder=1)
        ax.text(x, 7.2, f"{label(group, language)}\nn = {g['randomised'].text}", ha="center",
                va="center", bbox=box)
        lines = [f"{label(r, language)}: {g['excluded'][r].text}"
                 for r in EXCLUSION_REASONS]
        ax.text(x, 4.8, "\n".join(lines), ha="center", va="center", fontsize=7.5,
                bbox=dict(boxstyle="round,pad=0.4", fc="#f3f3f3", ec="#999999"))
        ax.annotate("", xy=(x, 2.65), xytext=(x, 6.65), arrowprops=arrow, zorder=1)
        ax.text(x, 2.1, f"{label('analysed', language)}\nn = {g['analysed'].text}", ha="center",
                va="center", bbox=box)
    title = label("window", language).format(m=window)
    ax.set_title(title, fontsize=10)
    return fig


def all_figures(pub: Publication, out_dir: str | Path, language: str, *,
                conf_level: float = 0.95, parallel: bool = True) -> dict[str, list[str]]:
    """Draw and save every report figure from the published cells, each with the table of its
    numbers; returns name -> files (`parallel`: see `style.save_all`; `conf_level`: the
    analysis' level, for the Wilson intervals drawn here). Every number comes from `pub`:
    the figures never see a person-level row."""
    set_style(language)
    out = Path(out_dir)
    any_days = any_days_table(pub, conf_level)
    among = days_among_with_days_table(pub)
    boxes = days_percentiles_table(pub, "sjukpenning_netdays")
    data = {"andel_med_dagar": any_days, "dagar_bland_dem_med_dagar": among,
            "dagar_sjukpenning": boxes,
            "andel_sysselsatta": share_table(pub, conf_level=conf_level),
            "andel_sysselsatta_kon": share_table(pub, by_sex=True, conf_level=conf_level),
            "forest_riskskillnad": risk_difference_table(pub),
            **{f"consort_{w}m": consort_table(pub, w) for w in pub.flow}}
    drawings = {
        "dagar_sjukpenning": lambda: days_distribution(boxes, "sjukpenning_netdays", language),
        "andel_med_dagar": lambda: share_with_days(any_days, language),
        "dagar_bland_dem_med_dagar": lambda: days_among_with_days(among, language),
        "andel_sysselsatta": lambda: share_by_group(pub, language, conf_level=conf_level),
        "andel_sysselsatta_kon": lambda: share_by_group(pub, language, by_sex=True,
                                                        conf_level=conf_level),
        "forest_riskskillnad": lambda: forest_risk_difference(pub, language, conf_level),
        **{f"consort_{w}m": lambda w=w: consort(pub, w, language) for w in pub.flow},
    }
    return {name: [str(p) for p in paths]
            for name, paths in save_all(drawings, out, data, parallel=parallel).items()}


def days_percentiles_table(pub: Publication, outcome: str) -> pd.DataFrame:
    """The numbers of a box plot: days at `BOX_PERCENTILES` per window and group, as the
    outcome table publishes them (a withheld group empty, with its reason)."""
    return pd.DataFrame(_quantile_rows(pub, outcome, "quantiles", BOX_PERCENTILES, None))


def share_table(pub: Publication, by_sex: bool = False, conf_level: float = 0.95
                ) -> pd.DataFrame:
    """The numbers of `share_by_group`: n, events, share (%) and Wilson interval (%) at
    `conf_level`, as published (withheld values empty)."""
    rows = []
    strata = ["kvinna", "man"] if by_sex else ["alla"]
    for r in pub.outcomes:
        if r["outcome"] != "employed_or_studying" or r["stratum"] not in strata:
            continue
        for group in GROUPS:
            p = _prefix(group)
            n, e = r[f"n_{p}"], r[f"events_{p}"]
            withheld = r[f"pct_{p}"].withheld
            lo, hi = (np.nan, np.nan) if withheld else wilson_interval(e.value, n.value, conf_level)
            rows.append({"stratum": r["stratum"], "window_months": int(r["window"]),
                         "group": group, "suppressed": withheld,
                         "n": np.nan if n.withheld else n.value,
                         "events": np.nan if e.withheld else e.value,
                         "pct": np.nan if withheld else 100 * e.value / n.value,
                         "conf_low": np.nan if withheld else 100 * lo,
                         "conf_high": np.nan if withheld else 100 * hi})
    return pd.DataFrame(rows)


def _forest_rows(pub: Publication) -> list[dict]:
    """Outcome rows of the share employed or studying with a difference, published or not."""
    return [r for r in pub.outcomes if r["outcome"] == "employed_or_studying"
            and (r["effect"].withheld or r["effect"].value is not None)]


def risk_difference_table(pub: Publication) -> pd.DataFrame:
    """The numbers of `forest_risk_difference` (percentage points; a withheld difference
    empty, with its reason)."""
    rows = []
    for r in _forest_rows(pub):
        e = r["effect"]
        v = e.value or {}
        rows.append({"stratum": r["stratum"], "window_months": int(r["window"]),
                     "suppressed": e.withheld, "reason": e.reason,
                     "estimate": v.get("estimate", np.nan), "conf_low": v.get("low", np.nan),
                     "conf_high": v.get("high", np.nan)})
    return pd.DataFrame(rows, columns=["stratum", "window_months", "suppressed", "reason",
                                       "estimate", "conf_low", "conf_high"])


def consort_table(pub: Publication, window: int) -> pd.DataFrame:
    """The numbers of the CONSORT diagram for one window, as published."""
    rows = []
    for group, g in pub.flow[window].items():
        rows.append({"group": group, "step": "randomised", "count": g["randomised"].text})
        rows.extend({"group": group, "step": r, "count": g["excluded"][r].text}
                    for r in EXCLUSION_REASONS)
        rows.append({"group": group, "step": "analysed", "count": g["analysed"].text})
    return pd.DataFrame(rows)
