#!/bin/sh
# cargo test --offline of bindings/rust against the library in LIB_DIR.
# cargo comes from PATH or ~/.cargo/bin; if it is absent the test fails.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SRC="$1"; LIB_DIR="$2"; FIX="$3"; TARGET="$4"
CARGO=$(command -v cargo 2>/dev/null || true)
if [ -z "$CARGO" ] && [ -n "${HOME:-}" ] && [ -x "$HOME/.cargo/bin/cargo" ]; then
    CARGO="$HOME/.cargo/bin/cargo"
fi
if [ -z "$CARGO" ]; then
    echo "FAIL: cargo not found on PATH or in \$HOME/.cargo/bin; install Rust (rustup) to test bindings/rust" >&2
    exit 1
fi
export EDGEFORMER_LIB_DIR="$LIB_DIR" EF_BIND_FIXTURES="$FIX" EF_PUBLIC_HEADER="$SRC/include/edgeformer/edgeformer.h"
export CARGO_TARGET_DIR="$TARGET" CARGO_NET_OFFLINE=true
# the rpath covers the test binaries; this covers doctests
export LD_LIBRARY_PATH="$LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
set -- test --offline --manifest-path "$SRC/bindings/rust/Cargo.toml" --workspace
if [ -n "${EF_BIND_PRELOAD:-}" ]; then  # sanitizer build: test binaries run with the runtime preloaded
    set -- "$@" --config "target.'cfg(all())'.runner = ['sh', '$HERE/with_preload.sh']"
fi
exec "$CARGO" "$@"
