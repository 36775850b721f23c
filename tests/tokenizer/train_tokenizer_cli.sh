#!/bin/sh
# `edgeformer train-tokenizer` end to end: learn a vocabulary from a small
# text, train a tiny model with `train --vocab gguf:`, and tokenize with it.
# usage: train_tokenizer_cli.sh EDGEFORMER TMPDIR
set -eu
cli=$1
tmp=$2
mkdir -p "$tmp"
text="$tmp/text.txt"
: > "$text"
for i in 1 2 3 4 5 6 7 8; do
    cat >> "$text" <<'TXT'
The Fulton County Grand Jury said Friday an investigation of Atlanta's recent
primary election produced no evidence that any irregularities took place.
The jury further said in term-end presentments that the City Executive
Committee, which had over-all charge of the election, deserves the praise and
thanks of the City of Atlanta for the manner in which the election was conducted.
TXT
done

fail() { echo "FAIL: $*" >&2; exit 1; }

"$cli" train-tokenizer --data "$text" --vocab 320 -o "$tmp/tok.gguf" || fail "train-tokenizer"
[ -s "$tmp/tok.gguf" ] || fail "no tok.gguf"

# Bad sizes are usage errors with a message, not crashes.
if "$cli" train-tokenizer --data "$text" --vocab 200 -o "$tmp/bad.gguf" 2> "$tmp/err.txt"; then
    fail "--vocab 200 was accepted"
fi
grep -q "257" "$tmp/err.txt" || fail "the --vocab 200 message does not name the minimum: $(cat "$tmp/err.txt")"
if "$cli" train-tokenizer --data "$tmp/missing.txt" --vocab 300 -o "$tmp/bad.gguf" 2> "$tmp/err.txt"; then
    fail "a missing data file was accepted"
fi
grep -q "missing.txt" "$tmp/err.txt" || fail "the missing-file message does not name it: $(cat "$tmp/err.txt")"

"$cli" train --data "$text" --vocab "gguf:$tmp/tok.gguf" --dim 32 --layers 1 --heads 2 --kv-heads 1 \
    --ff 64 --seq 16 --batch 2 --steps 2 --warmup 1 --eval-every 1 --eval-batches 1 --no-progress \
    -o "$tmp/model.gguf" > "$tmp/train.txt" 2>&1 || { cat "$tmp/train.txt"; fail "train --vocab gguf:"; }

"$cli" tokenize -m "$tmp/model.gguf" -p "The election was conducted." --no-bos > "$tmp/ids.txt" \
    || fail "tokenize"
cat "$tmp/ids.txt"
# 27 bytes; the learned merges ("Ġelection", "Ġthe"...) make far fewer tokens.
n=$(sed -n 's/^\([0-9]*\) tokens$/\1/p' "$tmp/ids.txt")
[ -n "$n" ] || fail "no token count in the tokenize output"
[ "$n" -lt 20 ] || fail "$n tokens for a 27-byte sentence of the training text: merges not used"
grep -q "election" "$tmp/ids.txt" || fail "no 'election' piece"
echo PASS
