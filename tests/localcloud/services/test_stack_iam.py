"""What AWS checks with a role on its behalf, read from the synthesized BatchStack (localcloud/services/stack_iam.py)."""

from __future__ import annotations

import copy

import pytest

from localcloud.services.local_iam import AccessDenied, LocalIam
from localcloud.services.moto_server import moto_server
from localcloud.services.stack_iam import StackIam
from localcloud.services.template import SynthesizedStack
from localcloud.services.template_roles import PolicyResolver
from localcloud.sfn.errors import StatesError

MACHINE = "hpcx-LSRTM-SGD"


@pytest.fixture(scope="module")
def local_iam():
    with moto_server() as url:
        yield LocalIam(url)


def batch_stack(synthesized, edit=None) -> SynthesizedStack:
    stack = SynthesizedStack.load(synthesized.outdir, "BatchStack")
    if edit:
        template = copy.deepcopy(stack.template)
        edit(template["Resources"])
        stack = SynthesizedStack("BatchStack", template)
    return stack


def test_the_failure_rule_may_invoke_its_function_only_through_the_lambda_permission(synthesized, local_iam):
    stack = batch_stack(synthesized)
    # the Batch job-failed rule (the other rule, on aborted executions, targets the clean-up function)
    ((rule, _, (target,)),) = [r for r in stack.event_rules() if r[1].get("source") == ["aws.batch"]]
    StackIam(local_iam, PolicyResolver(stack)).check_rule_may_invoke(rule, target)

    def drop_permissions(resources):
        for key in [k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Permission"]:
            del resources[key]

    stripped = batch_stack(synthesized, drop_permissions)
    with pytest.raises(AccessDenied, match="events.amazonaws.com is not authorized to perform: lambda:InvokeFunction"):
        StackIam(local_iam, PolicyResolver(stripped)).check_rule_may_invoke(rule, target)


def test_the_state_machine_role_covers_its_tasks_and_nothing_else(synthesized, local_iam):
    stack = batch_stack(synthesized)
    authorize = StackIam(local_iam, PolicyResolver(stack)).state_machine_authorizer(MACHINE)
    validate = next(k for k in stack.functions() if "ValidateInput" in k)
    reducer = next(k for k in stack.functions() if "ReduceGradients" in k)
    authorize(f"arn:aws:lambda:us-east-1:123456789012:function:{validate}", {})
    authorize("arn:aws:states:::lambda:invoke.waitForTaskToken",
              {"FunctionName": f"arn:aws:lambda:us-east-1:123456789012:function:{validate}"})
    with pytest.raises(StatesError) as refused:  # the reducer is the queue's, never the state machine's
        authorize(f"arn:aws:lambda:us-east-1:123456789012:function:{reducer}", {})
    assert refused.value.error == "Lambda.AWSLambdaException"
    assert f"lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:123456789012:function:{reducer}" in \
        refused.value.cause


def test_the_batch_execution_role_pulls_the_image_and_writes_the_job_log(synthesized, local_iam):
    stack = batch_stack(synthesized)
    stack_iam = StackIam(local_iam, PolicyResolver(stack))
    container = next(jd["Properties"]["ContainerProperties"] for jd in stack.of_type("AWS::Batch::JobDefinition").values()
                     if jd["Properties"].get("Type") == "container")
    check = stack_iam.container_start_check(container["ExecutionRoleArn"], container["Image"],
                                            container["LogConfiguration"]["Options"])
    before = local_iam.stats.calls
    check("gradient/default/1")
    assert local_iam.stats.calls - before == 6  # GetAuthorizationToken, 3 layer/image reads, 2 log writes
    # the job role (what the worker's code runs as) is not the one that pulls images
    refused = stack_iam.container_start_check(container["JobRoleArn"], container["Image"], None)
    with pytest.raises(AccessDenied, match="ecr:GetAuthorizationToken"):
        refused("gradient/default/1")
