#!/usr/bin/env python3
"""Summarizes a soak.sh run directory as markdown: each server's memory and descriptors in the
second minute against the last one, each wrk round kind's first and last p99, the heartbeat
client's per-minute and final figures, and the slow clients' outcome.

usage: soak_summary.py DIR
"""
import json
import os
import sys

d = sys.argv[1]


def tsv(name):
    with open(os.path.join(d, name)) as f:
        rows = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    return rows[0], rows[1:]


def ms(v):
    """wrk's latency with its unit, in ms."""
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float("nan")


head, samples = tsv("samples.tsv")
samples = [[int(x) for x in r] for r in samples if len(r) == len(head)]
end = samples[-1][0]
early = [r for r in samples if 60 <= r[0] < 120] or samples[:6]
late = [r for r in samples if r[0] >= end - 60] or samples[-6:]
print(f"soak of {end} s, {len(samples)} samples every 10 s\n")
print("| process | RSS KiB, 2nd minute (mean) | RSS KiB, last minute (mean) | max | fds, 2nd minute | fds, last minute | max |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, i in (("proxy", 1), ("heartbeat serve", 3), ("serve (upstream)", 5)):
    mean = lambda rows, k: sum(r[k] for r in rows) / len(rows)
    print(f"| {name} | {mean(early, i):,.0f} | {mean(late, i):,.0f} | {max(r[i] for r in samples):,} "
          f"| {mean(early, i + 1):,.0f} | {mean(late, i + 1):,.0f} | {max(r[i + 1] for r in samples):,} |")

_, rounds = tsv("rounds.tsv")
print("\n| wrk round kind | rounds | p99 first / last / worst (ms) | p99 median (ms) | req/s first / last | errors |")
print("|---|---:|---|---:|---|---:|")
for kind in sorted({r[1] for r in rounds}):
    rs = [r for r in rounds if r[1] == kind]
    p99 = [ms(r[3]) for r in rs]
    median = sorted(p99)[len(p99) // 2]
    print(f"| {kind} | {len(rs)} | {p99[0]:.2f} / {p99[-1]:.2f} / {max(p99):.2f} | {median:.2f} | {rs[0][2]} / {rs[-1][2]} "
          f"| {sum(int(r[4]) for r in rs)} |")

print("\nheartbeat client (1,000 connections, every 1 s):")
with open(os.path.join(d, "heartbeat-client.json")) as f:
    docs = [json.loads(l) for l in f if l.strip().startswith("{")]
for doc in docs[-1:]:
    print("final:", json.dumps(doc)[:1500])
print("\nslow clients:", open(os.path.join(d, "slow.json")).read().strip())
