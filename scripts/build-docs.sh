#!/usr/bin/env bash
# Builds the documentation site with mkdocs (Debian package `mkdocs`).
# Usage: scripts/build-docs.sh [OUT_DIR]   (default: build/docs-site)
# Fails on any warning (--strict) and when docs/api.md is out of date with
# the public header (regenerate it with scripts/gen-api-docs.py).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo_root/build/docs-site}"

command -v mkdocs >/dev/null 2>&1 || { echo "build-docs.sh: mkdocs is not installed (apt-get install mkdocs)" >&2; exit 1; }
/usr/bin/python3 "$repo_root/scripts/gen-api-docs.py" --check
cd "$repo_root"
mkdocs build --strict --clean --config-file "$repo_root/mkdocs.yml" --site-dir "$out" 2>&1
echo "build-docs.sh: site in $out"
