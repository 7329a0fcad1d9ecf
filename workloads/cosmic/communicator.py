"""The communicator a Lambda rank uses: FMI's operations over the pure-Python Direct channel.

    with Communicator(rank, world_size, comm_name, host, port) as comm:
        total = comm.allreduce(np.ones(4), "sum")

Operations (FMI's set): send/recv, bcast, barrier, gather, scatter, reduce, allreduce, scan. They take
numpy arrays, Python or numpy scalars, and lists/tuples/dicts of those. Every operation has one deadline
(`timeout_s`, covering pairing and transfer) and raises CommunicatorTimeout naming the op and the peer
it was waiting for. Connections open on first use, as in FMI.

Differences from FMI's Python API, on purpose: no `types` argument (messages describe themselves);
`gather` returns a list with one entry per rank at the root; `scatter` takes either an array whose first
dimension divides by the world size (FMI's semantics) or a sequence with exactly one entry per rank.
`secret` (the run's, from peer_auth.new_secret) signs the hello on every new connection, so a stranger
that answers at the rendezvous in a peer's place is detected; every rank must be given the same one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from workloads.cosmic import collectives
from workloads.cosmic.constants import DEFAULT_OP_TIMEOUT_S, RENDEZVOUS_PORT
from workloads.cosmic.direct_channel import Combine, DirectChannel, Transfers
from workloads.cosmic.payload import check_comm_name
from workloads.cosmic.reduce_ops import ReduceOp, private_copy, resolve

Op = str | ReduceOp | Callable[[Any, Any], Any]


class _Step:
    """Point-to-point primitives bound to one operation's name and deadline (what collectives need)."""

    def __init__(self, comm: Communicator, op: str) -> None:
        self.rank, self.size = comm.rank, comm.world_size
        self._comm, self._op = comm, op
        self._timeout = comm.timeout_s
        self._deadline = time.monotonic() + comm.timeout_s

    def _transfers(self) -> Transfers:
        return Transfers(self.rank, self._op, self._deadline, self._timeout)

    def _link(self, peer: int):  # noqa: ANN202
        self._comm._check_peer(peer)
        return self._comm._channel.link(peer, self._op, self._deadline, self._timeout)

    def send(self, dst: int, obj: Any) -> None:
        t = self._transfers()
        t.send(self._link(dst), obj)
        t.run()

    def recv(self, src: int, into: np.ndarray | None = None) -> Any:
        t = self._transfers()
        t.recv(self._link(src), into)
        return t.run()[0]

    def sendrecv(self, peer: int, obj: Any, into: np.ndarray | None = None) -> Any:
        link = self._link(peer)
        t = self._transfers()
        t.send(link, obj)
        t.recv(link, into)
        return t.run()[0]

    def sendrecv_reduce(self, peer: int, obj: np.ndarray, ufunc: np.ufunc, left: np.ndarray,
                        out: np.ndarray) -> np.ndarray:
        """Send `obj` to `peer` while its array arrives and is reduced block by block:
        out = ufunc(left, received), with no buffer of the message's size."""
        link = self._link(peer)
        t = self._transfers()
        t.send(link, obj)
        t.recv(link, combine=Combine(ufunc, left, out, self._comm._channel.scratch))
        return t.run()[0]


class Communicator:
    """One rank's view of a world of `world_size` ranks that share `comm_name`."""

    backend = "python"

    def __init__(
        self,
        rank: int,
        world_size: int,
        comm_name: str,
        host: str = "127.0.0.1",
        port: int = RENDEZVOUS_PORT,
        timeout_s: float = DEFAULT_OP_TIMEOUT_S,
        secret: str | None = None,
    ) -> None:
        if not (isinstance(world_size, int) and world_size >= 1):
            raise ValueError(f"world_size must be a positive int, got {world_size!r}")
        if not (isinstance(rank, int) and 0 <= rank < world_size):
            raise ValueError(f"rank must be in [0, {world_size}), got {rank!r}")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.rank, self.world_size = rank, world_size
        self.comm_name = check_comm_name(comm_name, world_size)
        self.timeout_s = float(timeout_s)
        self._channel = DirectChannel(rank, world_size, self.comm_name, host, port, secret)

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Communicator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- point to point ----------------------------------------------------------------------------
    def send(self, obj: Any, dst: int) -> None:
        if dst == self.rank:
            raise ValueError("send to self would never complete")
        _Step(self, "send").send(dst, obj)

    def recv(self, src: int) -> Any:
        if src == self.rank:
            raise ValueError("recv from self would never complete")
        return _Step(self, "recv").recv(src)

    # -- collectives -------------------------------------------------------------------------------
    def bcast(self, obj: Any, root: int = 0) -> Any:
        self._check_peer(root)
        return collectives.bcast(_Step(self, "bcast"), obj, root)

    def barrier(self) -> None:
        collectives.barrier(_Step(self, "barrier"))

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        self._check_peer(root)
        return collectives.gather(_Step(self, "gather"), obj, root)

    def scatter(self, objs: np.ndarray | Sequence[Any] | None, root: int = 0) -> Any:
        self._check_peer(root)
        items = self._split_for_scatter(objs) if self.rank == root else None
        return collectives.scatter(_Step(self, "scatter"), items, root)

    def reduce(self, obj: Any, op: Op = "sum", root: int = 0) -> Any:
        self._check_peer(root)
        return collectives.reduce(_Step(self, "reduce"), obj, resolve(op), root)

    def allreduce(self, obj: Any, op: Op = "sum") -> Any:
        return collectives.allreduce(_Step(self, "allreduce"), obj, resolve(op))

    def scan(self, obj: Any, op: Op = "sum") -> Any:
        return collectives.scan(_Step(self, "scan"), obj, resolve(op))

    # -- helpers -----------------------------------------------------------------------------------
    def _split_for_scatter(self, objs: np.ndarray | Sequence[Any] | None) -> list[Any]:
        if isinstance(objs, np.ndarray):
            if objs.ndim == 0 or objs.shape[0] % self.world_size:
                raise ValueError(
                    f"scatter: first dimension {objs.shape[:1]} does not divide by world size {self.world_size}"
                )
            return [private_copy(part) for part in np.split(objs, self.world_size)]
        if isinstance(objs, Sequence) and not isinstance(objs, str | bytes) and len(objs) == self.world_size:
            return list(objs)
        raise ValueError(f"scatter: the root needs an array or a sequence of {self.world_size} items")

    def _check_peer(self, peer: int) -> None:
        if not (isinstance(peer, int) and 0 <= peer < self.world_size):
            raise ValueError(f"rank {peer!r} is not in [0, {self.world_size})")
