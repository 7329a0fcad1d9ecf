"""ZeroMQ sockets of the experiment, with traffic accounting on every frame sent and received.

Coordinator: one ROUTER bound to ``tcp://HOST:PORT``; nodes: a DEALER each, identity ``"<node_idx>"``,
connected to it (the original's layout). A socket monitor on each side reports connections coming and
going, which is how a process learns that its peers are gone without a message.

Link emulation: with ``latency_s > 0`` every frame a socket receives is held for that long before the
process sees it (and books it), so two processes on one machine talk as if over a WAN link with a
round-trip time of twice ``latency_s``. Without it, on loopback, the coordinator asks nodes for their
local vectors before they have applied the current data round, and AutoMon's message counts swing
between identical runs. Connection events are not delayed.
"""

from __future__ import annotations

import errno
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from .accounting import TrafficLedger
from .protocol import MAX_MESSAGE_BYTES, frame_kind

log = logging.getLogger(__name__)

COORDINATOR_PEER = "coordinator"
OTHER_PEER = "other"  # any identity that is not one of the expected nodes
DEFAULT_LINGER_MS = 2000  # close() flushes queued frames (the last 'bye' or 'done') for this long


def identity_of(node_idx: int) -> bytes:
    return str(node_idx).encode("ascii")


@dataclass
class Received:
    identity: bytes
    frames: list[bytes]  # the frames after the identity; a well-formed message has exactly one


class _Link:
    """Frames taken off a socket, each released ``latency_s`` after it was taken (FIFO)."""

    def __init__(self, latency_s: float) -> None:
        if latency_s < 0:
            raise ValueError(f"link latency must not be negative, got {latency_s}")
        self.latency_s = latency_s
        self._held: deque[tuple[float, object]] = deque()

    def hold(self, item: object) -> None:
        self._held.append((time.monotonic() + self.latency_s, item))

    def wait_s(self, timeout_s: float) -> float:
        """How long to poll: the caller's timeout, or less when a held frame falls due sooner."""
        if self._held:
            return max(min(timeout_s, self._held[0][0] - time.monotonic()), 0.0)
        return timeout_s

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def release(self) -> object | None:
        if self._held and self._held[0][0] <= time.monotonic():
            return self._held.popleft()[1]
        return None


def _receive(sock: zmq.Socket, poller: zmq.Poller, monitor: zmq.Socket, on_monitor: Callable[[], None],
             link: _Link, timeout_s: float, read: Callable[[], Any]) -> Any | None:
    """What ``read`` took off ``sock``, once the link releases it, within ``timeout_s``; else None."""
    deadline = time.monotonic() + timeout_s
    while True:
        item = link.release()
        if item is not None:
            return item
        remaining = max(deadline - time.monotonic(), 0.0)
        events = dict(poller.poll(math.ceil(link.wait_s(remaining) * 1000)))
        if monitor in events:
            on_monitor()
        if sock in events:
            while sock.poll(0):
                link.hold(read())
        elif time.monotonic() >= deadline:
            return link.release()


class CoordinatorSocket:
    """ROUTER side. Traffic from identities outside ``expected`` is booked under the peer 'other'."""

    def __init__(self, host: str, port: int, expected: set[bytes], ledger: TrafficLedger,
                 linger_ms: int = DEFAULT_LINGER_MS, latency_s: float = 0.0) -> None:
        self._ledger = ledger
        self._link = _Link(latency_s)
        self._expected = expected
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, linger_ms)
        self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # sending to a vanished node raises, not drops
        self._sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # larger frames drop the connection
        self._monitor = self._sock.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        if port == 0:
            self.port = self._sock.bind_to_random_port(f"tcp://{host}")
        else:
            self._sock.bind(f"tcp://{host}:{port}")
            self.port = port
        self._poller = zmq.Poller()
        self._poller.register(self._sock, zmq.POLLIN)
        self._poller.register(self._monitor, zmq.POLLIN)
        self.accepted = 0
        self.disconnected = 0

    def _peer(self, identity: bytes) -> str:
        return identity.decode("ascii") if identity in self._expected else OTHER_PEER

    @property
    def open_connections(self) -> int:
        return self.accepted - self.disconnected

    @property
    def all_gone(self) -> bool:
        """Every node that connected has disconnected, and no frame of theirs is still on the link."""
        return bool(self.accepted) and self.open_connections <= 0 and not self._link.holding

    def receive(self, timeout_s: float) -> Received | None:
        """The next message, or None when ``timeout_s`` passes first (monitor events are absorbed)."""
        message = _receive(self._sock, self._poller, self._monitor, self._drain_monitor, self._link, timeout_s,
                           self._sock.recv_multipart)
        if message is None:
            return None
        identity, *frames = message
        peer = self._peer(identity)
        kind = frame_kind(frames[0]) if len(frames) == 1 else "multipart"
        self._ledger.record(peer, "received", kind, [len(f) for f in frames])
        return Received(identity, frames)

    def _drain_monitor(self) -> None:
        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)["event"]
            if event == zmq.EVENT_ACCEPTED:
                self.accepted += 1
            elif event == zmq.EVENT_DISCONNECTED:
                self.disconnected += 1

    def send(self, identity: bytes, frame: bytes) -> bool:
        """Send one frame to ``identity``; False if that peer is not connected."""
        try:
            self._sock.send_multipart([identity, frame])
        except zmq.ZMQError as err:
            if err.errno == errno.EHOSTUNREACH:
                log.warning("peer %r is not connected; frame dropped", identity)
                return False
            raise
        self._ledger.record(self._peer(identity), "sent", frame_kind(frame), [len(frame)])
        return True

    def close(self) -> None:
        self._sock.disable_monitor()
        self._monitor.close(linger=0)
        self._sock.close()
        self._ctx.term()


class CoordinatorLost(RuntimeError):
    """The node's connection to the coordinator dropped, or a send could not be queued in time."""


class NodeSocket:
    """DEALER side of node ``node_idx``; all its traffic is booked under the peer 'coordinator'."""

    def __init__(self, host: str, port: int, node_idx: int, ledger: TrafficLedger,
                 send_timeout_s: float = 60.0, linger_ms: int = DEFAULT_LINGER_MS, latency_s: float = 0.0) -> None:
        self._ledger = ledger
        self._link = _Link(latency_s)
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.IDENTITY, identity_of(node_idx))
        self._sock.setsockopt(zmq.LINGER, linger_ms)
        self._sock.setsockopt(zmq.SNDTIMEO, int(send_timeout_s * 1000))
        self._monitor = self._sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        self._sock.connect(f"tcp://{host}:{port}")
        self._poller = zmq.Poller()
        self._poller.register(self._sock, zmq.POLLIN)
        self._poller.register(self._monitor, zmq.POLLIN)
        self.connected = False
        self.lost = False  # set when an established connection drops

    def _drain_monitor(self) -> None:
        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)["event"]
            if event == zmq.EVENT_CONNECTED:
                self.connected = True
            elif event == zmq.EVENT_DISCONNECTED and self.connected:
                self.lost = True

    def check(self) -> None:
        """Raise :class:`CoordinatorLost` if the connection dropped (cheap; no waiting)."""
        self._drain_monitor()
        if self.lost and not self._link.holding:  # frames sent before the drop still arrive first
            raise CoordinatorLost("the coordinator closed the connection")

    def send(self, frame: bytes) -> None:
        try:
            self._sock.send(frame)
        except zmq.Again:
            raise CoordinatorLost("send queue stayed full past the send timeout") from None
        self._ledger.record(COORDINATOR_PEER, "sent", frame_kind(frame), [len(frame)])

    def send_nowait(self, frame: bytes) -> bool:
        """Queue ``frame`` if it can be done without blocking (a last word that must not hang the node)."""
        try:
            self._sock.send(frame, zmq.NOBLOCK)
        except zmq.ZMQError:
            return False
        self._ledger.record(COORDINATOR_PEER, "sent", frame_kind(frame), [len(frame)])
        return True

    def receive(self, timeout_s: float) -> bytes | None:
        frame = _receive(self._sock, self._poller, self._monitor, self._drain_monitor, self._link, timeout_s,
                         self._sock.recv)
        if frame is None:
            return None
        self._ledger.record(COORDINATOR_PEER, "received", frame_kind(frame), [len(frame)])
        return frame

    def close(self, flush: bool = True) -> None:
        """Close; with ``flush`` queued frames get the linger time to leave (pointless with no coordinator)."""
        self._sock.disable_monitor()
        self._monitor.close(linger=0)
        self._sock.close(linger=None if flush else 0)
        self._ctx.term()
