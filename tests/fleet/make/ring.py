#!/usr/bin/env python3
"""ring.py -- a dumpcap ring-buffer set over one heartbeat connection (run as root).

One network namespace `fleet-ring` (its own loopback only, so nothing else shows up).
dumpcap captures `lo` in it with `-b duration:4`, writing PREFIX_NNNNN_YYYYMMDDhhmmss.pcapng
files. A client sends 0x01 every 0.5 s to a server on 127.0.0.1:47101 that answers 0x41; beat
13 (about 8.5 s in, inside the third file) is sent 2 s late. After beat 24 the client closes
with SO_LINGER 0 (RST). The connection spans every file of the set.

Usage: ring.py OUTDIR   (writes OUTDIR/hb_NNNNN_*.pcapng and OUTDIR/ring.log, script clock)
The committed files are the test input; re-running gives other bytes (times, ports, ISNs).
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

NS, PORT = "fleet-ring", 47101
log = []


def ev(msg):
    log.append(f"{time.time():.6f} {msg}")


def sh(*argv):
    subprocess.run(argv, check=True)


def server(lsock):
    conn, _ = lsock.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while conn.recv(1):
            conn.sendall(b"\x41")
    except ConnectionResetError:
        pass
    conn.close()


def connection(out):
    ls = socket.socket()
    ls.bind(("127.0.0.1", PORT))
    ls.listen(1)
    th = threading.Thread(target=server, args=(ls,), daemon=True)
    th.start()
    c = socket.socket()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.connect(("127.0.0.1", PORT))
    ev(f"connected from port {c.getsockname()[1]}")
    for k in range(1, 25):
        time.sleep(2.5 if k == 13 else 0.5)
        c.sendall(b"\x01")
        ev(f"beat {k} sent" + (" (late)" if k == 13 else ""))
        assert c.recv(1) == b"\x41"
    time.sleep(0.2)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    ev("client close with SO_LINGER 0 (RST)")
    th.join(timeout=3)
    with open(os.path.join(out, "ring.log"), "w") as f:
        f.write("\n".join(log) + "\n")


def main():
    if sys.argv[1] == "--role":
        return connection(sys.argv[2])
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    sh("ip", "netns", "add", NS)
    cap = None
    try:
        sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
        errf = open(os.path.join(out, "dumpcap.err"), "w+")
        cap = subprocess.Popen(
            ["ip", "netns", "exec", NS, "dumpcap", "-q", "-i", "lo", "-f", f"tcp port {PORT}",
             "-b", "duration:4", "-w", os.path.join(out, "hb.pcapng")],
            stdout=subprocess.DEVNULL, stderr=errf)
        t0 = time.time()
        while time.time() - t0 < 10:
            errf.seek(0)
            if "Capturing on" in errf.read():
                break
            time.sleep(0.05)
        time.sleep(0.3)
        # The sockets live in the namespace: run the connection there (this script, --role).
        subprocess.run(["ip", "netns", "exec", NS, sys.executable, __file__, "--role", out],
                       check=True)
        time.sleep(0.5)
        cap.send_signal(2)
        cap.wait(timeout=10)
        errf.close()
        os.unlink(os.path.join(out, "dumpcap.err"))
    finally:
        if cap is not None and cap.poll() is None:
            cap.kill()
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)


if __name__ == "__main__":
    main()
