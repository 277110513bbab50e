"""Table 1 laid out as gtsummary: labels, indented levels, N in the headers, test footnotes."""

from __future__ import annotations

from test_table1 import trial_like

from rehabkoord import table1, table1_display


def test_display_reads_like_gtsummary():
    data = trial_like()
    res = table1.summarize(data, "trt", ["age", "grade", "response"])
    labels = {"age": "Ålder", "grade": "Grad", "response": "Svar", "Drug A": "Läkemedel A"}
    shown, notes = table1_display.display_table(res, labels, "sv")
    assert list(shown.columns) == ["Variabel", f"Läkemedel A (N = {res.n['Drug A']})",
                                   f"Drug B (N = {res.n['Drug B']})", "p-värde"]
    first = shown["Variabel"].tolist()
    assert first[:2] == ["Ålder, median [IQR]", "\u2003Saknas"]
    assert first[2:6] == ["Grad, n (%)", "\u2003I", "\u2003II", "\u2003III"]
    assert first[6:] == ["Svar, n (%)", "\u2003Saknas"]
    assert notes == ["¹ Wilcoxons rangsummetest", "² Pearsons chi2-test"]
    assert shown["p-värde"].iat[0].endswith("¹") and shown["p-värde"].iat[2].endswith("²")
    a = res.table[res.table["variable"] == "age"].iloc[0]
    assert shown.iat[1, 1] == str(a["missing_Drug A"])
    assert shown.iat[0, 1].startswith(f"{a['median_Drug A']:.1f}".replace(".", ","))
