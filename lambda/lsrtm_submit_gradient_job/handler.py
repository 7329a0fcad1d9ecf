"""LSRTM-SGD step 2 (each iteration): record the task token, then submit the gradient job(s).

Event: {"token": <task token>, "run": <run state>, "multi_node": bool}. The state machine waits on the
token; the reducer answers it when the gradient sum is complete, the failure handler when a shot
fails for good. Safe to run twice: a second call for an iteration that has jobs only refreshes the token.
"""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from workloads.common.store import ObjectNotFound
from workloads.lsrtm import layout
from workloads.lsrtm.job_requests import array_job, multi_node_job
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

    batch = boto3.client("batch")
    if multi_node:
        where = {"queue": os.environ["MPI_JOB_QUEUE"], "definition": os.environ["MPI_JOB_DEFINITION"]}
        requests = [multi_node_job(params, run_id, bucket, iteration, i, **where) for i in range(len(shots))]
    else:
        where = {"queue": os.environ["JOB_QUEUE"], "definition": os.environ["JOB_DEFINITION"]}
        requests = [array_job(params, run_id, bucket, iteration, len(shots), **where)]
    manifest.job_ids = [batch.submit_job(**request)["jobId"] for request in requests]
    store.put(manifest_key, manifest.to_json().encode())
    logger.info("gradient jobs submitted", extra={"run_id": run_id, "iteration": iteration, "jobs": manifest.job_ids})
    return {"iteration": iteration, "job_ids": manifest.job_ids, "shots": shots}
