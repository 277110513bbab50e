"""Swedish and English number formats (hand-written expectations)."""

from rehabkoord import fmt


def test_swedish_numbers():
    assert fmt.number(12345.25, 1) == "12\u00a0345,3"
    assert fmt.number(-17.45, 1) == "−17,5"
    assert fmt.number(0.0545, 3) == "0,055"
    assert fmt.number(float("nan")) == ".."


def test_english_numbers():
    assert fmt.number(12345.25, 1, "en") == "12,345.3"
    assert fmt.pvalue(0.0004, "en") == "< 0.001"


def test_pvalues_and_intervals():
    assert fmt.pvalue(0.0004) == "< 0,001"
    assert fmt.pvalue(0.05447) == "0,054"
    assert fmt.interval(-1.25, 3.0) == "−1,3 till 3,0"
    assert fmt.interval(-1.25, 3.0, language="en") == "−1.3 to 3.0"


def test_no_negative_zero():
    assert fmt.number(-0.00002, 1) == "0,0"
    assert fmt.number(-0.04, 1, "en") == "0.0"


def test_numpy_scalars_format_like_floats():
    import numpy as np

    assert fmt.number(np.float64(2.25), 1, "sv") == fmt.number(2.25, 1, "sv") == "2,3"
    assert fmt.number(np.int64(1234), 0, "en") == "1,234"


def test_missing_values_print_as_not_available_never_as_the_zero_dash():
    assert fmt.number(None) == fmt.pvalue(float("nan")) == fmt.NOT_AVAILABLE == ".."
    assert "–" not in (fmt.PROTECTED, fmt.NOT_AVAILABLE, fmt.NOT_APPLICABLE)
    assert fmt.number(0, 0) == "0"


def test_marks_are_found_in_cells_and_numbers_are_not_marks():
    assert fmt.marks_in("9 / × (×)") == ["×"]
    assert fmt.marks_in("<3 / 12 (..)") == ["<3", ".."]
    assert fmt.marks_in(".") == ["."]
    assert fmt.marks_in("< 0,001") == fmt.marks_in("2,5 [1,0–3,5]") == []
    assert fmt.marks_in("n = ×") == ["×"]
    assert fmt.marks_in("Tabell 1. Utfall") == fmt.marks_in("25–34 år") == []


def test_the_legend_names_exactly_the_marks_present_in_both_languages():
    assert fmt.legend([], "sv") == ""
    assert fmt.legend(["..", "×", "<3", "×"], "sv") == (
        "Teckenförklaring: × uppgift skyddad av sekretesskäl (röjandekontroll); "
        "<3 färre än 3 personer; .. uppgift inte tillgänglig.")
    assert fmt.legend(["."], "en") == "Symbols: . not applicable."
    assert fmt.legend(["<5"], "en") == "Symbols: <5 fewer than 5 persons."
