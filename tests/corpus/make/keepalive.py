#!/usr/bin/env python3
"""keepalive.py -- A2: Linux TCP keep-alive, answered and then unanswered (run as root).

ks-ka-c (10.77.2.1) -- veth -- ks-ka-s (10.77.2.2), server port 47002, capture on the client veth.
Client: SO_KEEPALIVE, TCP_KEEPIDLE=1, TCP_KEEPINTVL=1, TCP_KEEPCNT=3.  5-byte request, 5-byte
answer, then idle ~4.5 s: the kernel sends keep-alive probes (seq = snd_una-1, len 0) that the
server kernel answers (keep-alive ACK).  Then the server "disappears": iptables DROP of all
port-47002 traffic in the server namespace (INPUT and OUTPUT).  Probes go unanswered; after
TCP_KEEPCNT=3 unanswered probes the client kernel sends RST and recv() fails with ETIMEDOUT.

Usage: keepalive.py [OUT.pcapng]  (default ../keepalive.pcapng); writes OUT-stem.log.
"""
import os, socket, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ksnet  # noqa: E402

C, S = "ks-ka-c", "ks-ka-s"
CA, SA, PORT = "10.77.2.1", "10.77.2.2", 47002
log = []
def ev(m): log.append(f"{time.time():.6f} {m}")

def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ksnet.CORPUS, "keepalive.pcapng"))
    ksnet.add_ns(C); ksnet.add_ns(S)
    ksnet.veth(C, "kskac", S, "kskas", [CA + "/24"], [SA + "/24"])
    with ksnet.in_ns(S):
        ls = socket.socket(); ls.bind((SA, PORT)); ls.listen(1)
    cap = ksnet.Capture(C, "kskac", out)
    with ksnet.in_ns(C):
        c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    c.connect((SA, PORT)); ev(f"connected from port {c.getsockname()[1]} keepidle=1 intvl=1 cnt=3")
    sc, _ = ls.accept()
    c.sendall(b"hello"); ev("client sent hello")
    assert sc.recv(5) == b"hello"
    sc.sendall(b"world"); ev("server sent world")
    assert c.recv(5) == b"world"
    time.sleep(4.5)
    ksnet.nsx(S, f"iptables -A INPUT -p tcp --dport {PORT} -j DROP; iptables -A OUTPUT -p tcp --sport {PORT} -j DROP")
    ev("server cut off (iptables DROP in server ns)")
    c.settimeout(20)
    try:
        r = c.recv(10)
        ev(f"client recv returned {r!r}")
    except OSError as e:
        ev(f"client recv error {e!r}")
    time.sleep(0.5)
    cap.stop()
    c.close(); sc.close(); ls.close()
    open(os.path.splitext(out)[0] + ".log", "w").write("\n".join(log) + "\n")
    print(out)

if __name__ == "__main__":
    main()
