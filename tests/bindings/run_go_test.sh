#!/bin/sh
# go test of bindings/go (cgo) against the library in LIB_DIR, offline.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SRC="$1"; LIB_DIR="$2"; FIX="$3"; CACHE="$4"
GO=$(command -v go 2>/dev/null || true)
[ -n "$GO" ] || { [ -x /usr/lib/go/bin/go ] && GO=/usr/lib/go/bin/go; } || true
if [ -z "$GO" ]; then
    echo "FAIL: go not found; install Debian's golang-go to test bindings/go" >&2
    exit 1
fi
export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1
export GOCACHE="$CACHE/gocache" GOPATH="$CACHE/gopath"
export CGO_LDFLAGS="-L$LIB_DIR -Wl,-rpath,$LIB_DIR"
export EF_BIND_FIXTURES="$FIX" EF_PUBLIC_HEADER="$SRC/include/edgeformer/edgeformer.h"
cd "$SRC/bindings/go"
"$GO" vet ./...
if [ -n "${EF_BIND_PRELOAD:-}" ]; then  # sanitizer build: the test binary runs with the runtime preloaded
    exec "$GO" test -count=1 -exec "sh $HERE/with_preload.sh" ./...
fi
exec "$GO" test -count=1 ./...
