#!/usr/bin/env python3
"""mqtt-keepalive -- MQTT 3.1.1 and 5 clients of a real mosquitto broker (issue 17).

mosquitto (Debian's 2.0.x) in a fresh network namespace (see ../loopcap.py) listens on
127.0.0.1:1883 (tshark's MQTT port), 127.0.0.1:47883 and 127.0.0.1:47884 (odd ports: tshark
needs `-d tcp.port==47883-47885,mqtt`; 47884 refuses anonymous clients); a second broker
listens on 127.0.0.1:47885.  Clients, side by side:

| client   | port  | what happens |
|----------|-------|--------------|
| quiet    | 1883  | own socket, MQTT 3.1.1, keep-alive 2 s: PINGREQ every 2 s (3 times), then silence; mosquitto drops it (FIN) 1.5 x 2 = 3 s after the last PINGREQ |
| healthy  | 1883  | paho-mqtt, MQTT 3.1.1, keep-alive 2 s: subscribes, publishes 3 messages, paho pings on its own, DISCONNECT |
| v5-slow  | 47883 | own socket, MQTT 5, keep-alive 2 s: PINGREQ every 2.6 s (slower than its keep-alive, within 1.5 x), a SUBSCRIBE and a PUBLISH in one segment, a PUBLISH written in two pieces 50 ms apart (one message over two segments), then DISCONNECT reason 0x04 (disconnect with will message) |
| v5-quiet | 47883 | own socket, MQTT 5, keep-alive 2 s: one PINGREQ, then silence; mosquitto sends DISCONNECT 0x8D (keep alive timeout) and closes |
| v5-taken | 47883 | own socket, MQTT 5, keep-alive 10 s; 1 s later v5-taker connects with the same client id: mosquitto sends v5-taken DISCONNECT 0x8E (session taken over) and closes; v5-taker ends with DISCONNECT 0x00 |
| refused  | 47884 | own socket, MQTT 5, no user name on a listener without anonymous access: CONNACK 0x87 (not authorized) |
| refused-v3 | 47884 | the same in MQTT 3.1.1: CONNACK return code 5 (not authorized) |
| stalled  | 47885 | own socket to a second mosquitto, MQTT 3.1.1, keep-alive 2 s: after the CONNACK the broker is stopped (SIGSTOP); the client's PINGREQ is acknowledged by the kernel but never answered; the client closes 1.5 x 2 s later |

Writes capture.pcapng and truth.json (every packet the own-socket clients sent and received,
from their clock; `facts`).  `run.py facts` rewrites the facts.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loopcap  # noqa: E402

PORT = 1883
ALT_PORT = 47883
AUTH_PORT = 47884
STALL_PORT = 47885
KEEPALIVE = 2


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(client_id, keepalive, version=4, clean=True, props=b""):
    flags = 0x02 if clean else 0
    vh = utf8("MQTT") + bytes([version, flags]) + struct.pack(">H", keepalive)
    if version == 5:
        vh += varint(len(props)) + props
    return packet(0x10, vh + utf8(client_id))


def publish(topic, payload, version=4, props=b""):
    body = utf8(topic) + (varint(len(props)) + props if version == 5 else b"") + payload
    return packet(0x30, body)


def subscribe(msg_id, topic, version=4):
    body = struct.pack(">H", msg_id) + (b"\x00" if version == 5 else b"") + utf8(topic) + b"\x00"
    return packet(0x82, body)


PINGREQ = b"\xc0\x00"


class Client:
    def __init__(self, name, port, version):
        self.name, self.version = name, version
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = self.sock.getsockname()[1]
        self.server_port = port
        self.sent, self.received = [], []
        self.closed_by_broker_t = None

    def send(self, what, data):
        self.sent.append(dict(t=round(time.time(), 6), what=what))
        self.sock.sendall(data)

    def read(self, timeout=5.0):
        """One MQTT packet (type, body) or None when the broker closed."""
        self.sock.settimeout(timeout)
        head = self.sock.recv(1)
        if not head:
            self.closed_by_broker_t = round(time.time(), 6)
            return None
        n, shift = 0, 0
        while True:
            b = self.sock.recv(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        body = b""
        while len(body) < n:
            body += self.sock.recv(n - len(body))
        self.received.append(dict(t=round(time.time(), 6), type=head[0] >> 4, body=body.hex()))
        return head[0] >> 4, body

    def wait_close(self, timeout=10.0):
        while self.read(timeout) is not None:
            pass

    def truth(self):
        t = dict(name=self.name, version=self.version, client_port=self.port,
                 server_port=self.server_port, sent=self.sent, received=self.received,
                 closed_by_broker_t=self.closed_by_broker_t)
        for k in ("broker_stopped_t", "gave_up_t"):
            if hasattr(self, k):
                t[k] = getattr(self, k)
        return t


def quiet(out):
    c = out["quiet"] = Client("quiet", PORT, 4)
    c.send("CONNECT", connect("quiet-sensor", KEEPALIVE))
    c.read()
    for _ in range(3):
        time.sleep(KEEPALIVE)
        c.send("PINGREQ", PINGREQ)
        c.read()
    c.wait_close()
    c.sock.close()


def v5_slow(out):
    c = out["v5-slow"] = Client("v5-slow", ALT_PORT, 5)
    # Session Expiry Interval 60 s, Receive Maximum 20.
    props = b"\x11" + struct.pack(">I", 60) + b"\x21" + struct.pack(">H", 20)
    c.send("CONNECT", connect("v5-slow", KEEPALIVE, version=5, props=props))
    c.read()
    for _ in range(3):
        time.sleep(2.6)
        c.send("PINGREQ", PINGREQ)
        c.read()
    c.send("SUBSCRIBE+PUBLISH", subscribe(1, "plant/+/state", version=5)
           + publish("plant/7/state", b"running", version=5))
    c.read()
    c.read()
    # Content Type property; the message is written in two pieces.
    msg = publish("plant/7/log", b"x" * 300, version=5,
                  props=b"\x03" + utf8("text/plain"))
    c.sent.append(dict(t=round(time.time(), 6), what="PUBLISH split"))
    c.sock.sendall(msg[:40])
    time.sleep(0.05)
    c.sock.sendall(msg[40:])
    time.sleep(0.3)
    c.send("DISCONNECT 0x04", packet(0xE0, b"\x04\x00"))
    time.sleep(0.3)
    c.sock.close()


def v5_quiet(out):
    c = out["v5-quiet"] = Client("v5-quiet", ALT_PORT, 5)
    c.send("CONNECT", connect("v5-quiet", KEEPALIVE, version=5))
    c.read()
    time.sleep(1.0)
    c.send("PINGREQ", PINGREQ)
    c.read()
    c.wait_close()
    c.sock.close()


def refused(out):
    c = out["refused"] = Client("refused", AUTH_PORT, 5)
    c.send("CONNECT", connect("no-password", KEEPALIVE, version=5))
    c.wait_close()
    c.sock.close()


def refused_v3(out):
    c = out["refused-v3"] = Client("refused-v3", AUTH_PORT, 4)
    c.send("CONNECT", connect("no-password-v3", KEEPALIVE, version=4))
    c.wait_close()
    c.sock.close()


def v5_taken(out):
    c = out["v5-taken"] = Client("v5-taken", ALT_PORT, 5)
    c.send("CONNECT", connect("v5-taken", 10, version=5))
    c.read()
    time.sleep(1.0)
    d = out["v5-taker"] = Client("v5-taker", ALT_PORT, 5)
    d.send("CONNECT", connect("v5-taken", 10, version=5))
    d.read()
    c.wait_close()
    c.sock.close()
    time.sleep(0.5)
    d.send("DISCONNECT 0x00", packet(0xE0, b""))
    d.wait_close()
    d.sock.close()


def stalled(out):
    """A second broker that stops (SIGSTOP) after the CONNACK: the kernel still acknowledges
    the PINGREQ, nobody answers it; the client gives up after 1.5 x its keep-alive."""
    conf = os.path.join(out["tmp"], "stalled.conf")
    with open(conf, "w") as f:
        f.write(f"persistence false\nlistener {STALL_PORT} 127.0.0.1\nallow_anonymous true\n")
    broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", STALL_PORT)).close()
            break
        except OSError:
            time.sleep(0.05)
    c = out["stalled"] = Client("stalled", STALL_PORT, 4)
    c.send("CONNECT", connect("stalled-broker-client", KEEPALIVE))
    c.read()
    time.sleep(1.0)
    broker.send_signal(signal.SIGSTOP)
    c.broker_stopped_t = round(time.time(), 6)
    time.sleep(0.5)
    c.send("PINGREQ", PINGREQ)
    try:
        c.read(timeout=1.5 * KEEPALIVE)
    except TimeoutError:
        pass
    c.gave_up_t = round(time.time(), 6)
    c.sock.close()
    time.sleep(0.3)
    broker.send_signal(signal.SIGCONT)
    time.sleep(0.3)
    broker.terminate()
    broker.wait()


def healthy(out):
    import paho.mqtt.client as mqtt

    # paho wakes its network thread through a TCP socket pair on 127.0.0.1, which the
    # loopback capture would record as a stream of its own; a Unix socket pair does the same.
    def unix_pair():
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        return a, b

    mqtt._socketpair_compat = unix_pair
    log = out["healthy"] = dict(name="healthy", version=4, server_port=PORT)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="healthy-gw",
                    protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", PORT, keepalive=KEEPALIVE)
    log["client_port"] = c.socket().getsockname()[1]
    c.loop_start()
    c.subscribe("plant/#", qos=1)
    for i in range(3):
        time.sleep(2.5)
        c.publish("plant/1/temp", f"{20 + i}", qos=1).wait_for_publish(5)
    time.sleep(1.0)
    c.disconnect()
    c.loop_stop()
    log["disconnect_t"] = round(time.time(), 6)


def body():
    tmp = tempfile.mkdtemp(prefix="mqtt-ks-")
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"per_listener_settings true\npersistence false\n"
                f"listener {PORT} 127.0.0.1\nallow_anonymous true\n"
                f"listener {ALT_PORT} 127.0.0.1\nallow_anonymous true\n"
                f"listener {AUTH_PORT} 127.0.0.1\nallow_anonymous false\n")
    broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    for port in (PORT, ALT_PORT, AUTH_PORT):
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
    time.sleep(0.3)
    out = {"tmp": tmp}
    threads = []
    for f in (quiet, healthy, v5_slow, v5_quiet, v5_taken, refused, refused_v3, stalled):
        th = threading.Thread(target=f, args=(out,))
        th.start()
        threads.append(th)
        time.sleep(0.2)
    for th in threads:
        th.join()
    time.sleep(0.3)
    broker.terminate()
    broker.wait()
    shutil.rmtree(tmp)
    version = subprocess.run(["mosquitto", "-h"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    clients = [out[n] if isinstance(out[n], dict) else out[n].truth()
               for n in ("quiet", "healthy", "v5-slow", "v5-quiet", "v5-taken", "v5-taker",
                         "refused", "refused-v3", "stalled")]
    return {
        "scenario": "mqtt-keepalive",
        "broker": version,
        "ports": [PORT, ALT_PORT, AUTH_PORT, STALL_PORT],
        "keepalive_s": KEEPALIVE,
        "clients": clients,
    }


def facts(truth):
    out = []

    def fact(id_, check):
        out.append(loopcap.diagnose_fact(id_, check))

    by = {c["name"]: c for c in truth["clients"]}
    ka = truth["keepalive_s"]
    for name in ("quiet", "v5-quiet"):
        c = by[name]
        pings = [e for e in c["sent"] if e["what"] == "PINGREQ"]
        silent = round(c["closed_by_broker_t"] - pings[-1]["t"], 6)
        assert silent >= 1.5 * ka, f"{name}: mosquitto closed after {silent} s"
        fact(f"{name}: mosquitto dropped it {silent:.2f} s after its last PINGREQ (1.5 x {ka} s)",
             {"finding": "mqtt_keepalive_timeout", "conn": {"client_port": c["client_port"]},
              "count": 1,
              "where": {"keep_alive_s": ka, "limit_s": 1.5 * ka, "close": "fin",
                        "pings": len(pings),
                        "last_was_pingreq": True,
                        "silent_s": [round(silent - 0.05, 6), round(silent + 0.05, 6)]}})
        fact(f"{name}: its keep-alive is read from CONNECT",
             {"finding": "mqtt_keepalive", "conn": {"client_port": c["client_port"]},
              "where": {"keep_alive_s": ka, "pings": len(pings), "pingresps": len(pings),
                        "version": "3.1.1" if c["version"] == 4 else "5"}})
    q = by["quiet"]
    fact("quiet: PINGREQ/PINGRESP is its heartbeat",
         {"heartbeat": {"client_port": q["client_port"]},
          "where": {"sender": "client", "probe_hex": "c000", "reply_hex": "d000",
                    "period_s": [ka - 0.05, ka + 0.05]}})
    h = by["healthy"]
    for kind in ("mqtt_keepalive_timeout", "mqtt_slow_pings", "mqtt_ping_unanswered"):
        fact(f"healthy: paho keeps its keep-alive, no {kind}",
             {"no_finding": kind, "conn": {"client_port": h["client_port"]}})
    fact("healthy: paho's keep-alive is 2 s, MQTT 3.1.1",
         {"finding": "mqtt_keepalive", "conn": {"client_port": h["client_port"]},
          "where": {"keep_alive_s": ka, "version": "3.1.1", "pings": {"gt": 0}}})
    s = by["v5-slow"]
    pings = [e["t"] for e in s["sent"] if e["what"] == "PINGREQ"]
    gaps = [round(b - a, 6) for a, b in zip(pings, pings[1:])]
    fact("v5-slow: it pings every 2.6 s with a 2 s keep-alive",
         {"finding": "mqtt_slow_pings", "conn": {"client_port": s["client_port"]},
          "where": {"keep_alive_s": ka, "limit_s": 1.5 * ka, "slow_silences": {"gt": 2},
                    "longest_silence_s": [min(gaps) - 0.05, max(gaps) + 0.35]}})
    fact("v5-slow: it is never dropped",
         {"no_finding": "mqtt_keepalive_timeout", "conn": {"client_port": s["client_port"]}})
    fact("v5-slow: the client's DISCONNECT 0x04 is explained",
         {"finding": "mqtt_disconnect", "conn": {"client_port": s["client_port"]}, "count": 1,
          "where": {"by": "client", "reason_code": 4,
                    "meaning": "Disconnect with Will Message"}})
    t = by["v5-taken"]
    fact("v5-taken: closed by a session takeover after 1 s, not by its 10 s keep-alive",
         {"no_finding": "mqtt_keepalive_timeout", "conn": {"client_port": t["client_port"]}})
    fact("v5-taker: its DISCONNECT 0x00 is a normal close",
         {"no_finding": "mqtt_disconnect", "conn": {"client_port": by["v5-taker"]["client_port"]}})
    r = by["refused"]
    fact("refused: CONNACK 0x87 not authorized (MQTT 5)",
         {"finding": "mqtt_connect_refused", "conn": {"client_port": r["client_port"]},
          "where": {"code": 135, "meaning": "Not authorized", "version": "5"}})
    r = by["refused-v3"]
    fact("refused-v3: CONNACK return code 5 (MQTT 3.1.1)",
         {"finding": "mqtt_connect_refused", "conn": {"client_port": r["client_port"]},
          "where": {"code": 5, "version": "3.1.1",
                    "meaning": {"contains": "not authorized"}}})
    st = by["stalled"]
    ping_t = [e["t"] for e in st["sent"] if e["what"] == "PINGREQ"][0]
    waited = round(st["gave_up_t"] - ping_t, 6)
    fact(f"stalled: its PINGREQ went unanswered for {waited:.2f} s until the client closed",
         {"finding": "mqtt_ping_unanswered", "conn": {"client_port": st["client_port"]},
          "count": 1,
          "where": {"closed_by": "client", "close": "fin", "earlier_answered": 0,
                    "waited_s": [round(waited - 0.05, 6), round(waited + 0.05, 6)]}})
    fact("stalled: the client closed, the broker dropped nobody",
         {"no_finding": "mqtt_keepalive_timeout", "conn": {"client_port": st["client_port"]}})
    return out


if __name__ == "__main__":
    loopcap.run(__file__, body, facts)
