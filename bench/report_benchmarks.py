"""Turns `edgeformer bench -o json` output into a Markdown table and a plot.

usage: report_benchmarks.py BENCH.json [--header TEXT] [--md OUT.md] [--png OUT.png]
The plot (tokens/s per model and thread count, pp and tg side by side, tg
with its bandwidth ceiling) needs matplotlib (Debian: python3-matplotlib);
without it only the table is written.
"""
import argparse
import json
import os


def table(rows):
    out = ["| model | type | size GiB | threads | test | t/s | peak RSS MiB | mem BW GB/s | ceiling t/s | of ceiling |",
           "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ceil = r["ceiling_tokens_per_s"]
        tail = f"{ceil:.2f} | {100 * r['fraction_of_ceiling']:.0f}%" if ceil > 0 else "- | -"
        out.append(f"| {os.path.basename(r['model'])} | {r['type']} | {r['size_gib']:.3f} | {r['threads']} | "
                   f"{r['test']} | {r['tokens_per_s']:.2f} ± {r['sd']:.2f} | {r['peak_rss_mib']:.0f} | "
                   f"{r['bandwidth_gbs']:.1f} | {tail} |")
    return "\n".join(out) + "\n"


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = [k for k in ("pp", "tg") if any(r["test"].startswith(k) for r in rows)]
    fig, axes = plt.subplots(1, len(tests), figsize=(6 * len(tests), 4.5), squeeze=False)
    for ax, kind in zip(axes[0], tests):
        sel = [r for r in rows if r["test"].startswith(kind)]
        labels = [f"{os.path.basename(r['model']).replace('.gguf', '')}\n{r['threads']} thr" for r in sel]
        xs = range(len(sel))
        ax.bar(xs, [r["tokens_per_s"] for r in sel], yerr=[r["sd"] for r in sel], capsize=3,
               label="measured")
        if kind == "tg":
            ax.plot(xs, [r["ceiling_tokens_per_s"] for r in sel], "k_", markersize=18, mew=2,
                    label="bandwidth ceiling")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("tokens/s")
        ax.set_title(sel[0]["test"] if sel else kind)
        ax.legend(fontsize=8)
    fig.suptitle("edgeformer bench (random-weight llama models)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--header", default="")
    ap.add_argument("--md")
    ap.add_argument("--png")
    a = ap.parse_args()
    with open(a.json) as f:
        rows = json.load(f)
    text = (a.header + "\n\n" if a.header else "") + table(rows)
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)
    else:
        print(text, end="")
    if a.png:
        try:
            plot(rows, a.png)
        except ImportError:
            print("report_benchmarks: matplotlib missing (apt-get install python3-matplotlib): no plot")


if __name__ == "__main__":
    main()
