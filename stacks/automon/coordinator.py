"""The AutoMon coordinator: how it runs (Fargate task or EC2 instance), who may start and stop it, and
where the experiment finds the details.

The experiment's state machine lives in the nodes' region. Its coordinator Lambda assumes the launcher
role made here, which may do exactly this: run the coordinator task definition in its cluster (or launch
instances from the coordinator launch template), read their public address, and stop or terminate what it
started. What the Lambda needs to know (cluster, task definition, subnets, security group, launch
template) is published in one SSM parameter of this region, so neither stack reads the other's values at
synth time in that direction.
"""

from __future__ import annotations

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.automon.arns import nag_arn
from stacks.automon.config import AutoMonConfig
from stacks.automon.image import CONTAINER_NAME
from stacks.nag import acknowledge

# EC2 instances carry their run settings as tags (read through IMDS by the user data) and a token tag
# that clean-up finds them by; the launcher may terminate only instances that carry the token tag.
TOKEN_TAG = "automon-token"
SETTING_TAG_PREFIX = "automon-env-"
EBS_GIB = 30
STOP_TIMEOUT = Duration.seconds(30)


class CoordinatorLauncher(Construct):
    """The coordinator's compute, the launcher role and the published details (SSM parameter)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AutoMonConfig,
        names: dict[str, str],
        vpc: ec2.IVpc,
        subnet_ids: list[str],
        security_group: ec2.ISecurityGroup,
        image: ecr_assets.DockerImageAsset,
        log_group: logs.ILogGroup,
        results_bucket_template: str,
        results_bucket_region: str,
        results_prefix: str,
        launcher_principals: list[iam.IPrincipal],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # the bucket is the nodes stack's; its name is fixed by a template with the account left open
        results_bucket_name = results_bucket_template.format(account=stack.account)
        self.kind = config.coordinator.kind
        self.subnet_ids = subnet_ids
        static_env = {
            "PORT": str(config.port),
            "RESULTS_BUCKET": results_bucket_name,
            "RESULTS_BUCKET_REGION": results_bucket_region,
        }
        self.launcher_role = self._launcher_role(names, launcher_principals)
        # results: object writes under results/ of the one bucket; nothing else in S3
        results_arn = f"arn:{stack.partition}:s3:::{results_bucket_name}/{results_prefix}*"
        results_policy = iam.PolicyStatement(actions=["s3:PutObject"], resources=[results_arn])
        self._results_finding = "AwsSolutions-IAM5[Resource::" + nag_arn(
            stack, "arn:{partition}:s3:::" + results_bucket_template + f"/{results_prefix}*]"
        )

        details: dict[str, object] = {
            "kind": self.kind,
            "region": stack.region,
            "subnets": self.subnet_ids,
            "security_group": security_group.security_group_id,
            "container": CONTAINER_NAME,
            "port": config.port,
            "token_tag": TOKEN_TAG,
            "setting_tag_prefix": SETTING_TAG_PREFIX,
        }
        if self.kind == "fargate":
            details.update(self._fargate(config, names, vpc, image, log_group, static_env, results_policy))
        else:
            details.update(
                self._ec2(config, names, security_group, image, log_group, static_env, results_policy)
            )
        self.parameter = ssm.StringParameter(
            self,
            "Details",
            parameter_name=names["parameter"],
            string_value=stack.to_json_string(details),
            description="AutoMon coordinator: how the experiment starts it (read by the launcher role)",
        )
        self.parameter.grant_read(self.launcher_role)

    def _launcher_role(self, names: dict[str, str], principals: list[iam.IPrincipal]) -> iam.Role:
        """The role the experiment (in the nodes' region) assumes to start and stop this coordinator."""
        return iam.Role(
            self,
            "LauncherRole",
            role_name=names["launcher_role"],
            assumed_by=iam.CompositePrincipal(*principals),
            description="Assumed by the AutoMon experiment (nodes' region) to start and stop this coordinator",
            max_session_duration=Duration.hours(1),
        )

    # --- Fargate ------------------------------------------------------------------------------
    def _fargate(self, config, names, vpc, image, log_group, static_env, results_policy) -> dict[str, object]:
        """The coordinator as a Fargate task: cluster, task definition, its roles, the launcher's grants."""
        self.cluster = ecs.Cluster(
            self, "Cluster", cluster_name=names["cluster"], vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            family=names["family"],
            cpu=config.coordinator.cpu,
            memory_limit_mib=config.coordinator.memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.task_definition.add_container(
            CONTAINER_NAME,
            image=ecs.ContainerImage.from_docker_image_asset(image),
            command=["coordinator"],
            environment=static_env,
            port_mappings=[ecs.PortMapping(container_port=config.port, protocol=ecs.Protocol.TCP)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="coordinator", log_group=log_group),
            stop_timeout=STOP_TIMEOUT,
            readonly_root_filesystem=False,
        )
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "the environment holds only the port and the results bucket's name and region, no secrets; "
            "run settings come as RunTask overrides",
        )
        task_role = self.task_definition.task_role
        task_role.add_to_principal_policy(results_policy)
        # ECS Exec (Session Manager) instead of SSH
        task_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                         "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
                resources=["*"],
            )
        )
        acknowledge(
            task_role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "ECS Exec (Session Manager channels, ssmmessages:*Channel) has no resource-level permissions",
        )
        self._acknowledge_results_wildcard(task_role)
        execution_role = self.task_definition.obtain_execution_role()
        acknowledge(
            execution_role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions and must be granted on '*'",
        )
        self._grant_task_launch(names, task_role, execution_role)
        return {
            "cluster": self.cluster.cluster_arn,
            "task_definition": self.task_definition.task_definition_arn,
        }

    def _grant_task_launch(self, names, task_role: iam.IRole, execution_role: iam.IRole) -> None:
        """The launcher role may run this task definition on this cluster, and see and stop its tasks."""
        stack = Stack.of(self)
        cluster_arn = self.cluster.cluster_arn
        tasks_arn = stack.format_arn(service="ecs", resource="task", resource_name=f"{names['cluster']}/*")
        on_cluster = {"ArnEquals": {"ecs:cluster": cluster_arn}}
        role = self.launcher_role
        role.add_to_policy(iam.PolicyStatement(
            actions=["ecs:RunTask"], resources=[self.task_definition.task_definition_arn], conditions=on_cluster))
        role.add_to_policy(iam.PolicyStatement(
            actions=["ecs:TagResource"], resources=[tasks_arn],
            conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}}))
        role.add_to_policy(iam.PolicyStatement(
            actions=["ecs:DescribeTasks", "ecs:StopTask"], resources=[tasks_arn], conditions=on_cluster))
        role.add_to_policy(iam.PolicyStatement(actions=["ecs:ListTasks"], resources=["*"], conditions=on_cluster))
        # the task's public address is on its network interface; Describe* has no resource-level permissions
        role.add_to_policy(iam.PolicyStatement(actions=["ec2:DescribeNetworkInterfaces"], resources=["*"]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[task_role.role_arn, execution_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}))
        policy = role.node.find_child("DefaultPolicy")
        acknowledge(
            policy, "AwsSolutions-IAM5[Resource::*]",
            "ecs:ListTasks (limited by the ecs:cluster condition to this cluster) and "
            "ec2:DescribeNetworkInterfaces have no resource-level permissions",
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::"
            + nag_arn(Stack.of(self), f"arn:{{partition}}:ecs:{{region}}:{{account}}:task/{names['cluster']}/*]"),
            "task ids are made by RunTask; describe/stop/tag are limited to tasks of the coordinator cluster",
        )

    # --- EC2 ----------------------------------------------------------------------------------
    def _ec2(self, config, names, security_group, image, log_group, static_env, results_policy):
        instance_role = self._instance_role(names, image, log_group, results_policy)
        self._launch_template(config, names, security_group, image, log_group, static_env, instance_role)
        self._grant_instance_launch(security_group, instance_role)
        return {"launch_template_id": self.launch_template.launch_template_id}

    def _instance_role(self, names, image, log_group, results_policy) -> iam.Role:
        """What the coordinator instance may do: Session Manager, pull the image, write logs and results."""
        instance_role = iam.Role(
            self,
            "InstanceRole",
            role_name=names["instance_role"],
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="AutoMon coordinator instance: Session Manager, image pull, logs, results",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")],
        )
        acknowledge(
            instance_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
            "AmazonSSMManagedInstanceCore is the AWS-maintained policy for Session Manager, which replaces SSH",
        )
        instance_role.add_to_policy(results_policy)
        image.repository.grant_pull(instance_role)
        log_group.grant_write(instance_role)
        default_policy = instance_role.node.find_child("DefaultPolicy")
        acknowledge(
            default_policy, "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions and must be granted on '*'",
        )
        self._acknowledge_results_wildcard(instance_role)
        return instance_role

    def _launch_template(self, config, names, security_group, image, log_group, static_env,
                         instance_role: iam.Role) -> None:
        """The instance the launcher starts per item: its boot script runs the coordinator, then powers off."""
        stack = Stack.of(self)
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(*_coordinator_user_data(
            region=stack.region,
            registry=Fn.select(0, Fn.split("/", image.image_uri)),
            image_uri=image.image_uri,
            log_group=log_group.log_group_name,
            static_env=static_env,
        ))
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            launch_template_name=names["launch_template"],
            instance_type=ec2.InstanceType(config.coordinator.instance_type),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            role=instance_role,
            security_group=security_group,
            user_data=user_data,
            require_imdsv2=True,
            http_put_response_hop_limit=1,  # the container shares the host network; nothing further may reach IMDS
            instance_metadata_tags=True,  # run settings arrive as instance tags
            instance_initiated_shutdown_behavior=ec2.InstanceInitiatedShutdownBehavior.TERMINATE,
            detailed_monitoring=True,
            block_devices=[ec2.BlockDevice(
                device_name="/dev/xvda",
                volume=ec2.BlockDeviceVolume.ebs(EBS_GIB, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3,
                                                 delete_on_termination=True),
            )],
        )

    def _grant_instance_launch(self, security_group, instance_role: iam.Role) -> None:
        """The launcher role may start instances from this launch template only, tagged with the token that
        clean-up finds them by, and terminate only those."""
        stack = Stack.of(self)
        region, account = stack.region, stack.account
        partition = stack.partition

        def ec2_arn(resource: str) -> str:
            return f"arn:{partition}:ec2:{region}:{account}:{resource}"

        lt_arn = ec2_arn(f"launch-template/{self.launch_template.launch_template_id}")
        role = self.launcher_role
        role.add_to_policy(iam.PolicyStatement(
            actions=["ec2:RunInstances"],
            resources=[lt_arn, f"arn:{partition}:ec2:{region}::image/*", ec2_arn("volume/*"),
                       ec2_arn("network-interface/*"), ec2_arn(f"security-group/{security_group.security_group_id}"),
                       *(ec2_arn(f"subnet/{s}") for s in self.subnet_ids)],
        ))
        # instances only from this launch template, and only with the token tag clean-up finds them by
        role.add_to_policy(iam.PolicyStatement(
            actions=["ec2:RunInstances"], resources=[ec2_arn("instance/*")],
            conditions={"ArnLike": {"ec2:LaunchTemplate": lt_arn}, "Null": {f"aws:RequestTag/{TOKEN_TAG}": "false"}},
        ))
        role.add_to_policy(iam.PolicyStatement(
            actions=["ec2:CreateTags"], resources=[ec2_arn("instance/*"), ec2_arn("volume/*"), ec2_arn("network-interface/*")],
            conditions={"StringEquals": {"ec2:CreateAction": "RunInstances"}},
        ))
        role.add_to_policy(iam.PolicyStatement(
            actions=["ec2:TerminateInstances"], resources=[ec2_arn("instance/*")],
            conditions={"Null": {f"ec2:ResourceTag/{TOKEN_TAG}": "false"}},
        ))
        role.add_to_policy(iam.PolicyStatement(actions=["ec2:DescribeInstances"], resources=["*"]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[instance_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ))
        policy = role.node.find_child("DefaultPolicy")
        acknowledge(policy, "AwsSolutions-IAM5[Resource::*]",
                    "ec2:DescribeInstances has no resource-level permissions (used to read the public address)")
        for resource, reason in (
            ("instance/*", "instance ids are made at launch; RunInstances requires this launch template and the "
                           "token tag, TerminateInstances requires the token tag"),
            ("volume/*", "the root volume and network interface are created by RunInstances from the launch template"),
            ("network-interface/*", "the network interface is created by RunInstances in the coordinator subnets"),
        ):
            acknowledge(policy, "AwsSolutions-IAM5[Resource::"
                        + nag_arn(stack, "arn:{partition}:ec2:{region}:{account}:" + resource + "]"), reason)
        acknowledge(policy, "AwsSolutions-IAM5[Resource::" + nag_arn(stack, "arn:{partition}:ec2:{region}::image/*]"),
                    "the AMI is the launch template's (latest Amazon Linux 2023 from the public SSM parameter)")

    def _acknowledge_results_wildcard(self, role: iam.Role) -> None:
        acknowledge(
            role.node.find_child("DefaultPolicy"), self._results_finding,
            "the coordinator writes its results JSON under results/<execution>/<node type>/eps_<e>/ of the one "
            "results bucket; object writes only",
        )


def _coordinator_user_data(*, region: str, registry: str, image_uri: str, log_group: str,
                           static_env: dict[str, str]) -> list[str]:
    """Boot script: install Docker, pull the image, run the coordinator with the instance's tag settings,
    then power off (the launch template's shutdown behaviour terminates the instance)."""
    static = " ".join(f"-e {k}={v}" for k, v in static_env.items())
    return [
        "set -euo pipefail",
        "trap 'shutdown -h now' EXIT  # terminate whatever happens: a coordinator must never idle",
        "IMDS=http://169.254.169.254/latest",
        'TOKEN=$(curl -sSf -X PUT "$IMDS/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")',
        'md() { curl -sSf -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/meta-data/$1"; }',
        "INSTANCE_ID=$(md instance-id)",
        "RUN_ENV=()",
        f"for key in $(md tags/instance); do case $key in {SETTING_TAG_PREFIX}*) "
        f'RUN_ENV+=(-e "${{key#{SETTING_TAG_PREFIX}}}=$(md tags/instance/$key)");; esac; done',
        "dnf install -y docker",
        "systemctl start docker",
        f"aws ecr get-login-password --region {region} | docker login --username AWS --password-stdin {registry}",
        f"docker pull {image_uri}",
        f"docker run --rm --network host --log-driver awslogs --log-opt awslogs-region={region} "
        f"--log-opt awslogs-group={log_group} --log-opt awslogs-stream=coordinator/$INSTANCE_ID "
        f'{static} "${{RUN_ENV[@]}}" {image_uri} coordinator',
    ]
