"""Traffic accounting at our socket layer: messages and bytes sent and received, per peer and per kind.

Replaces the original's nethogs sidecar. Two byte counts are kept for every frame:

- ``bytes``: the application frame (what the protocol defines: header + payload, or a control word);
- ``zmtp_bytes``: the frame as ZMTP 3 puts it on the TCP stream, i.e. plus its frame header (1 flag byte
  and a 1-byte size, or an 8-byte size above 255 bytes). The ROUTER's identity frame never crosses the
  wire and is not counted. Connection handshakes, TCP/IP headers and retransmissions are not included
  (nethogs saw those too), so ``zmtp_bytes`` is a lower bound of what the network carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["sent", "received"]

_ZMTP_SHORT_FRAME_MAX = 255


def zmtp_frame_bytes(payload_bytes: int) -> int:
    """Bytes of one ZMTP 3 frame carrying ``payload_bytes`` (flags + size field + body)."""
    return payload_bytes + (2 if payload_bytes <= _ZMTP_SHORT_FRAME_MAX else 9)


@dataclass
class Tally:
    messages: int = 0
    bytes: int = 0
    zmtp_bytes: int = 0

    def add(self, nbytes: int, zmtp_bytes: int) -> None:
        self.messages += 1
        self.bytes += nbytes
        self.zmtp_bytes += zmtp_bytes

    def merge(self, other: Tally) -> None:
        self.messages += other.messages
        self.bytes += other.bytes
        self.zmtp_bytes += other.zmtp_bytes

    def to_dict(self) -> dict[str, int]:
        return {"messages": self.messages, "bytes": self.bytes, "zmtp_bytes": self.zmtp_bytes}


@dataclass
class DirectionTally:
    total: Tally = field(default_factory=Tally)
    by_kind: dict[str, Tally] = field(default_factory=dict)

    def add(self, kind: str, nbytes: int, zmtp_bytes: int) -> None:
        self.total.add(nbytes, zmtp_bytes)
        self.by_kind.setdefault(kind, Tally()).add(nbytes, zmtp_bytes)

    def merge(self, other: DirectionTally) -> None:
        self.total.merge(other.total)
        for kind, tally in other.by_kind.items():
            self.by_kind.setdefault(kind, Tally()).merge(tally)

    def to_dict(self) -> dict:
        return {**self.total.to_dict(), "by_kind": {k: t.to_dict() for k, t in sorted(self.by_kind.items())}}


@dataclass
class PeerTraffic:
    sent: DirectionTally = field(default_factory=DirectionTally)
    received: DirectionTally = field(default_factory=DirectionTally)

    def direction(self, direction: Direction) -> DirectionTally:
        return self.sent if direction == "sent" else self.received

    def merge(self, other: PeerTraffic) -> None:
        self.sent.merge(other.sent)
        self.received.merge(other.received)

    def to_dict(self) -> dict:
        return {"sent": self.sent.to_dict(), "received": self.received.to_dict()}


class TrafficLedger:
    """Per-peer traffic of one process. Used by a single thread (each participant owns its ledger)."""

    def __init__(self) -> None:
        self._peers: dict[str, PeerTraffic] = {}

    def record(self, peer: str, direction: Direction, kind: str, frame_sizes: Iterable[int]) -> None:
        """Book one message made of frames of ``frame_sizes`` bytes (one frame unless multipart)."""
        sizes = list(frame_sizes)
        zmtp = sum(zmtp_frame_bytes(n) for n in sizes)
        self._peers.setdefault(peer, PeerTraffic()).direction(direction).add(kind, sum(sizes), zmtp)

    def peer(self, peer: str) -> PeerTraffic:
        return self._peers.get(peer, PeerTraffic())

    def total(self, peers: Iterable[str] | None = None) -> PeerTraffic:
        total = PeerTraffic()
        for name in self._peers if peers is None else peers:
            total.merge(self.peer(name))
        return total
