#!/usr/bin/env python3
"""gave-up-rst -- an MQTT-style client aborts (RST) after 3 unanswered PINGREQs (root; ~25 s).

Issue 15 classes 6 (giving up, by RST this time) and 1 (log in UTC, its clock 4 s ahead).
Three devices (dev-1..3, 10.77.65.11-13, ks-gr-c) connect to a broker at 10.77.65.1:1883
(ks-gr-s): CONNECT (keep alive 2 s) -> CONNACK 20 02 00 00, then the 2-byte PINGREQ c0 00 every
2 s (production: MQTT's usual 60 s), answered by PINGRESP d0 00.
After dev-2's 3rd PINGRESP the broker stops answering dev-2's session (it still reads; TCP
ACKs).  dev-2 waits one keep-alive period per PINGREQ; when the 3rd in a row is unanswered it
logs "giving up", closes abortively (SO_LINGER 0 -> RST) and reconnects 0.5 s later (the broker
answers the new session).  dev-1 and dev-3 are healthy; everyone closes with FIN at the end.
app.log: `[HH:MM:SS] [level] (who) message`, UTC, no zone, the device host's clock 4 s ahead.
Capture: server (broker) side.
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
SA, PORT = "10.77.65.1", 1883
PERIOD, RUN_S, GIVE_UP = 2.0, 22.0, 3
PINGREQ, PINGRESP, CONNACK = b"\xc0\x00", b"\xd0\x00", b"\x20\x02\x00\x00"
DEVICES = [("dev-1", "10.77.65.11"), ("dev-2", "10.77.65.12"), ("dev-3", "10.77.65.13")]
log = kit.ZonedLog(0, 4.0, "bracket")
mute = set()          # (addr, port) of sessions the broker stopped answering
lock = threading.Lock()


def connect_packet(client_id):
    vh = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", int(PERIOD))
    payload = struct.pack("!H", len(client_id)) + client_id
    return b"\x10" + bytes([len(vh) + len(payload)]) + vh + payload


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise ConnectionError("eof")
        b += d
    return b


def broker(ls, stop):
    ls.settimeout(0.2)
    socks = []

    def session(c, peer):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pings = 0
        try:
            while True:
                hdr = recv_exact(c, 2)
                body = recv_exact(c, hdr[1]) if hdr[1] else b""
                if hdr[0] == 0x10:
                    c.sendall(CONNACK)
                elif hdr[0] == 0xC0:
                    pings += 1
                    with lock:
                        if peer[0] == DEVICES[1][1] and pings == 3 and not mute:
                            mute.add(peer)
                        muted = peer in mute
                    if muted and pings > 3:
                        continue
                    c.sendall(PINGRESP)
                del body
        except (OSError, ConnectionError):
            pass
        stop.wait()
        c.close()
    while not stop.is_set():
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        socks.append(c)
        threading.Thread(target=session, args=(c, peer), daemon=True).start()


def device(ns, name, addr, t_end, out):
    first = True
    while True:
        s = kit.connect(ns, SA, PORT, src=addr)
        t_conn = time.time()
        port = s.getsockname()[1]
        s.sendall(connect_packet(name.encode()))
        assert recv_exact(s, 4) == CONNACK
        log.log(name, "info", f"{'connected' if first else 'reconnected'} to broker {SA}:{PORT} (client port {port})", t_conn)
        conn = {"client_port": port, "connect_t": r6(t_conn), "pings": [], "end": None}
        out.append(conn)
        misses, k = 0, 0
        while True:
            k += 1
            due = t_conn + k * PERIOD
            if due > t_end:
                time.sleep(max(0.0, t_end - time.time()))
                s.shutdown(socket.SHUT_WR)
                conn["end"] = {"kind": "fin", "by": "client", "t": r6(time.time())}
                try:
                    s.settimeout(2)
                    s.recv(8)
                except OSError:
                    pass
                s.close()
                return
            time.sleep(max(0.0, due - time.time()))
            if misses >= GIVE_UP:
                t_close = time.time()
                log.log(name, "error", f"giving up: {misses} PINGREQ without PINGRESP, aborting connection", t_close)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                conn["end"] = {"kind": "rst", "by": "client", "t": r6(t_close), "unanswered": misses}
                time.sleep(0.5)
                first = False
                break
            t_sent = time.time()
            s.sendall(PINGREQ)
            ping = {"k": k, "sent_t": r6(t_sent), "reply_t": None}
            conn["pings"].append(ping)
            s.settimeout(PERIOD - 0.05)
            try:
                recv_exact(s, 2)
                ping["reply_t"] = r6(time.time())
                misses = 0
            except socket.timeout:
                misses += 1


def main():
    c, s, _cif, sif = kit.pair("gr", [a for _n, a in DEVICES], [SA])
    ls = kit.listener(s, SA, PORT)
    stop = threading.Event()
    threading.Thread(target=broker, args=(ls, stop), daemon=True).start()
    cap = ksnet.Capture(s, sif, os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    res, ths = {}, []
    for i, (name, addr) in enumerate(DEVICES):
        res[name] = []
        th = threading.Thread(target=device, args=(c, name, addr, t0 + RUN_S, res[name]))
        th.start()
        ths.append(th)
        time.sleep(0.6)
    for th in ths:
        th.join(timeout=RUN_S + 15)
    time.sleep(0.2)
    stop.set()
    time.sleep(0.5)
    cap.stop()
    lines = log.write(os.path.join(HERE, "app.log"))

    d1, d2, d3 = res["dev-1"][0], res["dev-2"][0], res["dev-2"][1:]
    assert d2["end"]["kind"] == "rst" and d2["end"]["unanswered"] == GIVE_UP and d3
    p1, p2, p2b, p3 = d1["client_port"], d2["client_port"], res["dev-2"][1]["client_port"], res["dev-3"][0]["client_port"]
    l_give = log.line_no(lines, "giving up")
    l_reconn = log.line_no(lines, f"(client port {p2b})")
    cap_ = "capture.pcapng"
    diag = {"capture": cap_, "command": "diagnose", "args": ["--log", "app.log"]}
    facts = [
        dict(diag, id="dev-1's heartbeat: the client's PINGREQ c000 every 2 s, PINGRESP d000",
             check={"heartbeat": {"client_port": p1},
                    "where": {"sender": "client", "probe_hex": PINGREQ.hex(), "reply_hex": PINGRESP.hex(),
                              "period_s": [1.9, 2.1]}}),
        dict(diag, id="dev-2 gave up with RST after 3 unanswered PINGREQs",
             check={"finding": "heartbeat_gave_up", "conn": {"client_port": p2},
                    "where": {"by": "client", "close": "rst", "unanswered": GIVE_UP,
                              "frames": {"len": GIVE_UP + 1}}, "count": 1}),
        dict(diag, id="dev-2's first connection was reset by the client",
             check={"close": {"client_port": p2}, "where": {"kind": "rst", "by": "client"}}),
        dict(diag, id="the summary blames the client's giving up for one connection",
             check={"cause": "heartbeat_gave_up", "by": "client", "conn": {"client_port": p2}, "count": 1}),
        dict(diag, id="the server reset nothing", check={"no_finding": "connection_reset", "where": {"by": "server"}}),
        dict(diag, id="dev-2 was not late: its reset is not blamed on a late probe",
             check={"no_finding": "reset_after_heartbeat_deadline", "where": {"cause": "late_probe"}}),
        dict(diag, id="no device is ever late", check={"no_finding": "late_heartbeat"}),
        dict(diag, id="dev-1 did not give up", check={"no_finding": "heartbeat_gave_up", "conn": {"client_port": p1}}),
        dict(diag, id="dev-3 did not give up", check={"no_finding": "heartbeat_gave_up", "conn": {"client_port": p3}}),
        dict(diag, id="dev-2's new session is answered",
             check={"no_finding": "unanswered_heartbeat", "conn": {"client_port": p2b}}),
        dict(diag, id="the log reads like UTC, its clock ~4 s ahead",
             check={"log": {"zone": "+00:00", "zone_from": "search", "clock_offset_s": [-5.0, -2.75]}}),
        dict(diag, id=f"line {l_give} (giving up) means dev-2's first connection",
             check={"log_line": l_give, "conn": {"client_port": p2}, "kinds_any": ["heartbeat_gave_up"]}),
        dict(diag, id=f"line {l_reconn} names client port {p2b}: it is not about dev-2's first connection",
             check={"no_finding": "log_match", "conn": {"client_port": p2}, "where": {"line": l_reconn}}),
    ]
    truth = {
        "scenario": "gave-up-rst",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the broker veth ksgrs)",
        "server": f"{SA}:{PORT}", "period_s": PERIOD, "production_equivalent": {"period_s": 60},
        "heartbeat_request": PINGREQ.hex(), "heartbeat_reply": PINGRESP.hex(),
        "client_gives_up_after_unanswered": GIVE_UP,
        "log": log.truth(), "log_lines": {"giving_up": l_give, "reconnected": l_reconn},
        "devices": res,
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("ports", p1, p2, p2b, p3)


if __name__ == "__main__":
    main()
