"""A gradient job failed for good (retries exhausted or an application error): fail the iteration.

Triggered by EventBridge "Batch Job State Change" events with status FAILED on the gradient queues.
The job's parameters carry run_id and iteration (set at submission) and, for the exact step rule's
curvature jobs, stage "curvature"; the iteration manifest has the task token of that stage. Answering with a failure makes the state machine clean up and
fail with this cause, instead of waiting for a sum that can never complete.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from adapters.task_tokens import send_failure
from workloads.common.store import ObjectNotFound
from workloads.lsrtm.reduction import load_manifest

logger = Logger(service="lsrtm-gradient-job-failed")
ERROR = "GradientJobFailed"


def handler(event: dict, context: object) -> dict:
    detail = event.get("detail", {})
    if detail.get("status") != "FAILED":
        return {"ignored": f"status {detail.get('status')}"}
    parameters = detail.get("parameters", {})
    if "run_id" not in parameters:
        return {"ignored": "not a workflow job (no run_id parameter)"}
    run_id, iteration = parameters["run_id"], int(parameters["iteration"])
    store = S3Store(os.environ["DATA_BUCKET"])
    try:
        manifest = load_manifest(store, run_id, iteration)
    except ObjectNotFound:
        logger.warning("no manifest for failed job", extra={"run_id": run_id, "iteration": iteration})
        return {"ignored": "no manifest"}
    index = detail.get("arrayProperties", {}).get("index")
    shot = f" (shot {manifest.shots[index]})" if isinstance(index, int) and index < len(manifest.shots) else ""
    stage = parameters.get("stage", "gradient")
    token = manifest.token_for(stage)
    if token is None:
        return {"ignored": f"no {stage} token in the manifest of iteration {iteration}"}
    cause = (
        f"{stage} job {detail.get('jobName')} [{detail.get('jobId')}]{shot} of iteration {iteration} failed: "
        f"{detail.get('statusReason', 'no reason given')}{_last_attempt(detail)}"
    )
    answered = send_failure(token, ERROR, cause)
    logger.error("iteration failed", extra={"run_id": run_id, "iteration": iteration, "cause": cause, "answered": answered})
    return {"failed": True, "cause": cause}


def _last_attempt(detail: dict) -> str:
    """Exit code and log stream of the last attempt, where the event has them: what a person reads next."""
    attempts = detail.get("attempts") or [{}]
    container = {**detail.get("container", {}), **attempts[-1].get("container", {})}
    parts = []
    if container.get("exitCode") is not None:
        parts.append(f"exit code {container['exitCode']}")
    if container.get("logStreamName"):
        parts.append(f"log stream {container['logStreamName']}")
    return f" ({', '.join(parts)}; {len(detail.get('attempts', []))} attempt(s))" if parts else ""
