#!/bin/sh
# Runs every libFuzzer binary (fuzz_*, not the *_replay programs) found in
# BUILD_DIR for SECONDS each, on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name>), so the committed corpus is never modified.
# Crash inputs land in BUILD_DIR/fuzz-artifacts/; add them to the corpus.
# A failing target's report is repeated at the end, so a CI log's tail
# names the target and the sanitizer's message, and holds the saved input in
# base64 (the artifact itself is lost with a CI machine): decode it with
# `base64 -d > crash` and run `BUILD_DIR/tests/fuzz/fuzz_NAME crash`.
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
logs=$(mktemp -d)

found=0
failed=""
for bin in $(find "$build_dir" -type f -name 'fuzz_*' ! -name '*_replay' ! -name '*.*' -perm -u+x | sort); do
    name=$(basename "$bin")
    corpus="$src_dir/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    if [ -d "$corpus" ]; then
        cp "$corpus"/* "$work"/ 2>/dev/null || true
    fi
    found=$((found + 1))
    echo "== $name: ${seconds}s on $(ls "$work" | wc -l) seeds"
    status=0
    touch "$logs/$name.start"
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/$name-" -print_final_stats=1 "$work" \
        > "$logs/$name.log" 2>&1 || status=$?
    cat "$logs/$name.log"
    if [ "$status" -ne 0 ]; then
        echo "== $name FAILED (exit $status): see $artifacts" >&2
        failed="$failed $name"
    fi
    rm -rf "$work"
done

if [ "$found" -eq 0 ]; then
    echo "no fuzz_* binaries in $build_dir (configure with clang and -DEF_FUZZ=ON)" >&2
    exit 1
fi
for name in $failed; do
    # The report starts at the sanitizer's or libFuzzer's first '==' line.
    echo "== report of $name:"
    grep -v -E '^#[0-9]+' "$logs/$name.log" | grep -A 60 -m 1 -E '^==[0-9]+==|^(ERROR|SUMMARY):|runtime error' || tail -n 40 "$logs/$name.log"
    for f in $(find "$artifacts" -type f -name "$name-*" -newer "$logs/$name.start" 2>/dev/null); do
        bytes=$(wc -c < "$f")
        echo "== input $(basename "$f") ($bytes bytes), base64:"
        if [ "$bytes" -le 16384 ]; then base64 "$f"; else head -c 16384 "$f" | base64; echo "(first 16384 bytes)"; fi
    done
done
rm -rf "$logs"
count=$(echo $failed | wc -w)
echo "== $found fuzzer(s) run, $count failed${failed:+:$failed}"
[ "$count" -eq 0 ]
