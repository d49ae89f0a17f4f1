#!/usr/bin/env python3
"""Open N keep-alive connections, make one request on each, then hold them idle until stdin
closes (or 120 s). Prints `ready` once all are open. Loopback only.
With a fourth argument CAFILE the connections are TLS, the server checked against CAFILE."""
import socket
import ssl
import sys
import time

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tls = None
if len(sys.argv) > 4:
    tls = ssl.create_default_context(cafile=sys.argv[4])
    tls.set_alpn_protocols(["http/1.1"])
conns = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=10)
    if tls is not None:
        s = tls.wrap_socket(s, server_hostname=host)
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    conns.append(s)
print("ready", flush=True)
end = time.monotonic() + 120
sys.stdin.read()
