from __future__ import annotations

import json

import pytest

from reproduce.outputs import COMPUTE_POOLS, REQUIRED_OUTPUTS, DeploymentError, read_deployment

from .conftest import PREFIX

# the instance facts the output carries (r5.24xlarge: 96 vCPUs, 2 sockets of 24 cores, 768 GiB)
R5 = {"vcpus": 96, "cores_per_socket": 24, "usable_memory_mib": 747110}
POOLS = {
    "r5-spot-24": {"queue": "hpcx-r5-spot-24", "instance_types": ["r5.24xlarge"], "online_cpus": 24,
                   "threads_per_core": 1, "spot": True, "multi_node": False, **R5},
    "c5n-mnp-18": {"queue": "hpcx-c5n-mnp-18", "instance_types": ["c5n.18xlarge"], "online_cpus": 18,
                   "threads_per_core": 1, "spot": False, "multi_node": True,
                   "vcpus": 72, "cores_per_socket": 18, "usable_memory_mib": 186777},
    "r5-ht": {"queue": "hpcx-r5-ht", "instance_types": ["r5.24xlarge"], "online_cpus": 48,
              "threads_per_core": 2, "spot": True, "multi_node": False, **R5},
}


def _outputs(skip=(), pools=POOLS):
    out = [{"OutputKey": k, "OutputValue": f"value-of-{k}"} for k in REQUIRED_OUTPUTS if k not in skip]
    if COMPUTE_POOLS not in skip:
        out.append({"OutputKey": COMPUTE_POOLS, "OutputValue": json.dumps(pools)})
    return out


def _stack(outputs) -> dict:
    return {"Stacks": [{"StackName": "hpcx-batch", "CreationTime": "2026-01-01", "StackStatus": "CREATE_COMPLETE",
                        "Outputs": outputs}]}


def test_pools_come_from_the_output_and_batch_adds_what_only_exists_once_deployed(stubbed):
    cfn, cfn_stub = stubbed("cloudformation")
    batch, batch_stub = stubbed("batch")
    cfn_stub.add_response("describe_stacks", _stack(_outputs()), {"StackName": "hpcx-batch"})
    ce = {k: f"{PREFIX}:compute-environment/ce-{k}" for k in POOLS}
    batch_stub.add_response("describe_job_queues", {"jobQueues": [
        {"jobQueueName": f"hpcx-{k}", "jobQueueArn": f"{PREFIX}:job-queue/hpcx-{k}", "state": "ENABLED",
         "priority": 1000, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce[k]}]} for k in POOLS
    ]}, {"jobQueues": sorted(p["queue"] for p in POOLS.values())})
    batch_stub.add_response("describe_compute_environments", {"computeEnvironments": [
        {"computeEnvironmentName": f"ce-{k}", "computeEnvironmentArn": ce[k], "ecsClusterArn": f"cluster-{k}",
         "computeResources": {"type": "EC2", "maxvCpus": 1440 if k == "c5n-mnp-18" else 2048, "subnets": []}}
        for k in POOLS
    ]}, {"computeEnvironments": sorted(ce.values())})

    dep = read_deployment("hpcx-batch", cfn, batch)

    cfn_stub.assert_no_pending_responses()  # no resource listing: the output names every queue
    batch_stub.assert_no_pending_responses()
    assert dep.bucket == "value-of-DataBucket"
    assert dep.gradient_job_definition == "value-of-GradientJobDefinition"
    r5, c5n, ht = dep.queue("r5-spot-24"), dep.queue("hpcx-c5n-mnp-18"), dep.queue("r5-ht")
    assert (r5.key, r5.spot, r5.multi_node, r5.instance_types) == ("r5-spot-24", True, False, ("r5.24xlarge",))
    assert (r5.online_cpus, r5.hyperthreading, r5.ecs_cluster_arn) == (24, False, "cluster-r5-spot-24")
    assert (c5n.spot, c5n.multi_node, c5n.max_vcpus, c5n.online_cpus) == (False, True, 1440, 18)
    # 48 CPUs online on a 48-core r5.24xlarge, two threads per core: 24 cores with their siblings
    assert ht.hyperthreading and ht.online_cpus == 48
    assert dep.queue(f"{PREFIX}:job-queue/hpcx-r5-ht") is ht  # by ARN, as describe_jobs names it
    with pytest.raises(DeploymentError, match="no job queue 'r5-spot-48'"):
        dep.queue("r5-spot-48")


@pytest.mark.parametrize("skip", ["MpiJobDefinition", COMPUTE_POOLS])
def test_missing_outputs_are_named(stubbed, skip):
    """A stack deployed before ComputePools existed is refused with what to do (no guessing from names)."""
    cfn, cfn_stub = stubbed("cloudformation")
    batch, batch_stub = stubbed("batch")  # no responses: a Batch call would fail the test
    cfn_stub.add_response("describe_stacks", _stack(_outputs(skip=(skip,))))
    with pytest.raises(DeploymentError, match=f"{skip}.*make deploy STACK=BatchStack"):
        read_deployment("s", cfn, batch)
    batch_stub.assert_no_pending_responses()


def test_a_pool_without_its_cpu_facts_is_refused(stubbed):
    cfn, cfn_stub = stubbed("cloudformation")
    batch, _ = stubbed("batch")
    pools = {"r5-spot-24": {k: v for k, v in POOLS["r5-spot-24"].items() if k != "online_cpus"}}
    cfn_stub.add_response("describe_stacks", _stack(_outputs(pools=pools)))
    with pytest.raises(DeploymentError, match="pool 'r5-spot-24' lacks online_cpus"):
        read_deployment("s", cfn, batch)
