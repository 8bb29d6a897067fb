"""A small HTTP/1.1 keep-alive load generator for loopback benchmarks (no dependencies).

Each worker keeps one connection and sends POST requests back to back, cycling through a
list of bodies; results are wall-clock latencies and status codes. Bounded in count and
time, loopback only."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any


async def _worker(
    host: str,
    port: int,
    path: str,
    bodies: list[bytes],
    start: int,
    count: int,
    deadline: float,
    latencies: list[float],
    statuses: list[int],
    headers: dict[str, str],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    try:
        for i in range(count):
            if time.perf_counter() > deadline:
                break
            body = bodies[(start + i) % len(bodies)]
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
                f"\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            ).encode() + body
            began = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next(
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            statuses.append(status)
    finally:
        writer.close()


def run_load(
    url_host: str,
    port: int,
    path: str,
    payloads: list[Any],
    concurrency: int,
    requests: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> dict[str, float]:
    """Send up to ``requests`` requests (or until ``seconds`` pass) with ``concurrency``
    connections; return throughput and latency percentiles (milliseconds)."""
    bodies = [json.dumps(payload).encode() for payload in payloads]
    latencies: list[float] = []
    statuses: list[int] = []

    async def main() -> float:
        deadline = time.perf_counter() + seconds
        per_worker = max(1, requests // concurrency)
        began = time.perf_counter()
        await asyncio.gather(
            *(
                _worker(
                    url_host,
                    port,
                    path,
                    bodies,
                    w * per_worker,
                    per_worker,
                    deadline,
                    latencies,
                    statuses,
                    headers or {},
                )
                for w in range(concurrency)
            )
        )
        return time.perf_counter() - began

    elapsed = asyncio.run(main())
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "requests": len(latencies),
        "non_200": sum(1 for s in statuses if s != 200),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(1000 * statistics.fmean(latencies), 2),
    }
