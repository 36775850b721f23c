#!/bin/sh
# The decode-speed table of docs/sparsity.md in one command: builds
# sparse_speed against a build's shared library, makes the F16 and Q8_0
# demo models from SRC, calibrates each on the Brown press text
# (make_calib_text.sh), and runs sparse_speed for each model at 1 and 2
# threads. With BIG=1 also the 110M Llama-shaped random-weight Q8_0 model
# (weights far larger than the caches; takes minutes to make). Prints the
# table with the machine, date, commit and load average.
#
# usage: bench/sparsity/run_speed.sh [BUILD_DIR] [OUT_DIR]
#   BUILD_DIR  a Release build (default build); OUT_DIR keeps the models and raw tables (default /tmp/ef-sparsity)
# Env: SRC (default models/edgeformer-demo.gguf), DATA (default .cache/data), ROUNDS (31), N (32),
#      LEVELS ("0 0.01 0.25 0.4 0.5 0.7"), THREADS ("1 2"), BIG (0).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=${2:-/tmp/ef-sparsity}
src=${SRC:-$root/models/edgeformer-demo.gguf}
data=${DATA:-$root/.cache/data}
rounds=${ROUNDS:-31}
n=${N:-32}
levels=${LEVELS:-"0 0.01 0.25 0.4 0.5 0.7"}
threads=${THREADS:-"1 2"}
cli=$build/edgeformer
mkdir -p "$out"

cc -O2 -I"$root/include" "$root/bench/sparsity/sparse_speed.c" -L"$build/lib" -ledgeformer \
    -Wl,-rpath,"$build/lib" -o "$out/sparse_speed"
[ -s "$out/calib.txt" ] || sh "$root/bench/sparsity/make_calib_text.sh" "$data" "$out/calib.txt" 10

# name  quantize-options
models="f16:--profile f16
q8_0:--type q8_0"
echo "$models" | while IFS=: read -r name opts; do
    [ -s "$out/$name-cal.gguf" ] && continue
    # shellcheck disable=SC2086
    "$cli" quantize $opts "$src" "$out/$name.gguf" > /dev/null
    "$cli" calibrate-sparsity -m "$out/$name.gguf" -f "$out/calib.txt" --target 0.5 -o "$out/$name-cal.gguf" > /dev/null
done
list="f16 q8_0"
if [ "${BIG:-0}" = 1 ]; then
    if [ ! -s "$out/big-q8-cal.gguf" ]; then
        "$cli" make-model --arch llama --n-embd 1024 --n-ff 2816 --n-layer 8 --n-head 16 --n-head-kv 16 \
            --n-vocab 4096 --type q8_0 -o "$out/big-q8.gguf" > /dev/null
        head -c 20000 "$out/calib.txt" > "$out/calib20k.txt"
        "$cli" calibrate-sparsity -m "$out/big-q8.gguf" -f "$out/calib20k.txt" --target 0.5 \
            -o "$out/big-q8-cal.gguf" > /dev/null
    fi
    list="$list big-q8"
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: bench/sparsity/run_speed.sh $build $out (ROUNDS=$rounds N=$n)"
for m in $list; do
    nn=$n
    [ "$m" = big-q8 ] && nn=$((n / 2))
    for t in $threads; do
        "$out/sparse_speed" "$out/$m-cal.gguf" "$t" "$rounds" "$nn" $levels > "$out/speed-$m-t$t.md"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# One row per model and thread count: dense t/s, then per level the wall-time speedup (CPU-time speedup).
/usr/bin/python3 - "$out" "$list" "$threads" $levels <<'PY'
import os, sys
out, models, threads, levels = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4:]
print()
print("| model, threads | dense t/s | " + " | ".join("%g %%" % (100 * float(l)) for l in levels[1:]) + " |")
print("|---|---:|" + "---:|" * (len(levels) - 1))
for m in models:
    for t in threads:
        rows = [l.strip().strip("|").split("|") for l in open(os.path.join(out, "speed-%s-t%s.md" % (m, t)))
                if l.startswith("| ") and "%" in l.split("|")[1]]
        cells = ["%s (%s)" % (r[3].strip(), r[4].strip()) for r in rows[1:]]
        print("| %s, %s | %s | %s |" % (m, t, rows[0][1].strip(), " | ".join(cells)))
print()
print("cells: wall-time speedup over dense, median of per-round ratios (CPU-time speedup in brackets)")
PY
