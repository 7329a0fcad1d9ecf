"""Programs run by the spawned rank processes of test_communicator_processes.py (importable by name)."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import numpy as np

from workloads.cosmic.communicator import Communicator
from workloads.cosmic.reduce_ops import custom

BIG = 40_000  # float64 elements: 320 KB, above the Rabenseifner threshold


def data(rank: int, n: int = 7) -> np.ndarray:
    return np.random.default_rng(rank).standard_normal(n)


def matrix(rank: int) -> np.ndarray:
    return np.array([[1.0, rank + 1.0], [0.5 * rank, 1.0]])


def battery(rank: int, world_size: int, port: int, comm_name: str) -> dict[str, Any]:
    """Every operation once; the parent checks each result against numpy."""
    concat = custom(lambda a, b: a + b, commutative=False, associative=True)
    matmul = custom(np.matmul, commutative=False, associative=True)
    ws, last = world_size, world_size - 1
    out: dict[str, Any] = {}
    with Communicator(rank, ws, comm_name, "127.0.0.1", port, timeout_s=60) as comm:
        mine = data(rank)
        out["bcast"] = comm.bcast({"v": np.arange(4.0) * 3, "s": "text"} if rank == last else None, root=last)
        out["gather"] = comm.gather(mine, root=ws // 2)
        out["scatter_array"] = comm.scatter(np.arange(ws * 6.0).reshape(ws * 2, 3) if rank == 0 else None, root=0)
        out["scatter_list"] = comm.scatter([f"item{i}" for i in range(ws)] if rank == 1 % ws else None, root=1 % ws)
        out["reduce"] = comm.reduce(mine, "sum", root=0)
        out["reduce_concat"] = comm.reduce(str(rank), concat, root=last)
        out["allreduce"] = comm.allreduce(mine, "sum")
        out["allreduce_big"] = comm.allreduce(data(rank, BIG), "sum")
        out["allreduce_max"] = comm.allreduce(rank * 7 % 5, "max")
        out["allreduce_min_f32"] = comm.allreduce(np.float32(rank) - 0.5, "min")
        out["allreduce_prod"] = comm.allreduce(float(rank + 1), "prod")
        out["scan"] = comm.scan(mine, "sum")
        out["scan_matmul"] = comm.scan(matrix(rank), matmul)
        comm.barrier()
        if ws > 1:  # a ring of point-to-point messages, in both directions
            comm.send({"from": rank}, (rank + 1) % ws)
            out["ring"] = comm.recv((rank - 1) % ws)
        comm.barrier()
    return out


def serve(inbox: mp.Queue, outbox: mp.Queue) -> None:
    """A long-lived rank process: run jobs ("function name", kwargs) until told to stop (None)."""
    while (job := inbox.get()) is not None:
        name, kwargs = job
        try:
            outbox.put(("ok", globals()[name](**kwargs)))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            outbox.put(("error", f"{type(exc).__name__}: {exc}"))
