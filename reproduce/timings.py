"""What one experiment run records, and the quantities the paper derives from it.

One file per run (JSON; `summary_row` flattens it for CSV). The breakdown follows the paper:
  job       = first job created -> image written (Batch createdAt to the image's LastModified)
  container = stopped - started of each job (mean over the jobs of the run)
  reduction = image written - last job stopped
  start-up  = job - container - reduction (scheduling, instance start, image pull)
Worker times come from the worker's summary per shot: `kernel_s` = the propagators (forward/Born and
adjoint), `script_s` = the worker's `worker_s` (fetch to gradient upload), or fetch + computation for
summaries written before the upload was timed.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Experiment = Literal["weak", "openmp", "mpi", "hybrid", "cost", "resilience"]
KERNEL_KEYS = ("forward_s", "born_s", "adjoint_s", "checkpointed_adjoint_s")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobTiming(_Record):
    """One Batch job (an array child, a plain job or a multi-node job)."""

    job_id: str
    status: str
    created_at: datetime
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    attempts: int = 1
    status_reason: str | None = None

    @property
    def container_s(self) -> float | None:
        if self.started_at is None or self.stopped_at is None:
            return None
        return (self.stopped_at - self.started_at).total_seconds()


class WorkerTiming(_Record):
    """The worker's own timings for one shot (its summary JSON in S3)."""

    shot: int
    timings: dict[str, float]

    @property
    def kernel_s(self) -> float:
        return sum(self.timings.get(k, 0.0) for k in KERNEL_KEYS)

    @property
    def script_s(self) -> float:
        if "worker_s" in self.timings:  # workers since the upload was timed: fetch to upload, measured once
            return self.timings["worker_s"]
        return self.timings.get("fetch_s", 0.0) + self.timings.get("total_s", 0.0)


class Termination(_Record):
    """An instance the resilience launcher terminated."""

    job_id: str
    instance_id: str | None
    planned_after_s: float
    done_at: datetime | None = None
    outcome: Literal["terminated", "job already finished", "no instance found"]


class RunTimings(_Record):
    run_id: str
    experiment: Experiment
    parameters: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    execution_arn: str | None = None
    jobs: list[JobTiming]
    workers: list[WorkerTiming] = Field(default_factory=list)
    image_written_at: datetime | None = None
    terminations: list[Termination] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_jobs(self) -> Self:
        if not self.jobs:
            raise ValueError(f"run {self.run_id} has no jobs")
        return self

    # --- the paper's breakdown -----------------------------------------------------------------
    @property
    def succeeded(self) -> bool:
        return all(j.status == "SUCCEEDED" for j in self.jobs)

    @property
    def created_at(self) -> datetime:
        return min(j.created_at for j in self.jobs)

    @property
    def last_stopped_at(self) -> datetime | None:
        stops = [j.stopped_at for j in self.jobs]
        return None if any(s is None for s in stops) else max(stops)

    @property
    def container_s(self) -> float | None:
        times = [j.container_s for j in self.jobs]
        return None if any(t is None for t in times) else sum(times) / len(times)

    @property
    def container_sum_s(self) -> float | None:
        times = [j.container_s for j in self.jobs]
        return None if any(t is None for t in times) else sum(times)

    @property
    def job_s(self) -> float | None:
        end = self.image_written_at or self.last_stopped_at
        return None if end is None else (end - self.created_at).total_seconds()

    @property
    def reduction_s(self) -> float | None:
        if self.image_written_at is None or self.last_stopped_at is None:
            return None
        return (self.image_written_at - self.last_stopped_at).total_seconds()

    @property
    def startup_s(self) -> float | None:
        parts = (self.job_s, self.container_s, self.reduction_s or 0.0)
        return None if None in parts else parts[0] - parts[1] - parts[2]

    @property
    def kernel_s(self) -> float | None:
        return sum(w.kernel_s for w in self.workers) / len(self.workers) if self.workers else None

    @property
    def script_s(self) -> float | None:
        return sum(w.script_s for w in self.workers) / len(self.workers) if self.workers else None

    def summary_row(self) -> dict[str, object]:
        row: dict[str, object] = {"run_id": self.run_id, "experiment": self.experiment, "succeeded": self.succeeded,
                                  "jobs": len(self.jobs)}
        row.update({f"param_{k}": v for k, v in sorted(self.parameters.items())})
        for name in ("job_s", "container_s", "reduction_s", "startup_s", "kernel_s", "script_s", "container_sum_s"):
            value = getattr(self, name)
            row[name] = None if value is None else round(value, 3)
        row["terminations"] = sum(t.outcome == "terminated" for t in self.terminations)
        return row

    # --- files ---------------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write <folder>/<run_id>.json atomically (a half-written file never looks finished)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = run_file(folder, self.run_id)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> RunTimings:
        return cls.model_validate_json(Path(path).read_text())


def run_file(folder: Path, run_id: str) -> Path:
    return Path(folder) / f"{run_id}.json"


def load_runs(folder: Path, experiment: Experiment | None = None) -> list[RunTimings]:
    runs = [RunTimings.load(p) for p in sorted(Path(folder).glob("*.json"))]
    return [r for r in runs if experiment is None or r.experiment == experiment]


def to_csv(runs: list[RunTimings]) -> str:
    rows = [r.summary_row() for r in runs]
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()

