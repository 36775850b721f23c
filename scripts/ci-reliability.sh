#!/usr/bin/env bash
# Reliability checks CI runs after scripts/test.sh's builds (which already
# fuzz every libFuzzer target under ASan+UBSan, tests/fuzz/run_fuzz.sh):
#   tsan        a ThreadSanitizer build (build-tsan) running the tests
#               labelled `tsan`: tests/reliability/test_threads.c (the
#               header's thread rules) and tests/server/server_tsan_test.py
#               (concurrent requests to the TSan-built `edgeformer serve`);
#   abi         the shared library built with debug info (build-abi) is
#               compared with the committed baseline abi/libedgeformer.abi by
#               abidiff (Debian abigail-tools); an incompatible change fails
#               unless EF_VERSION_MAJOR was bumped and the baseline
#               regenerated with it; additions pass.
#   abi-update  regenerates abi/libedgeformer.abi and abi/version (see
#               docs/reliability.md: only with a major version bump, or to
#               record additions).
# Usage: scripts/ci-reliability.sh [tsan] [abi] [abi-update]   (default: tsan abi)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(tsan abi)

step() { echo; echo "=== $* ==="; }

header_major() {
    sed -n 's/^#define EF_VERSION_MAJOR \([0-9][0-9]*\).*/\1/p' include/edgeformer/edgeformer.h
}

run_tsan() {
    step "ThreadSanitizer build and tsan-labelled tests"
    # gcc's TSan (TSAN_CC=clang TSAN_CXX=clang++ for clang's). No -Werror here:
    # the -Werror build is scripts/test.sh's; this one is about races.
    CC="${TSAN_CC:-gcc}" CXX="${TSAN_CXX:-g++}" cmake -S . -B build-tsan -G Ninja \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEF_WERROR=OFF \
        -DCMAKE_C_FLAGS="-fsanitize=thread -O1 -g" -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1 -g" \
        -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread
    # edgeformer-cli: the fixtures' make-model and the server (serve).
    cmake --build build-tsan -j "$JOBS" --target edgeformer-cli test_threads
    tsan_tests=$(ctest --test-dir build-tsan -N -L tsan)
    for t in test_threads server_concurrent; do
        grep -qw "$t" <<< "$tsan_tests" || { echo "ci-reliability: the tsan label lost $t" >&2; exit 1; }
    done
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
        ctest --test-dir build-tsan -L tsan --output-on-failure --no-tests=error
}

build_abi_lib() {
    # -g: abidw reads the types from DWARF; -Og keeps them complete.
    cmake -S . -B build-abi -G Ninja -DCMAKE_BUILD_TYPE=Debug -DEF_BUILD_TESTS=OFF >/dev/null
    # (with Ninja the CLI binary "edgeformer" owns that name: ask for the file)
    cmake --build build-abi -j "$JOBS" --target libedgeformer.so >/dev/null
    lib=$(find build-abi -maxdepth 3 -name 'libedgeformer.so.*' -type f | head -n 1)
    [ -n "$lib" ] || { echo "ci-reliability: no libedgeformer.so.* in build-abi" >&2; exit 1; }
}

dump_abi() { # dump_abi LIB OUT
    abidw --headers-dir include/edgeformer --drop-private-types --no-corpus-path \
          --no-comp-dir-path --out-file "$2" "$1"
}

run_abi() {
    step "ABI check against abi/libedgeformer.abi (abidiff)"
    command -v abidiff >/dev/null || { echo "abidiff missing: apt-get install abigail-tools" >&2; exit 1; }
    build_abi_lib
    base_major=$(sed -n 's/^EF_VERSION_MAJOR=//p' abi/version)
    major=$(header_major)
    if [ "$major" != "$base_major" ]; then
        echo "EF_VERSION_MAJOR is $major but the baseline was made for $base_major:" >&2
        echo "regenerate it with: scripts/ci-reliability.sh abi-update (docs/reliability.md)" >&2
        exit 1
    fi
    dump_abi "$lib" build-abi/current.abi
    # --no-added-syms: new functions are compatible and do not count. What
    # remains is a removed symbol (status bit 8) or a changed type or
    # signature of an existing one (bit 4): both break callers in C.
    set +e
    abidiff --no-added-syms abi/libedgeformer.abi build-abi/current.abi > build-abi/abidiff.txt
    rc=$?
    set -e
    # abidiff's status is a bit set: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
    if [ $((rc & 3)) -ne 0 ]; then
        cat build-abi/abidiff.txt; echo "abidiff failed to run (status $rc)" >&2; exit 1
    fi
    if [ "$rc" -ne 0 ]; then
        cat build-abi/abidiff.txt
        echo "incompatible ABI change (abidiff status $rc): keep the old interface, or bump" >&2
        echo "EF_VERSION_MAJOR and run scripts/ci-reliability.sh abi-update (docs/reliability.md)" >&2
        exit 1
    fi
    added=$(abidiff abi/libedgeformer.abi build-abi/current.abi | grep -c "^  \[A\]" || true)
    echo "additions since the baseline (compatible): $added"
    echo "ABI compatible with the baseline (major $major)"
}

run_abi_update() {
    step "regenerating abi/libedgeformer.abi"
    build_abi_lib
    dump_abi "$lib" abi/libedgeformer.abi
    echo "EF_VERSION_MAJOR=$(header_major)" > abi/version
    echo "wrote abi/libedgeformer.abi from $lib and abi/version; commit both"
}

for s in "${steps[@]}"; do
    case "$s" in
        tsan) run_tsan ;;
        abi) run_abi ;;
        abi-update) run_abi_update ;;
        *) echo "usage: $0 [tsan] [abi] [abi-update]" >&2; exit 2 ;;
    esac
done
echo
echo "reliability checks passed: ${steps[*]}"
