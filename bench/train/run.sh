#!/usr/bin/env bash
# Side-by-side training throughput (issue 10): `lorad-worker run` against the
# Python reference trainer (bench/reference/reference_train.py, Debian's
# python3-torch = the same LibTorch 1.13) on tiny and bench-100m, fp32 and
# bf16, sequence_len 512 (micro-batch 1 and 4) and 2048; tokens/s, their
# ratio, peak RSS of each and MFU against the matmul peak measured in the same
# run.  Prints a table, writes bench/results/train-<utc>.json.  Builds nothing.
#
#   bench/train/run.sh                 # full matrix (~30 min on 2 cores)
#   bench/train/run.sh --quick         # tiny + bench-100m seq 512 mb 1, 4 steps
#   bench/train/run.sh --only bench-100m-bf16-2048
#   LORAD_WORKER=build-x/worker/cli/lorad-worker THREADS=2 WORK=/tmp/b bench/train/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKER=${LORAD_WORKER:-build/worker/cli/lorad-worker}
if [[ ! -x "$WORKER" && " $* " != *" --skip-lorad "* ]]; then
  echo "bench/train/run.sh: no lorad-worker at '$WORKER' (build it, or set LORAD_WORKER)" >&2
  exit 2
fi
[[ -x /usr/bin/time ]] || { echo "bench/train/run.sh: needs /usr/bin/time (Debian package 'time')" >&2; exit 2; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || {
  echo "bench/train/run.sh: /usr/bin/python3 has no torch (Debian package python3-torch)" >&2; exit 2; }
WORK=${WORK:-$(mktemp -d /tmp/lorad-train-bench-XXXXXX)}
exec /usr/bin/python3 bench/train/side_by_side.py --worker "$WORKER" --work "$WORK" \
  --threads "${THREADS:-$(nproc)}" "$@"
