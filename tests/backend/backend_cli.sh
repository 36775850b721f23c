#!/bin/sh
# backend_cli.sh CLI MODEL: the CLI's side of backends, with the fake plugins
# on EF_BACKEND_PATH (set by ctest): `info --backends` (no model needed; text
# and --json), `run --backend`, `--backend-opt`, and the errors.
set -u
CLI=$1
MODEL=$2
fail() { echo "FAIL: $*"; exit 1; }

OUT=$("$CLI" info --backends) || fail "info --backends exited $?"
echo "$OUT"
echo "$OUT" | grep -q '^  cpu  *yes  *100 ' || fail "cpu row"
echo "$OUT" | grep -q '^  fake  *yes  *50 .*fake device' || fail "fake row"
echo "$OUT" | grep '^  fakeabi2 ' | grep -q 'no .*built for backend ABI 2, this library speaks 1' || fail "fakeabi2 row"
echo "$OUT" | grep '^  fakemissingdep ' | grep -q 'libfakedep.so' || fail "fakemissingdep row"

JSON=$("$CLI" info --backends --json) || fail "info --backends --json exited $?"
echo "$JSON" | grep -q '"name":"fakeunavail","available":false' || fail "json: fakeunavail"
echo "$JSON" | grep -q '"reason":"fake device missing"' || fail "json: reason"

LOG=$("$CLI" run -m "$MODEL" -p hi -n 3 --temp 0 --backend fake --backend-opt fake.mode=x -v 2>&1 >/dev/null) ||
    fail "run --backend fake: $LOG"
echo "$LOG" | grep -q "weight matmuls on backend 'fake'" || fail "run --backend fake did not use it: $LOG"
A=$("$CLI" run -m "$MODEL" -p hi -n 6 --temp 0 --backend fake 2>/dev/null) || fail "run on fake"
B=$("$CLI" run -m "$MODEL" -p hi -n 6 --temp 0 --backend cpu 2>/dev/null) || fail "run on cpu"
[ "$A" = "$B" ] || fail "greedy text differs between fake and cpu: '$A' vs '$B'"

ERR=$("$CLI" run -m "$MODEL" -p hi -n 2 --backend fakeunavail 2>&1 >/dev/null) && fail "run on an unavailable backend succeeded"
echo "$ERR" | grep -q "backend 'fakeunavail' is unavailable: fake device missing (EF_ERR_UNAVAILABLE)" || fail "message: $ERR"
ERR=$("$CLI" run -m "$MODEL" -p hi -n 2 --backend fake --backend-opt fake.nope=1 2>&1 >/dev/null) && fail "unknown option accepted"
echo "$ERR" | grep -q "EF_ERR_INVALID_ARG" || fail "unknown option: $ERR"
"$CLI" run -m "$MODEL" -p hi -n 2 --backend-opt novalue >/dev/null 2>&1
[ $? -eq 2 ] || fail "--backend-opt without '=' is not a usage error"
echo PASS
