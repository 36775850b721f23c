#!/bin/sh
# Quality of sparse decoding: a calibrated model (edgeformer calibrate-sparsity)
# at several sparsity levels, judged against its own dense run with
# `edgeformer perplexity --kl-base` (ΔPPL, mean KLD, same top token). With
# --sparsity > 0 the perplexity tool evaluates one token per forward call,
# so every scored token goes through the sparse decode path.
#
# usage: bench/sparsity/quality.sh MODEL_CALIBRATED.gguf TEXT OUTDIR [CHUNKS] [LEVELS]
# Env: EF_BUILD (default build), CTX (128).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=${EF_BUILD:-$root/build}/edgeformer
model=$1
text=$2
out=$3
chunks=${4:-40}
levels=${5:-"0.25 0.4 0.5 0.7"}
ctx=${CTX:-128}
mkdir -p "$out"
base="$out/dense.klbase"
rm -f "$base"
"$cli" perplexity -m "$model" -f "$text" --ctx "$ctx" --chunks "$chunks" --kl-base "$base" \
    --json --no-progress > "$out/dense.json"
for lv in $levels; do
    "$cli" perplexity -m "$model" -f "$text" --ctx "$ctx" --chunks "$chunks" --kl-base "$base" \
        --sparsity "$lv" --json --no-progress > "$out/sparse-$lv.json"
done
/usr/bin/python3 - "$out" $levels <<'PY'
import json, os, sys
out, levels = sys.argv[1], sys.argv[2:]
d = json.load(open(os.path.join(out, "dense.json")))
print("| level | PPL | ΔPPL | mean KLD | same top |")
print("|---:|---:|---:|---:|---:|")
print("| 0%% (dense) | %.3f ± %.3f | 0 | 0 | 100%% |" % (d["ppl"], d["ppl_error"]))
for lv in levels:
    j = json.load(open(os.path.join(out, "sparse-%s.json" % lv)))
    k = j["kl_base"]
    print("| %.0f%% | %.3f | %+.4f ± %.4f | %.5f ± %.5f | %.2f%% |" % (100 * float(lv), j["ppl"], k["delta_ppl"],
          k["delta_ppl_error"], k["kld_mean"], k["kld_mean_error"], 100 * k["same_top"]))
PY
