"""What the launchers need from the deployed BatchStack, read from CloudFormation (never pasted by hand).

The stack's outputs give the bucket, the gradient and MPI job definitions and queues, the state machines
and, in `ComputePools`, every pool as the stack built it: queue name, instance types, CPUs online per
instance and threads per core. Batch then describes those queues for what only exists once deployed
(ARNs, the ECS cluster, the vCPU ceiling).

A stack deployed before `ComputePools` existed is refused, not guessed at: without the output the CPUs
online per instance are unknown, and updating the stack adds the output without touching a resource.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

DEFAULT_STACK = "hpcx-batch"  # <prefix>-batch with the default prefix

# output key -> Deployment field
REQUIRED_OUTPUTS = {
    "DataBucket": "bucket",
    "GradientJobQueue": "gradient_queue",
    "GradientJobDefinition": "gradient_job_definition",
    "MpiJobQueue": "mpi_queue",
    "MpiJobDefinition": "mpi_job_definition",
    "StateMachineArn": "state_machine_arn",
}
COMPUTE_POOLS = "ComputePools"  # JSON: compute environment key -> the pool's facts (BatchPool.summary)


class DeploymentError(RuntimeError):
    """The deployed stack lacks something a launcher needs; the message says what."""


@dataclass(frozen=True)
class Queue:
    key: str  # the compute environment key in the configuration (`r5-spot-24`)
    name: str
    arn: str
    compute_environment: str
    instance_types: tuple[str, ...]
    online_cpus: int  # per instance, as ECS sees them after the user data offlined the rest
    threads_per_core: int
    spot: bool
    multi_node: bool
    max_vcpus: int
    vcpus: int  # per instance of the first type, threads included
    cores_per_socket: int  # of the first type: the paper runs one MPI rank's threads on one socket
    usable_memory_mib: int  # the most memory one job can get on any of the pool's instance types
    ecs_cluster_arn: str | None = None

    @property
    def hyperthreading(self) -> bool:
        """Whether jobs share cores with sibling threads. The CPUs online alone cannot tell below the
        physical core count (24 online on an r5.24xlarge may be 24 cores or 12 x 2 threads), so the
        pool's threads per core decides."""
        return self.threads_per_core > 1

    def describe_cpus(self) -> str:
        ht = "on" if self.hyperthreading else "off"
        return (f"its {self.instance_types[0]} instances keep {self.online_cpus} of {self.vcpus} vCPUs online "
                f"({self.threads_per_core} thread(s) per core, hyper-threading {ht})")


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    bucket: str
    gradient_queue: str
    gradient_job_definition: str
    mpi_queue: str
    mpi_job_definition: str
    state_machine_arn: str
    queues: dict[str, Queue] = field(default_factory=dict)

    def queue(self, name_or_key: str) -> Queue:
        """A queue by its full name or by its compute environment key (`r5-spot-24` in `<prefix>-r5-spot-24`)."""
        if name_or_key in self.queues:
            return self.queues[name_or_key]
        for q in self.queues.values():
            if name_or_key in (q.key, q.arn):
                return q
        known = ", ".join(sorted(self.queues)) or "none"
        raise DeploymentError(f"stack {self.stack_name} has no job queue {name_or_key!r} (queues: {known})")


def read_deployment(stack_name: str, cloudformation, batch) -> Deployment:
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [k for k in (*REQUIRED_OUTPUTS, COMPUTE_POOLS) if k not in outputs]
    if missing:
        raise DeploymentError(
            f"stack {stack_name} has no output(s) {', '.join(missing)}: it is not a BatchStack, or one deployed "
            "by an older version of this app; update it with make deploy STACK=BatchStack"
        )
    return Deployment(
        stack_name=stack_name,
        queues=_job_queues(parse_compute_pools(outputs[COMPUTE_POOLS]), batch),
        **{attr: outputs[key] for key, attr in REQUIRED_OUTPUTS.items()},
    )


def parse_compute_pools(value: str) -> dict[str, dict]:
    """The ComputePools output: compute environment key -> queue, instance_types, online_cpus, ..."""
    try:
        pools = json.loads(value)
    except json.JSONDecodeError as exc:
        raise DeploymentError(f"output {COMPUTE_POOLS} is not JSON: {exc}") from None
    fields = ("queue", "instance_types", "online_cpus", "threads_per_core", "spot", "multi_node", "vcpus",
              "cores_per_socket", "usable_memory_mib")
    for key, pool in pools.items():
        absent = [f for f in fields if f not in pool]
        if absent:
            raise DeploymentError(f"output {COMPUTE_POOLS}: pool {key!r} lacks {', '.join(absent)}")
    return pools


def _job_queues(pools: dict[str, dict], batch) -> dict[str, Queue]:
    if not pools:
        return {}
    key_of = {pool["queue"]: key for key, pool in pools.items()}
    queues = batch.describe_job_queues(jobQueues=sorted(key_of))["jobQueues"]
    ce_arns = sorted({q["computeEnvironmentOrder"][0]["computeEnvironment"] for q in queues})
    environments = {
        ce["computeEnvironmentArn"]: ce
        for ce in batch.describe_compute_environments(computeEnvironments=ce_arns)["computeEnvironments"]
    }
    out = {}
    for q in queues:
        key = key_of[q["jobQueueName"]]
        pool = pools[key]
        ce = environments[q["computeEnvironmentOrder"][0]["computeEnvironment"]]
        out[q["jobQueueName"]] = Queue(
            key=key,
            name=q["jobQueueName"],
            arn=q["jobQueueArn"],
            compute_environment=ce["computeEnvironmentArn"],
            instance_types=tuple(pool["instance_types"]),
            online_cpus=int(pool["online_cpus"]),
            threads_per_core=int(pool["threads_per_core"]),
            spot=bool(pool["spot"]),
            multi_node=bool(pool["multi_node"]),
            max_vcpus=int(ce.get("computeResources", {}).get("maxvCpus", 0)),
            vcpus=int(pool["vcpus"]),
            cores_per_socket=int(pool["cores_per_socket"]),
            usable_memory_mib=int(pool["usable_memory_mib"]),
            ecs_cluster_arn=ce.get("ecsClusterArn"),
        )
    return out
