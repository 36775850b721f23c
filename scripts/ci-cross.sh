#!/usr/bin/env bash
# Cross-platform CI steps (docs/platforms.md):
#   1. install the cross toolchains, qemu-user, Wine and the arm64 -dev packages;
#   2. arm64 Linux: cross-build, then run the ctest suite under qemu-aarch64
#      (every C test binary; tests labelled python/bindings need host tools that
#      cannot run arm64 binaries, so they are left to the native build);
#   3. Windows x86-64: mingw-w64 build of libedgeformer.dll + edgeformer.exe, then
#      the Windows tests under Wine (tests/platform: the OS layer, and the .exe's
#      greedy tokens against the Linux CLI's on the same model).
# Usage: scripts/ci-cross.sh [HOST_BUILD_DIR]
#   HOST_BUILD_DIR: a native (x86-64) build tree with the CLI and
#   tests/platform/make_spm_model built (scripts/test.sh's build-ci); without it
#   a Release build is made in build-cross-host.
# Env: JOBS (build parallelism), EF_CROSS_SKIP_INSTALL=1 (packages already there),
#      EF_CROSS_ONLY=arm64|win64 (one of the two).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS="${JOBS:-$(nproc)}"
HOST_BUILD="${1:-}"
ONLY="${EF_CROSS_ONLY:-}"

step() { echo; echo "=== $* ==="; }
declare -A SECONDS_FOR
timed() { # timed NAME CMD...: runs CMD, records its wall time
  local name=$1 t0=$SECONDS
  shift
  "$@"
  SECONDS_FOR[$name]=$((SECONDS - t0))
}

install_deps() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user \
    libpcre2-dev:arm64 libcjson-dev:arm64 libcmocka-dev:arm64 libzstd-dev:arm64 libmicrohttpd-dev:arm64 \
    gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix wine64 wine
}

host_build() {
  if [ -z "$HOST_BUILD" ]; then
    HOST_BUILD=$ROOT/build-cross-host
    cmake -S . -B "$HOST_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEF_WERROR=ON
  fi
  HOST_BUILD=$(cd "$HOST_BUILD" && pwd)
  cmake --build "$HOST_BUILD" -j "$JOBS" --target edgeformer-cli make_spm_model
}

# Tests that start the CLI through a path (fixture makers, shell scripts) do
# not get CMAKE_CROSSCOMPILING_EMULATOR: register qemu-aarch64 with binfmt_misc
# (flag F: the kernel keeps the interpreter open, also inside containers).
arm64_binfmt() {
  local bm=/proc/sys/fs/binfmt_misc sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  [ -e $bm/register ] || $sudo mount -t binfmt_misc binfmt_misc $bm
  [ -e $bm/qemu-aarch64 ] && return 0
  printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64:F' |
    $sudo tee $bm/register >/dev/null
}

arm64_build() {
  cmake -S . -B build-cross-arm64 -G Ninja -DCMAKE_BUILD_TYPE=Release -DEF_WERROR=ON \
    -DCMAKE_TOOLCHAIN_FILE="$ROOT"/cmake/toolchains/aarch64-linux-gnu.cmake -DEF_HOST_BUILD_DIR="$HOST_BUILD"
  cmake --build build-cross-arm64 -j "$JOBS"
}
arm64_test() {
  # Slowest under qemu (2 cores): test_exec_kv ~75 s, test_sampler ~65 s,
  # server_http ~60 s, server_make_models ~55 s; the whole run ~3.5 min.
  ctest --test-dir build-cross-arm64 --output-on-failure -j "$JOBS" \
    -LE 'python|bindings|docs' --timeout 600
}

win64_build() {
  cmake -S . -B build-cross-win64 -G Ninja -DCMAKE_BUILD_TYPE=Release -DEF_WERROR=ON \
    -DCMAKE_TOOLCHAIN_FILE="$ROOT"/cmake/toolchains/x86_64-w64-mingw32.cmake -DEF_HOST_BUILD_DIR="$HOST_BUILD"
  cmake --build build-cross-win64 -j "$JOBS"
  # The DLL exports only the public API and needs no MinGW runtime DLLs.
  x86_64-w64-mingw32-objdump -p build-cross-win64/lib/libedgeformer.dll | grep 'DLL Name' | sort -u
  if x86_64-w64-mingw32-objdump -p build-cross-win64/lib/libedgeformer.dll |
      grep -qiE 'DLL Name: (libwinpthread|libgcc_s)'; then
    echo "libedgeformer.dll depends on a MinGW runtime DLL" >&2
    return 1
  fi
  test -f build-cross-win64/lib/libedgeformer.dll.a
}
win64_test() {
  # One Wine prefix inside the build tree, created once before the tests run in parallel.
  export WINEPREFIX=$ROOT/build-cross-win64/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
  wineboot -i >/dev/null 2>&1 || true
  ctest --test-dir build-cross-win64 --output-on-failure -j "$JOBS" --timeout 300
  wineserver -k >/dev/null 2>&1 || true
}

[ "${EF_CROSS_SKIP_INSTALL:-0}" = "1" ] || { step "install cross toolchains, qemu, Wine"; timed install install_deps; }
step "host (x86-64) CLI for reference models"
timed host host_build
if [ "$ONLY" != "win64" ]; then
  step "arm64 cross build";              timed arm64_build arm64_build
  step "qemu-aarch64 via binfmt_misc";   arm64_binfmt
  step "arm64 tests under qemu-aarch64"; timed arm64_test arm64_test
fi
if [ "$ONLY" != "arm64" ]; then
  step "Windows (mingw-w64) build";      timed win64_build win64_build
  step "Windows tests under Wine";       timed win64_test win64_test
fi

step "cross CI timings (seconds)"
for k in install host arm64_build arm64_test win64_build win64_test; do
  [ -n "${SECONDS_FOR[$k]:-}" ] && printf '  %-12s %5d\n' "$k" "${SECONDS_FOR[$k]}"
done
echo "cross checks passed"
