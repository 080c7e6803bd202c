#!/usr/bin/env python3
"""The three resume_lr_policy values on the same continuation, side by side.

A first fine-tune of the tiny preset on "old" data, then three continuations
of that adapter on "new" data (same template family, partly new words), one
per policy (restart, rewarm, continue), same seed and steps.  Prints a
Markdown table: the training loss curve of each continuation, its first and
peak learning rates, the final eval loss on held-out new data, and the loss
on the old data afterwards (what the continuation forgot; measured by the
guardrails' own drift check in a --dry-run continuation on the old data).

    bench/continue/lr_policies.py [--worker build/worker/cli/lorad-worker] [--work DIR]

Stdlib only; it builds nothing.  A few minutes on 2 cores.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

ANIMALS = ["cat", "dog", "bird", "fox", "horse", "mouse", "goat", "duck"]
VERBS = ["sat", "slept", "stood", "waited", "played", "rested"]
OLD_PLACES = ["mat", "rug", "bed", "chair", "box", "sofa"]
NEW_PLACES = ["bridge", "tree", "table", "wagon", "fence", "roof"]


def write_data(path, places, preposition, n, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            text = "the {} {} {} the {}. the {} {} {} the {}.".format(
                rng.choice(ANIMALS), rng.choice(VERBS), preposition, rng.choice(places),
                rng.choice(ANIMALS), rng.choice(VERBS), preposition, rng.choice(places))
            f.write(json.dumps({"text": text}) + "\n")


def run(worker, yaml_path, threads, extra=()):
    cmd = [worker, "run", yaml_path, "--device", "cpu", "--threads", str(threads), *extra]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}")
    return records


def write_yaml(path, fields):
    def text(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str) and not v.startswith("["):  # flow lists go in as written
            return json.dumps(v)
        return str(v)
    with open(path, "w") as f:
        for k, v in fields.items():
            f.write(f"{k}: {text(v)}\n")


def old_data_loss(args, work, common, old, adapter, name):
    """The adapter's eval-mode loss on the old data, as the drift check of a
    continuation onto that data measures it (a --dry-run trains nothing)."""
    y = os.path.join(work, f"{name}-old.yaml")
    write_yaml(y, {**common, "datasets": f"[{{path: {old}, type: completion}}]", "learning_rate": 0.01,
                   "max_steps": 1, "lora_model_dir": adapter, "output_dir": os.path.join(work, f"{name}-old")})
    dry = [r for r in run(args.worker, y, args.threads, ["--dry-run"]) if r["type"] == "dry_run"]
    return dry[0]["data_drift"]["loss"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", default=os.environ.get("LORAD_WORKER", "build/worker/cli/lorad-worker"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--first-steps", type=int, default=80)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    if not os.access(args.worker, os.X_OK):
        raise SystemExit(f"no lorad-worker at {args.worker} (build it, or pass --worker)")
    work = args.work or tempfile.mkdtemp(prefix="lorad-lr-policies-")
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, "tiny")
    if not os.path.exists(os.path.join(model, "config.json")):
        subprocess.run([args.worker, "init-model", "--preset", "tiny", "--out", model, "--seed", "0"],
                       check=True, stdout=subprocess.DEVNULL)
    old, new = os.path.join(work, "old.jsonl"), os.path.join(work, "new.jsonl")
    write_data(old, OLD_PLACES, "on", 200, 1)
    write_data(new, NEW_PLACES, "under", 220, 2)
    common = {"base_model": model, "adapter": "lora", "lora_r": 8, "lora_alpha": 16,
              "lora_target_linear": True, "sequence_len": 64, "micro_batch_size": 4,
              "lr_scheduler": "cosine", "warmup_steps": 4, "bf16": False, "seed": 42}

    first_dir = os.path.join(work, "first")
    write_yaml(os.path.join(work, "first.yaml"),
               {**common, "datasets": f"[{{path: {old}, type: completion}}]", "learning_rate": 0.01,
                "max_steps": args.first_steps, "output_dir": first_dir})
    first = run(args.worker, os.path.join(work, "first.yaml"), args.threads, ["--overwrite"])
    first_loss = [r for r in first if r["type"] == "step"][-1]["loss"]
    before = old_data_loss(args, work, common, old, first_dir, "first")

    results = {}
    for policy in ("restart", "rewarm", "continue"):
        out = os.path.join(work, policy)
        y = os.path.join(work, f"{policy}.yaml")
        write_yaml(y, {**common, "datasets": f"[{{path: {new}, type: completion}}]",
                       "learning_rate": 0.01, "max_steps": args.steps, "lora_model_dir": first_dir,
                       "resume_lr_policy": policy, "val_set_size": 20, "eval_steps": args.steps,
                       "output_dir": out})
        recs = run(args.worker, y, args.threads, ["--overwrite"])
        steps = [r for r in recs if r["type"] == "step"]
        evals = [r for r in recs if r["type"] == "eval"]
        results[policy] = {
            "loss": {r["step"]: r["loss"] for r in steps},
            "rates": [r["learning_rate"] for r in steps],
            "eval": evals[-1]["eval_loss"] if evals else float("nan"),
            "old": old_data_loss(args, work, common, old, out, policy),
        }

    pol = list(results)
    print(f"First fine-tune: {args.first_steps} steps on the old data, learning_rate 0.01 "
          f"(cosine, warmup 4); last training loss {first_loss:.3f}, loss on the old data {before:.3f}.")
    print(f"Each continuation: {args.steps} steps on the new data, same seed.\n")
    print("| step | " + " | ".join(pol) + " |")
    print("|---:|" + "---:|" * len(pol))
    marks = sorted({1, 2, 3, 5, 10, 20, args.steps} | set(range(10, args.steps + 1, 10)))
    for s in [m for m in marks if m <= args.steps]:
        print(f"| {s} | " + " | ".join(f"{results[p]['loss'][s]:.3f}" for p in pol) + " |")
    print("| first learning rate | " + " | ".join(f"{results[p]['rates'][0]:.3g}" for p in pol) + " |")
    print("| peak learning rate | " + " | ".join(f"{max(results[p]['rates']):.3g}" for p in pol) + " |")
    print("| eval loss, new data (held out) | " + " | ".join(f"{results[p]['eval']:.3f}" for p in pol) + " |")
    print("| loss on the old data afterwards | " + " | ".join(f"{results[p]['old']:.3f}" for p in pol) + " |")


if __name__ == "__main__":
    main()
