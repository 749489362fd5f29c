"""LoRA on the plain-PyTorch reference model, exactly as HF PEFT computes it, plus the HF training loss.

Every targeted projection `name` (e.g. model.layers.0.self_attn.q_proj) becomes

    y = base(x) + B(A(dropout(x))) * scaling,   A: [r, in_features], B: [out_features, r]
    scaling = lora_alpha / r                     (use_rslora: lora_alpha / sqrt(r))

with the base weights (and biases) frozen. Tensor names are PEFT's adapter_model.safetensors names:
`base_model.model.<module path>.lora_A.weight` / `.lora_B.weight` (adapter name "default" dropped, as
PEFT's save_pretrained does). PEFT's initialisation: A = kaiming_uniform_(a=sqrt(5)) on [r, in], which is
U(-1/sqrt(in), 1/sqrt(in)); B = zeros (the fixtures use small random B so gradients reach A).

Loss (HF causal-LM loss with labels = -100 where not trained, generalised to per-token weights):
    loss = sum_{b, t>=1} w[b,t] * CE(logits[b, t-1], tokens[b, t]) / sum_{b, t>=1} w[b,t]
i.e. token t is a target predicted from position t-1 and the mean runs over all target tokens of the batch.

Run with Debian's interpreter: /usr/bin/python3 (python3-torch, python3-numpy).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model  # noqa: E402

PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PARENT = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
          "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


def peft_name(module, which):
    """PEFT tensor name of lora_A / lora_B for an HF module path."""
    return f"base_model.model.{module}.{which}.weight"


class LoraModel:
    """Frozen reference model + trainable LoRA matrices (torch leaf tensors with requires_grad)."""

    def __init__(self, cfg, sd, r, alpha, targets, use_rslora=False, dropout=0.0):
        self.cfg, self.r, self.alpha, self.targets = cfg, r, alpha, list(targets)
        self.use_rslora, self.dropout = use_rslora, dropout
        self.sd = {k: v.detach().requires_grad_(False) for k, v in sd.items()}
        self.scaling = alpha / math.sqrt(r) if use_rslora else alpha / r
        self.modules = [f"model.layers.{i}.{PARENT[p]}.{p}"
                        for i in range(cfg["num_hidden_layers"]) for p in PROJECTIONS if p in self.targets]
        self.lora = {}  # PEFT name -> tensor (leaf, requires_grad)

    def init_weights(self, generator, b_std=0.0):
        """PEFT init for A (kaiming-uniform a=sqrt(5)); B = N(0, b_std) (PEFT: zeros, i.e. b_std=0)."""
        for m in self.modules:
            out_f, in_f = self.sd[m + ".weight"].shape
            bound = 1.0 / math.sqrt(in_f)  # kaiming_uniform_(a=sqrt(5)): gain sqrt(1/3) * sqrt(3 / fan_in)
            a = (torch.rand(self.r, in_f, generator=generator) * 2 - 1) * bound
            b = torch.randn(out_f, self.r, generator=generator) * b_std
            self.lora[peft_name(m, "lora_A")] = a.requires_grad_(True)
            self.lora[peft_name(m, "lora_B")] = b.requires_grad_(True)

    def load_weights(self, tensors):
        self.lora = {k: v.detach().clone().requires_grad_(True) for k, v in tensors.items()}

    def parameters(self):
        return [self.lora[k] for k in sorted(self.lora)]

    def to(self, dtype):
        """Copy in another dtype (float64 for the finite-difference check)."""
        other = LoraModel(self.cfg, {k: v.to(dtype) for k, v in self.sd.items()}, self.r, self.alpha,
                          self.targets, self.use_rslora, self.dropout)
        other.load_weights({k: v.detach().to(dtype) for k, v in self.lora.items()})
        return other

    def linear(self, x, name):
        y = reference_model.base_linear(self.sd, x, name)
        a_name = peft_name(name, "lora_A")
        if a_name in self.lora:
            h = torch.nn.functional.dropout(x, self.dropout, training=True) if self.dropout > 0 else x
            y = y + (h @ self.lora[a_name].T @ self.lora[peft_name(name, "lora_B")].T) * self.scaling
        return y

    def embed(self, tokens):
        """Embedding output [B, S, hidden] for a batch of equal-length rows."""
        return self.sd["model.embed_tokens.weight"][torch.tensor(tokens)]

    def logits(self, inputs_embeds, positions, segments):
        """Logits [B, S, vocab]; each row runs the reference forward with its positions and segment mask."""
        rows = [reference_model.forward(self.cfg, self.sd, None, inputs_embeds=inputs_embeds[b],
                                        positions=positions[b], segments=segments[b], linear=self.linear)
                for b in range(inputs_embeds.shape[0])]
        return torch.stack(rows)

    def merged_state_dict(self):
        """Base weights with W + scaling * B @ A folded in (what PEFT's merge_and_unload writes)."""
        out = {k: v.detach().clone() for k, v in self.sd.items()}
        for m in self.modules:
            a, b = self.lora[peft_name(m, "lora_A")].detach(), self.lora[peft_name(m, "lora_B")].detach()
            out[m + ".weight"] = out[m + ".weight"] + self.scaling * (b @ a)
        return out

    def adapter_config(self, base_model_name_or_path):
        """adapter_config.json as PEFT's LoraConfig.save_pretrained writes it (PEFT 0.13 field set)."""
        return {
            "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base_model_name_or_path,
            "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
            "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
            "lora_alpha": self.alpha, "lora_dropout": self.dropout, "megatron_config": None,
            "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "r": self.r,
            "rank_pattern": {}, "revision": None, "target_modules": sorted(self.targets), "task_type": "CAUSAL_LM",
            "use_dora": False, "use_rslora": self.use_rslora,
        }


def causal_lm_loss(logits, tokens, targets):
    """sum_t w[b,t] * CE(logits[b,t-1], tokens[b,t]) / sum w (targets[b][0] is ignored: nothing predicts it)."""
    tok = torch.tensor(tokens)[:, 1:]
    w = torch.tensor(targets, dtype=logits.dtype)[:, 1:]
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    nll = -logp.gather(-1, tok.unsqueeze(-1)).squeeze(-1)
    return (nll * w).sum() / w.sum()


def load_base(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    return cfg, reference_model.load_state_dict(model_dir)
