"""Whole-model gradients of the C trainer against PyTorch autograd.

Runs train_grad_dump (a random tiny "edgeformer" model, one batch), then
rebuilds the same model in PyTorch (float64) from the exported GGUF — read
with tests/python/gguf.py, not the library — computes the mean
cross-entropy of the same batch and its gradients by autograd, and checks
every tensor: max |g_C - g_torch| / max |g_torch| <= 1e-4 (and the loss).
The attention follows the GGUF's edgeformer.attention.* keys: mha/gqa, the
sliding window with sinks (a mask, per layer by the window pattern), and
MLA (deepseek2's split attn_k_b/attn_v_b layout, expanded per head).

usage: torch_grads.py --dump PATH --tmp DIR --heads H --kv-heads K [--tied]
                      [--set key=value,...]  (trainer settings for the dump)
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


def attn_mask(T, window, sinks):
    """True where query t must NOT see key s: the future, and with a window
    the positions t - s >= window that are not among the first `sinks`."""
    t = torch.arange(T)[:, None]
    s = torch.arange(T)[None, :]
    hidden = s > t
    if window > 0:
        hidden = hidden | ((t - s >= window) & (s >= sinks))
    return hidden


def gqa_qkv(w, xn, B, T, H, KV, hd, base):
    q = rope_norm((xn @ w("attn_q").T).view(B, T, H, hd), base)
    k = rope_norm((xn @ w("attn_k").T).view(B, T, KV, hd), base)
    v = (xn @ w("attn_v").T).view(B, T, KV, hd)
    k = k.repeat_interleave(H // KV, dim=2)  # query head h reads kv head h // (H/KV)
    v = v.repeat_interleave(H // KV, dim=2)
    return q, k, v


def mla_qkv(w, xn, B, T, H, kv, eps, base):
    """Expanded MLA: per-head keys [W_UK_h c_kv ; k_pe] and values W_UV_h c_kv."""
    a = "edgeformer"
    lat = int(kv[f"{a}.attention.kv_lora_rank"])
    rope = int(kv[f"{a}.rope.dimension_count"])
    dq = int(kv[f"{a}.attention.key_length_mla"])
    nope = dq - rope
    if f"{a}.attention.q_lora_rank" in kv:
        q = rms_norm(xn @ w("attn_q_a").T, w("attn_q_a_norm"), eps) @ w("attn_q_b").T
    else:
        q = xn @ w("attn_q").T
    q = q.view(B, T, H, dq)
    q = torch.cat((q[..., :nope], rope_norm(q[..., nope:], base)), dim=-1)
    kva = xn @ w("attn_kv_a_mqa").T  # [B, T, lat + rope]
    ckv = rms_norm(kva[..., :lat], w("attn_kv_a_norm"), eps)
    kpe = rope_norm(kva[..., lat:].reshape(B, T, 1, rope), base)
    # attn_k_b: GGUF {nope, lat, H} = torch [H, lat, nope]; attn_v_b {lat, v, H} = [H, v, lat]
    k_nope = torch.einsum("btr,hri->bthi", ckv, w("attn_k_b"))
    k = torch.cat((k_nope, kpe.expand(B, T, H, rope)), dim=-1)
    v = torch.einsum("btr,hjr->bthj", ckv, w("attn_v_b"))
    return q, k, v


def loss_of(p, kv, tokens, targets):
    a = "edgeformer"
    L = int(kv[f"{a}.block_count"])
    H = int(kv[f"{a}.attention.head_count"])
    KV = int(kv[f"{a}.attention.head_count_kv"])
    eps = float(kv[f"{a}.attention.layer_norm_rms_epsilon"])
    base = float(kv[f"{a}.rope.freq_base"])
    atype = str(kv.get(f"{a}.attention.type", "gqa"))
    window = int(kv.get(f"{a}.attention.sliding_window", 0))
    pattern = int(kv.get(f"{a}.attention.sliding_window_pattern", 1))
    sinks = int(kv.get(f"{a}.attention.sink_count", 0))
    assert window > 0 or not atype.endswith("_window")
    B, T = tokens.shape
    x = p["token_embd.weight"][tokens]  # [B, T, C]
    C = x.shape[-1]
    hd = C // H
    for il in range(L):
        w = lambda n: p[f"blk.{il}.{n}.weight"]  # noqa: E731
        # the engine's rule: layer il is windowed iff pattern 1 or il % p < p - 1
        windowed = window > 0 and (pattern == 1 or il % pattern < pattern - 1)
        mask = attn_mask(T, window if windowed else 0, sinks)
        xn = rms_norm(x, w("attn_norm"), eps)
        if atype.startswith("mla"):
            q, k, v = mla_qkv(w, xn, B, T, H, kv, eps, base)
        else:
            q, k, v = gqa_qkv(w, xn, B, T, H, KV, hd, base)
        s = torch.einsum("bthd,bshd->bhts", q, k) / q.shape[-1] ** 0.5
        att = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
        ctx = torch.einsum("bhts,bshd->bthd", att, v).reshape(B, T, -1)
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
    ap.add_argument("--set", default="", help="trainer settings for the dump, key=value,...")
    args = ap.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    cmd = [args.dump, args.tmp, str(args.heads), str(args.kv_heads), "1" if args.tied else "0"]
    if args.set:
        cmd.append(args.set)
    subprocess.run(cmd, check=True)

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
