#!/usr/bin/env python3
"""Trace-by-id latency over many traces: picks 25 random trace ids from the
newest 5000 spans of a running tael server, times 5 lookups of each through
REST and prints the median of the per-trace medians, p90 and worst.
Usage: scripts/trace_lookups.py http://127.0.0.1:7701"""
import json, sys, time, urllib.request, random, statistics
base = sys.argv[1]
d = json.load(urllib.request.urlopen(base + "/api/v1/traces?limit=5000"))
ids = list(dict.fromkeys(s["trace_id"] for s in d["spans"]))
random.seed(1)
pick = random.sample(ids, min(25, len(ids)))
meds = []
for t in pick:
    xs = []
    for _ in range(5):
        t0 = time.perf_counter()
        urllib.request.urlopen(base + "/api/v1/traces/" + t).read()
        xs.append((time.perf_counter() - t0) * 1000)
    meds.append(statistics.median(xs))
print("traces", len(pick), "median of medians %.2f ms" % statistics.median(meds), "p90 %.2f" % sorted(meds)[int(len(meds)*0.9)], "max %.2f" % max(meds))
