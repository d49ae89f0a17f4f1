#!/usr/bin/env python3
"""smpp-enquire-link -- SMPP 3.4 enquire_link that an SMSC stops answering (issue 24).

A small SMSC and ESME of this script's own (stdlib) on 127.0.0.1:47534: bind_transceiver /
bind_transceiver_resp, then the ESME sends `enquire_link` every 1 s (each with its own
sequence_number), answered by `enquire_link_resp`.  The ESME's policy: after 2 enquire_links in a
row unanswered (each given 1 s), it sends `unbind` and closes (FIN).

| session | what happens |
|---------|--------------|
| healthy | 5 enquire_links, all answered; unbind / unbind_resp; FIN |
| stall   | the SMSC's session handler stops answering after the 3rd enquire_link (it keeps reading); enquire_links 4 and 5 go unanswered; the ESME unbinds and closes |

Writes capture.pcapng and truth.json (every PDU each side sent, from its own clock, `facts`).
"""
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loopcap  # noqa: E402

PORT = 47534
PERIOD = 1.0
NAMES = {0x9: "bind_transceiver", 0x80000009: "bind_transceiver_resp",
         0x15: "enquire_link", 0x80000015: "enquire_link_resp",
         0x6: "unbind", 0x80000006: "unbind_resp"}


def pdu(cmd, seq, body=b"", status=0):
    return struct.pack(">IIII", 16 + len(body), cmd, status, seq) + body


def read_pdus(sock, buf, timeout):
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        return [], buf, True
    data = sock.recv(65536)
    if not data:
        return [], buf, False
    buf += data
    out = []
    while len(buf) >= 16:
        n, cmd, status, seq = struct.unpack(">IIII", buf[:16])
        if len(buf) < n:
            break
        out.append((cmd, seq, buf[16:n]))
        buf = buf[n:]
    return out, buf, True


def send(sock, log, by, cmd, seq, body=b""):
    t = time.time()
    sock.sendall(pdu(cmd, seq, body))
    log.append(dict(t=round(t, 6), by=by, pdu=NAMES[cmd], sequence_number=seq))


def smsc(sock, plan, log):
    buf, answered = b"", 0
    while True:
        pdus, buf, alive = read_pdus(sock, buf, 0.5)
        if not alive:
            break
        for cmd, seq, _ in pdus:
            if cmd == 0x9:
                send(sock, log, "smsc", 0x80000009, seq, b"KSSMSC\x00")
            elif cmd == 0x15:
                if plan.get("smsc_stops_after") is not None and answered >= plan["smsc_stops_after"]:
                    plan.setdefault("smsc_stopped_t", round(time.time(), 6))
                    continue
                answered += 1
                send(sock, log, "smsc", 0x80000015, seq)
            elif cmd == 0x6:
                if "smsc_stopped_t" not in plan:
                    send(sock, log, "smsc", 0x80000006, seq)
    sock.close()


def esme(plan, log):
    sock = socket.create_connection(("127.0.0.1", PORT))
    plan["client_port"] = sock.getsockname()[1]
    seq, buf = 1, b""
    send(sock, log, "esme", 0x9, seq, b"esme1\x00secret\x00\x00\x34\x00\x00\x00")
    while True:
        pdus, buf, _ = read_pdus(sock, buf, 2)
        if any(c == 0x80000009 for c, _, _ in pdus):
            break
    unanswered, sent = 0, 0
    while True:
        seq += 1
        send(sock, log, "esme", 0x15, seq)
        sent += 1
        deadline = time.time() + PERIOD
        got = False
        while time.time() < deadline:
            pdus, buf, _ = read_pdus(sock, buf, max(0.0, deadline - time.time()))
            got |= any(c == 0x80000015 and s == seq for c, s, _ in pdus)
        unanswered = 0 if got else unanswered + 1
        if unanswered == 2 or sent == plan.get("enquire_links", 10 ** 6):
            break
    seq += 1
    send(sock, log, "esme", 0x6, seq)
    plan["unbind_t"] = log[-1]["t"]
    pdus, buf, _ = read_pdus(sock, buf, 0.3)
    plan["client_close_t"] = round(time.time(), 6)
    sock.close()


SESSIONS = [dict(name="healthy", enquire_links=5), dict(name="stall", smsc_stops_after=3)]


def body():
    logs = loopcap.serve_sessions(PORT, SESSIONS, esme, smsc, gap_s=0.3)
    return {"scenario": "smpp-enquire-link", "server": f"127.0.0.1:{PORT}", "period_s": PERIOD,
            "sessions": [dict(p, pdus=sorted(logs[p["name"]], key=lambda x: x["t"]))
                         for p in SESSIONS]}


def facts(truth):
    out = []

    def fact(id_, check):
        out.append(loopcap.diagnose_fact(id_, check))

    by = {s["name"]: s for s in truth["sessions"]}
    s = by["stall"]
    links = [p for p in s["pdus"] if p["pdu"] == "enquire_link"]
    answered = {p["sequence_number"] for p in s["pdus"] if p["pdu"] == "enquire_link_resp"}
    run = 0
    for p in links:
        run = 0 if p["sequence_number"] in answered else run + 1
    waited = round(s["client_close_t"] - links[-1]["t"], 6)
    fact(f"stall: {run} enquire_links in a row unanswered, then the ESME unbound and closed",
         {"finding": "app_probe_unanswered", "conn": {"client_port": s["client_port"]},
          "count": 1,
          "where": {"protocol": "smpp", "probe": "enquire_link", "sender": "client",
                    "unanswered": run, "waited_s": [waited - 0.05, waited + 0.05],
                    "message": {"contains": "unbound"}}})
    fact("healthy: every enquire_link answered",
         {"no_finding": "app_probe_unanswered",
          "conn": {"client_port": by["healthy"]["client_port"]}})
    # The unbind that ends each session is no beat, though its 16 bytes differ from an
    # enquire_link's in the command id and the sequence number only.
    fact(f"stall: the ESME gave up after {run} unanswered enquire_links (its unbind is no probe)",
         {"finding": "heartbeat_gave_up", "conn": {"client_port": s["client_port"]},
          "count": 1, "where": {"by": "client", "unanswered": run, "close": "fin"}})
    for name in ("healthy", "stall"):
        sent = sum(1 for p in by[name]["pdus"] if p["pdu"] == "enquire_link")
        fact(f"{name}: the heartbeat is the {sent} enquire_links, not the unbind",
             {"heartbeat": {"client_port": by[name]["client_port"]},
              "where": {"sender": "client", "beats": sent, "period_s": [0.95, 1.05]}})
    return out


if __name__ == "__main__":
    loopcap.run(__file__, body, facts)
