"""`collect` re-collects a run with the parameters it ran with, recovered from what it left (its id, its
parameters.json, its Batch job) and merged with an existing run file, never losing a field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from reproduce import plans as P
from reproduce.__main__ import main
from reproduce.collect import recover_parameters
from reproduce.timings import JobTiming, RunTimings, Termination, run_file
from workloads.lsrtm import layout
from workloads.lsrtm.messages import IterationManifest

from .conftest import BUCKET

BASE = P.load_base_input(None)
T0_MS = int(datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp() * 1000)


def described(plan: P.Plan, deployment) -> dict:
    """The job describe_jobs returns for a planned direct job (the queue as an ARN, overrides applied)."""
    request = plan.submit_job
    out = {"jobId": "job-1", "jobName": request["jobName"], "jobQueue": deployment.queue(request["jobQueue"]).arn,
           "status": "SUCCEEDED", "jobDefinition": request["jobDefinition"], "createdAt": T0_MS,
           "startedAt": T0_MS + 60_000, "stoppedAt": T0_MS + 400_000, "parameters": request["parameters"]}
    if "nodeOverrides" in request:
        nodes = request["nodeOverrides"]
        (node_range,) = nodes["nodePropertyOverrides"]
        out["nodeProperties"] = {"numNodes": nodes["numNodes"], "mainNode": 0, "nodeRangeProperties": [
            {"targetNodes": "0:", "container": {"environment": node_range["containerOverrides"]["environment"]}}]}
    else:
        out["container"] = {"environment": request["containerOverrides"]["environment"]}
    return out


DIRECT = [
    (P.plan_openmp, P.OpenMpParams, {"threads": [16]}),
    (P.plan_openmp, P.OpenMpParams, {"threads": [96], "queue": "r5-spot-ht"}),
    (P.plan_mpi, P.MpiParams, {"nodes": [4], "queue": "c5n-mnp-18"}),
    (P.plan_hybrid, P.HybridParams, {"cases": ["omp24-half", "mpi2x24"]}),
]


@pytest.mark.parametrize("plan_of, params, extra", DIRECT)
def test_a_direct_job_gives_back_every_parameter_it_was_planned_with(deployment, plan_of, params, extra):
    for plan in plan_of(params(campaign="jan-2", base_input=BASE, runs=2, **extra), deployment):
        recovered = recover_parameters(plan.experiment, plan.run_id, jobs=[described(plan, deployment)],
                                       run_parameters=plan.run_parameters, shots=plan.manifest["shots"],
                                       deployment=deployment)
        assert recovered == plan.parameters, plan.run_id


def test_an_execution_gives_back_batch_size_repeat_and_failure_rate(deployment):
    (weak,) = P.plan_weak(P.WeakParams(campaign="jan", base_input=BASE, batch_sizes=[16], runs=1), deployment)
    run_parameters = json.loads(weak.start_execution["input"])
    assert recover_parameters("weak", weak.run_id, jobs=[], run_parameters=run_parameters, shots=[]) == weak.parameters
    plan = P.plan_resilience(P.ResilienceParams(campaign="jan", base_input=BASE, shots=20, failure_rate=0.1,
                                                confirm=True, runs=2), deployment)[1]
    recovered = recover_parameters("resilience", plan.run_id, jobs=[],
                                   run_parameters=json.loads(plan.start_execution["input"]), shots=[])
    # the seed and the window are in no artefact of the run (only in its file, which a merge keeps)
    assert recovered == {k: v for k, v in plan.parameters.items() if k not in ("seed", "window_start_s", "window_end_s")}


@pytest.fixture
def aws(deployment, stubbed, monkeypatch):
    import reproduce.__main__ as cli

    monkeypatch.setattr(cli, "read_deployment", lambda stack, cfn, batch: deployment)
    batch, batch_stub = stubbed("batch")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)

        class Session:
            def client(self, name):
                return {"batch": batch, "s3": s3}.get(name, object())

        yield Session(), s3, batch_stub
    batch_stub.assert_no_pending_responses()


def _left_by(s3, plan: P.Plan) -> None:
    """What the launcher and the worker leave in S3 for a direct job."""
    manifest = IterationManifest.model_validate({**plan.manifest, "job_ids": ["job-1"]})
    s3.put_object(Bucket=BUCKET, Key=layout.parameters_key(plan.run_id), Body=json.dumps(plan.run_parameters))
    s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(plan.run_id, 1), Body=manifest.to_json())


def test_collect_saves_the_parameters_the_run_was_planned_with(deployment, aws, tmp_path):
    session, s3, batch_stub = aws
    (plan,) = P.plan_openmp(P.OpenMpParams(campaign="jan", base_input=BASE, threads=[8], runs=1), deployment)
    _left_by(s3, plan)
    batch_stub.add_response("describe_jobs", {"jobs": [described(plan, deployment)]}, {"jobs": ["job-1"]})

    argv = ["collect", "--experiment", "openmp", "--run-id", plan.run_id, "--results", str(tmp_path)]
    assert main(argv, session=session) == 0

    saved = RunTimings.load(run_file(tmp_path / "openmp", plan.run_id))
    assert saved.parameters == plan.parameters  # was {}: the figures skipped the run
    assert saved.parameters == {"threads": 8, "hyperthreading": False, "shot": 800, "repeat": 0,
                                "instance_type": "r5.24xlarge"}
    assert saved.container_s == 340


def test_collect_force_merges_with_the_run_file_and_loses_nothing(deployment, aws, tmp_path):
    session, s3, batch_stub = aws
    plan = P.plan_resilience(P.ResilienceParams(campaign="jan", base_input=BASE, shots=2, failure_rate=0.5,
                                                seed=7, confirm=True, runs=1), deployment)[0]
    run_parameters = json.loads(plan.start_execution["input"])
    s3.put_object(Bucket=BUCKET, Key=layout.parameters_key(plan.run_id), Body=json.dumps(run_parameters))
    manifest = IterationManifest(run_id=plan.run_id, iteration=1, shots=[0, 1], step_size=1e-4, task_token="t",
                                 job_ids=["job-1"])
    s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(plan.run_id, 1), Body=manifest.to_json())
    job = {"jobId": "job-1", "jobName": "x", "jobQueue": "q", "status": "SUCCEEDED", "jobDefinition": "d",
           "createdAt": T0_MS, "startedAt": T0_MS + 1000, "stoppedAt": T0_MS + 9000}
    batch_stub.add_response("describe_jobs", {"jobs": [job]}, {"jobs": ["job-1"]})
    # an earlier collect saved the run without parameters; the launcher had recorded the terminations
    termination = Termination(job_id="job-1:0", instance_id="i-1", planned_after_s=10, outcome="terminated")
    earlier = RunTimings(run_id=plan.run_id, experiment="resilience", parameters={"seed": 7, "note": "kept"},
                         jobs=[JobTiming(job_id="job-1", status="RUNNING", created_at=datetime(2026, 1, 1, tzinfo=UTC))],
                         terminations=[termination])
    earlier.save(tmp_path / "resilience")

    argv = ["collect", "--experiment", "resilience", "--run-id", plan.run_id, "--results", str(tmp_path), "--force"]
    assert main(argv, session=session) == 0

    saved = RunTimings.load(run_file(tmp_path / "resilience", plan.run_id))
    assert saved.parameters == {"batchsize": 2, "failure_rate": 0.5, "repeat": 0, "seed": 7, "note": "kept"}
    assert saved.terminations == [termination]
    assert saved.execution_arn == deployment.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + plan.run_id
    assert saved.jobs[0].status == "SUCCEEDED"  # the timings themselves are collected afresh
