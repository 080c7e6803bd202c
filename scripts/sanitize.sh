#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer: a second build (build-asan,
# Debug at -O1) of everything that does not compile against LibTorch — the
# parsers of outside data, config, tokenizer, data pipeline, checkpoints, the
# daemon (store, scheduler, watchers, workers' protocol, auth) and loractl —
# and their tests, including the daemon's integration tests with the fake
# trainer (real lorad, real `lorad-worker serve` code).  Child processes the
# tests start are the instrumented binaries of this build and inherit the
# options below, so a report in any of them fails its test.
#
# Not here: the test binaries that link LibTorch (model, train, generate, the
# CLI's training runs, the real-worker integration tests, fault_soak_test's
# worker-kill soak).  Debian's LibTorch is not instrumented, and the 74 more compile steps
# they need (LibTorch translation units, ~60 s each under ASan on 2 cores) do
# not fit the stage's budget next to the rest of CI (README "Reliability").
#   bash scripts/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${LORAD_SAN_BUILD_DIR:-build-asan}
TARGETS=(base_test formats_test fuzz_corpus_test fuzz_corpus_parsers_test checkpoint_test
  checkpoint_crash_test config_loader_test config_paths_test train_config_yaml_test
  config_examples_test tokenizer_test tokenize_command_test data_test preprocess_command_test
  server_test client_core_test client_output_test loractl_fake_server_test
  daemon_local_worker_test daemon_integration_test hostile_spec_test fault_soak_test)
# Not watch_load_test: under ASan its 7.5 s load job ends before the crowd and
# the flood are set up (a 4x longer job did not suffice either), so its bounds
# are checked in the Release build only.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLORAD_SANITIZE=address,undefined \
  -DLORAD_REAL_WORKER_TESTS=OFF -DCMAKE_CXX_FLAGS=-O1 -DCMAKE_C_FLAGS=-O1 >/dev/null
# Only the test binaries that exist in this tree.
available=$(ninja -C "$BUILD_DIR" -t targets all | sed -n 's/^\([a-z_]*_test\): .*/\1/p' | sort -u)
build=()
for t in "${TARGETS[@]}"; do grep -qx "$t" <<<"$available" && build+=("$t"); done
cmake --build "$BUILD_DIR" -j "${LORAD_JOBS:-$(nproc)}" --target "${build[@]}"
supp=$PWD/tests/sanitizers
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export LSAN_OPTIONS=suppressions=$supp/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp
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
