"""The two sites of the hybrid testbed: one VPC each, joined by VPC peering.

Each site gets a public subnet that holds only its NAT gateway (nodes install packages and reach
Session Manager through it) and a private subnet for the nodes; no node has a public address. Flow logs
record both VPCs, and S3 is reached through a gateway endpoint. The peering connection is the private
"WAN" that tc netem shapes (the original had none and tunnelled SSH over the internet instead).
"""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.flow_logged_vpc import allow_named_zones, flow_logged_vpc

NODE_SUBNET_MASK = 20
PUBLIC_SUBNET_MASK = 24


class SiteNetwork(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        availability_zone: str | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cidr = cidr
        # one zone: the first of the region (chosen by CloudFormation, no synth-time lookup) unless named
        zone = availability_zone or Fn.select(0, Fn.get_azs())
        self.vpc = flow_logged_vpc(
            self, cidr=cidr, nat_gateways=1, log_retention=log_retention, availability_zones=[zone],
            subnets=[
                ec2.SubnetConfiguration(name="nat", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=PUBLIC_SUBNET_MASK),
                ec2.SubnetConfiguration(
                    name="nodes", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=NODE_SUBNET_MASK
                ),
            ],
        )
        if availability_zone:
            allow_named_zones(self.vpc)
        self.node_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.node_subnets])

    @property
    def node_route_tables(self) -> list[str]:
        return [s.route_table.route_table_id for s in self.vpc.private_subnets]


class SitePeering(Construct):
    """Same-account, same-region peering (accepted automatically) and the routes between node subnets.

    Only the node subnets get routes to the other site: the NAT subnets never carry site-to-site traffic.
    """

    def __init__(self, scope: Construct, construct_id: str, *, requester: SiteNetwork, accepter: SiteNetwork) -> None:
        super().__init__(scope, construct_id)
        self.connection = ec2.CfnVPCPeeringConnection(
            self, "Connection", vpc_id=requester.vpc.vpc_id, peer_vpc_id=accepter.vpc.vpc_id
        )
        self.routes: list[ec2.CfnRoute] = []
        for side, here, there in (("Requester", requester, accepter), ("Accepter", accepter, requester)):
            for i, table in enumerate(here.node_route_tables):
                self.routes.append(
                    ec2.CfnRoute(
                        self,
                        f"{side}Route{i + 1}",
                        route_table_id=table,
                        destination_cidr_block=there.cidr,
                        vpc_peering_connection_id=self.connection.ref,
                    )
                )
