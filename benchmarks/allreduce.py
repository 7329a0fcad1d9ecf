"""Allreduce of 1 MB and 64 MB float32 arrays across 8 local ranks: our communicator vs mpi4py + MPICH.

Fixed sizes: 8 ranks (processes on this machine), float32 arrays of 262,144 and 16,777,216 elements,
sum. Ours: `workloads.cosmic.Communicator` over the Direct channel (TCP on loopback, paired through a
local rendezvous server); MPI: `comm.Allreduce` with numpy buffers under `.venv/bin/mpiexec -n 8`.
Both time each repetition between barriers and take the slowest rank's time; the reported time is
the median repetition (connections are opened in a warm-up first). Results are checked.

Metrics: seconds per allreduce for both and `*_time_ratio` = ours / MPI (target: at most 2).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RANKS = 8
SIZES = {"1MB": 262_144, "64MB": 16_777_216}  # float32 elements
REPS = {"1MB": 30, "64MB": 7}


def timed_runs(barrier, allreduce, max_over_ranks, rank: int) -> dict[str, float]:  # noqa: ANN001
    """Median over repetitions of the slowest rank's time, per size; checks every result."""
    out = {}
    for label, n in SIZES.items():
        send = np.full(n, rank + 1, dtype=np.float32)
        expected = RANKS * (RANKS + 1) / 2
        allreduce(send)  # warm-up: connections, page faults
        times = []
        for _ in range(REPS[label]):
            barrier()
            start = time.perf_counter()
            result = allreduce(send)
            times.append(max_over_ranks(time.perf_counter() - start))
            if result[0] != expected or result[-1] != expected:
                raise AssertionError(f"rank {rank}: wrong allreduce result {result[0]}")
        out[label] = statistics.median(times)
    return out


def ours_rank(rank: int, port: int, results: mp.Queue) -> None:
    from workloads.cosmic.communicator import Communicator

    with Communicator(rank, RANKS, "bench-allreduce-", "127.0.0.1", port, timeout_s=120) as comm:
        comm.barrier()
        out = timed_runs(comm.barrier, lambda a: comm.allreduce(a, "sum"),
                         lambda t: comm.allreduce(t, "max"), rank)
    results.put((rank, out))


def run_ours() -> dict[str, float]:
    from workloads.cosmic.rendezvous_server import running_server

    ctx = mp.get_context("spawn")
    with running_server() as server:
        results = ctx.Queue()
        procs = [ctx.Process(target=ours_rank, args=(r, server.port, results)) for r in range(RANKS)]
        for p in procs:
            p.start()
        outs = dict(results.get(timeout=600) for _ in range(RANKS))
        for p in procs:
            p.join(30)
    return outs[0]


def mpi_worker() -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD

    def allreduce(a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a)
        comm.Allreduce(a, out, op=MPI.SUM)
        return out

    out = timed_runs(comm.Barrier, allreduce, lambda t: comm.allreduce(t, op=MPI.MAX), comm.rank)
    if comm.rank == 0:
        library = MPI.Get_library_version().replace("\x00", "").splitlines()[0].strip()
        print(json.dumps({"mpi": out, "library": library}))


def run_mpi() -> tuple[dict[str, float], str]:
    beside = Path(sys.executable).parent / "mpiexec"  # the venv's MPICH (PyPI `mpich`)
    mpiexec = str(beside) if beside.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        raise RuntimeError("no mpiexec next to this Python or on PATH")
    proc = subprocess.run([mpiexec, "-n", str(RANKS), sys.executable, __file__, "--mpi-worker"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"mpiexec failed: {proc.stderr[-2000:]}")
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    return line["mpi"], line["library"]


def main() -> int:
    print(f"allreduce of {list(SIZES)} float32 across {RANKS} local ranks: ours vs mpi4py + MPI", flush=True)
    t = time.perf_counter()
    mpi, library = run_mpi()
    print(f"  MPI ({library}): " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in mpi.items())
          + f"  [{time.perf_counter() - t:.0f} s]", flush=True)
    t = time.perf_counter()
    ours = run_ours()
    print("  ours: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in ours.items())
          + f"  [{time.perf_counter() - t:.0f} s]", flush=True)
    metrics: dict[str, float | int | str] = {"ranks": RANKS}
    for label in SIZES:
        metrics[f"ours_{label}_s"] = round(ours[label], 5)
        metrics[f"mpi_{label}_s"] = round(mpi[label], 5)
        metrics[f"allreduce_{label}_time_ratio"] = round(ours[label] / mpi[label], 3)
    metrics["mpi_library"] = library
    print(json.dumps({"benchmark": "allreduce", "metrics": metrics}))
    return 0


if __name__ == "__main__":
    if "--mpi-worker" in sys.argv:
        mpi_worker()
    else:
        raise SystemExit(main())
