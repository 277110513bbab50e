"""Benchmark: the Uppsala pipeline under DVC against the same library calls in one process.

    python benchmarks/bench_pipeline.py            # 3 repeats, medians
    python benchmarks/bench_pipeline.py --repeats 5

In a temporary copy of the compendium (whose own src/ is put first on PYTHONPATH), prints the
median wall time (and CPU time, user + system, of the command and what it ran) of
- a full `dvc repro --force notebooks/uppsala/dvc.yaml`, and the same library calls (every
  stage notebook's code cells, in order) in one fresh Python process, with their ratio;
- a report-only parameter change (`report.min_cell`) -> new reports/uppsala/bilaga.html;
- an analysis parameter change (`analysis.alpha`, then `analysis.conf_level`) -> new HTML;
- papermill on a one-cell notebook (`1+1`, separate kernel), the stage runner on it, and
  `python -c 'import pandas, scipy, seaborn'`.

Without `--worker` the stage commands start their own worker in the background, as for any
user (`REHABKOORD_NO_WORKER=1` in the environment times every stage in its own process). With
`--worker` the same runs are timed while a warm worker started by hand (`rehabkoord.worker`,
in the copy's environment) serves the stage commands. CPU counts only the commands' own
processes (DVC and the hand-over), not a worker's forks, so compare wall times.

With `--breakdown` it prints instead where a `report.min_cell` change spends its time: DVC
alone (a no-op `dvc repro`, `dvc status`), each stage's command run directly as DVC runs it
(process start, imports, cells, HTML, provenance, PNG and SVG), the import floor of a stage
process, and, in one process, the figures stage's parts (imports, disclosure decision with its
audit, drawing, PNG, SVG) for both values of `min_cell` the round trip alternates.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "src"))
from rehabkoord.verify import copy_project  # noqa: E402

STUDY = Path("notebooks/uppsala")
TARGET = str(STUDY / "dvc.yaml")

ONE_PROCESS = """
import os, sys, json, runpy
from pathlib import Path
os.environ.setdefault("MPLBACKEND", "Agg")
from IPython.display import display  # noqa: F401  (the notebooks call display())
for notebook in json.loads(sys.argv[1]):
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    code = "\\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    exec(compile(code, notebook, "exec"), {"__name__": "__main__"})
from rehabkoord import render
render.html("data/processed/uppsala/notebooks/06_report.ipynb", "reports/uppsala/bilaga.html",
            params_file="notebooks/uppsala/params.yaml")
"""


PROJECT: Path | None = None  # the temporary copy, once made


def env(project: Path | None = None) -> dict[str, str]:
    """The environment of a command in `project` (default: the copy): its own library first."""
    project = project or PROJECT
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    if project is not None:  # the copy's library, not an installed one
        e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project / "src"),
                                                        e.get("PYTHONPATH")]))
    e["SOURCE_DATE_EPOCH"] = "1767225600"
    # as on a user's machine: a shell that sets this (some sandboxes do) makes every stage
    # compile the project's modules again (about 0.05-0.1 s a stage)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    return e


#: CPU seconds (user + system) of each timed command and the processes it waited for, in
#: order; on a shared machine they vary far less with the load than wall times do.
CPU: list[float] = []


def children_cpu() -> float:
    try:
        import resource
    except ImportError:  # Windows
        return math.nan
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], cwd: Path) -> float:
    start, cpu = time.perf_counter(), children_cpu()
    subprocess.run(args, cwd=cwd, env=env(), check=True, capture_output=True)
    CPU.append(children_cpu() - cpu)
    return time.perf_counter() - start


def cpu(n: int) -> str:
    """The median CPU time of the last n timed commands, for printing."""
    return f"cpu {statistics.median(CPU[-n:]):6.2f} s"


def stage_dir(stage: dict) -> Path:
    """The folder (from the root) a stage runs in and its paths are relative to: its `wdir`
    (a stage reading data.dir runs from the root), else the study's folder."""
    return Path(os.path.normpath(STUDY / stage.get("wdir", ".")))


def stage_notebooks(project: Path) -> list[str]:
    """The study's stage notebooks (paths from the root) in the order `dvc repro` runs them."""
    stages = yaml.safe_load((project / TARGET).read_text(encoding="utf-8"))["stages"]
    lock = yaml.safe_load((project / STUDY / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    names = sorted(stages, key=list(lock).index)
    return [(stage_dir(stages[n]) / next(d for d in stages[n]["deps"]
                                         if str(d).endswith(".ipynb"))).as_posix()
            for n in names]


def set_param(project: Path, section: str, key: str, value) -> None:
    path = project / STUDY / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


def change_time(project: Path, section: str, key: str, values: list, repeats: int) -> float:
    times = []
    for i in range(repeats):
        set_param(project, section, key, values[i % 2])
        times.append(timed([str(BIN / "dvc"), "repro", TARGET], project))
    return statistics.median(times)


FIGURE_PARTS = """
import sys, time
from pathlib import Path
clock = [time.perf_counter()]
def lap(what):
    now = time.perf_counter()
    print(f"{what:40s} {now - clock[0]:6.2f} s")
    clock[0] = now
import pandas as pd
from rehabkoord import disclosure, provenance
from rehabkoord.studies.uppsala import figures
from rehabkoord.params import load_params
from rehabkoord.io import read_json
lap("imports (pandas, matplotlib, seaborn)")
params = load_params("notebooks/uppsala/params.yaml")
table = pd.read_parquet("data/processed/uppsala/analysis.parquet")
results = pd.read_parquet("data/processed/uppsala/tables/results.parquet")
baseline = pd.read_parquet("data/processed/uppsala/tables/baseline.parquet")
flow = read_json(Path("data/processed/uppsala/flow.json"))
lap("read inputs")
for min_cell in (3, 4):
    rules = disclosure.Rules.from_params({**params["report"], "min_cell": min_cell})
    pub = disclosure.publish(results, baseline, flow, rules, params["power"]["window_months"])
    lap(f"disclosure decision, min_cell {min_cell}")
figures.set_style()
stamp = provenance.collect(output=Path("reports/uppsala/figures/x.png"))
lap("provenance stamp")
out = Path(sys.argv[1])
drawn = {"dagar_sjukpenning": lambda: figures.days_distribution(
             table, "sjukpenning_netdays", "sv", pub),
         "andel_med_dagar": lambda: figures.share_with_days(figures.any_days_table(pub), "sv"),
         "dagar_bland_dem_med_dagar": lambda: figures.days_among_with_days(
             figures.days_among_with_days_table(table, pub), "sv"),
         "andel_sysselsatta": lambda: figures.share_by_group(pub, "sv"),
         "andel_sysselsatta_kon": lambda: figures.share_by_group(pub, "sv", by_sex=True),
         "forest_riskskillnad": lambda: figures.forest_risk_difference(pub, "sv"),
         **{f"consort_{w}m": (lambda w=w: figures.consort(pub, w, "sv")) for w in pub.flow}}
parts = {"draw": 0.0, "png": 0.0, "svg": 0.0}
for name, draw in drawn.items():
    start = time.perf_counter()
    fig = draw()
    t1 = time.perf_counter()
    fig.savefig(out / f"{name}.png", bbox_inches="tight",
                metadata={"Software": None, **provenance.png_metadata(stamp)})
    t2 = time.perf_counter()
    fig.savefig(out / f"{name}.svg", bbox_inches="tight",
                metadata={"Date": None, "Creator": None, **provenance.svg_metadata(stamp)})
    t3 = time.perf_counter()
    figures.plt.close(fig)
    for part, dt in (("draw", t1 - start), ("png", t2 - t1), ("svg", t3 - t2)):
        parts[part] += dt
for part, dt in parts.items():
    print(f"{len(drawn)} figures: {part:30s} {dt:6.2f} s")
"""


def stage_commands(project: Path) -> dict[str, tuple[Path, str]]:
    """Each stage's folder (from the root) and command as DVC runs it."""
    stages = yaml.safe_load((project / TARGET).read_text(encoding="utf-8"))["stages"]
    return {name: (stage_dir(s), " ".join(str(s["cmd"]).split())) for name, s in stages.items()}


def breakdown(project: Path, tmp: Path, n: int) -> None:
    """Where a `report.min_cell` change spends its time (medians of n)."""
    dvc = str(BIN / "dvc")
    med = statistics.median
    for what in ("repro", "status"):
        t = med(timed([dvc, what, TARGET], project) for _ in range(n))
        print(f"no-op dvc {what:23s} {t:6.2f} s   {cpu(n)}")
    floor = med(timed([sys.executable, "-c", "import rehabkoord.stage"], project)
                for _ in range(n))
    print(f"stage process floor (python + import rehabkoord.stage)  {floor:6.2f} s   {cpu(n)}")
    for name, (folder, cmd) in stage_commands(project).items():
        if name in ("figures", "report"):
            t = med(timed(["bash", "-c", cmd], project / folder) for _ in range(n))
            print(f"stage {name:26s} {t:6.2f} s   {cpu(n)}   ({cmd.split()[2]})")
    out = tmp / "figure-parts"
    out.mkdir()
    subprocess.run([sys.executable, "-c", FIGURE_PARTS, str(out)], cwd=project, env=env(),
                   check=True)


def start_worker(project: Path, tmp: Path) -> subprocess.Popen:
    """A warm worker serving the copy's stage commands (same interpreter and environment)."""
    ready = tmp / "worker-ready"
    proc = subprocess.Popen([sys.executable, "-m", "rehabkoord.worker", "--ready", str(ready)],
                            cwd=project, env=env(project), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the worker did not start")
        time.sleep(0.1)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--breakdown", action="store_true",
                        help="where a report.min_cell change spends its time")
    parser.add_argument("--worker", action="store_true",
                        help="time the runs with a warm worker serving the stage commands")
    args = parser.parse_args()
    n = args.repeats
    dvc = str(BIN / "dvc")
    global PROJECT
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        project = PROJECT = copy_project(ROOT, Path(tmp) / "project", include_untracked=True)
        subprocess.run([dvc, "repro", TARGET], cwd=project, env=env(), check=True,
                       capture_output=True)
        if args.breakdown:
            breakdown(project, Path(tmp), n)
            return
        served = start_worker(project, Path(tmp)) if args.worker else None
        try:
            compare(project, Path(tmp), n)
        finally:
            if served is not None:
                served.terminate()
                served.wait()


def compare(project: Path, tmp: Path, n: int) -> None:
    """Full run against one process, parameter round trips, and the cost of papermill."""
    dvc = str(BIN / "dvc")
    notebooks = json.dumps(stage_notebooks(project))
    full = statistics.median(timed([dvc, "repro", "--force", TARGET], project)
                             for _ in range(n))
    full_cpu = statistics.median(CPU[-n:])
    plain = statistics.median(timed([sys.executable, "-c", ONE_PROCESS, notebooks], project)
                              for _ in range(n))
    plain_cpu = statistics.median(CPU[-n:])
    print(f"full dvc repro --force           {full:6.2f} s   cpu {full_cpu:6.2f} s")
    print(f"same calls in one process        {plain:6.2f} s   {cpu(n)}   ratio {full / plain:.2f}x"
          f" (cpu {full_cpu / plain_cpu:.2f}x)")
    subprocess.run([dvc, "repro", TARGET], cwd=project, env=env(), check=True,
                   capture_output=True)
    report = change_time(project, "report", "min_cell", [4, 3], n)
    print(f"report.min_cell change -> HTML   {report:6.2f} s   {cpu(n)}")
    alpha = change_time(project, "analysis", "alpha", [0.01, 0.05], n)
    print(f"analysis.alpha change -> HTML    {alpha:6.2f} s   {cpu(n)}")
    conf = change_time(project, "analysis", "conf_level", [0.9, 0.95], n)
    print(f"analysis.conf_level change       {conf:6.2f} s   {cpu(n)}")

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1+1")]
    nb.metadata.kernelspec = {"name": "rehabkoord", "display_name": "Python (rehabkoord)",
                              "language": "python"}
    one = Path(tmp) / "one.ipynb"
    nbformat.write(nb, one)
    out = str(Path(tmp) / "one_out.ipynb")
    pm = statistics.median(timed([str(BIN / "papermill"), str(one), out, "-k", "rehabkoord",
                                  "--no-progress-bar", "--log-level", "WARNING"], project)
                           for _ in range(n))
    runner = math.nan  # the stage runner exists from issue 15 on
    if importlib.util.find_spec("rehabkoord.stage"):
        runner = statistics.median(timed([sys.executable, "-m", "rehabkoord.stage", str(one),
                                          out], project) for _ in range(n))
    bare = statistics.median(timed([sys.executable, "-c", "import pandas, scipy, seaborn"],
                                   project) for _ in range(n))
    print(f"papermill one-cell notebook      {pm:6.2f} s")
    print(f"stage runner one-cell notebook   {runner:6.2f} s")
    print(f"import pandas, scipy, seaborn    {bare:6.2f} s   papermill/bare {pm / bare:.2f}x,"
          f" runner/bare {runner / bare:.2f}x")


if __name__ == "__main__":
    main()
