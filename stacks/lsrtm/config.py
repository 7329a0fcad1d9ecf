"""LSRTM-SGD's configuration (the "batch" context section): network, storage, Batch compute
environments and the two job definitions. Impossible settings (a job that can never be placed, spot
multi-node, an unknown instance type) fail at synth time with a message naming the setting."""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, field_validator, model_validator

from stacks.instance_types import ECS_USABLE_MEMORY_FRACTION, instance_spec
from stacks.validators import LogRetentionDays, PrivateCidr
from workloads.common.execution_input import StrictInput


class ComputeEnvironmentConfig(StrictInput):
    """One Batch compute environment and the job queue in front of it."""

    key: str = Field(description="short id; the queue is named <prefix>-<key>")
    instance_types: list[str]
    spot: bool
    max_vcpus: int = Field(gt=0)
    # CPUs left online per instance. Hyper-threading off keeps one thread per core; None = all cores.
    online_cores: int | None = None
    hyperthreading: bool = False
    spot_bid_percentage: int = Field(default=50, ge=1, le=100)
    multi_node: bool = False

    @field_validator("key")
    @classmethod
    def _key_is_a_name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", v):
            raise ValueError(f"compute environment key {v!r} must be lower-case letters, digits and '-'")
        return v

    @field_validator("instance_types")
    @classmethod
    def _known_types(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one instance type is needed")
        for t in v:
            instance_spec(t)  # raises with the list of known types
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.multi_node and self.spot:
            raise ValueError(
                f"compute environment {self.key!r}: AWS Batch multi-node parallel jobs cannot run on Spot; "
                "set spot=false or multi_node=false"
            )
        for t in self.instance_types:
            spec = instance_spec(t)
            ceiling = spec.vcpus if self.hyperthreading else spec.physical_cores
            if self.online_cores is not None and not 1 <= self.online_cores <= ceiling:
                what = "vCPUs" if self.hyperthreading else "physical cores (hyper-threading off)"
                raise ValueError(
                    f"compute environment {self.key!r}: online_cores={self.online_cores} but {t} has {ceiling} {what}"
                )
            if self.max_vcpus < spec.vcpus:
                raise ValueError(
                    f"compute environment {self.key!r}: max_vcpus={self.max_vcpus} is below one {t} "
                    f"({spec.vcpus} vCPUs), so Batch could never launch an instance"
                )
        return self

    def usable_cpus_per_instance(self) -> int:
        """CPUs ECS can hand to jobs on the smallest instance type (after offlining threads)."""
        per_type = []
        for t in self.instance_types:
            spec = instance_spec(t)
            online = spec.vcpus if self.hyperthreading else spec.physical_cores
            per_type.append(min(online, self.online_cores or online))
        return min(per_type)

    def usable_memory_mib(self) -> int:
        return min(int(instance_spec(t).memory_mib * ECS_USABLE_MEMORY_FRACTION) for t in self.instance_types)

    def max_nodes(self) -> int:
        """Most instances the environment can run at once: a multi-node job needs one per node, and Batch
        counts an instance's full vCPUs against max_vcpus even with sibling threads offlined."""
        return self.max_vcpus // min(instance_spec(t).vcpus for t in self.instance_types)

    def limits(self) -> dict[str, int]:
        """What one job on this environment can ever get: above any of these it waits in RUNNABLE forever.
        The synth-time job check, the ComputePools output and the LSRTM input validator all read these."""
        return {"online_cpus": self.usable_cpus_per_instance(), "usable_memory_mib": self.usable_memory_mib(),
                "max_nodes": self.max_nodes()}


class JobConfig(StrictInput):
    queue: str = Field(description="key of the compute environment whose queue runs the job")
    vcpus: int = Field(gt=0)
    memory_mib: int = Field(gt=0)
    timeout_minutes: int = Field(default=60, ge=1, le=14 * 24 * 60)
    retry_attempts: int = Field(default=3, ge=1, le=10)


class MpiJobConfig(JobConfig):
    num_nodes: int = Field(default=2, ge=1, le=1000, description="default node count; override at submit time")


def _default_compute_environments() -> list[ComputeEnvironmentConfig]:
    # As in the original (slimgroup/ServerlessImagingAWS), with HT switched off by user data, not custom AMIs.
    return [
        ComputeEnvironmentConfig(key="m4-spot-8", instance_types=["m4.4xlarge"], spot=True, max_vcpus=2048),
        ComputeEnvironmentConfig(
            key="r5-spot-24", instance_types=["r5.24xlarge"], spot=True, max_vcpus=2048, online_cores=24
        ),
        ComputeEnvironmentConfig(
            key="r5-spot-48", instance_types=["r5.24xlarge"], spot=True, max_vcpus=2048, online_cores=48
        ),
        ComputeEnvironmentConfig(
            key="r5-mnp-24",
            instance_types=["r5.24xlarge"],
            spot=False,
            max_vcpus=1920,
            online_cores=24,
            multi_node=True,
        ),
        ComputeEnvironmentConfig(
            key="c5n-mnp-18",
            instance_types=["c5n.18xlarge"],
            spot=False,
            max_vcpus=1440,
            online_cores=18,
            multi_node=True,
        ),
    ]


class BatchConfig(StrictInput):
    vpc_cidr: PrivateCidr = "10.20.0.0/16"
    # Without explicit zones the stack stays environment-agnostic, where CloudFormation offers 2 AZs.
    max_azs: int = Field(default=2, ge=1, le=2)
    availability_zones: list[str] = Field(default_factory=list, max_length=6)
    nat_gateways: int = Field(default=1, ge=0, le=6)
    existing_bucket_name: str | None = None
    # the data bucket is versioned: an overwritten or deleted object is kept this long, then expires
    noncurrent_version_days: int = Field(default=30, ge=1, le=3650)
    log_retention_days: LogRetentionDays = 30
    compute_environments: list[ComputeEnvironmentConfig] = Field(default_factory=_default_compute_environments)
    gradient_job: JobConfig = JobConfig(queue="m4-spot-8", vcpus=8, memory_mib=62000, timeout_minutes=60)
    mpi_job: MpiJobConfig = MpiJobConfig(
        queue="r5-mnp-24", vcpus=24, memory_mib=180000, timeout_minutes=120, retry_attempts=2, num_nodes=2
    )



    @model_validator(mode="after")
    def _jobs_fit(self) -> Self:
        if self.nat_gateways > self.az_count:
            raise ValueError(f"nat_gateways={self.nat_gateways} exceeds the number of AZs ({self.az_count})")
        keys = [ce.key for ce in self.compute_environments]
        if len(set(keys)) != len(keys):
            raise ValueError(f"compute environment keys must be unique, got {keys}")
        for name, job in (("gradient_job", self.gradient_job), ("mpi_job", self.mpi_job)):
            ce = self.compute_environment(job.queue, setting=f"{name}.queue")
            if job.vcpus > ce.usable_cpus_per_instance():
                raise ValueError(
                    f"{name} needs {job.vcpus} vCPUs but compute environment {ce.key!r} offers at most "
                    f"{ce.usable_cpus_per_instance()} per instance (hyper-threading "
                    f"{'on' if ce.hyperthreading else 'off'}), so the job would wait in RUNNABLE forever"
                )
            if job.memory_mib > ce.usable_memory_mib():
                raise ValueError(
                    f"{name} needs {job.memory_mib} MiB but instances of {ce.key!r} can give a job at most "
                    f"{ce.usable_memory_mib()} MiB"
                )
        mpi_ce = self.compute_environment(self.mpi_job.queue, setting="mpi_job.queue")
        if not mpi_ce.multi_node:
            raise ValueError(f"mpi_job.queue={self.mpi_job.queue!r} is not a multi_node compute environment")
        if self.mpi_job.num_nodes > mpi_ce.max_nodes():
            raise ValueError(
                f"mpi_job needs {self.mpi_job.num_nodes} nodes but compute environment {mpi_ce.key!r} runs at most "
                f"{mpi_ce.max_nodes()} instances at once (max_vcpus={mpi_ce.max_vcpus})"
            )
        return self

    def job_limits(self) -> dict[str, dict]:
        """The limits of the queues the LSRTM jobs run on ("array": the gradient job's, "multi_node": the MPI
        job's), for the validator that checks an execution's job overrides before anything is submitted."""
        return {
            variant: {"compute_environment": job.queue, "job_memory_mib": job.memory_mib,
                      **self.compute_environment(job.queue).limits()}
            for variant, job in (("array", self.gradient_job), ("multi_node", self.mpi_job))
        }

    @property
    def az_count(self) -> int:
        return len(self.availability_zones) or self.max_azs

    def compute_environment(self, key: str, *, setting: str = "queue") -> ComputeEnvironmentConfig:
        for ce in self.compute_environments:
            if ce.key == key:
                return ce
        raise ValueError(f"{setting}={key!r} names no compute environment; known: {[c.key for c in self.compute_environments]}")
