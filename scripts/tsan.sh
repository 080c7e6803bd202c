#!/usr/bin/env bash
# ThreadSanitizer on the daemon: a build of lorad, its libraries and the
# daemon's tests (scheduler, store, watchers, workers' protocol with the fake
# trainer, loractl against a fake server) with -fsanitize=thread, then those
# tests.  The daemon locks with std::mutex (TSan sees it); Debian's gRPC and
# abseil are not instrumented, so the hand-offs inside gRPC are invisible and
# are listed, each with its reason, in tests/sanitizers/tsan.supp.
#   bash scripts/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${LORAD_TSAN_BUILD_DIR:-build-tsan}
TARGETS=(server_test daemon_local_worker_test daemon_integration_test loractl_fake_server_test
  client_core_test)
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  # No real trainer here: the daemon's tests use the fake worker (the real one
  # is LibTorch, whose OpenMP runtime TSan cannot follow).
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLORAD_SANITIZE=thread \
    -DLORAD_REAL_WORKER_TESTS=OFF -DCMAKE_CXX_FLAGS=-O1 -DCMAKE_C_FLAGS=-O1 >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${LORAD_JOBS:-$(nproc)}" --target "${TARGETS[@]}" lorad loractl fake-lorad-worker
export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitizers/tsan.supp"
# The binaries run directly: ctest filters by gtest name, not by executable.
tests=()
for t in "${TARGETS[@]}"; do
  bin=$(find "$BUILD_DIR/tests" -type f -name "$t" -perm -u+x | head -1)
  [[ -n "$bin" ]] || { echo "tsan: $t was not built" >&2; exit 1; }
  tests+=("$bin")
done
failed=()
for bin in "${tests[@]}"; do
  echo "== $(basename "$bin") (TSan)" >&2
  "$bin" --gtest_brief=1 || failed+=("$(basename "$bin")")
done
if ((${#failed[@]})); then
  echo "tsan: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "tsan: ${#tests[@]} test binaries of the daemon passed under ThreadSanitizer (${TARGETS[*]})" >&2
