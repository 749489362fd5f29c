#!/usr/bin/env python3
"""Reads `dotnet build` output on stdin and updates PublicAPI.Unshipped.txt files: RS0016 symbols are added,
RS0017 symbols removed. Review the diff: the baseline exists so that API changes are deliberate."""
import re, sys, os, collections
add = collections.defaultdict(set); remove = collections.defaultdict(set)
for line in sys.stdin:
    m = re.search(r"error RS0016: Symbol '(.*)' is not part of the declared public API.*\[(.*\.csproj)\]", line)
    if m: add[os.path.join(os.path.dirname(m.group(2)), "PublicAPI.Unshipped.txt")].add(m.group(1))
    m = re.search(r"error RS0017: Symbol '(.*)' is part of the declared API.*\[(.*\.csproj)\]", line)
    if m: remove[os.path.join(os.path.dirname(m.group(2)), "PublicAPI.Unshipped.txt")].add(m.group(1))
for path in set(add) | set(remove):
    lines = open(path).read().splitlines()
    lines = [l for l in lines if l not in remove[path]] + sorted(add[path] - set(lines))
    open(path, "w").write("\n".join(lines) + "\n")
    print(f"{path}: +{len(add[path])} -{len(remove[path])}")
