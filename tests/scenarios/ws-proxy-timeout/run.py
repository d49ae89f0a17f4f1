#!/usr/bin/env python3
"""ws-proxy-timeout -- WebSocket keep-alive and its ends, with real kernel TCP in two network
namespaces (ks-ws-c 10.77.91.2, ks-ws-s 10.77.91.1), captured with dumpcap on the client's veth.

In ks-ws-s a Python `websockets` echo server listens on 127.0.0.1:9001 behind nginx on :8080
(`proxy_read_timeout 3s`, a short stand-in for the 60 s default; the Upgrade headers passed
through), and the same server listens directly on 10.77.91.1:9001; a hand-written WebSocket
peer on :9002 completes the handshake and then reads without ever answering. Connections, one
after the other:

* heartbeat (via nginx, :8080): the client pings every 1 s (websockets' keep-alive), sends a
  text, a 300-byte binary message (16-bit length) and a 70,000-byte one (64-bit length, many
  segments), and closes with 1000 "bye" after ~4.5 s: a normal close by the client.
* server-close (direct, :9001): a text, then the server closes with 1011 "backend restart": an
  error close by the server.
* quiet (via nginx): a text, then nobody sends anything (no pings); nginx's proxy_read_timeout
  cuts the client connection at 3 s with a bare FIN, no close frame: websockets reports 1006.
* unanswered (direct, :9002): the client pings every 1 s, the peer never answers; after its
  1.5 s ping timeout the client gives up (websockets closes with 1011 "keepalive ping timeout").

Needs: websockets (Debian python3-websockets or pip), nginx, dumpcap, tshark, root.
The silent peer also sends, 1 s after its 101, a text and a ping in one segment and a text
in two pieces 50 ms apart; capture-midstream.pcapng (port 9002 only) begins after that
connection's handshake, for `-d tcp.port==9002,websocket`.

Writes capture.pcapng, capture-midstream.pcapng, their .tshark.tsv and truth.json (facts).
"""
import asyncio
import base64
import hashlib
import json
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

import websockets  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import serve  # noqa: E402

CLIENT, SERVER = "10.77.91.2", "10.77.91.1"
PROXY_PORT, DIRECT_PORT, SILENT_PORT = 8080, 9001, 9002
PROXY_READ_TIMEOUT_S = 3
server_log = {}


def ns_socket(ns, addr, port, listen):
    with ksnet.in_ns(ns):
        s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if listen:
        s.bind((addr, port))
        s.listen(16)
    else:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect((addr, port))
    s.setblocking(False)
    return s


async def echo(ws):
    plan = ws.request.path.strip("/")
    log = server_log.setdefault(plan, {})
    log["peer"] = "%s:%d" % ws.remote_address[:2]
    async for msg in ws:
        if plan == "server-close":
            await ws.send(msg)
            await asyncio.sleep(0.5)
            log["close_sent_t"] = r6(time.time())
            await ws.close(1011, "backend restart")
            return
        await ws.send(msg)


def silent_peer(listener, log):
    """Answers the handshake, then reads and never answers (not even pongs)."""
    s, peer = listener.accept()
    s.setblocking(True)
    req = b""
    while b"\r\n\r\n" not in req:
        req += s.recv(4096)
    key = [ln.split(b":", 1)[1].strip() for ln in req.split(b"\r\n")
           if ln.lower().startswith(b"sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    log["peer"] = "%s:%d" % peer
    time.sleep(1.0)
    # Two frames in one segment (a text and a ping), then a text written in two pieces.
    s.sendall(b"\x81\x05hello" + b"\x89\x04beat")
    log["two_frames_t"] = r6(time.time())
    time.sleep(0.05)
    s.sendall(b"\x81\x0aspli")
    time.sleep(0.05)
    s.sendall(b"t frame")
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        try:
            if not s.recv(65536):
                break
        except OSError:
            break
    log["eof_t"] = r6(time.time())
    s.close()


async def client(plan, port, path):
    sock = ns_socket("ks-ws-c", SERVER, port, listen=False)
    c = {"plan": plan, "client_port": sock.getsockname()[1], "server_port": port,
         "via_proxy": port == PROXY_PORT, "connect_t": r6(time.time())}
    pings = plan in ("heartbeat", "unanswered")
    ws = await connect(f"ws://{SERVER}:{port}/{path}", sock=sock, compression=None,
                       ping_interval=1.0 if pings else None, ping_timeout=1.5 if pings else None,
                       close_timeout=2)
    c["open_t"] = r6(time.time())
    try:
        if plan == "heartbeat":
            await ws.send("hello")
            c["echo"] = await ws.recv()
            await ws.send(bytes(range(256)) + bytes(44))
            await ws.recv()
            await ws.send(os.urandom(70000))
            await ws.recv()
            await asyncio.sleep(4.5 - (time.time() - c["open_t"]))
            c["close_sent_t"] = r6(time.time())
            await ws.close(1000, "bye")
        elif plan == "server-close":
            await ws.send("hi")
            c["echo"] = await ws.recv()
            await ws.wait_closed()
        elif plan == "quiet":
            await ws.send("still there?")
            c["echo"] = await ws.recv()
            c["last_data_t"] = r6(time.time())
            await ws.wait_closed()
        else:
            # A second capture that begins after the handshake: what `-d tcp.port==N,websocket`
            # is for.
            c["midstream_capture"] = await asyncio.to_thread(
                ksnet.Capture, "ks-ws-c", "kswsc", os.path.join(HERE, "capture-midstream.pcapng"),
                bpf=f"tcp port {SILENT_PORT}")
            c["midstream_capture_t"] = r6(time.time())
            await ws.send("anyone?")
            c["received"] = [await ws.recv(), await ws.recv()]
            await ws.wait_closed()
    finally:
        c["closed_t"] = r6(time.time())
        c["close_code"] = ws.close_code
        c["close_reason"] = ws.close_reason
        rcvd, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
        c["close_received"] = None if rcvd is None else {"code": rcvd.code, "reason": rcvd.reason}
        c["close_sent"] = None if sent is None else {"code": sent.code, "reason": sent.reason}
    return c


async def scenario():
    direct = ns_socket("ks-ws-s", SERVER, DIRECT_PORT, listen=True)
    behind = ns_socket("ks-ws-s", "127.0.0.1", DIRECT_PORT, listen=True)
    silent = ns_socket("ks-ws-s", SERVER, SILENT_PORT, listen=True)
    silent.setblocking(True)
    threading.Thread(target=silent_peer, args=(silent, server_log.setdefault("silent", {})),
                     daemon=True).start()
    conns = []
    async with serve(echo, sock=direct, compression=None, ping_interval=None), \
            serve(echo, sock=behind, compression=None, ping_interval=None):
        for plan, port in (("heartbeat", PROXY_PORT), ("server-close", DIRECT_PORT),
                           ("quiet", PROXY_PORT), ("unanswered", SILENT_PORT)):
            conns.append(await client(plan, port, plan))
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.5)
    return conns


def by_plan_capture(conns):
    """Stops the midstream capture (kept in the connection's record until now)."""
    for x in conns:
        cap = x.pop("midstream_capture", None)
        if cap is not None:
            cap.stop()
            return cap
    return None


def main():
    c, s = ksnet.add_ns("ks-ws-c"), ksnet.add_ns("ks-ws-s")
    ksnet.veth(c, "kswsc", s, "kswss", [f"{CLIENT}/24"], [f"{SERVER}/24"], offload=False)
    work = f"/tmp/ws-scenario-nginx-{os.getpid()}"
    _, conf = kit.nginx(s, work, f"""
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen {SERVER}:{PROXY_PORT};
        location / {{
            proxy_pass http://127.0.0.1:{DIRECT_PORT};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout {PROXY_READ_TIMEOUT_S}s;
        }}
    }}""")
    kit.wait_port(c, SERVER, PROXY_PORT)
    cap = ksnet.Capture(c, "kswsc", os.path.join(HERE, "capture.pcapng"),
                        bpf=f"tcp port {PROXY_PORT} or tcp port {DIRECT_PORT} or tcp port {SILENT_PORT}")
    conns = asyncio.run(scenario())
    cap.stop()
    by_plan_capture(conns)
    by = {x["plan"]: x for x in conns}
    for x in conns:
        x["server"] = server_log.get("silent" if x["plan"] == "unanswered" else x["plan"], {})
    # The upgrade makes each connection WebSocket on any port: no -d needed.
    diag = {"capture": "capture.pcapng", "command": "diagnose", "args": []}
    mid = {"capture": "capture-midstream.pcapng", "command": "diagnose",
           "args": ["-d", f"tcp.port=={SILENT_PORT},websocket"]}
    sel = {p: {"client_port": by[p]["client_port"]} for p in by}
    hb = by["heartbeat"]
    quiet_idle = by["quiet"]["closed_t"] - by["quiet"]["last_data_t"]
    facts = [
        dict(diag, id="the upgrade through nginx is found",
             check={"finding": "websocket_upgrade", "conn": sel["heartbeat"],
                    "where": {"server_port": PROXY_PORT}}),
        dict(diag, id="the client's pings every second are its heartbeat, all answered",
             check={"finding": "websocket_ping_heartbeat", "conn": sel["heartbeat"],
                    "where": {"by": "client", "pings": [3, 5], "unanswered": 0,
                              "period_s": [0.9, 1.2]}}),
        dict(diag, id="the client's close 1000 'bye' is a normal close by the client",
             check={"finding": "websocket_close", "conn": sel["heartbeat"],
                    "where": {"by": "client", "code": hb["close_sent"]["code"],
                              "reason": hb["close_sent"]["reason"], "normal": True}}),
        dict(diag, id="the server's close 1011 is an error close by the server",
             check={"finding": "websocket_close", "conn": sel["server-close"],
                    "where": {"by": "server", "code": by["server-close"]["close_code"],
                              "reason": by["server-close"]["close_reason"], "normal": False}}),
        dict(diag, id="the quiet connection cut without a close frame is 1006",
             check={"finding": "websocket_abnormal_close", "conn": sel["quiet"],
                    "where": {"code": by["quiet"]["close_code"], "closed_by": "server"}}),
        dict(diag, id="the cut after the quiet time is nginx's proxy_read_timeout",
             check={"finding": "websocket_proxy_timeout", "conn": sel["quiet"],
                    "where": {"idle_s": [PROXY_READ_TIMEOUT_S - 0.2, PROXY_READ_TIMEOUT_S + 0.3]}}),
        dict(diag, id="the close frames are not called 1006",
             check={"no_finding": "websocket_abnormal_close", "conn": sel["heartbeat"]}),
        dict(diag, id="the ping the silent peer never answered is found",
             check={"finding": "websocket_ping_unanswered", "conn": sel["unanswered"],
                    "where": {"by": "client", "close": "close_frame"}}),
        dict(mid, id="in the capture begun after the handshake, -d finds the same unanswered ping",
             check={"finding": "websocket_ping_unanswered", "conn": sel["unanswered"],
                    "where": {"by": "client", "close": "close_frame"}}),
        dict(mid, id="the client's close 1011 'keepalive ping timeout' is an error close by the client",
             check={"finding": "websocket_close", "conn": sel["unanswered"],
                    "where": {"by": "client", "code": by["unanswered"]["close_sent"]["code"],
                              "reason": by["unanswered"]["close_sent"]["reason"],
                              "normal": False, "answered": False}}),
    ]
    truth = {"scenario": "ws-proxy-timeout", "websockets": websockets.__version__,
             "nginx": {"listen": f"{SERVER}:{PROXY_PORT}", "upstream": f"127.0.0.1:{DIRECT_PORT}",
                       "proxy_read_timeout_s": PROXY_READ_TIMEOUT_S},
             "direct": f"{SERVER}:{DIRECT_PORT}", "silent_peer": f"{SERVER}:{SILENT_PORT}",
             "quiet_idle_s": r6(quiet_idle), "connections": conns, "facts": facts}
    kit.finish(HERE, truth, None, ["capture.pcapng", "capture-midstream.pcapng"])
    print(json.dumps(truth, indent=1))


if __name__ == "__main__":
    main()
