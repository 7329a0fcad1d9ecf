"""How the forward wavefield is kept for the adjoint pass, and which way fits a memory budget.

Modes, fastest first (each reads or writes less memory than the next):

- ``subsampled``: every ``factor``-th time step in memory. The default factor is the largest that keeps
  the imaging-condition time sum exact for the source band (see ``nyquist_subsampling_factor``); the
  adjoint source is band-limited to match (``band_limit``), so noisy data do not alias.
- ``full``: every time step in memory (what Devito's reference solver does).
- ``checkpointing``: optimal checkpointing with pyrevolve; as many checkpoints as fit the budget, the
  rest recomputed. Exact, slowest.

``auto`` takes the first mode whose estimate fits the budget.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .discretization import nyquist_subsampling_factor
from .errors import SeismicInputError

__all__ = ["StoragePlan", "plan_storage", "default_memory_budget", "wavefield_budget", "peak_resident_bytes", "available_memory_bytes", "STORAGE_MODES"]

STORAGE_MODES = ("auto", "subsampled", "full", "checkpointing")
BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class StoragePlan:
    mode: str  # "subsampled" | "full" | "checkpointing"
    factor: int  # snapshot interval in time steps (1 for full storage and checkpointing)
    n_snapshots: int  # snapshots (or checkpoints) held in memory
    snapshot_bytes: int  # bytes of one snapshot (or checkpoint)
    working_bytes: int  # wavefields and medium arrays, independent of the mode
    budget_bytes: int

    @property
    def estimated_bytes(self) -> int:
        return self.working_bytes + self.n_snapshots * self.snapshot_bytes

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "estimated_bytes": self.estimated_bytes}


def available_memory_bytes() -> int:
    """Memory this process can still use: the smaller of free physical memory and the cgroup limit."""
    avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        with open("/proc/meminfo") as f:  # MemAvailable counts reclaimable page cache too
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:
            avail = min(avail, int(limit) - usage)
        break
    return max(int(avail), 0)


TRACE_COPIES = 16  # observed, predicted, residual, adjoint source, and the band-limit filter's float64 scratch


def resident_bytes() -> int:
    """This process's resident memory now (Linux), 0 where it cannot be read."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_resident_bytes() -> int:
    """This process's peak resident memory (Linux VmHWM), 0 where it cannot be read. Not ru_maxrss: Linux
    carries that over exec, so a child started by a larger process would report its parent's peak."""
    try:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError, StopIteration):
        return 0


def wavefield_budget(process_budget: int, trace_bytes: int) -> int:
    """What a budget for the whole process leaves for the wavefields: the memory already resident (Python,
    Devito, the model and the shot: about 160 MiB) and the trace arrays of the gradient are the rest's."""
    return process_budget - resident_bytes() - TRACE_COPIES * trace_bytes


def default_memory_budget() -> int:
    """Half of the memory available now: room for the rest of the process and for other jobs."""
    return available_memory_bytes() // 2


def _field_bytes(padded_shape: tuple[int, int], halo: int, n_ranks: int) -> int:
    points = (padded_shape[0] + 2 * halo) * (padded_shape[1] + 2 * halo)
    return -(-points * BYTES_PER_VALUE // n_ranks)


def plan_storage(requested: str, *, padded_shape: tuple[int, int], space_order: int, nt: int, dt_ms: float,
                 max_frequency_hz: float, imaging: str, budget_bytes: int | None = None,
                 subsampling_factor: int | None = None, born: bool = False, n_ranks: int = 1) -> StoragePlan:
    """Choose the storage mode and its parameters for one gradient.

    Estimates are per MPI rank. An explicitly requested mode that does not fit the budget is an error,
    as is a budget too small for any mode.
    """
    if requested not in STORAGE_MODES:
        raise SeismicInputError(f"storage must be one of {STORAGE_MODES}, got {requested!r}")
    budget = default_memory_budget() if budget_bytes is None else int(budget_bytes)
    if budget <= 0:
        raise SeismicInputError(f"memory budget must be positive, got {budget}")
    if subsampling_factor is not None and subsampling_factor < 1:
        raise SeismicInputError(f"subsampling_factor must be >= 1, got {subsampling_factor}")

    field = _field_bytes(padded_shape, space_order, n_ranks)
    # u and v (3 time levels each), grad, m, damp; Born adds du (3 levels) and dm.
    working = 6 * field + 3 * _field_bytes(padded_shape, 0, n_ranks) + (4 * field if born else 0)
    halo = max(2, 2 * (space_order // 4)) if imaging == "isic" else 0
    snap = _field_bytes(padded_shape, halo, n_ranks)
    n_steps = nt + 1  # forward iterations 0..nt

    def snapshots(factor: int) -> StoragePlan:
        mode = "full" if factor == 1 else "subsampled"
        return StoragePlan(mode, factor, nt // factor + 1, snap, working, budget)

    def checkpoints() -> StoragePlan:
        ckp = 2 * field  # two time levels of u
        n = min((budget - working) // ckp, n_steps)
        return StoragePlan("checkpointing", 1, max(int(n), 0), ckp, working, budget)

    nyquist = nyquist_subsampling_factor(dt_ms, max_frequency_hz)
    if requested == "auto":
        candidates = ([snapshots(subsampling_factor or nyquist)] if (subsampling_factor or nyquist) > 1 else [])
        candidates += [snapshots(1), checkpoints()]
        for plan in candidates:
            if plan.mode == "checkpointing" and plan.n_snapshots < 1:
                continue
            if plan.estimated_bytes <= budget:
                return plan
        raise SeismicInputError(
            f"memory budget {_mib(budget)} is too small: the wavefields alone need "
            f"{_mib(working + 2 * field)} per rank")
    if requested == "checkpointing":
        plan = checkpoints()
        if plan.n_snapshots < 1:
            raise SeismicInputError(
                f"memory budget {_mib(budget)} leaves no room for a checkpoint "
                f"(need {_mib(working + 2 * field)})")
        return plan
    plan = snapshots(1 if requested == "full" else (subsampling_factor or nyquist))
    if plan.estimated_bytes > budget:
        raise SeismicInputError(
            f"storage={requested!r} needs about {_mib(plan.estimated_bytes)} but the memory budget is "
            f"{_mib(budget)}; use storage='auto' or 'checkpointing', or raise the budget")
    return plan


def _mib(n_bytes: float) -> str:
    """A size for messages: three significant digits, so a budget under 1 MiB does not read as "0 MiB"."""
    return f"{n_bytes / 2**20:.3g} MiB"
