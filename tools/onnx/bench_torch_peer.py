#!/usr/bin/python3
"""Peer figure for `openbook-bench embed`: the same MiniLM-L6-shaped BERT module (make_tiny_encoder.Bert, random
weights) run by PyTorch on the CPU, fed the same kind of input (chunk lengths spread over 60-100% of --tokens,
sorted by length into batches, padded per batch), reporting chunks/s and tokens/s.

Usage: /usr/bin/python3 tools/onnx/bench_torch_peer.py [--chunks 128] [--tokens 128] [--batch 1 16 64] [--threads 0]
"""
import argparse
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_encoder import Bert  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=128)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(7)
    model = Bert(30522, 384, 6, 12, 1536, 512).eval()
    rng = random.Random(42)
    lengths = [int((a.tokens - 2) * (0.6 + 0.4 * rng.random())) + 2 for _ in range(a.chunks)]
    seqs = [[2] + [rng.randrange(5, 30522) for _ in range(n - 2)] + [3] for n in lengths]
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load {os.getloadavg()}")
    for b in a.batch:
        batches = [order[i:i + b] for i in range(0, len(order), b)]

        def run(bs):
            with torch.no_grad():
                for idx in bs:
                    s = max(len(seqs[i]) for i in idx)
                    ids = torch.zeros((len(idx), s), dtype=torch.long)
                    mask = torch.zeros((len(idx), s), dtype=torch.long)
                    for r, i in enumerate(idx):
                        ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
                        mask[r, :len(seqs[i])] = 1
                    model(ids, mask, torch.zeros_like(ids))

        run(batches[:1])  # warm-up
        t = time.perf_counter()
        run(batches)
        dt = time.perf_counter() - t
        print(f"batch {b}: {len(seqs) / dt:.1f} chunks/s, {sum(lengths) / dt:.0f} tokens/s ({dt:.2f} s)")
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
