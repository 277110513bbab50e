"""The caseload summary's words and tables in either language: categories translated, row
labels indented under their dimension, withheld cells as one sentence per table."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehabkoord.disclosure import Rules
from rehabkoord.studies import caseload

ROOT = Path(__file__).resolve().parents[3]
MAPPING = ROOT / "notebooks" / "caseload" / "diagnosgrupper.csv"
SITES = ["Hagfors", "Torsby", "Arvika", "Karlstad"]  # the default synthetic list's
PERIODS = {"2023 januari–juni": ["2023-01-01", "2023-06-30"],
           "2023 juli–december": ["2023-07-01", "2023-12-31"]}


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    path = tmp_path_factory.mktemp("caseload") / "arenden.xlsx"
    cases = caseload.synthetic_case_list(20230101, SITES, "2023-01-01", "2023-12-31", 24)
    caseload.write_case_list(cases, path)
    cases = caseload.read_case_list(path, sites=SITES, mapping=caseload.read_mapping(MAPPING))
    contacts, outside = caseload.assign_periods(cases.contacts, PERIODS)
    record = caseload.flow(cases, contacts, outside)
    params = {"caseload": {"periods": PERIODS, "mapping": str(MAPPING)}}
    return caseload.all_counts(contacts), record, params


@pytest.fixture(scope="module")
def pub(summary):
    """The summary as params.yaml publishes it (small counts not marked, so no reasons given);
    the audit takes seconds, so the tests share it."""
    return caseload.publish(summary[0], Rules(3, mark_small=False))


def test_withheld_cells_are_one_sentence_per_table_naming_rows_never_values(pub):
    assert pub.withheld
    for language in ("sv", "en"):
        sentences = caseload.withheld_list(pub, language)
        periods = {key[0] for key, _ in pub.withheld}
        assert len(sentences) == len(periods)  # one per table that withholds anything
        for period, sentence in zip(sorted(periods, key=list(pub.tables).index), sentences,
                                    strict=True):
            n = sum(key[0] == period for key, _ in pub.withheld)
            assert sentence.startswith(f"{period}: {n} ")
        said = " ".join(sentences)
        assert ("litet antal" if language == "sv" else "small counts") not in said
    for (period, _site, *rest), _ in pub.withheld:  # every withheld row named in its sentence
        sentence = next(x for x in caseload.withheld_list(pub, "sv") if x.startswith(period))
        assert (rest[1] if rest[0] != "Antal kontakter" else rest[0]) in sentence
    assert "Employment: " in " ".join(caseload.withheld_list(pub, "en"))


def test_tables_indent_categories_under_their_dimension_in_either_language(pub):
    period = next(iter(pub.tables))
    sv = caseload.display_table(pub, period, "sv")
    en = caseload.display_table(pub, period, "en")
    assert sv.shape == en.shape and sv.shape[0] == len(pub.tables[period]) + 4  # 4 headings
    assert list(sv.columns) == ["Kategori", *sorted(SITES), "Alla enheter"]
    assert list(en.columns) == ["Category", *sorted(SITES), "All sites"]
    assert sv.attrs["levels"][:2] == [0, 0] and set(sv.attrs["levels"]) == {0, 1}
    assert sv.iloc[0, 0] == "Antal kontakter" and en.iloc[0, 0] == "Contacts"
    assert "Sysselsättning" in set(sv.iloc[:, 0]) and "Employment" in set(en.iloc[:, 0])
    assert "Unemployed" in set(en.iloc[:, 0]) and "Arbetslös" in set(sv.iloc[:, 0])
    assert (sv.iloc[:, 1:].to_numpy() == en.iloc[:, 1:].to_numpy()).all()  # the same cells
    english = set(en.iloc[:, 0])
    assert not english & {"Arbetslös", "Sjukpenning", "Förstämningssyndrom (F30–F39)"}


def test_summary_text_in_both_languages(summary, pub):
    _, record, params = summary
    sv = caseload.summary_text(params, record, pub, "sv")
    en = caseload.summary_text(params, record, pub, "en")
    read = record["contacts_read"]
    assert f"Listan innehöll {read} kontakter" in sv and "(2 perioder)" in sv
    assert f"The list held {read} contacts" in en and "(2 periods)" in en
    with pytest.raises(ValueError, match="report.language"):
        caseload.display_table(pub, next(iter(pub.tables)), "de")


def test_headings_and_captions_in_both_languages():
    assert caseload.words("table", "sv", n=2, period="2023 juli–december") == \
        "Tabell 2. Kontakter per enhet, 2023 juli–december."
    assert caseload.words("table", "en", n=1, period="P") == "Table 1. Contacts per site, P."
    assert caseload.words("disclosure", "en") == "Disclosure control"
