"""Fuzzing the delivery reader: random corruptions of the synthetic delivery either clean with a
flow that accounts for every row, or stop with a contract message — never another exception."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from delivery_edits import BYTE_OPS, FRAME_OPS, fuzz, read_frame, write_frame

from rehabkoord import clean

N_CORRUPTIONS = 200
SEED = 20261124


def corrupt(delivery: Path, rng: random.Random) -> str:
    files = sorted(p for p in delivery.rglob("*") if p.is_file())
    target = rng.choice(files)
    if rng.random() < 0.5:
        op = rng.choice(FRAME_OPS)
        write_frame(op(read_frame(target), rng), target)
    else:
        op = rng.choice(BYTE_OPS)
        target.write_bytes(op(target.read_bytes(), rng))
    if rng.random() < 0.1:
        other = rng.choice(files)
        if other.exists() and other != target:
            other.unlink()
            return f"{op.__name__}({target.name}) + removed {other.name}"
    return f"{op.__name__}({target.name})"


def _accounted(cleaned: clean.Cleaned) -> bool:
    flow = cleaned.flow
    return (flow["randomised"] == len(cleaned.randomisation)
            and flow["lisa_rows_read"] == len(cleaned.lisa) + flow["lisa_rows_not_in_study"]
            and flow["bas_rows_read"] == len(cleaned.bas) + flow["bas_rows_not_in_study"])


@pytest.mark.slow
def test_random_corruptions_end_in_a_contract_message_or_an_accounted_flow(
        tmp_path, delivery, data_params):
    pristine = tmp_path / "pristine"
    shutil.copytree(delivery, pristine)
    outcomes = fuzz(pristine, delivery, data_params, n=N_CORRUPTIONS, seed=SEED,
                    corrupt=lambda raw, rng, params: corrupt(raw, rng),
                    read=lambda params: clean.clean_from_params(params, tmp_path),
                    accounted=lambda cleaned, params: _accounted(cleaned),
                    title="the Uppsala delivery")
    assert sum(n for (_, end), n in outcomes.items() if end == "stopped") > 0
