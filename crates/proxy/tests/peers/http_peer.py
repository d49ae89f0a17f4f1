#!/usr/bin/env python3
"""Independent HTTP/1.1 peers for keepsight-proxy's tests: raw-socket clients that report what
actually crossed the wire, and small upstream servers with behaviour nginx cannot be made to
show on demand. Standard library only. Every loop is bounded in count and time."""

import json
import socket
import sys
import threading
import time


def read_response(sock, buf, head_only=False):
    """Read one response from sock (buf holds bytes already read). Returns (resp, rest)."""
    deadline = time.monotonic() + 10
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise TimeoutError("no response head")
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed before response head (%d bytes)" % len(buf))
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    h = {}
    for n, v in headers:
        h.setdefault(n, []).append(v)
    body = b""
    if head_only or status in (204, 304) or 100 <= status < 200:
        pass
    elif "transfer-encoding" in h:
        while True:
            while b"\r\n" not in buf:
                more = sock.recv(65536)
                if not more:
                    raise EOFError("closed inside chunked body")
                buf += more
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while not buf.startswith(b"\r\n") and b"\r\n\r\n" not in buf:
                    more = sock.recv(65536)
                    if not more:
                        raise EOFError("closed inside trailers")
                    buf += more
                if buf.startswith(b"\r\n"):
                    buf = buf[2:]
                else:
                    buf = buf.split(b"\r\n\r\n", 1)[1]
                break
            while len(buf) < size + 2:
                more = sock.recv(65536)
                if not more:
                    raise EOFError("closed inside chunk")
                buf += more
            body += buf[:size]
            buf = buf[size + 2:]
    elif "content-length" in h:
        n = int(h["content-length"][0])
        while len(buf) < n:
            more = sock.recv(65536)
            if not more:
                raise EOFError("closed inside body")
            buf += more
        body, buf = buf[:n], buf[n:]
    else:
        while True:
            more = sock.recv(65536)
            if not more:
                break
            buf += more
        body, buf = buf, b""
    conn = ",".join(h.get("connection", [])).lower()
    return {
        "status": status,
        "headers": h,
        "body": body.decode("latin-1"),
        "close": "close" in conn,
    }, buf


def after_close(sock, wait=3.0):
    """What the server does once it said `Connection: close`: 'eof', 'reset' or 'open'."""
    sock.settimeout(wait)
    try:
        data = sock.recv(1)
        return "eof" if not data else "data"
    except socket.timeout:
        return "open"
    except ConnectionResetError:
        return "reset"


def request(path="/", host="test", extra="", method="GET"):
    return ("%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (method, path, host, extra)).encode()


def connect(host, port):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def cmd_sequence(host, port, n, interval="0"):
    """Up to N requests on one connection, stopping at the first `Connection: close`."""
    s = connect(host, port)
    buf = b""
    out = []
    t0 = time.monotonic()
    for i in range(int(n)):
        s.sendall(request("/seq/%d" % i))
        r, buf = read_response(s, buf)
        r["t"] = time.monotonic() - t0
        del r["body"]
        out.append(r)
        if r["close"]:
            break
        time.sleep(float(interval))
    end = after_close(s) if out and out[-1]["close"] else "not-closed"
    print(json.dumps({"responses": out, "after": end}))


def cmd_idle(host, port, first="1"):
    """Optionally one request, then measure how long the server keeps the idle connection."""
    s = connect(host, port)
    if first == "1":
        s.sendall(request())
        _, _ = read_response(s, b"")
    t0 = time.monotonic()
    s.settimeout(30)
    try:
        data = s.recv(1)
        how = "eof" if not data else "data"
    except socket.timeout:
        how = "open"
    except ConnectionResetError:
        how = "reset"
    print(json.dumps({"after": how, "seconds": time.monotonic() - t0}))


def cmd_drain(host, port, total):
    """TOTAL requests over keep-alive, reconnecting whenever a response says close."""
    total = int(total)
    closes = 0
    connections = 0
    not_eof = 0
    statuses = {}
    s = None
    buf = b""
    deadline = time.monotonic() + 60
    for i in range(total):
        if time.monotonic() > deadline:
            break
        if s is None:
            s = connect(host, port)
            connections += 1
            buf = b""
        s.sendall(request("/d/%d" % i))
        r, buf = read_response(s, buf)
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        if r["close"]:
            closes += 1
            if after_close(s, 3.0) != "eof":
                not_eof += 1
            s.close()
            s = None
    print(json.dumps({"requests": total, "closes": closes, "connections": connections,
                      "not_eof_after_close": not_eof, "statuses": statuses}))


def cmd_raw(host, port, hexdata, wait="5"):
    """Send bytes, then read until the server closes (or WAIT seconds)."""
    s = connect(host, port)
    s.sendall(bytes.fromhex(hexdata))
    s.settimeout(float(wait))
    data = b""
    how = "open"
    t_end = time.monotonic() + float(wait)
    while time.monotonic() < t_end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            how = "reset"
            break
        if not chunk:
            how = "eof"
            break
        data += chunk
    print(json.dumps({"data": data.decode("latin-1"), "after": how}))


def cmd_load(host, port, threads, seconds, path="/"):
    """Keep-alive clients in a loop until SECONDS pass or the server stops accepting.

    Outcome per request: ok (complete 2xx), refused (connect refused: server no longer
    listening), stale (zero response bytes on a reused connection: the idle-close race a client
    must retry, RFC 9112 §9.3.1), reset_fresh (a reset before any response byte on a new
    connection: the kernel had completed the handshake into the listen backlog and the server
    closed its listener without accepting it; the caller checks these against the server's
    own accept count), or error (anything else: a lost request). `connects` counts every
    connection the kernel completed."""
    stop = time.monotonic() + float(seconds)
    lock = threading.Lock()
    res = {"ok": 0, "ok_close": 0, "refused": 0, "stale": 0, "reset_fresh": 0, "connects": 0,
           "error": 0, "errors": []}

    def add(k, err=None):
        with lock:
            res[k] += 1
            if err and len(res["errors"]) < 10:
                res["errors"].append(err)

    def worker():
        s = None
        buf = b""
        reused = False
        while time.monotonic() < stop:
            if s is None:
                try:
                    s = connect(host, port)
                except ConnectionRefusedError:
                    add("refused")
                    return
                add("connects")
                buf = b""
                reused = False
            try:
                s.sendall(request(path))
                r, buf = read_response(s, buf)
            except (EOFError, ConnectionResetError, BrokenPipeError) as e:
                if reused and not buf and "before response head (0 bytes)" in str(e) or (
                        reused and isinstance(e, (ConnectionResetError, BrokenPipeError))):
                    add("stale")
                elif not reused and not buf and isinstance(e, ConnectionResetError):
                    add("reset_fresh")
                else:
                    add("error", repr(e))
                s.close()
                s = None
                continue
            except Exception as e:  # noqa: BLE001 - every other failure is a lost request
                add("error", repr(e))
                s.close()
                s = None
                continue
            if 200 <= r["status"] < 300:
                add("ok_close" if r["close"] else "ok")
            else:
                add("error", "status %d" % r["status"])
            reused = True
            if r["close"]:
                s.close()
                s = None

    ts = [threading.Thread(target=worker) for _ in range(int(threads))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(float(seconds) + 30)
    print(json.dumps(res))


def serve_forever(port, handle_conn, max_seconds=120):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(port)))
    ls.listen(64)
    print(ls.getsockname()[1], flush=True)
    ls.settimeout(0.5)
    end = time.monotonic() + max_seconds
    while time.monotonic() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle_conn, args=(c,), daemon=True).start()


def read_request(c, buf):
    while b"\r\n\r\n" not in buf:
        more = c.recv(65536)
        if not more:
            return None, buf
        buf += more
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def cmd_upstream_race(port):
    """Answers the first request on each connection with keep-alive, then reads the second
    request and closes without answering: the reuse race, made deterministic."""
    def handle(c):
        c.settimeout(30)
        try:
            head, buf = read_request(c, b"")
            if head is None:
                return
            body = b"first\n"
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            head, buf = read_request(c, buf)
        except OSError:
            pass
        finally:
            c.close()
    serve_forever(port, handle)


def cmd_upstream_framing(port):
    """/chunked: chunked with extensions and a trailer; /close: close-delimited body;
    /smuggle: a response with both Content-Length and chunked (chunked must win)."""
    def handle(c):
        c.settimeout(30)
        buf = b""
        try:
            for _ in range(100):
                head, buf = read_request(c, buf)
                if head is None:
                    return
                path = head.split(b" ")[1]
                if path == b"/chunked":
                    c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                              b"Trailer: X-T\r\n\r\n"
                              b"5;a=b\r\nhello\r\n7\r\n, world\r\n0\r\nX-T: 1\r\n\r\n")
                elif path == b"/close":
                    c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close body")
                    return
                elif path == b"/smuggle":
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n"
                              b"6\r\nchunky\r\n0\r\n\r\n")
                else:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            pass
        finally:
            c.close()
    serve_forever(port, handle)


if __name__ == "__main__":
    cmd = sys.argv[1].replace("-", "_")
    globals()["cmd_" + cmd](*sys.argv[2:])
