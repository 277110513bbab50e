"""Issue 26 on the risk study: the published model card holds no count the appendix
withholds and still scores; decision-curve points, calibration deciles and model estimates
follow the rules for statistics other than counts. Each test reproduces a leak of the
published appendix or its files before the fix."""

from __future__ import annotations

import json
from dataclasses import replace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from rehabkoord.disclosure import SUPPRESSED, Rules  # noqa: E402
from rehabkoord.studies import risk  # noqa: E402
from rehabkoord.studies.risk import report  # noqa: E402

#: Where a published card may hold whole numbers: the scoring rules and the design, never
#: a count (counts are the appendix's texts).
SCORING = ("format_version", "threshold_days", "training_years", "predictors",
           "validation.train_years", "validation.test_years", "validation.n_boot",
           "validation.seed", "counts.rules.min_cell")


def whole_numbers(node, path: str = "") -> list[tuple[str, int]]:
    """Every whole number in a JSON document with its path (a count hides as one)."""
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in whole_numbers(v, f"{path}.{k}".strip("."))]
    if isinstance(node, list):
        return [x for v in node for x in whole_numbers(v, path)]
    if isinstance(node, int) and not isinstance(node, bool):
        return [(path, node)]
    if isinstance(node, float) and node.is_integer() and not path.startswith(
            ("coefficients", "conf_", "std_errors", "group_", "income_groups", "C",
             "validation.performance", "predictors")):
        return [(path, int(node))]
    return []


def leaked_counts(card: dict) -> list[tuple[str, int]]:
    return [(p, v) for p, v in whole_numbers(card) if not p.startswith(SCORING)]


@pytest.fixture(scope="module")
def withholding(run):
    """Rules under which some exclusion counts of the flow are withheld (as the default
    appendix withholds 4 behind "<5" and 72 behind "–")."""
    _, _, _, res = run
    f = res.flow
    counts = [*f["excluded_outcome"].values(), *f["excluded_training"].values()]
    rules = Rules(min_cell=min(c for c in counts if c > 0) + 1)
    pub = report.publish(res, rules)
    assert pub.withheld
    return res, pub


def test_the_published_card_holds_no_withheld_count(withholding, tmp_path):
    res, pub = withholding
    # the model file as the report stage published it before the fix: every count
    full = json.loads(risk.save_model(res.model, tmp_path / "full.json").read_text())
    assert leaked_counts(full)
    withheld = {pub.structure.values[k] for k in pub.withheld}
    assert withheld & {v for _, v in whole_numbers(full)}
    card = report.published_card(res, pub)
    assert leaked_counts(card) == []
    for r, text in card["counts"]["excluded_training"].items():
        assert text == pub.text(("flow", "excluded_training", r), "en")
    for r, text in card["counts"]["excluded_outcome"].items():
        assert text == pub.text(("flow", "excluded", r), "en")
    printed = {**{("flow", "excluded", r): t for r, t in card["counts"]["excluded_outcome"].items()},
               **{("flow", "excluded_training", r): t
                  for r, t in card["counts"]["excluded_training"].items()}}
    hidden = [k for k in pub.withheld if k in printed]
    assert hidden and all(printed[k] in (pub.rules.mark, SUPPRESSED) for k in hidden)
    assert all(not (r["sample"] == "temporal_test" and r["subgroup"] == "all")
               for r in card["validation"]["performance"])  # its n is withheld here


def test_the_published_card_scores_as_the_full_model(withholding, tmp_path, run):
    res, pub = withholding
    _, spells, _, _ = run
    path = report.write_published_card(res, pub, tmp_path / "modell.json")
    loaded = risk.load_model(path)
    assert loaded.n_train is None and loaded.excluded == {}
    assert loaded.coefficients == res.model.coefficients
    assert (loaded.validation["flow"]["derivation"]["income_groups"]
            == res.flow["derivation"]["income_groups"])
    pd.testing.assert_frame_equal(risk.score(spells.head(200), loaded),
                                  risk.score(spells.head(200), res.model))


def test_coefficients_are_withheld_below_min_df(run, tmp_path):
    _, _, _, res = run
    rules = Rules(min_cell=5, min_df=res.model.n_train)  # n − p < min_df
    pub = report.publish(res, rules)
    table = report.coefficient_table(res, "en", pub)
    assert (table["Coefficient (log-odds)"].isin(["", SUPPRESSED])).all()
    assert (table["Coefficient (log-odds)"] == SUPPRESSED).sum() == len(res.model.coefficients)
    card = report.published_card(res, pub)
    assert card["coefficients"] is None and card["conf_low"] is None
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ValueError, match="withholds the coefficients"):
        risk.load_model(path)
    assert SUPPRESSED not in report.coefficient_table(res, "en", report.publish(
        res, Rules(min_cell=5))).to_numpy()


def test_decision_curve_points_rest_on_bins_of_zero_or_at_least_min_cell(run):
    """A point of the published decision curve pins its true and false positives to the
    whole-number solutions of NB·n = TP − FP·pt/(1 − pt) (with n and the events published,
    often one); between two points the difference is the patients whose risk lies between
    the two thresholds. Before the fix every threshold was published: bins of a few
    patients. The bins are checked on the true counts behind the published thresholds."""
    _, _, _, res = run
    d = res.decisions.set_index("threshold")
    n, events = int(d["n"].iloc[0]), int(d["events"].iloc[0])
    rules = Rules(min_cell=40)
    before = res.decisions[["threshold", "model", "all", "none"]]
    fig, after = report.decision_figure(res, "sv", rules)
    hidden = len(res.decisions) - len(after)
    assert [t.get_text() for t in fig.axes[0].texts] == [
        f"× {hidden} av {len(res.decisions)} tröskelvärden skyddade"]  # not left out silently
    assert list(after.columns) == ["threshold", "model", "all", "none"]
    np.testing.assert_array_equal(after["model"], d.loc[after["threshold"], "model"])

    def small_bins(points: pd.DataFrame) -> list[int]:
        counts = [(events, n - events),
                  *zip(d.loc[points["threshold"], "tp"], d.loc[points["threshold"], "fp"],
                       strict=True), (0, 0)]
        steps = [a - b for x, y in zip(counts[:-1], counts[1:], strict=True)
                 for a, b in zip(x, y, strict=True)]
        return [s for s in steps if 0 < s < rules.min_cell]

    assert small_bins(before)
    assert 3 <= len(after) < len(before) and small_bins(after) == []
    # the curves rest on the test years' counts: none when these are withheld
    assert not report.publish(res, rules).shown(("n", "test", "all"))
    fig, none = report.decision_figure(res, "en", rules, report.publish(res, rules))
    assert none.empty and [t.get_text() for t in fig.axes[0].texts] == ["× withheld"]


def test_calibration_deciles_cannot_be_recovered_from_the_totals(run):
    """The old rule hid a decile with few events and published the rest: with the test
    years' events published, the hidden decile's count was their difference."""
    _, _, _, res = run
    groups = res.calibration_groups.copy()
    groups.loc[0, "events"] = 3
    groups.loc[0, "observed"] = 3 / groups.loc[0, "n"]
    tweaked = replace(res, calibration_groups=groups)
    rules = Rules(min_cell=5)
    old = (groups["events"] >= 5) & (groups["n"] - groups["events"] >= 5)
    assert groups.loc[~old, "events"].sum() == 3  # total events − published ones = 3
    shown = report.calibration_deciles(tweaked, rules)
    hidden = groups[~shown]
    assert len(hidden) >= 2 and not rules.small(int(hidden["events"].sum()))
    assert not rules.small(int((hidden["n"] - hidden["events"]).sum()))
    fig, data = report.calibration_figure(tweaked, rules, "en")
    assert (data["kind"] == "decile").sum() == int(shown.sum()) == len(groups) - len(hidden)
    said = [t.get_text() for t in fig.axes[0].texts]
    assert said == [f"× {len(hidden)} of {len(groups)} deciles withheld"]  # not left out silently


def test_appendix_states_the_rules_in_both_languages(withholding):
    _, pub = withholding
    for language in ("sv", "en"):
        text = report.Text(language).disclosure(pub)
        assert pub.rules.describe(language) in text
        assert "modell.json" in text


# --- report.protection: round (issue 27, item 2) -------------------------------------------

def _round_appendix(built, base: int = 5) -> tuple:
    """The report stage's publication re-made with `report.protection: round` (`base`:
    report.rounding_base) on the shared executed pipeline's outputs (default synthetic data)."""
    from rehabkoord.params import load_params
    from rehabkoord.studies.risk import analysis, effect

    params = load_params(built / "notebooks" / "risk" / "params.yaml")
    data = built / "data" / "processed" / "risk"
    res = analysis.Results.read(data / "tables", data / "modell.json")
    eff = effect.EffectByRisk.read(data / "effect")
    rules = Rules.from_params(params["report"] | {"protection": "round", "rounding_base": base})
    return res, eff, report.publish(res, rules, eff)


def _digits(text: str) -> int:
    return int("".join(ch for ch in text if ch.isdigit()))


@pytest.mark.slow
@pytest.mark.parametrize("b", [5, 10])
def test_round_prints_every_count_as_a_multiple_of_the_base(built, b):
    """Under round every count the appendix and the published card print is a multiple of
    the base, "<base" or a withheld mark; the decision curve's bins and the calibration
    deciles follow the base too (a base other than min_cell shows it); the statement names
    the rounding in both languages."""
    res, eff, pub = _round_appendix(built, b)
    for language in ("sv", "en"):
        perf = report.performance_table(res, pub, language)
        groups = report.risk_group_table(res, pub, language)
        effects = report.effect_table(eff, pub, language)
        cells = [*report.flow_table(res, pub, language)["n"], *perf.iloc[:, 2], *perf.iloc[:, 3],
                 *[c for c in groups["n"] if c], *[c for c in groups.iloc[:, 2] if c],
                 *effects.iloc[:, 2], *effects.iloc[:, 3]]
        bad = [c for c in cells if c not in (f"<{b}", SUPPRESSED) and _digits(c) % b]
        assert cells and not bad, bad
    card = report.published_card(res, pub)["counts"]
    texts = [card["training"]["n"], card["training"]["events"],
             *card["excluded_training"].values(), *card["excluded_outcome"].values()]
    assert not [c for c in texts if c not in (f"<{b}", SUPPRESSED) and _digits(c) % b]
    d = res.decisions.set_index("threshold")
    points = report.decision_points(res, pub.rules, pub)
    n, events = int(d["n"].iloc[0]), int(d["events"].iloc[0])
    counts = [(events, n - events), *zip(d.loc[points["threshold"], "tp"],
                                          d.loc[points["threshold"], "fp"], strict=True), (0, 0)]
    steps = [a - c for x, y in zip(counts[:-1], counts[1:], strict=True)
             for a, c in zip(x, y, strict=True)]
    assert not [s for s in steps if 0 < s < b]
    g = res.calibration_groups[report.calibration_deciles(res, pub.rules)]
    assert (g["events"] >= b).all() and (g["n"] - g["events"] >= b).all()
    assert f"närmaste multipel av {b}" in report.Text("sv").disclosure(pub)
    assert "tagna som exakt kända" in report.Text("sv").disclosure(pub)
    assert f"nearest multiple of {b}" in report.Text("en").disclosure(pub)


@pytest.mark.slow
def test_round_attacker_narrows_no_small_count(built):
    """The attacker (tests/attacker.py) reads the printed counts, the additive relations
    and the counts published statistics of true counts give back exactly, and narrows no
    small count below "<base"; the same attacker finds a leak when every statistic is
    computed from true counts (the decision it guards against)."""
    from attacker import assert_round_audit

    res, _, pub = _round_appendix(built)
    assert_round_audit(pub, report.statistic_needs(res), "risk, round")


@pytest.mark.slow
def test_round_withholds_statistics_of_counts_the_audit_does_not_allow(built):
    """An observed rate is shown exactly where its counts are among those the audit lets a
    reader know exactly, the decision curve only with the test years' counts so known; the
    mean predicted risk and the model's performance keep their own rules."""
    res, _, pub = _round_appendix(built)
    exact = pub.withheld.exact
    table = report.risk_group_table(res, pub, "en")
    rows = iter(np.flatnonzero(np.array(table.attrs["levels"]) == 1))
    for smp in ("training", "test"):
        for r in res.groups[res.groups["sample"] == smp].itertuples():
            i = next(rows)
            known = {("group_n", smp, r.group), ("group_events", smp, r.group)} <= exact
            assert (table.at[i, "Observed rate"] != SUPPRESSED) == known, (smp, r.group)
            assert table.at[i, "Mean predicted risk"] != SUPPRESSED
    test = {("n", "test", "all"), ("events", "test", "all")}
    assert report.decision_points(res, pub.rules, pub).empty != (test <= exact)
    assert report.performance_table(res, pub, "en").iloc[0, 4] != SUPPRESSED
