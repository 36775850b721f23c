#!/bin/sh
# Makes the two benchmark model shapes (random weights, llama 125m and 853m,
# F32 and F16) with `edgeformer make-model` and runs `edgeformer bench` on
# them once (-o json), then bench/report_benchmarks.py writes
# bench/results/bench.md (machine, date, commit, command, table) and, when
# Debian's python3-matplotlib is installed, the plot bench/results/bench.png.
#
# usage: bench/run_benchmarks.sh [BUILD_DIR] [-- extra bench options]
#   BUILD_DIR  where the `edgeformer` binary is (default: build)
#   env: MODELS_DIR (default: BUILD_DIR/bench-models), REPS (default 3),
#        PROMPT (512), GEN (128), THREADS (1,2), PRESETS ("125m 853m"),
#        TYPES ("f32 f16")
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
cli=$build/edgeformer
[ -x "$cli" ] || { echo "run_benchmarks: no $cli (build first)" >&2; exit 1; }

models_dir=${MODELS_DIR:-$build/bench-models}
out_dir=$here/results
reps=${REPS:-3}
prompt=${PROMPT:-512}
gen=${GEN:-128}
threads=${THREADS:-1,2}
presets=${PRESETS:-125m 853m}
types=${TYPES:-f32 f16}
mkdir -p "$models_dir" "$out_dir"

set --  # the -m arguments, in table order
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
date=$(date -u +%Y-%m-%dT%H:%MZ)
cmd="edgeformer bench $* -p $prompt -n $gen -r $reps -t $threads"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"$cli" bench "$@" -p "$prompt" -n "$gen" -r "$reps" -t "$threads" -o json > "$out_dir/bench.json"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 "$here/report_benchmarks.py" "$out_dir/bench.json" \
    --header "machine: $cpu, $cores cores ($(uname -m)); date: $date; commit: $commit; load average before/after: $load_before / $load_after; command: \`$cmd\`" \
    --md "$out_dir/bench.md" --png "$out_dir/bench.png"
cat "$out_dir/bench.md"
