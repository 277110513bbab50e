"""A real delivery through `make report`: a contract failure ends the output with the full list
of problems, keeps every earlier output, and nothing synthetic runs when `data.dir` points at
a delivery. Slow: it runs the pipeline in a copy."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import ROOT, copy_project, dvc, env, set_params

pytestmark = pytest.mark.slow
KEPT = ["data/processed/uppsala/tables/results.csv", "data/interim/uppsala/lisa.parquet",
        "data/processed/uppsala/flow.json",
        "reports/uppsala/bilaga.html"]


def make_report(project: Path) -> subprocess.CompletedProcess:
    """`make report STUDY=uppsala` as the user runs it (the delivery is the Uppsala study's),
    with the test's virtual environment (STAMP= skips the install step, which the test
    environment has done)."""
    return subprocess.run(["make", "--no-print-directory", "report", "STUDY=uppsala", "STAMP="],
                          cwd=project,
                          env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=1800)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("delivery"))
    (project / ".venv").symlink_to(ROOT / ".venv")
    done = make_report(project)
    assert done.returncode == 0, done.stdout
    return project


def test_contract_failure_is_the_last_thing_shown_and_outputs_are_kept(project):
    scb = project / "data" / "raw" / "scb"
    shutil.copytree(project / "data" / "raw" / "uppsala" / "synthetic", scb)
    lisa = scb / "lisa" / "LISA2018.csv"
    frame = pd.read_csv(lisa, sep=";", encoding="latin-1", dtype=str, keep_default_na=False)
    frame["Kon"] = "3"
    frame.to_csv(lisa, sep=";", index=False, encoding="latin-1")
    set_params(project, data={"dir": "data/raw/scb"})
    before = {p: digest(project / p) for p in KEPT}

    done = make_report(project)

    assert done.returncode != 0
    lines = [line for line in done.stdout.splitlines()
             if line.strip() and not re.match(r"make(\[\d+\])?: \*\*\*", line)]  # make's own
    assert lines[-3].startswith("The delivery in data/raw/scb does not fit the data contract"), \
        done.stdout[-3000:]
    assert lines[-2] == "1 contract violation(s):"
    assert "LISA2018.csv: column 'Kon': unknown code (allowed: 1, 2)" in lines[-1]
    assert "Running stage 'notebooks/uppsala/dvc.yaml:synthesize'" not in done.stdout
    assert {p: digest(project / p) for p in KEPT} == before


def test_a_valid_delivery_at_an_absolute_path_runs_nothing_synthetic(project, tmp_path):
    """A delivery outside the project (as on SCB's server), named by an absolute data.dir: the
    clean stage runs from the project root, so DVC tracks that folder as written; the numbers
    are those of the same files inside the project."""
    server = tmp_path / "server" / "leverans"
    shutil.copytree(project / "data" / "raw" / "uppsala" / "synthetic", server)
    results = project / "data" / "processed" / "uppsala" / "tables" / "results.csv"
    before = pd.read_csv(results)
    set_params(project, data={"dir": str(server)})
    done = make_report(project)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Running stage 'notebooks/uppsala/dvc.yaml:synthesize'" not in done.stdout
    assert "Running stage 'notebooks/uppsala/dvc.yaml:clean'" in done.stdout
    pd.testing.assert_frame_equal(pd.read_csv(results), before)
    status = dvc("status", "notebooks/uppsala/dvc.yaml:clean", cwd=project).stdout
    assert "up to date" in status, status
    (server / "randomisering.csv").write_bytes((server / "randomisering.csv").read_bytes()
                                               + b"\n")
    status = dvc("status", "notebooks/uppsala/dvc.yaml:clean", cwd=project).stdout
    assert "modified" in status and str(server) in status, status
