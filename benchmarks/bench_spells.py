"""Benchmark: every spell derivation (`rehabkoord.spells.derive_all`) at county and national scale.

    python benchmarks/bench_spells.py county      # 300 000 persons, about 1.5 M periods
    python benchmarks/bench_spells.py national    # 8 000 000 persons, about 20 M periods
    python benchmarks/bench_spells.py all         # both, and how time grows between them
    python benchmarks/bench_spells.py county --months dense   # the study's dense month panel

Generates the deliveries with `studies.stockholm.synth` (every person a participant, so every
derivation runs on everyone) and writes them as Parquet to a temporary directory; then runs the
derivations in a child process that reads the Parquet files directly through DuckDB, with its
memory limit, threads and spill directory set explicitly, materialising each result as a table.
Prints wall time per derivation, the child's peak resident memory and the sizes. Targets: county
< 10 s and < 2 GB, national < 60 s and < 6 GB. The month table is sparse by default (person-months
with sick leave, `derive_all(sparse_months=True)`, the large-population path); `--months dense`
measures the full person × month panel the Stockholm study reads.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

from rehabkoord.studies.stockholm import synth as ss

#: scale → (persons, periods, DuckDB memory limit, targets: seconds, GB peak RSS)
SCALES = {"county": (300_000, 1_500_000, "1200MB", 10, 2),
          "national": (8_000_000, 20_000_000, "4GB", 60, 6)}
THREADS = 2

CHILD = """
import json, resource, sys, time
from rehabkoord import spells
root, memory, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
sparse = sys.argv[4] == "sparse"
con = spells.connect(memory_limit=memory, threads=threads, temp_directory=root + "/duckdb_tmp")
timings = {}
t0 = time.perf_counter()
participants = con.sql(f"SELECT * FROM read_csv('{root}/deltagare.csv', delim=';', "
                       "header=true, encoding='latin-1')")
d = spells.derive_all(root + "/sjukpenningperioder.parquet", participants,
                      root + "/befolkning.parquet", root + "/lisa.parquet",
                      extraction_date="2017-09-30", months=24, con=con, timings=timings,
                      sparse_months=sparse)
total = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"total_s": round(total, 2), "peak_mb": round(peak),
                  "steps_s": {k: round(v, 2) for k, v in timings.items()},
                  "flow": d.flow}))
"""


def run(scale: str, months: str = "sparse") -> dict:
    n, n_periods, memory, target_s, target_gb = SCALES[scale]
    with tempfile.TemporaryDirectory(prefix=f"bench-spells-{scale}-") as tmp:
        t = time.perf_counter()
        frames = ss.generate(ss.scaled(n, n_periods))
        generated = time.perf_counter() - t
        ss.write(frames, tmp)
        periods = len(frames["sjukpenningperioder"])
        del frames
        written = time.perf_counter() - t - generated
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, tmp, memory, str(THREADS), months],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(scale=scale, persons=n, periods=periods, generate_s=round(generated, 1),
                  write_s=round(written, 1), child_wall_s=round(wall, 2),
                  memory_limit=memory, threads=THREADS, months=months,
                  meets_target=result["total_s"] < target_s and
                  result["peak_mb"] < target_gb * 1024)
    print(f"scale={scale} persons={n} periods={periods} generate_s={generated:.1f} "
          f"write_s={written:.1f} memory_limit={memory} threads={THREADS} months={months}")
    print("  derivations_s=" + " ".join(f"{k}={v}" for k, v in result["steps_s"].items()))
    print(f"  total_s={result['total_s']} child_wall_s={wall:.2f} peak_mb={result['peak_mb']} "
          f"(target < {target_s} s, < {target_gb} GB: "
          f"{'met' if result['meets_target'] else 'NOT met'})")
    f = result["flow"]
    print(f"  spells={f['spells']} analysed={f['by_status']['analysed']} "
          f"overlap_days={f['overlap_days']} capped_days={f['capped_days']}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", choices=[*sorted(SCALES), "all"])
    parser.add_argument("--months", choices=["sparse", "dense"], default="sparse",
                        help="month table: person-months with sick leave, or every one")
    args = parser.parse_args()
    scales = sorted(SCALES) if args.scale == "all" else [args.scale]
    results = {s: run(s, args.months) for s in scales}
    if len(results) == 2:
        c, n = results["county"], results["national"]
        print(f"growth county→national: periods ×{n['periods'] / c['periods']:.1f}, "
              f"time ×{n['total_s'] / c['total_s']:.1f}, "
              f"peak memory ×{n['peak_mb'] / c['peak_mb']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
