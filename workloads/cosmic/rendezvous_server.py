"""TCPunch-compatible rendezvous server (asyncio), with the robustness the original lacks.

Protocol, byte for byte as the C++ `tcpunchd`: a client connects and sends its pairing name (one read of
at most 100 bytes, unframed); the server answers at once with the client's own public endpoint (8-byte
PeerConnectionData); when a second client sends the same name, each receives the other's endpoint (8
bytes) and both connections are closed.

Added on top: unmatched names expire, a client that sends no name is dropped after a timeout, a
waiting client that disconnects (or breaks the protocol by sending more) frees its name at once,
TCP keepalive finds half-open waiters, every outcome is counted, logs are JSON lines, and
`GET /health` on a second port returns the counters.
No input ends the server: every client runs in its own task and every failure is caught there.

It listens on the internet, so no one host may fill it:
- connections are capped in total and per source address (refused ones are closed at once);
- waiting names are capped below the connection cap, and a client whose name completes a pair is
  always served, so waiting clients cannot lock out the partners they wait for;
- a name waits alone `pair_timeout_s` (30 s), then the server closes it (our client registers again);
- the soft file-descriptor limit is raised at start-up and the connection cap kept below it;
- a pairing logs at DEBUG; INFO gets one line of counters per `stats_interval_s`.

Run: ``python -m workloads.cosmic.rendezvous_server --port 10000 --health-port 8080``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

from workloads.cosmic import constants, jsonlog
from workloads.cosmic.rendezvous_limits import AcceptErrorFilter, fit_connections, raise_fd_limit
from workloads.cosmic.tcpunch_protocol import Endpoint, encode_endpoint, ipv4_of, printable_name

log = logging.getLogger("cosmic.rendezvous")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "0.0.0.0"  # noqa: S104 - the service must be reachable by Lambda functions on the internet
    port: int = constants.RENDEZVOUS_PORT
    health_host: str = "0.0.0.0"  # noqa: S104
    health_port: int | None = constants.HEALTH_PORT  # None: no health endpoint
    name_timeout_s: float = constants.NAME_TIMEOUT_S
    pair_timeout_s: float = constants.PAIR_TIMEOUT_S
    max_connections: int = constants.MAX_CONNECTIONS
    max_per_address: int = constants.MAX_PER_ADDRESS
    max_waiting: int | None = None  # None: constants.WAITING_SHARE of max_connections
    stats_interval_s: float = constants.STATS_INTERVAL_S
    write_timeout_s: float = constants.WRITE_TIMEOUT_S
    keepalive_idle_s: int = 30  # then 3 probes 10 s apart: a vanished waiter is noticed within ~60 s
    backlog: int = 4096

    def __post_init__(self) -> None:
        if self.name_timeout_s <= 0 or self.pair_timeout_s <= 0 or self.write_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_connections < 2:
            raise ValueError("max_connections must be at least 2 (one pair)")
        if self.max_per_address < 2:
            raise ValueError("max_per_address must be at least 2 (one pair behind one address)")
        if self.max_waiting is not None and not 1 <= self.max_waiting < self.max_connections:
            raise ValueError("max_waiting must be at least 1 and below max_connections (partners need room)")
        if self.stats_interval_s <= 0:
            raise ValueError("stats_interval_s must be positive")

    @property
    def waiting_cap(self) -> int:
        if self.max_waiting is not None:
            return min(self.max_waiting, self.max_connections - 1)
        return max(1, int(self.max_connections * constants.WAITING_SHARE))


@dataclass
class Counters:
    connections_accepted: int = 0
    rejected_capacity: int = 0  # over max_connections: closed at once
    rejected_per_address: int = 0  # over max_per_address from one source address: closed at once
    rejected_waiting_full: int = 0  # would have waited with max_waiting names waiting: closed without a reply
    accept_errors: int = 0  # accept() failed (out of descriptors or memory)
    names_received: int = 0
    pairs_completed: int = 0
    names_expired: int = 0  # waited pair_timeout_s with no partner (our client then registers again)
    name_timeouts: int = 0  # connected but sent no name within name_timeout_s
    empty_names: int = 0  # disconnected before sending a byte
    oversized_names: int = 0  # more than 100 bytes in the first read
    waiting_disconnects: int = 0  # left (or reset) while waiting for a partner
    protocol_errors: int = 0  # sent bytes after its name
    non_ipv4_clients: int = 0  # PeerConnectionData has room for IPv4 only
    connection_errors: int = 0  # resets and write failures
    internal_errors: int = 0


@dataclass
class _Waiter:
    name: bytes
    endpoint: Endpoint
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    since: float
    matched: asyncio.Future[Endpoint] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def alive(self) -> bool:
        if self.matched.done() or self.writer.is_closing() or self.reader.at_eof():
            return False
        return _socket_open(self.writer)


def _socket_open(writer: asyncio.StreamWriter) -> bool:
    """Ask the kernel whether the client has closed or reset: its FIN may be queued behind the callback
    we are in, and handing a departed client's endpoint to a live one would strand the live one."""
    transport_socket = writer.get_extra_info("socket")
    if transport_socket is None:
        return True
    sock = socket.socket(fileno=transport_socket.fileno())  # borrowed: detached below, never closed here
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except (BlockingIOError, InterruptedError):
        return True  # nothing to read: still connected
    except OSError:
        return False  # reset
    finally:
        sock.detach()


class RendezvousServer:
    """The server; `start()` binds both ports, `stop()` closes everything it opened."""

    def __init__(self, settings: ServerSettings | None = None) -> None:
        self.settings = settings or ServerSettings()
        self.counters = Counters()
        self._waiting: dict[bytes, _Waiter] = {}
        self._open = 0
        self._per_address: dict[str, int] = {}  # open connections by source address
        self._fd_limit: int | None = None
        self._stats: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._pair_waits: deque[float] = deque(maxlen=4096)
        self._started = time.monotonic()
        self._server: asyncio.Server | None = None
        self._health: asyncio.Server | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._fit_to_fd_limit()
        AcceptErrorFilter(self._count_accept_error).install(asyncio.get_running_loop())
        s = self.settings
        self._started = time.monotonic()
        self._server = await asyncio.start_server(
            self._on_client, s.host, s.port, backlog=s.backlog, reuse_address=True, family=socket.AF_INET
        )
        if s.health_port is not None:
            self._health = await asyncio.start_server(
                self._on_health, s.health_host, s.health_port, reuse_address=True, family=socket.AF_INET
            )
        self._stats = asyncio.create_task(self._log_stats())
        jsonlog.log_event(log, logging.INFO, "listening", port=self.port, health_port=self.health_port,
                          max_connections=s.max_connections, max_per_address=s.max_per_address,
                          max_waiting=s.waiting_cap, pair_timeout_s=s.pair_timeout_s, fd_limit=self._fd_limit)

    def _fit_to_fd_limit(self) -> None:
        s = self.settings
        self._fd_limit = raise_fd_limit(s.max_connections + constants.FD_RESERVE)
        fitted = fit_connections(s.max_connections, self._fd_limit)
        if fitted != s.max_connections:
            max_waiting = None if s.max_waiting is None else min(s.max_waiting, fitted - 1)
            self.settings = replace(s, max_connections=fitted, max_waiting=max_waiting)

    def _count_accept_error(self) -> None:
        self.counters.accept_errors += 1

    async def _log_stats(self) -> None:
        """Counters at INFO every stats_interval_s, when something changed (one line, not one per pairing)."""
        last: dict | None = None
        while True:
            await asyncio.sleep(self.settings.stats_interval_s)
            now = asdict(self.counters)
            if now != last:
                jsonlog.log_event(log, logging.INFO, "stats", connections_open=self._open,
                                  waiting_names=len(self._waiting), **now)
                last = now

    async def stop(self) -> None:
        if self._stats is not None:
            self._stats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stats
        for server in (self._server, self._health):
            if server is not None:
                server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in (self._server, self._health):
            if server is not None:
                await server.wait_closed()
        jsonlog.log_event(log, logging.INFO, "stopped", **asdict(self.counters))

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def health_port(self) -> int | None:
        return None if self._health is None else self._health.sockets[0].getsockname()[1]

    def snapshot(self) -> dict:
        """The health document: state, counters and recent pairing waits."""
        now = time.monotonic()
        waits = sorted(self._pair_waits)
        oldest = min((w.since for w in self._waiting.values()), default=None)
        return {
            "status": "ok",
            "service": "tcpunch-rendezvous",
            "uptime_s": round(now - self._started, 3),
            "port": self.port if self._server else None,
            "connections_open": self._open,
            "max_connections": self.settings.max_connections,
            "max_per_address": self.settings.max_per_address,
            "max_waiting": self.settings.waiting_cap,
            "fd_limit": self._fd_limit,
            "addresses": len(self._per_address),
            "busiest_address_connections": max(self._per_address.values(), default=0),
            "waiting_names": len(self._waiting),
            "oldest_wait_s": None if oldest is None else round(now - oldest, 3),
            "recent_pair_wait_ms_p50": _percentile_ms(waits, 0.50),
            "recent_pair_wait_ms_p99": _percentile_ms(waits, 0.99),
            **asdict(self.counters),
        }

    # -- rendezvous ------------------------------------------------------------------------------
    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._open >= self.settings.max_connections:
            self.counters.rejected_capacity += 1
            writer.transport.abort()
            return
        address = writer.get_extra_info("peername")
        source = str(address[0]) if address else "?"
        if self._per_address.get(source, 0) >= self.settings.max_per_address:
            self.counters.rejected_per_address += 1
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._open += 1
        self._per_address[source] = self._per_address.get(source, 0) + 1
        self.counters.connections_accepted += 1
        abort = True
        try:
            _tune(writer, self.settings.keepalive_idle_s)
            abort = not await self._serve(reader, writer)
        except (ConnectionError, OSError, TimeoutError):
            self.counters.connection_errors += 1
        except asyncio.CancelledError:
            pass  # server stopping
        except Exception:  # noqa: BLE001 - one client's failure must never stop the server
            self.counters.internal_errors += 1
            log.exception("client handler failed")
        finally:
            self._open -= 1
            left = self._per_address.pop(source) - 1
            if left:
                self._per_address[source] = left
            self._tasks.discard(task)
            if abort:
                writer.transport.abort()
            else:
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Run one client through the protocol; True when it ended normally (close, not reset)."""
        c = self.counters
        address = writer.get_extra_info("peername")
        ip = ipv4_of(address[0]) if address else None
        if ip is None:
            c.non_ipv4_clients += 1
            return False
        endpoint = Endpoint(ip, address[1])
        try:  # TCPunch reads the name with one recv of at most 100 bytes; one more byte detects oversize
            async with asyncio.timeout(self.settings.name_timeout_s):
                name = await reader.read(constants.MAX_PAIRING_NAME_BYTES + 1)
        except TimeoutError:
            c.name_timeouts += 1
            return False
        if not name:
            c.empty_names += 1
            return True
        if len(name) > constants.MAX_PAIRING_NAME_BYTES:
            c.oversized_names += 1  # counted, logged at DEBUG: anyone can send these, as fast as they like
            jsonlog.log_event(log, logging.DEBUG, "oversized name", client=str(endpoint), name=printable_name(name))
            return False
        c.names_received += 1

        partner = self._waiting.get(name)
        if partner is not None and partner.alive():  # completes a pair: always served, whatever the caps
            del self._waiting[name]
            partner.writer.write(encode_endpoint(endpoint))
            writer.write(encode_endpoint(endpoint) + encode_endpoint(partner.endpoint))  # own, then the peer's
            partner.matched.set_result(endpoint)
            wait = time.monotonic() - partner.since
            self._pair_waits.append(wait)
            c.pairs_completed += 1
            jsonlog.log_event(
                log, logging.DEBUG, "paired", name=printable_name(name), first=str(partner.endpoint),
                second=str(endpoint), wait_ms=round(wait * 1e3, 3),
            )
            await self._drain(writer)
            return True

        if len(self._waiting) >= self.settings.waiting_cap and name not in self._waiting:
            c.rejected_waiting_full += 1  # closed before any reply: the client backs off and tries again
            return False
        writer.write(encode_endpoint(endpoint))  # own public endpoint, at once
        waiter = _Waiter(name, endpoint, reader, writer, time.monotonic())
        self._waiting[name] = waiter  # replaces a dead waiter whose handler has not run yet
        try:
            await self._drain(writer)
        except BaseException:
            if self._waiting.get(name) is waiter:
                del self._waiting[name]
            raise
        return await self._wait_for_partner(waiter)

    async def _wait_for_partner(self, waiter: _Waiter) -> bool:
        c = self.counters
        watch = asyncio.ensure_future(waiter.reader.read(1))  # EOF, a reset or stray bytes end the wait
        try:
            await asyncio.wait({waiter.matched, watch}, timeout=self.settings.pair_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            if self._waiting.get(waiter.name) is waiter:  # before any await: nobody may pair with us now
                del self._waiting[waiter.name]
            expired = not watch.done()
            if expired:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            elif not watch.cancelled():
                watch.exception()  # retrieved, so asyncio does not report it as lost
        if waiter.matched.done():
            await self._drain(waiter.writer)
            return True
        name = printable_name(waiter.name)
        if expired:
            c.names_expired += 1
            jsonlog.log_event(log, logging.DEBUG, "name expired", name=name, client=str(waiter.endpoint))
            return False
        if watch.exception() is not None or watch.result() == b"":
            c.waiting_disconnects += 1
            jsonlog.log_event(log, logging.DEBUG, "waiter left", name=name, client=str(waiter.endpoint))
            return watch.exception() is None
        c.protocol_errors += 1
        jsonlog.log_event(log, logging.DEBUG, "bytes after name", name=name, client=str(waiter.endpoint))
        return False

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        if writer.transport.get_write_buffer_size() == 0:  # the usual case: 8 or 16 bytes went at once
            return
        async with asyncio.timeout(self.settings.write_timeout_s):
            await writer.drain()

    # -- health ----------------------------------------------------------------------------------
    async def _on_health(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await asyncio.wait_for(self._health_response(reader), 5.0)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            status, body = "400 Bad Request", {"error": "bad request"}
        except Exception:  # noqa: BLE001
            log.exception("health handler failed")
            status, body = "500 Internal Server Error", {"error": "internal"}
        payload = json.dumps(body).encode()
        head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n").encode()
        with contextlib.suppress(Exception):
            writer.write(head + payload)
            await asyncio.wait_for(writer.drain(), 5.0)
        writer.close()

    async def _health_response(self, reader: asyncio.StreamReader) -> tuple[str, dict]:
        request_line = (await reader.readline()).decode("latin-1").strip()
        for _ in range(100):  # headers: read up to the blank line so closing never resets the client
            if (await reader.readline()).strip() in (b"",):
                break
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return "400 Bad Request", {"error": "bad request line"}
        if parts[0] != "GET":
            return "405 Method Not Allowed", {"error": "only GET"}
        if parts[1].split("?", 1)[0] != "/health":
            return "404 Not Found", {"error": "try GET /health"}
        return "200 OK", self.snapshot()


def _tune(writer: asyncio.StreamWriter, keepalive_idle_s: int) -> None:
    """No Nagle delay on the two 8-byte replies; keepalive so a vanished waiter is noticed."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepalive_idle_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


def _percentile_ms(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return round(sorted_values[index] * 1e3, 3)


# -- running it ------------------------------------------------------------------------------------
class ServerThread:
    """The server on its own event loop in a daemon thread (tests, benchmarks, local runs)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.server = RendezvousServer(settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rendezvous", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def health_port(self) -> int | None:
        return self.server.health_port

    def snapshot(self) -> dict:
        return self.call(self.server.snapshot)

    def call(self, fn, *args):  # noqa: ANN001, ANN201 - run fn on the server's loop (no data races)
        async def run():  # noqa: ANN202
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)


@contextlib.contextmanager
def running_server(**overrides: object) -> Iterator[ServerThread]:
    """A loopback server on ephemeral ports, stopped on exit: `with running_server() as srv: srv.port`."""
    settings = ServerSettings(**{"host": "127.0.0.1", "port": 0, "health_host": "127.0.0.1", "health_port": 0,
                                 **overrides})
    with ServerThread(settings) as thread:
        yield thread


async def _serve_until_signalled(settings: ServerSettings) -> None:
    server = RendezvousServer(settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # ECS stops tasks with SIGTERM
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop()


def parse_args(argv: list[str] | None = None) -> ServerSettings:
    p = argparse.ArgumentParser(prog="python -m workloads.cosmic.rendezvous_server", description=__doc__.split("\n")[0])
    env_port = int(os.environ.get("PORT", constants.RENDEZVOUS_PORT))  # the TCPunch image's `ENV PORT`
    p.add_argument("--host", default="0.0.0.0")  # noqa: S104
    p.add_argument("--port", type=int, default=env_port)
    p.add_argument("--health-host", default="0.0.0.0")  # noqa: S104
    p.add_argument("--health-port", type=int, default=constants.HEALTH_PORT, help="0 picks a free port; -1 disables")
    p.add_argument("--name-timeout", type=float, default=constants.NAME_TIMEOUT_S, help="seconds to send a name")
    p.add_argument("--pair-timeout", type=float, default=constants.PAIR_TIMEOUT_S,
                   help="seconds a name waits alone before the server closes it (our client registers again)")
    p.add_argument("--max-connections", type=int, default=constants.MAX_CONNECTIONS,
                   help="kept below the file-descriptor limit, which is raised to the hard limit if need be")
    p.add_argument("--max-per-address", type=int, default=constants.MAX_PER_ADDRESS,
                   help="connections from one source address; at least the ranks that may share a NAT address")
    p.add_argument("--max-waiting", type=int, default=None,
                   help=f"waiting names (default {constants.WAITING_SHARE:.0%} of --max-connections)")
    p.add_argument("--stats-interval", type=float, default=constants.STATS_INTERVAL_S,
                   help="seconds between INFO lines with the counters")
    p.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    a = p.parse_args(argv)
    jsonlog.configure(a.log_level)
    return ServerSettings(
        host=a.host, port=a.port, health_host=a.health_host,
        health_port=None if a.health_port < 0 else a.health_port, name_timeout_s=a.name_timeout,
        pair_timeout_s=a.pair_timeout, max_connections=a.max_connections, max_per_address=a.max_per_address,
        max_waiting=a.max_waiting, stats_interval_s=a.stats_interval,
    )


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve_until_signalled(parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
