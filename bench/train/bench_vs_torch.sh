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
#   "batch=4"; the C side also takes attention=mla etc.), PRECISION (f32,
#   bf16 or both): bf16 runs the C trainer with precision=bf16 (bfloat16
#   operands in every matrix product, F32 sums) against PyTorch under
#   its bfloat16 autocast (torch_throughput.py amp=1); both runs all four
#   (C f32, PyTorch f32, C bf16, PyTorch bf16 autocast) in each round and
#   prints the ratios C-f32/PyTorch-f32, C-bf16/PyTorch-bf16autocast and
#   C-bf16/PyTorch-f32.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-${EF_BUILD:-$root/build}}" && pwd)
steps=${2:-5}
rounds=${ROUNDS:-2}
threads=${THREADS:-2}
extra=${EXTRA:-}
precision=${PRECISION:-f32}
case "$precision" in
f32 | bf16) precs=$precision ;;
both) precs="f32 bf16" ;;
*) echo "bench_vs_torch: PRECISION must be f32, bf16 or both, not '$precision'" >&2; exit 2 ;;
esac
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
echo "precision: $precision (bf16: C precision=bf16, PyTorch bfloat16 autocast)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# the PyTorch model is GQA only: it takes the shape settings, not attention=
torch_extra=$(echo "$extra" | tr ' ' '\n' | grep -v '^attention=' | tr '\n' ' ' || true)
: > "$tmp/runs.txt"
r=0
while [ "$r" -lt "$rounds" ]; do
    for p in $precs; do
        if [ "$p" = bf16 ]; then c_prec=precision=bf16 amp=amp=1; else c_prec="" amp=""; fi
        # each line is tagged with its precision (the C program's own line does not say)
        # shellcheck disable=SC2086
        "$tmp/train_throughput" "$vocab" "$tmp/text.txt" steps="$steps" threads="$threads" $c_prec $extra \
            | sed "s/^impl=/precision=$p impl=/" | tee -a "$tmp/runs.txt"
        # shellcheck disable=SC2086
        $torch_env /usr/bin/python3 "$root/bench/train/torch_throughput.py" steps="$steps" threads="$threads" \
            $amp $torch_extra | sed "s/^impl=/precision=$p impl=/" | tee -a "$tmp/runs.txt"
    done
    r=$((r + 1))
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
    { delete f; for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
    f["impl"] == "edgeformer" || f["impl"] ~ /^pytorch/ {
        side = f["impl"] == "edgeformer" ? "edgeformer" : "pytorch"
        label = side "-" (side == "pytorch" && f["precision"] == "bf16" ? "bf16autocast" : f["precision"])
        if (f["tokens_per_s"] > tps[label]) tps[label] = f["tokens_per_s"]
        if (!(label in cpu) || f["cpu_ms_per_step"] < cpu[label]) cpu[label] = f["cpu_ms_per_step"]
        rss[label] = f["peak_rss_mib"]
    }
    function ratio(a, b) {
        if (!(a in cpu) || !(b in cpu)) return
        printf "%s / %s: tokens/s (wall) %.0f / %.0f -> ratio %.2fx; CPU ms per step (all threads) %.0f vs %.0f -> ratio %.2fx (higher: %s cheaper)\n", a, b, tps[a], tps[b], tps[a] / tps[b], cpu[a], cpu[b], cpu[b] / cpu[a], a
    }
    END {
        n = split("edgeformer-f32 pytorch-f32 edgeformer-bf16 pytorch-bf16autocast", order, " ")
        for (i = 1; i <= n; i++)
            if (order[i] in cpu)
                printf "%-22s best tokens/s (wall) %.0f, least CPU ms per step (all threads) %.0f, peak RSS %.0f MiB\n", order[i] ":", tps[order[i]], cpu[order[i]], rss[order[i]]
        ratio("edgeformer-f32", "pytorch-f32")
        ratio("edgeformer-bf16", "pytorch-bf16autocast")
        ratio("edgeformer-bf16", "pytorch-f32")
    }' "$tmp/runs.txt"
