#!/bin/sh
# no_platform.sh CLI TMPDIR: with an empty OpenCL ICD vendor folder (set by
# ctest: OCL_ICD_VENDORS), the opencl plugin is listed unavailable with "no
# OpenCL platform", EF_BACKEND=opencl fails session creation with that
# reason, and auto runs on cpu.
set -u
CLI=$1
TMP=$2
MODEL=$TMP/no_platform_tiny.gguf
fail() { echo "FAIL: $*"; exit 1; }

"$CLI" make-model --arch llama --preset tiny --seed 3 -o "$MODEL" >/dev/null || fail "make-model"

LIST=$("$CLI" info --backends) || fail "info --backends exited $?"
echo "$LIST"
ROW=$(echo "$LIST" | grep '^  opencl ') || fail "opencl is not listed"
echo "$ROW" | grep -q '^  opencl  *no ' || fail "opencl is listed as available: $ROW"
echo "$ROW" | grep -q 'no OpenCL platform' || fail "the reason is not 'no OpenCL platform': $ROW"

ERR=$(EF_BACKEND=opencl "$CLI" run -m "$MODEL" -p hi -n 2 2>&1 >/dev/null) && fail "EF_BACKEND=opencl run succeeded"
echo "$ERR"
echo "$ERR" | grep -q "unavailable: no OpenCL platform" || fail "the error does not say 'unavailable: no OpenCL platform'"
echo "$ERR" | grep -q "EF_ERR_UNAVAILABLE" || fail "the status is not EF_ERR_UNAVAILABLE"

LOG=$("$CLI" run -m "$MODEL" -p hi -n 2 --backend auto -v 2>&1 >/dev/null) || fail "auto run failed: $LOG"
echo "$LOG" | grep -q "weight matmuls on backend" && fail "auto did not stay on cpu: $LOG"
echo "PASS"
