"""LSRTM-SGD step 1: validate the execution input and check its inputs exist, before anything runs.

Event: {"input": <execution input>, "execution": <execution name>}.
Returns the run state the state machine carries: {"run_id", "bucket", "iteration": 0, "iterations"}.
Raises InvalidInput (the state machine fails with its message as the cause; nothing is submitted).
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from workloads.lsrtm import layout
from workloads.lsrtm.params import InvalidInput, RunParameters, check_run_id

logger = Logger(service="lsrtm-validate-input")


def handler(event: dict, context: object) -> dict:
    params = RunParameters.parse(event.get("input"))
    run_id = check_run_id(str(event.get("execution", "")))
    bucket = params.bucket or os.environ["DATA_BUCKET"]
    store = S3Store(bucket)
    required = [params.model.key]
    if params.model.water_key:
        required.append(params.model.water_key)
    required += [params.data.key(0), params.data.key(params.data.num_shots - 1)]
    missing = [key for key in required if not store.exists(key)]
    if missing:
        raise InvalidInput(f"not found in s3://{bucket}/: {', '.join(missing)}")
    store.put(layout.parameters_key(run_id), params.model_dump_json().encode())
    logger.info("run accepted", extra={"run_id": run_id, "iterations": params.iterations, "batchsize": params.batchsize})
    return {"run_id": run_id, "bucket": bucket, "iteration": 0, "iterations": params.iterations}
