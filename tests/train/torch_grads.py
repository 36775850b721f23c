"""Whole-model gradients of the C trainer against PyTorch autograd.

Runs train_grad_dump (a random tiny "edgeformer" model, one batch), then
rebuilds the same model in PyTorch (float64) from the exported GGUF — read
with tests/python/gguf.py, not the library — computes the mean
cross-entropy of the same batch and its gradients by autograd, and checks
every tensor: max |g_C - g_torch| / max |g_torch| <= 1e-4 (and the loss).

usage: torch_grads.py --dump PATH --tmp DIR --heads H --kv-heads K [--tied]
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import gguf  # noqa: E402

DT = torch.float64


def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope_norm(x, base):
    """x [B, T, H, hd]; rotates adjacent pairs (2i, 2i+1) by t * base^(-2i/hd)."""
    B, T, H, hd = x.shape
    i = torch.arange(hd // 2, dtype=DT)
    theta = torch.arange(T, dtype=DT)[:, None] * base ** (-2.0 * i / hd)  # [T, hd/2]
    c, s = torch.cos(theta)[None, :, None, :], torch.sin(theta)[None, :, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).reshape(B, T, H, hd)


def loss_of(p, kv, tokens, targets):
    a = "edgeformer"
    L = int(kv[f"{a}.block_count"])
    H = int(kv[f"{a}.attention.head_count"])
    KV = int(kv[f"{a}.attention.head_count_kv"])
    eps = float(kv[f"{a}.attention.layer_norm_rms_epsilon"])
    base = float(kv[f"{a}.rope.freq_base"])
    B, T = tokens.shape
    x = p["token_embd.weight"][tokens]  # [B, T, C]
    C = x.shape[-1]
    hd = C // H
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for il in range(L):
        w = lambda n: p[f"blk.{il}.{n}.weight"]  # noqa: E731
        xn = rms_norm(x, w("attn_norm"), eps)
        q = rope_norm((xn @ w("attn_q").T).view(B, T, H, hd), base)
        k = rope_norm((xn @ w("attn_k").T).view(B, T, KV, hd), base)
        v = (xn @ w("attn_v").T).view(B, T, KV, hd)
        k = k.repeat_interleave(H // KV, dim=2)  # query head h reads kv head h // (H/KV)
        v = v.repeat_interleave(H // KV, dim=2)
        s = torch.einsum("bthd,bshd->bhts", q, k) / hd ** 0.5
        att = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
        ctx = torch.einsum("bhts,bshd->bthd", att, v).reshape(B, T, H * hd)
        x = x + ctx @ w("attn_output").T
        xn = rms_norm(x, w("ffn_norm"), eps)
        g, u = xn @ w("ffn_gate").T, xn @ w("ffn_up").T
        x = x + (torch.nn.functional.silu(g) * u) @ w("ffn_down").T
    xn = rms_norm(x, p["output_norm.weight"], eps)
    out = p.get("output.weight", p["token_embd.weight"])
    logits = xn @ out.T
    return torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--kv-heads", type=int, required=True)
    ap.add_argument("--tied", action="store_true")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    subprocess.run([args.dump, args.tmp, str(args.heads), str(args.kv_heads),
                    "1" if args.tied else "0"], check=True)

    model = gguf.Reader(os.path.join(args.tmp, "model.gguf"))
    grads = gguf.Reader(os.path.join(args.tmp, "grads.gguf")).tensors
    p = {n: torch.tensor(np.array(t), dtype=DT, requires_grad=True) for n, t in model.tensors.items()}
    assert ("output.weight" in p) == (not args.tied)
    assert set(p) == set(grads), "gradient tensors differ from model tensors"
    B_T = np.fromfile(os.path.join(args.tmp, "tokens.bin"), dtype=np.int32)
    tg = np.fromfile(os.path.join(args.tmp, "targets.bin"), dtype=np.int32)
    T = int(model.kv["edgeformer.context_length"])
    tokens = torch.from_numpy(B_T.astype(np.int64)).view(-1, T)
    targets = torch.from_numpy(tg.astype(np.int64)).view(-1, T)

    loss = loss_of(p, model.kv, tokens, targets)
    loss.backward()
    c_loss = float(open(os.path.join(args.tmp, "loss.txt")).read())
    print(f"loss: C {c_loss:.7f}  torch {loss.item():.7f}")
    ok = abs(c_loss - loss.item()) <= 1e-5 * max(1.0, abs(loss.item()))
    worst = 0.0
    for name in sorted(p):
        ref = p[name].grad.numpy()
        got = np.array(grads[name], dtype=np.float64)
        scale = np.abs(ref).max()
        rel = np.abs(got - ref).max() / scale if scale > 0 else np.inf
        worst = max(worst, rel)
        flag = "" if rel <= args.tol else "   <-- FAIL"
        print(f"{name:28s} max|g| {scale:.3e}  rel err {rel:.2e}{flag}")
        ok = ok and rel <= args.tol and scale > 0
    print(f"worst relative error {worst:.2e} (tolerance {args.tol:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
