#!/bin/sh
# Decode speed at several sparsity levels, measured so the ratios are fair on
# a shared, noisy machine: ROUNDS rounds, each running every level once in
# turn (`edgeformer bench -p 0 -n N -r 1`), so load changes hit all levels
# alike. Prints per level the median and best tokens/s and the speedup of
# the medians and of the bests over level 0.
#
# usage: bench/sparsity/speed.sh MODEL [LEVELS] [ROUNDS] [N] [THREADS]
# Env: EF_BUILD (default build).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=${EF_BUILD:-$root/build}/edgeformer
model=$1
levels=${2:-"0 0.25 0.4 0.5 0.7"}
rounds=${3:-7}
n=${4:-64}
threads=${5:-2}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
r=0
while [ "$r" -lt "$rounds" ]; do
    for lv in $levels; do
        tps=$("$cli" bench -m "$model" -p 0 -n "$n" -r 1 -t "$threads" --sparsity "$lv" -o csv 2>/dev/null |
              tail -1 | cut -d, -f7)
        echo "$lv $tps" >> "$tmp"
    done
    r=$((r + 1))
done
/usr/bin/python3 - "$tmp" $levels <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
levels = sys.argv[2:]
by = {lv: sorted(float(t) for l, t in rows if l == lv) for lv in levels}
med0, best0 = statistics.median(by[levels[0]]), max(by[levels[0]])
print("| level | median t/s | best t/s | speedup (median) | speedup (best) | runs |")
print("|---:|---:|---:|---:|---:|---:|")
for lv in levels:
    v = by[lv]
    print("| %.0f%% | %.1f | %.1f | %.2fx | %.2fx | %d |" % (100 * float(lv), statistics.median(v), max(v),
          statistics.median(v) / med0, max(v) / best0, len(v)))
PY
