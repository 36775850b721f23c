"""`edgeformer perplexity` against an independent computation.

The logits come from the PyTorch reference forward pass
(tests/model/torch_reference.py, float64, reading the GGUF with the test's own
reader); chunking, BOS replacement and scoring follow llama.cpp's perplexity
tool: chunks of n_ctx tokens, the first replaced by BOS when the model adds
BOS, logits rows first = n_ctx/2 .. n_ctx-2 scoring the next token, PPL =
exp(mean NLL) and error = PPL * sqrt(var(NLL) / (N - 1)).

usage: ppl_reference.py --cli EDGEFORMER --model M.gguf --text T.txt --ctx N [--chunks N]
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
sys.path.insert(0, HERE)
import torch_reference  # noqa: E402
from ppl_common import check, run_json  # noqa: E402


def reference(model, tokens, n_ctx, n_chunks, add_bos, bos, replace_bos=True, score_all=False):
    n_chunk = len(tokens) // n_ctx
    if n_chunks > 0:
        n_chunk = min(n_chunk, n_chunks)
    first = 0 if score_all else n_ctx // 2
    nlls, running = [], []
    for c in range(n_chunk):
        chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
        if add_bos and replace_bos:
            chunk[0] = bos
        logits = torch_reference.forward(model, chunk)                   # [n_ctx, n_vocab] float64
        logp = torch.log_softmax(logits, dim=-1)
        for j in range(first, n_ctx - 1):
            nlls.append(-float(logp[j, tokens[c * n_ctx + j + 1]]))
        running.append(math.exp(sum(nlls) / len(nlls)))
    nll = np.array(nlls)
    mean = nll.mean()
    var = (nll * nll).mean() - mean * mean
    ppl = math.exp(mean)
    return ppl, ppl * math.sqrt(var / (len(nll) - 1)), len(nll), n_chunk, running


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--ctx", type=int, required=True)
    ap.add_argument("--chunks", type=int, default=0)
    args = ap.parse_args()

    cmd = [args.cli, "perplexity", "-m", args.model, "-f", args.text, "--ctx", str(args.ctx), "--json",
           "--no-progress"]
    if args.chunks:
        cmd += ["--chunks", str(args.chunks)]
    got = run_json(cmd)

    # The tokens of the whole text as the model tokenizes it (BOS when it adds one).
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    tokens = run_json([args.cli, "tokenize", "-m", args.model, "-p", text, "--no-special", "--json"])["tokens"]
    m = torch_reference.Model(args.model)
    kv = torch_reference.gguf.Reader(args.model).kv
    add_bos = bool(kv.get("tokenizer.ggml.add_bos_token", False))
    bos = int(kv.get("tokenizer.ggml.bos_token_id", -1))
    print(f"{len(tokens)} tokens, add_bos={add_bos}, bos={bos}")

    ppl, err, n_scored, n_chunk, running = reference(m, tokens, args.ctx, args.chunks, add_bos, bos)
    print(f"reference PPL {ppl:.6f} +/- {err:.6f} over {n_scored} tokens in {n_chunk} chunks; "
          f"engine {got['ppl']:.6f} +/- {got['ppl_error']:.6f}")
    check(got["n_chunks"] == n_chunk, f"chunk count {got['n_chunks']} == {n_chunk}")
    check(got["n_scored"] == n_scored, f"scored tokens {got['n_scored']} == {n_scored}")
    check(got["n_tokens"] == len(tokens), "token count of the text")
    check(bool(got["add_bos"]) == add_bos, "add_bos as in the metadata")
    check(rel(got["ppl"], ppl) < 1e-3, f"PPL within 1e-3 relative (got {rel(got['ppl'], ppl):.2e})")
    check(rel(got["ppl_error"], err) < 1e-3, "PPL error estimate within 1e-3 relative")
    check(len(got["chunk_ppl"]) == n_chunk and all(rel(a, b) < 1e-3 for a, b in zip(got["chunk_ppl"], running)),
          "running PPL after each chunk")

    # The rules matter: scoring whole chunks (or keeping the first token when
    # BOS is due) gives a different number, so the check above can fail.
    alt = reference(m, tokens, args.ctx, args.chunks, add_bos, bos, score_all=True)[0]
    check(rel(alt, ppl) > 1e-3, "scoring every row would differ (the test discriminates)")
    if add_bos:
        alt = reference(m, tokens, args.ctx, args.chunks, add_bos, bos, replace_bos=False)[0]
        check(rel(alt, ppl) > 1e-6, "not replacing the first token by BOS would differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
