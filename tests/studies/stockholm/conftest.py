"""The synthetic Stockholm-type study, derived once for the study's tests."""

from __future__ import annotations

import pytest

from rehabkoord.spells import DEFAULT_MAPPING
from rehabkoord.studies.stockholm import analysis, data, synth

DATA = {"dir": "raw", "participants": "deltagare.csv", "periods": "sjukpenningperioder.parquet",
        "population": "befolkning.parquet", "lisa": "lisa.parquet", "bas": "bas.parquet",
        "column_map": {},
        "extraction_date": "2017-09-30"}
DERIVATION = {"gap_days": 5, "after_days": 14, "follow_up_months": 12, "full_return_days": 90,
              "care_cut": 10}
ANALYSIS = {"conf_level": 0.95, "randomised": False, "cuminc_times": [90, 180]}


@pytest.fixture()
def sthlm_data_params() -> dict:
    return dict(DATA)


@pytest.fixture(scope="session")
def sthlm_frames():
    return synth.generate(synth.StockholmSpec())


@pytest.fixture()
def sthlm_delivery(tmp_path, sthlm_frames):
    synth.write(sthlm_frames, tmp_path / "raw")
    return tmp_path


@pytest.fixture(scope="session")
def sthlm_derived(tmp_path_factory, sthlm_frames):
    root = tmp_path_factory.mktemp("sthlm")
    synth.write(sthlm_frames, root / "raw")
    deliveries = data.read(DATA, root)
    return analysis.derive(deliveries, DERIVATION, DATA["extraction_date"], DEFAULT_MAPPING)


@pytest.fixture(scope="session")
def sthlm_estimates(sthlm_derived):
    table, months, _ = sthlm_derived
    return analysis.estimate(table, months, ANALYSIS)
