"""PyTorch (CPU, OpenBLAS) peer for `openbook-bench llm`: fp32 matmul GFLOP/s for the given shapes.

  /usr/bin/python3 bench/peers/torch_sgemm.py --threads 2 --seconds 1 1024x1024x1024 4096x1024x1024
Prints one JSON object: {"torch": version, "threads": n, "results": [{"m":..,"n":..,"k":..,"gflops":..}]}.
Shapes are MxNxK for C[M,N] = A[M,K] @ B[K,N]. Needs python3-torch and libopenblas0-pthread (apt);
without OpenBLAS Debian's torch falls back to the slow reference BLAS.
"""
import argparse
import json
import os
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("shapes", nargs="+")
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--seconds", type=float, default=1.0, help="rough time budget per shape")
args = ap.parse_args()
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
try:
    import torch  # noqa: E402  (after the env var, so OpenBLAS starts with the right thread count)
except ImportError:
    print("missing python3-torch: apt-get update && apt-get install -y python3-torch", file=sys.stderr)
    sys.exit(2)

torch.set_num_threads(args.threads)
results = []
for shape in args.shapes:
    m, n, k = (int(x) for x in shape.split("x"))
    a, b = torch.randn(m, k), torch.randn(k, n)
    c = a @ b  # warm-up
    reps = int(min(50, max(3, args.seconds * 50e9 / (2.0 * m * n * k))))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        torch.matmul(a, b, out=c)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)  # the median keeps other processes' bursts out of the figure
    results.append({"m": m, "n": n, "k": k, "gflops": 2.0 * m * n * k / median / 1e9})
print(json.dumps({"torch": torch.__version__, "threads": args.threads, "results": results}))
