"""The risk study's list of spells to score: read as text, and no personnummer in it (issue 26:
the scores' reasons quote a predictor's unknown level)."""

from __future__ import annotations

import pandas as pd
import pytest

from rehabkoord.contract import PERSONAL_RULE
from rehabkoord.io import ValidationError
from rehabkoord.studies.risk import data


def _list(diagnosis_groups):
    return pd.DataFrame({"LopNr": ["0012", "0013", "0014"], "spell_start": ["2016-02-01"] * 3,
                         "sex": ["kvinna", "man", "kvinna"],
                         "diagnosis_group": diagnosis_groups})


def test_scoring_list_keeps_text_as_text(tmp_path):
    path = tmp_path / "lista.csv"
    _list(["mental", "pain", "both"]).to_csv(path, sep=";", index=False)
    frame = data.read_spells(path)
    assert list(frame["LopNr"]) == ["0012", "0013", "0014"]
    assert frame["spell_start"].dt.year.tolist() == [2016] * 3


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_personal_number_in_a_predictor_stops_without_repeating_it(tmp_path, suffix):
    path = tmp_path / f"lista{suffix}"
    frame = _list(["mental", "Anna Andersson 850312-1234", "pain"])
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    with pytest.raises(ValidationError) as err:
        data.read_spells(path)
    message = str(err.value)
    assert f"lista{suffix}: column 'diagnosis_group': {PERSONAL_RULE}: 1 row(s) (rows 2)" \
        in message
    assert "Anna" not in message and "850312" not in message
