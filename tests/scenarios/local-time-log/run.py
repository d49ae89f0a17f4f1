#!/usr/bin/env python3
"""local-time-log -- an application logging local time in another zone, with a skewed clock and
labelled connections (run as root; ~30-45 s per variant).

Issue 15, classes 1-3: the log carries no zone and its clock is off the capture's by seconds;
its lines name connections by a label tied to a port by the "connected"/"accepted" line; one
error per incident is written at the application's own deadline, *before* the late beat.

Usage: run.py [east|west]

  east (default; out dir .): the CLIENT sends the heartbeat. Client namespace ks-lz-c
     (10.77.61.2) opens three connections to 10.77.61.1:47161 (ks-lz-s); each sends the 4-byte
     text probe "PING" every 2 s, the server answers "PONG". dumpcap on the client's veth.
     app.log "YYYY-MM-DD HH:MM:SS,mmm LEVEL [conn N] message": local time UTC+05:30, clock
     3.2 s behind the capture's.
       conn 1: never late; logs an unrelated ERROR (a metrics push failing) at the moment conn 2
               resets -- a line about conn 1 that must not be matched to conn 2's reset.
       conn 2: its 5th beat is due 2 s after the 4th, the sender stalls until 3.5 s; the
               watchdog (period + 0.3 s) logs an ERROR at 2.3 s while no beat has gone out; the
               late beat is answered, the client logs the restart, resets (SO_LINGER 0) right
               after the reply, reconnects 0.5 s later under the same label (new port, logged).
       conn 3: its 8th beat goes out 3.6 s after the 7th; the watchdog logs at 2.3 s; after the
               reply the client logs an ERROR naming its local port (":PORT"), resets, reconnects.
  west (out dir west/): the SERVER sends the heartbeat. Server 10.77.62.1:47262 (ks-lw-s) sends
     the 2-byte binary probe 00 07 every 5 s on each accepted connection, clients (10.77.62.2,
     ks-lw-c) answer 00 08. dumpcap on the server's veth. app.log is the server's:
     "HH:MM:SS server LEVEL session N message", local time UTC-03:00, clock 4.5 s ahead.
       session 1: never late; logs an unrelated ERROR when session 2 resets.
       session 2: its 4th beat goes out 8.5 s after the 3rd; the watchdog (period + 1 s) logs at
               6 s; after the reply the server logs the restart and resets; the client
               reconnects 0.5 s later (a new session, logged with its address:port).
       session 3: its 6th beat 8.2 s after the 5th; watchdog at 6 s; after the reply the server
               logs an ERROR naming the client's address:port, resets.

truth.json: what the driver did, from time.time() (the capture's clock), the line numbers of
the incident lines, and the facts keepsight must conclude (FACTS.md).
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
RECONNECT_S = 0.5
VARIANTS = {
    "east": dict(out=HERE, C="ks-lz-c", S="ks-lz-s", ifc="kslzc", ifs="kslzs",
                 CA="10.77.61.2", SA="10.77.61.1", PORT=47161, sender="client",
                 period=2.0, run_s=24.0, watchdog_after=0.3, zone_s=5 * 3600 + 30 * 60,
                 log_behind_s=3.2, plan={1: {}, 2: {5: 3.5}, 3: {8: 3.6}},
                 probe=b"PING", reply=b"PONG", fmt="iso", noun="conn"),
    "west": dict(out=os.path.join(HERE, "west"), C="ks-lw-c", S="ks-lw-s", ifc="kslwc", ifs="kslws",
                 CA="10.77.62.2", SA="10.77.62.1", PORT=47262, sender="server",
                 period=5.0, run_s=40.0, watchdog_after=1.0, zone_s=-3 * 3600,
                 log_behind_s=-4.5, plan={1: {}, 2: {4: 8.5}, 3: {6: 8.2}},
                 probe=b"\x00\x07", reply=b"\x00\x08", fmt="hms", noun="session"),
}
V = None  # the variant being run


class LocalLog:
    """Lines in local time without a zone, from a skewed clock."""

    def __init__(self):
        self.lines, self.lock = [], threading.Lock()

    def log(self, level, label, msg, t=None):
        t = time.time() if t is None else t
        shown = t - V["log_behind_s"] + V["zone_s"]
        hms = time.strftime("%H:%M:%S", time.gmtime(shown))
        if V["fmt"] == "iso":
            line = (time.strftime("%Y-%m-%d ", time.gmtime(shown)) + hms
                    + f",{int(shown % 1 * 1000):03d} {level} [{V['noun']} {label}] {msg}")
        else:
            line = f"{hms} server {level} {V['noun']} {label} {msg}"
        with self.lock:
            self.lines.append((t, line))
        return t

    def write(self, path):
        with open(path, "w") as f:
            for _t, line in sorted(self.lines, key=lambda x: x[0]):
                f.write(line + "\n")

    def line_no(self, t_logged):
        """1-based line number of the line logged at t (the file is written sorted by t)."""
        return sorted(t for t, _ in self.lines).index(t_logged) + 1


app = LocalLog()
label2_reset = threading.Event()


def beat(s, label, plan, t_end, cinfo, peer):
    """The heartbeat sender's loop on one connection; returns "fin" or "rst"."""
    period, deadline = V["period"], V["period"] + V["watchdog_after"]
    beat_no, prev = 0, time.time()
    while True:
        beat_no += 1
        gap = plan.get(beat_no) or period
        due = prev + gap
        if due > t_end:
            time.sleep(max(0.0, t_end - time.time()))
            s.shutdown(socket.SHUT_WR)
            t_fin = time.time()
            try:
                s.recv(16)
            except OSError:
                pass
            s.close()
            cinfo["end"] = {"kind": "fin", "t": r6(t_fin), "by": V["sender"]}
            app.log("INFO", label, "closing connection, bye", t_fin)
            return "fin"
        if gap > deadline:
            # The watchdog fires at the deadline while the sender is still stalled.
            time.sleep(max(0.0, prev + deadline - time.time()))
            cinfo["lines"]["deadline_error_t"] = app.log(
                "ERROR", label, f"heartbeat overdue: nothing sent for {deadline:.1f}s "
                f"(period {period:.0f}s), session considered expired")
        time.sleep(max(0.0, due - time.time()))
        t_sent = time.time()
        s.sendall(V["probe"])
        r = s.recv(len(V["reply"]))
        t_reply = time.time()
        actual = t_sent - prev
        cinfo["beats"].append({"k": beat_no, "sent_t": r6(t_sent), "reply_t": r6(t_reply),
                               "gap_s": round(actual, 6), "reply": r.hex()})
        prev = t_sent
        if actual > deadline:
            if label == 3:
                cinfo["lines"]["late_error_t"] = app.log(
                    "ERROR", label, f"heartbeat on {peer} went out {actual:.1f}s after "
                    "the previous one, resetting", t_reply)
            else:
                cinfo["lines"]["restart_t"] = app.log("WARN", label, "restart: resetting the connection", t_reply)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            t_rst = time.time()
            if label == 2:
                label2_reset.set()
            cinfo["end"] = {"kind": "rst", "t": r6(t_rst), "by": V["sender"],
                            "late_beat_sent_t": r6(t_sent), "late_beat_reply_t": r6(t_reply),
                            "previous_beat_sent_t": r6(t_sent - actual), "gap_s": round(actual, 6)}
            return "rst"


def echo(s):
    """The other side: answers each probe at once until the connection ends."""
    try:
        while True:
            b = s.recv(len(V["probe"]))
            if not b:
                break
            s.sendall(V["reply"])
    except OSError:
        pass
    s.close()


def new_conn_info(port, t):
    return {"client_port": port, "connect_t": r6(t), "beats": [], "end": None, "lines": {}}


def client_sender(label, t_end, out):
    """east: the client beats, reconnecting under the same label after a reset."""
    plan = dict(V["plan"][label])
    conns = out.setdefault("connections", [])
    while time.time() < t_end:
        with ksnet.in_ns(V["C"]):
            s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((V["CA"], 0))
        s.settimeout(15)
        s.connect((V["SA"], V["PORT"]))
        port = s.getsockname()[1]
        cinfo = new_conn_info(port, time.time())
        app.log("INFO", label, f"connected to {V['SA']}:{V['PORT']} (local port {port})", cinfo["connect_t"])
        conns.append(cinfo)
        if beat(s, label, plan, t_end, cinfo, f":{port}") == "fin":
            return
        plan = {}
        time.sleep(RECONNECT_S)


def client_echoer(t_end):
    """west: the client answers, and reconnects after the server resets it."""
    while time.time() < t_end:
        with ksnet.in_ns(V["C"]):
            s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((V["CA"], 0))
        s.settimeout(30)
        s.connect((V["SA"], V["PORT"]))
        echo(s)
        time.sleep(RECONNECT_S)


def server(ls, stop, t_end, sessions):
    ls.settimeout(0.2)
    ths = []
    n = 0
    while not stop.is_set():
        try:
            c, addr = ls.accept()
        except socket.timeout:
            continue
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(30)
        if V["sender"] == "client":
            t = threading.Thread(target=echo, args=(c,), daemon=True)
        else:
            n += 1
            cinfo = new_conn_info(addr[1], time.time())
            app.log("INFO", n, f"accepted from {addr[0]}:{addr[1]}", cinfo["connect_t"])
            sessions[n] = {"label": f"session {n}", "connections": [cinfo]}
            t = threading.Thread(target=beat, args=(c, n, dict(V["plan"].get(n, {})), t_end, cinfo,
                                                    f"{addr[0]}:{addr[1]}"), daemon=True)
        t.start()
        ths.append(t)
    for t in ths:
        t.join(timeout=2)


def distractor(out):
    """Label 1's unrelated error, written when label 2 resets."""
    if label2_reset.wait(timeout=V["run_s"] + 10):
        out["metrics_error_t"] = app.log("ERROR", 1, "metrics push failed: queue full, dropping 3 samples")


def main():
    global V
    variant = sys.argv[1] if len(sys.argv) > 1 else "east"
    V = VARIANTS[variant]
    os.makedirs(V["out"], exist_ok=True)
    C, S = V["C"], V["S"]
    ksnet.add_ns(C)
    ksnet.add_ns(S)
    ksnet.veth(C, V["ifc"], S, V["ifs"], [V["CA"] + "/24"], [V["SA"] + "/24"], offload=False)
    with ksnet.in_ns(S):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((V["SA"], V["PORT"]))
        ls.listen(16)
    cap_ns, cap_if = (C, V["ifc"]) if V["sender"] == "client" else (S, V["ifs"])
    cap = ksnet.Capture(cap_ns, cap_if, os.path.join(V["out"], "capture.pcapng"))
    stop = threading.Event()
    t0 = time.time()
    run_s = V["run_s"]
    sessions, results, ths = {}, {}, []
    st = threading.Thread(target=server, args=(ls, stop, t0 + run_s, sessions), daemon=True)
    st.start()
    for label in (1, 2, 3):
        if V["sender"] == "client":
            results[label] = {"label": f"conn {label}"}
            th = threading.Thread(target=client_sender, args=(label, t0 + run_s + label * 0.3, results[label]))
        else:
            th = threading.Thread(target=client_echoer, args=(t0 + run_s - 1.0,), daemon=True)
        th.start()
        ths.append(th)
        time.sleep(0.3)
    extra = {}
    dt = threading.Thread(target=distractor, args=(extra,))
    dt.start()
    for th in ths + [dt]:
        th.join(timeout=run_s + 20)
    time.sleep(1.0 if V["sender"] == "client" else 2.0)
    stop.set()
    st.join(timeout=5)
    cap.stop()
    app.write(os.path.join(V["out"], "app.log"))
    if V["sender"] == "server":
        results = sessions

    c2, c3 = results[2]["connections"][0], results[3]["connections"][0]
    late2, late3 = c2["end"], c3["end"]
    assert late2 and late2["kind"] == "rst" and late3 and late3["kind"] == "rst", (late2, late3)
    n = app.line_no
    lines = {"deadline_error_2": n(c2["lines"]["deadline_error_t"]), "restart_2": n(c2["lines"]["restart_t"]),
             "deadline_error_3": n(c3["lines"]["deadline_error_t"]), "late_error_3": n(c3["lines"]["late_error_t"]),
             "metrics_error_1": n(extra["metrics_error_t"])}
    p2, p3 = c2["client_port"], c3["client_port"]
    zone = ("-" if V["zone_s"] < 0 else "+") + time.strftime("%H:%M", time.gmtime(abs(V["zone_s"])))
    noun, skew = V["noun"], V["log_behind_s"]
    late_kinds = ["late_heartbeat", "reset_after_heartbeat_deadline"]
    log_args = ["--log", "app.log"]

    def fact(id_, check, args=log_args):
        return {"id": id_, "capture": "capture.pcapng", "command": "diagnose", "args": args, "check": check}
    facts = [
        fact(f"the log's zone is found: UTC{zone}, by search", {"log": {"zone": zone, "zone_from": "search"}}),
        # Within the lines' granularity and the logging lag an event may precede its line by.
        fact(f"the log's clock is found {skew:+.1f} s off the capture's (capture - log)",
             {"log": {"clock_offset_s": [skew - 0.7, skew + 1.0] if V["fmt"] == "iso" else [skew - 1.5, skew + 1.5]}}),
        fact("--log-tz overrides the search", {"log": {"zone": zone, "zone_from": "option"}},
             args=log_args + ["--log-tz", zone]),
        fact(f"{noun} 2's late beat is found", {"finding": "late_heartbeat", "conn": {"client_port": p2},
             "where": {"gap_s": [late2["gap_s"] - 0.1, late2["gap_s"] + 0.1]}}, args=[]),
        fact(f"{noun} 2's deadline error, written before the late beat went out, matches {noun} 2's late beat",
             {"log_line": lines["deadline_error_2"], "conn": {"client_port": p2}, "kinds_any": late_kinds}),
        fact(f"{noun} 2's restart line matches {noun} 2's late beat and reset",
             {"log_line": lines["restart_2"], "conn": {"client_port": p2}, "kinds_any": late_kinds}),
        fact(f"{noun} 3's error naming its port matches {noun} 3 only",
             {"log_line": lines["late_error_3"], "conn": {"client_port": p3}, "kinds_any": late_kinds}),
        fact(f"{noun} 3's deadline error matches {noun} 3 only",
             {"log_line": lines["deadline_error_3"], "conn": {"client_port": p3}, "kinds_any": late_kinds}),
        fact(f"{noun} 1's unrelated error at the moment of {noun} 2's reset is not matched to it",
             {"no_log_line": lines["metrics_error_1"]}),
    ]
    truth = {
        "scenario": "local-time-log" + ("" if variant == "east" else "-" + variant),
        "variant": variant,
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture); "
                 f"app.log shows local time UTC{zone} from a clock {abs(skew)} s "
                 f"{'behind' if skew > 0 else 'ahead of'} it",
        "capture": f"capture.pcapng (dumpcap on the {'client' if V['sender'] == 'client' else 'server'}'s veth, Ethernet)",
        "server": f"{V['SA']}:{V['PORT']}",
        "heartbeat_sender": V["sender"],
        "period_s": V["period"],
        "deadline_s": V["period"] + V["watchdog_after"],
        "heartbeat_request": V["probe"].hex(), "heartbeat_reply": V["reply"].hex(),
        "log": {"zone": zone, "clock_offset_s": skew,
                "format": ("YYYY-MM-DD HH:MM:SS,mmm LEVEL [conn N] message" if V["fmt"] == "iso"
                           else "HH:MM:SS server LEVEL session N message") + " (no zone)"},
        "lines": lines,
        "start_t": r6(t0),
        "connections": {f"{noun} {k}": v["connections"] for k, v in sorted(results.items())},
        "facts": facts,
    }
    write_truth(os.path.join(V["out"], "truth.json"), truth)
    print(variant, "lines", lines, "ports", p2, p3)


if __name__ == "__main__":
    main()
