"""End to end: the SIMD matmul kernels against the scalar reference.

Makes a tiny random model with the CLI and runs tests/model/dump_logits on a
64-token prompt twice: with EF_CPU_SIMD=0 (reference kernels) and with
EF_CPU_SIMD=1 (AVX2 GEMM for the prompt, GEMV for the greedy continuation).
Checks: the environment switch really changes the kernels (the logits are
not bit-identical), the logits agree within --tol, and for F32 (and Q8_0)
models the greedy tokens are identical. The SIMD run also repeats with 2
threads and must give the same bits as 1 thread.

Quantized models run in the matmul mode given by --mode (EF_MATMUL_MODE):
weight-only compares the AVX2 group kernels with the dequantize-and-dot
reference; integer-dot compares the AVX2 integer dot with its scalar
reference, and also checks that it differs from weight-only (activations
really are quantized) by no more than --mode-tol.

usage: simd_vs_scalar.py --cli EDGEFORMER --dump DUMP_LOGITS --tmp DIR --config NAME
                         [--mode weight-only|integer-dot] [--tol T] [--mode-tol T]
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
# One tiny model per quantized type; the K-quants and TQ2_0 need rows that are
# multiples of 256.
_K_SHAPE = ["--n-embd", "256", "--n-head", "4", "--n-head-kv", "2", "--n-ff", "512", "--n-layer", "2"]
for _i, _t in enumerate(["q8_0", "q4_0", "q4_1", "q5_0", "q5_1"]):
    CONFIGS[f"{_t}_llama"] = ["--arch", "llama", "--preset", "tiny", "--type", _t, "--seed", str(30 + _i)]
for _i, _t in enumerate(["q4_k", "q5_k", "q6_k", "q2_k", "q3_k", "tq2_0"]):
    CONFIGS[f"{_t}_llama"] = ["--arch", "llama", "--preset", "tiny", "--type", _t, "--seed", str(40 + _i)] + _K_SHAPE
# Greedy tokens must match exactly for these (weights dequantized exactly,
# only the F32 summation order differs).
GREEDY_EXACT = ("f32", "q8_0")
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
    ap.add_argument("--mode", choices=["weight-only", "integer-dot"], default="weight-only")
    ap.add_argument("--mode-tol", type=float, default=0.5)
    ap.add_argument("--mean-tol", type=float, default=0.01,
                    help="bound on mean |simd - scalar| (catches small systematic errors the max bound lets through)")
    args = ap.parse_args()

    os.makedirs(args.tmp, exist_ok=True)
    base = os.path.join(args.tmp, args.config)
    model = base + ".gguf"
    run([args.cli, "make-model"] + CONFIGS[args.config] + ["-o", model])
    base = f"{base}.{args.mode}"

    # Vocabulary size from the first run's logits; the prompt only needs valid ids,
    # and every preset has at least 256 tokens.
    prompt = base + ".prompt"
    rng = np.random.default_rng(4321)
    rng.integers(0, 256, N_PROMPT).astype(np.int32).tofile(prompt)

    outs = {}
    runs = [("scalar", "0", "1", args.mode), ("simd", "1", "1", args.mode), ("simd_t2", "1", "2", args.mode)]
    if args.mode != "weight-only":
        runs.append(("simd_wo", "1", "1", "weight-only"))
    for tag, simd, threads, mode in runs:
        env = dict(os.environ, EF_CPU_SIMD=simd, EF_MATMUL_MODE=mode)
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
    mean_err = float(np.mean(np.abs(ref_l - got_l)))
    print(f"{args.config}: mean |logit(simd) - logit(scalar)| = {mean_err:.3g}")
    if not mean_err <= args.mean_tol:
        print(f"FAIL: mean exceeds {args.mean_tol}")
        ok = False
    if np.array_equal(ref_l, got_l):
        print("FAIL: SIMD and scalar logits are bit-identical: EF_CPU_SIMD did not switch kernels")
        ok = False
    if args.config.startswith(GREEDY_EXACT) and args.mode == "weight-only":
        if len(ref_ids) != N_GEN or not np.array_equal(ref_ids, got_ids):
            print(f"FAIL: greedy tokens differ:\n scalar {ref_ids}\n simd   {got_ids}")
            ok = False
        else:
            print(f"{N_GEN} greedy tokens identical")
    t2_l, t2_ids = outs["simd_t2"]
    if not (np.array_equal(t2_l, got_l) and np.array_equal(t2_ids, got_ids)):
        print("FAIL: SIMD kernels give different bits with 2 threads")
        ok = False
    if "simd_wo" in outs:
        wo_l = outs["simd_wo"][0]
        d = float(np.max(np.abs(wo_l - got_l)))
        print(f"{args.config}: max |logit({args.mode}) - logit(weight-only)| = {d:.3g}")
        if not d <= args.mode_tol:
            print(f"FAIL: exceeds --mode-tol {args.mode_tol}")
            ok = False
        if np.array_equal(wo_l, got_l) and not args.config.startswith(("f32", "f16", "bf16")):
            print("FAIL: integer-dot logits equal weight-only: EF_MATMUL_MODE did not switch")
            ok = False
    print("ok" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
