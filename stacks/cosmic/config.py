"""The `fmi` section of the app configuration (FmiStack: rendezvous service, executor, cosmicai workflow).

Ports and communicator defaults come from workloads/cosmic/constants.py (one source of truth). Override, e.g.:
  cdk synth -c fmi.max_world_size=512 -c fmi.executor_memory_mib=10240
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from stacks.validators import LogRetentionDays, PrivateCidr, check_fargate_size
from workloads.common.execution_input import StrictInput
from workloads.cosmic.constants import (
    DEFAULT_OP_TIMEOUT_S,
    HEALTH_PORT,
    MAX_CONNECTIONS,
    MAX_PER_ADDRESS,
    RENDEZVOUS_PORT,
)

# A Distributed Map runs at most 10,000 child executions at once; every rank must run at the same time.
MAX_DISTRIBUTED_MAP_CONCURRENCY = 10_000
LAMBDA_MAX_TIMEOUT_S = 900
LAMBDA_MEMORY_MIB = range(128, 10240 + 1)


class FmiConfig(StrictInput):
    vpc_cidr: PrivateCidr = "10.60.0.0/16"  # apart from the other stacks' defaults, should anyone peer them
    az_count: int = Field(default=2, ge=1, le=3)
    # the rendezvous task sits in private subnets; a NAT gateway lets it pull its image and write logs
    nat_gateways: int = Field(default=1, ge=1, le=3)
    rendezvous_port: int = Field(default=RENDEZVOUS_PORT, ge=1024, le=65535)
    health_port: int = Field(default=HEALTH_PORT, ge=1024, le=65535)
    rendezvous_cpu: int = 512
    rendezvous_memory_mib: int = 1024
    # the server's caps (it listens on the internet); the task's nofile limit is set to fit max_connections
    rendezvous_max_connections: int = Field(default=MAX_CONNECTIONS, ge=2, le=1_000_000)
    # connections from one source address; None: twice max_world_size, at least MAX_PER_ADDRESS (see
    # rendezvous_per_address)
    rendezvous_max_per_address: int | None = Field(default=None, ge=2)
    # FMI collectives need every rank running at once: the Map runs this many, and larger worlds are refused
    max_world_size: int = Field(default=64, ge=1, le=MAX_DISTRIBUTED_MAP_CONCURRENCY)
    # new accounts are capped at 3,008 MB until a quota increase; the course used 10,240 MB
    executor_memory_mib: int = 3008
    executor_timeout_s: int = Field(default=LAMBDA_MAX_TIMEOUT_S, ge=60, le=LAMBDA_MAX_TIMEOUT_S)
    executor_ephemeral_storage_mib: int = Field(default=2048, ge=512, le=10240)
    # a rank waits this long for a peer (FMI's max_timeout); must end before the Lambda's own timeout
    op_timeout_s: float = Field(default=DEFAULT_OP_TIMEOUT_S, gt=0)
    execution_timeout_minutes: int = Field(default=60, ge=5, le=24 * 60)
    log_retention_days: LogRetentionDays = 30


    @field_validator("executor_memory_mib")
    @classmethod
    def _lambda_memory(cls, v: int) -> int:
        if v not in LAMBDA_MEMORY_MIB:
            raise ValueError(f"Lambda memory must be {LAMBDA_MEMORY_MIB.start}-{LAMBDA_MEMORY_MIB.stop - 1} MiB, got {v}")
        return v


    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.nat_gateways > self.az_count:
            raise ValueError(f"nat_gateways={self.nat_gateways} exceeds az_count={self.az_count}")
        if self.rendezvous_port == self.health_port:
            raise ValueError("rendezvous_port and health_port must differ")
        check_fargate_size("rendezvous", self.rendezvous_cpu, self.rendezvous_memory_mib)
        if self.op_timeout_s >= self.executor_timeout_s:
            raise ValueError(
                f"op_timeout_s={self.op_timeout_s} must be below executor_timeout_s={self.executor_timeout_s}: a rank "
                "waiting for a lost peer must fail with a clear timeout before Lambda kills it"
            )
        if self.execution_timeout_minutes * 60 < self.executor_timeout_s:
            raise ValueError("execution_timeout_minutes is shorter than one executor invocation")
        if self.rendezvous_max_per_address is not None and self.rendezvous_max_per_address < self.max_world_size:
            raise ValueError(
                f"rendezvous_max_per_address={self.rendezvous_max_per_address} is below max_world_size="
                f"{self.max_world_size}: the ranks of one world may share a NAT address, and would be refused"
            )
        if self.rendezvous_max_connections < 2 * self.max_world_size:
            raise ValueError(f"rendezvous_max_connections={self.rendezvous_max_connections} leaves no room for a "
                             f"world of max_world_size={self.max_world_size} ranks and their partners")
        return self

    @property
    def rendezvous_per_address(self) -> int:
        """Connections the server accepts from one address. Each rank holds at most one rendezvous connection
        at a time, and Lambda functions reach the internet through shared AWS addresses, so in the worst case
        every rank of a world, and of a second execution running at the same time, arrives from one address."""
        if self.rendezvous_max_per_address is not None:
            return self.rendezvous_max_per_address
        return min(self.rendezvous_max_connections, max(MAX_PER_ADDRESS, 2 * self.max_world_size))
