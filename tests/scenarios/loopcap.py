"""loopcap.py -- run a scenario driver in its own network namespace and capture its loopback.

Shared by the application-protocol scenarios (fix-heartbeat, ...): `run(here, body)` re-runs the
calling script under `unshare -n` (root, util-linux), brings `lo` up with no segmentation offload,
starts dumpcap on `lo` writing `capture.pcapng` beside the script, calls `body()` (which returns
the truth dict) and writes truth.json.  Python 3.11 stdlib; needs iproute2, ethtool, dumpcap.
"""
import json
import os
import subprocess
import socket
import sys
import threading
import time


def serve_sessions(port, plans, client, server, gap_s=0.3, join_s=30):
    """Runs each session plan as a pair of threads over one loopback connection to `port`:
    `client(plan, log)` connects, `server(sock, plan, log)` gets the accepted socket. Sessions
    start `gap_s` apart and run side by side; returns each plan's log (a list the two threads
    append events to), by plan name."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(8)
    threads, logs = [], {}
    for plan in plans:
        log = logs.setdefault(plan["name"], [])
        th = threading.Thread(target=client, args=(plan, log))
        th.start()
        s, _ = listener.accept()
        st = threading.Thread(target=server, args=(s, plan, log))
        st.start()
        threads += [th, st]
        time.sleep(gap_s)
    for th in threads:
        th.join(timeout=join_s)
    listener.close()
    return logs


def diagnose_fact(id_, check):
    """A fact checked on `keepsight diagnose capture.pcapng`."""
    return {"capture": "capture.pcapng", "command": "diagnose", "args": [], "id": id_,
            "check": check}


def write_truth(here, truth):
    with open(os.path.join(here, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")


def run(script, body, facts):
    here = os.path.dirname(os.path.abspath(script))
    if sys.argv[1:] == ["facts"]:
        # Rewrites the facts from the truth already recorded (no new capture).
        with open(os.path.join(here, "truth.json")) as f:
            truth = json.load(f)
        truth["facts"] = facts(truth)
        write_truth(here, truth)
        return
    if os.environ.get("KS_LOOPCAP_INSIDE") != "1":
        env = dict(os.environ, KS_LOOPCAP_INSIDE="1")
        sys.exit(subprocess.call(["unshare", "-n", sys.executable, os.path.abspath(script)],
                                 env=env))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off"],
                   check=True, stdout=subprocess.DEVNULL)
    cap = os.path.join(here, "capture.pcapng")
    dump = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", "tcp", "-w", cap],
                            stderr=subprocess.PIPE)
    time.sleep(1.5)
    try:
        truth = body()
    finally:
        time.sleep(0.5)
        dump.terminate()
        dump.wait()
    truth["facts"] = facts(truth)
    write_truth(here, truth)
