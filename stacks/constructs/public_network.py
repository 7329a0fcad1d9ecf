"""A VPC with public subnets and, when NAT is on, private subnets behind NAT, with flow logs.

Used by the AutoMon stacks (public subnets for the coordinator; private ones for the nodes) and by
FmiStack (the rendezvous load balancer in public subnets, its task in private ones). The NAT gateways
get Elastic IPs made here, so their public addresses are known resources: AutoMon's coordinator
security group admits its port from exactly those addresses (the original opened TCP 10-65535 to
0.0.0.0/0 on the default security group of both regions).
"""

from __future__ import annotations

from aws_cdk import Fn, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct


class ExperimentNetwork(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        availability_zones: list[str],
        az_count: int,
        nat_gateways: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        """nat_gateways=0: public subnets only (the coordinator, which has a public address of its own).
        No availability_zones: the first az_count zones of the region, picked by CloudFormation."""
        super().__init__(scope, construct_id)
        zones = availability_zones or [Fn.select(i, Fn.get_azs()) for i in range(az_count)]
        subnets = [ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)]
        self.nat_eips: list[ec2.CfnEIP] = []
        nat_provider = None
        if nat_gateways:
            subnets.append(
                ec2.SubnetConfiguration(name="tasks", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20)
            )
            self.nat_eips = [
                ec2.CfnEIP(self, f"NatAddress{i + 1}", domain="vpc") for i in range(nat_gateways)
            ]
            nat_provider = ec2.NatProvider.gateway(eip_allocation_ids=[e.attr_allocation_id for e in self.nat_eips])
        flow_log_group = logs.LogGroup(self, "FlowLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=zones,
            nat_gateways=nat_gateways,
            nat_gateway_provider=nat_provider,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
            flow_logs={"All": ec2.FlowLogOptions(destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group))},
        )
        if availability_zones:
            for subnet in [*self.vpc.public_subnets, *self.vpc.private_subnets]:
                subnet.node.default_child.add_metadata(
                    "cfn-lint", {"config": {"ignore_checks": ["W3010"]}}  # zones named in the configuration
                )
        self.public_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        self.task_subnets = (
            ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS) if nat_gateways else self.public_subnets
        )
        if nat_gateways:
            # results go to S3 in this region without passing the NAT gateway (no per-GB NAT charge)
            self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.task_subnets])

    @property
    def nat_public_ips(self) -> list[str]:
        """The NAT gateways' public IPv4 addresses (Ref of an EIP is its address)."""
        return [eip.ref for eip in self.nat_eips]
