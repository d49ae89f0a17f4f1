#!/usr/bin/env python3
"""edgecases.py -- capture-boundary and connection-setup edge cases (run as root; needs ethtool).

ks-ec-c (10.77.8.1) -- veth -- ks-ec-s (10.77.8.2); dumpcap on the client veth with the capture
filter  `not (tcp dst port 47011 and ip[2:2] = 57)`  (drops every client->server segment with
IP total length 57 = 20 + 32 + 5 payload bytes: a capture-side loss, the network delivered them).
  A. connection to :47011 opened 1 s BEFORE the capture starts (no handshake in the file;
     window scale unknown to tshark), 1-byte beats 01/41, then the client sends the 5-byte
     "SKIP!" (not captured) followed by "after" (5 bytes, also length 57 -> also not captured)
     and "after-2" (7 bytes, captured): tshark sees a sequence gap
     ([TCP Previous segment not captured]) and server ACKs for data it never saw
     ([TCP ACKed unseen segment]).  Then half-close: client shutdown(SHUT_WR) (FIN), the server
     still sends 3 x 100 bytes, then closes.
  B. SYN to :47012 whose first SYN is dropped once in the server namespace (iptables nth):
     the client kernel retransmits the SYN after ~1 s -> SYN retransmission; short exchange; RST close.
  C. connect() to :47013 where nothing listens: SYN answered by RST/ACK (connection refused),
     retried twice 0.2 s apart from new ports.
Usage: edgecases.py [OUT.pcapng] (default ../edgecases.pcapng); writes OUT-stem.log
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ksnet  # noqa: E402

C, S = "ks-ec-c", "ks-ec-s"
CA, SA = "10.77.8.1", "10.77.8.2"
log = []


def ev(m):
    log.append(f"{time.time():.6f} {m}")


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ksnet.CORPUS, "edgecases.pcapng"))
    ksnet.add_ns(C)
    ksnet.add_ns(S)
    ksnet.veth(C, "kseccc", S, "ksecss", [CA + "/24"], [SA + "/24"], offload=False)
    with ksnet.in_ns(S):
        la = socket.socket()
        la.bind((SA, 47011))
        la.listen(1)
        lb = socket.socket()
        lb.bind((SA, 47012))
        lb.listen(1)

    # ---- A: established before the capture
    with ksnet.in_ns(C):
        a = socket.socket()
    a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    a.connect((SA, 47011))
    ev(f"A connected from port {a.getsockname()[1]} (before capture)")
    sa, _ = la.accept()
    sa.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    a.sendall(b"\x01")
    sa.recv(1)
    sa.sendall(b"\x41")
    a.recv(1)
    time.sleep(1.0)
    cap = ksnet.Capture(C, "kseccc", out, bpf="not (tcp dst port 47011 and ip[2:2] = 57)")
    ev("capture started")
    for k in range(2):
        time.sleep(0.5)
        a.sendall(b"\x01")
        sa.recv(1)
        sa.sendall(b"\x41")
        a.recv(1)
        ev(f"A beat {k + 1}")
    time.sleep(0.3)
    for payload in (b"SKIP!", b"after", b"after-2"):
        a.sendall(payload)
        got = b""
        while len(got) < len(payload):
            got += sa.recv(len(payload) - len(got))
        ev(f"A client sent {payload!r} ({len(payload)} B)" + (" -- not captured (filter)" if len(payload) == 5 else ""))
        time.sleep(0.2)
    a.shutdown(socket.SHUT_WR)
    ev("A client shutdown(SHUT_WR): FIN")
    assert sa.recv(1) == b""
    for i in range(3):
        time.sleep(0.2)
        sa.sendall(bytes([0x30 + i]) * 100)
        ev(f"A server sends 100 B after client's FIN ({i + 1}/3)")
    got = 0
    a.settimeout(2)
    while got < 300:
        got += len(a.recv(1000))
    time.sleep(0.2)
    sa.close()
    ev("A server close: FIN")
    assert a.recv(1) == b""
    a.close()
    time.sleep(0.5)

    # ---- B: first SYN dropped once
    ksnet.nsx(S, "iptables -A INPUT -p tcp --dport 47012 --syn -m statistic --mode nth --every 1000 --packet 0 -j DROP")
    with ksnet.in_ns(C):
        b = socket.socket()
    b.settimeout(5)
    t = time.time()
    b.connect((SA, 47012))
    ev(f"B connected from port {b.getsockname()[1]} after {time.time() - t:.3f} s (first SYN dropped)")
    sb, _ = lb.accept()
    b.sendall(b"hello")
    sb.recv(5)
    sb.sendall(b"world")
    b.recv(5)
    time.sleep(0.2)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    b.close()
    ev("B client close SO_LINGER 0 (RST)")
    sb.close()
    ksnet.nsx(S, "iptables -F INPUT")
    time.sleep(0.5)

    # ---- C: connection refused
    for i in range(3):
        with ksnet.in_ns(C):
            c = socket.socket()
        try:
            c.connect((SA, 47013))
        except ConnectionRefusedError as e:
            ev(f"C attempt {i + 1}: {e!r}")
        c.close()
        time.sleep(0.2)
    time.sleep(0.3)
    cap.stop()
    open(os.path.splitext(out)[0] + ".log", "w").write("\n".join(log) + "\n")
    print(out)


if __name__ == "__main__":
    main()
