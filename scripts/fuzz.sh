#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, coverage on all our code)
# in their own build directory and runs each one for a bounded time.
#
#   bash scripts/fuzz.sh                 # every target, 20 s each (the CI stage)
#   bash scripts/fuzz.sh --seconds 120   # longer
#   bash scripts/fuzz.sh --soak          # 1 hour per target
#   bash scripts/fuzz.sh --only fuzz_safetensors_header
#
# Every run uses -rss_limit_mb / -malloc_limit_mb (a parser that allocates what
# a hostile header claims fails) and -timeout (a hang fails).  Seeds live in
# tests/fuzz/corpus/<target>/ (kept in the repo); new inputs go to
# $BUILD_DIR/corpus/<target>/ and crashes to $BUILD_DIR/artifacts/.
# Needs clang and libFuzzer: LORAD_FUZZ=1 bash scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${LORAD_FUZZ_SECONDS:-20}
ONLY=""
while (($#)); do
  case "$1" in
    --seconds) SECONDS_PER_TARGET=$2; shift 2 ;;
    --soak) SECONDS_PER_TARGET=3600; shift ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

BUILD_DIR=${LORAD_FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${LORAD_JOBS:-2}
CXX_BIN=${LORAD_FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}
CC_BIN=${LORAD_FUZZ_CC:-$(command -v clang-14 || command -v clang || true)}
if [[ -z "$CXX_BIN" || -z "$CC_BIN" ]]; then
  echo "fuzz.sh: clang not found; run: LORAD_FUZZ=1 bash scripts/install-deps.sh" >&2
  exit 2
fi
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_C_COMPILER="$CC_BIN" -DCMAKE_CXX_COMPILER="$CXX_BIN" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLORAD_BUILD_FUZZERS=ON -DLORAD_BUILD_SERVICE=OFF -DLORAD_BUILD_TESTS=ON \
    -DLORAD_SANITIZE=address,undefined \
    -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link
fi
cmake --build "$BUILD_DIR" -j "$JOBS" --target lorad_fuzzers

mkdir -p "$BUILD_DIR/artifacts"
failed=()
ran=0
for bin in "$BUILD_DIR"/tests/fuzz/fuzz_*; do
  [[ -x "$bin" && -f "$bin" ]] || continue
  name=$(basename "$bin")
  [[ -z "$ONLY" || "$name" == "$ONLY" ]] || continue
  seeds="tests/fuzz/corpus/${name#fuzz_}"
  work="$BUILD_DIR/corpus/${name#fuzz_}"
  mkdir -p "$work" "$seeds"
  echo "== $name: ${SECONDS_PER_TARGET}s (seeds: $seeds)"
  # halt_on_error/abort_on_error make sanitizer reports count as crashes.
  if ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$bin" "$work" "$seeds" \
      -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/$name-" \
      >"$BUILD_DIR/$name.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::new_units_added|Done [0-9]+ runs" \
      "$BUILD_DIR/$name.log" | tr '\n' ' '
    echo
  else
    echo "!! $name FAILED (log: $BUILD_DIR/$name.log)"
    tail -n 40 "$BUILD_DIR/$name.log"
    failed+=("$name")
  fi
  ran=$((ran + 1))
done
if ((ran == 0)); then
  echo "fuzz.sh: no fuzz targets matched" >&2
  exit 2
fi
if ((${#failed[@]})); then
  echo "fuzz.sh: failures: ${failed[*]} (reproduce: $BUILD_DIR/tests/fuzz/<target> <artifact>)" >&2
  exit 1
fi
echo "fuzz.sh: $ran targets ran ${SECONDS_PER_TARGET}s each without a crash, hang or oversized allocation"
