#!/usr/bin/env python3
"""Independent reference for lorad's model tests.

Computes the causal-LM loss of a Llama / Mistral / Qwen2 model with a PEFT LoRA
adapter from the Hugging Face conventions (../shared/docs/FORMATS.md), written
from scratch with plain PyTorch ops: it does NOT import transformers or peft and
shares no code with the C++ implementation.  safetensors files are parsed by
hand (u64 header length + JSON header + raw little-endian bytes).

usage: reference_forward.py CASE_DIR
CASE_DIR holds config.json, model.safetensors, adapter_model.safetensors
(PEFT key names) and case.json:
  {"lora": {"alpha": 8, "use_rslora": false, "alpha_pattern": {}},
   "input_ids": [[...]], "labels": [[...]],
   "position_ids": [[...]] | null, "segment_ids": [[...]] | null}
Prints {"loss_sum": float, "num_tokens": int} on stdout.
"""
import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16,
          "F16": torch.float16, "I64": torch.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        if end > begin:
            t = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype)
        else:
            t = torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"])
    return tensors


def inv_freq_for(cfg, head_dim):
    theta = cfg.get("rope_theta", 10000.0)
    scaling = cfg.get("rope_scaling") or {}
    params = cfg.get("rope_parameters") or {}
    if params:
        theta = params.get("rope_theta", theta)
        scaling = params
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "linear":
        inv = inv / scaling["factor"]
    elif kind == "llama3":
        factor = scaling["factor"]
        low = scaling["low_freq_factor"]
        high = scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        out = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, out)
    elif kind not in ("default", None):
        raise SystemExit("unsupported rope type %s" % kind)
    return inv


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rms_norm(x, w, eps):
    dtype = x.dtype
    x32 = x.to(torch.float32)
    var = x32.pow(2).mean(-1, keepdim=True)
    return w * (x32 * torch.rsqrt(var + eps)).to(dtype)


def main():
    case_dir = sys.argv[1]
    cfg = json.load(open(os.path.join(case_dir, "config.json")))
    case = json.load(open(os.path.join(case_dir, "case.json")))
    w = read_safetensors(os.path.join(case_dir, "model.safetensors"))
    w = {k: v.float() for k, v in w.items()}
    adapter = read_safetensors(os.path.join(case_dir, "adapter_model.safetensors"))
    lora = case["lora"]

    model_type = cfg.get("model_type", "llama")
    H = cfg["hidden_size"]
    nH = cfg["num_attention_heads"]
    nKV = cfg.get("num_key_value_heads") or nH
    hd = cfg.get("head_dim") or H // nH
    eps = cfg.get("rms_norm_eps", 1e-6)
    L = cfg["num_hidden_layers"]
    window = None
    if model_type == "mistral":
        window = cfg.get("sliding_window")
    elif model_type == "qwen2" and cfg.get("use_sliding_window"):
        window = cfg.get("sliding_window")

    def linear(x, path):
        y = x @ w[path + ".weight"].t()
        if path + ".bias" in w:
            y = y + w[path + ".bias"]
        key = "base_model.model." + path
        if key + ".lora_A.weight" in adapter:
            A = adapter[key + ".lora_A.weight"].float()
            B = adapter[key + ".lora_B.weight"].float()
            r = A.shape[0]
            alpha = lora["alpha"]
            for pattern, a in lora.get("alpha_pattern", {}).items():
                if path == pattern or path.endswith("." + pattern):
                    alpha = a
            scaling = alpha / math.sqrt(r) if lora.get("use_rslora") else alpha / r
            y = y + (x @ A.t()) @ B.t() * scaling
        return y

    ids = torch.tensor(case["input_ids"], dtype=torch.int64)
    labels = torch.tensor(case["labels"], dtype=torch.int64)
    Bsz, T = ids.shape
    if case.get("position_ids") is not None:
        pos = torch.tensor(case["position_ids"], dtype=torch.int64)
    else:
        pos = torch.arange(T).unsqueeze(0).expand(Bsz, T)
    seg = None
    if case.get("segment_ids") is not None:
        seg = torch.tensor(case["segment_ids"], dtype=torch.int64)

    inv = inv_freq_for(cfg, hd)
    freqs = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]  # [B, 1, T, hd]

    qi = torch.arange(T)[:, None]
    kj = torch.arange(T)[None, :]
    allowed = (kj <= qi)[None, None]
    if window:
        allowed = allowed & (kj > qi - window)[None, None]
    if seg is not None:
        allowed = allowed & (seg[:, :, None] == seg[:, None, :])[:, None]
    additive = torch.zeros(allowed.shape, dtype=torch.float32).masked_fill(
        ~allowed, torch.finfo(torch.float32).min)

    x = w["model.embed_tokens.weight"][ids]
    for i in range(L):
        p = "model.layers.%d." % i
        res = x
        y = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = linear(y, p + "self_attn.q_proj").view(Bsz, T, nH, hd).transpose(1, 2)
        k = linear(y, p + "self_attn.k_proj").view(Bsz, T, nKV, hd).transpose(1, 2)
        v = linear(y, p + "self_attn.v_proj").view(Bsz, T, nKV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nH // nKV
        k = k[:, :, None].expand(Bsz, nKV, rep, T, hd).reshape(Bsz, nH, T, hd)
        v = v[:, :, None].expand(Bsz, nKV, rep, T, hd).reshape(Bsz, nH, T, hd)
        scores = (q @ k.transpose(2, 3)) * hd ** -0.5 + additive
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        attn = (probs @ v).transpose(1, 2).reshape(Bsz, T, nH * hd)
        x = res + linear(attn, p + "self_attn.o_proj")
        res = x
        y = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        act = torch.nn.functional.silu(linear(y, p + "mlp.gate_proj")) * linear(y, p + "mlp.up_proj")
        x = res + linear(act, p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    logits = (x @ head.t()).float()
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    loss = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100,
                                             reduction="sum")
    print(json.dumps({"loss_sum": loss.item(), "num_tokens": int((shift_labels != -100).sum())}))


if __name__ == "__main__":
    with torch.no_grad():
        main()
