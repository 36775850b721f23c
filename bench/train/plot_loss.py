"""Plots the CSV log of `edgeformer train --log` (step, train_loss,
val_loss, lr, tokens_per_s) as a PNG loss curve.

usage: plot_loss.py LOG.csv OUT.png   (Debian's /usr/bin/python3: matplotlib)
"""
import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    log, out = sys.argv[1], sys.argv[2]
    with open(log) as f:
        rows = list(csv.DictReader(f))
    step = [int(r["step"]) for r in rows]
    train = [float(r["train_loss"]) for r in rows]
    val = [float(r["val_loss"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(step, train, label="train loss (EMA)")
    ax.plot(step, val, label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    best = min(range(len(val)), key=val.__getitem__)
    ax.set_title(f"best validation loss {val[best]:.3f} (perplexity {math.exp(val[best]):.1f}) "
                 f"at step {step[best]}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
