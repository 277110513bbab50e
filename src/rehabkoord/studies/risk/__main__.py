"""Score a care centre's list of new spells with a saved risk model.

    python -m rehabkoord.studies.risk score <model.json> <new_spells.csv|parquet> <out.csv>

Writes one row per input row, in input order: LopNr (when given), risk (probability of long
sick leave, 0–1), group (low/medium/high) and reason (empty when scored; otherwise why the
row could not be scored: a missing predictor, an unknown category, a value out of range —
such rows get no risk, never a default). The risk ranks patients for an offer of support;
it must not be used for denying benefit.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ...io import atomic_outputs
from .data import read_spells
from .model import load_model, score

USAGE = __doc__ or ""


def score_file(model_file: str | Path, spells_file: str | Path, out_file: str | Path) -> tuple[int, int]:
    """Score `spells_file` with `model_file` into `out_file` (CSV, UTF-8, comma, dot decimals;
    atomic). Returns (rows scored, rows with a reason)."""
    model = load_model(model_file)
    spells = read_spells(spells_file)
    out = score(spells, model)
    out["group"] = out["group"].astype(object).where(out["group"].notna(), None)
    with atomic_outputs(out_file) as (tmp,):
        out.to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n")
    unscored = int(out["reason"].notna().sum())
    return len(out) - unscored, unscored


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] != "score":
        print(USAGE, file=sys.stderr)
        return 2
    try:
        scored, unscored = score_file(argv[1], argv[2], argv[3])
    except (OSError, ValueError) as err:
        print(f"risk score: {err}", file=sys.stderr)
        return 1
    print(f"{argv[3]}: {scored} rows scored, {unscored} with a reason why not")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
