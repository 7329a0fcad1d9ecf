"""Map: MaxConcurrency/ToleratedFailure* values (literal and ...Path) and the tolerated failure thresholds."""

import pytest

from localcloud.sfn import DefinitionError, LocalStateMachine
from tests.localcloud.sfn.helpers import run, single

# an item {"bad": true} fails its iteration with error "Bad"; any other item passes through
PROCESSOR = {"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Choices": [{"Variable": "$.bad", "BooleanEquals": True, "Next": "F"}], "Default": "OK"},
    "F": {"Type": "Fail", "Error": "Bad", "Cause": "a bad item"},
    "OK": {"Type": "Pass", "End": True},
}}
BAD = {"Error": "Bad", "Cause": "a bad item"}


def map_of(**fields) -> dict:
    return single({"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": PROCESSOR, **fields})


def items(bad: int, good: int) -> list[dict]:
    return [{"bad": True}] * bad + [{"bad": False}] * good


@pytest.mark.parametrize(("field", "value"), [
    ("MaxConcurrencyPath", "2"), ("MaxConcurrencyPath", -1), ("MaxConcurrencyPath", 1.5), ("MaxConcurrencyPath", None),
    ("ToleratedFailureCountPath", "1"), ("ToleratedFailureCountPath", -1), ("ToleratedFailureCountPath", 0.5),
    ("ToleratedFailurePercentagePath", 101), ("ToleratedFailurePercentagePath", -0.5),
    ("ToleratedFailurePercentagePath", "10"), ("ToleratedFailurePercentagePath", True),
])
def test_invalid_path_values_fail_with_states_runtime(field, value):
    result = run(map_of(**{field: "$.v"}), {"items": items(0, 2), "v": value})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert field in result.cause


@pytest.mark.parametrize(("field", "value"), [
    ("MaxConcurrencyPath", 1), ("MaxConcurrencyPath", 0), ("MaxConcurrencyPath", 3.0),
    ("ToleratedFailureCountPath", 0), ("ToleratedFailurePercentagePath", 100), ("ToleratedFailurePercentagePath", 2.5),
])
def test_valid_path_values_run(field, value):
    result = run(map_of(**{field: "$.v"}), {"items": items(0, 3), "v": value})
    assert (result.status, result.output) == ("SUCCEEDED", items(0, 3))


@pytest.mark.parametrize(("fields", "bad", "good", "succeeds"), [
    ({"ToleratedFailureCount": 2}, 2, 3, True),  # the count is exceeded only by *more* failures
    ({"ToleratedFailureCount": 1}, 2, 3, False),
    ({"ToleratedFailureCount": 0}, 1, 3, False),
    ({"ToleratedFailurePercentage": 25}, 1, 3, True),  # 1 of 4 items = 25 %: not more than 25
    ({"ToleratedFailurePercentage": 24.9}, 1, 3, False),
    ({"ToleratedFailurePercentage": 100}, 4, 0, True),
    ({"ToleratedFailurePercentage": 0}, 1, 9, False),
    ({"ToleratedFailureCount": 5, "ToleratedFailurePercentage": 10}, 1, 3, False),  # either one exceeded fails
    ({"ToleratedFailureCountPath": "$.n"}, 2, 1, True),
    ({"ToleratedFailurePercentagePath": "$.p"}, 2, 1, False),  # 66.7 % > 50 %
])
def test_tolerated_failures(fields, bad, good, succeeds):
    result = run(map_of(**fields), {"items": items(bad, good), "n": 2, "p": 50})
    if succeeds:
        assert result.status == "SUCCEEDED"
        assert result.output == [BAD] * bad + items(0, good)  # a tolerated item leaves its error object
        assert len(result.events_of("MapIterationFailed")) == bad
    else:
        assert (result.status, result.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")


def test_without_a_tolerance_the_first_failure_keeps_its_own_error():
    result = run(map_of(), {"items": items(1, 3)})
    assert (result.status, result.error, result.cause) == ("FAILED", "Bad", "a bad item")


def test_exceeding_the_threshold_can_be_caught():
    definition = {"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": PROCESSOR, "ToleratedFailureCount": 0,
              "Catch": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "ResultPath": "$.e",
                         "Next": "Done"}], "End": True},
        "Done": {"Type": "Pass", "End": True}}}
    result = run(definition, {"items": items(1, 1)})
    assert result.status == "SUCCEEDED"
    assert result.output["e"]["Error"] == "States.ExceedToleratedFailureThreshold"


@pytest.mark.parametrize(("fields", "message"), [
    ({"MaxConcurrency": 2, "MaxConcurrencyPath": "$.m"}, "cannot both be given"),
    ({"ToleratedFailureCount": 1, "ToleratedFailureCountPath": "$.n"}, "cannot both be given"),
    ({"MaxConcurrency": -1}, "MaxConcurrency must be a non-negative integer"),
    ({"ToleratedFailureCount": 1.5}, "ToleratedFailureCount must be a non-negative integer"),
    ({"ToleratedFailurePercentage": 150}, "ToleratedFailurePercentage must be a number between 0 and 100"),
])
def test_invalid_literals_are_refused_at_creation(fields, message):
    with pytest.raises(DefinitionError, match=message):
        LocalStateMachine(map_of(**fields))
