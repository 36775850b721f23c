#!/usr/bin/env bash
# edgeformer quantize end to end: sizes and ratio printed, output runs,
# input never overwritten, bad rules rejected without leaving a file.
set -euo pipefail
CLI="$1"; SRC="$2"; TMP="$3"
OUT="$TMP/cli_q4.gguf"
rm -f "$OUT"
msg=$("$CLI" quantize "$SRC" "$OUT" --type q4_0 --rule 'output.weight=q8_0' 2>/dev/null)
echo "$msg" | grep -q "smaller" || { echo "no size report: $msg"; exit 1; }
# (outputs are captured first: grep -q closing a pipe early would fail the writer under pipefail)
info=$("$CLI" info -m "$OUT")
echo "$info" | grep -q "Q4_0"
echo "$info" | grep "output.weight" | grep -q "Q8_0"
"$CLI" run -m "$OUT" -p "hi" -n 3 --temp 0 >/dev/null 2>&1
"$CLI" run -m "$SRC" -p "hi" -n 3 --temp 0 --quant balanced >/dev/null 2>&1
info=$("$CLI" info -m "$SRC" --quant balanced)
echo "$info" | grep -q "quantized at load"
set +e
"$CLI" quantize "$SRC" "$SRC" --profile balanced 2>"$TMP/q_err.txt"; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "overwrite" "$TMP/q_err.txt" || { echo "overwrote its input?"; exit 1; }
rm -f "$TMP/cli_bad.gguf"
set +e
"$CLI" quantize "$SRC" "$TMP/cli_bad.gguf" --profile balanced --rule '*ffn*=Q9_Z' 2>"$TMP/q_err.txt"; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "Q9_Z" "$TMP/q_err.txt" && [ ! -e "$TMP/cli_bad.gguf" ] || { echo "bad rule accepted"; exit 1; }
echo "quantize cli: ok"
