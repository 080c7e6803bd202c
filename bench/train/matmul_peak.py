#!/usr/bin/python3
"""Measured matrix-multiply peak (GFLOP/s) of this machine, fp32 and bf16, with
Debian's python3-torch (the same LibTorch 1.13 as the C++ build) at the thread
count the benchmark trains with, at shapes the bench-100m step actually runs
(tokens × hidden @ hidden × intermediate, and the transposed input-gradient
product).  The MFU denominator of bench/train/run.sh: best of the shapes, best
of the repeats, so MFU is against the best this machine's kernels achieved.

  /usr/bin/python3 bench/train/matmul_peak.py --threads 2 [--json OUT]
"""
import argparse
import json
import sys
import time

import torch

# (m, k, n): a 2048-token step through the 768→2048 MLP projection, its
# 2048→768 counterpart, and the square product often quoted as "the" peak.
SHAPES = ((2048, 768, 2048), (2048, 2048, 768), (2048, 2048, 2048))


def gflops(dtype, m, k, n, repeats, min_seconds):
    a = torch.randn(m, k).to(dtype)
    b = torch.randn(k, n).to(dtype)
    torch.matmul(a, b)  # warm up: thread pool, packing buffers
    best = 0.0
    for _ in range(repeats):
        calls, t0 = 0, time.perf_counter()
        while True:
            torch.matmul(a, b)
            calls += 1
            dt = time.perf_counter() - t0
            if dt >= min_seconds:
                break
        best = max(best, 2.0 * m * k * n * calls / dt / 1e9)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-seconds", type=float, default=0.3, help="per repeat")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "shapes": {}}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        per_shape = {f"{m}x{k}@{k}x{n}": gflops(dtype, m, k, n, args.repeats, args.min_seconds)
                     for m, k, n in SHAPES}
        result["shapes"][name] = per_shape
        result[f"{name}_gflops"] = max(per_shape.values())
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
