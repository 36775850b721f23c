#!/bin/sh
# test_cpu_neon_greedy.sh HOST_BUILD_DIR TMP_DIR TARGET_CLI [EMULATOR ARGS...]
# End to end on arm64 with the NEON kernels: the cross-built CLI (under qemu)
# runs tiny models written by the host (x86-64) build with its SIMD kernels
# (NEON dotprod, then EF_CPU_SIMD=neon) and must generate the same greedy
# tokens as the host's scalar reference (EF_CPU_SIMD=0). Models: F32 and
# F16 weights (dense GEMV/GEMM), Q8_0 and Q4_0 (fused rows; weight-only and
# integer-dot, whose NEON sums equal the scalar ones), the F16 KV cache
# (the NEON row loader; the tiny model's 16-wide heads rule out Q8_0 KV).
# Prints the kernel level the target reports.
# Random weights can make greedy picks near-ties, so the seeds were checked
# to leave margins; a mismatch after a kernel change means a real look.
set -eu
host_build=$1 tmp=$2
shift 2
host_cli=$host_build/edgeformer
[ -x "$host_cli" ] || { echo "neon_greedy: host CLI $host_cli not built" >&2; exit 1; }
mkdir -p "$tmp"
"$host_cli" make-model --arch llama --preset tiny --seed 11 -o "$tmp/neon_f32.gguf" >/dev/null
for t in f16 q8_0 q4_0; do
  "$host_cli" quantize "$tmp/neon_f32.gguf" "$tmp/neon_$t.gguf" --type "$t" >/dev/null 2>&1
done
echo "target kernels: $("$@" info --backends | grep -i 'host CPU' | tr -d '\r')"

ids_of() { LC_ALL=C sed -n 's/.*\("prompt_tokens":\[[^]]*\],"generated_tokens":\[[^]]*\]\).*/\1/p'; }

fail=0
check() { # check LABEL HOST_ARGS... -- : compares host scalar and target NEON (both levels)
  label=$1
  shift
  want=$(EF_CPU_SIMD=0 "$host_cli" run "$@" --json | ids_of)
  [ -n "$want" ] || { echo "neon_greedy: no tokens from the host CLI ($label)" >&2; exit 1; }
  for level in dotprod neon; do
    got=$(EF_CPU_SIMD=$level run_target run "$@" --json | tr -d '\r' | ids_of)
    if [ "$want" = "$got" ]; then
      echo "same ($label, $level): $got"
    else
      echo "DIFFERENT ($label, $level):" >&2
      echo "  host scalar: $want" >&2
      echo "  target:      $got" >&2
      fail=1
    fi
  done
}
# The target command (emulator + CLI) as words: paths without spaces.
target="$*"
run_target() { $target "$@"; }

p="the model runs on the edge"
check f32 -m "$tmp/neon_f32.gguf" -p "$p" -n 16 --temp 0 --threads 2
check f16 -m "$tmp/neon_f16.gguf" -p "$p" -n 16 --temp 0 --threads 2
check q8_0 -m "$tmp/neon_q8_0.gguf" -p "$p" -n 16 --temp 0 --threads 2
check q8_0-integer-dot -m "$tmp/neon_q8_0.gguf" -p "$p" -n 16 --temp 0 --matmul integer-dot
check q4_0 -m "$tmp/neon_q4_0.gguf" -p "$p" -n 16 --temp 0
exit $fail
