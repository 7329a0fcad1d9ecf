"""Process environment for Devito: OpenMP with thread pinning, quiet logging.

Devito reads its ``DEVITO_*`` variables at import time and the OpenMP runtime reads ``OMP_*`` when the
first compiled kernel is loaded, so :func:`configure_environment` must run before ``import devito``.
Every module of this package that imports Devito imports this module first. Values already set in the
environment win, so a caller can override any of them (e.g. ``DEVITO_LOGGING=DEBUG``).
"""

from __future__ import annotations

import os

__all__ = ["configure_environment", "local_mpi_rank_and_size"]

# Environment variables that MPI launchers set for the node-local rank and size (MPICH/Hydra, Open MPI,
# Slurm). Only used to give each local rank its own cores.
_LOCAL_RANK_VARS = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")
_LOCAL_SIZE_VARS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE")


def local_mpi_rank_and_size(environ: os._Environ[str] | dict[str, str] | None = None) -> tuple[int, int]:
    """Node-local MPI rank and number of local ranks from the launcher's variables ((0, 1) if none)."""
    env = os.environ if environ is None else environ
    rank = next((int(env[v]) for v in _LOCAL_RANK_VARS if env.get(v, "").isdigit()), 0)
    size = next((int(env[v]) for v in _LOCAL_SIZE_VARS if env.get(v, "").isdigit()), 1)
    return rank, max(size, 1)


def _pinned_places(cpus: list[int], local_rank: int, local_size: int) -> tuple[str, int]:
    """Disjoint OpenMP places (one core each) for this local rank, and the thread count."""
    per_rank = max(len(cpus) // local_size, 1)
    start = (local_rank * per_rank) % len(cpus)
    mine = cpus[start:start + per_rank]
    return ",".join(f"{{{c}}}" for c in mine), len(mine)


def configure_environment(environ: os._Environ[str] | dict[str, str] | None = None, *,
                          cpus: list[int] | None = None) -> dict[str, str]:
    """Set Devito/OpenMP defaults in ``environ`` (``os.environ`` by default) without overriding the caller.

    - ``DEVITO_LANGUAGE=openmp`` and ``DEVITO_LOGGING=WARNING``.
    - Pinning: ``OMP_PROC_BIND=close`` and ``OMP_PLACES=cores``. When several MPI ranks share a node and
      the launcher did not bind them, each rank gets its own slice of the cores as explicit places
      (otherwise every rank would pin its first thread to core 0) and ``OMP_NUM_THREADS`` to match.
    - ``DEVITO_MPI=1`` is left to the caller (the MPI entry point sets it).

    ``cpus``: the CPUs the ranks of this node share (default: this process's affinity; a launcher that
    already bound each rank to fewer CPUs than the node has is then respected). Returns the variables
    this call set.
    """
    env = os.environ if environ is None else environ
    chosen: dict[str, str] = {"DEVITO_LANGUAGE": "openmp", "DEVITO_LOGGING": "WARNING", "OMP_PROC_BIND": "close"}
    local_rank, local_size = local_mpi_rank_and_size(env)
    launcher_bound = False
    if cpus is None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        launcher_bound = len(cpus) < (os.cpu_count() or len(cpus))
    if local_size > 1 and not launcher_bound:
        places, nthreads = _pinned_places(cpus, local_rank, local_size)
        chosen["OMP_PLACES"] = places
        chosen["OMP_NUM_THREADS"] = str(nthreads)
    else:
        chosen["OMP_PLACES"] = "cores"
    applied = {}
    for key, value in chosen.items():
        if key not in env:
            env[key] = value
            applied[key] = value
    return applied
