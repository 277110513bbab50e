"""Benchmark: every spell derivation (`rehabkoord.spells.derive_all`) at county and national scale.

    python benchmarks/bench_spells.py county      # 300 000 persons, about 1.5 M periods
    python benchmarks/bench_spells.py national    # 8 000 000 persons, about 20 M periods
    python benchmarks/bench_spells.py all         # both, and how time grows between them
    python benchmarks/bench_spells.py county --months dense   # the study's dense month panel
    python benchmarks/bench_spells.py national --data /tmp/nat --repeat 3   # reuse, median of 3

Generates the deliveries with `studies.stockholm.synth` (every person a participant, so every
derivation runs on everyone) and writes them as Parquet to a temporary directory; then runs the
derivations in a child process that reads the Parquet files directly through DuckDB, with its
memory limit and threads set explicitly and its spill directory a fresh temporary folder
(`spells.connect`'s default), materialising each result as a table. Prints wall and CPU time
per derivation, the child's peak resident memory, what it spilled, the sizes, and the time of a
bare `python -c "import pandas, scipy, seaborn"` measured in the same run (the machine's speed
of the hour) with the ratio to it. Targets: county < 5 s and < 2 GB, national < 30 s and
< 6 GB. **A peak above the memory target ends the benchmark with an error**, so a run that
would not fit a shared desktop cannot pass unnoticed.

The peak is the child's own high-water mark (`VmHWM`): `ru_maxrss` of a process started from
a large parent starts at the parent's peak (Linux keeps the high-water mark across fork and
exec), which is why a first run, in the process that had just generated the national
deliveries, used to report 8 GB. The month table is sparse by default (person-months with
sick leave, `derive_all(sparse_months=True)`, the large-population path); `--months dense`
measures the full person × month panel the Stockholm study reads. `--data DIR` keeps the
deliveries in DIR/<scale> (written once, read by later runs: the national ones take a minute to
generate); `--repeat N` runs the child N times and reports the median total.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rehabkoord.contract import PERSON_KEY
from rehabkoord.studies.stockholm import synth as ss

#: scale → (persons, periods, DuckDB memory limit, targets: seconds, GB peak RSS)
SCALES = {"county": (300_000, 1_500_000, "1200MB", 5, 2),
          "national": (8_000_000, 20_000_000, "4GB", 30, 6)}
BARE = "import pandas, scipy, seaborn"
THREADS = 2

CHILD = """
import json, os, sys, time
from rehabkoord import spells
root, memory, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
sparse = sys.argv[4] == "sparse"
con = spells.connect(memory_limit=memory, threads=threads)  # spills to a fresh temp folder


def written():
    try:
        with open("/proc/self/io") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("write_bytes"))
    except (OSError, StopIteration):
        return 0


def peak_mb():
    try:  # this process's own high-water mark, not one inherited from its parent
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


timings = {}
w0, t0, c0 = written(), time.perf_counter(), time.process_time()
participants = con.sql(f"SELECT * FROM read_csv('{root}/deltagare.csv', delim=';', "
                       "header=true, encoding='latin-1')")
d = spells.derive_all(root + "/sjukpenningperioder.parquet", participants,
                      root + "/befolkning.parquet", root + "/fodelse.parquet",
                      extraction_date="2017-09-30", months=24, con=con, timings=timings,
                      sparse_months=sparse)
total, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"total_s": round(total, 2), "cpu_s": round(cpu, 2), "peak_mb": round(peak_mb()),
                  "spilled_mb": round((written() - w0) / 2**20),
                  "steps_s": {k: round(v, 2) for k, v in timings.items()},
                  "flow": d.flow}))
"""


def bare_import(n: int = 3) -> list[float]:
    """Seconds of `python -c "import pandas, scipy, seaborn"`, n times: this hour's speed."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE], check=True)
        times.append(time.perf_counter() - t)
    return times


def _deliveries(scale: str, root: Path) -> tuple[int, float, float]:
    """Write the synthetic deliveries of `scale` to `root` unless already there (a marker file
    holds the period count); returns periods, seconds to generate and to write (0 if reused)."""
    n, n_periods = SCALES[scale][:2]
    marker = root / f"periods-{scale}.json"
    if marker.exists():
        return json.loads(marker.read_text())["periods"], 0.0, 0.0
    t = time.perf_counter()
    frames = ss.generate(ss.scaled(n, n_periods))
    generated = time.perf_counter() - t
    ss.write(frames, root)
    # Birth years, one row per person as the study's background table (LISA has one a year).
    lisa = frames["lisa"]
    lisa.drop_duplicates(PERSON_KEY)[[PERSON_KEY, "FodelseAr"]].to_parquet(root / "fodelse.parquet",
                                                                         index=False)
    periods = len(frames["sjukpenningperioder"])
    del frames
    written = time.perf_counter() - t - generated
    marker.write_text(json.dumps({"periods": periods}))
    return periods, generated, written


def _child(root: Path, memory: str, months: str) -> tuple[dict, float]:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), memory, str(THREADS), months],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def run(scale: str, months: str = "sparse", data: str | None = None, repeat: int = 1) -> dict:
    n, _, memory, target_s, target_gb = SCALES[scale]
    with tempfile.TemporaryDirectory(prefix=f"bench-spells-{scale}-") as tmp:
        root = Path(data) / scale if data else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        periods, generated, written = _deliveries(scale, root)
        bare = bare_import()
        runs = []
        for _ in range(repeat):  # the bare import between runs: both see the same hour
            runs.append(_child(root, memory, months))
            bare += bare_import()
    totals = [r["total_s"] for r, _ in runs]
    result, wall = runs[totals.index(statistics.median_low(totals))]
    bare_s = statistics.median(bare)
    peak = max(r["peak_mb"] for r, _ in runs)
    result.update(scale=scale, persons=n, periods=periods, generate_s=round(generated, 1),
                  write_s=round(written, 1), child_wall_s=round(wall, 2),
                  memory_limit=memory, threads=THREADS, months=months, totals_s=totals,
                  peaks_mb=[r["peak_mb"] for r, _ in runs], bare_import_s=round(bare_s, 2),
                  ratio_to_bare=round(result["total_s"] / bare_s, 1),
                  meets_target=result["total_s"] < target_s and peak < target_gb * 1024)
    print(f"scale={scale} persons={n} periods={periods} generate_s={generated:.1f} "
          f"write_s={written:.1f} memory_limit={memory} threads={THREADS} months={months}")
    if repeat > 1:
        print(f"  runs: total_s={totals} peak_mb={result['peaks_mb']}; the median run:")
    print("  derivations_s=" + " ".join(f"{k}={v}" for k, v in result["steps_s"].items()))
    print(f"  total_s={result['total_s']} cpu_s={result['cpu_s']} child_wall_s={wall:.2f} "
          f"peak_mb={result['peak_mb']} spilled_mb={result['spilled_mb']} "
          f"(target < {target_s} s, < {target_gb} GB: "
          f"{'met' if result['meets_target'] else 'NOT met'})")
    print(f"  bare `python -c '{BARE}'` {bare_s:.2f} s (median of {len(bare)}); "
          f"total / bare = {result['ratio_to_bare']}x")
    f = result["flow"]
    print(f"  spells={f['spells']} analysed={f['by_status']['analysed']} "
          f"overlap_days={f['overlap_days']} capped_days={f['capped_days']}")
    if peak > target_gb * 1024:
        raise SystemExit(f"bench_spells: peak resident memory {peak} MB exceeds the limit of "
                         f"{target_gb} GB at {scale} scale (DuckDB memory_limit {memory})")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", choices=[*sorted(SCALES), "all"])
    parser.add_argument("--months", choices=["sparse", "dense"], default="sparse",
                        help="month table: person-months with sick leave, or every one")
    parser.add_argument("--data", help="directory for the deliveries, kept and reused")
    parser.add_argument("--repeat", type=int, default=1, help="child runs; the median is shown")
    args = parser.parse_args()
    scales = sorted(SCALES) if args.scale == "all" else [args.scale]
    results = {s: run(s, args.months, args.data, args.repeat) for s in scales}
    if len(results) == 2:
        c, n = results["county"], results["national"]
        print(f"growth county→national: periods ×{n['periods'] / c['periods']:.1f}, "
              f"time ×{n['total_s'] / c['total_s']:.1f}, "
              f"peak memory ×{n['peak_mb'] / c['peak_mb']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
