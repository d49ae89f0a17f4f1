#!/usr/bin/env python3
"""middlebox-idle-rst -- a stateful box forgets an idle connection and answers the next packet
with a RST in the server's name (what an AWS NAT gateway does after 350 s; here after a few
seconds).  Run as root; ~15 s.

ks-ir-c client 10.77.70.2 --- ks-ir-m router/box 10.77.70.1 | 10.77.71.1 --- ks-ir-s server 10.77.71.2:47070
All normal traffic is kernel TCP.  The client sends the text heartbeat "PING\\n" every 1.5 s, the
server answers "PONG\\n"; after the 5th answer the client stays silent for IDLE_S = 4.5 s, then
sends "GET state\\n".  Just before that, the box "forgets" the connection: the driver inserts an
iptables FORWARD DROP for the client's port (the packet never reaches the server), and the box's
sniffer, on seeing the client's first packet after the gap, sends ONE forged segment through a
raw socket (the only hand-made packet):
    10.77.71.2:47070 -> client, RST+ACK, seq = the server's next seq, ack = client's seq + len,
    window 0, IP TTL 64, IP ID 0xbeef, DF clear, no TCP options,
whereas genuine server packets reach the client with TTL 63 (one routed hop).  The client's
recv() fails with ECONNRESET; it logs, reconnects (new port, not dropped), beats twice and
closes.  The server never sees the RST.  Capture on the client veth.
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import AppLog, ksnet, r6, write_truth  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
C, M, S = "ks-ir-c", "ks-ir-m", "ks-ir-s"
CA, MC, MS, SA, PORT = "10.77.70.2", "10.77.70.1", "10.77.71.1", "10.77.71.2", 47070
PERIOD_S, BEATS, IDLE_S = 1.5, 5, 4.5
FORGED_TTL, FORGED_ID = 64, 0xBEEF
app = AppLog()


def csum(b):
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def forge_rst(src, dst, sport, dport, seq, ack):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, 0x14, 0, 0, 0)  # RST+ACK, win 0
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), FORGED_ID, 0, FORGED_TTL, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def main():
    for n in (C, M, S):
        ksnet.add_ns(n)
    ksnet.veth(C, "ksirc", M, "ksirm1", [CA + "/24"], [MC + "/24"], offload=False)
    ksnet.veth(M, "ksirm2", S, "ksirs", [MS + "/24"], [SA + "/24"], offload=False)
    ksnet.nsx(C, f"ip route add default via {MC}")
    ksnet.nsx(S, f"ip route add default via {MS}")
    ksnet.nsx(M, "sysctl -qw net.ipv4.ip_forward=1")
    with ksnet.in_ns(S):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((SA, PORT))
        ls.listen(4)
    with ksnet.in_ns(M):
        sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        sniff.bind(("ksirm1", 0))
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    stop = threading.Event()
    srv_socks = []

    def serve(sc):
        sc.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = sc.makefile("rb")
        try:
            for line in f:
                sc.sendall(b"PONG\n" if line == b"PING\n" else b"STATE ok\n")
            sc.shutdown(socket.SHUT_WR)  # the client closed: close too
        except OSError:
            pass

    def server():
        ls.settimeout(0.2)
        while not stop.is_set():
            try:
                sc, _ = ls.accept()
            except socket.timeout:
                continue
            srv_socks.append(sc)
            threading.Thread(target=serve, args=(sc,), daemon=True).start()

    armed = {}       # client port to watch, set by the client right before its packet
    injected = {}
    server_next = {}  # client port -> the server's next sequence number, as seen on the box

    def box():
        sniff.settimeout(0.2)
        while not stop.is_set() and not injected:
            try:
                fr, addr = sniff.recvfrom(65535)
            except socket.timeout:
                continue
            if fr[12:14] != b"\x08\x00":
                continue
            ip = fr[14:]
            ihl = (ip[0] & 15) * 4
            if ip[9] != 6:
                continue
            tl = struct.unpack("!H", ip[2:4])[0]
            tcp = ip[ihl:tl]
            sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
            flags = tcp[13]
            plen = len(tcp) - (tcp[12] >> 4) * 4
            src = socket.inet_ntoa(ip[12:16])
            if addr[2] == socket.PACKET_OUTGOING and src == SA and sport == PORT:
                server_next[dport] = (seq + plen + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF
            elif addr[2] != socket.PACKET_OUTGOING and src == CA and plen > 0 \
                    and armed.get("port") == sport:
                pkt = forge_rst(SA, CA, PORT, sport, server_next[sport], (seq + plen) & 0xFFFFFFFF)
                t = time.time()
                raw.sendto(pkt, (CA, 0))
                injected.update({"t": r6(t), "src": f"{SA}:{PORT}", "dst": f"{CA}:{sport}",
                                 "flags": "RST,ACK", "seq_raw": server_next[sport],
                                 "ack_raw": (seq + plen) & 0xFFFFFFFF, "window": 0,
                                 "ip_ttl": FORGED_TTL, "ip_id": FORGED_ID, "ip_df": False,
                                 "tcp_options": None, "answers_client_packet_seq_raw": seq})

    threading.Thread(target=server, daemon=True).start()
    cap = ksnet.Capture(C, "ksirc", os.path.join(HERE, "capture.pcapng"))
    threading.Thread(target=box, daemon=True).start()

    def connect():
        with ksnet.in_ns(C):
            s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(5)
        s.connect((SA, PORT))
        port = s.getsockname()[1]
        app.log("client", "info", f"connected to {SA}:{PORT} from port {port}")
        return s, port

    def beat(s, info):
        t = time.time()
        s.sendall(b"PING\n")
        r = s.recv(64)
        info["beats"].append({"sent_t": r6(t), "reply_t": r6(time.time()), "reply": r.decode()})
        return time.time()

    s, port = connect()
    first = {"client_port": port, "beats": []}
    for i in range(BEATS):
        if i:
            time.sleep(PERIOD_S)
        last_reply_t = beat(s, first)
    # The box forgets the connection during the silence.
    time.sleep(IDLE_S / 2)
    forgot_t = time.time()
    ksnet.nsx(M, f"iptables -I FORWARD -p tcp -s {CA} --sport {port} -j DROP")
    armed["port"] = port
    time.sleep(last_reply_t + IDLE_S - time.time())
    sent_t = time.time()
    s.sendall(b"GET state\n")
    try:
        s.recv(64)
        outcome = "answered"
    except OSError as e:
        outcome = repr(e)
        err_t = time.time()
        app.log("client", "error", f"conn port {port}: request after idle failed: {e}", err_t)
    s.close()
    first.update({"idle_s": round(sent_t - last_reply_t, 6), "last_reply_t": r6(last_reply_t),
                  "request_after_idle_sent_t": r6(sent_t), "outcome": outcome})
    time.sleep(0.5)
    app.log("client", "info", "restart: reconnecting")
    s, port2 = connect()
    second = {"client_port": port2, "beats": []}
    for i in range(2):
        if i:
            time.sleep(PERIOD_S)
        beat(s, second)
    s.shutdown(socket.SHUT_WR)
    s.recv(64)
    s.close()
    app.log("client", "info", "done, connection closed")
    time.sleep(0.5)
    stop.set()
    cap.stop()
    for sc in srv_socks:
        sc.close()
    assert injected, "the box never forged its reset"
    assert "ConnectionReset" in outcome, outcome

    sel = {"client_port": port}
    idle = first["idle_s"]
    facts = [
        {"id": "the RST after the idle gap is a middlebox's, with the TTLs and the gap",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"finding": "middlebox_idle_reset", "conn": sel, "count": 1,
                   "where": {"by": "server", "ttl": FORGED_TTL, "usual_ttl_min": 63,
                             "usual_ttl_max": 63,
                             "idle_s": [round(idle - 0.2, 3), round(idle + 0.05, 3)]}}},
        {"id": "a user's box with a 3 s timeout fits the gap",
         "capture": "capture.pcapng", "command": "diagnose",
         "args": ["--middlebox", "lab-nat=3"],
         "check": {"finding": "middlebox_idle_reset", "conn": sel,
                   "where": {"middleboxes": {"contains": "lab-nat"}}}},
        {"id": "no default box has a timeout of a few seconds",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"finding": "middlebox_idle_reset", "conn": sel,
                   "where": {"middleboxes": {"len": 0}}}},
        {"id": "one story: not also a plain injected reset",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"no_finding": "injected_reset", "conn": sel}},
        {"id": "the server never had a half-open connection",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"no_finding": "connection_reset", "conn": sel, "where": {"half_open": True}}},
        {"id": "the reconnected connection is fine",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"no_finding": "middlebox_idle_reset", "conn": {"client_port": port2}}},
        {"id": "the heartbeat is the client's text PING",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"heartbeat": sel, "where": {"sender": "client", "probe_hex": "50494e470a"}}},
    ]
    truth = {
        "scenario": "middlebox-idle-rst",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture); app.log UTC HH:MM:SS",
        "captures": {"capture.pcapng": "client veth ksirc"},
        "server": f"{SA}:{PORT}", "client_addr": CA, "middlebox": f"{MC} / {MS} (router, 1 hop)",
        "heartbeat": {"probe": "PING\\n", "reply": "PONG\\n", "period_s": PERIOD_S, "beats": BEATS},
        "genuine_server_packets_at_client": {"ip_ttl": 63},
        "box_forgot_connection_t": r6(forgot_t),
        "injected_rst": injected,
        "connections": [first, second],
        "facts": facts,
    }
    write_truth(os.path.join(HERE, "truth.json"), truth)
    app.write(os.path.join(HERE, "app.log"))
    print(injected, outcome, idle)


if __name__ == "__main__":
    main()
