"""PyTorch 1.13 CPU peer for `openbook-bench train`: one LoRA training step on SmolLM2-shaped random models.

One step = batch 1 x seq S random tokens -> forward (fp32, Llama math as HF's eager path: RMSNorm, RoPE,
GQA causal softmax attention, SwiGLU MLP, tied LM head) -> causal-LM cross-entropy over all S-1 next-token
targets -> backward -> torch.optim.AdamW step on the LoRA parameters only (base frozen: requires_grad False)
-> zero_grad(set_to_none=True). LoRA as HF PEFT: y = base(x) + B(A(x)) * alpha/r on q,k,v,o,gate,up,down,
rank 16, alpha 32, dropout 0 (PEFT then uses nn.Identity). Modules are nn.Linear / nn.Embedding, the path a
PyTorch user takes; F.scaled_dot_product_attention does not exist in 1.13, so attention is the eager
matmul + additive causal mask + softmax of HF's LlamaAttention.

Each (shape, seq) runs in its own child process so that peak RSS (getrusage ru_maxrss) is per configuration;
the child sets OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / torch.set_num_threads to --threads before importing torch
and OMP_WAIT_POLICY=PASSIVE (see main(); --omp-wait-policy ACTIVE gives the spinning default).

  /usr/bin/python3 bench/train/torch_lora_step.py                       # 135m at 256 and 512, 2 threads
  /usr/bin/python3 bench/train/torch_lora_step.py --shape smollm2-360m --seq 256 --steps 5
  /usr/bin/python3 bench/train/torch_lora_step.py --quick              # 135m, seq 256, 2 timed steps
  /usr/bin/python3 bench/train/torch_lora_step.py --check              # model == tools/reference forward

Prints one JSON object to stdout (shape described in bench/train/README.md); progress goes to stderr.
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
    "smollm2-360m": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                         num_key_value_heads=5, vocab_size=49152, rope_theta=100000.0, rms_norm_eps=1e-5),
    # tiny shape for --check only
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=512, rope_theta=10000.0, rms_norm_eps=1e-5),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(torch, cfg, rank, alpha, seed):
    nn, F = torch.nn, torch.nn.functional

    class LoraLinear(nn.Module):
        """PEFT LoraLayer on a frozen nn.Linear: base(x) + lora_B(lora_A(x)) * scaling."""

        def __init__(self, base):
            super().__init__()
            self.base_layer = base
            self.lora_A = nn.Linear(base.in_features, rank, bias=False)
            self.lora_B = nn.Linear(rank, base.out_features, bias=False)
            nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
            nn.init.zeros_(self.lora_B.weight)
            self.scaling = alpha / rank

        def forward(self, x):
            return self.base_layer(x) + self.lora_B(self.lora_A(x)) * self.scaling

    def linear(i, o):
        lin = nn.Linear(i, o, bias=False)
        nn.init.normal_(lin.weight, std=0.02)
        lin.weight.requires_grad_(False)
        return LoraLinear(lin)

    class RMSNorm(nn.Module):
        def __init__(self, n, eps):
            super().__init__()
            self.weight, self.eps = nn.Parameter(torch.ones(n), requires_grad=False), eps

        def forward(self, x):
            return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    h, heads, kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, inter = h // heads, cfg["intermediate_size"]

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

    def rotate_half(x):
        return torch.cat((-x[..., hd // 2:], x[..., :hd // 2]), dim=-1)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(cfg["vocab_size"], h)
            nn.init.normal_(self.embed_tokens.weight, std=0.02)
            self.embed_tokens.weight.requires_grad_(False)
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


def lora_parameters(model):
    return [p for n, p in model.named_parameters() if "lora_" in n]


def blas_summary(torch):
    cfg = torch.__config__.show()
    info = [kv.strip() for kv in cfg.replace("\n", ",").split(",") if kv.strip().startswith(("BLAS_INFO", "LAPACK_INFO"))]
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line.lower() and ".so" in line})
    return {"build": info, "loaded": libs}


def run_single(args):
    import torch
    torch.set_num_threads(args.threads)
    cfg = SHAPES[args.shape]
    model = build(torch, cfg, args.rank, args.alpha, seed=0)
    params = lora_parameters(model)
    opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)
    times, cpu = [], [0.0, 0.0]
    for step in range(args.warmup + args.steps):
        ids = torch.randint(0, cfg["vocab_size"], (1, args.seq), generator=g)
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        logits = model(ids)
        loss = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        if step >= args.warmup:
            times.append(dt)
            cpu[0] += r1.ru_utime - r0.ru_utime
            cpu[1] += r1.ru_stime - r0.ru_stime
        print(f"  {args.shape} seq {args.seq} step {step}: {dt * 1000:.0f} ms, loss {float(loss):.4f}", file=sys.stderr)
    med = statistics.median(times)
    return {"shape": args.shape, "seq": args.seq, "batch": 1, "tokens_per_s": args.seq / med,
            "step_ms": med * 1000, "step_ms_all": [round(t * 1000, 1) for t in times],
            # CPU seconds per timed step (user, system): on a loaded machine wall time overstates the cost.
            "cpu_user_s_per_step": cpu[0] / len(times), "cpu_sys_s_per_step": cpu[1] / len(times),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "lora_params": sum(p.numel() for p in params),
            "base_params": sum(p.numel() for p in model.parameters() if not p.requires_grad),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"), "blas": blas_summary(torch)}


def check():
    """The bench model's logits equal tools/reference/reference_model.py's on the same (tiny) weights."""
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "reference"))
    import reference_model
    cfg = dict(SHAPES["tiny"], architectures=["LlamaForCausalLM"], tie_word_embeddings=True)
    model = build(torch, cfg, 4, 8, seed=0)
    with torch.no_grad():
        for p in lora_parameters(model):
            p.normal_(std=0.1)  # non-zero B so the LoRA path counts
        sd, m = {}, model
        sd["model.embed_tokens.weight"] = m.embed_tokens.weight
        sd["model.norm.weight"] = m.norm.weight.normal_(1, 0.1)
        for i, layer in enumerate(m.layers):
            p = f"model.layers.{i}."
            sd[p + "input_layernorm.weight"] = layer.input_layernorm.weight
            sd[p + "post_attention_layernorm.weight"] = layer.post_attention_layernorm.weight
            for name in TARGETS:
                lin = getattr(layer, name)
                merged = lin.base_layer.weight + lin.scaling * lin.lora_B.weight @ lin.lora_A.weight
                parent = "self_attn." if name in TARGETS[:4] else "mlp."
                sd[p + parent + name + ".weight"] = merged
        ids = [1, 5, 9, 200, 17, 3, 44, 511]
        ours = model(torch.tensor([ids]))[0]
        ref = reference_model.forward(cfg, sd, ids)
    diff = float((ours - ref).abs().max())
    print(json.dumps({"check": "bench model vs reference_model (merged LoRA)", "max_abs_diff": diff}))
    return 0 if diff < 1e-4 else 1


def main():
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        print("missing python3-torch: apt-get update && apt-get install -y python3-torch", file=sys.stderr)
        sys.exit(2)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", action="append", choices=["smollm2-135m", "smollm2-360m"])
    ap.add_argument("--seq", action="append", type=int)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--omp-wait-policy", default="PASSIVE", choices=["PASSIVE", "ACTIVE"],
                    help="OMP_WAIT_POLICY of the child (default PASSIVE; ACTIVE is GNU OpenMP's spinning default)")
    ap.add_argument("--quick", action="store_true", help="135m, seq 256, 2 timed steps")
    ap.add_argument("--check", action="store_true", help="compare the bench model with reference_model.py")
    ap.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.check:
        return check()
    if args.single:
        args.shape, args.seq = args.shape[0], args.seq[0]
        print(json.dumps(run_single(args)))
        return 0
    if args.quick:
        args.shape, args.seq, args.steps = args.shape or ["smollm2-135m"], args.seq or [256], min(args.steps, 2)
    shapes, seqs = args.shape or ["smollm2-135m"], args.seq or [256, 512]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    # torch's OpenMP pool and OpenBLAS's pthreads are separate; with GNU OpenMP's default (active spinning)
    # the idle OpenMP threads spin while OpenBLAS computes, so 2 threads per pool oversubscribe 2 cores and
    # a loaded machine makes the step up to 7x slower. PASSIVE is the fair (fastest) setting for the peer.
    env["OMP_WAIT_POLICY"] = args.omp_wait_policy
    results = []
    for shape in shapes:
        for seq in seqs:
            cmd = [sys.executable, os.path.abspath(__file__), "--single", "--shape", shape, "--seq", str(seq),
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads),
                   "--rank", str(args.rank), "--alpha", str(args.alpha)]
            out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
            results.append(json.loads(out))
    print(json.dumps({"peer": "pytorch", "step": "LoRA fp32 forward+backward+AdamW (LoRA params only)",
                      "rank": args.rank, "alpha": args.alpha, "targets": TARGETS,
                      "load_avg": list(os.getloadavg()), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
