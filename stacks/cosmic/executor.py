"""The cosmicai executor: one container-image Lambda function (CPU torch + our package) run once per rank.

Outside any VPC on purpose: Lambda's own NAT gives each invocation a public endpoint, which the
rendezvous server hands to the peer for TCP hole punching (FMI's Direct channel). A VPC would add NAT
gateways that translate ports unpredictably, and punching through two of them is not reliable.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.image_context import PACKAGE_SOURCES
from stacks.constructs.workflow_functions import WorkflowFunction

DOCKERFILE = "containers/cosmic_executor/Dockerfile"
IMAGE_CONTEXT = [*PACKAGE_SOURCES, "lambda/cosmic_executor", "containers/cosmic_executor"]
HANDLER_FOLDER = "cosmic_executor"


class CosmicExecutor(WorkflowFunction):
    """A WorkflowFunction on its own image (CPU torch), with the memory and /tmp a rank needs."""

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
        super().__init__(
            scope, construct_id,
            handler_folder=HANDLER_FOLDER,
            function_name=function_name,
            description="cosmicai: one rank of AstroMAE inference (or a script) with FMI-style collectives",
            log_retention=log_retention,
            timeout=timeout,
            memory_mib=memory_mib,
            dockerfile=DOCKERFILE,
            image_context=IMAGE_CONTEXT,
            ephemeral_storage_mib=ephemeral_storage_mib,
        )
