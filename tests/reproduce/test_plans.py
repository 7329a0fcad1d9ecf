"""What each launcher would submit: exact requests, validated before anything is sent."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from reproduce import plans as P

BASE = P.load_base_input(None)


def test_weak_scaling_starts_one_iteration_per_batch_size_and_repeat(deployment):
    plans = P.plan_weak(P.WeakParams(campaign="jan", base_input=BASE, batch_sizes=[4, 1], runs=2), deployment)
    assert [p.run_id for p in plans] == ["jan-weak-n0001-r0", "jan-weak-n0001-r1", "jan-weak-n0004-r0", "jan-weak-n0004-r1"]
    request = plans[2].start_execution
    assert request["stateMachineArn"] == deployment.state_machine_arn
    assert request["name"] == "jan-weak-n0004-r0"
    execution_input = json.loads(request["input"])
    assert (execution_input["iterations"], execution_input["batchsize"]) == (1, 4)
    assert execution_input["physics"]["imaging"] == "xcorr"
    assert execution_input["physics"]["aperture_buffer_m"] == P.RESTRICTED_BUFFER_M
    assert execution_input["job"] == {"vcpus": 8, "memory_mib": 62000, "num_nodes": 2}
    assert plans[2].queue == "hpcx-m4-spot-8"
    # the paper's fixed step, whatever the base input's rule: one gradient job per iteration, as costed
    assert (execution_input["step_rule"], execution_input["step_length"], execution_input["step_scaling"]) == (
        "fixed", 1, -10_000)


def test_openmp_job_request(deployment):
    plans = P.plan_openmp(P.OpenMpParams(campaign="jan", base_input=BASE, threads=[24, 2], runs=1), deployment)
    assert [p.parameters["threads"] for p in plans] == [2, 24]
    p = plans[1]
    assert p.submit_job == {
        "jobName": "jan-openmp-noht-t024-r0",
        "jobQueue": "hpcx-r5-spot-24",
        "jobDefinition": deployment.gradient_job_definition,
        "parameters": {"run_id": "jan-openmp-noht-t024-r0", "iteration": "1"},
        "tags": {"run_id": "jan-openmp-noht-t024-r0", "iteration": "1"},
        "propagateTags": True,
        "containerOverrides": {
            "environment": [{"name": "RUN_ID", "value": "jan-openmp-noht-t024-r0"}, {"name": "ITERATION", "value": "1"},
                            {"name": "OMP_NUM_THREADS", "value": "24"}],
            "resourceRequirements": [{"type": "VCPU", "value": "24"}, {"type": "MEMORY", "value": "180000"}],
        },
    }
    # shot 800 of the BP data (files numbered from 1) is index 799
    assert p.manifest["shots"] == [799]
    assert p.manifest["task_token"] == P.NO_EXECUTION_TOKEN
    assert (p.manifest["step_rule"], p.manifest["step_size"]) == ("fixed", 1e-4)  # no residual written
    assert p.run_parameters["batchsize"] == 1 and p.run_parameters["bucket"] == deployment.bucket
    assert p.run_parameters["physics"]["aperture_buffer_m"] == P.FULL_MODEL_BUFFER_M


def test_openmp_thread_counts_are_limited_by_the_cpus_the_pool_keeps_online(deployment):
    # r5.24xlarge has 48 cores, but the r5-spot-24 pool keeps 24 online: 48 threads would never start
    with pytest.raises(P.PlanError, match="offers 24 CPUs per instance: its r5.24xlarge instances keep 24 of 96"):
        P.plan_openmp(P.OpenMpParams(campaign="x", base_input=BASE, threads=[48]), deployment)


def test_openmp_hyperthreading_comes_from_the_pool(deployment):
    (plan,) = P.plan_openmp(P.OpenMpParams(campaign="x", base_input=BASE, queue="r5-spot-ht", threads=[96], runs=1),
                            deployment)
    assert plan.run_id == "x-openmp-ht-t096-r0" and plan.parameters["hyperthreading"] is True
    (plan,) = P.plan_openmp(P.OpenMpParams(campaign="x", base_input=BASE, threads=[24], hyperthreading=False,
                                           runs=1), deployment)
    assert plan.run_id == "x-openmp-noht-t024-r0" and plan.parameters["hyperthreading"] is False


@pytest.mark.parametrize("queue, claimed", [("r5-spot-24", True), ("r5-spot-ht", False)])
def test_openmp_refuses_a_hyperthreading_claim_the_pool_contradicts(deployment, queue, claimed):
    with pytest.raises(P.PlanError, match=f"--hyperthreading {'on' if claimed else 'off'} contradicts queue hpcx-{queue}"):
        P.plan_openmp(P.OpenMpParams(campaign="x", base_input=BASE, queue=queue, threads=[8],
                                     hyperthreading=claimed), deployment)


def test_mpi_node_overrides(deployment):
    plans = P.plan_mpi(P.MpiParams(campaign="jan", base_input=BASE, queue="c5n-mnp-18", nodes=[16, 2], runs=1),
                       deployment)
    assert [p.parameters["nodes"] for p in plans] == [2, 16]
    request = plans[1].submit_job
    assert request["jobQueue"] == "hpcx-c5n-mnp-18"
    assert request["jobDefinition"] == deployment.mpi_job_definition
    overrides = request["nodeOverrides"]
    assert overrides["numNodes"] == 16
    (node_range,) = overrides["nodePropertyOverrides"]
    assert node_range["targetNodes"] == "0:"
    env = {e["name"]: e["value"] for e in node_range["containerOverrides"]["environment"]}
    assert env == {"RUN_ID": plans[1].run_id, "ITERATION": "1", "ARRAY_INDEX": "0", "OMP_NUM_THREADS": "18"}
    assert node_range["containerOverrides"]["resourceRequirements"] == [
        {"type": "VCPU", "value": "18"}, {"type": "MEMORY", "value": "180000"}]


def test_mpi_refuses_a_single_node_queue_and_too_many_nodes(deployment):
    with pytest.raises(P.PlanError, match="not a multi-node queue"):
        P.plan_mpi(P.MpiParams(campaign="x", base_input=BASE, queue="r5-spot-24"), deployment)
    with pytest.raises(P.PlanError, match="allows 1440"):
        P.plan_mpi(P.MpiParams(campaign="x", base_input=BASE, queue="c5n-mnp-18", nodes=[32]), deployment)


def test_hybrid_two_ranks_share_one_instance(deployment):
    plans = P.plan_hybrid(P.HybridParams(campaign="jan", base_input=BASE, cases=["omp48", "mpi2x24"], runs=1),
                          deployment)
    omp48, mpi = (p.submit_job["containerOverrides"] for p in plans)
    assert "command" not in omp48
    assert {"name": "OMP_NUM_THREADS", "value": "48"} in omp48["environment"]
    assert mpi["command"][:5] == ["mpiexec", "-launcher", "fork", "-n", "2"]
    assert {"name": "OMP_NUM_THREADS", "value": "24"} in mpi["environment"]
    assert {"name": "DEVITO_MPI", "value": "1"} in mpi["environment"]
    assert {"type": "VCPU", "value": "48"} in mpi["resourceRequirements"]
    assert all(p.submit_job["jobQueue"] == "hpcx-r5-spot-48" for p in plans)


def test_bad_parameters_are_refused():
    with pytest.raises(ValidationError, match="batch sizes"):
        P.WeakParams(campaign="x", base_input=BASE, batch_sizes=[0, 2])
    with pytest.raises(ValidationError, match="campaign"):
        P.CostParams(campaign="Bad Name", base_input=BASE)
    with pytest.raises(ValidationError, match="--confirm-terminate"):
        P.ResilienceParams(campaign="x", base_input=BASE, failure_rate=0.1)
    for rate in (0, 1, 1.5, -0.1):
        with pytest.raises(ValidationError, match="failure_rate"):
            P.ResilienceParams(campaign="x", base_input=BASE, failure_rate=rate, confirm=True)


def test_batch_size_beyond_the_data_is_refused(deployment):
    base = {**BASE, "data": {**BASE["data"], "num_shots": 10}}
    with pytest.raises(P.PlanError, match="exceeds data.num_shots"):
        P.plan_weak(P.WeakParams(campaign="x", base_input=base, batch_sizes=[16]), deployment)
    with pytest.raises(P.PlanError, match="shot 800 is not in"):
        P.plan_openmp(P.OpenMpParams(campaign="x", base_input=base, threads=[1]), deployment)
