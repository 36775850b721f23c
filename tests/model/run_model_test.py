"""One conformance test: make a random model, run dump_logits, check it.

usage: run_model_test.py --cli EDGEFORMER --dump DUMP_LOGITS --tmp DIR --name NAME
                         --mode torch|threads|chunks [--tol T] -- MAKE-MODEL-ARGS...
  torch:   compare logits and greedy ids with the PyTorch reference
  threads: 1 and 2 threads give identical bits
  chunks:  the prompt in chunks 1+7+56 gives the same bits as in one call
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import gguf  # noqa: E402

N_PROMPT = 64
PROMPT_SEED = 1234


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd)
    if r.returncode != 0:
        sys.exit(f"FAIL: exit code {r.returncode} from {cmd[0]}")


def dump(args, model, prompt, tag, extra):
    logits = os.path.join(args.tmp, f"{args.name}.{tag}.logits")
    ids = os.path.join(args.tmp, f"{args.name}.{tag}.ids")
    run([args.dump, model, prompt, logits, ids] + extra)
    return logits, ids


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def main():
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--mode", choices=["torch", "threads", "chunks"], required=True)
    ap.add_argument("--tol", default="1e-4")
    args = ap.parse_args(argv[:split])
    make_args = argv[split + 1:]

    os.makedirs(args.tmp, exist_ok=True)
    model = os.path.join(args.tmp, f"{args.name}.gguf")
    run([args.cli, "make-model"] + make_args + ["-o", model])

    n_vocab = gguf.Reader(model).tensors["token_embd.weight"].shape[0]
    prompt = os.path.join(args.tmp, f"{args.name}.prompt")
    rng = np.random.default_rng(PROMPT_SEED)
    rng.integers(0, n_vocab, N_PROMPT).astype(np.int32).tofile(prompt)

    if args.mode == "torch":
        logits, ids = dump(args, model, prompt, "whole", [])
        r = subprocess.run([sys.executable, os.path.join(HERE, "torch_reference.py"),
                            model, prompt, logits, ids, "--tol", args.tol])
        return r.returncode
    if args.mode == "threads":
        a = dump(args, model, prompt, "t1", ["--threads", "1"])
        b = dump(args, model, prompt, "t2", ["--threads", "2"])
    else:
        a = dump(args, model, prompt, "whole", [])
        b = dump(args, model, prompt, "chunked", ["--chunks", "1,7,56"])
    ok = same_bytes(a[0], b[0]) and same_bytes(a[1], b[1])
    print(("identical" if ok else "FAIL: outputs differ") + f" ({args.mode})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
