"""HybridRayStack: a simulated HPC site and a cloud site running one stock Ray cluster.

- HPC VPC: a login node (the Ray head; 2 CPUs for Ray, so work lands on workers) and N workers in a
  private subnet, with an EFS share mounted at ~/share on each;
- cloud VPC: N nodes in a private subnet; no shared file system (data reaches them over the WAN);
- the VPCs are peered, with routes between the node subnets both ways; each site's security group admits
  Ray's ports from its own nodes and the other VPC's CIDR only; Session Manager replaces SSH.

Every node boots from the script ``workloads.hybrid_ray.bootstrap`` generates for its topology node:
pinned stock Ray, ``ray start`` with site/role/node labels, then tc netem shaping of the WAN (off by
``hybrid_ray.shaping=false``). The topology itself comes from the configuration (``HybridRayConfig``).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import AppConfig
from stacks.hybrid_ray.network import SiteNetwork, SitePeering
from stacks.hybrid_ray.ray_node import RayNode
from stacks.hybrid_ray.site_security import RaySiteSecurityGroup
from stacks.log_retention import retention
from stacks.lsrtm.shared_filesystem import SharedScratch
from stacks.nag import acknowledge
from workloads.hybrid_ray.bootstrap import EfsShare, dashboard_tunnel_command, node_bootstrap_script
from workloads.hybrid_ray.cluster_labels import ROLE_LOGIN, SITE_CLOUD, SITE_HPC

SSM_CORE = "AmazonSSMManagedInstanceCore"


class HybridRayStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        cfg = config.hybrid_ray
        self.topology = topology = cfg.topology()
        log_retention = retention(cfg.log_retention_days)

        # --- network -----------------------------------------------------------------------------
        self.sites = {
            SITE_HPC: SiteNetwork(self, "HpcNetwork", cidr=cfg.hpc_vpc_cidr,
                                  availability_zone=cfg.availability_zone, log_retention=log_retention),
            SITE_CLOUD: SiteNetwork(self, "CloudNetwork", cidr=cfg.cloud_vpc_cidr,
                                    availability_zone=cfg.availability_zone, log_retention=log_retention),
        }
        self.peering = SitePeering(self, "Peering", requester=self.sites[SITE_HPC], accepter=self.sites[SITE_CLOUD])
        other = {SITE_HPC: SITE_CLOUD, SITE_CLOUD: SITE_HPC}
        self.security_groups = {
            site: RaySiteSecurityGroup(
                self, f"{site.capitalize()}RaySecurity", vpc=net.vpc, site=site, other_site=other[site],
                other_cidr=self.sites[other[site]].cidr, ports=topology.ports,
            ).group
            for site, net in self.sites.items()
        }

        # --- the HPC share (EFS in the HPC VPC only, as in the original) --------------------------
        hpc = self.sites[SITE_HPC]
        self.share = SharedScratch(self, "Share", vpc=hpc.vpc, subnets=hpc.node_subnets)
        self.share.file_system.connections.allow_default_port_from(self.security_groups[SITE_HPC], "NFS from HPC nodes")
        share = EfsShare(self.share.file_system.file_system_id, self.share.access_point.access_point_id)

        # --- roles: Session Manager for every node, the share for HPC nodes ----------------------
        self.roles = {site: self._node_role(site) for site in self.sites}
        self.share.file_system.grant_read_write(self.roles[SITE_HPC])

        # --- nodes: the head first, since every worker's boot script needs its address ------------
        head = topology.head
        self.nodes: dict[str, RayNode] = {}
        self.nodes[head.name] = self._node(config, head.name, head_ip="127.0.0.1", share=share)
        head_ip = self.nodes[head.name].instance.instance_private_ip
        for node in topology.nodes:
            if node.role != ROLE_LOGIN:
                self.nodes[node.name] = self._node(
                    config, node.name, head_ip=head_ip, share=share if node.site == SITE_HPC else None
                )

        # --- what to do next ----------------------------------------------------------------------
        head_id = self.nodes[head.name].instance.instance_id
        CfnOutput(self, "DashboardTunnel", value=dashboard_tunnel_command(head_id, topology),
                  description=f"then open http://localhost:{topology.ports.dashboard} (the dashboard listens on "
                              "127.0.0.1 on the head)")
        CfnOutput(self, "LoginShell", value=f"aws ssm start-session --target {head_id}",
                  description="a shell on the login node (Ray head, driver); no SSH")
        CfnOutput(self, "HeadAddress", value=f"{head_ip}:{topology.ports.gcs}", description="ray start --address")
        CfnOutput(self, "Nodes", value=self._node_list(), description="name site/role instance-id private-ip; ...")
        shaping = f"{cfg.wan_mbit:g} Mbit/s, RTT {cfg.wan_rtt_ms:g} ms" if cfg.shaping else "off"
        CfnOutput(self, "WanShaping", value=shaping, description="tc netem between the sites (hybrid_ray.shaping)")

    def _node_role(self, site: str) -> iam.Role:
        role = iam.Role(
            self,
            f"{site.capitalize()}NodeRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description=f"Ray nodes of site {site}: Session Manager" + (", the EFS share" if site == SITE_HPC else ""),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(SSM_CORE)],
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{SSM_CORE}]",
            f"{SSM_CORE} is the AWS-maintained policy for Session Manager, which replaces SSH on the nodes",
        )
        return role

    def _node(self, config: AppConfig, name: str, *, head_ip: str, share: EfsShare | None) -> RayNode:
        cfg = config.hybrid_ray
        spec = self.topology.node(name)
        if spec.role == ROLE_LOGIN:
            instance_type, volume = cfg.login_instance_type, cfg.login_volume_gib
        elif spec.site == SITE_HPC:
            instance_type, volume = cfg.hpc_worker_instance_type, cfg.worker_volume_gib
        else:
            instance_type, volume = cfg.cloud_instance_type, cfg.worker_volume_gib
        site = self.sites[spec.site]
        return RayNode(
            self,
            "".join(part.capitalize() for part in name.split("-")),
            name=config.name("hybrid-ray", name),
            instance_type=instance_type,
            vpc=site.vpc,
            subnets=site.node_subnets,
            security_group=self.security_groups[spec.site],
            role=self.roles[spec.site],
            boot_script=node_bootstrap_script(self.topology, name, head_ip, share=share),
            volume_gib=volume,
        )

    def _node_list(self) -> str:
        parts = []
        for name, node in self.nodes.items():
            spec = self.topology.node(name)
            inst = node.instance
            parts.append(f"{name} {spec.site}/{spec.role} {inst.instance_id} {inst.instance_private_ip}")
        return "; ".join(parts)
