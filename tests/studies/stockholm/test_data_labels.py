"""The care centre is the one delivered text the spell study's appendix prints: its labels come
from params.yaml (`data.centres`) or are codes, never a delivered cell (issue 26)."""

from __future__ import annotations

import pandas as pd
import pytest

from rehabkoord.contract import PERSONAL_RULE
from rehabkoord.io import ValidationError
from rehabkoord.studies.stockholm import data, synth

NAMES = sorted({c[1] for c in synth.CENTRES})


def _participants(root):
    path = root / "raw" / "deltagare.csv"
    return path, pd.read_csv(path, sep=";", encoding="latin-1", dtype=str)


def _put(frame, path):
    frame.to_csv(path, sep=";", index=False, encoding="latin-1")


def test_without_a_list_free_text_names_become_codes(sthlm_delivery, sthlm_data_params):
    d = data.read(sthlm_data_params, sthlm_delivery)
    assert set(d.participants["Vardcentral"]) == {f"VC{i}" for i in range(1, 8)}
    assert d.flow["participants"]["centre_labels"] == "coded"
    _, delivered = _participants(sthlm_delivery)
    first = delivered.set_index("LopNr")["Vardcentral"]
    coded = d.participants.set_index("LopNr")["Vardcentral"]
    assert (coded[first == NAMES[0]] == "VC1").all()  # alphabetical order of delivered names


def test_code_like_names_are_kept(sthlm_delivery, sthlm_data_params):
    path, frame = _participants(sthlm_delivery)
    frame["Vardcentral"] = frame["Vardcentral"].map({n: f"VC{i:02d}" for i, n in
                                                     enumerate(NAMES, 11)})
    _put(frame, path)
    d = data.read(sthlm_data_params, sthlm_delivery)
    assert set(d.participants["Vardcentral"]) == {f"VC{i:02d}" for i in range(11, 18)}
    assert d.flow["participants"]["centre_labels"] == "delivered codes"


def test_labels_come_from_data_centres(sthlm_delivery, sthlm_data_params):
    centres = {n: n.replace("Vårdcentralen ", "VC ") for n in NAMES}
    d = data.read({**sthlm_data_params, "centres": centres}, sthlm_delivery)
    assert set(d.participants["Vardcentral"]) == set(centres.values())
    assert d.flow["participants"]["centre_labels"] == "data.centres"
    d = data.read({**sthlm_data_params, "centres": NAMES}, sthlm_delivery)
    assert set(d.participants["Vardcentral"]) == set(NAMES)


@pytest.mark.parametrize("name, rule", [
    ("Anna Andersson", "not a care centre of data.centres (1 text(s) withheld"),
    ("Vårdcentralen Eken (Anna Andersson 19850312-1234)", PERSONAL_RULE)])
def test_an_unlisted_centre_stops_without_its_name(name, rule, sthlm_delivery,
                                                   sthlm_data_params):
    path, frame = _participants(sthlm_delivery)
    frame.loc[[2, 5], "Vardcentral"] = name
    _put(frame, path)
    with pytest.raises(ValidationError) as err:
        data.read({**sthlm_data_params, "centres": NAMES}, sthlm_delivery)
    message = str(err.value)
    assert f"deltagare.csv: column 'Vardcentral': {rule}" in message
    assert "2 row(s) (rows 3, 6)" in message
    for part in ("Anna", "Andersson", "850312", "1234"):
        assert part not in message
