"""The risk study's extracts: the synthetic new-spells extract from the parameters, and
reading an extract (or a care centre's list to score) from CSV or Parquet.

One row per new sick-leave spell in the columns of `model.INPUT_COLUMNS` (a list to score
needs only the predictors, and `LopNr` to tell its rows apart).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ...io import atomic_outputs
from .model import SpellSpec, synthetic_spells

#: File name of the synthetic extract under `synthetic.out_dir`.
SYNTHETIC_FILE = "nya_sjukfall.parquet"
#: Columns read as text whatever they look like (a person key with leading zeros stays one).
TEXT_COLUMNS = ("LopNr", "sex", "diagnosis_group", "employment", "income_group")


def spec_from_params(synthetic: Mapping[str, Any]) -> SpellSpec:
    """`synthetic:` of params.yaml as the generator's spec (true log-odds per design column)."""
    return SpellSpec(seed=int(synthetic["seed"]), n=int(synthetic["n"]),
                     first_year=int(synthetic["first_year"]),
                     last_year=int(synthetic["last_year"]),
                     extraction_date=str(synthetic["extraction_date"]),
                     threshold_days=int(synthetic["threshold_days"]),
                     true_coefficients={str(k): float(v) for k, v in
                                        synthetic["true_coefficients"].items()})


def write_synthetic(spec: SpellSpec, out_dir: str | Path) -> list[Path]:
    """The synthetic extract as Parquet in `out_dir` (atomic), as a delivery arrives: without
    a provenance stamp, whose data hash would be of the folder being written; returns the
    file written."""
    target = Path(out_dir) / SYNTHETIC_FILE
    with atomic_outputs(target) as (tmp,):
        synthetic_spells(spec).to_parquet(tmp, index=False, compression="zstd")
    return [target]


def read_spells(path: str | Path) -> pd.DataFrame:
    """An extract or a list to score: Parquet, or CSV (comma, semicolon or tab; a semicolon
    file may use decimal commas; UTF-8 with or without BOM). Text columns stay text, and
    `spell_start` is read as a date when present."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif path.suffix.lower() in (".csv", ".txt", ".tsv"):
        head = path.read_text(encoding="utf-8-sig").splitlines()[:1]
        sep = csv.Sniffer().sniff(head[0], delimiters=",;\t").delimiter if head else ","
        frame = pd.read_csv(path, sep=sep, decimal="," if sep == ";" else ".",
                            encoding="utf-8-sig",
                            dtype={c: "string" for c in TEXT_COLUMNS})
    else:
        raise ValueError(f"{path}: read as .csv or .parquet only")
    for col in TEXT_COLUMNS:
        if col in frame.columns:
            frame[col] = frame[col].astype("string").str.strip().astype(object)
            frame[col] = frame[col].where(frame[col].notna(), None)
    if "spell_start" in frame.columns:
        frame["spell_start"] = pd.to_datetime(frame["spell_start"])
    return frame
