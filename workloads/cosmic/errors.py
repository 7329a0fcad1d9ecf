"""Exceptions raised by the rendezvous client and the communicator; each names the rank, peer and op."""

from __future__ import annotations


class CommunicatorError(RuntimeError):
    """Base class of every communicator failure."""


class CommunicatorTimeout(CommunicatorError, TimeoutError):
    """An operation waited longer than its timeout for a peer."""

    def __init__(self, rank: int | None, peer: int | str, op: str, timeout_s: float, waiting_for: str) -> None:
        who = f"rank {rank}" if rank is not None else "client"
        peer_text = f"rank {peer}" if isinstance(peer, int) else str(peer)
        super().__init__(f"{who}: {op} timed out after {timeout_s:g} s {waiting_for} {peer_text}")
        self.rank, self.peer, self.op, self.timeout_s = rank, peer, op, timeout_s


class PeerDisconnected(CommunicatorError, ConnectionError):
    """The peer closed the connection in the middle of an operation."""

    def __init__(self, rank: int, peer: int, op: str) -> None:
        super().__init__(f"rank {rank}: rank {peer} disconnected during {op}")
        self.rank, self.peer, self.op = rank, peer, op


class ProtocolMismatch(CommunicatorError):
    """A peer sent something other than what this rank expected (different op, bad frame, bad handshake)."""


class RendezvousError(CommunicatorError, ConnectionError):
    """The rendezvous server could not be reached or answered something that is not TCPunch."""


class PeerAuthenticationFailed(CommunicatorError):
    """Whoever answered at the rendezvous for this pairing name could not prove it has the run's secret,
    until the deadline (someone else registered the name first, or the ranks were given different secrets)."""
