"""End to end: the SIMD matmul kernels against the scalar reference.

Makes a tiny random model with the CLI and runs tests/model/dump_logits on a
64-token prompt twice: with EF_CPU_SIMD=0 (reference kernels) and with
EF_CPU_SIMD=1 (AVX2 GEMM for the prompt, GEMV for the greedy continuation).
Checks: the environment switch really changes the kernels (the logits are
not bit-identical), the logits agree within --tol, and for F32 models the
greedy tokens are identical. The SIMD run also repeats with 2 threads and
must give the same bits as 1 thread.

usage: simd_vs_scalar.py --cli EDGEFORMER --dump DUMP_LOGITS --tmp DIR --config NAME
"""
import argparse
import os
import subprocess
import sys

import numpy as np

CONFIGS = {
    "f32_llama": ["--arch", "llama", "--preset", "small", "--seed", "21"],
    "f32_qwen2": ["--arch", "qwen2", "--preset", "tiny", "--seed", "22"],
    "f16_llama": ["--arch", "llama", "--preset", "tiny", "--type", "f16", "--seed", "23"],
    "bf16_qwen2": ["--arch", "qwen2", "--preset", "tiny", "--type", "bf16", "--seed", "24"],
}
N_PROMPT = 64
N_GEN = 32


def run(cmd, env=None):
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, env=env)
    if r.returncode != 0:
        sys.exit(f"FAIL: exit code {r.returncode} from {cmd[0]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--config", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    os.makedirs(args.tmp, exist_ok=True)
    base = os.path.join(args.tmp, args.config)
    model = base + ".gguf"
    run([args.cli, "make-model"] + CONFIGS[args.config] + ["-o", model])

    # Vocabulary size from the first run's logits; the prompt only needs valid ids,
    # and every preset has at least 256 tokens.
    prompt = base + ".prompt"
    rng = np.random.default_rng(4321)
    rng.integers(0, 256, N_PROMPT).astype(np.int32).tofile(prompt)

    outs = {}
    for tag, simd, threads in [("scalar", "0", "1"), ("simd", "1", "1"), ("simd_t2", "1", "2")]:
        env = dict(os.environ, EF_CPU_SIMD=simd)
        logits, ids = f"{base}.{tag}.logits", f"{base}.{tag}.ids"
        run([args.dump, model, prompt, logits, ids, "--threads", threads, "--n-gen", str(N_GEN)], env)
        outs[tag] = (np.fromfile(logits, dtype=np.float32), np.fromfile(ids, dtype=np.int32))

    ref_l, ref_ids = outs["scalar"]
    got_l, got_ids = outs["simd"]
    ok = True
    if ref_l.size == 0 or ref_l.size % N_PROMPT != 0 or got_l.size != ref_l.size:
        print(f"FAIL: logits sizes {ref_l.size} / {got_l.size}")
        return 1
    err = float(np.max(np.abs(ref_l - got_l)))
    print(f"{args.config}: max |logit(simd) - logit(scalar)| = {err:.3g} over {ref_l.size} values")
    if not err <= args.tol:
        print(f"FAIL: exceeds {args.tol}")
        ok = False
    if np.array_equal(ref_l, got_l):
        print("FAIL: SIMD and scalar logits are bit-identical: EF_CPU_SIMD did not switch kernels")
        ok = False
    if args.config.startswith("f32"):
        if len(ref_ids) != N_GEN or not np.array_equal(ref_ids, got_ids):
            print(f"FAIL: greedy tokens differ:\n scalar {ref_ids}\n simd   {got_ids}")
            ok = False
        else:
            print(f"{N_GEN} greedy tokens identical")
    t2_l, t2_ids = outs["simd_t2"]
    if not (np.array_equal(t2_l, got_l) and np.array_equal(t2_ids, got_ids)):
        print("FAIL: SIMD kernels give different bits with 2 threads")
        ok = False
    print("ok" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
