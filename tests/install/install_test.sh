#!/usr/bin/env bash
set -euo pipefail
BUILD="$1"; WORK="$2"; CONSUMER="$3"; MODEL="$4"; FLAGS="${5:-}"
rm -rf "$WORK"; mkdir -p "$WORK"
cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
LIBDIR=$(ls -d "$WORK"/prefix/lib*/ | head -1)
test -f "$WORK/prefix/include/edgeformer/edgeformer.h"
ls "$LIBDIR" | grep -q '^libedgeformer.so.0$' || { echo "no SONAME link in $LIBDIR"; ls "$LIBDIR"; exit 1; }

# 1. CMake package
# Cross builds pass their toolchain (EF_CONSUMER_TOOLCHAIN) and compiler (CC).
cmake -S "$CONSUMER" -B "$WORK/cmake-build" -DCMAKE_PREFIX_PATH="$WORK/prefix" \
      ${EF_CONSUMER_TOOLCHAIN:+-DCMAKE_TOOLCHAIN_FILE="$EF_CONSUMER_TOOLCHAIN"} \
      -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$FLAGS" >/dev/null
cmake --build "$WORK/cmake-build" >/dev/null
LD_LIBRARY_PATH="$LIBDIR" "$WORK/cmake-build/consumer" "$MODEL" | grep -q "^version 0\."

# 2. pkg-config
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
"${CC:-cc}" $FLAGS "$CONSUMER/consumer.c" -o "$WORK/consumer-pc" $(pkg-config --cflags --libs edgeformer)
LD_LIBRARY_PATH="$LIBDIR" "$WORK/consumer-pc" "$MODEL" | grep -q "^version 0\."
echo "install: ok"
