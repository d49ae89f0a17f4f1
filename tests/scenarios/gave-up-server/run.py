#!/usr/bin/env python3
"""gave-up-server -- a WebSocket-style server resets a client after 3 unanswered pings (root; ~22 s).

Issue 15 classes 6 (giving up: the heartbeat sender is the server, the close a RST), 7 (the
reset is the server's, not a client's) and 1 (server log in UTC+09:00, its clock 2 s behind).
Four clients (client-1..4, 10.77.66.11-14, ks-gs-c) hold connections to 10.77.66.1:8765
(ks-gs-s).  The server sends an unmasked WebSocket ping frame 89 0e "keepalive-ping" (16 bytes)
every 1 s (production 10 s) on each connection; clients answer with a masked pong (8a 8e, a fresh
4-byte mask, the 14 masked bytes: 20 bytes).
client-3's event loop blocks after its 4th pong: it stops reading (TCP still ACKs).  The server
counts pings without a pong; at the tick after the 3rd unanswered ping it logs
"terminating ... 3 pings without pong" and closes abortively (SO_LINGER 0 -> RST).  client-3
wakes 2 s later, finds the connection reset and reconnects.  Everybody else is healthy; at the
end the clients close with FIN.
app.log: the server's log, `YYYY-MM-DD HH:MM:SS [LEVEL] who: message`, UTC+09:00 local time, its
clock 2 s behind the capture.  Capture: client side.
"""
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SA, PORT = "10.77.66.1", 8765
PERIOD, RUN_S, GIVE_UP, FREEZE_AFTER = 1.0, 18.0, 3, 4
PAYLOAD = b"keepalive-ping"
PING = b"\x89" + bytes([len(PAYLOAD)]) + PAYLOAD
CLIENTS = [(f"client-{i}", f"10.77.66.{10 + i}") for i in (1, 2, 3, 4)]
log = kit.ZonedLog(540, -2.0, "iso")
server_conns = []     # truth per server-side connection


def pong():
    mask = os.urandom(4)
    return b"\x8a" + bytes([0x80 | len(PAYLOAD)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(PAYLOAD))


def server_conn(c, peer, t_end, stop):
    """Pings every PERIOD and reads pongs in between, in one thread (select), so that a close
    takes effect at once (a recv blocked in another thread would hold the socket open).  Pings
    until the client closes."""
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rec = {"peer": f"{peer[0]}:{peer[1]}", "pings": [], "end": None}
    server_conns.append(rec)
    pongs, buf, eof = 0, b"", False
    t_start, k = time.time(), 0
    while True:
        k += 1
        due = t_start + k * PERIOD
        if stop.is_set() or eof:
            break
        while not eof and time.time() < due:
            r, _w, _x = select.select([c], [], [], max(0.0, due - time.time()))
            if r:
                d = c.recv(64)
                if not d:
                    eof = True
                    break
                buf += d
                while len(buf) >= 20:
                    buf = buf[20:]
                    pongs += 1
                    if pongs <= len(rec["pings"]):
                        rec["pings"][pongs - 1]["pong_t"] = r6(time.time())
        if eof:
            break
        missing = len(rec["pings"]) - pongs
        if missing >= GIVE_UP:
            t_rst = time.time()
            log.log("ws-server", "error", f"terminating {peer[0]}:{peer[1]}: {missing} pings without pong", t_rst)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            rec["end"] = {"kind": "rst", "by": "server", "t": r6(t_rst), "unanswered": missing}
            return
        t_ping = time.time()
        try:
            c.sendall(PING)
        except OSError:
            break
        rec["pings"].append({"k": k, "sent_t": r6(t_ping), "pong_t": None})
    c.close()      # the client closed first (end of the run): FIN back


def serve(ls, t_end, stop):
    ls.settimeout(0.2)
    while not stop.is_set():
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        log.log("ws-server", "info", f"accepted {peer[0]}:{peer[1]}")
        threading.Thread(target=server_conn, args=(c, peer, t_end, stop), daemon=True).start()


def client(ns, name, addr, t_end, out):
    freeze = name == "client-3"
    while True:
        s = kit.connect(ns, SA, PORT, src=addr)
        conn = {"client_port": s.getsockname()[1], "connect_t": r6(time.time()), "pongs": 0, "end": None}
        out.append(conn)
        s.settimeout(0.2)
        buf = b""
        while time.time() < t_end:
            if freeze and conn["pongs"] == FREEZE_AFTER and "frozen_t" not in conn:
                conn["frozen_t"] = r6(time.time())
                time.sleep(GIVE_UP * PERIOD + PERIOD + 2.0)     # the event loop is blocked
                conn["woke_t"] = r6(time.time())
            try:
                d = s.recv(64)
            except socket.timeout:
                continue
            except ConnectionResetError:
                conn["end"] = {"kind": "rst", "by": "server", "noticed_t": r6(time.time())}
                freeze = False
                break
            if not d:
                conn["end"] = {"kind": "fin", "by": "server", "noticed_t": r6(time.time())}
                break
            buf += d
            try:
                while len(buf) >= len(PING):
                    buf = buf[len(PING):]
                    s.sendall(pong())
                    conn["pongs"] += 1
            except OSError:      # the reset arrived behind pings still unread
                conn["end"] = {"kind": "rst", "by": "server", "noticed_t": r6(time.time())}
                freeze = False
                break
        else:
            s.shutdown(socket.SHUT_WR)
            conn["end"] = {"kind": "fin", "by": "client", "t": r6(time.time())}
            try:
                s.settimeout(2)
                while s.recv(64):
                    pass
            except OSError:
                pass
            s.close()
            return
        s.close()


def main():
    c, s, cif, _sif = kit.pair("gs", [a for _n, a in CLIENTS], [SA])
    ls = kit.listener(s, SA, PORT)
    stop = threading.Event()
    t0 = time.time() + 1.0
    threading.Thread(target=serve, args=(ls, t0 + RUN_S - 0.3, stop), daemon=True).start()
    cap = ksnet.Capture(c, cif, os.path.join(HERE, "capture.pcapng"))
    res, ths = {}, []
    for i, (name, addr) in enumerate(CLIENTS):
        res[name] = []
        th = threading.Thread(target=client, args=(c, name, addr, t0 + RUN_S, res[name]))
        th.start()
        ths.append(th)
        time.sleep(0.25)
    for th in ths:
        th.join(timeout=RUN_S + 20)
    stop.set()
    time.sleep(0.5)
    cap.stop()
    lines = log.write(os.path.join(HERE, "app.log"))

    ports = {n: [x["client_port"] for x in v] for n, v in res.items()}
    c3 = res["client-3"][0]
    assert c3["end"]["kind"] == "rst" and len(res["client-3"]) == 2, res["client-3"]
    dead = [r for r in server_conns if r["end"]][0]
    assert dead["end"]["unanswered"] == GIVE_UP and dead["peer"].endswith(f":{c3['client_port']}")
    l_term = log.line_no(lines, "terminating")
    p1, p3 = ports["client-1"][0], c3["client_port"]
    cap_ = "capture.pcapng"
    diag = {"capture": cap_, "command": "diagnose", "args": ["--log", "app.log"]}
    facts = [
        dict(diag, id="client-1's heartbeat is the server's 16-byte ping every 1 s",
             check={"heartbeat": {"client_port": p1},
                    "where": {"sender": "server", "probe_len": len(PING),
                              "probe_hex": {"matches": "^" + PING[:8].hex()}, "period_s": [0.95, 1.05]}}),
        dict(diag, id="the server gave up on client-3 with RST after 3 unanswered pings",
             check={"finding": "heartbeat_gave_up", "conn": {"client_port": p3},
                    "where": {"by": "server", "close": "rst", "unanswered": GIVE_UP,
                              "frames": {"len": GIVE_UP + 1}}, "count": 1}),
        dict(diag, id="client-3's connection was reset by the server",
             check={"close": {"client_port": p3}, "where": {"kind": "rst", "by": "server"}}),
        dict(diag, id="the summary blames the server's giving up, once",
             check={"cause": "heartbeat_gave_up", "by": "server", "conn": {"client_port": p3}, "count": 1}),
        dict(diag, id="no client reset anything (the RST is the server's)",
             check={"no_finding": "connection_reset", "where": {"by": "client"}}),
        dict(diag, id="no client reset is counted in the summary",
             check={"no_cause": "connection_reset", "by": "client"}),
        dict(diag, id="client-1 was not given up on", check={"no_finding": "heartbeat_gave_up", "conn": {"client_port": p1}}),
        dict(diag, id="client-2 was not given up on",
             check={"no_finding": "heartbeat_gave_up", "conn": {"client_port": ports["client-2"][0]}}),
        dict(diag, id="client-4 was not given up on",
             check={"no_finding": "heartbeat_gave_up", "conn": {"client_port": ports["client-4"][0]}}),
        dict(diag, id="the server's log reads like UTC+09:00, its clock ~2 s behind",
             check={"log": {"zone": "+09:00", "zone_from": "search", "clock_offset_s": [1.0, 3.25]}}),
        dict(diag, id=f"line {l_term} (terminating, names client-3's address:port) means client-3's connection",
             check={"log_line": l_term, "conn": {"client_port": p3}, "kinds_any": ["heartbeat_gave_up"]}),
    ]
    truth = {
        "scenario": "gave-up-server",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the client veth ksgsc)",
        "server": f"{SA}:{PORT}", "period_s": PERIOD, "production_equivalent": {"period_s": 10},
        "heartbeat_request": PING.hex(), "heartbeat_reply": "8a8e + 4-byte mask + 14 masked bytes",
        "server_gives_up_after_unanswered": GIVE_UP,
        "log": log.truth(), "log_lines": {"terminating": l_term},
        "clients": res, "server_connections": server_conns,
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("ports", ports)


if __name__ == "__main__":
    main()
