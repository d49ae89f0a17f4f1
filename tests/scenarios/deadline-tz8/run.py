#!/usr/bin/env python3
"""deadline-tz8 -- a client misses its own heartbeat deadline; its log is in UTC+08:00 (root; ~35 s).

Issue 15 classes 1 (log time zone) and 2 (a line written at the deadline, before the late beat).
Production: a feed client sends the text heartbeat "PING\\r\\n" every 40 s, the server answers
"PONG\\r\\n"; the client's watchdog expects a beat within period + 10 s.  Time-scaled 1:10 here:
period 4 s, watchdog 5 s.  Two clients (feed-1 10.77.61.11, feed-2 10.77.61.12) in ks-dz-c talk
to 10.77.61.1:5222 in ks-dz-s; dumpcap on the client side (ksdzc).
  feed-1: its 4th beat is 7.0 s after the 3rd (the scheduler stalled).  At the watchdog deadline
          (5.0 s after the 3rd beat, no beat sent yet) it logs an error; after the late beat's
          reply it logs "restart", resets (SO_LINGER 0) and reconnects 0.5 s later.
  feed-2: never late; closes with FIN at the end.
app.log: the client host's local time, UTC+08:00, no zone in the stamps, ISO dates,
`2026-12-07 20:43:11 [ERROR] feed-1: ...`; its clock agrees with the capture's.
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SA, PORT = "10.77.61.1", 5222
PERIOD, WATCHDOG, RUN_S = 4.0, 5.0, 30.0
PROBE, REPLY = b"PING\r\n", b"PONG\r\n"
CLIENTS = [("feed-1", "10.77.61.11", {4: 7.0}), ("feed-2", "10.77.61.12", {})]
log = kit.ZonedLog(480, 0.0, "iso")


def serve(ls, stop):
    ls.settimeout(0.2)

    def handle(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(60)
        try:
            buf = b""
            while True:
                d = c.recv(64)
                if not d:
                    break
                buf += d
                while PROBE in buf:
                    buf = buf.split(PROBE, 1)[1]
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


def client(ns, name, addr, late, t_end, out):
    late_done = False
    while time.time() < t_end - 2:
        s = kit.connect(ns, SA, PORT, src=addr)
        t_conn = time.time()
        port = s.getsockname()[1]
        log.log(name, "info", f"connected to {SA}:{PORT} (local port {port})", t_conn)
        conn = {"client_port": port, "connect_t": r6(t_conn), "beats": [], "end": None}
        out["connections"].append(conn)
        prev, k = t_conn, 0
        while True:
            k += 1
            gap = late[k] if (k in late and not late_done) else PERIOD
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
                conn["end"] = {"kind": "fin", "by": "client", "t": r6(t_fin)}
                log.log(name, "info", "stopping, connection closed", t_fin)
                return
            if gap > WATCHDOG:
                # the watchdog fires while the scheduler is stalled: no beat has gone out yet
                time.sleep(max(0.0, prev + WATCHDOG - time.time()))
                t_dead = time.time()
                log.log(name, "error", f"no heartbeat sent for {WATCHDOG:.0f}s (period {PERIOD:.0f}s): "
                        "heartbeat deadline missed", t_dead)
                conn["watchdog_fired_t"] = r6(t_dead)
            time.sleep(max(0.0, due - time.time()))
            t_sent = time.time()
            s.sendall(PROBE)
            got = b""
            while len(got) < len(REPLY):
                got += s.recv(16)
            t_reply = time.time()
            conn["beats"].append({"k": k, "sent_t": r6(t_sent), "reply_t": r6(t_reply),
                                  "gap_s": round(t_sent - prev, 6)})
            if gap > WATCHDOG:
                late_done = True
                log.log(name, "error", "restart: session expired, resetting connection", t_reply)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                conn["end"] = {"kind": "rst", "by": "client", "t": r6(time.time()),
                               "late_beat_sent_t": r6(t_sent), "gap_s": round(t_sent - prev, 6),
                               "previous_beat_sent_t": r6(prev)}
                time.sleep(0.5)
                break
            prev = t_sent


def main():
    c, s, cif, _sif = kit.pair("dz", [a for _n, a, _l in CLIENTS], [SA])
    ls = kit.listener(s, SA, PORT)
    stop = threading.Event()
    threading.Thread(target=serve, args=(ls, stop), daemon=True).start()
    cap = ksnet.Capture(c, cif, os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    results, ths = {}, []
    for i, (name, addr, late) in enumerate(CLIENTS):
        results[name] = {"name": name, "addr": addr, "connections": []}
        th = threading.Thread(target=client, args=(c, name, addr, late, t0 + RUN_S + i * 0.3, results[name]))
        th.start()
        ths.append(th)
        time.sleep(0.7)
    for th in ths:
        th.join(timeout=RUN_S + 15)
    time.sleep(0.3)
    stop.set()
    cap.stop()
    lines = log.write(os.path.join(HERE, "app.log"))

    f1, f2 = results["feed-1"]["connections"], results["feed-2"]["connections"]
    late_conn = f1[0]
    assert late_conn["end"]["kind"] == "rst", late_conn
    p1, p1b, p2 = late_conn["client_port"], f1[1]["client_port"], f2[0]["client_port"]
    gap = late_conn["end"]["gap_s"]
    dead_line = log.line_no(lines, "heartbeat deadline missed")
    restart_line = log.line_no(lines, "restart: session expired")
    cap_ = "capture.pcapng"
    diag = {"capture": cap_, "command": "diagnose", "args": ["--log", "app.log"]}
    facts = [
        dict(diag, id="feed-1's first connection has the PING/PONG heartbeat every 4 s, sent by the client",
             check={"heartbeat": {"client_port": p1},
                    "where": {"sender": "client", "probe_hex": PROBE.hex(), "reply_hex": REPLY.hex(),
                              "period_s": [3.8, 4.2]}}),
        dict(diag, id="feed-2 has the same heartbeat",
             check={"heartbeat": {"client_port": p2},
                    "where": {"sender": "client", "probe_hex": PROBE.hex(), "period_s": [3.8, 4.2]}}),
        dict(diag, id=f"feed-1's 4th PING is late: {gap:.2f} s after the 3rd",
             check={"finding": "late_heartbeat", "conn": {"client_port": p1},
                    "where": {"gap_s": [gap - 0.05, gap + 0.05], "expected_period_s": [3.8, 4.2]}}),
        dict(diag, id="feed-1 reset its connection after the late PING (its own deadline)",
             check={"finding": "reset_after_heartbeat_deadline", "conn": {"client_port": p1},
                    "where": {"by": "client", "cause": "late_probe"}}),
        dict(diag, id="feed-2 is never late",
             check={"no_finding": "late_heartbeat", "conn": {"client_port": p2}}),
        dict(diag, id="feed-1's reconnection is never late",
             check={"no_finding": "late_heartbeat", "conn": {"client_port": p1b}}),
        dict(diag, id="the log's clock reads like UTC+08:00, found without --log-tz",
             check={"log": {"zone": "+08:00", "zone_from": "search", "clock_offset_s": [-1.0, 1.25]}}),
        dict(diag, id=f"line {dead_line} (deadline missed, written before the late PING left) means feed-1's late beat",
             check={"log_line": dead_line, "conn": {"client_port": p1},
                    "kinds_any": ["late_heartbeat", "reset_after_heartbeat_deadline"]}),
        dict(diag, id=f"line {restart_line} (restart) means feed-1's reset",
             check={"log_line": restart_line, "conn": {"client_port": p1},
                    "kinds_any": ["reset_after_heartbeat_deadline", "connection_reset", "late_heartbeat"]}),
        dict(diag, id="one connection died because its client was late and reset it",
             check={"cause": "reset_after_heartbeat_deadline", "by": "client",
                    "conn": {"client_port": p1}, "count": 1}),
        dict(diag, id="the server reset nothing",
             check={"no_cause": "reset_after_heartbeat_deadline", "by": "server"}),
        dict(capture=cap_, command="diagnose", args=["--log", "app.log", "--log-tz", "+08:00"],
             id="--log-tz +08:00 is taken as given",
             check={"log": {"zone": "+08:00", "zone_from": "option"}}),
    ]
    truth = {
        "scenario": "deadline-tz8",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the client veth ksdzc)",
        "server": f"{SA}:{PORT}", "period_s": PERIOD, "watchdog_s": WATCHDOG,
        "production_equivalent": {"period_s": 40, "watchdog_s": 50, "late_gap_s": 70},
        "heartbeat_request": PROBE.hex(), "heartbeat_reply": REPLY.hex(),
        "log": log.truth(), "log_lines": {"deadline": dead_line, "restart": restart_line},
        "clients": list(results.values()),
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("feed-1", p1, "gap", gap, "feed-2", p2, "lines", dead_line, restart_line)


if __name__ == "__main__":
    main()
