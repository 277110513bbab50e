"""The spell study's appendix: what may be published (decided by `rehabkoord.disclosure`),
display tables, figures in the house style, and the methods and results text in Swedish or
English.

Published people counts: the flow over both groups and within each (drawn as a CONSORT-style
diagram from the published texts, so a withheld count shows only as its mark), patients per
group, per subgroup level and per vårdcentral (each set adding up to the group's total, so
complementary suppression protects a small one), and the returns per group. A subgroup's or
a centre's estimates are withheld with its count. Kaplan–Meier and cumulative incidence curves
stop where fewer than `min_cell` patients remain at risk, and numbers at risk below `min_cell`
are not printed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import matplotlib.pyplot as plt
import matplotlib.transforms as mtransforms
import numpy as np
import pandas as pd
from matplotlib.patches import FancyBboxPatch

from ... import survival, texts
from ...disclosure import (
    ROUND,
    SUPPRESSED,
    Counts,
    Key,
    Rules,
    Structure,
    magnitude_reason_of,
    rounded_steps,
)
from ...fmt import interval, number, pvalue
from ...spells import FLOW_STATUSES
from ...style import ARM_COLOURS, mark_withheld, save, set_style
from ...tables import AppendixText
from .analysis import GROUPS, LARGEST, SUBGROUPS, Estimates

PALETTE = dict(zip(GROUPS, ARM_COLOURS, strict=True))

STUDY = "stockholm"

def label(key: str, language: str) -> str:
    """A group's, variable's or level's words (`text/<language>/etiketter.yaml`); a key
    without words is shown as it is."""
    return texts.glossary(STUDY, "etiketter", language).get(key, key)


def words(name: str, language: str) -> dict:
    """The glossary `text/<language>/<name>.yaml` (`noter`: the tables' footnotes,
    `resultat`: the main findings as sentences): the words are edited there, not here."""
    return texts.glossary(STUDY, name, language)


#: Exclusion steps of the flow, in the order the derivations check them (`spells.flow`).
EXCLUSIONS = tuple(k for k in FLOW_STATUSES if k != "analysed")
#: Reasons for no follow-up time (`spells.follow_up`'s EndReason), in the order shown.
REASONS = ("died", "emigrated", "age_65", "extraction", "planned")


def flow_steps(flow: Mapping) -> list[tuple[str, int, Key, dict[str, Key]]]:
    """The flow as shown in its table and diagram: (label key, indent level, key of the count
    over both groups, {group: key of the group's count}); analysed per group is ("n", group).
    Reasons for no follow-up time are listed when any participant has one."""
    steps = [("participants", 0, ("flow", "participants"),
              {g: ("flow", "participants", g) for g in GROUPS}),
             ("excluded", 0, ("flow", "excluded"), {g: ("flow", "excluded", g) for g in GROUPS})]
    for status in EXCLUSIONS:
        steps.append((status, 1, ("flow", status), {g: ("flow", status, g) for g in GROUPS}))
        if status == "no_follow_up":
            steps += [(r, 2, ("flow", status, r), {g: ("flow", status, r, g) for g in GROUPS})
                      for r in REASONS if flow["no_follow_up_by_reason"].get(r, 0)]
    steps.append(("analysed", 0, ("flow", "analysed"), {g: ("n", g) for g in GROUPS}))
    return steps


def _declare_flow(s: Structure, flow: Mapping, table: pd.DataFrame, rules: Rules) -> None:
    """The flow over both groups and within each (`flow["by_group"]`, from
    `analysis.flow_by_group`): participants = excluded + analysed, excluded = the exclusion
    steps, no follow-up = its reasons, and each step's groups adding up to the step.

    A step whose count over both groups is small is not split by group (its group counts are
    declared as implied, printed as withheld): two small parts of a small total, each printed
    as "<min_cell", would pin the total closer than "<min_cell" allows. Whether a step is split
    depends only on whether its published total is small, which its mark already says."""
    status = flow["by_status"]
    total = s.cell(("flow", "participants"), flow["participants"], cost=50)
    s.relation(total, [s.cell(("flow", k), v) for k, v in status.items()])
    n = table["Grupp"].value_counts()
    groups = [s.cell(("n", g), int(n[g]), cost=20) for g in GROUPS]
    s.relation(("flow", "analysed"), groups)
    reasons = [r for r in REASONS if flow["no_follow_up_by_reason"].get(r, 0)]
    overall = {"participants": flow["participants"],
               "excluded": sum(status[k] for k in EXCLUSIONS),
               **{k: status[k] for k in EXCLUSIONS},
               **{("no_follow_up", r): flow["no_follow_up_by_reason"][r] for r in reasons}}
    split = {k: not rules.small(v) for k, v in overall.items()}
    parts = {None: flow, **{g: flow["by_group"][g] for g in GROUPS}}
    for g, f in parts.items():
        sub = () if g is None else (g,)
        if g is not None:
            s.cell(("flow", "participants", g), f["participants"], shown=split["participants"])
            for k in EXCLUSIONS:
                s.cell(("flow", k, g), f["by_status"][k], shown=split[k])
        excluded = s.cell(("flow", "excluded", *sub),
                          sum(f["by_status"][k] for k in EXCLUSIONS),
                          shown=g is None or split["excluded"])
        s.relation(("flow", "participants", *sub),
                   [excluded, ("flow", "analysed") if g is None else ("n", g)])
        s.relation(excluded, [("flow", k, *sub) for k in EXCLUSIONS])
        if reasons:
            s.relation(("flow", "no_follow_up", *sub),
                       [s.cell(("flow", "no_follow_up", r, *sub),
                               f["no_follow_up_by_reason"].get(r, 0),
                               shown=g is None or split[("no_follow_up", r)])
                        for r in reasons])
    for _, _, key, by_group in flow_steps(flow)[:-1]:
        s.relation(key, list(by_group.values()))


def declare(table: pd.DataFrame, flow: Mapping, rules: Rules) -> Structure:
    """Every published people count and how they add up (`rules` decide only which flow
    steps are split by group, see `_declare_flow`)."""
    s = Structure()
    _declare_flow(s, flow, table, rules)
    for g in GROUPS:
        part = table[table["Grupp"] == g]
        s.relation(("n", g), [s.cell(("returned", g), int(part["Returned"].sum())),
                              s.cell(("not_returned", g), int((1 - part["Returned"]).sum()),
                                     shown=False)])
        for var, levels in SUBGROUPS.items():
            counts = part[var].value_counts()
            cells = [s.cell((var, level, g), int(counts.get(level, 0))) for level in levels]
            s.relation(("n", g), cells, rest=(var, "missing", g))
        centres = part["Vardcentral"].value_counts()
        s.relation(("n", g), [s.cell(("centre", c, g), int(v)) for c, v in
                              sorted(centres.items())])
        # the counts the main table's statistics rest on: full return among the returned
        # (risk difference), re-sick-listings after return (Gray's test), new spells (rate
        # ratio, a count of spells)
        known = part[part["FullReturn"].notna()]
        s.relation(("returned", g), [s.cell(("full_return", g), int(known["FullReturn"].sum())),
                                     s.cell(("no_full_return", g),
                                            int((1 - known["FullReturn"]).sum()))],
                   rest=("full_return_unknown", g))
        after = part[part["ResickStatus"].notna()]
        s.cell(("resick", g), int((after["ResickStatus"] == 1).sum()))
        s.cell(("new_spells", g), int(after["NewSpells"].sum()))
    return s


#: The counts each statistic of the main table rests on (published only when they are).
NEEDS = {"risk_difference": ("full_return", "no_full_return"),
         "risk_difference_iptw": ("full_return", "no_full_return"),
         "gray_chisq": ("resick",), "rate_ratio": ("new_spells",)}
#: The means a measure of the main table compares (the dominance rules apply to each group).
MEANS = {"net_days_mean_difference": "NetDays", "net_days_iptw_difference": "NetDays",
         "hodges_lehmann": "NetDays", "degree_mean_difference": "MeanDegree",
         "degree_iptw_difference": "MeanDegree"}


def _magnitude_ok(est: Estimates, rules: Rules, table: str, variable: str, level: str,
                  groups: tuple[str, ...] = GROUPS) -> bool:
    """Whether the means of `variable` in `groups` pass the dominance rules
    (`disclosure.magnitude_reason_of` on the analysis' `magnitudes` table)."""
    m = est.magnitudes
    rows = m[(m["table"] == table) & (m["variable"] == variable)
             & (m["level"].astype(str) == str(level)) & m["Grupp"].isin(groups)]
    if len(rows) != len(groups):
        return False
    return all(not magnitude_reason_of(rules, r["n"], r["total"],
                                       [r[f"largest_{k}"] for k in range(1, LARGEST + 1)])
               for _, r in rows.iterrows())


def _df_ok(n: int, params: int, rules: Rules) -> bool:
    """Whether a model estimate has at least `min_df` residual degrees of freedom
    (observations less estimated parameters)."""
    return n - params >= rules.min_df


def shown_measure(est: Estimates, pub: Counts, measure: str) -> bool:
    """Whether a row of the main table may be published: a median only for groups of at least
    `min_quantile_n`; a model estimate with at least `min_df` residual degrees of freedom; a
    statistic computed from counts only when a reader may know them exactly (`Counts.exact`:
    published, under rounding allowed by the audit); a comparison of
    means only when each group's mean passes the dominance rules."""
    rules = pub.rules
    r = est.main.set_index("measure").loc[measure]
    if measure.startswith("median_days_"):
        g = measure.removeprefix("median_days_")
        return pub.shown(("n", g)) and rules.quantiles_allowed(pub.structure.values[("n", g)])
    if int(r.get("params", 0)) and not _df_ok(int(r["n"]), int(r["params"]), rules):
        return False
    if measure in NEEDS and not pub.exact(*[(k, g) for k in NEEDS[measure] for g in GROUPS]):
        return False
    if measure in MEANS and not _magnitude_ok(est, rules, "main", MEANS[measure], ""):
        return False
    return True


def statistic_needs(structure: Structure) -> list[tuple[Key, ...]]:
    """The counts each statistic computed from counts rests on, the main table's first (risk
    difference, Gray's test, rate ratio), then Table 1's shares and SMDs per variable (its
    levels and each group's n): under rounding `Counts.protected` lets a statistic rest on
    true counts only where the audit allows it."""
    out = [tuple((k, g) for k in keys for g in GROUPS)
           for keys in dict.fromkeys(NEEDS.values())]
    for var in SUBGROUPS:
        out.append(tuple(k for k in structure.values if k[0] == var and k[1] != "missing")
                   + tuple(("n", g) for g in GROUPS))
    return out


def publish(table: pd.DataFrame, flow: Mapping, rules: Rules) -> Counts:
    """Every published count, with primary and complementary suppression decided by
    `rehabkoord.disclosure` (under `report.protection: round` counts printed rounded and the
    statistics of counts decided by `statistic_needs`)."""
    s = declare(table, flow, rules)
    return Counts.protected(s, rules, statistic_needs(s))


def count_text(pub: Counts, key: Key, language: str) -> str:
    """A published count as printed; a count that is only implied (a flow step not split by
    group) is printed as withheld."""
    return pub.text(key, language) if key in pub.structure.shown else SUPPRESSED


def conf_level(est: Estimates) -> float:
    """The confidence level (0–1) the analyse stage computed every interval at (it records
    it with the Kaplan–Meier curves), so headers and captions name the level of the numbers."""
    levels = est.km["conf_level"].unique()
    if len(levels) != 1:
        raise ValueError(f"the estimates mix confidence levels {sorted(levels)}; "
                         "re-run the analyse stage")
    return float(levels[0])


def _ci_head(name: str, est: Estimates, language: str) -> str:
    """'Hazardkvot (90 % KI)': a column header at the estimates' level, unbreakable inside."""
    return f"{name} ({texts.conf_label(conf_level(est), language)})"


def _fmt_ci(est: float, low: float, high: float, decimals: int, language: str) -> str:
    return f"{number(est, decimals, language)} ({interval(low, high, decimals, language)})"


#: The main table's rows after the medians, in order: (measure, decimals, scale, whether it
#: is IPT-weighted: shown only with the weighted estimates); their words are `label(measure)`.
MAIN_MEASURES = (("hr_unadjusted", 2, 1.0, False), ("hr_adjusted", 2, 1.0, False),
                 ("hr_iptw", 2, 1.0, True), ("hodges_lehmann", 1, 1.0, False),
                 ("net_days_mean_difference", 1, 1.0, False),
                 ("net_days_iptw_difference", 1, 1.0, True),
                 ("degree_mean_difference", 1, 1.0, False),
                 ("degree_iptw_difference", 1, 1.0, True),
                 ("risk_difference", 1, 100.0, False), ("risk_difference_iptw", 1, 100.0, True),
                 ("rate_ratio", 2, 1.0, False))


def main_table(est: Estimates, pub: Counts, language: str) -> pd.DataFrame:
    """The main results: one row per outcome measure."""
    m = est.main.set_index("measure")
    rows = []
    c_measure = label("measure", language)
    c_est = _ci_head(label("estimate", language), est, language)

    def add(name: str, measure: str, decimals: int = 1, scale: float = 1.0) -> None:
        r = m.loc[measure]
        ok = shown_measure(est, pub, measure)
        rows.append({c_measure: name,
                     c_est:
                     _fmt_ci(r.estimate * scale, r.conf_low * scale, r.conf_high * scale,
                             decimals, language) if ok else SUPPRESSED,
                     "p": pvalue(r.pvalue, language) if ok else SUPPRESSED})

    for g in GROUPS:
        add(texts.fill(label("median_days", language), group=label(g, language).lower()),
            f"median_days_{g}", 0)
    iptw = "hr_iptw" in m.index
    for measure, decimals, scale, weighted in MAIN_MEASURES:
        if iptw or not weighted:
            add(label(measure, language), measure, decimals, scale)
    g = m.loc["gray_chisq"]
    ok = shown_measure(est, pub, "gray_chisq")
    rows.append({c_measure: label("gray_chisq", language),
                 c_est:
                 f"χ² = {number(g.estimate, 2, language)}" if ok else SUPPRESSED,
                 "p": pvalue(g.pvalue, language) if ok else SUPPRESSED})
    out = pd.DataFrame(rows)
    out.attrs["numeric"] = [c for c in out.columns if c != out.columns[0]]
    notes = words("noter", language)
    out.attrs["notes"] = [notes["main"], *([notes["main_iptw"]] if iptw else [])]
    return out


def flow_table(pub: Counts, flow: Mapping, language: str) -> pd.DataFrame:
    """The flow diagram's counts as a table (the figure's text for readers who cannot see
    it): every step over both groups and per group, exclusions with their reasons."""
    c_step = label("step", language)
    rows, levels = [], []
    for step, level, key, by_group in flow_steps(flow):
        name = label(step, language)
        rows.append({c_step: f"{label('of_which', language)} {name}" if level == 2 else name,
                     label("all", language): count_text(pub, key, language),
                     **{label(g, language): count_text(pub, k, language)
                        for g, k in by_group.items()}})
        levels.append(min(level, 1))
    out = pd.DataFrame(rows)
    out.attrs.update(levels=levels, numeric=list(out.columns[1:]))
    return out


def balance_table(est: Estimates, pub: Counts, language: str) -> pd.DataFrame:
    """Table 1 by group: counts with percentages (shown where `Counts.exact` allows), means,
    and standardised mean differences."""
    c_var, c_smd = label("variable", language), label("smd", language)
    cols = {g: texts.keep_together(f"{label(g, language)} (n = {pub.text(('n', g), language)})")
            for g in GROUPS}
    rows, levels = [], []
    for r in est.balance.itertuples():
        if r.kind == "continuous":
            ok = {g: _magnitude_ok(est, pub.rules, "balance", r.variable, "", (g,))
                  for g in GROUPS}
            rows.append({c_var: label(r.variable, language),
                         cols[GROUPS[0]]: number(r.coordinator, 1, language)
                         if ok[GROUPS[0]] else SUPPRESSED,
                         cols[GROUPS[1]]: number(r.control, 1, language)
                         if ok[GROUPS[1]] else SUPPRESSED,
                         c_smd: number(r.smd, 2, language) if all(ok.values()) else SUPPRESSED})
            levels.append(0)
            continue
        if not rows or rows[-1].get("_var") != r.variable:
            rows.append({c_var: label(r.variable, language), cols[GROUPS[0]]: "",
                         cols[GROUPS[1]]: "", c_smd: "", "_var": r.variable})
            levels.append(0)
        cell = {}
        keys = [(r.variable, r.level, g) for g in GROUPS]
        for g, share, key in zip(GROUPS, (r.coordinator, r.control), keys, strict=True):
            cell[cols[g]] = (f"{pub.text(key, language)} ({number(100 * share, 1, language)} %)"
                             if pub.exact(key) else pub.text(key, language))
        # an SMD of two shares is a function of the counts too (shown under suppression as
        # before; under rounding only with the shares)
        smd_ok = pub.rules.method != ROUND or pub.exact(*keys)
        rows.append({c_var: label(r.level, language), **cell,
                     c_smd: number(r.smd, 2, language) if smd_ok else SUPPRESSED,
                     "_var": r.variable})
        levels.append(1)
    out = pd.DataFrame(rows).drop(columns="_var")
    out.attrs.update(levels=levels, numeric=[cols[g] for g in GROUPS] + [c_smd],
                     notes=[words("noter", language)["balance"]])
    return out


def subgroup_shown(est: Estimates, pub: Counts, variable: str, level: str) -> tuple[bool, bool]:
    """Whether a subgroup level's hazard ratio and its difference in mean net days may be
    published: both need the level's counts published and at least `min_df` residual degrees
    of freedom (the Cox model within the level estimates one coefficient, the difference two
    means); the difference also needs each group's mean net days to pass the dominance rules."""
    keys = [(variable, level, g) for g in GROUPS]
    if not all(pub.shown(k) for k in keys):
        return False, False
    n = sum(pub.structure.values[k] for k in keys)
    r = est.subgroups[(est.subgroups["variable"] == variable)
                      & (est.subgroups["level"] == level)].iloc[0]
    hr = not pd.isna(r.get("hr", np.nan)) and _df_ok(n, 1, pub.rules)
    nd = (not pd.isna(r.get("netdays_diff", np.nan)) and _df_ok(n, 2, pub.rules)
          and _magnitude_ok(est, pub.rules, "subgroups", variable, level))
    return hr, nd


def subgroup_table(est: Estimates, pub: Counts, language: str) -> pd.DataFrame:
    """Hazard ratio and difference in mean net days within every pre-specified subgroup, with
    the interaction test per subgroup variable; withheld with the subgroup's count."""
    c_sub = label("subgroup", language)
    c_n = texts.keep_together(label("n_groups", language))
    c_hr = _ci_head(label("hazard_ratio", language), est, language)
    c_nd = _ci_head(label("netdays_difference", language), est, language)
    c_p = label("p_interaction", language)
    rows, levels = [], []
    for var, part in est.subgroups.groupby("variable", sort=False):
        rows.append({c_sub: label(var, language), c_n: "", c_hr: "", c_nd: "",
                     c_p: pvalue(part["p_interaction"].iloc[0], language)})
        levels.append(0)
        for r in part.itertuples():
            keys = [(var, r.level, g) for g in GROUPS]
            hr_ok, nd_ok = subgroup_shown(est, pub, var, r.level)
            rows.append({c_sub: label(r.level, language),
                         c_n: " / ".join(pub.text(k, language) for k in keys),
                         c_hr: _fmt_ci(r.hr, r.hr_low, r.hr_high, 2, language) if hr_ok
                         else SUPPRESSED,
                         c_nd: _fmt_ci(r.netdays_diff, r.netdays_low, r.netdays_high, 1,
                                       language) if nd_ok else SUPPRESSED, c_p: ""})
            levels.append(1)
    out = pd.DataFrame(rows)
    n_tests = est.subgroups["variable"].nunique()
    out.attrs.update(levels=levels, numeric=[c_n, c_hr, c_nd, c_p],
                     notes=[texts.fill(words("noter", language)["subgroups"], n_tests=n_tests)])
    return out


def centre_table(est: Estimates, pub: Counts, language: str) -> pd.DataFrame:
    """Per vårdcentral (the unit that chose the model): patients, median days to return (only
    for at least `min_quantile_n` patients) and mean net days (only when it passes the
    dominance rules); only 7 clusters, so the cluster-robust intervals may be too narrow."""
    rows = []
    c_centre, c_group = label("centre", language), label("group", language)
    c_median = _ci_head(label("median_return", language), est, language)
    c_mean = label("netdays_mean", language)
    for r in est.centres.itertuples():
        key = ("centre", r.Vardcentral, r.Grupp)
        shown = pub.shown(key)
        ok = shown and pub.rules.quantiles_allowed(int(r.n))
        mean_ok = shown and _magnitude_ok(est, pub.rules, "centres", "NetDays",
                                          str(r.Vardcentral), (r.Grupp,))
        rows.append({c_centre: r.Vardcentral, c_group: label(r.Grupp, language),
                     "n": pub.text(key, language),
                     c_median: _fmt_ci(r.median_return_days, r.median_low, r.median_high,
                                           0, language) if ok else SUPPRESSED,
                     c_mean: number(r.mean_net_days, 1, language) if mean_ok else SUPPRESSED})
    out = pd.DataFrame(rows)
    out.attrs["numeric"] = list(out.columns[2:])
    return out


def _flow_box(ax, x: float, top: float, width: float, lines: list[str], colour: str,
              centred: bool = True) -> float:
    """A box with its top centre at (x, top), as tall as its lines, the first in bold;
    returns its bottom (axis units)."""
    height = 0.34 * len(lines) + 0.3
    ax.add_patch(FancyBboxPatch((x - width / 2, top - height), width, height,
                                boxstyle="round,pad=0,rounding_size=0.08", facecolor="white",
                                edgecolor=colour, linewidth=1.2))
    for i, line in enumerate(lines):
        ax.text(x if centred else x - width / 2 + 0.15, top - 0.32 - 0.34 * i, line,
                ha="center" if centred else "left", va="center", fontsize=8.5,
                fontweight="bold" if i == 0 else "normal")
    return top - height


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "0.3",
                                                      "linewidth": 1.0, "shrinkA": 0,
                                                      "shrinkB": 0})


def flow_figure(pub: Counts, flow: Mapping, language: str) -> tuple:
    """The flow of participants as a CONSORT-style diagram: all participants, each group's
    arm, its exclusions with their reasons, and the analysed. Every count is the published
    text (`Counts.text`), so a withheld count shows as its disclosure mark, never the number;
    returns the figure and the printed cells (step, group, text)."""
    steps = {step: (key, by_group) for step, _, key, by_group in flow_steps(flow)}
    cells = []

    def count(step: str, group: str | None) -> str:
        key = steps[step][0] if group is None else steps[step][1][group]
        text = count_text(pub, key, language)
        cells.append({"step": step, "Grupp": group or "", "text": text})
        return text

    width_all, width_arm, width_excl, wrap = 13.0, 3.4, 3.7, 31
    arm_x = {GROUPS[0]: 1.9, GROUPS[1]: width_all - 1.9}
    excl_x = {GROUPS[0]: 4.45, GROUPS[1]: width_all - 4.45}
    fig, ax = plt.subplots(figsize=(10, 6.4))
    centre = width_all / 2
    bottom = _flow_box(ax, centre, 9.8, 3.4, [label("participants", language),
                                              f"n = {count('participants', None)}"], "0.3")
    split = bottom - 0.4
    ax.plot([centre, centre], [bottom, split], color="0.3", linewidth=1.0)
    ax.plot([arm_x[GROUPS[0]], arm_x[GROUPS[1]]], [split, split], color="0.3", linewidth=1.0)
    arm_top = split - 0.5
    for g in GROUPS:
        x = arm_x[g]
        _arrow(ax, (x, split), (x, arm_top))
        arm_bottom = _flow_box(ax, x, arm_top, width_arm, [label(g, language),
                                                            f"n = {count('participants', g)}"],
                               PALETTE[g])
        lines = [f"{label('excluded', language)}, n = {count('excluded', g)}"]
        for step, level, _, _ in flow_steps(flow):
            if level == 0:
                continue
            name = label(step, language)
            text = (f"{name}:\xa0{count(step, g)}" if level == 1 else
                    f"{label('of_which', language)} {name}:\xa0{count(step, g)}")
            lines += textwrap.wrap(text, wrap, subsequent_indent="   ")  # kept: ": n" (NBSP)
        excl_top = arm_bottom - 0.7
        excl_bottom = _flow_box(ax, excl_x[g], excl_top, width_excl, lines, "0.55",
                               centred=False)
        mid = (excl_top + excl_bottom) / 2
        edge = excl_x[g] + (-1 if excl_x[g] > x else 1) * width_excl / 2
        _arrow(ax, (x, mid), (edge, mid))
        analysed_top = excl_bottom - 0.7
        ax.plot([x, x], [arm_bottom, mid], color="0.3", linewidth=1.0)
        _arrow(ax, (x, mid), (x, analysed_top))
        _flow_box(ax, x, analysed_top, width_arm, [label("analysed", language),
                                                   f"n = {count('analysed', g)}"], PALETTE[g])
    ax.set_xlim(0, width_all)
    ax.set_ylim(analysed_top - 1.3, 10)
    ax.set_axis_off()
    return fig, pd.DataFrame(cells)


def _pseudo(steps: pd.DataFrame, codes: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Times and statuses of the persons the rounded counts describe (one row per count)."""
    time = np.concatenate([np.repeat(steps.index.to_numpy(float), steps[c].to_numpy(int))
                           for c in codes])
    status = np.concatenate([np.full(int(steps[c].sum()), code, dtype=float)
                             for c, code in codes.items()])
    return time, status


def _at_risk(steps: pd.DataFrame) -> np.ndarray:
    """Numbers at risk at each step of rounded counts (all who leave at or after it)."""
    return steps.sum(axis=1).to_numpy()[::-1].cumsum()[::-1]


def safe_km(km: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """The Kaplan–Meier curve as published: OpenSAFELY's disclosure-safe Kaplan–Meier
    (opensafely-actions/kaplan-meier-function): the running totals of returns and of
    censorings are rounded up to multiples of `min_cell` (`disclosure.rounded_steps`; under
    `report.protection: round` of the base, `Rules.threshold`, as everywhere below), the
    numbers at risk follow from them, and the curve and its log-scale Greenwood interval are
    recomputed from these counts (`survival.kaplan_meier` on the persons they describe), so
    every published step, number at risk and interval rests on changes of 0 or at least
    `min_cell` persons. The curve stops at the last time at which at least `min_cell` remain
    at risk, by the true and by the rounded count."""
    out = []
    for g in GROUPS:
        part = km[km["Grupp"] == g].set_index("time")
        if part.empty:
            continue
        steps = rounded_steps(part[["n_event", "n_censor"]], rules.threshold)
        time, event = _pseudo(steps, {"n_event": 1, "n_censor": 0})
        fit = survival.kaplan_meier(time, event, conf_level=float(part["conf_level"].iloc[0]))
        curve = pd.DataFrame({"Grupp": g, "time": fit.time, "n_risk": fit.n_risk,
                              "n_event": fit.n_event, "n_censor": fit.n_censor,
                              "surv": fit.surv, "lower": fit.lower, "upper": fit.upper})
        true_risk = part["n_risk"].reindex(fit.time, method="bfill").fillna(0).to_numpy()
        keep = (true_risk >= rules.threshold) & (curve["n_risk"].to_numpy() >= rules.threshold)
        last = np.flatnonzero(~keep)
        out.append(curve.iloc[:last[0] if last.size else len(curve)])
    return pd.concat(out, ignore_index=True)


def safe_cuminc(cuminc: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """The cumulative incidence of a new spell as published, by the same method as
    `safe_km`: running totals of new spells, of competing events (death, emigration) and of
    censorings rounded up to multiples of `min_cell`, and the Aalen–Johansen estimate with
    Gray's variance recomputed from them (`survival.cumulative_incidence`); stopped at the
    last time with at least `min_cell` at risk, by the true and by the rounded count."""
    out = []
    codes = {"n_event": 1, "n_compete": 2, "n_censor": 0}
    for g in GROUPS:
        part = cuminc[cuminc["Grupp"] == g].set_index("time")
        if part.empty:
            continue
        steps = rounded_steps(part[list(codes)], rules.threshold)
        time, status = _pseudo(steps, codes)
        fit = survival.cumulative_incidence(time, status,
                                            conf_level=float(part["conf_level"].iloc[0]))
        at = survival.cumulative_incidence_at(fit, steps.index.to_numpy(float))
        curve = pd.DataFrame({"Grupp": g, "time": steps.index.to_numpy(float),
                              "n_risk": _at_risk(steps), **{c: steps[c].to_numpy() for c in codes},
                              "est": at.est, "lower": at.lower, "upper": at.upper})
        true_risk = part["n_risk"].reindex(curve["time"], method="bfill").fillna(0).to_numpy()
        keep = (true_risk >= rules.threshold) & (curve["n_risk"].to_numpy() >= rules.threshold)
        last = np.flatnonzero(~keep)
        out.append(curve.iloc[:last[0] if last.size else len(curve)])
    return pd.concat(out, ignore_index=True)


def km_figure(est: Estimates, rules: Rules, language: str, times: list[int]) -> tuple:
    """Share still on sick leave by days since index with its CI, and numbers at risk
    below: the published curve `safe_km` (rounded counts, stopped where fewer than `min_cell`
    remain). Numbers at risk at `times` are the rounded ones, "<min_cell" where fewer than
    `min_cell` remain and "×" where the rounded curve has stopped before. The curve's table
    holds the rounded counts it is computed from."""
    fig, (ax, tab) = plt.subplots(2, 1, figsize=(7.5, 5.2), height_ratios=[4, 1], sharex=True)
    curves = safe_km(est.km, rules)
    rows = []
    for i, g in enumerate(GROUPS):
        c = curves[curves["Grupp"] == g]
        t = np.concatenate([[0], c["time"]])
        s, lo, hi = (np.concatenate([[1.0], c[k]]) for k in ("surv", "lower", "upper"))
        ax.step(t, s, where="post", color=PALETTE[g], label=label(g, language))
        ax.fill_between(t, lo, hi, step="post", color=PALETTE[g], alpha=0.15, linewidth=0)
        full = est.km[est.km["Grupp"] == g]
        for time in times:
            true = full.loc[full["time"] >= time, "n_risk"]
            shown = c.loc[c["time"] >= time, "n_risk"]
            if len(true) == 0 or int(true.iloc[0]) < rules.threshold:
                text = f"<{rules.threshold}"
            elif len(shown) and (time <= c["time"].max()):
                text = str(int(shown.iloc[0]))
            else:
                text = SUPPRESSED
            tab.text(time, 1 - i, text, ha="center", va="center", fontsize=8, color=PALETTE[g])
            rows.append({"Grupp": g, "time": time, "n_risk": text})
    ax.set_ylabel(label("share_sick", language))
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False)
    tab.set_yticks([1, 0], [label(g, language) for g in GROUPS])
    tab.set_ylim(-0.5, 1.5)
    tab.set_xlabel(label("days", language))
    tab.set_title(label("at_risk", language), fontsize=9, loc="left")
    tab.grid(False)
    return fig, curves, pd.DataFrame(rows)


def safe_months(est: Estimates, rules: Rules) -> pd.DataFrame:
    """The monthly means as published: a month whose mean rests on fewer than `min_cell`
    persons or is dominated by a few of them (`disclosure.magnitude_reason_of`: a month late
    in follow-up where most have returned, degree 0, and a few still sick-listed carry the
    mean) is left out. The number of persons per month is not published: its changes from
    month to month are the persons whose follow-up ended (death, emigration, age 65), often
    1 or 2. The degree is bounded (0–100 %), which alone does not protect a mean that a
    single person's degree dominates, hence the dominance rules."""
    m = est.months
    ok = [m.at[i, "n"] >= rules.min_cell and not magnitude_reason_of(
        rules, m.at[i, "n"], m.at[i, "total"],
        [m.at[i, f"largest_{k}"] for k in range(1, LARGEST + 1)]) for i in m.index]
    return m.loc[ok, ["Month", "Grupp", "mean", "lower", "upper"]].reset_index(drop=True)


def degree_figure(est: Estimates, rules: Rules, language: str) -> tuple:
    """Mean sick-leave degree by month since index, with cluster-robust CIs: the months
    `safe_months` publishes. A withheld month breaks its group's line (no line is drawn across
    it) and is marked with the protection mark in the group's colour at the axis' foot."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    data = safe_months(est, rules)
    foot = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    for i, g in enumerate(GROUPS):
        months = np.sort(est.months.loc[est.months["Grupp"] == g, "Month"].unique())
        d = data[data["Grupp"] == g].set_index("Month").reindex(months)
        ax.plot(months + 1, d["mean"], marker="o", color=PALETTE[g], label=label(g, language))
        ax.fill_between(months + 1, d["lower"], d["upper"], color=PALETTE[g], alpha=0.15,
                        linewidth=0)
        for month in months[d["mean"].isna().to_numpy()]:
            ax.text(month + 1, 0.03 + 0.07 * i, SUPPRESSED, transform=foot, ha="center",
                    va="bottom", fontsize=9, color=PALETTE[g])
    ax.set_xlabel(label("month", language))
    ax.set_ylabel(label("degree", language))
    ax.set_ylim(0, 100)
    ax.legend(frameon=False)
    return fig, data


def cuminc_figure(est: Estimates, rules: Rules, language: str) -> tuple:
    """Cumulative incidence of a new spell after return (death/emigration competing): the
    published curve `safe_cuminc`, whose table holds the rounded counts it rests on."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    shown = safe_cuminc(est.cuminc, rules)
    for g in GROUPS:
        c = shown[shown["Grupp"] == g]
        ax.step(np.concatenate([[0], c["time"]]), np.concatenate([[0.0], c["est"]]),
                where="post", color=PALETTE[g], label=label(g, language))
    ax.set_xlabel(label("days_after_return", language))
    ax.set_ylabel(label("cuminc", language))
    ax.legend(frameon=False)
    return fig, shown


def forest_figure(est: Estimates, pub: Counts, language: str) -> tuple:
    """Hazard ratio for return per subgroup level (log scale); a withheld level keeps its row,
    marked "× skyddad" (`style.mark_withheld`) instead of drawn. Its table has every level,
    a withheld one with `suppressed` and no numbers."""
    rows = []
    for r in est.subgroups.itertuples():
        shown = bool(subgroup_shown(est, pub, r.variable, r.level)[0])
        rows.append({"label": f"{label(r.variable, language)}: {label(r.level, language)}",
                     "suppressed": not shown, "hr": r.hr if shown else np.nan,
                     "low": r.hr_low if shown else np.nan,
                     "high": r.hr_high if shown else np.nan})
    data = pd.DataFrame(rows, columns=["label", "suppressed", "hr", "low", "high"])
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(data) + 1.2))
    y = np.arange(len(data))[::-1]
    drawn = ~data["suppressed"].to_numpy(bool)
    d = data[drawn]
    ax.errorbar(d["hr"], y[drawn], xerr=[d["hr"] - d["low"], d["high"] - d["hr"]],
                fmt="o", color=ARM_COLOURS[0], capsize=3)
    for row in y[~drawn]:
        mark_withheld(ax, row, language, across=True)
    ax.axvline(1.0, color="0.4", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(y, data["label"])
    ax.set_ylim(-0.6, len(data) - 0.4)
    ax.set_xlabel(label("hr", language))
    return fig, data


def all_figures(est: Estimates, pub: Counts, flow: Mapping, out_dir, language: str,
                km_times: list[int]) -> dict[str, list]:
    """Every figure of the appendix as PNG + SVG + the CSV of its numbers."""
    set_style(language)
    saved = {}
    fig, cells = flow_figure(pub, flow, language)
    saved["flode"] = save(fig, f"{out_dir}/flode", cells)
    fig, curves, at_risk = km_figure(est, pub.rules, language, km_times)
    saved["atergang_km"] = save(fig, f"{out_dir}/atergang_km", curves)
    at_risk.to_csv(f"{out_dir}/atergang_km_antal_i_risk.csv", index=False, lineterminator="\n")
    for name, (fig, data) in {"sjukskrivningsgrad": degree_figure(est, pub.rules, language),
                              "aterinsjuknande": cuminc_figure(est, pub.rules, language),
                              "forest_undergrupper": forest_figure(est, pub, language)}.items():
        saved[name] = save(fig, f"{out_dir}/{name}", data)
    return saved


def methods_text(params: Mapping, language: str, n_centres: int) -> str:
    """The methods section from the study's parameters (template `metod`); `n_centres`: the
    care centres in the analysis (the clusters of the robust intervals)."""
    d, a = params["derivation"], params["analysis"]
    return texts.render(
        STUDY, "metod", language, gap_days=d["gap_days"], after_days=d["after_days"],
        follow_up_months=d["follow_up_months"], full_return_days=d["full_return_days"],
        randomised=bool(a.get("randomised", True)),
        conf=texts.conf_percent(a["conf_level"], language),
        n_centres=number(n_centres, 0, language),
        min_cell=Rules.from_params(params["report"]).threshold)


def result_sentences(est: Estimates, language: str, pub: Counts | None = None) -> list[str]:
    """The main findings as sentences, numbers from the estimates; with the IPT-weighted
    estimates (a non-randomised comparison) a sentence on them too. With `pub`, a number the
    main table withholds (`shown_measure`) is printed as withheld."""
    m = est.main.set_index("measure")
    if pub is not None:
        hidden = [k for k in m.index if not shown_measure(est, pub, k)]
        m.loc[hidden, ["estimate", "conf_low", "conf_high", "pvalue"]] = np.nan
    hr, hl, fr = m.loc["hr_adjusted"], m.loc["hodges_lehmann"], m.loc["risk_difference"]
    rr = m.loc["rate_ratio"]
    med = {g: m.loc[f"median_days_{g}"] for g in GROUPS}

    def num(value: float, k: int) -> str:  # NaN here is a withheld number
        return SUPPRESSED if pd.isna(value) else number(value, k, language)

    def pv(value: float) -> str:
        return SUPPRESSED if pd.isna(value) else pvalue(value, language)

    def ci(r, k=2, s=1.0):
        return (SUPPRESSED if pd.isna(r.conf_low) else
                interval(r.conf_low * s, r.conf_high * s, k, language))

    kl = texts.conf_label(conf_level(est), language)

    sentences = words("resultat", language)
    out = [texts.fill(sentences["main"], median_coordinator=num(med[GROUPS[0]].estimate, 0),
                      median_control=num(med[GROUPS[1]].estimate, 0), hr=num(hr.estimate, 2),
                      ci=kl, hr_interval=ci(hr), p=pv(hr.pvalue)),
           texts.fill(sentences["net_days"], net_days=num(hl.estimate, 1), ci=kl,
                      net_days_interval=ci(hl, 1)),
           texts.fill(sentences["full_return"], full_return=num(100 * fr.estimate, 1), ci=kl,
                      full_return_interval=ci(fr, 1, 100.0), rate_ratio=num(rr.estimate, 2),
                      rate_ratio_interval=ci(rr))]
    if "hr_iptw" in m.index:
        wh, wn, wf = (m.loc[k] for k in ("hr_iptw", "net_days_iptw_difference",
                                           "risk_difference_iptw"))
        out.append(texts.fill(sentences["iptw"], hr=num(wh.estimate, 2), ci=kl,
                              hr_interval=ci(wh), net_days=num(wn.estimate, 1),
                              net_days_interval=ci(wn, 1),
                              full_return=num(100 * wf.estimate, 1),
                              full_return_interval=ci(wf, 1, 100.0)))
    return out


#: (kind, number) of each table and figure, in appendix order; their texts and the headings
#: are in `text/<language>/bildtexter.yaml` and `rubriker.yaml` beside the notebooks.
CAPTIONS = {
    "flode": ("figure", 1),
    "flow": ("table", 1),
    "table1": ("table", 2),
    "main": ("table", 3),
    "atergang_km": ("figure", 2),
    "sjukskrivningsgrad": ("figure", 3),
    "aterinsjuknande": ("figure", 4),
    "subgroups": ("table", 4),
    "forest_undergrupper": ("figure", 5),
    "centres": ("table", 5),
}



class Text(AppendixText):
    """The study's headings and captions (`AppendixText`), and its disclosure paragraph;
    `conf_level` (0–1, `conf_level(estimates)`) is named in the captions of intervals."""

    def __init__(self, language: str, conf_level: float) -> None:
        super().__init__(language, *texts.appendix_words(STUDY, CAPTIONS))
        object.__setattr__(self, "conf_level", conf_level)  # AppendixText is frozen

    def caption(self, key: str) -> str:
        return texts.fill(
            super().caption(key),
            conf=texts.conf_percent(self.conf_level, self.language),
            ci=texts.conf_label(self.conf_level, self.language))

    def disclosure(self, pub: Counts) -> str:
        """The release rules (template `rojande`)."""
        return texts.render(STUDY, "rojande", self.language,
                            statement=pub.statement(self.language),
                            rules=pub.rules.describe(self.language),
                            min_cell=pub.rules.threshold)
