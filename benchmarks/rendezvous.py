"""Rendezvous server: pairings per second and pairing latency with 1,000 concurrent pairs.

Fixed sizes: the server runs as in its container (`python -m workloads.cosmic.rendezvous_server`, its own
process, INFO JSON logs: counters once a minute, a pairing logs at DEBUG), on loopback, with the per-address
cap raised since every client here is 127.0.0.1 (benchmarks/rendezvous_abuse.py measures the caps). Load: 5 rounds in which 2,000 clients
(1,000 pairs) connect at once, each sending its name and reading the 16 TCPunch reply bytes; a pair's
latency runs from the moment both clients start until both have their peer's endpoint. Then 200 pairs
one after another, for the unloaded latency. Every reply is checked against the client's own socket.

Metrics: pairings/s (median round), p50/p99 pair latency under load and unloaded, the server's CPU time
per pairing (user + system, from /proc: steadier than wall time on a shared machine), and the server's
own counters from GET /health (pairs completed, errors). There is no reference implementation to run here
(the C++ tcpunchd is single-threaded and is not built in this repository), so no ratio.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rendezvous_process import percentile_ms, rendezvous_server  # noqa: E402  (this folder, the script's)

from workloads.cosmic.tcpunch_protocol import Endpoint, decode_endpoint  # noqa: E402

PAIRS = 1000
ROUNDS = 5
SEQUENTIAL = 200


async def pair(port: int, name: bytes) -> float:
    async def client() -> tuple[Endpoint, Endpoint, Endpoint]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(name)
        data = await asyncio.wait_for(reader.readexactly(16), 60)
        local = Endpoint(*writer.get_extra_info("sockname")[:2])
        writer.close()
        return local, decode_endpoint(data[:8]), decode_endpoint(data[8:])

    start = time.perf_counter()
    (la, sa, pa), (lb, sb, pb) = await asyncio.gather(client(), client())
    elapsed = time.perf_counter() - start
    if (sa, sb, pa, pb) != (la, lb, lb, la):
        raise AssertionError(f"wrong endpoints for {name!r}")
    return elapsed


async def load(port: int) -> tuple[list[float], list[float]]:
    rates, latencies = [], []
    for r in range(ROUNDS):
        start = time.perf_counter()
        lat = await asyncio.gather(*(pair(port, f"bench-{r}-{i}_0_1".encode()) for i in range(PAIRS)))
        wall = time.perf_counter() - start
        rates.append(PAIRS / wall)
        latencies += lat
        print(f"  round {r + 1}/{ROUNDS}: {PAIRS} pairs in {wall:.2f} s ({PAIRS / wall:.0f} pairings/s)", flush=True)
    return rates, latencies


async def sequential(port: int) -> list[float]:
    return [await pair(port, f"seq-{i}_0_1".encode()) for i in range(SEQUENTIAL)]


def main() -> int:
    with rendezvous_server("--max-per-address", "4000") as server:  # every client is 127.0.0.1
        print(f"rendezvous server pid {server.process.pid} on port {server.port}; {ROUNDS} rounds of {PAIRS} "
              "concurrent pairs", flush=True)
        rates, loaded = asyncio.run(load(server.port))
        unloaded = asyncio.run(sequential(server.port))
        health = server.health()
        cpu_s = server.cpu_seconds()
    logged_pairs = sum('"event":"paired"' in line for line in server.log_text.splitlines())
    expected = ROUNDS * PAIRS + SEQUENTIAL
    if health["pairs_completed"] != expected:
        raise AssertionError(f"server counted {health['pairs_completed']} pairs, expected {expected}")
    metrics = {
        "concurrent_pairs": PAIRS,
        "pairings_per_s": round(statistics.median(rates), 1),
        "pair_latency_p50_ms": percentile_ms(loaded, 0.50),
        "pair_latency_p99_ms": percentile_ms(loaded, 0.99),
        "unloaded_pair_latency_p50_ms": percentile_ms(unloaded, 0.50),
        "unloaded_pair_latency_p99_ms": percentile_ms(unloaded, 0.99),
        "server_cpu_us_per_pairing": round(cpu_s / expected * 1e6, 1),
        "server_pairs_completed": health["pairs_completed"],
        "server_errors": health["connection_errors"] + health["internal_errors"] + health["protocol_errors"],
        "server_log_lines_paired": logged_pairs,
    }
    print(json.dumps({"benchmark": "rendezvous", "metrics": metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
