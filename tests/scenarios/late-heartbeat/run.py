#!/usr/bin/env python3
"""late-heartbeat -- the incident, time-scaled (run as root; ~45 s).

Production: clients send a 1-byte heartbeat 0x01 every 45 s, the server answers 0x41; once a
client's scheduler fired late (58 s instead of 45 s); the client noticed it had been late, logged
an error and reset the connection (RST) right after the reply, then reconnected on a new port.

Here the period is 3 s and the late gap ~3.9 s (same 58/45 ratio).  Three clients in namespace
ks-lh-c (10.77.10.11/.12/.13) talk to the server 10.77.10.1:47010 in ks-lh-s; dumpcap on the
server's veth (capture.pcapng, the server side, like the production capture point).
  client-a: late once at its 5th beat of connection 1 (gap 3.9 s), resets, reconnects
  client-b: never late
  client-c: late once at its 8th beat of connection 1 (gap 3.85 s), resets, reconnects
Each client runs for 40 s, then closes gracefully (FIN).  Reconnect delay 0.5 s; after a
(re)connect the first beat goes 3 s later.

Outputs next to this script: capture.pcapng, app.log (client application log, UTC HH:MM:SS),
truth.json (everything from the driver's own clock: see "clock").
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import AppLog, ksnet, r6, write_truth  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
C, S = "ks-lh-c", "ks-lh-s"
SA, PORT = "10.77.10.1", 47010
PERIOD, RUN_S, RECONNECT_S = 3.0, 40.0, 0.5
CLIENTS = [("client-a", "10.77.10.11", {5: 3.9}), ("client-b", "10.77.10.12", {}),
           ("client-c", "10.77.10.13", {8: 3.85})]
LATE_THRESHOLD = PERIOD * 1.2   # the client app's own rule: a beat later than 1.2 x period is "late"

app = AppLog()


def server(ls, stop):
    ls.settimeout(0.2)
    conns = []

    def handle(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(60)
        try:
            while True:
                b = c.recv(1)
                if not b:
                    break
                c.sendall(b"\x41")
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
        conns.append(t)
    for t in conns:
        t.join(timeout=2)


def client(name, addr, late, t_end, out):
    conns = []
    beat_no = 0          # beats on the current connection
    late_used = False
    while time.time() < t_end:
        with ksnet.in_ns(C):
            s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((addr, 0))
        s.settimeout(5)
        s.connect((SA, PORT))
        t_conn = time.time()
        port = s.getsockname()[1]
        app.log(name, "info", f"connected to {SA}:{PORT} from local port {port}", t_conn)
        cinfo = {"client_port": port, "connect_t": r6(t_conn), "beats": [], "end": None}
        conns.append(cinfo)
        beat_no = 0
        prev = t_conn
        while True:
            beat_no += 1
            gap = PERIOD
            if not late_used and beat_no in late:
                gap = late[beat_no]
            due = prev + gap
            if due > t_end:
                time.sleep(max(0.0, t_end - time.time()))
                s.shutdown(socket.SHUT_WR)
                t_fin = time.time()
                try:
                    s.recv(1)
                except OSError:
                    pass
                s.close()
                cinfo["end"] = {"kind": "fin", "t": r6(t_fin), "by": "client"}
                app.log(name, "info", "shutting down, connection closed", t_fin)
                out["connections"] = conns
                return
            time.sleep(max(0.0, due - time.time()))
            t_sent = time.time()
            s.sendall(b"\x01")
            r = s.recv(1)
            t_reply = time.time()
            actual_gap = t_sent - prev
            cinfo["beats"].append({"k": beat_no, "sent_t": r6(t_sent), "reply_t": r6(t_reply),
                                   "gap_s": round(actual_gap, 6), "reply": r.hex(),
                                   "late": actual_gap > LATE_THRESHOLD})
            prev = t_sent
            if actual_gap > LATE_THRESHOLD:
                late_used = True
                app.log(name, "error", f"heartbeat sent {actual_gap:.1f}s after the previous one "
                        f"(period {PERIOD:.0f}s): session considered expired, resetting", t_reply)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                t_rst = time.time()
                cinfo["end"] = {"kind": "rst", "t": r6(t_rst), "by": "client",
                                "cause": "late heartbeat", "late_beat_sent_t": r6(t_sent),
                                "gap_s": round(actual_gap, 6)}
                app.log(name, "info", "connection reset (RST sent)", t_rst)
                time.sleep(RECONNECT_S)
                app.log(name, "info", "restart: reconnecting")
                break


def main():
    ksnet.add_ns(C)
    ksnet.add_ns(S)
    ksnet.veth(C, "kslhc", S, "kslhs", [a + "/24" for _n, a, _l in CLIENTS], [SA + "/24"], offload=False)
    with ksnet.in_ns(S):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((SA, PORT))
        ls.listen(16)
    stop = threading.Event()
    st = threading.Thread(target=server, args=(ls, stop), daemon=True)
    st.start()
    cap = ksnet.Capture(S, "kslhs", os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    results, ths = {}, []
    for i, (name, addr, late) in enumerate(CLIENTS):
        results[name] = {"name": name, "addr": addr,
                         "late_plan": {str(k): v for k, v in late.items()}}
        th = threading.Thread(target=client, args=(name, addr, late, t0 + RUN_S + i * 0.4, results[name]))
        th.start()
        ths.append(th)
        time.sleep(0.4)   # stagger the clients
    for th in ths:
        th.join(timeout=RUN_S + 20)
    time.sleep(0.5)
    stop.set()
    st.join(timeout=5)
    cap.stop()
    incidents = []
    for r in results.values():
        for c in r.get("connections", []):
            if c["end"] and c["end"]["kind"] == "rst":
                prev = [b for b in c["beats"] if not b["late"]]
                lb = [b for b in c["beats"] if b["late"]][0]
                incidents.append({"client": r["name"], "client_addr": r["addr"],
                                  "client_port": c["client_port"], "server": f"{SA}:{PORT}",
                                  "previous_beat_sent_t": prev[-1]["sent_t"] if prev else c["connect_t"],
                                  "late_beat_sent_t": lb["sent_t"], "late_reply_t": lb["reply_t"],
                                  "gap_s": lb["gap_s"], "expected_period_s": PERIOD,
                                  "rst_t": c["end"]["t"], "rst_by": "client"})
    truth = {
        "scenario": "late-heartbeat",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture); app.log uses UTC HH:MM:SS",
        "capture": "capture.pcapng (dumpcap on the server's veth kslhs, Ethernet)",
        "server": f"{SA}:{PORT}",
        "period_s": PERIOD,
        "production_equivalent": {"period_s": 45, "late_gap_s": 58},
        "late_rule": f"client treats a beat sent more than {LATE_THRESHOLD:.1f}s after the previous one as late",
        "heartbeat_request": "01", "heartbeat_reply": "41",
        "reconnect_delay_s": RECONNECT_S,
        "start_t": r6(t0),
        "incidents": incidents,
        "clients": list(results.values()),
    }
    write_truth(os.path.join(HERE, "truth.json"), truth)
    app.write(os.path.join(HERE, "app.log"))
    print(f"{len(incidents)} incidents", [(i["client"], i["client_port"], i["gap_s"]) for i in incidents])


if __name__ == "__main__":
    main()
