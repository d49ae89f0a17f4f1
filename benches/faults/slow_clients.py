#!/usr/bin/env python3
"""Slowloris clients for benches/faults: N connections that each send a partial request head,
then one more header byte every TRICKLE seconds, never finishing it; when the server cuts one,
it is reopened at once, until DURATION seconds have passed. Prints one JSON summary: how long
the server let each connection live, how many it answered (an unfinished head must get no
response) and how many connections were made.

usage: slow_clients.py HOST PORT N DURATION [TRICKLE]
"""
import asyncio
import json
import sys
import time

HOST, PORT, N, DURATION = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
TRICKLE = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0

lifetimes = []
answered = 0
connects = 0
connect_errors = 0


async def one(i, end):
    global answered, connects, connect_errors
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
        except OSError:
            connect_errors += 1
            await asyncio.sleep(0.5)
            continue
        connects += 1
        t0 = time.monotonic()
        writer.write(f"GET /{i} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())
        cut = False
        while time.monotonic() < end:
            try:
                data = await asyncio.wait_for(reader.read(256), TRICKLE)
                if data:
                    answered += 1
                cut = True
                break
            except asyncio.TimeoutError:
                try:
                    writer.write(b"a")
                    await writer.drain()
                except OSError:
                    cut = True
                    break
            except OSError:
                cut = True
                break
        if cut:
            lifetimes.append(time.monotonic() - t0)
        writer.close()


async def main():
    end = time.monotonic() + DURATION
    # Open over the first second, not in one burst the listen backlog would have to absorb.
    tasks = []
    for i in range(N):
        tasks.append(asyncio.create_task(one(i, end)))
        if i % 500 == 499:
            await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)


asyncio.run(main())
lifetimes.sort()
pct = lambda p: round(lifetimes[min(len(lifetimes) - 1, int(p * len(lifetimes)))], 3) if lifetimes else None
print(json.dumps({
    "clients": N, "connects": connects, "connect_errors": connect_errors, "cut": len(lifetimes),
    "answered": answered, "lifetime_min_s": pct(0), "lifetime_p50_s": pct(0.5),
    "lifetime_p99_s": pct(0.99), "lifetime_max_s": round(lifetimes[-1], 3) if lifetimes else None,
}))
