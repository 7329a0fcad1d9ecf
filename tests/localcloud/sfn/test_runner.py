import threading
import time

import pytest

from localcloud.sfn import DefinitionError, ExecutionAlreadyExists, Integrations, LocalStateMachine
from tests.localcloud.sfn.helpers import bare_lambda_task, single

WAIT_THEN_ECHO = {"StartAt": "Nap", "States": {
    "Nap": {"Type": "Wait", "SecondsPath": "$.nap", "Next": "Echo"},
    "Echo": bare_lambda_task("Echo", End=True),
}}


def echo_machine(**options) -> LocalStateMachine:
    return LocalStateMachine(WAIT_THEN_ECHO, Integrations().register_lambda("Echo", lambda e, c: e), **options)


def test_history_like_get_execution_history():
    result = echo_machine(time_scale=0.001).execute({"nap": 1}, name="h1", timeout=10)
    assert [(e.type, e.state_name) for e in result.events] == [
        ("ExecutionStarted", None),
        ("WaitStateEntered", "Nap"), ("WaitStateExited", "Nap"),
        ("TaskStateEntered", "Echo"), ("LambdaFunctionScheduled", "Echo"), ("LambdaFunctionStarted", "Echo"),
        ("LambdaFunctionSucceeded", "Echo"), ("TaskStateExited", "Echo"),
        ("ExecutionSucceeded", None),
    ]
    assert [e.id for e in result.events] == list(range(1, 10))
    assert [e.previous_event_id for e in result.events] == list(range(0, 9))
    assert result.events[0].input == {"nap": 1} and result.events[-1].output == {"nap": 1}
    assert result.events[0].timestamp <= result.events[-1].timestamp
    assert result.start_date <= result.stop_date


def test_progress_hook_sees_states_enter_and_exit_in_order():
    seen = []

    def hook(event):
        if event.is_state_entered or event.is_state_exited:
            seen.append((event.type, event.state_name))
        raise RuntimeError("a broken display must not break the run")

    result = echo_machine(time_scale=0.001, on_event=hook).execute({"nap": 1}, timeout=10)
    assert result.status == "SUCCEEDED"
    assert seen == [("WaitStateEntered", "Nap"), ("WaitStateExited", "Nap"),
                    ("TaskStateEntered", "Echo"), ("TaskStateExited", "Echo")]


def test_stop_aborts_a_waiting_execution():
    execution = echo_machine().start({"nap": 3600})
    with pytest.raises(TimeoutError):
        execution.wait(0.1)
    assert execution.status == "RUNNING"
    execution.stop(error="UserStop", cause="enough")
    result = execution.wait(2)
    assert (result.status, result.error, result.cause) == ("ABORTED", "UserStop", "enough")
    assert result.events[-1].type == "ExecutionAborted"


def test_stop_abandons_a_running_task():
    release = threading.Event()
    machine = LocalStateMachine(single(bare_lambda_task("Stuck")),
                                Integrations().register_lambda("Stuck", lambda e, c: release.wait(10)))
    execution = machine.start({})
    time.sleep(0.05)
    execution.stop()
    assert execution.wait(2).status == "ABORTED"
    release.set()


def test_execution_timeout():
    definition = {**WAIT_THEN_ECHO, "TimeoutSeconds": 1}
    machine = LocalStateMachine(definition, Integrations().register_lambda("Echo", lambda e, c: e), timeout_scale=0.1)
    started = time.monotonic()
    result = machine.execute({"nap": 3600}, timeout=5)
    assert 0.1 <= time.monotonic() - started < 1.0
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert result.events[-1].type == "ExecutionTimedOut"


def test_concurrent_executions_are_independent():
    machine = echo_machine(time_scale=0.01)
    runs = [machine.start({"nap": 10, "k": k}, name=f"run-{k}") for k in range(4)]
    results = [r.wait(10) for r in runs]
    assert [r.output for r in results] == [{"nap": 10, "k": k} for k in range(4)]
    assert all(len(r.events) == 9 for r in results)
    assert len({r.execution_arn for r in results}) == 4
    with pytest.raises(ExecutionAlreadyExists):
        machine.start({"nap": 0}, name="run-0")


def test_input_must_be_json_and_is_copied():
    original = {"nap": 0, "list": [1]}
    result = echo_machine().execute(original, timeout=5)
    result.output["list"].append(2)
    assert original == {"nap": 0, "list": [1]}
    with pytest.raises(TypeError):
        echo_machine().start({"nap": object()})


@pytest.mark.parametrize(("definition", "message"), [
    ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}, "unknown state 'B'"),
    ({"StartAt": "Z", "States": {"A": {"Type": "Pass", "End": True}}}, "StartAt 'Z'"),
    ({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}, "neither Next nor End"),
    ({"StartAt": "A", "States": {"A": {"Type": "Loop", "End": True}}}, "unknown Type"),
    ({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}, "JSONata"),
    ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"x": 1}, "End": True}}}, "variables"),
    ({"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Q"}}}}}}, "M.ItemProcessor/: state 'P'"),
])
def test_definitions_that_cannot_run_are_refused(definition, message):
    with pytest.raises(DefinitionError, match=message):
        LocalStateMachine(definition)


def _pass(**fields):
    return {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, **fields}}}


# Refused by CreateStateMachine on AWS (recorded), so refused here before anything runs, not at run time.
@pytest.mark.parametrize(("definition", "message"), [
    ({"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": "2024-01-01 10:00:00", "End": True}}},
     "not an RFC 3339 timestamp"),
    ({"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": "tomorrow", "End": True}}}, "RFC 3339"),
    (_pass(Parameters={"x.$": """States.Format('say \\"hi\\"')"""}), "not a valid escape"),
    (_pass(Parameters={"deep": [{"x.$": "States.Nope(1)"}]}), "unknown intrinsic function States.Nope"),
    (_pass(Parameters={"x.$": "States.Array(1"}), "invalid intrinsic"),
    ({"StartAt": "F", "States": {"F": {"Type": "Fail", "CausePath": "States.Format('{}', $.a"}}}, "invalid intrinsic"),
])
def test_definitions_aws_refuses_at_creation_are_refused(definition, message):
    with pytest.raises(DefinitionError, match=message):
        LocalStateMachine(definition)


def test_documented_escapes_and_non_dollar_fields_are_not_refused():
    LocalStateMachine(_pass(Parameters={"x.$": r"States.Format('\' \{ \} \\ {}', $.a)", "y": "States.Nope("}))
