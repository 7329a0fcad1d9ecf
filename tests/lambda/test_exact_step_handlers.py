"""The exact step rule through the real handlers (moto S3): the gradient stage answers without an image,
MeasureCurvature submits the curvature jobs, the reducer sums each shot's line-search terms once and takes
the step; a gradient that does not descend fails the iteration naming c1 and c2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adapters.s3_store import S3Store
from localcloud.lambdas import invoke
from workloads.lsrtm import layout
from workloads.lsrtm.arrays import from_npy_bytes
from workloads.lsrtm.messages import CurvatureMessage

from .test_workflow_handlers import BUCKET, INPUT, SHAPE, _inputs, _sqs_event, _worker

EXACT = {**INPUT, "step_rule": "exact", "step_length": 0.5}
del EXACT["step_scaling"]


def _gradient_stage(aws, execution: str) -> tuple[dict, list[int]]:
    """Validation, the gradient jobs and their sum: the ComputeGradient state's token is answered."""
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": EXACT, "execution": execution})
    assert run["step_rule"] == "exact"  # the state machine's ExactStep choice reads it
    shots = invoke("lsrtm_submit_gradient_job", {"token": "tok-grad", "run": run})["shots"]
    store = S3Store(BUCKET)
    invoke("lsrtm_reduce_gradients", _sqs_event([_worker(store, execution, 1, s) for s in shots]))
    return run, shots


def _curvature(execution: str, shot: int, c1: float, c2: float) -> CurvatureMessage:
    return CurvatureMessage(kind="curvature", run_id=execution, iteration=1, shot=shot, bucket=BUCKET, c1=c1, c2=c2)


def test_the_gradient_stage_answers_with_the_sum_and_moves_no_image(aws):
    run, shots = _gradient_stage(aws, "exec-x")
    kind, output = aws.sfn.answers["tok-grad"]
    output = json.loads(output)
    assert kind == "success" and "image_key" not in output
    assert output["gradient_key"] == layout.accumulator_key("exec-x", 1)
    assert output["misfit"] == pytest.approx(sum(10.0 * (s + 1) for s in shots))
    store = S3Store(BUCKET)
    assert not store.exists(layout.image_key("exec-x", 1)) and not store.exists(layout.result_key("exec-x", 1))

    submitted = invoke("lsrtm_submit_gradient_job", {"token": "tok-curv", "run": run, "mode": "curvature"})
    assert submitted["shots"] == shots
    request = aws.batch.submitted[-1]
    assert request["parameters"] == {"run_id": "exec-x", "iteration": "1", "stage": "curvature"}
    assert {"name": "WORKER_MODE", "value": "curvature"} in request["containerOverrides"]["environment"]
    assert request["arrayProperties"] == {"size": len(shots)} and request["jobName"] == "exec-x-it1-curvature"
    invoke("lsrtm_submit_gradient_job", {"token": "tok-curv2", "run": run, "mode": "curvature"})
    assert len(aws.batch.submitted) == 2  # a second call refreshes the token only
    manifest = json.loads(store.get(layout.manifest_key("exec-x", 1)))
    assert (manifest["task_token"], manifest["curvature_token"]) == ("tok-grad", "tok-curv2")


def test_each_shots_terms_count_once_whatever_the_deliveries(aws):
    run, shots = _gradient_stage(aws, "exec-c")
    invoke("lsrtm_submit_gradient_job", {"token": "tok-curv", "run": run, "mode": "curvature"})
    terms = {s: (1.0 + s, 2.0 + 3 * s) for s in shots}
    messages = [_curvature("exec-c", s, *terms[s]) for s in shots]
    # the first shot twice in one batch, then again after the others, and the gradient sum redelivered
    invoke("lsrtm_reduce_gradients", _sqs_event([messages[0], messages[0], messages[1]]))
    assert "tok-curv" not in aws.sfn.answers
    store = S3Store(BUCKET)
    invoke("lsrtm_reduce_gradients", _sqs_event([messages[2], messages[0]]))
    invoke("lsrtm_reduce_gradients", _sqs_event([messages[1], _worker(store, "exec-c", 1, shots[0])]))

    kind, output = aws.sfn.answers["tok-curv"]
    output = json.loads(output)
    c1, c2 = sum(t[0] for t in terms.values()), sum(t[1] for t in terms.values())
    misfit = sum(10.0 * (s + 1) for s in shots)
    assert kind == "success" and (output["c1"], output["c2"]) == pytest.approx((c1, c2))
    assert output["alpha"] == pytest.approx(c1 / c2) and output["step"] == pytest.approx(0.5 * c1 / c2)
    step = 0.5 * c1 / c2
    assert output["predicted_misfit"] == pytest.approx(misfit - step * c1 + 0.5 * step**2 * c2)
    assert output["misfit"] == pytest.approx(misfit)
    image = from_npy_bytes(store.get(output["image_key"]))
    np.testing.assert_allclose(image, -step * sum(s + 1 for s in shots) * np.ones(SHAPE), rtol=1e-6)
    assert json.loads(store.get(layout.result_key("exec-c", 1))) == output

    report = invoke("lsrtm_clean_up", {"run": run, "status": "SUCCEEDED"})
    (entry,) = report["iterations"]
    assert entry["predicted_misfit"] == pytest.approx(output["predicted_misfit"]) and entry["step"] == output["step"]
    assert not store.list(layout.iteration_prefix("exec-c", 1) + "partial/")


@pytest.mark.parametrize("c1_of_shot", [-1.0, 0.0])
def test_a_gradient_that_does_not_descend_fails_the_iteration_naming_c1_and_c2(aws, c1_of_shot):
    run, shots = _gradient_stage(aws, "exec-n")
    invoke("lsrtm_submit_gradient_job", {"token": "tok-curv", "run": run, "mode": "curvature"})
    result = invoke("lsrtm_reduce_gradients", _sqs_event([_curvature("exec-n", s, c1_of_shot, 2.0) for s in shots]))
    assert result == {"batchItemFailures": []}  # a redelivery would find the same sums
    kind, error, cause = aws.sfn.answers["tok-curv"]
    assert (kind, error) == ("failure", "NotADescentDirection")
    assert f"c1 = {c1_of_shot * len(shots):.6g}" in cause and f"c2 = {2.0 * len(shots):.6g}" in cause
    assert "iteration 1" in cause
    assert not S3Store(BUCKET).exists(layout.image_key("exec-n", 1))


def test_a_poison_curvature_message_fails_the_curvature_state_not_the_answered_gradient_one(aws):
    run, shots = _gradient_stage(aws, "exec-p")
    invoke("lsrtm_submit_gradient_job", {"token": "tok-curv", "run": run, "mode": "curvature"})
    event = _sqs_event([_curvature("exec-p", shots[0], 1.0, 1.0)])
    event["Records"][0]["body"] = event["Records"][0]["body"].replace('"c2":1.0', '"c2":-1.0')
    invoke("lsrtm_reduce_gradients", event)
    kind, error, cause = aws.sfn.answers["tok-curv"]
    assert (kind, error) == ("failure", "InvalidGradientMessage")
    assert f"the curvature message for shot {shots[0]} of iteration 1 can never be summed" in cause


def test_a_failed_curvature_job_fails_the_measure_curvature_state(aws):
    run, shots = _gradient_stage(aws, "exec-f")
    invoke("lsrtm_submit_gradient_job", {"token": "tok-curv", "run": run, "mode": "curvature"})
    event = {"detail-type": "Batch Job State Change", "source": "aws.batch", "detail": {
        "jobName": "exec-f-it1-curvature", "jobId": "job-2:0", "status": "FAILED", "statusReason": "OOM",
        "parameters": {"run_id": "exec-f", "iteration": "1", "stage": "curvature"}, "arrayProperties": {"index": 0}}}
    invoke("lsrtm_gradient_job_failed", event)
    kind, error, cause = aws.sfn.answers["tok-curv"]
    assert (kind, error) == ("failure", "GradientJobFailed") and cause.startswith("curvature job exec-f-it1-curvature")
    invoke("lsrtm_clean_up", {"run": run, "status": "FAILED", "error": {"Error": error, "Cause": cause}})
    assert aws.batch.terminated == ["job-1", "job-2"]  # the gradient job and the curvature job


def test_an_unreadable_message_during_the_curvature_stage_fails_the_waiting_state(aws):
    run, shots = _gradient_stage(aws, "exec-u")
    invoke("lsrtm_submit_gradient_job", {"token": "tok-curv", "run": run, "mode": "curvature"})
    event = _sqs_event([_curvature("exec-u", shots[0], 1.0, 1.0)])
    event["Records"][0]["body"] = "{not json"
    invoke("lsrtm_reduce_gradients", event)
    kind, error, cause = aws.sfn.answers["tok-curv"]  # the gradient state's token was answered already
    assert (kind, error) == ("failure", "InvalidGradientMessage") and "iteration 1 can never be summed" in cause
