#!/usr/bin/env python3
"""labels-tz-minus5 -- three labelled connections, two events 0.7 s apart; log UTC-05:00, 3 s behind.

Issue 15 classes 1 (log time zone plus clock skew) and 3 (which connection a line means).
One client process (10.77.62.2, ks-lz-c) keeps three connections "conn 1..3" to
10.77.62.1:9443 (ks-lz-s).  Each sends the 8-byte binary heartbeat 17 03 03 00 03 be ef 01
every 2.5 s (production 25 s); the server answers 17 03 03 00 03 be ef 02.
  conn 2: the server's handler for it hangs after 4 replies (a server-side failure: TCP still
          ACKs).  The client waits one period for the 5th reply, logs
          "conn 2 heartbeat timeout ...", closes with FIN and reconnects 0.3 s later.
  conn 3: its 5th beat leaves 4.0 s after the 4th (client-side stall); it logs a warning,
          keeps the connection.  Its line is stamped ~0.7 s before conn 2's.
  conn 1: healthy.
app.log: `HH:MM:SS.mmm LEVEL who message`, the client host's local time (UTC-05:00, no zone),
its clock 3.0 s behind the capture's.  Each connection is introduced as
`conn N connected (local port P)`; later lines name only the label.  Capture: server side.
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
CA, SA, PORT = "10.77.62.2", "10.77.62.1", 9443
PERIOD, RUN_S = 2.5, 24.0
PROBE, REPLY = bytes.fromhex("17030300 03beef01"), bytes.fromhex("17030300 03beef02")
log = kit.ZonedLog(-300, -3.0, "ms")
hang_ports = set()     # client ports whose server handler hangs after 4 replies
lock = threading.Lock()


def serve(ls, stop):
    ls.settimeout(0.2)

    def handle(c, peer):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(60)
        n = 0
        try:
            while True:
                d = c.recv(8)
                if not d:
                    break
                n += 1
                with lock:
                    hang = peer[1] in hang_ports
                if hang and n > 4:
                    continue          # the handler is stuck: read, never answer
                c.sendall(REPLY)
        except OSError:
            pass
        c.close()
    while not stop.is_set():
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c, peer), daemon=True).start()


def conn_loop(ns, label, t_start, t_end, plan, out):
    """plan: 'healthy', 'server-hangs' or 'late5'."""
    time.sleep(max(0.0, t_start - time.time()))
    first = True
    while True:
        s = kit.connect(ns, SA, PORT, src=CA)
        t_conn = time.time()
        port = s.getsockname()[1]
        if plan == "server-hangs" and first:
            with lock:
                hang_ports.add(port)
        word = "connected" if first else "reconnected"
        log.log("client", "info", f"conn {label} {word} (local port {port})", t_conn)
        conn = {"label": label, "client_port": port, "connect_t": r6(t_conn), "beats": [], "end": None}
        out.append(conn)
        prev, k = t_conn, 0
        while True:
            k += 1
            gap = 4.0 if (plan == "late5" and k == 5) else PERIOD
            if prev + gap > t_end:
                time.sleep(max(0.0, t_end - time.time()))
                s.shutdown(socket.SHUT_WR)
                conn["end"] = {"kind": "fin", "by": "client", "t": r6(time.time()), "why": "end of run"}
                try:
                    s.recv(16)
                except OSError:
                    pass
                s.close()
                return
            time.sleep(max(0.0, prev + gap - time.time()))
            t_sent = time.time()
            s.sendall(PROBE)
            beat = {"k": k, "sent_t": r6(t_sent), "gap_s": round(t_sent - prev, 6), "reply_t": None}
            conn["beats"].append(beat)
            if gap > PERIOD:
                log.log("client", "warn", f"conn {label} heartbeat sent late ({t_sent - prev:.1f}s after the previous one)", t_sent)
            s.settimeout(PERIOD)
            try:
                got = b""
                while len(got) < len(REPLY):
                    d = s.recv(16)
                    if not d:
                        raise ConnectionError("eof")
                    got += d
                beat["reply_t"] = r6(time.time())
            except socket.timeout:
                t_to = time.time()
                log.log("client", "error", f"conn {label} heartbeat timeout (no reply in {PERIOD}s), closing", t_to)
                s.shutdown(socket.SHUT_WR)
                s.close()
                conn["end"] = {"kind": "fin", "by": "client", "t": r6(time.time()),
                               "why": "no reply to the beat within one period", "unanswered": 1}
                first = False
                time.sleep(0.3)
                break
            prev = t_sent


def main():
    c, s, _cif, sif = kit.pair("lz", [CA], [SA])
    ls = kit.listener(s, SA, PORT)
    stop = threading.Event()
    threading.Thread(target=serve, args=(ls, stop), daemon=True).start()
    cap = ksnet.Capture(s, sif, os.path.join(HERE, "capture.pcapng"))
    t0 = time.time() + 0.1
    out = {1: [], 2: [], 3: []}
    plans = {1: "healthy", 2: "server-hangs", 3: "late5"}
    ths = [threading.Thread(target=conn_loop, args=(c, i, t0 + 0.3 * (i - 1), t0 + RUN_S, plans[i], out[i]))
           for i in (1, 2, 3)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=RUN_S + 15)
    time.sleep(0.3)
    stop.set()
    cap.stop()
    lines = log.write(os.path.join(HERE, "app.log"))

    p1, p2, p3 = out[1][0]["client_port"], out[2][0]["client_port"], out[3][0]["client_port"]
    p2b = out[2][1]["client_port"]
    late = [b for b in out[3][0]["beats"] if b["k"] == 5][0]
    unanswered = out[2][0]["beats"][-1]
    assert unanswered["reply_t"] is None and out[2][0]["end"]["unanswered"] == 1
    l_timeout = log.line_no(lines, "conn 2 heartbeat timeout")
    l_late = log.line_no(lines, "conn 3 heartbeat sent late")
    cap_ = "capture.pcapng"
    diag = {"capture": cap_, "command": "diagnose", "args": ["--log", "app.log"]}
    facts = [
        dict(diag, id="conn 1 has the 8-byte binary heartbeat every 2.5 s, sent by the client",
             check={"heartbeat": {"client_port": p1},
                    "where": {"sender": "client", "probe_hex": PROBE.hex(), "reply_hex": REPLY.hex(),
                              "period_s": [2.4, 2.6]}}),
        dict(diag, id="conn 3's 5th beat is late (4.0 s after the 4th)",
             check={"finding": "late_heartbeat", "conn": {"client_port": p3},
                    "where": {"gap_s": [late["gap_s"] - 0.05, late["gap_s"] + 0.05]}}),
        dict(diag, id="conn 2's 5th beat was never answered",
             check={"finding": "unanswered_heartbeat", "conn": {"client_port": p2}}),
        dict(diag, id="conn 2 was closed by the client with FIN",
             check={"close": {"client_port": p2}, "where": {"kind": "fin", "by": "client"}}),
        dict(diag, id="conn 1 is never late", check={"no_finding": "late_heartbeat", "conn": {"client_port": p1}}),
        dict(diag, id="conn 2 is never late (it was not answered, it did not stall)",
             check={"no_finding": "late_heartbeat", "conn": {"client_port": p2}}),
        dict(diag, id="conn 2's reconnection is healthy",
             check={"no_finding": "unanswered_heartbeat", "conn": {"client_port": p2b}}),
        dict(diag, id="nobody reset anything", check={"no_finding": "connection_reset"}),
        dict(diag, id="the log reads like UTC-05:00, its clock ~3 s behind the capture",
             check={"log": {"zone": "-05:00", "zone_from": "search", "clock_offset_s": [2.7, 3.3]}}),
        dict(diag, id=f"line {l_timeout} (conn 2 heartbeat timeout) means conn 2's stream only",
             check={"log_line": l_timeout, "conn": {"client_port": p2},
                    "kinds_any": ["unanswered_heartbeat", "heartbeat_gave_up"]}),
        dict(diag, id=f"line {l_late} (conn 3 sent late) means conn 3's stream only",
             check={"log_line": l_late, "conn": {"client_port": p3}, "kinds_any": ["late_heartbeat"]}),
    ]
    truth = {
        "scenario": "labels-tz-minus5",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the server veth kslzs)",
        "server": f"{SA}:{PORT}", "client_addr": CA, "period_s": PERIOD,
        "production_equivalent": {"period_s": 25},
        "heartbeat_request": PROBE.hex(), "heartbeat_reply": REPLY.hex(),
        "log": log.truth(), "log_lines": {"conn2_timeout": l_timeout, "conn3_late": l_late},
        "connections": out[1] + out[2] + out[3],
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("ports", p1, p2, p3, "late gap", late["gap_s"], "lines", l_timeout, l_late)


if __name__ == "__main__":
    main()
