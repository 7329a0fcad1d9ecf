"""The LSRTM-SGD execution input: what a user starts an execution with, validated before anything runs.

Field names follow the seed's parameters.json where they carry over (batchsize, num_shots,
step_length, step_scaling, space_order), grouped and typed.
"""

from __future__ import annotations

import math
import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from workloads.common.execution_input import InvalidInput, S3Key, check_s3_key, echo, parse_input
from workloads.common.execution_input import StrictInput as _Strict

__all__ = ["InvalidInput", "RunParameters", "check_job_fits", "check_run_id"]

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class ModelInput(_Strict):
    key: S3Key = Field(description="S3 key of the background model (.npz of workloads.seismic.Model: squared "
                       "slowness s^2/km^2, spacing, origin)")
    water_key: S3Key | None = Field(default=None, description="S3 key of the water mask (.npy, 1 in water); "
                                    "default: derived from the model's velocity")


class DataInput(_Strict):
    prefix: str = Field(description="S3 prefix of the shots; shot i is <prefix><name><i>.segy")
    name: str = "shot_"
    num_shots: int = Field(ge=1, le=100_000)
    first_shot: int = Field(default=0, ge=0, description="index of the first shot file")

    def key(self, shot: int) -> str:
        return f"{self.prefix}{self.name}{self.first_shot + shot}.segy"

    @model_validator(mode="after")
    def _keys_are_s3_keys(self) -> Self:
        # the longest shot key is the last one; prefix and name reach S3 only inside shot keys
        try:
            check_s3_key(self.key(self.num_shots - 1))
        except ValueError as exc:
            raise ValueError(f"prefix + name give shot keys S3 cannot take: the last one {exc}") from None
        return self


class PhysicsInput(_Strict):
    space_order: int = Field(default=8, ge=2, le=16)
    imaging: Literal["isic", "xcorr"] = "isic"
    storage: Literal["auto", "full", "subsampled", "checkpointed"] = "auto"
    memory_budget_mib: int = Field(default=48_000, ge=64, description="memory of the whole worker process per "
                                   "rank; the wavefield storage gets what Python, Devito and the traces leave")
    peak_frequency_hz: float = Field(default=20.0, gt=0, description="Ricker peak frequency (20 Hz in the seed)")
    preconditioning: bool = Field(default=True, description="depth scaling, water mute, direct-wave mute")
    aperture_buffer_m: float = Field(default=5000.0, ge=0)


class JobInput(_Strict):
    vcpus: int | None = Field(default=None, ge=1, description="override the job definition's vCPUs")
    memory_mib: int | None = Field(default=None, ge=512)
    num_nodes: int = Field(default=2, ge=1, le=64, description="multi-node variant only")


class RunParameters(_Strict):
    iterations: int = Field(ge=1, le=1000, description="SGD iterations (the seed's maxiter)")
    batchsize: int = Field(ge=1, le=10_000, description="shots per iteration, one array child each")
    model: ModelInput
    data: DataInput
    step_length: float = Field(default=1.0, gt=0, description="exact: the fraction of the exact line-search "
                               "step taken, in (0, 2); fixed and polyak: multiplied by step_scaling")
    step_scaling: float = Field(default=-10_000, description="fixed and polyak: < 0: step = length/|scaling|, "
                                "else length*scaling; unused by exact")
    step_rule: Literal["exact", "fixed", "polyak"] = Field(
        default="exact",
        description="exact: step_length times the step that minimises the batch misfit along the gradient "
        "(one extra Born modelling per shot; descends on any data scale for 0 < step_length < 2); fixed: the "
        "seed's constant step; polyak: step_size * misfit / |gradient|^2 of the batch",
    )
    seed: int = Field(default=0, ge=0, description="with the iteration, decides the shots")
    physics: PhysicsInput = PhysicsInput()
    job: JobInput = JobInput()
    bucket: str | None = Field(default=None, description="the stack's data bucket (the default); no other "
                               "bucket is reachable by the workflow's roles")

    @field_validator("step_scaling")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("step_scaling must not be 0")
        return v

    @model_validator(mode="after")
    def _step_is_finite(self) -> Self:
        # each factor is finite, but their product can overflow (or underflow to 0): the image update
        # would then write inf or do nothing
        if not (math.isfinite(self.step_size) and self.step_size > 0):
            raise ValueError(f"step_length and step_scaling give the step size {self.step_size}; it must be "
                             "a finite number above 0")
        return self

    @model_validator(mode="after")
    def _exact_step_descends(self) -> Self:
        # the batch misfit along -G is a parabola with its minimum at step 1 (times the exact step): any
        # fraction in (0, 2) lowers it, 2 returns it to where it was, more raises it
        if self.step_rule == "exact" and not 0 < self.step_length < 2:
            raise ValueError(f"step_length={self.step_length:g} with step_rule 'exact' must be in (0, 2): "
                             "2 or more times the exact line-search step does not lower the batch misfit")
        return self

    @model_validator(mode="after")
    def _batch_fits(self) -> Self:
        if self.batchsize > self.data.num_shots:
            raise ValueError(
                f"batchsize={self.batchsize} exceeds data.num_shots={self.data.num_shots}: "
                "an iteration uses each shot at most once"
            )
        return self

    @property
    def step_size(self) -> float:
        """What the step rule multiplies: the step (fixed), misfit/|g|^2 (polyak), the exact step (exact)."""
        if self.step_rule == "exact":
            return self.step_length
        if self.step_scaling < 0:
            return self.step_length / abs(self.step_scaling)
        return self.step_length * self.step_scaling

    @classmethod
    def parse(cls, raw: object) -> RunParameters:
        return parse_input(cls, raw)


def check_run_id(run_id: str) -> str:
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise InvalidInput(f"run id {echo(run_id)} must be 1-80 characters of letters, digits, '_', '.', '-'")
    return run_id


COMPILER_MEMORY_MIB = 256  # Devito's C compiler runs beside the worker, inside the same container limit


def check_job_fits(job: JobInput, limits: dict, *, multi_node: bool, memory_budget_mib: int | None = None) -> None:
    """InvalidInput when the job overrides ask for more than any instance of the queue has (or, multi-node,
    more nodes than the environment can run at once): Batch would keep such a job RUNNABLE until the
    iteration times out. `limits`: stacks.config.ComputeEnvironmentConfig.limits() of the queue's
    environment, plus its key ("compute_environment")."""
    where = f"compute environment {limits['compute_environment']!r}"
    problems = []
    if job.vcpus is not None and job.vcpus > limits["online_cpus"]:
        problems.append(f"job.vcpus={job.vcpus} is more than the {limits['online_cpus']} CPUs online per "
                        f"instance of {where}")
    if job.memory_mib is not None and job.memory_mib > limits["usable_memory_mib"]:
        problems.append(f"job.memory_mib={job.memory_mib} is more than the {limits['usable_memory_mib']} MiB "
                        f"an instance of {where} can give a job")
    if multi_node and job.num_nodes > limits["max_nodes"]:
        problems.append(f"job.num_nodes={job.num_nodes} is more than the {limits['max_nodes']} instances "
                        f"{where} can run at once")
    if problems:
        raise InvalidInput("; ".join(problems) + ": the job would wait in RUNNABLE until the iteration times out")
    job_memory = job.memory_mib or limits.get("job_memory_mib")
    if memory_budget_mib is not None and job_memory and memory_budget_mib > job_memory - COMPILER_MEMORY_MIB:
        raise InvalidInput(f"physics.memory_budget_mib={memory_budget_mib} is more than the job's {job_memory} MiB "
                           f"less {COMPILER_MEMORY_MIB} MiB for Devito's compiler: the container would be killed")
