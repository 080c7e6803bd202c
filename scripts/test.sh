#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test.
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-test-data.sh
bash scripts/build.sh
BUILD_DIR=${LORAD_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j "${LORAD_TEST_JOBS:-2}" ${LORAD_CTEST_ARGS:-}
