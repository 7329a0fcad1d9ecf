"""Timings of a finished run: Batch timestamps, the worker's own times, when the image was written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from adapters.s3_store import S3Store
from workloads.experiments.timings import JobTiming, RunTimings, Termination, WorkerTiming
from workloads.lsrtm import layout
from workloads.lsrtm.reduction import load_manifest
from workloads.lsrtm.store import ObjectNotFound

DESCRIBE_LIMIT = 100  # DescribeJobs takes at most 100 ids
ITERATION = 1  # every experiment run is one iteration of the workflow


def describe_jobs(batch, job_ids: list[str]) -> list[dict]:
    found: list[dict] = []
    for start in range(0, len(job_ids), DESCRIBE_LIMIT):
        found += batch.describe_jobs(jobs=job_ids[start : start + DESCRIBE_LIMIT])["jobs"]
    order = {job_id: i for i, job_id in enumerate(job_ids)}
    return sorted(found, key=lambda j: order.get(j["jobId"], len(order)))


def child_ids(job: dict) -> list[str]:
    """An array job's children are <parent id>:<index>; any other job stands for itself."""
    size = job.get("arrayProperties", {}).get("size")
    return [f"{job['jobId']}:{i}" for i in range(size)] if size else [job["jobId"]]


def leaf_jobs(batch, job_ids: list[str]) -> list[dict]:
    """The jobs that ran containers: array children instead of their parents."""
    leaves: list[dict] = []
    for job in describe_jobs(batch, job_ids):
        ids = child_ids(job)
        leaves += [job] if ids == [job["jobId"]] else describe_jobs(batch, ids)
    return leaves


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def job_timing(job: dict) -> JobTiming:
    return JobTiming(
        job_id=job["jobId"],
        status=job["status"],
        created_at=_time(job["createdAt"]),
        started_at=_time(job.get("startedAt")),
        stopped_at=_time(job.get("stoppedAt")),
        attempts=max(1, len(job.get("attempts", []))),
        status_reason=job.get("statusReason"),
    )


def worker_timings(store: S3Store, run_id: str, shots: list[int]) -> list[WorkerTiming]:
    workers = []
    for shot in shots:
        try:
            summary = json.loads(store.get(layout.partial_summary_key(run_id, ITERATION, shot)))
        except ObjectNotFound:
            continue  # the shot failed or its summary was cleaned up: no worker times for it
        workers.append(WorkerTiming(shot=shot, timings={k: float(v) for k, v in summary.get("timings", {}).items()}))
    return workers


def image_written_at(s3, bucket: str, run_id: str) -> datetime | None:
    try:
        return s3.head_object(Bucket=bucket, Key=layout.image_key(run_id, ITERATION))["LastModified"]
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def collect_run(
    *, batch, s3, bucket: str, run_id: str, experiment: str, parameters: dict,
    execution_arn: str | None = None, terminations: list[Termination] | None = None,
) -> RunTimings:
    store = S3Store(bucket, client=s3)
    manifest = load_manifest(store, run_id, ITERATION)
    if not manifest.job_ids:
        raise RuntimeError(f"run {run_id}: the manifest lists no jobs (was anything submitted?)")
    jobs = [job_timing(j) for j in leaf_jobs(batch, manifest.job_ids)]
    return RunTimings(
        run_id=run_id,
        experiment=experiment,
        parameters=parameters,
        execution_arn=execution_arn,
        jobs=jobs,
        workers=worker_timings(store, run_id, manifest.shots),
        image_written_at=image_written_at(s3, bucket, run_id),
        terminations=terminations or [],
    )
