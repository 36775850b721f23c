#!/usr/bin/env bash
# The main job in one command: install, build, and generate text with the
# default model, models/edgeformer-demo.gguf: a 5.8M-parameter GQA
# "edgeformer" trained by this project's own trainer on the Brown corpus
# (recipe: bench/train/train_demo.sh, docs/training.md), Q8_0, 6 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPT="${1:-The jury said}"
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEF_BUILD_TESTS=OFF >/dev/null
cmake --build build --target edgeformer-cli
build/edgeformer run -m models/edgeformer-demo.gguf -p "$PROMPT" -n 64 --seed 42
