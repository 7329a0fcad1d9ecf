"""Every collective algorithm against a sequential answer, for world sizes 1 to 9 and several roots.

The ranks run as threads over in-memory queues (messages deep-copied, like the wire), which makes it
cheap to cover every size; the same algorithms over real sockets between processes are tested in
test_communicator_processes.py.
"""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from workloads.cosmic import collectives
from workloads.cosmic.reduce_ops import MAX, PROD, SUM, custom

SIZES = range(1, 10)


class QueueP2P:
    def __init__(self, rank: int, size: int, boxes: dict[tuple[int, int], queue.Queue]) -> None:
        self.rank, self.size, self._boxes = rank, size, boxes
        self.messages = 0

    def send(self, dst: int, obj: Any) -> None:
        assert dst != self.rank
        self.messages += 1
        self._boxes[(self.rank, dst)].put(copy.deepcopy(obj))

    def recv(self, src: int, into: np.ndarray | None = None) -> Any:
        obj = self._boxes[(src, self.rank)].get(timeout=10)
        if into is not None and isinstance(obj, np.ndarray) and obj.shape == into.shape:
            into[...] = obj
            return into
        return obj

    def sendrecv(self, peer: int, obj: Any, into: np.ndarray | None = None) -> Any:
        self.send(peer, obj)
        return self.recv(peer, into)


def run_world(size: int, program: Callable[[QueueP2P], Any]) -> list[Any]:
    boxes = {(a, b): queue.Queue() for a in range(size) for b in range(size)}
    results: list[Any] = [None] * size
    errors: list[BaseException] = []

    def body(rank: int) -> None:
        try:
            results[rank] = program(QueueP2P(rank, size, boxes))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    if errors:
        raise errors[0]
    assert all(q.empty() for q in boxes.values()), "a message was sent that nobody received"
    return results


def value(rank: int, n: int = 5) -> np.ndarray:
    return np.random.default_rng(rank).standard_normal(n)


@pytest.mark.parametrize("size", SIZES)
def test_bcast_gather_scatter_from_every_root(size: int) -> None:
    for root in range(size):
        out = run_world(size, lambda p, root=root: collectives.bcast(p, {"v": value(root)} if p.rank == root else None,
                                                                       root))
        assert all(np.array_equal(o["v"], value(root)) for o in out)
        out = run_world(size, lambda p, root=root: collectives.gather(p, (p.rank, value(p.rank)), root))
        assert all(o is None for r, o in enumerate(out) if r != root)
        assert [r for r, _ in out[root]] == list(range(size))
        items = [f"for-{r}" for r in range(size)]
        out = run_world(size, lambda p, root=root, items=items: collectives.scatter(
            p, items if p.rank == root else None, root))
        assert out == items


@pytest.mark.parametrize("size", SIZES)
def test_reductions_match_numpy(size: int) -> None:
    expected_sum = sum(value(r) for r in range(size))
    for root in (0, size - 1):
        out = run_world(size, lambda p, root=root: collectives.reduce(p, value(p.rank), SUM, root))
        np.testing.assert_allclose(out[root], expected_sum, rtol=1e-12, atol=1e-12)
    out = run_world(size, lambda p: collectives.allreduce(p, value(p.rank), SUM))
    for o in out:
        np.testing.assert_array_equal(o, out[0])  # identical on every rank, not merely close
    np.testing.assert_allclose(out[0], expected_sum, rtol=1e-12, atol=1e-12)
    assert run_world(size, lambda p: collectives.allreduce(p, p.rank + 1, PROD)) == [np.prod(range(1, size + 1))] * size
    assert run_world(size, lambda p: collectives.allreduce(p, [p.rank, -p.rank], MAX)) == [[size - 1, 0]] * size


@pytest.mark.parametrize("size", [2, 3, 4, 6, 8])
def test_large_allreduce_uses_rabenseifner_and_matches(size: int) -> None:
    n = collectives.RABENSEIFNER_MIN_BYTES // 8 + 13  # odd length: uneven segments
    out = run_world(size, lambda p: collectives.allreduce(p, value(p.rank, n), SUM))
    expected = sum(value(r, n) for r in range(size))
    for o in out:
        np.testing.assert_array_equal(o, out[0])
        np.testing.assert_allclose(o, expected, rtol=1e-12, atol=1e-12)


def bytes_sent_by_allreduce(size: int, n: int, rabenseifner_min_bytes: int) -> int:
    total = [0]

    def program(p: QueueP2P) -> Any:
        original = p.send

        def counting(dst: int, obj: Any) -> None:
            total[0] += obj.nbytes
            original(dst, obj)

        p.send = counting  # type: ignore[method-assign]
        return collectives.allreduce(p, value(p.rank, n), SUM)

    saved = collectives.RABENSEIFNER_MIN_BYTES
    collectives.RABENSEIFNER_MIN_BYTES = rabenseifner_min_bytes
    try:
        run_world(size, program)
    finally:
        collectives.RABENSEIFNER_MIN_BYTES = saved
    return total[0]


def test_rabenseifner_moves_fewer_bytes_than_doubling() -> None:
    n = collectives.RABENSEIFNER_MIN_BYTES // 8 * 4
    nbytes = n * 8  # per rank: 2 (p-1)/p * nbytes (Rabenseifner) vs log2(p) * nbytes (recursive doubling)
    assert bytes_sent_by_allreduce(8, n, 0) == 8 * 2 * 7 * nbytes // 8
    assert bytes_sent_by_allreduce(8, n, 1 << 62) == 8 * 3 * nbytes


concat = custom(lambda a, b: a + b, commutative=False, associative=True, name="concat")
twice_plus = custom(lambda a, b: 2 * a + b, commutative=False, associative=False, name="2a+b")
matmul = custom(np.matmul, commutative=False, associative=True)


def matrix(rank: int) -> np.ndarray:
    return np.array([[1.0, rank + 1.0], [0.5 * rank, 1.0]])


@pytest.mark.parametrize("size", SIZES)
def test_order_is_kept_for_non_commutative_and_non_associative_ops(size: int) -> None:
    letters = "abcdefghi"
    for root in (0, size // 2):
        out = run_world(size, lambda p, root=root: collectives.reduce(p, letters[p.rank], concat, root))
        assert out[root] == letters[:size]
    assert run_world(size, lambda p: collectives.allreduce(p, letters[p.rank], concat)) == [letters[:size]] * size
    assert run_world(size, lambda p: collectives.scan(p, letters[p.rank], concat)) == [letters[: r + 1] for r in range(size)]
    fold = [0]
    for r in range(1, size):
        fold.append(2 * fold[-1] + r)
    assert run_world(size, lambda p: collectives.allreduce(p, p.rank, twice_plus)) == [fold[-1]] * size
    assert run_world(size, lambda p: collectives.scan(p, p.rank, twice_plus)) == fold
    out = run_world(size, lambda p: collectives.scan(p, matrix(p.rank), matmul))
    prefix = np.eye(2)
    for r in range(size):
        prefix = prefix @ matrix(r)
        np.testing.assert_allclose(out[r], prefix, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", SIZES)
def test_scan_sum_and_barrier(size: int) -> None:
    out = run_world(size, lambda p: collectives.scan(p, value(p.rank), SUM))
    running = np.zeros(5)
    for r in range(size):
        running = running + value(r)
        np.testing.assert_allclose(out[r], running, rtol=1e-12, atol=1e-12)
    assert run_world(size, collectives.barrier) == [None] * size


def test_inputs_are_never_modified() -> None:
    arrays = [value(r, 10_000) for r in range(4)]
    copies = [a.copy() for a in arrays]
    run_world(4, lambda p: collectives.allreduce(p, arrays[p.rank], SUM))
    run_world(4, lambda p: collectives.reduce(p, arrays[p.rank], SUM, 0))
    run_world(4, lambda p: collectives.scan(p, arrays[p.rank], SUM))
    for a, c in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(a, c)


def test_tree_message_counts() -> None:
    for size in (5, 8):
        boxes = {(a, b): queue.Queue() for a in range(size) for b in range(size)}
        ranks = [QueueP2P(r, size, boxes) for r in range(size)]
        threads = [threading.Thread(target=collectives.bcast, args=(p, 1, 0)) for p in ranks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sum(p.messages for p in ranks) == size - 1  # a tree: one message per non-root rank
