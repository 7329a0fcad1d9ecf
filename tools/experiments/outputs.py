"""What the launchers need from the deployed BatchStack, read from CloudFormation (never pasted by hand).

The stack's outputs give the bucket, the gradient and MPI job definitions and queues, and the state
machines. The other queues (the r5 and c5n pools) have no output, so they are found among the stack's
resources: every AWS::Batch::JobQueue of the stack, described by Batch with its compute environment.
"""

from __future__ import annotations

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


class DeploymentError(RuntimeError):
    """The deployed stack lacks something a launcher needs; the message says what."""


@dataclass(frozen=True)
class Queue:
    name: str
    arn: str
    compute_environment: str
    instance_types: tuple[str, ...]
    spot: bool
    multi_node: bool
    max_vcpus: int
    ecs_cluster_arn: str | None = None


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
        matches = [q for n, q in self.queues.items() if n.endswith(f"-{name_or_key}")]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(sorted(self.queues)) or "none"
        raise DeploymentError(f"stack {self.stack_name} has no job queue {name_or_key!r} (queues: {known})")


def read_deployment(stack_name: str, cloudformation, batch) -> Deployment:
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [k for k in REQUIRED_OUTPUTS if k not in outputs]
    if missing:
        raise DeploymentError(
            f"stack {stack_name} has no output(s) {', '.join(missing)}; is it a BatchStack deployment "
            "(make deploy STACK=BatchStack) of this version?"
        )
    return Deployment(
        stack_name=stack_name,
        queues=_job_queues(stack_name, cloudformation, batch),
        **{attr: outputs[key] for key, attr in REQUIRED_OUTPUTS.items()},
    )


def _job_queues(stack_name: str, cloudformation, batch) -> dict[str, Queue]:
    arns = []
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        arns += [r["PhysicalResourceId"] for r in page["StackResourceSummaries"]
                 if r["ResourceType"] == "AWS::Batch::JobQueue" and r.get("PhysicalResourceId")]
    if not arns:
        return {}
    queues = batch.describe_job_queues(jobQueues=arns)["jobQueues"]
    ce_arns = sorted({q["computeEnvironmentOrder"][0]["computeEnvironment"] for q in queues})
    environments = {
        ce["computeEnvironmentArn"]: ce
        for ce in batch.describe_compute_environments(computeEnvironments=ce_arns)["computeEnvironments"]
    }
    out = {}
    for q in queues:
        ce = environments[q["computeEnvironmentOrder"][0]["computeEnvironment"]]
        resources = ce.get("computeResources", {})
        out[q["jobQueueName"]] = Queue(
            name=q["jobQueueName"],
            arn=q["jobQueueArn"],
            compute_environment=ce["computeEnvironmentArn"],
            instance_types=tuple(resources.get("instanceTypes", [])),
            spot=resources.get("type") == "SPOT",
            # the stack gives only its multi-node environments a cluster placement group
            multi_node=bool(resources.get("placementGroup")),
            max_vcpus=int(resources.get("maxvCpus", 0)),
            ecs_cluster_arn=ce.get("ecsClusterArn"),
        )
    return out
