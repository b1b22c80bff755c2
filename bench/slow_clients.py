#!/usr/bin/env python3
"""Slow and idle clients against a running hub, while a signed sender keeps delivering
(issue 18, point 1). Too heavy for CI; bench/slow_clients.sh starts the hub and runs this.

Two phases, each holding COUNT connections for SECONDS and reopening every one the hub cuts:
  one-address  from 127.0.0.2: a third idle, a third trickling request headers, a third
               trickling a large body to POST /api/session (a route open before sign-in);
  via-proxy    from 127.0.0.3 (a trusted proxy in the hub's config): every connection a
               request from a different X-Forwarded-For client, trickling its body.
Meanwhile 127.0.0.1 sends a GitHub-signed delivery every 200 ms; each must be answered 202
within 2 s. Prints one line per phase: attackers held, deliveries, 202s, latency p50/p99/max.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import time


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def open_from(host: str, port: int, source: str):
    return await asyncio.open_connection(host, port, local_addr=(source, 0))


def opening(kind: str, n: int) -> bytes:
    if kind == "idle":
        return b""
    if kind == "headers":
        return b"POST /api/session HTTP/1.1\r\nHost: hub\r\nX-Slow: "
    if kind == "body":
        return b"POST /api/session HTTP/1.1\r\nHost: hub\r\nContent-Length: 100000\r\n\r\n{"
    client = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    return (
        "POST /api/session HTTP/1.1\r\nHost: hub\r\n"
        f"X-Forwarded-For: {client}\r\nContent-Length: 100000\r\n\r\n{{"
    ).encode()


async def attacker(host, port, source, kind, n, stop, held):
    """Keeps one slow connection open until `stop`, reopening it whenever it is cut."""
    while not stop.is_set():
        try:
            reader, writer = await open_from(host, port, source)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        held[0] += 1
        try:
            writer.write(opening(kind, n))
            await writer.drain()
            while not stop.is_set():
                # One more byte every 4 s: under the 10 s idle limit, so only the whole-request
                # deadline cuts it; reading returns b"" once the hub closes.
                try:
                    data = await asyncio.wait_for(reader.read(4096), timeout=4)
                    if not data:
                        break
                except asyncio.TimeoutError:
                    if kind != "idle":
                        writer.write(b"x")
                        await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            held[0] -= 1
            writer.close()


async def deliver(host, port, secret, path):
    body = json.dumps({"ping": time.time()}).encode()
    head = (
        f"POST /api/webhooks/{path} HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {signature(secret, body)}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(open_from(host, port, "127.0.0.1"), 2)
        writer.write(head + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 2 - (time.monotonic() - started))
        writer.close()
        status = int(status_line.split()[1])
    except (OSError, asyncio.TimeoutError, IndexError, ValueError):
        status = 0
    return status, time.monotonic() - started


async def phase(args, name, source, kinds):
    stop = asyncio.Event()
    held = [0]
    tasks = [
        asyncio.create_task(
            attacker(args.host, args.port, source, kinds[n % len(kinds)], n, stop, held)
        )
        for n in range(args.count)
    ]
    await asyncio.sleep(2)  # let them pile up first
    results = []
    peak = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        results.append(await deliver(args.host, args.port, args.secret, args.path))
        peak = max(peak, held[0])
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(t for _, t in results)
    ok = sum(1 for s, t in results if s == 202 and t < 2)
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(
        f"{name}: {args.count} attackers from {source} (open at once: up to {peak}), "
        f"{len(results)} signed deliveries, {ok} answered 202 within 2 s, latency "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms",
        flush=True,
    )
    return ok == len(results)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", default="bench-secret")
    parser.add_argument("--path", default="bench-ingest")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=40)
    args = parser.parse_args()
    one = await phase(args, "one-address", "127.0.0.2", ["idle", "headers", "body"])
    proxied = await phase(args, "via-proxy", "127.0.0.3", ["proxied"])
    raise SystemExit(0 if one and proxied else 1)


if __name__ == "__main__":
    asyncio.run(main())
