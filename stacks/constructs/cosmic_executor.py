"""The cosmicai executor: one container-image Lambda function (CPU torch + our package) run once per rank.

Outside any VPC on purpose: Lambda's own NAT gives each invocation a public endpoint, which the
rendezvous server hands to the peer for TCP hole punching (FMI's Direct channel). A VPC would add NAT
gateways that translate ports unpredictably, and punching through two of them is not reliable.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy, Size
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.nag import acknowledge

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "containers/cosmic_executor/Dockerfile"
IMAGE_CONTEXT = ["pyproject.toml", "workloads", "lambda/cosmic_executor", "containers/cosmic_executor"]
HANDLER_FOLDER = "cosmic_executor"


class CosmicExecutor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_name: str,
        memory_mib: int,
        timeout: Duration,
        ephemeral_storage_mib: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            function_name=function_name,
            description="cosmicai: one rank of AstroMAE inference (or a script) with FMI-style collectives",
            code=lambda_.DockerImageCode.from_image_asset(
                str(REPO_ROOT),
                file=DOCKERFILE,
                cmd=[f"{HANDLER_FOLDER}.handler.handler"],
                platform=ecr_assets.Platform.LINUX_AMD64,
                ignore_mode=IgnoreMode.DOCKER,
                exclude=["*", *(f"!{p}" for p in IMAGE_CONTEXT), "**/__pycache__", "**/*.pyc"],
            ),
            architecture=lambda_.Architecture.X86_64,
            memory_size=memory_mib,
            timeout=timeout,
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mib),
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={"POWERTOOLS_SERVICE_NAME": function_name},
        )
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing: xray:PutTraceSegments and PutTelemetryRecords support no resource-level permissions",
        )
