"""Report text and tables are generated from the numbers and respect disclosure control."""

import pandas as pd
import pytest

from rehabkoord import analysis, disclosure, report
from rehabkoord.params import load_params


@pytest.fixture(scope="module")
def male_subgroup_results():
    """The published male subgroup (9/21 vs 1/12) as a one-window cohort."""
    rows = []
    for group, events, n in (("Intervention", 9, 21), ("Kontroll", 1, 12)):
        for i in range(n):
            rows.append({"LopNr": f"{group}{i}", "Grupp": group, "sex": "man",
                         "window_months": 12, "analysed": True,
                         "employed_or_studying": i < events,
                         "sjukpenning_netdays": float(i * 10),
                         "sjukersattning_netdays": 0.0})
    table = pd.DataFrame(rows)
    table["Grupp"] = pd.Categorical(table["Grupp"], ["Intervention", "Kontroll"])
    return analysis.outcome_results(table)


def test_male_subgroup_reports_fisher(male_subgroup_results):
    r = male_subgroup_results.query("stratum == 'man' and outcome == 'employed_or_studying'")
    assert r["test"].item() == "fisher"
    assert r["pvalue"].item() == pytest.approx(0.05447077949858814, rel=1e-10)


def test_small_cell_not_published(male_subgroup_results):
    pub = disclosure.publish(male_subgroup_results, pd.DataFrame(columns=["variable", "kind"]),
                             {"windows": {}}, disclosure.Rules(3))
    shown = report.outcome_display(pub, 12, language="sv")
    text = shown.to_string()
    assert "<3" in text
    assert "8,3" not in text  # 1 of 12
    assert "34,5" not in text  # the risk difference 42,9 - 8,3 would reveal it
    assert "9 (42,9)" in text
    listed = report.suppression_list(pub, language="sv")
    assert "Kalenderåret minst 12 månader efter randomisering, Män, Huvudsakligen i arbete " \
           "eller studier, Kontroll: n (%) (litet antal)" in listed
    assert any("Skillnad (95 % KI) (skulle avslöja" in item for item in listed)
    assert all("1" not in item.split(":")[-1] for item in listed)  # names, never values


def test_rules_stated_in_the_appendix():
    params = {"report": {"min_cell": 5, "zeros_disclosive": True}}
    sv = report.ReportText(params, "sv").suppression_text([])
    assert "antal under 5" in sv and "även noll" in sv and "0–4" in sv
    en = report.ReportText({"report": {"min_cell": 3}}, "en").suppression_text(["x"])
    assert "zeros are published" in en and "1–2" in en and "linear-programming" in en


def test_sentences_in_both_languages():
    results = pd.DataFrame([{
        "window_months": 6, "stratum": "alla", "outcome": "employed_or_studying",
        "kind": "binary", "n_int": 60, "n_ctl": 60, "events_int": 30, "events_ctl": 20,
        "pct_int": 50.0, "pct_ctl": 100 * 20 / 60, "test": "chisq", "pvalue": 0.04,
        "estimate": 50 - 100 * 20 / 60, "conf_low": 0.1, "conf_high": 33.0}])
    pub = disclosure.publish(results, pd.DataFrame(columns=["variable", "kind"]),
                             {"windows": {}}, disclosure.Rules(3))
    sv = report.result_sentences(pub, alpha=0.05, language="sv")[0]
    assert "16,7 procentenheter högre" in sv and "statistiskt signifikant" in sv
    assert "inte statistiskt" not in sv
    en = report.result_sentences(pub, alpha=0.05, language="en")[0]
    assert "16.7 percentage points higher" in en


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="report.language"):
        report.ReportText({}, "de")


def test_tables_and_figures_numbered_in_order_and_referred_to_by_number():
    params = load_params()
    params = {**params, "cohort": {**params["cohort"], "offsets_months": [6, 12, 24]}}
    sv = report.ReportText(params, "sv")
    assert sv.table_caption("flow").startswith("Tabell 1. ")
    assert sv.table_caption("table1") == "Tabell 2. Deltagarnas egenskaper vid randomisering."
    assert sv.table_caption("outcomes", 24).startswith("Tabell 5. Utfall kalenderåret minst 24")
    assert sv.figure_caption("consort_12m").startswith("Figur 2. Flöde av deltagare, "
                                                       "kalenderåret minst 12 månader")
    assert sv.figure_caption(report.REPORT_FIGURES[0]).startswith("Figur 4. ")
    last = len(report.REPORT_FIGURES) + 3
    assert sv.reference("results") == f"Tabell 3–5 redovisar utfallen per fönster; Figur 4–{last} " \
        "visar dem som figurer."
    assert sv.reference("flow").startswith("Figur 1–3 och Tabell 1 visar")
    en = report.ReportText(params, "en")
    assert en.reference("table1").startswith("Table 2 describes")
    assert en.figure_caption("andel_med_dagar").startswith(
        f"Figure {report.REPORT_FIGURES.index('andel_med_dagar') + 4}. Share with at least one")


def test_methods_explain_a_zero_hodges_lehmann_estimate():
    params = load_params()
    for language, words in (("sv", "blir 0 även när andelen med dagar skiljer sig"),
                            ("en", "are 0 even when the share with days differs")):
        text = report.methods_text(params, language)
        assert words in text
        numbers = [report.ReportText(params, language).figures.index(n) + 1
                   for n in ("andel_med_dagar", "dagar_bland_dem_med_dagar")]
        assert f"{numbers[0]}–{numbers[1]}" in text
