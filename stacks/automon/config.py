"""The `automon` section of the app configuration (AutoMonCoordinatorStack, AutoMonNodesStack, the experiment).

Node types, their node counts and error-bound lists default to the published values in
workloads/automon/constants.py (one source of truth); regions and sizes default to the original's
(coordinator c5.4xlarge in us-west-2, nodes 1 vCPU / 4 GB on Fargate in us-east-2). Override, e.g.:
  cdk synth -c automon.coordinator='{"kind": "fargate"}' -c automon.node_cidrs='["203.0.113.7/32"]'
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from stacks.instance_types import instance_spec
from stacks.validators import LogRetentionDays, PrivateCidr, check_fargate_size
from workloads.automon.constants import DEFAULT_PORT, NODE_TYPES
from workloads.common.execution_input import StrictInput

REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
MAX_INLINE_MAP_CONCURRENCY = 40  # Step Functions runs at most 40 iterations of an inline Map at once
class CoordinatorConfig(StrictInput):
    """Where the AutoMon coordinator runs: an EC2 instance (the paper's c5.4xlarge) or a Fargate task."""

    kind: Literal["ec2", "fargate"] = "ec2"
    instance_type: str = "c5.4xlarge"
    # 4 vCPU / 16 GB: what the original asked of Fargate but never got (its size override missed)
    cpu: int = 4096
    memory_mib: int = 16384

    @field_validator("instance_type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        instance_spec(v)  # raises with the list of known types
        return v

    @model_validator(mode="after")
    def _fargate_size(self) -> Self:
        if self.kind == "fargate":
            check_fargate_size("coordinator", self.cpu, self.memory_mib)
        return self


def _default_node_counts() -> dict[str, int]:
    return {name: nt.num_nodes for name, nt in NODE_TYPES.items()}


def _default_error_bounds() -> dict[str, list[float]]:
    return {name: list(nt.error_bounds) for name, nt in NODE_TYPES.items()}


class AutoMonConfig(StrictInput):
    coordinator_region: str = "us-west-2"
    nodes_region: str = "us-east-2"
    # zones per VPC: empty = the first `az_count` zones of the region, chosen by CloudFormation (Fn::GetAZs),
    # so synth needs no lookup and writes no placeholder zones; or name them (e.g. ["us-west-2a", "us-west-2b"])
    az_count: int = Field(default=2, ge=1, le=3)
    coordinator_availability_zones: list[str] = Field(default_factory=list)
    nodes_availability_zones: list[str] = Field(default_factory=list)
    coordinator_vpc_cidr: PrivateCidr = "10.40.0.0/16"
    nodes_vpc_cidr: PrivateCidr = "10.41.0.0/16"
    # nodes reach the coordinator through these NAT gateways; their addresses are the coordinator's allow-list
    nat_gateways: int = Field(default=1, ge=1, le=2)
    # instead of the NAT addresses, allow the coordinator port from these CIDRs (nodes outside this app)
    node_cidrs: list[str] = Field(default_factory=list)
    port: int = Field(default=DEFAULT_PORT, ge=1024, le=65535)
    coordinator: CoordinatorConfig = CoordinatorConfig()
    node_cpu: int = 1024
    node_memory_mib: int = 4096
    node_counts: dict[str, int] = Field(default_factory=_default_node_counts)
    error_bounds: dict[str, list[float]] = Field(default_factory=_default_error_bounds)
    # (node type, error bound) experiments running at once; each holds one coordinator and N node tasks
    max_concurrency: int = Field(default=8, ge=1, le=MAX_INLINE_MAP_CONCURRENCY)
    # longest a node task may run (DNN took ~42 h in the original)
    run_timeout_hours: int = Field(default=48, ge=1, le=24 * 30)
    # pip requirement spec of the `automon` package (on no registry); empty: centralization only
    automon_pip_spec: str = ""
    # download the KLD / DNN data sets while building the image (needs internet at build time)
    fetch_datasets: bool = False
    log_retention_days: LogRetentionDays = 30

    @field_validator("coordinator_region", "nodes_region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not REGION_PATTERN.fullmatch(v):
            raise ValueError(f"{v!r} is not an AWS region name (like us-west-2)")
        return v


    @field_validator("node_cidrs")
    @classmethod
    def _node_cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                net = ipaddress.IPv4Network(cidr, strict=True)
            except ValueError as exc:
                raise ValueError(f"node_cidrs: {cidr!r} is not an IPv4 network in CIDR form ({exc})") from None
            if net.prefixlen < 16:
                raise ValueError(
                    f"node_cidrs: {cidr!r} is wider than /16; the coordinator port must be open to the nodes "
                    "only, never to the internet"
                )
        return v

    @field_validator("automon_pip_spec")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if any(c in v for c in "\n\r\"'`$;&|"):
            raise ValueError("automon_pip_spec must be one pip requirement spec without quotes or shell characters")
        return v.strip()


    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for region, zones, setting in (
            (self.coordinator_region, self.coordinator_availability_zones, "coordinator_availability_zones"),
            (self.nodes_region, self.nodes_availability_zones, "nodes_availability_zones"),
        ):
            if not zones:
                continue
            if len(zones) > 3 or len(set(zones)) != len(zones):
                raise ValueError(f"{setting}: give 1 to 3 distinct zones, got {zones}")
            wrong = [z for z in zones if not re.fullmatch(re.escape(region) + r"[a-z]", z)]
            if wrong:
                raise ValueError(f"{setting}: {wrong} are not zones of {region}")
        if self.nat_gateways > self.zone_count("nodes"):
            raise ValueError(f"nat_gateways={self.nat_gateways} exceeds the nodes' zone count ({self.zone_count('nodes')})")
        check_fargate_size("node", self.node_cpu, self.node_memory_mib)
        unknown = sorted((set(self.node_counts) | set(self.error_bounds)) - set(NODE_TYPES))
        if unknown:
            raise ValueError(f"unknown node types {unknown}; known: {', '.join(NODE_TYPES)}")
        if set(self.node_counts) != set(self.error_bounds):
            raise ValueError("node_counts and error_bounds must name the same node types")
        for name, count in self.node_counts.items():
            if not 1 <= count <= MAX_INLINE_MAP_CONCURRENCY:
                raise ValueError(f"node_counts.{name}={count}: between 1 and {MAX_INLINE_MAP_CONCURRENCY} nodes")
        for name, bounds in self.error_bounds.items():
            if not bounds or any(b <= 0 for b in bounds) or len(set(bounds)) != len(bounds):
                raise ValueError(f"error_bounds.{name}: a non-empty list of distinct positive numbers, got {bounds}")
            for bound in bounds:
                NODE_TYPES[name].neighborhood_size(bound)  # raises for a bound AutoMon has no tuning for
        return self

    @property
    def node_types(self) -> list[str]:
        return list(self.node_counts)

    def zone_count(self, side: Literal["coordinator", "nodes"]) -> int:
        return len(getattr(self, f"{side}_availability_zones")) or self.az_count
