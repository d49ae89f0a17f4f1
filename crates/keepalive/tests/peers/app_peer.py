#!/usr/bin/env python3
"""app_peer.py -- the far end of `keepsight heartbeat client --protocol fix|iso8583|amqp` in tests.

Usage: app_peer.py PROTOCOL STALL_AFTER [HEARTBEAT_S]

Listens on 127.0.0.1 (a free port, printed as the first line of stdout), accepts one connection
and speaks the protocol from its specification with its own encoder and parser (stdlib only, no
code shared with keepsight), checking every message the client sends:

* fix: answers the Logon, sends its own Heartbeat when it has sent nothing for HeartBtInt, answers
  each TestRequest with a Heartbeat echoing 112, answers a Logout.  After STALL_AFTER heartbeats
  of its own it hangs: keeps reading, sends nothing.
* iso8583: answers each 0800 echo test (70 = 301) with an 0810 carrying the same fields 7 and 11
  and 39 = 00; after STALL_AFTER answers it stops answering.
* amqp: Connection.Start, Tune proposing HEARTBEAT_S, OpenOk; then a heartbeat frame every
  negotiated interval, STALL_AFTER of them, then silence.

When the client goes away (or after 30 s) prints one JSON line: what it received, checked.
"""
import json
import signal
import socket
import struct
import sys
import time

SOH = b"\x01"


def fix_encode(fields):
    body = b"".join(b"%d=%s\x01" % (t, v.encode() if isinstance(v, str) else v) for t, v in fields)
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


def fix_split(buf):
    """Whole messages at the start of buf with their own checks, and the rest."""
    out = []
    while buf.startswith(b"8="):
        i = buf.find(b"\x019=")
        j = buf.find(SOH, i + 1)
        if i < 0 or j < 0:
            break
        declared = int(buf[i + 3:j])
        end = j + 1 + declared + 7
        if len(buf) < end:
            break
        m, buf = buf[:end], buf[end:]
        fields = {}
        for f in m.split(SOH)[:-1]:
            t, _, v = f.partition(b"=")
            fields.setdefault(int(t), v.decode())
        body_ok = m[j + 1:end - 7].endswith(SOH) and m[end - 7:end - 4] == b"10="
        sum_ok = int(m[end - 4:end - 1]) == sum(m[:end - 7]) % 256
        out.append((fields, body_ok and sum_ok))
    return out, buf


def fix_peer(conn, stall_after, report):
    buf, seq, hb, beats, last_sent = b"", 1, None, 0, time.time()
    stalled = False

    def send(kind, extra=()):
        nonlocal seq, last_sent
        now = time.strftime("%Y%m%d-%H:%M:%S.000", time.gmtime())
        conn.sendall(fix_encode([(35, kind), (34, str(seq)), (49, "PEER"), (56, "KEEPSIGHT"),
                                 (52, now)] + list(extra)))
        seq += 1
        last_sent = time.time()

    conn.settimeout(0.05)
    while True:
        if hb and not stalled and time.time() - last_sent >= hb:
            send("0")
            beats += 1
            stalled = beats >= stall_after
        try:
            data = conn.recv(4096)
        except socket.timeout:
            continue
        if not data:
            return
        msgs, buf = fix_split(buf + data)
        for m, ok in msgs:
            report["received"].append({"type": m.get(35), "seq": int(m.get(34, -1)),
                                       "sending_time": m.get(52), "ok": ok,
                                       "t": time.time(), **{f"tag{k}": m[k]
                                                            for k in (108, 112, 58) if k in m}})
            if stalled:
                continue
            if m.get(35) == "A":
                hb = int(m[108])
                send("A", [(98, "0"), (108, m[108])])
            elif m.get(35) == "1":
                send("0", [(112, m[112])])
            elif m.get(35) == "5":
                send("5")
                return


def iso_fields(body):
    """MTI and the fields of a message carrying only fields of known fixed lengths."""
    mti = body[:4].decode()
    primary = int.from_bytes(body[4:12], "big")
    at, bits = 12, []
    secondary = 0
    if primary >> 63:
        secondary = int.from_bytes(body[12:20], "big")
        at = 20
    for n in range(2, 129):
        word, bit = (primary, 64 - n) if n <= 64 else (secondary, 128 - n)
        if word >> bit & 1:
            bits.append(n)
    lengths = {7: 10, 11: 6, 39: 2, 70: 3}
    fields = {}
    for n in bits:
        fields[n] = body[at:at + lengths[n]].decode()
        at += lengths[n]
    return mti, fields, at == len(body)


def iso_encode(mti, fields):
    primary, secondary = 1 << 63, 0
    for n in fields:
        if n <= 64:
            primary |= 1 << (64 - n)
        else:
            secondary |= 1 << (128 - n)
    body = mti.encode() + primary.to_bytes(8, "big") + secondary.to_bytes(8, "big")
    body += b"".join(fields[n].encode() for n in sorted(fields))
    return struct.pack(">H", len(body)) + body


def iso_peer(conn, stall_after, report):
    buf, answered = b"", 0
    while True:
        data = conn.recv(4096)
        if not data:
            return
        buf += data
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            n = struct.unpack(">H", buf[:2])[0]
            body, buf = buf[2:2 + n], buf[2 + n:]
            mti, fields, whole = iso_fields(body)
            report["received"].append({"mti": mti, "fields": {str(k): v for k, v in fields.items()},
                                       "whole": whole, "t": time.time()})
            if mti == "0800" and fields.get(70) == "301" and answered < stall_after:
                conn.sendall(iso_encode("0810", {7: fields[7], 11: fields[11], 39: "00",
                                                 70: "301"}))
                answered += 1


def amqp_frame(kind, payload):
    return struct.pack(">BHI", kind, 0, len(payload)) + payload + b"\xce"


def amqp_method(method, args):
    return amqp_frame(1, struct.pack(">HH", 10, method) + args)


def shortstr(s):
    return bytes([len(s)]) + s


def longstr(s):
    return struct.pack(">I", len(s)) + s


def amqp_peer(conn, stall_after, proposed, report):
    header = b""
    while len(header) < 8:
        header += conn.recv(8 - len(header))
    report["header_ok"] = header == b"AMQP\x00\x00\x09\x01"
    conn.sendall(amqp_method(10, b"\x00\x09" + longstr(b"") + longstr(b"PLAIN") + longstr(b"en_US")))
    buf, hb, sent, last_sent = b"", None, 0, time.time()
    conn.settimeout(0.05)
    while True:
        if hb and sent < stall_after and time.time() - last_sent >= hb:
            conn.sendall(amqp_frame(8, b""))
            sent += 1
            last_sent = time.time()
        try:
            data = conn.recv(4096)
        except socket.timeout:
            continue
        if not data:
            return
        buf += data
        while len(buf) >= 7 and len(buf) >= 8 + struct.unpack(">I", buf[3:7])[0]:
            kind, size = buf[0], struct.unpack(">I", buf[3:7])[0]
            payload, end, buf = buf[7:7 + size], buf[7 + size], buf[8 + size:]
            entry = {"frame": kind, "end_ok": end == 0xCE, "t": time.time()}
            if kind == 1:
                cls, method = struct.unpack(">HH", payload[:4])
                entry["method"] = [cls, method]
                args = payload[4:]
                if method == 11:
                    props = struct.unpack(">I", args[:4])[0]
                    at = 4 + props
                    entry["mechanism"] = args[at + 1:at + 1 + args[at]].decode()
                    conn.sendall(amqp_method(30, struct.pack(">HIH", 2047, 131072, proposed)))
                elif method == 31:
                    entry["tune_ok"] = list(struct.unpack(">HIH", args[:8]))
                    hb = entry["tune_ok"][2]
                elif method == 40:
                    entry["vhost"] = args[1:1 + args[0]].decode()
                    conn.sendall(amqp_method(41, shortstr(b"")))
                    last_sent = time.time()
                elif method == 50:
                    entry["close"] = [struct.unpack(">H", args[:2])[0],
                                      args[3:3 + args[2]].decode()]
            report["received"].append(entry)


def main():
    # A test must never hang on its peer: killed after 40 s whatever happens.
    signal.alarm(40)
    protocol, stall_after = sys.argv[1], int(sys.argv[2])
    heartbeat = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(30)
    print(listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    report = {"received": []}
    deadline = time.time() + 30
    conn.settimeout(30)
    try:
        if protocol == "fix":
            fix_peer(conn, stall_after, report)
        elif protocol == "iso8583":
            iso_peer(conn, stall_after, report)
        elif protocol == "amqp":
            amqp_peer(conn, stall_after, heartbeat, report)
    except OSError as e:
        report["ended"] = f"{type(e).__name__}: {e}"
    report["late"] = time.time() > deadline
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
