"""common -- shared bits for the scenario drivers (stdlib only; run as root).

Reuses ../corpus/make/ksnet.py (namespaces, veth, dumpcap, per-thread setns for sockets).
All times in truth.json are Unix epoch seconds from the driver's own clock (time.time()), which
is the same system clock dumpcap stamps packets with, so capture timestamps and truth times are
directly comparable (expect tens of microseconds between a send() call and its frame).
"""
import json
import os
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "corpus", "make"))
import ksnet  # noqa: E402,F401


class AppLog:
    """Application log with second-granularity wall-clock (UTC) HH:MM:SS timestamps."""

    def __init__(self):
        self.lines = []
        self.lock = threading.Lock()

    def log(self, who, level, msg, t=None):
        t = time.time() if t is None else t
        with self.lock:
            self.lines.append((t, f"{time.strftime('%H:%M:%S', time.gmtime(t))} {who} {level} {msg}"))
        return t

    def write(self, path):
        with open(path, "w") as f:
            for _t, line in sorted(self.lines, key=lambda x: x[0]):
                f.write(line + "\n")


def write_truth(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def r6(t):
    return None if t is None else round(t, 6)


def tcp_info(sock):
    """A few fields of struct tcp_info (linux/tcp.h) -- the kernel's own view, read by the script."""
    b = sock.getsockopt(6, 11, 104)  # IPPROTO_TCP, TCP_INFO
    state, ca_state, retransmits, probes, backoff = b[0], b[1], b[2], b[3], b[4]
    (rto, ato, snd_mss, rcv_mss, unacked, sacked, lost, retrans, fackets, last_data_sent,
     last_ack_sent, last_data_recv, last_ack_recv) = struct.unpack_from("=13I", b, 8)
    total_retrans = struct.unpack_from("=I", b, 100)[0]
    return {"state": state, "retransmits": retransmits, "probes": probes, "backoff": backoff,
            "rto_us": rto, "unacked": unacked, "last_data_sent_ms": last_data_sent,
            "last_ack_recv_ms": last_ack_recv, "total_retrans": total_retrans}
