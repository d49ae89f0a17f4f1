#!/usr/bin/env python3
"""reconnect-refused -- a client whose connection the server reset retries with backoff while
nothing listens, and gets through when the server is back (root; ~8 s).

Issue 22 (reconnect storms, refused connections).  A server on 10.77.79.1:8100 (ks-rs-s) and one
client 10.77.79.31 (ks-rs-c), plain kernel sockets.  The client sends a 200-byte request every
0.5 s and waits for the 200-byte reply.  At the 5th request the server "crashes": it closes the
connection with SO_LINGER 0 (the kernel sends RST) and closes its listening socket.  The client's
recv() fails with ECONNRESET; it retries after 0.25 s, then doubles the delay (0.5, 1, 2 s ...).
Every connect() while nothing listens fails with ECONNREFUSED (the server's kernel answers the SYN
with RST/ACK).  The server listens again 2.5 s after the crash; the next attempt gets through,
does one exchange and closes (FIN).  Each attempt binds its socket first, so the driver knows its
port (getsockname) whether or not connect() succeeds.  Capture: client side.  No application log.
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SA, CA, PORT = "10.77.79.1", "10.77.79.31", 8100
MSG = 200
CRASH_AT_REQUEST = 5
DOWN_S = 2.5
FIRST_DELAY_S = 0.25


def recv_exactly(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise ConnectionAbortedError("eof")
        buf += d
    return buf


def server(ns, state):
    ls = kit.listener(ns, SA, PORT)
    conn, _ = ls.accept()
    for i in range(1, CRASH_AT_REQUEST + 1):
        recv_exactly(conn, MSG)
        if i == CRASH_AT_REQUEST:
            # The crash: RST for the connection, and nothing listening any more.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            state["crash_t"] = time.time()
            conn.close()
            ls.close()
            break
        conn.sendall(b"r" * MSG)
    time.sleep(DOWN_S)
    ls = kit.listener(ns, SA, PORT)
    state["back_t"] = time.time()
    conn, _ = ls.accept()
    recv_exactly(conn, MSG)
    conn.sendall(b"r" * MSG)
    recv_exactly_or_eof = conn.recv(1)
    assert recv_exactly_or_eof == b"", recv_exactly_or_eof
    conn.close()
    ls.close()


def attempt(ns):
    """One connect() from a socket bound first: (socket or None, port, SYN time, outcome)."""
    with ksnet.in_ns(ns):
        s = socket.socket()
    s.bind((CA, 0))
    port = s.getsockname()[1]
    s.settimeout(5)
    t = time.time()
    try:
        s.connect((SA, PORT))
        return s, port, t, "connected"
    except ConnectionRefusedError:
        s.close()
        return None, port, t, "refused"


def main():
    c, s, cif, _sif = kit.pair("rs", [CA], [SA])
    state = {}
    srv = threading.Thread(target=server, args=(s, state))
    srv.start()
    time.sleep(0.3)
    cap = ksnet.Capture(c, cif, os.path.join(HERE, "capture.pcapng"))
    first = kit.connect(c, SA, PORT, src=CA)
    first_port = first.getsockname()[1]
    requests = []
    dead_t = None
    for i in range(1, CRASH_AT_REQUEST + 1):
        first.sendall(b"q" * MSG)
        requests.append(r6(time.time()))
        try:
            recv_exactly(first, MSG)
        except ConnectionResetError:
            dead_t = time.time()
            break
        time.sleep(0.5)
    assert dead_t is not None, "the server's reset did not reach the client"
    first.close()

    attempts = []
    delay = FIRST_DELAY_S
    time.sleep(delay)
    while True:
        sock, port, t, outcome = attempt(c)
        attempts.append({"client_port": port, "syn_t": r6(t), "outcome": outcome})
        if sock is not None:
            break
        delay *= 2
        time.sleep(delay)
    sock.sendall(b"q" * MSG)
    recv_exactly(sock, MSG)
    sock.close()
    srv.join(timeout=20)
    time.sleep(0.5)
    cap.stop()

    refused = [a for a in attempts if a["outcome"] == "refused"]
    through = attempts[-1]
    assert through["outcome"] == "connected" and len(refused) >= 3, attempts
    gaps = [round(b["syn_t"] - a["syn_t"], 6) for a, b in zip(attempts, attempts[1:])]
    cap_ = "capture.pcapng"
    server_ep = f"{SA}:{PORT}"
    diag = {"capture": cap_, "command": "diagnose", "args": []}
    got_through_after = through["syn_t"] - refused[0]["syn_t"]
    reconnect_after = refused[0]["syn_t"] - state["crash_t"]
    storm = {"finding": "reconnect_storm", "conn": {"client_port": through["client_port"]}}
    facts = [
        dict(diag, id="the first connection was reset by the server (its crash)",
             check={"close": {"client_port": first_port}, "where": {"kind": "rst", "by": "server"}}),
        dict(diag, id=f"one reconnect storm: {len(refused)} refused attempts, then through",
             check=dict(storm, count=1, where={"attempts": len(refused), "refused": len(refused),
                                               "unanswered": 0, "client": CA, "server": server_ep})),
        dict(diag, id="the client backed off exponentially (each delay doubled)",
             check=dict(storm, where={"backoff": "exponential", "backoff_factor": [1.8, 2.2]})),
        dict(diag, id=f"the gaps between attempts were {gaps}",
             check=dict(storm, where={"gaps_s": {"len": len(gaps)}, "gaps_s.0": [gaps[0] - 0.05, gaps[0] + 0.05],
                                      f"gaps_s.{len(gaps) - 1}": [gaps[-1] - 0.05, gaps[-1] + 0.05]})),
        dict(diag, id=f"it got through {got_through_after:.2f} s after its first retry",
             check=dict(storm, where={"got_through_after_s": [got_through_after - 0.05, got_through_after + 0.05]})),
        dict(diag, id="the storm is tied to the reset of the first connection",
             check=dict(storm, where={"after.close": "rst", "after.by": "server", "after.cause": "connection_reset",
                                      "after.reconnect_after_s": [reconnect_after - 0.05, reconnect_after + 0.05]})),
        dict(diag, id=f"{len(refused)} attempts refused at port {PORT}",
             check={"finding": "connection_refused", "count": 1,
                    "where": {"attempts": len(refused), "server": SA, "sources": 1, "ports.0.port": PORT}}),
        dict(diag, id="a refused attempt is no connection reset",
             check={"no_finding": "connection_reset", "conn": {"client_port": refused[0]["client_port"]}}),
        dict(diag, id="nothing went unanswered", check={"no_finding": "syn_unanswered"}),
        dict(diag, id="one client retrying one port is no scan", check={"no_finding": "scan"}),
        dict(diag, id="the refusals are no cause of death",
             check={"no_cause": "connection_refused"}),
    ]
    truth = {
        "scenario": "reconnect-refused",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the client veth ksrsc)",
        "server": server_ep,
        "first_connection": {"client_port": first_port, "requests_t": requests,
                             "server_crash_t": r6(state["crash_t"]), "client_saw_reset_t": r6(dead_t)},
        "server_back_t": r6(state["back_t"]),
        "attempts": attempts,
        "gaps_s": gaps,
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("attempts", attempts)
    print("gaps", gaps)


if __name__ == "__main__":
    main()
