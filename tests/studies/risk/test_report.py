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

