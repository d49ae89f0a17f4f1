#!/usr/bin/env python3
"""Turn run.sh's raw output into the figures table (markdown on stdout)."""
import glob
import json
import os
import sys

out = sys.argv[1]


def last_json(path):
    lines = [l for l in open(path).read().splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else None


print("\n## Idle connections: memory\n")
print("| server | connections held | RSS before (KiB) | RSS held (KiB) | RSS growth per connection (bytes) | RSS held / connections (bytes) |")
print("|---|---|---|---|---|---|")
for line in open(os.path.join(out, "idle.txt")):
    f = line.split()
    name, n, base, rss, m0, m1 = f[0], int(f[1]), int(f[2]), int(f[3]), f[4], f[5]
    per = (rss - base) * 1024 / n if n else float("nan")
    label = "keepsight heartbeat serve" if name == "ours" else "nginx worker (1 worker)"
    total = rss * 1024 / n if n else float("nan")
    print(f"| {label} | {n} | {base} | {rss} | {per:.0f} | {total:.0f} |")

print("\n## Beating connections\n")
print("| run | connections | server CPU (% of one core) | server RSS per connection (bytes) | reply RTT p50 / p99 / p99.9 (ms) | lateness p50 / p99 / p99.9 / max (ms) | probes | misses | reconnects |")
print("|---|---|---|---|---|---|---|---|---|")
for line in open(os.path.join(out, "beats.txt")):
    f = line.split()
    name, n, base, rss = f[0], int(f[1]), int(f[2]), int(f[3])
    c0, c1, t0, t1, tick = int(f[4]), int(f[5]), float(f[6]), float(f[7]), int(f[8])
    cpu = (c1 - c0) / tick / (t1 - t0) * 100
    clients = [last_json(p) for p in sorted(glob.glob(os.path.join(out, f"beats-{name}-client-*.json")))]
    clients = [c["client"] for c in clients if c]
    # Percentiles do not add up across processes; the largest per-process value bounds the
    # combined one from above (each process has at most 0.1 % of its samples above its own
    # p99.9, so the union has at most 0.1 % above the largest).
    def worst(kind, q):
        return max(c[kind][q] for c in clients)
    def median(kind, q):
        v = sorted(c[kind][q] for c in clients)
        return v[len(v) // 2]
    probes = sum(c["probes_sent"] for c in clients)
    misses = sum(c["misses"] for c in clients)
    reconnects = sum(c["reconnects"] for c in clients)
    per = (rss - base) * 1024 / n if n else float("nan")
    print(
        f"| {name} | {n} | {cpu:.1f} | {per:.0f} | "
        f"{median('rtt', 'p50_ms'):.3f} / {worst('rtt', 'p99_ms'):.3f} / {worst('rtt', 'p999_ms'):.3f} | "
        f"{median('lateness', 'p50_ms'):.3f} / {worst('lateness', 'p99_ms'):.3f} / {worst('lateness', 'p999_ms'):.3f} / {worst('lateness', 'max_ms'):.3f} | "
        f"{probes} | {misses} | {reconnects} |"
    )
print("\np50 is the median of the client processes' p50; p99, p99.9 and max are the largest per-process value (an upper bound of the combined figure).")
