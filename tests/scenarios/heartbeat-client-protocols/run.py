#!/usr/bin/env python3
"""heartbeat-client-protocols -- `keepsight heartbeat client --protocol` speaking real framing (issue 24 item 3).

Four sessions side by side on loopback, each a `keepsight heartbeat client --protocol P
--no-reconnect` (the binary in $KEEPSIGHT, else target/debug/keepsight) against a peer that
stalls:

| session | peer | client | what happens |
|---------|------|--------|--------------|
| fix     | crates/keepalive/tests/peers/app_peer.py fix (own FIX engine) | --every 2s --timeout 1s --misses 2 | the peer heartbeats 3 times then hangs; the client's two TestRequests go unanswered; it logs out "no heartbeat" |
| amqp    | app_peer.py amqp, Tune proposes 1 s | --every 2s (settles 1 s) --timeout 500ms --misses 2 | the peer sends 4 heartbeat frames then goes silent; the client sends Connection.Close "no heartbeat" |
| iso8583 | app_peer.py iso8583 | --every 1s --timeout 500ms --misses 2 | 5 echo tests answered, then none |
| redis   | redis-server | --every 1s --timeout 500ms --misses 2 | PONGs until a DEBUG SLEEP 3 from another connection blocks Redis |

Writes capture.pcapng (dumpcap on lo in a fresh network namespace, ../loopcap.py) and
truth.json (each client's port and log, each peer's report; `facts`). `run.py facts` rewrites
the facts from truth.json. Needs root, python3, dumpcap, redis-server.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import loopcap  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PEER = os.path.join(ROOT, "crates", "keepalive", "tests", "peers", "app_peer.py")
KEEPSIGHT = os.environ.get("KEEPSIGHT", os.path.join(ROOT, "target", "debug", "keepsight"))
REDIS_PORT = 46379


def client(protocol, port, args):
    """Runs the client to its end; its port (from its `connected` line) and log."""
    cmd = [KEEPSIGHT, "heartbeat", "client", "--connect", f"127.0.0.1:{port}",
           "--protocol", protocol, "--no-reconnect", "--log", "beats"] + args
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    log = p.stdout.splitlines()
    local = next(line.split("connected ")[1].split(" ")[0] for line in log if " connected " in line)
    return {"client_port": int(local.rsplit(":", 1)[1]), "log": log, "exit": p.returncode,
            "started_t": round(t0, 6), "ended_t": round(time.time(), 6)}


def peer_session(protocol, stall_after, heartbeat, args, out):
    peer = subprocess.Popen([sys.executable, PEER, protocol, str(stall_after), str(heartbeat)],
                            stdout=subprocess.PIPE, text=True)
    port = int(peer.stdout.readline())
    result = client(protocol, port, args)
    result["peer"] = json.loads(peer.stdout.read().strip().splitlines()[-1])
    peer.wait()
    result["stall_after"] = stall_after
    out[protocol] = result


def redis_session(out):
    server = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no",
                               "--enable-debug-command", "local"], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            admin = socket.create_connection(("127.0.0.1", REDIS_PORT))
            break
        except OSError:
            time.sleep(0.05)

    def block_later():
        time.sleep(6.5)
        out["redis_sleep_t"] = round(time.time(), 6)
        admin.sendall(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$1\r\n3\r\n")

    th = threading.Thread(target=block_later)
    th.start()
    result = client("redis", REDIS_PORT, ["--every", "1s", "--timeout", "500ms", "--misses", "2"])
    th.join()
    # Read DEBUG SLEEP's +OK before closing, so the close is a FIN, not a reset for unread data.
    admin.settimeout(10)
    admin.recv(64)
    admin.close()
    server.terminate()
    server.wait()
    out["redis"] = result


def body():
    out = {}
    threads = [
        threading.Thread(target=peer_session, args=("fix", 3, 0, ["--every", "2s", "--timeout",
                                                                   "1s", "--misses", "2"], out)),
        threading.Thread(target=peer_session, args=("amqp", 4, 1, ["--every", "2s", "--timeout",
                                                                    "500ms", "--misses", "2"], out)),
        threading.Thread(target=peer_session, args=("iso8583", 5, 0, ["--every", "1s", "--timeout",
                                                                       "500ms", "--misses", "2"],
                                                     out)),
        threading.Thread(target=redis_session, args=(out,)),
    ]
    for th in threads:
        th.start()
        time.sleep(0.3)
    for th in threads:
        th.join()
    return {"scenario": "heartbeat-client-protocols", "sessions": out}


def facts(truth):
    """What keepsight must conclude, from what the clients and peers did (see ../FACTS.md)."""
    out = []

    def fact(id_, check):
        out.append(loopcap.diagnose_fact(id_, check))

    s = truth["sessions"]
    fix = s["fix"]
    fact("fix: the peer's heartbeats stopped after its 3rd; the client's TestRequest went "
         "unanswered; the client logged out with 'no heartbeat'",
         {"finding": "app_heartbeat_stopped", "conn": {"client_port": fix["client_port"]},
          "count": 1,
          "where": {"protocol": "fix", "sender": "server", "interval_s": 2.0,
                    "interval_field": "HeartBtInt", "probe.name": "TestRequest",
                    "probe.by": "client", "probe.answered": False, "goodbye.by": "client",
                    "goodbye.text": "no heartbeat"}})
    amqp = s["amqp"]
    fact("amqp: the peer's heartbeat frames stopped; interval 1 s from Connection.Tune/TuneOk",
         {"finding": "app_heartbeat_stopped", "conn": {"client_port": amqp["client_port"]},
          "count": 1,
          "where": {"protocol": "amqp", "sender": "server", "interval_s": 1.0,
                    "goodbye.by": "client", "goodbye.text": "no heartbeat"}})
    iso = s["iso8583"]
    sel = {"client_port": iso["client_port"]}
    fact("iso8583: the echo tests are found as the client's heartbeat, every 1 s",
         {"heartbeat": sel, "where": {"sender": "client", "period_s": [0.95, 1.05]}})
    fact("iso8583: after the 5th answer the client gave up on 2 unanswered echo tests",
         {"finding": "heartbeat_gave_up", "conn": sel, "count": 1,
          "where": {"by": "client", "unanswered": 2, "close": "fin"}})
    redis = s["redis"]
    sel = {"client_port": redis["client_port"]}
    fact("redis: the PINGs are found as the client's heartbeat, every 1 s",
         {"heartbeat": sel, "where": {"sender": "client", "period_s": [0.95, 1.05]}})
    fact("redis: a PING went unanswered while Redis slept",
         {"finding": "unanswered_heartbeat", "conn": sel})
    return out


if __name__ == "__main__":
    loopcap.run(__file__, body, facts)
