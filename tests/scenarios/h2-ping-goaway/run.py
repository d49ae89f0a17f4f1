#!/usr/bin/env python3
"""h2-ping-goaway -- HTTP/2 (prior-knowledge h2c) with the Python `h2` library on both ends,
on loopback port 17610, captured with dumpcap. Three connections, one after the other:

* heartbeat: a GET whose header block is large enough to need CONTINUATION frames, a padded
  DATA answer, then the client PINGs every 1 s (5 PINGs, each answered; the 3rd is written in
  two pieces 50 ms apart, so one frame spans two segments; the 4th is written together with a
  WINDOW_UPDATE, two frames in a segment); then the server sends GOAWAY NO_ERROR with
  last-stream-id 1 and closes: a graceful end.
* unanswered: a GET, then PINGs every 1 s; the server answers the first 2 and then stops
  reading; the client waits 2 s for the 3rd PING's ACK and closes the TCP connection without a
  GOAWAY: a dead connection noticed by PING.
* idle: a GET, then nothing; the server closes the TCP connection after 3 s idle without a
  GOAWAY (as a proxy's idle timeout does).

Needs: h2 (pip), dumpcap, tshark. Writes capture.pcapng and truth.json (facts).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from common import r6, write_truth  # noqa: E402

PORT = 17610
CAP = os.path.join(HERE, "capture.pcapng")
server_log = {}


def serve(listener, plans):
    for plan in plans:
        s, peer = listener.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        log = server_log.setdefault(plan, {"peer_port": peer[1], "pings_answered": 0})
        s.settimeout(0.2)
        last_rx = time.time()
        while True:
            if plan == "unanswered" and log["pings_answered"] >= 2:
                # Stop reading: PINGs go unanswered until the client gives up.
                try:
                    s.settimeout(10)
                    while s.recv(65536):
                        pass
                except OSError:
                    pass
                log["closed_t"] = time.time()
                s.close()
                break
            if plan == "idle" and time.time() - last_rx > 3.0:
                log["idle_close_t"] = time.time()
                s.close()
                break
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            if not data:
                log["closed_t"] = time.time()
                s.close()
                break
            last_rx = time.time()
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    conn.send_headers(ev.stream_id, [(":status", "200"),
                                                     ("content-type", "text/plain")])
                    conn.send_data(ev.stream_id, b"hello over h2c\n", end_stream=True,
                                   pad_length=7)
                elif isinstance(ev, h2.events.PingReceived):
                    log["pings_answered"] += 1
            out = conn.data_to_send()
            if out:
                s.sendall(out)
            if plan == "heartbeat" and log["pings_answered"] >= 5:
                time.sleep(0.3)
                conn.close_connection(error_code=0, last_stream_id=1)
                s.sendall(conn.data_to_send())
                log["goaway_t"] = time.time()
                time.sleep(0.1)
                s.close()
                log["closed_t"] = time.time()
                break


def client(plan, truth):
    s = socket.create_connection(("127.0.0.1", PORT))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    headers = [(":method", "GET"), (":path", f"/{plan}"), (":scheme", "http"),
               (":authority", f"127.0.0.1:{PORT}")]
    if plan == "heartbeat":
        headers.append(("x-filler", os.urandom(20000).hex()))
    conn.send_headers(1, headers, end_stream=True)
    s.sendall(conn.data_to_send())
    c = {"plan": plan, "client_port": s.getsockname()[1], "server_port": PORT,
         "connect_t": r6(time.time()), "pings": []}
    got_response = False
    pending = {}
    s.settimeout(0.05)

    def pump(until):
        nonlocal got_response
        while time.time() < until:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return "eof"
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    got_response = True
                elif isinstance(ev, h2.events.PingAckReceived):
                    p = pending.pop(ev.ping_data, None)
                    if p is not None:
                        p["ack_t"] = r6(time.time())
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    c["goaway"] = {"t": r6(time.time()), "error_code": int(ev.error_code),
                                   "last_stream_id": ev.last_stream_id}
            out = conn.data_to_send()
            if out:
                s.sendall(out)
        return None

    pump(time.time() + 0.5)
    c["response"] = got_response
    if plan == "idle":
        r = pump(time.time() + 6)
        c["server_closed_t"] = r6(time.time()) if r == "eof" else None
        s.close()
        return c
    for k in range(1, 7):
        payload = f"beat{k:04d}".encode()
        conn.ping(payload)
        raw = conn.data_to_send()
        p = {"k": k, "sent_t": r6(time.time()), "opaque": payload.hex(), "ack_t": None}
        pending[payload] = p
        if plan == "heartbeat" and k == 3:
            s.sendall(raw[:5])
            time.sleep(0.05)
            s.sendall(raw[5:])
        elif plan == "heartbeat" and k == 4:
            conn.increment_flow_control_window(4096)
            s.sendall(raw + conn.data_to_send())
        else:
            s.sendall(raw)
        c["pings"].append(p)
        r = pump(time.time() + 1.0)
        if r == "eof":
            c["server_closed_t"] = r6(time.time())
            break
        if p["ack_t"] is None:
            # Give the ACK one more second, then call the connection dead.
            r = pump(time.time() + 1.0)
            if p["ack_t"] is None:
                c["gave_up_t"] = r6(time.time())
                c["ping_timeout_s"] = 2.0
                s.close()
                return c
        if plan == "heartbeat" and k == 5:
            r = pump(time.time() + 2.0)
            if r == "eof":
                c["server_closed_t"] = r6(time.time())
            break
    s.close()
    return c


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", PORT))
    listener.listen(4)
    dumpcap = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", f"tcp port {PORT}",
                                "-w", CAP], stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    plans = ["heartbeat", "unanswered", "idle"]
    t = threading.Thread(target=serve, args=(listener, plans), daemon=True)
    t.start()
    conns = []
    for plan in plans:
        conns.append(client(plan, None))
        time.sleep(0.5)
    t.join(timeout=15)
    time.sleep(1)
    dumpcap.send_signal(signal.SIGINT)
    dumpcap.wait()
    for c in conns:
        c["server"] = server_log.get(c["plan"], {})
        c["server"] = {k: (r6(v) if isinstance(v, float) else v) for k, v in c["server"].items()}
    by_plan = {c["plan"]: c for c in conns}
    diag = {"capture": "capture.pcapng", "command": "diagnose", "args": []}
    hb, dead, idle = ({"client_port": by_plan[p]["client_port"]} for p in plans)
    facts = [
        dict(diag, id="the client's PINGs every second are its heartbeat",
             check={"finding": "http2_ping_heartbeat", "conn": hb,
                    "where": {"by": "client", "pings": len(by_plan["heartbeat"]["pings"]),
                              "acked": len(by_plan["heartbeat"]["pings"]),
                              "period_s": [0.9, 1.2]}}),
        dict(diag, id="the server's GOAWAY NO_ERROR is a graceful shutdown of stream 1",
             check={"finding": "http2_goaway", "conn": hb,
                    "where": {"reason": "graceful_shutdown", "by": "server",
                              "last_stream_id": 1, "error_code": 0}}),
        dict(diag, id="a connection ended by GOAWAY is not called a close without GOAWAY",
             check={"no_finding": "http2_close_without_goaway", "conn": hb}),
        dict(diag, id="the unanswered PING and the client's give-up are found",
             check={"finding": "http2_ping_unanswered", "conn": dead,
                    "where": {"by": "client", "closed_by": "client", "close": "fin",
                              "earlier_acks": by_plan["unanswered"]["server"]["pings_answered"],
                              "waited_s": [1.8, 2.3]}}),
        dict(diag, id="the server's idle close without GOAWAY is found with its idle time",
             check={"finding": "http2_close_without_goaway", "conn": idle,
                    "where": {"by": "server", "close": "fin", "idle_s": [2.8, 3.5]}}),
    ]
    truth = {"scenario": "h2-ping-goaway", "server": f"127.0.0.1:{PORT}",
             "h2": h2.__version__, "connections": conns, "facts": facts}
    write_truth(os.path.join(HERE, "truth.json"), truth)
    print(json.dumps(truth, indent=1))


if __name__ == "__main__":
    main()
