#!/usr/bin/env python3
"""zerowindow.py -- A4b: receiver stops reading, sender hits a zero window (run as root).

ks-zw-tx (10.77.6.1) -- veth -- ks-zw-rx (10.77.6.2), port 47006, capture on the sender's veth,
snaplen 128.  The receiver's listening socket has SO_RCVBUF 4096 (so a small window) and does not
read for 3 s while the sender pushes 60 000 bytes (MSS 536): the window goes to zero, the sender's
persist timer sends zero-window probes (Linux: seq = snd_una-1, len 0), then the receiver reads
in 2 KB chunks every 50 ms (window updates) until done.
Needs ethtool (offloads off).
Usage: zerowindow.py [OUT.pcapng] (default ../zerowindow.pcapng); writes OUT-stem.log
"""
import os, socket, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ksnet  # noqa: E402

TX, RX, PORT, SIZE = "ks-zw-tx", "ks-zw-rx", 47006, 60_000
log = []
def ev(m): log.append(f"{time.time():.6f} {m}")

def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ksnet.CORPUS, "zerowindow.pcapng"))
    ksnet.add_ns(TX); ksnet.add_ns(RX)
    ksnet.veth(TX, "kszwtx", RX, "kszwrx", ["10.77.6.1/24"], ["10.77.6.2/24"], offload=False)
    with ksnet.in_ns(RX):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        ls.bind(("10.77.6.2", PORT)); ls.listen(1)
    def rx():
        c, _ = ls.accept()
        ev("receiver accepted; not reading for 3 s")
        time.sleep(3.0)
        ev("receiver starts reading 2048 B every 50 ms")
        n = 0
        for _ in range(2000):
            b = c.recv(2048)
            if not b:
                break
            n += len(b)
            time.sleep(0.05)
        ev(f"receiver got EOF after {n} bytes")
        c.close()
    th = threading.Thread(target=rx, daemon=True); th.start()
    cap = ksnet.Capture(TX, "kszwtx", out, snaplen=128)
    with ksnet.in_ns(TX):
        s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.settimeout(60)
    s.connect(("10.77.6.2", PORT)); ev(f"sender connected from port {s.getsockname()[1]}")
    s.sendall(b"z" * SIZE); ev("sender sendall returned")
    s.shutdown(socket.SHUT_WR)
    th.join(timeout=60); s.close()
    time.sleep(0.3)
    cap.stop()
    open(os.path.splitext(out)[0] + ".log", "w").write("\n".join(log) + "\n")
    print(out)

if __name__ == "__main__":
    main()
