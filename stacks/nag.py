"""cdk-nag (v3) wiring: run AwsSolutions checks and acknowledge findings, narrowly and with a reason.

cdk-nag 3 uses CDK's policy validation: `Validations.of(app).add_plugins(...)` at synth, and
`Validations.of(construct).acknowledge(Acknowledgment(...))` for a finding we accept. Every
acknowledgement goes through `acknowledge` so the reason is never empty.
"""

from __future__ import annotations

import cdk_nag
from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

MIN_REASON_LENGTH = 20


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one nag rule (or one finding, e.g. 'AwsSolutions-IAM5[Resource::*]') on one construct."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledging {rule_id} needs a specific reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def add_nag_checks(scope: IConstruct) -> None:
    """Run AwsSolutions checks on synth; unacknowledged errors fail `cdk synth`."""
    Validations.of(scope).add_plugins(cdk_nag.AwsSolutionsChecks(scope))


def arn_in_finding(resource: IConstruct) -> str:
    """How cdk-nag writes a resource's ARN inside a finding id: '<LogicalId.Arn>' for a resource of the
    stack, or the literal ARN for an imported bucket."""
    from aws_cdk import Stack

    cfn = resource.node.default_child
    if cfn is None:
        bucket_name = getattr(resource, "bucket_name", None)
        if bucket_name is None:
            raise ValueError(f"{resource.node.path} has no CloudFormation resource and is not a bucket")
        return f"arn:<AWS::Partition>:s3:::{bucket_name}"
    return f"<{Stack.of(resource).get_logical_id(cfn)}.Arn>"
