import json
import time

import pytest

from localcloud.sfn import Integrations
from localcloud.sfn.interpreter import retry_delay
from tests.localcloud.sfn.helpers import bare_lambda_task, run

SLACK_S = 0.3  # scheduling delay allowed on a loaded 2-core machine; far below the unscaled intervals


class Flaky:
    """A handler that fails `failures` times (with `error`), then returns; records call times and inputs."""

    def __init__(self, failures: int, error: type[Exception] = ValueError, hold_s: float = 0.0) -> None:
        self.failures, self.error, self.hold_s = failures, error, hold_s
        self.calls: list[float] = []
        self.events: list = []

    def __call__(self, event, context):
        self.calls.append(time.monotonic())
        self.events.append(event)
        time.sleep(self.hold_s)
        if len(self.calls) <= self.failures:
            raise self.error(f"failure {len(self.calls)}")
        return {"ok": True}

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.calls, self.calls[1:], strict=False)]


def machine(retry: list[dict], catch: list[dict] | None = None, **task_fields) -> dict:
    task = bare_lambda_task("Flaky", Retry=retry, Next="Done",
                            Parameters={"retry.$": "$$.State.RetryCount", "in.$": "$"}, **task_fields)
    if catch:
        task["Catch"] = catch
    return {"StartAt": "T", "States": {"T": task, "Done": {"Type": "Succeed"},
                                       "Recover": {"Type": "Pass", "End": True}}}


def flaky_run(handler: Flaky, definition: dict, execution_input=None, **options):
    options.setdefault("time_scale", 0.01)
    return run(definition, execution_input or {"x": 1}, Integrations().register_lambda("Flaky", handler), **options)


def test_retries_until_success_and_counts_retries_in_the_context():
    handler = Flaky(failures=2)
    result = flaky_run(handler, machine([{"ErrorEquals": ["ValueError"], "IntervalSeconds": 1, "MaxAttempts": 3}]))
    assert result.status == "SUCCEEDED"
    assert [e["retry"] for e in handler.events] == [0, 1, 2]
    assert len(result.events_of("LambdaFunctionFailed")) == 2
    assert len(result.events_of("TaskStateEntered")) == 1  # retries stay inside the state


def test_exhausted_retries_go_to_catch_with_the_error_object():
    handler = Flaky(failures=10)
    definition = machine([{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                         [{"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Recover"}])
    result = flaky_run(handler, definition)
    assert len(handler.calls) == 3  # the first attempt and two retries
    assert result.states_entered() == ["T", "Recover"]
    assert result.output["x"] == 1  # the catcher's ResultPath keeps the state's input
    assert result.output["error"]["Error"] == "ValueError"
    cause = json.loads(result.output["error"]["Cause"])
    assert cause["errorType"] == "ValueError" and cause["errorMessage"] == "failure 3"
    assert isinstance(cause["stackTrace"], list) and "raise self.error" in "".join(cause["stackTrace"])


def test_backoff_intervals_are_scaled():
    handler = Flaky(failures=3)
    retry = [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3}]
    flaky_run(handler, machine(retry), time_scale=0.02)
    for gap, nominal in zip(handler.gaps(), [0.04, 0.12, 0.36], strict=True):  # 2, 6, 18 s x 0.02
        assert nominal <= gap < nominal + SLACK_S


def test_max_delay_caps_the_backoff():
    handler = Flaky(failures=3)
    retry = [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 2, "BackoffRate": 10, "MaxAttempts": 3,
              "MaxDelaySeconds": 3}]
    flaky_run(handler, machine(retry), time_scale=0.02)
    for gap, nominal in zip(handler.gaps(), [0.04, 0.06, 0.06], strict=True):  # uncapped: 0.04, 0.4, 4 s
        assert nominal <= gap < nominal + SLACK_S


def test_full_jitter_stays_below_the_nominal_delay():
    retrier = {"ErrorEquals": ["X"], "IntervalSeconds": 4, "BackoffRate": 2, "JitterStrategy": "FULL"}
    delays = [retry_delay(retrier, 2) for _ in range(200)]
    assert all(0 <= d <= 16 for d in delays) and len(set(delays)) > 100
    assert retry_delay({**retrier, "JitterStrategy": "NONE"}, 2) == 16


def test_zero_max_attempts_never_retries():
    handler = Flaky(failures=1)
    result = flaky_run(handler, machine([{"ErrorEquals": ["ValueError"], "MaxAttempts": 0}]))
    assert (result.status, result.error, len(handler.calls)) == ("FAILED", "ValueError", 1)


def test_only_the_first_matching_retrier_counts():
    handler = Flaky(failures=10)
    retry = [{"ErrorEquals": ["ValueError"], "MaxAttempts": 1, "IntervalSeconds": 1},
             {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5, "IntervalSeconds": 1}]
    result = flaky_run(handler, machine(retry))
    assert (result.status, len(handler.calls)) == ("FAILED", 2)


def test_task_failed_matches_errors_but_not_timeouts():
    handler = Flaky(failures=0, hold_s=1.0)
    definition = machine([{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 3}],
                         [{"ErrorEquals": ["States.Timeout"], "Next": "Recover"}], TimeoutSeconds=1)
    started = time.monotonic()
    result = flaky_run(handler, definition, timeout_scale=0.1)
    assert time.monotonic() - started < 0.9
    assert result.states_entered() == ["T", "Recover"]
    assert result.output["Error"] == "States.Timeout"
    assert len(handler.calls) == 1  # not retried
    assert len(result.events_of("LambdaFunctionTimedOut")) == 1

    handler = Flaky(failures=1, error=KeyError)
    result = flaky_run(handler, machine([{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}]))
    assert (result.status, len(handler.calls)) == ("SUCCEEDED", 2)


@pytest.mark.parametrize("error_equals", [["States.ALL"], ["States.Runtime"]])
def test_runtime_errors_are_never_retried_or_caught(error_equals):
    handler = Flaky(failures=0)
    definition = machine([{"ErrorEquals": error_equals}], [{"ErrorEquals": error_equals, "Next": "Recover"}],
                         OutputPath="$.missing")
    result = flaky_run(handler, definition)
    assert (result.status, result.error, len(handler.calls)) == ("FAILED", "States.Runtime", 1)


def test_catch_result_path_null_and_default():
    handler = Flaky(failures=10)
    kept = flaky_run(handler, machine([], [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Recover"}]))
    assert kept.output == {"x": 1}
    replaced = flaky_run(Flaky(failures=10), machine([], [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}]))
    assert set(replaced.output) == {"Error", "Cause"}
