"""AutoMonNodesStack: the AutoMon nodes' region (default us-east-2) and the experiment state machine.

A VPC whose private subnets reach the internet through NAT gateways with Elastic IPs of their own (the
coordinator admits exactly those addresses), the results bucket, the image, the node task definition
(Fargate, 1 vCPU / 4 GB by default) in its cluster, and the experiment (Lambdas + state machine).
"""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.automon.coordinator_stack import coordinator_names
from stacks.automon.experiment import AutoMonExperiment
from stacks.automon.image import CONTAINER_NAME, automon_image
from stacks.config import AppConfig
from stacks.constructs.public_network import PublicNetwork
from stacks.constructs.secure_bucket import SecureBucket
from stacks.log_retention import retention
from stacks.nag import acknowledge, arn_in_finding

EXAMPLE_INPUT = {"algorithm": "centralization", "node_types": ["inner_product", "quadratic"]}
RESULTS_PREFIX = "results/"  # results/<execution>/<node_type>/eps_<e>/{coordinator,node_<i>,summary}.json


def results_bucket_template(config: AppConfig) -> str:
    """The results bucket's name with "{account}" left open: the coordinator stack names its ARN without a
    cross-stack reference, and the name says whose bucket it is."""
    return config.name("automon-results", "{account}", config.automon.nodes_region)


class AutoMonNodesStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        cfg = config.automon
        log_retention = retention(cfg.log_retention_days)
        self._network_and_results(config, log_retention)
        self._node_task(config, log_retention)
        self._node_roles()
        self._experiment(config, log_retention)
        self._outputs()

    def _network_and_results(self, config: AppConfig, log_retention: logs.RetentionDays) -> None:
        """The nodes' VPC (public NAT addresses the coordinator admits), the results bucket, and the nodes'
        security group."""
        cfg = config.automon
        self.network = PublicNetwork(
            self, "Network", cidr=cfg.nodes_vpc_cidr, availability_zones=cfg.nodes_availability_zones, az_count=cfg.az_count,
            nat_gateways=cfg.nat_gateways, log_retention=log_retention,
        )
        self.results = SecureBucket(self, "Results")
        self.results_bucket = self.results.bucket
        self.results_bucket.node.default_child.bucket_name = results_bucket_template(config).format(account=self.account)
        self.results_prefix = RESULTS_PREFIX

        self.security_group = ec2.SecurityGroup(
            self, "NodeSecurityGroup", vpc=self.network.vpc, allow_all_outbound=False,
            description="AutoMon nodes: no inbound; out to the coordinator port and HTTPS",
        )
        # the coordinator's public address is new for every run, so the destination cannot be narrowed here;
        # the coordinator's own security group admits only these nodes' NAT addresses
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(cfg.port), "to the AutoMon coordinator")
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to ECR, S3 and logs")

    def _node_task(self, config: AppConfig, log_retention: logs.RetentionDays) -> None:
        """The image, the cluster and the node task definition the state machine runs once per node."""
        cfg = config.automon
        self.image = automon_image(self, "Image", pip_spec=cfg.automon_pip_spec, fetch_datasets=cfg.fetch_datasets)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.cluster_name = config.name("automon-nodes")
        self.cluster = ecs.Cluster(
            self, "Cluster", cluster_name=self.cluster_name, vpc=self.network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.node_task_definition = ecs.FargateTaskDefinition(
            self, "NodeTaskDefinition", family=config.name("automon-node"),
            cpu=cfg.node_cpu, memory_limit_mib=cfg.node_memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64, operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.node_container = self.node_task_definition.add_container(
            CONTAINER_NAME,
            image=ecs.ContainerImage.from_docker_image_asset(self.image),
            command=["node"],
            environment={
                "PORT": str(cfg.port),
                "RESULTS_BUCKET": self.results_bucket.bucket_name,
                "RESULTS_BUCKET_REGION": cfg.nodes_region,
            },
            logging=ecs.LogDrivers.aws_logs(stream_prefix="node", log_group=self.log_group),
        )
        acknowledge(
            self.node_task_definition, "AwsSolutions-ECS2",
            "the environment holds only the port and the results bucket's name and region, no secrets; "
            "run settings come as RunTask overrides",
        )

    def _node_roles(self) -> None:
        """The node task may write results; ECS may pull the image and write logs."""
        task_role = self.node_task_definition.task_role
        task_role.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:PutObject"], resources=[self.results_bucket.arn_for_objects(f"{RESULTS_PREFIX}*")],
        ))
        acknowledge(
            task_role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::{arn_in_finding(self.results_bucket)}/{RESULTS_PREFIX}*]",
            "nodes write their results JSON under results/<execution>/<node type>/eps_<e>/; object writes only",
        )
        execution_role = self.node_task_definition.obtain_execution_role()
        acknowledge(
            execution_role.node.find_child("DefaultPolicy"), "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions and must be granted on '*'",
        )

    def _experiment(self, config: AppConfig, log_retention: logs.RetentionDays) -> None:
        """The state machine and its Lambdas (stacks/automon/experiment.py)."""
        cfg = config.automon
        coordinator = coordinator_names(config)
        launcher_role_arn = self.format_arn(
            service="iam", region="", resource="role", resource_name=coordinator["launcher_role"]
        )
        self.experiment = AutoMonExperiment(
            self, "Experiment",
            name=config.name,
            config=cfg,
            bucket=self.results_bucket,
            results_prefix=RESULTS_PREFIX,
            log_retention=log_retention,
            cluster=self.cluster,
            cluster_name=self.cluster_name,
            node_task_definition=self.node_task_definition,
            node_container=self.node_container,
            node_security_group=self.security_group,
            node_subnets=self.network.task_subnets,
            launcher_role_arn=launcher_role_arn,
            coordinator_parameter=coordinator["parameter"],
        )
        # the coordinator stack trusts this role to assume its launcher role
        self.launcher_principal = self.experiment.coordinator.role

    def _outputs(self) -> None:
        CfnOutput(self, "ResultsBucket", value=self.results_bucket.bucket_name,
                  description="results/<execution>/<node_type>/eps_<e>/ and report.json")
        CfnOutput(self, "StateMachineArn", value=self.experiment.state_machine.state_machine_arn)
        CfnOutput(self, "ExampleInput", value=json.dumps(EXAMPLE_INPUT),
                  description="aws stepfunctions start-execution --state-machine-arn <StateMachineArn> --input '<this>'")
        for i, ip in enumerate(self.network.nat_public_ips):
            CfnOutput(self, f"NatAddress{i + 1}", value=ip, description="the coordinator port admits this address")
        CfnOutput(
            self, "StepFunctionsConsole",
            value=f"https://{self.region}.console.aws.amazon.com/states/home?region={self.region}#/statemachines",
            description="start an execution of <prefix>-AutoMon-Experiment with a JSON input",
        )
