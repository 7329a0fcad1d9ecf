"""The rendezvous server under abuse: one host filling it, running out of descriptors, costly logs.

Linux routes all of 127/8 to loopback, so a client bound to 127.0.0.2 looks to the server like a
different host than one bound to 127.0.0.3.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.workloads.cosmic.test_rendezvous_server import closed_by_server, http, read_exact, until
from workloads.cosmic.rendezvous_limits import AcceptErrorFilter
from workloads.cosmic.rendezvous_server import ServerThread
from workloads.cosmic.tcpunch_protocol import Endpoint, decode_endpoint

ABUSER, LEGIT_A, LEGIT_B = "127.0.0.2", "127.0.0.3", "127.0.0.4"


def connect_from(source: str, port: int, name: bytes | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    if name is not None:
        sock.sendall(name)
    return sock


def pair_from(port: int, name: bytes, a_from: str = LEGIT_A, b_from: str = LEGIT_B) -> None:
    """A pairing between two other hosts completes with the right endpoints."""
    a = connect_from(a_from, port, name)
    try:
        assert decode_endpoint(read_exact(a, 8)) == Endpoint(*a.getsockname()[:2])
        with connect_from(b_from, port, name) as b:
            assert decode_endpoint(read_exact(b, 16)[8:]) == Endpoint(*a.getsockname()[:2])
            assert decode_endpoint(read_exact(a, 8)) == Endpoint(*b.getsockname()[:2])
    finally:
        a.close()


def test_one_address_cannot_fill_the_server(make_server: Callable[..., ServerThread]) -> None:
    srv = make_server(max_connections=16, max_per_address=8)
    held = []
    for i in range(16):  # the whole connection cap's worth, each holding a name nobody else asks for
        sock = connect_from(ABUSER, srv.port, b"squat%d" % i)
        held.append(sock)
    refused = sum(closed_by_server(s, timeout=0.5) for s in held[8:])
    assert refused == 8
    until(lambda: srv.snapshot()["rejected_per_address"] == 8)
    assert srv.snapshot()["busiest_address_connections"] == 8
    pair_from(srv.port, b"legit0_1")  # other hosts still pair while the abuser holds its share
    for sock in held:
        sock.close()


def test_a_world_behind_one_nat_address_is_not_refused(make_server: Callable[..., ServerThread]) -> None:
    """Ranks of one world may share an address; each holds at most one connection at a time."""
    world = 12
    srv = make_server(max_per_address=world)
    waiting = [connect_from(LEGIT_A, srv.port, b"w0_%d" % r) for r in range(1, world)]  # rank 0's peers wait
    for sock in waiting:
        read_exact(sock, 8)
    with connect_from(LEGIT_A, srv.port, b"w0_1") as rank0:  # the twelfth connection from that address
        read_exact(rank0, 16)
    assert srv.snapshot()["rejected_per_address"] == 0
    for sock in waiting:
        sock.close()


def test_waiting_names_are_capped_but_a_partner_is_always_served(make_server: Callable[..., ServerThread]) -> None:
    srv = make_server(max_connections=20, max_per_address=20, max_waiting=4)
    waiting = [connect_from(ABUSER, srv.port, b"wait%d" % i) for i in range(4)]
    for sock in waiting:
        read_exact(sock, 8)
    late = connect_from(LEGIT_A, srv.port, b"newcomer")  # would be a fifth waiting name
    assert closed_by_server(late, timeout=2)  # refused before any reply: the client backs off and retries
    assert srv.snapshot()["rejected_waiting_full"] == 1
    with connect_from(LEGIT_B, srv.port, b"wait0") as partner:  # completes a pair: served even when full
        assert decode_endpoint(read_exact(partner, 16)[8:]) == Endpoint(*waiting[0].getsockname()[:2])
    until(lambda: srv.snapshot()["waiting_names"] == 3)
    pair_from(srv.port, b"newcomer")  # a slot is free again
    for sock in waiting:
        sock.close()


def test_a_pairing_logs_nothing_at_info_and_counters_come_periodically(
        make_server: Callable[..., ServerThread], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cosmic.rendezvous")
    srv = make_server(stats_interval_s=0.2)
    for i in range(30):
        pair_from(srv.port, b"quiet%d" % i)
    until(lambda: any(r.getMessage() == "stats" and r.fields["pairs_completed"] == 30 for r in caplog.records))
    assert not [r for r in caplog.records if r.getMessage() in ("paired", "name expired", "waiter left")]
    stats = [r for r in caplog.records if r.getMessage() == "stats"]
    time.sleep(0.5)  # nothing changed since: no more lines
    assert len([r for r in caplog.records if r.getMessage() == "stats"]) == len(stats)


def test_accept_failures_are_counted_and_warned_about_once_in_a_while(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cosmic.rendezvous")
    counted, forwarded = [], []

    class Loop:
        def get_exception_handler(self):  # noqa: ANN202
            return lambda loop, context: forwarded.append(context)

        def set_exception_handler(self, handler):  # noqa: ANN001, ANN202
            self.handler = handler

    loop = Loop()
    AcceptErrorFilter(lambda: counted.append(1)).install(loop)
    emfile = {"message": "socket.accept() out of system resource", "exception": OSError(24, "Too many open files")}
    for _ in range(5000):  # what asyncio reports in well under a second when descriptors run out
        loop.handler(loop, emfile)
    loop.handler(loop, {"message": "something else"})
    assert len(counted) == 5000
    assert len([r for r in caplog.records if "accept failed" in r.getMessage()]) == 1
    assert forwarded == [{"message": "something else"}]


# -- the file-descriptor limit, in a server process of its own (limits are per process) -----------------
@pytest.fixture
def start_cli(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen, Path, dict]]]:
    procs: list[subprocess.Popen] = []

    def start(nofile: tuple[int, int], *args: str) -> tuple[subprocess.Popen, Path, dict]:
        log = tmp_path / f"server-{len(procs)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "workloads.cosmic.rendezvous_server", "--host", "127.0.0.1", "--port", "0",
             "--health-host", "127.0.0.1", "--health-port", "0", *args],
            stderr=log.open("w"), env={**os.environ, "PYTHONPATH": os.getcwd()},
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile),
        )
        procs.append(proc)
        until(lambda: '"listening"' in log.read_text(), timeout=20)
        listening = next(e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == "listening")
        return proc, log, listening

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def soft_nofile(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if x.startswith("Max open files"))
    return int(line.split()[3])


def test_the_server_raises_its_soft_descriptor_limit(start_cli) -> None:  # noqa: ANN001
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 3000:
        pytest.skip("this machine's hard limit is too low to show the raise")
    proc, _, listening = start_cli((256, hard), "--max-connections", "2000")
    assert soft_nofile(proc.pid) >= 2000
    assert http(listening["health_port"], b"GET /health HTTP/1.1\r\n\r\n")[1]["max_connections"] == 2000


def test_under_a_low_hard_limit_the_cap_shrinks_and_the_log_stays_small(start_cli) -> None:  # noqa: ANN001
    proc, log, listening = start_cli((256, 256), "--max-connections", "10000", "--max-per-address", "100")
    port = listening["port"]
    assert listening["max_connections"] < 256
    warnings = [e for e in map(json.loads, log.read_text().splitlines()) if e["level"] == "warning"]
    assert any("file-descriptor limit" in e["event"] and e["requested"] == 10000 for e in warnings)

    async def flood() -> list[asyncio.StreamWriter]:  # far more connections than descriptors, all at once
        async def one(i: int):  # noqa: ANN202
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ABUSER, 0))
                writer.write(b"flood%d" % i)
                return writer
            except OSError:
                return None

        return [w for w in await asyncio.gather(*(one(i) for i in range(600))) if w is not None]

    loop = asyncio.new_event_loop()
    try:
        writers = loop.run_until_complete(flood())
        time.sleep(1.0)
        pair_from(port, b"still-works0_1")  # the caps, not the descriptor limit, turned the flood away
        for w in writers:
            w.transport.abort()
    finally:
        loop.close()
    status, health = http(listening["health_port"], b"GET /health HTTP/1.1\r\n\r\n")
    assert status == 200 and health["rejected_per_address"] >= 400 and health["pairs_completed"] == 1
    assert health["accept_errors"] == 0
    assert len(log.read_text().splitlines()) < 20  # the old server wrote tens of thousands of tracebacks
    assert proc.poll() is None
