#!/bin/sh
# The quantization quality table: a trained F32 model quantized to each type,
# judged against the F32 run with `edgeformer perplexity --kl-base` (ΔPPL,
# mean KLD, same top token) plus size and generation speed.
#
# usage: bench/quant/quality_table.sh MODEL_F32.gguf TEXT_FILE [OUTDIR] [CHUNKS]
# Env: EF_BUILD (default build), CTX (256), TYPES.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=${EF_BUILD:-$root/build}/edgeformer
model=$1
text=$2
out=${3:-$root/bench/results/quant}
chunks=${4:-40}
ctx=${CTX:-256}
types=${TYPES:-"f16 q8_0 q6_k q5_k q4_k q4_0 q3_k q2_k tq2_0"}
mkdir -p "$out"

base="$out/base-f32.klbase"
rm -f "$base"
"$cli" perplexity -m "$model" -f "$text" --ctx "$ctx" --chunks "$chunks" --kl-base "$base" \
    --json --no-progress > "$out/f32.json"
"$cli" bench -m "$model" -p 128 -n 64 -r 3 -t 2 -o json > "$out/f32.bench.json" 2>/dev/null || true

for t in $types; do
    q="$out/model-$t.gguf"
    if [ "$t" = f16 ]; then
        "$cli" quantize "$model" "$q" --profile f16 > /dev/null
    else
        "$cli" quantize "$model" "$q" --type "$t" > /dev/null
    fi
    "$cli" perplexity -m "$q" -f "$text" --ctx "$ctx" --chunks "$chunks" --kl-base "$base" \
        --json --no-progress > "$out/$t.json"
    "$cli" bench -m "$q" -p 128 -n 64 -r 3 -t 2 -o json > "$out/$t.bench.json" 2>/dev/null || true
done

/usr/bin/python3 - "$out" "$model" $types <<'PY'
import json, os, sys
out, model, types = sys.argv[1], sys.argv[2], sys.argv[3:]
def tg(path):
    try:
        rows = json.load(open(path))
        rows = rows.get("results", rows) if isinstance(rows, dict) else rows
        for r in rows:
            if str(r.get("test", "")).startswith("tg"):
                return "%.1f" % r["tokens_per_s"]
    except Exception:
        pass
    return "-"
f32 = json.load(open(os.path.join(out, "f32.json")))
size = lambda p: os.path.getsize(p) / 2**20
print("| type | size MiB | PPL | ΔPPL | mean KLD | same top | tg t/s |")
print("|---|---:|---:|---:|---:|---:|---:|")
print("| F32 | %.2f | %.3f ± %.3f | 0 | 0 | 100%% | %s |" % (size(model), f32["ppl"], f32["ppl_error"],
      tg(os.path.join(out, "f32.bench.json"))))
for t in types:
    j = json.load(open(os.path.join(out, t + ".json")))
    k = j["kl_base"]
    print("| %s | %.2f | %.3f | %+.4f ± %.4f | %.5f ± %.5f | %.2f%% | %s |" % (
        t.upper(), size(os.path.join(out, "model-%s.gguf" % t)), j["ppl"], k["delta_ppl"],
        k["delta_ppl_error"], k["kld_mean"], k["kld_mean_error"], 100 * k["same_top"],
        tg(os.path.join(out, t + ".bench.json"))))
PY
