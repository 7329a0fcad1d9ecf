"""FMI's Direct channel in Python: one TCP connection per pair of ranks, opened lazily via TCPunch.

The pairing name of ranks a < b is ``f"{comm_name}{a}_{b}"`` (FMI's scheme), so a unique communicator
name per execution keeps concurrent jobs from cross-pairing. After the punch both sides exchange a
`hello` naming communicator, rank and world size, so a wrong connection fails loudly. With the run's
secret the hello is signed (peer_auth): a stranger that answered at the rendezvous instead of the peer
is dropped and the name paired again, until the deadline.

All transfers go through `Transfers.run`, a poll loop over non-blocking sockets that can send and receive
on several links at once; that is what lets two ranks swap 64 MB with each other without deadlock.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workloads.cosmic import framing
from workloads.cosmic.errors import (
    CommunicatorTimeout,
    PeerAuthenticationFailed,
    PeerDisconnected,
    ProtocolMismatch,
)
from workloads.cosmic.peer_auth import hello_key, hello_mac, valid_mac
from workloads.cosmic.rendezvous_client import Paired, Who, pair_endpoints

_CHUNK = 1 << 22  # bytes per send/recv call: large enough that call overhead vanishes
_REDUCE_CHUNK = 1 << 18  # bytes received and reduced at a time: the block is still in L2 when it is added
_HEADER = framing.HEADER.size
# A genuine peer punches and says hello within seconds of the rendezvous (both sides get the endpoints at
# once); whoever takes longer is treated as a stranger, and the name is paired again.
HANDSHAKE_S = 10.0
_MAX_HELLO_BYTES = 4096  # a stranger's header must not make us allocate what it claims


@dataclass
class Link:
    """The connection to one peer and its per-direction frame counters."""

    sock: socket.socket
    peer: int
    sent: int = 0
    received: int = 0


@dataclass
class _Outgoing:
    link: Link
    chunks: list[memoryview]
    rank: int
    op: str
    index: int = 0
    offset: int = 0

    def pump(self) -> bool:
        """Send what the socket takes; True when everything went."""
        while self.index < len(self.chunks):
            chunk = self.chunks[self.index]
            try:
                n = self.link.sock.send(chunk[self.offset : self.offset + _CHUNK])
            except (BlockingIOError, InterruptedError):
                return False
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise PeerDisconnected(self.rank, self.link.peer, self.op) from exc
            self.offset += n
            if self.offset == len(chunk):
                self.index, self.offset = self.index + 1, 0
        return True


@dataclass(frozen=True)
class Combine:
    """Reduce an incoming array as it arrives: out = ufunc(left, received), block by block.

    `left` and `out` are C-contiguous arrays of one shape and dtype (`out` may be `left`); the received
    bytes land in `scratch` (a small reusable buffer) and never need a buffer of the message's size."""

    ufunc: np.ufunc
    left: np.ndarray
    out: np.ndarray
    scratch: np.ndarray  # uint8, a multiple of the itemsize


@dataclass
class _Incoming:
    link: Link
    op: str
    into: np.ndarray | None
    combine: Combine | None = None
    stage: str = "head"
    buf: Any = field(default_factory=lambda: bytearray(_HEADER))
    got: int = 0
    meta: bytes = b""
    body_len: int = 0
    reduced: int = 0  # bytes of the body already combined (stage "combine")
    result: Any = None
    rank: int = -1

    def pump(self) -> bool:
        """Receive what is there; True when the whole message is in and decoded."""
        while True:
            view = memoryview(self.buf)
            if self.got < len(view):
                try:
                    n = self.link.sock.recv_into(view[self.got : self.got + _CHUNK])
                except (BlockingIOError, InterruptedError):
                    return False
                except ConnectionResetError as exc:
                    raise PeerDisconnected(self.rank, self.link.peer, self.op) from exc
                if n == 0:
                    raise PeerDisconnected(self.rank, self.link.peer, self.op)
                self.got += n
                if self.got < len(view):
                    continue
            if self.stage == "head":
                op, seq, meta_len, self.body_len = framing.unpack_header(bytes(self.buf))
                if framing.OP_CODES[op] != framing.OP_CODES[self.op]:
                    raise ProtocolMismatch(
                        f"rank {self.rank}: expected {self.op!r} from rank {self.link.peer}, got {op!r} "
                        "(ranks called different operations)"
                    )
                if seq != self.link.received & 0xFFFFFFFF:
                    raise ProtocolMismatch(f"rank {self.rank}: frame {seq} from rank {self.link.peer} out of order")
                self.stage, self.buf, self.got = "meta", bytearray(meta_len), 0
            elif self.stage == "meta":
                self.meta = bytes(self.buf)
                if self.combine is not None and framing.single_array_target(
                        self.meta, self.body_len, self.combine.out) is not None:
                    self.stage, self.buf, self.got = "combine", self._next_block(), 0
                    continue
                target = framing.single_array_target(self.meta, self.body_len, self.into)
                body = target.reshape(-1).view(np.uint8) if target is not None else bytearray(self.body_len)
                self.stage, self.buf, self.got = "body", body, 0
            elif self.stage == "combine":
                self._combine_block()
                if self.reduced < self.body_len:
                    self.buf, self.got = self._next_block(), 0
                    continue
                self.link.received += 1
                self.result = self.combine.out
                return True
            else:
                self.link.received += 1
                if isinstance(self.buf, np.ndarray):
                    self.result = self.into
                else:
                    self.result = framing.decode(self.meta, self.buf)
                    if self.combine is not None:  # not the array expected: combine it whole (or fail loudly)
                        c = self.combine
                        c.ufunc(c.left, self.result, out=c.out)
                        self.result = c.out
                return True

    def _next_block(self) -> np.ndarray:
        return self.combine.scratch[: min(len(self.combine.scratch), self.body_len - self.reduced)]

    def _combine_block(self) -> None:
        c, itemsize = self.combine, self.combine.out.itemsize
        start, count = self.reduced // itemsize, len(self.buf) // itemsize
        block = self.buf.view(c.out.dtype)
        left, out = c.left.reshape(-1), c.out.reshape(-1)
        c.ufunc(left[start : start + count], block, out=out[start : start + count])
        self.reduced += len(self.buf)


class Transfers:
    """Runs any number of sends and receives concurrently until all finish or the deadline passes."""

    def __init__(self, rank: int, op: str, deadline: float, timeout_s: float) -> None:
        self.rank, self.op, self.deadline, self.timeout_s = rank, op, deadline, timeout_s
        self._out: list[_Outgoing] = []
        self._in: list[_Incoming] = []

    def send(self, link: Link, obj: Any) -> None:
        msg = framing.encode(obj, self.op, link.sent)
        link.sent += 1
        self._out.append(_Outgoing(link, [memoryview(msg.head), *msg.body], self.rank, self.op))

    def recv(self, link: Link, into: np.ndarray | None = None, combine: Combine | None = None) -> _Incoming:
        """Receive a message (into `into` when it is one array that fits), or with `combine`, reduce it
        into `combine.out` as it arrives (the result is then `combine.out`)."""
        incoming = _Incoming(link, self.op, into, combine, rank=self.rank)
        self._in.append(incoming)
        return incoming

    def run(self) -> list[Any]:
        """Move every byte; returns the received objects in the order `recv` was called."""
        pending_out = [o for o in self._out if not o.pump()]
        pending_in = [i for i in self._in if not i.pump()]
        poller = select.poll()
        while pending_out or pending_in:
            events: dict[int, int] = {}
            for o in pending_out:
                events[o.link.sock.fileno()] = events.get(o.link.sock.fileno(), 0) | select.POLLOUT
            for i in pending_in:
                events[i.link.sock.fileno()] = events.get(i.link.sock.fileno(), 0) | select.POLLIN
            for fd, mask in events.items():
                poller.register(fd, mask)
            left = self.deadline - time.monotonic()
            ready = poller.poll(max(0.0, left) * 1000) if left > 0 else []
            for fd in events:
                poller.unregister(fd)
            if not ready and time.monotonic() >= self.deadline:
                stuck = pending_in[0].link.peer if pending_in else pending_out[0].link.peer
                verb = "waiting for data from" if pending_in else "sending to"
                raise CommunicatorTimeout(self.rank, stuck, self.op, self.timeout_s, verb)
            active = {fd for fd, _ in ready}
            pending_out = [o for o in pending_out if o.link.sock.fileno() not in active or not o.pump()]
            pending_in = [i for i in pending_in if i.link.sock.fileno() not in active or not i.pump()]
        return [i.result for i in self._in]


class _Stranger(Exception):
    """The connection at the end of a pairing is not the peer (or cannot prove it is)."""


class DirectChannel:
    """Lazily paired links from this rank to every other rank."""

    def __init__(self, rank: int, world_size: int, comm_name: str, host: str, port: int,
                 secret: str | None = None) -> None:
        self.rank, self.world_size, self.comm_name = rank, world_size, comm_name
        self.host, self.port = host, port
        self._key = None if secret is None else hello_key(secret)
        self._links: dict[int, Link] = {}
        self._scratch: np.ndarray | None = None

    @property
    def scratch(self) -> np.ndarray:
        """This rank's reusable receive block for combining transfers (operations run one at a time)."""
        if self._scratch is None:
            self._scratch = np.empty(_REDUCE_CHUNK, dtype=np.uint8)
        return self._scratch

    def link(self, peer: int, op: str, deadline: float, timeout_s: float) -> Link:
        found = self._links.get(peer)
        if found is not None:
            return found
        low, high = sorted((self.rank, peer))
        name = f"{self.comm_name}{low}_{high}".encode()
        who = Who(self.rank, peer, op, timeout_s)
        strangers: list[str] = []
        timeout = who.timeout("waiting at the rendezvous for")
        while True:
            if deadline <= time.monotonic():
                raise self._gave_up(who, strangers, timeout)
            try:
                paired = pair_endpoints(name, self.host, self.port, deadline, who, punch_s=HANDSHAKE_S)
            except CommunicatorTimeout as exc:
                timeout = exc  # at the deadline, or the punch limit: whoever we met never connected back
                continue
            try:
                self._hello(paired, peer, min(deadline, time.monotonic() + HANDSHAKE_S))
            except _Stranger as exc:
                paired.sock.close()
                strangers.append(str(exc))
                continue
            except BaseException:
                paired.sock.close()
                raise
            paired.sock.setblocking(False)
            link = Link(paired.sock, peer, sent=1, received=1)  # the hellos were frame 0 each way
            self._links[peer] = link
            return link

    def _gave_up(self, who: Who, strangers: list[str], timeout: CommunicatorTimeout) -> Exception:
        if not strangers:
            return timeout
        return PeerAuthenticationFailed(
            f"rank {self.rank}: {who.op} gave up on rank {who.peer} after {who.timeout_s:g} s: "
            f"{len(strangers)} connection(s) made through the rendezvous were not that rank (last: {strangers[-1]}): "
            "another client may be using this run's pairing names, or the ranks have different secrets"
        )

    def _hello(self, paired: Paired, peer: int, deadline: float) -> None:
        """Say who we are and check who the other end is; _Stranger when it cannot prove it is `peer`."""
        sign: Callable[..., dict] = lambda **fields: {}  # noqa: E731 - no secret: an unsigned hello
        if self._key is not None:
            key = self._key
            sign = lambda **fields: {"mac": hello_mac(key, **fields)}  # noqa: E731
        mine = {"comm": self.comm_name, "rank": self.rank, "world_size": self.world_size,
                **sign(comm=self.comm_name, world_size=self.world_size, sender=self.rank, receiver=peer,
                       sender_endpoint=paired.public, receiver_endpoint=paired.peer)}
        theirs = _exchange_hello(paired.sock, mine, deadline)
        if self._key is not None and not valid_mac(
                self._key, theirs.pop("mac", None), comm=theirs.get("comm"), world_size=theirs.get("world_size"),
                sender=theirs.get("rank"), receiver=self.rank, sender_endpoint=paired.peer,
                receiver_endpoint=paired.public):
            raise _Stranger("its hello is not signed with this run's secret")
        expected = {"comm": self.comm_name, "rank": peer, "world_size": self.world_size}
        if theirs != expected:  # signed, so a rank of this run that disagrees: a real error, not a stranger
            raise ProtocolMismatch(f"rank {self.rank}: connected to {theirs!r}, expected {expected!r}")

    def close(self) -> None:
        for link in self._links.values():
            link.sock.close()
        self._links.clear()


def _exchange_hello(sock: socket.socket, hello: dict, deadline: float) -> dict:
    """Send our hello frame and read theirs (blocking, bounded in size and time); _Stranger on anything else."""
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(framing.encode(hello, "hello", 0).head)  # a dict of scalars: all in the head
        op, seq, meta_len, body_len = framing.unpack_header(_recv_exactly(sock, _HEADER))
        if op != "hello" or seq != 0 or body_len != 0 or meta_len > _MAX_HELLO_BYTES:
            raise _Stranger(f"it sent a {op!r} frame of {meta_len}+{body_len} bytes instead of a hello")
        theirs = framing.decode(_recv_exactly(sock, meta_len), b"")
    except TimeoutError as exc:
        raise _Stranger("it sent no hello") from exc
    except (OSError, ProtocolMismatch, EOFError) as exc:
        raise _Stranger(f"no valid hello ({exc})") from exc
    if not isinstance(theirs, dict):
        raise _Stranger("its hello is not a JSON object")
    return theirs


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)
