"""The risk study run once on a small synthetic extract, for the study's tests."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from rehabkoord.studies.risk import analysis, data, synth

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def params() -> dict:
    p = yaml.safe_load((ROOT / "notebooks" / "risk" / "params.yaml").read_text(encoding="utf-8"))
    p = copy.deepcopy(p)
    p["synthetic"]["n_persons"] = 5000
    p["validation"]["n_boot"] = 5
    return p


@pytest.fixture(scope="session")
def run(params, tmp_path_factory):
    """01: the synthetic deliveries; 02: derive, fit, validate, write; 03 reads back."""
    root = tmp_path_factory.mktemp("risk")
    spec = synth.spec_from_params(params["synthetic"])
    synth.write(synth.generate(spec), root / "raw")
    deliveries = data.read(params["data"] | {"dir": "raw"}, root)
    spells, derivation = data.new_spells(deliveries, params)
    results = analysis.run(spells, params, derivation)
    results.write(root / "tables", root / "modell.json")
    return root, spells, results, analysis.Results.read(root / "tables", root / "modell.json")
