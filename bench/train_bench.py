#!/usr/bin/env python3
"""Training throughput of `lorad-worker run` on bench-100m against the matmul peak.

Called by bench/run.sh.  FLOPs per token are derived in bench/README.md.
"""
import argparse
import datetime
import json
import os
import random
import socket
import subprocess
import sys


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def make_dataset(path, rows, seed=0):
    rng = random.Random(seed)
    words = ("the of and to in is was for on that with as by at from his her it an be this "
             "which are or had not but were have one all their they been has more when who "
             "will would there what about out up into than its time only new some could "
             "these two may first then do any like my now over such our man me even most "
             "made after also did many before must through back years where much your way "
             "well down should because each just those people how too little state good very "
             "make world still own see men work long get here between both life being under "
             "never day same another know while last might us great old year off come since "
             "against go came right used take three").split()
    with open(path, "w") as f:
        for _ in range(rows):
            text = " ".join(rng.choice(words) for _ in range(900)) + "."
            f.write(json.dumps({"text": text}) + "\n")


def flops_per_token(cfg, n_lora, seq):
    L, H, I = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    hd = cfg.get("head_dim") or H // nh
    V = cfg["vocab_size"]
    d_attn = nh * hd
    n_frozen = L * (H * d_attn + 2 * H * nkv * hd + d_attn * H + 3 * H * I) + V * H
    attention = 12 * L * seq * d_attn
    return {"n_frozen_matmul": n_frozen, "n_lora": n_lora,
            "frozen": 4 * n_frozen, "lora": 6 * n_lora, "attention": attention,
            "total": 4 * n_frozen + 6 * n_lora + attention}


def run_one(args, model_dir, data, dtype, seq, mbs):
    work = os.path.join(args.work, f"run-{dtype}-{seq}-{mbs}")
    os.makedirs(work, exist_ok=True)
    yaml = os.path.join(work, "config.yaml")
    with open(yaml, "w") as f:
        f.write(f"""base_model: {model_dir}
adapter: lora
lora_r: 16
lora_alpha: 32
lora_target_linear: true
datasets:
  - path: {data}
    type: completion
sequence_len: {seq}
micro_batch_size: {mbs}
learning_rate: 0.0001
lr_scheduler: constant
max_steps: {args.steps}
bf16: {"true" if dtype == "bf16" else "false"}
output_dir: {os.path.join(work, "out")}
""")
    cmd = [args.worker, "run", yaml, "--overwrite", "--device", args.device]
    if args.threads > 0:
        cmd += ["--threads", str(args.threads)]
    dry = json.loads(sh(cmd + ["--dry-run"]).stdout.strip().splitlines()[-1])
    out = sh(cmd).stdout
    steps = [json.loads(l) for l in out.splitlines() if '"type":"step"' in l]
    timed = steps[1:] if len(steps) > 1 else steps  # the first step warms caches up
    tokens = sum(s["tokens"] for s in timed)
    seconds = sum(s["tokens"] / s["tokens_per_second"] for s in timed if s["tokens_per_second"] > 0)
    return {"dtype": dtype, "sequence_len": seq, "micro_batch_size": mbs,
            "steps_timed": len(timed), "tokens_per_second": tokens / seconds if seconds else 0.0,
            "trainable_parameters": dry["trainable_parameters"],
            "threads": dry["threads"], "device": dry["device"],
            "final_loss": steps[-1]["loss"] if steps else None}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True)
    p.add_argument("--peak", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out-dir", default="bench/results")
    args = p.parse_args()

    peak_cmd = [args.peak] + (["--threads", str(args.threads)] if args.threads > 0 else [])
    peak = json.loads(sh(peak_cmd).stdout)
    model_dir = os.path.join(args.work, "bench-100m")
    if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
        sh([args.worker, "init-model", "--preset", "bench-100m", "--out", model_dir])
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    data = os.path.join(args.work, "data.jsonl")
    make_dataset(data, 48)

    rows = []
    for dtype in ("fp32", "bf16"):
        r = run_one(args, model_dir, data, dtype, 512, 1)
        fl = flops_per_token(cfg, r["trainable_parameters"], r["sequence_len"])
        peak_flops = peak["bf16_flops"] if dtype == "bf16" else peak["fp32_flops"]
        r["flops_per_token"] = fl
        r["achieved_flops"] = r["tokens_per_second"] * fl["total"]
        r["peak_flops"] = peak_flops
        r["mfu"] = r["achieved_flops"] / peak_flops if peak_flops else 0.0
        rows.append(r)

    print(f"matmul peak ({peak['threads']} threads, {peak['size']}^3): "
          f"fp32 {peak['fp32_flops'] / 1e9:.1f} GFLOP/s, bf16 {peak['bf16_flops'] / 1e9:.1f} GFLOP/s")
    print(f"{'model':<11} {'dtype':<5} {'seq':>5} {'mbs':>4} {'tokens/s':>10} "
          f"{'GFLOP/token':>12} {'GFLOP/s':>9} {'MFU':>6}")
    for r in rows:
        print(f"{'bench-100m':<11} {r['dtype']:<5} {r['sequence_len']:>5} {r['micro_batch_size']:>4} "
              f"{r['tokens_per_second']:>10.1f} {r['flops_per_token']['total'] / 1e9:>12.3f} "
              f"{r['achieved_flops'] / 1e9:>9.1f} {100 * r['mfu']:>5.1f}%")
    os.makedirs(args.out_dir, exist_ok=True)
    stamp = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(args.out_dir, f"train-{socket.gethostname()}-{stamp}.json")
    with open(path, "w") as f:
        json.dump({"host": socket.gethostname(), "utc": stamp, "peak": peak, "runs": rows}, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
