#!/bin/sh
# The decode GEMV at AVX2 and AVX-512 on the same weights, as ratios from
# one run (bench/gemv/gemv_levels.c; docs/benchmarks.md, "Row streams in
# the GEMV"). One thread, thread CPU time, best of ROUNDS.
# usage: bench/gemv/run.sh [BUILD_DIR] [ROUNDS]
#   BUILD_DIR: a release build with lib/libedgeformer_static.a (default build/)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-${EF_BUILD:-$root/build}}" && pwd)
rounds=${2:-7}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the static archive's own dependencies (zstd, pcre2, cjson when built in)
libs=$(pkg-config --libs libzstd libpcre2-8 libcjson 2>/dev/null || true)
# shellcheck disable=SC2086
cc -O2 -std=c11 -DEF_STATIC -I"$root/include" -I"$root/lib" -I"$root/backends" \
    "$root/bench/gemv/gemv_levels.c" -o "$tmp/gemv_levels" \
    "$build/lib/libedgeformer_static.a" $libs -lm -lpthread -ldl
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# footprint 0: one matrix (L2 when it fits), 12 MiB: L3, 128 MiB: DRAM
for shape in "f16 256 768" "f16 768 256" "f16 256 4096" "f16 768 2048" "f16 2048 768" "f32 256 768" "bf16 256 768"; do
    for mib in 0 12 128; do
        # shellcheck disable=SC2086
        "$tmp/gemv_levels" $shape "$mib" "$rounds"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
