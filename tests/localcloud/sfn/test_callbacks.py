"""`.waitForTaskToken` through the HTTP endpoint, driven by boto3 exactly as handler code would."""

import json
import threading
import time

import boto3
import pytest

from localcloud.sfn import Integrations, LocalStateMachine, TaskTokens

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:Submit"


@pytest.fixture
def callbacks(monkeypatch):
    """A factory of (machine, stepfunctions client) with a callback server that stops after the test."""
    servers = []

    def make(handler, **task_fields):
        definition = {"StartAt": "Wait", "States": {
            "Wait": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                     "Parameters": {"FunctionName": FUNCTION, "Payload": {"token.$": "$$.Task.Token", "in.$": "$"}},
                     "ResultPath": "$.answer", "Next": "Done", **task_fields},
            "Done": {"Type": "Succeed"},
            "Recover": {"Type": "Pass", "End": True},
        }}
        machine = LocalStateMachine(definition, Integrations().register_lambda(FUNCTION, handler),
                                    timeout_scale=0.2)
        server = machine.callback_server().start()
        servers.append(server)
        for key, value in server.environment().items():
            monkeypatch.setenv(key, value)
        return machine, boto3.client("stepfunctions", region_name="us-east-1")

    yield make
    for server in servers:
        server.close()


def answer_later(action, delay_s=0.05):
    threading.Thread(target=lambda: (time.sleep(delay_s), action()), daemon=True).start()


def test_success_sent_with_boto3_is_the_task_result(callbacks):
    def handler(event, context):  # like a submit Lambda: hand the token on, return at once
        sfn = boto3.client("stepfunctions")
        answer_later(lambda: sfn.send_task_success(taskToken=event["token"], output=json.dumps({"sum": event["in"]["n"]})))
        return {"submitted": True}

    machine, _ = callbacks(handler)
    result = machine.execute({"n": 41}, timeout=10)
    assert result.status == "SUCCEEDED"
    assert result.output == {"n": 41, "answer": {"sum": 41}}
    assert result.events_of("TaskSubmitted")[0].output["Payload"] == {"submitted": True}


def test_answer_inside_the_handler_before_it_returns(callbacks):
    def handler(event, context):
        boto3.client("stepfunctions").send_task_success(taskToken=event["token"], output='"quick"')
        return None

    machine, _ = callbacks(handler)
    assert machine.execute({}, timeout=10).output == {"answer": "quick"}


def test_failure_sent_with_boto3_fails_the_task_and_can_be_caught(callbacks):
    def handler(event, context):
        sfn = boto3.client("stepfunctions")
        answer_later(lambda: sfn.send_task_failure(taskToken=event["token"], error="ShotFailed", cause="shot 3"))

    machine, _ = callbacks(handler)
    result = machine.execute({}, timeout=10)
    assert (result.status, result.error, result.cause) == ("FAILED", "ShotFailed", "shot 3")

    machine, _ = callbacks(handler, Catch=[{"ErrorEquals": ["ShotFailed"], "ResultPath": "$.e", "Next": "Recover"}])
    assert machine.execute({}, timeout=10).output == {"e": {"Error": "ShotFailed", "Cause": "shot 3"}}


def test_timeout_then_a_late_answer_is_refused(callbacks):
    tokens = []
    machine, client = callbacks(lambda event, context: tokens.append(event["token"]), TimeoutSeconds=1)
    started = time.monotonic()
    result = machine.execute({}, timeout=10)
    assert 0.2 <= time.monotonic() - started < 1.0  # 1 s x timeout_scale 0.2
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert len(result.events_of("TaskTimedOut")) == 1
    with pytest.raises(client.exceptions.TaskTimedOut):
        client.send_task_success(taskToken=tokens[0], output="{}")


def test_heartbeats_keep_the_task_alive(callbacks):
    def handler(event, context):
        sfn = boto3.client("stepfunctions")

        def beat_then_answer():
            for _ in range(10):  # 1 s of work, longer than the 0.4 s heartbeat interval
                time.sleep(0.1)
                sfn.send_task_heartbeat(taskToken=event["token"])
            sfn.send_task_success(taskToken=event["token"], output='{"done": true}')

        threading.Thread(target=beat_then_answer, daemon=True).start()

    machine, _ = callbacks(handler, HeartbeatSeconds=2, TimeoutSeconds=100)
    result = machine.execute({}, timeout=10)
    assert (result.status, result.output) == ("SUCCEEDED", {"answer": {"done": True}})


def test_missing_heartbeat_times_out(callbacks):
    machine, _ = callbacks(lambda event, context: None, HeartbeatSeconds=1,
                           Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "Recover"}])
    result = machine.execute({}, timeout=10)
    assert result.output["Error"] == "States.HeartbeatTimeout"  # caught as a States.Timeout


def test_api_errors(callbacks):
    tokens = []
    machine, client = callbacks(lambda event, context: tokens.append(event["token"]))
    execution = machine.start({})
    deadline = time.monotonic() + 5
    while not tokens and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(client.exceptions.InvalidToken):
        client.send_task_success(taskToken="not-a-token", output="{}")
    other_machines_token = TaskTokens().issue("arn:aws:states:us-east-1:123456789012:execution:X:y", "S")
    with pytest.raises(client.exceptions.TaskDoesNotExist):
        client.send_task_heartbeat(taskToken=other_machines_token)
    with pytest.raises(client.exceptions.InvalidOutput):
        client.send_task_success(taskToken=tokens[0], output="{not json")
    client.send_task_success(taskToken=tokens[0], output="1")
    with pytest.raises(client.exceptions.TaskTimedOut):  # answered already
        client.send_task_success(taskToken=tokens[0], output="2")
    assert execution.wait(10).output == {"answer": 1}


def test_lambda_error_fails_a_callback_task_at_once(callbacks):
    def handler(event, context):
        raise PermissionError("cannot submit")

    machine, _ = callbacks(handler, TimeoutSeconds=100)
    started = time.monotonic()
    result = machine.execute({}, timeout=10)
    assert (result.status, result.error) == ("FAILED", "PermissionError")
    assert time.monotonic() - started < 1.0
