"""Synthetic extracts: deterministic, in the contract's names and formats, realistic shape."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from rehabkoord.contract import BAS, LISA, RANDOMISATION
from rehabkoord.studies.uppsala import synth


def _digests(directory):
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_same_parameters_give_byte_identical_files(tmp_path):
    spec = synth.SyntheticSpec()
    synth.write_extracts(synth.generate(spec), tmp_path / "a")
    synth.write_extracts(synth.generate(spec), tmp_path / "b")
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a == b and "randomisering.csv" in a and "lisa/LISA2016.csv" in a
    synth.write_extracts(synth.generate(replace(spec, seed=1)), tmp_path / "c")
    assert _digests(tmp_path / "c") != a


def test_structure_and_realism(synthetic_frames):
    rand, lisa, bas = (synthetic_frames[k] for k in ("randomisering", "LISA", "BAS"))
    assert set(RANDOMISATION.names) <= set(rand.columns)
    assert set(c.name for c in LISA.columns if c.required) <= set(lisa.columns)
    assert set(BAS.names) <= set(bas.columns)
    assert len(rand) == 124 and rand["Grupp"].value_counts().to_dict() == {
        "Intervention": 62, "Kontroll": 62}
    assert (~lisa["LopNr"].isin(rand["LopNr"])).any(), "deliveries include non-participants"
    days = lisa["SjukP_Ndag_MiDAS"]
    assert (days == 0).mean() > 0.2 and days.max() <= 366 and days.min() >= 0
    assert (days * 4 == np.round(days * 4)).all() and (days % 1 != 0).any()
    per_person = lisa.groupby("LopNr").size()
    assert (per_person < per_person.max()).any(), "some people emigrate or die"
    assert bas["Ar"].min() == synth.SyntheticSpec().bas_first_year


def test_spec_from_params_ignores_other_keys():
    spec = synth.spec_from_params({"seed": 3, "n_participants": 10, "out_dir": "x"})
    assert spec.seed == 3 and spec.n_participants == 10


def test_diagnosis_groups_are_the_contracts_with_their_shares(synthetic_frames):
    """One list of groups (the contract's), every group drawn, shares summing to one."""
    groups = synthetic_frames["randomisering"]["Diagnosgrupp"]
    assert set(groups) == set(synth.DIAGNOSIS_GROUPS) == set(RANDOMISATION.column(
        "Diagnosgrupp").codes)
    assert len(synth.DIAGNOSIS_SHARES) == len(synth.DIAGNOSIS_GROUPS)
    assert np.isclose(sum(synth.DIAGNOSIS_SHARES), 1.0)
