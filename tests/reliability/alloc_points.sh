#!/bin/sh
# Sums the allocation points the allocation-failure sweeps inject: runs the
# sweep tests of BUILD_DIR verbosely and adds up the count each prints
# ("N allocation points", "N allocation sites", "injected N allocation
# failures"). The figure of docs/reliability.md.
# Usage: tests/reliability/alloc_points.sh BUILD_DIR
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
sweeps='^(test_alloc_failures|test_model_load|test_convert_unit|test_train_alloc|test_train_data|test_sparse_alloc|test_backend_registry|test_kv_store|test_kv_session|test_session_snapshot|test_snapshot_format|test_alloc_quantize|test_alloc_tiers_snapshot)$'
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ctest --test-dir "$1" -R "$sweeps" -V > "$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
# ctest -V prefixes each line with "<test number>: "; keep the test's name.
awk '
    / Test command: / { split($NF, p, "/"); name[$1] = p[length(p)] }
    match($0, /(injected )?[0-9]+ allocation (points|sites|failures)/) {
        s = substr($0, RSTART, RLENGTH); sub(/^injected /, "", s); split(s, w, " ");
        printf "%-28s %6d  %s\n", name[$1], w[1], substr($0, index($0, ":") + 2); total += w[1]; n++
    }
    END { printf "%d sweeps, %d allocation points in all\n", n, total; if (n == 0) exit 1 }' "$log"
