#!/usr/bin/python3
"""Renders `openbook-bench vectors --json` result files as markdown tables: python3 render.py results/*.json"""
import json, sys

for path in sys.argv[1:]:
    d = json.load(open(path))
    print(f"### {d['dataset']}: n={d['n']:,}, dim={d['dim']}, {d['queries']} queries, metric {d['metric']}, "
          f"{d['threads']} threads; load before/after: {d['load']['before']} / {d['load']['after']} ({d['load']['cores']} cores)\n")
    print("| engine | efSearch | recall@10 | QPS 1 thr | QPS per CPU s | QPS all thr | build s | build CPU s | memory MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(d["rows"], key=lambda r: (r["efSearch"], r["engine"])):
        print(f"| {r['engine']} | {r['efSearch']} | {r['recall10']:.4f} | {r['qps1']:,.0f} | {r.get('qps1Cpu', 0):,.0f} | "
              f"{r['qpsAll']:,.0f} | {r['buildSeconds']:.1f} | {r.get('buildCpuSeconds', 0):.1f} | {r['memoryMB']:.0f} |")
    if d.get("filtered"):
        print("\nFiltered search (OpenBook), hash-random filters:\n")
        print("| selectivity | efSearch | mode | exact scan | recall@10 | QPS 1 thr | QPS per CPU s |")
        print("|---:|---:|---|---|---:|---:|---:|")
        for f in d["filtered"]:
            print(f"| {f['selectivity']:.1%} | {f['efSearch']} | {f['mode']} | {'yes' if f['exactScan'] else 'no'} | "
                  f"{f['recall10']:.4f} | {f['qps1']:,.0f} | {f['qps1Cpu']:,.0f} |")
    if d.get("persistence"):
        p = d["persistence"]
        print(f"\nIndex file {p['fileMB']:.0f} MB: save {p['saveSeconds']:.2f} s, open {p['openSeconds']:.2f} s "
              f"({p['openNoChecksumSeconds']:.2f} s without the checksum pass).")
    print()
