from __future__ import annotations

import pytest

from tools.experiments.outputs import REQUIRED_OUTPUTS, DeploymentError, read_deployment

from .conftest import PREFIX


def _outputs(skip=()):
    return [{"OutputKey": k, "OutputValue": f"value-of-{k}"} for k in REQUIRED_OUTPUTS if k not in skip]


def test_reads_outputs_and_discovers_every_queue(stubbed):
    cfn, cfn_stub = stubbed("cloudformation")
    batch, batch_stub = stubbed("batch")
    cfn_stub.add_response("describe_stacks", {"Stacks": [{"StackName": "hpcx-batch", "CreationTime": "2026-01-01",
                                                          "StackStatus": "CREATE_COMPLETE", "Outputs": _outputs()}]},
                          {"StackName": "hpcx-batch"})
    resources = [
        {"LogicalResourceId": "PoolJobQueueA", "PhysicalResourceId": f"{PREFIX}:job-queue/hpcx-r5-spot-24",
         "ResourceType": "AWS::Batch::JobQueue", "LastUpdatedTimestamp": "2026-01-01", "ResourceStatus": "CREATE_COMPLETE"},
        {"LogicalResourceId": "PoolJobQueueB", "PhysicalResourceId": f"{PREFIX}:job-queue/hpcx-c5n-mnp-18",
         "ResourceType": "AWS::Batch::JobQueue", "LastUpdatedTimestamp": "2026-01-01", "ResourceStatus": "CREATE_COMPLETE"},
        {"LogicalResourceId": "Bucket", "PhysicalResourceId": "hpcx-data", "ResourceType": "AWS::S3::Bucket",
         "LastUpdatedTimestamp": "2026-01-01", "ResourceStatus": "CREATE_COMPLETE"},
    ]
    cfn_stub.add_response("list_stack_resources", {"StackResourceSummaries": resources}, {"StackName": "hpcx-batch"})
    ce = {k: f"{PREFIX}:compute-environment/ce-{k}" for k in ("r5", "c5n")}
    batch_stub.add_response("describe_job_queues", {"jobQueues": [
        {"jobQueueName": "hpcx-r5-spot-24", "jobQueueArn": f"{PREFIX}:job-queue/hpcx-r5-spot-24", "state": "ENABLED",
         "priority": 1000, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce["r5"]}]},
        {"jobQueueName": "hpcx-c5n-mnp-18", "jobQueueArn": f"{PREFIX}:job-queue/hpcx-c5n-mnp-18", "state": "ENABLED",
         "priority": 1000, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce["c5n"]}]},
    ]}, {"jobQueues": [r["PhysicalResourceId"] for r in resources[:2]]})
    batch_stub.add_response("describe_compute_environments", {"computeEnvironments": [
        {"computeEnvironmentName": "ce-c5n", "computeEnvironmentArn": ce["c5n"], "ecsClusterArn": "cluster-c5n",
         "computeResources": {"type": "EC2", "maxvCpus": 1440, "instanceTypes": ["c5n.18xlarge"], "subnets": [],
                              "placementGroup": "pg"}},
        {"computeEnvironmentName": "ce-r5", "computeEnvironmentArn": ce["r5"], "ecsClusterArn": "cluster-r5",
         "computeResources": {"type": "SPOT", "maxvCpus": 2048, "instanceTypes": ["r5.24xlarge"], "subnets": []}},
    ]}, {"computeEnvironments": sorted(ce.values())})

    dep = read_deployment("hpcx-batch", cfn, batch)

    assert dep.bucket == "value-of-DataBucket"
    assert dep.gradient_job_definition == "value-of-GradientJobDefinition"
    r5, c5n = dep.queue("r5-spot-24"), dep.queue("hpcx-c5n-mnp-18")
    assert (r5.spot, r5.multi_node, r5.instance_types, r5.ecs_cluster_arn) == (True, False, ("r5.24xlarge",), "cluster-r5")
    assert (c5n.spot, c5n.multi_node, c5n.max_vcpus) == (False, True, 1440)
    with pytest.raises(DeploymentError, match="no job queue 'r5-spot-48'"):
        dep.queue("r5-spot-48")
    cfn_stub.assert_no_pending_responses()
    batch_stub.assert_no_pending_responses()


def test_missing_outputs_are_named(stubbed):
    cfn, cfn_stub = stubbed("cloudformation")
    batch, _ = stubbed("batch")
    cfn_stub.add_response("describe_stacks", {"Stacks": [{"StackName": "s", "CreationTime": "2026-01-01",
                                                          "StackStatus": "CREATE_COMPLETE",
                                                          "Outputs": _outputs(skip=("MpiJobDefinition",))}]})
    with pytest.raises(DeploymentError, match="MpiJobDefinition"):
        read_deployment("s", cfn, batch)
