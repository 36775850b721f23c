#!/bin/sh
# The quantized-kernel benchmark for docs/benchmarks.md: the issue's two
# shapes (llama 125m and 853m, random weights) in Q8_0, Q4_0 and Q4_K, pp512
# and tg128 with 2 threads, once per matmul mode (weight-only, integer-dot;
# chosen with EF_MATMUL_MODE, which ef_cpu_matmul reads once per process).
# Writes bench/results/quant-<mode>.{json,md,png} via report_benchmarks.py.
# Run it on an idle machine: it prints the load average before and after.
#
# usage: bench/run_quant_benchmarks.sh [BUILD_DIR]
#   env: MODELS_DIR (BUILD_DIR/bench-models), REPS (3), PROMPT (512), GEN (128),
#        THREADS (2), PRESETS ("125m 853m"), TYPES ("q8_0 q4_0 q4_k"),
#        MODES ("weight-only integer-dot")
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
cli=$build/edgeformer
[ -x "$cli" ] || { echo "run_quant_benchmarks: no $cli (build first)" >&2; exit 1; }

models_dir=${MODELS_DIR:-$build/bench-models}
out_dir=$here/results
reps=${REPS:-3}
prompt=${PROMPT:-512}
gen=${GEN:-128}
threads=${THREADS:-2}
presets=${PRESETS:-125m 853m}
types=${TYPES:-q8_0 q4_0 q4_k}
modes=${MODES:-weight-only integer-dot}
mkdir -p "$models_dir" "$out_dir"

set --
for preset in $presets; do
    for type in $types; do
        model=$models_dir/llama-$preset-$type.gguf
        if [ ! -f "$model" ]; then
            echo "making $model" >&2
            "$cli" make-model --arch llama --preset "$preset" --type "$type" --seed 1 -o "$model" >/dev/null
        fi
        set -- "$@" -m "$model"
    done
done

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
cores=$(nproc)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | head -n 1)
[ -n "$dirty" ] && commit="$commit (+ uncommitted changes)"

for mode in $modes; do
    date=$(date -u +%Y-%m-%dT%H:%MZ)
    cmd="EF_MATMUL_MODE=$mode edgeformer bench $* -p $prompt -n $gen -r $reps -t $threads"
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    EF_MATMUL_MODE=$mode "$cli" bench "$@" -p "$prompt" -n "$gen" -r "$reps" -t "$threads" -o json \
        > "$out_dir/quant-$mode.json"
    load_after=$(cut -d' ' -f1-3 /proc/loadavg)
    /usr/bin/python3 "$here/report_benchmarks.py" "$out_dir/quant-$mode.json" \
        --header "matmul mode: $mode; machine: $cpu, $cores cores ($(uname -m)); date: $date; commit: $commit; load average before/after: $load_before / $load_after; command: \`$cmd\`" \
        --md "$out_dir/quant-$mode.md" --png "$out_dir/quant-$mode.png"
    cat "$out_dir/quant-$mode.md"
done
