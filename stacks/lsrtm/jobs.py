"""Batch job definitions of the seismic worker: the per-shot gradient (array job) and the MPI job.

Retries cover what is not the job's fault (a reclaimed Spot instance, a terminated host, a failed
image pull); an application error exits at once, so a bad input is not run `attempts` times.
"""

from __future__ import annotations

from aws_cdk import Duration, Size
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.lsrtm.config import JobConfig, MpiJobConfig
from stacks.lsrtm.shared_filesystem import MOUNT_PATH, SharedScratch

# Status reasons Batch reports (AWS Batch user guide, "Automated job retries").
HOST_TERMINATED = "Host EC2*"  # Spot reclaim and host termination both start like this
IMAGE_PULL_FAILED = "CannotPullContainerError:*"
RETRY_ON_STATUS_REASONS = (HOST_TERMINATED, IMAGE_PULL_FAILED)

WORKER_ENTRYPOINT = "/opt/app/worker.py"  # containers/gradient_worker/worker.py in the image
GRADIENT_COMMAND = ["python", WORKER_ENTRYPOINT]
MPI_COMMAND = ["python", "/opt/app/mpi_launcher.py"]


def retry_strategies() -> list[batch.RetryStrategy]:
    return [
        *(batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.custom(on_status_reason=r)) for r in RETRY_ON_STATUS_REASONS),
        batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom(on_reason="*")),
    ]


def retry_strategy_property(attempts: int) -> batch.CfnJobDefinition.RetryStrategyProperty:
    """The same rules for the L1 multi-node definition."""
    return batch.CfnJobDefinition.RetryStrategyProperty(
        attempts=attempts,
        evaluate_on_exit=[
            *(batch.CfnJobDefinition.EvaluateOnExitProperty(action="RETRY", on_status_reason=r) for r in RETRY_ON_STATUS_REASONS),
            batch.CfnJobDefinition.EvaluateOnExitProperty(action="EXIT", on_reason="*"),
        ],
    )


class GradientJobDefinition(Construct):
    """One shot's gradient on one instance; submitted as an array job (one child per shot)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        config: JobConfig,
        image: ecs.ContainerImage,
        job_role: iam.IRole,
        execution_role: iam.IRole,
        log_group: logs.ILogGroup,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        container = batch.EcsEc2ContainerDefinition(
            self,
            "Container",
            image=image,
            cpu=config.vcpus,
            memory=Size.mebibytes(config.memory_mib),
            command=GRADIENT_COMMAND,
            environment={"OMP_NUM_THREADS": str(config.vcpus), **environment},
            job_role=job_role,
            execution_role=execution_role,
            logging=ecs.LogDriver.aws_logs(stream_prefix="gradient", log_group=log_group),
        )
        self.job_definition = batch.EcsJobDefinition(
            self,
            "JobDefinition",
            job_definition_name=name,
            container=container,
            retry_attempts=config.retry_attempts,
            retry_strategies=retry_strategies(),
            timeout=Duration.minutes(config.timeout_minutes),
            propagate_tags=True,
        )


class MpiJobDefinition(Construct):
    """A multi-node parallel job with the EFS scratch mounted at /efs on every node.

    L1 because the L2 needs a closed node range, and an open range ("0:") is what lets a submission
    override the node count (aws/aws-cdk#29415).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        config: MpiJobConfig,
        image_uri: str,
        job_role: iam.IRole,
        execution_role: iam.IRole,
        log_group: logs.ILogGroup,
        scratch: SharedScratch,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        cfn = batch.CfnJobDefinition
        env = {"OMP_NUM_THREADS": str(config.vcpus), "SCRATCH_DIR": MOUNT_PATH, **environment}
        container = cfn.ContainerPropertiesProperty(
            image=image_uri,
            command=MPI_COMMAND,
            environment=[cfn.EnvironmentProperty(name=k, value=v) for k, v in sorted(env.items())],
            resource_requirements=[
                cfn.ResourceRequirementProperty(type="VCPU", value=str(config.vcpus)),
                cfn.ResourceRequirementProperty(type="MEMORY", value=str(config.memory_mib)),
            ],
            job_role_arn=job_role.role_arn,
            execution_role_arn=execution_role.role_arn,
            volumes=[_scratch_volume(scratch)],
            mount_points=[cfn.MountPointsProperty(container_path=MOUNT_PATH, source_volume="efs", read_only=False)],
            log_configuration=cfn.LogConfigurationProperty(
                log_driver="awslogs",
                options={"awslogs-group": log_group.log_group_name, "awslogs-stream-prefix": "mpi"},
            ),
        )
        self.job_definition = cfn(
            self,
            "JobDefinition",
            job_definition_name=name,
            type="multinode",
            platform_capabilities=["EC2"],
            node_properties=cfn.NodePropertiesProperty(
                num_nodes=config.num_nodes,
                main_node=0,
                node_range_properties=[cfn.NodeRangePropertyProperty(target_nodes="0:", container=container)],
            ),
            retry_strategy=retry_strategy_property(config.retry_attempts),
            timeout=cfn.TimeoutProperty(attempt_duration_seconds=config.timeout_minutes * 60),
            propagate_tags=True,
        )
        self.job_definition_arn = self.job_definition.ref


def _scratch_volume(scratch: SharedScratch) -> batch.CfnJobDefinition.VolumesProperty:
    """The shared EFS scratch through its access point, encrypted in transit, mounted by IAM."""
    cfn = batch.CfnJobDefinition
    return cfn.VolumesProperty(
        name="efs",
        efs_volume_configuration=cfn.EfsVolumeConfigurationProperty(
            file_system_id=scratch.file_system.file_system_id,
            transit_encryption="ENABLED",
            authorization_config=cfn.AuthorizationConfigProperty(
                access_point_id=scratch.access_point.access_point_id, iam="ENABLED"
            ),
        ),
    )
