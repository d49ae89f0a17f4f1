#!/usr/bin/env python3
"""fix-heartbeat -- FIX 4.4 sessions whose heartbeats carry their own numbers and times (issue 24).

A small FIX session engine of this script's own (stdlib only; BodyLength, CheckSum, MsgSeqNum,
SendingTime as the FIX Session Protocol defines them) on 127.0.0.1:47531 -- not FIX's usual
port: keepsight must recognize FIX by its first message.  Every session logs on with
HeartBtInt 2 s (production: 30 s).  Both ends follow the session rules: a side that has sent
nothing for HeartBtInt sends a Heartbeat (35=0, each with a new MsgSeqNum and SendingTime, so no
two beats have the same bytes); a side that has received nothing for HeartBtInt + 20 % sends a
TestRequest (35=1, 112=TestReqID) and, when nothing answers within another HeartBtInt, logs out
(35=5, 58="no heartbeat") and resets the connection (SO_LINGER 0) 0.5 s later.

| session | what happens |
|---------|--------------|
| healthy | heartbeats both ways and a few orders (35=D) / execution reports (35=8); the client logs out ("done"), the server answers, FINs |
| stall   | the server's engine hangs after its 3rd heartbeat (it keeps reading, sends nothing): the client's TestRequest goes unanswered, the client logs out with "no heartbeat" and resets |
| gap     | the server's MsgSeqNum skips 3 numbers once: the client sends a ResendRequest (35=2), the server fills the gap with a SequenceReset-GapFill (35=4, 123=Y); right after its 2nd heartbeat the client's engine pauses 3.3 s (a late beat: the server's TestRequest, sent after 2.4 s, is answered when it resumes); the client logs out ("done") |

Writes capture.pcapng (dumpcap on lo, in a fresh network namespace, see ../loopcap.py) and
truth.json (every message each engine sent, from its own clock; `facts`).  `run.py facts`
rewrites the facts from truth.json.
"""
import datetime
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loopcap  # noqa: E402

PORT = 47531
HB = 2.0
SOH = "\x01"


def fix_message(fields):
    """8=FIX.4.4|9=BodyLength|...|10=CheckSum| from (tag, value) pairs after 9."""
    body = "".join(f"{t}={v}{SOH}" for t, v in fields)
    head = f"8=FIX.4.4{SOH}9={len(body)}{SOH}"
    raw = (head + body).encode()
    return raw + f"10={sum(raw) % 256:03d}{SOH}".encode()


def parse_messages(buf):
    """Whole messages at the start of buf (list of dicts), and the rest."""
    out = []
    while True:
        if not buf.startswith(b"8="):
            return out, buf
        i = buf.find(b"\x019=")
        j = buf.find(b"\x01", i + 1)
        if i < 0 or j < 0:
            return out, buf
        end = j + 1 + int(buf[i + 3:j]) + 7
        if len(buf) < end:
            return out, buf
        m, buf = buf[:end], buf[end:]
        fields = {}
        for f in m.split(b"\x01")[:-1]:
            t, _, v = f.partition(b"=")
            fields[int(t)] = v.decode()
        out.append(fields)


class Engine:
    """One side of a FIX session on a connected socket, run on its own thread."""

    def __init__(self, name, role, sock, comp, target, plan, log):
        self.name, self.role, self.sock = name, role, sock
        self.comp, self.target, self.plan, self.log = comp, target, plan, log
        self.seq_out, self.seq_in = 1, 1
        self.last_sent = self.last_recv = time.time()
        self.test_sent = None
        self.logout_sent = None
        self.buf = b""
        self.done = False
        self.sent_heartbeats = 0
        self.stalled = False
        self.paused = False
        self.initiated_logout = False

    def send(self, msg_type, extra=(), seq=None, poss_dup=False):
        if seq is None:
            if self.role == "server" and self.plan.get("server_skip_at") == self.seq_out:
                self.seq_out += self.plan["server_skip_by"]
            seq = self.seq_out
            self.seq_out += 1
        now = datetime.datetime.now(datetime.timezone.utc)
        fields = [(35, msg_type), (34, seq), (49, self.comp), (56, self.target)]
        if poss_dup:
            fields.append((43, "Y"))
        fields.append((52, now.strftime("%Y%m%d-%H:%M:%S.") + f"{now.microsecond // 1000:03d}"))
        fields.extend(extra)
        raw = fix_message(fields)
        t = time.time()
        self.sock.sendall(raw)
        self.last_sent = t
        self.log.append(dict(t=round(t, 6), by=self.role, msg_type=msg_type, seq=seq,
                             len=len(raw), **{f"tag{k}": v for k, v in extra}))
        if msg_type == "0" and not any(k == 112 for k, _ in extra):
            self.sent_heartbeats += 1

    def on_message(self, m):
        t = m[35]
        seq = int(m[34])
        if t == "4" and m.get(123) == "Y":
            self.seq_in = int(m[36])
        elif m.get(43) != "Y":
            if seq > self.seq_in and t != "2":
                self.send("2", [(7, self.seq_in), (16, 0)])
                self.seq_in = seq + 1
            else:
                self.seq_in = seq + 1
        if t == "A" and self.role == "server":
            self.send("A", [(98, 0), (108, int(HB))])
        elif t == "1":
            self.send("0", [(112, m[112])])
        elif t == "0" and m.get(112) and self.test_sent:
            self.test_sent = None
        elif t == "2":
            begin = int(m[7])
            self.send("4", [(123, "Y"), (36, self.seq_out)], seq=begin, poss_dup=True)
        elif t == "5":
            if not self.initiated_logout and not self.logout_sent:
                self.send("5", [(58, "bye")])
            self.done = True
        elif t == "8" and self.role == "client":
            pass
        elif t == "D" and self.role == "server":
            self.send("8", [(37, f"O{seq}"), (17, f"E{seq}"), (150, "0"), (39, "0"), (11, m[11])])

    def run(self):
        try:
            self.loop()
        except OSError as e:
            # The peer reset the connection: the engine ends there.
            self.plan[f"{self.role}_error"] = f"{type(e).__name__}: {e}"
            self.sock.close()

    def loop(self):
        start = time.time()
        if self.role == "client":
            self.send("A", [(98, 0), (108, int(HB))])
        orders = list(self.plan.get("orders", [])) if self.role == "client" else []
        while not self.done:
            now = time.time()
            el = now - start
            p = self.plan
            if self.role == "server" and p.get("server_stall_after_beats") is not None \
                    and self.sent_heartbeats >= p["server_stall_after_beats"] and not self.stalled:
                self.stalled = True
                self.plan["server_stall_t"] = round(now, 6)
            if self.role == "client" and p.get("client_pause_after_beat") and not self.paused \
                    and self.sent_heartbeats >= p["client_pause_after_beat"]:
                self.paused = True
                self.plan["client_pause_t"] = round(now, 6)
                time.sleep(p["client_pause_s"])
                continue
            r, _, _ = select.select([self.sock], [], [], 0.02)
            if r:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.last_recv = time.time()
                msgs, self.buf = parse_messages(self.buf + data)
                for m in msgs:
                    if not self.stalled:
                        self.on_message(m)
                    elif m[35] == "5":
                        pass
                continue
            if self.stalled:
                continue
            if self.logout_sent:
                if now - self.logout_sent > 0.5:
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack("ii", 1, 0))
                    self.plan[f"{self.role}_reset_t"] = round(time.time(), 6)
                    self.sock.close()
                    return
                continue
            if orders and el >= orders[0]:
                orders.pop(0)
                self.send("D", [(11, f"C{self.seq_out}"), (55, "KSIG"), (54, 1), (38, 100),
                                (40, 1), (60, "20261207-00:00:00")])
            if self.role == "client" and p.get("logout_at") and el >= p["logout_at"]:
                self.initiated_logout = True
                self.send("5", [(58, "done")])
                p.pop("logout_at")
                self.plan["client_logout_done_t"] = round(now, 6)
                continue
            if self.test_sent and now - self.test_sent > HB:
                self.logout_sent = now
                self.send("5", [(58, "no heartbeat")])
                self.plan[f"{self.role}_logout_t"] = round(now, 6)
                continue
            if not self.test_sent and now - self.last_recv > HB * 1.2:
                self.test_sent = now
                self.send("1", [(112, f"TEST-{self.seq_out}")])
                self.plan[f"{self.role}_test_request_t"] = round(now, 6)
                continue
            if now - self.last_sent >= HB:
                self.send("0")
        if self.role == "client":
            self.plan["client_close_t"] = round(time.time(), 6)
        self.sock.close()


SESSIONS = [
    dict(name="healthy", orders=[1.0, 3.5, 7.2], logout_at=11.0),
    dict(name="stall", server_stall_after_beats=3),
    dict(name="gap", orders=[1.0, 2.2], server_skip_at=4, server_skip_by=3,
         client_pause_after_beat=2, client_pause_s=3.3, logout_at=13.0),
]


def body():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", PORT))
    listener.listen(8)
    threads, logs = [], {}
    for i, plan in enumerate(SESSIONS):
        c = socket.socket()
        c.connect(("127.0.0.1", PORT))
        s, _ = listener.accept()
        plan["client_port"] = c.getsockname()[1]
        log = logs.setdefault(plan["name"], [])
        ce = Engine(plan["name"], "client", c, "KSCLIENT", "KSSERVER", plan, log)
        se = Engine(plan["name"], "server", s, "KSSERVER", "KSCLIENT", plan, log)
        for e in (se, ce):
            th = threading.Thread(target=e.run)
            th.start()
            threads.append(th)
        time.sleep(0.3)
    for th in threads:
        th.join(timeout=40)
    listener.close()
    return {
        "scenario": "fix-heartbeat",
        "server": f"127.0.0.1:{PORT}",
        "heartbeat_interval_s": HB,
        "sessions": [dict(plan, messages=sorted(logs[plan["name"]], key=lambda m: m["t"]))
                     for plan in SESSIONS],
    }


def facts(truth):
    """What keepsight must conclude, from what the engines did (see ../FACTS.md)."""
    out = []

    def fact(id_, check):
        out.append(loopcap.diagnose_fact(id_, check))

    by = {s["name"]: s for s in truth["sessions"]}
    hb = truth["heartbeat_interval_s"]
    s = by["stall"]
    sel = {"client_port": s["client_port"]}
    server_msgs = [m for m in s["messages"] if m["by"] == "server"]
    silent = round(s["client_logout_t"] - server_msgs[-1]["t"], 6)
    fact("stall: the server's heartbeats stopped; the client's TestRequest went unanswered; "
         "the client logged out with 'no heartbeat' and reset",
         {"finding": "app_heartbeat_stopped", "conn": sel, "count": 1,
          "where": {"protocol": "fix", "sender": "server", "interval_s": hb,
                    "interval_field": "HeartBtInt",
                    "silent_s": [silent - 0.05, silent + 0.05],
                    "probe.name": "TestRequest", "probe.by": "client", "probe.answered": False,
                    "goodbye.by": "client", "goodbye.text": "no heartbeat",
                    "close": "rst", "close_by": "client",
                    "message": {"contains": "HeartBtInt 2 s"}}})
    fact("stall: the cause is the server's stopped FIX heartbeats",
         {"cause": "app_heartbeat_stopped", "by": "server", "conn": sel})
    for name in ("healthy", "gap"):
        sel = {"client_port": by[name]["client_port"]}
        fact(f"{name}: no FIX heartbeat stopped",
             {"no_finding": "app_heartbeat_stopped", "conn": sel})
    sel = {"client_port": by["healthy"]["client_port"]}
    fact("healthy: never late, no sequence gap",
         {"no_finding": "app_heartbeat_late", "conn": sel})
    fact("healthy: no sequence gap", {"no_finding": "app_sequence_gap", "conn": sel})
    g = by["gap"]
    sel = {"client_port": g["client_port"]}
    skipped = [m for m in g["messages"] if m["by"] == "server"]
    fact("gap: the server's MsgSeqNum skipped 3 numbers and the client asked again",
         {"finding": "app_sequence_gap", "conn": sel, "count": 1,
          "where": {"sender": "server", "expected": g["server_skip_at"],
                    "received": g["server_skip_at"] + g["server_skip_by"],
                    "resend_request_frame": {"present": True}}})
    client_times = [m["t"] for m in g["messages"] if m["by"] == "client"]
    pause_gap = max(b - a for a, b in zip(client_times, client_times[1:]))
    fact(f"gap: the client's {pause_gap:.2f} s silence is late against HeartBtInt 2 s",
         {"finding": "app_heartbeat_late", "conn": sel, "count": 1,
          "where": {"sender": "client", "interval_s": hb,
                    "gap_s": [round(pause_gap - 0.05, 6), round(pause_gap + 0.05, 6)]}})
    assert skipped
    return out


if __name__ == "__main__":
    loopcap.run(__file__, body, facts)
