"""A Batch compute environment (EC2/ECS, scales to zero) and the job queue in front of it."""

from __future__ import annotations

from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.instance_types import instance_spec
from stacks.lsrtm.config import ComputeEnvironmentConfig
from stacks.lsrtm.launch_template import WorkerLaunchTemplate

JOB_QUEUE_PRIORITY = 1000  # as in the seed; every queue has a single environment, so it only orders queues


class BatchPool(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ComputeEnvironmentConfig,
        queue_name: str,
        launch_template_name: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        instance_role: iam.IRole,
        placement_group: ec2.IPlacementGroup | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.threads_per_core = 2 if config.hyperthreading else 1
        self.online_cpus = config.usable_cpus_per_instance()
        self.launch_template = WorkerLaunchTemplate(
            self,
            "LaunchTemplate",
            name=launch_template_name,
            online_cpus=self.online_cpus,
            threads_per_core=self.threads_per_core,
        )
        self._compute_environment(config, vpc, subnets, security_group, instance_role, placement_group)
        self.job_queue = batch.JobQueue(
            self,
            "Queue",
            job_queue_name=queue_name,
            priority=JOB_QUEUE_PRIORITY,
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=self.compute_environment, order=1)
            ],
        )

    def _compute_environment(self, config: ComputeEnvironmentConfig, vpc: ec2.IVpc, subnets: ec2.SubnetSelection,
                             security_group: ec2.ISecurityGroup, instance_role: iam.IRole,
                             placement_group: ec2.IPlacementGroup | None) -> None:
        """Managed EC2 capacity from zero to max_vcpus, on the launch template's latest version."""
        self.compute_environment = batch.ManagedEc2EcsComputeEnvironment(
            self,
            "ComputeEnvironment",
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[security_group],
            instance_types=[ec2.InstanceType(t) for t in config.instance_types],
            use_optimal_instance_classes=False,
            images=[batch.EcsMachineImage(image_type=batch.EcsMachineImageType.ECS_AL2023)],
            spot=config.spot,
            spot_bid_percentage=config.spot_bid_percentage if config.spot else None,
            allocation_strategy=(
                batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED
                if config.spot
                else batch.AllocationStrategy.BEST_FIT_PROGRESSIVE
            ),
            minv_cpus=0,
            maxv_cpus=config.max_vcpus,
            launch_template=self.launch_template.launch_template,
            placement_group=placement_group,
            instance_role=instance_role,
            # both allocation strategies above allow in-place infrastructure updates
            replace_compute_environment=False,
            terminate_on_update=False,
            update_to_latest_image_version=True,
        )
        # The L2 renders the launch template without a version, and Batch snapshots the version it saw
        # at creation; pinning LatestVersionNumber makes every template change reach the environment.
        cfn_ce: batch.CfnComputeEnvironment = self.compute_environment.node.default_child  # type: ignore[assignment]
        cfn_ce.add_property_override(
            "ComputeResources.LaunchTemplate.Version",
            self.launch_template.launch_template.latest_version_number,
        )

    def summary(self) -> dict:
        """What a launcher needs to know about this pool (one entry of BatchStack's ComputePools output)."""
        first = instance_spec(self.config.instance_types[0])
        return {
            "queue": self.job_queue.job_queue_name,
            "instance_types": list(self.config.instance_types),
            # online_cpus: CPUs ECS sees per instance, after the user data offlined the rest; the most
            # memory and nodes a job can get (the LSRTM validator checks job overrides against the same)
            **self.config.limits(),
            "threads_per_core": self.threads_per_core,  # 2: hyper-threading on
            "spot": self.config.spot,
            "multi_node": self.config.multi_node,
            # the first instance type's size, which the MPI launcher sizes its jobs by
            "vcpus": first.vcpus,
            "cores_per_socket": first.physical_cores // first.sockets,
        }
