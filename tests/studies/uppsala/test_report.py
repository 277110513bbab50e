"""Report text and tables are generated from the numbers and respect disclosure control."""

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import UPPSALA_PARAMS, copy_built, dvc, set_params

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


#: Tables 1–2, then one outcome table per window (Tables 3–4), Figures 1–2 the CONSORT diagrams
WINDOWS = {"cohort": {"offsets_months": [6, 12]}, "report": {"min_cell": 3}}


def test_withheld_cells_are_one_sentence_per_table_with_rows_and_reason_counts(
        male_subgroup_results):
    """The men's 1 of 12 (and its complement) under min_cell 3, quantiles for groups of 13 or
    more: 32 withheld cells, counted by hand from the decision (Publication.withheld_cells)
    into the 12-month outcome table (2 small counts; effect, p and Holm p of both binary
    rows and each Holm p of the day outcomes revealing them: 10; the empty women's group's
    means: 4; quartiles and effects of groups under 13: 10) and two figures (any days: the
    2 complements; deciles: 3 too few and 1 revealing), never a bullet per cell."""
    pub = disclosure.publish(male_subgroup_results, pd.DataFrame(columns=["variable", "kind"]),
                             {"windows": {}}, disclosure.Rules(3, min_quantile_n=13))
    days = "Nettodagar med sjukpenning, Nettodagar med sjuk- eller aktivitetsersättning"
    assert report.ReportText(WINDOWS, "sv").withheld_list(pub) == [
        "Tabell 4: 26 celler visas inte (2 små antal, 10 som skulle avslöja ett undertryckt "
        "antal, 4 där gruppen är mindre än gränsen, 10 med färre personer än gränsen för "
        f"kvantiler), i raderna Alla: {days}, Huvudsakligen i arbete eller studier; Män: "
        f"{days}, Huvudsakligen i arbete eller studier; Kvinnor: {days}.",
        "Figur 7: 2 celler visas inte (2 för att skydda små antal), i raderna Fönster "
        "(månader) 12: Nettodagar med sjukpenning.",
        "Figur 8: 4 celler visas inte (1 som skulle avslöja ett undertryckt antal, 3 med färre "
        f"personer än gränsen för kvantiler), i raderna Fönster (månader) 12: {days}."]
    assert len(pub.withheld_cells()) == 26 + 2 + 4
    en = report.ReportText(WINDOWS, "en").withheld_list(pub)
    assert en[0].startswith("Table 4: 26 cells are withheld (2 small counts, 10 that would "
                            "reveal a withheld count, 4 in a group smaller than the threshold, "
                            "10 with fewer persons than the quantile threshold), in the rows "
                            "All: Net days of sickness benefit, ")
    assert en[1] == ("Figure 7: 2 cells are withheld (2 to protect small counts), in the rows "
                     "Window (months) 12: Net days of sickness benefit.")
    text = report.ReportText(WINDOWS, "sv").suppression_text(pub)
    assert "\n- " not in text and text.endswith(f"12: {days}.")


def test_withheld_flow_and_table2_cells_name_their_rows(table1_pub):
    """A p-value sits on its variable's row; a flow count on its window and group."""
    assert report.ReportText(WINDOWS, "sv").withheld_list(table1_pub) == [
        "Tabell 2: 4 celler visas inte (1 litet antal, 1 för att skydda små antal, 2 som skulle "
        "avslöja ett undertryckt antal), i raderna Kön: Kvinnor, Män."]
    group = {"randomised": 62, "analysed": 62, "employment_status_missing": 0,
             "excluded": {"outcome_year_not_in_registers": 0,
                          "absent_from_lisa_in_outcome_year": 0}}
    two = {**group, "analysed": 60, "excluded": {**group["excluded"],
                                                   "absent_from_lisa_in_outcome_year": 2}}
    flow = {"windows": {"12": {"Intervention": group, "Kontroll": group},
                        "6": {"Intervention": two, "Kontroll": group}}}
    empty = pd.DataFrame(columns=["window_months", "stratum", "outcome", "kind"])
    pub = disclosure.publish(empty, pd.DataFrame(columns=["variable", "kind"]), flow,
                             disclosure.Rules(3))
    assert report.ReportText(WINDOWS, "en").withheld_list(pub) == [
        "Table 1: 2 cells are withheld (1 small count, 1 to protect small counts), in the rows "
        "Window (months) 6: Intervention."]


def test_unmarked_small_counts_leave_the_reasons_out(male_subgroup_results):
    """report.mark_small_counts: false prints small counts as their complements are printed;
    reasons per table would tell them apart again."""
    rules = disclosure.Rules.from_params({"min_cell": 3, "mark_small_counts": False})
    pub = disclosure.publish(male_subgroup_results, pd.DataFrame(columns=["variable", "kind"]),
                             {"windows": {}}, rules)
    for language in ("sv", "en"):
        listed = report.ReportText(WINDOWS, language).withheld_list(pub)
        assert listed and not any("(" in s.split(",")[0] for s in listed)
        assert not any(w in " ".join(listed) for w in ("små", "litet", "small", "protect"))


def test_a_withheld_cell_of_an_unknown_kind_stops_the_appendix():
    with pytest.raises(ValueError, match="no place in the Uppsala appendix"):
        report.place_row(("mystery", 12), {})


@pytest.fixture()
def clear_pub():
    """One outcome of 60 against 60 persons: nothing withheld."""
    results = pd.DataFrame([{
        "window_months": 6, "stratum": "alla", "outcome": "employed_or_studying",
        "kind": "binary", "n_int": 60, "n_ctl": 60, "events_int": 30, "events_ctl": 20,
        "pct_int": 50.0, "pct_ctl": 100 * 20 / 60, "test": "chisq", "pvalue": 0.04,
        "estimate": 50 - 100 * 20 / 60, "conf_low": 0.1, "conf_high": 33.0}])
    return disclosure.publish(results, pd.DataFrame(columns=["variable", "kind"]),
                              {"windows": {}}, disclosure.Rules(3))


def test_rules_stated_in_the_appendix(clear_pub):
    params = {**WINDOWS, "report": {"min_cell": 5, "zeros_disclosive": True}}
    sv = report.ReportText(params, "sv").suppression_text(clear_pub)
    assert "antal under 5" in sv and "även noll" in sv and "0–4" in sv
    assert sv.endswith("\n\nInga celler undertrycktes.")
    en = report.ReportText(WINDOWS, "en").suppression_text(clear_pub)
    assert "zeros are published" in en and "1–2" in en and "linear-programming" in en
    assert en.endswith("\n\nNo cells were suppressed.")


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
    assert shown.iloc[0]["p"] == "0,500¹" and shown.iloc[3]["p"] == "×"
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
    assert len(binary) == 3 and binary.loc[binary["Grupp"] == "Män", "p"].item() == "×"
    assert not any("Fisher" in note for note in shown.attrs["notes"])
    assert any(note.startswith("p (Holm): ") for note in shown.attrs["notes"])


def test_appendix_states_the_rules_for_statistics_and_lists_their_withholdings(
        male_subgroup_results):
    params = {**WINDOWS, "report": {"min_cell": 3, "min_quantile_n": 12,
                                    "dominance": [3, 0.8]}}
    rules = disclosure.Rules.from_params(params["report"])
    # the 12 controls get no quartiles under a threshold of 13, the men's p rests on "<3"
    pub = disclosure.publish(male_subgroup_results, pd.DataFrame(columns=["variable", "kind"]),
                             {"windows": {}}, disclosure.Rules(3, min_quantile_n=13))
    for language, words in (("sv", ("p-värden", "Holm-justerade", "Män: Nettodagar med "
                                    "sjukpenning", "med färre personer än gränsen för kvantiler")),
                            ("en", ("p-values", "Holm-adjusted", "Men: Net days of sickness "
                                    "benefit", "that would reveal a withheld count"))):
        text = report.ReportText(params, language).suppression_text(pub)
        assert rules.describe(language) in text
        assert all(w in text for w in words)
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


def test_the_confidence_level_reaches_headers_captions_and_methods(male_subgroup_results):
    """analysis.conf_level 0.90: every table, caption and the methods say 90 %, none 95 %."""
    params = load_params(UPPSALA_PARAMS)
    params["analysis"] = {**params["analysis"], "conf_level": 0.90}
    pub = disclosure.publish(male_subgroup_results, pd.DataFrame(columns=["variable", "kind"]),
                             {"windows": {}}, disclosure.Rules(3))
    for language, label in (("sv", "90\u00a0%\u00a0KI"), ("en", "90%\u00a0CI")):
        shown = report.outcome_display(pub, 12, language=language, conf_level=0.90)
        assert f"({label})" in " ".join(shown.columns) and "95" not in " ".join(shown.columns)
        text = report.ReportText(params, language)
        captions = " ".join(text.figure_caption(n) for n in report.REPORT_FIGURES)
        assert captions.count(label.rsplit("\u00a0", 1)[0]) == 3 and "95" not in captions
        methods = report.methods_text(params, language)
        assert ("90\u00a0% konfidensintervall" if language == "sv" else
                "90% confidence interval") in methods
        assert "95\u00a0%" not in methods and "95%" not in methods


def test_the_methods_follow_the_tests_parameters():
    params = load_params(UPPSALA_PARAMS)
    params["analysis"] = {**params["analysis"], "alpha": 0.1, "chisq_correct": False,
                          "fisher_expected_below": 3}
    params["report"] = {**params["report"], "min_cell": 4}
    params["cohort"] = {**params["cohort"], "offsets_months": [6, 12, 24],
                        "window_rule": "year_containing"}
    sv = report.methods_text(params, "sv")
    assert "utan kontinuitetskorrektion" in sv and "förväntad cellfrekvens var under 3" in sv
    assert "signifikansnivån 0,10" in sv and "Antal under 4 redovisas inte" in sv
    assert "minst 6, 12, 24 månader" in sv and "det kalenderår som innehåller" in sv
    en = report.methods_text(params, "en")
    assert "without continuity correction" in en and "α = 0.10" in en
    with pytest.raises(ValueError, match="cohort.window_rule"):
        report.methods_text({**params, "cohort": {**params["cohort"], "window_rule": "x"}}, "sv")


def test_the_parameter_table_names_every_parameter_in_the_report_language():
    params = load_params(UPPSALA_PARAMS)
    for language in ("sv", "en"):
        table = report.ReportText(params, language).parameters_table()
        n_keys = sum(len(params[s]) for s in report.PARAMETER_SECTIONS)
        assert len(table) == n_keys  # nothing left out
        names = table.iloc[:, 0].tolist()
        assert not [n for n in names if "." in n], "a parameter without words in parametrar.yaml"
        assert not [m for m in table.iloc[:, 2] if not m]
    sv = report.ReportText(params, "sv").parameters_table().set_index("Parameter")
    assert sv.loc["Konfidensnivå", "Värde"] == "0,95" and sv.loc["Yates korrektion", "Värde"] == "ja"
    assert sv.loc["Fönster (månader)", "Värde"] == "6, 12"
    params["analysis"] = {**params["analysis"], "conf_level": 0.9, "new_key": 1}
    listed = report.ReportText(params, "sv").parameters_table().set_index("Parameter")
    assert listed.loc["Konfidensnivå", "Värde"] == "0,9"
    assert listed.loc["analysis.new_key", "Värde"] == "1"  # shown by its key, never dropped


def test_english_names_the_diagnosis_groups_and_the_version_note():
    from rehabkoord.contract import DIAGNOSIS_GROUPS
    assert all(report.label(g, "en") != g or g in ("Depression", "PTSD")
               for g in DIAGNOSIS_GROUPS)
    assert report.label("Ångestsyndrom", "en") == "Anxiety disorder"
    assert "ändringar" not in report.code_version("en")


def _appendix_text(project: Path) -> str:
    """The appendix's visible text (tags dropped, entities and non-breaking spaces kept)."""
    page = (project / "reports" / "uppsala" / "bilaga.html").read_text(encoding="utf-8")
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


#: The parameters the appendix test changes (each one's words are checked in the appendix).
CHANGED = {"analysis": {"conf_level": 0.90, "alpha": 0.10, "chisq_correct": False,
                        "fisher_expected_below": 3},
           "report": {"min_cell": 4, "min_quantile_n": 12}}


@pytest.mark.slow
def test_the_appendix_follows_its_parameters(built, tmp_path):
    """Each parameter of CHANGED changed in a copy of the executed pipeline (DVC re-runs
    analyse, figures and report only): the appendix's tables, captions, methods, rules and
    parameter table say the new values, none the old; the figures' Wilson intervals are at
    the new level (statsmodels' Wilson interval, an independent reference, to the CSV's 4
    decimals); then in English."""
    from statsmodels.stats.proportion import proportion_confint

    project = copy_built(built, tmp_path / "project")
    set_params(project, **CHANGED)
    dvc("repro", "notebooks/uppsala/dvc.yaml:report", cwd=project)
    sv = _appendix_text(project)
    nb = "\u00a0"
    assert f"Skillnad (90{nb}%{nb}KI)" in sv and f"95{nb}%" not in sv
    assert f"(90{nb}% Wilson-intervall)" in sv and f"Newcombes 90{nb}%{nb}KI" in sv
    assert f"Newcombes (Wilson) 90{nb}% konfidensintervall" in sv
    assert "utan kontinuitetskorrektion" in sv and "Yates" not in sv.split("Programvara")[0]
    assert "förväntad cellfrekvens var under 3" in sv and "signifikansnivån 0,10" in sv
    assert "Antal under 4 redovisas inte" in sv and "antal under 4 redovisas inte" in sv
    assert "grupper under 12 personer visas inte" in sv
    assert re.search(r"Konfidensnivå\s+0,9\s", sv) and re.search(r"Minsta antal\s+4\s", sv)
    assert "Underlaget är syntetiskt" in sv and "(N = " not in sv  # headers never break
    shares = pd.read_csv(project / "reports" / "uppsala" / "figures" / "andel_sysselsatta.csv")
    drawn = shares[~shares["suppressed"]]
    assert len(drawn)
    for r in drawn.itertuples():
        low, high = proportion_confint(r.events, r.n, alpha=0.10, method="wilson")
        assert r.conf_low == pytest.approx(100 * low, abs=5e-5)
        assert r.conf_high == pytest.approx(100 * high, abs=5e-5)

    set_params(project, report={"language": "en"})
    dvc("repro", "notebooks/uppsala/dvc.yaml:report", cwd=project)
    en = _appendix_text(project)
    assert f"Difference (90%{nb}CI)" in en and "95%" not in en
    assert "without continuity correction" in en and "Anxiety disorder" in en
    assert "The data are synthetic" in en and "ändringar" not in en
    assert re.search(r"Confidence level\s+0.9\s", en)
