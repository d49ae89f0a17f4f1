#!/usr/bin/env python3
"""server-rst-late -- one late beat reset by the server, another by its client (root; ~58 s).

Issue 15 class 7 (who did what, in the summary) and 1 (log UTC-03:00, clocks in step).
Three clients (app-x 10.77.67.21, app-y .22, app-z .23, ks-sl-c) send the 12-byte JSON
heartbeat {"t":"ping"} every 10 s (not time-scaled) to 10.77.67.1:11311 (ks-sl-s), which answers
{"t":"pong"}.
Server policy: a beat more than 1.5 periods (15 s) after the previous one means the session
expired: the server resets the connection (SO_LINGER 0) instead of answering.
Client policy: a beat sent more than 1.2 periods (12 s) after the previous one is late: the client
resets (SO_LINGER 0) after the reply.
  app-x: 4th beat 16.0 s after the 3rd -> the server resets; app-x logs "connection reset by
         peer" and reconnects 0.5 s later.
  app-y: 4th beat 13.0 s after the 3rd -> answered; app-y logs it was late, resets, reconnects.
  app-z: healthy.  Everyone closes with FIN at the end.
app.log: the clients' log, `HH:MM:SS.mmm LEVEL who message`, UTC-03:00, no skew.
Capture: server side.
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
SA, PORT = "10.77.67.1", 11311
PERIOD, RUN_S = 10.0, 55.0
SERVER_EXPIRY, CLIENT_LATE = 1.5 * PERIOD, 1.2 * PERIOD
PROBE, REPLY = b'{"t":"ping"}', b'{"t":"pong"}'
CLIENTS = [("app-x", "10.77.67.21", {4: 16.0}), ("app-y", "10.77.67.22", {4: 13.0}), ("app-z", "10.77.67.23", {})]
log = kit.ZonedLog(-180, 0.0, "ms")
server_resets = []


def serve(ls, stop):
    ls.settimeout(0.2)

    def handle(c, peer):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(60)
        prev = time.time()
        try:
            while True:
                d = kit_recv(c, len(PROBE))
                if not d:
                    break
                now = time.time()
                if now - prev > SERVER_EXPIRY:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()
                    server_resets.append({"peer": f"{peer[0]}:{peer[1]}", "t": r6(time.time()),
                                          "gap_s": round(now - prev, 6)})
                    return
                prev = now
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


def kit_recv(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            return b""
        b += d
    return b


def client(ns, name, addr, late, t_end, out):
    late_done = False
    while time.time() < t_end - 2:
        s = kit.connect(ns, SA, PORT, src=addr)
        t_conn = time.time()
        port = s.getsockname()[1]
        log.log(name, "info", f"connected, local port {port}", t_conn)
        conn = {"client_port": port, "connect_t": r6(t_conn), "beats": [], "end": None}
        out.append(conn)
        prev, k = t_conn, 0
        while True:
            k += 1
            gap = late[k] if (k in late and not late_done) else PERIOD
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
            time.sleep(max(0.0, prev + gap - time.time()))
            t_sent = time.time()
            s.sendall(PROBE)
            beat = {"k": k, "sent_t": r6(t_sent), "gap_s": round(t_sent - prev, 6), "reply_t": None}
            conn["beats"].append(beat)
            try:
                got = kit_recv(s, len(REPLY))
                if not got:
                    raise ConnectionResetError("eof")
            except ConnectionResetError:
                late_done = True
                t_err = log.log(name, "error", "heartbeat failed: connection reset by peer, reconnecting")
                conn["end"] = {"kind": "rst", "by": "server", "noticed_t": r6(t_err),
                               "late_beat_sent_t": r6(t_sent), "gap_s": beat["gap_s"]}
                s.close()
                time.sleep(0.5)
                break
            beat["reply_t"] = r6(time.time())
            if t_sent - prev > CLIENT_LATE:
                late_done = True
                log.log(name, "error", f"heartbeat sent {t_sent - prev:.1f}s after the previous one: resetting session")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                conn["end"] = {"kind": "rst", "by": "client", "t": r6(time.time()),
                               "late_beat_sent_t": r6(t_sent), "gap_s": beat["gap_s"]}
                time.sleep(0.5)
                break
            prev = t_sent


def main():
    c, s, _cif, sif = kit.pair("sl", [a for _n, a, _l in CLIENTS], [SA])
    ls = kit.listener(s, SA, PORT)
    stop = threading.Event()
    threading.Thread(target=serve, args=(ls, stop), daemon=True).start()
    cap = ksnet.Capture(s, sif, os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    res, ths = {}, []
    for i, (name, addr, late) in enumerate(CLIENTS):
        res[name] = []
        th = threading.Thread(target=client, args=(c, name, addr, late, t0 + RUN_S, res[name]))
        th.start()
        ths.append(th)
        time.sleep(0.8)
    for th in ths:
        th.join(timeout=RUN_S + 15)
    time.sleep(0.3)
    stop.set()
    cap.stop()
    lines = log.write(os.path.join(HERE, "app.log"))

    x, y, z = res["app-x"][0], res["app-y"][0], res["app-z"][0]
    assert x["end"]["kind"] == "rst" and x["end"]["by"] == "server" and len(server_resets) == 1
    assert y["end"]["kind"] == "rst" and y["end"]["by"] == "client"
    px, py, pz = x["client_port"], y["client_port"], z["client_port"]
    gx, gy = x["end"]["gap_s"], y["end"]["gap_s"]
    l_x = log.line_no(lines, "app-x heartbeat failed")
    l_y = log.line_no(lines, "resetting session")
    cap_ = "capture.pcapng"
    diag = {"capture": cap_, "command": "diagnose", "args": ["--log", "app.log"]}
    facts = [
        dict(diag, id="app-z's heartbeat: the client's 12-byte JSON ping every 10 s",
             check={"heartbeat": {"client_port": pz},
                    "where": {"sender": "client", "probe_len": len(PROBE),
                              "probe_hex": {"matches": "^" + PROBE[:8].hex()}, "period_s": [0.97 * PERIOD, 1.03 * PERIOD]}}),
        dict(diag, id=f"app-x's 4th beat is late ({gx:.1f} s after the 3rd)",
             check={"finding": "late_heartbeat", "conn": {"client_port": px},
                    "where": {"gap_s": [gx - 0.05, gx + 0.05]}}),
        dict(diag, id="the server reset app-x after its late beat",
             check={"finding": "reset_after_heartbeat_deadline", "conn": {"client_port": px},
                    "where": {"by": "server", "cause": "late_probe"}}),
        dict(diag, id="app-x's connection was closed by the server's RST",
             check={"close": {"client_port": px}, "where": {"kind": "rst", "by": "server"}}),
        dict(diag, id=f"app-y's 4th beat is late ({gy:.1f} s) and app-y reset after the reply",
             check={"finding": "reset_after_heartbeat_deadline", "conn": {"client_port": py},
                    "where": {"by": "client", "cause": "late_probe", "gap_s": [gy - 0.05, gy + 0.05]}}),
        dict(diag, id="the summary: one connection reset by the server after a late beat",
             check={"cause": "reset_after_heartbeat_deadline", "by": "server", "conn": {"client_port": px}, "count": 1}),
        dict(diag, id="the summary: one connection (not two) reset by a client after a late beat",
             check={"cause": "reset_after_heartbeat_deadline", "by": "client", "conn": {"client_port": py}, "count": 1}),
        dict(diag, id="app-x's RST is not a client reset",
             check={"no_finding": "connection_reset", "conn": {"client_port": px}, "where": {"by": "client"}}),
        dict(diag, id="the server's RST answered a live connection: no half-open story",
             check={"no_finding": "connection_reset", "conn": {"client_port": px}, "where": {"half_open": True}}),
        dict(diag, id="app-x's late beat did not wait 'to the end of the capture': the connection closed",
             check={"no_finding": "unanswered_heartbeat", "conn": {"client_port": px},
                    "where": {"message": {"contains": "to the end of the capture"}}}),
        dict(diag, id="app-z is never late", check={"no_finding": "late_heartbeat", "conn": {"client_port": pz}}),
        dict(diag, id="the log reads like UTC-03:00, clocks in step",
             check={"log": {"zone": "-03:00", "zone_from": "search", "clock_offset_s": [-0.3, 0.3]}}),
        dict(diag, id=f"line {l_x} (app-x: reset by peer) means app-x's connection",
             check={"log_line": l_x, "conn": {"client_port": px},
                    "kinds_any": ["reset_after_heartbeat_deadline", "connection_reset"]}),
        dict(diag, id=f"line {l_y} (app-y resets) means app-y's connection",
             check={"log_line": l_y, "conn": {"client_port": py},
                    "kinds_any": ["reset_after_heartbeat_deadline", "late_heartbeat", "connection_reset"]}),
        dict(capture=cap_, command="diagnose", args=["--log", "app.log", "--log-tz=-03:00"],
             id="--log-tz -03:00 is taken as given", check={"log": {"zone": "-03:00", "zone_from": "option"}}),
    ]
    truth = {
        "scenario": "server-rst-late",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the server veth kssls)",
        "server": f"{SA}:{PORT}", "period_s": PERIOD, "production_equivalent": {"period_s": 10},
        "server_expiry_s": SERVER_EXPIRY, "client_late_s": CLIENT_LATE,
        "heartbeat_request": PROBE.hex(), "heartbeat_reply": REPLY.hex(),
        "log": log.truth(), "log_lines": {"app_x_reset": l_x, "app_y_resets": l_y},
        "clients": res, "server_resets": server_resets,
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("x", px, gx, "y", py, gy, "z", pz)


if __name__ == "__main__":
    main()
