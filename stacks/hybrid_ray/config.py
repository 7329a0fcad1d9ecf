"""The `hybrid_ray` section of the app configuration (HybridRayStack).

The testbed's shape (site CIDRs, node counts, WAN bandwidth and RTT, netem on/off, Ray version, ports)
is turned into a ``workloads.hybrid_ray.topology.HybridTopology``, the model the boot scripts and the
netem generator read, so the stack and the runtime cannot disagree. Sizes default to the original's
(r5.4xlarge nodes, one HPC worker, one cloud node); the login node is smaller because it only runs the
Ray head and the driver (2 CPUs for Ray, as in the original). Override, e.g.:
  cdk synth -c hybrid_ray.cloud_nodes=4 -c hybrid_ray.wan_mbit=30 -c hybrid_ray.shaping=false
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from stacks.instance_types import instance_spec
from stacks.validators import LogRetentionDays, PrivateCidr
from workloads.common.execution_input import StrictInput
from workloads.hybrid_ray.topology import HybridTopology

# One source of truth: the version the boot scripts pin unless told otherwise.
DEFAULT_RAY_VERSION: str = HybridTopology.model_fields["ray_version"].default
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_ZONE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")
MAX_NODES_PER_SITE = 32

SSH_TUNNEL_REFUSAL = (
    "connectivity='ssh_tunnel' is not offered: the original's sshuttle tunnel needs the login node and "
    "every cloud node on public IPs, SSH open to the other site's public addresses and Ray ports "
    "reachable over the internet (HPC nodes dial cloud raylets directly), plus SSH keys exchanged at "
    "boot; that is the attack surface this stack removes. VPC peering carries the same traffic privately "
    "and tc netem shapes it to the configured WAN, so use connectivity='peering'"
)


class HybridRayConfig(StrictInput):
    hpc_vpc_cidr: PrivateCidr = "10.50.0.0/16"
    cloud_vpc_cidr: PrivateCidr = "10.51.0.0/16"
    # Both VPCs in one zone (as the original): no inter-AZ charges, EFS mount target next to the nodes.
    # None: the region's first zone, chosen by CloudFormation (no synth-time lookup).
    availability_zone: str | None = None
    # peering: private site-to-site routes. ssh_tunnel (the original's sshuttle) is refused, see above.
    connectivity: Literal["peering", "ssh_tunnel"] = "peering"
    login_instance_type: str = "m5.xlarge"
    hpc_worker_instance_type: str = "r5.4xlarge"
    cloud_instance_type: str = "r5.4xlarge"
    hpc_workers: int = Field(default=1, ge=1, le=MAX_NODES_PER_SITE)
    cloud_nodes: int = Field(default=1, ge=1, le=MAX_NODES_PER_SITE)
    login_volume_gib: int = Field(default=30, ge=20, le=1024)  # AL2023 + Ray + CPU torch need ~10 GB
    worker_volume_gib: int = Field(default=150, ge=20, le=16384)
    # The emulated WAN between the sites (netem on every node's egress); off = the raw peering link.
    shaping: bool = True
    wan_mbit: float = Field(default=220.0, gt=0, le=100_000)  # the original's unshaped sshuttle path
    wan_rtt_ms: float = Field(default=0.3, ge=0, le=10_000)
    ray_version: str = DEFAULT_RAY_VERSION
    log_retention_days: LogRetentionDays = 30


    @field_validator("availability_zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None and not _ZONE.fullmatch(v):
            raise ValueError(f"{v!r} is not an availability zone name (like us-east-2a)")
        return v

    @field_validator("login_instance_type", "hpc_worker_instance_type", "cloud_instance_type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        instance_spec(v)  # raises with the list of known types
        return v

    @field_validator("ray_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not _VERSION.fullmatch(v):
            raise ValueError(f"ray_version {v!r} must be a release like {DEFAULT_RAY_VERSION} (pinned stock Ray)")
        return v


    @model_validator(mode="after")
    def _consistent(self) -> Self:
        hpc, cloud = ipaddress.IPv4Network(self.hpc_vpc_cidr), ipaddress.IPv4Network(self.cloud_vpc_cidr)
        if hpc.overlaps(cloud):
            # Peering refuses overlapping ranges; the original's overlap misrouted NFS through sshuttle.
            raise ValueError(
                f"hpc_vpc_cidr {hpc} and cloud_vpc_cidr {cloud} overlap; the two sites need disjoint ranges "
                "to be peered (e.g. 10.50.0.0/16 and 10.51.0.0/16)"
            )
        if self.connectivity == "ssh_tunnel":
            raise ValueError(SSH_TUNNEL_REFUSAL)
        login_cpus = self.topology().head.num_cpus or 0
        if instance_spec(self.login_instance_type).vcpus < login_cpus:
            raise ValueError(
                f"login_instance_type {self.login_instance_type} has fewer than the {login_cpus} vCPUs the head "
                "reserves for Ray"
            )
        return self

    def topology(self) -> HybridTopology:
        """The runtime's model of this deployment: what the boot scripts and netem are generated from."""
        standard = HybridTopology.standard(
            hpc_workers=self.hpc_workers,
            cloud_nodes=self.cloud_nodes,
            wan_mbit=self.wan_mbit,
            wan_rtt_ms=self.wan_rtt_ms,
            hpc_cidr=self.hpc_vpc_cidr,
            cloud_cidr=self.cloud_vpc_cidr,
            shaping=self.shaping,
        )
        return standard.model_copy(update={"ray_version": self.ray_version})
