"""LSRTM-SGD step 2 (each iteration): record the task token, then submit the gradient job(s).

Event: {"token": <task token>, "run": <run state>, "multi_node": bool, "mode": "gradient" | "curvature"}.
The state machine waits on the token; the reducer answers it when the gradient sum is complete (mode
"curvature", the exact step rule's MeasureCurvature state: when every shot's line-search terms are summed
and the image is written), the failure handler when a shot fails for good. The curvature jobs are the
same job definition over the same shots, with the worker in curvature mode. Safe to run twice: a second
call for an iteration and mode that has jobs only refreshes the token.
"""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from workloads.common.store import ObjectNotFound
from workloads.lsrtm import layout
from workloads.lsrtm.job_requests import CURVATURE, array_job, multi_node_job
from workloads.lsrtm.messages import IterationManifest
from workloads.lsrtm.params import RunParameters
from workloads.lsrtm.shots import shots_for_iteration

logger = Logger(service="lsrtm-submit-gradient-job")


def handler(event: dict, context: object) -> dict:
    run = event["run"]
    run_id, bucket, iteration = run["run_id"], run["bucket"], int(run["iteration"]) + 1
    multi_node = bool(event.get("multi_node", False))
    store = S3Store(bucket)
    params = RunParameters.model_validate_json(store.get(layout.parameters_key(run_id)))
    shots = shots_for_iteration(
        seed=params.seed, iteration=iteration, batchsize=params.batchsize, num_shots=params.data.num_shots
    )
    manifest_key = layout.manifest_key(run_id, iteration)
    if event.get("mode", "gradient") == CURVATURE:
        return _submit_curvature(store, params, manifest_key, event, multi_node)
    try:
        manifest = IterationManifest.from_json(store.get(manifest_key))
    except ObjectNotFound:
        manifest = IterationManifest(
            run_id=run_id, iteration=iteration, shots=shots, step_size=params.step_size,
            step_rule=params.step_rule, task_token=event["token"],
        )
    manifest.task_token = event["token"]
    store.put(manifest_key, manifest.to_json().encode())  # the token is stored before any job can finish
    if manifest.job_ids:
        logger.info("jobs already submitted; token refreshed", extra={"run_id": run_id, "iteration": iteration})
        return {"iteration": iteration, "job_ids": manifest.job_ids, "shots": shots}

    manifest.job_ids = _submit(params, run_id, bucket, iteration, len(shots), multi_node, "gradient")
    store.put(manifest_key, manifest.to_json().encode())
    logger.info("gradient jobs submitted", extra={"run_id": run_id, "iteration": iteration, "jobs": manifest.job_ids})
    return {"iteration": iteration, "job_ids": manifest.job_ids, "shots": shots}


def _submit_curvature(store: S3Store, params: RunParameters, manifest_key: str, event: dict, multi_node: bool) -> dict:
    """The MeasureCurvature state: the gradient sum is complete, so the manifest exists."""
    manifest = IterationManifest.from_json(store.get(manifest_key))
    manifest.curvature_token = event["token"]
    store.put(manifest_key, manifest.to_json().encode())  # before any job can finish
    where = {"run_id": manifest.run_id, "iteration": manifest.iteration}
    if not manifest.curvature_job_ids:
        manifest.curvature_job_ids = _submit(params, manifest.run_id, event["run"]["bucket"], manifest.iteration,
                                             len(manifest.shots), multi_node, CURVATURE)
        store.put(manifest_key, manifest.to_json().encode())
        logger.info("curvature jobs submitted", extra={**where, "jobs": manifest.curvature_job_ids})
    else:
        logger.info("curvature jobs already submitted; token refreshed", extra=where)
    return {"iteration": manifest.iteration, "job_ids": manifest.curvature_job_ids, "shots": manifest.shots}


def _submit(params: RunParameters, run_id: str, bucket: str, iteration: int, size: int, multi_node: bool,
            stage: str) -> list[str]:
    batch = boto3.client("batch")
    if multi_node:
        where = {"queue": os.environ["MPI_JOB_QUEUE"], "definition": os.environ["MPI_JOB_DEFINITION"]}
        requests = [multi_node_job(params, run_id, bucket, iteration, i, stage=stage, **where) for i in range(size)]
    else:
        where = {"queue": os.environ["JOB_QUEUE"], "definition": os.environ["JOB_DEFINITION"]}
        requests = [array_job(params, run_id, bucket, iteration, size, stage=stage, **where)]
    return [batch.submit_job(**request)["jobId"] for request in requests]
