"""`make verify`: the reviewer's one-command check.

Copies the committed compendium to a fresh temporary directory, re-executes the whole pipeline
from the raw inputs there (`dvc repro --force`) and compares the hash of every table, metric,
flow and figure with the committed `dvc.lock`. Executed notebooks and the HTML carry run times
and the report date, so they are rebuilt but not compared.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from .params import project_root

NOT_COMPARED = ("reports/notebooks/", "reports/bilaga.html")


def copy_project(source: Path, dest: Path, include_untracked: bool = False) -> Path:
    """Git-tracked files of `source` (optionally untracked, unignored ones) as a fresh repo."""
    flags = ["-co", "--exclude-standard"] if include_untracked else []
    listed = subprocess.run(["git", "ls-files", *flags, "-z"], cwd=source, capture_output=True,
                            text=True, check=True).stdout.split("\0")
    for rel in filter(None, listed):
        src = source / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=verify@localhost", "-c", "user.name=verify", "commit",
                 "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


def lock_hashes(lock_text: str) -> dict[str, str]:
    """Output path -> hash from a dvc.lock, for the outputs that must be reproducible."""
    lock = yaml.safe_load(lock_text) or {}
    out = {}
    for stage in lock.get("stages", {}).values():
        for entry in stage.get("outs", []):
            if not entry["path"].startswith(NOT_COMPARED):
                out[entry["path"]] = entry.get("md5") or entry.get("hash", "")
    return out


def verify(root: Path | None = None) -> list[str]:
    """Differences between a fresh full run and the committed dvc.lock (empty list = pass)."""
    root = root or project_root()
    committed = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=root, capture_output=True,
                               text=True, check=True).stdout
    expected = lock_hashes(committed)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with tempfile.TemporaryDirectory(prefix="rehabkoord-verify-") as tmp:
        copy = copy_project(root, Path(tmp))
        subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro", "--force"], cwd=copy,
                       env=env, check=True)
        got = lock_hashes((copy / "dvc.lock").read_text(encoding="utf-8"))
    problems = [f"{path}: committed {expected[path]}, re-run {got.get(path, 'missing')}"
                for path in sorted(expected) if got.get(path) != expected[path]]
    problems += [f"{path}: produced but not in the committed dvc.lock" for path in sorted(got)
                 if path not in expected]
    return problems


def main() -> int:
    problems = verify()
    if problems:
        print("VERIFY FAILED: the re-run differs from the committed dvc.lock:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("VERIFY PASSED: every table, metric, flow and figure matches dvc.lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
