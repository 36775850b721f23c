"""PyTorch reference for deepseek2 (MLA + MoE) and windowed llama/edgeformer
GGUF models, written from the DeepSeek-V2 equations (specs.md §1), not from
the library: reads the GGUF with tests/python/gguf.py, computes in float64
with the full (expanded) per-head keys and values, a causal mask and, for
window layers, the window/sink mask. Compares the prompt logits (max abs
error <= tol) and the greedy continuation (identical ids).

usage: mla_reference.py MODEL.gguf PROMPT.bin LOGITS.bin IDS.bin [--tol 1e-4]
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import gguf  # noqa: E402

DT = torch.float64


class Model:
    def __init__(self, path):
        r = gguf.Reader(path)
        kv = r.kv
        a = self.arch = kv["general.architecture"]
        g = lambda k, d=None: kv.get(f"{a}.{k}", d)  # noqa: E731
        self.n_embd = int(g("embedding_length"))
        self.n_layer = int(g("block_count"))
        self.n_head = int(g("attention.head_count"))
        self.n_head_kv = int(g("attention.head_count_kv", self.n_head))
        self.eps = float(g("attention.layer_norm_rms_epsilon"))
        self.base = float(g("rope.freq_base", 10000.0))
        self.attn_type = g("attention.type", "gqa")
        self.mla = a == "deepseek2" or self.attn_type in ("mla", "mla_window")
        self.n_rot = int(g("rope.dimension_count"))
        if self.mla:
            self.q_lora = int(g("attention.q_lora_rank", 0))
            self.kv_lora = int(g("attention.kv_lora_rank"))
            self.rope_dim = self.n_rot
            if g("attention.key_length_mla") is not None:
                self.nope = int(g("attention.key_length_mla")) - self.rope_dim
                self.v_dim = int(g("attention.value_length_mla"))
            else:
                self.nope = int(g("attention.key_length")) - self.rope_dim
                self.v_dim = int(g("attention.value_length"))
            self.head_dim = self.nope + self.rope_dim
        else:
            self.head_dim = int(g("attention.key_length", self.n_embd // self.n_head))
        # YaRN (DeepSeek): blended frequencies and mscale² on the score scale
        self.yarn = g("rope.scaling.type") == "yarn"
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.inv_freq = self.base ** (-torch.arange(0, self.n_rot, 2, dtype=DT) / self.n_rot)
        if self.yarn:
            factor = float(g("rope.scaling.factor"))
            orig = float(g("rope.scaling.original_context_length"))
            mscale_all_dim = float(g("rope.scaling.yarn_log_multiplier", 0.0)) / 0.1

            def corr_dim(n_rot_turns):
                return (self.n_rot * math.log(orig / (n_rot_turns * 2 * math.pi))) / (2 * math.log(self.base))
            low = max(math.floor(corr_dim(32)), 0)
            high = min(math.ceil(corr_dim(1)), self.n_rot - 1)
            if low == high:
                high += 0.001
            ramp = torch.clamp((torch.arange(self.n_rot // 2, dtype=DT) - low) / (high - low), 0, 1)
            smooth = 1 - ramp
            self.inv_freq = self.inv_freq / factor * (1 - smooth) + self.inv_freq * smooth
            if factor > 1 and mscale_all_dim:
                m = 0.1 * mscale_all_dim * math.log(factor) + 1.0
                self.scale *= m * m
        self.window = int(g("attention.sliding_window", 0))
        self.pattern = int(g("attention.sliding_window_pattern", 1))
        self.sinks = int(g("attention.sink_count", 0))
        self.n_expert = int(g("expert_count", 0))
        if self.n_expert:
            self.n_used = int(g("expert_used_count"))
            self.n_shared = int(g("expert_shared_count", 0))
            self.dense_lead = int(g("leading_dense_block_count", 0))
            self.w_scale = float(g("expert_weights_scale", 1.0))
            self.w_norm = bool(g("expert_weights_norm", False))
            self.sigmoid = int(g("expert_gating_func", 1)) == 2
        self.t = {k: torch.from_numpy(np.array(v)).to(DT) for k, v in r.tensors.items()}
        self.tok_embd = self.t["token_embd.weight"]
        self.output = self.t.get("output.weight", self.tok_embd)
        if "rope_freqs.weight" in self.t:
            self.inv_freq = self.inv_freq / self.t["rope_freqs.weight"]

    def w(self, il, name):
        return self.t.get(f"blk.{il}.{name}")

    def is_swa(self, il):
        if not self.window:
            return False
        return self.pattern == 1 or il % self.pattern < self.pattern - 1


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope_pairs(x, pos, inv_freq):
    """x: [T, H, D], adjacent pairs (x[2i], x[2i+1]) rotated by pos·inv_freq[i]."""
    n = inv_freq.shape[0] * 2
    th = pos.to(DT)[:, None] * inv_freq[None, :]
    c, s = torch.cos(th)[:, None, :], torch.sin(th)[:, None, :]
    a, b = x[..., 0:n:2], x[..., 1:n:2]
    out = torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)
    return torch.cat([out, x[..., n:]], dim=-1)


def mask_for(m, il, T):
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    ok = j <= i
    if m.is_swa(il):
        ok = ok & ((i - j < m.window) | (j < m.sinks))
    return torch.where(ok, torch.zeros((), dtype=DT), torch.full((), float("-inf"), dtype=DT))


def attention_mla(m, il, h, pos):
    T, H = h.shape[0], m.n_head
    if m.q_lora:
        q = rms_norm(h @ m.w(il, "attn_q_a.weight").T, m.w(il, "attn_q_a_norm.weight"), m.eps)
        q = q @ m.w(il, "attn_q_b.weight").T
    else:
        q = h @ m.w(il, "attn_q.weight").T
    q = q.view(T, H, m.nope + m.rope_dim)
    q_nope, q_pe = q[..., :m.nope], q[..., m.nope:]
    kv_a = h @ m.w(il, "attn_kv_a_mqa.weight").T
    c = rms_norm(kv_a[:, :m.kv_lora], m.w(il, "attn_kv_a_norm.weight"), m.eps)   # [T, kv_lora]
    k_pe = kv_a[:, m.kv_lora:].reshape(T, 1, m.rope_dim)
    kb = m.w(il, "attn_k_b.weight")
    if kb is not None:   # split: k_b [H, kv_lora, nope], v_b [H, v, kv_lora]
        k_nope = torch.einsum("tc,hcd->thd", c, kb)
        v = torch.einsum("tc,hjc->thj", c, m.w(il, "attn_v_b.weight"))
    else:                # legacy kv_b [H*(nope+v), kv_lora]
        kv = (c @ m.w(il, "attn_kv_b.weight").T).view(T, H, m.nope + m.v_dim)
        k_nope, v = kv[..., :m.nope], kv[..., m.nope:]
    q_pe = rope_pairs(q_pe, pos, m.inv_freq)
    k_pe = rope_pairs(k_pe, pos, m.inv_freq).expand(T, H, m.rope_dim)
    qf = torch.cat([q_nope, q_pe], -1)
    kf = torch.cat([k_nope, k_pe], -1)
    s = torch.einsum("thd,shd->hts", qf, kf) * m.scale + mask_for(m, il, T)
    o = torch.einsum("hts,shd->thd", torch.softmax(s, -1), v).reshape(T, H * m.v_dim)
    return o @ m.w(il, "attn_output.weight").T


def attention_gqa(m, il, h, pos):
    T, hd = h.shape[0], m.head_dim
    q = rope_pairs((h @ m.w(il, "attn_q.weight").T).view(T, m.n_head, hd), pos, m.inv_freq)
    k = rope_pairs((h @ m.w(il, "attn_k.weight").T).view(T, m.n_head_kv, hd), pos, m.inv_freq)
    v = (h @ m.w(il, "attn_v.weight").T).view(T, m.n_head_kv, hd)
    grp = m.n_head // m.n_head_kv
    k, v = k.repeat_interleave(grp, 1), v.repeat_interleave(grp, 1)
    s = torch.einsum("thd,shd->hts", q, k) * m.scale + mask_for(m, il, T)
    o = torch.einsum("hts,shd->thd", torch.softmax(s, -1), v).reshape(T, m.n_head * hd)
    return o @ m.w(il, "attn_output.weight").T


def swiglu(x, g, u, d):
    return (torch.nn.functional.silu(x @ g.T) * (x @ u.T)) @ d.T


def moe(m, il, h):
    logits = h @ m.w(il, "ffn_gate_inp.weight").T          # [T, E]
    probs = torch.sigmoid(logits) if m.sigmoid else torch.softmax(logits, -1)
    sel = probs + (m.w(il, "exp_probs_b.bias") if m.w(il, "exp_probs_b.bias") is not None else 0)
    idx = torch.topk(sel, m.n_used, dim=-1).indices          # [T, k]
    wts = probs.gather(-1, idx)
    if m.w_norm:
        wts = wts / wts.sum(-1, keepdim=True)
    wts = wts * m.w_scale
    G, U, D = (m.w(il, f"ffn_{n}_exps.weight") for n in ("gate", "up", "down"))
    out = torch.zeros_like(h)
    for t in range(h.shape[0]):
        for j in range(m.n_used):
            e = int(idx[t, j])
            out[t] += wts[t, j] * swiglu(h[t:t + 1], G[e], U[e], D[e])[0]
    if m.n_shared:
        out += swiglu(h, m.w(il, "ffn_gate_shexp.weight"), m.w(il, "ffn_up_shexp.weight"),
                      m.w(il, "ffn_down_shexp.weight"))
    return out


def forward(m, tokens):
    T = len(tokens)
    pos = torch.arange(T)
    x = m.tok_embd[torch.tensor(tokens, dtype=torch.long)]
    for il in range(m.n_layer):
        h = rms_norm(x, m.w(il, "attn_norm.weight"), m.eps)
        x = x + (attention_mla(m, il, h, pos) if m.mla else attention_gqa(m, il, h, pos))
        h = rms_norm(x, m.w(il, "ffn_norm.weight"), m.eps)
        if m.n_expert and il >= m.dense_lead:
            x = x + moe(m, il, h)
        else:
            x = x + swiglu(h, m.w(il, "ffn_gate.weight"), m.w(il, "ffn_up.weight"), m.w(il, "ffn_down.weight"))
    return rms_norm(x, m.t["output_norm.weight"], m.eps) @ m.output.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("prompt")
    ap.add_argument("logits")
    ap.add_argument("ids")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    m = Model(args.model)
    prompt = np.fromfile(args.prompt, dtype=np.int32).tolist()
    n_vocab = m.tok_embd.shape[0]
    got = np.fromfile(args.logits, dtype=np.float32).reshape(len(prompt), n_vocab)
    got_ids = np.fromfile(args.ids, dtype=np.int32).tolist()
    want = forward(m, prompt).numpy()
    err = float(np.max(np.abs(want - got.astype(np.float64))))
    print(f"{m.arch}/{m.attn_type if not m.mla or m.arch != 'deepseek2' else 'mla'}: {len(prompt)} tokens, "
          f"max |logit| {np.max(np.abs(want)):.3f}, max abs error {err:.3e} (tol {args.tol:g})")
    ok = err <= args.tol
    if not ok:
        print("FAIL: logits differ beyond the tolerance")
    seq, want_ids = list(prompt), []
    for _ in range(len(got_ids)):
        want_ids.append(int(torch.argmax(forward(m, seq)[-1])))
        seq.append(want_ids[-1])
    if want_ids != got_ids:
        first = next(i for i, (a, b) in enumerate(zip(want_ids, got_ids)) if a != b)
        print(f"FAIL: greedy ids differ from step {first}: want {want_ids} got {got_ids}")
        ok = False
    else:
        print(f"greedy {len(got_ids)} tokens identical")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
