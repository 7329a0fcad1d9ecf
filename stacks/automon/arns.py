"""ARNs of the AutoMon stacks as cdk-nag writes them in finding ids.

A stack with an explicit region has literal partition and region; the account is literal only when
CDK_DEFAULT_ACCOUNT is set (the CLI with credentials) and '<AWS::AccountId>' otherwise. Acknowledgements
must name the finding exactly, in both cases.
"""

from __future__ import annotations

from aws_cdk import Stack, Token


def _part(value: str, pseudo: str) -> str:
    return f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value


def nag_arn(stack: Stack, template: str) -> str:
    """template with {partition}, {region} and {account} filled as cdk-nag renders them."""
    return template.format(
        partition=_part(stack.partition, "Partition"),
        region=_part(stack.region, "Region"),
        account=_part(stack.account, "AccountId"),
    )
