"""Last step, on success and on failure: stop what still runs, delete intermediate objects, write the report.

Event: {"run": <run state>, "status": "SUCCEEDED" | "FAILED", "error": {"Error", "Cause"} (on failure)}.
Kept: parameters, manifests, per-iteration results and every image. Deleted: partial gradients and
accumulators (82 MB each for BP 2004). The report lists the misfit per iteration (with the exact step
rule also the step, alpha* and the predicted misfit after the step).

Also invoked by EventBridge when an execution ends as ABORTED, TIMED_OUT or FAILED ("execution_ended":
true, status from the event): a stopped or timed-out execution runs no state of its own, and its jobs
would otherwise run on. Then a report the state machine already wrote is kept, and an execution that
never got past validation (no run) is left alone.
"""

from __future__ import annotations

import json

import boto3
from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from workloads.lsrtm import layout
from workloads.lsrtm.messages import IterationManifest

logger = Logger(service="lsrtm-clean-up")
TERMINATE_REASON = "LSRTM-SGD execution ended"


# the exact step rule also records its step: alpha* (the line-search minimiser), the step taken and the
# misfit it predicts after the step (what the next iteration measures, on a full batch)
EXACT_STEP_FIELDS = ("predicted_misfit", "step", "alpha")


def _iteration(result: dict) -> dict:
    entry = {"iteration": result["iteration"], "misfit": result["misfit"], "image_key": result["image_key"]}
    return entry | {k: result[k] for k in EXACT_STEP_FIELDS if k in result}


def handler(event: dict, context: object) -> dict:
    run = event["run"]
    run_id, bucket = run["run_id"], run["bucket"]
    status = event.get("status", "SUCCEEDED")
    ended_outside = bool(event.get("execution_ended"))
    store = S3Store(bucket)
    keys = store.list(layout.run_prefix(run_id))
    if ended_outside and layout.parameters_key(run_id) not in keys:
        return {"ignored": f"execution {run_id} never started a run"}

    manifests = [IterationManifest.from_json(store.get(k)) for k in keys if k.endswith("/manifest.json")]
    if status != "SUCCEEDED":
        batch = boto3.client("batch")
        for job_id in (j for m in manifests for j in [*m.job_ids, *m.curvature_job_ids]):
            batch.terminate_job(jobId=job_id, reason=TERMINATE_REASON)  # no-op for finished jobs

    results = sorted(
        (json.loads(store.get(k)) for k in keys if k.endswith("/result.json")), key=lambda r: r["iteration"]
    )
    intermediate = [k for k in keys if "/partial/" in k or k.endswith("/accumulator.npz")]
    store.delete(intermediate)
    report = {
        "run_id": run_id,
        "status": status,
        "error": event.get("error"),
        "iterations": [_iteration(r) for r in results],
        "final_image_key": results[-1]["image_key"] if results else None,
        "deleted_objects": len(intermediate),
    }
    if ended_outside and layout.report_key(run_id) in keys:
        return {**json.loads(store.get(layout.report_key(run_id))), "deleted_after_end": len(intermediate)}
    store.put(layout.report_key(run_id), json.dumps(report, indent=2).encode())
    logger.info("run finished", extra={"run_id": run_id, "status": status, "iterations": len(results)})
    return report
