"""Collectives between 2 to 8 spawned processes over the real Direct channel, checked against numpy.

Eight rank processes are spawned once for the module and reused by every world size; each test
starts its own rendezvous server and communicator name.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.workloads.cosmic import rank_programs
from tests.workloads.cosmic.rank_programs import BIG, data, matrix
from workloads.cosmic.rendezvous_server import ServerThread

MAX_RANKS = 8


class RankPool:
    def __init__(self, size: int) -> None:
        ctx = mp.get_context("spawn")
        self.inboxes = [ctx.Queue() for _ in range(size)]
        self.outboxes = [ctx.Queue() for _ in range(size)]
        self.procs = [ctx.Process(target=rank_programs.serve, args=(i, o), daemon=True)
                      for i, o in zip(self.inboxes, self.outboxes, strict=True)]
        for p in self.procs:
            p.start()

    def run(self, world_size: int, name: str, **kwargs: Any) -> list[Any]:
        for rank in range(world_size):
            self.inboxes[rank].put((name, {"rank": rank, "world_size": world_size, **kwargs}))
        replies = [self.outboxes[rank].get(timeout=120) for rank in range(world_size)]
        errors = [f"rank {r}: {msg}" for r, (status, msg) in enumerate(replies) if status != "ok"]
        assert not errors, errors
        return [result for _, result in replies]

    def close(self) -> None:
        for box in self.inboxes:
            box.put(None)
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()


@pytest.fixture(scope="module")
def ranks() -> Iterator[RankPool]:
    pool = RankPool(MAX_RANKS)
    yield pool
    pool.close()


@pytest.mark.parametrize("world_size", [2, 3, 5, 8])
def test_every_operation_matches_numpy(ranks: RankPool, server: ServerThread, world_size: int) -> None:
    ws, last = world_size, world_size - 1
    out = ranks.run(ws, "battery", port=server.port, comm_name=f"proc-test-{ws}-")
    everyone = [data(r) for r in range(ws)]

    for r in range(ws):
        assert out[r]["bcast"]["s"] == "text"
        np.testing.assert_array_equal(out[r]["bcast"]["v"], np.arange(4.0) * 3)
        np.testing.assert_array_equal(out[r]["scatter_array"], np.arange(ws * 6.0).reshape(ws, 2, 3)[r])
        assert out[r]["scatter_list"] == f"item{r}"
        assert out[r]["gather"] is None or r == ws // 2
        assert out[r]["reduce"] is None or r == 0
        assert out[r]["ring"] == {"from": (r - 1) % ws}
        np.testing.assert_allclose(out[r]["scan"], np.sum(everyone[: r + 1], axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out[r]["scan_matmul"], np.linalg.multi_dot([np.eye(2)] + [matrix(i) for i in
                                                                               range(r + 1)]), rtol=1e-12)
        # allreduce results are identical on every rank, not merely close
        for key in ("allreduce", "allreduce_big", "allreduce_max", "allreduce_min_f32", "allreduce_prod"):
            np.testing.assert_array_equal(out[r][key], out[0][key])

    np.testing.assert_array_equal(np.array(out[ws // 2]["gather"]), np.array(everyone))
    np.testing.assert_allclose(out[0]["reduce"], np.sum(everyone, axis=0), rtol=1e-12, atol=1e-12)
    assert out[last]["reduce_concat"] == "".join(str(r) for r in range(ws))
    np.testing.assert_allclose(out[0]["allreduce"], np.sum(everyone, axis=0), rtol=1e-12, atol=1e-12)
    big = np.sum([data(r, BIG) for r in range(ws)], axis=0)
    np.testing.assert_allclose(out[0]["allreduce_big"], big, rtol=1e-12, atol=1e-12)
    assert out[0]["allreduce_max"] == max(r * 7 % 5 for r in range(ws))
    assert out[0]["allreduce_min_f32"] == np.float32(-0.5) and isinstance(out[0]["allreduce_min_f32"], np.float32)
    assert out[0]["allreduce_prod"] == float(np.prod(np.arange(1, ws + 1)))
    snap = server.snapshot()
    assert snap["pairs_completed"] <= ws * (ws - 1) // 2  # one connection per pair, opened lazily
    assert snap["waiting_names"] == 0
