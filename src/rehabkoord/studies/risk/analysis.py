"""The risk study's analysis from its parameters: the outcome, the model fitted on the
training years, its validation (apparent, optimism-corrected, temporal test, per sex), risk
groups, and the tables the appendix is built from.

Every table is aggregated (no row per person): the calibration smoother is kept on a grid of
predicted risks, not at each patient's prediction. Counts are unsuppressed (for the secure
environment, as the other studies' tables); only the appendix applies disclosure control.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import prediction
from ...io import DeliveryError, atomic_outputs, read_json, stage_step, write_json, write_parquet
from .model import (
    OUTCOME,
    Predictors,
    RiskModel,
    Separated,
    load_model,
    predictors,
    save_model,
    temporal_split,
    validate,
    with_outcome,
)

TABLES = ("performance", "coefficients", "optimism", "calibration", "calibration_groups",
          "decisions", "groups")
SAMPLES = {"apparent": "training", "optimism_corrected": "training",
           "temporal_test": "test"}
#: Points of the calibration smoother kept for the plot (between the 1st and 99th
#: percentile of the test years' predictions, where the smoother rests on enough patients).
GRID_POINTS = 101


def spec_from_params(params: Mapping[str, Any]) -> Predictors:
    """The pre-specified predictors (`predictors:` of params.yaml): bands, caps, age range,
    and `include`, the terms in the model (a subset of the pre-specified list, in its order)."""
    full = predictors(params)
    include = params.get("include")
    if include is None:
        return full
    names = [t.name for t in full.terms]
    unknown = sorted(set(include) - set(names))
    if unknown:
        raise ValueError(f"predictors.include names no pre-specified predictor: {unknown} "
                         f"(pre-specified: {', '.join(names)})")
    return Predictors(tuple(t for t in full.terms if t.name in set(include)))


def penalty_from_params(model: Mapping[str, Any]) -> tuple[str | None, float]:
    """`model.penalty` none/l2/l1 and its inverse strength `model.C`."""
    pen = str(model.get("penalty", "none")).lower()
    if pen not in ("none", "l1", "l2"):
        raise ValueError(f"model.penalty must be none, l2 or l1, not {pen!r}")
    return (None if pen == "none" else pen), float(model.get("C", 1.0))


def group_args(groups: Mapping[str, Any]) -> dict[str, Any]:
    """Risk groups by fixed `cuts` (probabilities) or by `proportions` of the training data."""
    cuts, props = groups.get("cuts"), groups.get("proportions")
    if (cuts is None) == (props is None):
        raise ValueError("risk_groups: give either cuts or proportions (the other null)")
    if cuts is not None:
        return {"group_cuts": tuple(float(c) for c in cuts), "group_proportions": None}
    return {"group_cuts": None, "group_proportions": tuple(float(p) for p in props)}


def thresholds(validation: Mapping[str, Any]) -> list[float]:
    """Threshold probabilities of the decision curve: `from`, `to` (inclusive) and `step`."""
    t = validation["decision_thresholds"]
    n = int(round((float(t["to"]) - float(t["from"])) / float(t["step"]))) + 1
    return [round(float(t["from"]) + i * float(t["step"]), 10) for i in range(n)]


@dataclass
class Results:
    """The validated model and every table of the appendix."""

    model: RiskModel
    performance: pd.DataFrame  # sample, subgroup, n, events, auc (+ DeLong limits), cal_*, brier
    coefficients: pd.DataFrame  # column, term, log-odds, SE, Wald limits, OR and its limits
    optimism: pd.DataFrame  # measure, apparent, optimism, corrected
    calibration: pd.DataFrame  # predicted, smoothed (test years, lowess on a grid)
    calibration_groups: pd.DataFrame  # deciles of test predictions: n, events, observed, mean
    decisions: pd.DataFrame  # threshold, model, all, none (net benefit, test years), and the
    # counts each point rests on: n, events, tp and fp (predicted at or above the threshold)
    groups: pd.DataFrame  # sample, group, n, events, observed, mean_predicted
    flow: dict[str, Any]
    notes: list[dict] = field(default_factory=list)  # what the data did not allow (`NOTES`)

    def write(self, tables_dir: str | Path, model_path: str | Path) -> list[Path]:
        """Each table as Parquet and CSV, the flow as JSON and the model card, all or nothing."""
        out = Path(tables_dir)
        frames = {name: getattr(self, name) for name in TABLES}
        targets = [out / f"{n}.{ext}" for n in frames for ext in ("parquet", "csv")]
        targets += [out / "flow.json", out / "notes.json", Path(model_path)]
        with atomic_outputs(*targets) as temps:
            for frame, parquet, csv in zip(frames.values(), temps[:-3:2], temps[1:-3:2],
                                           strict=True):
                write_parquet(frame, parquet)
                frame.to_csv(csv, index=False, float_format="%.10g", lineterminator="\n")
            write_json(self.flow, temps[-3])
            write_json(self.notes, temps[-2])
            save_model(self.model, temps[-1])
        return targets

    @classmethod
    def read(cls, tables_dir: str | Path, model_path: str | Path) -> Results:
        d = Path(tables_dir)
        frames = {name: pd.read_parquet(d / f"{name}.parquet") for name in TABLES}
        notes = d / "notes.json"
        return cls(model=load_model(model_path), flow=read_json(d / "flow.json"), **frames,
                   notes=read_json(notes) if notes.is_file() else [])


# The kinds of note `run` writes (every note has `kind`):
# - `aliased`: `column`, a design column the training years cannot estimate (an empty
#   level): left out as R's glm leaves it out (NA); test rows with it are not scored;
# - `bootstrap_failed`: `n` of `n_boot` resamples left out (their fit failed), `reasons`
#   (reason -> count), as rms::validate reports them.
STUDY, STAGE = "risk", "fit"



def _coefficients(model: RiskModel) -> pd.DataFrame:
    """One row per design column; an aliased one (an empty level) has NaN, as R's NA."""
    term_of = {c: t.name for t in model.predictors.terms for c in t.columns()}
    rows = []
    for col in model.predictors.columns():
        if col in model.aliased:
            rows.append({"column": col, "term": term_of[col], "estimate": np.nan,
                         "odds_ratio": np.nan, **{k: np.nan for k in (
                             "std_error", "conf_low", "conf_high", "or_low", "or_high")}})
            continue
        b = model.coefficients[col]
        row: dict[str, Any] = {"column": col, "term": term_of.get(col, "Intercept"),
                               "estimate": b, "odds_ratio": math.exp(b)}
        if model.conf_low is not None and model.conf_high is not None and model.std_errors:
            lo, hi = model.conf_low[col], model.conf_high[col]
            row |= {"std_error": model.std_errors[col], "conf_low": lo, "conf_high": hi,
                    "or_low": float(np.exp(lo)), "or_high": float(np.exp(hi))}
        else:
            row |= {k: np.nan for k in ("std_error", "conf_low", "conf_high", "or_low",
                                        "or_high")}
        rows.append(row)
    return pd.DataFrame(rows)


def _usable(spec: Predictors | RiskModel, table: pd.DataFrame
            ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Predictions' inputs: the design of the rows that can be scored, their outcome, and
    the others counted by reason (with the model: a level the training years lack too)."""
    X, reason = spec.design(table)
    ok = reason.isna().to_numpy()
    y = table[OUTCOME].to_numpy()[ok].astype(int)
    excluded = {str(k): int(v) for k, v in reason.dropna().value_counts().sort_index().items()}
    return X, y, excluded


def run(spells: pd.DataFrame, params: Mapping[str, Any],
        derivation: Mapping[str, Any] | None = None) -> Results:
    """Outcome, fit on the training years, validation and risk groups, from params.yaml's
    `data.extraction_date`, `outcome`, `predictors`, `model`, `validation`, `risk_groups`.
    `derivation`: the flow of `data.new_spells` (registers to new spells), kept in the flow
    and on the model card (with the income medians the income groups rest on)."""
    v_par = params["validation"]
    threshold = int(params["outcome"]["threshold_days"])
    if threshold not in (90, 180):
        raise DeliveryError(f"{STUDY}, stage {STAGE}: outcome.threshold_days must be 90 or "
                            f"180, not {threshold}")
    outcome = with_outcome(spells, threshold, extraction_date=params["data"]["extraction_date"])
    with stage_step(STUDY, STAGE, "reading the predictors", "predictors.include"):
        spec = spec_from_params(params["predictors"])
        penalty, C = penalty_from_params(params["model"])
    train_years = [int(y) for y in v_par["train_years"]]
    test_years = [int(y) for y in v_par["test_years"]]
    _check_years(outcome.table, spec, train_years, test_years)
    with stage_step(STUDY, STAGE, "the fit and its validation",
               "validation.train_years, validation.test_years, predictors.include; the flow "
               "of 02_anpassa_validera.ipynb shows the spells per year"), _separation():
        v = validate(outcome.table, spec, train_years, test_years, penalty=penalty,  # type: ignore[arg-type]
                     C=C, n_boot=int(v_par["n_boot"]), seed=int(v_par["seed"]),
                     thresholds=thresholds(v_par), progress=True,
                     **group_args(params["risk_groups"]))
    train, test = temporal_split(outcome.table, train_years, test_years)
    model = v.model
    Xtr, ytr, ex_tr = _usable(spec, train)
    Xte, yte, ex_te = _usable(model, test)
    group_rows = []
    for sample, X, y in (("training", Xtr, ytr), ("test", Xte, yte)):
        g = prediction.risk_groups(model.predict(X), cuts=model.group_cuts, y=y).summary
        g.insert(0, "sample", sample)
        group_rows.append(g)
    groups = pd.concat(group_rows, ignore_index=True)
    groups["group"] = groups["group"].astype(str)
    assert v.calibration is not None and v.decisions is not None
    pred = v.calibration.predicted
    grid = np.linspace(np.quantile(pred, 0.01), np.quantile(pred, 0.99), GRID_POINTS)
    calibration = pd.DataFrame({"predicted": grid,
                                "smoothed": np.interp(grid, pred, v.calibration.smoothed)})
    opt = v.optimism
    optimism = pd.DataFrame([{"measure": k, "apparent": opt.apparent.as_dict()[k],
                              "optimism": opt.optimism.as_dict()[k],
                              "corrected": opt.corrected.as_dict()[k]}
                             for k in prediction.MEASURES])
    years = outcome.table["index_year"].astype(int)
    flow = {"derivation": dict(derivation or {}), "spells": int(len(spells)),
            "excluded_outcome": outcome.excluded,
            "with_outcome": int(len(outcome.table)),
            "training_years": int(years.isin(train_years).sum()),
            "test_years": int(years.isin(test_years).sum()),
            "excluded_training": ex_tr, "excluded_test": ex_te,
            "training": {"n": int(ytr.size), "events": int(ytr.sum())},
            "test": {"n": int(yte.size), "events": int(yte.sum())},
            "sex": {s: {"training": _n_events(train, spec, s), "test": _n_events(test, spec, s)}
                    for s in _sexes(v.table)}}
    model = replace(model, validation=model.validation | {"flow": flow})
    notes: list[dict] = [{"kind": "aliased", "column": c} for c in model.aliased]
    if v.optimism.failed:
        notes.append({"kind": "bootstrap_failed", "n": sum(v.optimism.failed.values()),
                      "n_boot": int(v_par["n_boot"]), "reasons": v.optimism.failed})
    return Results(model, v.table, _coefficients(model), optimism, calibration,
                   v.calibration.groups, _with_counts(v.decisions, model.predict(Xte), yte),
                   groups, flow, notes)


@contextmanager
def _separation() -> Iterator[None]:
    """Separation of the outcome in the training years means an infinite odds ratio: stop
    naming the level (or, where only R's glm check sees it, R's warning and the spells with
    a fitted risk of 0 or 1) and the parameters that merge or leave it out."""
    try:
        yield
    except Separated as err:
        if err.levels:
            keys = sorted({f"predictors.{c.split('[')[0]}_edges"
                           if c.startswith("prior_netdays") else "predictors.include"
                           for c, _, _ in err.levels})
            what = ("; ".join(f"{c} has {n} spell(s), {'all' if e else 'none'} long"
                              for c, n, e in err.levels)
                    + " (complete separation: an infinite odds ratio)")
            fix = ("merge the level with its neighbour or leave the predictor out "
                   f"({', '.join(keys)})")
        else:
            assert err.glm is not None
            what = (f"R's glm warns {_quoted(err.glm.messages())}: {err.glm.extreme} "
                    "spell(s) have a fitted risk of 0 or 1 (the predictors together separate "
                    "the outcome: an infinite odds ratio)")
            fix = ("leave a predictor out or band it more coarsely (predictors.include, "
                   "predictors.*_edges)")
        raise DeliveryError(
            f"{STUDY}, stage {STAGE}: the model cannot be fitted on the training years: "
            f"{what} → {fix}, or use model.penalty: l2") from err


def _quoted(messages: Sequence[str]) -> str:
    """R's warnings as R prints them, each in quotes."""
    return " and ".join(f'"{m}"' for m in messages)


def _check_years(table: pd.DataFrame, spec: Predictors, train_years: Sequence[int],
                 test_years: Sequence[int]) -> None:
    """Spells that can be used, with both outcomes, in the training years, and spells in the
    test years: else a message naming the years found and the parameters to change."""
    years = table["index_year"].astype(int)
    found = ", ".join(f"{y}: {n}" for y, n in years.value_counts().sort_index().items())
    for name, chosen in (("train_years", train_years), ("test_years", test_years)):
        part = table[years.isin(chosen)]
        _, reason = spec.design(part)
        y = part[OUTCOME].to_numpy()[reason.isna().to_numpy()]
        need_both = name == "train_years"
        if not y.size or (need_both and y.min() == y.max()):
            what = "no usable spell" if not y.size else f"only one outcome ({int(y[0])})"
            raise DeliveryError(
                f"{STUDY}, stage {STAGE}: {what} in validation.{name} "
                f"{years_text(chosen)} (spells with outcome per index year: "
                f"{found or 'none'}) → set validation.{name} to years the delivery covers "
                "(data.periods, data.periods_from, data.extraction_date)")


def _with_counts(decisions: pd.DataFrame, p: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """The decision curve with the counts each point rests on (the report publishes a point
    only where the patients between published thresholds are 0 or at least `min_cell`)."""
    positive = p[None, :] >= decisions["threshold"].to_numpy()[:, None]
    return decisions.assign(n=int(y.size), events=int(y.sum()),
                            tp=(positive & (y == 1)).sum(axis=1),
                            fp=(positive & (y == 0)).sum(axis=1))


def _sexes(performance: pd.DataFrame) -> list[str]:
    return [s for s in performance["subgroup"].unique() if s != "all"]


def _n_events(table: pd.DataFrame, spec: Predictors, sex: str) -> dict[str, int]:
    _, reason = spec.design(table)
    ok = reason.isna().to_numpy() & (table["sex"].astype(str).to_numpy() == sex)
    y = table[OUTCOME].to_numpy()[ok]
    return {"n": int(ok.sum()), "events": int(y.sum())}


def performance_of(results: Results, sample: str, subgroup: str = "all") -> Mapping[str, Any]:
    """One row of the performance table as a mapping."""
    t = results.performance
    row = t[(t["sample"] == sample) & (t["subgroup"] == subgroup)]
    if len(row) != 1:
        raise KeyError(f"no performance row for {sample}/{subgroup}")
    return row.iloc[0].to_dict()


def years_text(years: Sequence[int]) -> str:
    """2012–2016 for a run of years, else a comma list."""
    ys = sorted(int(y) for y in years)
    if ys and ys == list(range(ys[0], ys[-1] + 1)) and len(ys) > 1:
        return f"{ys[0]}–{ys[-1]}"
    return ", ".join(str(y) for y in ys)
