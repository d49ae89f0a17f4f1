#!/usr/bin/env python3
"""stomp-heart-beat -- STOMP 1.2 heart-beats negotiated in CONNECT/CONNECTED (issue 24).

A small STOMP broker and client of this script's own (stdlib) on 127.0.0.1:47535.  The client's
CONNECT offers `heart-beat:1000,1000`, the broker's CONNECTED answers `heart-beat:1000,1000`:
each side sends an EOL when it has sent nothing for 1 s.  The client closes the socket (FIN) when
it has received nothing for 2 s.

| session | what happens |
|---------|--------------|
| healthy | heart-beats both ways, 3 SEND frames (one with content-length and a NUL in its body), DISCONNECT with a receipt, RECEIPT, FINs |
| stall   | the broker's handler hangs after ~4 s (reads, sends nothing); the client closes after 2 s of silence |

Writes capture.pcapng and truth.json (every frame and heart-beat each side sent, `facts`).
"""
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loopcap  # noqa: E402

PORT = 47535
BEAT_MS = 1000
CLIENT_GIVES_UP_S = 2.0


class Side:
    def __init__(self, role, sock, plan, log):
        self.role, self.sock, self.plan, self.log = role, sock, plan, log
        self.last_sent = self.last_recv = time.time()
        self.buf = b""

    def send(self, what, data):
        t = time.time()
        self.sock.sendall(data)
        self.last_sent = t
        self.log.append(dict(t=round(t, 6), by=self.role, frame=what))

    def recv(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.last_recv = time.time()
        self.buf += data
        return data


def broker(sock, plan, log):
    b = Side("broker", sock, plan, log)
    start = time.time()
    try:
        while b"\0" not in b.buf:
            b.recv(1)
        b.buf = b.buf[b.buf.index(b"\0") + 1:]
        b.send("CONNECTED", f"CONNECTED\nversion:1.2\nheart-beat:{BEAT_MS},{BEAT_MS}\n\n\0".encode())
        while True:
            b.recv(0.02)
            if plan.get("broker_stall_after_s") and time.time() - start >= plan["broker_stall_after_s"]:
                plan.setdefault("broker_stall_t", round(time.time(), 6))
                continue
            if b"DISCONNECT" in b.buf:
                b.send("RECEIPT", b"RECEIPT\nreceipt-id:bye\n\n\0")
                b.buf = b""
            if time.time() - b.last_sent >= BEAT_MS / 1000:
                b.send("heart-beat", b"\n")
    except (EOFError, OSError):
        pass
    sock.close()


def client(plan, log):
    sock = socket.create_connection(("127.0.0.1", PORT))
    plan["client_port"] = sock.getsockname()[1]
    c = Side("client", sock, plan, log)
    c.send("CONNECT", f"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:{BEAT_MS},{BEAT_MS}\n\n\0"
           .encode())
    while b"CONNECTED" not in c.buf:
        c.recv(1)
    start = time.time()
    sends = list(plan.get("sends_at", []))
    while True:
        c.recv(0.02)
        now = time.time()
        if sends and now - start >= sends[0]:
            sends.pop(0)
            c.send("SEND", b"SEND\ndestination:/queue/a\ncontent-length:5\n\nab\0cd\0")
        if plan.get("disconnect_after_s") and now - start >= plan["disconnect_after_s"]:
            c.send("DISCONNECT", b"DISCONNECT\nreceipt:bye\n\n\0")
            while b"RECEIPT" not in c.buf:
                c.recv(1)
            break
        if now - c.last_recv > CLIENT_GIVES_UP_S:
            plan["client_gave_up_t"] = round(now, 6)
            break
        if now - c.last_sent >= BEAT_MS / 1000:
            c.send("heart-beat", b"\n")
    plan["client_close_t"] = round(time.time(), 6)
    sock.close()


SESSIONS = [dict(name="healthy", sends_at=[0.5, 2.5, 4.5], disconnect_after_s=7.0),
            dict(name="stall", broker_stall_after_s=4.0)]


def body():
    logs = loopcap.serve_sessions(PORT, SESSIONS, client, broker, gap_s=0.3)
    return {"scenario": "stomp-heart-beat", "server": f"127.0.0.1:{PORT}",
            "heart_beat_ms": BEAT_MS,
            "sessions": [dict(p, frames=sorted(logs[p["name"]], key=lambda x: x["t"]))
                         for p in SESSIONS]}


def facts(truth):
    out = []

    def fact(id_, check):
        out.append(loopcap.diagnose_fact(id_, check))

    by = {s["name"]: s for s in truth["sessions"]}
    s = by["stall"]
    last = [f for f in s["frames"] if f["by"] == "broker"][-1]
    silent = round(s["client_close_t"] - last["t"], 6)
    fact("stall: the broker's heart-beats stopped and the client closed",
         {"finding": "app_heartbeat_stopped", "conn": {"client_port": s["client_port"]},
          "count": 1,
          "where": {"protocol": "stomp", "sender": "server", "interval_s": BEAT_MS / 1000,
                    "interval_field": "heart-beat", "limit_s": 1.5,
                    "silent_s": [silent - 0.05, silent + 0.05], "close_by": "client"}})
    h = by["healthy"]
    for kind in ("app_heartbeat_stopped", "app_heartbeat_late"):
        fact(f"healthy: no {kind}", {"no_finding": kind,
                                     "conn": {"client_port": h["client_port"]}})
    return out


if __name__ == "__main__":
    loopcap.run(__file__, body, facts)
