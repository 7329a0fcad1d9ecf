"""LSRTM images for real: the workflow Lambda image validates an execution input against moto's S3, the
gradient worker image computes one small shot's gradient (Devito, JIT-compiled in the image) and sends its
message to moto's SQS, and the Lambda image's reducer sums that message: the sum must equal the gradient.
Then the default (exact) step rule's second stage: the worker image in curvature mode measures the shot's
line-search terms along that sum, the reducer takes the step, and the image it writes must be -step x sum
with step = c1/c2 > 0. The LSRTM handlers that talk to Batch or Step Functions (absent from moto's server here) run too and may
answer with their error."""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import numpy as np

from adapters.seismic_upload import upload
from tools.images.engine import run
from tools.images.session import REGION, Session, SmokeFailed
from workloads.lsrtm import layout
from workloads.lsrtm.arrays import from_npy_bytes
from workloads.lsrtm.messages import IterationManifest
from workloads.lsrtm.reduction import Accumulator
from workloads.seismic.datasets import make_synthetic

BUCKET = "smoke-lsrtm-data"
LAMBDA = "workflow_lambdas"


def function_env(session: Session, handler: str) -> dict[str, str]:
    """The template's environment, with the values CloudFormation would resolve made local."""
    env = session.functions(LAMBDA)[handler]
    return {k: v if isinstance(v, str) else BUCKET if k == "DATA_BUCKET" else f"smoke-{k.lower()}"
            for k, v in env.items()}


def sqs_record(message: dict, queue: str) -> dict:
    """An SQS event source record of a received message, as Lambda delivers it."""
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": {**message["Attributes"], "MessageGroupId": message["Attributes"]["MessageGroupId"]},
            "messageAttributes": {}, "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{queue.rsplit('/', 1)[1]}", "awsRegion": REGION}


def smoke(session: Session, say) -> None:
    s3 = session.client("s3")
    sqs = session.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = make_synthetic(Path(tmp), shape=(81, 41), num_shots=2, record_ms=500.0, show_progress=False)
        sections = upload(s3, BUCKET, "syn/", dataset, show_progress=False)
    execution_input = {"iterations": 1, "batchsize": 1, **sections,
                       "physics": {"space_order": 4, "memory_budget_mib": 256}}
    lsrtm = {h: function_env(session, h) for h in session.functions(LAMBDA) if h.split(".")[0] in
             ("lsrtm_validate_input", "lsrtm_submit_gradient_job", "lsrtm_reduce_gradients", "lsrtm_gradient_job_failed", "lsrtm_clean_up")}

    handler = "lsrtm_validate_input.handler.handler"
    with session.lambda_function(LAMBDA, handler, lsrtm[handler]) as invoke:
        state = invoke({"input": execution_input, "execution": "smoke-1"}).body
        bad = invoke({"input": {**execution_input, "iterations": 0}, "execution": "smoke-2"}, expect_ok=False).body
    say(f"lsrtm_validate_input accepted the example: {state}; refused iterations=0 with {bad['errorType']}")
    run_id = state["run_id"]

    handler = "lsrtm_submit_gradient_job.handler.handler"
    with session.lambda_function(LAMBDA, handler, lsrtm[handler]) as invoke:
        answer = invoke({"token": "smoke-token", "run": state, "multi_node": False}, expect_ok=False)
    say(f"lsrtm_submit_gradient_job: {session.invoked[handler]}" + (f" {answer.body}" if answer.ok else ""))

    # the manifest lsrtm_submit_gradient_job writes, for shot 0 alone (moto's server has no Batch to run the job),
    # with the default rule and the MeasureCurvature token the submit Lambda's curvature mode would add
    if state.get("step_rule") != "exact":
        raise SmokeFailed(f"lsrtm_validate_input: the default step rule is not 'exact' in its state: {state}")
    manifest = IterationManifest(run_id=run_id, iteration=1, shots=[0], step_size=1.0, step_rule="exact",
                                 task_token="smoke-token", curvature_token="smoke-token-curvature")
    s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(run_id, 1), Body=manifest.to_json())
    queue = sqs.create_queue(QueueName=f"smoke-{uuid.uuid4().hex[:8]}.fifo",
                             Attributes={"FifoQueue": "true"})["QueueUrl"]
    worker_env = {**session.aws_env, "RUN_ID": run_id, "ITERATION": "1", "DATA_BUCKET": BUCKET,
                  "GRADIENT_QUEUE_URL": queue, "AWS_BATCH_JOB_ARRAY_INDEX": "0", "OMP_NUM_THREADS": "2"}
    code, output = run(session.engine, session.tags["gradient_worker"], ["python", "/opt/app/worker.py"], worker_env,
                       timeout=900)
    if code != 0:
        raise SmokeFailed(f"gradient worker exited {code}:\n{output[-3000:]}")
    gradient = from_npy_bytes(s3.get_object(Bucket=BUCKET, Key=layout.partial_gradient_key(run_id, 1, 0))["Body"].read())
    if not (np.isfinite(gradient).all() and np.abs(gradient).max() > 0):
        raise SmokeFailed(f"gradient worker: the gradient is zero or not finite (max |g| {np.abs(gradient).max()})")
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    say(f"gradient_worker: shot 0 gradient {gradient.shape}, max |g| {np.abs(gradient).max():.3e}, "
        f"sum {gradient.sum():.6e}; one SQS message")

    handler = "lsrtm_reduce_gradients.handler.handler"
    with session.lambda_function(LAMBDA, handler, lsrtm[handler]) as invoke:
        reduced = invoke({"Records": [sqs_record(message, queue)]}).body
    # what the event source mapping does after a batch succeeded; a FIFO group holds later messages until then
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    total = Accumulator.from_bytes(s3.get_object(Bucket=BUCKET, Key=layout.accumulator_key(run_id, 1))["Body"].read()).total
    if total is None or not np.allclose(total, gradient, rtol=1e-6, atol=0):
        raise SmokeFailed("lsrtm_reduce_gradients: the sum of one shot's message is not that shot's gradient")
    say(f"lsrtm_reduce_gradients answered {reduced}; the sum equals the gradient (sum {total.sum():.6e})")

    code, output = run(session.engine, session.tags["gradient_worker"], ["python", "/opt/app/worker.py"],
                       {**worker_env, "WORKER_MODE": "curvature"}, timeout=900)
    if code != 0:
        raise SmokeFailed(f"gradient worker (curvature mode) exited {code}:\n{output[-3000:]}")
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    with session.lambda_function(LAMBDA, handler, lsrtm[handler]) as invoke:
        invoke({"Records": [sqs_record(message, queue)]})
    result = json.loads(s3.get_object(Bucket=BUCKET, Key=layout.result_key(run_id, 1))["Body"].read())
    image = from_npy_bytes(s3.get_object(Bucket=BUCKET, Key=result["image_key"])["Body"].read())
    if not (result["c1"] > 0 and result["c2"] > 0 and result["predicted_misfit"] < result["misfit"]):
        raise SmokeFailed(f"exact step: no descent predicted: {result}")
    if not np.allclose(image, -np.float32(result["step"]) * gradient, rtol=1e-5, atol=0):
        raise SmokeFailed("exact step: the image is not -step x the gradient sum")
    say(f"gradient_worker (curvature mode) and the reducer took the exact step {result['step']:.4g}: misfit "
        f"{result['misfit']:.6g} -> predicted {result['predicted_misfit']:.6g}; image = -step x sum")

    handler = "lsrtm_gradient_job_failed.handler.handler"
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Batch Job State Change", "source": "aws.batch",
             "account": "123456789012", "region": REGION, "resources": [],
             "detail": {"jobName": "smoke-gradient", "jobId": str(uuid.uuid4()), "status": "FAILED",
                        "statusReason": "smoke run", "parameters": {"run_id": run_id, "iteration": "1"},
                        "attempts": [{"container": {"exitCode": 1, "logStreamName": "smoke/stream"}}]}}
    with session.lambda_function(LAMBDA, handler, lsrtm[handler]) as invoke:
        invoke(event, expect_ok=False)
    say(f"lsrtm_gradient_job_failed: {session.invoked[handler]}")

    handler = "lsrtm_clean_up.handler.handler"
    with session.lambda_function(LAMBDA, handler, lsrtm[handler]) as invoke:
        answer = invoke({"run": {**state, "iteration": 1}, "status": "SUCCEEDED"}, expect_ok=False)
    say(f"lsrtm_clean_up: {session.invoked[handler]}" + (f" {str(answer.body)[:160]}" if answer.ok else ""))
