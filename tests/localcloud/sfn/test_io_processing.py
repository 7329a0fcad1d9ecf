"""InputPath -> Parameters -> ResultSelector -> ResultPath -> OutputPath, with examples of the ASL
specification and the AWS developer guide and their documented outputs."""

from localcloud.sfn import Integrations
from tests.localcloud.sfn.helpers import bare_lambda_task, run, single


def adder() -> Integrations:
    return Integrations().register_lambda("Add", lambda event, context: event["val1"] + event["val2"])


def test_spec_example_input_result_and_output_paths():
    definition = single(bare_lambda_task("Add", InputPath="$.numbers", ResultPath="$.sum", OutputPath="$"))
    execution_input = {"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}}
    result = run(definition, execution_input, adder())
    assert result.output == {"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}, "sum": 7}


def test_spec_example_parameters_with_paths_and_slices():
    definition = single({"Type": "Pass", "Parameters": {
        "flagged": True, "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"}}})
    result = run(definition, {"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]})
    assert result.output == {"flagged": True, "parts": {"first": 0, "last3": [30, 40, 50]}}


def test_guide_example_result_selector_then_result_path():
    emr_result = {
        "resourceType": "elasticmapreduce",
        "resource": "createCluster.sync",
        "output": {"SdkHttpMetadata": {"HttpStatusCode": 200}, "SdkResponseMetadata": {"RequestId": "r"},
                   "ClusterId": "AKIAIOSFODNN7EXAMPLE"},
    }
    integrations = Integrations().register_service("elasticmapreduce:createCluster", lambda p, c: emr_result)
    definition = single({
        "Type": "Task", "Resource": "arn:aws:states:::elasticmapreduce:createCluster.sync",
        "ResultSelector": {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"},
        "ResultPath": "$.EMROutput",
    })
    result = run(definition, {"job": 1}, integrations)
    assert result.output == {"job": 1, "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE",
                                                     "ResourceType": "elasticmapreduce"}}


def test_guide_example_input_path():
    execution_input = {"comment": "Example for InputPath.", "dataset1": {"val1": 1, "val2": 2, "val3": 3},
                       "dataset2": {"val1": "a", "val2": "b", "val3": "c"}}
    result = run(single({"Type": "Pass", "InputPath": "$.dataset2"}), execution_input)
    assert result.output == {"val1": "a", "val2": "b", "val3": "c"}


def test_null_paths():
    seen = []
    integrations = Integrations().register_lambda("Echo", lambda event, context: seen.append(event) or "result")
    definition = single(bare_lambda_task("Echo", InputPath=None, ResultPath=None))
    assert run(definition, {"keep": 1}, integrations).output == {"keep": 1}  # ResultPath null: the input
    assert seen == [{}]  # InputPath null: an empty object
    assert run(single({"Type": "Pass", "OutputPath": None}), {"a": 1}).output == {}


def test_output_path_selects_part_of_the_result():
    definition = single({"Type": "Pass", "Result": {"x": {"y": 1}, "z": 2}, "ResultPath": "$.r", "OutputPath": "$.r.x"})
    assert run(definition, {"in": 0}).output == {"y": 1}


def test_context_object_in_parameters():
    definition = single({"Type": "Pass", "Parameters": {
        "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "input.$": "$$.Execution.Input",
        "state.$": "$$.State.Name", "machine.$": "$$.StateMachine.Name", "entered.$": "$$.State.EnteredTime",
    }}, name="Describe")
    result = run(definition, {"k": "v"}, name="Machine")
    out = result.output
    assert out["id"] == result.execution_arn == f"arn:aws:states:us-east-1:123456789012:execution:Machine:{result.name}"
    assert (out["name"], out["input"], out["state"], out["machine"]) == (result.name, {"k": "v"}, "Describe", "Machine")
    assert out["entered"].endswith("Z") and "T" in out["entered"]


def test_missing_parameter_path_is_an_uncatchable_runtime_error():
    definition = {"StartAt": "T", "States": {
        "T": bare_lambda_task("Add", Parameters={"val1.$": "$.nope", "val2": 1}, End=True,
                              Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]),
        "Caught": {"Type": "Succeed"},
    }}
    result = run(definition, {"a": 1}, adder())
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "The JSONPath '$.nope' specified for the field 'val1.$' could not be found" in result.cause


def test_missing_input_path_is_a_runtime_error():
    result = run(single({"Type": "Pass", "InputPath": "$.nope"}), {"a": 1})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_result_path_match_failure_can_be_caught():
    definition = {"StartAt": "T", "States": {
        "T": bare_lambda_task("Add", ResultPath="$.title.sum", End=True,
                              Catch=[{"ErrorEquals": ["States.ResultPathMatchFailure"], "ResultPath": "$.err",
                                      "Next": "Caught"}]),
        "Caught": {"Type": "Pass", "End": True},
    }}
    result = run(definition, {"title": "text", "val1": 1, "val2": 2}, adder())
    assert result.status == "SUCCEEDED"
    assert result.output["err"]["Error"] == "States.ResultPathMatchFailure"


def test_state_output_over_256_kib_fails_with_data_limit_exceeded():
    big = "x" * 262_144
    result = run(single({"Type": "Pass", "Result": big}), {})
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert run(single({"Type": "Pass", "Result": big}), {}, payload_limit_bytes=None).status == "SUCCEEDED"
