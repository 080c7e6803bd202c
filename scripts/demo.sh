#!/usr/bin/env bash
# The main job, end to end on one machine:
#   installs what is missing, builds, makes a tiny random-init model, starts
#   lorad, submits a LoRA fine-tune with loractl and follows it, then continues
#   the trained adapter with --resume, generates with it, and has lorad merge
#   it into the base model (loractl merge; the merged model then generates
#   the same text on its own).
#   bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/install-deps.sh
# Its own build folder without the tests (LORAD_BUILD_DIR=build reuses the test build).
export LORAD_BUILD_DIR=${LORAD_BUILD_DIR:-build-demo}
LORAD_CMAKE_ARGS="${LORAD_CMAKE_ARGS:-} -DLORAD_BUILD_TESTS=OFF" LORAD_BUILD_TYPE=${LORAD_BUILD_TYPE:-Release} \
  bash scripts/build.sh
B=$ROOT/$LORAD_BUILD_DIR
WORKER=$B/worker/cli/lorad-worker LORAD=$B/server/lorad LORACTL=$B/client/loractl
DEMO=$ROOT/demo
mkdir -p "$DEMO"

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

if [[ ! -f "$ROOT/models/tiny/config.json" ]]; then
  step "lorad-worker init-model --preset tiny --out models/tiny"
  "$WORKER" init-model --preset tiny --out "$ROOT/models/tiny"
fi

step "starting lorad (state in demo/.lorad, one CPU worker)"
rm -rf "$DEMO/.lorad" "$DEMO/out"
"$LORAD" --state-dir "$DEMO/.lorad" --listen "unix:$DEMO/.lorad/lorad.sock" \
  --metrics-address 127.0.0.1:0 --workers cpu 2>"$DEMO/lorad.log" &
LORAD_PID=$!
trap 'kill $LORAD_PID 2>/dev/null; wait $LORAD_PID 2>/dev/null || true' EXIT
export LORAD_ADDRESS="unix:$DEMO/.lorad/lorad.sock"
for _ in $(seq 100); do "$LORACTL" health >/dev/null 2>&1 && break; sleep 0.1; done
"$LORACTL" health

step "loractl submit examples/tiny-lora.yaml --follow"
"$LORACTL" submit examples/tiny-lora.yaml --name demo-first \
  --set output_dir="$DEMO/out/first" --follow

step "loractl submit examples/tiny-lora.yaml --resume demo/out/first --follow  (continue the adapter)"
CONTINUED=$("$LORACTL" submit examples/tiny-lora.yaml --name demo-continue \
  --resume "$DEMO/out/first" --set output_dir="$DEMO/out/continued" --follow)

step "lorad-worker generate models/tiny --adapter demo/out/continued  (greedy, with the adapter)"
"$WORKER" generate "$ROOT/models/tiny" --adapter "$DEMO/out/continued" --chat-template none \
  --prompt "The cat sat" --max-new-tokens 24

step "loractl merge $CONTINUED --out demo/merged --max-shard-size 500KB --follow  (a merge job on lorad)"
rm -rf "$DEMO/merged"
"$LORACTL" merge "$CONTINUED" --out "$DEMO/merged" --max-shard-size 500KB --name demo-merge \
  --follow >/dev/null

step "loractl list"
"$LORACTL" list

step "lorad-worker generate demo/merged  (the merged model alone: the same text)"
"$WORKER" generate "$DEMO/merged" --chat-template none --prompt "The cat sat" --max-new-tokens 24
step "done: adapters in demo/out/first and demo/out/continued, merged model in demo/merged"
