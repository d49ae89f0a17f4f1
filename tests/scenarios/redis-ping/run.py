#!/usr/bin/env python3
"""redis-ping -- PING health checks against a real redis-server that stops answering (issue 24).

redis-server (Debian's, 7.x) on 127.0.0.1:47532 in a fresh network namespace (see ../loopcap.py;
no config file, no persistence).  Clients are this script's own sockets speaking RESP:

| client  | what happens |
|---------|--------------|
| steady  | `PING` every 1 s (RESP array `*1 $4 PING`), 4 times (done before the pause), each answered `+PONG`; `QUIT`, FIN |
| stalled | `PING` every 1 s; after its 5th, the admin connection sends `CLIENT PAUSE 4000 ALL`, so the server holds every command for 4 s: the 6th PING gets no answer within the client's 2.5 s read timeout; the client gives up and closes (FIN); the server answers once the pause ends and the closed socket's kernel answers RST |
| admin   | `CLIENT PAUSE 4000 ALL`, answered `+OK`; then `QUIT` |

Writes capture.pcapng and truth.json (every command and reply from the clients' clock,
`facts`).  `run.py facts` rewrites the facts.
"""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loopcap  # noqa: E402

PORT = 47532
PERIOD = 1.0
READ_TIMEOUT = 2.5
PAUSE_MS = 4000


def resp(*args):
    return (f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)).encode()


class Client:
    def __init__(self, name):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", PORT))
        self.port = self.sock.getsockname()[1]
        self.events = []

    def command(self, *args):
        t = time.time()
        self.sock.sendall(resp(*args))
        self.sock.settimeout(READ_TIMEOUT)
        try:
            reply = self.sock.recv(4096)
            self.events.append(dict(t=round(t, 6), command=" ".join(args),
                                    reply=reply.decode(errors="replace"),
                                    reply_t=round(time.time(), 6)))
            return True
        except socket.timeout:
            self.events.append(dict(t=round(t, 6), command=" ".join(args), reply=None,
                                    gave_up_t=round(time.time(), 6)))
            return False

    def close(self):
        self.closed_t = round(time.time(), 6)
        self.sock.close()

    def truth(self):
        return dict(name=self.name, client_port=self.port, events=self.events,
                    closed_t=getattr(self, "closed_t", None))


def body():
    srv = subprocess.Popen(["redis-server", "--port", str(PORT), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--daemonize", "no"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PORT)).close()
            break
        except OSError:
            time.sleep(0.05)
    time.sleep(0.3)
    clients = {}
    paused = threading.Event()

    def steady():
        c = clients["steady"] = Client("steady")
        for _ in range(4):
            c.command("PING")
            time.sleep(PERIOD)
        c.command("QUIT")
        c.close()

    def stalled():
        c = clients["stalled"] = Client("stalled")
        n = 0
        while True:
            if not c.command("PING"):
                break
            n += 1
            if n == 5:
                paused.set()
            time.sleep(PERIOD)
        c.close()

    def admin():
        paused.wait()
        time.sleep(0.3)
        c = clients["admin"] = Client("admin")
        c.command("CLIENT", "PAUSE", str(PAUSE_MS), "ALL")
        time.sleep(PAUSE_MS / 1000 + 0.5)
        c.command("QUIT")
        c.close()

    threads = [threading.Thread(target=f) for f in (steady, stalled, admin)]
    threads[0].start()
    time.sleep(0.2)
    threads[1].start()
    threads[2].start()
    for th in threads:
        th.join()
    time.sleep(0.5)
    srv.terminate()
    srv.wait()
    version = subprocess.run(["redis-server", "--version"], capture_output=True,
                             text=True).stdout.strip()
    return {
        "scenario": "redis-ping",
        "server": f"127.0.0.1:{PORT}",
        "redis_server": version,
        "period_s": PERIOD,
        "read_timeout_s": READ_TIMEOUT,
        "pause_ms": PAUSE_MS,
        "clients": [clients[n].truth() for n in ("steady", "stalled", "admin")],
    }


def facts(truth):
    out = []

    def fact(id_, check):
        out.append(loopcap.diagnose_fact(id_, check))

    by = {c["name"]: c for c in truth["clients"]}
    s = by["stalled"]
    last = s["events"][-1]
    assert last["reply"] is None
    waited = round(s["closed_t"] - last["t"], 6)
    fact("stalled: its last PING went unanswered until the client closed",
         {"finding": "app_probe_unanswered", "conn": {"client_port": s["client_port"]},
          "count": 1,
          "where": {"protocol": "redis", "probe": "PING", "sender": "client", "unanswered": 1,
                    "waited_s": [round(waited - 0.05, 6), round(waited + 0.05, 6)]}})
    for name in ("steady", "admin"):
        fact(f"{name}: every command answered",
             {"no_finding": "app_probe_unanswered",
              "conn": {"client_port": by[name]["client_port"]}})
    # QUIT has the same 14 bytes up to the command name as PING: it is no beat.
    steady = by["steady"]
    pings = sum(1 for e in steady["events"] if e["command"] == "PING")
    fact(f"steady: the heartbeat is its {pings} PINGs, not its QUIT",
         {"heartbeat": {"client_port": steady["client_port"]},
          "where": {"sender": "client", "beats": pings, "replies": pings}})
    return out


if __name__ == "__main__":
    loopcap.run(__file__, body, facts)
