#!/usr/bin/env bash
# Tokenizer encode throughput, lorad vs Hugging Face `tokenizers`, on the test text set.
#   bash bench/tokenizer/run.sh [MODEL...]      (MODEL: gpt2 llama3 qwen2_5 llama2; default all)
# Needs: the lorad_tokenizer_bench target built in $LORAD_BUILD_DIR (default build)
# and the npm data from scripts/fetch-test-data.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${LORAD_BUILD_DIR:-build}
NPM_DIR=${LORAD_NPM_DIR:-.cache/npm}
MIN_MB=${LORAD_BENCH_MB:-4}
THREADS=${LORAD_BENCH_THREADS:-$(nproc)}
cmake --build "$BUILD_DIR" --target lorad_tokenizer_bench > /dev/null
BENCH=$(find "$BUILD_DIR" -name lorad_tokenizer_bench -type f -perm -u+x | head -1)
[[ -x "$BENCH" ]] || { echo "lorad_tokenizer_bench not built in $BUILD_DIR" >&2; exit 1; }
bash scripts/fetch-test-data.sh > /dev/null
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(gpt2 llama3 qwen2_5 llama2)
for m in "${models[@]}"; do
  dir="$NPM_DIR/node_modules/@lenml/tokenizer-$m/models"
  echo "== $m ($(nproc) CPUs, ${MIN_MB} MB of tests/tokenizer/data texts)"
  "$BENCH" "$dir" --threads "$THREADS" --min-mb "$MIN_MB" tests/tokenizer/data/*.txt
  node bench/tokenizer/reference_bench.js "$NPM_DIR" "$dir/tokenizer.json" "$MIN_MB" tests/tokenizer/data/*.txt
done
