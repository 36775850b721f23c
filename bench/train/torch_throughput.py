"""Training throughput of PyTorch (Debian's python3-torch, float32, CPU) on
the same model as bench/train/train_throughput.c: the "edgeformer" demo
shape — token embedding, per layer RMSNorm → GQA attention with NORM RoPE →
RMSNorm → SwiGLU, final RMSNorm, tied output — with the same batch, sequence,
vocabulary size, thread count and optimizer (AdamW with weight decay 0.1 on
matrices, gradient clipping at 1.0). `warmup` untimed steps, then `steps`
timed ones; prints one line in the C program's format.

amp=1 runs the forward and the loss under torch.autocast("cpu",
dtype=torch.bfloat16) — PyTorch's own mixed precision on the CPU: the
matrix products (linear layers, the attention's) take bfloat16 operands,
while the weights, their gradients and the optimizer stay float32; the
backward runs outside the context, as usual — the counterpart of the C
trainer's precision=bf16. The impl= field then ends in "-bf16autocast".

usage: torch_throughput.py [key=value ...]  (vocab dim layers heads kv_heads
       ff seq batch threads steps warmup amp)
"""
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F


def rms_norm(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_tables(T, hd, base=10000.0):
    i = torch.arange(hd // 2, dtype=torch.float64)
    theta = torch.arange(T, dtype=torch.float64)[:, None] * base ** (-2.0 * i / hd)
    return torch.cos(theta).float(), torch.sin(theta).float()  # [T, hd/2]


def rope(x, cos, sin):
    """x [B, T, H, hd], adjacent pairs rotated (the engine's NORM mode)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


class Model(torch.nn.Module):
    def __init__(self, V, C, L, H, KV, Fd, T):
        super().__init__()
        self.H, self.KV, self.hd = H, KV, C // H
        p = torch.nn.Parameter
        self.tok = p(torch.randn(V, C) * 0.02)
        self.layers = torch.nn.ParameterList()
        std_proj = 0.02 / math.sqrt(2 * L)
        for _ in range(L):
            self.layers.extend([
                p(torch.ones(C)),                           # attn_norm
                p(torch.randn(H * self.hd, C) * 0.02),      # attn_q
                p(torch.randn(KV * self.hd, C) * 0.02),     # attn_k
                p(torch.randn(KV * self.hd, C) * 0.02),     # attn_v
                p(torch.randn(C, H * self.hd) * std_proj),  # attn_output
                p(torch.ones(C)),                           # ffn_norm
                p(torch.randn(Fd, C) * 0.02),               # ffn_gate
                p(torch.randn(Fd, C) * 0.02),               # ffn_up
                p(torch.randn(C, Fd) * std_proj),           # ffn_down
            ])
        self.out_norm = p(torch.ones(C))
        cos, sin = rope_tables(T, self.hd)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        self.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), 1))

    def forward(self, tokens, targets):
        B, T = tokens.shape
        H, KV, hd = self.H, self.KV, self.hd
        x = self.tok[tokens]  # [B, T, C]
        ps = list(self.layers)
        for i in range(0, len(ps), 9):
            an, wq, wk, wv, wo, fn, wg, wu, wd = ps[i:i + 9]
            xn = rms_norm(x, an)
            q = rope((xn @ wq.T).view(B, T, H, hd), self.cos, self.sin).transpose(1, 2)
            k = rope((xn @ wk.T).view(B, T, KV, hd), self.cos, self.sin).transpose(1, 2)
            v = (xn @ wv.T).view(B, T, KV, hd).transpose(1, 2)
            k = k.repeat_interleave(H // KV, dim=1)  # [B, H, T, hd]
            v = v.repeat_interleave(H // KV, dim=1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
            att = torch.softmax(s.masked_fill(self.mask, float("-inf")), dim=-1)
            x = x + (att @ v).transpose(1, 2).reshape(B, T, H * hd) @ wo.T
            xn = rms_norm(x, fn)
            x = x + (F.silu(xn @ wg.T) * (xn @ wu.T)) @ wd.T
        logits = rms_norm(x, self.out_norm) @ self.tok.T  # tied output
        return F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1))


def main():
    cfg = dict(vocab=4096, dim=256, layers=6, heads=8, kv_heads=4, ff=768, seq=128, batch=8,
               threads=2, steps=5, warmup=2, amp=0)
    for arg in sys.argv[1:]:
        k, v = arg.split("=", 1)
        if k not in cfg:
            sys.exit(f"torch_throughput: unknown setting '{k}'")
        cfg[k] = int(v)
    if cfg["amp"] not in (0, 1):
        sys.exit("torch_throughput: amp must be 0 or 1")
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(1234)
    m = Model(cfg["vocab"], cfg["dim"], cfg["layers"], cfg["heads"], cfg["kv_heads"], cfg["ff"],
              cfg["seq"])
    decay = [p for p in m.parameters() if p.dim() > 1]
    no_decay = [p for p in m.parameters() if p.dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    B, T, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    gen = torch.Generator().manual_seed(1)

    def step():
        data = torch.randint(0, V, (B, T + 1), generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(cfg["amp"])):
            loss = m(data[:, :-1], data[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(cfg["warmup"]):
        step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(cfg["steps"]):
        loss = step()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    n_params = sum(p.numel() for p in m.parameters())
    impl = f"pytorch-{torch.__version__}" + ("-bf16autocast" if cfg["amp"] else "")
    print(f"impl={impl} tokens_per_s={B * T * cfg['steps'] / dt:.1f} "
          f"step_ms={1e3 * dt / cfg['steps']:.1f} cpu_ms_per_step={1e3 * dc / cfg['steps']:.1f} "
          f"peak_rss_mib={rss:.1f} params={n_params} "
          f"loss={loss:.4f}")


if __name__ == "__main__":
    main()
