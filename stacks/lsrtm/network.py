"""A VPC for Batch workers: private subnets, flow logs, and the endpoints the workers need.

With NAT off, the interface endpoints below are what Batch on EC2 needs to start instances and pull
images (ECS agent, ECR, CloudWatch Logs); S3 (gateway) and SQS (interface) are always there because
workers write gradients to S3 and messages to SQS, and multi-node jobs have no public IP.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.flow_logged_vpc import flow_logged_vpc

# Interface endpoints Batch on EC2 needs when instances have no route to the internet.
NO_NAT_INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "Ecs": ec2.InterfaceVpcEndpointAwsService.ECS,
    "EcsAgent": ec2.InterfaceVpcEndpointAwsService.ECS_AGENT,
    "EcsTelemetry": ec2.InterfaceVpcEndpointAwsService.ECS_TELEMETRY,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}


class WorkerNetwork(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        max_azs: int,
        availability_zones: list[str] | None = None,
        nat_gateways: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cidr = cidr
        private_type = ec2.SubnetType.PRIVATE_WITH_EGRESS if nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED
        subnets = [ec2.SubnetConfiguration(name="workers", subnet_type=private_type, cidr_mask=20)]
        if nat_gateways:
            subnets.insert(0, ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24))

        self.vpc = flow_logged_vpc(
            self, cidr=cidr, subnets=subnets, nat_gateways=nat_gateways, log_retention=log_retention,
            # explicit zones avoid a synth-time lookup; otherwise the first max_azs of the region
            **({"availability_zones": availability_zones} if availability_zones else {"max_azs": max_azs}),
        )
        self.worker_subnets = ec2.SubnetSelection(subnet_type=private_type)

        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.worker_subnets])
        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {
            "Sqs": self._interface_endpoint("Sqs", ec2.InterfaceVpcEndpointAwsService.SQS)
        }
        if not nat_gateways:
            for name, service in NO_NAT_INTERFACE_ENDPOINTS.items():
                self.interface_endpoints[name] = self._interface_endpoint(name, service)

    def _interface_endpoint(self, name: str, service: ec2.InterfaceVpcEndpointAwsService) -> ec2.InterfaceVpcEndpoint:
        endpoint = self.vpc.add_interface_endpoint(name, service=service, subnets=self.worker_subnets, open=False)
        # HTTPS from inside the VPC only; the literal CIDR (not the VPC's token) lets cdk-nag check the rule.
        endpoint.connections.allow_default_port_from(ec2.Peer.ipv4(self.cidr), "HTTPS from the VPC")
        return endpoint
