#!/usr/bin/env python3
"""heartbeat-give-up -- clients that close after N unanswered heartbeats (run as root; ~35 s).

A binary heartbeat on an unusual port: clients send the 3 bytes 00 ff 07 every 2.5 s to
10.77.61.1:5151, the server answers 00 ff 08.  The server application stops answering one
client after a number of beats (it keeps reading, so its TCP still acknowledges the probes);
each client waits for a reply until its next beat is due, counts the misses in a row, and
gives up on its own policy:
  client-a (10.77.61.11): server answers beats 1-4 only; the client closes with FIN once 3 beats
            in a row went unanswered (at the time its next beat was due)
  client-b (10.77.61.12): server answers beats 1-3 only; the client resets (SO_LINGER 0, RST)
            once 2 beats in a row went unanswered
  client-c (10.77.61.13): always answered; closes with FIN after 10 beats (no give-up)

Outputs next to this script: capture.pcapng (dumpcap on the server's veth), app.log (client log,
UTC HH:MM:SS), truth.json (the driver's own clock, and the facts keepsight must conclude).
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
C, S = "ks-gu-c", "ks-gu-s"
SA, PORT = "10.77.61.1", 5151
PERIOD = 2.5
PROBE, REPLY = bytes([0x00, 0xFF, 0x07]), bytes([0x00, 0xFF, 0x08])
# name, address, server answers beats 1..answered, misses before giving up, how, beats if never
CLIENTS = [
    ("client-a", "10.77.61.11", 4, 3, "fin", None),
    ("client-b", "10.77.61.12", 3, 2, "rst", None),
    ("client-c", "10.77.61.13", 10**6, 3, "fin", 10),
]
ANSWERED = {addr: n for _name, addr, n, _m, _h, _b in CLIENTS}

app = AppLog()
server_log = []
lock = threading.Lock()


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x:
            return None
        b += x
    return b


def serve_conn(c, addr):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    k = 0
    try:
        while True:
            p = recv_exact(c, len(PROBE))
            if p is None:
                break
            k += 1
            answered = k <= ANSWERED[addr]
            if answered:
                c.sendall(REPLY)
            with lock:
                server_log.append({"client": addr, "beat": k, "t": r6(time.time()), "answered": answered})
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


def client(name, addr, give_up_after, how, max_beats, out):
    with ksnet.in_ns(C):
        s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind((addr, 0))
    s.settimeout(5)
    s.connect((SA, PORT))
    t_conn = time.time()
    port = s.getsockname()[1]
    app.log(name, "info", f"connected to {SA}:{PORT} from local port {port}", t_conn)
    beats, misses, k = [], 0, 0
    end = None
    while True:
        k += 1
        due = t_conn + k * PERIOD
        time.sleep(max(0.0, due - time.time()))
        if max_beats is not None and k > max_beats:
            s.shutdown(socket.SHUT_WR)
            t_fin = time.time()
            try:
                s.recv(1)
            except OSError:
                pass
            s.close()
            end = {"kind": "fin", "by": "client", "t": r6(t_fin), "cause": "done"}
            app.log(name, "info", "done, connection closed", t_fin)
            break
        t_sent = time.time()
        s.sendall(PROBE)
        s.settimeout(max(0.05, due + PERIOD - 0.05 - time.time()))
        try:
            r = recv_exact(s, len(REPLY))
        except socket.timeout:
            r = None
        t_after = time.time()
        beats.append({"k": k, "sent_t": r6(t_sent), "answered": r is not None,
                      "reply_t": r6(t_after) if r is not None else None})
        if r is not None:
            misses = 0
            time.sleep(max(0.0, due + PERIOD - 0.05 - time.time()))
            continue
        misses += 1
        app.log(name, "warn", f"heartbeat {k} unanswered ({misses} in a row)", t_after)
        if misses < give_up_after:
            continue
        # The next beat is due now: the client gives up instead of sending it.
        time.sleep(max(0.0, due + PERIOD - time.time()))
        if how == "rst":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            t_close = time.time()
        else:
            s.shutdown(socket.SHUT_WR)
            t_close = time.time()
            s.settimeout(2)
            try:
                s.recv(1)
            except OSError:
                pass
            s.close()
        end = {"kind": how, "by": "client", "t": r6(t_close), "cause": "gave up",
               "unanswered": misses}
        app.log(name, "error", f"no heartbeat reply for {misses} beats: giving up, connection "
                f"{'reset' if how == 'rst' else 'closed'}", t_close)
        break
    out.update({"client_port": port, "connect_t": r6(t_conn), "beats": beats, "end": end,
                "policy": f"gives up after {give_up_after} unanswered beats"})


def main():
    ksnet.add_ns(C)
    ksnet.add_ns(S)
    ksnet.veth(C, "ksguc", S, "ksgus", [c[1] + "/24" for c in CLIENTS], [SA + "/24"], offload=False)
    with ksnet.in_ns(S):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((SA, PORT))
        ls.listen(16)
    stop = threading.Event()
    st = threading.Thread(target=server, args=(ls, stop), daemon=True)
    st.start()
    cap = ksnet.Capture(S, "ksgus", os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    results, ths = {}, []
    for name, addr, answered, give_up_after, how, max_beats in CLIENTS:
        results[name] = {"name": name, "addr": addr, "server_answers_beats": min(answered, 10**3)}
        th = threading.Thread(target=client, args=(name, addr, give_up_after, how, max_beats,
                                                   results[name]))
        th.start()
        ths.append(th)
        time.sleep(0.3)
    for th in ths:
        th.join(timeout=60)
    time.sleep(1.0)
    stop.set()
    st.join(timeout=5)
    cap.stop()

    facts = []
    for name, addr, answered, give_up_after, how, max_beats in CLIENTS:
        r = results[name]
        conn = {"client_port": r["client_port"]}
        facts.append({
            "id": f"{name}'s heartbeat is the client's 00ff07 every 2.5 s, answered 00ff08",
            "capture": "capture.pcapng", "command": "diagnose", "args": [],
            "check": {"heartbeat": conn, "where": {"sender": "client", "probe_hex": PROBE.hex(),
                                                   "reply_hex": REPLY.hex(),
                                                   "period_s": [PERIOD * 0.97, PERIOD * 1.03]}}})
        end = r["end"]
        facts.append({
            "id": f"{name}'s connection ended by the client with {end['kind'].upper()}",
            "capture": "capture.pcapng", "command": "diagnose", "args": [],
            "check": {"close": conn, "where": {"kind": end["kind"], "by": "client"}}})
        if end["cause"] == "gave up":
            facts.append({
                "id": f"{name} gave up after {end['unanswered']} unanswered beats ({end['kind']})",
                "capture": "capture.pcapng", "command": "diagnose", "args": [],
                "check": {"finding": "heartbeat_gave_up", "conn": conn, "count": 1,
                          "where": {"by": "client", "close": end["kind"],
                                    "unanswered": end["unanswered"]}}})
            facts.append({
                "id": f"{name}'s death is told as the client giving up",
                "capture": "capture.pcapng", "command": "diagnose", "args": [],
                "check": {"cause": "heartbeat_gave_up", "by": "client", "conn": conn}})
            facts.append({
                "id": f"{name}'s unanswered probes are found",
                "capture": "capture.pcapng", "command": "diagnose", "args": [],
                "check": {"finding": "unanswered_heartbeat", "conn": conn,
                          "count": end["unanswered"], "where": {"acked": True}}})
        else:
            facts.append({
                "id": f"{name} did not give up",
                "capture": "capture.pcapng", "command": "diagnose", "args": [],
                "check": {"no_finding": "heartbeat_gave_up", "conn": conn}})
    facts.append({"id": "the clients' give-ups are one cause, by the client, on 2 connections",
                  "capture": "capture.pcapng", "command": "diagnose", "args": [],
                  "check": {"cause": "heartbeat_gave_up", "by": "client", "count": 2}})
    facts.append({"id": "the client's reset is not an unexplained reset",
                  "capture": "capture.pcapng", "command": "diagnose", "args": [],
                  "check": {"no_cause": "connection_reset"}})
    truth = {
        "scenario": "heartbeat-give-up",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture); app.log uses UTC HH:MM:SS",
        "capture": "capture.pcapng (dumpcap on the server's veth ksgus, Ethernet)",
        "server": f"{SA}:{PORT}",
        "period_s": PERIOD,
        "heartbeat_request": PROBE.hex(), "heartbeat_reply": REPLY.hex(),
        "start_t": r6(t0),
        "clients": list(results.values()),
        "server_log": server_log,
        "facts": facts,
    }
    write_truth(os.path.join(HERE, "truth.json"), truth)
    app.write(os.path.join(HERE, "app.log"))
    print("done", [(r["name"], r["client_port"], r["end"]) for r in results.values()])


if __name__ == "__main__":
    main()
