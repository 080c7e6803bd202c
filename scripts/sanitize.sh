#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer build of the LibTorch-free
# libraries (everything that parses outside input, the config, the data
# pipeline, checkpoints, the job store and scheduler) and their tests.
# LibTorch-based tests are left out: Debian's libtorch is not instrumented and
# its OpenMP runtime trips LeakSanitizer; see README "Reliability".
#   bash scripts/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${LORAD_SAN_BUILD_DIR:-build-asan}
TARGETS=(base_test formats_test checkpoint_test checkpoint_crash_test config_loader_test
  config_paths_test train_config_yaml_test config_examples_test tokenizer_test data_test
  fuzz_corpus_test server_test client_core_test client_output_test)
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLORAD_SANITIZE=address,undefined \
    -DCMAKE_CXX_FLAGS=-O1 >/dev/null
fi
# Only the test binaries that exist in this tree.
available=$(ninja -C "$BUILD_DIR" -t targets all | sed -n 's/^\([a-z_]*_test\): .*/\1/p' | sort -u)
build=()
for t in "${TARGETS[@]}"; do grep -qx "$t" <<<"$available" && build+=("$t"); done
cmake --build "$BUILD_DIR" -j "${LORAD_JOBS:-2}" --target "${build[@]}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for t in "${build[@]}"; do
  bin=$(find "$BUILD_DIR/tests" -type f -name "$t" -perm -u+x | head -1)
  echo "== $t (ASan+UBSan)" >&2
  "$bin" --gtest_brief=1 || failed+=("$t")
done
if ((${#failed[@]})); then
  echo "sanitize: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize: ${#build[@]} test binaries passed under ASan+UBSan" >&2
