#!/usr/bin/env python3
"""heartbeat.py -- A1: 1-byte application heartbeats over real kernel TCP (run as root).

Namespaces ks-hb-c (10.77.1.1) and ks-hb-s (10.77.1.2) joined by a veth pair; dumpcap captures
on the client's veth (Ethernet).  Server port 47001 (no tshark dissector).

connection 1: client sends 0x01 every ~1 s, server answers 0x41.  Before beat 4 an iptables
  rule in the server namespace drops exactly one client->server 1-byte segment (statistic nth,
  --every 1000 --packet 0, i.e. the first match only); the client kernel retransmits it (RTO/TLP),
  which tshark flags [TCP Keep-Alive] (a 1-byte segment at nextseq-1).  After beat 7 the client
  closes with SO_LINGER {1,0} -> RST.
connection 2: 3 beats, then graceful close (client FIN, server FIN).

Usage: heartbeat.py [OUT.pcap]   (default ../heartbeat.pcap, classic pcap, microseconds)
Also writes heartbeat.log (events with the script's own clock) next to OUT.
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ksnet  # noqa: E402

C, S = "ks-hb-c", "ks-hb-s"
CA, SA, PORT = "10.77.1.1", "10.77.1.2", 47001
log = []


def ev(msg):
    t = time.time()
    log.append(f"{t:.6f} {msg}")


def server(lsock, stop):
    lsock.settimeout(0.5)
    while not stop.is_set():
        try:
            conn, _ = lsock.accept()
        except socket.timeout:
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(20)
        try:
            while True:
                b = conn.recv(1)
                if not b:
                    ev("server: EOF -> close (FIN)")
                    break
                conn.sendall(b"\x41")
        except (ConnectionResetError, socket.timeout) as e:
            ev(f"server: {e!r}")
        conn.close()


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ksnet.CORPUS, "heartbeat.pcap"))
    ksnet.add_ns(C)
    ksnet.add_ns(S)
    ksnet.veth(C, "kshbc", S, "kshbs", [CA + "/24"], [SA + "/24"])
    with ksnet.in_ns(S):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((SA, PORT))
        ls.listen(4)
    stop = threading.Event()
    th = threading.Thread(target=server, args=(ls, stop), daemon=True)
    th.start()
    cap = ksnet.Capture(C, "kshbc", out, fmt="pcap")

    # ---- connection 1: heartbeats, one dropped, RST close
    with ksnet.in_ns(C):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.settimeout(5)
    c.connect((SA, PORT))
    ev(f"conn1 connected from port {c.getsockname()[1]}")
    for k in range(1, 8):
        time.sleep(1.0)
        if k == 4:
            ksnet.nsx(S, f"iptables -A INPUT -p tcp --dport {PORT} -m length --length 53 "
                         f"-m statistic --mode nth --every 1000 --packet 0 -j DROP")
            ev("drop rule installed (first 1-byte client segment only)")
        c.sendall(b"\x01")
        ev(f"conn1 beat {k} sent")
        r = c.recv(1)
        ev(f"conn1 beat {k} reply {r.hex()}")
        if k == 4:
            ksnet.nsx(S, "iptables -F INPUT")
            ev("drop rule removed")
    time.sleep(0.5)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    ev("conn1 client close with SO_LINGER 0 (RST)")
    time.sleep(1.0)

    # ---- connection 2: graceful
    with ksnet.in_ns(C):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.settimeout(5)
    c.connect((SA, PORT))
    ev(f"conn2 connected from port {c.getsockname()[1]}")
    for k in range(1, 4):
        time.sleep(1.0)
        c.sendall(b"\x01")
        ev(f"conn2 beat {k} sent")
        ev(f"conn2 beat {k} reply {c.recv(1).hex()}")
    time.sleep(0.3)
    c.shutdown(socket.SHUT_WR)
    ev("conn2 client shutdown(SHUT_WR) (FIN)")
    assert c.recv(1) == b""
    c.close()
    time.sleep(0.5)
    stop.set()
    th.join(timeout=3)
    cap.stop()
    with open(os.path.splitext(out)[0] + ".log", "w") as f:
        f.write("\n".join(log) + "\n")
    print(out)


if __name__ == "__main__":
    main()
