"""LSRTM-SGD step 1: validate the execution input and check its inputs exist, before anything runs.

Event: {"input": <execution input>, "execution": <execution name>, "multi_node": <which state machine>}.
Environment: DATA_BUCKET (the only bucket the workflow's roles reach), JOB_LIMITS (JSON: per variant,
"array" and "multi_node", the limits of its queue's compute environment; stacks.config.BatchConfig.job_limits).
Returns the run state the state machine carries: {"run_id", "bucket", "iteration": 0, "iterations",
"step_rule"} (the rule decides whether an iteration measures the curvature before its step).
Raises InvalidInput (the state machine fails with its message as the cause; nothing is submitted).
"""

from __future__ import annotations

import json
import os

from aws_lambda_powertools import Logger

from adapters.s3_inputs import require_objects
from adapters.s3_store import S3Store
from workloads.common.execution_input import echo
from workloads.lsrtm import layout
from workloads.lsrtm.params import InvalidInput, RunParameters, check_job_fits, check_run_id

logger = Logger(service="lsrtm-validate-input")


def handler(event: dict, context: object) -> dict:
    params = RunParameters.parse(event.get("input"))
    run_id = check_run_id(str(event.get("execution", "")))
    bucket = os.environ["DATA_BUCKET"]
    if params.bucket not in (None, bucket):
        raise InvalidInput(f"bucket: {echo(params.bucket)} is not this stack's data bucket {bucket!r}, the only "
                           "one its workers and Lambdas may read and write; leave bucket out to use it")
    multi_node = bool(event.get("multi_node", False))
    check_job_fits(params.job, json.loads(os.environ["JOB_LIMITS"])["multi_node" if multi_node else "array"],
                   multi_node=multi_node, memory_budget_mib=params.physics.memory_budget_mib)
    store = S3Store(bucket)
    required = {"model.key": params.model.key}
    if params.model.water_key:
        required["model.water_key"] = params.model.water_key
    last = params.data.num_shots - 1
    required |= {"data (first shot)": params.data.key(0), f"data (shot {last})": params.data.key(last)}
    require_objects(store.client, bucket, required)
    store.put(layout.parameters_key(run_id), params.model_dump_json().encode())
    logger.info("run accepted", extra={"run_id": run_id, "iterations": params.iterations, "batchsize": params.batchsize})
    return {"run_id": run_id, "bucket": bucket, "iteration": 0, "iterations": params.iterations,
            "step_rule": params.step_rule}
