#!/usr/bin/env python3
"""check.py -- the Parquet tables of `keepsight diagnose --parquet`, read back with DuckDB.

Usage: check.py KEEPSIGHT_BINARY REPO_ROOT SCRATCH_DIR

For every committed capture (tests/corpus, tests/scenarios; with the scenario's app.log when
it has one) it runs `diagnose --json` and `diagnose --parquet --parquet-segments`, reads the
tables back with DuckDB (an independent Parquet reader) and compares them with the JSON row
by row: streams, findings, heartbeats (counts, replies and late/missed/slow beats against the
JSON's heartbeat summary and findings), log matches; the segments table and the ISNs against
tshark's own dissection. Then it writes two scenario captures into one directory, as two
hosts of a fleet, and runs the README's queries (crates/tables/README.md) on it: their answers
must be the ones the scenarios' truth.json files give. Prints each difference and a closing
'N passed, N failed' line; exit status 1 on any difference.
"""
import glob
import json
import math
import os
import re
import subprocess
import sys

import duckdb

BIN, ROOT, SCRATCH = sys.argv[1:4]
problems = []
checked = 0
# What the comparisons saw, so a run that compared nothing cannot pass.
seen = {"streams": 0, "findings": 0, "heartbeats": 0, "late": 0, "missed": 0, "slow": 0,
        "log_matches": 0, "segments": 0, "isns": 0}


def problem(cap, what):
    problems.append(f"{os.path.relpath(cap, ROOT)}: {what}")


def run(args):
    p = subprocess.run(args, capture_output=True, text=True)
    # Exit 1: the capture is damaged or a problem was found; the report is still written.
    if p.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr}")
    return p.stdout


def captures():
    """(capture, log or None): the corpus's readable captures and every scenario capture."""
    out = []
    for ext in ("pcap", "pcapng", "pcap.gz"):
        out += [(c, None) for c in glob.glob(os.path.join(ROOT, "tests/corpus", f"*.{ext}"))]
        for c in glob.glob(os.path.join(ROOT, "tests/scenarios", "**", f"*.{ext}"), recursive=True):
            log = os.path.join(os.path.dirname(c), "app.log")
            out.append((c, log if os.path.exists(log) else None))
    return sorted(out)


def endpoint(s):
    ip, port = s.rsplit(":", 1)
    return ip.strip("[]"), int(port)


def close_enough(a, b, tol=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=tol)


def rows(con, directory, table, order):
    pattern = os.path.join(directory, table, "**", "*.parquet")
    if not glob.glob(pattern, recursive=True):
        return []
    cur = con.execute(
        f"SELECT * REPLACE ("
        + ", ".join(
            f"strftime({c}, '%Y-%m-%dT%H:%M:%S.%fZ') AS {c}"
            for c in TIMES[table]
        )
        + f") FROM read_parquet('{pattern}', hive_partitioning = true) ORDER BY {order}"
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


TIMES = {
    "streams": ["start", '"end"', "close_time"],
    "findings": ["time"],
    "heartbeats": ["probe_time", "reply_time"],
    "log_matches": ["time"],
    "segments": ["time"],
}


def check_streams(cap, report, got):
    want = report["streams"]
    if len(got) != len(want):
        problem(cap, f"streams: {len(got)} rows, JSON {len(want)}")
        return
    for g, w in zip(got, want):
        c, s = endpoint(w["endpoints"]["client"]), endpoint(w["endpoints"]["server"])
        close = w["close"] or {}
        hb = w["heartbeat"] or {}
        lat = hb.get("reply_latency_ms") or {}
        ka = (w["tcp_keepalive"] or [{}])[0]
        expect = {
            "stream": w["stream"], "client_ip": c[0], "client_port": c[1],
            "server_ip": s[0], "server_port": s[1], "transport": "tcp",
            "start": w["start"], "end": w["end"], "first_frame": w["first_frame"],
            "last_frame": w["last_frame"], "packets": w["packets"],
            "roles_from": w["endpoints"]["roles_from"], "close_kind": close.get("kind"),
            "close_by": close.get("by"), "close_frame": close.get("frame"),
            "close_time": close.get("time"), "heartbeat_sender": hb.get("sender"),
            "heartbeat_probe_hex": hb.get("probe_hex"),
            "heartbeat_reply_hex": hb.get("reply_hex"), "heartbeat_beats": hb.get("beats"),
            "heartbeat_replies": hb.get("replies"), "keepalive_sender": ka.get("sender"),
            "keepalive_count": ka.get("count"),
        }
        floats = {
            "after_last_beat_s": close.get("after_last_beat_s"),
            "after_last_data_s": close.get("after_last_data_s"),
            "max_idle_s": w["max_idle_s"], "heartbeat_period_s": hb.get("period_s"),
            "heartbeat_jitter_s": hb.get("jitter_s"),
            "heartbeat_tolerance_s": hb.get("tolerance_s"),
            "reply_latency_median_s": lat.get("median") and lat["median"] / 1e3,
            "reply_latency_p99_s": lat.get("p99") and lat["p99"] / 1e3,
            "reply_latency_max_s": lat.get("max") and lat["max"] / 1e3,
            "keepalive_idle_s": ka.get("idle_s"), "keepalive_interval_s": ka.get("interval_s"),
        }
        for k, v in expect.items():
            if g[k] != v:
                problem(cap, f"streams[{w['stream']}].{k}: parquet {g[k]!r}, JSON {v!r}")
        for k, v in floats.items():
            if not close_enough(g[k], v):
                problem(cap, f"streams[{w['stream']}].{k}: parquet {g[k]!r}, JSON {v!r}")


FIXED = ("severity", "kind", "stream", "frames", "time", "message", "evidence")


def check_findings(cap, report, got):
    want = report["findings"]
    if len(got) != len(want):
        problem(cap, f"findings: {len(got)} rows, JSON {len(want)}")
        return
    ends = {s["stream"]: s["endpoints"] for s in report["streams"]}
    for i, (g, w) in enumerate(zip(got, want)):
        details = {k: v for k, v in w.items() if k not in FIXED}
        e = ends.get(w["stream"])
        expect = {
            "rank": i, "severity": w["severity"], "kind": w["kind"], "stream": w["stream"],
            "time": w["time"], "frames": w["frames"], "message": w["message"],
            "by": w.get("by") if isinstance(w.get("by"), str) else None,
            "client_ip": e and endpoint(e["client"])[0],
            "server_port": e and endpoint(e["server"])[1],
        }
        for k, v in expect.items():
            if g[k] != v:
                problem(cap, f"findings[{i}] ({w['kind']}).{k}: parquet {g[k]!r}, JSON {v!r}")
        if json.loads(g["details"]) != details:
            problem(cap, f"findings[{i}] ({w['kind']}).details: parquet {g['details']}, JSON {details}")


def check_heartbeats(cap, report, got):
    by_stream = {}
    for g in got:
        by_stream.setdefault(g["stream"], []).append(g)
    with_hb = {s["stream"]: s["heartbeat"] for s in report["streams"] if s["heartbeat"]}
    if set(by_stream) != set(with_hb):
        problem(cap, f"heartbeats: streams {sorted(by_stream)}, JSON's with a heartbeat {sorted(with_hb)}")
    for stream, hb in with_hb.items():
        beats = by_stream.get(stream, [])
        if len(beats) != hb["beats"]:
            problem(cap, f"heartbeats of stream {stream}: {len(beats)} rows, JSON beats {hb['beats']}")
        replies = sum(1 for b in beats if b["reply_frame"] is not None)
        if replies != hb["replies"]:
            problem(cap, f"heartbeats of stream {stream}: {replies} replies, JSON {hb['replies']}")
        if [b["beat"] for b in beats] != list(range(1, len(beats) + 1)):
            problem(cap, f"heartbeats of stream {stream}: beats not numbered 1..n")
        if any(b["sender"] != hb["sender"] for b in beats):
            problem(cap, f"heartbeats of stream {stream}: a beat not from {hb['sender']}")
        lat = hb.get("reply_latency_ms")
        lats = [b["latency_s"] for b in beats if b["latency_s"] is not None]
        if lat and lats and abs(max(lats) * 1e3 - lat["max"]) > 0.001:
            problem(cap, f"heartbeats of stream {stream}: slowest reply {max(lats) * 1e3} ms, JSON {lat['max']}")
    late, missed, slow = {}, {}, {}
    for f in report["findings"]:
        if f["kind"] == "late_heartbeat":
            late[(f["stream"], f["frames"][1])] = f["late_by_s"]
        elif f["kind"] == "missed_heartbeat" and not f.get("stopped"):
            missed[(f["stream"], f["frames"][1])] = f["missed"]
        elif f["kind"] == "slow_heartbeat_reply":
            slow[(f["stream"], f["frames"][0])] = True
    seen["heartbeats"] += len(got)
    seen["late"] += len(late)
    seen["missed"] += len(missed)
    seen["slow"] += len(slow)
    got_late = {(g["stream"], g["probe_frame"]): g["late_by_s"] for g in got if g["late"]}
    got_missed = {(g["stream"], g["probe_frame"]): g["missed_before"] for g in got if g["missed_before"]}
    got_slow = {(g["stream"], g["probe_frame"]): True for g in got if g["slow_reply"]}
    for name, g, w in (("late", got_late, late), ("missed", got_missed, missed), ("slow", got_slow, slow)):
        if g != w:
            problem(cap, f"heartbeats: {name} beats {sorted(g.items())}, JSON findings {sorted(w.items())}")


def check_log_matches(cap, report, got):
    if report.get("log") is None:
        if got:
            problem(cap, "log_matches without --log")
        return
    want = []
    for i, f in enumerate(report["findings"]):
        if f["kind"] != "log_match":
            continue
        for s in f["streams"] or [None]:
            want.append((i, s, f.get("log_file") or report["log"]["file"], f["line"], f["log_text"],
                         f["time"], f["frames"], f["matched_kinds"], f.get("at_deadline", False),
                         f["clock_offset_s"], f.get("delay_ms") and f["delay_ms"] / 1e3))
    seen["log_matches"] += len(want)
    have = [(g["rank"], g["stream"], g["log_file"], g["line"], g["log_text"], g["time"],
             g["frames"], g["matched_kinds"], g["at_deadline"], g["clock_offset_s"], g["delay_s"])
            for g in sorted(got, key=lambda g: (g["rank"], g["stream"] is None, g["stream"]))]
    if have != want:
        problem(cap, f"log_matches: parquet {have[:3]}..., JSON {want[:3]}... ({len(have)} vs {len(want)} rows)")


def tshark_segments(cap):
    out = subprocess.run(
        ["tshark", "-n", "-r", cap, "-Y", "tcp and not icmp and not icmpv6", "-T", "fields",
         "-E", "occurrence=f", "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.seq_raw",
         "-e", "tcp.ack_raw", "-e", "tcp.len", "-e", "tcp.flags", "-e", "tcp.seq", "-e", "tcp.ack"],
        capture_output=True, text=True).stdout
    segs = {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 8 or not f[2]:
            continue
        segs[int(f[0])] = (int(f[1]), int(f[2]), int(f[3] or 0), int(f[4]), int(f[5], 16), int(f[6]))
    return segs


def check_segments(cap, report, streams, got):
    ts = tshark_segments(cap)
    mine = {g["frame"]: (g["stream"], g["raw_seq"], g["raw_ack"], g["len"], g["flags"], g["seq"]) for g in got}
    # Frames tshark dissects as TCP but keepsight does not (TCP inside IP fragments) are a known
    # difference (README "Agreement with tshark"); every segment keepsight lists must agree.
    for frame, m in mine.items():
        if ts.get(frame) != m:
            problem(cap, f"segments: frame {frame}: parquet {m}, tshark {ts.get(frame)}")
    if len(mine) < len(ts) * 0.9:
        problem(cap, f"segments: {len(mine)} rows, tshark {len(ts)} TCP frames")
    seen["segments"] += len(mine)
    seen["isns"] += sum(1 for s in streams for side in ("client", "server") if s[f"{side}_isn"] is not None)
    syn = {}
    for frame in sorted(ts):
        stream, seq_raw, _, _, flags, _ = ts[frame]
        if flags & 0x02:
            side = "server" if flags & 0x10 else "client"
            syn.setdefault((stream, side), seq_raw)
    for s in streams:
        for side in ("client", "server"):
            if s[f"{side}_isn"] != syn.get((s["stream"], side)):
                problem(cap, f"streams[{s['stream']}].{side}_isn: parquet {s[f'{side}_isn']}, tshark SYN {syn.get((s['stream'], side))}")


def check_capture(con, cap, log, n):
    global checked
    args = [cap] + (["--log", log] if log else [])
    report = json.loads(run([BIN, "diagnose", "--json"] + args))
    out = os.path.join(SCRATCH, f"cap{n}")
    run([BIN, "diagnose", "--parquet", out, "--parquet-segments", "--parquet-host", f"h{n}"] + args)
    streams = rows(con, out, "streams", "stream")
    check_streams(cap, report, streams)
    findings = rows(con, out, "findings", "rank")
    check_findings(cap, report, findings)
    seen["streams"] += len(streams)
    seen["findings"] += len(findings)
    check_heartbeats(cap, report, rows(con, out, "heartbeats", "stream, beat"))
    check_log_matches(cap, report, rows(con, out, "log_matches", "rank, stream"))
    check_segments(cap, report, streams, rows(con, out, "segments", "frame"))
    for t in ("streams", "findings", "heartbeats", "segments"):
        for f in glob.glob(os.path.join(out, t, "**", "*.parquet"), recursive=True):
            if f"host=h{n}{os.sep}" not in f or not re.search(r"date=\d{4}-\d\d-\d\d", f):
                problem(cap, f"{f}: not under host=h{n}/date=YYYY-MM-DD")
    checked += 1


def readme_queries():
    text = open(os.path.join(ROOT, "crates/tables/README.md")).read()
    views = re.search(r"```sql\n(CREATE VIEW.*?)```", text, re.S).group(1)
    queries = dict((m.group(1), m.group(0)) for m in re.finditer(r"-- query: (\w+)\n.*?;", text, re.S))
    return views, queries


def check_fleet(con):
    """Two captures as two hosts; the README's queries against the scenarios' truth."""
    fleet = os.path.join(SCRATCH, "fleet")
    late = os.path.join(ROOT, "tests/scenarios/late-heartbeat")
    idle = os.path.join(ROOT, "tests/scenarios/middlebox-idle-rst")
    run([BIN, "diagnose", os.path.join(late, "capture.pcapng"), "--log", os.path.join(late, "app.log"),
         "--parquet", fleet, "--parquet-host", "edge-1"])
    run([BIN, "diagnose", os.path.join(idle, "capture.pcapng"), "--parquet", fleet,
         "--parquet-host", "edge-2"])
    late_truth = json.load(open(os.path.join(late, "truth.json")))
    idle_truth = json.load(open(os.path.join(idle, "truth.json")))
    views, queries = readme_queries()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(views.replace("'tables/", f"'{fleet}/"))
    answers = {name: con.execute(q).fetchall() for name, q in queries.items()}

    incidents = late_truth["incidents"]
    server = endpoint(late_truth["server"])
    worst = max(i["gap_s"] - i["expected_period_s"] for i in incidents)
    got = answers.get("late_beats_per_server")
    if not (got and len(got) == 1 and got[0][:4] == (server[0], server[1], len(incidents), len(incidents))
            and abs(got[0][4] - worst) < 0.01 and got[0][5] == ["edge-1"]):
        problems.append(f"README late_beats_per_server: {got}; truth: {server}, {len(incidents)} late beats on "
                        f"{len(incidents)} connections, worst {worst:.3f} s late, host edge-1")

    beats = idle_truth["connections"][0]["beats"]
    killed_after = idle_truth["injected_rst"]["t"] - beats[-1]["sent_t"]
    period = idle_truth["heartbeat"]["period_s"]
    got = answers.get("idle_deaths")
    if not (got and len(got) == 1 and abs(got[0][0] - killed_after) < 0.1 and got[0][1] == 1
            and abs(got[0][2] - period) < 0.1 and got[0][3] == ["middlebox_idle_reset"]):
        problems.append(f"README idle_deaths: {got}; truth: one connection reset {killed_after:.1f} s "
                        f"after its last beat, having survived {period} s gaps")

    # Each late beat is the one the scenario's client sent late (driver and capture share a clock;
    # the capture sees the probe within a few ms of its sending).
    got = con.execute("SELECT client_port, epoch(probe_time), late_by_s FROM heartbeats WHERE late "
                      "ORDER BY probe_time").fetchall()
    want = [(i["client_port"], i["late_beat_sent_t"], i["gap_s"] - i["expected_period_s"]) for i in incidents]
    if len(got) != len(want) or any(g[0] != w[0] or abs(g[1] - w[1]) > 0.01 or abs(g[2] - w[2]) > 0.01
                                     for g, w in zip(got, want)):
        problems.append(f"late beats: {got}; truth (port, sent, late by): {want}")

    s = endpoint(idle_truth["server"])
    got = answers.get("middlebox_resets_by_path")
    if not (got and len(got) == 1 and got[0][:5] == (idle_truth["client_addr"], s[0], s[1], 1, ["middlebox_idle_reset"])):
        problems.append(f"README middlebox_resets_by_path: {got}; truth: {idle_truth['client_addr']} -> "
                        f"{idle_truth['server']}, one forged reset")
    if set(answers) != {"late_beats_per_server", "idle_deaths", "middlebox_resets_by_path"}:
        problems.append(f"README queries found: {sorted(answers)}")


def main():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for n, (cap, log) in enumerate(captures()):
        check_capture(con, cap, log, n)
    check_fleet(con)
    for what, n in seen.items():
        if n == 0:
            problems.append(f"no {what} compared: the captures no longer exercise the tables")
    for p in problems:
        print(p)
    print(f"{checked} captures checked; rows compared: {seen}")
    print(f"{len(problems)} differences")
    sys.exit(1 if problems else 0)


main()
