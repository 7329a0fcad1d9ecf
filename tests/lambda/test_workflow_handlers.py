"""The LSRTM-SGD handlers against moto S3: one iteration end to end, duplicates, failures, bad input."""

from __future__ import annotations

import json
import re
import uuid

import numpy as np
import pytest

from adapters.s3_store import S3Store
from localcloud.lambdas import invoke
from localcloud.services.template import SynthesizedStack, matches
from stacks.config import AppConfig
from workloads.lsrtm import layout
from workloads.lsrtm.arrays import from_npy_bytes, to_npy_bytes
from workloads.lsrtm.messages import PartialGradientMessage
from workloads.lsrtm.params import InvalidInput

BUCKET = "seismic-data"
SHAPE = (6, 4)
INPUT = {
    "iterations": 2,
    "batchsize": 3,
    "model": {"key": "models/m.npz"},
    "data": {"prefix": "data/", "num_shots": 5},
    "step_length": 1,
    "step_scaling": -10,
    "step_rule": "fixed",  # the exact rule's second stage is tested in test_exact_step_handlers.py
}


def _inputs(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="models/m.npz", Body=b"model")
    for shot in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"data/shot_{shot}.segy", Body=b"segy")


def _sqs_event(messages: list[PartialGradientMessage]) -> dict:
    return {"Records": [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": "r",
            "body": m.to_json(),
            "attributes": {"MessageGroupId": m.group_id, "MessageDeduplicationId": m.deduplication_id,
                           "ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }
        for m in messages
    ]}


def _worker(store: S3Store, run_id: str, iteration: int, shot: int) -> PartialGradientMessage:
    gradient = np.full(SHAPE, float(shot + 1), np.float32)
    key = layout.partial_gradient_key(run_id, iteration, shot)
    store.put(key, to_npy_bytes(gradient))
    return PartialGradientMessage(run_id=run_id, iteration=iteration, shot=shot, bucket=BUCKET, key=key,
                                  misfit=10.0 * (shot + 1))


def test_one_iteration_from_validation_to_clean_up(aws):
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-1"})
    assert run == {"run_id": "exec-1", "bucket": BUCKET, "iteration": 0, "iterations": 2, "step_rule": "fixed"}

    submitted = invoke("lsrtm_submit_gradient_job", {"token": "tok-1", "run": run})
    (request,) = aws.batch.submitted
    assert request["arrayProperties"] == {"size": 3}
    assert request["parameters"] == {"run_id": "exec-1", "iteration": "1"}
    shots = submitted["shots"]
    assert len(set(shots)) == 3

    store = S3Store(BUCKET)
    messages = [_worker(store, "exec-1", 1, s) for s in shots]
    def reduce(event, _):
        return invoke("lsrtm_reduce_gradients", event)

    # first two arrive, one of them twice; then the last, then a late duplicate
    assert reduce(_sqs_event([messages[0], messages[1], messages[0]]), None) == {"batchItemFailures": []}
    assert "tok-1" not in aws.sfn.answers
    reduce(_sqs_event([messages[2]]), None)
    reduce(_sqs_event([messages[1]]), None)

    kind, output = aws.sfn.answers["tok-1"]
    output = json.loads(output)
    assert kind == "success" and output["iteration"] == 1
    assert output["misfit"] == pytest.approx(sum(10.0 * (s + 1) for s in shots))
    image = from_npy_bytes(store.get(output["image_key"]))
    np.testing.assert_allclose(image, -0.1 * sum(s + 1 for s in shots) * np.ones(SHAPE), rtol=1e-6)

    report = invoke("lsrtm_clean_up", {"run": run, "status": "SUCCEEDED"})
    assert [it["iteration"] for it in report["iterations"]] == [1]
    assert report["deleted_objects"] == 4  # three partial gradients and the accumulator
    assert not store.list(layout.iteration_prefix("exec-1", 1) + "partial/")
    assert store.exists(output["image_key"])


def test_submitting_twice_refreshes_the_token_without_a_second_job(aws):
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-2"})
    invoke("lsrtm_submit_gradient_job", {"token": "tok-a", "run": run})
    invoke("lsrtm_submit_gradient_job", {"token": "tok-b", "run": run})
    assert len(aws.batch.submitted) == 1
    manifest = json.loads(S3Store(BUCKET).get(layout.manifest_key("exec-2", 1)))
    assert manifest["task_token"] == "tok-b"


def _dead_letters(aws) -> list[dict]:
    return aws.sqs.receive_message(QueueUrl=aws.dead_letters, MaxNumberOfMessages=10,
                                   MessageAttributeNames=["All"]).get("Messages", [])


def test_a_broken_message_of_an_unknown_group_is_set_aside_without_touching_other_groups(aws):
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-3"})
    submitted = invoke("lsrtm_submit_gradient_job", {"token": "tok-3", "run": run})
    store = S3Store(BUCKET)
    good = _worker(store, "exec-3", 1, submitted["shots"][0])
    event = _sqs_event([good])
    event["Records"].append({**event["Records"][0], "messageId": "bad", "body": "{not json",
                             "attributes": {"MessageGroupId": "other.1"}})
    result = invoke("lsrtm_reduce_gradients", event)
    assert result == {"batchItemFailures": []}  # redelivering it could never help
    assert store.exists(layout.accumulator_key("exec-3", 1))
    assert [m["Body"] for m in _dead_letters(aws)] == ["{not json"]
    assert aws.sfn.answers == {}  # no iteration other.1: nothing waits on it


def _misfit_null(message: PartialGradientMessage) -> str:
    """What an overflowing shot's message looked like: pydantic writes float('inf') as null."""
    return message.to_json().replace(f'"misfit":{message.misfit}', '"misfit":null')


def _other_shots_key(message: PartialGradientMessage, other: int) -> str:
    return message.model_copy(update={"key": layout.partial_gradient_key(message.run_id, 1, other)}).to_json()


@pytest.mark.parametrize("poison", ["misfit_null", "other_shots_key"])
def test_a_poison_message_is_set_aside_alone_and_fails_its_iteration_at_once(aws, poison):
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-p"})
    shots = invoke("lsrtm_submit_gradient_job", {"token": "tok-p", "run": run})["shots"]
    store = S3Store(BUCKET)
    messages = [_worker(store, "exec-p", 1, s) for s in shots]
    event = _sqs_event(messages)
    bad = event["Records"][1]
    bad["body"] = _misfit_null(messages[1]) if poison == "misfit_null" else _other_shots_key(messages[1], shots[0])

    result = invoke("lsrtm_reduce_gradients", event)

    assert result == {"batchItemFailures": []}  # neither it nor its group-mates come back
    assert S3Store(BUCKET).read_json(layout.result_key("exec-p", 1)) is None  # the sum is not complete
    from workloads.lsrtm.reduction import load_accumulator
    assert load_accumulator(store, "exec-p", 1).shots == {shots[0], shots[2]}
    kind, error, cause = aws.sfn.answers["tok-p"]
    assert (kind, error) == ("failure", "InvalidGradientMessage")
    assert f"shot {shots[1]} of iteration 1 can never be summed" in cause
    (kept,) = _dead_letters(aws)
    assert kept["Body"] == bad["body"] and f"shot {shots[1]}" in kept["MessageAttributes"]["reason"]["StringValue"]


def test_two_reducers_racing_on_one_iteration_sum_every_shot_exactly_once(aws, monkeypatch):
    """The FIFO group's lock lapsed (a delayed invocation outlived the visibility timeout): both reducers
    read the same accumulator before either writes. The S3 conditional write makes the second re-read."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": {**INPUT, "batchsize": 4}, "execution": "exec-race"})
    shots = invoke("lsrtm_submit_gradient_job", {"token": "tok-r", "run": run})["shots"]
    store = S3Store(BUCKET)
    messages = [_worker(store, "exec-race", 1, s) for s in shots]
    barrier, waited = threading.Barrier(2, timeout=20), set()
    real_open = S3Store.open

    def open_after_both_read(self, key):
        if "/partial/" in key and threading.get_ident() not in waited:  # each has read the accumulator
            waited.add(threading.get_ident())
            barrier.wait()
        return real_open(self, key)

    monkeypatch.setattr(S3Store, "open", open_after_both_read)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda batch: invoke("lsrtm_reduce_gradients", _sqs_event(batch)),
                                [messages[:2], messages[2:]]))
    assert results == [{"batchItemFailures": []}] * 2
    kind, output = aws.sfn.answers["tok-r"]
    assert kind == "success" and json.loads(output)["shots"] == sorted(shots)
    assert json.loads(output)["misfit"] == pytest.approx(sum(10.0 * (s + 1) for s in shots))
    image = from_npy_bytes(store.get(json.loads(output)["image_key"]))
    np.testing.assert_allclose(image, -0.1 * sum(s + 1 for s in shots) * np.ones(SHAPE), rtol=1e-6)


def test_a_group_failing_on_its_last_delivery_fails_the_iteration_instead_of_waiting_hours(aws, monkeypatch):
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-last"})
    shots = invoke("lsrtm_submit_gradient_job", {"token": "tok-l", "run": run})["shots"]
    messages = [_worker(S3Store(BUCKET), "exec-last", 1, s) for s in shots]
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "5")

    real_open = S3Store.open

    def partials_unreachable(self, key):
        if "/partial/" in key:
            raise ConnectionError("S3 unreachable")
        return real_open(self, key)

    monkeypatch.setattr(S3Store, "open", partials_unreachable)
    event = _sqs_event(messages)
    assert len(invoke("lsrtm_reduce_gradients", event)["batchItemFailures"]) == 3  # deliveries 1-4: retried
    assert aws.sfn.answers == {}
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "5"
    assert len(invoke("lsrtm_reduce_gradients", event)["batchItemFailures"]) == 3  # SQS moves them to the DLQ
    kind, error, cause = aws.sfn.answers["tok-l"]
    assert (kind, error) == ("failure", "ReductionFailed") and "S3 unreachable" in cause


def test_a_failed_job_fails_the_iteration_with_a_clear_cause(aws):
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-4"})
    submitted = invoke("lsrtm_submit_gradient_job", {"token": "tok-4", "run": run})
    event = {"detail-type": "Batch Job State Change", "source": "aws.batch", "detail": {
        "jobName": "exec-4-it1", "jobId": "job-1:2", "status": "FAILED", "statusReason": "Essential container exited",
        "parameters": {"run_id": "exec-4", "iteration": "1"}, "arrayProperties": {"index": 2},
        "attempts": [{"container": {"exitCode": 1, "logStreamName": "hpcx-gradient/default/abc"},
                      "statusReason": "Essential container exited"}]}}
    result = invoke("lsrtm_gradient_job_failed", event)
    kind, error, cause = aws.sfn.answers["tok-4"]
    assert (kind, error) == ("failure", "GradientJobFailed")
    assert f"shot {submitted['shots'][2]}" in cause and "Essential container exited" in cause
    assert "(exit code 1, log stream hpcx-gradient/default/abc; 1 attempt(s))" in cause
    assert result["failed"]
    report = invoke("lsrtm_clean_up", {"run": run, "status": "FAILED", "error": {"Error": error, "Cause": cause}})
    assert aws.batch.terminated == ["job-1"] and report["status"] == "FAILED"


@pytest.mark.parametrize(
    ("change", "message"),
    [({"batchsize": 9}, "exceeds data.num_shots"), ({"data": {"prefix": "nope/", "num_shots": 5}}, "not found"),
     # twice the exact line-search step or more does not lower the misfit
     ({"step_rule": "exact", "step_length": 2}, r"step_length=2 with step_rule 'exact' must be in \(0, 2\)"),
     ({"step_rule": "exact", "step_length": 3.5}, r"step_length=3.5 with step_rule 'exact' must be in \(0, 2\)")],
)
def test_bad_input_is_refused_before_anything_is_submitted(aws, change, message):
    _inputs(aws.s3)
    with pytest.raises(InvalidInput, match=message):
        invoke("lsrtm_validate_input", {"input": {**INPUT, **change}, "execution": "exec-5"})
    assert aws.batch.submitted == []


LIMITS = AppConfig().batch.job_limits()  # what the stack gives the validator (JOB_LIMITS)
ARRAY, MULTI_NODE = LIMITS["array"], LIMITS["multi_node"]


@pytest.mark.parametrize(
    ("change", "multi_node", "message"),
    [
        # only the stack's bucket: its roles reach no other (a bad name or a missing bucket crashed botocore)
        ({"bucket": "someone-elses-bucket"}, False, "bucket: 'someone-elses-bucket' is not this stack's data bucket"),
        ({"bucket": "Bad Bucket!"}, False, "bucket: 'Bad Bucket!'"),
        # overrides no instance of the queue can satisfy would sit in RUNNABLE until the iteration times out
        ({"job": {"vcpus": ARRAY["online_cpus"] + 1}}, False, f"job.vcpus={ARRAY['online_cpus'] + 1} is more than"),
        ({"job": {"memory_mib": ARRAY["usable_memory_mib"] + 1}}, False, "job.memory_mib"),
        ({"job": {"vcpus": MULTI_NODE["online_cpus"] + 1}}, True, "job.vcpus"),
        ({"job": {"num_nodes": MULTI_NODE["max_nodes"] + 1}}, True, f"job.num_nodes={MULTI_NODE['max_nodes'] + 1}"),
        # a wavefield budget the container cannot hold: the job would be killed, not slowed
        ({"physics": {"memory_budget_mib": ARRAY["job_memory_mib"]}}, False,
         f"physics.memory_budget_mib={ARRAY['job_memory_mib']} is more than the job's {ARRAY['job_memory_mib']} MiB"),
        ({"job": {"memory_mib": 4000}}, False, "physics.memory_budget_mib=48000 is more than the job's 4000 MiB"),
    ],
)
def test_input_the_deployment_cannot_run_is_refused(aws, change, multi_node, message):
    _inputs(aws.s3)
    aws.s3.create_bucket(Bucket="someone-elses-bucket")
    with pytest.raises(InvalidInput, match=re.escape(message)):
        invoke("lsrtm_validate_input", {"input": {**INPUT, **change}, "execution": "exec-6", "multi_node": multi_node})
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=layout.RUNS_PREFIX)


def test_the_calling_state_machine_decides_which_queue_the_job_must_fit(aws):
    _inputs(aws.s3)
    wide = {**INPUT, "job": {"vcpus": MULTI_NODE["online_cpus"], "num_nodes": MULTI_NODE["max_nodes"]}}
    assert invoke("lsrtm_validate_input", {"input": wide, "execution": "exec-7", "multi_node": True})["run_id"] == "exec-7"
    with pytest.raises(InvalidInput, match="job.vcpus"):
        invoke("lsrtm_validate_input", {"input": wide, "execution": "exec-8", "multi_node": False})


def test_a_missing_data_bucket_is_a_clear_rejection(aws, monkeypatch):
    monkeypatch.setenv("DATA_BUCKET", "deleted-bucket")
    with pytest.raises(InvalidInput, match="model.key s3://deleted-bucket/models/m.npz: the bucket does not exist"):
        invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-9"})


def test_the_result_is_stored_before_the_execution_is_told(aws, monkeypatch):
    """What runs after the token (next iteration, clean-up's report) must find the iteration's result."""
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-order"})
    shots = invoke("lsrtm_submit_gradient_job", {"token": "tok-o", "run": run})["shots"]
    store = S3Store(BUCKET)
    messages = [_worker(store, "exec-order", 1, s) for s in shots]
    seen_at_answer = []
    answer = aws.sfn.send_task_success

    def answer_and_look(taskToken, output):
        seen_at_answer.append(store.exists(layout.result_key("exec-order", 1)))
        return answer(taskToken=taskToken, output=output)

    monkeypatch.setattr(aws.sfn, "send_task_success", answer_and_look)
    invoke("lsrtm_reduce_gradients", _sqs_event(messages))
    assert seen_at_answer == [True]


def test_a_crash_after_the_result_before_the_answer_is_finished_by_the_redelivery(aws, monkeypatch):
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-crash"})
    shots = invoke("lsrtm_submit_gradient_job", {"token": "tok-c", "run": run})["shots"]
    store = S3Store(BUCKET)
    messages = [_worker(store, "exec-crash", 1, s) for s in shots]
    answer = aws.sfn.send_task_success

    def crash(taskToken, output):
        raise ConnectionError("the function died before answering")

    monkeypatch.setattr(aws.sfn, "send_task_success", crash)
    failed = invoke("lsrtm_reduce_gradients", _sqs_event(messages))["batchItemFailures"]
    assert len(failed) == len(messages) and "tok-c" not in aws.sfn.answers
    monkeypatch.setattr(aws.sfn, "send_task_success", answer)
    assert invoke("lsrtm_reduce_gradients", _sqs_event(messages)) == {"batchItemFailures": []}
    kind, output = aws.sfn.answers["tok-c"]
    assert kind == "success"
    assert json.loads(output)["misfit"] == pytest.approx(sum(10.0 * (s + 1) for s in shots))  # counted once


def _execution_ended_target(synthesized) -> tuple[dict, dict, SynthesizedStack]:
    stack = SynthesizedStack("BatchStack", synthesized.templates["BatchStack"].to_json())
    overrides = dict.fromkeys(stack.of_type("AWS::S3::Bucket"), BUCKET)
    (rule,) = [r["Properties"] for r in stack.of_type("AWS::Events::Rule").values()
               if r["Properties"]["EventPattern"]["source"] == ["aws.states"]]
    (target,) = rule["Targets"]
    assert stack.functions()[target["Arn"]["Fn::GetAtt"][0]].handler_folder == "lsrtm_clean_up"
    return stack.resolve(rule["EventPattern"], overrides), stack.resolve(target, overrides), stack


def _transform(target: dict, event: dict) -> dict:
    """EventBridge's input transformer, for the paths-and-placeholders form the template uses."""
    text = target["InputTransformer"]["InputTemplate"]
    for placeholder, path in target["InputTransformer"]["InputPathsMap"].items():
        value = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        text = text.replace(f"<{placeholder}>", json.dumps(value))
    return json.loads(text)


def _status_change(pattern: dict, name: str, status: str, error=None, cause=None) -> dict:
    return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "detail": {
        "name": name, "status": status, "error": error, "cause": cause,
        "stateMachineArn": pattern["detail"]["stateMachineArn"][0],
        "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:m:{name}"}}


def test_an_execution_stopped_from_the_console_terminates_its_jobs_through_the_synthesized_rule(aws, synthesized):
    """ABORTED and TIMED_OUT run no state of the machine, so no CleanUpAfterFailure: the rule does it."""
    pattern, target, _ = _execution_ended_target(synthesized)
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-abort"})
    invoke("lsrtm_submit_gradient_job", {"token": "tok-a", "run": run})
    store = S3Store(BUCKET)
    _worker(store, "exec-abort", 1, 0)

    for status in ("ABORTED", "TIMED_OUT"):
        assert matches(pattern, _status_change(pattern, "exec-abort", status))
    report = invoke("lsrtm_clean_up", _transform(target, _status_change(pattern, "exec-abort", "ABORTED")))

    assert aws.batch.terminated == ["job-1"]
    assert report["status"] == "ABORTED" and report["deleted_objects"] == 1
    assert json.loads(store.get(layout.report_key("exec-abort")))["status"] == "ABORTED"
    assert not matches(pattern, _status_change(pattern, "exec-abort", "SUCCEEDED"))


def test_after_the_machine_cleaned_up_a_failure_the_rule_keeps_its_report(aws, synthesized):
    pattern, target, _ = _execution_ended_target(synthesized)
    _inputs(aws.s3)
    run = invoke("lsrtm_validate_input", {"input": INPUT, "execution": "exec-f"})
    invoke("lsrtm_submit_gradient_job", {"token": "tok-f", "run": run})
    error = {"Error": "GradientJobFailed", "Cause": "shot 3 failed"}
    invoke("lsrtm_clean_up", {"run": run, "status": "FAILED", "error": error})
    event = _status_change(pattern, "exec-f", "FAILED", error["Error"], error["Cause"])
    again = invoke("lsrtm_clean_up", _transform(target, event))
    assert again["error"] == error and again["deleted_after_end"] == 0
    assert aws.batch.terminated == ["job-1", "job-1"]  # terminating a finished job is a no-op
    # an execution refused at validation has no run: nothing to clean, no report made up for it
    assert invoke("lsrtm_clean_up", _transform(target, _status_change(pattern, "exec-rejected", "FAILED"))) == {
        "ignored": "execution exec-rejected never started a run"}
    assert not S3Store(BUCKET).exists(layout.report_key("exec-rejected"))
