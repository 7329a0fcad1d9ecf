"""TCPunch client in pure Python: pair two processes through the rendezvous server, then hole-punch.

`pair(name, host, port)` connects to the server from a socket with SO_REUSEADDR|SO_REUSEPORT, sends the
name, reads its own public endpoint and then the peer's (8 bytes each), and then, from the same local
port, both listens and repeatedly connects to the peer's public endpoint. Whichever succeeds first wins:
TCP simultaneous open behind NATs, an ordinary accept on loopback. Only one connection can exist for a
4-tuple, so both sides end up on the same one. Unlike the TCPunch fork, every wait has a deadline and
a failed connect backs off instead of spinning.

The server closes a name that waited alone for its pair timeout (30 s by default), and refuses clients
over its caps before replying; the client registers the name again in the first case and backs off in
the second, until its own deadline. A rank may therefore wait for a slow peer far longer than the
server keeps any one connection.
"""

from __future__ import annotations

import errno
import random
import select
import socket
import time
from dataclasses import dataclass

from workloads.cosmic.constants import PEER_DATA_BYTES, RENDEZVOUS_PORT
from workloads.cosmic.errors import CommunicatorTimeout, RendezvousError
from workloads.cosmic.tcpunch_protocol import Endpoint, check_pairing_name, decode_endpoint

_RETRY_S = 0.02  # back-off after a refused connect (TCPunch: 100 ms; the fork: none, 100 % CPU)
_REFUSED_BACKOFF_S = (0.05, 5.0)  # first and longest wait after the server turned us away (full jitter)
_SHORTEST_WAIT_S = 1.0  # a name closed sooner than this was not a pair timeout: back off before registering again
_IN_PROGRESS = {errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK}
# Socket buffer size for peer links; 0 leaves it to TCP autotuning, which grows to tcp_rmem's maximum
# (6 MB by default), whereas an explicit size turns autotuning off and is capped at rmem_max (often 208 KB).
PEER_BUFFER_BYTES = 0


@dataclass
class Rendezvous:
    """What the server told us; `sock` stays open until the punch is done, keeping the port reserved."""

    sock: socket.socket
    local: Endpoint
    public: Endpoint
    peer: Endpoint


@dataclass(frozen=True)
class Who:
    """Who is waiting for whom, for error messages."""

    rank: int | None
    peer: int | str
    op: str
    timeout_s: float

    def timeout(self, waiting_for: str) -> CommunicatorTimeout:
        return CommunicatorTimeout(self.rank, self.peer, self.op, self.timeout_s, waiting_for)


def resolve_ipv4(host: str) -> str:
    """`host` as an IPv4 literal (TCPunch needs one; the FMI fork's `resolve_host_dns` does this lookup)."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RendezvousError(f"cannot resolve rendezvous host {host!r}: {exc}") from exc
    return infos[0][4][0]


def pair(
    name: bytes,
    host: str,
    port: int = RENDEZVOUS_PORT,
    timeout_s: float = 60.0,
    *,
    rank: int | None = None,
    peer: int | str | None = None,
    op: str = "pair",
    deadline: float | None = None,
) -> socket.socket:
    """A connected, blocking TCP socket to the process that used the same `name`, or a clear exception.

    `deadline` (time.monotonic()) ends the wait earlier when the pairing is part of a longer operation;
    `timeout_s` is then only what the error message reports."""
    who = Who(rank, peer if peer is not None else f"peer of {name!r}", op, timeout_s)
    deadline = time.monotonic() + timeout_s if deadline is None else deadline
    return pair_endpoints(name, host, port, deadline, who).sock


@dataclass
class Paired:
    """A punched connection and the public endpoints the server reported (what a peer can authenticate)."""

    sock: socket.socket
    public: Endpoint
    peer: Endpoint


def pair_endpoints(name: bytes, host: str, port: int, deadline: float, who: Who,
                   punch_s: float | None = None) -> Paired:
    """`pair` with the endpoints; `punch_s` bounds the hole punching after the rendezvous (a peer that never
    connects back is then given up early, and the caller may pair again)."""
    meeting = exchange_endpoints(name, host, port, deadline, who)
    punch_deadline = deadline if punch_s is None else min(deadline, time.monotonic() + punch_s)
    try:
        return Paired(punch(meeting, punch_deadline, who), meeting.public, meeting.peer)
    finally:
        meeting.sock.close()


def exchange_endpoints(name: bytes, host: str, port: int, deadline: float, who: Who) -> Rendezvous:
    """The TCPunch exchange: name up, own endpoint and then the peer's endpoint down; registers again when
    the server closes the name unpaired, and backs off when it refuses us, until `deadline`."""
    name = check_pairing_name(name)
    server = (resolve_ipv4(host), port)
    refused = 0
    while True:
        sock = _reusable_socket()
        try:
            meeting = _register(sock, name, server, deadline, who)
        except BaseException:
            sock.close()
            raise
        if isinstance(meeting, Rendezvous):
            return meeting
        sock.close()
        if meeting == "refused":
            refused += 1
            cap = min(_REFUSED_BACKOFF_S[1], _REFUSED_BACKOFF_S[0] * 2 ** min(refused, 16))
            pause = random.uniform(0, cap)  # noqa: S311 - jitter, not cryptography
            if time.monotonic() + pause >= deadline:
                raise who.timeout(f"retrying a rendezvous server that refused it {refused} times (at capacity?) for")
            time.sleep(pause)


def _register(sock: socket.socket, name: bytes, server: tuple[str, int], deadline: float,
              who: Who) -> Rendezvous | str:
    """One registration: the meeting, or "refused" (closed before any reply) or "expired" (closed unpaired)."""
    # An explicit bind to a free port (instead of connect's implicit one) keeps the kernel from handing
    # this port to another connect() while we punch from it and later use it for the peer connection.
    sock.bind(("0.0.0.0", 0))  # noqa: S104
    sock.settimeout(_remaining(deadline, who, "connecting to the rendezvous server for"))
    try:
        sock.connect(server)
    except TimeoutError as exc:
        raise who.timeout("connecting to the rendezvous server for") from exc
    except OSError as exc:
        raise RendezvousError(f"cannot reach rendezvous server {server[0]}:{server[1]}: {exc}") from exc
    try:
        sock.sendall(name)
    except ConnectionError:
        return "refused"
    own = _recv_endpoint(sock, deadline, who, "reading its own endpoint for")
    if own is None:
        return "refused"
    registered = time.monotonic()
    peer = _recv_endpoint(sock, deadline, who, "waiting at the rendezvous for")
    if peer is None:  # the name waited alone for the server's pair timeout: register again
        return "expired" if time.monotonic() - registered >= _SHORTEST_WAIT_S else "refused"
    return Rendezvous(sock, Endpoint(*sock.getsockname()[:2]), decode_endpoint(own), decode_endpoint(peer))


def punch(meeting: Rendezvous, deadline: float, who: Who) -> socket.socket:
    """Listen on and connect from the rendezvous port until one connection with the peer exists.

    Every failure short of the deadline is retried after a short back-off: a refused connect (the
    peer is not listening yet), a connect whose 4-tuple an accepted connection already holds, and a
    bind the kernel refuses for a moment."""
    peer = meeting.peer.as_tuple()
    local = ("0.0.0.0", meeting.local.port)  # noqa: S104 - where the rendezvous socket is bound
    listener = _listener(local)
    connector: socket.socket | None = None
    next_attempt = 0.0
    winner: socket.socket | None = None
    try:
        while winner is None:
            now = time.monotonic()
            if now >= deadline:
                raise who.timeout(f"connecting to {meeting.peer} (hole punching) for")
            if connector is None and now >= next_attempt:
                listener = listener or _listener(local)
                connector = _reusable_socket(PEER_BUFFER_BYTES)
                try:
                    connector.bind(local)
                    connector.setblocking(False)
                    err = connector.connect_ex(peer)
                except OSError as exc:
                    err = exc.errno
                if err in (0, errno.EISCONN):
                    winner, connector = connector, None
                    break
                if err not in _IN_PROGRESS:  # refused, 4-tuple taken by an accepted connection, bind refused
                    connector.close()
                    connector, next_attempt = None, now + _RETRY_S
            wait = deadline - now if connector is not None else min(deadline, next_attempt) - now
            readable, writable = _wait(listener, connector, max(wait, 0.001))
            if listener is not None and readable:
                try:
                    conn, address = listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    conn = None
                if conn is not None and (address[0], address[1]) == peer:
                    winner = conn
                    break
                if conn is not None:
                    conn.close()  # a stranger on our port: ignore it
            if connector is not None and writable:
                if connector.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    winner, connector = connector, None
                    break
                connector.close()
                connector, next_attempt = None, time.monotonic() + _RETRY_S
    finally:
        for sock in (listener, connector):
            if sock is not None:
                sock.close()
    winner.setblocking(True)
    winner.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return winner


def _wait(listener: socket.socket | None, connector: socket.socket | None, seconds: float) -> tuple[bool, bool]:
    """(listener readable, connector writable) after at most `seconds` (poll: no FD_SETSIZE limit)."""
    poller = select.poll()
    if listener is not None:
        poller.register(listener, select.POLLIN)
    if connector is not None:
        poller.register(connector, select.POLLOUT)
    ready = dict(poller.poll(seconds * 1000))
    readable = listener is not None and bool(ready.get(listener.fileno(), 0) & (select.POLLIN | select.POLLERR))
    writable = connector is not None and bool(ready.get(connector.fileno(), 0))
    return readable, writable


def _listener(local: tuple[str, int]) -> socket.socket | None:
    """A listener on the rendezvous port, or None when the port cannot be shared now (retried later)."""
    sock = _reusable_socket(PEER_BUFFER_BYTES)  # accepted connections inherit the buffer sizes
    try:
        sock.bind(local)
        sock.listen(8)
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def _reusable_socket(buffer_bytes: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if buffer_bytes:  # before connect/listen, so the window scale is negotiated for it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
    return sock


def _remaining(deadline: float, who: Who, waiting_for: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise who.timeout(waiting_for)
    return left


def _recv_endpoint(sock: socket.socket, deadline: float, who: Who, waiting_for: str) -> bytes | None:
    """One PeerConnectionData, or None when the server closed (or reset) the connection before sending any
    of it; closing in the middle of one is not TCPunch and raises RendezvousError."""
    data = bytearray()
    while len(data) < PEER_DATA_BYTES:
        sock.settimeout(_remaining(deadline, who, waiting_for))
        try:
            chunk = sock.recv(PEER_DATA_BYTES - len(data))
        except TimeoutError as exc:
            raise who.timeout(waiting_for) from exc
        except ConnectionResetError:  # the server refuses and expires with a reset
            chunk = b""
        if not chunk:
            if data:
                raise RendezvousError(f"rendezvous server closed the connection while {waiting_for} {who.peer}")
            return None
        data += chunk
    return bytes(data)
