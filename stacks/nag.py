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
