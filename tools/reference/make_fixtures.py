"""Creates the tiny random-init model fixtures of tests/OpenBook.Models.Tests/Fixtures and their reference logits.

Each fixture is an exact Hugging Face model directory (config.json, generation_config.json, model.safetensors
or shards + model.safetensors.index.json) with deterministic random weights (torch.manual_seed), plus
reference.json: logits of every position for a few token sequences and a greedy continuation, computed by
reference_model.py (plain PyTorch, full recompute). Re-running rewrites the same bytes.

  apt-get install python3-torch libopenblas0-pthread python3-numpy   # if missing
  /usr/bin/python3 tools/reference/make_fixtures.py [OUTPUT_DIR]
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model  # noqa: E402

VOCAB = 512
BASE = {
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "vocab_size": VOCAB, "max_position_embeddings": 256, "hidden_act": "silu",
    "initializer_range": 0.02, "bos_token_id": 1, "eos_token_id": 2, "transformers_version": "4.46.0",
    "use_cache": True,
}

FIXTURES = {
    # SmolLM2-style: tied embeddings; Llama-3.x rope scaling (llama3) exercised with a small original context.
    "llama-tied": dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=True,
                       rms_norm_eps=1e-5, rope_theta=500000.0, attention_bias=False, mlp_bias=False,
                       rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                       torch_dtype="float32"),
    # TinyLlama-style: untied lm_head, GQA, written as two shards with an index.
    "llama-untied-sharded": dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama",
                                 tie_word_embeddings=False, rms_norm_eps=1e-5, rope_theta=10000.0,
                                 rope_scaling=None, attention_bias=False, mlp_bias=False, torch_dtype="float32"),
    # Qwen2.5-style: q/k/v biases, tied, bf16 weights, sliding window present but disabled (as released configs).
    "qwen2-bf16": dict(BASE, architectures=["Qwen2ForCausalLM"], model_type="qwen2", tie_word_embeddings=True,
                       rms_norm_eps=1e-6, rope_theta=1000000.0, use_sliding_window=False, sliding_window=32768,
                       max_window_layers=2, torch_dtype="bfloat16", eos_token_id=[2, 3]),
    # Mistral-7B-style: untied, sliding window of 4 tokens so it matters for the 12-token test sequences.
    "mistral": dict(BASE, architectures=["MistralForCausalLM"], model_type="mistral", tie_word_embeddings=False,
                    rms_norm_eps=1e-5, rope_theta=10000.0, sliding_window=4, head_dim=16, torch_dtype="float32"),
}

SEQUENCES = [[1, 17, 300, 42, 7, 511, 99, 3, 250, 128, 64, 5], [1, 200, 201, 202, 9, 9, 9, 480, 33, 77, 1, 0], [1, 5, 6]]
GREEDY_PROMPT, GREEDY_STEPS = [1, 72, 101, 108, 108, 111], 10


def make_weights(cfg, seed):
    """HF-layout state dict: normal(0, 0.02) matrices (0.1 for the embedding so logits are well separated),
    norms 1 + normal(0, 0.1) (so a kernel that ignored them would fail), biases normal(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    h, inter, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // heads
    qkv_bias = cfg["architectures"][0] == "Qwen2ForCausalLM" or cfg.get("attention_bias", False)
    o_bias = cfg.get("attention_bias", False) and cfg["architectures"][0] == "LlamaForCausalLM"

    def normal(*shape, std):
        return torch.randn(*shape, generator=g) * std

    sd = {"model.embed_tokens.weight": normal(v, h, std=0.1)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = 1 + normal(h, std=0.1)
        sd[p + "post_attention_layernorm.weight"] = 1 + normal(h, std=0.1)
        for name, rows, cols, bias in [("self_attn.q_proj", heads * hd, h, qkv_bias), ("self_attn.k_proj", kv * hd, h, qkv_bias),
                                       ("self_attn.v_proj", kv * hd, h, qkv_bias), ("self_attn.o_proj", h, heads * hd, o_bias),
                                       ("mlp.gate_proj", inter, h, False), ("mlp.up_proj", inter, h, False),
                                       ("mlp.down_proj", h, inter, False)]:
            # 0.2 instead of HF's 0.02 keeps activations far from zero in a 2-layer toy, so bugs show in the logits.
            sd[p + name + ".weight"] = normal(rows, cols, std=0.2)
            if bias:
                sd[p + name + ".bias"] = normal(rows, std=0.1)
    sd["model.norm.weight"] = 1 + normal(h, std=0.1)
    if not cfg["tie_word_embeddings"]:
        sd["lm_head.weight"] = normal(v, h, std=0.1)
    return sd


def tensor_bytes(t, dtype):
    a = t.contiguous().numpy().astype(np.float32)
    if dtype == "BF16":
        u = a.view(np.uint32).astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest even (finite values only here)
        return u.astype(np.uint16).tobytes()
    return a.tobytes()


def write_safetensors(path, tensors, dtype):
    """Minimal writer in the layout HF's safetensors library produces (sorted names, space-padded header)."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        b = tensor_bytes(tensors[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def write_fixture(out_dir, name, cfg, seed):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    sd = make_weights(cfg, seed)
    dtype = "BF16" if cfg["torch_dtype"] == "bfloat16" else "F32"
    if name.endswith("sharded"):
        names = sorted(sd)
        shards = [names[: len(names) // 2], names[len(names) // 2:]]
        weight_map = {}
        for i, part in enumerate(shards):
            shard = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            write_safetensors(os.path.join(d, shard), {n: sd[n] for n in part}, dtype)
            weight_map.update({n: shard for n in part})
        total = sum(t.numel() * 4 for t in sd.values())
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    else:
        write_safetensors(os.path.join(d, "model.safetensors"), sd, dtype)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    eos = cfg["eos_token_id"]
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": eos, "do_sample": True, "temperature": 0.7, "top_p": 0.9,
                   "top_k": 20, "repetition_penalty": 1.05, "max_new_tokens": 64, "transformers_version": "4.46.0"}, f, indent=2)

    # Reference from the files just written (so bf16 rounding is what the C# side reads too).
    loaded = reference_model.load_state_dict(d)
    with torch.no_grad():
        seqs = [{"input_ids": s, "logits": [[float(f"{x:.9g}") for x in row] for row in reference_model.forward(cfg, loaded, s).tolist()]}
                for s in SEQUENCES]
        tokens, margin = reference_model.greedy(cfg, loaded, GREEDY_PROMPT, GREEDY_STEPS)
    if margin < 1e-3:
        raise SystemExit(f"{name}: greedy margin {margin} too small for a robust test; change the seed")
    ref = {"generator": "tools/reference/make_fixtures.py", "torch": torch.__version__, "seed": seed,
           "sequences": seqs, "greedy": {"prompt": GREEDY_PROMPT, "tokens": tokens, "min_margin": margin}}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    print(f"{name}: {size / 1024:.0f} KiB, greedy {tokens}, min margin {margin:.4f}")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "OpenBook.Models.Tests", "Fixtures")
    torch.set_num_threads(1)
    for i, (fixture, config) in enumerate(FIXTURES.items()):
        write_fixture(out, fixture, config, seed=1234 + i)
