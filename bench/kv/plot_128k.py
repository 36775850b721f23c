#!/usr/bin/env python3
"""Plots bench/kv/run_128k.sh's tiered.csv: resident set and bytes per KV
tier against context depth (results_128k/tiered.png).
usage: /usr/bin/python3 bench/kv/plot_128k.py [DIR] (default bench/kv/results_128k)"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results_128k")
rows = list(csv.DictReader(open(os.path.join(d, "tiered.csv"))))
depth = [int(r["depth"]) / 1024 for r in rows]
mib = lambda k: [int(r[k]) / 2**20 for r in rows]  # noqa: E731
fig, ax = plt.subplots(figsize=(7, 4.2))
ax.stackplot(depth, mib("hot_bytes"), mib("ram_bytes"), mib("zstd_bytes"), mib("disk_bytes"),
             labels=["hot tier", "RAM tier", "zstd tier (compressed)", "disk tier (spill file)"], alpha=0.55)
ax.plot(depth, mib("rss"), "k-", lw=2, label="process resident set (VmRSS)")
ax.axhline(1024, color="r", ls="--", lw=1, label="1 GiB")
ax.set_xlabel("context depth (K tokens)")
ax.set_ylabel("MiB")
ax.set_title("125M GQA model (Q8_0), F16 KV: prefill to 128K tokens with tier budgets")
ax.legend(loc="upper left", fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(os.path.join(d, "tiered.png"), dpi=110)
