import pytest

from localcloud.sfn import choice
from localcloud.sfn.errors import StatesError
from tests.localcloud.sfn.helpers import run

DATA = {
    "s": "banana", "n": 7, "f": 7.0, "b": True, "t": "2016-03-14T01:59:00Z", "t2": "2016-03-14T02:59:00+01:00",
    "none": None, "other": "cherry", "limit": 10, "list": [1],
}


@pytest.mark.parametrize(("rule", "expected"), [
    ({"StringEquals": "banana"}, True),
    ({"StringEquals": "apple"}, False),
    ({"StringLessThan": "cherry"}, True),
    ({"StringGreaterThan": "apple"}, True),
    ({"StringLessThanEquals": "banana"}, True),
    ({"StringGreaterThanEquals": "c"}, False),
    ({"StringEqualsPath": "$.other"}, False),
    ({"StringLessThanPath": "$.other"}, True),
    ({"StringMatches": "ba*a"}, True),
    ({"StringMatches": "*nan*"}, True),
    ({"StringMatches": "b*x"}, False),
    ({"IsString": True}, True),
    ({"IsNumeric": False}, True),
    ({"IsPresent": True}, True),
    ({"NumericEquals": 7}, False),  # a string never equals a number: false, not an error
])
def test_string_rules(rule, expected):
    assert choice.evaluate({"Variable": "$.s", **rule}, DATA) is expected


@pytest.mark.parametrize(("rule", "expected"), [
    ({"NumericEquals": 7}, True),
    ({"NumericEquals": 7.0}, True),
    ({"NumericLessThan": 7.5}, True),
    ({"NumericGreaterThan": 7}, False),
    ({"NumericLessThanEquals": 7}, True),
    ({"NumericGreaterThanEquals": 8}, False),
    ({"NumericLessThanPath": "$.limit"}, True),
    ({"NumericEqualsPath": "$.f"}, True),
    ({"NumericGreaterThanEqualsPath": "$.limit"}, False),
    ({"IsNumeric": True}, True),
    ({"StringEquals": "7"}, False),
])
def test_numeric_rules(rule, expected):
    assert choice.evaluate({"Variable": "$.n", **rule}, DATA) is expected


@pytest.mark.parametrize(("variable", "rule", "expected"), [
    ("$.b", {"BooleanEquals": True}, True),
    ("$.b", {"BooleanEqualsPath": "$.b"}, True),
    ("$.n", {"BooleanEquals": True}, False),  # 7 is not a boolean
    ("$.b", {"IsBoolean": True}, True),
    ("$.t", {"TimestampEquals": "2016-03-14T01:59:00Z"}, True),
    ("$.t", {"TimestampEqualsPath": "$.t2"}, True),  # the same instant in another offset
    ("$.t", {"TimestampLessThan": "2016-03-14T02:00:00Z"}, True),
    ("$.t", {"TimestampGreaterThan": "2016-03-14T02:00:00Z"}, False),
    ("$.t", {"TimestampLessThanEquals": "2016-03-14T01:59:00Z"}, True),
    ("$.t", {"TimestampGreaterThanEqualsPath": "$.t2"}, True),
    ("$.t", {"IsTimestamp": True}, True),
    ("$.s", {"IsTimestamp": True}, False),
    ("$.s", {"TimestampEquals": "2016-03-14T01:59:00Z"}, False),
    ("$.none", {"IsNull": True}, True),
    ("$.n", {"IsNull": True}, False),
    ("$.missing", {"IsPresent": False}, True),
    ("$.list[0]", {"IsPresent": True}, True),
    ("$.list[1]", {"IsPresent": True}, False),
])
def test_other_rules(variable, rule, expected):
    assert choice.evaluate({"Variable": variable, **rule}, DATA) is expected


def test_string_matches_escapes():
    assert choice.evaluate({"Variable": "$.v", "StringMatches": r"log-\*.txt"}, {"v": "log-*.txt"})
    assert not choice.evaluate({"Variable": "$.v", "StringMatches": r"log-\*.txt"}, {"v": "log-1.txt"})
    assert choice.evaluate({"Variable": "$.v", "StringMatches": r"a\\b*"}, {"v": "a\\bcd"})


def test_and_or_not():
    twenties = {"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 20},
                        {"Variable": "$.n", "NumericLessThan": 30}]}
    assert choice.evaluate(twenties, {"n": 25}) and not choice.evaluate(twenties, {"n": 30})
    either = {"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Not": {"Variable": "$.s", "IsPresent": True}}]}
    assert choice.evaluate(either, {"n": 5}) and not choice.evaluate(either, {"n": 5, "s": "x"})


def test_missing_variable_is_a_runtime_error():
    with pytest.raises(StatesError) as info:
        choice.evaluate({"Variable": "$.missing", "StringEquals": "x"}, DATA)
    assert info.value.error == "States.Runtime"
    with pytest.raises(StatesError):
        choice.evaluate({"Variable": "$.n", "NumericEqualsPath": "$.missing"}, DATA)


SPEC_CHOICE = {  # the Choice example of the ASL specification
    "StartAt": "ChoiceStateX",
    "States": {
        "ChoiceStateX": {
            "Type": "Choice",
            "Choices": [
                {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
                {"And": [{"Variable": "$.value", "NumericGreaterThanEquals": 20},
                         {"Variable": "$.value", "NumericLessThan": 30}], "Next": "ValueInTwenties"},
            ],
            "Default": "DefaultState",
        },
        "Public": {"Type": "Pass", "End": True},
        "ValueIsZero": {"Type": "Pass", "End": True},
        "ValueInTwenties": {"Type": "Pass", "End": True},
        "DefaultState": {"Type": "Fail", "Error": "DefaultStateError", "Cause": "No Matches!"},
    },
}


@pytest.mark.parametrize(("execution_input", "reached"), [
    ({"type": "Public", "value": 0}, "Public"),
    ({"type": "Private", "value": 0}, "ValueIsZero"),
    ({"type": "Private", "value": 22}, "ValueInTwenties"),
])
def test_spec_choice_example(execution_input, reached):
    result = run(SPEC_CHOICE, execution_input)
    assert result.status == "SUCCEEDED"
    assert result.states_entered() == ["ChoiceStateX", reached]
    assert result.output == execution_input


def test_spec_choice_example_default_fails():
    result = run(SPEC_CHOICE, {"type": "Private", "value": 31})
    assert (result.status, result.error, result.cause) == ("FAILED", "DefaultStateError", "No Matches!")


def test_no_default_and_no_match():
    definition = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "E"}]},
        "E": {"Type": "Succeed"}}}
    result = run(definition, {"n": 2})
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")
