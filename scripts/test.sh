#!/usr/bin/env bash
# Everything CI checks, in one command: install, fetch test data, then
#   1. a Release build with -Werror and the whole ctest suite;
#   2. an ASan+UBSan build and the whole suite again;
#   3. clang libFuzzer targets, each fuzzed for EF_FUZZ_SECONDS (default 60).
# Set EF_QUICK=1 to stop after step 1 (the inner loop).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"
FUZZ_SECONDS="${EF_FUZZ_SECONDS:-60}"

scripts/install-deps.sh
scripts/fetch-data.sh .cache/data

step() { echo; echo "=== $* ==="; }

step "release build (-Werror)"
cmake -S . -B build-ci -G Ninja -DCMAKE_BUILD_TYPE=Release -DEF_WERROR=ON
cmake --build build-ci -j "$JOBS"
step "tests (release)"
ctest --test-dir build-ci --output-on-failure -j "$JOBS"

[ "${EF_QUICK:-0}" = "1" ] && exit 0

step "cross: arm64 under qemu, Windows under Wine"
scripts/ci-cross.sh build-ci

step "ASan+UBSan build"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEF_WERROR=ON -DEF_SANITIZE=ON
cmake --build build-asan -j "$JOBS"
step "tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$JOBS"

step "libFuzzer targets (clang, ${FUZZ_SECONDS}s each)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEF_SANITIZE=ON -DEF_FUZZ=ON -DEF_BUILD_TESTS=ON
cmake --build build-fuzz -j "$JOBS" --target fuzzers
tests/fuzz/run_fuzz.sh build-fuzz "$FUZZ_SECONDS"

step "reliability (ThreadSanitizer, ABI)"
scripts/ci-reliability.sh tsan abi

echo
echo "all checks passed"
