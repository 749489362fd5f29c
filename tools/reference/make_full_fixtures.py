"""Writes the full-parameter gradient / trainer parity fixtures of tests/OpenBook.Models.Tests/Fixtures/full/<case>/.

The sibling of make_lora_fixtures.py for full fine-tuning and pretraining: every weight of the base fixture is a
trainable fp32 leaf tensor (embedding, every projection and bias, every RMSNorm weight, lm_head or the tied
embedding), the forward is reference_model.forward (HF math) and the gradients are PyTorch autograd's.
Deterministic (fixed torch.Generator seeds, one thread); re-running rewrites identical bytes.

  apt-get install python3-torch libopenblas0-pthread python3-numpy   # if missing
  /usr/bin/python3 tools/reference/make_full_fixtures.py [FIXTURES_DIR]

Per case directory (safetensors F32, names sorted, metadata {"format":"pt"}):
  inputs.json            {"model": "../../<base fixture>", "tokens", "targets", "positions", "segments"} as in the
                         LoRA fixtures (same row layouts, same masking and loss rules: see make_lora_fixtures.py).
  expected.safetensors   loss [1]; grad.<HF name> for every parameter of the base checkpoint (with tied embeddings
                         the embedding's gradient holds both the lookup's and lm_head's contributions).
  train.json             optimiser settings + "trace" (per step: lr used, loss, grad norm before clipping) and
                         "no_decay": the parameter names without weight decay.
  after_steps.safetensors every parameter after total_steps optimiser steps.

Optimiser step: as in make_lora_fixtures.py (one row per micro-batch, grad_accum 2, clip_grad_norm_ over all
parameters, warmup + cosine) with torch.optim.AdamW over two parameter groups, as HF Trainer builds them
(Trainer.get_decay_parameter_names): weight decay for every parameter except biases and RMSNorm weights
(input_layernorm, post_attention_layernorm, model.norm); the embedding is decayed (HF's default).

Self-checks: float64 autograd against central finite differences for a few entries of the embedding, a norm weight,
a projection, a bias (when present) and lm_head (when untied); float32 gradients against float64 ones.
"""
import json
import math
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lora_reference  # noqa: E402
import reference_model  # noqa: E402
from make_fixtures import write_safetensors  # noqa: E402
from make_lora_fixtures import batch_of, case_inputs, cosine_lr  # noqa: E402

TRAIN = {"lr": 2e-3, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1, "warmup_steps": 2, "total_steps": 5,
         "schedule": "cosine", "max_grad_norm": 1.0, "grad_accum": 2}

CASES = [
    # (case, base fixture, row layout of make_lora_fixtures.case_inputs)
    ("llama-tied-packed", "llama-tied", "llama-packed"),   # tied lm_head, packed row + padded row
    ("qwen2-bias", "qwen2-bf16", "plain"),                 # q/k/v biases, bf16 checkpoint widened to fp32
    ("mistral-window", "mistral", "plain"),                # untied lm_head, sliding window 4 < 12 tokens
]


def no_decay(name):
    return name.endswith(".bias") or "layernorm" in name or name == "model.norm.weight"


class FullModel:
    """Every checkpoint tensor as a trainable leaf."""

    def __init__(self, cfg, sd):
        self.cfg = cfg
        self.sd = {k: v.detach().clone().requires_grad_(True) for k, v in sd.items()}

    def names(self):
        return sorted(self.sd)

    def parameters(self):
        return [self.sd[k] for k in self.names()]

    def to(self, dtype):
        return FullModel(self.cfg, {k: v.detach().to(dtype) for k, v in self.sd.items()})

    def embed(self, tokens):
        return self.sd["model.embed_tokens.weight"][torch.tensor(tokens)]

    def logits(self, batch):
        emb = self.embed(batch["tokens"])
        rows = [reference_model.forward(self.cfg, self.sd, None, inputs_embeds=emb[b], positions=batch["positions"][b],
                                        segments=batch["segments"][b]) for b in range(emb.shape[0])]
        return torch.stack(rows)

    def loss(self, batch):
        return lora_reference.causal_lm_loss(self.logits(batch), batch["tokens"], batch["targets"])


def train(model, rows, t):
    names = model.names()
    groups = [{"params": [model.sd[k] for k in names if not no_decay(k)], "weight_decay": t["weight_decay"]},
              {"params": [model.sd[k] for k in names if no_decay(k)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=t["lr"], betas=tuple(t["betas"]), eps=t["eps"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_lr(s, t))
    trace = []
    for step in range(t["total_steps"]):
        lr = opt.param_groups[0]["lr"]
        total = 0.0
        for row in rows:
            loss = model.loss(batch_of([row]))
            (loss / t["grad_accum"]).backward()
            total += float(loss) / t["grad_accum"]
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), t["max_grad_norm"]))
        opt.step()
        sched.step()
        opt.zero_grad()
        trace.append({"step": step, "lr": lr, "loss": total, "grad_norm": norm})
    return trace


def finite_difference_check(model, batch, grads32, g):
    m64 = model.to(torch.float64)
    loss = m64.loss(batch)
    names = m64.names()
    g64 = dict(zip(names, torch.autograd.grad(loss, m64.parameters())))
    worst32 = max(float((grads32[k].double() - v).abs().max() / max(1e-30, float(v.abs().max()))) for k, v in g64.items())
    if worst32 > 1e-3:
        raise SystemExit(f"float32 gradients differ from float64 by {worst32:.2e} (relative to max)")
    picks = ["model.embed_tokens.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight",
             "model.layers.1.mlp.down_proj.weight", "model.layers.0.self_attn.q_proj.weight"]
    picks += [k for k in names if k.endswith(".bias")][:1] + [k for k in names if k == "lm_head.weight"]
    h, worst = 1e-6, 0.0
    for k in picks:
        tensor = m64.sd[k]
        flat_grad = g64[k].reshape(-1)
        # entries with a real gradient (embedding rows of tokens that occur, not untouched rows)
        candidates = torch.nonzero(flat_grad.abs() > 1e-3 * float(flat_grad.abs().max())).reshape(-1)
        for _ in range(3):
            idx = int(candidates[int(torch.randint(0, len(candidates), (1,), generator=g))])
            with torch.no_grad():
                flat = tensor.view(-1)
                old = float(flat[idx])
                flat[idx] = old + h
                up = float(m64.loss(batch))
                flat[idx] = old - h
                down = float(m64.loss(batch))
                flat[idx] = old
            fd = (up - down) / (2 * h)
            worst = max(worst, abs(fd - float(flat_grad[idx])) / max(1e-12, float(flat_grad.abs().max())))
    if worst > 1e-6:
        raise SystemExit(f"finite-difference check failed: {worst:.2e}")
    return worst32, worst


def write_case(root, case, base, layout, seed):
    d = os.path.join(root, "full", case)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    cfg, sd = lora_reference.load_base(os.path.join(root, base))
    g = torch.Generator().manual_seed(seed)
    rows = case_inputs(layout, g)
    batch = batch_of(rows)
    with open(os.path.join(d, "inputs.json"), "w") as f:
        json.dump(dict({"model": f"../../{base}"}, **batch, pad_token_id=0), f)

    model = FullModel(cfg, sd)
    loss = model.loss(batch)
    loss.backward()
    grads = {k: v.grad.detach().clone() for k, v in model.sd.items()}
    expected = {"loss": loss.detach().reshape(1)}
    expected.update({"grad." + k: v for k, v in grads.items()})
    write_safetensors(os.path.join(d, "expected.safetensors"), expected, "F32")
    worst32, worst_fd = finite_difference_check(model, batch, grads, g)

    model = FullModel(cfg, sd)
    trace = train(model, rows, TRAIN)
    after = {k: v.detach().clone() for k, v in model.sd.items()}
    write_safetensors(os.path.join(d, "after_steps.safetensors"), after, "F32")
    with open(os.path.join(d, "train.json"), "w") as f:
        json.dump(dict(TRAIN, trace=trace, no_decay=[k for k in model.names() if no_decay(k)]), f, indent=2)
    moved = max(float((after[k] - sd[k]).abs().max()) for k in sd)
    size = sum(os.path.getsize(os.path.join(p, x)) for p, _, fs in os.walk(d) for x in fs)
    print(f"{case}: loss {float(loss):.6f}, {size / 1024:.0f} KiB, fp32-vs-fp64 grad {worst32:.1e}, "
          f"finite-diff {worst_fd:.1e}, grad norms {[round(s['grad_norm'], 4) for s in trace]}, max move {moved:.2e}")


if __name__ == "__main__":
    fixtures = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "OpenBook.Models.Tests", "Fixtures")
    torch.set_num_threads(1)
    for i, c in enumerate(CASES):
        write_case(fixtures, *c, seed=8765 + i)
