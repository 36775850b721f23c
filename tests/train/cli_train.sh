#!/bin/sh
# `edgeformer train` end to end on a tiny text: trains with a checkpoint and
# a CSV log, resumes from the checkpoint, and `edgeformer run` loads the
# exported model. usage: cli_train.sh EDGEFORMER_CLI TMPDIR
set -eu
cli=$1
dir=$2/train_cli
rm -rf "$dir"
mkdir -p "$dir"
i=0
while [ $i -lt 40 ]; do
    echo "The quick brown fox jumps over the lazy dog. A small model learns to repeat what it reads."
    i=$((i + 1))
done > "$dir/text.txt"
# refused MESSAGE ARGS...: `train ARGS` must fail and say MESSAGE
refused() {
    message=$1
    shift
    if "$cli" train --data "$dir/text.txt" --vocab synthetic:300 --no-progress -o "$dir/x.gguf" "$@" \
        2> "$dir/err.txt"; then
        echo "train $* was accepted" >&2
        exit 1
    fi
    grep -q "$message" "$dir/err.txt"
}
common="--data $dir/text.txt --vocab synthetic:300 --dim 32 --layers 1 --heads 4 --kv-heads 2
        --ff 64 --seq 16 --batch 2 --warmup 2 --lr 1e-2 --threads 2 --eval-every 5
        --eval-batches 1 --checkpoint $dir/ck --log $dir/log.csv --no-progress"
# shellcheck disable=SC2086
"$cli" train $common --steps 10 -o "$dir/model.gguf"
test -s "$dir/ck" && test -s "$dir/ck.best" && test -s "$dir/model.gguf"
test "$(wc -l < "$dir/log.csv")" -eq 3  # header + 2 evaluations
# shellcheck disable=SC2086
"$cli" train $common --steps 15 --resume "$dir/ck" -o "$dir/model.gguf" 2> "$dir/resume.txt"
grep -q "from step 10 of 15" "$dir/resume.txt"
test "$(wc -l < "$dir/log.csv")" -eq 4  # one more evaluation, appended
"$cli" run -m "$dir/model.gguf" -p "The quick" -n 8 --temp 0 > "$dir/out.txt"
test -s "$dir/out.txt"
# a damaged checkpoint is refused with a message naming the problem
head -c 100 "$dir/ck" > "$dir/bad"
# shellcheck disable=SC2086
if "$cli" train $common --steps 15 --resume "$dir/bad" -o "$dir/x.gguf" 2> "$dir/err.txt"; then
    echo "a truncated checkpoint was accepted" >&2
    exit 1
fi
grep -q "truncated" "$dir/err.txt"
# fine-tuning a random llama fixture with F16 weights, keeping its tokenizer
"$cli" make-model --arch llama --preset tiny --type f16 --seed 3 -o "$dir/llama.gguf"
"$cli" train --init "$dir/llama.gguf" --data "$dir/text.txt" --seq 16 --batch 2 --steps 3 \
    --warmup 1 --threads 2 --eval-every 3 --eval-batches 1 --no-progress -o "$dir/tuned.gguf"
"$cli" run -m "$dir/tuned.gguf" -p "The quick" -n 4 --temp 0 > "$dir/tuned.txt"
test -s "$dir/tuned.txt"
# MLA with a window: train, then `edgeformer run` decodes it (absorbed, ring cache)
"$cli" train --data "$dir/text.txt" --vocab synthetic:300 --dim 32 --layers 2 --heads 4 \
    --attn mla_window --window 6 --sinks 1 --kv-lora 16 --q-lora 12 --ff 64 --seq 16 --batch 2 \
    --steps 4 --warmup 1 --threads 2 --eval-every 4 --eval-batches 1 --no-progress \
    -o "$dir/mla.gguf"
"$cli" run -m "$dir/mla.gguf" -p "The quick" -n 24 --temp 0 > "$dir/mla.txt"
test -s "$dir/mla.txt"
refused "needs the 'window' setting" --attn gqa_window --steps 1
# mixed precision: trains and runs; an unknown precision is refused by name
"$cli" train --data "$dir/text.txt" --vocab synthetic:300 --dim 32 --layers 2 --heads 4 --ff 64 \
    --seq 16 --batch 2 --steps 3 --warmup 1 --threads 2 --precision bf16 --no-progress -o "$dir/bf16.gguf"
"$cli" run -m "$dir/bf16.gguf" -p "The quick" -n 4 --temp 0 > "$dir/bf16.txt"
test -s "$dir/bf16.txt"
refused "expected f32 or bf16" --precision fp8 --steps 1
echo "cli train: ok"
