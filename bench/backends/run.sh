#!/bin/sh
# Per-backend prompt/decode speed of the 125M random-weight llama: the cpu
# backend, the OpenCL plugin with only the weight matmuls on the device
# (device_resident=0), the OpenCL plugin running the whole forward pass on
# the device (the default), and oneDNN — F16, Q8_0 and Q4_0 weights, each
# `edgeformer bench -p 128 -n 32 -t 2`. Writes bench/backends/results.md
# (machine, date, commit, load average before/after, every command) and
# prints it. Beside tokens/s each row has the CPU seconds (user + sys, all
# threads, PoCL's included) of the whole bench process — model load,
# bandwidth probe, warm-up and every repetition: on a machine shared with
# other work, wall-clock t/s depends on the share of the cores a run gets,
# CPU seconds much less. On this project's CI machine the OpenCL device is PoCL, a CPU
# OpenCL: its rows say "CPU OpenCL" and measure overheads, not a GPU.
#
# usage: bench/backends/run.sh [BUILD_DIR]
#   BUILD_DIR  holds `edgeformer` and the plugins in lib/ (default: build)
#   env: MODELS_DIR (default BUILD_DIR/bench-models), REPS (default 1),
#        TYPES ("f16 q8_0 q4_0"), PLUGIN_PATH (more plugin folders, e.g. a
#        build with oneDNN: build-onednn/lib), PROMPT (128), GEN (32), THREADS (2)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cli=$build/edgeformer
[ -x "$cli" ] || { echo "bench/backends: no $cli (build first)" >&2; exit 1; }
models_dir=${MODELS_DIR:-$build/bench-models}
reps=${REPS:-1}
types=${TYPES:-f16 q8_0 q4_0}
prompt=${PROMPT:-128}
gen=${GEN:-32}
threads=${THREADS:-2}
out=$here/results.md
mkdir -p "$models_dir"
export EF_BACKEND_PATH="$build/lib${PLUGIN_PATH:+:$PLUGIN_PATH}"
export POCL_CACHE_DIR=${POCL_CACHE_DIR:-$build/test-cache/pocl}
export EF_CACHE_DIR=${EF_CACHE_DIR:-$build/test-cache/edgeformer}
mkdir -p "$POCL_CACHE_DIR" "$EF_CACHE_DIR"

available() { "$cli" info --backends 2>/dev/null | awk -v b="$1" '$1 == b && $2 == "yes" { found = 1 } END { exit !found }'; }
device_of() { "$cli" info --backends 2>/dev/null | awk -v b="$1" '$1 == b { $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); sub(/ +\[.*$/, ""); print }'; }

tmp=$(mktemp)
cpu_file=$(mktemp)
trap 'rm -f "$tmp" "$cpu_file"' EXIT
rows=""
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# one configuration: label, type, then the backend arguments
run() {
    label=$1 type=$2
    shift 2
    model=$models_dir/125m-$type.gguf
    cmd="edgeformer bench -m $model -p $prompt -n $gen -t $threads -r $reps $*"
    # shellcheck disable=SC2086
    if ! /usr/bin/time -f "%U %S" -o "$cpu_file" "$cli" bench -m "$model" -p "$prompt" -n "$gen" -t "$threads" \
            -r "$reps" "$@" > "$tmp" 2>&1; then
        rows="$rows| $label | $type | failed | failed | - | \`$cmd\` |
"
        return
    fi
    cpu_s=$(awk 'NF == 2 { printf "%.1f", $1 + $2 }' "$cpu_file")
    pp=$(awk -F'|' -v t="pp$prompt" '$7 ~ t { gsub(/^ +| +$/, "", $8); print $8 }' "$tmp" | head -n 1)
    tg=$(awk -F'|' -v t="tg$gen" '$7 ~ t { gsub(/^ +| +$/, "", $8); print $8 }' "$tmp" | head -n 1)
    rows="$rows| $label | $type | $pp | $tg | $cpu_s | \`$cmd\` |
"
    echo "$label $type: pp $pp, tg $tg, CPU $cpu_s s" >&2
}

for type in $types; do
    model=$models_dir/125m-$type.gguf
    if [ ! -f "$model" ]; then
        echo "making $model" >&2
        "$cli" make-model --arch llama --preset 125m --type "$type" --seed 1 -o "$model" > /dev/null
    fi
    run "cpu" "$type" --backend cpu
    if available opencl; then
        ocl=$(device_of opencl)
        case $ocl in *PoCL*|*pthread*|*CPU*) kind="CPU OpenCL (PoCL)" ;; *) kind="OpenCL" ;; esac
        run "$kind, matmuls only" "$type" --backend opencl --backend-opt device_resident=0
        run "$kind, device-resident" "$type" --backend opencl
    fi
    if available onednn && [ "$type" != q4_0 ]; then
        run "onednn (matmuls only)" "$type" --backend onednn
    fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | head -n 1)
[ -n "$dirty" ] && commit="$commit (+ uncommitted changes)"
{
    echo "# Backends: 125M llama, pp$prompt / tg$gen, $threads threads"
    echo
    echo "machine: $cpu, $(nproc) cores ($(uname -m)); date: $(date -u +%Y-%m-%dT%H:%MZ); commit: $commit;"
    echo "load average before / after: $load_before / $load_after; repetitions: $reps."
    if available opencl; then echo "OpenCL device: $(device_of opencl)."; fi
    echo
    echo "| backend | weights | pp$prompt t/s | tg$gen t/s | CPU s of the run | command |"
    echo "|---|---|---:|---:|---:|---|"
    printf '%s' "$rows"
} > "$out"
cat "$out"
