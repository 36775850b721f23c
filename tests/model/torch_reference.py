"""PyTorch reference forward pass for llama/qwen2 GGUF models.

Reads the model with tests/python/gguf.py (independent of the library's own
reader), runs the transformer in float64 from the file's weights (F16/BF16
dequantized exactly as stored), and compares with what dump_logits wrote:
prompt logits (max abs error <= tol) and a 32-token greedy continuation
(identical ids). Prints the max error; exits non-zero on mismatch.

usage: torch_reference.py MODEL.gguf PROMPT.bin LOGITS.bin IDS.bin [--tol 1e-4]
"""
import argparse
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
        self.arch = kv["general.architecture"]
        a = self.arch
        self.n_embd = int(kv[f"{a}.embedding_length"])
        self.n_layer = int(kv[f"{a}.block_count"])
        self.n_head = int(kv[f"{a}.attention.head_count"])
        self.n_head_kv = int(kv.get(f"{a}.attention.head_count_kv", self.n_head))
        self.head_dim = int(kv.get(f"{a}.attention.key_length", self.n_embd // self.n_head))
        self.n_rot = int(kv.get(f"{a}.rope.dimension_count", self.head_dim))
        self.eps = float(kv[f"{a}.attention.layer_norm_rms_epsilon"])
        self.base = float(kv.get(f"{a}.rope.freq_base", 10000.0))
        self.freq_scale = 1.0
        if kv.get(f"{a}.rope.scaling.type") == "linear":
            self.freq_scale = 1.0 / float(kv[f"{a}.rope.scaling.factor"])
        self.neox = a == "qwen2"
        t = {k: (torch.from_numpy(np.array(v)).to(DT) if v is not None else None)
             for k, v in r.tensors.items()}
        self.t = t
        self.tok_embd = t["token_embd.weight"]            # [n_vocab, n_embd]
        self.output = t.get("output.weight", self.tok_embd)  # tied when absent
        self.rope_factors = t.get("rope_freqs.weight")    # [n_rot/2] or None
        self.n_vocab = self.tok_embd.shape[0]

    def w(self, il, name):
        return self.t.get(f"blk.{il}.{name}")


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope(x, pos, m):
    """x: [T, H, D]; rotates the first n_rot dims of each head."""
    half = m.n_rot // 2
    i = torch.arange(half, dtype=DT)
    inv_freq = m.base ** (-2.0 * i / m.n_rot)
    if m.rope_factors is not None:
        inv_freq = inv_freq / m.rope_factors
    theta = (pos.to(DT) * m.freq_scale)[:, None] * inv_freq[None, :]   # [T, half]
    cos, sin = torch.cos(theta)[:, None, :], torch.sin(theta)[:, None, :]
    rot, rest = x[..., :m.n_rot], x[..., m.n_rot:]
    if m.neox:
        a, b = rot[..., :half], rot[..., half:]
        out = torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)
    else:
        a, b = rot[..., 0::2], rot[..., 1::2]
        out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
    return torch.cat([out, rest], dim=-1)


def forward(m, tokens):
    """tokens: list of ids -> logits [T, n_vocab] (float64)."""
    T = len(tokens)
    pos = torch.arange(T)
    x = m.tok_embd[torch.tensor(tokens, dtype=torch.long)]       # [T, n_embd]
    mask = torch.full((T, T), float("-inf"), dtype=DT).triu(1)  # causal
    group = m.n_head // m.n_head_kv
    hd = m.head_dim
    for il in range(m.n_layer):
        h = rms_norm(x, m.w(il, "attn_norm.weight"), m.eps)
        q = h @ m.w(il, "attn_q.weight").T
        k = h @ m.w(il, "attn_k.weight").T
        v = h @ m.w(il, "attn_v.weight").T
        if m.arch == "qwen2":
            q = q + m.w(il, "attn_q.bias")
            k = k + m.w(il, "attn_k.bias")
            v = v + m.w(il, "attn_v.bias")
        q = rope(q.view(T, m.n_head, hd), pos, m)
        k = rope(k.view(T, m.n_head_kv, hd), pos, m)
        v = v.view(T, m.n_head_kv, hd)
        k = k.repeat_interleave(group, dim=1)                     # [T, n_head, hd]
        v = v.repeat_interleave(group, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        att = torch.softmax(scores, dim=-1)
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, m.n_head * hd)
        x = x + o @ m.w(il, "attn_output.weight").T
        h = rms_norm(x, m.w(il, "ffn_norm.weight"), m.eps)
        g = h @ m.w(il, "ffn_gate.weight").T
        u = h @ m.w(il, "ffn_up.weight").T
        x = x + (torch.nn.functional.silu(g) * u) @ m.w(il, "ffn_down.weight").T
    x = rms_norm(x, m.t["output_norm.weight"], m.eps)
    return x @ m.output.T


def greedy(m, prompt, n):
    seq = list(prompt)
    out = []
    for _ in range(n):
        nxt = int(torch.argmax(forward(m, seq)[-1]))
        out.append(nxt)
        seq.append(nxt)
    return out


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
    got = np.fromfile(args.logits, dtype=np.float32).reshape(len(prompt), m.n_vocab)
    got_ids = np.fromfile(args.ids, dtype=np.int32).tolist()

    want = forward(m, prompt).numpy()
    err = float(np.max(np.abs(want - got.astype(np.float64))))
    scale = float(np.max(np.abs(want)))
    print(f"{m.arch}: {len(prompt)} tokens, max |logit| {scale:.3f}, max abs error {err:.3e} (tol {args.tol:g})")
    ok = err <= args.tol
    if not ok:
        print("FAIL: logits differ beyond the tolerance")
    want_ids = greedy(m, prompt, len(got_ids))
    if want_ids != got_ids:
        first = next(i for i, (a, b) in enumerate(zip(want_ids, got_ids)) if a != b)
        print(f"FAIL: greedy ids differ from step {first}: want {want_ids} got {got_ids}")
        ok = False
    else:
        print(f"greedy {len(got_ids)} tokens identical")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
