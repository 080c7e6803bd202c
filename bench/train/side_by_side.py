#!/usr/bin/python3
"""Side-by-side training throughput: `lorad-worker run` against the Python
reference (bench/reference/reference_train.py) on the same model, shapes,
threads and LoRA setup, with peak RSS of each and MFU against the matmul peak
measured in the same run.  Called by bench/train/run.sh; FLOPs per token are
derived in bench/README.md.
"""
import argparse
import datetime
import json
import os
import random
import re
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "reference", "reference_train.py")
PEAK = os.path.join(HERE, "matmul_peak.py")
PY = "/usr/bin/python3"  # Debian's interpreter: python3-torch, same LibTorch as the C++ build

# (model preset, dtype, sequence_len, micro_batch_size): issue 10's matrix.
FULL = [("tiny", "fp32", 128, 4), ("tiny", "bf16", 128, 4)] + [
    ("bench-100m", d, s, b) for d in ("fp32", "bf16") for s, b in ((512, 1), (512, 4), (2048, 1))]
QUICK = [("tiny", "fp32", 128, 4), ("tiny", "bf16", 128, 4),
         ("bench-100m", "fp32", 512, 1), ("bench-100m", "bf16", 512, 1)]
LORA_R, LORA_ALPHA = 16, 32


def run(cmd, log):
    """Runs cmd under /usr/bin/time -v; returns (stdout, peak RSS bytes)."""
    rss_file = log + ".time"
    with open(log + ".stderr", "w") as err:
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", rss_file] + cmd, stdout=subprocess.PIPE,
                              stderr=err, text=True)
    with open(log + ".stdout", "w") as f:
        f.write(proc.stdout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}; see {log}.stderr")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(rss_file).read())
    return proc.stdout, int(m.group(1)) * 1024 if m else 0


def make_dataset(path, rows, words_per_row, seed=0):
    # Word salad from a fixed vocabulary: the BPE splits it into a realistic
    # mix of merged and single-byte tokens; each row is long enough that the
    # completion splitter fills whole sequence_len chunks.
    rng = random.Random(seed)
    words = ("the of and to in is was for on that with as by at from his her it an be this which are "
             "or had not but were have one all their they been has more when who will would there what "
             "about out up into than its time only new some could these two may first then do any like "
             "my now over such our man me even most made after also did many before must through back "
             "years where much your way well down should because each just those people how too little "
             "state good very make world still own see men work long get here between both life being "
             "under never day same another know while last might us great old year off come since "
             "against go came right used take three").split()
    with open(path, "w") as f:
        for _ in range(rows):
            f.write(json.dumps({"text": " ".join(rng.choice(words) for _ in range(words_per_row)) + "."}) + "\n")


def counts(cfg, seq):
    """Matmul parameter counts and FLOPs per training token (bench/README.md)."""
    L, H, I = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or H // nh
    V = cfg["vocab_size"]
    linears = [(H, nh * hd), (H, nkv * hd), (H, nkv * hd), (nh * hd, H), (H, I), (H, I), (I, H)]  # (in, out)
    n_frozen = L * sum(i * o for i, o in linears) + V * H  # block linears + lm_head
    n_lora = L * sum(LORA_R * (i + o) for i, o in linears)
    attention = 6 * L * seq * nh * hd  # QK^T and PV, causal half, fwd + bwd
    return {"n_frozen_matmul": n_frozen, "n_lora": n_lora, "frozen": 4 * n_frozen,
            "lora": 6 * n_lora, "attention": attention,
            "total": 4 * n_frozen + 6 * n_lora + attention}


def run_lorad(args, model_dir, data, name, dtype, seq, mbs):
    work = os.path.join(args.work, f"lorad-{name}")
    os.makedirs(work, exist_ok=True)
    yaml = os.path.join(work, "config.yaml")
    with open(yaml, "w") as f:
        f.write(f"""base_model: {model_dir}
adapter: lora
lora_r: {LORA_R}
lora_alpha: {LORA_ALPHA}
lora_dropout: 0.0
lora_target_linear: true
datasets:
  - path: {data}
    type: completion
sequence_len: {seq}
micro_batch_size: {mbs}
gradient_accumulation_steps: 1
max_steps: {args.steps}
learning_rate: 0.0001
lr_scheduler: constant
optimizer: adamw_torch
weight_decay: 0.0
max_grad_norm: 1.0
seed: 42
bf16: {"true" if dtype == "bf16" else "false"}
output_dir: {os.path.join(work, "out")}
save_steps: 0
logging_steps: 1
""")
    cmd = [args.worker, "run", yaml, "--overwrite", "--device", "cpu", "--threads", str(args.threads)]
    out, rss = run(cmd, os.path.join(work, "run"))
    steps = []
    for line in out.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("type") == "step":
            steps.append(rec)
    timed = [s for s in steps if s["step"] > args.warmup]
    seconds = sum(s["tokens"] / s["tokens_per_second"] for s in timed if s["tokens_per_second"] > 0)
    tokens = sum(s["tokens"] for s in timed)
    return {"tokens_per_second": tokens / seconds if seconds else 0.0, "peak_rss_bytes": rss,
            "steps_timed": len(timed), "tokens_per_step": tokens / len(timed) if timed else 0,
            "losses": [s["loss"] for s in steps]}


def run_reference(args, model_dir, name, dtype, seq, mbs):
    work = os.path.join(args.work, f"ref-{name}")
    os.makedirs(work, exist_ok=True)
    out_json = os.path.join(work, "result.json")
    cmd = [PY, REFERENCE, "--model", model_dir, "--seq-len", str(seq), "--micro-batch", str(mbs),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--dtype", dtype,
           "--threads", str(args.threads), "--json", out_json]
    _, rss = run(cmd, os.path.join(work, "run"))
    with open(out_json) as f:
        r = json.load(f)
    return {"tokens_per_second": r["tokens_per_second"], "peak_rss_bytes": rss,
            "steps_timed": r["steps_timed"], "tokens_per_step": seq * mbs, "losses": r["losses"]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True, help="lorad-worker binary")
    p.add_argument("--work", required=True, help="scratch dir (models, data, logs)")
    p.add_argument("--quick", action="store_true", help="tiny + bench-100m seq 512 mb 1, few steps")
    p.add_argument("--steps", type=int, default=0, help="optimizer steps per run (default 6, quick 4)")
    p.add_argument("--warmup", type=int, default=-1, help="untimed first steps (default 2, quick 1)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--only", help="comma list of NAME substrings, e.g. bench-100m-bf16-2048")
    p.add_argument("--skip-lorad", action="store_true", help="reference only (no worker built yet)")
    p.add_argument("--out-dir", default=os.path.join(HERE, "..", "results"))
    args = p.parse_args()
    args.steps = args.steps or (4 if args.quick else 6)
    args.warmup = args.warmup if args.warmup >= 0 else (1 if args.quick else 2)
    if not 0 <= args.warmup < args.steps:
        p.error("need 0 <= --warmup < --steps")
    os.makedirs(args.work, exist_ok=True)

    print(f"matmul peak ({args.threads} threads) ...", file=sys.stderr, flush=True)
    peak = json.loads(subprocess.run([PY, PEAK, "--threads", str(args.threads)], check=True, text=True,
                                     stdout=subprocess.PIPE).stdout)
    data = os.path.join(args.work, "data.jsonl")
    # Few, very long rows: the completion splitter cuts them into sequence_len
    # chunks, and only the last chunk of a row is short; with ~50 chunks per row
    # at 2048 the timed steps (seeded shuffle) practically never draw one.
    make_dataset(data, 4, 64000)

    configs = QUICK if args.quick else FULL
    if args.only:
        keys = args.only.split(",")
        configs = [c for c in configs if any(k in "-".join(map(str, c)) for k in keys)]
    rows, cfgs = [], {}
    for preset, dtype, seq, mbs in configs:
        model_dir = os.path.join(args.work, preset)
        if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
            subprocess.run([args.worker, "init-model", "--preset", preset, "--out", model_dir], check=True,
                           stdout=subprocess.DEVNULL)
        if preset not in cfgs:
            with open(os.path.join(model_dir, "config.json")) as f:
                cfgs[preset] = json.load(f)
        name = f"{preset}-{dtype}-{seq}-{mbs}"
        print(f"{name} ...", file=sys.stderr, flush=True)
        fl = counts(cfgs[preset], seq)
        peak_flops = peak[f"{dtype}_gflops"] * 1e9
        row = {"name": name, "model": preset, "dtype": dtype, "sequence_len": seq, "micro_batch_size": mbs,
               "flops_per_token": fl, "peak_flops": peak_flops}
        for side, fn in (("reference", lambda: run_reference(args, model_dir, name, dtype, seq, mbs)),
                         ("lorad", lambda: run_lorad(args, model_dir, data, name, dtype, seq, mbs))):
            if side == "lorad" and args.skip_lorad:
                continue
            try:
                r = fn()
                r["mfu"] = r["tokens_per_second"] * fl["total"] / peak_flops
            except (RuntimeError, OSError, KeyError, ValueError) as e:
                r = {"error": str(e)}
                print(f"  {side}: {e}", file=sys.stderr)
            if "tokens_per_step" in r and r["tokens_per_step"] < seq * mbs:
                # Short rows (padding) would make tok/s incomparable: say so.
                print(f"  {side}: {r['tokens_per_step']:.0f} tokens/step < {seq * mbs}", file=sys.stderr)
            row[side] = r
        rows.append(row)

    def f(r, key, fmt):
        return fmt(r[key]) if r and key in r else "-"

    print(f"matmul peak, {peak['threads']} threads: fp32 {peak['fp32_gflops']:.1f} GFLOP/s, "
          f"bf16 {peak['bf16_gflops']:.1f} GFLOP/s")
    print(f"{'config':<24} {'lorad tok/s':>11} {'ref tok/s':>10} {'ratio':>6} {'lorad RSS':>10} "
          f"{'ref RSS':>9} {'lorad MFU':>9} {'ref MFU':>8} {'GFLOP/tok':>9}")
    for row in rows:
        lo, re_ = row.get("lorad"), row.get("reference")
        ratio = (f"{lo['tokens_per_second'] / re_['tokens_per_second']:.2f}"
                 if lo and re_ and "tokens_per_second" in lo and re_.get("tokens_per_second") else "-")
        gib = lambda b: f"{b / 2**20:.0f}M"
        pct = lambda x: f"{100 * x:.1f}%"
        tps = lambda x: f"{x:.1f}"
        print(f"{row['name']:<24} {f(lo, 'tokens_per_second', tps):>11} {f(re_, 'tokens_per_second', tps):>10} "
              f"{ratio:>6} {f(lo, 'peak_rss_bytes', gib):>10} {f(re_, 'peak_rss_bytes', gib):>9} "
              f"{f(lo, 'mfu', pct):>9} {f(re_, 'mfu', pct):>8} {row['flops_per_token']['total'] / 1e9:>9.3f}")
    os.makedirs(args.out_dir, exist_ok=True)
    stamp = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(args.out_dir, f"train-{stamp}.json")
    with open(path, "w") as fo:
        json.dump({"host": socket.gethostname(), "utc": stamp, "threads": args.threads, "steps": args.steps,
                   "warmup": args.warmup, "cpus": os.cpu_count(), "peak": peak, "runs": rows}, fo, indent=2)
    print(f"wrote {os.path.normpath(path)}")
    return 1 if any("error" in r.get(s, {}) for r in rows for s in ("lorad", "reference")) else 0


if __name__ == "__main__":
    sys.exit(main())
