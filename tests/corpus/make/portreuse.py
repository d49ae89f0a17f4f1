#!/usr/bin/env python3
"""portreuse.py -- A3: the same client port reused for new connections (run as root).

ks-pr-c (10.77.3.1) -- veth -- ks-pr-s (10.77.3.2); server port 47003; the client always binds
10.77.3.1:47999 (SO_REUSEADDR); the kernel picks a new ISN each time.  Capture on the client veth.
conn1: "ping"/"pong", the server closes first (FIN), then the client (server side TIME_WAIT).
conn2: same port 1.2 s later: exchange, then client RST (SO_LINGER 0).
conn3: same port 1.2 s later: exchange, client closes first (FIN) -> client TIME_WAIT.
conn4: same port 1.5 s later (client ns has net.ipv4.tcp_tw_reuse=1 so connect() may reuse the
       TIME_WAIT port): exchange, server closes first.
Usage: portreuse.py [OUT.pcapng] (default ../portreuse.pcapng); writes OUT-stem.log.
"""
import os, socket, struct, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ksnet  # noqa: E402

C, S = "ks-pr-c", "ks-pr-s"
CA, SA, PORT, CPORT = "10.77.3.1", "10.77.3.2", 47003, 47999
log = []
def ev(m): log.append(f"{time.time():.6f} {m}")

def conn(n, how):
    with ksnet.in_ns(C):
        c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((CA, CPORT))
    try:
        c.connect((SA, PORT))
    except OSError as e:
        ev(f"conn{n} connect failed {e!r}"); c.close(); return
    ev(f"conn{n} connected {CA}:{CPORT}")
    sc, _ = LS.accept()
    c.sendall(b"ping"); assert sc.recv(4) == b"ping"
    sc.sendall(b"pong"); assert c.recv(4) == b"pong"
    time.sleep(0.2)
    if how == "server-fin":
        sc.close(); ev(f"conn{n} server close (FIN first)")
        assert c.recv(1) == b""; c.close(); ev(f"conn{n} client close")
    elif how == "client-rst":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close(); ev(f"conn{n} client close SO_LINGER 0 (RST)")
        time.sleep(0.1); sc.close()
    elif how == "client-fin":
        c.close(); ev(f"conn{n} client close (FIN first)")
        assert sc.recv(1) == b""; sc.close(); ev(f"conn{n} server close")

def main():
    global LS
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ksnet.CORPUS, "portreuse.pcapng"))
    ksnet.add_ns(C); ksnet.add_ns(S)
    ksnet.veth(C, "ksprc", S, "ksprs", [CA + "/24"], [SA + "/24"])
    ksnet.nsx(C, "sysctl -qw net.ipv4.tcp_tw_reuse=1")
    with ksnet.in_ns(S):
        LS = socket.socket(); LS.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        LS.bind((SA, PORT)); LS.listen(4)
    cap = ksnet.Capture(C, "ksprc", out)
    conn(1, "server-fin"); time.sleep(1.2)
    conn(2, "client-rst"); time.sleep(1.2)
    conn(3, "client-fin"); time.sleep(1.5)
    conn(4, "server-fin"); time.sleep(0.3)
    cap.stop()
    open(os.path.splitext(out)[0] + ".log", "w").write("\n".join(log) + "\n")
    print(out)

if __name__ == "__main__":
    main()
