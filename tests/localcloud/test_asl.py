"""The state machine validation helper, on a small synthesized machine and on broken definitions, and
on every state machine the app synthesizes."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from localcloud.asl import resolve, state_machines, state_machines_in_cdk_out, validate


@pytest.fixture(scope="module")
def sample_template() -> dict:
    """A JSONPath machine whose definition references a Lambda, so CDK emits Fn::Join."""
    app = cdk.App()
    stack = cdk.Stack(app, "AslSample")
    fn = lambda_.Function(stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
                          code=lambda_.Code.from_inline("def handler(e, c): return e"))
    step = tasks.LambdaInvoke(stack, "Step", lambda_function=fn, payload_response_only=True)
    done = sfn.Succeed(stack, "Done")
    choice = sfn.Choice(stack, "More?").when(sfn.Condition.boolean_equals("$.more", True), step).otherwise(done)
    sfn.StateMachine(stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(step.next(choice)))
    return app.synth().get_stack_by_name("AslSample").template


def test_a_synthesized_definition_is_flattened_and_valid(sample_template):
    (definition,) = state_machines(sample_template).values()
    assert definition["StartAt"] == "Step"
    assert definition["States"]["Step"]["Resource"].startswith("arn:aws:lambda:us-east-1:123456789012:function:")
    assert validate(definition) == []


def test_a_broken_definition_is_reported():
    errors = validate({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}})
    assert any("Nowhere" in e for e in errors)


def test_a_wrong_partition_in_a_resource_is_reported(sample_template):
    (definition,) = state_machines(sample_template).values()
    definition["States"]["Step"]["Resource"] = "arn:not-a-partition:states:::lambda:invoke"
    assert validate(definition) != []


def test_pseudo_parameters_and_joins_resolve():
    resources = {"Q": {"Type": "AWS::SQS::Queue"}}
    value = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":x/", {"Fn::GetAtt": ["Q", "Arn"]}]]}
    assert resolve(value, resources) == "arn:aws:x/arn:aws:sqs:us-east-1:123456789012:Q"


def test_a_stack_deployed_to_a_region_resolves_in_it_with_the_names_its_arns_carry():
    resources = {"C": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "nodes"}},
                 "T": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"Family": "node"}},
                 "P": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/x/details"}}}
    value = [{"Fn::GetAtt": ["C", "Arn"]}, {"Ref": "T"}, {"Ref": "P"}, {"Ref": "AWS::Region"}]
    assert resolve(value, resources, "us-east-2") == [
        "arn:aws:ecs:us-east-2:123456789012:cluster/nodes",  # the task ARNs a policy names carry "nodes"
        "arn:aws:ecs:us-east-2:123456789012:task-definition/node:1", "/x/details", "us-east-2"]


def test_each_stack_takes_its_region_from_the_manifest(synthesized):
    from localcloud.services.template import SynthesizedStack

    assert SynthesizedStack.load(synthesized.outdir, "AutoMonNodesStack").region == "us-east-2"
    assert SynthesizedStack.load(synthesized.outdir, "AutoMonCoordinatorStack").region == "us-west-2"
    assert SynthesizedStack.load(synthesized.outdir, "BatchStack").region == "us-east-1"  # environment-agnostic


def test_every_state_machine_the_app_synthesizes_is_valid(synthesized):
    machines = state_machines_in_cdk_out(synthesized.outdir)
    if not machines:
        pytest.skip("the app has no state machine yet (the LSRTM-SGD workflow adds the first)")
    for name, definition in machines.items():
        assert validate(definition) == [], name
