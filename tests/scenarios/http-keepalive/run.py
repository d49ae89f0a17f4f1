#!/usr/bin/env python3
"""http-keepalive -- HTTP/1.x connection reuse and body framing edge cases (run as root; ~15 s).

ks-hk-c client 10.77.50.2 -- veth -- ks-hk-s server 10.77.50.1, capture on the client veth
(capture.pcapng).  Two servers in ks-hk-s:
  * nginx 1.22 on :80 with `keepalive_timeout 2s; keepalive_requests 3;`
  * a scripted plain-socket server on :8080 (tshark decodes 8080 as HTTP) whose responses are
    written byte by byte by this script (kernel TCP; only the HTTP is hand-made)
Exchanges (ids in truth.json):
  n1-n3  one connection to nginx, 3 requests; nginx answers the 3rd with Connection: close
         (keepalive_requests 3) and closes (FIN)
  n4-n5  new connection, 1 request, then idle 2.6 s > keepalive_timeout: nginx closes (FIN);
         the client, not having read the FIN, reuses the socket for n5 (the reuse race):
         the server side answers the request bytes with RST
  n6-n11 the race proper: three fresh connections, one request each, then a second request
         sent 1.990 / 2.000 / 2.010 s after the first response completed (nginx's 2 s timer runs
         from about then); per attempt truth.json records whether the reuse got a response, EOF
         or RST -- the outcome is whatever the kernel/nginx timing gave
  r1     Content-Length 12 but only 10 body bytes; the server keeps the connection open; the
         client waits 1 s, gives up and closes
  r2     Content-Length 12 but 13 body bytes ("0123456789AB" + "C"); the client reads the 13
         bytes in one recv, keeps 12 and discards the stray "C" (truth: extra_after_body), then
         sends r2b on the same connection.  On the wire the stray byte precedes nothing -- but a
         parser that follows Content-Length sees "C" as the start of the next response: tshark
         shows r2b's response as "Continuation"
  r3     Transfer-Encoding: chunked body "b\\r\\n01234567890\\r\\n5\\r\\n12345\\r\\n0\\r\\n\\r\\n" written
         in 3 pieces 50 ms apart (headers / first chunk / rest), then r3b on the same connection
  r4     HTTP/1.0 with Connection: keep-alive (Content-Length 5), r4b on the same connection,
         then the client closes
  r5     close-delimited body: HTTP/1.1 200, Connection: close, no Content-Length, 20 body
         bytes, then the server closes
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import AppLog, ksnet, r6, write_truth  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
C, S = "ks-hk-c", "ks-hk-s"
CA, SA = "10.77.50.2", "10.77.50.1"
NGX_DIR = "/tmp/ks-hk-nginx"
app = AppLog()
ex = []          # truth per exchange
srv_log = []     # what the scripted server wrote


def nginx_conf():
    os.makedirs(NGX_DIR, exist_ok=True)
    conf = f"""
worker_processes 1;
daemon off;
master_process off;
pid {NGX_DIR}/nginx.pid;
error_log {NGX_DIR}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {NGX_DIR}/access.log;
    client_body_temp_path {NGX_DIR}/body;
    proxy_temp_path {NGX_DIR}/proxy;
    fastcgi_temp_path {NGX_DIR}/fastcgi;
    uwsgi_temp_path {NGX_DIR}/uwsgi;
    scgi_temp_path {NGX_DIR}/scgi;
    default_type text/plain;
    keepalive_timeout 2s;
    keepalive_requests 3;
    server {{
        listen {SA}:80;
        location / {{ return 200 "hello from nginx $uri\\n"; }}
    }}
}}
"""
    p = os.path.join(NGX_DIR, "nginx.conf")
    open(p, "w").write(conf)
    return p


def read_response(s, timeout=2.0):
    """Read one HTTP response: returns dict with status line, headers, body, how it ended."""
    s.settimeout(timeout)
    buf = b""
    res = {"raw_prefix": None}
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                res.update(ended="eof-before-headers", got=buf.decode("latin1"))
                return res
            buf += d
    except ConnectionResetError as e:
        res.update(ended="reset-before-headers", error=repr(e), got=buf.decode("latin1"))
        return res
    except socket.timeout:
        res.update(ended="timeout-before-headers", got=buf.decode("latin1"))
        return res
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin1").split("\r\n")
    res["status_line"] = lines[0]
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    res["headers"] = hdrs
    try:
        if "content-length" in hdrs:
            n = int(hdrs["content-length"])
            while len(body) < n:
                d = s.recv(4096)
                if not d:
                    res["ended"] = "eof-in-body"
                    break
                body += d
            else:
                res["ended"] = "complete"
            res["extra_after_body"] = body[n:].decode("latin1")
            body = body[:n]
        elif hdrs.get("transfer-encoding") == "chunked":
            while not body.endswith(b"0\r\n\r\n"):
                d = s.recv(4096)
                if not d:
                    res["ended"] = "eof-in-body"
                    break
                body += d
            else:
                res["ended"] = "complete"
        else:
            while True:
                d = s.recv(4096)
                if not d:
                    res["ended"] = "complete-at-eof"
                    break
                body += d
    except socket.timeout:
        res["ended"] = "timeout-in-body"
    except ConnectionResetError as e:
        res["ended"] = "reset-in-body"
        res["error"] = repr(e)
    res["body"] = body.decode("latin1")
    res["body_len"] = len(body)
    res["t_done"] = r6(time.time())
    return res


def new_conn(port):
    with ksnet.in_ns(C):
        s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((SA, port))
    return s


def request(s, eid, line, extra_hdrs="", http10=False, timeout=2.0, note=None):
    ver = "HTTP/1.0" if http10 else "HTTP/1.1"
    req = f"{line} {ver}\r\nHost: {SA}\r\n{extra_hdrs}\r\n".encode()
    t = time.time()
    e = {"id": eid, "client_port": s.getsockname()[1], "server_port": s.getpeername()[1],
         "request": f"{line} {ver}", "request_sent_t": r6(t), "note": note}
    try:
        s.sendall(req)
        e["response"] = read_response(s, timeout)
    except OSError as err:
        e["response"] = {"ended": "send-error", "error": repr(err)}
    ex.append(e)
    app.log("client", "info" if e["response"].get("ended", "").startswith("complete") else "error",
            f"{eid} {line} -> {e['response'].get('status_line', '')} [{e['response'].get('ended')}]")
    return e


# ----------------------------------------------------------------- scripted server on :8080
def scripted_server(ls, stop):
    ls.settimeout(0.2)
    while not stop.is_set():
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=scripted_conn, args=(c, peer), daemon=True).start()


def scripted_conn(c, peer):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.settimeout(10)
    buf = b""

    def w(data, what):
        c.sendall(data)
        srv_log.append({"t": r6(time.time()), "peer_port": peer[1], "what": what, "bytes": len(data)})
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(4096)
                if not d:
                    srv_log.append({"t": r6(time.time()), "peer_port": peer[1], "what": "EOF from client, close"})
                    c.close()
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1].decode()
            if path == "/short":
                w(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n0123456789",
                  "/short: Content-Length 12, 10 body bytes")
            elif path == "/long":
                w(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n0123456789ABC",
                  "/long: Content-Length 12, 13 body bytes")
            elif path == "/chunked":
                w(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
                  "/chunked: headers")
                time.sleep(0.05)
                w(b"b\r\n01234567890\r\n", "/chunked: chunk 1 (11 bytes)")
                time.sleep(0.05)
                w(b"5\r\n12345\r\n0\r\n\r\n", "/chunked: chunk 2 (5 bytes) + last chunk")
            elif path.startswith("/ka10"):
                w(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
                  f"{path}: HTTP/1.0 keep-alive, Content-Length 5")
            elif path == "/closedelim":
                w(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nclose-delimited body",
                  "/closedelim: no Content-Length, 20 body bytes, then close")
                time.sleep(0.05)
                c.close()
                srv_log.append({"t": r6(time.time()), "peer_port": peer[1], "what": "server close (FIN)"})
                return
            else:
                w(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n",
                  f"{path}: Content-Length 3")
    except OSError as e:
        srv_log.append({"t": r6(time.time()), "peer_port": peer[1], "what": f"error {e!r}"})
        c.close()


def main():
    ksnet.add_ns(C)
    ksnet.add_ns(S)
    ksnet.veth(C, "kshkc", S, "kshks", [CA + "/24"], [SA + "/24"], offload=False)
    shutil.rmtree(NGX_DIR, ignore_errors=True)
    conf = nginx_conf()
    ngx = ksnet.spawn(S, ["nginx", "-c", conf, "-p", NGX_DIR], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
    with ksnet.in_ns(S):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((SA, 8080))
        ls.listen(8)
    stop = threading.Event()
    threading.Thread(target=scripted_server, args=(ls, stop), daemon=True).start()
    for _ in range(50):   # wait for nginx
        try:
            new_conn(80).close()
            break
        except OSError:
            time.sleep(0.1)
    time.sleep(0.3)
    cap = ksnet.Capture(C, "kshkc", os.path.join(HERE, "capture.pcapng"))
    conns = []

    # ---- nginx: keepalive_requests 3
    s = new_conn(80)
    conns.append({"client_port": s.getsockname()[1], "server_port": 80, "ids": ["n1", "n2", "n3"]})
    for i, p in enumerate(["/a", "/b", "/c"], 1):
        request(s, f"n{i}", f"GET {p}")
        time.sleep(0.2)
    s.settimeout(3)
    t0 = time.time()
    eof = s.recv(10)
    conns[-1]["server_close_seen_t"] = r6(time.time()) if eof == b"" else None
    conns[-1]["end"] = "nginx closes after the 3rd response (keepalive_requests 3); client closes"
    s.close()
    time.sleep(0.3)

    # ---- nginx: idle past keepalive_timeout, then reuse
    s = new_conn(80)
    conns.append({"client_port": s.getsockname()[1], "server_port": 80, "ids": ["n4", "n5"]})
    e4 = request(s, "n4", "GET /d")
    time.sleep(2.6)
    request(s, "n5", "GET /e", note="sent 2.6 s after n4's response on the same connection; "
            "nginx keepalive_timeout is 2 s")
    conns[-1]["idle_before_reuse_s"] = round(ex[-1]["request_sent_t"] - e4["response"]["t_done"], 6)
    conns[-1]["end"] = "nginx closed at keepalive_timeout (FIN); the reused request is answered by RST"
    s.close()
    time.sleep(0.3)

    # ---- the reuse race: reuse right around keepalive_timeout
    for i, off in enumerate((1.990, 2.000, 2.010)):
        a, b = f"n{6 + 2 * i}", f"n{7 + 2 * i}"
        s = new_conn(80)
        conns.append({"client_port": s.getsockname()[1], "server_port": 80, "ids": [a, b],
                      "reuse_offset_s": off})
        e1 = request(s, a, f"GET /race{i}")
        time.sleep(max(0.0, e1["response"]["t_done"] + off - time.time()))
        e2 = request(s, b, f"GET /race{i}-reuse", note=f"reuse {off:.3f} s after {a}'s response completed")
        conns[-1]["actual_reuse_offset_s"] = round(e2["request_sent_t"] - e1["response"]["t_done"], 6)
        conns[-1]["outcome"] = e2["response"].get("ended")
        s.close()
        time.sleep(0.3)

    # ---- scripted server
    s = new_conn(8080)
    conns.append({"client_port": s.getsockname()[1], "server_port": 8080, "ids": ["r1"]})
    request(s, "r1", "GET /short", timeout=1.0, note="declared 12, sent 10: client times out after 1 s")
    s.close()
    conns[-1]["end"] = "client closes after giving up"
    time.sleep(0.3)

    s = new_conn(8080)
    conns.append({"client_port": s.getsockname()[1], "server_port": 8080, "ids": ["r2", "r2b"]})
    request(s, "r2", "GET /long", note="declared 12, sent 13: one stray byte 'C' stays in the stream")
    time.sleep(0.1)
    request(s, "r2b", "GET /after-long", note="the stray 'C' of r2 was discarded by the client (read with r2's body); a Content-Length-following parser of the server->client stream sees 'C' + this response")
    s.close()
    time.sleep(0.3)

    s = new_conn(8080)
    conns.append({"client_port": s.getsockname()[1], "server_port": 8080, "ids": ["r3", "r3b"]})
    request(s, "r3", "GET /chunked")
    time.sleep(0.1)
    request(s, "r3b", "GET /after-chunked")
    s.close()
    time.sleep(0.3)

    s = new_conn(8080)
    conns.append({"client_port": s.getsockname()[1], "server_port": 8080, "ids": ["r4", "r4b"]})
    request(s, "r4", "GET /ka10", "Connection: keep-alive\r\n", http10=True)
    time.sleep(0.1)
    request(s, "r4b", "GET /ka10-2", "Connection: keep-alive\r\n", http10=True)
    s.close()
    time.sleep(0.3)

    s = new_conn(8080)
    conns.append({"client_port": s.getsockname()[1], "server_port": 8080, "ids": ["r5"]})
    request(s, "r5", "GET /closedelim")
    s.close()
    time.sleep(0.5)

    cap.stop()
    stop.set()
    ngx.terminate()
    try:
        ngx.wait(timeout=5)
    except subprocess.TimeoutExpired:
        ngx.kill()
    access = open(os.path.join(NGX_DIR, "access.log")).read().splitlines() if os.path.exists(
        os.path.join(NGX_DIR, "access.log")) else []
    truth = {
        "scenario": "http-keepalive",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture); app.log UTC HH:MM:SS",
        "capture": "capture.pcapng (client veth kshkc)",
        "client_addr": CA, "server_addr": SA,
        "nginx": {"port": 80, "version": "1.22.1", "keepalive_timeout_s": 2, "keepalive_requests": 3,
                  "access_log": access},
        "scripted_server": {"port": 8080, "writes": srv_log},
        "connections": conns,
        "exchanges": ex,
    }
    write_truth(os.path.join(HERE, "truth.json"), truth)
    app.write(os.path.join(HERE, "app.log"))
    shutil.rmtree(NGX_DIR, ignore_errors=True)
    for e in ex:
        print(e["id"], e["client_port"], json.dumps({k: e["response"].get(k) for k in ("status_line", "ended", "body_len", "extra_after_body", "error", "got")}))


if __name__ == "__main__":
    main()
