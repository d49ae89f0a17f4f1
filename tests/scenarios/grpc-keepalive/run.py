#!/usr/bin/env python3
"""grpc-keepalive -- real grpcio (PyPI) server and client on loopback, captured with dumpcap.

Two connections, each to its own server port:

* too-many-pings (port 17600): the client pings every 1 s without calls
  (grpc.keepalive_time_ms=1000, grpc.keepalive_permit_without_calls=1,
  grpc.http2.max_pings_without_data=0); the server tolerates one ping per 5 s without data
  (grpc.http2.min_recv_ping_interval_without_data_ms=5000) and 2 strikes
  (grpc.http2.max_ping_strikes=2), so it sends GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
* max-age (port 17601): the server ages connections out after 2 s
  (grpc.max_connection_age_ms=2000, grace 1 s); a call that takes 4 s is cut when the grace
  ends, and the client sees UNAVAILABLE.

Needs: grpcio (pip), dumpcap, tshark. Writes capture.pcapng, truth.json (facts), tshark reference.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from common import r6, write_truth  # noqa: E402

PING_PORT, AGE_PORT = 17600, 17601
CAP = os.path.join(HERE, "capture.pcapng")


def handlers(log):
    def echo(request, context):
        log.append(("call", context.peer(), time.time()))
        if request.startswith(b"sleep"):
            time.sleep(float(request[5:]))
        return b"ok:" + request

    return grpc.method_handlers_generic_handler(
        "keepsight.Echo", {"Say": grpc.unary_unary_rpc_method_handler(echo)}
    )


def server(port, options):
    log = []
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
    s.add_generic_rpc_handlers((handlers(log),))
    s.add_insecure_port(f"127.0.0.1:{port}")
    s.start()
    return s


def call(channel, payload, timeout=10):
    say = channel.unary_unary("/keepsight.Echo/Say")
    t = time.time()
    try:
        say(payload, timeout=timeout)
        return {"sent_t": r6(t), "end_t": r6(time.time()), "status": "OK", "code": 0}
    except grpc.RpcError as e:
        return {"sent_t": r6(t), "end_t": r6(time.time()), "status": e.code().name,
                "code": e.code().value[0], "details": e.details()}


def main():
    dumpcap = subprocess.Popen(
        ["dumpcap", "-q", "-i", "lo", "-f", f"tcp port {PING_PORT} or tcp port {AGE_PORT}",
         "-w", CAP], stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    truth = {"scenario": "grpc-keepalive", "grpcio": grpc.__version__}

    # 1. too_many_pings
    server_opts = [("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
                   ("grpc.http2.max_ping_strikes", 2)]
    client_opts = [("grpc.keepalive_time_ms", 1000), ("grpc.keepalive_timeout_ms", 2000),
                   ("grpc.keepalive_permit_without_calls", 1),
                   ("grpc.http2.max_pings_without_data", 0)]
    s = server(PING_PORT, server_opts)
    ch = grpc.insecure_channel(f"127.0.0.1:{PING_PORT}", options=client_opts)
    first = call(ch, b"hello")
    time.sleep(8)
    ch.close()
    s.stop(0)
    truth["too_many_pings"] = {
        "server": f"127.0.0.1:{PING_PORT}", "server_options": dict(server_opts),
        "client_options": dict(client_opts), "client_ping_interval_s": 1.0,
        "server_min_ping_interval_s": 5.0, "max_ping_strikes": 2, "first_call": first,
    }

    # 2. max_connection_age
    server_opts = [("grpc.max_connection_age_ms", 2000), ("grpc.max_connection_age_grace_ms", 1000)]
    s = server(AGE_PORT, server_opts)
    ch = grpc.insecure_channel(f"127.0.0.1:{AGE_PORT}")
    grpc.channel_ready_future(ch).result(timeout=5)
    connected = time.time()
    quick = call(ch, b"hello")
    slow = call(ch, b"sleep4")
    time.sleep(0.5)
    ch.close()
    s.stop(0)
    truth["max_connection_age"] = {
        "server": f"127.0.0.1:{AGE_PORT}", "server_options": dict(server_opts),
        "max_age_s": 2.0, "grace_s": 1.0, "connected_t": r6(connected),
        "calls": [quick, slow],
    }
    time.sleep(1)
    dumpcap.send_signal(signal.SIGINT)
    dumpcap.wait()
    # What keepsight must conclude, from what this driver configured and saw.
    diag = {"capture": "capture.pcapng", "command": "diagnose", "args": []}
    ping_conn = {"server_port": PING_PORT}
    age_conn = {"server_port": AGE_PORT}
    slow = truth["max_connection_age"]["calls"][1]
    truth["facts"] = [
        dict(diag, id="the too_many_pings GOAWAY is explained with the client's 1 s ping interval",
             check={"finding": "http2_goaway", "conn": ping_conn,
                    "where": {"reason": "too_many_pings", "error": "ENHANCE_YOUR_CALM",
                              "by": "server", "client_ping_interval_s": [0.9, 1.1]}}),
        dict(diag, id="the fix names the client's and the server's keep-alive settings",
             check={"finding": "http2_goaway", "conn": ping_conn,
                    "where": {"advice.*.setting": {"contains": "GRPC_ARG_KEEPALIVE_TIME_MS"}}}),
        dict(diag, id="grpc-go's names are given too",
             check={"finding": "http2_goaway", "conn": ping_conn,
                    "where": {"advice.*.setting": {"contains": "keepalive.EnforcementPolicy.MinTime"}}}),
        dict(diag, id="the client's PINGs are seen as its heartbeat",
             check={"finding": "http2_ping_heartbeat", "conn": ping_conn,
                    "where": {"by": "client", "period_s": [0.9, 1.1]}}),
        dict(diag, id="the first call succeeded: no failed call on the ping connection",
             check={"no_finding": "grpc_call_failed", "conn": ping_conn}),
        dict(diag, id="the max-age GOAWAY is explained with the connection's age",
             check={"finding": "http2_goaway", "conn": age_conn,
                    "where": {"reason": "max_connection_age", "error": "NO_ERROR",
                              "age_s": [1.9, 2.4]}}),
        dict(diag, id="the slow call's UNAVAILABLE is tied to the max-age GOAWAY",
             check={"finding": "grpc_call_failed", "conn": age_conn,
                    "where": {"status": slow["status"], "grpc_status": slow["code"],
                              "grpc_message": slow["details"],
                              "method": "/keepsight.Echo/Say",
                              "goaway_debug_data": "max_age", "after_goaway_s": [0.9, 1.3]}}),
    ]
    write_truth(os.path.join(HERE, "truth.json"), truth)
    print(json.dumps(truth, indent=1))


if __name__ == "__main__":
    main()
