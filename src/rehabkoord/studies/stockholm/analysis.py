"""The spell study's analysis table and estimates.

One row per analysed participant (`analysis_table`), built from the shared spell derivations
(`rehabkoord.spells`): time to return from the index spell, full return, net days and mean
sick-leave degree over follow-up, re-sick-listings after return, and the pre-specified
subgroups. `estimate` computes every published estimate with the shared, R-identical
statistics (`survival`, `causal`, `stats`); patients are clustered by vårdcentral throughout.
Days are calendar days from the index date; net days are Σ degree/100.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ... import causal, spells, survival
from ...contract import GROUP_CONTROL, GROUP_COORDINATOR, PERSON_KEY, SEX_CODES
from ...io import DeliveryError, atomic_outputs, read_json, stage_step, write_json, write_parquet
from ...registeryears import year_before_values
from ...spells import Derived
from ...stats import categorical_test, risk_difference, wilcox_test
from ...subgroups import NOTES, effect_by_level
from .data import Deliveries

GROUPS = (GROUP_COORDINATOR, GROUP_CONTROL)
#: Subgroup variables and their levels, in the order the appendix shows them.
SUBGROUPS: dict[str, tuple[str, ...]] = {
    "Diagnosgrupp": ("mental", "pain", "both", "other"),
    "PriorCategory": ("none", "1-90", ">90"),
    "care": ("low", "high"),
    "sex": ("kvinna", "man"),
}
#: Adjustment set of the adjusted Cox model (pre-specified in the issue).
ADJUST = ("age", "sex", "Diagnosgrupp", "PriorCategory")


def analysis_table(derived: Derived, participants: pd.DataFrame, background: pd.DataFrame,
                   care_cut: int, registers: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per analysed participant (with an index spell and time at risk).

    `care_cut`: care visits in the year before index at or above which care use is "high".
    Also the history the risk model scores at the index spell's start (`PriorRef`): net days
    and earlier spells in the 3 years before, and, from `registers`, LISA's income
    (`DispInk04`) and BAS's main activity (`BAS`) in the year before (missing when not
    delivered).
    """
    returns = derived.returns.df()
    table = (returns[[PERSON_KEY, "IndexDatum", "FollowUpEnd", "EndReason", "Returned",
                      "ReturnDays", "FullReturn"]]
             .merge(derived.groups.df()[[PERSON_KEY, "Diagnosgrupp"]], on=PERSON_KEY)
             .merge(derived.prior.df()[[PERSON_KEY, "PriorRef", "NetDays12m", "NetDays36m",
                                        "Spells36m", "PriorCategory"]], on=PERSON_KEY)
             .merge(derived.resick.df()[[PERSON_KEY, "NewSpells", "PersonYears", "ResickDays",
                                         "ResickStatus"]], on=PERSON_KEY, how="left")
             .merge(participants[[PERSON_KEY, "Grupp", "Vardcentral", "Omrade",
                                  "VardbesokForeAr"]], on=PERSON_KEY)
             .merge(background, on=PERSON_KEY))
    months = derived.months.df().groupby(PERSON_KEY)[["NetDays", "AtRiskDays"]].sum()
    table = table.merge(months, left_on=PERSON_KEY, right_index=True, how="left")
    table["NetDays"] = table["NetDays"].fillna(0.0)
    table["FollowUpDays"] = (pd.to_datetime(table["FollowUpEnd"])
                             - pd.to_datetime(table["IndexDatum"])).dt.days
    table["MeanDegree"] = 100.0 * table["NetDays"] / table["FollowUpDays"]
    table["age"] = pd.to_datetime(table["IndexDatum"]).dt.year - table["FodelseAr"].astype(int)
    table["sex"] = table["Kon"].astype(int).map(SEX_CODES)
    visits = table["VardbesokForeAr"]
    table["care"] = np.where(visits.isna(), None, np.where(visits >= care_cut, "high", "low"))
    regs = registers if registers is not None else pd.DataFrame(columns=[PERSON_KEY, "Ar"])
    before = year_before_values(table, regs, [c for c in ("DispInk04", "BAS")
                                              if c in regs.columns], date_column="PriorRef")
    table["DispInk04"] = before["DispInk04"] if "DispInk04" in before else np.nan
    table["BAS"] = before["BAS"].astype("Int64") if "BAS" in before else pd.NA
    table["BAS"] = table["BAS"].astype("Int64")
    table["Grupp"] = pd.Categorical(table["Grupp"], GROUPS)
    table["coordinator"] = (table["Grupp"] == GROUP_COORDINATOR).astype(int)
    for name, levels in SUBGROUPS.items():
        table[name] = pd.Categorical(table[name], levels)
    return table.drop(columns=["Kon"]).sort_values(PERSON_KEY, kind="stable").reset_index(
        drop=True)


def derive(d: Deliveries, derivation: Mapping, extraction_date: str,
           mapping: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The analysis table, the month table (mean degree per person and month since index) and
    the flow, from validated deliveries and the `derivation:` parameters."""
    derived = spells.derive_all(d.periods, d.participants, d.population, d.background,
                                extraction_date=extraction_date,
                                months=int(derivation["follow_up_months"]),
                                after_days=int(derivation["after_days"]),
                                gap_days=int(derivation["gap_days"]),
                                full_return_days=int(derivation["full_return_days"]),
                                mapping=mapping)
    table = analysis_table(derived, d.participants, d.background, int(derivation["care_cut"]),
                           d.registers)
    months = derived.months.df()[[PERSON_KEY, "Month", "AtRiskDays", "NetDays", "MeanDegree"]]
    months = months[months[PERSON_KEY].isin(table[PERSON_KEY])].reset_index(drop=True)
    flow = {**derived.flow, "by_group": flow_by_group(derived, d.participants)}
    return table, months, {"reading": d.flow, "derivation": flow}


def flow_by_group(derived: Derived, participants: pd.DataFrame) -> dict[str, dict]:
    """The derivations' flow (`spells.flow`) within each group, for the flow diagram's arms;
    the groups' counts add up to the whole flow's."""
    index, follow = derived.index.df(), derived.follow.df()
    out = {}
    for group in GROUPS:
        ids = set(participants.loc[participants["Grupp"] == group, PERSON_KEY].astype(str))
        out[group] = spells.flow(index[index[PERSON_KEY].astype(str).isin(ids)],
                                 follow[follow[PERSON_KEY].astype(str).isin(ids)])
    for key in ("participants", *spells.FLOW_STATUSES):
        total = (derived.flow["participants"] if key == "participants"
                 else derived.flow["by_status"][key])
        parts = [f["participants"] if key == "participants" else f["by_status"][key]
                 for f in out.values()]
        if sum(parts) != total:
            raise ValueError(f"flow by group does not add up for {key!r}: {parts} vs {total}")
    return out


TABLES = ("main", "km", "months", "cuminc", "subgroups", "balance", "centres", "magnitudes")
#: How many of a group's largest values `magnitudes` keeps: enough for the dominance rules
#: (`report.dominance` up to this n) without keeping every person's value.
LARGEST = 5


@dataclass
class Estimates:
    """Every published estimate as tidy tables (one row per estimate or curve point), and the
    `notes` on what the data did not allow (`Note`: the appendix prints each)."""

    main: pd.DataFrame
    km: pd.DataFrame
    months: pd.DataFrame
    cuminc: pd.DataFrame
    subgroups: pd.DataFrame
    balance: pd.DataFrame
    centres: pd.DataFrame
    magnitudes: pd.DataFrame
    notes: list[dict] = field(default_factory=list)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Every table as Parquet (for the report) and CSV (for readers), and the notes as
        JSON (`notes.json`), all or nothing."""
        out = Path(out_dir)
        frames = {name: getattr(self, name) for name in TABLES}
        targets = [out / f"{n}.{ext}" for n in frames for ext in ("parquet", "csv")]
        targets.append(out / "notes.json")
        with atomic_outputs(*targets) as temps:
            for frame, parquet, csv in zip(frames.values(), temps[:-1:2], temps[1:-1:2],
                                           strict=True):
                write_parquet(frame, parquet)
                frame.to_csv(csv, index=False, float_format="%.10g", lineterminator="\n")
            write_json(self.notes, temps[-1])
        return targets

    @classmethod
    def read(cls, in_dir) -> Estimates:
        notes = Path(in_dir) / "notes.json"
        return cls(**{name: pd.read_parquet(Path(in_dir) / f"{name}.parquet") for name in TABLES},
                   notes=read_json(notes) if notes.is_file() else [])


# The kinds of note `estimate` writes, with their fields (every note has `kind`):
# - `aliased`: a model term left out as R leaves it out (NA), e.g. an empty factor level;
#   `estimate` (the measure), `variable`, `level` (the term's factor and level, or the
#   column and "" for a numeric one), `n` (persons at that level: 0 for an empty one);
# - `infinite`: a model term whose coefficient may be infinite (R's coxph: "Loglik converged
#   before variable k; coefficient may be infinite"), e.g. a level where no one returned;
#   same fields as `aliased`. Its hazard ratio is not estimated (NaN); the other terms are
#   at the limit. For `variable` "coordinator" the row's estimate itself is NaN;
# - `rows_left_out`: `estimate`, `n` persons without a value of an adjustment variable;
# - `subgroup_level`: `variable`, `level`, `note` (a key of `subgroups.NOTES`) and `reason`
#   (its English text): the level has counts only;
# - `interaction_not_tested`: `variable`: fewer than two levels with events in both arms;
# - `centre_without_return`: `centre`, `group`, `n`: no return observed, so no median;
# - `month_one_centre`: `month`, `group`: that month's persons at risk are all at one
#   vårdcentral, so its mean degree has no cluster-robust interval.
STUDY, STAGE = "stockholm", "analyse"



def _dummies(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Numeric design columns, factors in R's treatment coding (first level is reference)."""
    parts = []
    for col in columns:
        s = table[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            cat = pd.Categorical(s)
            parts.append(pd.get_dummies(cat, prefix=col, drop_first=True, dtype=float)
                         .set_axis(table.index).where(s.notna()))  # missing stays missing
        else:
            parts.append(s.astype(float).rename(col))
    return pd.concat(parts, axis=1)


def _row(outcome: str, measure: str, estimate: float, low: float, high: float, p: float,
         method: str, n: int = 0, params: int = 0) -> dict:
    """One estimate; `n` observations and `params` estimated parameters when it comes from a
    model (the report withholds estimates with fewer residual degrees of freedom than
    `report.min_df`)."""
    return {"outcome": outcome, "measure": measure, "estimate": float(estimate),
            "conf_low": float(low), "conf_high": float(high), "pvalue": float(p),
            "method": method, "n": int(n), "params": int(params)}


def _term_level(term: str, adjust: tuple[str, ...]) -> tuple[str, str]:
    """`Diagnosgrupp_both` -> ("Diagnosgrupp", "both"): a dummy column's factor and level."""
    for col in sorted(adjust, key=len, reverse=True):
        if term.startswith(f"{col}_"):
            return col, term[len(col) + 1:]
    return term, ""


def _aliased_notes(measure: str, x: pd.DataFrame, aliased: tuple, adjust: tuple[str, ...],
                   kind: str = "aliased") -> list[dict]:
    return [{"kind": kind, "estimate": measure,
             **dict(zip(("variable", "level"), _term_level(term, adjust), strict=True)),
             "n": int((x[term] != 0).sum())} for term in aliased]


def _cox_row(table: pd.DataFrame, outcome: str, measure: str, adjust: tuple[str, ...],
             conf_level: float, notes: list[dict], weights: np.ndarray | None = None) -> dict:
    """The coordinator's hazard ratio for return; aliased terms (an empty level of an
    adjustment factor) are left out as R does and noted, and so are persons without a value
    of an adjustment variable (counted). A term whose coefficient may be infinite (a level
    where no one returned) is noted; if it is the coordinator's, the row has no estimate."""
    x = _dummies(table, ("coordinator", *adjust))
    keep = x.notna().all(axis=1)
    if not keep.all():
        notes.append({"kind": "rows_left_out", "estimate": measure, "n": int((~keep).sum())})
    with stage_step(STUDY, STAGE, f"the hazard ratio {measure!r}",
               "check the participants' groups and index spells (data.participants, "
               "derivation.*) in the flow of 02_harled.ipynb"):
        fit = survival.cox(table.loc[keep, "ReturnDays"], table.loc[keep, "Returned"],
                           x[keep], cluster=table.loc[keep, "Vardcentral"],
                           weights=None if weights is None else weights[keep.to_numpy()],
                           conf_level=conf_level)
    if "coordinator" in fit.aliased:
        raise DeliveryError(f"{STUDY}, stage {STAGE}: the hazard ratio {measure!r} cannot be "
                            "estimated: the coordinator indicator is aliased (one group only, "
                            "or the group is determined by the adjustment variables) → check "
                            "data.participants' Grupp")
    notes.extend(_aliased_notes(measure, x[keep], fit.aliased, adjust))
    notes.extend(_aliased_notes(measure, x[keep], fit.infinite, adjust, "infinite"))
    return _row(outcome, measure, fit.hr[0], fit.conf_low[0], fit.conf_high[0], fit.pvalue[0],
                "Cox (Efron), robust SE by vårdcentral", fit.n,
                len(fit.coef) - len(fit.aliased))


IPTW_METHOD = ("IPT-weighted difference in means (logistic propensity score, ATE weights), "
               "cluster-robust (CR1, t with G−1 df), propensity model taken as known")


def _iptw_row(t: pd.DataFrame, y: str, weights: np.ndarray, outcome: str, measure: str,
              conf: float) -> dict:
    """Difference in IPT-weighted means of `y` (weighted least squares), CR1 by vårdcentral."""
    d = causal.weighted_mean_difference(t[y], t["Grupp"], t["Vardcentral"], weights, conf,
                                        treated=GROUP_COORDINATOR)
    return _row(outcome, measure, d.estimate, d.conf_low, d.conf_high, d.pvalue, IPTW_METHOD,
                len(t), 2)


def estimate(table: pd.DataFrame, months: pd.DataFrame, params: Mapping) -> Estimates:
    """Every estimate of the appendix from the analysis table and the derivations' month table
    (`spells.degree_by_month`); `params` is the `analysis:` section (conf_level,
    cuminc_times, randomised)."""
    conf = float(params["conf_level"])
    t = table
    g = t["Grupp"]
    _check_design(t)
    rows: list[dict] = []
    notes: list[dict] = []
    with stage_step(STUDY, STAGE, "the log-rank test", HINT):
        lr = survival.logrank(t["ReturnDays"], t["Returned"], g)
    km_rows, medians = [], {}
    for group in GROUPS:
        part = t[g == group]
        fit = survival.kaplan_meier(part["ReturnDays"], part["Returned"], conf_level=conf)
        medians[group] = fit
        km_rows.append(pd.DataFrame({"Grupp": group, "time": fit.time, "n_risk": fit.n_risk,
                                     "n_event": fit.n_event, "n_censor": fit.n_censor,
                                     "surv": fit.surv, "lower": fit.lower, "upper": fit.upper,
                                     "conf_level": conf}))
        rows.append(_row("return", f"median_days_{group}", fit.median, fit.median_lower,
                         fit.median_upper, np.nan, "Kaplan–Meier, log CI"))
    rows.append(_row("return", "logrank_chisq", lr.statistic, np.nan, np.nan, lr.pvalue,
                     "log-rank"))
    rows.append(_cox_row(t, "return", "hr_unadjusted", (), conf, notes))
    rows.append(_cox_row(t, "return", "hr_adjusted", ADJUST, conf, notes))
    iptw = None
    if not params.get("randomised", True):
        x = _dummies(t, ADJUST)
        if x.isna().any(axis=None):
            raise DeliveryError(f"{STUDY}, stage {STAGE}: the propensity model needs "
                                f"{', '.join(ADJUST)} for every participant; "
                                f"{int(x.isna().any(axis=1).sum())} lack one → check the "
                                "delivery (data.lisa, data.participants)")
        with stage_step(STUDY, STAGE, "the propensity weights (IPTW)", HINT):
            ps = causal.propensity_weights(t["coordinator"], x)
        notes.extend(_aliased_notes("propensity", x, ps.aliased, ADJUST))
        iptw = np.asarray(ps.weights)
        rows.append(_cox_row(t, "return", "hr_iptw", (), conf, notes, iptw))

    coord, ctl = t[g == GROUP_COORDINATOR], t[g == GROUP_CONTROL]
    w = wilcox_test(coord["NetDays"], ctl["NetDays"], conf_level=conf)
    rows.append(_row("net_days", "hodges_lehmann", w.estimate, w.conf_low, w.conf_high,
                     w.pvalue, "Wilcoxon rank sum, Hodges–Lehmann"))
    cm = causal.cluster_mean_difference(t["NetDays"], g, t["Vardcentral"], conf,
                                        treated=GROUP_COORDINATOR)
    rows.append(_row("net_days", "net_days_mean_difference", cm.estimate, cm.conf_low, cm.conf_high,
                     cm.pvalue, "difference in means, cluster-robust (CR1, t with G−1 df)",
                     len(t), 2))
    cd = causal.cluster_mean_difference(t["MeanDegree"], g, t["Vardcentral"], conf,
                                        treated=GROUP_COORDINATOR)
    rows.append(_row("mean_degree", "degree_mean_difference", cd.estimate, cd.conf_low, cd.conf_high,
                     cd.pvalue, "difference in means, cluster-robust (CR1, t with G−1 df)",
                     len(t), 2))
    if iptw is not None:
        for outcome, measure, y in (("net_days", "net_days_iptw_difference", "NetDays"),
                                    ("mean_degree", "degree_iptw_difference", "MeanDegree")):
            rows.append(_iptw_row(t, y, iptw, outcome, measure, conf))

    fr = t[t["FullReturn"].notna()]
    x1 = int(fr.loc[fr["Grupp"] == GROUP_COORDINATOR, "FullReturn"].sum())
    n1 = int((fr["Grupp"] == GROUP_COORDINATOR).sum())
    x2 = int(fr.loc[fr["Grupp"] == GROUP_CONTROL, "FullReturn"].sum())
    n2 = int((fr["Grupp"] == GROUP_CONTROL).sum())
    if min(n1, n2) == 0:
        raise DeliveryError(f"{STUDY}, stage {STAGE}: full return cannot be compared: "
                            f"{n1} coordinator and {n2} control participants returned early "
                            "enough to be followed for derivation.full_return_days → a later "
                            "data.extraction_date or a shorter derivation.full_return_days")
    with stage_step(STUDY, STAGE, "the risk difference of full return", HINT):
        rd = risk_difference(x1, n1, x2, n2, conf_level=conf)
        test = categorical_test([[x1, n1 - x1], [x2, n2 - x2]])
    rows.append(_row("full_return", "risk_difference", rd.estimate, rd.conf_low, rd.conf_high,
                     test.pvalue, f"Newcombe interval; {test.method}"))
    if iptw is not None:
        keep = t["FullReturn"].notna().to_numpy()
        rows.append(_iptw_row(fr.assign(FullReturn=fr["FullReturn"].astype(float)), "FullReturn",
                              iptw[keep], "full_return", "risk_difference_iptw", conf))

    after = t[t["ResickStatus"].notna()]
    for group in GROUPS:
        if not (after["Grupp"] == group).any():
            raise DeliveryError(f"{STUDY}, stage {STAGE}: no participant of group {group!r} "
                                "returned, so re-sick-listing cannot be compared → "
                                "derivation.follow_up_months (a longer follow-up) or a later "
                                "data.extraction_date")
    with stage_step(STUDY, STAGE, "Gray's test of re-sick-listing", HINT):
        gray = survival.gray_test(after["ResickDays"], after["ResickStatus"], after["Grupp"])
    rows.append(_row("resick", "gray_chisq", gray.statistic, np.nan, np.nan, gray.pvalue,
                     "Gray's test (death/emigration competing)"))
    with stage_step(STUDY, STAGE, "the rate ratio of new spells", HINT):
        rr = survival.poisson_rate_ratio(after["NewSpells"], after["PersonYears"],
                                         pd.Categorical(after["Grupp"], [GROUP_CONTROL,
                                                                          GROUP_COORDINATOR]),
                                         cluster=after["Vardcentral"], conf_level=conf)
    rows.append(_row("resick", "rate_ratio", rr.ratio[-1], rr.conf_low[-1], rr.conf_high[-1],
                     rr.pvalue[-1], "Poisson, person-years after return, robust SE by "
                     "vårdcentral", len(after), 2))
    ci_rows = []
    for group in GROUPS:
        part = after[after["Grupp"] == group]
        fit = survival.cumulative_incidence(part["ResickDays"], part["ResickStatus"],
                                            conf_level=conf)
        at = survival.cumulative_incidence_at(fit, params["cuminc_times"])
        ci_rows.append(_cuminc_rows(part, fit, group, conf))
        for time, est, lo, hi in zip(at.time, at.est, at.lower, at.upper, strict=True):
            rows.append(_row("resick", f"cuminc_{int(time)}d_{group}", est, lo, hi, np.nan,
                             "Aalen–Johansen"))

    with stage_step(STUDY, STAGE, "the subgroup analyses", HINT):
        subgroups = _subgroups(t, conf)
    notes.extend(_subgroup_notes(subgroups))
    centres = _centres(t, conf)
    notes.extend({"kind": "centre_without_return", "centre": str(r.Vardcentral),
                  "group": str(r.Grupp), "n": int(r.n)}
                 for r in centres.itertuples() if r.returns == 0)
    with stage_step(STUDY, STAGE, "the mean degree per month", HINT):
        monthly = monthly_degree(months, t, conf)
    notes.extend({"kind": "month_one_centre", "month": int(r.Month), "group": str(r.Grupp)}
                 for r in monthly.itertuples() if r.centres < 2)
    return Estimates(main=pd.DataFrame(rows), km=pd.concat(km_rows, ignore_index=True),
                     months=monthly, cuminc=pd.concat(ci_rows, ignore_index=True),
                     subgroups=subgroups, balance=_balance(t), centres=centres,
                     magnitudes=magnitudes(t), notes=notes)


HINT = ("check the delivery and the derivation's flow (02_harled.ipynb): data.participants, "
        "data.periods, derivation.*")


def _check_design(t: pd.DataFrame) -> None:
    """What every comparison needs, checked before any is computed: persons with an index
    spell in both groups, and at least two vårdcentraler (the cluster-robust variances)."""
    for group in GROUPS:
        if not (t["Grupp"] == group).any():
            raise DeliveryError(f"{STUDY}, stage {STAGE}: no analysed participant in group "
                                f"{group!r} ({len(t)} analysed in all) → check Grupp in "
                                "data.participants and the flow of 02_harled.ipynb")
    centres = t["Vardcentral"].nunique()
    if centres < 2:
        raise DeliveryError(f"{STUDY}, stage {STAGE}: the cluster-robust variances need at "
                            f"least two vårdcentraler; the analysed participants are in "
                            f"{centres} → check Vardcentral in data.participants (data.centres)")


def _subgroup_notes(subgroups: pd.DataFrame) -> list[dict]:
    """A note per level with counts only, and per variable whose interaction is not tested
    (a variable with no data at all gets only its levels' notes)."""
    notes = [{"kind": "subgroup_level", "variable": r.variable, "level": r.level,
              "note": r.note, "reason": NOTES[r.note]}
             for r in subgroups.itertuples() if r.note]
    for variable, part in subgroups.groupby("variable", sort=False):
        if (part["interaction_df"] == 0).all() and (part["note"] == "").sum() > 0:
            notes.append({"kind": "interaction_not_tested", "variable": variable})
    return notes


def _cuminc_rows(part: pd.DataFrame, fit: survival.CumIncResult, group: str,
                 conf: float) -> pd.DataFrame:
    """The cumulative incidence at every distinct time after return (the estimate carried
    forward between the cause's events), with the counts it rests on: at risk, new spells,
    competing events (death, emigration) and censorings. The report rounds these counts
    before anything is published (`report.safe_cuminc`)."""
    time = part["ResickDays"].to_numpy(float)
    status = part["ResickStatus"].to_numpy(float)
    ut, inv = np.unique(time, return_inverse=True)
    counts = {name: np.bincount(inv, weights=(status == code).astype(float),
                                minlength=ut.size).astype(int)
              for name, code in (("n_event", 1), ("n_compete", 2), ("n_censor", 0))}
    n_risk = np.cumsum(np.bincount(inv, minlength=ut.size)[::-1])[::-1]
    idx = np.searchsorted(fit.time, ut, side="right") - 1
    have = idx >= 0
    pick = np.maximum(idx, 0)

    def carried(values: np.ndarray, before: float) -> np.ndarray:
        return np.where(have, values[pick], before) if values.size else np.full(ut.size, before)

    return pd.DataFrame({"Grupp": group, "time": ut, "n_risk": n_risk, **counts,
                         "est": carried(fit.est, 0.0), "lower": carried(fit.lower, np.nan),
                         "upper": carried(fit.upper, np.nan), "conf_level": conf})


def _largest(values: pd.Series) -> dict:
    """A group's size, total and largest absolute values: what the dominance rules need
    (`disclosure.magnitude_reason_of`), never every person's value."""
    x = np.sort(np.abs(values.dropna().to_numpy(float)))[::-1]
    return {"n": int(x.size), "total": float(x.sum()),
            **{f"largest_{i + 1}": float(x[i]) if i < x.size else np.nan
               for i in range(LARGEST)}}


def magnitudes(t: pd.DataFrame) -> pd.DataFrame:
    """Per published mean of days or counts of visits (Table 1's means, the main table's net
    days and degree, the centres' mean net days, net days per subgroup level), per group:
    n, total and the largest values, so the report can apply the dominance rules without the
    persons' values."""
    rows = []
    for var in ("age", "NetDays12m", "VardbesokForeAr"):
        for group, part in t.groupby("Grupp", observed=True, sort=True):
            rows.append({"table": "balance", "variable": var, "level": "", "Grupp": group,
                         **_largest(part[var])})
    for var in ("NetDays", "MeanDegree"):
        for group, part in t.groupby("Grupp", observed=True, sort=True):
            rows.append({"table": "main", "variable": var, "level": "", "Grupp": group,
                         **_largest(part[var])})
    for (centre, group), part in t.groupby(["Vardcentral", "Grupp"], observed=True, sort=True):
        rows.append({"table": "centres", "variable": "NetDays", "level": str(centre),
                     "Grupp": group, **_largest(part["NetDays"])})
    for var, levels in SUBGROUPS.items():
        for level in levels:
            for group in GROUPS:
                part = t[(t[var] == level) & (t["Grupp"] == group)]
                rows.append({"table": "subgroups", "variable": var, "level": level,
                             "Grupp": group, **_largest(part["NetDays"])})
    out = pd.DataFrame(rows)
    out["Grupp"] = out["Grupp"].astype(str)
    return out


def monthly_degree(months: pd.DataFrame, table: pd.DataFrame, conf_level: float
                   ) -> pd.DataFrame:
    """Mean sick-leave degree (0–100) per month since index and group, over the persons at
    risk that month, with a cluster-robust CI (vårdcentral; none when that month's persons
    are all at one: `centres` 1), and the month's n, total and largest values (for the
    report's dominance rules; not published)."""
    m = months[months["AtRiskDays"] > 0].merge(table[[PERSON_KEY, "Grupp", "Vardcentral"]],
                                               on=PERSON_KEY)
    rows = []
    for (month, group), part in m.groupby(["Month", "Grupp"], observed=True, sort=True):
        centres = int(part["Vardcentral"].nunique())
        if centres > 1:
            ci = causal.cluster_mean_ci(part["MeanDegree"], part["Vardcentral"], conf_level)
            mean, lower, upper = ci.estimate, ci.conf_low, ci.conf_high
        else:  # one vårdcentral: no cluster-robust interval (noted by `estimate`)
            mean, lower, upper = float(part["MeanDegree"].mean()), np.nan, np.nan
        rows.append({"Month": int(month), "Grupp": group, "n": len(part), "centres": centres,
                     "mean": mean, "lower": lower, "upper": upper,
                     **{k: v for k, v in _largest(part["MeanDegree"]).items() if k != "n"}})
    return pd.DataFrame(rows)


def _subgroups(t: pd.DataFrame, conf: float) -> pd.DataFrame:
    """Within every level of every subgroup variable: the hazard ratio for return and the
    difference in mean net days (both cluster-robust), and per variable the interaction test
    (robust Wald test of coordinator × level in one Cox model), by `subgroups`."""
    return pd.concat([effect_by_level(t, var, levels, time="ReturnDays", event="Returned",
                                      outcome="NetDays", treated="coordinator",
                                      cluster="Vardcentral", conf_level=conf)
                      for var, levels in SUBGROUPS.items()], ignore_index=True).rename(
        columns={"n_treated": "n_coordinator"})


def _balance(t: pd.DataFrame) -> pd.DataFrame:
    """Table 1 by group with standardised mean differences (coordinator minus control)."""
    rows = []
    for var in ("age", "NetDays12m", "VardbesokForeAr"):
        data = t[t[var].notna()]
        r = causal.smd(data[var].astype(float), data["Grupp"], treated=GROUP_COORDINATOR)
        rows.append({"variable": var, "level": "", "coordinator": r.mean_treated[0],
                     "control": r.mean_reference[0], "smd": r.smd[0], "kind": r.kind})
    for var in ("sex", "Diagnosgrupp", "PriorCategory", "care"):
        data = t[t[var].notna()]
        r = causal.smd(data[var].astype(str), data["Grupp"], treated=GROUP_COORDINATOR,
                       kind="categorical")
        for i, level in enumerate(r.levels):
            rows.append({"variable": var, "level": level, "coordinator": r.mean_treated[i],
                         "control": r.mean_reference[i], "smd": r.smd[i], "kind": r.kind})
    return pd.DataFrame(rows)


def _centres(t: pd.DataFrame, conf: float) -> pd.DataFrame:
    """Per vårdcentral: patients, returns, median days to return (Kaplan–Meier; NaN
    without a return, noted) and mean net days."""
    rows = []
    for (centre, group), part in t.groupby(["Vardcentral", "Grupp"], observed=True, sort=True):
        fit = survival.kaplan_meier(part["ReturnDays"], part["Returned"], conf_level=conf)
        rows.append({"Vardcentral": centre, "Grupp": group, "n": len(part),
                     "returns": int(fit.events), "median_return_days": fit.median,
                     "median_low": fit.median_lower, "median_high": fit.median_upper,
                     "mean_net_days": part["NetDays"].mean()})
    return pd.DataFrame(rows)
