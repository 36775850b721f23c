#!/bin/sh
# Training throughput of the C trainer against PyTorch (Debian's
# python3-torch) on the demo model's shape (GQA, dim 256, 6 layers, 8/4
# heads, ff 768, seq 128, vocab 4096, tied; batch 8; 2 threads each), run
# back to back in one go, alternating, ROUNDS times (default 2); prints each
# run, the load average before and after, and the ratios of the best runs:
# wall-clock tokens/s (the figure that counts on an idle machine) and CPU
# time per step (steadier when other jobs share the cores; with THREADS=1 it
# compares the work each side does).
#
# usage: bench/train/bench_vs_torch.sh [BUILD_DIR] [STEPS]
#   BUILD_DIR: a release build (default $EF_BUILD or build/); STEPS timed
#   steps per run (default 5, after 2 warm-up steps).
# Env: ROUNDS (2), THREADS (2), EXTRA ("key=value ..." for both, e.g.
#   "batch=4"; the C side also takes attention=mla etc.).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-${EF_BUILD:-$root/build}}" && pwd)
steps=${2:-5}
rounds=${ROUNDS:-2}
threads=${THREADS:-2}
extra=${EXTRA:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cc -O2 -std=c11 -I"$root/include" "$root/bench/train/train_throughput.c" -o "$tmp/train_throughput" \
    -L"$build/lib" -ledgeformer -Wl,-rpath,"$build/lib"
# any text will do: throughput does not depend on it; the 4096-piece demo
# vocabulary gives the demo's output layer
cat "$root"/docs/*.md > "$tmp/text.txt"
vocab="gguf:$root/models/edgeformer-demo.gguf"
# Debian's python3-torch calls the BLAS alternative, by default the netlib
# reference (~1-3 GFLOP/s): an unfair anchor. Use OpenBLAS (apt-get install
# libopenblas0-openmp) for this benchmark only, without touching the system's
# alternative.
openblas=/usr/lib/x86_64-linux-gnu/openblas-openmp
if [ -f "$openblas/libblas.so.3" ]; then
    torch_env="env LD_LIBRARY_PATH=$openblas OMP_NUM_THREADS=$threads"
    echo "pytorch BLAS: OpenBLAS ($openblas)"
else
    torch_env="env OMP_NUM_THREADS=$threads"
    echo "pytorch BLAS: the system's libblas.so.3 ($(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3));" \
         "install libopenblas0-openmp for a fair comparison" >&2
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# the PyTorch model is GQA only: it takes the shape settings, not attention=
torch_extra=$(echo "$extra" | tr ' ' '\n' | grep -v '^attention=' | tr '\n' ' ' || true)
: > "$tmp/runs.txt"
r=0
while [ "$r" -lt "$rounds" ]; do
    # shellcheck disable=SC2086
    "$tmp/train_throughput" "$vocab" "$tmp/text.txt" steps="$steps" threads="$threads" $extra \
        | tee -a "$tmp/runs.txt"
    # shellcheck disable=SC2086
    $torch_env /usr/bin/python3 "$root/bench/train/torch_throughput.py" steps="$steps" threads="$threads" \
        $torch_extra | tee -a "$tmp/runs.txt"
    r=$((r + 1))
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
    { delete f; for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
    f["impl"] == "edgeformer" {
        if (f["tokens_per_s"] > ours) ours = f["tokens_per_s"]
        if (cpu_ours == 0 || f["cpu_ms_per_step"] < cpu_ours) cpu_ours = f["cpu_ms_per_step"]
        rss_ours = f["peak_rss_mib"]
    }
    f["impl"] ~ /^pytorch/ {
        if (f["tokens_per_s"] > theirs) theirs = f["tokens_per_s"]
        if (cpu_torch == 0 || f["cpu_ms_per_step"] < cpu_torch) cpu_torch = f["cpu_ms_per_step"]
        rss_torch = f["peak_rss_mib"]
    }
    END {
        printf "best tokens/s (wall): edgeformer %.0f, pytorch %.0f -> ratio %.2fx\n", ours, theirs, ours / theirs
        printf "least CPU ms per step (all threads): edgeformer %.0f, pytorch %.0f -> ratio %.2fx\n", cpu_ours, cpu_torch, cpu_torch / cpu_ours
        printf "peak RSS: edgeformer %.0f MiB, pytorch %.0f MiB\n", rss_ours, rss_torch
    }' "$tmp/runs.txt"
