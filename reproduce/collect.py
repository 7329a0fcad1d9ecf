"""Timings of a finished run: Batch timestamps, the worker's own times, when the image was written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from adapters.s3_store import S3Store
from reproduce.outputs import Deployment, DeploymentError
from reproduce.plans import HYBRID_CASES, RUN_ID_LABELS
from reproduce.timings import JobTiming, RunTimings, Termination, WorkerTiming
from workloads.common.store import ObjectNotFound
from workloads.lsrtm import layout
from workloads.lsrtm.reduction import load_manifest

DESCRIBE_LIMIT = 100  # DescribeJobs takes at most 100 ids
ITERATION = 1  # every experiment run is one iteration of the workflow
EXECUTION_EXPERIMENTS = ("weak", "cost", "resilience")  # runs of the state machine; the others are direct jobs


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


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + name


def collect_run(
    *, batch, s3, bucket: str, run_id: str, experiment: str, parameters: dict | None,
    execution_arn: str | None = None, terminations: list[Termination] | None = None,
    deployment: Deployment | None = None,
) -> RunTimings:
    """parameters=None: recover them from what the run left (recover_parameters)."""
    store = S3Store(bucket, client=s3)
    manifest = load_manifest(store, run_id, ITERATION)
    if not manifest.job_ids:
        raise RuntimeError(f"run {run_id}: the manifest lists no jobs (was anything submitted?)")
    leaves = leaf_jobs(batch, manifest.job_ids)
    jobs = [job_timing(j) for j in leaves]
    if parameters is None:
        try:
            run_parameters = json.loads(store.get(layout.parameters_key(run_id)))
        except ObjectNotFound:
            run_parameters = {}
        parameters = recover_parameters(experiment, run_id, jobs=leaves, run_parameters=run_parameters,
                                        shots=manifest.shots, deployment=deployment)
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


def recollect_run(*, batch, s3, deployment: Deployment, run_id: str, experiment: str,
                  existing: RunTimings | None = None) -> RunTimings:
    """Collect a run again. Its parameters are recovered from what it left; where a run file exists, what
    it recorded wins and what only it knows (the terminations, a resilience run's seed) is kept."""
    arn = execution_arn(deployment.state_machine_arn, run_id) if experiment in EXECUTION_EXPERIMENTS else None
    fresh = collect_run(batch=batch, s3=s3, bucket=deployment.bucket, run_id=run_id, experiment=experiment,
                        parameters=None, execution_arn=arn, deployment=deployment)
    if existing is None:
        return fresh
    return fresh.model_copy(update={
        "parameters": {**fresh.parameters, **existing.parameters},
        "execution_arn": existing.execution_arn or fresh.execution_arn,
        "terminations": existing.terminations or fresh.terminations,
    })


def recover_parameters(experiment: str, run_id: str, *, jobs: list[dict], run_parameters: dict, shots: list[int],
                       deployment: Deployment | None = None) -> dict:
    """The parameters a launcher records with a run (reproduce/plans.py), rebuilt from what the run
    left: the labels of its id, its parameters.json and its Batch job (threads and nodes as Batch ran them).
    A resilience run's seed and window are in no artefact: only its run file has them."""
    out: dict = {}
    labels = RUN_ID_LABELS[experiment].search(run_id)
    if labels:
        out["repeat"] = int(labels["repeat"])
    if experiment in EXECUTION_EXPERIMENTS:
        if "batchsize" in run_parameters:
            out["batchsize"] = int(run_parameters["batchsize"])
        if experiment == "resilience" and labels:
            out["failure_rate"] = int(labels["failure_percent"]) / 100  # to the percent the id keeps
        return out

    if shots and run_parameters:
        out["shot"] = int(run_parameters.get("data", {}).get("first_shot", 0)) + shots[0]
    job = jobs[0] if jobs else {}
    threads = _environment(job).get("OMP_NUM_THREADS")
    if experiment == "hybrid":
        if labels and labels["case"] in HYBRID_CASES:
            threads_per_rank, ranks, _ = HYBRID_CASES[labels["case"]]
            out.update(case=labels["case"], threads=threads_per_rank, ranks=ranks)
        return out
    if experiment == "openmp" and labels:
        out.update(threads=int(labels["threads"]), hyperthreading=labels["ht"] == "ht")
    if experiment == "mpi":
        nodes = job.get("nodeProperties", {}).get("numNodes") or (labels and labels["nodes"])
        if nodes:
            out["nodes"] = int(nodes)
    if threads:
        out["threads"] = int(threads)
    if deployment is not None and job.get("jobQueue"):
        try:
            out["instance_type"] = deployment.queue(job["jobQueue"]).instance_types[0]
        except DeploymentError:
            pass  # the queue is gone from the stack: the instance type stays unknown
    return out


def _environment(job: dict) -> dict[str, str]:
    """A job's container environment, as Batch ran it (a multi-node job's from its node ranges)."""
    containers = [job.get("container", {})]
    containers += [r.get("container", {}) for r in job.get("nodeProperties", {}).get("nodeRangeProperties", [])]
    return {e["name"]: e["value"] for c in containers for e in c.get("environment", [])}
