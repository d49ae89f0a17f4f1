#!/usr/bin/env python3
"""forged-rst-idle -- a stateful firewall forgets an idle connection and answers with RST (root; ~25 s).

Issue 15 class 8 (a forged RST after idle is one story) and 1 (log UTC+02:00, clock 1.2 s behind).
Client host 10.77.68.2 (ks-fi-c) -> firewall/router ks-fi-r (10.77.68.1 | 10.77.69.1) -> server
10.77.69.2:3306 (ks-fi-s).  The firewall is Linux netfilter as many appliances use it:
conntrack with `nf_conntrack_tcp_timeout_established=6` (time-scaled: an AWS NAT gateway forgets
after 350 s), `nf_conntrack_tcp_loose=0`, and `FORWARD -m conntrack --ctstate INVALID -p tcp
-j REJECT --reject-with tcp-reset`; the router's own packets leave with TTL 255
(`net.ipv4.ip_default_ttl=255`), the server's arrive with TTL 63.
  db-1 (client port A): 4 different queries (answered "OK n\\n") 0.3-0.7 s apart, then idle 8 s; the conntrack
        entry expires after 6 s; the next query is INVALID for the firewall, which answers it
        with a RST claiming to be the server (TTL 255).  The server never sees the query.  db-1
        logs the error and reconnects; the new connection works; it closes with FIN.
  db-2 (client port B): a 4-byte keep-alive query "PING" every 2 s throughout: never idle
        long enough to be forgotten; it closes with FIN.
The server closes its stale db-1 socket at the end (the firewall rejects that FIN too; it never
reaches the client).  Captures: client side (capture.pcapng); app.log: the client host's log,
`HH:MM:SS.mmm LEVEL who message`, UTC+02:00, its clock 1.2 s behind the capture.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
C, R, S = "ks-fi-c", "ks-fi-r", "ks-fi-s"
CA1, CA2, RC, RS, SA, PORT = "10.77.68.2", "10.77.68.3", "10.77.68.1", "10.77.69.1", "10.77.69.2", 3306
CT_TIMEOUT, IDLE_S, ROUTER_TTL = 6, 8.0, 255
# application queries: different texts, irregular pauses (no heartbeat pattern)
QUERIES = [(b"SELECT now();", 0.3), (b"SELECT * FROM jobs WHERE id = 7;", 0.7),
           (b"UPDATE jobs SET state = 'done' WHERE id = 7;", 0.4), (b"SELECT 42;", 0.0)]
AFTER_IDLE = b"SELECT id FROM jobs WHERE state = 'new';"
log = kit.ZonedLog(120, -1.2, "ms")
server_socks = []


def serve(ls, stop):
    ls.settimeout(0.2)

    def handle(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server_socks.append(c)
        try:
            while True:
                d = c.recv(64)
                if not d:
                    break
                c.sendall(b"PONG" if d == b"PING" else b"OK %d\n" % len(d))
        except OSError:
            pass
        c.close()
    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def query(s, q, n):
    t = time.time()
    s.sendall(q)
    got = b""
    while not got.endswith(b"\n") if n is None else len(got) < n:
        d = s.recv(16)
        if not d:
            raise ConnectionError("eof")
        got += d
    return {"sent_t": r6(t), "reply_t": r6(time.time())}


def db1(out):
    s = kit.connect(C, SA, PORT, src=CA1)
    port = s.getsockname()[1]
    log.log("db-1", "info", f"connected to {SA}:{PORT} from port {port}")
    conn = {"client_port": port, "queries": [], "end": None}
    out.append(conn)
    for q, pause in QUERIES:
        conn["queries"].append(query(s, q, None))
        time.sleep(pause)
    conn["last_exchange_t"] = conn["queries"][-1]["reply_t"]
    time.sleep(max(0.0, conn["last_exchange_t"] + IDLE_S - time.time()))
    t_q = time.time()
    conn["after_idle_query_t"] = r6(t_q)
    conn["idle_before_query_s"] = round(t_q - conn["last_exchange_t"], 6)
    try:
        s.sendall(AFTER_IDLE)
        s.recv(16)
        conn["end"] = {"kind": "answered"}
    except ConnectionResetError:
        t_err = time.time()
        log.log("db-1", "error", f"query failed after {t_q - conn['last_exchange_t']:.0f}s idle: "
                "connection reset by peer; reconnecting", t_err)
        conn["end"] = {"kind": "rst", "claimed_by": "server", "noticed_t": r6(t_err)}
    s.close()
    time.sleep(0.3)
    s = kit.connect(C, SA, PORT, src=CA1)
    conn2 = {"client_port": s.getsockname()[1], "queries": [], "end": None}
    out.append(conn2)
    log.log("db-1", "info", f"reconnected from port {conn2['client_port']}")
    for q, pause in QUERIES[:3]:
        conn2["queries"].append(query(s, q, None))
        time.sleep(pause)
    s.shutdown(socket.SHUT_WR)
    s.recv(16)
    s.close()
    conn2["end"] = {"kind": "fin", "by": "client"}


def db2(out, t_end):
    s = kit.connect(C, SA, PORT, src=CA2)
    conn = {"client_port": s.getsockname()[1], "queries": [], "end": None}
    out.append(conn)
    log.log("db-2", "info", f"connected to {SA}:{PORT} from port {conn['client_port']}")
    while time.time() + 2.0 < t_end:
        time.sleep(2.0)
        conn["queries"].append(query(s, b"PING", 4))
    s.shutdown(socket.SHUT_WR)
    s.recv(16)
    s.close()
    conn["end"] = {"kind": "fin", "by": "client"}


def main():
    for ns in (C, R, S):
        ksnet.add_ns(ns)
    ksnet.veth(C, "ksfic", R, "ksfirc", [CA1 + "/24", CA2 + "/24"], [RC + "/24"], offload=False)
    ksnet.veth(R, "ksfirs", S, "ksfis", [RS + "/24"], [SA + "/24"], offload=False)
    ksnet.nsx(C, f"ip route add default via {RC}")
    ksnet.nsx(S, f"ip route add default via {RS}")
    ksnet.nsx(R, "sysctl -qw net.ipv4.ip_forward=1")
    ksnet.nsx(R, f"sysctl -qw net.ipv4.ip_default_ttl={ROUTER_TTL}")
    ksnet.nsx(R, "iptables -A FORWARD -p tcp -m conntrack --ctstate INVALID -j REJECT --reject-with tcp-reset")
    ksnet.nsx(R, f"sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established={CT_TIMEOUT}")
    ksnet.nsx(R, "sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0")
    fw = {k: int(ksnet.nsx(R, f"sysctl -n {k}")) for k in (
        "net.netfilter.nf_conntrack_tcp_timeout_established", "net.netfilter.nf_conntrack_tcp_loose",
        "net.ipv4.ip_default_ttl")}
    fw["rule"] = "FORWARD -p tcp -m conntrack --ctstate INVALID -j REJECT --reject-with tcp-reset"
    ls = kit.listener(S, SA, PORT)
    stop = threading.Event()
    threading.Thread(target=serve, args=(ls, stop), daemon=True).start()
    cap = ksnet.Capture(C, "ksfic", os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    o1, o2 = [], []
    ths = [threading.Thread(target=db1, args=(o1,)), threading.Thread(target=db2, args=(o2, t0 + 16.0))]
    for th in ths:
        th.start()
        time.sleep(0.4)
    for th in ths:
        th.join(timeout=40)
    time.sleep(0.3)
    stop.set()
    for sk in server_socks:      # the server finally closes its stale socket too
        sk.close()
    time.sleep(0.5)
    cap.stop()
    lines = log.write(os.path.join(HERE, "app.log"))

    c1, c1b, c2 = o1[0], o1[1], o2[0]
    assert c1["end"]["kind"] == "rst", c1
    idle = c1["idle_before_query_s"]
    l_err = log.line_no(lines, "query failed")
    cap_ = "capture.pcapng"
    diag = {"capture": cap_, "command": "diagnose", "args": ["--log", "app.log"]}
    sel1 = {"client_port": c1["client_port"]}
    facts = [
        dict(diag, id=f"db-1's RST after {idle:.1f} s idle came from a box that forgot the connection",
             check={"finding": "middlebox_idle_reset", "conn": sel1,
                    "where": {"idle_s": [idle - 0.3, idle + 0.3], "ttl": ROUTER_TTL,
                              "usual_ttl_min": 63, "usual_ttl_max": 63, "by": "server"}, "count": 1}),
        dict(diag, id="db-1's queries are no heartbeat (different texts, irregular pauses)",
             check={"heartbeat": sel1, "none": True}),
        dict(diag, id="db-1's idle gap is not a late beat",
             check={"no_finding": "late_heartbeat", "conn": sel1}),
        dict(diag, id="no half-open story for db-1: the server never dropped the connection",
             check={"no_finding": "connection_reset", "conn": sel1, "where": {"half_open": True}}),
        dict(diag, id="the summary blames a middlebox for one connection",
             check={"cause": "middlebox_idle_reset", "by": "middlebox", "conn": sel1, "count": 1}),
        dict(diag, id="the summary does not blame the server for db-1's reset",
             check={"no_cause": "connection_reset", "by": "server"}),
        dict(diag, id="db-2, busy every 2 s, was not forgotten",
             check={"no_finding": "middlebox_idle_reset", "conn": {"client_port": c2["client_port"]}}),
        dict(diag, id="db-1's reconnection was not reset",
             check={"no_finding": "middlebox_idle_reset", "conn": {"client_port": c1b["client_port"]}}),
        dict(diag, id="the log reads like UTC+02:00, its clock ~1.2 s behind",
             check={"log": {"zone": "+02:00", "zone_from": "search", "clock_offset_s": [0.9, 1.5]}}),
        dict(diag, id=f"line {l_err} (query failed, reset by peer) means db-1's reset",
             check={"log_line": l_err, "conn": sel1,
                    "kinds_any": ["middlebox_idle_reset", "injected_reset", "connection_reset"]}),
    ]
    truth = {
        "scenario": "forged-rst-idle",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the client veth ksfic)",
        "server": f"{SA}:{PORT}", "firewall": fw,
        "production_equivalent": {"middlebox": "AWS NAT gateway", "idle_timeout_s": 350},
        "rst_ttl_at_client": ROUTER_TTL, "server_ttl_at_client": 63,
        "log": log.truth(), "log_lines": {"query_failed": l_err},
        "db1": o1, "db2": o2,
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("db-1", c1["client_port"], "idle", idle, "db-2", c2["client_port"])


if __name__ == "__main__":
    main()
