#!/usr/bin/env python3
"""compare_heartbeats.py -- the heartbeats two keepsight binaries find on the whole corpus.

Usage: compare_heartbeats.py BEFORE_BINARY AFTER_BINARY

Runs `diagnose --json` with both binaries on every capture under tests/corpus and
tests/scenarios (pcap, pcapng, pcap.gz) and prints, per capture, each stream whose heartbeat
appeared, vanished or changed (sender, probe bytes, beats, period) and each change in the count
of heartbeat findings (late, missed, unanswered, slow reply, gave up). Exit status 1 when a
heartbeat appeared on a stream that had none: the issue 24 check that no change to discovery
adds a false heartbeat unnoticed (every other difference is for a reader to judge against the
scenario's truth).
"""
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
KINDS = ("late_heartbeat", "missed_heartbeat", "unanswered_heartbeat", "slow_heartbeat_reply",
         "heartbeat_gave_up", "app_heartbeat_stopped", "app_heartbeat_late",
         "app_probe_unanswered")


def captures():
    out = []
    for top in ("tests/corpus", "tests/scenarios"):
        for ext in ("pcap", "pcapng", "pcap.gz"):
            out += glob.glob(os.path.join(ROOT, top, "**", f"*.{ext}"), recursive=True)
    return sorted(set(out))


def heartbeats(binary, capture):
    p = subprocess.run([binary, "diagnose", "--json", capture], capture_output=True,
                       cwd=ROOT, timeout=300)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        return None, None
    streams = {}
    for s in report.get("streams", []):
        hb = s.get("heartbeat")
        if hb:
            streams[s["stream"]] = (hb.get("sender"), hb.get("probe_hex"), hb.get("beats"),
                                    round(hb.get("period_s") or 0, 3))
    counts = {}
    for f in report.get("findings", []):
        if f.get("kind") in KINDS:
            counts[f["kind"]] = counts.get(f["kind"], 0) + 1
    return streams, counts


def main():
    before_bin, after_bin = sys.argv[1:3]
    new_heartbeats = 0
    compared = 0
    for cap in captures():
        before, bc = heartbeats(before_bin, cap)
        after, ac = heartbeats(after_bin, cap)
        if before is None or after is None:
            continue
        compared += 1
        name = os.path.relpath(cap, ROOT)
        for s in sorted(set(before) | set(after)):
            b, a = before.get(s), after.get(s)
            if b == a:
                continue
            if b is None:
                new_heartbeats += 1
                print(f"{name}: stream {s}: NEW heartbeat {a}")
            elif a is None:
                print(f"{name}: stream {s}: heartbeat gone (was {b})")
            else:
                print(f"{name}: stream {s}: {b} -> {a}")
        for k in sorted(set(bc) | set(ac)):
            if bc.get(k, 0) != ac.get(k, 0):
                print(f"{name}: {k}: {bc.get(k, 0)} -> {ac.get(k, 0)}")
    print(f"{compared} captures compared; {new_heartbeats} stream(s) newly called a heartbeat")
    sys.exit(1 if new_heartbeats else 0)


if __name__ == "__main__":
    main()
