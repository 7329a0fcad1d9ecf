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
        manifest.job_ids = [_submit_multi_node(batch, params, run_id, bucket, iteration, i) for i in range(len(shots))]
    else:
        manifest.job_ids = [_submit_array(batch, params, run_id, bucket, iteration, len(shots))]
    store.put(manifest_key, manifest.to_json().encode())
    logger.info("gradient jobs submitted", extra={"run_id": run_id, "iteration": iteration, "jobs": manifest.job_ids})
    return {"iteration": iteration, "job_ids": manifest.job_ids, "shots": shots}


def _common(run_id: str, bucket: str, iteration: int) -> dict:
    env = {"RUN_ID": run_id, "ITERATION": str(iteration), "DATA_BUCKET": bucket}
    return {
        "parameters": {"run_id": run_id, "iteration": str(iteration)},
        "tags": {"run_id": run_id, "iteration": str(iteration)},
        "propagateTags": True,
        "env": [{"name": k, "value": v} for k, v in env.items()],
    }


def _resources(params: RunParameters) -> list[dict]:
    out = []
    if params.job.vcpus:
        out.append({"type": "VCPU", "value": str(params.job.vcpus)})
    if params.job.memory_mib:
        out.append({"type": "MEMORY", "value": str(params.job.memory_mib)})
    return out


def _submit_array(batch, params: RunParameters, run_id: str, bucket: str, iteration: int, size: int) -> str:
    common = _common(run_id, bucket, iteration)
    request = {
        "jobName": f"{run_id}-it{iteration}"[:128],
        "jobQueue": os.environ["JOB_QUEUE"],
        "jobDefinition": os.environ["JOB_DEFINITION"],
        "parameters": common["parameters"],
        "tags": common["tags"],
        "propagateTags": True,
        "containerOverrides": {"environment": common["env"], "resourceRequirements": _resources(params)},
    }
    if size > 1:  # Batch array jobs need at least 2 children; one shot runs as a plain job (index 0)
        request["arrayProperties"] = {"size": size}
    return batch.submit_job(**request)["jobId"]


def _submit_multi_node(batch, params: RunParameters, run_id: str, bucket: str, iteration: int, index: int) -> str:
    common = _common(run_id, bucket, iteration)
    env = [*common["env"], {"name": "ARRAY_INDEX", "value": str(index)}]
    return batch.submit_job(
        jobName=f"{run_id}-it{iteration}-shot{index}"[:128],
        jobQueue=os.environ["MPI_JOB_QUEUE"],
        jobDefinition=os.environ["MPI_JOB_DEFINITION"],
        parameters=common["parameters"],
        tags=common["tags"],
        propagateTags=True,
        nodeOverrides={
            "numNodes": params.job.num_nodes,
            "nodePropertyOverrides": [
                {"targetNodes": "0:", "containerOverrides": {"environment": env, "resourceRequirements": _resources(params)}}
            ],
        },
    )["jobId"]
