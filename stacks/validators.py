"""Checks the experiments' config sections share: a VPC range, a Fargate task size."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from stacks.log_retention import check_retention_days
from workloads.common.networks import private_network


def check_private_cidr(v: str) -> str:
    """A private (RFC 1918) IPv4 range between /16 (the VPC maximum) and /24 (room for the subnets)."""
    net = private_network(v)
    if not 16 <= net.prefixlen <= 24:
        raise ValueError(f"{v!r}: the prefix length must be between /16 and /24")
    return v


# Fargate task sizes (CPU units -> allowed memory in MiB), from the ECS task-definition docs.
FARGATE_MEMORY_MIB: dict[int, range] = {
    256: range(512, 2048 + 1, 512),
    512: range(1024, 4096 + 1, 1024),
    1024: range(2048, 8192 + 1, 1024),
    2048: range(4096, 16384 + 1, 1024),
    4096: range(8192, 30720 + 1, 1024),
    8192: range(16384, 61440 + 1, 4096),
    16384: range(32768, 122880 + 1, 8192),
}


def check_fargate_size(what: str, cpu: int, memory_mib: int) -> None:
    if cpu not in FARGATE_MEMORY_MIB:
        raise ValueError(f"{what}: Fargate CPU must be one of {sorted(FARGATE_MEMORY_MIB)} units, got {cpu}")
    allowed = FARGATE_MEMORY_MIB[cpu]
    if memory_mib not in allowed:
        raise ValueError(
            f"{what}: {cpu} CPU units take {allowed.start}-{allowed.stop - 1} MiB of memory in steps of "
            f"{allowed.step} MiB on Fargate, got {memory_mib}"
        )


# Field types of the config sections: the check runs wherever the type is used
PrivateCidr = Annotated[str, AfterValidator(check_private_cidr)]
LogRetentionDays = Annotated[int, AfterValidator(check_retention_days)]
