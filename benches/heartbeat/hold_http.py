#!/usr/bin/env python3
"""Open N HTTP/1.1 keep-alive connections, make one request on each, then hold them idle.

Used by run.sh to make nginx hold idle keep-alive connections for the memory comparison.
Every wait is bounded: connects, the request, and the hold itself.
"""
import argparse
import asyncio
import sys


async def one(host, port, bind, hold, stats):
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(bind, 0) if bind else None), 10)
        writer.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if length:
            await asyncio.wait_for(reader.readexactly(length), 10)
        stats["ok"] += 1
    except Exception as e:  # counted, never fatal: the report says how many were held
        stats["failed"] += 1
        stats["last_error"] = repr(e)
        return
    try:
        # Idle: the server closing us early would show up here.
        data = await asyncio.wait_for(reader.read(1), hold)
        if data == b"":
            stats["closed_by_server"] += 1
    except asyncio.TimeoutError:
        pass
    writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--connect", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--bind", default="")
    p.add_argument("--hold", type=float, required=True)
    p.add_argument("--ramp", type=float, default=5.0)
    a = p.parse_args()
    host, port = a.connect.rsplit(":", 1)
    stats = {"ok": 0, "failed": 0, "closed_by_server": 0, "last_error": ""}
    tasks = []
    for i in range(a.n):
        tasks.append(asyncio.create_task(one(host, int(port), a.bind, a.hold, stats)))
        if i % 100 == 99:
            await asyncio.sleep(a.ramp / (a.n / 100))
    await asyncio.gather(*tasks)
    print(f"hold_http: {stats}", file=sys.stderr)


asyncio.run(main())
