#!/usr/bin/env python3
"""iso8583-echo -- ISO 8583 network management echo tests a host stops answering (issue 24).

An acquirer (client) and a host (server) of this script's own (stdlib) on 127.0.0.1:47536,
ISO 8583:1987 messages with a 2-byte big-endian length prefix, a binary bitmap and ASCII
fields (the common ASCII packager layout).  The acquirer sends an echo test every 1 s: 0800
with fields 7 (transmission date and time), 11 (STAN, new each time) and 70 = 301; the host
answers 0810 with 7, 11, 39 = 00 and 70 = 301.  After 2 echo tests in a row unanswered (each
given 1 s) the acquirer signs off (0800, 70 = 002) and closes (FIN).

| session | what happens |
|---------|--------------|
| healthy | echo tests, one 0200 purchase answered by 0210 (39 = 00), sign-off answered 0810 70 = 002, FINs |
| stall   | the host's handler stops answering after the 3rd echo test (it keeps reading); echo tests 4 and 5 go unanswered; the acquirer signs off and closes |

Writes capture.pcapng and truth.json (every message each side sent, `facts`).
"""
import datetime
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loopcap  # noqa: E402

PORT = 47536
PERIOD = 1.0
# Field lengths used here (1987, ASCII): fixed, or 'LL' for a 2-digit length prefix.
FIXED = {3: 6, 4: 12, 7: 10, 11: 6, 39: 2, 41: 8, 70: 3}
LLVAR = {2}


def message(mti, fields):
    bits = set(fields)
    if any(b > 64 for b in bits):
        bits.add(1)
    bitmap = bytearray(16 if 1 in bits else 8)
    for b in bits:
        bitmap[(b - 1) // 8] |= 0x80 >> ((b - 1) % 8)
    body = mti.encode() + bytes(bitmap)
    for f in sorted(fields):
        v = fields[f].encode()
        if f in LLVAR:
            body += f"{len(v):02d}".encode() + v
        else:
            assert len(v) == FIXED[f], (f, v)
            body += v
    return struct.pack(">H", len(body)) + body


def parse(m):
    mti = m[:4].decode()
    primary = m[4:12]
    bitmaps = primary + (m[12:20] if primary[0] & 0x80 else b"")
    at = 4 + len(bitmaps)
    out = {}
    for b in range(2, len(bitmaps) * 8 + 1):
        if not bitmaps[(b - 1) // 8] & (0x80 >> ((b - 1) % 8)):
            continue
        if b in LLVAR:
            n = int(m[at:at + 2])
            at += 2
        else:
            n = FIXED[b]
        out[b] = m[at:at + n].decode()
        at += n
    return mti, out


def read(sock, buf, timeout):
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        return [], buf, True
    data = sock.recv(65536)
    if not data:
        return [], buf, False
    buf += data
    out = []
    while len(buf) >= 2:
        n = struct.unpack(">H", buf[:2])[0]
        if len(buf) < 2 + n:
            break
        out.append(parse(buf[2:2 + n]))
        buf = buf[2 + n:]
    return out, buf, True


def send(sock, log, by, mti, fields):
    t = time.time()
    sock.sendall(message(mti, fields))
    log.append(dict(t=round(t, 6), by=by, mti=mti, **{f"f{k}": v for k, v in fields.items()}))


def now7():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%m%d%H%M%S")


def host(sock, plan, log):
    buf, answered = b"", 0
    while True:
        msgs, buf, alive = read(sock, buf, 0.5)
        if not alive:
            break
        for mti, f in msgs:
            if mti == "0800" and f.get(70) == "301":
                if plan.get("host_stops_after") is not None and answered >= plan["host_stops_after"]:
                    plan.setdefault("host_stopped_t", round(time.time(), 6))
                    continue
                answered += 1
                send(sock, log, "host", "0810", {7: now7(), 11: f[11], 39: "00", 70: "301"})
            elif mti == "0800" and f.get(70) == "002" and "host_stopped_t" not in plan:
                send(sock, log, "host", "0810", {7: now7(), 11: f[11], 39: "00", 70: "002"})
            elif mti == "0200":
                send(sock, log, "host", "0210", {3: f[3], 4: f[4], 7: now7(), 11: f[11],
                                                 39: "00", 41: f[41]})
    sock.close()


def acquirer(plan, log):
    sock = socket.create_connection(("127.0.0.1", PORT))
    plan["client_port"] = sock.getsockname()[1]
    buf, stan, unanswered, sent = b"", 0, 0, 0
    while True:
        stan += 1
        send(sock, log, "acquirer", "0800", {7: now7(), 11: f"{stan:06d}", 70: "301"})
        sent += 1
        deadline = time.time() + PERIOD
        got = False
        purchase = sent == plan.get("purchase_after_echo")
        while time.time() < deadline:
            msgs, buf, _ = read(sock, buf, max(0.0, deadline - time.time()))
            got |= any(m == "0810" and f.get(11) == f"{stan:06d}" for m, f in msgs)
            if got and purchase:
                purchase = False
                stan += 1
                send(sock, log, "acquirer", "0200", {2: "4000123412341234", 3: "000000",
                                                     4: "000000001500", 7: now7(),
                                                     11: f"{stan:06d}", 41: "TERM0001"})
        unanswered = 0 if got else unanswered + 1
        if unanswered == 2 or sent == plan.get("echo_tests", 10 ** 6):
            break
    stan += 1
    send(sock, log, "acquirer", "0800", {7: now7(), 11: f"{stan:06d}", 70: "002"})
    read(sock, buf, 0.3)
    plan["client_close_t"] = round(time.time(), 6)
    sock.close()


SESSIONS = [dict(name="healthy", echo_tests=5, purchase_after_echo=2),
            dict(name="stall", host_stops_after=3)]


def body():
    logs = loopcap.serve_sessions(PORT, SESSIONS, acquirer, host, gap_s=0.3)
    return {"scenario": "iso8583-echo", "server": f"127.0.0.1:{PORT}", "period_s": PERIOD,
            "sessions": [dict(p, messages=sorted(logs[p["name"]], key=lambda x: x["t"]))
                         for p in SESSIONS]}


def facts(truth):
    out = []

    def fact(id_, check):
        out.append(loopcap.diagnose_fact(id_, check))

    by = {s["name"]: s for s in truth["sessions"]}
    s = by["stall"]
    echoes = [m for m in s["messages"] if m["mti"] == "0800" and m["f70"] == "301"]
    answered = {m["f11"] for m in s["messages"] if m["mti"] == "0810"}
    run = 0
    for m in echoes:
        run = 0 if m["f11"] in answered else run + 1
    waited = round(s["client_close_t"] - echoes[-1]["t"], 6)
    fact(f"stall: {run} echo tests in a row unanswered, then the acquirer signed off",
         {"finding": "app_probe_unanswered", "conn": {"client_port": s["client_port"]},
          "count": 1,
          "where": {"protocol": "iso8583", "probe": "echo test", "sender": "client",
                    "unanswered": run, "waited_s": [waited - 0.05, waited + 0.05],
                    "message": {"contains": "signed off"}}})
    fact("healthy: every echo test answered",
         {"no_finding": "app_probe_unanswered",
          "conn": {"client_port": by["healthy"]["client_port"]}})
    # The sign-off (0800, 70 = 002) looks like an echo test up to field 70: it is no beat.
    for name in ("healthy", "stall"):
        sent = sum(1 for m in by[name]["messages"] if m["mti"] == "0800" and m["f70"] == "301")
        fact(f"{name}: the heartbeat is its {sent} echo tests, not the sign-off",
             {"heartbeat": {"client_port": by[name]["client_port"]},
              "where": {"sender": "client", "beats": sent}})
    fact(f"stall: the client gave up after {run} unanswered echo tests",
         {"finding": "heartbeat_gave_up", "conn": {"client_port": s["client_port"]},
          "count": 1, "where": {"by": "client", "unanswered": run}})
    return out


if __name__ == "__main__":
    loopcap.run(__file__, body, facts)
