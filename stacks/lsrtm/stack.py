"""BatchStack: the seismic imaging platform's network, storage and Batch compute.

The LSRTM-SGD workflow (Lambdas, SQS, state machine: stacks/lsrtm/workflow.py) is added on top of the
handles this stack exposes.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.image_context import PACKAGE_SOURCES
from stacks.constructs.secure_bucket import SecureBucket
from stacks.log_retention import retention
from stacks.lsrtm.batch_pool import BatchPool
from stacks.lsrtm.config import BatchConfig
from stacks.lsrtm.jobs import GradientJobDefinition, MpiJobDefinition
from stacks.lsrtm.network import WorkerNetwork
from stacks.lsrtm.shared_filesystem import SharedScratch
from stacks.lsrtm.workflow import GradientMessages, LsrtmWorkflow
from stacks.nag import acknowledge, arn_in_finding
from workloads.lsrtm import layout

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_DOCKERFILE = "containers/gradient_worker/Dockerfile"
# The image's build context is the repository root, narrowed to what the Dockerfile copies.
ITERATION_STARTUP_ALLOWANCE_MINUTES = 30
WORKER_CONTEXT = [*PACKAGE_SOURCES, "containers/gradient_worker"]


class BatchStack(Stack):
    """Built in the order the pieces need each other: network and bucket, the Batch pools, the worker
    image with its roles and job definitions, the LSRTM-SGD workflow, then the outputs. Each step is a
    method creating its resources in this stack's scope, so the logical ids are those of the template."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        cfg = config.batch
        log_retention = retention(cfg.log_retention_days)
        self._network_and_storage(cfg, log_retention)
        self._compute(config)
        self._worker_image(log_retention)
        self._job_role()
        self._execution_role()
        self._job_definitions(config)
        self._workflow(config, log_retention)
        self._outputs()

    def _network_and_storage(self, cfg: BatchConfig, log_retention: logs.RetentionDays) -> None:
        self.network = WorkerNetwork(
            self,
            "Network",
            cidr=cfg.vpc_cidr,
            max_azs=cfg.max_azs,
            availability_zones=cfg.availability_zones or None,
            nat_gateways=cfg.nat_gateways,
            log_retention=log_retention,
        )
        self.data = SecureBucket(
            self, "Data", existing_bucket_name=cfg.existing_bucket_name,
            noncurrent_version_days=cfg.noncurrent_version_days,
        )
        self.bucket = self.data.bucket

    def _compute(self, config: AppConfig) -> None:
        """The workers' security group, placement group, shared scratch, instance role and one pool per
        compute environment."""
        vpc = self.network.vpc
        self.worker_security_group = ec2.SecurityGroup(
            self, "WorkerSecurityGroup", vpc=vpc, description="Batch workers: outbound only, plus MPI between nodes"
        )
        # MPI ranks of one multi-node job talk on ephemeral ports; only members of this group may connect.
        self.worker_security_group.add_ingress_rule(self.worker_security_group, ec2.Port.all_tcp(), "MPI between job nodes")

        # a cluster placement group lives in one AZ, so multi-node environments get one subnet
        worker_subnets = vpc.select_subnets(subnet_type=self.network.worker_subnets.subnet_type).subnets
        multi_node_subnet = ec2.SubnetSelection(subnets=worker_subnets[:1])
        self.placement_group = ec2.PlacementGroup(
            self, "MpiPlacementGroup", strategy=ec2.PlacementGroupStrategy.CLUSTER
        )
        self.scratch = SharedScratch(self, "Scratch", vpc=vpc, subnets=self.network.worker_subnets)
        self.scratch.file_system.connections.allow_default_port_from(self.worker_security_group, "NFS from workers")
        self._instance_role()

        self.pools: dict[str, BatchPool] = {}
        for ce in config.batch.compute_environments:
            self.pools[ce.key] = BatchPool(
                self,
                f"Pool-{ce.key}",
                config=ce,
                queue_name=config.name(ce.key),
                launch_template_name=config.name(ce.key, "workers"),
                vpc=vpc,
                subnets=multi_node_subnet if ce.multi_node else self.network.worker_subnets,
                security_group=self.worker_security_group,
                instance_role=self.instance_role,
                placement_group=self.placement_group if ce.multi_node else None,
            )

    def _instance_role(self) -> None:
        self.instance_role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonEC2ContainerServiceforEC2Role")
            ],
        )
        acknowledge(
            self.instance_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]",
            "AmazonEC2ContainerServiceforEC2Role is the AWS-maintained policy the ECS agent on Batch instances "
            "needs; jobs get their own job role, and IMDS hop limit 1 keeps containers off this role",
        )

    def _worker_image(self, log_retention: logs.RetentionDays) -> None:
        self.worker_image = ecr_assets.DockerImageAsset(
            self,
            "GradientWorkerImage",
            directory=str(REPO_ROOT),
            file=WORKER_DOCKERFILE,
            platform=ecr_assets.Platform.LINUX_AMD64,
            ignore_mode=IgnoreMode.DOCKER,
            exclude=["*", *(f"!{p}" for p in WORKER_CONTEXT), "**/__pycache__", "**/*.pyc"],
        )
        self.job_log_group = logs.LogGroup(
            self, "JobLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )

    def _job_role(self) -> None:
        """What a worker may do: read inputs, write its partial gradients, use the scratch file system."""
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Seismic worker: read models and shots, write gradients",
        )
        # Workers read inputs (anywhere: the user names the model and shots) and their run's objects, and
        # write only partial gradients, residuals and their summaries (partial/): not inputs, manifests (task
        # tokens) or images. The curvature pass reads the gradient sum, a run object like the others.
        self.job_role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects("*")])
        )
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[self.bucket.arn_for_objects(layout.PARTIAL_PATTERN)],
            )
        )
        # a retried worker looks for its finished summary: without ListBucket a missing key answers 403
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{layout.RUNS_PREFIX}*"]}},
            )
        )
        self.scratch.file_system.grant_read_write(self.job_role)
        acknowledge(
            self.job_role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::{arn_in_finding(self.bucket)}/*]",
            "workers read the model and shot keys named in the execution input, which can be anywhere in the "
            "data bucket; read-only, no other bucket is reachable",
        )
        acknowledge(
            self.job_role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::{arn_in_finding(self.bucket)}/{layout.PARTIAL_PATTERN}]",
            "workers write one object per (run, iteration, shot), keys made at run time; only that kind",
        )

    def _execution_role(self) -> None:
        """What ECS does for a job: pull the worker image and write its log."""
        self.execution_role = iam.Role(
            self, "JobExecutionRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
        )
        self.worker_image.repository.grant_pull(self.execution_role)
        self.job_log_group.grant_write(self.execution_role)
        acknowledge(
            self.execution_role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions and must be granted on '*'",
        )

    def _job_definitions(self, config: AppConfig) -> None:
        """The gradient message queue the workers send to, and the array and multi-node job definitions."""
        cfg = config.batch
        self.gradient_messages = GradientMessages(self, "GradientMessages", name=config.name)
        self.gradient_messages.queue.grant_send_messages(self.job_role)
        environment = {"DATA_BUCKET": self.bucket.bucket_name, "GRADIENT_QUEUE_URL": self.gradient_messages.queue.queue_url}
        self.gradient_queue = self.pools[cfg.gradient_job.queue].job_queue
        self.gradient_job = GradientJobDefinition(
            self,
            "GradientJob",
            name=config.name("gradient"),
            config=cfg.gradient_job,
            image=ecs.ContainerImage.from_docker_image_asset(self.worker_image),
            job_role=self.job_role,
            execution_role=self.execution_role,
            log_group=self.job_log_group,
            environment=environment,
        )
        self.mpi_queue = self.pools[cfg.mpi_job.queue].job_queue
        self.mpi_job = MpiJobDefinition(
            self,
            "MpiJob",
            name=config.name("gradient-mpi"),
            config=cfg.mpi_job,
            image_uri=self.worker_image.image_uri,
            job_role=self.job_role,
            execution_role=self.execution_role,
            log_group=self.job_log_group,
            scratch=self.scratch,
            environment=environment,
        )

    def _workflow(self, config: AppConfig, log_retention: logs.RetentionDays) -> None:
        cfg = config.batch
        gradient_timeout = cfg.gradient_job.timeout_minutes * cfg.gradient_job.retry_attempts
        self.workflow = LsrtmWorkflow(
            self,
            "LsrtmWorkflow",
            name=config.name,
            bucket=self.bucket,
            messages=self.gradient_messages,
            log_retention=log_retention,
            gradient_queue=self.gradient_queue,
            gradient_job_definition_arn=self.gradient_job.job_definition.job_definition_arn,
            mpi_queue=self.mpi_queue,
            mpi_job_definition_arn=self.mpi_job.job_definition_arn,
            # every attempt of the slowest child, plus time for Batch to start instances
            iteration_timeout=Duration.minutes(gradient_timeout + ITERATION_STARTUP_ALLOWANCE_MINUTES),
            job_limits=cfg.job_limits(),
        )

    def _outputs(self) -> None:
        """What to do next: the names and ARNs a user (and hpcx reproduce) needs."""
        CfnOutput(self, "DataBucket", value=self.bucket.bucket_name, description="models, shots, gradients, images")
        CfnOutput(self, "GradientJobQueue", value=self.gradient_queue.job_queue_name)
        CfnOutput(self, "GradientJobDefinition", value=self.gradient_job.job_definition.job_definition_arn)
        CfnOutput(self, "MpiJobQueue", value=self.mpi_queue.job_queue_name)
        CfnOutput(self, "MpiJobDefinition", value=self.mpi_job.job_definition_arn)
        CfnOutput(
            self,
            "ComputePools",
            value=self.to_json_string({key: pool.summary() for key, pool in self.pools.items()}),
            description="per compute environment key: queue, instance types, CPUs online per instance, "
            "memory and nodes a job can get, threads per core (2 = hyper-threading on), spot, multi-node, "
            "vCPUs and cores per socket of the first type (read by hpcx reproduce)",
        )
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(
            self, "AlarmTopic", value=self.workflow.alarm_topic.topic_arn,
            description="subscribe (e-mail, chat) to hear of a message or event in a dead-letter queue",
        )
        CfnOutput(self, "MultiNodeStateMachineArn", value=self.workflow.multi_node_state_machine.state_machine_arn)
        CfnOutput(
            self,
            "ExampleInput",
            value="examples/lsrtm_synthetic.json",
            description="upload a dataset first: hpcx data synthetic --bucket <DataBucket> "
            "(prints the complete input)",
        )
        CfnOutput(
            self,
            "StepFunctionsConsole",
            value=f"https://{self.region}.console.aws.amazon.com/states/home?region={self.region}#/statemachines",
            description="start an execution of <prefix>-LSRTM-SGD with a JSON input",
        )
        CfnOutput(
            self,
            "BatchConsole",
            value=f"https://{self.region}.console.aws.amazon.com/batch/home?region={self.region}#queues",
            description="watch queues and jobs",
        )

