"""Report text and tables are generated from the numbers and respect disclosure control."""

import pandas as pd
import pytest
from pipeline_helpers import UPPSALA_PARAMS

from rehabkoord import disclosure
from rehabkoord.params import load_params
from rehabkoord.studies.uppsala import report
from rehabkoord.tables import styled


def test_male_subgroup_reports_fisher(male_subgroup_results):
    r = male_subgroup_results.query("stratum == 'man' and outcome == 'employed_or_studying'")
    assert r["test"].item() == "fisher"
    assert r["pvalue"].item() == pytest.approx(0.05447077949858814, rel=1e-10)


def test_small_cell_not_published(male_subgroup_results):
    pub = disclosure.publish(male_subgroup_results, pd.DataFrame(columns=["variable", "kind"]),
                             {"windows": {}}, disclosure.Rules(3))
    shown = report.outcome_display(pub, 12, language="sv", conf_level=0.95)
    text = shown.to_string()
    assert "<3" in text
    assert "8,3" not in text  # 1 of 12
    assert "34,5" not in text  # the risk difference 42,9 - 8,3 would reveal it
    assert "9 / 21 (42,9)" in text
    listed = report.suppression_list(pub, language="sv")
    assert "Kalenderåret minst 12 månader efter randomisering, Män, Huvudsakligen i arbete " \
           "eller studier, Kontroll: n (%) (litet antal)" in listed
    assert any("Skillnad (skulle avslöja" in item for item in listed)
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
    params = load_params(UPPSALA_PARAMS)
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
    assert sv.figure_caption("dagar_bland_dem_med_dagar").endswith(
        "grupper med färre än 10 personer med dagar visas inte.")
    en = report.ReportText(params, "en")
    assert en.reference("table1").startswith("Table 2 describes")
    assert en.figure_caption("andel_med_dagar").startswith(
        f"Figure {report.REPORT_FIGURES.index('andel_med_dagar') + 4}. Share with at least one")


def test_methods_explain_a_zero_hodges_lehmann_estimate():
    params = load_params(UPPSALA_PARAMS)
    for language, words in (("sv", "blir 0 även när andelen med dagar skiljer sig"),
                            ("en", "are 0 even when the share with days differs")):
        text = report.methods_text(params, language)
        assert words in text
        numbers = [report.ReportText(params, language).figures.index(n) + 1
                   for n in ("andel_med_dagar", "dagar_bland_dem_med_dagar")]
        assert f"{numbers[0]}–{numbers[1]}" in text


def _baseline_row(variable, level, kind, test, pvalue, **cells):
    row = {"variable": variable, "level": level, "kind": kind, "test": test, "pvalue": pvalue}
    for prefix in ("int", "ctl"):
        row[f"n_{prefix}"] = 12
        for key in ("median", "q1", "q3", "mean", "sd", "events", "pct", "abs_sum",
                    *(f"largest{i}" for i in range(1, 11))):
            row[f"{key}_{prefix}"] = cells.get(f"{key}_{prefix}", float("nan"))
    return row


@pytest.fixture(scope="module")
def table1_pub():
    """Table 1 with a continuous, a two-level, a three-level and a binary variable; two men
    in the intervention group (below the threshold 3)."""
    days = {f"{k}_{p}": v for p in ("int", "ctl") for k, v in
            (("median", 40.0), ("q1", 30.25), ("q3", 50.5), ("mean", 41.04), ("sd", 9.96),
             ("abs_sum", 12 * 41.04),
             *((f"largest{i}", 60.0 - i) for i in range(1, 11)))}
    rows = [_baseline_row("age_at_randomisation", "", "days", "wilcoxon", 0.5, **days)]
    for level, e_int, e_ctl in (("kvinna", 10, 6), ("man", 2, 6)):
        rows.append(_baseline_row("sex", level, "categorical", "fisher", 0.19,
                                  events_int=e_int, pct_int=100 * e_int / 12,
                                  events_ctl=e_ctl, pct_ctl=100 * e_ctl / 12))
    for level, e_int, e_ctl in (("Depression", 4, 4), ("PTSD", 4, 4), ("Ångestsyndrom", 4, 4)):
        rows.append(_baseline_row("Diagnosgrupp", level, "categorical", "chisq", 1.0,
                                  events_int=e_int, pct_int=100 * e_int / 12,
                                  events_ctl=e_ctl, pct_ctl=100 * e_ctl / 12))
    rows.append(_baseline_row("baseline_employed_or_studying", "True", "binary", "chisq", 0.68,
                              events_int=5, pct_int=100 * 5 / 12, events_ctl=7,
                              pct_ctl=100 * 7 / 12))
    group = {"randomised": 12, "analysed": 12, "employment_status_missing": 0,
             "excluded": {reason: 0 for reason in report.EXCLUSION_REASONS}}
    flow = {"windows": {"12": {"Intervention": group, "Kontroll": dict(group)}}}
    return disclosure.publish(pd.DataFrame(columns=["window_months", "stratum", "outcome",
                                                    "kind"]),
                              pd.DataFrame(rows), flow, disclosure.Rules(3))


def test_table1_reads_like_gtsummary(table1_pub):
    shown = report.baseline_display(table1_pub, language="sv")
    variable = shown.columns[0]
    assert list(shown.columns[1:]) == ["Intervention (N\u00a0=\u00a012)", "Kontroll (N\u00a0=\u00a012)", "p"]
    labels = list(zip(shown[variable], shown.attrs["levels"], strict=True))
    # a label row, then one indented row per level or statistic
    assert labels[:6] == [("Ålder vid randomisering, år", 0), ("Median [IQR]", 1),
                          ("Medel (SD)", 1), ("Kön, n (%)", 0), ("Kvinnor", 1), ("Män", 1)]
    assert ("Diagnosgrupp, n (%)", 0) in labels and ("Ångestsyndrom", 1) in labels
    assert labels[-1] == ("I arbete eller studier året före randomisering, n (%)", 0)
    age = shown.iloc[1]
    assert age.iloc[1] == "40,0 [30,3–50,5]" and shown.iloc[2].iloc[1] == "41,0 (10,0)"
    # p on the label row with its test's mark; one footnote per test, in order of use; sex's
    # p rests on the withheld "<3" men and is withheld with it (no test mark)
    assert shown.iloc[0]["p"] == "0,500¹" and shown.iloc[3]["p"] == "–"
    assert shown.iloc[4]["p"] == "" and shown.iloc[6]["p"] == "1,000²"
    assert shown.iloc[-1]["p"] == "0,680³"
    assert shown.attrs["notes"] == ["¹ Wilcoxons rangsummetest", "² Pearsons chi2-test",
                                    "³ Pearsons chi2-test med Yates korrektion"]
    en = report.baseline_display(table1_pub, language="en", yates=False)
    assert en.columns[2] == "Control (N\u00a0=\u00a012)" and en.iloc[2, 0] == "Mean (SD)"
    assert en.attrs["notes"][-1] == "² Pearson's chi-square test"


def test_table1_withheld_cells_show_their_marks(table1_pub):
    shown = report.baseline_display(table1_pub, language="sv")
    men = shown[shown.iloc[:, 0] == "Män"].iloc[0]
    assert men.iloc[1] == "<3"
    assert "16,7" not in shown.to_string()  # 2 of 12
    html = styled(shown, "Tabell 2. Deltagarnas egenskaper vid randomisering.", "table1")
    assert "&lt;3" in html and "<td" in html and "<3<" not in html
    assert "<caption>Tabell 2. Deltagarnas egenskaper vid randomisering.</caption>" in html
    assert 'rk-label rk-level-1" >Män</td>' in html
    assert "rk-num" in html and "<tfoot>" in html and "² Pearsons chi2-test" in html
    sex = next(r for r in table1_pub.baseline if r["variable"] == "sex")
    assert sex["pvalue"].withheld and sex["pvalue"].reason == disclosure.REVEALS


def test_group_heading_shows_a_withheld_n_as_its_mark():
    pub = disclosure.Publication(disclosure.Rules(3), disclosure.Structure(), {}, [], [], {
        12: {"Intervention": {"randomised": disclosure.SafeCell(None, True, disclosure.SMALL,
                                                                "<3")},
             "Kontroll": {"randomised": disclosure.SafeCell(40)}}}, disclosure.SafeCell(None))
    assert report.group_heading(pub, "Intervention", "sv") == "Intervention (N\u00a0=\u00a0<3)"
    assert report.group_heading(pub, "Kontroll", "en") == "Control (N\u00a0=\u00a040)"


def test_outcome_table_statistics_as_indented_rows(male_subgroup_results):
    pub = disclosure.publish(male_subgroup_results, pd.DataFrame(columns=["variable", "kind"]),
                             {"windows": {}}, disclosure.Rules(3))
    shown = report.outcome_display(pub, 12, language="sv", conf_level=0.95)
    outcome = "Utfall"
    days = shown[shown[outcome] == "Nettodagar med sjukpenning"].index[0]
    assert shown.loc[days, "Grupp"] == "Alla" and shown.loc[days, "p"].endswith("¹")
    assert list(shown.loc[days + 1:days + 3, outcome]) == ["n", "Median [IQR]", "Medel (SD)"]
    assert shown.attrs["levels"][days:days + 4] == [0, 1, 1, 1]
    assert list(shown.loc[days + 1:days + 3, "Grupp"]) == ["", "", ""]
    binary = shown[shown[outcome].str.startswith("Huvudsakligen")]
    # Fisher's p for 9/21 against "<3"/12 would pin the 1 (p is a function of the counts)
    assert len(binary) == 3 and binary.loc[binary["Grupp"] == "Män", "p"].item() == "–"
    assert not any("Fisher" in note for note in shown.attrs["notes"])
    assert any(note.startswith("p (Holm): ") for note in shown.attrs["notes"])


def test_appendix_states_the_rules_for_statistics_and_lists_their_withholdings(
        male_subgroup_results):
    params = {"report": {"min_cell": 3, "min_quantile_n": 12, "dominance": [3, 0.8]}}
    rules = disclosure.Rules.from_params(params["report"])
    for language, words in (("sv", ("p-värden", "Holm-justerade")),
                            ("en", ("p-values", "Holm-adjusted"))):
        text = report.ReportText(params, language).suppression_text([])
        assert rules.describe(language) in text
        assert all(w in text for w in words)
    # the 12 controls get no quartiles under a threshold of 13, the men's p rests on "<3"
    pub = disclosure.publish(male_subgroup_results, pd.DataFrame(columns=["variable", "kind"]),
                             {"windows": {}}, disclosure.Rules(3, min_quantile_n=13))
    sv = report.suppression_list(pub, language="sv")
    en = report.suppression_list(pub, language="en")
    assert ("Kalenderåret minst 12 månader efter randomisering, Män, Nettodagar med sjukpenning: "
            "Kontroll, median [IQR] (färre personer än gränsen för kvantiler)") in sv
    assert ("Calendar year at least 12 months after randomisation, Men, Mainly employed or "
            "studying: p (would reveal a withheld count)") in en
    shown = report.outcome_display(pub, 12, language="sv", conf_level=0.95).to_string()
    assert "0,054" not in shown and "0,055" not in shown  # Fisher's p for 9/21 against 1/12


def test_the_flow_table_lists_the_windows_in_order():
    """flow.json keys its windows as text ("12" sorts before "6"); the table reads 6, then 12."""
    def window(excluded: int) -> dict:
        group = {"randomised": 62, "excluded": {"outcome_year_not_in_registers": 0,
                                                "absent_from_lisa_in_outcome_year": excluded},
                 "analysed": 62 - excluded, "employment_status_missing": 0}
        return {"Intervention": group, "Kontroll": group}

    flow = {"windows": {"12": window(9), "6": window(7)}}
    empty = pd.DataFrame(columns=["window_months", "stratum", "outcome", "kind"])
    pub = disclosure.publish(empty, pd.DataFrame(columns=["variable", "kind"]), flow,
                             disclosure.Rules(3))
    table = report.flow_display(pub, language="sv")
    assert table.iloc[:, 0].tolist() == [6, 6, 12, 12]
