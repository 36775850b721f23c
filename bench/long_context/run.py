"""Long-context benchmark: ~20M-parameter MHA / GQA / MLA / MLA+window models
(random weights, `edgeformer make-model`) at growing prompt lengths: prefill
time, decode tokens/s at that depth, the state's peak bytes (the library's own
counter), KV bytes and the process's peak RSS. Writes results.json,
results.md and PNG plots next to this file (or --out).

usage: /usr/bin/python3 run.py --build BUILD_DIR [--lengths 128,512,...]
       [--variants mha,gqa,mla,mla_window] [--threads 2] [--budget BYTES]
       [--timeout 120]
The tool (long_context.c) is compiled against BUILD_DIR/lib/libedgeformer_static.a.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# d=256, 8 layers, 8 heads of 32, SwiGLU 688, 32000-token vocabulary: ~22M parameters
COMMON = ["--preset", "small", "--n-layer", "8", "--n-embd", "256", "--n-head", "8", "--n-ff", "688",
          "--n-vocab", "32000", "--ctx", "65536", "--seed", "7"]
VARIANTS = {
    "mha": ["--arch", "edgeformer", "--attn", "mha", "--n-head-kv", "8"],
    "gqa": ["--arch", "edgeformer", "--attn", "gqa", "--n-head-kv", "2"],  # 4 query heads per group
    "mla": ["--arch", "edgeformer", "--attn", "mla", "--kv-lora", "128", "--qk-nope", "32",
            "--qk-rope", "16", "--v-head", "32"],                           # kv_lora = 4 x head_dim
    "mla_window": ["--arch", "edgeformer", "--attn", "mla_window", "--window", "512", "--sinks", "4",
                   "--kv-lora", "128", "--qk-nope", "32", "--qk-rope", "16", "--v-head", "32"],
}


def build_tool(build):
    exe = os.path.join(build, "long_context")
    src = os.path.join(HERE, "long_context.c")
    cmd = ["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{ROOT}/lib", f"-I{ROOT}/backends",
           f"-I{ROOT}/include", src, os.path.join(build, "lib", "libedgeformer_static.a"),
           "-lm", "-lpthread", "-ldl", "-lpcre2-8", "-lcjson", "-o", exe]
    subprocess.run(cmd, check=True)
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--lengths", default="128,512,1024,2048,4096,8192,16384,32768")
    ap.add_argument("--variants", default="mha,gqa,mla,mla_window")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--budget", default="0")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tool = build_tool(build)
    cli = os.path.join(build, "edgeformer")
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for v in args.variants.split(","):
        model = os.path.join(build, f"long_context_{v}.gguf")
        subprocess.run([cli, "make-model"] + VARIANTS[v] + COMMON + ["-o", model], check=True,
                       stdout=subprocess.DEVNULL)
        results[v] = []
        for n in [int(x) for x in args.lengths.split(",")]:
            cmd = [tool, model, str(n), "--threads", args.threads, "--decode", "8", "--budget", args.budget]
            try:
                r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=args.timeout)
                row = json.loads(r.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                row = {"n": n, "error": f"timeout {args.timeout:g} s"}
            print(v, json.dumps(row), flush=True)
            results[v].append(row)
            if "error" in row:
                break  # longer prompts take longer still
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    write_markdown(results, os.path.join(args.out, "results.md"))
    plot(results, args.out)


def write_markdown(results, path):
    lines = ["| variant | tokens | prefill s | decode tok/s | KV MiB | state peak MiB | RSS MiB | chunk |",
             "|---|---|---|---|---|---|---|---|"]
    for v, rows in results.items():
        for r in rows:
            if "error" in r:
                lines.append(f"| {v} | {r['n']} | {r['error']} | | | | | |")
                continue
            lines.append(f"| {v} | {r['n']} | {r['prefill_s']:.2f} | {r['decode_tok_s']:.1f} | "
                         f"{r['kv_bytes'] / 2**20:.2f} | {r['peak_bytes'] / 2**20:.1f} | "
                         f"{r['maxrss'] / 2**20:.0f} | {r['chunk']} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("prefill_s", "prefill time (s)"), ("decode_tok_s", "decode tokens/s at depth"),
              ("kv_bytes", "KV cache bytes"), ("peak_bytes", "state peak bytes (library counter)")]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (key, title) in zip(axes.flat, panels):
        for v, rows in results.items():
            ok = [r for r in rows if "error" not in r]
            if ok:
                ax.plot([r["n"] for r in ok], [r[key] for r in ok], marker="o", label=v)
        ax.set_xscale("log", base=2)
        if key != "decode_tok_s":
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("prompt tokens")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "long_context.png"), dpi=90)


if __name__ == "__main__":
    sys.exit(main())
