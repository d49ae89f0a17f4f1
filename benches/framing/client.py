# Keep-alive client for benches/framing/instructions-per-request.sh: exactly N requests, so a
# callgrind count divides by a known request count. Usage: client.py PORT N get|plain|post
# N keep-alive requests on one connection, each response read fully (Content-Length or chunked).
import socket, sys
port, n, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
req = {"get": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
       "plain": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
       "post": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0000006;e=1\r\n world\r\n0\r\n\r\n"}[kind]
s = socket.create_connection(("127.0.0.1", port)); buf = b""
for i in range(n):
    s.sendall(req)
    while True:
        h = buf.find(b"\r\n\r\n")
        if h >= 0:
            head = buf[:h].lower()
            cl = int(head.split(b"content-length:")[1].split(b"\r\n")[0]) if b"content-length:" in head else 0
            if len(buf) >= h + 4 + cl:
                buf = buf[h + 4 + cl:]; break
        d = s.recv(65536)
        if not d: raise SystemExit(f"closed after {i}")
        buf += d
print("ok", n)
