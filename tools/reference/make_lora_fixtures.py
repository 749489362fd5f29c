"""Writes the LoRA gradient / trainer parity fixtures of tests/OpenBook.Models.Tests/Fixtures/lora/<case>/.

Deterministic (fixed torch.Generator seeds, one thread); re-running rewrites identical bytes.

  apt-get install python3-torch libopenblas0-pthread python3-numpy   # if missing
  /usr/bin/python3 tools/reference/make_lora_fixtures.py [FIXTURES_DIR]

Per case directory (all safetensors F32, names sorted, metadata {"format":"pt"}):
  adapter_config.json        PEFT LoraConfig.save_pretrained fields (peft_type LORA, r, lora_alpha, ...).
  adapter_model.safetensors  initial LoRA weights, PEFT names base_model.model.<module>.lora_A.weight [r,in] /
                             .lora_B.weight [out,r]. A: PEFT's kaiming-uniform(a=sqrt(5)) = U(+-1/sqrt(in));
                             B: N(0, 0.02) instead of PEFT's zeros so that gradients reach A.
  inputs.json                {"model": "../../<base fixture>", "tokens": [[...]] (B rows x S), "targets": [[...]]
                             (float weight per token: token t is a target predicted from position t-1; 0 for
                             the prompt part, for padding and for the first token of every packed example),
                             "positions": [[...]] (RoPE positions), "segments": [[...]] (example id per token,
                             -1 on padding), "pad_token_id": 0}
  expected.safetensors       loss [1]; logits [B,S,V]; grad.<PEFT name> for every lora_A / lora_B;
                             grad.inputs_embeds [B,S,hidden] (gradient w.r.t. the embedding output).
  train.json                 optimiser settings + "trace" (per step: lr used, loss, grad norm before clipping).
  after_steps.safetensors    LoRA weights (PEFT names) after total_steps optimiser steps.
  merged/ (first case only)  config.json + model.safetensors of the merged model (W + scaling * B @ A, the
                             other tensors copied) and logits.safetensors: "logits" [B,S,V] of the merged model.

Attention mask (one rule for every case): key j is visible from query i iff
    j <= i  and  segments[i] == segments[j]  and (Mistral sliding_window w)  i - j < w
(i, j are indices in the row, not positions). Padding tokens all carry segment -1, so they attend only to
padding: their logits are well defined (stored too) but carry no target weight; real tokens never see padding.
Positions restart at 0 at every packed example; padding continues counting from the last real position.

Loss: sum over all rows/tokens of w[b,t] * CE(logits[b,t-1], tokens[b,t]) divided by sum of w (HF mean over
non-ignored labels across the batch). LoRA dropout is 0 in all cases (dropout is random, so not comparable).

One optimiser step (as HF Trainer with gradient_accumulation_steps = grad_accum = 2):
  for micro in (row 0, row 1):                       # micro-batch = one row of inputs.json, padding included
      loss_m = causal-LM loss of that row alone (normalised by the row's own target weight sum) / grad_accum
      loss_m.backward()                              # gradients accumulate (summed) over the micro-batches
  total_norm = clip_grad_norm_(all LoRA params, max_grad_norm)   # global L2 norm over every LoRA tensor;
                                  # every grad *= min(1, max_grad_norm / (total_norm + 1e-6)) (torch 1.13)
  torch.optim.AdamW(params, lr_s, betas, eps, weight_decay).step(), t = s + 1, per element (torch 1.13):
      p *= 1 - lr_s * weight_decay
      m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
      p -= (lr_s / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
  scheduler.step(); zero the gradients
Note: this per-micro-batch mean / grad_accum is HF Trainer's behaviour before transformers 4.46; since 4.46,
models that accept num_items_in_batch divide the summed token losses by the target count of all accumulated
micro-batches instead (identical when every micro-batch has the same number of targets).
Learning rate at step s (0-based), HF get_cosine_schedule_with_warmup (num_cycles 0.5):
  s < warmup: lr * s / warmup          (so step 0 runs with lr 0: moments update, weights do not move)
  else:       lr * max(0, 0.5 * (1 + cos(pi * (s - warmup) / (total - warmup))))
The same two rows are used at every step. Params are the LoRA tensors in sorted PEFT-name order (order does
not change the result). AdamW weight decay applies to every LoRA tensor (A and B).

Self-checks: every case compares float64 autograd against central finite differences for a few entries of
LoRA A, LoRA B and inputs_embeds, the float32 gradients written against the float64 ones, and re-runs the
optimiser steps with the formulas above (no torch.optim) against after_steps.
"""
import json
import math
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lora_reference  # noqa: E402
from make_fixtures import write_safetensors  # noqa: E402

ALL = lora_reference.PROJECTIONS
TRAIN = {"lr": 5e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01, "warmup_steps": 2, "total_steps": 5,
         "schedule": "cosine", "max_grad_norm": 1.0, "grad_accum": 2}


def plain_rows(g, seq, lengths, prompts):
    """Right-padded rows: tokens (pad 0), targets after the prompt, positions 0..S-1, segment 0 / -1 on padding."""
    rows = []
    for n, prompt in zip(lengths, prompts):
        toks = torch.randint(3, 512, (n,), generator=g).tolist()
        toks[0] = 1  # BOS
        rows.append({"tokens": toks + [0] * (seq - n),
                     "targets": [0.0] * prompt + [1.0] * (n - prompt) + [0.0] * (seq - n),
                     "positions": list(range(seq)),
                     "segments": [0] * n + [-1] * (seq - n)})
    return rows


def packed_row(g, lengths, prompts):
    """One row of several examples back to back: positions restart, segment = example index."""
    row = {"tokens": [], "targets": [], "positions": [], "segments": []}
    for s, (n, prompt) in enumerate(zip(lengths, prompts)):
        toks = torch.randint(3, 512, (n,), generator=g).tolist()
        toks[0] = 1
        row["tokens"] += toks
        row["targets"] += [0.0] * prompt + [1.0] * (n - prompt)
        row["positions"] += list(range(n))
        row["segments"] += [s] * n
    return row


def case_inputs(name, g):
    if name == "llama-packed":
        return [packed_row(g, [5, 7], [2, 3])] + plain_rows(g, 12, [9], [4])
    return plain_rows(g, 12, [12, 9], [5, 4])


CASES = [
    # (case, base fixture, r, alpha, targets, use_rslora)
    ("llama-tied-all-linear", "llama-tied", 4, 8, ALL, False),
    ("qwen2-qv-rslora", "qwen2-bf16", 2, 4, ["q_proj", "v_proj"], True),
    ("llama-packed", "llama-tied", 4, 8, ALL, False),
    # mistral fixture: sliding_window 4 < 12 tokens, so windowed attention backward is covered.
    ("mistral-window", "mistral", 4, 8, ["q_proj", "k_proj", "v_proj", "o_proj"], False),
]


def batch_of(rows):
    return {k: [r[k] for r in rows] for k in ("tokens", "targets", "positions", "segments")}


def loss_and_logits(model, batch, embeds=None):
    embeds = model.embed(batch["tokens"]) if embeds is None else embeds
    logits = model.logits(embeds, batch["positions"], batch["segments"])
    return lora_reference.causal_lm_loss(logits, batch["tokens"], batch["targets"]), logits


def cosine_lr(step, t):
    if step < t["warmup_steps"]:
        return step / max(1, t["warmup_steps"])
    progress = (step - t["warmup_steps"]) / max(1, t["total_steps"] - t["warmup_steps"])
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))


def train(model, rows, t):
    params = model.parameters()
    opt = torch.optim.AdamW(params, lr=t["lr"], betas=tuple(t["betas"]), eps=t["eps"], weight_decay=t["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_lr(s, t))
    assert t["grad_accum"] == len(rows)
    trace = []
    for step in range(t["total_steps"]):
        lr = opt.param_groups[0]["lr"]
        total = 0.0
        for row in rows:
            loss, _ = loss_and_logits(model, batch_of([row]))
            (loss / t["grad_accum"]).backward()
            total += float(loss) / t["grad_accum"]
        norm = float(torch.nn.utils.clip_grad_norm_(params, t["max_grad_norm"]))
        opt.step()
        sched.step()
        opt.zero_grad()
        trace.append({"step": step, "lr": lr, "loss": total, "grad_norm": norm})
    return trace


def check_documented_step(model, initial, rows, t, after):
    """Re-runs the optimiser steps with the formulas written in this header (no torch.optim, no clip_grad_norm_)
    and requires the same weights, so the header is a faithful recipe for the C# trainer."""
    model.load_weights(initial)
    names = sorted(model.lora)
    m = {k: torch.zeros_like(initial[k]) for k in names}
    v = {k: torch.zeros_like(initial[k]) for k in names}
    b1, b2 = t["betas"]
    for s in range(t["total_steps"]):
        grads = {k: torch.zeros_like(initial[k]) for k in names}
        for row in rows:
            loss, _ = loss_and_logits(model, batch_of([row]))
            for k, gk in zip(names, torch.autograd.grad(loss / t["grad_accum"], [model.lora[k] for k in names])):
                grads[k] += gk
        norm = math.sqrt(sum(float((gk * gk).sum()) for gk in grads.values()))
        coef = min(1.0, t["max_grad_norm"] / (norm + 1e-6))
        lr, step = t["lr"] * cosine_lr(s, t), s + 1
        with torch.no_grad():
            for k in names:
                p, gk = model.lora[k], grads[k] * coef
                p *= 1 - lr * t["weight_decay"]
                m[k] = b1 * m[k] + (1 - b1) * gk
                v[k] = b2 * v[k] + (1 - b2) * gk * gk
                p -= (lr / (1 - b1 ** step)) * m[k] / (v[k].sqrt() / math.sqrt(1 - b2 ** step) + t["eps"])
    diff = max(float((model.lora[k].detach() - after[k]).abs().max()) for k in names)
    if diff > 1e-6:
        raise SystemExit(f"documented optimiser step differs from torch.optim.AdamW by {diff}")
    return diff


def finite_difference_check(model, batch, grads32, g):
    """float64 autograd vs central differences, and float32 gradients vs float64 ones."""
    m64 = model.to(torch.float64)
    emb = m64.embed(batch["tokens"]).clone().requires_grad_(True)
    loss, _ = loss_and_logits(m64, batch, emb)
    params = m64.parameters()
    names = sorted(m64.lora)
    grads = torch.autograd.grad(loss, params + [emb])
    g64 = dict(zip(names + ["inputs_embeds"], grads))
    worst32 = 0.0
    for k, v in g64.items():
        worst32 = max(worst32, float((grads32[k].double() - v).abs().max() / v.abs().max()))
    if worst32 > 1e-3:
        raise SystemExit(f"float32 gradients differ from float64 by {worst32:.2e} (relative to max)")
    h, worst_fd = 1e-6, 0.0
    picks = [names[0], names[1], names[-2], names[-1], "inputs_embeds"]
    for k in picks:
        tensor = emb if k == "inputs_embeds" else m64.lora[k]
        for _ in range(3):
            idx = tuple(int(torch.randint(0, s, (1,), generator=g)) for s in tensor.shape)
            with torch.no_grad():
                old = float(tensor[idx])
                tensor[idx] = old + h
                up = float(loss_and_logits(m64, batch, emb)[0])
                tensor[idx] = old - h
                down = float(loss_and_logits(m64, batch, emb)[0])
                tensor[idx] = old
            fd = (up - down) / (2 * h)
            err = abs(fd - float(g64[k][idx])) / max(1e-8, float(g64[k].abs().max()))
            worst_fd = max(worst_fd, err)
    if worst_fd > 1e-6:
        raise SystemExit(f"finite-difference check failed: {worst_fd:.2e}")
    return worst32, worst_fd


def check_packing(model, row, logits):
    """Each packed example must give the logits it gives alone in its own row."""
    for s in sorted(set(row["segments"])):
        idx = [i for i, x in enumerate(row["segments"]) if x == s]
        alone = {k: [[row[k][i] for i in idx]] for k in ("tokens", "positions", "segments")}
        with torch.no_grad():
            single = model.logits(model.embed(alone["tokens"]), alone["positions"], alone["segments"])[0]
        diff = float((single - logits[idx]).abs().max())
        if diff > 1e-5:
            raise SystemExit(f"packed example {s} differs from running it alone by {diff}")


def write_case(root, case, base, r, alpha, targets, rslora, seed):
    d = os.path.join(root, "lora", case)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    cfg, sd = lora_reference.load_base(os.path.join(root, base))
    g = torch.Generator().manual_seed(seed)
    model = lora_reference.LoraModel(cfg, sd, r, alpha, targets, use_rslora=rslora)
    model.init_weights(g, b_std=0.02)
    rows = case_inputs(case, g)
    batch = batch_of(rows)
    initial = {k: v.detach().clone() for k, v in model.lora.items()}

    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(model.adapter_config(base), f, indent=2, sort_keys=True)
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), initial, "F32")
    with open(os.path.join(d, "inputs.json"), "w") as f:
        json.dump(dict({"model": f"../../{base}"}, **batch, pad_token_id=0), f)

    emb = model.embed(batch["tokens"]).clone().requires_grad_(True)
    loss, logits = loss_and_logits(model, batch, emb)
    loss.backward()
    grads = {k: v.grad.detach().clone() for k, v in model.lora.items()}
    grads["inputs_embeds"] = emb.grad.detach().clone()
    expected = {"loss": loss.detach().reshape(1), "logits": logits.detach()}
    expected.update({"grad." + k: v for k, v in grads.items()})
    write_safetensors(os.path.join(d, "expected.safetensors"), expected, "F32")
    worst32, worst_fd = finite_difference_check(model, batch, grads, g)
    if case == "llama-packed":
        check_packing(model, rows[0], logits[0].detach())

    if case == CASES[0][0]:
        md = os.path.join(d, "merged")
        os.makedirs(md)
        shutil.copy(os.path.join(root, base, "config.json"), md)
        merged = model.merged_state_dict()
        write_safetensors(os.path.join(md, "model.safetensors"), merged, "F32")
        mm = lora_reference.LoraModel(cfg, merged, r, alpha, [])
        with torch.no_grad():
            _, merged_logits = loss_and_logits(mm, batch)
        diff = float((merged_logits - logits.detach()).abs().max())
        if diff > 1e-4:
            raise SystemExit(f"merged logits differ from adapter logits by {diff}")
        write_safetensors(os.path.join(md, "logits.safetensors"), {"logits": merged_logits}, "F32")

    model.load_weights(initial)
    trace = train(model, rows, TRAIN)
    after = {k: v.detach().clone() for k, v in model.lora.items()}
    write_safetensors(os.path.join(d, "after_steps.safetensors"), after, "F32")
    with open(os.path.join(d, "train.json"), "w") as f:
        json.dump(dict(TRAIN, trace=trace), f, indent=2)
    moved = max(float((after[k] - initial[k]).abs().max()) for k in initial)
    recipe = check_documented_step(model, initial, rows, TRAIN, after)
    size = sum(os.path.getsize(os.path.join(p, x)) for p, _, fs in os.walk(d) for x in fs)
    print(f"{case}: loss {float(loss):.6f}, {size / 1024:.0f} KiB, fp32-vs-fp64 grad {worst32:.1e}, "
          f"finite-diff {worst_fd:.1e}, documented-step {recipe:.1e}, grad norms {[round(s['grad_norm'], 4) for s in trace]}, max move {moved:.2e}")


if __name__ == "__main__":
    fixtures = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "OpenBook.Models.Tests", "Fixtures")
    torch.set_num_threads(1)
    for i, c in enumerate(CASES):
        write_case(fixtures, *c, seed=4321 + i)
