"""PublicNetwork: a VPC with public subnets and, when NAT is on, private subnets behind NAT, with flow logs.

Used by the AutoMon stacks (public subnets for the coordinator; private ones for the nodes) and by
FmiStack (the rendezvous load balancer in public subnets, its task in private ones). The NAT gateways
get Elastic IPs made here, so their public addresses are known resources: AutoMon's coordinator
security group admits its port from exactly those addresses (the original opened TCP 10-65535 to
0.0.0.0/0 on the default security group of both regions).
"""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.flow_logged_vpc import allow_named_zones, flow_logged_vpc


class PublicNetwork(Construct):
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
        self.vpc = flow_logged_vpc(
            self, cidr=cidr, subnets=subnets, nat_gateways=nat_gateways, log_retention=log_retention,
            nat_gateway_provider=nat_provider, availability_zones=zones,
        )
        if availability_zones:
            allow_named_zones(self.vpc)
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
