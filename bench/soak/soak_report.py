#!/usr/bin/python3
"""Summarises and plots a soak run (bench/soak/soak.sh): RSS and open file
descriptors over time. Exits 1 when, after the warm-up (first 20% of the
samples), RSS leaves a +-5% band around its post-warm-up median, or the fd
count ends above where the warm-up left it.
Usage: soak_report.py SOAK.csv OUT.png DRIVER.log MACHINE_LINE"""
import csv
import statistics
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    csv_path, png_path, log_path, machine = sys.argv[1:5]
    rows = list(csv.DictReader(open(csv_path)))
    t = [float(r["t_seconds"]) for r in rows]
    rss = [int(r["rss_kib"]) / 1024.0 for r in rows]
    fds = [int(r["fds"]) for r in rows]
    if len(rows) < 10:
        print(f"soak: only {len(rows)} samples")
        return 1
    warm = max(1, len(rows) // 5)
    steady = rss[warm:]
    median = statistics.median(steady)
    lo, hi = min(steady), max(steady)
    dev = max(hi - median, median - lo) / median
    fd_warm, fd_end, fd_max = fds[warm], fds[-1], max(fds[warm:])
    driver = open(log_path).read().strip().splitlines()
    last = driver[-1] if driver else "(no driver output)"

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, rss, label="RSS (MiB)")
    ax.axvspan(t[0], t[warm], color="0.9", label="warm-up")
    ax.axhline(median * 1.05, color="r", ls=":", lw=1)
    ax.axhline(median * 0.95, color="r", ls=":", lw=1, label="median ±5%")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS (MiB)")
    ax2 = ax.twinx()
    ax2.plot(t, fds, color="g", lw=1, label="open fds")
    ax2.set_ylabel("open file descriptors")
    ax2.set_ylim(0, max(fds) * 2 + 1)
    ax.set_title(f"edgeformer soak: {t[-1] / 60:.1f} min, {machine}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)

    ok_rss = dev <= 0.05
    ok_fd = fd_end <= fd_warm and fd_max <= fd_warm + 2
    print(f"duration: {t[-1]:.0f} s, {len(rows)} samples; machine: {machine}")
    print(f"driver: {last}")
    print(f"RSS after warm-up: median {median:.1f} MiB, min {lo:.1f}, max {hi:.1f}, "
          f"max deviation {100 * dev:.2f}% ({'ok' if ok_rss else 'OVER 5%'})")
    print(f"RSS first sample {rss[0]:.1f} MiB, last {rss[-1]:.1f} MiB")
    print(f"open fds: {fds[0]} at start, {fd_warm} after warm-up, {fd_end} at end, max {fd_max} "
          f"({'ok' if ok_fd else 'GREW'})")
    print(f"plot: {png_path}")
    return 0 if ok_rss and ok_fd else 1


if __name__ == "__main__":
    sys.exit(main())
