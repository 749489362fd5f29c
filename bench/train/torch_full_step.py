"""PyTorch 1.13 CPU peer for `openbook bench train --methods full`: one full-parameter training step.

The same model and step as torch_lora_step.py (fp32 HF Llama eager math, tied LM head, batch 1 x seq S random
tokens, mean cross-entropy over the S-1 next-token targets) with every weight trainable and no LoRA:
forward -> backward (weight gradients for the embedding, every nn.Linear, every RMSNorm weight) ->
clip_grad_norm_(1.0) -> torch.optim.AdamW(lr 1e-4, betas (0.9, 0.95)) over two parameter groups as HF Trainer
builds them (weight decay 0.1 except biases and norm weights) -> zero_grad(set_to_none=True).
What `openbook finetune --method full` / `openbook pretrain` run per micro-batch.

Shapes: smollm2-135m (SmolLM2-135M: 576 hidden, 30 layers, vocab 49152) and lab (256 hidden, 768 intermediate,
8 layers, 8/4 heads, vocab 8192: ~8.4 M parameters, the size `openbook pretrain --shape lab` builds).
Each (shape, seq) runs in its own child process (peak RSS per configuration) with OMP_NUM_THREADS /
OPENBLAS_NUM_THREADS / torch.set_num_threads = --threads and OMP_WAIT_POLICY=PASSIVE (see torch_lora_step.py).

  /usr/bin/python3 bench/train/torch_full_step.py --shape lab --seq 256 --steps 3
  /usr/bin/python3 bench/train/torch_full_step.py --shape smollm2-135m --seq 256 --steps 2

Prints one JSON object ({"peer": "pytorch", "step": ..., "results": [...]}, rows as torch_lora_step.py's with
"params" instead of "lora_params") on stdout; progress goes to stderr.
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

SHAPES = {
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, vocab_size=49152, rope_theta=100000.0, rms_norm_eps=1e-5),
    "lab": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=8, num_attention_heads=8,
                num_key_value_heads=4, vocab_size=8192, rope_theta=10000.0, rms_norm_eps=1e-5),
}


def build(torch, cfg, seed):
    nn, F = torch.nn, torch.nn.functional

    def linear(i, o):
        lin = nn.Linear(i, o, bias=False)
        nn.init.normal_(lin.weight, std=0.02)
        return lin

    class RMSNorm(nn.Module):
        def __init__(self, n, eps):
            super().__init__()
            self.weight, self.eps = nn.Parameter(torch.ones(n)), eps

        def forward(self, x):
            return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    h, heads, kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, inter = h // heads, cfg["intermediate_size"]

    def rotate_half(x):
        return torch.cat((-x[..., hd // 2:], x[..., :hd // 2]), dim=-1)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = RMSNorm(h, cfg["rms_norm_eps"])
            self.post_attention_layernorm = RMSNorm(h, cfg["rms_norm_eps"])
            self.q_proj, self.k_proj = linear(h, heads * hd), linear(h, kv * hd)
            self.v_proj, self.o_proj = linear(h, kv * hd), linear(heads * hd, h)
            self.gate_proj, self.up_proj, self.down_proj = linear(h, inter), linear(h, inter), linear(inter, h)

        def forward(self, x, cos, sin, mask):
            b, s, _ = x.shape
            y = self.input_layernorm(x)
            q = self.q_proj(y).view(b, s, heads, hd).transpose(1, 2)
            k = self.k_proj(y).view(b, s, kv, hd).transpose(1, 2)
            v = self.v_proj(y).view(b, s, kv, hd).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            k = k[:, :, None].expand(b, kv, heads // kv, s, hd).reshape(b, heads, s, hd)  # HF repeat_kv
            v = v[:, :, None].expand(b, kv, heads // kv, s, hd).reshape(b, heads, s, hd)
            att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(hd) + mask, dim=-1) @ v
            x = x + self.o_proj(att.transpose(1, 2).reshape(b, s, heads * hd))
            y = self.post_attention_layernorm(x)
            return x + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(cfg["vocab_size"], h)
            nn.init.normal_(self.embed_tokens.weight, std=0.02)
            self.layers = nn.ModuleList(Layer() for _ in range(cfg["num_hidden_layers"]))
            self.norm = RMSNorm(h, cfg["rms_norm_eps"])
            self.inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))

        def forward(self, ids):
            s = ids.shape[1]
            freqs = torch.arange(s).float()[:, None] * self.inv_freq[None, :]
            emb = torch.cat((freqs, freqs), dim=-1)
            cos, sin = emb.cos(), emb.sin()
            mask = torch.full((s, s), float("-inf")).triu(1)
            x = self.embed_tokens(ids)
            for layer in self.layers:
                x = layer(x, cos, sin, mask)
            return F.linear(self.norm(x), self.embed_tokens.weight)  # tied LM head

    torch.manual_seed(seed)
    return Model()


def run_single(args):
    import torch
    torch.set_num_threads(args.threads)
    cfg = SHAPES[args.shape]
    model = build(torch, cfg, seed=0)
    named = list(model.named_parameters())
    no_decay = [p for n, p in named if n.endswith("bias") or "norm" in n]
    decay = [p for n, p in named if not (n.endswith("bias") or "norm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(1)
    times, cpu = [], [0.0, 0.0]
    for step in range(args.warmup + args.steps):
        ids = torch.randint(0, cfg["vocab_size"], (1, args.seq), generator=g)
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        logits = model(ids)
        loss = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        if step >= args.warmup:
            times.append(dt)
            cpu[0] += r1.ru_utime - r0.ru_utime
            cpu[1] += r1.ru_stime - r0.ru_stime
        print(f"  full {args.shape} seq {args.seq} step {step}: {dt * 1000:.0f} ms, loss {float(loss):.4f}", file=sys.stderr)
    med = statistics.median(times)
    return {"shape": args.shape, "seq": args.seq, "batch": 1, "tokens_per_s": args.seq / med,
            "step_ms": med * 1000, "step_ms_all": [round(t * 1000, 1) for t in times],
            "cpu_user_s_per_step": cpu[0] / len(times), "cpu_sys_s_per_step": cpu[1] / len(times),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "params": sum(p.numel() for p in model.parameters()),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", action="append", choices=list(SHAPES))
    ap.add_argument("--seq", action="append", type=int)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--omp-wait-policy", default="PASSIVE", choices=["PASSIVE", "ACTIVE"])
    ap.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.single:
        args.shape, args.seq = args.shape[0], args.seq[0]
        print(json.dumps(run_single(args)))
        return 0
    shapes, seqs = args.shape or ["smollm2-135m"], args.seq or [256]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_WAIT_POLICY=args.omp_wait_policy)
    results = []
    for shape in shapes:
        for seq in seqs:
            cmd = [sys.executable, os.path.abspath(__file__), "--single", "--shape", shape, "--seq", str(seq),
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
            out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
            results.append(json.loads(out))
    print(json.dumps({"peer": "pytorch", "step": "full fp32 forward+backward+clip+AdamW (all parameters)",
                      "load_avg": list(os.getloadavg()), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
