"""The risk study's appendix: what may be published (decided by `rehabkoord.disclosure`),
the model card, display tables, the calibration plot and the decision curve, and the methods
text generated from the parameters, in Swedish or English.

Published people counts: the flow (spells, exclusions by reason, training and test years),
patients and events per sample and sex, and per risk group; each set adds up to its total,
so complementary suppression protects a small one. A row's rates and estimates are withheld
with its count. Nothing person-level is shown: the calibration smoother is drawn on a grid
and the decile points only where the decile holds at least `min_cell` patients with and
without the event.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ... import texts
from ...disclosure import (
    ROUND,
    SUPPRESSED,
    Counts,
    Key,
    Rules,
    Structure,
    magnitude_reason_of,
    published_step,
)
from ...fmt import interval, number
from ...io import atomic_outputs
from ...style import ARM_COLOURS, mark_withheld, save, set_style, withheld_label
from ...tables import AppendixText
from .analysis import SAMPLES, Results, years_text
from .effect import LARGEST, EffectByRisk
from .model import MODEL_FORMAT, PUBLISHED, RiskModel, Term

STUDY = "risk"
#: The level of the model's Wald intervals (`model.py`: z at 0,975) and of DeLong's AUC
#: interval (`prediction.auc`'s default): fixed by the model, not a parameter of this study.
MODEL_CONF_LEVEL = 0.95

def label(key: str, language: str) -> str:
    """A predictor's, level's or sample's words (`text/<language>/etiketter.yaml`); a key
    without words is shown as it is."""
    return texts.glossary(STUDY, "etiketter", language).get(key, key)


def words(name: str, language: str) -> dict:
    """The glossary `text/<language>/<name>.yaml` (`noter`: the tables' footnotes,
    `modellkort`: the model card, `resultat`: the main findings as sentences): the words are
    edited there, not here."""
    return texts.glossary(STUDY, name, language)


def unit(name: str, language: str) -> str:
    """A linear predictor's unit in words (`text/<language>/enheter.yaml`)."""
    return texts.glossary(STUDY, "enheter", language).get(name, name)


def column_label(column: str, language: str) -> str:
    """`diagnosis_group[mental]` as "Diagnosgrupp: psykisk ohälsa"; bands as "31–91"."""
    if "[" not in column:
        return label(column, language)
    term, level = column[:-1].split("[", 1)
    lvl = label(level, language)
    return f"{label(term, language)}: {lvl.replace('-', '–')}"


def definition(term: Term, language: str) -> str:
    """A predictor's definition for the model card, from the model file."""
    card = words("modellkort", language)
    per = unit(term.unit, language)
    name = label(term.name, language)
    if term.kind == "linear":
        text = texts.fill(card["linear"], name=name, unit=per)
        if term.cap is not None:
            text += texts.fill(card["linear_cap"], cap=number(term.cap, 0, language))
        if term.valid is not None and math.isfinite(term.valid[1]):
            lo, hi = (number(v, 0, language) for v in term.valid)
            text += texts.fill(card["linear_valid"], low=lo, high=hi)
        return text
    levels = [lvl.replace("-", "–") if term.kind == "bands" else label(lvl, language).lower()
              for lvl in term.labels()]
    return texts.fill(card["bands" if term.kind == "bands" else "categories"], name=name,
                      levels=", ".join(levels), unit=per, reference=levels[0])


def declare(res: Results, eff: EffectByRisk | None = None) -> Structure:
    """Every published people count and how they add up (with `eff`, also the spell study's
    participants per arm: not scored by reason and scored per risk group)."""
    s = Structure()
    if eff is not None:
        _declare_effect(s, eff)
    f = res.flow
    total = s.cell(("flow", "spells"), f["spells"], cost=50)
    dv = f.get("derivation") or {}
    if dv:
        s.relation(s.cell(("flow", "in_index_years"), dv["spells_in_index_years"], cost=50),
                   [s.cell(("flow", "later_spells"), dv["later_spells_same_person"], cost=20),
                    total])
    excl = [s.cell(("flow", "excluded", r), n) for r, n in sorted(f["excluded_outcome"].items())]
    s.relation(total, [*excl, s.cell(("flow", "with_outcome"), f["with_outcome"], cost=20)])
    s.relation(("flow", "with_outcome"),
               [s.cell(("flow", "years", smp), f[f"{smp}_years"], cost=20)
                for smp in ("training", "test")], rest=("flow", "other_years"))
    for smp in ("training", "test"):
        n = s.cell(("n", smp, "all"), f[smp]["n"], cost=20)
        ex = [s.cell(("flow", "excluded_" + smp, r), v)
              for r, v in sorted(f[f"excluded_{smp}"].items())]
        s.relation(("flow", "years", smp), [*ex, n])
        e = s.cell(("events", smp, "all"), f[smp]["events"], cost=10)
        s.relation(n, [e, s.cell(("nonevents", smp, "all"), f[smp]["n"] - f[smp]["events"],
                                 shown=False)])
        sexes = sorted(f["sex"])
        s.relation(n, [s.cell(("n", smp, x), f["sex"][x][smp]["n"], cost=5) for x in sexes],
                   rest=("n", smp, "sex missing"))
        s.relation(e, [s.cell(("events", smp, x), f["sex"][x][smp]["events"], cost=3)
                       for x in sexes], rest=("events", smp, "sex missing"))
        for x in sexes:
            nx = f["sex"][x][smp]
            s.relation(("n", smp, x), [("events", smp, x),
                                       s.cell(("nonevents", smp, x), nx["n"] - nx["events"],
                                              shown=False)])
        g = res.groups[res.groups["sample"] == smp]
        s.relation(n, [s.cell(("group_n", smp, r.group), int(r.n), cost=2) for r in g.itertuples()])
        s.relation(e, [s.cell(("group_events", smp, r.group), int(r.events)) for r in g.itertuples()])
        for r in g.itertuples():
            s.relation(("group_n", smp, r.group),
                       [("group_events", smp, r.group),
                        s.cell(("group_nonevents", smp, r.group), int(r.n - r.events),
                               shown=False)])
    return s


def _declare_effect(s: Structure, eff: EffectByRisk) -> None:
    f = eff.flow
    for arm in ("1", "0"):
        parts = [s.cell(("effect", "not_scored", r, arm), n[arm])
                 for r, n in sorted(f["not_scored"].items())]
        parts += [s.cell(("effect", g, arm), f["scored"][g][arm], cost=5) for g in f["scored"]]
        s.relation(s.cell(("effect", "participants", arm), f["participants"][arm], cost=50),
                   parts)


def statistic_needs(res: Results) -> list[tuple[Key, ...]]:
    """The counts each statistic computed from counts rests on, most important first: the
    decision curve (its treat-all line is the test years' share with the outcome), then each
    risk group's observed rate. Under rounding `Counts.protected` lets a statistic rest on
    true counts only where the audit allows it."""
    out = [(("n", "test", "all"), ("events", "test", "all"))]
    for smp in ("test", "training"):
        g = res.groups[res.groups["sample"] == smp]
        out += [(("group_n", smp, r.group), ("group_events", smp, r.group))
                for r in g.itertuples()]
    return out


def publish(res: Results, rules: Rules, eff: EffectByRisk | None = None) -> Counts:
    """Every published count, with primary and complementary suppression decided by
    `rehabkoord.disclosure` (under `report.protection: round` counts printed rounded and the
    statistics of counts decided by `statistic_needs`)."""
    return Counts.protected(declare(res, eff), rules, statistic_needs(res))


def _pct(x: float, language: str) -> str:
    return f"{number(100 * x, 1, language)} %"


def flow_table(res: Results, pub: Counts, language: str) -> pd.DataFrame:
    c_step = label("step", language)
    rows, levels = [], []

    def add(text: str, key: tuple, level: int = 0) -> None:
        rows.append({c_step: text, "n": pub.text(key, language)})
        levels.append(level)

    if res.flow.get("derivation"):
        add(label("flow_index_years", language), ("flow", "in_index_years"))
        add(label("flow_later_spells", language), ("flow", "later_spells"), 1)
    add(label("flow_spells", language), ("flow", "spells"))
    for r in sorted(res.flow["excluded_outcome"]):
        add(texts.fill(label("flow_excluded", language), reason=_reason(r, language)),
            ("flow", "excluded", r), 1)
    add(label("flow_with_outcome", language), ("flow", "with_outcome"))
    for smp in ("training", "test"):
        years = res.model.validation[f"{'train' if smp == 'training' else 'test'}_years"]
        add(f"{label(smp, language)} {years_text(years)}", ("flow", "years", smp), 1)
        for r in sorted(res.flow[f"excluded_{smp}"]):
            add(texts.fill(label("flow_not_scored", language), reason=r),
                ("flow", f"excluded_{smp}", r), 1)
        add(label("analysed", language), ("n", smp, "all"), 1)
    out = pd.DataFrame(rows)
    out.attrs.update(levels=levels, numeric=["n"])
    return out


def _reason(reason: str, language: str) -> str:
    """An exclusion reason of the analysis (English words) in the report language: its words
    replaced in the order of `reason_words` in `etiketter.yaml`."""
    for analysis_words, text in texts.glossary(STUDY, "etiketter", language)["reason_words"].items():
        reason = reason.replace(analysis_words, text)
    return reason


def _df_ok(n: int | None, params: int, rules: Rules) -> bool:
    """Whether a model estimate has at least `min_df` residual degrees of freedom
    (observations less estimated parameters)."""
    return n is not None and n - params >= rules.min_df


def coefficients_shown(res: Results, rules: Rules) -> bool:
    """Whether the model's coefficients may be published: the fit on the training years
    leaves at least `min_df` residual degrees of freedom."""
    return _df_ok(res.model.n_train, len(res.model.coefficients), rules)


def coefficient_table(res: Results, language: str, pub: Counts | None = None) -> pd.DataFrame:
    """Odds ratio (95 % Wald CI) and log-odds per design column, grouped by predictor; with
    `pub`, withheld when the fit has fewer residual degrees of freedom than `min_df`."""
    shown = pub is None or coefficients_shown(res, pub.rules)
    c_var = label("predictor", language)
    c_b = label("coefficient", language)
    c_or = f"{label('odds_ratio', language)} ({texts.conf_label(MODEL_CONF_LEVEL, language)})"
    model = res.model
    rows, levels = [], []
    coefs = res.coefficients.set_index("column")
    for col in ["Intercept"]:
        r = coefs.loc[col]
        rows.append({c_var: label(col, language),
                     c_b: number(r.estimate, 3, language) if shown else SUPPRESSED, c_or: ""})
        levels.append(0)
    for term in model.predictors.terms:
        cols = term.columns()
        if term.kind != "linear":
            ref = term.labels()[0]
            ref_text = ref.replace("-", "–") if term.kind == "bands" else label(ref, language)
            rows.append({c_var: texts.fill(label("with_reference", language),
                                           predictor=label(term.name, language),
                                           level=ref_text.lower()),
                         c_b: "", c_or: ""})
            levels.append(0)
        for col in cols:
            r = coefs.loc[col]
            k = 3 if term.kind == "linear" else 2  # per unit (year, visit): small effects
            ci = "" if pd.isna(r.or_low) else f" ({interval(r.or_low, r.or_high, k, language)})"
            name = (texts.fill(label("per_unit", language), predictor=label(term.name, language),
                               unit=unit(term.unit, language))
                    if term.kind == "linear" else column_label(col, language).split(": ", 1)[1])
            rows.append({c_var: name,
                         c_b: number(r.estimate, 3, language) if shown else SUPPRESSED,
                         c_or: number(r.odds_ratio, k, language) + ci if shown else SUPPRESSED})
            levels.append(0 if term.kind == "linear" else 1)
    out = pd.DataFrame(rows)
    notes = words("noter", language)
    note = (notes["coefficients"] if model.penalty is None else
            texts.fill(notes["coefficients_penalised"],
                       penalty="lasso" if model.penalty == "l1" else "ridge",
                       C=number(model.C or 0, 3, language)))
    out.attrs.update(levels=levels, numeric=[c_b, c_or], notes=[note])
    return out


def performance_table(res: Results, pub: Counts, language: str) -> pd.DataFrame:
    """AUC with DeLong's CI, calibration intercept and slope, Brier: apparent, optimism-
    corrected and temporal test, overall and per sex; a row is withheld with its count."""
    cols = {"sample": label("validation", language), "sub": label("group", language),
            "n": "n", "events": label("long_spells", language),
            "auc": f"{label('auc', language)} ({texts.conf_label(MODEL_CONF_LEVEL, language)})",
            "ci": label("calibration_intercept", language),
            "cs": label("calibration_slope", language), "brier": label("brier", language)}
    rows, levels = [], []
    order = {k: i for i, k in enumerate(SAMPLES)}
    perf = res.performance.sort_values("sample", key=lambda s: s.map(order), kind="stable")
    for r in perf.itertuples():
        smp = SAMPLES[r.sample]
        nk, ek = ("n", smp, r.subgroup), ("events", smp, r.subgroup)
        # the calibration intercept and slope are a logistic model of two parameters
        ok = pub.shown(nk, ek) and _df_ok(int(r.n), 2, pub.rules)
        auc = number(r.auc, 3, language)
        if not pd.isna(getattr(r, "auc_low", np.nan)) and r.sample != "optimism_corrected":
            auc += f" ({interval(r.auc_low, r.auc_high, 3, language)})"
        first = r.subgroup == "all"
        rows.append({cols["sample"]: label(r.sample, language) if first else "",
                     cols["sub"]: label(r.subgroup, language),
                     cols["n"]: pub.text(nk, language), cols["events"]: pub.text(ek, language),
                     cols["auc"]: auc if ok else SUPPRESSED,
                     cols["ci"]: number(r.cal_intercept, 3, language) if ok else SUPPRESSED,
                     cols["cs"]: number(r.cal_slope, 3, language) if ok else SUPPRESSED,
                     cols["brier"]: number(r.brier, 3, language) if ok else SUPPRESSED})
        levels.append(0 if first else 1)
    out = pd.DataFrame(rows)
    n_boot = res.model.validation.get("n_boot")
    out.attrs.update(levels=levels, numeric=[cols[k] for k in ("n", "events", "auc", "ci", "cs",
                                                                "brier")],
                     notes=[texts.fill(words("noter", language)["performance"], n_boot=n_boot)])
    return out


def risk_group_table(res: Results, pub: Counts, language: str) -> pd.DataFrame:
    """n, observed rate of long sick leave and mean predicted risk per risk group: a heading
    row per sample (training, test years) with its risk groups indented under it, so every
    row label starts where the level says."""
    c_g = label("risk_group", language)
    c_e = label("long_spells", language)
    c_o, c_p = label("observed_rate", language), label("mean_predicted", language)
    rows, levels = [], []
    lo, hi = res.model.group_cuts
    bounds = {"low": f"< {_pct(lo, language)}",
              "medium": f"{_pct(lo, language)} – {_pct(hi, language)}",
              "high": f"≥ {_pct(hi, language)}"}
    for smp in ("training", "test"):
        g = res.groups[res.groups["sample"] == smp]
        rows.append({c_g: label(smp, language), "n": "", c_e: "", c_o: "", c_p: ""})
        levels.append(0)
        for r in g.itertuples():
            nk, ek = ("group_n", smp, r.group), ("group_events", smp, r.group)
            # the observed rate is events / n (`Counts.exact`); the mean predicted risk is
            # the model's, shown with the counts
            rows.append({c_g: texts.keep_together(f"{label(r.group, language)} "
                                                  f"({bounds[r.group]})"),
                         "n": pub.text(nk, language), c_e: pub.text(ek, language),
                         c_o: _pct(r.observed, language) if pub.exact(nk, ek) else SUPPRESSED,
                         c_p: _pct(r.mean_predicted, language) if pub.shown(nk, ek)
                         else SUPPRESSED})
            levels.append(1)
    out = pd.DataFrame(rows)
    props = res.model.group_proportions
    notes = words("noter", language)
    note = (texts.fill(notes["groups_proportions"],
                       proportions=", ".join(_pct(p, language) for p in props))
            if props is not None else notes["groups_fixed"])
    out.attrs.update(levels=levels, numeric=["n", c_e, c_o, c_p], notes=[note])
    return out


def model_card(res: Results, language: str, model_file: str,
               pub: Counts | None = None) -> pd.DataFrame:
    """The model card as a two-column table: purpose, what it must not be used for, data,
    predictors, and the validation figures (with `pub`, only those the appendix publishes)."""
    card = words("modellkort", language)
    m: RiskModel = res.model
    test = res.performance.set_index(["sample", "subgroup"])
    t_all, corr = test.loc[("temporal_test", "all")], test.loc[("optimism_corrected", "all")]
    if not _perf_shown(res, pub, "temporal_test"):
        t_all = _withheld_row(t_all)
    if not _perf_shown(res, pub, "optimism_corrected"):
        corr = _withheld_row(corr)
    rows = [
        (card["purpose"], card["purpose_text"]),
        (card["not_for"], card["not_for_text"]),
        (card["outcome"], texts.fill(card["outcome_text"], days=m.threshold_days)),
        (card["training_period"], texts.fill(card["index_years"],
                                             years=years_text(m.training_years))),
        (card["temporal_test"], texts.fill(card["index_years"],
                                           years=years_text(m.validation["test_years"]))),
        (card["model"], card["model_text"]
         + ("" if m.penalty is None else f", {'lasso' if m.penalty == 'l1' else 'ridge'} "
            f"(C = {number(m.C or 0, 3, language)})")),
        *[(label("predictor", language) if i == 0 else "", definition(t, language))
          for i, t in enumerate(m.predictors.terms)],
        (card["validation_test"], texts.fill(
            card["validation_test_text"], auc=number(t_all.auc, 3, language),
            auc_interval=interval(t_all.auc_low, t_all.auc_high, 3, language),
            intercept=number(t_all.cal_intercept, 3, language),
            slope=number(t_all.cal_slope, 3, language), brier=number(t_all.brier, 3, language))),
        (card["validation_corrected"], texts.fill(
            card["validation_corrected_text"], auc=number(corr.auc, 3, language),
            slope=number(corr.cal_slope, 3, language))),
        (card["risk_groups"], texts.fill(card["risk_groups_text"],
                                         low=_pct(m.group_cuts[0], language),
                                         high=_pct(m.group_cuts[1], language))),
        (card["model_file"], texts.fill(card["model_file_text"], file=model_file,
                                        version=m.format_version, package=m.package_version)),
    ]
    out = pd.DataFrame(rows, columns=[card["item"], card["content"]])
    out.attrs.update(levels=[0] * len(out), numeric=[])
    return out


def published_card(res: Results, pub: Counts) -> dict[str, Any]:
    """The model card as it may be published (`reports/risk/modell.json`): what scoring
    needs — predictors, coefficients, risk-group cut points, the income medians the income
    groups rest on (medians of a whole LISA year), purpose and versions — the validation
    figures of the rows the appendix shows, and counts only as the appendix prints them (its
    protected texts, "<min_cell" or "–" where withheld), never a withheld count. The full
    model file with every count stays internal (`model.save_model`); `model.load_model`
    reads either. The coefficients (and their intervals) are withheld, and the card cannot
    score, when the fit has fewer residual degrees of freedom than `min_df`."""
    m = res.model
    shown = coefficients_shown(res, pub.rules)
    flow = res.flow

    def text(key: tuple) -> str:
        return pub.text(key, "en")

    perf = []
    for r in res.performance.itertuples():
        smp = SAMPLES[r.sample]
        keys = (("n", smp, r.subgroup), ("events", smp, r.subgroup))
        if not (pub.shown(*keys) and _df_ok(int(r.n), 2, pub.rules)):
            continue
        perf.append({"sample": r.sample, "subgroup": r.subgroup, "n": text(keys[0]),
                     "events": text(keys[1]),
                     **{k: float(getattr(r, k)) for k in ("auc", "auc_low", "auc_high",
                                                          "cal_intercept", "cal_slope", "brier")
                        if hasattr(r, k) and not pd.isna(getattr(r, k))}})
    return {
        "card": PUBLISHED, "format_version": MODEL_FORMAT, "package_version": m.package_version,
        "purpose": m.purpose, "not_for": list(m.not_for),
        "threshold_days": m.threshold_days, "training_years": list(m.training_years),
        "predictors": m.predictors.to_dict(),
        "predictor_definitions": m.predictors.definitions(),
        "penalty": m.penalty, "C": m.C,
        "coefficients": dict(m.coefficients) if shown else None,
        "conf_low": m.conf_low if shown else None, "conf_high": m.conf_high if shown else None,
        "std_errors": m.std_errors if shown else None,
        "withheld": None if shown else "fewer residual degrees of freedom than "
                                       f"{pub.rules.min_df}",
        "group_cuts": list(m.group_cuts),
        "group_proportions": None if m.group_proportions is None else list(m.group_proportions),
        "income_groups": (flow.get("derivation") or {}).get("income_groups"),
        "validation": {k: m.validation[k] for k in ("train_years", "test_years", "n_boot", "seed")
                       if k in m.validation} | {"performance": perf},
        "counts": {"rules": {"min_cell": pub.rules.min_cell, "mark": pub.rules.mark}
                   | ({"rounding_base": pub.rules.rounding_base}
                      if pub.rules.method == ROUND else {}),
                   "training": {"n": text(("n", "training", "all")),
                                "events": text(("events", "training", "all"))},
                   "excluded_training": {r: text(("flow", "excluded_training", r))
                                         for r in sorted(flow["excluded_training"])},
                   "excluded_outcome": {r: text(("flow", "excluded", r))
                                        for r in sorted(flow["excluded_outcome"])}},
    }


def write_published_card(res: Results, pub: Counts, path: str | Path) -> Path:
    """`published_card` as UTF-8 JSON (sorted keys), atomically."""
    path = Path(path)
    with atomic_outputs(path) as (tmp,):
        Path(tmp).write_text(json.dumps(published_card(res, pub), ensure_ascii=False, indent=2,
                                        sort_keys=True) + "\n", encoding="utf-8")
    return path


def calibration_deciles(res: Results, rules: Rules) -> pd.Series:
    """Which decile points the calibration figure shows (`min_cell` here and below is
    `Rules.threshold`, under rounding the base): a decile where fewer than `min_cell`
    patients had, or did not have, the outcome is withheld, and, since the test years' totals
    are published, further deciles (those with the fewest events, then the fewest without)
    until the withheld deciles together hold no small number of either."""
    g = res.calibration_groups
    events, non = g["events"].astype(int), (g["n"] - g["events"]).astype(int)
    shown = (events >= rules.threshold) & (non >= rules.threshold)
    order = list(np.lexsort((non.to_numpy(), events.to_numpy())))

    def exposed() -> bool:
        hidden = ~shown
        return bool(hidden.any()) and (rules.small(int(events[hidden].sum()))
                                       or rules.small(int(non[hidden].sum())))

    while exposed():
        nxt = next((i for i in order if shown.iloc[i]), None)
        if nxt is None:
            break
        shown.iloc[nxt] = False
    return shown


def calibration_figure(res: Results, rules: Rules, language: str) -> tuple:
    """Observed against predicted risk in the test years: the lowess smoother (on a grid),
    the decile points `calibration_deciles` allows (the number withheld stated in the axes,
    with the protection mark), and the diagonal."""
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    c = res.calibration
    g = res.calibration_groups
    ok = calibration_deciles(res, rules)
    top = float(max(c["predicted"].max(), c["smoothed"].max(), g["observed"][ok].max()
                    if ok.any() else 0, g["mean_predicted"][ok].max() if ok.any() else 0)) * 1.05
    top = min(1.0, top)
    ax.plot([0, top], [0, top], color="0.5", linestyle="--", linewidth=1,
            label=label("ideal", language))
    ax.plot(c["predicted"], c["smoothed"], color=ARM_COLOURS[0],
            label=label("smoothed", language))
    ax.plot(g.loc[ok, "mean_predicted"], g.loc[ok, "observed"], "o", color=ARM_COLOURS[1],
            label=label("deciles", language))
    hidden = int((~ok).sum())
    if hidden:  # withheld deciles are not drawn, and the figure says how many
        ax.text(0.98, 0.02, f"{SUPPRESSED} " + texts.fill(label("deciles_withheld", language),
                                                           hidden=hidden, total=len(g)),
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="#333333")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(label("predicted_risk", language))
    ax.set_ylabel(label("observed_long_spells", language))
    ax.legend(frameon=False, loc="upper left")
    data = pd.concat([c.assign(kind="lowess"),
                      g.loc[ok, ["mean_predicted", "observed"]]
                      .rename(columns={"mean_predicted": "predicted", "observed": "smoothed"})
                      .assign(kind="decile")], ignore_index=True)
    return fig, data


def decision_points(res: Results, rules: Rules, pub: Counts | None = None) -> pd.DataFrame:
    """The decision curve's published points. A point's net benefit gives back the numbers
    of true and false positives at its threshold (TP/n − FP/n · pt/(1 − pt) has one solution
    in whole numbers), so a threshold is shown only where the patients between it and the
    previous shown threshold, with and without the outcome, are 0 or at least `min_cell`
    (and so are those above the last and below the first shown threshold). With `pub`, none
    when the test years' counts are withheld, or under rounding not allowed to be known
    exactly (`Counts.exact`: the treat-all line is their share)."""
    d = res.decisions.sort_values("threshold").reset_index(drop=True)
    if pub is not None and not pub.exact(("n", "test", "all"), ("events", "test", "all")):
        return d.iloc[:0][["threshold", "model", "all", "none"]]
    if not {"tp", "fp"} <= set(d.columns):
        raise ValueError("the decision curve lacks its counts (tp, fp): re-run the fit stage")
    events = int(d["events"].iloc[0]) if len(d) else 0
    non = int(d["n"].iloc[0]) - events if len(d) else 0
    kept: list[int] = []
    tp, fp = events, non
    for i, r in d.iterrows():
        if published_step(tp - int(r.tp), rules) and published_step(fp - int(r.fp), rules):
            kept.append(i)
            tp, fp = int(r.tp), int(r.fp)
    while kept and not (published_step(int(d.at[kept[-1], "tp"]), rules)
                        and published_step(int(d.at[kept[-1], "fp"]), rules)):
        kept.pop()
    return d.loc[kept, ["threshold", "model", "all", "none"]].reset_index(drop=True)


def decision_figure(res: Results, language: str, rules: Rules | None = None,
                    pub: Counts | None = None) -> tuple:
    """Net benefit in the test years: the model, treating all and treating none, at the
    thresholds `decision_points` publishes (every threshold only without `rules`, for the
    secure environment); how many thresholds are withheld is stated in the axes with the
    protection mark."""
    d = (decision_points(res, rules, pub) if rules is not None
         else res.decisions[["threshold", "model", "all", "none"]])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(d["threshold"], d["model"], color=ARM_COLOURS[0],
            label=label("model_curve", language))
    ax.plot(d["threshold"], d["all"], color=ARM_COLOURS[1], label=label("offer_all", language))
    ax.plot(d["threshold"], d["none"], color="0.3", linestyle="--",
            label=label("offer_none", language))
    prevalence = float(d["all"].iloc[0]) if len(d) else 0.0
    top = max(d["model"].max(), 0.05) if len(d) else 0.05
    ax.set_ylim(min(-0.05, -0.1 * max(prevalence, 0.1)), top * 1.1)
    hidden, total = len(res.decisions) - len(d), len(res.decisions)
    if hidden == total:  # every threshold withheld: the panel says so instead of a bare axis
        ax.text(0.5, 0.5, withheld_label(language), transform=ax.transAxes, ha="center",
                va="center", fontsize=9, color="#333333")
    elif hidden:  # the curves join the published thresholds; the figure says how many are not
        ax.text(0.02, 0.03, f"{SUPPRESSED} " + texts.fill(label("thresholds_withheld", language),
                                                           hidden=hidden, total=total),
                transform=ax.transAxes, ha="left", va="bottom", fontsize=8, color="#333333")
    ax.set_xlabel(label("threshold_probability", language))
    ax.set_ylabel(label("net_benefit", language))
    ax.legend(frameon=False)
    return fig, d


def all_figures(res: Results, rules: Rules, out_dir: str | Path, language: str,
                eff: EffectByRisk | None = None, pub: Counts | None = None) -> dict[str, list]:
    """The figures as PNG + SVG + the CSV of their numbers (the effect per risk group with
    `eff` and its publication `pub`)."""
    set_style(language)
    fig, data = calibration_figure(res, rules, language)
    saved = {"kalibrering": save(fig, f"{out_dir}/kalibrering", data)}
    fig, data = decision_figure(res, language, rules, pub)
    saved["beslutskurva"] = save(fig, f"{out_dir}/beslutskurva", data)
    if eff is not None and pub is not None:
        fig, data = effect_figure(eff, pub, language)
        saved["effekt_per_risk"] = save(fig, f"{out_dir}/effekt_per_risk", data)
    return saved


def effect_shown(eff: EffectByRisk, pub: Counts, level: str) -> tuple[bool, bool]:
    """Whether a risk group's hazard ratio and its difference in mean net days may be
    published: both need the group's counts per arm published and at least `min_df`
    residual degrees of freedom (the Cox model within the group estimates one coefficient,
    the difference two means); the difference also needs each arm's mean net days to pass
    the dominance rules (`disclosure.magnitude_reason_of`)."""
    keys = (("effect", level, "1"), ("effect", level, "0"))
    row = eff.effects[eff.effects["level"] == level]
    if not pub.shown(*keys) or row.empty:
        return False, False
    r = row.iloc[0]
    n = sum(pub.structure.values[k] for k in keys)
    hr = not pd.isna(r.get("hr", np.nan)) and _df_ok(n, 1, pub.rules)
    m = eff.magnitudes
    mags = None if m is None else m[m["level"] == level]
    dominated = mags is None or len(mags) != 2 or any(
        magnitude_reason_of(pub.rules, x["n"], x["total"],
                            [x[f"largest_{k}"] for k in range(1, LARGEST + 1)])
        for _, x in mags.iterrows())
    diff = (not pd.isna(r.get("netdays_diff", np.nan)) and _df_ok(n, 2, pub.rules)
            and not dominated)
    return hr, diff


def effect_table(eff: EffectByRisk, pub: Counts, language: str,
                 conf_level: float = 0.95) -> pd.DataFrame:
    """Per risk group: mean predicted risk, participants per arm, hazard ratio for return
    and difference in net days (coordinator − control) with CIs at `conf_level` (the effect
    stage's, `effect.conf_level`); a group whose counts are withheld shows no estimate."""
    c_g = label("risk_group", language)
    c_r = label("mean_risk", language)
    c_t, c_c = label("coordinator_n", language), label("control_n", language)
    ci = texts.conf_label(conf_level, language)
    c_h = texts.fill(label("hr_return", language), ci=ci)
    c_d = texts.fill(label("netdays_difference", language), ci=ci)
    rows = []
    for r in eff.effects.itertuples():
        keys = (("effect", r.level, "1"), ("effect", r.level, "0"))
        hr_ok, diff_ok = effect_shown(eff, pub, r.level)
        rows.append({c_g: label(r.level, language),
                     c_r: _pct(r.mean_risk, language) if pub.shown(*keys) else SUPPRESSED,
                     c_t: pub.text(keys[0], language), c_c: pub.text(keys[1], language),
                     c_h: (f"{number(r.hr, 2, language)} "
                           f"({interval(r.hr_low, r.hr_high, 2, language)})") if hr_ok
                     else SUPPRESSED,
                     c_d: (f"{number(r.netdays_diff, 1, language)} "
                           f"({interval(r.netdays_low, r.netdays_high, 1, language)})")
                     if diff_ok else SUPPRESSED})
    out = pd.DataFrame(rows)
    p = float(eff.effects["p_interaction"].iloc[0])
    note = texts.fill(words("noter", language)["effect"], p=number(p, 3, language))
    out.attrs.update(numeric=[c_r, c_t, c_c, c_h, c_d], notes=[note])
    return out


def effect_figure(eff: EffectByRisk, pub: Counts, language: str) -> tuple:
    """Hazard ratio for return (log scale) and difference in net days per risk group, side by
    side, so the reader sees at a glance where the coordinator helps most. Every risk group
    keeps its row: an estimate that is withheld is marked "× skyddad" in its panel
    (`style.mark_withheld`), not left out; the table has every group, `suppressed` where
    either estimate is withheld (its numbers empty)."""
    rows = []
    for r in eff.effects.itertuples():
        hr_ok, diff_ok = effect_shown(eff, pub, r.level)
        rows.append({"group": label(r.level, language), "suppressed": not (hr_ok and diff_ok),
                     "hr": r.hr if hr_ok else np.nan, "hr_low": r.hr_low if hr_ok else np.nan,
                     "hr_high": r.hr_high if hr_ok else np.nan,
                     "diff": r.netdays_diff if diff_ok else np.nan,
                     "diff_low": r.netdays_low if diff_ok else np.nan,
                     "diff_high": r.netdays_high if diff_ok else np.nan})
    data = pd.DataFrame(rows, columns=["group", "suppressed", "hr", "hr_low", "hr_high", "diff",
                                       "diff_low", "diff_high"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 0.5 * len(data) + 1.6), sharey=True)
    y = np.arange(len(data))[::-1]
    for ax, k in ((left, "hr"), (right, "diff")):
        drawn = data[k].notna().to_numpy()
        d = data[drawn]
        ax.errorbar(d[k], y[drawn], xerr=[d[k] - d[f"{k}_low"], d[f"{k}_high"] - d[k]],
                    fmt="o", color=ARM_COLOURS[0], capsize=3)
        for row in y[~drawn]:
            mark_withheld(ax, row, language, across=True)
    left.axvline(1.0, color="0.4", linewidth=1)
    left.set_xscale("log")
    shown = data["hr"].notna()
    ticks = [t for t in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
             if t == 1.0 or (shown.any() and data.loc[shown, "hr_low"].min() / 1.2 <= t
                             <= data.loc[shown, "hr_high"].max() * 1.2)]
    left.set_xticks(ticks, [number(t, 2, language) for t in ticks])
    left.minorticks_off()
    left.set_yticks(y, data["group"])
    left.set_ylim(-0.6, len(data) - 0.4)
    left.set_xlabel(label("hr_axis", language))
    right.axvline(0.0, color="0.4", linewidth=1)
    right.set_xlabel(label("netdays_axis", language))
    fig.tight_layout()
    return fig, data


def effect_sentence(eff: EffectByRisk, pub: Counts, language: str) -> str:
    """The effect per risk group in one sentence, with the interaction test."""
    sentences = words("resultat", language)
    parts = []
    for r in eff.effects.itertuples():
        if effect_shown(eff, pub, r.level)[0]:
            parts.append(f"{label(r.level, language).lower()} {number(r.hr, 2, language)} "
                         f"({interval(r.hr_low, r.hr_high, 2, language)})")
    p = number(float(eff.effects["p_interaction"].iloc[0]), 3, language)
    if not parts:
        return texts.fill(sentences["effect_none"], p=p)
    return texts.fill(sentences["effect"], groups=", ".join(parts), p=p)


def effect_methods(params: Mapping[str, Any], language: str) -> str:
    """How the effect per risk group was estimated (template `effekt_metod`)."""
    return texts.render(STUDY, "effekt_metod", language,
                        conf=texts.conf_percent(params["effect"]["conf_level"], language))


def methods_text(params: Mapping[str, Any], res: Results, language: str) -> str:
    """The methods section from the parameters (and the model file's predictor list), in
    the template `metod`."""
    o, p, mo, v = params["outcome"], params["predictors"], params["model"], params["validation"]
    rg, t = params["risk_groups"], v["decision_thresholds"]

    def listed(values, show) -> str:
        return ", ".join(show(x) for x in values) if values else ""

    return texts.render(
        STUDY, "metod", language, gap_days=params["derivation"]["gap_days"],
        income_low=_pct(p["income_low_share"], language),
        income_high=_pct(p["income_high_share"], language),
        threshold_days=o["threshold_days"], extraction_date=params["data"]["extraction_date"],
        names=", ".join(label(term.name, language).lower() for term in res.model.predictors.terms),
        edges_1y=listed(p["prior_netdays_1y_edges"], lambda e: number(e, 0, language)),
        edges_3y=listed(p["prior_netdays_3y_edges"], lambda e: number(e, 0, language)),
        spells_cap=p["prior_spells_cap"], visits_cap=p["care_visits_cap"],
        penalty=str(mo.get("penalty", "none")),
        C=texts.value_text(mo.get("C"), language),
        train_years=years_text(v["train_years"]), test_years=years_text(v["test_years"]),
        n_boot=v["n_boot"], seed=v["seed"], t_from=number(t["from"], 2, language),
        t_to=number(t["to"], 2, language),
        proportions=listed(rg.get("proportions"), lambda x: _pct(x, language)),
        cuts=listed(rg.get("cuts"), lambda x: _pct(x, language)),
        conf=texts.conf_percent(MODEL_CONF_LEVEL, language),
        min_cell=Rules.from_params(params["report"]).threshold)


def _perf_shown(res: Results, pub: Counts | None, sample: str, subgroup: str = "all") -> bool:
    """Whether a row of the performance table may be published (its counts shown, at least
    `min_df` residual degrees of freedom for the calibration model); always without `pub`."""
    if pub is None:
        return True
    r = res.performance[(res.performance["sample"] == sample)
                        & (res.performance["subgroup"] == subgroup)].iloc[0]
    smp = SAMPLES[sample]
    return pub.shown(("n", smp, subgroup), ("events", smp, subgroup)) and _df_ok(
        int(r["n"]), 2, pub.rules)


def _withheld_row(row: pd.Series) -> pd.Series:
    """A performance row whose numbers print as withheld (`number` of NaN is "–")."""
    return row.copy().where(~row.index.isin(["auc", "auc_low", "auc_high", "cal_intercept",
                                             "cal_slope", "brier"]), np.nan)


def result_sentences(res: Results, language: str, pub: Counts | None = None) -> list[str]:
    """The main findings as sentences, numbers from the tables; with `pub`, only the rows and
    decision-curve points the appendix publishes."""
    t = res.performance.set_index(["sample", "subgroup"])
    te, co = t.loc[("temporal_test", "all")], t.loc[("optimism_corrected", "all")]
    if not _perf_shown(res, pub, "temporal_test"):
        te = _withheld_row(te)
    if not _perf_shown(res, pub, "optimism_corrected"):
        co = _withheld_row(co)
    d = res.decisions if pub is None else decision_points(res, pub.rules, pub)
    better = d[(d["model"] > d["all"] + 1e-12) & (d["model"] > 1e-12)]["threshold"]
    span = (f"{number(better.min(), 2, language)}–{number(better.max(), 2, language)}"
            if len(better) else None)
    sentences = words("resultat", language)
    return [texts.fill(sentences["performance"], auc=number(te.auc, 3, language),
                       ci=texts.conf_label(MODEL_CONF_LEVEL, language),
                       auc_interval=interval(te.auc_low, te.auc_high, 3, language),
                       intercept=number(te.cal_intercept, 3, language),
                       slope=number(te.cal_slope, 3, language),
                       corrected_auc=number(co.auc, 3, language)),
            texts.fill(sentences["net_benefit"], span=span) if span
            else sentences["no_net_benefit"]]


#: (kind, number) of each table and figure, in appendix order; their texts and the headings
#: are in `text/<language>/bildtexter.yaml` and `rubriker.yaml` beside the notebooks.
CAPTIONS = {
    "card": ("table", 1),
    "flow": ("table", 2),
    "coefficients": ("table", 3),
    "performance": ("table", 4),
    "kalibrering": ("figure", 1),
    "beslutskurva": ("figure", 2),
    "groups": ("table", 5),
    "effect": ("table", 6),
    "effekt_per_risk": ("figure", 3),
}



class Text(AppendixText):
    """The study's headings and captions (`AppendixText`), and its disclosure paragraph."""

    def __init__(self, language: str, effect_conf_level: float = 0.95) -> None:
        super().__init__(language, *texts.appendix_words(STUDY, CAPTIONS))
        object.__setattr__(self, "effect_conf_level", effect_conf_level)  # frozen dataclass

    def caption(self, key: str) -> str:
        """The numbered caption; intervals of the effect named at `effect.conf_level`."""
        return texts.fill(super().caption(key), ci=texts.conf_label(self.effect_conf_level,
                                                               self.language))

    def disclosure(self, pub: Counts) -> str:
        """The release rules (template `rojande`)."""
        return texts.render(STUDY, "rojande", self.language,
                            statement=pub.statement(self.language),
                            rules=pub.rules.describe(self.language),
                            min_cell=pub.rules.threshold)
