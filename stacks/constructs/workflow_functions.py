"""Lambda functions built from a container image of this repository, one per handler folder in lambda/.
By default the shared workflow image (containers/workflow_lambdas); a function with heavier needs names
its own Dockerfile and build context. Each gets its own role with only its log group and what the stack
grants it."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy, Size
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.image_context import PACKAGE_SOURCES
from stacks.nag import acknowledge

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "containers/workflow_lambdas/Dockerfile"
DEFAULT_TIMEOUT = Duration.seconds(60)
IMAGE_CONTEXT = [*PACKAGE_SOURCES, "lambda", "containers/workflow_lambdas"]


class WorkflowFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler_folder: str,
        function_name: str,
        description: str,
        log_retention: logs.RetentionDays,
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_mib: int = 512,
        environment: dict[str, str] | None = None,
        dockerfile: str = DOCKERFILE,
        image_context: list[str] | None = None,
        ephemeral_storage_mib: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not (REPO_ROOT / "lambda" / handler_folder / "handler.py").exists():
            raise ValueError(f"no handler lambda/{handler_folder}/handler.py")
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        # a role of our own gets no log permissions by default: without this the function writes no logs.
        # Only its own group and that group's streams (the group's ARN ends in :*).
        self.log_group.grant_write(self.role)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            function_name=function_name,
            description=description,
            code=lambda_.DockerImageCode.from_image_asset(
                str(REPO_ROOT),
                file=dockerfile,
                cmd=[f"{handler_folder}.handler.handler"],
                platform=ecr_assets.Platform.LINUX_AMD64,
                ignore_mode=IgnoreMode.DOCKER,
                exclude=["*", *(f"!{p}" for p in image_context or IMAGE_CONTEXT), "**/__pycache__", "**/*.pyc"],
            ),
            architecture=lambda_.Architecture.X86_64,
            timeout=timeout,
            memory_size=memory_mib,
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mib) if ephemeral_storage_mib else None,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={"POWERTOOLS_SERVICE_NAME": function_name, **(environment or {})},
        )
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing: xray:PutTraceSegments and PutTelemetryRecords support no resource-level permissions",
        )
