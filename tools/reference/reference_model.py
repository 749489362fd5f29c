"""Plain-PyTorch reference of the Llama-family decoders the OpenBook engine runs (Llama, Qwen2, Mistral).

Written from the math of Hugging Face transformers' modeling_llama.py / modeling_qwen2.py /
modeling_mistral.py (eager attention path), without importing transformers: a full-recompute forward,
fp32 compute, weights read from an HF model directory (config.json + model.safetensors or a sharded
model.safetensors.index.json). bf16 checkpoints are widened to fp32 before compute (what the C# engine
does); HF itself would compute in bf16 unless the model is loaded with torch_dtype=float32.

Run with Debian's interpreter: /usr/bin/python3 (needs python3-torch, python3-numpy).
  /usr/bin/python3 tools/reference/reference_model.py MODEL_DIR 1 2 3 4   # prints last-position top-5
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": (np.float32, 4), "BF16": (np.uint16, 2), "F16": (np.float16, 2)}


def read_safetensors(path):
    """Returns {name: fp32 torch tensor} from one .safetensors file."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        np_dtype, _ = DTYPES[t["dtype"]]
        arr = np.frombuffer(data[begin:end], dtype=np_dtype)
        if t["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(t["shape"]).copy())
    return out


def load_state_dict(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        sd = {}
        for shard in sorted(set(weight_map.values())):
            sd.update(read_safetensors(os.path.join(model_dir, shard)))
        return sd
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))


def inv_freq(cfg):
    """HF _compute_default_rope_parameters (+ _compute_llama3_parameters / linear when rope_scaling says so)."""
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    scaling = cfg.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    position_scale = 1.0
    if kind == "llama3":
        factor = scaling["factor"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old_ctx = scaling["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
        wavelen = 2 * math.pi / inv
        inv_llama = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old_ctx / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_llama / factor + smooth * inv_llama
        is_medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(is_medium, smoothed, inv_llama)
    elif kind == "linear":
        position_scale = 1.0 / scaling["factor"]
    elif kind != "default":
        raise ValueError(f"rope type {kind} not in the reference")
    return inv, position_scale


def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def base_linear(sd, x, name):
    """x @ W^T (+ b) for the HF module `name` (e.g. model.layers.0.self_attn.q_proj)."""
    y = x @ sd[name + ".weight"].T
    if name + ".bias" in sd:
        y = y + sd[name + ".bias"]
    return y


def forward(cfg, sd, ids, inputs_embeds=None, positions=None, segments=None, linear=None):
    """Logits [len(ids), vocab] for one sequence, full recompute (no cache).

    Optional hooks (used by lora_reference.py; the defaults give the plain forward):
      inputs_embeds [n, hidden] replaces the embedding lookup of ids (so its gradient can be taken);
      positions     RoPE position of each token (default 0..n-1; packed rows restart at 0 per example);
      segments      example id per token: key j is visible from query i only when segments[i] == segments[j]
                    (block-diagonal causal mask for packed rows; padding carries its own segment, e.g. -1);
      linear        callable(x, module_name) -> y replacing every projection (LoRA wraps the base one).
    """
    arch = cfg["architectures"][0]
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or hidden // heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    n = len(ids) if inputs_embeds is None else inputs_embeds.shape[0]
    window = None
    if arch == "MistralForCausalLM" and cfg.get("sliding_window"):
        window = cfg["sliding_window"]
    if arch == "Qwen2ForCausalLM" and cfg.get("use_sliding_window"):
        raise ValueError("Qwen2 sliding window is not in the reference")

    inv, position_scale = inv_freq(cfg)
    positions = torch.arange(n) if positions is None else torch.as_tensor(positions)
    positions = positions.to(torch.float32) * position_scale
    freqs = positions[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    # Causal mask (+ Mistral sliding window: key j visible from query p when p - window < j <= p).
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    visible = j <= i
    if window is not None:
        visible = visible & (j > i - window)
    if segments is not None:
        seg = torch.as_tensor(segments)
        visible = visible & (seg[:, None] == seg[None, :])
    mask = torch.zeros(n, n).masked_fill(~visible, float("-inf"))

    if linear is None:
        def linear(x, name):
            return base_linear(sd, x, name)

    x = sd["model.embed_tokens.weight"][torch.tensor(ids)] if inputs_embeds is None else inputs_embeds
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, sd[p + "input_layernorm.weight"], eps)
        q = linear(h, p + "self_attn.q_proj").view(n, heads, head_dim).transpose(0, 1)
        k = linear(h, p + "self_attn.k_proj").view(n, kv_heads, head_dim).transpose(0, 1)
        v = linear(h, p + "self_attn.v_proj").view(n, kv_heads, head_dim).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(heads // kv_heads, dim=0)  # repeat_kv
        v = v.repeat_interleave(heads // kv_heads, dim=0)
        scores = q @ k.transpose(1, 2) * head_dim ** -0.5 + mask
        attn = torch.softmax(scores, dim=-1, dtype=scores.dtype) @ v
        x = x + linear(attn.transpose(0, 1).reshape(n, heads * head_dim), p + "self_attn.o_proj")
        h = rms_norm(x, sd[p + "post_attention_layernorm.weight"], eps)
        gate = linear(h, p + "mlp.gate_proj")
        x = x + linear(torch.nn.functional.silu(gate) * linear(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, sd["model.norm.weight"], eps)
    head = sd["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else sd["lm_head.weight"]
    return x @ head.T


def greedy(cfg, sd, ids, steps):
    """Greedy continuation by full recompute; returns (tokens, smallest top-1/top-2 logit margin seen)."""
    ids = list(ids)
    out, margin = [], float("inf")
    for _ in range(steps):
        logits = forward(cfg, sd, ids)[-1]
        top2 = torch.topk(logits, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        t = int(torch.argmax(logits))
        out.append(t)
        ids.append(t)
    return out, margin


if __name__ == "__main__":
    model_dir, ids = sys.argv[1], [int(a) for a in sys.argv[2:]]
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    with torch.no_grad():
        logits = forward(config, load_state_dict(model_dir), ids)[-1]
    values, indices = torch.topk(logits, 5)
    print(json.dumps({"top5": indices.tolist(), "logits": values.tolist()}))
