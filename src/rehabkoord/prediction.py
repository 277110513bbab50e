"""Validation statistics of a risk prediction model that agree with R.

Discrimination (`auc`: pROC's AUC with DeLong's interval), calibration (`calibration`: the
intercept and slope of R's `glm`; `calibration_curve`: a lowess smoother and deciles for the
plot), overall accuracy (`brier`), clinical usefulness (`decision_curve`: net benefit),
Harrell's bootstrap correction of optimism (`optimism_corrected`) and risk groups
(`risk_groups`). Outcomes `y` are 0/1 (1 = the event, here long sick leave); predictions `p`
are probabilities of the event.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from dcurves import dca
from MLstatkit import Delong_test
from scipy import stats as sps
from scipy.special import logit
from statsmodels.nonparametric.smoothers_lowess import lowess
from tqdm import tqdm

#: IRLS stops when the deviance changes by less than this (absolute); R's glm default of
#: 1e-8 relative leaves coefficients correct to about 1e-8 only, so R cross-checks ask glm
#: for epsilon=1e-14 as well.
GLM_TOL = 1e-13
GLM_MAXITER = 100
#: lowess span for the calibration curve, as rms::val.prob (f = 2/3, no robustness steps:
#: robustness weights make no sense for 0/1 outcomes).
LOWESS_FRAC = 2 / 3
GROUPS = ("low", "medium", "high")
#: MLstatkit compares two models; given one model twice, the difference is degenerate and it
#: falls back to a bootstrap of that difference, which we discard (the per-model interval is
#: DeLong's either way). A few resamples keep that cheap; the seed keeps it deterministic.
_MLSTATKIT_DISCARDED_BOOT = 20


def _binary(y: Any) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype == bool:
        arr = arr.astype(int)
    arr = arr.astype(float)
    if arr.ndim != 1 or not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError("outcomes must be a 1-d array of 0/1 (or booleans)")
    return arr.astype(int)


def _probabilities(p: Any, n: int, open_interval: bool = False) -> np.ndarray:
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"predictions must be a 1-d array as long as the outcomes ({n})")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ValueError("predictions must be probabilities in [0, 1]")
    if open_interval and ((arr == 0) | (arr == 1)).any():
        raise ValueError("calibration needs predictions strictly between 0 and 1 (logit)")
    return arr


@dataclass(frozen=True)
class AucResult:
    """Area under the ROC curve (P(risk of a case > risk of a control), ties count ½) with
    DeLong's interval (pROC `ci.auc(roc(y, p, levels = c(0, 1), direction = "<"))`)."""

    auc: float
    conf_low: float
    conf_high: float
    conf_level: float
    n_cases: int
    n_controls: int


def _cases_controls(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Outcome, predictions, number of cases and of controls; both must be present."""
    yy = _binary(y)
    pp = _probabilities(p, yy.size)
    m = int(yy.sum())
    n = yy.size - m
    if m == 0 or n == 0:
        raise ValueError("the AUC needs at least one case and one control")
    return yy, pp, m, n


def auc_value(y: Any, p: Any) -> float:
    """The AUC alone (Mann–Whitney with mid-ranks), fast enough for bootstrap loops."""
    yy, pp, m, n = _cases_controls(y, p)
    ranks = sps.rankdata(pp)
    return float((ranks[yy == 1].sum() - m * (m + 1) / 2) / (m * n))


def auc(y: Any, p: Any, conf_level: float = 0.95) -> AucResult:
    """AUC with DeLong's confidence interval, via MLstatkit; equal to pROC.

    As pROC: higher predictions are expected in cases (direction "<"), the interval is clipped
    to [0, 1], and with fewer than two cases or two controls the interval is NaN (MLstatkit
    would return a zero-width interval there).
    """
    yy, pp, m, n = _cases_controls(y, p)
    if m < 2 or n < 2:
        return AucResult(auc_value(yy, pp), np.nan, np.nan, conf_level, m, n)
    out = Delong_test(yy, pp, pp, alpha=conf_level, return_ci=True, return_auc=True,
                      n_boot=_MLSTATKIT_DISCARDED_BOOT, random_state=0)
    (low, high), value = out[2], out[4]
    return AucResult(float(value), float(low), float(high), conf_level, m, n)


@dataclass(frozen=True)
class Coefficient:
    """One GLM coefficient with its Wald interval (R `confint.default`)."""

    estimate: float
    std_error: float
    conf_low: float
    conf_high: float


@dataclass(frozen=True)
class CalibrationResult:
    """Calibration-in-the-large (intercept with logit(p) as offset; 0 is ideal) and the
    calibration slope (on logit(p); 1 is ideal, < 1 means predictions too extreme)."""

    intercept: Coefficient
    slope: Coefficient
    slope_intercept: Coefficient  # the intercept of the slope model
    conf_level: float


@dataclass(frozen=True)
class GlmFit:
    """A converged logistic regression: coefficients and their standard errors from the
    information matrix at the solution."""

    params: np.ndarray
    bse: np.ndarray
    cov: np.ndarray = field(repr=False)


def glm_logit(y: np.ndarray, x: np.ndarray, offset: np.ndarray | None = None) -> GlmFit:
    """Logistic regression by IRLS (statsmodels GLM, R's algorithm) to `GLM_TOL`.

    Standard errors come from the expected information at the final coefficients. (IRLS, in R
    and statsmodels alike, reports the weights of the last-but-one iterate, which moves the
    standard errors by up to ~1e-8 relative.)
    """
    model = sm.GLM(y, x, family=sm.families.Binomial(), offset=offset)
    res = model.fit(tol=GLM_TOL, maxiter=GLM_MAXITER)
    params = np.asarray(res.params, dtype=float)
    cov = np.linalg.inv(-model.hessian(params, observed=False))
    return GlmFit(params, np.sqrt(np.diag(cov)), cov)


def _coefficient(res: GlmFit, i: int, conf_level: float) -> Coefficient:
    est, se = float(res.params[i]), float(res.bse[i])
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    return Coefficient(est, se, est - z * se, est + z * se)


def calibration(y: Any, p: Any, conf_level: float = 0.95) -> CalibrationResult:
    """R's `glm(y ~ offset(qlogis(p)), binomial)` and `glm(y ~ qlogis(p), binomial)`.

    Intervals are Wald's (`confint.default`), not profile likelihood (`confint`)."""
    yy = _binary(y)
    lp = logit(_probabilities(p, yy.size, open_interval=True))
    ones = np.ones((yy.size, 1))
    large = glm_logit(yy, ones, offset=lp)
    slope = glm_logit(yy, np.column_stack([ones, lp]))
    return CalibrationResult(_coefficient(large, 0, conf_level), _coefficient(slope, 1, conf_level),
                             _coefficient(slope, 0, conf_level), conf_level)


@dataclass(frozen=True)
class CalibrationCurve:
    """Data for the calibration plot: the smoothed observed risk at each distinct prediction
    (lowess with span `frac`, as R `lowess(p, y, f = frac, iter = 0)`), and observed vs mean
    predicted risk in `n_groups` quantile groups of the predictions."""

    predicted: np.ndarray = field(repr=False)  # sorted predictions
    smoothed: np.ndarray = field(repr=False)  # smoothed observed risk at `predicted`
    groups: pd.DataFrame  # group, n, events, observed, mean_predicted
    frac: float


def calibration_curve(y: Any, p: Any, frac: float = LOWESS_FRAC, n_groups: int = 10) -> CalibrationCurve:
    """Smoothed and grouped observed risk against predicted risk.

    Groups are quantile groups of the predictions (deciles by default); equal predictions
    always share a group, so with ties there may be fewer or unequal groups.
    """
    yy = _binary(y)
    pp = _probabilities(p, yy.size)
    fitted = lowess(yy.astype(float), pp, frac=frac, it=0, delta=0.0, return_sorted=True)
    group = pd.qcut(pp, n_groups, labels=False, duplicates="drop")
    frame = pd.DataFrame({"group": np.asarray(group) + 1, "y": yy, "p": pp})
    groups = (frame.groupby("group")
              .agg(n=("y", "size"), events=("y", "sum"), observed=("y", "mean"),
                   mean_predicted=("p", "mean"))
              .reset_index())
    return CalibrationCurve(fitted[:, 0], fitted[:, 1], groups, frac)


def brier(y: Any, p: Any) -> float:
    """Mean squared difference between prediction and outcome (0 is perfect)."""
    yy = _binary(y)
    pp = _probabilities(p, yy.size)
    return float(np.mean((pp - yy) ** 2))


def decision_curve(y: Any, p: Any, thresholds: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """Net benefit per threshold probability pt for the model, treating all and treating none
    (dcurves): NB = TP/n − FP/n · pt/(1 − pt), a prediction at or above pt counting as
    positive. Columns: threshold, model, all, none; thresholds must lie in [0, 1)."""
    yy = _binary(y)
    pp = _probabilities(p, yy.size)
    pts = [float(t) for t in thresholds]
    if any(not 0 <= t < 1 for t in pts):
        raise ValueError("thresholds must lie in [0, 1)")
    data = pd.DataFrame({"outcome": yy, "model": pp})
    out = dca(data=data, outcome="outcome", modelnames=["model"], thresholds=pts)
    wide = out.pivot_table(index="threshold", columns="model", values="net_benefit", sort=False)
    wide = wide.reindex(pts)
    return pd.DataFrame({"threshold": pts, "model": wide["model"].to_numpy(float),
                         "all": wide["all"].to_numpy(float), "none": wide["none"].to_numpy(float)})


@dataclass(frozen=True)
class Performance:
    """AUC, calibration intercept (in the large) and slope, and Brier score of one set of
    predictions."""

    auc: float
    cal_intercept: float
    cal_slope: float
    brier: float

    def as_dict(self) -> dict[str, float]:
        return {"auc": self.auc, "cal_intercept": self.cal_intercept,
                "cal_slope": self.cal_slope, "brier": self.brier}


MEASURES = ("auc", "cal_intercept", "cal_slope", "brier")


def performance(y: Any, p: Any) -> Performance:
    """The point estimates `optimism_corrected` corrects."""
    cal = calibration(y, p)
    return Performance(auc_value(y, p), cal.intercept.estimate, cal.slope.estimate, brier(y, p))


#: A model-fitting procedure: given predictors and 0/1 outcomes, returns a function that maps
#: predictors to predicted probabilities. The whole procedure is repeated in each resample.
Fitter = Callable[[Any, np.ndarray], Callable[[Any], np.ndarray]]


@dataclass(frozen=True)
class OptimismResult:
    """Harrell's bootstrap: corrected = apparent − mean over resamples of (performance of the
    resample's model in the resample − its performance in the original data)."""

    apparent: Performance
    optimism: Performance
    corrected: Performance
    n_boot: int
    seed: int | None
    per_resample: pd.DataFrame = field(repr=False)  # the optimism of each resample
    #: per subgroup (e.g. sex): (apparent, optimism, corrected), the same resamples' models
    #: evaluated on the subgroup's rows of the resample and of the original data
    by_subgroup: dict[str, tuple[Performance, Performance, Performance]] = field(
        default_factory=dict, repr=False)
    #: resamples left out because their fit or performance failed, by reason (rms::validate
    #: leaves them out likewise and says how many)
    failed: dict[str, int] = field(default_factory=dict)


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) row indices drawn with replacement (numpy PCG64), deterministic in seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def _take(x: Any, idx: np.ndarray) -> Any:
    return x.iloc[idx] if isinstance(x, pd.DataFrame | pd.Series) else np.asarray(x)[idx]


def progress_bar(items: Any, total: int, what: str, show: bool = True) -> Any:
    """`items` with a tqdm bar on the process's own stderr (not a notebook's captured one),
    shown only when asked and that stderr is a terminal: a stage run by hand shows it, logs,
    tests and executed notebooks stay clean."""
    stream = sys.__stderr__
    on = show and stream is not None and stream.isatty()
    return tqdm(items, total=total, desc=what, unit="resample", file=stream, disable=not on,
                leave=False, mininterval=1.0)


def optimism_corrected(fit: Fitter, X: Any, y: Any, n_boot: int = 200, seed: int = 20240901,
                       indices: np.ndarray | None = None,
                       subgroups: Mapping[str, Any] | None = None,
                       progress: bool = False) -> OptimismResult:
    """Optimism-corrected AUC, calibration intercept and slope, and Brier score.

    `fit(X, y)` is the whole modelling procedure (penalised fits included); it is repeated
    on each of `n_boot` resamples drawn by `bootstrap_indices(n, n_boot, seed)`, or on the
    rows given as `indices` (n_boot × n), which then override n_boot and seed. `subgroups`
    (name → boolean mask over the rows) adds the correction within each subgroup: each
    resample's model, fitted on all its rows, is evaluated on the subgroup's rows of the
    resample and of the original data (`by_subgroup`).

    A resample whose fit or performance cannot be computed (one outcome class, in all or in
    a subgroup; a singular fit: the fitter raises ValueError or LinAlgError) is left out and
    counted by reason in `failed`, as rms::validate does; `n_boot` is then the number used.
    When none succeeds, ValueError. `progress`: a bar on the terminal (`progress_bar`).
    """
    yy = _binary(y)
    n = yy.size
    if indices is None:
        indices, seed_used = bootstrap_indices(n, n_boot, seed), seed
    else:
        indices, seed_used = np.asarray(indices, dtype=np.int64), None
        if indices.ndim != 2 or indices.shape[1] != n or indices.min() < 0 or indices.max() >= n:
            raise ValueError("indices must be n_boot × n row numbers in [0, n)")
        n_boot = indices.shape[0]
    masks = {str(k): np.asarray(v, dtype=bool) for k, v in (subgroups or {}).items()}
    if any(m.shape != (n,) for m in masks.values()):
        raise ValueError("each subgroup mask must have one value per row")
    predict = fit(X, yy)
    p_all = predict(X)
    apparent = performance(yy, p_all)
    rows = []
    sub_rows: dict[str, list] = {k: [] for k in masks}
    failed: dict[str, int] = {}
    for idx in progress_bar(indices, len(indices), "bootstrap", progress):
        xb, yb = _take(X, idx), yy[idx]
        try:
            if yb.min() == yb.max():
                raise ValueError("only one outcome class")
            pred_b = fit(xb, yb)
            p_boot, p_orig = pred_b(xb), pred_b(X)
            row = _difference(performance(yb, p_boot), performance(yy, p_orig))
            subs = {k: _difference(performance(yb[m[idx]], p_boot[m[idx]]),
                                   performance(yy[m], p_orig[m])) for k, m in masks.items()}
        except (ValueError, np.linalg.LinAlgError) as err:
            reason = str(err) or type(err).__name__
            failed[reason] = failed.get(reason, 0) + 1
            continue
        rows.append(row)
        for k, d in subs.items():
            sub_rows[k].append(d)
    if not rows:
        raise ValueError(f"every one of {len(indices)} bootstrap resamples failed: "
                         + "; ".join(f"{r} ({n})" for r, n in sorted(failed.items())))
    per = pd.DataFrame(rows, columns=list(MEASURES))
    optimism, corrected = _correct(apparent, per)
    by_subgroup = {}
    for k, m in masks.items():
        app_k = performance(yy[m], p_all[m])
        by_subgroup[k] = (app_k, *_correct(app_k, pd.DataFrame(sub_rows[k],
                                                                columns=list(MEASURES))))
    return OptimismResult(apparent, optimism, corrected, len(rows), seed_used, per,
                          by_subgroup, failed)


def _difference(boot: Performance, test: Performance) -> dict[str, float]:
    b, t = boot.as_dict(), test.as_dict()
    return {k: b[k] - t[k] for k in MEASURES}


def _correct(apparent: Performance, per: pd.DataFrame) -> tuple[Performance, Performance]:
    """Mean optimism over resamples and the corrected performance."""
    optimism = Performance(*(float(per[k].mean()) for k in MEASURES))
    corrected = Performance(*(apparent.as_dict()[k] - optimism.as_dict()[k] for k in MEASURES))
    return optimism, corrected


@dataclass(frozen=True)
class RiskGroups:
    """Risk group per prediction (low < cuts[0] ≤ medium < cuts[1] ≤ high) and a summary per
    group: n, events and observed rate (when outcomes were given) and mean predicted risk."""

    labels: pd.Categorical = field(repr=False)
    cuts: tuple[float, float]
    summary: pd.DataFrame


def proportion_cuts(p: Any, proportions: Sequence[float]) -> tuple[float, float]:
    """Cut points giving about `proportions` (low, medium, high; summing to 1) of `p`.

    Each cut is the smallest prediction among the top round(n · share) predictions, so rows
    with equal predictions always fall in the same (the higher) group, whatever their order.
    """
    pp = np.asarray(p, dtype=float)
    if len(proportions) != 3 or any(s < 0 for s in proportions) \
            or not np.isclose(sum(proportions), 1.0):
        raise ValueError("proportions must be three non-negative shares (low, medium, high) "
                         "summing to 1")
    desc = np.sort(pp)[::-1]
    cuts = []
    for share in (proportions[1] + proportions[2], proportions[2]):
        k = int(round(pp.size * share))
        cuts.append(float(desc[k - 1]) if k > 0 else np.inf)
    return cuts[0], cuts[1]


def risk_groups(p: Any, cuts: Sequence[float] | None = None,
                proportions: Sequence[float] | None = None, y: Any = None) -> RiskGroups:
    """Low / medium / high risk by cut points (probabilities) or by fixed proportions."""
    pp = np.asarray(p, dtype=float)
    if (cuts is None) == (proportions is None):
        raise ValueError("give either cuts or proportions")
    if cuts is not None:
        if len(cuts) != 2 or not cuts[0] <= cuts[1]:
            raise ValueError("cuts must be two increasing probabilities (low|medium, medium|high)")
        c = (float(cuts[0]), float(cuts[1]))
    else:
        assert proportions is not None
        c = proportion_cuts(pp, proportions)
    codes = (pp >= c[0]).astype(int) + (pp >= c[1]).astype(int)
    labels = pd.Categorical.from_codes(codes, categories=list(GROUPS), ordered=True)
    frame = pd.DataFrame({"group": labels, "p": pp})
    if y is not None:
        frame["y"] = _binary(y)
    agg: dict[str, tuple[str, Any]] = {"n": ("p", "size"), "mean_predicted": ("p", "mean")}
    if y is not None:
        agg |= {"events": ("y", "sum"), "observed": ("y", "mean")}
    summary = frame.groupby("group", observed=False).agg(**agg).reset_index()
    return RiskGroups(labels, c, summary)
