"""The risk appendix's words follow its parameters: the effect's confidence level
(`effect.conf_level`) in the caption and methods; the model's fixed 95 % intervals named so."""

from __future__ import annotations

import pytest

from rehabkoord.studies.risk import report


@pytest.mark.parametrize(("language", "ci", "percent"), [
    ("sv", "90\u00a0%\u00a0KI", "90\u00a0% konfidensintervall"),
    ("en", "90%\u00a0CI", "90% confidence")])
def test_the_effect_confidence_level_reaches_caption_and_methods(language, ci, percent):
    text = report.Text(language, 0.90)
    assert text.caption("effekt_per_risk").endswith(f"({ci}).")
    assert all("{" not in text.caption(k) for k in report.CAPTIONS)
    methods = report.effect_methods({"effect": {"conf_level": 0.90}}, language)
    assert percent in methods and "95" not in methods
    assert "95" in report.Text(language).caption("effekt_per_risk")  # the stage's default



@pytest.mark.parametrize(("language", "words"), [("sv", "nettodagar året före; referens 0–1"),
                                                 ("en", "net days in the year before; reference 0–1")])
def test_a_banded_predictor_is_defined_with_its_unit_in_words(language, words):
    """The model card printed "<function unit at 0x…>" for banded predictors: the unit's
    words, never a Python object (whose address also changed the card from run to run)."""
    from rehabkoord.studies.risk.model import Term

    term = Term("prior_netdays_1y", "bands", edges=(0, 1, 31), unit="net days in the year before")
    text = report.definition(term, language)
    assert words in text and "<function" not in text
