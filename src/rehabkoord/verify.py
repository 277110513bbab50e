"""`make verify`: does a re-run reproduce the published numbers?

Clones the committed compendium (HEAD) into a temporary directory, re-executes the whole
pipeline from the raw inputs there (`dvc repro --force`) and compares every number of every
table, metric and flow count with the published reference in `notebooks/uppsala/reference/`: relative
tolerance 1e-9 for floats (far below anything printed), exact for counts and text. Each value
that differs is named (file, row, column, both values).

Bytes are reported apart from numbers: `rehabkoord.determinism` makes them the same on
x86-64 Linux machines with AVX2, but another C library (Windows) may change a 15th digit
although every published number agrees. Such byte differences against `dvc.lock` are listed
but do not fail. Provenance stamps
(`rehabkoord.provenance`) live in file metadata and sidecars, outside the compared values,
and are printed separately.

    python -m rehabkoord.verify              # re-run in a clone, compare (make verify)
    python -m rehabkoord.verify --no-rerun   # compare the outputs already in this tree
    python -m rehabkoord.verify --refresh    # write this tree's outputs as the reference
"""

from __future__ import annotations

import argparse
import json
import math
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from numbers import Number
from pathlib import Path

import pandas as pd
import yaml

from . import provenance
from .params import project_root

REL_TOL = 1e-9
REFERENCE_DIR = "notebooks/uppsala/reference"
#: The study's dvc.lock; its paths are relative to each stage's folder (see lock_hashes).
LOCK = "notebooks/uppsala/dvc.lock"
#: Its dvc.yaml: a stage's `wdir` there says what the lock's paths are relative to.
DVC_FILE = "notebooks/uppsala/dvc.yaml"
# reference file -> the outputs that must carry its values
COMPARED: dict[str, tuple[str, ...]] = {
    "results.csv": ("data/processed/uppsala/tables/results.parquet",
                    "data/processed/uppsala/tables/results.csv"),
    "baseline.csv": ("data/processed/uppsala/tables/baseline.parquet",
                     "data/processed/uppsala/tables/baseline.csv"),
    "power.json": ("data/processed/uppsala/tables/power.json",),
    "metrics.json": ("data/processed/uppsala/metrics.json",),
    "flow.json": ("data/processed/uppsala/flow.json",),
    "clean_flow.json": ("data/interim/uppsala/clean_flow.json",),
}
ROW_KEYS = ("window_months", "stratum", "outcome", "variable", "level")
NOT_COMPARED = ("data/processed/uppsala/notebooks/",)


@dataclass(frozen=True)
class Difference:
    file: str
    row: str
    column: str
    reference: object
    got: object

    def __str__(self) -> str:
        return (f"{self.file}, {self.row}, {self.column}: reference {self.reference!r}, "
                f"re-run {self.got!r}")


@dataclass(frozen=True)
class Comparison:
    """Outcome of comparing outputs with the reference; `passed` means every value agrees."""
    values_compared: int
    differences: list[Difference]
    bytes_differ: list[str]

    @property
    def passed(self) -> bool:
        return not self.differences


def _scalar(value: object) -> object:
    """Python scalar with every kind of missing value as None (CSV cannot tell '' from NA)."""
    if value is None or value is pd.NA or value is pd.NaT or value == "":
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def values_agree(reference: object, got: object, rel_tol: float = REL_TOL) -> bool:
    """Exact for text and counts (integers on both sides), relative tolerance for floats."""
    a, b = _scalar(reference), _scalar(got)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, Number)
                                                           and isinstance(b, Number)):
        return a == b
    if float(a).is_integer() and float(b).is_integer():
        return a == b
    return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=0.0)


def _row_label(frame: pd.DataFrame, i: int) -> str:
    keys = [f"{k}={_scalar(frame.iloc[i][k])}" for k in ROW_KEYS if k in frame.columns]
    return f"row {i + 1}" + (f" ({', '.join(keys)})" if keys else "")


def compare_tables(reference: pd.DataFrame, got: pd.DataFrame, name: str,
                   rel_tol: float = REL_TOL) -> tuple[int, list[Difference]]:
    """(values compared, differences) of two tables with the same layout."""
    diffs = [Difference(name, "-", col, "present", "missing") for col in reference.columns
             if col not in got.columns]
    diffs += [Difference(name, "-", col, "absent", "present") for col in got.columns
              if col not in reference.columns]
    if len(reference) != len(got):
        diffs.append(Difference(name, "number of rows", "-", len(reference), len(got)))
    n = 0
    for col in (c for c in reference.columns if c in got.columns):
        for i in range(min(len(reference), len(got))):
            n += 1
            a, b = reference[col].iloc[i], got[col].iloc[i]
            if not values_agree(a, b, rel_tol):
                diffs.append(Difference(name, _row_label(reference, i), col, _scalar(a),
                                        _scalar(b)))
    return n, diffs


def _flatten(obj: object, prefix: str = "") -> dict[str, object]:
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: obj}


def compare_json(reference: object, got: object, name: str,
                 rel_tol: float = REL_TOL) -> tuple[int, list[Difference]]:
    """(values compared, differences) of two JSON documents, leaf by leaf."""
    a, b = _flatten(reference), _flatten(got)
    diffs = [Difference(name, key, "-", a.get(key, "absent"), b.get(key, "absent"))
             for key in sorted(set(a) ^ set(b))]
    diffs += [Difference(name, key, "-", a[key], b[key]) for key in sorted(set(a) & set(b))
              if not values_agree(a[key], b[key], rel_tol)]
    return len(set(a) & set(b)), diffs


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def compare_outputs(root: Path, reference_dir: Path, rel_tol: float = REL_TOL
                    ) -> tuple[int, list[Difference]]:
    """Every value of every compared output under `root` against `reference_dir`."""
    total, diffs = 0, []
    for ref_name, outputs in COMPARED.items():
        ref_path = reference_dir / ref_name
        if not ref_path.is_file():
            diffs.append(Difference(str(ref_path), "-", "-", "reference file", "missing"))
            continue
        for rel in outputs:
            path = root / rel
            if not path.is_file():
                diffs.append(Difference(rel, "-", "-", "output file", "missing"))
                continue
            if ref_path.suffix == ".json":
                n, d = compare_json(json.loads(ref_path.read_text(encoding="utf-8")),
                                    json.loads(path.read_text(encoding="utf-8")), rel, rel_tol)
            else:
                n, d = compare_tables(read_table(ref_path), read_table(path), rel, rel_tol)
            total += n
            diffs += d
    return total, diffs


def refresh_reference(root: Path, reference_dir: Path) -> list[Path]:
    """Write the outputs' values as the reference: tables as CSV at full precision
    (shortest round-trip floats), JSON as is."""
    reference_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ref_name, outputs in COMPARED.items():
        source = root / outputs[0]
        if not source.is_file():
            raise FileNotFoundError(f"{outputs[0]}: missing; run `make report` first")
        target = reference_dir / ref_name
        if ref_name.endswith(".json"):
            shutil.copyfile(source, target)
        else:
            read_table(source).to_csv(target, index=False, lineterminator="\n")
        written.append(target)
    return written


def lock_hashes(lock_text: str, dvc_text: str) -> dict[str, str]:
    """Output path (from the project root) -> md5 from a study's dvc.lock, for the outputs that
    must be reproducible. A lock's paths are relative to each stage's folder: its `wdir` in
    the study's dvc.yaml (`dvc_text`; a stage reading data.dir runs from the root), else the
    study's folder."""
    lock = yaml.safe_load(lock_text) or {}
    stages = (yaml.safe_load(dvc_text) or {}).get("stages", {})
    out = {}
    for name, stage in lock.get("stages", {}).items():
        wdir = posixpath.join(posixpath.dirname(LOCK), stages.get(name, {}).get("wdir", "."))
        for entry in stage.get("outs", []):
            path = posixpath.normpath(posixpath.join(wdir, entry["path"]))
            if not path.startswith(NOT_COMPARED):
                out[path] = entry.get("md5") or entry.get("hash", "")
    return out


def bytes_differ(committed_lock: str, rerun_lock: str, committed_dvc: str,
                 rerun_dvc: str) -> list[str]:
    """Outputs whose hash in the re-run's dvc.lock differs from the committed dvc.lock (each
    lock read with the dvc.yaml it was written by)."""
    expected = lock_hashes(committed_lock, committed_dvc)
    got = lock_hashes(rerun_lock, rerun_dvc)
    return [p for p in sorted(expected) if got.get(p) != expected[p]]


def copy_project(source: Path, dest: Path, include_untracked: bool = False) -> Path:
    """Git-tracked files of `source` (optionally untracked, unignored ones) as a fresh repo.

    For tests of the pipeline; `make verify` clones HEAD instead."""
    flags = ["-co", "--exclude-standard"] if include_untracked else []
    listed = subprocess.run(["git", "ls-files", *flags, "-z"], cwd=source, capture_output=True,
                            text=True, check=True).stdout.split("\0")
    for rel in filter(None, listed):
        src = source / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # fixed author and dates: copies of one tree get one commit, hence identical stamps
    env = {**os.environ, "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+00:00",
           "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+00:00"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=verify@localhost", "-c", "user.name=verify", "commit",
                 "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True, env=env)
    return dest


def rerun(root: Path, dest: Path) -> Path:
    """A clone of `root`'s HEAD at `dest`, with the whole pipeline re-executed there."""
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(root), str(dest)], check=True)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro", "--force",
                    DVC_FILE], cwd=dest, env=env, check=True)
    return dest


def verify(root: Path, rerun_pipeline: bool = True, rel_tol: float = REL_TOL) -> Comparison:
    """Compare a fresh run (or the outputs present) with the committed reference."""
    committed_lock, committed_dvc = _committed(root, LOCK), _committed(root, DVC_FILE)
    reference = root / REFERENCE_DIR
    if not rerun_pipeline:
        n, diffs = compare_outputs(root, reference, rel_tol)
        return Comparison(n, diffs, bytes_differ(committed_lock, _read(root / LOCK),
                                                 committed_dvc, _read(root / DVC_FILE)))
    with tempfile.TemporaryDirectory(prefix="rehabkoord-verify-") as tmp:
        copy = rerun(root, Path(tmp) / "compendium")
        n, diffs = compare_outputs(copy, reference, rel_tol)
        _print_provenance(copy)
        return Comparison(n, diffs, bytes_differ(committed_lock, _read(copy / LOCK),
                                                 committed_dvc, _read(copy / DVC_FILE)))


def _committed(root: Path, rel: str) -> str:
    """A file as committed at HEAD; empty outside git (an unpacked bundle)."""
    return subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=root, capture_output=True,
                          text=True).stdout


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _print_provenance(root: Path) -> None:
    stamp = provenance.read(root / COMPARED["results.csv"][0])
    if stamp:
        print("Provenance of the re-run (not compared):")
        for key in sorted(stamp):
            print(f"  {key}: {stamp[key]}")


def report(result: Comparison, rel_tol: float = REL_TOL) -> str:
    lines = [f"Compared {result.values_compared} values in {sum(map(len, COMPARED.values()))} "
             f"output files with {REFERENCE_DIR}/ (floats to relative {rel_tol:g}; counts and "
             "text exactly)."]
    if result.differences:
        lines.append(f"NUMBERS DIFFER: {len(result.differences)} value(s):")
        lines += [f"  - {d}" for d in result.differences]
    else:
        lines.append("Numbers: every value agrees with the reference.")
    if result.bytes_differ:
        lines.append(f"Bytes differ from dvc.lock in {len(result.bytes_differ)} output(s) "
                     "(not a failure when the numbers agree: CPUs may round the last digit "
                     "differently, and provenance stamps name the commit that ran):")
        lines += [f"  - {p}" for p in result.bytes_differ]
    else:
        lines.append("Bytes: every output is byte-identical to dvc.lock.")
    lines.append("VERIFY PASSED: the re-run reproduces the published numbers" if result.passed
                 else "VERIFY FAILED: the numbers above differ from the published reference")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehabkoord.verify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-rerun", action="store_true",
                      help="compare the outputs already in this tree, without re-running")
    mode.add_argument("--refresh", action="store_true",
                      help=f"write this tree's outputs to {REFERENCE_DIR}/ (after an intended change)")
    args = parser.parse_args(argv)
    root = project_root()
    if args.refresh:
        for path in refresh_reference(root, root / REFERENCE_DIR):
            print(f"wrote {path.relative_to(root)}")
        return 0
    result = verify(root, rerun_pipeline=not args.no_rerun)
    print(report(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
