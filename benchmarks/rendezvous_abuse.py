"""Rendezvous server under abuse: legitimate pairings with and without one host holding 2,000 connections.

Fixed sizes: the server runs as in its container (`python -m workloads.cosmic.rendezvous_server`, its own
process, default caps, INFO JSON logs), on loopback. Linux routes all of 127/8 to loopback, so clients
bound to different 127.x addresses look like different hosts: the legitimate pairs come from 16
addresses, the abuser from one other. Each phase runs 5 rounds of 500 pairs connecting at once (each
client sends its name and reads the 16 TCPunch reply bytes; a pair's latency runs from the moment both
start until both have their peer's endpoint; every reply is checked against the client's own socket).

Phases: "clean", then "abused": the abuser first opens 2,000 connections from one address, each sending a
name nobody else asks for (what holds a connection longest), and keeps the ones the server accepts open
while the legitimate rounds run. A legitimate pair whose client the server turns away counts as failed.

Metrics: pairings/s (median round) and p50/p99 pair latency in both phases, the abused/clean ratios
(below 1 is better), legitimate failures, abuser connections refused and held, and the server's log
size. No external reference exists (the C++ tcpunchd has no caps), so the clean phase is the reference.
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

PAIRS = 500
ROUNDS = 5
LEGIT_ADDRESSES = [f"127.0.1.{i}" for i in range(1, 17)]
ABUSER_ADDRESS = "127.0.2.1"
ABUSER_CONNECTIONS = 2000


async def pair(port: int, name: bytes, sources: tuple[str, str]) -> float | None:
    """Latency of one pairing, or None when the server turned a client away."""

    async def client(source: str) -> tuple[Endpoint, Endpoint, Endpoint]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        try:
            writer.write(name)
            data = await asyncio.wait_for(reader.readexactly(16), 60)
            return Endpoint(*writer.get_extra_info("sockname")[:2]), decode_endpoint(data[:8]), decode_endpoint(data[8:])
        finally:
            writer.close()

    start = time.perf_counter()
    try:
        (la, sa, pa), (lb, sb, pb) = await asyncio.gather(client(sources[0]), client(sources[1]))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    elapsed = time.perf_counter() - start
    if (sa, sb, pa, pb) != (la, lb, lb, la):
        raise AssertionError(f"wrong endpoints for {name!r}")
    return elapsed


async def rounds(port: int, phase: str) -> tuple[list[float], list[float], int]:
    rates, latencies, failed = [], [], 0
    n = len(LEGIT_ADDRESSES)
    for r in range(ROUNDS):
        start = time.perf_counter()
        results = await asyncio.gather(*(
            pair(port, f"{phase}-{r}-{i}_0_1".encode(), (LEGIT_ADDRESSES[i % n], LEGIT_ADDRESSES[(i + 1) % n]))
            for i in range(PAIRS)))
        wall = time.perf_counter() - start
        done = [x for x in results if x is not None]
        failed += PAIRS - len(done)
        rates.append(len(done) / wall)
        latencies += done
        print(f"  {phase} round {r + 1}/{ROUNDS}: {len(done)} pairs in {wall:.2f} s "
              f"({len(done) / wall:.0f} pairings/s, {PAIRS - len(done)} failed)", flush=True)
    return rates, latencies, failed


async def abuse(port: int) -> tuple[list[asyncio.StreamWriter], int]:
    """The abuser's connections: those the server kept, and how many it refused."""

    async def one(i: int) -> asyncio.StreamWriter | None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ABUSER_ADDRESS, 0))
            writer.write(b"squat-%d" % i)
            await asyncio.wait_for(reader.readexactly(8), 10)  # its own endpoint: the name is waiting
            return writer
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            return None

    held = [w for w in await asyncio.gather(*(one(i) for i in range(ABUSER_CONNECTIONS))) if w is not None]
    return held, ABUSER_CONNECTIONS - len(held)


async def run(port: int) -> dict:
    clean_rates, clean_lat, clean_failed = await rounds(port, "clean")
    held, refused = await abuse(port)
    print(f"  abuser: {len(held)} connections held, {refused} refused", flush=True)
    abused_rates, abused_lat, abused_failed = await rounds(port, "abused")
    for writer in held:
        writer.close()
    return {"clean": (clean_rates, clean_lat, clean_failed), "abused": (abused_rates, abused_lat, abused_failed),
            "abuser_held": len(held), "abuser_refused": refused}


def main() -> int:
    with rendezvous_server() as server:
        first = server.started
        print(f"rendezvous server pid {server.process.pid} on port {server.port} (max {first['max_connections']} "
              f"connections, {first['max_per_address']} per address); {ROUNDS} rounds of {PAIRS} concurrent pairs "
              "per phase", flush=True)
        result = asyncio.run(run(server.port))
        health = server.health()
    log_bytes = len(server.log_text)
    clean_rates, clean_lat, clean_failed = result["clean"]
    abused_rates, abused_lat, abused_failed = result["abused"]
    clean_rate, abused_rate = statistics.median(clean_rates), statistics.median(abused_rates)
    metrics = {
        "concurrent_pairs": PAIRS,
        "abuser_connections": ABUSER_CONNECTIONS,
        "clean_pairings_per_s": round(clean_rate, 1),
        "clean_pair_latency_p50_ms": percentile_ms(clean_lat, 0.50),
        "clean_pair_latency_p99_ms": percentile_ms(clean_lat, 0.99),
        "abused_pairings_per_s": round(abused_rate, 1),
        "abused_pair_latency_p50_ms": percentile_ms(abused_lat, 0.50),
        "abused_pair_latency_p99_ms": percentile_ms(abused_lat, 0.99),
        "abused_time_per_pairing_ratio": round(clean_rate / abused_rate, 3),
        "abused_pair_latency_p99_ratio": round(percentile_ms(abused_lat, 0.99) / percentile_ms(clean_lat, 0.99), 3),
        "legit_pairs_failed": clean_failed + abused_failed,
        "abuser_refused": result["abuser_refused"],
        "abuser_held": result["abuser_held"],
        "server_rejected_per_address": health["rejected_per_address"],
        "server_pairs_completed": health["pairs_completed"],
        "server_errors": health["connection_errors"] + health["internal_errors"] + health["protocol_errors"],
        "server_log_bytes": log_bytes,
    }
    print(json.dumps({"benchmark": "rendezvous_abuse", "metrics": metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
