"""cdk-nag AwsSolutions (v3 API): zero unacknowledged findings, every acknowledgement reasoned and narrow,
and proof that the check can fail."""

from __future__ import annotations

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from stacks.nag import MIN_REASON_LENGTH, acknowledge
from tests.stacks.stack_names import STACK_NAMES

ACK_METADATA = "aws:cdk:acknowledged-rules"



def _violations(scope) -> list[str]:
    report = cdk_nag.AwsSolutionsChecks(verbose=False).validate_scope(scope)
    return sorted({v.rule_name for v in report.violations})


@pytest.mark.parametrize("stack_name", STACK_NAMES)
def test_stack_has_no_unacknowledged_findings(synthesized, stack_name):
    assert _violations(synthesized.stacks[stack_name]) == []


def test_acknowledgements_are_narrow_and_reasoned(synthesized):
    found = 0
    for stack in synthesized.stacks.values():
        for construct in stack.node.find_all():
            for entry in construct.node.metadata:
                if entry.type != ACK_METADATA:
                    continue
                for rule, reason in entry.data.items():
                    if "AwsSolutions-" not in rule:
                        continue  # CDK acknowledges some of its own checks (e.g. CloudFormation-Validate)
                    found += 1
                    assert len(reason) >= MIN_REASON_LENGTH, rule
                    # narrow: on a resource or its owning construct, never on a whole stack
                    assert not isinstance(construct, cdk.Stack), f"{rule} acknowledged stack-wide"
    assert found >= 1


def test_the_check_fails_on_a_deliberately_non_compliant_stack():
    app = cdk.App()
    stack = cdk.Stack(app, "Sloppy")
    s3.Bucket(stack, "PlainBucket")  # no logging, no TLS-only policy
    sqs.Queue(stack, "PlainQueue")  # no DLQ, no TLS-only policy
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    rules = _violations(stack)
    assert {"AwsSolutions-S1", "AwsSolutions-S10", "AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= set(rules)
    assert any(r.startswith("AwsSolutions-IAM5") for r in rules)


def test_an_acknowledgement_silences_exactly_its_finding():
    app = cdk.App()
    stack = cdk.Stack(app, "Acked")
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True)
    before = _violations(stack)
    acknowledge(bucket, "AwsSolutions-S1", "a test bucket that deliberately has no access logs")
    after = _violations(stack)
    assert "AwsSolutions-S1" in before and "AwsSolutions-S1" not in after
    assert set(before) - {"AwsSolutions-S1"} == set(after)


def test_an_acknowledgement_without_a_specific_reason_is_refused():
    app = cdk.App()
    bucket = s3.Bucket(cdk.Stack(app, "S"), "Bucket")
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(bucket, "AwsSolutions-S1", "n/a")


def test_every_stack_the_app_builds_is_checked(synthesized):
    assert set(STACK_NAMES) == set(synthesized.stacks)
