#!/bin/sh
# The KV-tier benchmark of issue #5 in one command (docs/kv-cache.md):
# decode tokens/s and peak RSS against context with 0 %, 50 % and 90 % of
# the KV pages below the hot tier (in zstd RAM and on disk), and the zstd
# ratio and throughput per KV dtype, from the cache's tier statistics.
#
#   1. builds bench/kv/kv_depth.c against BUILD_DIR's libedgeformer (build_kv_depth.sh);
#   2. makes the model (edgeformer make-model --arch llama --preset PRESET);
#   3. one prefill process stops at every depth of DEPTHS, saves a snapshot
#      there and decodes DECODE tokens (greedy);
#   4. per depth and fraction, a fresh process restores that snapshot into
#      a cache whose hot budget holds (100 - fraction) % of the pages (the
#      rest: half the bytes in zstd RAM, the others on disk) and decodes the
#      same DECODE tokens: tokens/s, CPU seconds, peak RSS (VmHWM), and
#      whether it sampled the same tokens (tiers are lossless);
#   5. per KV dtype of DTYPES, a prefill of DTYPE_DEPTH tokens with every
#      page but one pushed into the zstd tier: compressed/raw bytes, and
#      compression and decompression MB/s (offload and restore times);
#   6. writes OUT_DIR/results.json (every kv_depth line, with the machine,
#      date, commit, load averages and commands), results.md and
#      results.png (tokens/s and peak RSS against depth per fraction).
# Copy the three result files to bench/kv/ for the record.
#
# usage: bench/kv/run_depth.sh [BUILD_DIR] [OUT_DIR]
#   BUILD_DIR  a Release build (default build); OUT_DIR (default /tmp/ef-kv-depth) keeps the model,
#              snapshots, spill files and raw lines
# Env: PRESET (small; 125m is the 125M GQA model), WTYPE (f32: weight type of the made model),
#      MODEL (use this model instead of making one), DEPTHS ("2048 4096 8192 16384 32768"),
#      FRACTIONS ("0 50 90"), DECODE (32), THREADS (2), PAGE (256), KV_TYPE (f16),
#      DTYPES ("f16 q8_0 q4_0 f32"), DTYPE_DEPTH (4096), CHUNK (512), NICE (0: the niceness of the runs).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=${2:-/tmp/ef-kv-depth}
preset=${PRESET:-small}
wtype=${WTYPE:-f32}
depths=${DEPTHS:-"2048 4096 8192 16384 32768"}
fractions=${FRACTIONS:-"0 50 90"}
decode=${DECODE:-32}
threads=${THREADS:-2}
page=${PAGE:-256}
kv_type=${KV_TYPE:-f16}
dtypes=${DTYPES:-"f16 q8_0 q4_0 f32"}
dtype_depth=${DTYPE_DEPTH:-4096}
chunk=${CHUNK:-512}
run="nice -n ${NICE:-0}"
cli=$build/edgeformer
mkdir -p "$out/spill"
rm -f "$out"/*.jsonl "$out"/snap.* "$out"/spill/*

sh "$root/bench/kv/build_kv_depth.sh" "$build" "$out/kv_depth"
model=${MODEL:-$out/model-$preset-$wtype.gguf}
if [ ! -s "$model" ]; then
    "$cli" make-model --arch llama --preset "$preset" --type "$wtype" -o "$model" > /dev/null
fi

stops=$(echo $depths | tr ' ' ',')
last=$(echo $depths | awk '{print $NF}')
ctx=$((last + decode + 1))
common="--threads $threads --page $page --chunk $chunk --decode $decode --ctx $ctx"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date -u '+%Y-%m-%d %H:%M UTC')

# 3. one prefill, a snapshot and a decode at every depth (all pages hot)
echo "prefill to $stops ($kv_type KV)" >&2
# shellcheck disable=SC2086
$run "$out/kv_depth" "$model" --stops "$stops" --kv-type "$kv_type" --save "$out/snap" $common \
    > "$out/prefill.jsonl" 2> "$out/prefill.csv"

# 4. every depth and fraction from its snapshot, in a fresh process
for d in $depths; do
    # bytes of the cache at this depth (every tier's raw bytes) and of one page
    set -- $(/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["tokens"] == int(sys.argv[2]):
        print(int(sum(r[t]["raw_bytes"] for t in ("hot", "ram", "zstd", "disk"))), int(r["page_bytes"]))
' "$out/prefill.jsonl" "$d")
    total=$1 page_bytes=$2
    for f in $fractions; do
        tiers=""
        if [ "$f" -gt 0 ]; then
            below=$((total * f / 100))
            hot=$((total - below))
            [ "$hot" -lt "$page_bytes" ] && hot=$page_bytes
            # one page in plain RAM, half the rest compressed in RAM, the others on disk
            tiers="--hot $hot --ram $page_bytes --zstd $((below / 2)) --zstd-level 1 --spill $out/spill"
        fi
        echo "depth $d, $f % below hot" >&2
        # shellcheck disable=SC2086
        $run "$out/kv_depth" "$model" --restore "$out/snap.$d" --kv-type "$kv_type" $common $tiers \
            2> "$out/depth-$d-$f.csv" | sed "s/^{/{\"fraction_below_hot\": $f, /" >> "$out/depth.jsonl"
    done
done

# 5. zstd per KV dtype: every page but one hot and one in RAM goes to the zstd tier
for t in $dtypes; do
    echo "zstd tier, $t KV" >&2
    # shellcheck disable=SC2086
    $run "$out/kv_depth" "$model" --tokens "$dtype_depth" --kv-type "$t" --threads "$threads" --page "$page" \
        --chunk "$chunk" --decode 4 --ctx $((dtype_depth + 8)) --hot 1 --ram 1 --zstd-level 1 \
        2> "$out/dtype-$t.csv" >> "$out/dtype.jsonl" || echo "  $t: $(tail -1 "$out/dtype.jsonl")" >&2
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# 6. results.json, results.md, results.png
/usr/bin/python3 - "$out" "$root" "$start" "$load_before" "$load_after" \
    "bench/kv/run_depth.sh $build $out (PRESET=$preset WTYPE=$wtype DEPTHS='$depths' FRACTIONS='$fractions' DECODE=$decode THREADS=$threads PAGE=$page KV_TYPE=$kv_type DTYPES='$dtypes' DTYPE_DEPTH=$dtype_depth CHUNK=$chunk)" \
    "$model" <<'PY'
import json, os, platform, subprocess, sys
out, root, start, load_before, load_after, command, model = sys.argv[1:8]

def lines(name):
    with open(os.path.join(out, name)) as f:
        return [json.loads(l) for l in f if l.startswith("{")]

prefill, depth, dtype = lines("prefill.jsonl"), lines("depth.jsonl"), lines("dtype.jsonl")
for r in prefill + depth:
    if "error" in r:
        sys.exit("kv_depth failed: " + r["error"])
# a dtype the model cannot use (q8_0/q4_0 need head sizes that are multiples of 32) is reported, not fatal
failed = [r for r in dtype if "error" in r]
dtype = [r for r in dtype if "error" not in r]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
try:
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = "?"
meta = {"machine": "%s, %d cores" % (cpu, os.cpu_count()), "date": start, "commit": commit or "?",
        "load_before": load_before, "load_after": load_after, "command": command, "model": os.path.basename(model)}
first = {r["tokens"]: r for r in prefill}
for r in depth:
    # the restored session decodes from the saved depth: lossless tiers sample the same tokens
    base = first.get(r["tokens"])
    r["same_tokens"] = bool(base and base["last_token"] == r["last_token"])
    below = sum(r[t]["raw_bytes"] for t in ("ram", "zstd", "disk"))
    total = below + r["hot"]["raw_bytes"]
    r["measured_below_hot"] = below / total if total else 0.0
for r in dtype:
    z = r["zstd"]
    r["zstd_ratio"] = z["raw_bytes"] / z["bytes"] if z["bytes"] else None
    r["compress_mb_s"] = z["offloads"] * r["page_bytes"] / z["offload_s"] / 1e6 if z["offload_s"] > 0 else None
    r["decompress_mb_s"] = z["restores"] * r["page_bytes"] / z["restore_s"] / 1e6 if z["restore_s"] > 0 else None
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump({"meta": meta, "prefill": prefill, "depth": depth, "dtype": dtype, "dtype_failed": failed}, f, indent=1)

def mib(b):
    return "%.2f" % (b / 2**20)

md = ["# KV tiers against context", "",
      "- machine: %s" % meta["machine"], "- date: %s, commit %s" % (meta["date"], meta["commit"]),
      "- load average before / after: %s / %s" % (load_before, load_after),
      "- model: %s" % meta["model"], "- command: `%s`" % command, "",
      "## Decode against context", "",
      "Each row is a fresh process that restored the snapshot taken at that depth and decoded greedily; "
      "`below hot` is the share of the cache's raw bytes in the RAM, zstd and disk tiers after the decode; "
      "`same` says whether it sampled the tokens of the all-hot run (lossless tiers must).", "",
      "| depth | below hot (asked) | below hot (measured) | decode tok/s | CPU s | peak RSS MiB | hit rate | zstd MiB | disk MiB | same |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
for r in sorted(depth, key=lambda r: (r["tokens"], r["fraction_below_hot"])):
    md.append("| %d | %d %% | %.0f %% | %.2f | %.2f | %s | %.3f | %s | %s | %s |" % (
        r["tokens"], r["fraction_below_hot"], 100 * r["measured_below_hot"], r["decode_tok_s"], r["decode_cpu_s"],
        mib(r["hwm"]), r["hit_rate"], mib(r["zstd"]["bytes"]), mib(r["disk"]["bytes"]), "yes" if r["same_tokens"] else "NO"))
md += ["", "Prefill process (all pages hot, one process stopping at every depth):", "",
       "| depth | prefill s (cumulative) | decode tok/s | peak RSS MiB | snapshot save s |", "|---:|---:|---:|---:|---:|"]
for r in prefill:
    md.append("| %d | %.1f | %.2f | %s | %.2f |" % (r["tokens"], r["prefill_s"], r["decode_tok_s"], mib(r["hwm"]), r["save_s"]))
md += ["", "## zstd per KV dtype", "",
       "A prefill with every page but two pushed into the zstd tier (level 1); ratio = raw / compressed bytes; "
       "MB/s of raw bytes from the tier's offload and restore times.", "",
       "| KV dtype | depth | ratio | compress MB/s | decompress MB/s | pages |", "|---|---:|---:|---:|---:|---:|"]
fmt = lambda v, f: "-" if v is None else f % v
for r in dtype:
    md.append("| %s | %d | %s | %s | %s | %d |" % (r["kv_type"], r["tokens"], fmt(r["zstd_ratio"], "%.3f"),
              fmt(r["compress_mb_s"], "%.0f"), fmt(r["decompress_mb_s"], "%.0f"), r["zstd"]["pages"]))
for r in failed:
    md.append("| (failed) | | %s | | | |" % r["error"].replace("|", "/"))
with open(os.path.join(out, "results.md"), "w") as f:
    f.write("\n".join(md) + "\n")
print("\n".join(md))

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
for frac in sorted({r["fraction_below_hot"] for r in depth}):
    rows = sorted((r for r in depth if r["fraction_below_hot"] == frac), key=lambda r: r["tokens"])
    x = [r["tokens"] for r in rows]
    a.plot(x, [r["decode_tok_s"] for r in rows], "o-", label="%d %% below hot" % frac)
    b.plot(x, [r["hwm"] / 2**20 for r in rows], "o-", label="%d %% below hot" % frac)
for ax, title, unit in ((a, "decode speed", "tokens/s"), (b, "peak RSS", "MiB")):
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context (tokens)")
    ax.set_ylabel(unit)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
fig.suptitle("%s, %s KV; %s, load %s" % (meta["model"], prefill[0]["kv_type"] if prefill else "?", meta["date"], load_before),
             fontsize=9)
fig.tight_layout()
fig.savefig(os.path.join(out, "results.png"), dpi=110)
PY
echo "wrote $out/results.json, $out/results.md, $out/results.png" >&2
