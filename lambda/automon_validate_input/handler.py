"""AutoMon experiment step 1: validate the execution input and plan its items, before anything starts.

Event: {"input": <execution input>, "execution": <execution name>}. Returns the run planned by
workloads.automon.plan (the input's schema is documented there) and writes it to
<results_prefix>plan.json. Raises InvalidInput: the execution fails with the message as its cause.
"""

from __future__ import annotations

import json
import os

from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from workloads.automon.plan import plan

logger = Logger(service="automon-validate-input")


def handler(event: dict, context: object) -> dict:
    run = plan(
        event.get("input"),
        execution=str(event.get("execution", "")),
        bucket=os.environ["RESULTS_BUCKET"],
        results_prefix=os.environ["RESULTS_PREFIX"],
        node_counts=json.loads(os.environ["NODE_COUNTS"]),
        error_bounds=json.loads(os.environ["ERROR_BOUNDS"]),
        automon_in_image=os.environ.get("AUTOMON_IN_IMAGE") == "1",
        datasets_in_image=os.environ.get("DATASETS_IN_IMAGE") == "1",
    )
    S3Store(run["bucket"]).put(f"{run['results_prefix']}plan.json", json.dumps(run, indent=2).encode())
    logger.info("experiment accepted", extra={"run_id": run["run_id"], "items": len(run["items"])})
    return run
