#!/bin/sh
# Runs every libFuzzer binary (fuzz_*, not the *_replay programs) found in
# BUILD_DIR for SECONDS each, on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name>), so the committed corpus is never modified.
# Crash inputs land in BUILD_DIR/fuzz-artifacts/; add them to the corpus.
# Usage: tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build_dir=$1
seconds=$2
src_dir=$(cd "$(dirname "$0")" && pwd)
artifacts="$build_dir/fuzz-artifacts"
# Targets whose parsers take paths write each input to a scratch file:
# keep those in memory when a tmpfs is there (an order of magnitude faster).
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
mkdir -p "$artifacts"

found=0
failed=0
for bin in $(find "$build_dir" -type f -name 'fuzz_*' ! -name '*_replay' ! -name '*.*' -perm -u+x | sort); do
    name=$(basename "$bin")
    corpus="$src_dir/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    if [ -d "$corpus" ]; then
        cp "$corpus"/* "$work"/ 2>/dev/null || true
    fi
    found=$((found + 1))
    echo "== $name: ${seconds}s on $(ls "$work" | wc -l) seeds"
    if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$artifacts/$name-" -print_final_stats=1 "$work"; then
        echo "== $name FAILED: see $artifacts" >&2
        failed=$((failed + 1))
    fi
    rm -rf "$work"
done

if [ "$found" -eq 0 ]; then
    echo "no fuzz_* binaries in $build_dir (configure with clang and -DEF_FUZZ=ON)" >&2
    exit 1
fi
echo "== $found fuzzer(s) run, $failed failed"
[ "$failed" -eq 0 ]
