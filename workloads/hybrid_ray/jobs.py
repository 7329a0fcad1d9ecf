"""Jobs, what a compute task returns, and the report of a run (shared by scheduler and baseline)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workloads.hybrid_ray.datasets import Dataset

# A workload's compute function: the directory holding the dataset's files, plus the job's kwargs.
ComputeFn = Callable[..., Any]


@dataclass(frozen=True)
class Job:
    job_id: str
    dataset: Dataset
    work: float  # complexity in the workload's unit (pixels, samples); speed = work / second
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ComputeResult:
    value: Any
    node_id: str
    site: str
    compute_s: float
    fetch_s: float = 0.0  # time spent fetching inside the task (baseline only)
    nbytes_fetched: int = 0


def timed_call(fn: ComputeFn, path: str, kwargs: dict[str, Any]) -> tuple[Any, float]:
    started = time.monotonic()
    value = fn(Path(path), **kwargs)
    return value, time.monotonic() - started


@dataclass
class JobRecord:
    job_id: str
    node_id: str
    site: str
    attempts: int
    transfer_s: float
    nbytes_moved: int
    compute_s: float
    value: Any
    finished_s: float = 0.0  # since the run started
    submitted_s: float = 0.0
    staged_s: float | None = None


@dataclass
class RunReport:
    records: dict[str, JobRecord]
    makespan_s: float
    lost_nodes: list[str] = field(default_factory=list)

    def jobs_per_site(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.records.values():
            counts[r.site] = counts.get(r.site, 0) + 1
        return counts

    def bytes_moved(self) -> int:
        return sum(r.nbytes_moved for r in self.records.values())
