#!/usr/bin/env bash
# Training-throughput benchmark: the machine's matmul peak (fp32, bf16) and
# `lorad-worker run` on the bench-100m preset at sequence_len 512, fp32 and
# bf16, as tokens/s and model FLOP utilisation.  Prints a table and writes
# bench/results/train-<host>-<date>.json.  Not part of ctest.
#
#   bench/run.sh                  # build (build-bench/), then measure
#   BUILD_DIR=build bench/run.sh  # use an existing build
#   STEPS=8 THREADS=2 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-bench}
STEPS=${STEPS:-6}
THREADS=${THREADS:-0}
DEVICE=${DEVICE:-auto}
WORK=${WORK:-$(mktemp -d /tmp/lorad-bench-XXXXXX)}
if [[ ! -x "$BUILD_DIR/worker/cli/lorad-worker" || ! -x "$BUILD_DIR/bench/lorad_matmul_peak" ]]; then
  [[ -f "$BUILD_DIR/build.ninja" ]] || cmake -S . -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DLORAD_BUILD_SERVICE=OFF -DLORAD_BUILD_TESTS=OFF
  cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target lorad-worker lorad_matmul_peak
fi
mkdir -p bench/results
python3 bench/train_bench.py --worker "$BUILD_DIR/worker/cli/lorad-worker" \
  --peak "$BUILD_DIR/bench/lorad_matmul_peak" --work "$WORK" --steps "$STEPS" \
  --threads "$THREADS" --device "$DEVICE" --out-dir bench/results
