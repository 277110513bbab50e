"""`make verify` compares values with the published reference, not bytes with dvc.lock.

Outputs here are the committed reference itself, perturbed as another CPU (1e-13 relative)
or a real change (1e-6 relative, a count moved by one) would perturb them.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rehabkoord import verify

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / verify.REFERENCE_DIR


@pytest.fixture()
def outputs(tmp_path) -> Path:
    """A tree of outputs carrying exactly the reference values, in the outputs' formats."""
    for ref_name, targets in verify.COMPARED.items():
        for rel in targets:
            dest = tmp_path / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith(".parquet"):
                verify.read_table(REFERENCE / ref_name).to_parquet(dest, index=False)
            else:
                shutil.copyfile(REFERENCE / ref_name, dest)
    return tmp_path


def _scale_floats(path: Path, factor: float) -> None:
    """Multiply every non-integral float in a table or JSON file by `factor`."""
    if path.suffix == ".json":
        def walk(obj):
            if isinstance(obj, dict):
                return {k: walk(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [walk(v) for v in obj]
            if isinstance(obj, float) and not obj.is_integer():
                return obj * factor
            return obj
        path.write_text(json.dumps(walk(json.loads(path.read_text()))), encoding="utf-8")
        return
    frame = verify.read_table(path)
    for col in frame.select_dtypes("float").columns:
        frame[col] = frame[col].map(lambda v: v if math.isnan(v) or v.is_integer() else v * factor)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, float_format="%.17g", lineterminator="\n")


def test_reference_is_committed_for_every_compared_output():
    assert sorted(p.name for p in REFERENCE.iterdir() if p.name != "README.md") == \
        sorted(verify.COMPARED)


def test_identical_outputs_pass(outputs):
    n, diffs = verify.compare_outputs(outputs, REFERENCE)
    assert diffs == []
    assert n > 1000


def test_another_cpus_rounding_passes(outputs):
    """1e-13 relative on every float of every file, as SIMD code paths may differ."""
    for targets in verify.COMPARED.values():
        for rel in targets:
            _scale_floats(outputs / rel, 1 + 1e-13)
    frame = pd.read_parquet(outputs / "data/processed/uppsala/tables/results.parquet")
    reference = verify.read_table(REFERENCE / "results.csv")
    assert frame["pvalue"].iloc[0] != reference["pvalue"].iloc[0]  # the perturbation is real
    n, diffs = verify.compare_outputs(outputs, REFERENCE)
    assert diffs == []


def test_a_number_moved_by_1e_6_relative_fails_naming_the_cell(outputs):
    path = outputs / "data/processed/uppsala/tables/results.parquet"
    frame = pd.read_parquet(path)
    row = int(frame.index[(frame["window_months"] == 12) & (frame["stratum"] == "kvinna")
                          & (frame["outcome"] == "employed_or_studying")][0])
    before = frame.loc[row, "pvalue"]
    frame.loc[row, "pvalue"] = before * (1 + 1e-6)
    frame.to_parquet(path, index=False)
    _, diffs = verify.compare_outputs(outputs, REFERENCE)
    assert len(diffs) == 1
    d = diffs[0]
    assert (d.file, d.column, d.reference) == ("data/processed/uppsala/tables/results.parquet",
                                               "pvalue", before)
    assert d.row.startswith(f"row {row + 1} (window_months=12, stratum=kvinna")
    assert "results.parquet, row" in str(d) and str(before) in str(d)


def test_a_count_moved_by_one_fails(outputs):
    path = outputs / "data/processed/uppsala/flow.json"
    flow = json.loads(path.read_text())
    flow["windows"]["6"]["Intervention"]["analysed"] += 1
    path.write_text(json.dumps(flow), encoding="utf-8")
    _, diffs = verify.compare_outputs(outputs, REFERENCE)
    assert [(d.file, d.row) for d in diffs] == [("data/processed/uppsala/flow.json",
                                                  "windows.6.Intervention.analysed")]
    assert diffs[0].got == diffs[0].reference + 1


def test_a_count_in_a_table_moved_by_one_fails(outputs):
    path = outputs / "data/processed/uppsala/tables/baseline.csv"
    frame = verify.read_table(path)
    frame.loc[0, "n_int"] += 1
    frame.to_csv(path, index=False, float_format="%.17g", lineterminator="\n")
    _, diffs = verify.compare_outputs(outputs, REFERENCE)
    assert [(d.file, d.column) for d in diffs] == [("data/processed/uppsala/tables/baseline.csv", "n_int")]


def test_text_is_exact_and_missing_files_are_named(outputs):
    path = outputs / "data/processed/uppsala/tables/results.csv"
    frame = verify.read_table(path)
    frame.loc[0, "test"] = "fisher"
    frame.to_csv(path, index=False, float_format="%.17g", lineterminator="\n")
    (outputs / "data/processed/uppsala/metrics.json").unlink()
    _, diffs = verify.compare_outputs(outputs, REFERENCE)
    assert {(d.file, d.column) for d in diffs} == {("data/processed/uppsala/tables/results.csv", "test"),
                                                   ("data/processed/uppsala/metrics.json", "-")}


def test_values_agree_rules():
    assert verify.values_agree(1.0, 1.0 + 1e-12)
    assert not verify.values_agree(0.5, 0.5 * (1 + 2e-9))
    assert not verify.values_agree(55, 56)
    assert verify.values_agree(float("nan"), None) and verify.values_agree("", None)
    assert not verify.values_agree(0.0, None)
    assert not verify.values_agree("Kontroll", "kontroll")


def test_report_keeps_bytes_apart_from_numbers():
    only_bytes = verify.Comparison(10, [], ["data/processed/uppsala/tables/results.parquet"])
    text = verify.report(only_bytes)
    assert "VERIFY PASSED" in text and "Bytes differ" in text and "NUMBERS DIFFER" not in text
    numbers = verify.Comparison(10, [verify.Difference("f", "row 1", "pvalue", 0.1, 0.2)], [])
    text = verify.report(numbers)
    assert "VERIFY FAILED" in text and "NUMBERS DIFFER" in text and "f, row 1, pvalue" in text


LOCK = """
schema: '2.0'
stages:
  clean:
    outs:
    - path: data/interim/uppsala/lisa.parquet
      md5: fff
  analyse:
    outs:
    - path: ../../data/processed/uppsala/metrics.json
      md5: aaa
    - path: ../../data/processed/uppsala/notebooks/04_analyse.ipynb
      md5: bbb
  report:
    outs:
    - path: ../../reports/uppsala/bilaga.html
      md5: ccc
    - path: ../../reports/uppsala/figures
      md5: ddd.dir
"""
#: clean reads data.dir and so runs from the project root: its lock paths are relative to it
DVC_YAML = """
stages:
  clean: {wdir: ../.., cmd: c}
  analyse: {cmd: a}
  report: {cmd: r}
"""


def test_bytes_differ_lists_outputs_whose_hash_moved():
    assert verify.lock_hashes(LOCK, DVC_YAML) == {
        "data/interim/uppsala/lisa.parquet": "fff",
        "data/processed/uppsala/metrics.json": "aaa", "reports/uppsala/bilaga.html": "ccc",
        "reports/uppsala/figures": "ddd.dir"}
    moved = LOCK.replace("ddd.dir", "eee.dir").replace("bbb", "zzz").replace("fff", "ggg")
    assert verify.bytes_differ(LOCK, moved, DVC_YAML, DVC_YAML) == [
        "data/interim/uppsala/lisa.parquet", "reports/uppsala/figures"]


def test_lock_paths_resolve_from_each_stage_folder_of_the_study():
    """A lock written as DVC writes it for the study's own dvc.yaml (each out relative to its
    stage's wdir) names every output from the project root, under data/ or reports/."""
    dvc_text = (ROOT / verify.DVC_FILE).read_text(encoding="utf-8")
    stages = yaml.safe_load(dvc_text)["stages"]
    params = yaml.safe_load((ROOT / verify.DVC_FILE).with_name("params.yaml").read_text())
    lock = {"stages": {name: {"outs": [
        {"path": (o if isinstance(o, str) else next(iter(o))).replace(
            "${synthetic.out_dir}", params["synthetic"]["out_dir"]), "md5": "x"}
        for o in stage.get("outs", []) + stage.get("metrics", [])]}
        for name, stage in stages.items()}}
    assert any("wdir" in stage for stage in stages.values())
    paths = verify.lock_hashes(yaml.safe_dump(lock), dvc_text)
    assert "data/interim/uppsala/lisa.parquet" in paths
    assert "reports/uppsala/bilaga.html" in paths
    assert all(p.startswith(("data/", "reports/")) for p in paths), sorted(paths)
