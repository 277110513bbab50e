"""The contract's test of delivered text that may identify a person: what counts as a
personnummer or samordningsnummer, which values a message may quote, code shapes."""

from __future__ import annotations

import pandas as pd
import pytest

from rehabkoord import contract
from rehabkoord.contract import has_personal_number, is_code_like, quote

PERSONAL = [
    "19850312-1234",            # YYYYMMDD-NNNN
    "850312-1234",              # YYMMDD-NNNN
    "850312+1234",              # aged 100 or more
    "850312 1234",
    "8503121234",               # 10 digits
    "198503121234",             # 12 digits
    "850372-1234",              # samordningsnummer: day 12 + 60
    "20011291-5678",            # samordningsnummer with century
    "Depression (Anna Andersson 19850312-1234)",
    "pnr:8503121234.",
]
NOT_PERSONAL = [
    "F43.2", "F43", "f438", "Z73.0",                   # ICD-10 codes
    "2019-03-12", "20190312", "2019-03-12 10:15",      # dates
    "lönebidrag 150 %", "lönebidrag 25 %",
    "863232", "0000863232",                             # LopNr-like keys
    "1234567890123",                                    # 13 digits: not a personnummer
    "19851312-1234",                                    # month 13
    "850300-1234",                                      # day 00
    "850332-1234",                                      # day 32 (and not 61–91)
    "Depression", "Bipolär sjukdom", "",
]


@pytest.mark.parametrize("text", PERSONAL)
def test_personal_numbers_are_found(text):
    assert contract.PERSONAL_NUMBER.search(text)
    assert has_personal_number(pd.Series([text, "F43.2"])).tolist() == [True, False]


@pytest.mark.parametrize("text", NOT_PERSONAL)
def test_codes_dates_and_percentages_are_not_personal_numbers(text):
    assert not contract.PERSONAL_NUMBER.search(text)
    assert not has_personal_number(pd.Series([text])).any()


def test_missing_values_are_not_personal_numbers():
    values = pd.Series(["8503121234", pd.NA, None], dtype="string")
    assert has_personal_number(values).tolist() == [True, False, False]
    assert has_personal_number(pd.Series([], dtype="string")).empty


@pytest.mark.parametrize("value", ["F43.2", "VC01", "7", "K-12_a", "SJP2", "12345"])
def test_short_codes_are_quoted(value):
    assert is_code_like(value)
    assert quote(value) == f"'{value}'"


@pytest.mark.parametrize("value", [
    "Andersson", "ANDERSSON", "Anna Andersson", "Trötthet",   # words: a name is a word
    "850312", "1985-03-12", "20190312", "8503121234",         # six digits make a birth date
    "F43.2 (Anna)", "ABCDEFGHIJKL1", "",                      # text, too long, empty
])
def test_anything_else_is_withheld(value):
    assert not is_code_like(value)
    assert quote(value) == f"({contract.WITHHELD})"


def test_icd10_shape_accepts_every_spelling_and_rejects_free_text():
    values = pd.Series(["F43.2", "f438", " F43 .8", "Z73", "F32.9A", None,
                        "Anna Andersson", "Utmattning", "43.2"], dtype="string")
    assert contract.fits_shape(values, "icd10").tolist() == [True] * 6 + [False] * 3


def test_diagnosis_groups_are_the_randomisation_lists_codes():
    column = contract.RANDOMISATION.column("Diagnosgrupp")
    assert column.codes == contract.DIAGNOSIS_GROUPS and not column.required
    assert contract.SPELL_PERIODS.column("Diagnos").shape == "icd10"


def test_a_list_of_values_quotes_codes_and_counts_the_rest():
    values = ["F99", "Anna Andersson", "F99", "Trötthet", "X1", "8503121234"]
    assert contract.quote_values(values) == ("'F99'; 'X1'; 3 text(s) withheld: they may "
                                             "identify a person")
    assert contract.quote_values(["F1", "F2", "F3"], limit=2) == "'F1'; 'F2'"
