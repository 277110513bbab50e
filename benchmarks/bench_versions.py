"""Benchmark: the statistician's round trips in several versions of the compendium, in turn.

    python benchmarks/bench_versions.py --rounds 6 before=/tmp/old after=.
    python benchmarks/bench_versions.py --no-worker before=/tmp/old after=.   # as a new user

On a shared machine the same command can take 6 s one minute and 12 s the next, so comparing
two versions measured minutes apart says little. Here every version gets its own temporary
copy (`verify.copy_project`, its own `src/` first on PYTHONPATH) and, unless `--no-worker`,
its own warm worker started by hand (with `--no-worker` each version runs as a new user's
would: a version whose stage commands start a worker themselves does so, one that does not
runs every stage in its own process); then each round times, for every version in turn (the order rotates),
`dvc repro` of the Uppsala study after a `report.min_cell` change (4, 3, 4, ...) and after an
`analysis.conf_level` change (0.9, 0.95, ...), and in the first two rounds a full
`dvc repro --force`, and `python -c "import pandas, scipy, seaborn"` (the machine's speed that
round). A drift of the machine hits all versions alike. Prints each round, the medians of
wall time and of CPU time (user + system of DVC, the commands it ran and the worker's forks
that served them, when started by hand), which a busy machine disturbs less, and each
median's ratio to the bare import's. A version is a folder
holding the compendium (`git worktree add /tmp/old REV`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_pipeline import (  # also puts src/ on the path
    BIN,
    TARGET,
    children_cpu,
    env,
    set_param,
    start_worker,
)

from rehabkoord.verify import copy_project

CHANGES = {"min_cell": ("report", [4, 3]), "conf_level": ("analysis", [0.9, 0.95])}
BARE = "import pandas, scipy, seaborn"


def forks_cpu(worker: subprocess.Popen | None) -> float:
    """CPU seconds of the worker's finished forks (`cutime` + `cstime` in /proc)."""
    if worker is None:
        return 0.0
    fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def repro(project: Path, *extra: str, worker: subprocess.Popen | None = None
          ) -> tuple[float, float]:
    """Wall and CPU seconds of `dvc repro` in `project`."""
    start, cpu = time.perf_counter(), children_cpu() + forks_cpu(worker)
    subprocess.run([str(BIN / "dvc"), "repro", *extra, TARGET], cwd=project, env=env(project),
                   check=True, capture_output=True)
    return time.perf_counter() - start, children_cpu() + forks_cpu(worker) - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("versions", nargs="+", metavar="NAME=FOLDER")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--no-worker", action="store_true")
    args = parser.parse_args()
    versions = dict(v.split("=", 1) for v in args.versions)
    with tempfile.TemporaryDirectory(prefix="bench-versions-") as tmp:
        projects, workers = {}, {}
        try:
            for name, folder in versions.items():
                project = copy_project(Path(folder).resolve(), Path(tmp) / name)
                projects[name] = project
                if not args.no_worker:
                    (Path(tmp) / f"{name}-worker").mkdir()
                    workers[name] = start_worker(project, Path(tmp) / f"{name}-worker")
                repro(project)
            times: dict[tuple[str, str], list[tuple[float, float]]] = {}
            order = list(projects)
            for r in range(args.rounds):
                for what, (section, values) in CHANGES.items():
                    for name in order:
                        set_param(projects[name], section, what, values[r % 2])
                        times.setdefault((name, what), []).append(
                            repro(projects[name], worker=workers.get(name)))
                start, cpu = time.perf_counter(), children_cpu()
                subprocess.run([str(BIN / "python"), "-c", BARE], check=True, env=env())
                times.setdefault(("bare", "import"), []).append(
                    (time.perf_counter() - start, children_cpu() - cpu))
                if r < 2:
                    for name in order:
                        times.setdefault((name, "full"), []).append(
                            repro(projects[name], "--force", worker=workers.get(name)))
                order = order[1:] + order[:1]
                print(f"round {r + 1}: " + ", ".join(f"{n} {w} {t[-1][0]:.2f} s"
                                                     for (n, w), t in times.items()
                                                     if len(t) == r + 1), flush=True)
        finally:
            for w in workers.values():
                w.terminate()
                w.wait(timeout=30)
        bare = statistics.median(t[0] for t in times[("bare", "import")])
        for (name, what), t in times.items():
            wall, cpu = ([x[i] for x in t] for i in (0, 1))
            print(f"{name:10} {what:11} median {statistics.median(wall):6.2f} s"
                  f" (cpu {statistics.median(cpu):6.2f} s, {statistics.median(wall) / bare:.1f}x"
                  f" the bare import)   runs " + " ".join(f"{x:.2f}" for x in wall))


if __name__ == "__main__":
    main()
