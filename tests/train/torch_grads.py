"""Whole-model gradients of the C trainer against PyTorch autograd.

Runs train_grad_dump (a random tiny "edgeformer" model, one batch), then
rebuilds the same model in PyTorch (float64) from the exported GGUF — read
with tests/python/gguf.py, not the library — computes the mean
cross-entropy of the same batch and its gradients by autograd, and checks
every tensor: max |g_C - g_torch| / max |g_torch| <= 1e-4 (and the loss).
The attention follows the GGUF's edgeformer.attention.* keys: mha/gqa, the
sliding window with sinks (a mask, per layer by the window pattern), and
MLA (deepseek2's split attn_k_b/attn_v_b layout, expanded per head).

precision=bf16 in --set (the trainer's mixed precision): torch then
emulates the trainer's rounding. Every projection product x·Wᵀ — attn_q/k/v,
attn_output, ffn_gate/up/down, MLA's attn_q_a, attn_q_b, attn_kv_a_mqa,
attn_k_b (as W_UKᵀ) and attn_v_b, and the output layer (tied token_embd or
output) — runs as BF16Proj: y = r(x)·r(W)ᵀ, dx = r(dy)·r(W),
dW = r(dy)ᵀ·r(x), r(t) = t to F32, denormals to 0, to bfloat16 by
round-to-nearest-even. The attention's own products run as BF16Matmul,
s = r(q)·r(k)ᵀ (then scaled) and ctx = r(p)·r(v), with the gradients
r(ds)·r(k), r(ds)ᵀ·r(q), r(dctx)·r(v)ᵀ and r(p)ᵀ·r(dctx), as the trainer's
attention GEMMs round them (train_attention.c); the softmax and its
backward read the unrounded p. The norms, RoPE, SwiGLU, the embedding
lookup and the loss stay unrounded, as in the trainer.

The bf16 bounds. The emulation cannot be exact: the C side rounds its F32
activations and gradients, torch rounds float64 ones cast to F32, and the
two F32 values differ by a few ulps, so now and then a value within those
ulps of a bfloat16 midpoint rounds the other way ("a flip", a change of one
bfloat16 ulp, 2^-8..2^-7 relative, of one element). With only B·T = 24
tokens one flip in a large element moves whole gradients: nudging the F32
operands of the emulation itself by 2 F32 ulps moves its gradients by up to
1.4e-3. Measured on 5 variants (gqa, mha untied, mla, gqa window + sinks,
mla + q_lora + window) × seeds 1..20 on an AVX-512 BF16 machine (and 12 seeds
with EF_CPU_SIMD=avx2, the F32 kernels on rounded operands: same worsts): the worst
per-tensor max relative error is below 1e-5 in about half the runs (about
1e-7 without a flip) but reaches 3.15e-3 (15 runs of 100 above 8.9e-4); the
root mean square over tensors of ||g_C - g_torch||_F / ||g_torch||_F
reaches 6.3e-4; the loss differs by at most 1.1e-6 relative. The bounds,
about 3x those worsts since another machine's kernels flip other values:
max relative error per tensor <= 1e-2, rms Frobenius <= 2e-3, loss 1e-5.
Remeasured after the attention's products were rounded too (5 variants
× seeds 2..9, AVX512_BF16 kernels): worst per-tensor 1.7e-3, median
4.5e-7, worst rms Frobenius 1.9e-4 — within the same bounds.
The emulation must matter: against torch WITHOUT the rounding the C
gradients are 2.8e-3..1.4e-2 off (rms Frobenius), so the test also
requires them to be more than UNROUNDED_FACTOR = 2 times farther (rms
Frobenius) from the unrounded gradients than from the emulation: measured
at least 4.8x, typically 1e4x. A C side that did not round at all (the
dump without precision=bf16, checked against this emulation) gives rms
Frobenius 3.2e-3..4.3e-3 (> 2e-3) and a ratio near 1e-4, and fails both;
its per-tensor max, 7e-3..1e-2, shows why that bound alone would not do.
The flips limit what a single run can resolve: a bug confined to one
product's rounding can stay within these bounds.

usage: torch_grads.py --dump PATH --tmp DIR --heads H --kv-heads K [--tied]
                      [--set key=value,...]  (trainer settings for the dump;
                      precision=bf16 selects the emulation) [--tol T]
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
TOL_F32 = 1e-4          # max relative error per tensor, precision f32
LOSS_TOL_F32 = 1e-5     # relative loss error, precision f32
# precision bf16 (the module docstring says why and what was measured)
TOL_BF16 = 1e-2         # max relative error per tensor
FRO_TOL_BF16 = 2e-3     # rms over tensors of the relative Frobenius error
LOSS_TOL_BF16 = 1e-5    # relative loss error
UNROUNDED_FACTOR = 2.0  # rms Frobenius error against unrounded torch / against the emulation


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


def exact_proj(x, W):
    return x @ W.T


def bf16_round(t):
    """t as the C side rounds a GEMM operand: to F32 (the C side's value),
    a denormal to 0, then to bfloat16 by round-to-nearest-even (torch's
    float -> bfloat16 conversion), back to float64."""
    f = t.detach().float()
    f = torch.where(f.abs() < 2.0 ** -126, torch.zeros_like(f), f)
    return f.bfloat16().to(DT)


class BF16Proj(torch.autograd.Function):
    """y = round(x)·round(W)ᵀ; dx = round(dy)·round(W), dW = round(dy)ᵀ·round(x)
    (summed over all leading dims): the trainer's projection GEMM in
    precision=bf16 (lib/train/train_layers.c, backends/cpu/matmul_grad.h),
    with float64 sums in place of its F32 ones."""

    @staticmethod
    def forward(ctx, x, W):
        xr, wr = bf16_round(x), bf16_round(W)
        ctx.save_for_backward(xr, wr)
        return xr @ wr.T

    @staticmethod
    def backward(ctx, dy):
        xr, wr = ctx.saved_tensors
        dyr = bf16_round(dy)
        dx = dyr @ wr
        dW = dyr.reshape(-1, dyr.shape[-1]).T @ xr.reshape(-1, xr.shape[-1])
        return dx, dW


def bf16_proj(x, W):
    return BF16Proj.apply(x, W)


class BF16Matmul(torch.autograd.Function):
    """c = round(a)·round(b) over the last two dims; da = round(dc)·round(b)ᵀ,
    db = round(a)ᵀ·round(dc): the attention's products in precision=bf16."""

    @staticmethod
    def forward(ctx, a, b):
        ar, br = bf16_round(a), bf16_round(b)
        ctx.save_for_backward(ar, br)
        return ar @ br

    @staticmethod
    def backward(ctx, dc):
        ar, br = ctx.saved_tensors
        dcr = bf16_round(dc)
        return dcr @ br.transpose(-1, -2), ar.transpose(-1, -2) @ dcr


def exact_matmul(a, b):
    return a @ b


def bf16_matmul(a, b):
    return BF16Matmul.apply(a, b)


def gqa_qkv(proj, w, xn, B, T, H, KV, hd, base):
    q = rope_norm(proj(xn, w("attn_q")).view(B, T, H, hd), base)
    k = rope_norm(proj(xn, w("attn_k")).view(B, T, KV, hd), base)
    v = proj(xn, w("attn_v")).view(B, T, KV, hd)
    k = k.repeat_interleave(H // KV, dim=2)  # query head h reads kv head h // (H/KV)
    v = v.repeat_interleave(H // KV, dim=2)
    return q, k, v


def mla_qkv(proj, w, xn, B, T, H, kv, eps, base):
    """Expanded MLA: per-head keys [W_UK_h c_kv ; k_pe] and values W_UV_h c_kv.
    Every product here is a projection of the trainer (train_mla.c), so all
    go through proj: W_UK as the [H·nope, lat] matrix W_UKᵀ it builds."""
    a = "edgeformer"
    lat = int(kv[f"{a}.attention.kv_lora_rank"])
    rope = int(kv[f"{a}.rope.dimension_count"])
    dq = int(kv[f"{a}.attention.key_length_mla"])
    nope = dq - rope
    if f"{a}.attention.q_lora_rank" in kv:
        q = proj(rms_norm(proj(xn, w("attn_q_a")), w("attn_q_a_norm"), eps), w("attn_q_b"))
    else:
        q = proj(xn, w("attn_q"))
    q = q.view(B, T, H, dq)
    q = torch.cat((q[..., :nope], rope_norm(q[..., nope:], base)), dim=-1)
    kva = proj(xn, w("attn_kv_a_mqa"))  # [B, T, lat + rope]
    ckv = rms_norm(kva[..., :lat], w("attn_kv_a_norm"), eps)
    kpe = rope_norm(kva[..., lat:].reshape(B, T, 1, rope), base)
    # attn_k_b: GGUF {nope, lat, H} = torch [H, lat, nope]; attn_v_b {lat, v, H} = [H, v, lat]
    wkb, wvb = w("attn_k_b"), w("attn_v_b")
    k_nope = proj(ckv, wkb.permute(0, 2, 1).reshape(H * nope, lat)).view(B, T, H, nope)
    k = torch.cat((k_nope, kpe.expand(B, T, H, rope)), dim=-1)
    v = proj(ckv, wvb.reshape(H * wvb.shape[1], lat)).view(B, T, H, -1)
    return q, k, v


def loss_of(p, kv, tokens, targets, proj, matmul):
    """The mean cross-entropy; proj(x, W) = x·Wᵀ runs every projection with
    a weight matrix, matmul(a, b) = a·b the attention's q·kᵀ and p·v."""
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
            q, k, v = mla_qkv(proj, w, xn, B, T, H, kv, eps, base)
        else:
            q, k, v = gqa_qkv(proj, w, xn, B, T, H, KV, hd, base)
        s = matmul(q.permute(0, 2, 1, 3), k.permute(0, 2, 3, 1)) / q.shape[-1] ** 0.5  # [B, H, T, T]
        att = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
        ctx = matmul(att, v.permute(0, 2, 1, 3)).permute(0, 2, 1, 3).reshape(B, T, -1)
        x = x + proj(ctx, w("attn_output"))
        xn = rms_norm(x, w("ffn_norm"), eps)
        g, u = proj(xn, w("ffn_gate")), proj(xn, w("ffn_up"))
        x = x + proj(torch.nn.functional.silu(g) * u, w("ffn_down"))
    xn = rms_norm(x, p["output_norm.weight"], eps)
    out = p.get("output.weight", p["token_embd.weight"])
    logits = proj(xn, out)
    return torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1))


def torch_grads(model, tokens, targets, proj, matmul):
    """The loss and every tensor's gradient by autograd, in float64."""
    p = {n: torch.tensor(np.array(t), dtype=DT, requires_grad=True) for n, t in model.tensors.items()}
    loss = loss_of(p, model.kv, tokens, targets, proj, matmul)
    loss.backward()
    return loss.item(), {n: t.grad.numpy() for n, t in p.items()}


def rel_errors(grads, ref):
    """name -> max |g_C - g_ref| / max |g_ref| (inf where g_ref is 0), max |g_ref|."""
    out = {}
    for name in sorted(ref):
        got = np.array(grads[name], dtype=np.float64)
        scale = np.abs(ref[name]).max()
        out[name] = (np.abs(got - ref[name]).max() / scale if scale > 0 else np.inf, scale)
    return out


def rms_rel_error(grads, ref):
    """The root mean square over tensors of ||g_C - g_ref||_F / ||g_ref||_F."""
    e = [np.linalg.norm(np.array(grads[n], dtype=np.float64) - ref[n]) / np.linalg.norm(ref[n]) for n in ref]
    return float(np.sqrt(np.mean(np.square(e))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--kv-heads", type=int, required=True)
    ap.add_argument("--tied", action="store_true")
    ap.add_argument("--tol", type=float, default=None,
                    help=f"max relative error (default {TOL_F32:g}, with precision=bf16 {TOL_BF16:g})")
    ap.add_argument("--set", default="", help="trainer settings for the dump, key=value,...")
    args = ap.parse_args()
    settings = dict(kv.split("=", 1) for kv in args.set.split(",") if kv)
    bf16 = settings.get("precision", "f32") == "bf16"
    tol = args.tol if args.tol is not None else (TOL_BF16 if bf16 else TOL_F32)
    loss_tol = LOSS_TOL_BF16 if bf16 else LOSS_TOL_F32
    os.makedirs(args.tmp, exist_ok=True)
    cmd = [args.dump, args.tmp, str(args.heads), str(args.kv_heads), "1" if args.tied else "0"]
    if args.set:
        cmd.append(args.set)
    subprocess.run(cmd, check=True)

    model = gguf.Reader(os.path.join(args.tmp, "model.gguf"))
    grads = gguf.Reader(os.path.join(args.tmp, "grads.gguf")).tensors
    assert ("output.weight" in model.tensors) == (not args.tied)
    assert set(model.tensors) == set(grads), "gradient tensors differ from model tensors"
    B_T = np.fromfile(os.path.join(args.tmp, "tokens.bin"), dtype=np.int32)
    tg = np.fromfile(os.path.join(args.tmp, "targets.bin"), dtype=np.int32)
    T = int(model.kv["edgeformer.context_length"])
    tokens = torch.from_numpy(B_T.astype(np.int64)).view(-1, T)
    targets = torch.from_numpy(tg.astype(np.int64)).view(-1, T)

    loss, ref = torch_grads(model, tokens, targets, bf16_proj if bf16 else exact_proj,
                            bf16_matmul if bf16 else exact_matmul)
    c_loss = float(open(os.path.join(args.tmp, "loss.txt")).read())
    mode = "bf16 emulation" if bf16 else "exact"
    print(f"precision {'bf16' if bf16 else 'f32'}: loss C {c_loss:.7f}  torch ({mode}) {loss:.7f}")
    ok = abs(c_loss - loss) <= loss_tol * max(1.0, abs(loss))
    if not ok:
        print(f"loss differs by more than {loss_tol:g} (relative)   <-- FAIL")
    errs = rel_errors(grads, ref)
    if bf16:
        unrounded = torch_grads(model, tokens, targets, exact_proj, exact_matmul)[1]
        exact = rel_errors(grads, unrounded)
    else:
        exact = None
    worst = worst_exact = 0.0
    for name, (rel, scale) in errs.items():
        worst = max(worst, rel)
        flag = "" if rel <= tol else "   <-- FAIL"
        more = ""
        if exact:
            worst_exact = max(worst_exact, exact[name][0])
            more = f"  (vs unrounded {exact[name][0]:.2e})"
        print(f"{name:28s} max|g| {scale:.3e}  rel err {rel:.2e}{more}{flag}")
        ok = ok and rel <= tol and scale > 0
    print(f"worst relative error {worst:.2e} (tolerance {tol:g})")
    if bf16:
        med = float(np.median([e for e, _ in errs.values()]))
        med_exact = float(np.median([e for e, _ in exact.values()]))
        print(f"median relative error {med:.2e}, against unrounded {med_exact:.2e}")
        fro, fro_exact = rms_rel_error(grads, ref), rms_rel_error(grads, unrounded)
        fro_ok = fro <= FRO_TOL_BF16
        print(f"rms Frobenius relative error {fro:.2e} (tolerance {FRO_TOL_BF16:g})"
              f"{'' if fro_ok else '   <-- FAIL'}")
        # the emulation must matter: the C gradients are much nearer to it
        # than to unrounded torch, so a C side that did not round fails
        far = fro_exact > UNROUNDED_FACTOR * fro
        print(f"worst relative error against torch WITHOUT the bf16 rounding {worst_exact:.2e}; "
              f"rms Frobenius {fro_exact:.2e} = {fro_exact / max(fro, 1e-300):.1f} x the emulation's "
              f"(must exceed {UNROUNDED_FACTOR:g} x){'' if far else '   <-- FAIL'}")
        ok = ok and fro_ok and far
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
