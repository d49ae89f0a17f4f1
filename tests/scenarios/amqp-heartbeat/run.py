#!/usr/bin/env python3
"""amqp-heartbeat -- AMQP 0-9-1 heartbeats negotiated in Connection.Tune (issue 24).

A minimal AMQP 0-9-1 broker and client of this script's own (stdlib) on 127.0.0.1:47533, with
the real connection handshake: protocol header, Connection.Start / StartOk, Tune (the broker
proposes heartbeat 2 s) / TuneOk (the client accepts 2 s), Open / OpenOk.  Each side sends a
heartbeat frame (type 8) when it has sent nothing for half the interval (as RabbitMQ does), and
checks every interval whether it received any octet during the last two intervals; if not it
closes the socket without the Close handshake (AMQP 0-9-1 4.2.7).

| session | what happens |
|---------|--------------|
| healthy | heartbeats both ways for ~8 s, then the client's Connection.Close (200, "Normal shutdown"), the broker's Close-Ok, FINs |
| stall   | the broker's connection handler hangs after ~5 s (it reads, sends nothing): no heartbeat frame from the broker; the client, seeing no octet for two intervals, closes the socket |

Writes capture.pcapng and truth.json (every frame each side sent, from its own clock, `facts`).
"""
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loopcap  # noqa: E402

PORT = 47533
HEARTBEAT = 2
HEADER = b"AMQP\x00\x00\x09\x01"


def frame(ty, payload, channel=0):
    return struct.pack(">BHI", ty, channel, len(payload)) + payload + b"\xce"


def method(cls, mth, args=b""):
    return frame(1, struct.pack(">HH", cls, mth) + args)


def shortstr(s):
    b = s.encode()
    return bytes([len(b)]) + b


def longstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b


EMPTY_TABLE = struct.pack(">I", 0)


def read_frames(buf):
    out = []
    while len(buf) >= 7:
        ty, ch, size = struct.unpack(">BHI", buf[:7])
        if len(buf) < 8 + size:
            break
        out.append((ty, buf[7:7 + size]))
        buf = buf[8 + size:]
    return out, buf


class Peer:
    """One side after the handshake: heartbeats, the two-interval check, a stall or a close."""

    def __init__(self, role, sock, plan, log):
        self.role, self.sock, self.plan, self.log = role, sock, plan, log
        self.buf = b""
        self.last_sent = self.last_recv = time.time()

    def send(self, what, data):
        t = time.time()
        self.sock.sendall(data)
        self.last_sent = t
        self.log.append(dict(t=round(t, 6), by=self.role, frame=what))

    def recv_frames(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return []
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.last_recv = time.time()
        frames, self.buf = read_frames(self.buf + data)
        return frames

    def wait_method(self, cls, mth):
        while True:
            for ty, p in self.recv_frames(5):
                if ty == 1 and struct.unpack(">HH", p[:4]) == (cls, mth):
                    return p

    def run(self):
        try:
            self.loop()
        except (OSError, EOFError) as e:
            self.plan[f"{self.role}_end"] = f"{type(e).__name__}"
        self.sock.close()

    def loop(self):
        start = time.time()
        next_check = start + HEARTBEAT
        stalled = False
        while True:
            now = time.time()
            if self.role == "broker" and self.plan.get("broker_stall_after_s") \
                    and now - start >= self.plan["broker_stall_after_s"] and not stalled:
                stalled = True
                self.plan["broker_stall_t"] = round(now, 6)
            if self.role == "client" and self.plan.get("close_after_s") \
                    and now - start >= self.plan["close_after_s"]:
                self.send("Connection.Close", method(10, 50, struct.pack(">H", 200)
                                                     + shortstr("Normal shutdown")
                                                     + struct.pack(">HH", 0, 0)))
                self.plan["client_close_method_t"] = round(time.time(), 6)
                self.wait_method(10, 51)
                return
            for ty, p in self.recv_frames(0.02):
                if ty == 1 and struct.unpack(">HH", p[:4]) == (10, 50) and not stalled:
                    self.send("Connection.Close-Ok", method(10, 51))
                    self.recv_frames(2)
                    return
            if stalled:
                continue
            if now - self.last_sent >= HEARTBEAT / 2:
                self.send("heartbeat", frame(8, b""))
            if now >= next_check:
                next_check += HEARTBEAT
                if now - self.last_recv >= 2 * HEARTBEAT:
                    self.plan[f"{self.role}_missed_heartbeats_t"] = round(now, 6)
                    self.plan[f"{self.role}_silence_s"] = round(now - self.last_recv, 6)
                    return


def broker_conn(sock, plan, log):
    p = Peer("broker", sock, plan, log)
    hdr = b""
    while len(hdr) < 8:
        hdr += sock.recv(8 - len(hdr))
    assert hdr == HEADER
    p.send("Connection.Start", method(10, 10, bytes([0, 9]) + EMPTY_TABLE + longstr("PLAIN")
                                      + longstr("en_US")))
    p.wait_method(10, 11)
    p.send("Connection.Tune", method(10, 30, struct.pack(">HIH", 2047, 131072, HEARTBEAT)))
    p.wait_method(10, 31)
    p.wait_method(10, 40)
    p.send("Connection.Open-Ok", method(10, 41, shortstr("")))
    p.run()


def client_conn(plan, log):
    sock = socket.create_connection(("127.0.0.1", PORT))
    plan["client_port"] = sock.getsockname()[1]
    p = Peer("client", sock, plan, log)
    p.send("protocol header", HEADER)
    p.wait_method(10, 10)
    p.send("Connection.Start-Ok", method(10, 11, EMPTY_TABLE + shortstr("PLAIN")
                                         + longstr(b"\x00guest\x00guest") + shortstr("en_US")))
    tune = p.wait_method(10, 30)
    _, _, hb = struct.unpack(">HIH", tune[4:12])
    p.send("Connection.Tune-Ok", method(10, 31, struct.pack(">HIH", 2047, 131072, hb)))
    p.send("Connection.Open", method(10, 40, shortstr("/") + shortstr("") + b"\x00"))
    p.wait_method(10, 41)
    plan["negotiated_heartbeat_s"] = hb
    p.run()
    if "client_missed_heartbeats_t" in plan:
        plan["client_close_t"] = round(time.time(), 6)


SESSIONS = [
    dict(name="healthy", close_after_s=8.0),
    dict(name="stall", broker_stall_after_s=5.0),
]


def body():
    logs = loopcap.serve_sessions(PORT, SESSIONS, client_conn, broker_conn, gap_s=0.4)
    return {
        "scenario": "amqp-heartbeat",
        "server": f"127.0.0.1:{PORT}",
        "proposed_heartbeat_s": HEARTBEAT,
        "sessions": [dict(plan, frames=sorted(logs[plan["name"]], key=lambda f: f["t"]))
                     for plan in SESSIONS],
    }


def facts(truth):
    out = []

    def fact(id_, check):
        out.append(loopcap.diagnose_fact(id_, check))

    by = {s["name"]: s for s in truth["sessions"]}
    s = by["stall"]
    broker = [f for f in s["frames"] if f["by"] == "broker"]
    silent = round(s["client_close_t"] - broker[-1]["t"], 6)
    hb = s["negotiated_heartbeat_s"]
    fact("stall: the broker's heartbeats stopped beyond two negotiated intervals and the client "
         "closed",
         {"finding": "app_heartbeat_stopped", "conn": {"client_port": s["client_port"]},
          "count": 1,
          "where": {"protocol": "amqp", "sender": "server", "interval_s": hb,
                    "limit_s": 2 * hb, "silent_s": [silent - 0.05, silent + 0.05],
                    "close": "fin", "close_by": "client", "goodbye": None}})
    h = by["healthy"]
    for kind in ("app_heartbeat_stopped", "app_heartbeat_late"):
        fact(f"healthy: no {kind}",
             {"no_finding": kind, "conn": {"client_port": h["client_port"]}})
    return out


if __name__ == "__main__":
    loopcap.run(__file__, body, facts)
