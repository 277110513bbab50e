#!/usr/bin/env bash
# The first run as a new user meets it: a fresh clone, empty pip and uv caches (a new HOME), a
# shell with nothing but the system's PATH, then `time make TARGET [MAKE_ARGS]`; afterwards the
# bare `python -c "import pandas, scipy, seaborn"` three times with the environment just built,
# the machine's speed of the hour, and the ratio to it.
#
#     benchmarks/bench_first_run.sh setup            # the environment alone (uv)
#     benchmarks/bench_first_run.sh setup UV=0       # the environment with pip
#     benchmarks/bench_first_run.sh report           # environment and all four studies
#     REV=<commit> benchmarks/bench_first_run.sh report   # another version (default HEAD)
#
# PY picks the interpreter (default python3.11 on PATH). The clone is left in a temporary folder.
set -euo pipefail
target=${1:?usage: bench_first_run.sh setup|report [MAKE_ARGS...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
rev=${REV:-HEAD}
py=${PY:-$(command -v python3.11)}
py=$(readlink -f "$py")
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-first-run-XXXXXX")
git clone -q "$root" "$work/clone"
git -C "$work/clone" checkout -q "$(git -C "$root" rev-parse "$rev")"
mkdir "$work/home"
echo "$(git -C "$work/clone" log -1 --format='%h %s' | cut -c1-80): make $target $* (load $(cut -d' ' -f1-3 /proc/loadavg))"
start=$(date +%s.%N)
( cd "$work/clone" && /usr/bin/time -f "cpu: %U s user, %S s system (make and its children)" \
    env -i PATH=/usr/bin:/bin HOME="$work/home" LANG=C.UTF-8 PY="$py" make "$target" "$@" ) \
  > "$work/make.log" 2>&1 || { tail -30 "$work/make.log"; exit 1; }
wall=$(echo "$(date +%s.%N) - $start" | bc)
grep -E "^(setup|Running stage|stage |Appendix|cpu:)" "$work/make.log" || true
bare=()
for _ in 1 2 3; do
  t=$(date +%s.%N)
  env -i PATH=/usr/bin:/bin HOME="$work/home" "$work/clone/.venv/bin/python" -c "import pandas, scipy, seaborn"
  bare+=("$(echo "$(date +%s.%N) - $t" | bc)")
done
median=$(printf '%s\n' "${bare[@]}" | sort -n | sed -n 2p)
printf 'make %s: %.1f s wall; bare import %s s (median %.2f s); ratio %.1fx; log %s\n' \
  "$target" "$wall" "$(printf '%.2f ' "${bare[@]}")" "$median" "$(echo "$wall / $median" | bc -l)" \
  "$work/make.log"
