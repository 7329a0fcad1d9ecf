"""Typed topology of the hybrid testbed: sites, nodes, WAN links and Ray ports.

The same model drives three things: the boot scripts of the real stack (``bootstrap``), the ``tc netem``
shaping (``netem``), and the emulated links of single-machine runs (``emulated_link``). Bandwidths are in
Mbit/s and times in ms everywhere (the original mixed bytes/s and Mbit/s for the same setting).

A site without a CIDR (``s3``) is a data source only: no node lives there and netem never shapes traffic to
it (on AWS, S3 is reached through a gateway endpoint, not the peered VPC); its links are used by the local
emulation, as the original capped HPC downloads from S3 in the client instead.
"""

from __future__ import annotations

import ipaddress
import re
from itertools import combinations
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from workloads.common.execution_input import StrictInput
from workloads.common.networks import private_network
from workloads.hybrid_ray.cluster_labels import ROLE_LOGIN, ROLE_WORKER, SITE_CLOUD, SITE_HPC

SITE_S3 = "s3"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class SiteSpec(StrictInput):
    name: str
    cidr: str | None = Field(default=None, description="VPC CIDR; None for a data-only site such as S3")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"site name {v!r} must be lower-case letters, digits and '-'")
        return v

    @field_validator("cidr")
    @classmethod
    def _private_cidr(cls, v: str | None) -> str | None:
        if v is None:
            return v
        # the original used 11.0.0.0/16 (public address space) for the cloud VPC
        return str(private_network(v))


class NodeSpec(StrictInput):
    name: str
    site: str
    role: Literal["login", "worker"]
    num_cpus: int | None = Field(default=None, gt=0, description="CPUs Ray may use; None = all")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"node name {v!r} must be lower-case letters, digits and '-'")
        return v


class LinkSpec(StrictInput):
    """A symmetric link between two sites (or within one site when both names are equal)."""

    sites: tuple[str, str]
    bandwidth_mbit: float = Field(gt=0)
    rtt_ms: float = Field(ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    loss_percent: float = Field(default=0.0, ge=0, lt=100)

    def joins(self, a: str, b: str) -> bool:
        return set(self.sites) == {a, b}


class RayPorts(StrictInput):
    """Fixed Ray ports, so that security groups can open exactly these between the two VPCs."""

    gcs: int = 6379
    dashboard: int = 8265  # bound to 127.0.0.1 on the head; reached through a Session Manager tunnel
    node_manager: int = 30008
    object_manager: int = 30009
    min_worker: int = 30010
    max_worker: int = 30090
    dashboard_agent_http: int = 52365
    dashboard_agent_grpc: int = 52366
    metrics_export: int = 52367
    runtime_env_agent: int = 52368

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if not 1024 <= self.min_worker < self.max_worker <= 65535:
            raise ValueError("worker ports need 1024 <= min_worker < max_worker <= 65535")
        singles = self.cluster_ports()
        if len(set(singles)) != len(singles):
            raise ValueError(f"Ray ports must be distinct, got {singles}")
        if any(self.min_worker <= p <= self.max_worker for p in singles):
            raise ValueError("a fixed Ray port falls inside the worker port range")
        return self

    def cluster_ports(self) -> list[int]:
        """Single ports that nodes of both sites must reach (the dashboard is not one of them)."""
        return [
            self.gcs,
            self.node_manager,
            self.object_manager,
            self.dashboard_agent_http,
            self.dashboard_agent_grpc,
            self.metrics_export,
            self.runtime_env_agent,
        ]


class HybridTopology(StrictInput):
    sites: list[SiteSpec]
    nodes: list[NodeSpec]
    links: list[LinkSpec] = []
    shaping: bool = Field(default=True, description="apply tc netem on the nodes (off: raw network)")
    interface: str = "ens5"
    ray_version: str = "2.60.0"
    ports: RayPorts = RayPorts()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        site_names = [s.name for s in self.sites]
        if len(set(site_names)) != len(site_names):
            raise ValueError(f"duplicate site names in {site_names}")
        node_names = [n.name for n in self.nodes]
        if len(set(node_names)) != len(node_names):
            raise ValueError(f"duplicate node names in {node_names}")
        by_name = {s.name: s for s in self.sites}
        for node in self.nodes:
            site = by_name.get(node.site)
            if site is None:
                raise ValueError(f"node {node.name!r} is in unknown site {node.site!r}")
            if site.cidr is None:
                raise ValueError(f"node {node.name!r} is in site {site.name!r}, which has no CIDR")
        logins = [n for n in self.nodes if n.role == ROLE_LOGIN]
        if len(logins) != 1:
            raise ValueError(f"exactly one login node (the Ray head) is needed, got {len(logins)}")
        for link in self.links:
            for s in link.sites:
                if s not in by_name:
                    raise ValueError(f"link {link.sites} names unknown site {s!r}")
        for a, b in combinations(self.links, 2):
            if a.joins(*b.sites):
                raise ValueError(f"two links join {a.sites}")
        cidrs = [(s.name, ipaddress.ip_network(s.cidr)) for s in self.sites if s.cidr]
        for (na, ca), (nb, cb) in combinations(cidrs, 2):
            if ca.overlaps(cb):
                # Overlapping CIDRs misrouted NFS in the original; peering rejects them outright.
                raise ValueError(f"CIDRs of sites {na!r} ({ca}) and {nb!r} ({cb}) overlap")
        return self

    @property
    def head(self) -> NodeSpec:
        return next(n for n in self.nodes if n.role == ROLE_LOGIN)

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}; nodes: {[n.name for n in self.nodes]}")

    def site(self, name: str) -> SiteSpec:
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(f"no site named {name!r}; sites: {[s.name for s in self.sites]}")

    def link(self, a: str, b: str) -> LinkSpec | None:
        """The link between two sites, or None when the pair is not constrained."""
        return next((link for link in self.links if link.joins(a, b)), None)

    @classmethod
    def standard(
        cls,
        *,
        hpc_workers: int = 1,
        cloud_nodes: int = 1,
        wan_mbit: float = 220.0,
        wan_rtt_ms: float = 0.3,
        hpc_cidr: str = "10.10.0.0/16",
        cloud_cidr: str = "10.20.0.0/16",
        s3_from_hpc_mbit: float | None = None,
        s3_from_cloud_mbit: float = 1000.0,
        shaping: bool = True,
    ) -> HybridTopology:
        """The original's layout: a login node and workers at the HPC site, nodes in the cloud.

        Defaults follow the reference: 220 Mbit/s is the unshaped site-to-site path, RTT 0.3 ms, HPC↔HPC
        900 and cloud↔cloud 5000 Mbit/s. S3 is reached from the HPC site over the WAN (its bandwidth
        unless given) and from the cloud at ``s3_from_cloud_mbit``.
        """
        if hpc_workers < 1 or cloud_nodes < 1:
            raise ValueError("the hybrid topology needs at least one HPC worker and one cloud node")
        nodes = [NodeSpec(name="hpc-login", site=SITE_HPC, role=ROLE_LOGIN, num_cpus=2)]
        nodes += [
            NodeSpec(name=f"hpc-worker-{i}", site=SITE_HPC, role=ROLE_WORKER) for i in range(hpc_workers)
        ]
        nodes += [NodeSpec(name=f"cloud-{i}", site=SITE_CLOUD, role=ROLE_WORKER) for i in range(cloud_nodes)]
        return cls(
            sites=[
                SiteSpec(name=SITE_HPC, cidr=hpc_cidr),
                SiteSpec(name=SITE_CLOUD, cidr=cloud_cidr),
                SiteSpec(name=SITE_S3),
            ],
            nodes=nodes,
            links=[
                LinkSpec(sites=(SITE_HPC, SITE_CLOUD), bandwidth_mbit=wan_mbit, rtt_ms=wan_rtt_ms),
                LinkSpec(sites=(SITE_HPC, SITE_HPC), bandwidth_mbit=900.0, rtt_ms=0.1),
                LinkSpec(sites=(SITE_CLOUD, SITE_CLOUD), bandwidth_mbit=5000.0, rtt_ms=0.1),
                LinkSpec(
                    sites=(SITE_HPC, SITE_S3), bandwidth_mbit=s3_from_hpc_mbit or wan_mbit, rtt_ms=wan_rtt_ms
                ),
                LinkSpec(sites=(SITE_CLOUD, SITE_S3), bandwidth_mbit=s3_from_cloud_mbit, rtt_ms=1.0),
            ],
            shaping=shaping,
        )
