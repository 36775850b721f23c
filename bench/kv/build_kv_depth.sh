#!/bin/sh
# Builds bench/kv/kv_depth.c against BUILD_DIR's libedgeformer (rpath set, so
# the binary runs without LD_LIBRARY_PATH): the one compile step that
# run_depth.sh and run_128k.sh share.
#
# usage: bench/kv/build_kv_depth.sh BUILD_DIR OUTPUT
#   env: CC (cc)
set -eu
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR OUTPUT" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
${CC:-cc} -O2 -I"$root/include" "$root/bench/kv/kv_depth.c" -L"$build/lib" -ledgeformer \
    -Wl,-rpath,"$build/lib" -o "$2"
