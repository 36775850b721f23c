"""Long-context benchmark: ~20M-parameter MHA / GQA / MLA / MLA+window models
(random weights, `edgeformer make-model`) at growing prompt lengths: prefill
time, decode tokens/s at that depth, the state's peak bytes (the library's own
counter), KV bytes and the process's peak RSS. Writes results.json,
results.md and PNG plots next to this file (or --out).

usage: /usr/bin/python3 run.py --build BUILD_DIR [--shape 20m|20m_8x32|125m]
       [--lengths 128,512,...] [--long-variants mla_window --long-lengths 32768]
       [--variants mha,gqa,mla,mla_window] [--threads 2] [--budget BYTES]
       [--mla-mode auto|absorbed|expanded] [--kernels 2048] [--timeout 600]
The defaults regenerate everything docs/benchmarks.md shows (~20M shape, 128..16K
tokens, 32K for the window variant, the kernel table); the tools (long_context.c,
attn_kernels.c) are compiled against BUILD_DIR/lib/libedgeformer_static.a.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# ~20M shape: d=256, 8 layers, 16 heads of 16 (DeepSeek-style: more, narrower
# heads, so MLA's latent of kv_lora = 4 x head_dim is small against the 2 x 16 x 16
# elements MHA caches per token; see docs/attention.md), SwiGLU 688, 32000-token
# vocabulary: ~22M parameters.
SHAPES = {
    "20m": {"common": ["--preset", "small", "--n-layer", "8", "--n-embd", "256", "--n-head", "16",
                       "--n-ff", "688", "--n-vocab", "32000", "--ctx", "65536", "--seed", "7"],
            "n_head": 16, "head_dim": 16, "rope": 16},
    # the shape of the first run (8 heads of 32, RoPE key 16), kept to compare against it
    "20m_8x32": {"common": ["--preset", "small", "--n-layer", "8", "--n-embd", "256", "--n-head", "8",
                            "--n-ff", "688", "--n-vocab", "32000", "--ctx", "65536", "--seed", "7"],
                 "n_head": 8, "head_dim": 32, "rope": 16},
    # ~125M: d=768, 12 layers, 48 heads of 16, SwiGLU 2048, 32000-token vocabulary
    "125m": {"common": ["--preset", "small", "--n-layer", "12", "--n-embd", "768", "--n-head", "48",
                        "--n-ff", "2048", "--n-vocab", "32000", "--ctx", "65536", "--seed", "7"],
             "n_head": 48, "head_dim": 16, "rope": 16},
}


def variants(shape):
    hd = SHAPES[shape]["head_dim"]
    h = SHAPES[shape]["n_head"]
    # MLA as DeepSeek-V2 sizes it: kv_lora = 4 x head_dim, nope and v heads of head_dim,
    # and a decoupled RoPE key shared by all heads
    mla = ["--kv-lora", str(4 * hd), "--qk-nope", str(hd), "--qk-rope", str(SHAPES[shape]["rope"]),
           "--v-head", str(hd)]
    return {
        "mha": ["--arch", "edgeformer", "--attn", "mha", "--n-head-kv", str(h)],
        "gqa": ["--arch", "edgeformer", "--attn", "gqa", "--n-head-kv", str(h // 4)],  # 4 query heads per group
        "mla": ["--arch", "edgeformer", "--attn", "mla"] + mla,
        "mla_window": ["--arch", "edgeformer", "--attn", "mla_window", "--window", "512", "--sinks", "4"] + mla,
    }


def build_tool(build):
    exe = os.path.join(build, "long_context")
    src = os.path.join(HERE, "long_context.c")
    cmd = ["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{ROOT}/lib", f"-I{ROOT}/backends",
           f"-I{ROOT}/include", src, os.path.join(build, "lib", "libedgeformer_static.a"),
           "-lm", "-lpthread", "-ldl", "-lpcre2-8", "-lcjson", "-lzstd", "-o", exe]
    subprocess.run(cmd, check=True)
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--lengths", default="128,512,1024,2048,4096,8192,16384")
    ap.add_argument("--long-variants", default="mla_window",
                    help="variants that also run --long-lengths (bounded memory: the window)")
    ap.add_argument("--long-lengths", default="32768")
    ap.add_argument("--kernels", type=int, default=2048,
                    help="also time the attention kernels alone at this many tokens (attn_kernels.c); 0: skip")
    ap.add_argument("--variants", default="mha,gqa,mla,mla_window")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--budget", default="0")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--shape", default="20m", choices=sorted(SHAPES))
    ap.add_argument("--mla-mode", default="auto", choices=["auto", "absorbed", "expanded"])
    ap.add_argument("--n-batch", default="512")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tool = build_tool(build)
    cli = os.path.join(build, "edgeformer")
    os.makedirs(args.out, exist_ok=True)
    results = {}
    load_before = os.getloadavg()
    for v in args.variants.split(","):
        model = os.path.join(build, f"long_context_{args.shape}_{v}.gguf")
        subprocess.run([cli, "make-model"] + variants(args.shape)[v] + SHAPES[args.shape]["common"] +
                       ["-o", model], check=True, stdout=subprocess.DEVNULL)
        results[v] = []
        lengths = args.lengths.split(",")
        if v in args.long_variants.split(",") and args.long_lengths:
            lengths += args.long_lengths.split(",")
        for n in [int(x) for x in lengths]:
            cmd = [tool, model, str(n), "--threads", args.threads, "--decode", "8", "--budget", args.budget,
                   "--mla-mode", args.mla_mode, "--n-batch", args.n_batch]
            try:
                r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=args.timeout)
                row = json.loads(r.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                row = {"n": n, "error": f"timeout {args.timeout:g} s"}
            print(v, json.dumps(row), flush=True)
            results[v].append(row)
            if "error" in row:
                break  # longer prompts take longer still
    kernels = run_kernels(build, args) if args.kernels > 0 else []
    suffix = "" if args.shape == "20m" else f"_{args.shape}"  # other shapes beside the main files
    with open(os.path.join(args.out, f"results{suffix}.json"), "w") as f:
        json.dump({"shape": args.shape, "mla_mode": args.mla_mode, "threads": args.threads,
                   "load_before": load_before, "load_after": os.getloadavg(), "variants": results,
                   "kernels": kernels}, f, indent=1)
    write_markdown(results, kernels, os.path.join(args.out, f"results{suffix}.md"))
    plot(results, os.path.join(args.out, f"long_context{suffix}.png"), args.shape)


def run_kernels(build, args):
    """The attention kernels alone (flash, tiled ef_cpu_attn_ext, reference), one JSON line per shape."""
    exe = os.path.join(build, "attn_kernels")
    subprocess.run(["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{ROOT}/lib", f"-I{ROOT}/backends",
                    f"-I{ROOT}/include", os.path.join(HERE, "attn_kernels.c"),
                    os.path.join(build, "lib", "libedgeformer_static.a"), "-lm", "-lpthread", "-ldl", "-lpcre2-8",
                    "-lcjson", "-lzstd", "-o", exe], check=True)
    # the plain-C reference only up to 2048 tokens: it is the slow one
    cmd = [exe, str(args.kernels), args.threads, str(min(args.kernels, 2048))]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, timeout=args.timeout).stdout
    except subprocess.TimeoutExpired as e:  # keep the shapes that finished
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    for row in rows:
        print("kernels", json.dumps(row), flush=True)
    return rows


def write_markdown(results, kernels, path):
    lines = ["| variant | tokens | prefill s | prefill CPU s | decode tok/s | KV MiB | state peak MiB | RSS MiB | chunk |",
             "|---|---|---|---|---|---|---|---|---|"]
    for v, rows in results.items():
        for r in rows:
            if "error" in r:
                lines.append(f"| {v} | {r['n']} | {r['error']} | | | | | | |")
                continue
            lines.append(f"| {v} | {r['n']} | {r['prefill_s']:.2f} | {r.get('prefill_cpu_s', -1):.2f} | "
                         f"{r['decode_tok_s']:.1f} | "
                         f"{r['kv_bytes'] / 2**20:.2f} | {r['peak_bytes'] / 2**20:.1f} | "
                         f"{r['maxrss'] / 2**20:.0f} | {r['chunk']} |")
    if kernels:
        lines += ["", f"Attention kernels alone, one prefill call of {kernels[0]['n']} tokens, "
                  f"{kernels[0]['threads']} threads (s; -1: not run or not applicable):", "",
                  "| shape | GFLOP | tiled | reference | flash |", "|---|---:|---:|---:|---:|"]
        for k in kernels:
            lines.append(f"| {k['shape']} | {k['gflop']:.1f} | {k['tiled_s']:.3f} | {k['ref_s']:.3f} | "
                         f"{k['flash_s']:.3f} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def plot(results, path, shape):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("prefill_s", "prefill time (s; dashed: process CPU s)"), ("decode_tok_s", "decode tokens/s at depth"),
              ("kv_bytes", "KV cache bytes"), ("peak_bytes", "state peak bytes (library counter)")]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (key, title) in zip(axes.flat, panels):
        for v, rows in results.items():
            ok = [r for r in rows if "error" not in r]
            if ok:
                line, = ax.plot([r["n"] for r in ok], [r[key] for r in ok], marker="o", label=v)
                if key == "prefill_s" and all("prefill_cpu_s" in r for r in ok):  # CPU time, dashed
                    ax.plot([r["n"] for r in ok], [r["prefill_cpu_s"] for r in ok], ls="--",
                            color=line.get_color(), label=f"{v} (CPU s)")
        ax.set_xscale("log", base=2)
        if key != "decode_tok_s":
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("prompt tokens")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"long context, {shape} random-weight models, F16 cache")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
