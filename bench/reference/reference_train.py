#!/usr/bin/python3
"""Reference LoRA training loop: what transformers' eager LlamaForCausalLM plus
PEFT's LoRA `Linear` run, op for op, in plain PyTorch.

It is the peer `lorad-worker run` is compared against in bench/train/run.sh, so
it must not be a strawman: it does what an Axolotl user gets with
`bf16: true, adapter: lora, lora_target_linear: true, attn_implementation:
eager` — bf16 frozen base weights, fp32 adapters, every block op under
torch.autocast(bf16), RMSNorm in fp32, fp32 softmax, HF's shifted-label
cross-entropy on fp32 logits, gradient clipping (the HF Trainer default 1.0)
and torch.optim.AdamW on the adapters only.  transformers/peft themselves are
not installed here; Debian's python3-torch is the same LibTorch 1.13 as the C++
build, so the comparison isolates what each side does with the same kernels.

Run with Debian's interpreter (the pyenv `python3` on PATH has no torch):
  /usr/bin/python3 bench/reference/reference_train.py --model models/tiny \
      --seq-len 64 --steps 3
Reads an HF-format model dir (config.json + model.safetensors, as written by
`lorad-worker init-model`); no tokenizer: the batch is fixed random token ids.
"""
import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import torch
import torch.nn.functional as F

SAFETENSORS_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the format's own limit
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def load_safetensors(path, dtype):
    """Parses a .safetensors file by hand (8-byte LE header length, JSON header,
    raw little-endian bytes) and returns {name: tensor converted to dtype}."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    if len(data) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} exceeds the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in SAFETENSORS_DTYPES:
            raise ValueError(f"{path}: tensor '{name}' has unsupported dtype {info['dtype']}")
        src = SAFETENSORS_DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        numel = math.prod(info["shape"]) if info["shape"] else 1
        if end - begin != numel * torch.tensor([], dtype=src).element_size() or base + end > len(data):
            raise ValueError(f"{path}: tensor '{name}' offsets {begin}..{end} do not match its shape")
        t = torch.frombuffer(data, dtype=src, count=numel, offset=base + begin).reshape(info["shape"])
        # copy=True so the file's buffer can be freed after loading.
        out[name] = t.to(dtype, copy=True)
    return out


class Lora:
    """PEFT LoRA Linear: y = base(x) + B(A(dropout(x))) * alpha/r, adapters fp32,
    A kaiming-uniform(a=sqrt(5)) as nn.Linear, B zeros."""

    def __init__(self, weight, r, alpha, gen):
        out_f, in_f = weight.shape
        self.weight = weight  # frozen, model dtype
        self.a = torch.empty(r, in_f, dtype=torch.float32)
        bound = 1.0 / math.sqrt(in_f)  # kaiming_uniform_(a=sqrt(5)) on [r, in]
        self.a.uniform_(-bound, bound, generator=gen)
        self.b = torch.zeros(out_f, r, dtype=torch.float32)
        self.a.requires_grad_(True)
        self.b.requires_grad_(True)
        self.scaling = alpha / r

    def __call__(self, x):
        result = F.linear(x, self.weight)
        result_dtype = result.dtype
        # peft casts the input to the adapter dtype (fp32); autocast then runs
        # both adapter matmuls in bf16 anyway.
        x = x.to(self.a.dtype)
        result = result + F.linear(F.linear(x, self.a), self.b) * self.scaling
        return result.to(result_dtype)


def rms_norm(x, weight, eps):
    # LlamaRMSNorm: fp32 statistics, cast back, then scale.
    input_dtype = x.dtype
    h = x.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + eps)
    return weight * h.to(input_dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class Llama:
    def __init__(self, cfg, weights, r, alpha, seed):
        self.cfg = cfg
        self.h = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads", self.nh)
        self.hd = cfg.get("head_dim") or self.h // self.nh
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        gen = torch.Generator().manual_seed(seed)
        self.embed = weights["model.embed_tokens.weight"]
        self.norm = weights["model.norm.weight"]
        self.lm_head = weights.get("lm_head.weight", self.embed)
        self.layers = []
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            layer = {"in_norm": weights[p + "input_layernorm.weight"],
                     "post_norm": weights[p + "post_attention_layernorm.weight"]}
            for name in LORA_TARGETS:
                part = "self_attn." if name.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp."
                key = p + part + name + ".weight"
                layer[name] = Lora(weights[key], r, alpha, gen)
            self.layers.append(layer)

    def lora_parameters(self):
        return [t for layer in self.layers for name in LORA_TARGETS for t in (layer[name].a, layer[name].b)]

    def rope(self, seq, dtype):
        # LlamaRotaryEmbedding: fp32 with autocast off, cast to the activation dtype.
        with torch.autocast("cpu", enabled=False):
            inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))
            pos = torch.arange(seq, dtype=torch.float32)
            freqs = torch.outer(pos, inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            return emb.cos().to(dtype), emb.sin().to(dtype)

    def attention(self, layer, x, cos, sin, mask):
        b, t, _ = x.shape
        q = layer["q_proj"](x).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = layer["k_proj"](x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = layer["v_proj"](x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.nkv != self.nh:  # repeat_kv
            rep = self.nh // self.nkv
            k = k[:, :, None].expand(b, self.nkv, rep, t, self.hd).reshape(b, self.nh, t, self.hd)
            v = v[:, :, None].expand(b, self.nkv, rep, t, self.hd).reshape(b, self.nh, t, self.hd)
        w = torch.matmul(q, k.transpose(2, 3)) * (self.hd ** -0.5)
        w = w + mask
        w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(w, v).transpose(1, 2).contiguous().reshape(b, t, self.nh * self.hd)
        return layer["o_proj"](o)

    def forward_loss(self, ids, labels):
        b, t = ids.shape
        x = F.embedding(ids, self.embed)
        cos, sin = self.rope(t, x.dtype)
        # HF's 4-D additive causal mask in the model dtype (min value above the diagonal).
        mask = torch.full((t, t), torch.finfo(x.dtype).min, dtype=x.dtype).triu(1)[None, None]
        for layer in self.layers:
            h = rms_norm(x, layer["in_norm"], self.eps)
            x = x + self.attention(layer, h, cos, sin, mask)
            h = rms_norm(x, layer["post_norm"], self.eps)
            x = x + layer["down_proj"](F.silu(layer["gate_proj"](h)) * layer["up_proj"](h))
        x = rms_norm(x, self.norm, self.eps)
        logits = F.linear(x, self.lm_head).float()
        # ForCausalLMLoss: shift, flatten, mean over non-ignored tokens.
        shift_logits = logits[:, :-1].contiguous().view(-1, logits.shape[-1])
        shift_labels = labels[:, 1:].contiguous().view(-1)
        return F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="mean")


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="HF model dir (config.json, model.safetensors)")
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--micro-batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=6, help="optimizer steps in all, warmup included")
    p.add_argument("--warmup", type=int, default=1, help="first steps left out of the timing")
    p.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-alpha", type=float, default=32)
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="HF Trainer default; 0 disables")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", help="write the result record here")
    args = p.parse_args()
    if args.seq_len < 2 or args.micro_batch < 1 or args.steps < 1 or not 0 <= args.warmup < args.steps:
        p.error("need --seq-len >= 2, --micro-batch >= 1, --steps >= 1 and 0 <= --warmup < --steps")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    t0 = time.perf_counter()
    weights = load_safetensors(os.path.join(args.model, "model.safetensors"), dtype)
    model = Llama(cfg, weights, args.lora_r, args.lora_alpha, args.seed)
    del weights
    load_s = time.perf_counter() - t0
    params = model.lora_parameters()
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    gen = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(0, cfg["vocab_size"], (args.micro_batch, args.seq_len), generator=gen)
    labels = ids.clone()

    losses, times = [], []
    for step in range(args.steps):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            loss = model.forward_loss(ids, labels)
        loss.backward()
        if args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        times.append(time.perf_counter() - t)
        print(json.dumps({"type": "step", "step": step + 1, "loss": losses[-1],
                          "seconds": times[-1]}), flush=True)

    timed = times[args.warmup:]
    tokens = args.micro_batch * args.seq_len * len(timed)
    result = {
        "type": "reference",
        "model": os.path.abspath(args.model),
        "dtype": args.dtype, "sequence_len": args.seq_len, "micro_batch_size": args.micro_batch,
        "steps": args.steps, "steps_timed": len(timed),
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "trainable_parameters": sum(t.numel() for t in params),
        "load_seconds": load_s,
        "tokens_per_second": tokens / sum(timed),
        "losses": losses,
        "peak_rss_bytes": peak_rss_bytes(),
    }
    print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
