#!/bin/sh
# The exported ABI of libedgeformer.so:
#   1. every symbol it exports is named ef_*;
#   2. the exported functions are exactly those the public header declares
#      with EF_API (missing ones are listed: declared but not implemented yet);
#   3. its SONAME is libedgeformer.so.<EF_VERSION_MAJOR of the header>.
# usage: check_exports.sh path/to/libedgeformer.so path/to/edgeformer.h
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 LIBRARY.so edgeformer.h" >&2
    exit 2
fi
lib=$1
header=$2
here=$(dirname "$0")
for tool in nm readelf perl sort comm; do
    command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: '$tool' is not installed" >&2; exit 2; }
done
[ -f "$lib" ] || { echo "FAIL: no library at $lib" >&2; exit 2; }
[ -f "$header" ] || { echo "FAIL: no header at $header" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0

# Defined dynamic symbols: "name[@@VERSION] TYPE". Absolute symbols ('A')
# are the version nodes of the linker script, not code or data.
if ! nm -D --defined-only --format=posix "$lib" >"$tmp/nm.out"; then
    echo "FAIL: nm could not read $lib" >&2
    exit 2
fi
awk '$2 != "A" { sub(/@.*/, "", $1); print $1 " " $2 }' "$tmp/nm.out" | sort -u >"$tmp/exported"
cut -d' ' -f1 "$tmp/exported" | sort -u >"$tmp/exported_names"
# Functions: T (text), W (weak), i (indirect/ifunc).
awk '$2 == "T" || $2 == "W" || $2 == "i" { print $1 }' "$tmp/exported" | sort -u >"$tmp/exported_functions"

# 1. Nothing but ef_* leaves the library.
grep -v '^ef_' "$tmp/exported_names" >"$tmp/foreign"
if [ -s "$tmp/foreign" ]; then
    echo "FAIL: exported symbols not prefixed ef_ (hide them or rename them):"
    sed 's/^/    /' "$tmp/foreign"
    failed=1
fi
awk '$2 != "T" && $2 != "W" && $2 != "i" { print $1 " (nm type " $2 ")" }' "$tmp/exported" | grep '^ef_' >"$tmp/data"
if [ -s "$tmp/data" ]; then
    echo "FAIL: exported ef_ symbols that are not functions (the ABI exports functions only):"
    sed 's/^/    /' "$tmp/data"
    failed=1
fi

# 2. Exported functions == EF_API declarations.
if ! perl "$here/list_api_functions.pl" "$header" | sort -u >"$tmp/declared"; then
    echo "FAIL: could not parse $header" >&2
    exit 2
fi
grep -v '^ef_' "$tmp/declared" >"$tmp/declared_foreign"
if [ -s "$tmp/declared_foreign" ]; then
    echo "FAIL: EF_API functions in the header not prefixed ef_:"
    sed 's/^/    /' "$tmp/declared_foreign"
    failed=1
fi
comm -23 "$tmp/declared" "$tmp/exported_functions" >"$tmp/missing"
comm -13 "$tmp/declared" "$tmp/exported_functions" >"$tmp/extra"
if [ -s "$tmp/missing" ]; then
    echo "FAIL: $(wc -l <"$tmp/missing") function(s) declared with EF_API but not exported (not implemented yet, or not marked EF_API where defined):"
    sed 's/^/    /' "$tmp/missing"
    failed=1
fi
if [ -s "$tmp/extra" ]; then
    echo "FAIL: $(wc -l <"$tmp/extra") exported function(s) not declared with EF_API in $header (internal ef_* names leak through the version script):"
    sed 's/^/    /' "$tmp/extra"
    failed=1
fi

# 3. SONAME carries the ABI major.
major=$(sed -n 's/^[[:space:]]*#[[:space:]]*define[[:space:]]\{1,\}EF_VERSION_MAJOR[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' "$header")
if [ -z "$major" ]; then
    echo "FAIL: no '#define EF_VERSION_MAJOR <n>' in $header"
    failed=1
else
    soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
    if [ "$soname" != "libedgeformer.so.$major" ]; then
        echo "FAIL: SONAME is '${soname:-<none>}', expected 'libedgeformer.so.$major'"
        failed=1
    fi
fi

n_declared=$(wc -l <"$tmp/declared")
n_exported=$(wc -l <"$tmp/exported_functions")
if [ $failed -eq 0 ]; then
    echo "OK: $n_exported exported functions, all ef_*, equal to the $n_declared EF_API declarations; SONAME libedgeformer.so.$major"
    exit 0
fi
echo "($n_exported exported functions, $n_declared EF_API declarations)"
exit 1
