"""AutoMonCoordinatorStack: the AutoMon coordinator's region (default us-west-2).

A VPC with public subnets only (the coordinator has a public address, no NAT), a security group that
admits the coordinator port only from the nodes' NAT addresses (or configured CIDRs), the image, logs,
and the coordinator itself (EC2 launch template or Fargate task definition) with its launcher role.
Nothing runs, and nothing costs money beyond the log group and image storage, until an experiment
starts a coordinator.

Cross-region values: the nodes' NAT addresses and the experiment Lambda's role come from
AutoMonNodesStack through CDK's cross-region references (stack outputs read with Fn::GetStackOutput),
so the nodes stack deploys first (`cdk deploy --all` orders them by the dependency). The results bucket
has a fixed name (prefix, account, region), so its ARN needs no reference.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.automon.config import AutoMonConfig
from stacks.automon.coordinator import CoordinatorLauncher
from stacks.automon.image import automon_image
from stacks.config import AppConfig
from stacks.constructs.public_network import PublicNetwork
from stacks.log_retention import retention
from stacks.nag import acknowledge


def coordinator_names(config: AppConfig) -> dict[str, str]:
    """Physical names of the coordinator side; the nodes stack derives ARNs from the same names."""
    return {
        "cluster": config.name("automon-coordinator"),
        "family": config.name("automon-coordinator"),
        "launch_template": config.name("automon-coordinator"),
        "launcher_role": config.name("automon-coordinator-launcher"),
        "instance_role": config.name("automon-coordinator-instance"),
        "parameter": f"/{config.prefix}/automon/coordinator",
    }


class AutoMonCoordinatorStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        node_addresses: list[str],
        results_bucket_template: str,
        results_prefix: str,
        launcher_principals: list[iam.IPrincipal],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        cfg = config.automon
        log_retention = retention(cfg.log_retention_days)
        names = coordinator_names(config)

        self.network = PublicNetwork(
            self, "Network", cidr=cfg.coordinator_vpc_cidr, availability_zones=cfg.coordinator_availability_zones, az_count=cfg.az_count,
            nat_gateways=0, log_retention=log_retention,
        )
        self._security_group(cfg, node_addresses)

        self.image = automon_image(self, "Image", pip_spec=cfg.automon_pip_spec, fetch_datasets=cfg.fetch_datasets)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.coordinator = CoordinatorLauncher(
            self,
            "Coordinator",
            config=cfg,
            names=names,
            vpc=self.network.vpc,
            subnet_ids=[s.subnet_id for s in self.network.vpc.public_subnets],
            security_group=self.security_group,
            image=self.image,
            log_group=self.log_group,
            results_bucket_template=results_bucket_template,
            results_bucket_region=cfg.nodes_region,
            results_prefix=results_prefix,
            launcher_principals=launcher_principals,
        )

        self._outputs(cfg, names)

    def _security_group(self, cfg: AutoMonConfig, node_addresses: list[str]) -> None:
        """The coordinator port from the nodes' addresses only; HTTPS out."""
        self.security_group = ec2.SecurityGroup(
            self, "CoordinatorSecurityGroup", vpc=self.network.vpc, allow_all_outbound=False,
            description=f"AutoMon coordinator: TCP {cfg.port} from the nodes only; no SSH (Session Manager)",
        )
        # configured CIDRs win; otherwise the nodes' NAT gateway addresses, one /32 each
        self.allowed_cidrs = list(cfg.node_cidrs) or [Fn.join("", [ip, "/32"]) for ip in node_addresses]
        if not self.allowed_cidrs:
            raise ValueError("the coordinator port needs the nodes' addresses: give node_addresses or automon.node_cidrs")
        for i, cidr in enumerate(self.allowed_cidrs):
            self.security_group.add_ingress_rule(
                ec2.Peer.ipv4(cidr), ec2.Port.tcp(cfg.port), f"AutoMon nodes ({i + 1}) to the coordinator port"
            )
        if not cfg.node_cidrs:
            acknowledge(
                self.security_group, "AwsSolutions-EC23",
                "cdk-nag cannot read the source CIDRs: they are the nodes' NAT gateway Elastic IPs (/32 each), "
                "resolved at deploy time from the nodes stack; tests check no other source is admitted",
            )
        # image pull, logs, S3 results and (EC2) package installs: HTTPS only
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs and packages")

    def _outputs(self, cfg: AutoMonConfig, names: dict[str, str]) -> None:
        CfnOutput(self, "CoordinatorKind", value=cfg.coordinator.kind)
        CfnOutput(self, "CoordinatorDetailsParameter", value=names["parameter"],
                  description="what the experiment reads to start the coordinator")
        CfnOutput(self, "LauncherRoleArn", value=self.coordinator.launcher_role.role_arn)
        CfnOutput(self, "CoordinatorLogGroup", value=self.log_group.log_group_name)
        CfnOutput(
            self, "SessionManager",
            value=("aws ssm start-session --target <instance id>" if cfg.coordinator.kind == "ec2" else
                   f"aws ecs execute-command --cluster {names['cluster']} --task <task id> --interactive --command /bin/sh"),
            description="shell on a running coordinator without SSH",
        )
