import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from localcloud.sfn import Integrations
from tests.localcloud.sfn.helpers import bare_lambda_task, run, single


def test_pass_result_into_result_path():  # the Pass example of the ASL specification
    definition = single({"Type": "Pass", "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
                         "ResultPath": "$.coords"})
    result = run(definition, {"georefOf": "Home"})
    assert result.output == {"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}}


def test_pass_without_result_passes_its_input_or_parameters():
    assert run(single({"Type": "Pass"}), {"a": 1}).output == {"a": 1}
    assert run(single({"Type": "Pass", "Parameters": {"b.$": "$.a"}, "ResultPath": "$.p"}), {"a": 1}).output == {
        "a": 1, "p": {"b": 1}}


def test_pass_state_context_has_no_retry_count():  # only states that can Retry have $$.State.RetryCount
    result = run(single({"Type": "Pass", "Parameters": {"state.$": "$$.State"}}))
    assert sorted(result.output["state"]) == ["EnteredTime", "Name"]
    result = run(single({"Type": "Pass", "Parameters": {"n.$": "$$.State.RetryCount"}}))
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_task_map_and_parallel_contexts_have_a_retry_count():
    definition = {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}],
              "ResultSelector": {"n.$": "$$.State.RetryCount"}, "ResultPath": "$.p", "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"n.$": "$$.State.RetryCount"},
              "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
              "ResultPath": "$.m", "End": True}}}
    result = run(definition, {"items": [1]})
    assert result.output == {"items": [1], "p": {"n": 0}, "m": [{"n": 0}]}


@pytest.mark.parametrize("wait", [{"Seconds": 100}, {"SecondsPath": "$.delay"}])
def test_wait_seconds_scaled(wait):
    started = time.monotonic()
    result = run(single({"Type": "Wait", **wait}), {"delay": 100}, time_scale=0.001)
    elapsed = time.monotonic() - started
    assert result.output == {"delay": 100}
    assert 0.09 <= elapsed < 1.0  # 100 s x 0.001


def test_wait_until_timestamp():
    soon = (datetime.now(UTC) + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.monotonic()
    assert run(single({"Type": "Wait", "TimestampPath": "$.at"}), {"at": soon}, time_scale=0.01).status == "SUCCEEDED"
    assert 0.1 <= time.monotonic() - started < 1.5
    started = time.monotonic()
    assert run(single({"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z"}), {}, time_scale=1).status == "SUCCEEDED"
    assert time.monotonic() - started < 1.0  # in the past: no wait (the unscaled check: seconds, not years)


@pytest.mark.parametrize("bad", [{"delay": -1}, {"delay": "ten"}, {"delay": 1.5}])
def test_wait_with_a_bad_seconds_path_fails(bad):
    result = run(single({"Type": "Wait", "SecondsPath": "$.delay"}), bad)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_succeed_with_paths():
    definition = single({"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"})
    del definition["States"]["S"]["End"]
    assert run(definition, {"a": {"b": [1]}}).output == [1]


def test_fail_error_and_cause():
    result = run({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "because"}}})
    assert (result.status, result.error, result.cause) == ("FAILED", "Oops", "because")


@pytest.mark.parametrize("fields", [{}, {"Cause": "because"}])
def test_fail_without_error_reports_none(fields):  # recorded on AWS: ExecutionFailed carries no error
    result = run({"StartAt": "F", "States": {"F": {"Type": "Fail", **fields}}})
    assert (result.status, result.error, result.cause) == ("FAILED", None, fields.get("Cause"))
    assert result.events_of("ExecutionFailed")[0].error is None


def test_fail_error_path_and_intrinsic_cause_path():
    definition = {"StartAt": "F", "States": {"F": {
        "Type": "Fail", "ErrorPath": "$.err.name", "CausePath": "States.Format('shot {} failed', $.err.shot)"}}}
    result = run(definition, {"err": {"name": "ShotFailed", "shot": 3}})
    assert (result.error, result.cause) == ("ShotFailed", "shot 3 failed")


SHIPMENT = {  # the Map example of the AWS developer guide
    "ship-date": "2016-03-14T01:59:00Z",
    "detail": {
        "delivery-partner": "UQS",
        "shipped": [
            {"prod": "R31", "dest-code": 9511, "quantity": 1344},
            {"prod": "S39", "dest-code": 9511, "quantity": 40},
            {"prod": "R31", "dest-code": 9833, "quantity": 12},
        ],
    },
}


def test_map_with_item_selector_and_context_item():
    definition = single({
        "Type": "Map",
        "ItemsPath": "$.detail.shipped",
        "ItemSelector": {"parcel.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index",
                         "courier.$": "$.detail.delivery-partner"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Validate", "States": {
            "Validate": {"Type": "Pass", "Parameters": {"prod.$": "$.parcel.prod", "n.$": "$.index",
                                                        "by.$": "$.courier"}, "End": True}}},
        "ResultPath": "$.detail.shipped",
    })
    result = run(definition, SHIPMENT)
    assert result.output == {**SHIPMENT, "detail": {"delivery-partner": "UQS", "shipped": [
        {"prod": "R31", "n": 0, "by": "UQS"}, {"prod": "S39", "n": 1, "by": "UQS"}, {"prod": "R31", "n": 2, "by": "UQS"}]}}
    assert len(result.events_of("MapIterationSucceeded")) == 3
    assert result.events_of("MapStateStarted")[0].details["length"] == 3


def test_map_legacy_iterator_and_parameters():
    definition = single({"Type": "Map", "ItemsPath": "$.xs", "Parameters": {"v.$": "$$.Map.Item.Value", "k.$": "$.k"},
                         "Iterator": {"StartAt": "P", "States": {"P": {
                             "Type": "Pass", "Parameters": {"s.$": "States.MathAdd($.v, $.k)"}, "End": True}}}})
    assert run(definition, {"xs": [1, 2, 3], "k": 10}).output == [{"s": 11}, {"s": 12}, {"s": 13}]


def _concurrency_probe(hold_s: float) -> tuple[Integrations, dict]:
    stats = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def work(event, context):
        with lock:
            stats["now"] += 1
            stats["peak"] = max(stats["peak"], stats["now"])
        time.sleep(hold_s)
        with lock:
            stats["now"] -= 1
        return event * 2

    return Integrations().register_lambda("Work", work), stats


@pytest.mark.parametrize(("max_concurrency", "peak"), [(2, 2), (1, 1), (0, 6)])
def test_map_max_concurrency(max_concurrency, peak):
    integrations, stats = _concurrency_probe(0.05)
    definition = single({"Type": "Map", "MaxConcurrency": max_concurrency, "ItemProcessor": {
        "StartAt": "W", "States": {"W": bare_lambda_task("Work", End=True)}}})
    result = run(definition, [1, 2, 3, 4, 5, 6], integrations)
    assert result.output == [2, 4, 6, 8, 10, 12]  # in item order, whatever the finishing order
    assert stats["peak"] == peak


def test_map_failure_stops_the_other_iterations_and_can_be_caught():
    started = []

    def work(event, context):
        started.append(event)
        if event == 0:
            raise RuntimeError("bad item")
        time.sleep(0.05)
        return event

    definition = {"StartAt": "M", "States": {
        "M": {"Type": "Map", "MaxConcurrency": 1, "ItemProcessor": {
            "StartAt": "W", "States": {"W": bare_lambda_task("Work", End=True)}},
            "Catch": [{"ErrorEquals": ["RuntimeError"], "Next": "Handled"}], "End": True},
        "Handled": {"Type": "Pass", "End": True},
    }}
    result = run(definition, list(range(5)), Integrations().register_lambda("Work", work))
    assert result.status == "SUCCEEDED"
    assert result.output["Error"] == "RuntimeError"
    assert started == [0]  # sequential map: nothing after the failed iteration starts
    assert [e.type for e in result.events if e.type.startswith("MapState")] == [
        "MapStateEntered", "MapStateStarted", "MapStateFailed", "MapStateExited"]


def test_map_items_path_must_be_an_array():
    definition = single({"Type": "Map", "ItemsPath": "$.x", "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}})
    result = run(definition, {"x": {"not": "array"}})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_parallel_outputs_in_branch_order():
    definition = single({
        "Type": "Parallel", "Parameters": {"v.$": "$.v"}, "ResultSelector": {"sum.$": "States.MathAdd($[0], $[1])"},
        "Branches": [
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 50, "Next": "A"},
                                           "A": {"Type": "Pass", "InputPath": "$.v", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": 100, "End": True}}},
        ],
        "ResultPath": "$.r",
    })
    result = run(definition, {"v": 5}, time_scale=0.001)
    assert result.output == {"v": 5, "r": {"sum": 105}}
    assert [e.type for e in result.events if e.type.startswith("ParallelState")] == [
        "ParallelStateEntered", "ParallelStateStarted", "ParallelStateSucceeded", "ParallelStateExited"]


def test_parallel_failure_aborts_the_other_branch():
    definition = single({"Type": "Parallel", "Branches": [
        {"StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 3600, "Next": "Never"},
                                       "Never": {"Type": "Pass", "End": True}}},
        {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "BranchBroke", "Cause": "c"}}},
    ]})
    started = time.monotonic()
    result = run(definition, {}, time_scale=1.0)
    assert time.monotonic() - started < 2.0
    assert (result.status, result.error) == ("FAILED", "BranchBroke")
    assert "Never" not in result.states_entered()
