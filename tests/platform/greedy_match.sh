#!/bin/sh
# greedy_match.sh HOST_BUILD_DIR TMP_DIR TARGET_CLI [EMULATOR ARGS...]
# The cross-built CLI (run under qemu or Wine) loads a tiny model written by the
# host (x86-64 Linux) build and must generate the same greedy tokens as the host.
# The model gets a SentencePiece-style vocabulary (make_spm_model), which needs no
# PCRE2, so the Windows build (EF_WITH_PCRE2=OFF) can tokenize the prompts too.
# Both sides run the scalar kernels (EF_CPU_SIMD=0; tests/cpu/test_cpu_neon_greedy.sh
# runs the arm64 CLI with its NEON kernels) so they compute the same float sums
# in the same order: on random weights
# the AVX2 kernels' different summation order can flip near-tied greedy picks.
set -eu
export EF_CPU_SIMD=0
host_build=$1 tmp=$2
shift 2
host_cli=$host_build/edgeformer
host_spm=$host_build/tests/platform/make_spm_model
for tool in "$host_cli" "$host_spm"; do
  [ -x "$tool" ] || { echo "greedy_match: host tool $tool not built (build the host tree first)" >&2; exit 1; }
done
mkdir -p "$tmp"
base=$tmp/greedy_base.gguf model=$tmp/greedy_spm.gguf
"$host_cli" make-model --arch llama --preset tiny --seed 11 -o "$base"
"$host_spm" "$base" "$model"

# The prompt and generated token ids of one greedy run, from --json.
ids_of() { LC_ALL=C sed -n 's/.*\("prompt_tokens":\[[^]]*\],"generated_tokens":\[[^]]*\]\).*/\1/p'; }

fail=0
for prompt in "the model runs on the edge" "Hello" "a b c d e f"; do
  want=$("$host_cli" run -m "$model" -p "$prompt" -n 24 --temp 0 --threads 2 --json | ids_of)
  got=$("$@" run -m "$model" -p "$prompt" -n 24 --temp 0 --threads 2 --json | tr -d '\r' | ids_of)
  if [ -z "$want" ]; then echo "greedy_match: no tokens from the host CLI" >&2; exit 1; fi
  if [ "$want" = "$got" ]; then
    echo "same: $prompt -> $got"
  else
    echo "DIFFERENT for prompt '$prompt':" >&2
    echo "  host:   $want" >&2
    echo "  target: $got" >&2
    fail=1
  fi
done
exit $fail
