from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from reproduce.outputs import Deployment, Queue
from stacks.instance_types import ECS_USABLE_MEMORY_FRACTION, instance_spec

ACCOUNT = "123456789012"
PREFIX = f"arn:aws:batch:us-east-1:{ACCOUNT}"
BUCKET = "hpcx-data"


def queue(key: str, itype: str, online_cpus: int, *, spot: bool, multi_node: bool, max_vcpus: int = 2048,
          threads_per_core: int = 1) -> Queue:
    spec = instance_spec(itype)  # what the ComputePools output says of the type
    return Queue(key=key, name=f"hpcx-{key}", arn=f"{PREFIX}:job-queue/hpcx-{key}",
                 compute_environment=f"{PREFIX}:compute-environment/ce-{key}", instance_types=(itype,),
                 online_cpus=online_cpus, threads_per_core=threads_per_core, spot=spot, multi_node=multi_node,
                 max_vcpus=max_vcpus, vcpus=spec.vcpus, cores_per_socket=spec.physical_cores // spec.sockets,
                 usable_memory_mib=int(spec.memory_mib * ECS_USABLE_MEMORY_FRACTION),
                 ecs_cluster_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/ce-{key}")


@pytest.fixture
def deployment() -> Deployment:
    queues = [
        # the default pools, and one that keeps its hyper-threads
        queue("m4-spot-8", "m4.4xlarge", 8, spot=True, multi_node=False),
        queue("r5-spot-24", "r5.24xlarge", 24, spot=True, multi_node=False),
        queue("r5-spot-48", "r5.24xlarge", 48, spot=True, multi_node=False),
        queue("r5-mnp-24", "r5.24xlarge", 24, spot=False, multi_node=True, max_vcpus=1920),
        queue("c5n-mnp-18", "c5n.18xlarge", 18, spot=False, multi_node=True, max_vcpus=1440),
        queue("r5-spot-ht", "r5.24xlarge", 96, spot=True, multi_node=False, threads_per_core=2),
    ]
    return Deployment(
        stack_name="hpcx-batch", bucket=BUCKET, gradient_queue="hpcx-m4-spot-8",
        gradient_job_definition=f"{PREFIX}:job-definition/hpcx-gradient:1", mpi_queue="hpcx-r5-mnp-24",
        mpi_job_definition=f"{PREFIX}:job-definition/hpcx-gradient-mpi:1",
        state_machine_arn=f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:hpcx-LSRTM-SGD",
        queues={q.name: q for q in queues},
    )


@pytest.fixture
def stubbed():
    """Stubbed clients by service name; every expected call must be made (assert_no_pending_responses)."""
    made: dict[str, tuple] = {}

    def get(service: str):
        if service not in made:
            client = boto3.client(service, region_name="us-east-1")
            stub = Stubber(client)
            stub.activate()
            made[service] = (client, stub)
        return made[service]

    yield get
    for _, stub in made.values():
        stub.deactivate()
