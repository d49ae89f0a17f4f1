#!/usr/bin/env python3
"""tls-keepalive-idle-close -- HTTP/1.1 keep-alive over TLS to nginx, an idle close, a reuse
after it, and the ordinary TLS teardowns around it (issue 16, proof; root; ~15 s).

nginx 1.22 with TLS on 127.0.0.1:47430 (`keepalive_timeout 1s`, `ssl_buffer_size 4k`,
certificate ../tls-heartbeat/server.crt: test-only keys), in a fresh network namespace (see
../tlslab.py).  Three Python ssl clients, one connection each, one after another:

| conn  | TLS | what happens |
|-------|-----|--------------|
| reuse | 1.3 | GET /a.txt; a POST whose headers and body leave in two records 50 ms apart; a GET whose header section is cut over two records; two GETs in one record (pipelined); GET /big.txt (20 kB: several records, several segments); then idle.  nginx closes at its 1 s idle timeout (close_notify, FIN); the client, which did not read, sends GET /late.txt 1.5 s after its last response, and nginx's closed socket answers RST |
| polite| 1.2 | GET /a.txt, then waits reading; at nginx's idle close (close_notify, FIN) it answers with its own close_notify, which reaches nginx's closed socket after its FIN: the kernel answers RST (an ordinary TLS close) |
| bare  | 1.3 | GET /a.txt; 0.3 s later the client closes its socket without close_notify (bare FIN) |

Writes capture.pcapng, keylog.txt (the clients' NSS key log) and truth.json (what each client
sent and read, from its own clock and socket; `facts` for the scorecard).  `run.py facts`
rewrites the facts from the truth already recorded.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import tlslab  # noqa: E402
from tlslab import r6  # noqa: E402

PORT = 47430
IDLE = 1.0
WORK = "/tmp/ks-tls-idle-nginx"
BIG = 20000


def start_nginx():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(os.path.join(WORK, "www"))
    os.chmod(WORK, 0o755)
    os.chmod(os.path.join(WORK, "www"), 0o755)
    with open(os.path.join(WORK, "www", "a.txt"), "w") as f:
        f.write("first page\n")
    with open(os.path.join(WORK, "www", "b.txt"), "w") as f:
        f.write("second page\n")
    with open(os.path.join(WORK, "www", "big.txt"), "w") as f:
        f.write("x" * (BIG - 1) + "\n")
    conf = f"""
daemon off;
master_process off;
worker_processes 1;
pid {WORK}/nginx.pid;
error_log {WORK}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    default_type text/plain;
    client_body_temp_path {WORK}/body;
    keepalive_timeout {IDLE:.0f}s;
    server {{
        listen 127.0.0.1:{PORT} ssl;
        ssl_certificate {tlslab.CERT};
        ssl_certificate_key {tlslab.KEY};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_buffer_size 4k;
        root {WORK}/www;
        location = /post {{ return 200 "posted\\n"; }}
    }}
}}
"""
    path = os.path.join(WORK, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    p = subprocess.Popen(["nginx", "-c", path, "-p", WORK], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nginx did not start")


def exchange(s, data_parts, responses=1, gap=0.05):
    """Sends data_parts (one TLS record each, `gap` s apart), reads `responses` responses."""
    for i, part in enumerate(data_parts):
        if i:
            time.sleep(gap)
        s.sendall(part)
    out, rest = [], b""
    for _ in range(responses):
        status, length, rest, ended = tlslab.read_response(s, rest)
        assert ended == "complete", ended
        out.append((status, length))
    return out, time.time()


def client_reuse(keylog):
    s = tlslab.connect(tlslab.client_ctx("1.3", keylog), PORT)
    conn = {"name": "reuse", "client_port": s.getsockname()[1], "tls": s.version()}
    steps = []
    got, _ = exchange(s, [tlslab.request("/a.txt")])
    steps.append({"what": "GET /a.txt", "records": 1, "responses": got})
    post = tlslab.request("/post", "POST", b"name=value&more=1\n")
    head, body = post.split(b"\r\n\r\n", 1)
    got, _ = exchange(s, [head + b"\r\n\r\n", body])
    steps.append({"what": "POST /post, headers and body in two records", "records": 2,
                  "responses": got})
    req = tlslab.request("/b.txt")
    got, _ = exchange(s, [req[:24], req[24:]])
    steps.append({"what": "GET /b.txt, header section cut over two records", "records": 2,
                  "responses": got})
    got, _ = exchange(s, [tlslab.request("/a.txt") + tlslab.request("/b.txt")], responses=2)
    steps.append({"what": "GET /a.txt and GET /b.txt pipelined in one record", "records": 1,
                  "responses": got})
    got, t_last = exchange(s, [tlslab.request("/big.txt")])
    steps.append({"what": "GET /big.txt", "records": 1, "responses": got})
    conn.update(steps=steps, requests=sum(len(st["responses"]) for st in steps),
                last_response_t=r6(t_last))
    # Idle past nginx's keepalive_timeout without reading, then reuse.
    time.sleep(max(0.0, t_last + 1.5 - time.time()))
    t_sent = time.time()
    s.sendall(tlslab.request("/late.txt"))
    status, _, _, ended = tlslab.read_response(s)
    reset = False
    try:
        s.settimeout(0.5)
        while socket.socket.recv(s, 4096):
            pass
    except ConnectionResetError:
        reset = True
    except OSError:
        pass
    conn.update(late_request_sent_t=r6(t_sent), late_after_s=r6(t_sent - t_last),
                late_outcome=ended, reset_seen_by_client=reset)
    s.close()
    return conn


def client_polite(keylog):
    s = tlslab.connect(tlslab.client_ctx("1.2", keylog), PORT)
    conn = {"name": "polite", "client_port": s.getsockname()[1], "tls": s.version()}
    _, t_last = exchange(s, [tlslab.request("/a.txt")])
    s.settimeout(3)
    try:
        ended = "data" if s.recv(4096) else "eof"
    except ssl.SSLZeroReturnError:
        ended = "close_notify"
    except (ssl.SSLError, OSError) as e:
        ended = f"error: {e}"
    t_closed = time.time()
    s.setblocking(False)
    try:
        s.unwrap()
    except (ssl.SSLError, OSError):
        pass
    s.close()
    conn.update(requests=1, last_response_t=r6(t_last), server_close_seen=ended,
                server_close_seen_t=r6(t_closed), server_close_after_s=r6(t_closed - t_last),
                client_close="close_notify")
    return conn


def client_bare(keylog):
    s = tlslab.connect(tlslab.client_ctx("1.3", keylog), PORT)
    conn = {"name": "bare", "client_port": s.getsockname()[1], "tls": s.version()}
    _, t_last = exchange(s, [tlslab.request("/a.txt")])
    time.sleep(0.3)
    t_close = time.time()
    s.close()  # no unwrap: a bare FIN
    conn.update(requests=1, last_response_t=r6(t_last), client_close="bare_fin",
                client_close_t=r6(t_close))
    return conn


def facts(truth):
    """What keepsight must conclude, from what the driver did (see ../FACTS.md)."""
    by = {c["name"]: c for c in truth["connections"]}
    reuse, polite, bare = by["reuse"], by["polite"], by["bare"]
    cap = "capture.pcapng"
    keyed = ["--tls-keylog", "keylog.txt"]
    server = f"127.0.0.1:{PORT}"
    out = []

    def fact(command, args, id_, check):
        out.append({"capture": cap, "command": command, "args": args, "id": id_,
                    "check": check})

    fact("http", keyed, f"with the key log: all {reuse['requests'] + 1} requests of the reused connection are read",
         {"http_connection": {"client_port": reuse["client_port"]},
          "where": {"requests": reuse["requests"] + 1, "responses": reuse["requests"]}})
    fact("http", keyed, "with the key log: the request after nginx's idle close is a reuse race",
         {"http_connection": {"client_port": reuse["client_port"]},
          "where": {"close.kind": "reuse_race"}})
    fact("http", keyed, "with the key log: the polite connection ended at nginx's idle timeout",
         {"http_connection": {"client_port": polite["client_port"]},
          "where": {"close.kind": "server_idle_timeout", "close.idle_s": [0.95, 1.1]}})
    fact("http", keyed, "with the key log: nginx's idle timeout is measured as 1 s",
         {"http_server": server, "where": {"idle_timeout_min_s": [0.95, 1.1]}})
    fact("http", keyed, "with the key log: the bare-FIN connection was closed by the client",
         {"http_connection": {"client_port": bare["client_port"]},
          "where": {"close.kind": "client_close"}})
    fact("diagnose", keyed, "with the key log: one HTTP request was lost to the reuse race",
         {"finding": "http_reuse_race", "count": 1, "conn": {"client_port": reuse["client_port"]}})
    fact("diagnose", [], "without the key log: nginx closed the reused connection with close_notify",
         {"close": {"client_port": reuse["client_port"]},
          "where": {"kind": "rst", "tls.close_notify_by": {"contains": "server"},
                    "tls.after_peer_fin_by": {"contains": "client"}}})
    fact("diagnose", [], "without the key log: the request after nginx's FIN and its RST are a keep-alive close race",
         {"finding": "connection_reset", "count": 1, "conn": {"client_port": reuse["client_port"]},
          "where": {"by": "server", "close_race": True}})
    fact("diagnose", [], "without the key log: nginx closed the polite connection with close_notify, the client's came after nginx's FIN",
         {"close": {"client_port": polite["client_port"]},
          "where": {"tls.close_notify_by": {"contains": "server"}, "tls.bare_fin_by": {"len": 0},
                    "tls.after_peer_fin_by": {"contains": "client"}}})
    fact("diagnose", [], "without the key log: the reset answering the polite client's close_notify is an ordinary TLS shutdown, not a close race",
         {"finding": "connection_reset", "count": 1, "conn": {"client_port": polite["client_port"]},
          "where": {"by": "server", "tls_shutdown": True, "close_race": False, "severity": "info"}})
    fact("diagnose", [], "without the key log: the bare connection's client closed with a bare FIN",
         {"close": {"client_port": bare["client_port"]},
          "where": {"tls.bare_fin_by": {"contains": "client"}}})
    fact("diagnose", [], "without the key log: no reset of the bare connection is called a close race",
         {"no_finding": "connection_reset", "conn": {"client_port": bare["client_port"]},
          "where": {"close_race": True}})
    fact("diagnose", [], "without the key log: no TLS close is a truncation",
         {"no_finding": "tls_truncation"})
    return out


def main():
    if sys.argv[1:] == ["facts"]:
        path = os.path.join(HERE, "truth.json")
        with open(path) as f:
            truth = json.load(f)
        truth["facts"] = facts(truth)
        with open(path, "w") as f:
            json.dump(truth, f, indent=2)
            f.write("\n")
        return
    tlslab.in_own_namespace(__file__)
    keylog = os.path.join(HERE, "keylog.txt")
    if os.path.exists(keylog):
        os.unlink(keylog)
    ngx = start_nginx()
    cap = tlslab.Capture(os.path.join(HERE, "capture.pcapng"))
    conns = [client_reuse(keylog)]
    time.sleep(0.2)
    conns.append(client_polite(keylog))
    time.sleep(0.2)
    conns.append(client_bare(keylog))
    time.sleep(0.5)
    cap.stop()
    ngx.terminate()
    ngx.wait()
    truth = {
        "scenario": "tls-keepalive-idle-close",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on lo in the driver's own network namespace)",
        "server": f"127.0.0.1:{PORT}",
        "nginx": {"version": "1.22.1", "keepalive_timeout_s": IDLE, "ssl_buffer_size": "4k"},
        "connections": conns,
    }
    truth["facts"] = facts(truth)
    with open(os.path.join(HERE, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    print(json.dumps(conns, indent=1))


if __name__ == "__main__":
    main()
