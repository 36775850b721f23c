#!/bin/sh
# The longest-context run of issue #5 (docs/kv-cache.md "128K tokens in 1 GiB"):
# the 125M GQA model (llama preset 125m: dim 768, 12 layers, 12 heads, 4 KV
# heads, Q8_0 weights) prefills 131 072 tokens with the KV pages beyond
# the tier budgets in zstd RAM and a spill file, logging depth, time, RSS
# and bytes per tier after each 4 096-token call (tiered.csv); then decodes
# DECODE tokens at that depth and saves a snapshot. Two fresh processes
# restore the snapshot and decode the same tokens: one with the same tier
# budgets (decode speed and peak RSS at depth, tiered), one with everything
# hot (the all-in-RAM speed at the same depth).
#
# usage: bench/kv/run_128k.sh [BUILD_DIR] [OUT_DIR]
#   env: TOKENS (131072), DECODE (16), HOT (192M), RAM (64M), ZSTD (256M of
#        compressed bytes), THREADS (2), SKIP_PREFILL=1 (reuse OUT_DIR/s128k.snap)
# About an hour of both cores on an idle 2-core machine (the prefill is
# ~3e14 FLOP of attention); the snapshot and spill file take ~2.5 GB.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=${2:-/tmp/ef-kv-128k}
tokens=${TOKENS:-131072}
decode=${DECODE:-16}
threads=${THREADS:-2}
hot=${HOT:-201326592}
ram=${RAM:-67108864}
zstd=${ZSTD:-268435456}
ctx=$((tokens + decode + 64))
mkdir -p "$out/spill"
sh "$root/bench/kv/build_kv_depth.sh" "$build" "$out/kv_depth"
model=$out/llama-125m-q8_0.gguf
[ -s "$model" ] || "$build/edgeformer" make-model --arch llama --preset 125m --type q8_0 --ctx "$ctx" \
    --seed 1 -o "$model" > /dev/null
common="--threads $threads --batch 1024 --ctx $ctx --page 256 --kv-type f16"
tiers="--hot $hot --ram $ram --zstd $zstd --zstd-level 1 --spill $out/spill"
{ echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "start: $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$out/run.txt"
if [ "${SKIP_PREFILL:-0}" != 1 ]; then
    "$out/kv_depth" "$model" --tokens "$tokens" --chunk 4096 --decode "$decode" $common $tiers \
        --save "$out/s128k.snap" > "$out/tiered.json" 2> "$out/tiered.csv"
    echo "prefill done: $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/run.txt"
fi
"$out/kv_depth" "$model" --decode "$decode" $common $tiers --restore "$out/s128k.snap" \
    > "$out/restored_tiered.json" 2> /dev/null
"$out/kv_depth" "$model" --decode "$decode" $common --restore "$out/s128k.snap" \
    > "$out/restored_allram.json" 2> /dev/null
echo "end: $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/run.txt"
cat "$out/run.txt" "$out"/*.json
