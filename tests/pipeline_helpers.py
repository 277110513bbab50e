"""Copies of the compendium in temporary directories, for end-to-end pipeline tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from rehabkoord import verify

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e.pop("SOURCE_DATE_EPOCH", None)  # run time = commit time, as in a notebook run in Lab
    e.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    return e


def copy_project(dest: Path) -> Path:
    """The working tree (tracked and untracked-but-not-ignored files) as a fresh git repo."""
    return verify.copy_project(ROOT, dest, include_untracked=True)


def copy_built(built: Path, dest: Path) -> Path:
    """A copy of an executed project, outputs, DVC cache and lock included: a test that changes
    something gets its own copy and re-runs only what the change invalidates. DVC's own
    `.dvc/tmp` (its locks, held by a command another test may be running in `built`) is left
    behind: DVC makes a new one."""
    tmp = built / ".dvc" / "tmp"
    shutil.copytree(built, dest, symlinks=True,
                    ignore=lambda folder, names: names if Path(folder) == tmp else [])
    return dest


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=1800)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([str(BIN / "dvc"), *args], cwd, check)


#: The first study's parameters, relative to the project root.
UPPSALA_PARAMS = "notebooks/uppsala/params.yaml"


def set_params(project: Path, of: str = "uppsala", **changes: dict) -> None:
    """Update sections of a study's params.yaml (the Uppsala study's by default)."""
    path = project / "notebooks" / of / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, values in changes.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


def short_name(address: str) -> str:
    """`notebooks/uppsala/dvc.yaml:analyse` -> `analyse`; another study's stage keeps its study
    (`caseload:report`)."""
    study, _, name = address.rpartition(":")
    study = study.removeprefix("notebooks/").removesuffix("/dvc.yaml")
    return name if study in ("", "uppsala") else f"{study}:{name}"


def stages_run(output: str) -> list[str]:
    return [short_name(line.split("'")[1]) for line in output.splitlines()
            if line.startswith("Running stage '")]


def make_study(project: Path, study: str, *target: str,
               timeout: int = 2400) -> subprocess.CompletedProcess:
    """`make TARGET STUDY=study` in a copy, output and errors together as a user sees them."""
    return subprocess.run(["make", "--no-print-directory", *target, f"STUDY={study}", "STAMP="],
                          cwd=project, env=env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def run_on_delivery(project: Path, study: str, data: dict, **changes: dict
                    ) -> tuple[dict, subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """A study run by parameters only, in a copy of the project at `project`, on a delivery
    written outside it: the `data` section replaced whole (what a user writes for that
    delivery), other sections updated by `changes`, then `make check-data` and `make report`.
    Returns the parameters and both runs."""
    copy_project(project)
    (project / ".venv").symlink_to(ROOT / ".venv")
    assert Path(data["dir"]).is_absolute()
    path = project / "notebooks" / study / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, values in changes.items():
        params[section].update(values)
    params["data"] = data
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return params, make_study(project, study, "check-data"), make_study(project, study, "report")
