"""End to end: the same random model (same seed, so the same float weights)
made in F32 and in a quantized type; the quantized file must hold its
matrices in that type (norms F32), and its logits must stay within a
per-type relative RMS distance of the F32 logits.

usage: run_quant_model_test.py --cli EDGEFORMER --dump DUMP_LOGITS --tmp DIR
                               --name NAME --type TYPE --tol T -- MAKE-MODEL-ARGS...
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import gguf  # noqa: E402

N_PROMPT = 48
PROMPT_SEED = 4321
TYPE_IDS = {"q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "q2_k": 10, "q3_k": 11,
            "q4_k": 12, "q5_k": 13, "q6_k": 14, "tq1_0": 34, "tq2_0": 35}


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd)
    if r.returncode != 0:
        sys.exit(f"FAIL: exit code {r.returncode} from {cmd[0]}")


def make_model(args, make_args, type_name):
    model = os.path.join(args.tmp, f"{args.name}.{type_name}.gguf")
    run([args.cli, "make-model"] + make_args + ["--type", type_name, "-o", model])
    return model


def logits_of(args, model, type_name, prompt):
    out = os.path.join(args.tmp, f"{args.name}.{type_name}.logits")
    ids = os.path.join(args.tmp, f"{args.name}.{type_name}.ids")
    run([args.dump, model, prompt, out, ids, "--n-gen", "2"])
    return np.fromfile(out, dtype=np.float32)


def main():
    argv = sys.argv[1:]
    split = argv.index("--")
    ap = argparse.ArgumentParser()
    for opt in ("--cli", "--dump", "--tmp", "--name", "--type"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--tol", type=float, required=True)
    args = ap.parse_args(argv[:split])
    make_args = argv[split + 1:]
    os.makedirs(args.tmp, exist_ok=True)

    f32_model = make_model(args, make_args, "f32")
    q_model = make_model(args, make_args, args.type)
    n_vocab = gguf.Reader(f32_model).tensors["token_embd.weight"].shape[0]
    prompt = os.path.join(args.tmp, f"{args.name}.prompt")
    np.random.default_rng(PROMPT_SEED).integers(0, n_vocab, N_PROMPT).astype(np.int32).tofile(prompt)
    ref = logits_of(args, f32_model, "f32", prompt)
    got = logits_of(args, q_model, args.type, prompt)

    r = gguf.Reader(q_model)
    want = TYPE_IDS[args.type]
    for name, tt in r.tensor_types.items():
        is_matrix = name.endswith(".weight") and "norm" not in name and "rope_freqs" not in name
        expect = want if is_matrix else 0
        if tt != expect:
            print(f"FAIL: tensor {name} has type {tt}, expected {expect}")
            return 1

    if ref.shape != got.shape or ref.size == 0:
        print(f"FAIL: logits shapes differ: {ref.shape} vs {got.shape}")
        return 1
    if not np.all(np.isfinite(got)):
        print("FAIL: non-finite logits")
        return 1
    rel = float(np.sqrt(np.mean((got - ref) ** 2) / np.mean(ref ** 2)))
    print(f"{args.type}: relative RMS logit difference to F32 {rel:.5f} (tolerance {args.tol})")
    if rel == 0.0:
        print("FAIL: logits identical to F32; the weights were not quantized")
        return 1
    if not rel <= args.tol:
        print("FAIL: above tolerance")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
