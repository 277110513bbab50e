"""The spell study's appendix pieces: disclosure decided by the shared module, withheld
subgroups without estimates, curves stopped where few remain, both languages."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET

import matplotlib
import pytest

matplotlib.use("Agg")

from rehabkoord.disclosure import COMPLEMENT, SMALL, SUPPRESSED, Rules  # noqa: E402
from rehabkoord.fmt import interval, number  # noqa: E402
from rehabkoord.studies.stockholm import analysis, report  # noqa: E402
from rehabkoord.style import save, set_style  # noqa: E402


def test_small_subgroup_is_withheld_with_its_estimates_and_cannot_be_recovered(
        sthlm_derived, sthlm_estimates):
    table, _, flow = sthlm_derived
    rules = Rules(min_cell=60)  # the control group's 'both' subgroup (55) becomes small
    pub = report.publish(table, flow["derivation"], rules)
    assert not pub.shown(("Diagnosgrupp", "both", "Kontroll"))
    assert all(i.protected for i in pub.intervals())
    sub = report.subgroup_table(sthlm_estimates, pub, "sv")
    both = sub[sub["Undergrupp"] == report.label("both", "sv")].iloc[0]
    assert both["Hazardkvot (95\u00a0%\u00a0KI)"] == SUPPRESSED
    assert "<60" in both["n (koord./kontroll)"]
    assert "55" not in " ".join(sub.astype(str).to_numpy().ravel())


def test_default_rules_publish_every_subgroup(sthlm_derived, sthlm_estimates):
    table, _, flow = sthlm_derived
    pub = report.publish(table, flow["derivation"], Rules(min_cell=5))
    # only the flow within groups loses counts: the control group's 3 without an index spell
    # (small) and the counts that would reveal it
    assert pub.withheld == {
        ("flow", "no_index_spell", "Kontroll"): SMALL, ("flow", "excluded", "Kontroll"): SMALL,
        ("flow", "no_index_spell", "Koordinator"): COMPLEMENT,
        ("flow", "excluded", "Koordinator"): COMPLEMENT,
        ("flow", "participants", "Koordinator"): COMPLEMENT,
        ("flow", "participants", "Kontroll"): COMPLEMENT}
    assert all(i.protected for i in pub.intervals())
    main = report.main_table(sthlm_estimates, pub, "en")
    assert main.iloc[0, 0].startswith("Median days to return")


def test_methods_and_captions_in_both_languages():
    params = {"derivation": {"gap_days": 5, "after_days": 14, "follow_up_months": 12,
                             "full_return_days": 90},
              "analysis": {"randomised": False, "conf_level": 0.9}, "report": {"min_cell": 5}}
    sv, en = report.methods_text(params, "sv", 7), report.methods_text(params, "en", 12)
    assert "inom 5 dagar" in sv and "propensity" in sv
    assert "within 5 days" in en and "inverse probability" in en
    assert "Med endast 7 vårdcentraler" in sv and "With only 12 care centres" in en
    assert "90\u00a0% konfidensintervall" in sv and "90% confidence interval" in en
    assert report.Text("sv", 0.95).caption("main") == "Tabell 3. Huvudresultat."
    assert report.Text("en", 0.95).caption("atergang_km").startswith("Figure 2. Share still")
    assert report.Text("sv", 0.95).caption("flode").startswith("Figur 1. Flöde av deltagare")
    assert "not propagated" in en and "förs inte vidare" in sv
    randomised = {**params, "analysis": {"randomised": True, "conf_level": 0.95}}
    assert "propensity" not in report.methods_text(randomised, "en", 7)


def _with_reasons(flow: dict, died: int, emigrated: int) -> dict:
    """The flow with some of the coordinator group's exclusions moved to no follow-up time."""
    f = copy.deepcopy(flow)
    for part in (f, f["by_group"]["Koordinator"]):
        part["by_status"]["no_index_spell"] -= died + emigrated
        part["by_status"]["no_follow_up"] += died + emigrated
        part["no_follow_up_by_reason"] = {"died": died, "emigrated": emigrated}
    return f


def _svg_lines(path) -> list[str]:
    return [(t.text or "").replace("\xa0", " ") for t in ET.parse(path).iter()
            if t.tag.endswith("}text")]


COUNT = re.compile(r"(?:n = |: )(<?\d{1,3}(?:[ ,]\d{3})*|×)")


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("reasons", [None, (6, 2)])
def test_flow_figure_prints_exactly_the_published_counts(tmp_path, sthlm_derived, language,
                                                         reasons):
    table, _, flow = sthlm_derived
    f = flow["derivation"] if reasons is None else _with_reasons(flow["derivation"], *reasons)
    pub = report.publish(table, f, Rules(min_cell=5))
    set_style()
    fig, cells = report.flow_figure(pub, f, language)
    save(fig, tmp_path / "flode", cells)
    lines = _svg_lines(tmp_path / "flode.svg")
    # the counts each arm shows, as published: the number, the mark, or "×" when withheld or
    # only implied (a step whose total is small is not split by group)
    keys = [("flow", "participants")] + [
        k for g in ("Koordinator", "Kontroll") for k in
        [("flow", "participants", g), ("flow", "excluded", g), ("flow", "no_follow_up", g)]
        + ([("flow", "no_follow_up", r, g) for r in ("died", "emigrated")] if reasons else [])
        + [("flow", "no_index_spell", g), ("flow", "index_spell_after_follow_up", g), ("n", g)]]
    s = pub.structure

    def published(k):
        if k not in s.shown:
            return SUPPRESSED
        if k in pub.withheld:
            return "<5" if pub.withheld[k] == SMALL else SUPPRESSED
        return f"{s.values[k]:,}".replace(",", " " if language == "sv" else ",")

    expected = sorted(published(k) for k in keys)
    starts = [i for i, line in enumerate(lines)
              if line.startswith(("Teckenförklaring:", "Symbols:"))]
    assert len(starts) == (SUPPRESSED in expected or "<5" in expected)  # its marks explained
    lines = lines[:starts[0]] if starts else lines  # the legend is drawn last, maybe wrapped
    text = " ".join(lines)  # wrapped lines joined again
    assert sorted(COUNT.findall(text)) == expected
    assert sorted(cells["text"].str.replace("\xa0", " ")) == expected
    # no other number anywhere in the figure (labels hold none but "65" of age 65)
    assert set(re.findall(r"\d+", COUNT.sub("", text))) <= {"65"}
    hidden = [k for k in keys if k not in s.shown or k in pub.withheld]
    assert len(hidden) >= 6 and any(s.values[k] >= 5 for k in hidden)
    printed = {int(t.replace(" ", "").replace(",", "")) for t in expected if t[0].isdigit()}
    for k in hidden:
        assert s.values[k] == 0 or s.values[k] not in printed, k
    groups = [report.label(g, language) for g in ("Koordinator", "Kontroll")]
    assert all(g in lines for g in groups)
    assert lines.count(report.label("analysed", language)) == 2


def test_flow_table_holds_the_figure_counts(sthlm_derived):
    table, _, flow = sthlm_derived
    f = _with_reasons(flow["derivation"], 6, 2)
    pub = report.publish(table, f, Rules(min_cell=5))
    t = report.flow_table(pub, f, "sv")
    assert list(t.columns) == ["Steg", "Alla", "Koordinator", "Kontroll"]
    assert t["Steg"].tolist()[:4] == ["Deltagare", "Exkluderade", "Ingen uppföljningstid",
                                      "varav avliden före indexdatum"]
    _, cells = report.flow_figure(pub, f, "sv")
    by_group = t.set_index("Steg")[["Koordinator", "Kontroll"]].to_numpy().ravel().tolist()
    assert sorted(cells.loc[cells["Grupp"] != "", "text"]) == sorted(by_group)
    # overall participants and analysed as before the diagram; the small total is not split
    assert t.iloc[0]["Alla"] == "1\xa0033" and t.iloc[-1]["Alla"] == "1\xa0018"
    emigrated = t[t["Steg"] == "varav utvandrad före indexdatum"].iloc[0]
    assert emigrated.tolist()[1:] == ["<5", SUPPRESSED, SUPPRESSED]


def test_iptw_rows_and_sentence_only_when_not_randomised(sthlm_derived, sthlm_estimates):
    table, _, flow = sthlm_derived
    pub = report.publish(table, flow["derivation"], Rules(min_cell=5))
    main = report.main_table(sthlm_estimates, pub, "sv")
    m = sthlm_estimates.main.set_index("measure")
    iptw = main[main["Mått"].str.contains("propensity score")]
    assert len(iptw) == 4 and iptw["Mått"].str.endswith("³").all()
    net = main[main["Mått"] == "Skillnad i nettodagar, medelvärde viktat med propensity score²³"]
    r = m.loc["net_days_iptw_difference"]
    assert net.iloc[0]["Skattning (95\u00a0%\u00a0KI)"] == (
        f"{number(r.estimate, 1, 'sv')} ({interval(r.conf_low, r.conf_high, 1, 'sv')})")
    assert any(n.startswith("³ Viktad") for n in main.attrs["notes"])
    sentences = report.result_sentences(sthlm_estimates, "en")
    assert len(sentences) == 4 and sentences[3].startswith("Weighted by the inverse")
    assert number(100 * m.loc["risk_difference_iptw", "estimate"], 1, "en") in sentences[3]
    randomised = analysis.Estimates(**{**vars(sthlm_estimates), "main": sthlm_estimates.main[
        ~sthlm_estimates.main["measure"].str.contains("iptw")]})
    assert len(report.result_sentences(randomised, "sv")) == 3
    main_r = report.main_table(randomised, pub, "en")
    assert len(main_r) == len(main) - 4 and len(main_r.attrs["notes"]) == 1


def test_the_confidence_level_of_the_estimates_reaches_headers_captions_and_sentences(
        sthlm_derived, sthlm_estimates):
    """Estimates at 90 %: every table header, caption and sentence names 90 %, none 95 %, and
    the intervals they name are the narrower 90 % ones."""
    table, months, flow = sthlm_derived
    at90 = analysis.estimate(table, months, {"conf_level": 0.90, "randomised": False,
                                             "cuminc_times": [90, 180]})
    assert report.conf_level(at90) == 0.90 and report.conf_level(sthlm_estimates) == 0.95
    pub = report.publish(table, flow["derivation"], Rules(min_cell=5))
    for language, ci in (("sv", "90\u00a0%\u00a0KI"), ("en", "90%\u00a0CI")):
        heads = " ".join(" ".join(f(at90, pub, language).columns) for f in
                         (report.main_table, report.subgroup_table, report.centre_table))
        assert heads.count(ci) == 4 and "95" not in heads
        sentences = " ".join(report.result_sentences(at90, language, pub))
        assert ci in sentences and "95" not in sentences
        text = report.Text(language, report.conf_level(at90))
        captions = " ".join(text.caption(k) for k in report.CAPTIONS)
        assert ci in captions and "95" not in captions and "{" not in captions
    hr90, hr95 = (e.main.set_index("measure").loc["hr_adjusted"] for e in (at90, sthlm_estimates))
    assert hr90.estimate == pytest.approx(hr95.estimate)
    assert hr95.conf_low < hr90.conf_low < hr90.estimate < hr90.conf_high < hr95.conf_high


def test_every_main_table_measure_has_its_words_in_both_languages():
    """The main table's rows are named from `etiketter.yaml` by their measure: a measure
    without words there would print its key."""
    from rehabkoord import texts

    for language in texts.LANGUAGES:
        words = texts.glossary("stockholm", "etiketter", language)
        assert [m for m, *_ in report.MAIN_MEASURES if m not in words] == []
        assert "{{ group }}" in words["median_days"]
