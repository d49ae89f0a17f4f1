#!/usr/bin/env python3
"""local-time-log -- a client application logging local time (UTC+05:30) with a skewed clock
and labelled connections (run as root; ~30 s).

Issue 15, classes 1-3: the log carries no zone and its clock runs 3.2 s behind the capture's;
its lines name connections by label ("[conn 2]") tied to a local port by the "connected" line;
one error is written at the application's own deadline, *before* the late beat goes out.

Client namespace ks-lz-c (10.77.61.2) opens three connections to the server 10.77.61.1:47161 in
ks-lz-s; each sends the 4-byte text probe "PING" every 2 s, the server answers "PONG" at once.
dumpcap runs on the client's veth (capture.pcapng, the client side).
  conn 1: never late; it logs an unrelated ERROR (a metrics push failing) at the very moment
          conn 2 resets -- a line about conn 1 that must not be matched to conn 2's reset.
  conn 2: its 5th beat is due 2 s after the 4th, but the sender stalls until 3.5 s. The
          application's deadline watchdog (period + 0.3 s) logs an ERROR at 2.3 s, while no beat
          has gone out; the late beat is answered, the client logs the restart, resets with
          SO_LINGER 0 right after the reply and reconnects 0.5 s later under the same label
          (new local port, logged).
  conn 3: its 8th beat goes out 3.6 s after the 7th; the watchdog logs its ERROR at 2.3 s, and
          right after the late beat's reply the client logs an ERROR naming its local port
          (":PORT"), resets and reconnects likewise.
Each connection runs ~24 s, then closes (FIN).

app.log: "YYYY-MM-DD HH:MM:SS,mmm LEVEL [conn N] message", local time UTC+05:30, no zone in the
lines, written from a clock 3.2 s behind time.time().  truth.json: what the driver did, from
time.time() (the capture's clock), and the facts keepsight must conclude (FACTS.md).
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import ksnet, r6, write_truth  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
C, S = "ks-lz-c", "ks-lz-s"
CA, SA, PORT = "10.77.61.2", "10.77.61.1", 47161
PERIOD, RUN_S, RECONNECT_S = 2.0, 24.0, 0.5
DEADLINE_S = PERIOD + 0.3          # the application's own watchdog: a beat later than this is overdue
ZONE_S = 5 * 3600 + 30 * 60        # the log's local time: UTC+05:30
LOG_BEHIND_S = 3.2                 # the log's clock runs this much behind the capture's
PLAN = {1: {}, 2: {5: 3.5}, 3: {8: 3.6}}   # label -> {beat number: gap before it}
PROBE, REPLY = b"PING", b"PONG"


class LocalLog:
    """Python-logging-style lines in local time without a zone, from a skewed clock."""

    def __init__(self):
        self.lines, self.lock = [], threading.Lock()

    def log(self, level, label, msg, t=None):
        t = time.time() if t is None else t
        shown = t - LOG_BEHIND_S + ZONE_S
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(shown)) + f",{int(shown % 1 * 1000):03d}"
        with self.lock:
            self.lines.append((t, f"{stamp} {level} [conn {label}] {msg}"))
        return t

    def write(self, path):
        with open(path, "w") as f:
            for _t, line in sorted(self.lines, key=lambda x: x[0]):
                f.write(line + "\n")

    def line_no(self, t_logged):
        """1-based line number of the line logged at t (the file is written sorted by t)."""
        ts = sorted(t for t, _ in self.lines)
        return ts.index(t_logged) + 1


app = LocalLog()
conn2_reset = threading.Event()


def server(ls, stop):
    ls.settimeout(0.2)
    ths = []

    def handle(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(60)
        try:
            while True:
                b = c.recv(4)
                if not b:
                    break
                c.sendall(REPLY)
        except OSError:
            pass
        c.close()
    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        t = threading.Thread(target=handle, args=(c,), daemon=True)
        t.start()
        ths.append(t)
    for t in ths:
        t.join(timeout=2)


def client(label, t_end, out):
    plan = dict(PLAN[label])
    conns = []
    while time.time() < t_end:
        with ksnet.in_ns(C):
            s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((CA, 0))
        s.settimeout(5)
        s.connect((SA, PORT))
        t_conn = time.time()
        port = s.getsockname()[1]
        t_line = app.log("INFO", label, f"connected to {SA}:{PORT} (local port {port})", t_conn)
        cinfo = {"client_port": port, "connect_t": r6(t_conn), "connected_line_t": t_line,
                 "beats": [], "end": None, "lines": {}}
        conns.append(cinfo)
        out["connections"] = conns
        beat_no, prev = 0, t_conn
        while True:
            beat_no += 1
            gap = plan.pop(beat_no, PERIOD)
            due = prev + gap
            if due > t_end:
                time.sleep(max(0.0, t_end - time.time()))
                s.shutdown(socket.SHUT_WR)
                t_fin = time.time()
                try:
                    s.recv(4)
                except OSError:
                    pass
                s.close()
                cinfo["end"] = {"kind": "fin", "t": r6(t_fin), "by": "client"}
                app.log("INFO", label, "closing connection, bye", t_fin)
                return
            if gap > DEADLINE_S:
                # The watchdog fires at the deadline while the sender is still stalled.
                time.sleep(max(0.0, prev + DEADLINE_S - time.time()))
                t_dl = app.log("ERROR", label, f"heartbeat overdue: nothing sent for {DEADLINE_S:.1f}s "
                               f"(period {PERIOD:.0f}s), session considered expired")
                cinfo["lines"]["deadline_error_t"] = t_dl
            time.sleep(max(0.0, due - time.time()))
            t_sent = time.time()
            s.sendall(PROBE)
            r = s.recv(4)
            t_reply = time.time()
            actual = t_sent - prev
            cinfo["beats"].append({"k": beat_no, "sent_t": r6(t_sent), "reply_t": r6(t_reply),
                                   "gap_s": round(actual, 6), "reply": r.hex()})
            prev = t_sent
            if actual > DEADLINE_S:
                if label == 3:
                    t_err = app.log("ERROR", label, f"heartbeat on :{port} went out {actual:.1f}s after "
                                    "the previous one, resetting", t_reply)
                    cinfo["lines"]["late_error_t"] = t_err
                else:
                    t_rs = app.log("WARN", label, "restart: resetting the connection", t_reply)
                    cinfo["lines"]["restart_t"] = t_rs
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                t_rst = time.time()
                if label == 2:
                    conn2_reset.set()
                cinfo["end"] = {"kind": "rst", "t": r6(t_rst), "by": "client",
                                "late_beat_sent_t": r6(t_sent), "late_beat_reply_t": r6(t_reply),
                                "previous_beat_sent_t": r6(t_sent - actual), "gap_s": round(actual, 6)}
                time.sleep(RECONNECT_S)
                break


def distractor(out):
    """conn 1's unrelated error, written when conn 2 resets."""
    if conn2_reset.wait(timeout=RUN_S):
        out["metrics_error_t"] = app.log("ERROR", 1, "metrics push failed: queue full, dropping 3 samples")


def main():
    ksnet.add_ns(C)
    ksnet.add_ns(S)
    ksnet.veth(C, "kslzc", S, "kslzs", [CA + "/24"], [SA + "/24"], offload=False)
    with ksnet.in_ns(S):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((SA, PORT))
        ls.listen(16)
    stop = threading.Event()
    st = threading.Thread(target=server, args=(ls, stop), daemon=True)
    st.start()
    cap = ksnet.Capture(C, "kslzc", os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    results, ths = {}, []
    for label in PLAN:
        results[label] = {"label": f"conn {label}"}
        th = threading.Thread(target=client, args=(label, t0 + RUN_S + label * 0.3, results[label]))
        th.start()
        ths.append(th)
        time.sleep(0.3)
    extra = {}
    dt = threading.Thread(target=distractor, args=(extra,))
    dt.start()
    for th in ths + [dt]:
        th.join(timeout=RUN_S + 20)
    time.sleep(0.5)
    stop.set()
    st.join(timeout=5)
    cap.stop()
    app.write(os.path.join(HERE, "app.log"))

    c1, c2, c3 = (results[k]["connections"] for k in (1, 2, 3))
    late2 = c2[0]["end"]
    late3 = c3[0]["end"]
    assert late2 and late2["kind"] == "rst" and late3 and late3["kind"] == "rst", (late2, late3)
    n = app.line_no
    dl_line = n(c2[0]["lines"]["deadline_error_t"])
    dl3_line = n(c3[0]["lines"]["deadline_error_t"])
    rs_line = n(c2[0]["lines"]["restart_t"])
    err3_line = n(c3[0]["lines"]["late_error_t"])
    metrics_line = n(extra["metrics_error_t"])
    p2, p3 = c2[0]["client_port"], c3[0]["client_port"]
    late_kinds = ["late_heartbeat", "reset_after_heartbeat_deadline"]
    facts = [
        {"id": "the log's zone is found: UTC+05:30, by search",
         "capture": "capture.pcapng", "command": "diagnose", "args": ["--log", "app.log"],
         "check": {"log": {"zone": "+05:30", "zone_from": "search"}}},
        {"id": "the log's clock is found 3.2 s behind the capture's (within the lines' logging lag)",
         "capture": "capture.pcapng", "command": "diagnose", "args": ["--log", "app.log"],
         "check": {"log": {"clock_offset_s": [LOG_BEHIND_S - 0.7, LOG_BEHIND_S + 1.0]}}},
        {"id": "--log-tz overrides the search",
         "capture": "capture.pcapng", "command": "diagnose",
         "args": ["--log", "app.log", "--log-tz", "+05:30"],
         "check": {"log": {"zone": "+05:30", "zone_from": "option"}}},
        {"id": "conn 2's late beat is found",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"finding": "late_heartbeat", "conn": {"client_port": p2},
                   "where": {"gap_s": [late2["gap_s"] - 0.1, late2["gap_s"] + 0.1]}}},
        {"id": "conn 2's deadline error, written before the late beat went out, matches conn 2's late beat",
         "capture": "capture.pcapng", "command": "diagnose", "args": ["--log", "app.log"],
         "check": {"log_line": dl_line, "conn": {"client_port": p2}, "kinds_any": late_kinds}},
        {"id": "conn 2's restart line matches conn 2's late beat and reset",
         "capture": "capture.pcapng", "command": "diagnose", "args": ["--log", "app.log"],
         "check": {"log_line": rs_line, "conn": {"client_port": p2}, "kinds_any": late_kinds}},
        {"id": "conn 3's error naming its port matches conn 3 only",
         "capture": "capture.pcapng", "command": "diagnose", "args": ["--log", "app.log"],
         "check": {"log_line": err3_line, "conn": {"client_port": p3}, "kinds_any": late_kinds}},
        {"id": "conn 3's deadline error matches conn 3 only",
         "capture": "capture.pcapng", "command": "diagnose", "args": ["--log", "app.log"],
         "check": {"log_line": dl3_line, "conn": {"client_port": p3}, "kinds_any": late_kinds}},
        {"id": "conn 1's unrelated error at the moment of conn 2's reset is not matched to it",
         "capture": "capture.pcapng", "command": "diagnose", "args": ["--log", "app.log"],
         "check": {"no_log_line": metrics_line}},
    ]
    truth = {
        "scenario": "local-time-log",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture); "
                 f"app.log shows local time UTC+05:30 from a clock {LOG_BEHIND_S} s behind",
        "capture": "capture.pcapng (dumpcap on the client's veth kslzc, Ethernet)",
        "server": f"{SA}:{PORT}",
        "period_s": PERIOD,
        "deadline_s": DEADLINE_S,
        "heartbeat_request": PROBE.hex(), "heartbeat_reply": REPLY.hex(),
        "log": {"zone": "+05:30", "clock_offset_s": LOG_BEHIND_S,
                "format": "YYYY-MM-DD HH:MM:SS,mmm LEVEL [conn N] message (no zone)"},
        "lines": {"conn2_deadline_error": dl_line, "conn2_restart": rs_line,
                  "conn3_deadline_error": dl3_line, "conn3_late_error": err3_line, "conn1_metrics_error": metrics_line},
        "start_t": r6(t0),
        "connections": {f"conn {k}": results[k]["connections"] for k in PLAN},
        "facts": facts,
    }
    write_truth(os.path.join(HERE, "truth.json"), truth)
    print("lines", truth["lines"], "ports", p2, p3)


if __name__ == "__main__":
    main()
