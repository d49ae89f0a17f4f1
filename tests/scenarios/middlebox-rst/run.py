#!/usr/bin/env python3
"""middlebox-rst -- a middlebox injects an RST toward the client (run as root; ~15 s).

ks-mr-c client 10.77.40.2 --- ks-mr-m router/middlebox 10.77.40.1 | 10.77.41.1 --- ks-mr-s server 10.77.41.2:47040
All normal traffic is kernel TCP: the client sends a 1-byte heartbeat 0x01 every 1 s, the server
answers 0x41.  The middlebox watches the server->client direction with an AF_PACKET socket on its
client-facing interface; 0.3 s after the server's 5th reply it sends ONE forged segment with a raw
socket (IP_HDRINCL) -- the only hand-made packet in this scenario:
    10.77.41.2:47040 -> client, flags RST+ACK, seq = server's next seq (exactly rcv_nxt of the
    client, so the client kernel accepts it), ack = the client's next seq, window 0,
    IP TTL 64, IP ID 0xbeef, DF clear, no TCP options.
Genuine server packets arrive at the client with TTL 63 (one routed hop, server TTL 64), DF set
and TCP timestamps -- the forged RST differs in TTL (64 vs 63), DF, IP ID pattern and the missing
timestamp option.  The client's recv() fails with ECONNRESET; the app logs it and reconnects.
The server never sees the RST: its old socket stays ESTABLISHED.  At the end the server closes
it (FIN) and the client kernel, which has no such socket any more, answers with RST.
Captures: capture-client.pcapng (client veth) and capture-server.pcapng (server veth).
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
C, M, S = "ks-mr-c", "ks-mr-m", "ks-mr-s"
CA, MC, MS, SA, PORT = "10.77.40.2", "10.77.40.1", "10.77.41.1", "10.77.41.2", 47040
INJECT_AFTER_REPLY, INJECT_DELAY = 5, 0.3
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
    ksnet.veth(C, "ksmrc", M, "ksmrm1", [CA + "/24"], [MC + "/24"], offload=False)
    ksnet.veth(M, "ksmrm2", S, "ksmrs", [MS + "/24"], [SA + "/24"], offload=False)
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
        sniff.bind(("ksmrm1", 0))
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    stop = threading.Event()
    srv_socks, srv_events = [], []

    def serve(sc, peer):
        sc.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                b = sc.recv(1)
                if not b:
                    break
                sc.sendall(b"\x41")
        except OSError as e:
            srv_events.append({"t": r6(time.time()), "event": f"{peer}: {e!r}"})

    def server():
        ls.settimeout(0.2)
        while not stop.is_set():
            try:
                sc, peer = ls.accept()
            except socket.timeout:
                continue
            srv_socks.append(sc)
            srv_events.append({"t": r6(time.time()), "event": f"accepted {peer[0]}:{peer[1]}"})
            threading.Thread(target=serve, args=(sc, peer), daemon=True).start()

    injected = {}

    def middlebox():
        sniff.settimeout(0.2)
        replies = 0
        while not stop.is_set() and not injected:
            try:
                fr, addr = sniff.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] != socket.PACKET_OUTGOING or fr[12:14] != b"\x08\x00":
                continue
            ip = fr[14:]
            ihl = (ip[0] & 15) * 4
            if ip[9] != 6 or socket.inet_ntoa(ip[12:16]) != SA:
                continue
            tl = struct.unpack("!H", ip[2:4])[0]
            tcp = ip[ihl:tl]
            sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
            doff = (tcp[12] >> 4) * 4
            plen = len(tcp) - doff
            if sport != PORT or plen != 1:
                continue
            replies += 1
            if replies == INJECT_AFTER_REPLY:
                time.sleep(INJECT_DELAY)
                pkt = forge_rst(SA, CA, PORT, dport, (seq + 1) & 0xFFFFFFFF, ack)
                t = time.time()
                raw.sendto(pkt, (CA, 0))
                injected.update({"t": r6(t), "src": f"{SA}:{PORT}", "dst": f"{CA}:{dport}",
                                 "flags": "RST,ACK", "seq_raw": (seq + 1) & 0xFFFFFFFF, "ack_raw": ack,
                                 "window": 0, "ip_ttl": FORGED_TTL, "ip_id": FORGED_ID, "ip_df": False,
                                 "tcp_options": None, "after_server_reply_no": replies,
                                 "server_reply_seq_raw": seq})

    st = threading.Thread(target=server, daemon=True)
    st.start()
    caps = [ksnet.Capture(C, "ksmrc", os.path.join(HERE, "capture-client.pcapng")),
            ksnet.Capture(S, "ksmrs", os.path.join(HERE, "capture-server.pcapng"))]
    mt = threading.Thread(target=middlebox, daemon=True)
    mt.start()
    conns = []
    t_end = time.time() + 12
    reset_seen = None
    while time.time() < t_end:
        with ksnet.in_ns(C):
            s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(5)
        s.connect((SA, PORT))
        info = {"client_port": s.getsockname()[1], "connect_t": r6(time.time()), "beats": [], "end": None}
        conns.append(info)
        app.log("client", "info", f"connected to {SA}:{PORT} from port {info['client_port']}")
        try:
            while True:
                time.sleep(1.0)
                if time.time() >= t_end:
                    s.shutdown(socket.SHUT_WR)
                    info["end"] = {"kind": "fin", "t": r6(time.time()), "by": "client"}
                    try:
                        s.recv(1)
                    except OSError:
                        pass
                    s.close()
                    app.log("client", "info", "done, connection closed")
                    break
                ts = time.time()
                s.sendall(b"\x01")
                r = s.recv(1)
                if not r:
                    raise ConnectionResetError("EOF")
                info["beats"].append({"sent_t": r6(ts), "reply_t": r6(time.time())})
        except OSError as e:
            t = time.time()
            info["end"] = {"kind": "reset-received", "t": r6(t), "error": repr(e)}
            reset_seen = t
            app.log("client", "error", f"heartbeat failed: {e}", t)
            s.close()
            time.sleep(0.5)
            app.log("client", "info", "restart: reconnecting")
    time.sleep(0.3)
    t_srv_close = time.time()
    for sc in srv_socks:
        try:
            sc.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sc.close()
    time.sleep(1.0)
    stop.set()
    for cp in caps:
        cp.stop()
    truth = {
        "scenario": "middlebox-rst",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the captures); app.log UTC HH:MM:SS",
        "captures": {"capture-client.pcapng": "client veth ksmrc", "capture-server.pcapng": "server veth ksmrs"},
        "server": f"{SA}:{PORT}", "client_addr": CA, "middlebox": f"{MC} / {MS} (router, 1 hop)",
        "heartbeat_period_s": 1.0,
        "genuine_server_packets_at_client": {"ip_ttl": 63, "ip_df": True, "tcp_timestamps": True},
        "injected_rst": injected,
        "client_reset_error_t": r6(reset_seen),
        "server_saw_rst": False,
        "server_closes_old_sockets_t": r6(t_srv_close),
        "expected_after_server_close": "server FIN to the dead client port; client kernel answers RST",
        "connections": conns, "server_events": srv_events,
    }
    write_truth(os.path.join(HERE, "truth.json"), truth)
    app.write(os.path.join(HERE, "app.log"))
    print(injected, reset_seen)


if __name__ == "__main__":
    main()
