#!/usr/bin/env python3
"""slow-heartbeat-reply -- text heartbeats answered after most of the period (run as root; ~70 s).

A line protocol on an unusual port: clients send "PING\\n" every 7 s to 10.77.60.1:7007, the
server answers "PONG\\n".  The server's answer delay is set per client address:
  client-a (10.77.60.11): answers at once for beats 1-3, then after 4.9 s (70 % of the period)
  client-b (10.77.60.12): always at once
  client-c (10.77.60.13): always after 5.3 s (76 % of the period), from its first beat
The clients keep their schedule (a probe every 7 s from the connect, whatever the replies do),
read each reply before the next probe is due, and close with FIN after 9 beats.  Nobody resets,
nobody is late: the probes are the clients', the slow side is the server.

Outputs next to this script: capture.pcapng (dumpcap on the server's veth), app.log (client log,
UTC HH:MM:SS), truth.json (the driver's own clock, and the facts keepsight must conclude).
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import AppLog, ksnet, r6, write_truth  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
C, S = "ks-sr-c", "ks-sr-s"
SA, PORT = "10.77.60.1", 7007
PERIOD, BEATS = 7.0, 9
PROBE, REPLY = b"PING\n", b"PONG\n"
# client name, address, server answer delay for beat k (1-based)
CLIENTS = [
    ("client-a", "10.77.60.11", lambda k: 0.0 if k <= 3 else 4.9),
    ("client-b", "10.77.60.12", lambda k: 0.0),
    ("client-c", "10.77.60.13", lambda k: 5.3),
]
DELAY = {addr: f for _n, addr, f in CLIENTS}

app = AppLog()
server_answers = []   # (client addr, beat, probe received t, delay, reply sent t)
lock = threading.Lock()


def serve_conn(c, addr):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = c.makefile("rb")
    k = 0
    try:
        while True:
            line = f.readline()
            if not line:
                break
            t_in = time.time()
            k += 1
            d = DELAY[addr](k)
            if d:
                time.sleep(max(0.0, t_in + d - time.time()))
            c.sendall(REPLY)
            with lock:
                server_answers.append({"client": addr, "beat": k, "probe_received_t": r6(t_in),
                                       "delay_s": d, "reply_sent_t": r6(time.time())})
    except OSError:
        pass
    c.close()


def server(ls, stop):
    ls.settimeout(0.2)
    ths = []
    while not stop.is_set():
        try:
            c, a = ls.accept()
        except socket.timeout:
            continue
        t = threading.Thread(target=serve_conn, args=(c, a[0]), daemon=True)
        t.start()
        ths.append(t)
    for t in ths:
        t.join(timeout=2)


def client(name, addr, out):
    with ksnet.in_ns(C):
        s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind((addr, 0))
    s.settimeout(5)
    s.connect((SA, PORT))
    t_conn = time.time()
    port = s.getsockname()[1]
    app.log(name, "info", f"connected to {SA}:{PORT} from local port {port}", t_conn)
    beats = []
    f = s.makefile("rb")
    for k in range(1, BEATS + 1):
        due = t_conn + k * PERIOD
        time.sleep(max(0.0, due - time.time()))
        t_sent = time.time()
        s.sendall(PROBE)
        s.settimeout(max(0.1, due + PERIOD - 0.5 - time.time()))
        line = f.readline()
        t_reply = time.time()
        beats.append({"k": k, "sent_t": r6(t_sent), "reply_t": r6(t_reply),
                      "latency_ms": round((t_reply - t_sent) * 1000, 3), "reply": line.hex()})
        if t_reply - t_sent > 1.0:
            app.log(name, "warn", f"heartbeat reply took {t_reply - t_sent:.1f}s", t_reply)
    time.sleep(1.0)
    s.shutdown(socket.SHUT_WR)
    t_fin = time.time()
    try:
        s.recv(1)
    except OSError:
        pass
    s.close()
    app.log(name, "info", "done, connection closed", t_fin)
    out.update({"client_port": port, "connect_t": r6(t_conn), "beats": beats,
                "end": {"kind": "fin", "by": "client", "t": r6(t_fin)}})


def main():
    ksnet.add_ns(C)
    ksnet.add_ns(S)
    ksnet.veth(C, "kssrc", S, "kssrs", [a + "/24" for _n, a, _f in CLIENTS], [SA + "/24"], offload=False)
    with ksnet.in_ns(S):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((SA, PORT))
        ls.listen(16)
    stop = threading.Event()
    st = threading.Thread(target=server, args=(ls, stop), daemon=True)
    st.start()
    cap = ksnet.Capture(S, "kssrs", os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    results, ths = {}, []
    for name, addr, _f in CLIENTS:
        results[name] = {"name": name, "addr": addr}
        th = threading.Thread(target=client, args=(name, addr, results[name]))
        th.start()
        ths.append(th)
        time.sleep(0.6)   # stagger the clients
    for th in ths:
        th.join(timeout=BEATS * PERIOD + 30)
    time.sleep(0.5)
    stop.set()
    st.join(timeout=5)
    cap.stop()

    facts = []
    for name, addr, delay in CLIENTS:
        r = results[name]
        port = r["client_port"]
        conn = {"client_port": port}
        facts.append({
            "id": f"{name}'s heartbeat is the client's PING every 7 s, answered PONG",
            "capture": "capture.pcapng", "command": "diagnose", "args": [],
            "check": {"heartbeat": conn, "where": {"sender": "client", "probe_hex": PROBE.hex(),
                                                   "reply_hex": REPLY.hex(),
                                                   "period_s": [PERIOD * 0.97, PERIOD * 1.03]}}})
        facts.append({
            "id": f"{name}: the client's beats were never late, whatever the replies did",
            "capture": "capture.pcapng", "command": "diagnose", "args": [],
            "check": {"no_finding": "late_heartbeat", "conn": conn}})
        slow = [b for b in r["beats"] if delay(b["k"]) > 0]
        if not slow:
            facts.append({
                "id": f"{name}'s replies were never slow",
                "capture": "capture.pcapng", "command": "diagnose", "args": [],
                "check": {"no_finding": "slow_heartbeat_reply", "conn": conn}})
        elif len(slow) < len(r["beats"]):
            lo = min(b["latency_ms"] for b in slow)
            hi = max(b["latency_ms"] for b in slow)
            facts.append({
                "id": f"{name}'s {len(slow)} slow replies are found against its own earlier latency",
                "capture": "capture.pcapng", "command": "diagnose", "args": [],
                "check": {"finding": "slow_heartbeat_reply", "conn": conn, "count": len(slow),
                          "where": {"latency_ms": [lo - 50, hi + 50], "baseline_ms": [0, 50],
                                    "factor": {"gt": 10}}}})
        else:
            lo = min(b["latency_ms"] for b in slow)
            hi = max(b["latency_ms"] for b in slow)
            facts.append({
                "id": f"{name}'s replies, slow from the start, are slow against the server's other connections",
                "capture": "capture.pcapng", "command": "diagnose", "args": [],
                "check": {"finding": "slow_heartbeat_reply", "conn": conn,
                          "where": {"latency_ms": [lo - 50, hi + 50], "baseline_ms": [0, 50],
                                    "factor": {"gt": 10}}}})
        facts.append({
            "id": f"{name}'s connection was closed by the client with FIN",
            "capture": "capture.pcapng", "command": "diagnose", "args": [],
            "check": {"close": conn, "where": {"kind": "fin", "by": "client"}}})
    facts.append({"id": "nothing here was reset", "capture": "capture.pcapng",
                  "command": "diagnose", "args": [],
                  "check": {"no_finding": "connection_reset"}})
    truth = {
        "scenario": "slow-heartbeat-reply",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture); app.log uses UTC HH:MM:SS",
        "capture": "capture.pcapng (dumpcap on the server's veth kssrs, Ethernet)",
        "server": f"{SA}:{PORT}",
        "period_s": PERIOD,
        "heartbeat_request": PROBE.hex(), "heartbeat_reply": REPLY.hex(),
        "reply_delay_plan": {"client-a": "0 s for beats 1-3, then 4.9 s", "client-b": "0 s",
                             "client-c": "5.3 s from beat 1"},
        "start_t": r6(t0),
        "clients": list(results.values()),
        "server_answers": server_answers,
        "facts": facts,
    }
    write_truth(os.path.join(HERE, "truth.json"), truth)
    app.write(os.path.join(HERE, "app.log"))
    print("done", [(r["name"], r["client_port"]) for r in results.values()])


if __name__ == "__main__":
    main()
