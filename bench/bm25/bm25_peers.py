#!/usr/bin/python3
"""BM25 peers for `openbook-bench bm25`: Xapian (BM25Weight) and SQLite FTS5 (bm25(), porter tokenizer).

Reads DIR/chunks.jsonl ({"id": n, "text": ...}) and DIR/queries.jsonl ({"q": ...}) written by the C# side, builds each
engine's on-disk index in DIR, runs every query once untimed (warm-up) and once timed, and prints one JSON object:
{"engines": [{"engine", "version", "buildSeconds", "buildCpuSeconds", "indexBytes", "p50Ms", "p95Ms", "cpuMsPerQuery",
"top10": [[id, ...], ...]}]}. Queries are OR of their words (as OpenBook's BM25); k1 = 1.2, b = 0.75 for both.
Needs Debian's python3-xapian (SQLite with FTS5 is in the standard library); installs it with apt-get (after
apt-get update) when missing, or names exactly what is missing.
"""
import argparse, json, os, sqlite3, subprocess, sys, time


def ensure_xapian():
    try:
        import xapian  # noqa: F401
        return
    except ImportError:
        pass
    print("installing python3-xapian with apt-get ...", file=sys.stderr)
    try:
        subprocess.run(["apt-get", "update"], check=True, stdout=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "python3-xapian"], check=True, stdout=sys.stderr)
        import xapian  # noqa: F401
    except (OSError, subprocess.CalledProcessError, ImportError) as e:
        print(f"bm25_peers.py: missing python3-xapian and apt-get could not install it ({e}); run: "
              "apt-get update && apt-get install -y python3-xapian", file=sys.stderr)
        sys.exit(2)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def dir_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def percentile(sorted_ms, p):
    i = max(0, min(len(sorted_ms) - 1, int(-(-p * len(sorted_ms) // 1)) - 1))
    return sorted_ms[i]


def timed_queries(queries, run):
    for q in queries[:50]:
        run(q)  # warm-up
    ms, top = [], []
    cpu0 = time.process_time()
    for q in queries:
        t0 = time.perf_counter()
        top.append(run(q))
        ms.append((time.perf_counter() - t0) * 1000)
    cpu = time.process_time() - cpu0
    s = sorted(ms)
    return {"p50Ms": round(percentile(s, 0.50), 3), "p95Ms": round(percentile(s, 0.95), 3),
            "meanMs": round(sum(ms) / len(ms), 3), "cpuMsPerQuery": round(cpu * 1000 / len(queries), 3), "top10": top}


def xapian_engine(chunks, queries, directory, k):
    import xapian
    path = os.path.join(directory, "xapian")
    t0, c0 = time.perf_counter(), time.process_time()
    db = xapian.WritableDatabase(path, xapian.DB_CREATE_OR_OVERWRITE)
    tg = xapian.TermGenerator()
    tg.set_stemmer(xapian.Stem("english"))
    tg.set_stemming_strategy(xapian.TermGenerator.STEM_ALL)
    db.begin_transaction()
    for c in chunks:
        doc = xapian.Document()
        tg.set_document(doc)
        tg.index_text(c["text"])
        db.replace_document(c["id"] + 1, doc)  # Xapian docids start at 1
    db.commit_transaction()
    db.commit()
    db.close()
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    db = xapian.Database(path)
    enquire = xapian.Enquire(db)
    enquire.set_weighting_scheme(xapian.BM25Weight(1.2, 0, 1, 0.75, 0.5))
    qp = xapian.QueryParser()
    qp.set_stemmer(xapian.Stem("english"))
    qp.set_stemming_strategy(xapian.QueryParser.STEM_ALL)
    qp.set_database(db)
    qp.set_default_op(xapian.Query.OP_OR)

    def run(q):
        enquire.set_query(qp.parse_query(q))
        return [m.docid - 1 for m in enquire.get_mset(0, k)]

    result = {"engine": "xapian", "version": xapian.version_string(), "buildSeconds": round(build, 3),
              "buildCpuSeconds": round(build_cpu, 3), "indexBytes": dir_bytes(path)}
    result.update(timed_queries(queries, run))
    return result


def fts5_engine(chunks, queries, directory, k):
    path = os.path.join(directory, "fts5.db")
    if os.path.exists(path):
        os.remove(path)
    t0, c0 = time.perf_counter(), time.process_time()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE VIRTUAL TABLE chunks USING fts5(text, tokenize='porter unicode61')")
    with con:
        con.executemany("INSERT INTO chunks(rowid, text) VALUES (?, ?)", ((c["id"], c["text"]) for c in chunks))
    with con:
        con.execute("INSERT INTO chunks(chunks) VALUES('optimize')")
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    sql = "SELECT rowid FROM chunks WHERE chunks MATCH ? ORDER BY bm25(chunks) LIMIT ?"

    def run(q):
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in q.split())
        return [r[0] for r in con.execute(sql, (match, k))]

    result = {"engine": "sqlite-fts5", "version": sqlite3.sqlite_version, "buildSeconds": round(build, 3),
              "buildCpuSeconds": round(build_cpu, 3), "indexBytes": dir_bytes(path)}
    result.update(timed_queries(queries, run))
    con.close()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--engines", default="xapian,fts5")
    args = ap.parse_args()
    engines = args.engines.split(",")
    if "xapian" in engines:
        ensure_xapian()
    chunks = read_jsonl(os.path.join(args.dir, "chunks.jsonl"))
    queries = [q["q"] for q in read_jsonl(os.path.join(args.dir, "queries.jsonl"))]
    out = []
    for e in engines:
        print(f"{e}: building over {len(chunks)} chunks, then {len(queries)} queries ...", file=sys.stderr)
        out.append(xapian_engine(chunks, queries, args.dir, args.k) if e == "xapian" else fts5_engine(chunks, queries, args.dir, args.k))
    json.dump({"engines": out}, sys.stdout)


if __name__ == "__main__":
    main()
