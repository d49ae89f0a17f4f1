#!/usr/bin/env python3
"""make_incident.py -- record the shipped example of `keepsight diagnose` (run as root, ~35 s).

The incident, time-scaled by 1/15: clients hold TCP connections to a server and send a 1-byte
heartbeat 0x01 every 3 s (production: 45 s); the server answers 0x41 at once. A client whose
own beat goes out late (here 3.87 s after the previous one, production: 58 s) considers its
session expired as soon as the reply arrives: it logs an error, resets the connection (RST via
SO_LINGER 0) and restarts a moment later on a new connection. The network is fine throughout.

Real kernel TCP over the loopback interface, captured by dumpcap on `lo`. Writes, next to this
script: capture.pcapng, app.log (the clients' log, UTC `HH:MM:SS who level message`, second
granularity like the original) and truth.json (what the script did and when, from its own clock,
which is the clock dumpcap stamps frames with).
"""
import json
import os
import socket
import struct
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = ("127.0.0.1", 47443)
PERIOD = 3.0
RUN_S = 26.0
# client name, source address, {beat number on its first connection: gap before that beat}
CLIENTS = [("client-a", "127.0.0.2", {4: 3.87}), ("client-b", "127.0.0.3", {}), ("client-c", "127.0.0.4", {6: 3.87})]
LATE_RULE = 1.2  # the client's own rule: a beat sent more than 1.2 periods after the last is "late"

log_lines = []
log_lock = threading.Lock()


def log(who, level, msg, t=None):
    t = time.time() if t is None else t
    with log_lock:
        log_lines.append((t, f"{time.strftime('%H:%M:%S', time.gmtime(t))} {who} {level} {msg}"))


def server(ls, stop):
    ls.settimeout(0.2)

    def handle(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while c.recv(1):
                c.sendall(b"\x41")
        except OSError:
            pass
        c.close()

    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def client(name, addr, late, t_end, out):
    conns, late_done = [], False
    while time.time() < t_end - PERIOD:
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((addr, 0))
        s.connect(SERVER)
        t_conn = time.time()
        conn = {"client": f"{addr}:{s.getsockname()[1]}", "connect_t": t_conn, "beats": [], "end": None}
        conns.append(conn)
        log(name, "info", f"connected to {SERVER[0]}:{SERVER[1]} from {conn['client']}", t_conn)
        prev, k = t_conn, 0
        while True:
            k += 1
            gap = late.get(k, PERIOD) if not late_done else PERIOD
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
                conn["end"] = {"kind": "fin", "by": "client", "t": t_fin}
                log(name, "info", "stopping", t_fin)
                out[name] = conns
                return
            time.sleep(max(0.0, due - time.time()))
            t_sent = time.time()
            s.sendall(b"\x01")
            # Acknowledge the reply at once, as the original client's stack did.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            reply = s.recv(1)
            t_reply = time.time()
            conn["beats"].append({"k": k, "sent_t": t_sent, "gap_s": t_sent - prev, "reply_t": t_reply,
                                  "reply": reply.hex()})
            if k > 1 and t_sent - prev > LATE_RULE * PERIOD:
                late_done = True
                log(name, "error", f"heartbeat {t_sent - prev:.2f}s after the previous: session expired", t_reply)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                conn["end"] = {"kind": "rst", "by": "client", "t": time.time(), "late_gap_s": t_sent - prev,
                               "previous_beat_t": prev, "late_beat_t": t_sent}
                time.sleep(1.0)
                log(name, "info", "restart")
                break
            prev = t_sent


def main():
    cap_path = os.path.join(HERE, "capture.pcapng")
    cap = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", f"tcp port {SERVER[1]}", "-w", cap_path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(SERVER)
    ls.listen(16)
    stop = threading.Event()
    threading.Thread(target=server, args=(ls, stop), daemon=True).start()
    t0 = time.time()
    out, threads = {}, []
    for i, (name, addr, late) in enumerate(CLIENTS):
        th = threading.Thread(target=client, args=(name, addr, late, t0 + RUN_S + 0.3 * i, out))
        th.start()
        threads.append(th)
        time.sleep(0.3)
    for th in threads:
        th.join()
    time.sleep(0.5)
    stop.set()
    cap.terminate()
    cap.wait()
    with open(os.path.join(HERE, "app.log"), "w") as f:
        for _t, line in sorted(log_lines):
            f.write(line + "\n")
    truth = {"period_s": PERIOD, "server": f"{SERVER[0]}:{SERVER[1]}", "probe": "01", "reply": "41",
             "late_rule": f"a beat more than {LATE_RULE} x period after the previous is late",
             "clients": {n: out.get(n, []) for n, _a, _l in CLIENTS}}
    with open(os.path.join(HERE, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")
    resets = [c for cs in out.values() for c in cs if c["end"] and c["end"]["kind"] == "rst"]
    print(f"{len(resets)} late-beat resets:", [(c["client"], round(c["end"]["late_gap_s"], 3)) for c in resets])


if __name__ == "__main__":
    main()
