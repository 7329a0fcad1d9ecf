"""A definition exactly as CDK synthesizes it: LambdaInvoke + Choice loop + Pass with States.MathAdd,
flattened by localcloud.asl and run with a Python callable standing in for the Lambda."""

import json

import pytest

from localcloud.asl import state_machines
from localcloud.sfn import Integrations, LocalStateMachine


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    import aws_cdk as cdk  # after tests/conftest.py put the venv's Node first
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_stepfunctions as sfn
    from aws_cdk import aws_stepfunctions_tasks as tasks

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "LoopStack")
    function = lambda_.Function(stack, "Square", runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
                                code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"))
    work = tasks.LambdaInvoke(
        stack, "Work", lambda_function=function,
        payload=sfn.TaskInput.from_object({"n.$": "$.count", "run.$": "$$.Execution.Name"}),
        result_selector={"square.$": "$.Payload.square"}, result_path="$.last",
    )
    count = sfn.Pass(stack, "Count", parameters={
        "count.$": "States.MathAdd($.count, 1)", "limit.$": "$.limit",
        "squares.$": "States.ArrayUnique(States.Array($.last.square))", "total.$": "$.last.square"})
    more = sfn.Choice(stack, "More").when(sfn.Condition.number_less_than_json_path("$.count", "$.limit"), work)
    more.otherwise(sfn.Succeed(stack, "Done"))
    sfn.StateMachine(stack, "Loop", definition_body=sfn.DefinitionBody.from_chainable(work.next(count).next(more)))
    app.synth()
    template = json.loads((outdir / "LoopStack.template.json").read_text())
    return outdir, template


def test_cdk_loop_runs_locally(synthesized):
    outdir, template = synthesized
    (logical_id, definition), = state_machines(template).items()
    function_id, = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Function"]
    assert definition["States"]["Work"]["Resource"] == "arn:aws:states:::lambda:invoke"
    assert definition["States"]["Work"]["Retry"][0]["ErrorEquals"][0].startswith("Lambda.")  # CDK's default retry

    calls = []

    def square(event, context):
        calls.append(event)
        return {"square": event["n"] ** 2}

    integrations = Integrations().register_lambda(function_id, square)  # localcloud.asl names functions by logical id
    result = LocalStateMachine(definition, integrations, name=logical_id).execute(
        {"count": 0, "limit": 3}, name="loop-1", timeout=20)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"count": 3, "limit": 3, "squares": [4], "total": 4}
    assert calls == [{"n": 0, "run": "loop-1"}, {"n": 1, "run": "loop-1"}, {"n": 2, "run": "loop-1"}]
    assert result.states_entered() == ["Work", "Count", "More"] * 3 + ["Done"]

    # the same definition straight from the cloud assembly
    machine = LocalStateMachine.from_cdk_out(outdir, "Loop", integrations)
    assert machine.name == logical_id
    assert machine.execute({"count": 2, "limit": 3}, timeout=20).output["total"] == 4
