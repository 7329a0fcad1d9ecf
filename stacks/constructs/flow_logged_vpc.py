"""The VPC every stack builds on: its own CIDR, the subnets asked for, the default security group
stripped of its rules, and flow logs to a log group with a retention. Written once for all networks."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct


def flow_logged_vpc(
    scope: Construct, *, cidr: str, subnets: list[ec2.SubnetConfiguration], nat_gateways: int,
    log_retention: logs.RetentionDays, nat_gateway_provider: ec2.NatProvider | None = None, **placement: Any,
) -> ec2.Vpc:
    """`placement`: availability_zones=[...] (names or Fn::GetAZs picks, no synth-time lookup) or max_azs=N."""
    flow_log_group = logs.LogGroup(scope, "FlowLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
    return ec2.Vpc(
        scope,
        "Vpc",
        ip_addresses=ec2.IpAddresses.cidr(cidr),
        nat_gateways=nat_gateways,
        nat_gateway_provider=nat_gateway_provider,
        subnet_configuration=subnets,
        restrict_default_security_group=True,
        flow_logs={"All": ec2.FlowLogOptions(destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group))},
        **placement,
    )


def allow_named_zones(vpc: ec2.Vpc) -> None:
    """cfn-lint warns about hard-coded zones (W3010); zones named in the configuration are meant."""
    for subnet in [*vpc.public_subnets, *vpc.private_subnets]:
        subnet.node.default_child.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3010"]}})
