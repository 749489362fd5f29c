#!/usr/bin/python3
"""ANN peers for `openbook-bench vectors`: hnswlib and FAISS IndexHNSWFlat on the dataset the C# side wrote.

Reads DIR/base.fvecs, DIR/query.fvecs, DIR/gt.ivecs (exact top-k row numbers, computed by OpenBook's FlatIndex),
builds each engine with the same M / efConstruction, sweeps efSearch and prints one JSON object on stdout:
{"rows":[{"engine":..., "M":..., "efConstruction":..., "efSearch":..., "recall10":..., "qps1":..., "qpsAll":...,
"buildSeconds":..., "memoryMB":..., "qps1Cpu":..., "buildCpuSeconds":...}], "versions":{...}}.
qps1Cpu (queries per CPU second of one thread) and buildCpuSeconds stay meaningful on a shared, loaded machine.
memoryMB is the growth of the process's resident set while the index is built (same method as the C# side).
Needs Debian's python3-hnswlib, python3-faiss, python3-numpy; installs them with apt-get (after apt-get update) when missing,
or names exactly what is missing.
"""
import argparse, gc, json, os, subprocess, sys, time

# FAISS uses OpenMP; on a shared machine spinning OpenMP workers only burn the other processes' time.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


PACKAGES = {"numpy": "python3-numpy", "hnswlib": "python3-hnswlib", "faiss": "python3-faiss"}


def missing_packages():
    import importlib
    missing = []
    for module, package in PACKAGES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    return missing


def ensure_packages():
    """Installs the missing Debian packages (apt-get update first, so a fresh machine works); when that is not possible
    (no root, no apt), names exactly what is missing and exits 2."""
    missing = missing_packages()
    if not missing:
        return
    print("installing " + " ".join(missing) + " with apt-get ...", file=sys.stderr)
    try:
        subprocess.run(["apt-get", "update"], check=True, stdout=sys.stderr)
        subprocess.run(["apt-get", "install", "-y"] + missing, check=True, stdout=sys.stderr)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"ann_peers.py: missing {' '.join(missing)} and apt-get could not install them ({e}); run: "
              f"apt-get update && apt-get install -y {' '.join(missing)}", file=sys.stderr)
        sys.exit(2)
    missing = missing_packages()
    if missing:
        print(f"ann_peers.py: still missing {' '.join(missing)} after apt-get install", file=sys.stderr)
        sys.exit(2)


def read_vecs(path, dtype):
    import numpy as np
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    return rows[:, 1:].copy().view(dtype)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def recall(found, gt, k):
    hits = 0
    for f, g in zip(found, gt):
        hits += len(set(int(x) for x in f[:k]) & set(int(x) for x in g[:k]))
    return hits / (len(gt) * k)


def timed_search(search, queries, runs=1):
    """Best of `runs` passes: (labels, queries per wall second, queries per CPU second of this process)."""
    best, best_cpu = None, None
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        labels = search(queries)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        best = dt if best is None or dt < best else best
        best_cpu = dc if best_cpu is None or dc < best_cpu else best_cpu
    return labels, len(queries) / best, len(queries) / max(best_cpu, 1e-9)


def sweep(engine, build, set_ef, set_threads, search, queries, gt, args):
    """Builds one engine (timing wall/CPU and resident growth), then measures every efSearch value."""
    gc.collect()
    before = rss_mb()
    t, c = time.perf_counter(), time.process_time()
    index = build()
    build_s, build_cpu = time.perf_counter() - t, time.process_time() - c
    mem = rss_mb() - before
    rows = []
    for ef in args.ef:
        set_ef(index, max(ef, args.k))
        set_threads(index, 1)
        labels, qps1, qps1_cpu = timed_search(lambda q: search(index, q), queries, args.runs)
        set_threads(index, args.threads)
        _, qps_all, _ = timed_search(lambda q: search(index, q), queries, args.runs)
        rows.append(dict(engine=engine, M=args.M, efConstruction=args.efConstruction, efSearch=ef,
                         recall10=round(recall(labels, gt, args.k), 4), qps1=round(qps1, 1), qpsAll=round(qps_all, 1),
                         buildSeconds=round(build_s, 3), memoryMB=round(mem, 1),
                         qps1Cpu=round(qps1_cpu, 1), buildCpuSeconds=round(build_cpu, 3)))
    del index
    return rows


def run_hnswlib(base, queries, gt, args):
    import hnswlib

    def build():
        index = hnswlib.Index(space=args.metric, dim=base.shape[1])
        index.init_index(max_elements=len(base), M=args.M, ef_construction=args.efConstruction, random_seed=100)
        index.add_items(base, list(range(len(base))), num_threads=args.threads)
        return index

    return sweep("hnswlib", build, lambda i, ef: i.set_ef(ef), lambda i, n: i.set_num_threads(n),
                 lambda i, q: i.knn_query(q, k=args.k)[0], queries, gt, args)


def run_faiss(base, queries, gt, args):
    import faiss

    def build():
        faiss.omp_set_num_threads(args.threads)
        metric = faiss.METRIC_INNER_PRODUCT if args.metric == "ip" else faiss.METRIC_L2
        index = faiss.IndexHNSWFlat(base.shape[1], args.M, metric)
        index.hnsw.efConstruction = args.efConstruction
        index.add(base)
        return index

    def set_ef(index, ef):
        index.hnsw.efSearch = ef

    return sweep("faiss", build, set_ef, lambda i, n: faiss.omp_set_num_threads(n),
                 lambda i, q: i.search(q, args.k)[1], queries, gt, args)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", required=True)
    p.add_argument("--metric", choices=["ip", "l2"], required=True, help="ip for cosine on unit vectors")
    p.add_argument("--M", type=int, default=16)
    p.add_argument("--efConstruction", type=int, default=200)
    p.add_argument("--ef", type=lambda s: [int(x) for x in s.split(",")], default=[16, 32, 64, 128])
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--engines", default="hnswlib,faiss")
    args = p.parse_args()
    ensure_packages()
    import numpy as np, hnswlib, faiss
    base = read_vecs(os.path.join(args.dir, "base.fvecs"), np.float32)
    queries = read_vecs(os.path.join(args.dir, "query.fvecs"), np.float32)
    gt = read_vecs(os.path.join(args.dir, "gt.ivecs"), np.int32)
    rows = []
    engines = args.engines.split(",")
    if "hnswlib" in engines:
        rows += run_hnswlib(base, queries, gt, args)
    if "faiss" in engines:
        rows += run_faiss(base, queries, gt, args)
    versions = dict(python=sys.version.split()[0], numpy=np.__version__, faiss=faiss.__version__,
                    hnswlib=getattr(hnswlib, "__version__", "debian"))
    print(json.dumps(dict(rows=rows, versions=versions)))


if __name__ == "__main__":
    main()
