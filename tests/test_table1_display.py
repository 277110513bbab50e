"""Table 1 laid out as gtsummary: labels, indented levels, N in the headers, test footnotes,
and the attrs `tables.styled` reads (numeric columns, indentation, notes)."""

from __future__ import annotations

from test_table1 import trial_like

from rehabkoord import table1, table1_display
from rehabkoord.tables import styled


def test_display_reads_like_gtsummary():
    data = trial_like()
    res = table1.summarize(data, "trt", ["age", "grade", "response"])
    labels = {"age": "Ålder", "grade": "Grad", "response": "Svar", "Drug A": "Läkemedel A"}
    shown, notes = table1_display.display_table(res, labels, "sv")
    assert list(shown.columns) == ["Variabel", f"Läkemedel A (N = {res.n['Drug A']})",
                                   f"Drug B (N = {res.n['Drug B']})", "p-värde"]
    first = shown["Variabel"].tolist()
    assert first[:2] == ["Ålder, median [Q1–Q3]", "Saknas"]
    assert first[2:6] == ["Grad, n (%)", "I", "II", "III"]
    assert first[6:] == ["Svar, n (%)", "Saknas"]
    assert shown.attrs["levels"] == [0, 1, 0, 1, 1, 1, 0, 1]
    assert shown.attrs["numeric"] == list(shown.columns[1:])
    assert notes == shown.attrs["notes"] == ["¹ Wilcoxons rangsummetest", "² Pearsons chi2-test"]
    assert shown["p-värde"].iat[0].endswith("¹") and shown["p-värde"].iat[2].endswith("²")
    a = res.table[res.table["variable"] == "age"].iloc[0]
    assert shown.iat[1, 1] == str(a["missing_Drug A"])
    assert shown.iat[0, 1].startswith(f"{a['median_Drug A']:.1f}".replace(".", ","))


def test_styled_gets_notes_alignment_and_one_indent_without_help():
    shown, _ = table1_display.display_table(
        table1.summarize(trial_like(), "trt", ["grade"]), language="en")
    html = styled(shown, "Table 1", "t1")
    assert 'class="rk-notes"' in html and "Pearson&#x27;s chi-square test" in html
    assert html.count("rk-level-1") == 3 and "\u2003" not in html
    assert html.count('class="col_heading level0 col1 rk-num"') == 1


def test_the_footnote_names_the_test_as_run():
    data = trial_like()
    yates = table1.summarize(data, "trt", ["response", "grade"], chisq_correct=True)
    _, notes = table1_display.display_table(yates, language="en")
    # response is 2×2 (corrected), grade 2×3 (chisq.test never corrects those)
    assert notes == ["¹ Pearson's chi-square test with Yates' continuity correction",
                     "² Pearson's chi-square test"]
    _, notes = table1_display.display_table(yates, language="sv")
    assert notes[0] == "¹ Pearsons chi2-test med Yates korrektion"


def test_a_group_without_values_prints_not_applicable_never_the_zero_dash():
    data = trial_like()
    data.loc[data["trt"] == "Drug B", "age"] = float("nan")  # no ages in one group
    res = table1.summarize(data, "trt", ["age"])
    shown, _ = table1_display.display_table(res, language="sv")
    row = shown.iloc[0]
    assert row.iloc[2] == "."  # "." (cannot occur): no median of an empty group
    assert row.iloc[1][0].isdigit() and "–" not in row.iloc[2]
