#!/bin/sh
# The training step's projection products, old path (ef_cpu_matmul with
# transposed copies) against the transposed-operand GEMM
# (backends/cpu/matmul_grad.h), in F32 and in mixed precision (bf16), CPU
# seconds on one thread, in one run
# (bench/train/matmul_grad_bench.c).
# usage: bench/train/bench_matmul_grad.sh [BUILD_DIR] [REPEATS]
#   BUILD_DIR: a release build with lib/libedgeformer_static.a (default build/)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-${EF_BUILD:-$root/build}}" && pwd)
repeats=${2:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the static archive's own dependencies (zstd, pcre2, cjson when built in)
libs=$(pkg-config --libs libzstd libpcre2-8 libcjson 2>/dev/null || true)
# shellcheck disable=SC2086
cc -O2 -std=c11 -DEF_STATIC -I"$root/include" -I"$root/lib" -I"$root/backends" \
    "$root/bench/train/matmul_grad_bench.c" -o "$tmp/matmul_grad_bench" \
    "$build/lib/libedgeformer_static.a" $libs -lm -lpthread -ldl
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
     "SIMD level: ${EF_CPU_SIMD:-auto}"
echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$tmp/matmul_grad_bench" "$repeats"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
