"""Benchmark: cleaning and cohort building on county- and national-size register extracts.

    python benchmarks/bench_clean_cohort.py county     # 300 000 persons x 10 years (LISA + BAS)
    python benchmarks/bench_clean_cohort.py national   # 8 000 000 persons x 1 year
    python benchmarks/bench_clean_cohort.py county --format csv   # semicolon, decimal comma

Writes the extract as yearly Parquet files (or CSV with --format csv) to a temporary
directory, then runs `clean` and `build_cohort` in a child process and prints wall time per
step and the child's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCALES = {"county": (300_000, list(range(2012, 2022))), "national": (8_000_000, [2018, 2019])}


def _write(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, path.with_suffix(".parquet"))
    else:
        table.to_pandas().to_csv(path.with_suffix(".csv"), sep=";", decimal=",", index=False)


def write_extract(out: Path, n_persons: int, years: list[int], seed: int = 1,
                  fmt: str = "parquet") -> None:
    rng = np.random.default_rng(seed)
    keys = pa.array(np.arange(1_000_000, 1_000_000 + n_persons)).cast(pa.string())
    birth = rng.integers(1940, 2000, n_persons)
    sex = rng.integers(1, 3, n_persons)
    (out / "lisa").mkdir(parents=True)
    (out / "bas").mkdir()
    for year in years:
        sick = np.where(rng.random(n_persons) < 0.8, 0.0,
                        np.minimum(np.round(rng.gamma(0.9, 100, n_persons) * 4) / 4, 365))
        syss = np.where(rng.random(n_persons) < 0.7, 1, 5).astype("int8")
        lisa = pa.table({"LopNr": keys, "Ar": pa.array(np.full(n_persons, year, "int32")),
                         "Kon": sex.astype("int8"), "FodelseAr": birth.astype("int16"),
                         "SjukP_Ndag_MiDAS": sick, "SjukErs_Ndag_MiDAS": np.zeros(n_persons),
                         "AktErs_Ndag_MiDAS": np.zeros(n_persons), "SyssStat19": syss})
        _write(lisa, out / "lisa" / f"LISA{year}", fmt)
        bas = pa.table({"LopNr": keys, "Ar": pa.array(np.full(n_persons, year, "int32")),
                        "BAS": rng.choice(np.array([1, 2, 3, 5, 9], "int8"), n_persons)})
        _write(bas, out / "bas" / f"BAS{year}", fmt)
    idx = rng.choice(n_persons, 124, replace=False)
    rand_year = max(min(years), 2019 if len(years) == 1 else years[len(years) // 2])
    age = rand_year - birth[idx]
    idx = idx[(age >= 25) & (age <= 64)]
    pd.DataFrame({"LopNr": np.asarray(keys)[idx],
                  "Grupp": np.where(np.arange(len(idx)) % 2, "Intervention", "Kontroll"),
                  "RandDatum": f"{rand_year}-03-01"}).to_csv(out / "randomisering.csv", sep=";",
                                                             index=False)


CHILD = """
import sys, time, resource
from pathlib import Path
from rehabkoord import clean
from rehabkoord.studies.uppsala import cohort
root, fmt = Path(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
rules = clean.Rules(rand_period=("2010-01-01", "2025-12-31"), require_all_years=False)
c = clean.clean(str(root / "randomisering.csv"), str(root / "lisa" / f"*.{fmt}"),
                str(root / "bas" / f"*.{fmt}"), rules=rules)
t1 = time.perf_counter()
table, flow = cohort.build_cohort(c.randomisation, c.lisa, c.bas, [6, 12])
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"clean_s={t1 - t0:.2f} cohort_s={t2 - t1:.2f} peak_mb={peak:.0f} "
      f"rows_read={c.flow['lisa_rows_read'] + c.flow['bas_rows_read']} analysed_rows={len(table)}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", choices=sorted(SCALES))
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    args = parser.parse_args()
    n, years = SCALES[args.scale]
    with tempfile.TemporaryDirectory(prefix=f"bench-{args.scale}-") as tmp:
        t = time.perf_counter()
        write_extract(Path(tmp), n, years, fmt=args.format)
        print(f"scale={args.scale} format={args.format} persons={n} years={len(years)} "
              f"generate_s={time.perf_counter() - t:.1f}")
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, tmp, args.format],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        print(done.stdout.strip(), f"child_wall_s={wall:.2f}",
              f"child_peak_mb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
