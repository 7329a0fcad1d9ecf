"""FmiStack: Cosmic AI (AstroMAE) inference on N Lambda ranks that talk FMI-style through TCPunch.

A VPC (public subnets for the load balancer, private ones behind NAT for the task), the rendezvous
server on Fargate behind an internet-facing NLB (stable DNS name, client IP and port preserved), S3
buckets for code (scripts, weights), data and results, and the cosmicai workflow (validate -> ranks ->
summary). Composition only; every resource comes from a construct (stacks/cosmic/, stacks/constructs/).
"""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.public_network import PublicNetwork
from stacks.constructs.secure_bucket import SecureBucket
from stacks.cosmic.rendezvous import RendezvousService
from stacks.cosmic.workflow import CosmicWorkflow
from stacks.log_retention import retention

EXAMPLE_INPUT = {"world_size": 4, "data_key": "inputs/synthetic-1024.pt"}


class FmiStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        cfg = config.fmi
        log_retention = retention(cfg.log_retention_days)

        # public subnets for the NLB, private subnets behind NAT for the rendezvous task, flow logs
        self.network = PublicNetwork(
            self, "Network", cidr=cfg.vpc_cidr, availability_zones=[], az_count=cfg.az_count,
            nat_gateways=cfg.nat_gateways, log_retention=log_retention,
        )
        self.rendezvous = RendezvousService(
            self, "Rendezvous",
            vpc=self.network.vpc,
            public_subnets=self.network.public_subnets,
            task_subnets=self.network.task_subnets,
            cluster_name=config.name("fmi"),
            family=config.name("fmi-rendezvous"),
            port=cfg.rendezvous_port,
            health_port=cfg.health_port,
            cpu=cfg.rendezvous_cpu,
            memory_mib=cfg.rendezvous_memory_mib,
            max_connections=cfg.rendezvous_max_connections,
            max_per_address=cfg.rendezvous_per_address,
            log_retention=log_retention,
        )
        self.code_bucket = SecureBucket(self, "Code").bucket
        self.data_bucket = SecureBucket(self, "Data").bucket
        self.results_bucket = SecureBucket(self, "Results").bucket
        self.workflow = CosmicWorkflow(
            self, "Cosmicai",
            name=config.name,
            config=cfg,
            code_bucket=self.code_bucket,
            data_bucket=self.data_bucket,
            results_bucket=self.results_bucket,
            rendezvous_host=self.rendezvous.dns_name,
            log_retention=log_retention,
        )

        CfnOutput(self, "RendezvousAddress", value=f"{self.rendezvous.dns_name}:{cfg.rendezvous_port}",
                  description="TCPunch rendezvous server (stable NLB name; FMI's backends.Direct host and port)")
        CfnOutput(self, "CodeBucket", value=self.code_bucket.bucket_name, description="scripts and state_dict weights")
        CfnOutput(self, "DataBucket", value=self.data_bucket.bucket_name, description="TensorDataset .pt files")
        CfnOutput(self, "ResultsBucket", value=self.results_bucket.bucket_name,
                  description="runs/<execution>/ranks/rank-<r>.json, combined.json, summary.json")
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(self, "ExampleInput", value=json.dumps(EXAMPLE_INPUT),
                  description="upload the data first: hpcx data cosmic --bucket <DataBucket>")
        CfnOutput(
            self, "StepFunctionsConsole",
            value=f"https://{self.region}.console.aws.amazon.com/states/home?region={self.region}#/statemachines",
            description="start an execution of <prefix>-cosmicai with a JSON input (examples/cosmicai_*.json)",
        )
