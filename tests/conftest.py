"""Shared fixtures: a synthetic delivery on disk, R for cross-checks, and one executed pipeline
of every study (`built`) for the slow tests that read its outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from filelock import FileLock
from pipeline_helpers import copy_project, dvc

from rehabkoord.studies.uppsala import analysis, synth

TESTS = Path(__file__).resolve().parent
#: The files that take longest (seconds in one process, 7 December: the offline bundle 73 plus
#: 90 to build it on a fresh clone, the pipeline 79, Spark 62, the fresh clone 61, the fuzzers
#: 31, the worker 31), run first: `make test`'s processes (pytest-xdist, `--dist loadfile
#: --no-loadscope-reorder`) take files in this order as they free up, so the short files fill
#: in at the end instead of one long file running alone.
LONGEST_FIRST = ("test_bundle.py", "test_pipeline.py", "test_engines.py", "test_repository.py",
                 "test_clean_fuzz.py", "test_worker.py",
                 "studies/caseload/test_caseload_delivery.py", "test_disclosure.py",
                 "test_clean.py")


def pytest_collection_modifyitems(config, items):
    missing = [name for name in LONGEST_FIRST if not (TESTS / name).is_file()]
    assert not missing, f"tests/conftest.py LONGEST_FIRST names no such file: {missing}"
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(TESTS).as_posix(), len(rank)))


@pytest.fixture(scope="module")
def male_subgroup_results():
    """The published male subgroup (9/21 vs 1/12) as a one-window cohort's outcome results."""
    rows = []
    for group, events, n in (("Intervention", 9, 21), ("Kontroll", 1, 12)):
        for i in range(n):
            rows.append({"LopNr": f"{group}{i}", "Grupp": group, "sex": "man",
                         "window_months": 12, "analysed": True,
                         "employed_or_studying": i < events,
                         "sjukpenning_netdays": float(i * 10),
                         "sjukersattning_netdays": 0.0})
    table = pd.DataFrame(rows)
    table["Grupp"] = pd.Categorical(table["Grupp"], ["Intervention", "Kontroll"])
    return analysis.outcome_results(table)


@pytest.fixture(scope="session")
def synthetic_frames():
    return synth.generate(synth.SyntheticSpec())


@pytest.fixture()
def delivery(tmp_path, synthetic_frames):
    """A fresh synthetic delivery in the default formats; returns its directory."""
    synth.write_extracts(synthetic_frames, tmp_path / "raw")
    return tmp_path / "raw"


DATA_PARAMS = {
    "dir": "raw",
    "randomisation": "randomisering.csv",
    "lisa": "lisa/*.csv",
    "bas": "bas/*.parquet",
    "column_map": {},
    "rand_period": ["2017-01-01", "2019-12-31"],
    "age_range": [25, 64],
}


@pytest.fixture()
def data_params():
    return {**DATA_PARAMS, "column_map": {}}


def rscript() -> str | None:
    return shutil.which("Rscript")


@pytest.fixture(scope="session")
def run_r():
    """Run an R script and return stdout; skipped locally without R, an error in CI."""
    exe = rscript()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Rscript is required in CI (install Debian's r-base-core)")
        pytest.skip("Rscript not found: R cross-checks skipped (install r-base-core)")

    def run(code: str) -> str:
        with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
            fh.write(code + "\n")
        try:
            done = subprocess.run([exe, "--vanilla", fh.name], capture_output=True, text=True,
                                  timeout=300)
        finally:
            os.unlink(fh.name)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return done.stdout

    return run


@pytest.fixture(scope="session")
def built_run(tmp_path_factory) -> tuple[Path, str]:
    """Every study's pipeline run once (`dvc repro`) in a temporary copy of the working tree,
    and what DVC printed. Tests only read it; one that changes something works in its own
    copy (`pipeline_helpers.copy_built`). Under pytest-xdist (`make test` runs two workers)
    the first worker to ask builds it in their shared temporary folder and the others wait
    for it: one pipeline run per test session, not one per worker."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    project, printed = shared / "run_a", shared / "run_a.out"
    with FileLock(shared / "run_a.lock"):
        if not printed.exists():
            shutil.rmtree(project, ignore_errors=True)  # a run stopped half-way
            copy_project(project)
            printed.write_text(dvc("repro", cwd=project).stdout, encoding="utf-8")
    return project, printed.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def built(built_run) -> Path:
    return built_run[0]
