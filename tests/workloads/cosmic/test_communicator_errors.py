"""Communicator failures are clear: timeouts name op and peer, disconnects and mismatches are detected,
and communicators with different names never cross-pair. Ranks run as threads over real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from workloads.cosmic.communicator import Communicator
from workloads.cosmic.errors import CommunicatorTimeout, PeerDisconnected, ProtocolMismatch
from workloads.cosmic.payload import PayloadError
from workloads.cosmic.rendezvous_server import ServerThread


def in_threads(programs: list[Callable[[], Any]]) -> list[Any]:
    """Run each program in a thread; results or raised exceptions, in order."""
    results: list[Any] = [None] * len(programs)

    def body(i: int) -> None:
        try:
            results[i] = programs[i]()
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(len(programs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def comm(server: ServerThread, rank: int, size: int = 2, name: str = "errs-", timeout: float = 10) -> Communicator:
    return Communicator(rank, size, name, "127.0.0.1", server.port, timeout_s=timeout)


def test_a_rank_that_never_comes_times_out_at_the_rendezvous(server: ServerThread) -> None:
    start = time.monotonic()
    with comm(server, 0, timeout=0.4) as c, pytest.raises(CommunicatorTimeout) as info:
        c.recv(1)
    assert time.monotonic() - start < 3
    assert str(info.value) == "rank 0: recv timed out after 0.4 s waiting at the rendezvous for rank 1"
    assert (info.value.rank, info.value.peer, info.value.op) == (0, 1, "recv")


def test_a_silent_peer_times_out_with_its_rank(server: ServerThread) -> None:
    def rank0() -> None:
        with comm(server, 0, timeout=0.5) as c:
            c.barrier()  # connected
            c.allreduce(np.ones(3))  # rank 1 never joins this one

    def rank1() -> None:
        with comm(server, 1) as c:
            c.barrier()
            time.sleep(1.5)

    err, _ = in_threads([rank0, rank1])
    assert isinstance(err, CommunicatorTimeout)
    assert str(err) == "rank 0: allreduce timed out after 0.5 s waiting for data from rank 1"


def test_a_peer_that_leaves_is_reported(server: ServerThread) -> None:
    def rank0() -> None:
        with comm(server, 0) as c:
            c.barrier()
            c.recv(1)

    def rank1() -> None:
        with comm(server, 1) as c:
            c.barrier()

    err, ok = in_threads([rank0, rank1])
    assert ok is None
    assert isinstance(err, PeerDisconnected) and str(err) == "rank 0: rank 1 disconnected during recv"


def test_ranks_calling_different_operations_fail_loudly(server: ServerThread) -> None:
    def rank0() -> None:
        with comm(server, 0) as c:
            c.bcast("x", root=0)
            c.barrier()

    def rank1() -> None:
        with comm(server, 1, timeout=2) as c:
            c.gather("y", root=1)

    _, err = in_threads([rank0, rank1])
    assert isinstance(err, ProtocolMismatch)
    assert "expected 'gather' from rank 0, got 'bcast'" in str(err)


def test_two_jobs_on_one_server_do_not_cross_pair(server: ServerThread) -> None:
    def job(name: str, rank: int, value: float) -> Callable[[], Any]:
        return lambda: comm(server, rank, name=name).allreduce(np.array([value]))

    results = in_threads([job("jobA-", 0, 1.0), job("jobB-", 0, 10.0), job("jobA-", 1, 2.0), job("jobB-", 1, 20.0)])
    assert [float(r[0]) for r in results] == [3.0, 30.0, 3.0, 30.0]


def test_single_rank_world_needs_no_server() -> None:
    with Communicator(0, 1, "solo-", "127.0.0.1", 9) as c:
        assert c.allreduce(np.arange(3)).tolist() == [0, 1, 2]
        assert c.gather("x") == ["x"] and c.scatter(["y"]) == "y" and c.scan(5) == 5 and c.bcast(1) == 1
        assert c.reduce(2.5, "max") == 2.5
        c.barrier()


def test_arguments_are_checked(server: ServerThread) -> None:
    with pytest.raises(ValueError):
        Communicator(2, 2, "x-")
    with pytest.raises(ValueError):
        Communicator(0, 0, "x-")
    with pytest.raises(PayloadError):
        Communicator(0, 2, "bad name")
    with comm(server, 0) as c:
        for call in (lambda: c.send(1, 0), lambda: c.recv(0), lambda: c.bcast(1, root=2),
                     lambda: c.scatter(np.arange(3)), lambda: c.scatter([1, 2, 3]), lambda: c.allreduce(1, "median")):
            with pytest.raises(ValueError):
                call()
