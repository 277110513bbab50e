"""Benchmark: the statistician's round trips in several versions of the compendium, in turn.

    python benchmarks/bench_versions.py --rounds 6 before=/tmp/old after=.
    python benchmarks/bench_versions.py --no-worker before=/tmp/old after=.

On a shared machine the same command can take 6 s one minute and 12 s the next, so comparing
two versions measured minutes apart says little. Here every version gets its own temporary
copy (`verify.copy_project`, its own `src/` first on PYTHONPATH) and, unless `--no-worker`,
its own warm worker; then each round times, for every version in turn (the order rotates),
`dvc repro` of the Uppsala study after a `report.min_cell` change (4, 3, 4, ...) and after an
`analysis.conf_level` change (0.9, 0.95, ...), and in the first two rounds a full
`dvc repro --force`. A drift of the machine hits all versions alike. Prints each round and
the medians. A version is a folder holding the compendium (`git worktree add /tmp/old REV`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "src"))
from rehabkoord.verify import copy_project  # noqa: E402

TARGET = "notebooks/uppsala/dvc.yaml"
PARAMS = Path("notebooks/uppsala/params.yaml")
CHANGES = {"min_cell": ("report", [4, 3]), "conf_level": ("analysis", [0.9, 0.95])}


def env(project: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project / "src"), e.get("PYTHONPATH")]))
    e["SOURCE_DATE_EPOCH"] = "1767225600"
    return e


def set_param(project: Path, section: str, key: str, value) -> None:
    path = project / PARAMS
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


def repro(project: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(BIN / "dvc"), "repro", *extra, TARGET], cwd=project, env=env(project),
                   check=True, capture_output=True)
    return time.perf_counter() - start


def start_worker(project: Path, ready: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "rehabkoord.worker", "--ready", str(ready)],
                            cwd=project, env=env(project), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker of {project} did not start")
        time.sleep(0.1)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("versions", nargs="+", metavar="NAME=FOLDER")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--no-worker", action="store_true")
    args = parser.parse_args()
    versions = dict(v.split("=", 1) for v in args.versions)
    with tempfile.TemporaryDirectory(prefix="bench-versions-") as tmp:
        projects, workers = {}, []
        try:
            for name, folder in versions.items():
                project = copy_project(Path(folder).resolve(), Path(tmp) / name)
                projects[name] = project
                if not args.no_worker:
                    workers.append(start_worker(project, Path(tmp) / f"{name}.ready"))
                repro(project)
            times: dict[tuple[str, str], list[float]] = {}
            order = list(projects)
            for r in range(args.rounds):
                for what, (section, values) in CHANGES.items():
                    for name in order:
                        set_param(projects[name], section, what, values[r % 2])
                        times.setdefault((name, what), []).append(repro(projects[name]))
                if r < 2:
                    for name in order:
                        times.setdefault((name, "full"), []).append(
                            repro(projects[name], "--force"))
                order = order[1:] + order[:1]
                print(f"round {r + 1}: " + ", ".join(f"{n} {w} {t[-1]:.2f} s"
                                                     for (n, w), t in times.items()
                                                     if len(t) == r + 1), flush=True)
        finally:
            for w in workers:
                w.terminate()
                w.wait(timeout=30)
        for (name, what), t in times.items():
            print(f"{name:10} {what:11} median {statistics.median(t):6.2f} s   runs "
                  + " ".join(f"{x:.2f}" for x in t))


if __name__ == "__main__":
    main()
