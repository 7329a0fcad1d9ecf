"""The TCPunch rendezvous server on Fargate behind an internet-facing Network Load Balancer.

Why an NLB: the course ran the task with a public IP and copied that IP into a Route 53 record by hand
after every restart. The NLB's DNS name never changes, and with client IP preservation the server sees
each Lambda's own public address *and port*, which is exactly what TCPunch must hand to the peer for
hole punching (without preservation it would see, and hand out, the NLB's private address).

Exactly one task: a pairing name only meets its partner on the same server, so two tasks behind the NLB
would split pairs. Deployments therefore stop the old task before starting the new one (min 0 %, max
100 %), and the load balancer keeps one target.

Security: the NLB's security group admits the rendezvous port from anywhere (Lambda functions have no
fixed addresses) and nothing else; the task's security group admits only the NLB's group, on the
rendezvous port and the health port. AWS documents that a rule referencing the NLB's security group
admits client traffic even with client IP preservation on. Being open to the internet, the server caps
connections in total and per source address (it sees client addresses, thanks to the preservation);
the task's nofile limit is set to fit the total cap, since Fargate's default has changed over time.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.image_context import PACKAGE_SOURCES
from stacks.nag import acknowledge
from workloads.cosmic.constants import FD_RESERVE

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "containers/rendezvous/Dockerfile"
IMAGE_CONTEXT = [*PACKAGE_SOURCES, "containers/rendezvous"]
CONTAINER_NAME = "rendezvous"


class RendezvousService(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        public_subnets: ec2.SubnetSelection,
        task_subnets: ec2.SubnetSelection,
        cluster_name: str,
        family: str,
        port: int,
        health_port: int,
        cpu: int,
        memory_mib: int,
        max_connections: int,
        max_per_address: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.port = port
        self._security_groups(vpc, port, health_port)
        container = self._task(vpc, cluster_name, family, port, health_port, cpu, memory_mib, max_connections,
                               max_per_address, log_retention)
        self.service = ecs.FargateService(
            self, "Service", cluster=self.cluster, task_definition=self.task_definition,
            desired_count=1, min_healthy_percent=0, max_healthy_percent=100,  # never two servers at once
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            security_groups=[self.task_security_group], vpc_subnets=task_subnets, assign_public_ip=False,
            enable_execute_command=False,
        )

        self._load_balancer(vpc, public_subnets, port, health_port, container)

    def _security_groups(self, vpc: ec2.IVpc, port: int, health_port: int) -> None:
        """The NLB takes the rendezvous port from anywhere; the task takes it, and health checks, from the NLB."""
        self.lb_security_group = ec2.SecurityGroup(
            self, "LoadBalancerSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Rendezvous NLB: the TCPunch port from the internet (Lambda functions have no fixed IPs)",
        )
        self.lb_security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(port), "TCPunch rendezvous")
        acknowledge(
            self.lb_security_group, "AwsSolutions-EC23",
            "the rendezvous port must be reachable from any address: Lambda functions run behind AWS NAT with no "
            "fixed or published IP range, and hole punching needs their public endpoints; only this port is open",
        )
        self.task_security_group = ec2.SecurityGroup(
            self, "TaskSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Rendezvous task: the TCPunch and health ports from the NLB only; HTTPS out (image, logs)",
        )
        for task_port, what in ((port, "TCPunch from the NLB"), (health_port, "health checks from the NLB")):
            self.task_security_group.add_ingress_rule(self.lb_security_group, ec2.Port.tcp(task_port), what)
            self.lb_security_group.add_egress_rule(self.task_security_group, ec2.Port.tcp(task_port), what)
        self.task_security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to ECR and logs")

    def _task(self, vpc: ec2.IVpc, cluster_name: str, family: str, port: int, health_port: int, cpu: int,
              memory_mib: int, max_connections: int, max_per_address: int,
              log_retention: logs.RetentionDays) -> ecs.ContainerDefinition:
        """The cluster, the server's image and its task definition; returns the server's container."""
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.cluster = ecs.Cluster(
            self, "Cluster", cluster_name=cluster_name, vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self, "TaskDefinition", family=family, cpu=cpu, memory_limit_mib=memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64, operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.image = ecr_assets.DockerImageAsset(
            self, "Image", directory=str(REPO_ROOT), file=DOCKERFILE, platform=ecr_assets.Platform.LINUX_AMD64,
            ignore_mode=IgnoreMode.DOCKER,
            exclude=["*", *(f"!{p}" for p in IMAGE_CONTEXT), "**/__pycache__", "**/*.pyc"],
        )
        container = self.task_definition.add_container(
            CONTAINER_NAME,
            image=ecs.ContainerImage.from_docker_image_asset(self.image),
            command=["--port", str(port), "--health-port", str(health_port), "--max-connections",
                     str(max_connections), "--max-per-address", str(max_per_address)],
            port_mappings=[ecs.PortMapping(container_port=port), ecs.PortMapping(container_port=health_port)],
            readonly_root_filesystem=True,
            # one descriptor per connection plus the server's own, so its start-up check keeps the cap as given
            ulimits=[ecs.Ulimit(name=ecs.UlimitName.NOFILE, soft_limit=max_connections + FD_RESERVE,
                                hard_limit=max_connections + FD_RESERVE)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="rendezvous", log_group=self.log_group),
        )
        acknowledge(
            self.task_definition.obtain_execution_role().node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions and must be granted on '*'",
        )
        return container

    def _load_balancer(self, vpc: ec2.IVpc, public_subnets: ec2.SubnetSelection, port: int, health_port: int,
                       container: ecs.ContainerDefinition) -> None:
        """The stable public name Lambda ranks connect to, forwarding to the one task with client IPs kept."""
        self.load_balancer = elbv2.NetworkLoadBalancer(
            self, "LoadBalancer", vpc=vpc, internet_facing=True, vpc_subnets=public_subnets,
            security_groups=[self.lb_security_group], cross_zone_enabled=True,
        )
        acknowledge(
            self.load_balancer, "AwsSolutions-ELB2",
            "NLB access logs are written for TLS listeners only; this TCP listener would log nothing. The VPC's "
            "flow logs record the connections and the server logs every pairing",
        )
        self.target_group = elbv2.NetworkTargetGroup(
            self, "Targets", vpc=vpc, port=port, protocol=elbv2.Protocol.TCP, target_type=elbv2.TargetType.IP,
            preserve_client_ip=True,  # the server must see (and hand out) each client's public IP and port
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                protocol=elbv2.Protocol.HTTP, port=str(health_port), path="/health",
                interval=Duration.seconds(10), healthy_threshold_count=2, unhealthy_threshold_count=3,
            ),
        )
        self.target_group.add_target(self.service.load_balancer_target(container_name=container.container_name,
                                                                       container_port=port))
        self.load_balancer.add_listener("Rendezvous", port=port, protocol=elbv2.Protocol.TCP,
                                        default_target_groups=[self.target_group])

    @property
    def dns_name(self) -> str:
        return self.load_balancer.load_balancer_dns_name
