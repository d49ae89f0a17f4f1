#!/usr/bin/env python3
"""five-clients-64b -- five clients, a 64-byte probe every 1 s, one stalls past its deadline (root; ~20 s).

Issue 15 classes 2 (a line written at the deadline, before the late beat), 1 (log zone
UTC+05:45, a 15-minute zone, clock 4 s behind) and 3 (lines naming address:port).
Five clients (node-1..5, 10.77.73.11-15, ks-fc-c) send a 64-byte text heartbeat
`HEARTBEAT v2 node-N seq=NNNNNN` padded with spaces and "\\n" to 64 bytes, every 1 s (production
15 s), to 10.77.73.1:6100 (ks-fc-s), which answers the 3 bytes "ACK".
node-4's scheduler stalls: its 9th beat leaves 2.6 s after the 8th (not a whole number of periods: one late beat, not missed ones).  Its watchdog (period +
0.5 s) fires 1.5 s after the 8th beat and logs an error naming its connection's address:port; after the
late beat's reply node-4 logs "restart", closes gracefully (FIN) and reconnects 0.3 s later.
The others are healthy and close with FIN at the end.
app.log: `[HH:MM:SS] [level] (who) message`, UTC+05:45, no zone, clock 4 s behind the
capture's.  Capture: server side.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SA, PORT = "10.77.73.1", 6100
PERIOD, WATCHDOG, LATE_GAP, LATE_K, RUN_S = 1.0, 1.5, 2.6, 9, 16.0
REPLY = b"ACK"
NODES = [(f"node-{i}", f"10.77.73.{10 + i}") for i in range(1, 6)]
log = kit.ZonedLog(345, -4.0, "bracket")


def probe(name, seq):
    b = f"HEARTBEAT v2 {name} seq={seq:06d}".encode()
    return b + b" " * (63 - len(b)) + b"\n"


def serve(ls, stop):
    ls.settimeout(0.2)

    def handle(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        try:
            while True:
                d = c.recv(256)
                if not d:
                    break
                buf += d
                while len(buf) >= 64:
                    buf = buf[64:]
                    c.sendall(REPLY)
        except OSError:
            pass
        c.close()
    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def node(ns, name, addr, t_end, out):
    stall = name == "node-4"
    seq = 0
    while True:
        s = kit.connect(ns, SA, PORT, src=addr)
        t_conn = time.time()
        port = s.getsockname()[1]
        log.log(name, "info", f"session {addr}:{port} -> {SA}:{PORT} up", t_conn)
        conn = {"client_port": port, "connect_t": r6(t_conn), "beats": [], "end": None}
        out.append(conn)
        prev, k = t_conn, 0
        while True:
            k += 1
            gap = LATE_GAP if (stall and k == LATE_K) else PERIOD
            if prev + gap > t_end:
                time.sleep(max(0.0, t_end - time.time()))
                s.shutdown(socket.SHUT_WR)
                conn["end"] = {"kind": "fin", "by": "client", "t": r6(time.time())}
                try:
                    s.recv(16)
                except OSError:
                    pass
                s.close()
                return
            if gap > WATCHDOG:
                time.sleep(max(0.0, prev + WATCHDOG - time.time()))
                conn["watchdog_t"] = r6(log.log(name, "error", f"session {addr}:{port}: heartbeat overdue "
                                                 f"(nothing sent for {WATCHDOG}s)"))
            time.sleep(max(0.0, prev + gap - time.time()))
            seq += 1
            t_sent = time.time()
            s.sendall(probe(name, seq))
            got = b""
            while len(got) < len(REPLY):
                got += s.recv(16)
            conn["beats"].append({"k": k, "sent_t": r6(t_sent), "gap_s": round(t_sent - prev, 6),
                                  "reply_t": r6(time.time())})
            if gap > WATCHDOG:
                stall = False
                log.log(name, "error", f"session {addr}:{port}: restart after overdue heartbeat")
                s.shutdown(socket.SHUT_WR)
                try:
                    s.recv(16)
                except OSError:
                    pass
                s.close()
                conn["end"] = {"kind": "fin", "by": "client", "t": r6(time.time()),
                               "late_beat_sent_t": r6(t_sent), "gap_s": round(t_sent - prev, 6)}
                time.sleep(0.3)
                break
            prev = t_sent


def main():
    c, s, _cif, sif = kit.pair("fc", [a for _n, a in NODES], [SA])
    ls = kit.listener(s, SA, PORT)
    stop = threading.Event()
    threading.Thread(target=serve, args=(ls, stop), daemon=True).start()
    cap = ksnet.Capture(s, sif, os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    res, ths = {}, []
    for name, addr in NODES:
        res[name] = []
        th = threading.Thread(target=node, args=(c, name, addr, t0 + RUN_S, res[name]))
        th.start()
        ths.append(th)
        time.sleep(0.17)
    for th in ths:
        th.join(timeout=RUN_S + 15)
    time.sleep(0.3)
    stop.set()
    cap.stop()
    lines = log.write(os.path.join(HERE, "app.log"))

    n4 = res["node-4"][0]
    assert n4["end"].get("gap_s", 0) > 2.5 and len(res["node-4"]) == 2
    p4, p4b = n4["client_port"], res["node-4"][1]["client_port"]
    gap = n4["end"]["gap_s"]
    l_over = log.line_no(lines, "heartbeat overdue")
    l_restart = log.line_no(lines, "restart after overdue")
    cap_ = "capture.pcapng"
    diag = {"capture": cap_, "command": "diagnose", "args": ["--log", "app.log"]}
    facts = [
        dict(diag, id=f"{name}'s heartbeat: a 64-byte client probe every 1 s answered by ACK",
             check={"heartbeat": {"client_port": res[name][0]["client_port"]},
                    "where": {"sender": "client", "probe_len": 64, "reply_hex": REPLY.hex(), "period_s": [0.95, 1.05]}})
        for name in ("node-1", "node-5")
    ] + [
        dict(diag, id=f"node-4's 9th beat is late: {gap:.2f} s after the 8th",
             check={"finding": "late_heartbeat", "conn": {"client_port": p4},
                    "where": {"gap_s": [gap - 0.05, gap + 0.05], "expected_period_s": [0.95, 1.05]}, "count": 1}),
        dict(diag, id="node-4 closed that connection with FIN (no reset)",
             check={"close": {"client_port": p4}, "where": {"kind": "fin", "by": "client"}}),
        dict(diag, id="nothing was reset", check={"no_finding": "connection_reset"}),
    ] + [
        dict(diag, id=f"{name} is never late",
             check={"no_finding": "late_heartbeat", "conn": {"client_port": res[name][0]["client_port"]}})
        for name in ("node-1", "node-2", "node-3", "node-5")
    ] + [
        dict(diag, id="node-4's reconnection is never late", check={"no_finding": "late_heartbeat", "conn": {"client_port": p4b}}),
        dict(diag, id="the log reads like UTC+05:45, its clock ~4 s behind",
             check={"log": {"zone": "+05:45", "zone_from": "search", "clock_offset_s": [3.0, 5.25]}}),
        dict(diag, id=f"line {l_over} (overdue, written before the late beat left) means node-4's late beat",
             check={"log_line": l_over, "conn": {"client_port": p4}, "kinds_any": ["late_heartbeat"]}),
        dict(diag, id=f"line {l_restart} (restart) means node-4's first connection",
             check={"log_line": l_restart, "conn": {"client_port": p4}}),
    ]
    truth = {
        "scenario": "five-clients-64b",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the server veth ksfcs)",
        "server": f"{SA}:{PORT}", "period_s": PERIOD, "watchdog_s": WATCHDOG, "production_equivalent": {"period_s": 15},
        "heartbeat_request": "64 bytes: 'HEARTBEAT v2 <node> seq=<6 digits>' + spaces + '\\n'",
        "heartbeat_reply": REPLY.hex(),
        "log": log.truth(), "log_lines": {"overdue": l_over, "restart": l_restart},
        "nodes": res,
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("node-4", p4, "gap", gap, "lines", l_over, l_restart)


if __name__ == "__main__":
    main()
