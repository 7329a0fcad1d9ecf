"""The EC2 instance types the app knows, with the facts the configuration checks need.

One source of truth: config validation, launch-template user data and the docs read these numbers.
Physical cores = vCPUs / 2 on every Intel type listed (two hardware threads per core).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceSpec:
    vcpus: int
    physical_cores: int
    memory_mib: int
    sockets: int = 1


def _gib(n: float) -> int:
    return int(n * 1024)


INSTANCE_TYPES: dict[str, InstanceSpec] = {
    # seismic imaging (seed: m4.4xlarge spot workers, r5.24xlarge and c5n.18xlarge for OpenMP/MPI)
    "m4.4xlarge": InstanceSpec(16, 8, _gib(64)),
    "m4.10xlarge": InstanceSpec(40, 20, _gib(160), sockets=2),
    "m4.16xlarge": InstanceSpec(64, 32, _gib(256), sockets=2),
    "r5.xlarge": InstanceSpec(4, 2, _gib(32)),
    "r5.4xlarge": InstanceSpec(16, 8, _gib(128)),
    "r5.12xlarge": InstanceSpec(48, 24, _gib(384)),
    "r5.24xlarge": InstanceSpec(96, 48, _gib(768), sockets=2),
    "c5n.xlarge": InstanceSpec(4, 2, _gib(10.5)),
    "c5n.9xlarge": InstanceSpec(36, 18, _gib(96)),
    "c5n.18xlarge": InstanceSpec(72, 36, _gib(192), sockets=2),
    # general purpose (AutoMon coordinator, Ray nodes, small test pools)
    "c5.xlarge": InstanceSpec(4, 2, _gib(8)),
    "c5.2xlarge": InstanceSpec(8, 4, _gib(16)),
    "c5.4xlarge": InstanceSpec(16, 8, _gib(32)),
    "c5.18xlarge": InstanceSpec(72, 36, _gib(144), sockets=2),
    "m5.large": InstanceSpec(2, 1, _gib(8)),
    "m5.xlarge": InstanceSpec(4, 2, _gib(16)),
    "m5.2xlarge": InstanceSpec(8, 4, _gib(32)),
    "m5.4xlarge": InstanceSpec(16, 8, _gib(64)),
    "m5.24xlarge": InstanceSpec(96, 48, _gib(384), sockets=2),
    "t3.medium": InstanceSpec(2, 1, _gib(4)),
    "t3.large": InstanceSpec(2, 1, _gib(8)),
}

# ECS reserves memory for the agent and the OS; a job asking for more than this share never gets placed.
ECS_USABLE_MEMORY_FRACTION = 0.95


def instance_spec(instance_type: str) -> InstanceSpec:
    try:
        return INSTANCE_TYPES[instance_type]
    except KeyError:
        known = ", ".join(sorted(INSTANCE_TYPES))
        raise ValueError(f"unknown instance type {instance_type!r}; known types: {known}") from None
