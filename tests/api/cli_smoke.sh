#!/usr/bin/env bash
# The CLI end to end: --json outputs parse, greedy runs repeat, errors are one
# line with a non-zero exit.
set -euo pipefail
CLI="$1"; MODEL="$2"; TMP="$3"
PY=/usr/bin/python3

out1=$("$CLI" run -m "$MODEL" -p "Hello world" -n 8 --temp 0 --json)
out2=$("$CLI" run -m "$MODEL" -p "Hello world" -n 8 --temp 0 --json)
gen() { $PY -c 'import json,sys; o=json.load(sys.stdin); print(o["generated_tokens"], o["text"])'; }
[ "$(echo "$out1" | gen)" = "$(echo "$out2" | gen)" ] || { echo "greedy runs differ"; exit 1; }
echo "$out1" | $PY -c '
import json, sys
o = json.load(sys.stdin)
assert o["prompt_tokens"], o
assert len(o["generated_tokens"]) <= 8
assert o["stop_reason"] in ("max_tokens", "eog"), o
if o["stop_reason"] == "max_tokens": assert len(o["generated_tokens"]) == 8, o
assert o["timings"]["gen_tokens"] == len(o["generated_tokens"])
'
tok=$("$CLI" tokenize -m "$MODEL" -p "Hello world" --json)
echo "$tok" | $PY -c '
import json, sys
o = json.load(sys.stdin)
assert len(o["tokens"]) == len(o["pieces"]) > 0
'
# the prompt ids of run --json equal tokenize's
$PY - "$out1" "$tok" <<'PYEOF'
import json, sys
r, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert r["prompt_tokens"] == t["tokens"], (r["prompt_tokens"], t["tokens"])
PYEOF
info=$("$CLI" info -m "$MODEL"); echo "$info" | grep -q "token_embd.weight"
"$CLI" info -m "$MODEL" --json | $PY -c 'import json,sys; o=json.load(sys.stdin); assert o["architecture"]=="llama"'
# plain run ends with the timing line
"$CLI" run -m "$MODEL" -p "Hi" -n 4 2>"$TMP/cli_err.txt" >/dev/null
grep -q "tokens/s" "$TMP/cli_err.txt"

# errors: one line, non-zero exit
set +e
"$CLI" run -m /nonexistent.gguf -p x 2>"$TMP/cli_err.txt"; rc=$?
set -e
[ $rc -ne 0 ] || { echo "missing model did not fail"; exit 1; }
[ "$(wc -l < "$TMP/cli_err.txt")" -eq 1 ] || { cat "$TMP/cli_err.txt"; echo "error is not one line"; exit 1; }
grep -q "EF_ERR_IO" "$TMP/cli_err.txt"
set +e
"$CLI" run --bogus 2>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || { echo "usage error did not exit 2"; exit 1; }
echo "cli smoke: ok"
