"""Data-based identification of patients at risk of long sick leave (the risk study).

One row per new sick-leave spell, predictors as registered at the spell's start; the outcome
is long sick leave, the spell still ongoing after `threshold_days` (90 or 180). A logistic
model (unpenalised by default; ridge or lasso as an option) ranks patients for an offer of
support from the rehabilitation coordinator. It must never be used to deny benefit.

Pre-specified predictors (`Predictors`), kept simple on purpose: age is linear (log-odds per
year; the working ages 18–66 where sickness benefit applies, scoring refuses other ages), the
skewed counts of prior sick leave are in bands (no sick leave, up to a month, ...) rather than
splines, so every coefficient can be read off the model card and a care centre's score can be
explained band by band; counts of spells and care visits are linear, capped (`cap`) so that a
few extreme histories do not drive the slope.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.linear_model import LogisticRegression

from ... import __version__, prediction
from ...contract import quote
from ...rmath import GlmWarnings, glm_warnings
from ...survival import aliased_columns

MODEL_FORMAT = 1
PURPOSE = "ranking patients for an offer of support"
NOT_FOR = ("denying benefit", "decisions on sickness benefit or any other benefit")
INPUT_COLUMNS = ("LopNr", "spell_start", "index_year", "age", "sex", "diagnosis_group",
                 "prior_netdays_1y", "prior_netdays_3y", "prior_spells", "care_visits",
                 "employment", "income_group", "spell_days", "spell_censored")
OUTCOME = "long_sickleave"
Penalty = Literal["l1", "l2"] | None


@dataclass(frozen=True)
class Term:
    """One predictor. `linear`: the value itself (capped at `cap` when given; rows outside
    `valid` can't be scored); `bands`: indicator per band [edges[i], edges[i+1]) against the
    first band; `categorical`: indicator per level against the first (reference) level."""

    name: str
    kind: Literal["linear", "bands", "categorical"]
    levels: tuple[str, ...] = ()
    edges: tuple[float, ...] = ()
    cap: float | None = None
    valid: tuple[float, float] | None = None
    unit: str = ""

    def columns(self) -> list[str]:
        """Design columns (the reference level or band has none)."""
        if self.kind == "linear":
            return [self.name]
        return [f"{self.name}[{lvl}]" for lvl in self.labels()[1:]]

    def labels(self) -> tuple[str, ...]:
        if self.kind == "categorical":
            return self.levels
        if self.kind == "bands":
            ends = [*self.edges[1:], math.inf]
            return tuple(f"{_num(a)}-{_num(b)}" if b != math.inf else f"{_num(a)}+"
                         for a, b in zip(self.edges, ends, strict=True))
        return ()

    def describe(self) -> str:
        if self.kind == "linear":
            text = f"{self.name}: linear per {self.unit or 'unit'}"
            if self.cap is not None:
                text += f", values above {_num(self.cap)} set to {_num(self.cap)}"
            if self.valid is not None:
                text += f", scored for {_num(self.valid[0])}–{_num(self.valid[1])}"
            return text
        lv = self.labels()
        kind = "bands" if self.kind == "bands" else "categories"
        unit = f"{self.unit}; " if self.unit else ""
        bands = " as [from, to)" if self.kind == "bands" else ""
        return f"{self.name}: {kind}{bands} {', '.join(lv)} ({unit}reference {lv[0]})"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class Predictors:
    """The model's pre-specified predictors, in design order."""

    terms: tuple[Term, ...]

    def columns(self) -> list[str]:
        return ["Intercept"] + [c for t in self.terms for c in t.columns()]

    def definitions(self) -> list[str]:
        return [t.describe() for t in self.terms]

    def design(self, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """The design matrix (rows that can be scored) and a reason per row that can't
        (None when it can). A missing column is an error, not a per-row reason."""
        missing = [t.name for t in self.terms if t.name not in table.columns]
        if missing:
            raise ValueError(f"columns missing: {', '.join(missing)}")
        reasons: list[list[str]] = [[] for _ in range(len(table))]
        cols: dict[str, np.ndarray] = {"Intercept": np.ones(len(table))}
        for t in self.terms:
            raw = table[t.name]
            absent = raw.isna().to_numpy()
            for i in np.flatnonzero(absent):
                reasons[i].append(f"missing {t.name}")
            if t.kind == "categorical":
                text = raw.astype("string")
                unknown = ~absent & ~text.isin(t.levels).fillna(False).to_numpy()
                for i in np.flatnonzero(unknown):
                    reasons[i].append(f"unknown {t.name} {quote(raw.iloc[i])}")
                for lvl in t.levels[1:]:
                    cols[f"{t.name}[{lvl}]"] = (text == lvl).fillna(False).to_numpy(float)
                continue
            values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
            bad = ~absent & ~np.isfinite(values)
            for i in np.flatnonzero(bad):
                reasons[i].append(f"{t.name} not a number {str(raw.iloc[i])!r}")
            if t.valid is not None:
                low, high = t.valid
                out = np.isfinite(values) & ((values < low) | (values > high))
                for i in np.flatnonzero(out):
                    reasons[i].append(f"{t.name} {_num(values[i])} out of range "
                                      f"[{_num(low)}, {_num(high)}]")
            if t.kind == "linear":
                cols[t.name] = np.minimum(values, t.cap) if t.cap is not None else values
            else:
                ends = [*t.edges[1:], math.inf]
                for lvl, a, b in list(zip(t.labels(), t.edges, ends, strict=True))[1:]:
                    cols[f"{t.name}[{lvl}]"] = ((values >= a) & (values < b)).astype(float)
        reason = pd.Series(["; ".join(r) if r else None for r in reasons], index=table.index,
                           dtype="object")
        X = pd.DataFrame(cols, index=table.index)[self.columns()]
        return X[reason.isna().to_numpy()], reason

    def to_dict(self) -> dict[str, Any]:
        return {"terms": [asdict(t) for t in self.terms]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Predictors:
        terms = []
        for t in data["terms"]:
            terms.append(Term(name=t["name"], kind=t["kind"], levels=tuple(t["levels"]),
                              edges=tuple(float(e) for e in t["edges"]), cap=t["cap"],
                              valid=None if t["valid"] is None else (float(t["valid"][0]),
                                                                     float(t["valid"][1])),
                              unit=t["unit"]))
        return cls(tuple(terms))


#: Prior net days in bands: none, up to a month, up to a quarter, up to half a year, more.
PRIOR_DAY_EDGES = (0.0, 1.0, 31.0, 91.0, 181.0)
PRIOR_DAY_EDGES_3Y = (0.0, 1.0, 91.0, 366.0)


def predictors(params: Mapping[str, Any] | None = None) -> Predictors:
    """The pre-specified predictors; `params` (e.g. the `risk.predictors` section of
    params.yaml) may override the age range, the bands' edges and the caps."""
    p = dict(params or {})
    age = tuple(float(a) for a in p.get("age_range", (18, 66)))
    return Predictors((
        Term("age", "linear", valid=(age[0], age[1]), unit="year"),
        Term("sex", "categorical", levels=("man", "kvinna")),
        Term("diagnosis_group", "categorical", levels=("other", "mental", "pain", "both")),
        Term("prior_netdays_1y", "bands",
             edges=tuple(float(e) for e in p.get("prior_netdays_1y_edges", PRIOR_DAY_EDGES)),
             valid=(0.0, 366.0), unit="net days in the year before"),
        Term("prior_netdays_3y", "bands",
             edges=tuple(float(e) for e in p.get("prior_netdays_3y_edges", PRIOR_DAY_EDGES_3Y)),
             valid=(0.0, 1096.0), unit="net days in the three years before"),
        Term("prior_spells", "linear", cap=float(p.get("prior_spells_cap", 5)),
             valid=(0.0, math.inf), unit="earlier spell"),
        Term("care_visits", "linear", cap=float(p.get("care_visits_cap", 20)),
             valid=(0.0, math.inf), unit="care visit in the 12 months before"),
        Term("employment", "categorical",
             levels=("sysselsatt", "arbetslos", "studerande", "ovrig")),
        Term("income_group", "categorical", levels=("mellan", "lag", "hog")),
    ))


@dataclass(frozen=True)
class OutcomeTable:
    """Spells with the outcome `long_sickleave` (ongoing after `threshold_days`), and the
    spells left out with the reason and count."""

    table: pd.DataFrame
    threshold_days: int
    excluded: dict[str, int]


def with_outcome(spells: pd.DataFrame, threshold_days: int = 90,
                 extraction_date: str | pd.Timestamp | None = None) -> OutcomeTable:
    """Long sick leave: `spell_days` > `threshold_days`. A spell censored (still ongoing at
    extraction) after the threshold is long; one censored at or before it has unknown outcome
    and is excluded. With `extraction_date`, every spell followed for `threshold_days` or fewer
    (counting both the start day and the extraction date) is excluded, censored or not:
    otherwise the short spells of that period stay in while its long ones are dropped, which
    biases the outcome downwards."""
    missing = [c for c in ("spell_days", "spell_censored") if c not in spells.columns]
    if missing:
        raise ValueError(f"columns missing: {', '.join(missing)}")
    days = pd.to_numeric(spells["spell_days"], errors="coerce")
    censored = spells["spell_censored"].astype("boolean")
    reasons = pd.Series(None, index=spells.index, dtype="object")
    reasons[days.isna()] = "spell_days missing"
    reasons[reasons.isna() & censored.isna()] = "spell_censored missing"
    if extraction_date is not None:
        start = pd.to_datetime(spells["spell_start"])
        short = (pd.Timestamp(extraction_date) - start).dt.days < threshold_days
        reasons[reasons.isna() & short.to_numpy()] = (
            f"follow-up shorter than {threshold_days} days")
    early = censored.fillna(False).to_numpy() & (days <= threshold_days).fillna(False).to_numpy()
    reasons[reasons.isna() & early] = f"censored at or before {threshold_days} days"
    keep = reasons.isna()
    table = spells[keep].copy()
    table[OUTCOME] = (days[keep] > threshold_days).astype(int)
    table.attrs["threshold_days"] = int(threshold_days)
    excluded = {str(k): int(v) for k, v in reasons[~keep].value_counts().sort_index().items()}
    return OutcomeTable(table, threshold_days, excluded)


def temporal_split(table: pd.DataFrame, train_years: Sequence[int],
                   test_years: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Development data (early index years) and temporal test data (later index years)."""
    train, test = {int(y) for y in train_years}, {int(y) for y in test_years}
    if train & test:
        raise ValueError(f"index years both in training and test: {sorted(train & test)}")
    if test and train and max(train) >= min(test):
        raise ValueError("a temporal split trains on earlier years than it tests on")
    years = table["index_year"].astype(int)
    return table[years.isin(train)].copy(), table[years.isin(test)].copy()


@dataclass(frozen=True)
class RiskModel:
    """A fitted risk model with its model card."""

    predictors: Predictors
    coefficients: dict[str, float]  # log-odds, per design column
    conf_low: dict[str, float] | None  # Wald 95 % limits (unpenalised fits only)
    conf_high: dict[str, float] | None
    std_errors: dict[str, float] | None
    penalty: str | None
    C: float | None
    threshold_days: int
    training_years: tuple[int, ...]
    n_train: int | None  # None in a model read from the published card (counts withheld)
    n_events: int | None
    excluded: dict[str, int]  # training rows that could not be used, by reason
    group_cuts: tuple[float, float]  # risk low < cut 1 ≤ medium < cut 2 ≤ high
    group_proportions: tuple[float, float, float] | None
    validation: dict[str, Any] = field(default_factory=dict)
    purpose: str = PURPOSE
    not_for: tuple[str, ...] = NOT_FOR
    package_version: str = __version__
    format_version: int = MODEL_FORMAT
    #: design columns the training data could not estimate (an empty level: R's NA); they
    #: have no coefficient, and a row with such a level cannot be scored
    aliased: tuple[str, ...] = ()

    def columns(self) -> list[str]:
        """The design columns with a coefficient."""
        return [c for c in self.predictors.columns() if c not in self.aliased]

    def design(self, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """`Predictors.design`, and a reason for each row whose level the training data did
        not have (an aliased column), so that such a row gets no risk rather than the
        reference level's."""
        X, reason = self.predictors.design(table)
        if not self.aliased:
            return X, reason
        reason = reason.copy()
        rows = np.flatnonzero(reason.isna().to_numpy())
        unseen = (X[list(self.aliased)] != 0).to_numpy()
        for i, flags in zip(rows, unseen, strict=True):
            if flags.any():
                reason.iloc[i] = "; ".join(f"{c} not in the training data"
                                           for c, f in zip(self.aliased, flags, strict=True)
                                           if f)
        return X[~unseen.any(axis=1)], reason

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        cols = self.columns()
        beta = np.array([self.coefficients[c] for c in cols])
        return X[cols].to_numpy(float) @ beta

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk (probability of long sick leave) for rows of a design matrix."""
        return 1.0 / (1.0 + np.exp(-self.linear_predictor(X)))


class FitFailed(ValueError):
    """A fit the data do not allow (a bootstrap resample with one outcome class or a
    predictor level it lacks): the resample is left out and counted, as rms::validate does."""


class Separated(FitFailed):
    """The outcome is separated: some maximum-likelihood odds ratio is infinite, and R's glm
    prints a huge coefficient and SE for it. `levels`: (column, spells, events) per level or
    band whose spells all have, or all lack, the outcome (R's glm usually stays silent about
    such a level: its fitted risks stop short of 10·eps); `glm`: what R's glm would warn
    ("fitted probabilities numerically 0 or 1 occurred", "algorithm did not converge"),
    which also catches separation by a combination of predictors or by a linear one."""

    def __init__(self, levels: Sequence[tuple[str, int, int]],
                 glm: GlmWarnings | None = None):
        self.levels = list(levels)
        self.glm = glm
        if self.levels:
            text = "complete separation: " + "; ".join(
                f"{c} has {n} spell(s), {e} long" for c, n, e in self.levels)
        else:
            assert glm is not None
            text = (f"separation: R's glm warns {'; '.join(glm.messages())} "
                    f"({glm.extreme} spell(s) with a fitted risk within 10·eps of 0 or 1)")
        super().__init__(text)


def _level_groups(X: pd.DataFrame) -> dict[str, list[str]]:
    """Indicator columns `term[level]` by term (a categorical or banded predictor)."""
    groups: dict[str, list[str]] = {}
    for col in map(str, X.columns[1:]):
        if "[" in col:
            groups.setdefault(col.split("[")[0], []).append(col)
    return groups


def separated(X: pd.DataFrame, y: np.ndarray, spec: Predictors | None = None
              ) -> list[tuple[str, int, int]]:
    """Levels or bands whose rows' outcomes are all 0 or all 1, the reference one (rows with
    none of the term's indicators) included, named `term[label]` (its label from `spec`,
    else `term[reference]`)."""
    labels = {t.name: t.labels() for t in spec.terms} if spec is not None else {}
    out = []
    for term, cols in _level_groups(X).items():
        ind = X[cols].to_numpy(float)
        if not np.isin(ind, (0.0, 1.0)).all():
            continue
        ref = labels[term][0] if labels.get(term) else "reference"
        for col, rows in [(f"{term}[{ref}]", ind.sum(axis=1) == 0),
                          *((c, ind[:, j] == 1) for j, c in enumerate(cols))]:
            n, e = int(rows.sum()), int(y[rows].sum())
            if n and e in (0, n):
                out.append((col, n, e))
    return out


def aliased(X: pd.DataFrame) -> tuple[str, ...]:
    """The design columns R's glm would report as NA: an empty level (all zero) or a column
    that is a combination of the ones before it (`survival.aliased_columns`; the intercept
    is the design's first column)."""
    gone = aliased_columns(X.drop(columns="Intercept").to_numpy(float))
    return tuple(str(c) for c in X.columns[1:][gone])


def _fit_design(X: pd.DataFrame, y: np.ndarray, penalty: Penalty, C: float,
                spec: Predictors | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Coefficients (and the unpenalised fit's covariance) on the design's scale. The design
    must have no aliased column (`aliased`; leave them out first) and both outcomes, and an
    unpenalised fit no separation (`Separated`: no finite estimate), neither by a level
    (`separated`) nor where R's glm would warn (`glm_warnings`)."""
    if y.min() == y.max():
        raise FitFailed(f"only one outcome class ({int(y[0])}) in {y.size} rows")
    gone = aliased(X)
    if gone:
        raise FitFailed(f"aliased column(s) {', '.join(gone)}")
    if penalty is None and (split := separated(X, y, spec)):
        raise Separated(split)
    if penalty is None and (glm := glm_warnings(X.to_numpy(float), y)).messages():
        raise Separated([], glm)
    if penalty is None:
        res = prediction.glm_logit(y, X.to_numpy(float))
        return res.params, res.cov
    if penalty not in ("l1", "l2"):
        raise ValueError("penalty must be None, 'l1' or 'l2'")
    Z = X.drop(columns="Intercept").to_numpy(float)
    centre, scale = Z.mean(axis=0), Z.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=C, l1_ratio=1.0 if penalty == "l1" else 0.0,
                               solver="saga" if penalty == "l1" else "lbfgs",
                               tol=1e-10, max_iter=100_000)
    model.fit((Z - centre) / scale, y)
    slopes = model.coef_[0] / scale  # penalised on the standardised scale, reported raw
    intercept = float(model.intercept_[0] - np.sum(slopes * centre))
    return np.concatenate([[intercept], slopes]), None


def fit(table: pd.DataFrame, spec: Predictors, penalty: Penalty = None, C: float = 1.0,
        group_cuts: Sequence[float] | None = None,
        group_proportions: Sequence[float] | None = (0.5, 0.3, 0.2),
        threshold_days: int | None = None) -> RiskModel:
    """Fit the model to spells with the outcome (`with_outcome(...).table`).

    `penalty` "l2" (ridge) or "l1" (lasso) fits scikit-learn's penalised logistic regression on
    standardised predictors with inverse strength `C`; otherwise R's unpenalised glm (with Wald
    intervals). Rows that can't be used are excluded and counted by reason on the model.
    Design columns the data cannot estimate (an empty level) are left out as glm's NA and
    named in the model's `aliased`. An unpenalised fit whose outcome is separated (a level or
    band with all or none long, or where R's glm would warn "fitted probabilities numerically
    0 or 1 occurred") raises `Separated`: its odds ratio has no finite estimate.
    Risk groups: fixed `group_cuts`, or cuts giving `group_proportions` of the training data.
    The outcome's threshold is the one `with_outcome` recorded, unless `threshold_days` says.
    """
    if OUTCOME not in table.columns:
        raise ValueError(f"no {OUTCOME} column: derive it with with_outcome()")
    threshold = int(threshold_days or table.attrs.get("threshold_days", 0))
    if threshold <= 0:
        raise ValueError("the outcome's threshold is unknown: give threshold_days")
    X, reason = spec.design(table)
    usable = reason.isna().to_numpy()
    y = _outcome(table, usable)
    gone = aliased(X)
    X = X.drop(columns=list(gone))
    beta, cov = _fit_design(X, y, penalty, C, spec)
    names = list(X.columns)
    coefs = {c: float(b) for c, b in zip(names, beta, strict=True)}
    low = high = se = None
    if cov is not None:
        z = sps.norm.ppf(0.975)
        s = np.sqrt(np.diag(cov))
        se = {c: float(v) for c, v in zip(names, s, strict=True)}
        low = {c: coefs[c] - z * se[c] for c in names}
        high = {c: coefs[c] + z * se[c] for c in names}
    p = 1.0 / (1.0 + np.exp(-(X.to_numpy(float) @ beta)))
    if group_cuts is not None:
        cuts = prediction.risk_groups(p, cuts=group_cuts).cuts
        props: tuple[float, float, float] | None = None
    else:
        if group_proportions is None:
            raise ValueError("give group_cuts or group_proportions")
        cuts = prediction.proportion_cuts(p, group_proportions)
        props = (float(group_proportions[0]), float(group_proportions[1]),
                 float(group_proportions[2]))
    excluded = {str(k): int(v) for k, v in reason.dropna().value_counts().sort_index().items()}
    years = tuple(sorted({int(v) for v in table["index_year"].to_numpy()[usable]}))
    return RiskModel(spec, coefs, low, high, se, penalty, None if penalty is None else float(C),
                     threshold, years, int(y.size), int(y.sum()), excluded,
                     (float(cuts[0]), float(cuts[1])), props, aliased=gone)


def _outcome(table: pd.DataFrame, usable: np.ndarray) -> np.ndarray:
    """The 0/1 outcome of the usable rows (by position, whatever the index)."""
    y = pd.to_numeric(table[OUTCOME], errors="coerce").to_numpy(float)[usable]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{OUTCOME} must be 0/1 on every row")
    return y.astype(int)


def _fitter(penalty: Penalty, C: float, drop: Sequence[str] = ()) -> prediction.Fitter:
    """The modelling procedure for the bootstrap: the columns the full fit left out
    (`drop`) stay out; any further aliasing in a resample fails its fit (`FitFailed`)."""
    def fitter(X: pd.DataFrame, y: np.ndarray) -> Any:
        X = X.drop(columns=list(drop))
        beta, _ = _fit_design(X, y, penalty, C)

        def predict(Xn: pd.DataFrame) -> np.ndarray:
            return 1.0 / (1.0 + np.exp(-(Xn.drop(columns=list(drop)).to_numpy(float) @ beta)))

        return predict

    return fitter


@dataclass(frozen=True)
class Validation:
    """The model fitted on the training years and its performance: apparent and optimism-
    corrected (bootstrap, training years) and on the later test years, overall and per sex.
    `table` has one row per (sample, subgroup) with n, events, auc (with DeLong limits),
    cal_intercept, cal_slope and brier; `calibration` and `decisions` are for the test
    years' plots."""

    model: RiskModel
    table: pd.DataFrame
    optimism: prediction.OptimismResult
    calibration: prediction.CalibrationCurve | None
    decisions: pd.DataFrame | None


def _levels(spec: Predictors, name: str, table: pd.DataFrame) -> tuple[str, ...]:
    """The levels of a categorical predictor; the data's own values when the model leaves
    it out (the validation per sex is reported whether or not sex is a predictor)."""
    for t in spec.terms:
        if t.name == name:
            return t.levels
    return tuple(sorted(str(v) for v in table[name].dropna().unique()))


def _perf_row(sample: str, subgroup: str, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    row: dict[str, Any] = {"sample": sample, "subgroup": subgroup, "n": int(y.size),
                           "events": int(y.sum())}
    if 0 < y.sum() < y.size:
        a = prediction.auc(y, p)
        cal = prediction.calibration(y, p)
        row |= {"auc": a.auc, "auc_low": a.conf_low, "auc_high": a.conf_high,
                "cal_intercept": cal.intercept.estimate, "cal_slope": cal.slope.estimate,
                "brier": prediction.brier(y, p)}
    return row


def validate(table: pd.DataFrame, spec: Predictors, train_years: Sequence[int],
             test_years: Sequence[int], penalty: Penalty = None, C: float = 1.0,
             n_boot: int = 200, seed: int = 20240901,
             thresholds: Sequence[float] = tuple(np.round(np.arange(0.05, 0.81, 0.05), 2)),
             progress: bool = False, **fit_args: Any) -> Validation:
    """Fit on `train_years` only; report apparent, optimism-corrected (Harrell's bootstrap on
    the training years, `n_boot` resamples) and temporal-test performance, also per sex.
    The test years never enter the fit. Per sex: apparent, optimism-corrected (the same
    resamples' models evaluated on each sex's rows) and temporal-test figures. Resamples
    whose fit fails are left out and counted (`optimism.failed`); `progress` shows a bar on
    the terminal (`prediction.optimism_corrected`). Test rows with a level the training
    years lack get no prediction (`RiskModel.design`)."""
    train, test = temporal_split(table, train_years, test_years)
    train.attrs = dict(table.attrs)
    model = fit(train, spec, penalty=penalty, C=C, **fit_args)
    Xtr, rtr = spec.design(train)
    ytr = _outcome(train, rtr.isna().to_numpy())
    sex_tr = train["sex"].to_numpy()[rtr.isna().to_numpy()]
    sexes = _levels(spec, "sex", table)
    opt = prediction.optimism_corrected(_fitter(penalty, C, model.aliased), Xtr, ytr,
                                        n_boot=n_boot, seed=seed,
                                        subgroups={s: sex_tr == s for s in sexes},
                                        progress=progress)
    rows = []
    ptr = model.predict(Xtr)
    rows.append(_perf_row("apparent", "all", ytr, ptr))
    rows.append({"sample": "optimism_corrected", "subgroup": "all", "n": int(ytr.size),
                 "events": int(ytr.sum()), **opt.corrected.as_dict()})
    for s in sexes:
        m = sex_tr == s
        rows.append(_perf_row("apparent", s, ytr[m], ptr[m]))
        rows.append({"sample": "optimism_corrected", "subgroup": s, "n": int(m.sum()),
                     "events": int(ytr[m].sum()), **opt.by_subgroup[s][2].as_dict()})
    curve = decisions = None
    if len(test):
        Xte, rte = model.design(test)
        yte = _outcome(test, rte.isna().to_numpy())
        pte = model.predict(Xte)
        sex_te = test["sex"].to_numpy()[rte.isna().to_numpy()]
        rows.append(_perf_row("temporal_test", "all", yte, pte))
        for s in _levels(spec, "sex", table):
            m = sex_te == s
            rows.append(_perf_row("temporal_test", s, yte[m], pte[m]))
        curve = prediction.calibration_curve(yte, pte)
        decisions = prediction.decision_curve(yte, pte, thresholds)
    frame = pd.DataFrame(rows)
    card = {"train_years": sorted(int(y) for y in train_years),
            "test_years": sorted(int(y) for y in test_years), "n_boot": n_boot, "seed": seed,
            "boot_failed": opt.failed,
            "performance": json.loads(frame.to_json(orient="records"))}
    return Validation(replace(model, validation=card), frame, opt, curve, decisions)


def save_model(model: RiskModel, path: str | Path) -> Path:
    """The model and its card as versioned JSON (UTF-8, sorted keys)."""
    data = asdict(model)
    data["predictors"] = model.predictors.to_dict()
    data["predictor_definitions"] = model.predictors.definitions()
    path = Path(path)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


#: `card` of the published model card (`report.published_card`): what scoring needs, counts
#: only as the appendix prints them.
PUBLISHED = "published"


def load_model(path: str | Path) -> RiskModel:
    """Read a model written by `save_model` (the full internal file) or the published card
    (`report.published_card`: no counts, so `n_train`, `n_events` and `excluded` are empty;
    its validation holds what scoring needs); refuses unknown format versions and a card whose
    coefficients were withheld."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format_version") != MODEL_FORMAT:
        raise ValueError(f"model format {data.get('format_version')!r} is not {MODEL_FORMAT}")
    if data.get("card") == PUBLISHED:
        return _from_card(data)
    data.pop("predictor_definitions", None)
    data["predictors"] = Predictors.from_dict(data["predictors"])
    for key in ("training_years", "not_for", "group_cuts", "aliased"):
        data[key] = tuple(data.get(key, ()))
    if data["group_proportions"] is not None:
        data["group_proportions"] = tuple(data["group_proportions"])
    return RiskModel(**data)


def _from_card(card: Mapping[str, Any]) -> RiskModel:
    """The scoring model in a published card."""
    if card.get("coefficients") is None:
        raise ValueError(f"the model card withholds the coefficients ({card.get('withheld')}); "
                         "it cannot score")
    validation = dict(card.get("validation") or {})
    validation["flow"] = {"derivation": {"income_groups": card.get("income_groups")}}
    props = card.get("group_proportions")
    predictors = Predictors.from_dict(card["predictors"])
    return RiskModel(
        predictors=predictors,
        aliased=tuple(c for c in predictors.columns() if c not in card["coefficients"]),
        coefficients={k: float(v) for k, v in card["coefficients"].items()},
        conf_low=card.get("conf_low"), conf_high=card.get("conf_high"),
        std_errors=card.get("std_errors"), penalty=card.get("penalty"), C=card.get("C"),
        threshold_days=int(card["threshold_days"]),
        training_years=tuple(int(y) for y in card["training_years"]),
        n_train=None, n_events=None, excluded={},
        group_cuts=(float(card["group_cuts"][0]), float(card["group_cuts"][1])),
        group_proportions=None if props is None else (float(props[0]), float(props[1]),
                                                      float(props[2])),
        validation=validation, purpose=card["purpose"], not_for=tuple(card["not_for"]),
        package_version=card["package_version"], format_version=int(card["format_version"]))


def score(new_spells: pd.DataFrame, model: RiskModel) -> pd.DataFrame:
    """Risk and risk group per row of new spells (a care centre's list), and for each row that
    can't be scored the reason (missing predictor, unknown category, value out of range);
    such rows get no risk, never a default. Columns: LopNr (when given), risk, group, reason."""
    X, reason = model.design(new_spells)
    out = pd.DataFrame(index=new_spells.index)
    if "LopNr" in new_spells.columns:
        out["LopNr"] = new_spells["LopNr"]
    values = np.full(len(new_spells), np.nan)
    values[reason.isna().to_numpy()] = model.predict(X)
    risk = pd.Series(values, index=new_spells.index)
    out["risk"] = risk
    lo, hi = model.group_cuts
    codes = np.where(risk.isna(), -1, (risk >= lo).astype(int) + (risk >= hi).astype(int))
    out["group"] = pd.Categorical.from_codes(codes, categories=list(prediction.GROUPS),
                                             ordered=True)
    out["reason"] = reason
    return out
