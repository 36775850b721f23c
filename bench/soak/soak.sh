#!/usr/bin/env bash
# Soak test (not a unit test): generates continuously for MINUTES (default
# 10) with bench/soak/soak_driver.c — context shifts, KV pages travelling
# through the zstd and disk tiers, snapshot save/restore every minute,
# session churn, model reloads — while sampling the process's RSS and open
# file descriptors every
# INTERVAL seconds (default 2). Writes OUT/soak.csv, OUT/soak_rss.png (RSS
# and fds over time, matplotlib from Debian's python3-matplotlib) and
# OUT/summary.txt, and fails when, after a warm-up (the first 20% of the
# run), RSS moves more than 5% or the fd count grows.
# Usage: bench/soak/soak.sh BUILD_DIR [MINUTES] [OUT]   (BUILD_DIR: a configured and built tree)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: soak.sh BUILD_DIR [MINUTES] [OUT]}" && pwd)
minutes=${2:-10}
out=${3:-$here/results}
interval=${INTERVAL:-2}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

lib=$(find "$build/lib" -maxdepth 1 -name 'libedgeformer.so' | head -n 1)
cli="$build/edgeformer"
[ -n "$lib" ] && [ -x "$cli" ] || { echo "soak: build $build first (libedgeformer.so and the CLI)" >&2; exit 1; }
cc -std=c11 -O2 -Wall -Wextra -I"$root/include" "$here/soak_driver.c" -o "$work/soak_driver" \
   -L"$build/lib" -ledgeformer -Wl,-rpath,"$build/lib"
"$cli" make-model --arch llama --preset small --seed 3 -o "$work/model.gguf" >/dev/null

seconds=$((minutes * 60))
mkdir -p "$work/spill"
"$work/soak_driver" "$work/model.gguf" "$seconds" "$work/spill" > "$out/driver.log" 2>&1 &
pid=$!
echo "t_seconds,rss_kib,fds" > "$out/soak.csv"
start=$(date +%s.%N)
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    t=$(echo "$(date +%s.%N) - $start" | bc)
    [ -n "$rss" ] && echo "$t,$rss,$fds" >> "$out/soak.csv"
    sleep "$interval"
done
wait "$pid" || { cat "$out/driver.log"; echo "soak: the driver failed" >&2; exit 1; }
# spill files and snapshot temporaries must all be gone once the driver exits
left=$(ls -A "$work/spill")
if [ -n "$left" ]; then
    echo "soak: files left in the spill/snapshot folder: $left" >&2
    exit 1
fi

/usr/bin/python3 "$here/soak_report.py" "$out/soak.csv" "$out/soak_rss.png" "$out/driver.log" \
    "$(nproc) CPUs, $(uname -m), $(date -u +%Y-%m-%d)" | tee "$out/summary.txt"
