import sys
import threading

import pytest

from localcloud.services.batch_emulator import JobDefinitionSpec, LocalBatch
from localcloud.sfn import DefinitionError, Integrations, LocalStateMachine
from tests.localcloud.sfn.helpers import LAMBDA_ARN, bare_lambda_task, run, single


def invoke_task(function: str, **fields) -> dict:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function, "Payload.$": "$"}, **fields}


def test_lambda_invoke_returns_the_aws_response_shape():
    integrations = Integrations().register_lambda("Double", lambda event, context: {"v": event["v"] * 2})
    result = run(single(invoke_task(LAMBDA_ARN.format("Double"))), {"v": 21}, integrations)
    out = result.output
    assert (out["Payload"], out["StatusCode"], out["ExecutedVersion"]) == ({"v": 42}, 200, "$LATEST")
    assert out["SdkHttpMetadata"]["HttpStatusCode"] == 200 and "RequestId" in out["SdkResponseMetadata"]


@pytest.mark.parametrize(("payload", "event"), [
    ({"Payload": '{"a": [1, 2]}'}, {"a": [1, 2]}),  # a JSON string arrives parsed (recorded on AWS)
    ({"Payload": "7"}, 7),
    ({"Payload": None}, {}),  # a null payload arrives as {} (recorded on AWS)
    ({"Payload.$": "$.missing_is_null"}, {}),
    ({}, {}),
])
def test_lambda_invoke_string_and_null_payloads(payload, event):
    seen = []
    integrations = Integrations().register_lambda("Echo", lambda e, context: seen.append(e))
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "Echo", **payload}}
    result = run(single(task), {"missing_is_null": None}, integrations)
    assert (result.status, seen) == ("SUCCEEDED", [event])


def test_lambda_invoke_payload_string_that_is_not_json_is_refused():
    integrations = Integrations().register_lambda("Echo", lambda e, context: e)
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "Echo", "Payload": "not json"}}
    result = run(single(task), {}, integrations)
    assert (result.status, result.error) == ("FAILED", "Lambda.InvalidRequestContentException")


@pytest.mark.parametrize("reference", ["Double", "123456789012:function:Double", LAMBDA_ARN.format("Double") + ":live"])
def test_function_name_forms(reference):
    integrations = Integrations().register_lambda(LAMBDA_ARN.format("Double"), lambda event, context: event * 2)
    assert run(single(invoke_task(reference, ResultSelector={"p.$": "$.Payload"})), 4, integrations).output == {"p": 8}


def test_handler_gets_a_lambda_context():
    seen = {}

    def handler(event, context):
        seen.update(name=context.function_name, arn=context.invoked_function_arn,
                    remaining=context.get_remaining_time_in_millis(), request=context.aws_request_id)
        return None

    run(single(bare_lambda_task("Ctx")), {}, Integrations().register_lambda("Ctx", handler, timeout_s=30))
    assert seen["name"] == "Ctx" and seen["arn"] == LAMBDA_ARN.format("Ctx")
    assert 25_000 < seen["remaining"] <= 30_000 and seen["request"]


def test_handlers_get_json_copies():
    shared = {"list": [1]}

    def mutate(event, context):
        event["list"].append(2)
        return shared

    result = run(single(bare_lambda_task("M", ResultPath="$.r")), {"list": [1]}, Integrations().register_lambda("M", mutate))
    assert result.output == {"list": [1], "r": {"list": [1]}}

    result = run(single(bare_lambda_task("Bad")), {}, Integrations().register_lambda("Bad", lambda e, c: {1, 2}))
    assert (result.status, result.error) == ("FAILED", "Runtime.MarshalError")


def test_unregistered_functions_are_refused_up_front_or_fail_like_aws():
    with pytest.raises(DefinitionError, match="no Lambda handler registered for 'Missing'"):
        LocalStateMachine(single(bare_lambda_task("Missing")), Integrations())
    with pytest.raises(DefinitionError, match="no integration registered for 'sqs:sendMessage'"):
        LocalStateMachine(single({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage"}))
    with pytest.raises(DefinitionError, match="not supported locally"):
        LocalStateMachine(single({"Type": "Task", "Resource": "arn:aws:states:us-east-1:1:activity:a"}))
    dynamic = single({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                      "Parameters": {"FunctionName.$": "$.fn"}})
    result = run(dynamic, {"fn": "Nobody"}, Integrations())
    assert (result.status, result.error) == ("FAILED", "Lambda.ResourceNotFoundException")


def test_event_invocation_does_not_wait():
    release, finished = threading.Event(), threading.Event()

    def slow(event, context):
        release.wait(5)
        finished.set()

    task = invoke_task("Slow")
    task["Parameters"]["InvocationType"] = "Event"
    result = run(single(task), {}, Integrations().register_lambda("Slow", slow))
    assert result.output["StatusCode"] == 202 and not finished.is_set()  # the run ended before the function
    release.set()
    assert finished.wait(2)


def test_service_results_must_be_json():
    integrations = Integrations().register_service("ecs:runTask", lambda p, c: {"when": object()})
    result = run(single({"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask",
                         "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}]}), {}, integrations)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_service_callables_get_parameters_and_context():
    calls = []

    def send(parameters, context):
        calls.append((parameters, context.state_name, context.pattern, context.task_token, context.execution_name))
        return {"MessageId": "m-1"}

    integrations = Integrations().register_service("sqs:sendMessage", send)
    definition = single({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                         "Parameters": {"QueueUrl": "q", "MessageBody.$": "$.body"}}, name="Send")
    result = LocalStateMachine(definition, integrations).execute({"body": "hi"}, name="e1", timeout=10)
    assert result.output == {"MessageId": "m-1"}
    assert calls == [({"QueueUrl": "q", "MessageBody": "hi"}, "Send", "", None, "e1")]
    assert result.events_of("TaskScheduled")[0].details["resourceType"] == "sqs"


def test_service_exception_type_names_the_error():
    def fail(parameters, context):
        raise ConnectionError("queue unreachable")

    integrations = Integrations().register_service("arn:aws:states:::sqs:sendMessage", fail)
    result = run(single({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage"}), {}, integrations)
    assert (result.status, result.error, result.cause) == ("FAILED", "ConnectionError", "queue unreachable")


def test_task_timeout_abandons_the_work_and_tells_it():
    abandoned = threading.Event()

    def slow(parameters, context):
        abandoned.set() if context.cancelled.wait(5) else None

    integrations = Integrations().register_service("ecs:runTask", slow)
    definition = single({"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "TimeoutSecondsPath": "$.t"})
    result = run(definition, {"t": 1}, integrations, timeout_scale=0.1)
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert abandoned.wait(2)


class FakeBatch:
    """A Batch backend whose jobs finish with a chosen status after a few polls."""

    def __init__(self, final_status: str) -> None:
        self.final_status, self.requests, self.polls = final_status, [], 0

    def submit_job(self, request):
        self.requests.append(request)
        return {"jobArn": "arn:aws:batch:us-east-1:123456789012:job/j-1", "jobId": "j-1", "jobName": request["jobName"]}

    def describe_jobs(self, request):
        self.polls += 1
        status = self.final_status if self.polls >= 3 else "RUNNING"
        return {"jobs": [{"jobId": "j-1", "jobName": "grad", "status": status, "statusReason": "exit 1",
                          "parameters": {"shotCount": "8"}, "arrayProperties": {"size": 4}}]}

    def terminate_job(self, request):
        return {}


BATCH_TASK = {
    "Type": "Task",
    "Parameters": {"JobName": "grad", "JobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/Q",
                   "JobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/D:1",
                   "ArrayProperties": {"Size.$": "$.shots"}, "Parameters": {"shotCount": "8"},
                   "ContainerOverrides": {"Environment": [{"Name": "ITERATION", "Value.$": "$.it"}]}},
}


def test_batch_submit_job_request_response():
    backend = FakeBatch("SUCCEEDED")
    definition = single({**BATCH_TASK, "Resource": "arn:aws:states:::batch:submitJob"})
    result = run(definition, {"shots": 4, "it": "2"}, Integrations().register_batch(backend, poll_interval_s=0.01))
    assert (result.output["JobId"], result.output["JobName"]) == ("j-1", "grad")
    assert backend.requests == [{
        "jobName": "grad", "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/Q",
        "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/D:1", "arrayProperties": {"size": 4},
        "parameters": {"shotCount": "8"}, "containerOverrides": {"environment": [{"name": "ITERATION", "value": "2"}]},
    }]
    assert backend.polls == 0


@pytest.mark.parametrize(("final", "status", "error"), [("SUCCEEDED", "SUCCEEDED", None),
                                                       ("FAILED", "FAILED", "States.TaskFailed")])
def test_batch_submit_job_sync(final, status, error):
    backend = FakeBatch(final)
    definition = single({**BATCH_TASK, "Resource": "arn:aws:states:::batch:submitJob.sync"})
    result = run(definition, {"shots": 4, "it": "2"}, Integrations().register_batch(backend, poll_interval_s=0.01))
    assert (result.status, result.error) == (status, error)
    if final == "SUCCEEDED":
        assert result.output == {"JobId": "j-1", "JobName": "grad", "Status": "SUCCEEDED", "StatusReason": "exit 1",
                                 "Parameters": {"shotCount": "8"}, "ArrayProperties": {"Size": 4}}
    else:
        assert '"Status": "FAILED"' in result.cause


def test_batch_sync_with_the_local_batch_emulator(tmp_path):
    """The backend the seismic workflow uses: array children run as processes."""
    definitions = {
        f"arn:aws:batch:us-east-1:123456789012:job-definition/{name}:1": JobDefinitionSpec(
            arn=f"arn:aws:batch:us-east-1:123456789012:job-definition/{name}:1", name=name,
            command=[sys.executable, "-c", code], environment={}, attempts=1, evaluate_on_exit=[], timeout_s=30)
        for name, code in (("D", "import os; assert os.environ['ITERATION'] == '2'"), ("Bad", "raise SystemExit(3)"))
    }
    batch = LocalBatch(job_definitions=definitions, job_queues={"arn:aws:batch:us-east-1:123456789012:job-queue/Q"},
                       base_environment={}, log_dir=tmp_path, max_parallel=2)
    try:
        integrations = Integrations().register_batch(batch, poll_interval_s=0.05)
        definition = single({**BATCH_TASK, "Resource": "arn:aws:states:::batch:submitJob.sync"})
        result = run(definition, {"shots": 2, "it": "2"}, integrations)
        assert (result.status, result.output["Status"]) == ("SUCCEEDED", "SUCCEEDED")
        failing = single({**BATCH_TASK, "Resource": "arn:aws:states:::batch:submitJob.sync",
                          "Parameters": {**BATCH_TASK["Parameters"],
                                         "JobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/Bad:1"}})
        assert run(failing, {"shots": 2, "it": "2"}, integrations).error == "States.TaskFailed"
        unknown = single({**BATCH_TASK, "Resource": "arn:aws:states:::batch:submitJob",
                          "Parameters": {**BATCH_TASK["Parameters"], "JobQueue": "nope"}})
        assert run(unknown, {"shots": 2, "it": "2"}, integrations).error == "Batch.ClientException"
    finally:
        batch.shutdown()
