"""One MLA/MoE/window conformance test: make a random model, run mla_dump, check.

usage: run_mla_test.py --cli EDGEFORMER --dump MLA_DUMP --tmp DIR --name NAME
                       --mode MODE [--tol T] [--dump-args "..."] -- MAKE-MODEL-ARGS...
  torch:    logits and greedy ids against mla_reference.py (F32 cache)
  absorbed: the absorbed and expanded MLA paths agree (logits within tol, same ids)
  chunks:   the prompt in chunks 1+7+56 gives the same bits as in one call
            (with one MLA path forced: --dump-args "--mla-mode absorbed")
  chunks_auto: the same with the MLA path chosen per chunk (EF_MLA_AUTO):
            logits within --tol, the same greedy continuation
  threads:  1 and 2 threads give identical bits
  ring:     window layers with ring buffers (n_batch 8) give the same bits as
            a full cache with the window mask
"""
import argparse
import os
import shlex
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import gguf  # noqa: E402

N_PROMPT = 64
PROMPT_SEED = 4321


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    print(r.stdout, end="")
    if r.returncode != 0:
        sys.exit(f"FAIL: exit code {r.returncode} from {cmd[0]}")
    return r.stdout


def main():
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--mode", choices=["torch", "absorbed", "chunks", "chunks_auto", "threads", "ring"], required=True)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--dump-args", default="")
    ap.add_argument("--n-prompt", type=int, default=N_PROMPT)
    args = ap.parse_args(argv[:split])
    os.makedirs(args.tmp, exist_ok=True)
    model = os.path.join(args.tmp, f"{args.name}.gguf")
    run([args.cli, "make-model"] + argv[split + 1:] + ["-o", model])
    n_vocab = gguf.Reader(model).tensors["token_embd.weight"].shape[0]
    prompt = os.path.join(args.tmp, f"{args.name}.prompt")
    np.random.default_rng(PROMPT_SEED).integers(0, n_vocab, args.n_prompt).astype(np.int32).tofile(prompt)
    extra = shlex.split(args.dump_args)

    def dump(tag, more):
        lg = os.path.join(args.tmp, f"{args.name}.{tag}.logits")
        ids = os.path.join(args.tmp, f"{args.name}.{tag}.ids")
        run([args.dump, model, prompt, lg, ids] + extra + more)
        return lg, ids

    if args.mode == "torch":
        lg, ids = dump("whole", [])
        return subprocess.run([sys.executable, os.path.join(HERE, "mla_reference.py"), model, prompt, lg, ids,
                               "--tol", str(args.tol)]).returncode
    if args.mode == "absorbed":
        a = dump("absorbed", ["--mla-mode", "absorbed"])
        b = dump("expanded", ["--mla-mode", "expanded"])
        la, lb = np.fromfile(a[0], np.float32), np.fromfile(b[0], np.float32)
        err = float(np.max(np.abs(la - lb)))
        same_ids = np.array_equal(np.fromfile(a[1], np.int32), np.fromfile(b[1], np.int32))
        print(f"absorbed vs expanded: max abs error {err:.3e} (tol {args.tol:g}), ids {'equal' if same_ids else 'DIFFER'}")
        return 0 if err <= args.tol and same_ids else 1
    if args.mode == "chunks_auto":
        a = dump("whole", [])
        b = dump("chunks", ["--chunks", "1,7,56"])
        la, lb = np.fromfile(a[0], np.float32), np.fromfile(b[0], np.float32)
        err = float(np.max(np.abs(la - lb)))
        same_ids = np.array_equal(np.fromfile(a[1], np.int32), np.fromfile(b[1], np.int32))
        print(f"whole vs chunks (auto MLA path): max abs error {err:.3e} (tol {args.tol:g}), "
              f"ids {'equal' if same_ids else 'DIFFER'}")
        return 0 if err <= args.tol and same_ids else 1
    if args.mode == "ring":
        a = dump("ring", ["--n-batch", "8"])
        b = dump("full", ["--n-batch", "8", "--full-cache", "1"])
    else:
        a = dump("a", ["--threads", "1"] if args.mode == "threads" else [])
        b = dump("b", ["--threads", "2"] if args.mode == "threads" else ["--chunks", "1,7,56"])
    same = all(open(x, "rb").read() == open(y, "rb").read() for x, y in zip(a, b))
    print(("identical" if same else "FAIL: outputs differ") + f" ({args.mode})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
