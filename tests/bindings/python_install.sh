#!/bin/sh
# `pip install bindings/python` works with Debian's python3 (offline: no build
# isolation, no index), and the installed package finds a libedgeformer.so
# bundled next to it without EDGEFORMER_LIBRARY.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SRC="$1"; LIB="$2"; TMP="$3"
PY=/usr/bin/python3
rm -rf "$TMP/pyinstall"
mkdir -p "$TMP/pyinstall"
# build from a copy: setuptools writes build/ and *.egg-info next to the sources
cp -r "$SRC" "$TMP/pyinstall/src"
rm -rf "$TMP/pyinstall/src/build" "$TMP/pyinstall/src"/*.egg-info
cp "$LIB" "$TMP/pyinstall/src/edgeformer/"
"$PY" -m pip install --quiet --no-deps --no-build-isolation --no-index \
    --target "$TMP/pyinstall/site" "$TMP/pyinstall/src"
cd "$TMP/pyinstall"
env -u EDGEFORMER_LIBRARY PYTHONPATH="$TMP/pyinstall/site" \
    sh "$HERE/with_preload.sh" "$PY" - <<'PYEOF'
import os, edgeformer
from edgeformer import _lib
lib = _lib.lib()
here = os.path.dirname(edgeformer.__file__)
assert os.path.dirname(os.path.abspath(lib._name)) == here, (lib._name, here)
assert edgeformer.version_number() >= 1000, edgeformer.version()
print("python install: ok, version", edgeformer.version())
PYEOF
