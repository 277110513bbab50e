"""Validation statistics checked by hand (R cross-checks are in test_prediction_r.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rehabkoord import prediction


def _data(n: int = 500, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 4, n)
    return (rng.random(n) < p).astype(int), p


def test_auc_by_pair_counting_with_ties():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.5, 0.5, 0.9, 0.3, 0.3])
    cases, controls = p[y == 1], p[y == 0]
    pairs = [(c > k) + 0.5 * (c == k) for c in cases for k in controls]
    assert prediction.auc(y, p).auc == pytest.approx(np.mean(pairs), rel=1e-15)
    assert prediction.auc_value(y, p) == pytest.approx(np.mean(pairs), rel=1e-15)


def test_auc_interval_is_nan_with_a_single_case_as_proc():
    res = prediction.auc([0, 1, 0, 0], [0.2, 0.6, 0.5, 0.1])
    assert res.auc == 1.0 and np.isnan(res.conf_low) and np.isnan(res.conf_high)
    with pytest.raises(ValueError, match="one case and one control"):
        prediction.auc([0, 0], [0.1, 0.2])


def test_brier_by_hand():
    assert prediction.brier([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.5]) == pytest.approx(
        (0.01 + 0.04 + 0.36 + 0.25) / 4, rel=1e-15)


def test_calibration_of_true_probabilities_and_of_overconfident_ones():
    y, p = _data(20_000, 2)
    good = prediction.calibration(y, p)
    assert good.intercept.conf_low < 0 < good.intercept.conf_high
    assert good.slope.conf_low < 1 < good.slope.conf_high
    logit = np.log(p / (1 - p))
    extreme = 1 / (1 + np.exp(-2 * logit))  # twice the log-odds: slope about 1/2
    assert prediction.calibration(y, extreme).slope.estimate == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        prediction.calibration([0, 1], [0.0, 0.5])


def test_calibration_curve_groups_keep_ties_together():
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.1, 0.1, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9])
    curve = prediction.calibration_curve(y, p, n_groups=5)
    assert curve.frac == pytest.approx(2 / 3)
    g = curve.groups
    assert g["n"].tolist() == [4, 3, 3]
    assert g["observed"].tolist() == pytest.approx([0.5, 1 / 3, 1.0])
    assert g["mean_predicted"].tolist() == pytest.approx([0.1, 0.5, 0.9])
    assert np.all(np.diff(curve.predicted) >= 0)


def test_decision_curve_equals_net_benefit_by_hand():
    y, p = _data(300, 3)
    p[:5] = 0.2  # predictions exactly at a threshold count as positive
    thresholds = [0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8]
    dc = prediction.decision_curve(y, p, thresholds)
    n = y.size
    for row in dc.itertuples():
        pt = row.threshold
        pos = p >= pt
        tp, fp = np.sum(pos & (y == 1)), np.sum(pos & (y == 0))
        assert row.model == pytest.approx(tp / n - fp / n * pt / (1 - pt), rel=1e-12, abs=1e-15)
        assert row.all == pytest.approx(y.mean() - (1 - y.mean()) * pt / (1 - pt), rel=1e-12,
                                        abs=1e-15)
        assert row.none == 0
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        prediction.decision_curve(y, p, [1.0])


def test_risk_groups_by_cuts_and_by_proportions_with_ties():
    p = np.array([0.05, 0.1, 0.2, 0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    y = np.array([0, 0, 0, 1, 0, 0, 1, 1, 0, 1])
    by_cut = prediction.risk_groups(p, cuts=(0.2, 0.5), y=y)
    assert list(by_cut.labels) == ["low"] * 2 + ["medium"] * 5 + ["high"] * 3
    s = by_cut.summary.set_index("group")
    assert s.loc["high", "n"] == 3 and s.loc["high", "events"] == 2
    assert s.loc["medium", "observed"] == pytest.approx(2 / 5)
    assert s.loc["low", "mean_predicted"] == pytest.approx(0.075)
    # 40 % low, 40 % medium, 20 % high: the top 6 reach down into the tie at 0.2, so the
    # whole tie is medium (whatever the row order)
    by_share = prediction.risk_groups(p, proportions=(0.4, 0.4, 0.2))
    assert by_share.cuts == (0.2, 0.6)
    assert list(by_share.labels) == ["low"] * 2 + ["medium"] * 6 + ["high"] * 2
    order = np.random.default_rng(0).permutation(p.size)
    again = prediction.risk_groups(p[order], proportions=(0.4, 0.4, 0.2))
    assert list(again.labels) == [by_share.labels[i] for i in order]
    with pytest.raises(ValueError, match="either cuts or proportions"):
        prediction.risk_groups(p)


def _logistic(X, y):
    design = np.column_stack([np.ones(len(y)), np.asarray(X, dtype=float)])
    beta = prediction.glm_logit(y, design).params
    return lambda Xn: 1 / (1 + np.exp(-(np.column_stack([np.ones(len(Xn)), Xn]) @ beta)))


def test_optimism_is_positive_for_an_overfitted_model_and_deterministic():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 10))  # 10 noise predictors: apparent performance is optimistic
    y = (rng.random(120) < 1 / (1 + np.exp(-X[:, 0]))).astype(int)
    a = prediction.optimism_corrected(_logistic, X, y, n_boot=30, seed=9)
    again = prediction.optimism_corrected(_logistic, X, y, n_boot=30, seed=9)
    frame = prediction.optimism_corrected(_logistic, pd.DataFrame(X), y, n_boot=30, seed=9)
    assert a.corrected == again.corrected and a.seed == 9 and a.n_boot == 30
    for k, v in frame.corrected.as_dict().items():  # rows taken by position from a frame too
        assert v == pytest.approx(a.corrected.as_dict()[k], rel=1e-10, abs=1e-12)
    assert a.apparent.cal_slope == pytest.approx(1.0, abs=1e-9)
    assert a.apparent.cal_intercept == pytest.approx(0.0, abs=1e-9)
    assert a.optimism.auc > 0 and a.corrected.auc < a.apparent.auc
    assert a.corrected.cal_slope < 1
    per = a.per_resample
    assert a.optimism.brier == pytest.approx(per["brier"].mean())
    with pytest.raises(ValueError, match="n_boot × n"):
        prediction.optimism_corrected(_logistic, X, y, indices=np.zeros((3, 5), dtype=int))


def test_failed_resamples_are_left_out_and_counted_as_rms_validate_does():
    """A resample with one outcome class and one whose fit fails (singular) are left out; the
    correction equals the one computed on the other resamples alone."""
    rng = np.random.default_rng(6)
    n = 80
    X = np.column_stack([rng.normal(size=(n, 3)), np.arange(n)])  # last column: row number
    y = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(int)

    def picky(Xb, yb):
        """The first 40 rows alone make this procedure's fit singular."""
        if (Xb[:, -1] < 40).all():
            raise np.linalg.LinAlgError("Singular matrix")
        fitted = _logistic(Xb[:, :-1], yb)
        return lambda Xn: fitted(Xn[:, :-1])

    good = prediction.bootstrap_indices(n, 6, 3)
    one_class = np.full(n, int(np.flatnonzero(y == 1)[0]))
    singular = np.arange(n) % 40
    both = prediction.optimism_corrected(picky, X, y,
                                         indices=np.vstack([good, [one_class], [singular]]))
    alone = prediction.optimism_corrected(picky, X, y, indices=good)
    assert both.failed == {"only one outcome class": 1, "Singular matrix": 1}
    assert both.n_boot == 6 and alone.failed == {}
    assert both.corrected == alone.corrected
    with pytest.raises(ValueError, match="every one of 2 bootstrap resamples failed"):
        prediction.optimism_corrected(picky, X, y, indices=np.vstack([[one_class], [singular]]))


def test_the_bootstrap_shows_progress_on_a_terminal_only(tmp_path):
    """tqdm's bar on the process's stderr when that is a terminal (a stage run by hand), and
    nothing when it is not (logs, tests)."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    code = ("import numpy as np; from rehabkoord import prediction; "
            "rng = np.random.default_rng(1); X = rng.normal(size=(60, 2)); "
            "y = (rng.random(60) < 0.5).astype(int); "
            "f = lambda X, y: (lambda Xn: 1 / (1 + np.exp(-Xn[:, 0] * (0.5 + y.mean())))); "
            "prediction.optimism_corrected(f, X, y, n_boot=5, progress=True)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    run = subprocess.Popen([sys.executable, "-c", code], stderr=child, stdout=subprocess.PIPE,
                           env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    done = subprocess.CompletedProcess(run.args, run.wait(timeout=120))
    shown = b"".join(chunks).decode(errors="replace")
    assert done.returncode == 0 and "bootstrap:   0%" in shown and "0/5" in shown
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, timeout=120)
    assert piped.returncode == 0 and piped.stderr == ""
