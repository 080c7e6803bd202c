#!/usr/bin/env bash
# Every benchmark of issue 10 in one command, one after the other (never in
# parallel: they share the cores), each printing its table:
#   1. training throughput side by side with the Python reference (bench/train)
#   2. model load from the page cache and checkpoint save time (bench/load)
#   3. tokenizer encode throughput against HF tokenizers (bench/tokenizer)
#   4. the daemon: SubmitJob/GetJob, step → 100 watchers, lorad's RSS (bench/service)
#
#   bench/run.sh            # everything (~40 min on 2 cores)
#   bench/run.sh --quick    # the training matrix's quick subset, 1 tokenizer
#   bench/run.sh --only load,service   # some parts: train, load, tokenizer, service
# Builds the benchmark targets in $LORAD_BUILD_DIR (default build) first.
# Results: bench/results/*.json and the printed tables.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${LORAD_BUILD_DIR:-build}
QUICK=""
PARTS="train,load,tokenizer,service"
while (($#)); do
  case $1 in
    --quick) QUICK=--quick ;;
    --only) PARTS=$2; shift ;;
    *) echo "usage: bench/run.sh [--quick] [--only train,load,tokenizer,service]" >&2; exit 2 ;;
  esac
  shift
done
want() { [[ ",$PARTS," == *",$1,"* ]]; }
WORK=${WORK:-$(mktemp -d /tmp/lorad-bench-XXXXXX)}
THREADS=${THREADS:-$(nproc)}
cmake --build "$BUILD_DIR" --target lorad-worker lorad loractl lorad_load_bench lorad_tokenizer_bench \
  lorad_service_bench >/dev/null
WORKER=$BUILD_DIR/worker/cli/lorad-worker
find_bin() { find "$BUILD_DIR" -name "$1" -type f -perm -u+x | head -1; }

if want train; then
echo "### 1. training throughput (bench/train/run.sh $QUICK)"
LORAD_WORKER=$WORKER WORK=$WORK/train THREADS=$THREADS bench/train/run.sh $QUICK
fi

if want load; then
echo
echo "### 2. load and checkpoints (bench-100m, $THREADS threads)"
model=$WORK/train/bench-100m
[[ -f $model/model.safetensors ]] || "$WORKER" init-model --preset bench-100m --out "$model" >/dev/null
for dtype in bf16 fp32; do
  "$(find_bin lorad_load_bench)" "$model" --dtype "$dtype" --repeat 3 --threads "$THREADS"
done
# Checkpoint save: a 3-step bf16 run at sequence_len 512 saving after every
# step (adapter, AdamW moments, RNG, state: what an exact resume needs).
mkdir -p "$WORK/ckpt"
/usr/bin/python3 -c 'import sys; sys.path.insert(0, "bench/train"); import side_by_side
side_by_side.make_dataset(sys.argv[1], 8, 3000)' "$WORK/ckpt/data.jsonl"
cat > "$WORK/ckpt/config.yaml" <<YAML
base_model: $model
adapter: lora
lora_r: 16
lora_alpha: 32
lora_target_linear: true
datasets:
  - path: $WORK/ckpt/data.jsonl
    type: completion
sequence_len: 512
micro_batch_size: 1
max_steps: 3
learning_rate: 2e-4
save_steps: 1
bf16: true
output_dir: $WORK/ckpt/out
YAML
"$WORKER" run "$WORK/ckpt/config.yaml" --overwrite --threads "$THREADS" 2>"$WORK/ckpt/run.stderr" |
  /usr/bin/python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.startswith("{")]
ck = [r for r in recs if r.get("type") == "checkpoint"]
for r in ck:
    print(json.dumps({"checkpoint_step": r["step"], "seconds": round(r["seconds"], 4),
                      "bytes": r["bytes"], "mb_per_s": round(r["bytes"] / r["seconds"] / 1e6, 1)}))'
fi

if want tokenizer; then
echo
echo "### 3. tokenizer encode throughput"
if [[ -n "$QUICK" ]]; then bash bench/tokenizer/run.sh gpt2; else bash bench/tokenizer/run.sh; fi
fi

if want service; then
echo
echo "### 4. the daemon (bench/service)"
svc=$WORK/service
mkdir -p "$svc"
echo bench-worker-token-0123456789 >"$svc/worker.token"
sed "s|/tmp/lb/worker.token|$svc/worker.token|" bench/service/bench-lorad.yaml >"$svc/lorad.yaml"
"$BUILD_DIR/server/lorad" --state-dir "$svc" --listen "unix:$svc/lorad.sock" --workers none \
  --config "$svc/lorad.yaml" 2>"$svc/lorad.log" &
lorad_pid=$!
trap 'kill $lorad_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -S $svc/lorad.sock ]] && break; sleep 0.1; done
rss() { awk -v k="$1:" '$1 == k {print $2 / 1024 " MiB"}' /proc/$lorad_pid/status; }
echo "lorad idle: RSS $(rss VmRSS)"
"$(find_bin lorad_service_bench)" --socket "unix:$svc/lorad.sock" --worker-token-file "$svc/worker.token" \
  --jobs 1000 --threads 8 --watchers 100 --steps 200
echo "lorad after the load: RSS $(rss VmRSS), peak $(rss VmHWM)"
kill $lorad_pid
wait $lorad_pid 2>/dev/null || true
trap - EXIT
fi
echo
echo "work dir (logs, models): $WORK"
