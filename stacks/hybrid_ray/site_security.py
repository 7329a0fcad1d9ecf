"""Security groups of the two Ray sites: Ray's fixed ports between the sites' nodes, nothing else in.

The ports come from ``RayPorts`` (the same object the boot scripts pass to ``ray start``), so opening a
port here and listening on it there cannot drift apart. Each site's group admits the Ray ports from its
own members and from the other VPC's CIDR (peered), and nothing from anywhere else: no SSH (Session
Manager instead), no dashboard (bound to 127.0.0.1 on the head, reached through a Session Manager
tunnel). Egress is as narrow: the same Ray ports to the same peers, plus HTTPS for packages, Session
Manager and S3. The original opened 22, 80, 443, 2049, 6379, 8265, 8888 and 10000-65535 to 0.0.0.0/0.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from workloads.hybrid_ray.topology import RayPorts


def ray_port_ranges(ports: RayPorts) -> list[ec2.Port]:
    """Every port a Ray node must reach on another node: the fixed ones and the worker range."""
    singles = [ec2.Port.tcp(p) for p in sorted(ports.cluster_ports())]
    return [*singles, ec2.Port.tcp_range(ports.min_worker, ports.max_worker)]


class RaySiteSecurityGroup(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, site: str, other_site: str, other_cidr: str,
        ports: RayPorts,
    ) -> None:
        super().__init__(scope, construct_id)
        self.group = ec2.SecurityGroup(
            self,
            "Group",
            vpc=vpc,
            allow_all_outbound=False,
            description=f"Ray nodes of site {site}: Ray ports from this site and from site {other_site} only",
        )
        # the literal CIDR (not a token) lets cdk-nag and the tests check the rule's source
        other = ec2.Peer.ipv4(other_cidr)
        for port in ray_port_ranges(ports):
            self.group.add_ingress_rule(self.group, port, f"Ray within site {site}")
            self.group.add_ingress_rule(other, port, f"Ray from site {other_site} (peered VPC)")
            self.group.add_egress_rule(self.group, port, f"Ray within site {site}")
            self.group.add_egress_rule(other, port, f"Ray to site {other_site} (peered VPC)")
        self.group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: packages, Session Manager, S3 (gateway endpoint)"
        )
