"""Submission, waiting with progress, collection into one JSON per run, resume: Stubber for Batch and
Step Functions, moto for S3 (where the worker's summaries, the manifest and the image live)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY
from moto import mock_aws

from reproduce import plans as P
from reproduce.chaos import PlannedFailure, Terminator, plan_failures
from reproduce.runner import Clients, Runner
from reproduce.timings import RunTimings, run_file
from workloads.lsrtm import layout
from workloads.lsrtm.messages import IterationManifest

from .conftest import BUCKET

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
BASE = P.load_base_input(None)


def ms(seconds: float) -> int:
    return int((T0 + timedelta(seconds=seconds)).timestamp() * 1000)


def job(job_id: str, status: str, *, started: float | None = None, stopped: float | None = None, **extra) -> dict:
    out = {"jobId": job_id, "jobName": job_id, "jobQueue": "q", "status": status, "jobDefinition": "d",
           "createdAt": ms(0), **extra}
    if started is not None:
        out["startedAt"] = ms(started)
    if stopped is not None:
        out["stoppedAt"] = ms(stopped)
    return out


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put(s3, key: str, body: dict | str) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body if isinstance(body, str) else json.dumps(body))


def summary(shot: int) -> dict:
    return {"shot": shot, "misfit": 1.0, "storage": "subsampled",
            "timings": {"fetch_s": 4.0, "setup_s": 2.0, "forward_s": 100.0, "adjoint_s": 140.0, "total_s": 250.0}}


def test_direct_job_is_submitted_waited_for_and_collected(deployment, stubbed, s3, tmp_path):
    batch, stub = stubbed("batch")
    (plan,) = P.plan_openmp(P.OpenMpParams(campaign="jan", base_input=BASE, threads=[8], runs=1), deployment)
    stub.add_response("submit_job", {"jobId": "job-1", "jobName": plan.run_id}, plan.submit_job)
    stub.add_response("describe_jobs", {"jobs": [job("job-1", "RUNNING", started=60)]}, {"jobs": ["job-1"]})
    stub.add_response("describe_jobs", {"jobs": [job("job-1", "SUCCEEDED", started=60, stopped=400)]}, {"jobs": ["job-1"]})
    stub.add_response("describe_jobs", {"jobs": [job("job-1", "SUCCEEDED", started=60, stopped=400)]}, {"jobs": ["job-1"]})
    sleeps, progress = [], []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 2:  # the reducer finishes while the launcher waits for the image
            put(s3, layout.partial_summary_key(plan.run_id, 1, 799), summary(799))
            put(s3, layout.image_key(plan.run_id, 1), "image")

    runner = Runner(Clients(batch=batch, sfn=None, s3=s3), deployment, tmp_path, poll_s=5, sleep=sleep,
                    progress=lambda *a: progress.append(a), echo=lambda _: None)
    (path,) = runner.run_all([plan])

    stub.assert_no_pending_responses()
    # the worker's inputs were written before the job was submitted, and the job id recorded after
    params = json.loads(s3.get_object(Bucket=BUCKET, Key=layout.parameters_key(plan.run_id))["Body"].read())
    assert params["batchsize"] == 1
    manifest = IterationManifest.from_json(s3.get_object(Bucket=BUCKET, Key=layout.manifest_key(plan.run_id, 1))["Body"].read())
    assert (manifest.shots, manifest.job_ids) == ([799], ["job-1"])
    assert path == run_file(tmp_path, plan.run_id)
    timings = RunTimings.load(path)
    assert timings.experiment == "openmp" and timings.parameters["threads"] == 8
    assert timings.container_s == 340
    assert timings.kernel_s == 240 and timings.script_s == 254
    assert timings.image_written_at is not None
    assert sleeps == [5, 5]
    assert ("jan-openmp-noht-t008-r0", 0, 1, "job RUNNING") in progress
    assert ("jan-openmp-noht-t008-r0", 1, 1, "waiting for the reduction") in progress


def _weak_plan(deployment):
    (plan,) = P.plan_weak(P.WeakParams(campaign="jan", base_input=BASE, batch_sizes=[2], runs=1), deployment)
    return plan


def _lambda_submitted(s3, run_id: str) -> None:
    """What the workflow's submit Lambda leaves behind: the manifest with the array job's id."""
    manifest = IterationManifest(run_id=run_id, iteration=1, shots=[3, 9], step_size=1e-4, task_token="t",
                                 job_ids=["arr"])
    put(s3, layout.manifest_key(run_id, 1), manifest.to_json())
    for shot in (3, 9):
        put(s3, layout.partial_summary_key(run_id, 1, shot), summary(shot))
    put(s3, layout.image_key(run_id, 1), "image")


def _array(statuses: dict[str, int]) -> dict:
    return job("arr", "SUCCEEDED" if statuses.get("SUCCEEDED") == 2 else "RUNNING", started=150,
               arrayProperties={"size": 2, "statusSummary": statuses})


def test_execution_run_then_resume_skips_it(deployment, stubbed, s3, tmp_path):
    sfn, sfn_stub = stubbed("stepfunctions")
    batch, batch_stub = stubbed("batch")
    plan = _weak_plan(deployment)
    arn = "arn:aws:states:us-east-1:123456789012:execution:hpcx-LSRTM-SGD:" + plan.run_id
    sfn_stub.add_response("start_execution", {"executionArn": arn, "startDate": T0}, plan.start_execution)
    for status in ("RUNNING", "SUCCEEDED"):
        sfn_stub.add_response("describe_execution", {"executionArn": arn, "stateMachineArn": "x", "status": status,
                                                     "startDate": T0}, {"executionArn": arn})
    batch_stub.add_response("describe_jobs", {"jobs": [_array({"RUNNING": 1, "SUCCEEDED": 1})]}, {"jobs": ["arr"]})
    batch_stub.add_response("describe_jobs", {"jobs": [_array({"SUCCEEDED": 2})]}, {"jobs": ["arr"]})
    # collection: the parent, then its children
    batch_stub.add_response("describe_jobs", {"jobs": [_array({"SUCCEEDED": 2})]}, {"jobs": ["arr"]})
    batch_stub.add_response("describe_jobs", {"jobs": [job("arr:0", "SUCCEEDED", started=200, stopped=450),
                                                       job("arr:1", "SUCCEEDED", started=210, stopped=470)]},
                            {"jobs": ["arr:0", "arr:1"]})
    _lambda_submitted(s3, plan.run_id)
    progress = []
    runner = Runner(Clients(batch=batch, sfn=sfn, s3=s3), deployment, tmp_path, poll_s=1, sleep=lambda _: None,
                    progress=lambda *a: progress.append(a), echo=lambda _: None)

    (path,) = runner.run_all([plan])

    sfn_stub.assert_no_pending_responses()
    batch_stub.assert_no_pending_responses()
    assert progress[:2] == [(plan.run_id, 1, 2, "execution RUNNING"), (plan.run_id, 2, 2, "execution SUCCEEDED")]
    timings = RunTimings.load(path)
    assert timings.execution_arn == arn
    assert [j.job_id for j in timings.jobs] == ["arr:0", "arr:1"]
    assert timings.container_s == 255
    assert sorted(w.shot for w in timings.workers) == [3, 9]

    # a second launch finds the file and makes no call at all (the stubs have no responses left)
    messages = []
    again = Runner(Clients(batch=batch, sfn=sfn, s3=s3), deployment, tmp_path, sleep=lambda _: None,
                   echo=messages.append)
    assert again.run_all([plan]) == []
    assert messages == [f"{plan.run_id}: already collected, skipped"]


def test_an_execution_started_earlier_is_waited_for(deployment, stubbed, s3, tmp_path):
    sfn, sfn_stub = stubbed("stepfunctions")
    batch, batch_stub = stubbed("batch")
    plan = _weak_plan(deployment)
    arn = deployment.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + plan.run_id
    sfn_stub.add_client_error("start_execution", "ExecutionAlreadyExists", expected_params=plan.start_execution)
    sfn_stub.add_response("describe_execution", {"executionArn": arn, "stateMachineArn": "x", "status": "SUCCEEDED",
                                                 "startDate": T0}, {"executionArn": arn})
    batch_stub.add_response("describe_jobs", {"jobs": [_array({"SUCCEEDED": 2})]}, {"jobs": ["arr"]})
    batch_stub.add_response("describe_jobs", {"jobs": [_array({"SUCCEEDED": 2})]}, {"jobs": ["arr"]})
    batch_stub.add_response("describe_jobs", {"jobs": [job("arr:0", "SUCCEEDED", started=1, stopped=2),
                                                       job("arr:1", "SUCCEEDED", started=1, stopped=3)]}, {"jobs": ANY})
    _lambda_submitted(s3, plan.run_id)
    runner = Runner(Clients(batch=batch, sfn=sfn, s3=s3), deployment, tmp_path, sleep=lambda _: None, echo=lambda _: None)
    assert runner.run(plan).execution_arn == arn
    sfn_stub.assert_no_pending_responses()


def test_cool_down_waits_for_zero_vcpus(deployment, stubbed, s3, tmp_path):
    batch, stub = stubbed("batch")
    ce = deployment.queue("m4-spot-8").compute_environment
    for desired in (64, 0):
        stub.add_response("describe_compute_environments", {"computeEnvironments": [
            {"computeEnvironmentName": "ce", "computeEnvironmentArn": ce,
             "computeResources": {"type": "SPOT", "maxvCpus": 2048, "desiredvCpus": desired, "subnets": []}}]},
            {"computeEnvironments": [ce]})
    sleeps = []
    runner = Runner(Clients(batch=batch, sfn=None, s3=s3), deployment, tmp_path, poll_s=30, sleep=sleeps.append)
    assert runner.wait_scaled_down("hpcx-m4-spot-8", 600)
    assert sleeps == [30]
    stub.assert_no_pending_responses()


def test_failures_are_planned_within_the_window():
    failures = plan_failures(100, 0.1, (1, 390), seed=4)
    assert len(failures) == 10
    assert len({f.array_index for f in failures}) == 10
    assert all(1 <= f.after_s < 390 for f in failures)
    assert failures == plan_failures(100, 0.1, (1, 390), seed=4)
    with pytest.raises(ValueError):
        plan_failures(100, 0, (1, 390), seed=4)


def test_terminator_terminates_running_instances_when_due(stubbed):
    ecs, ecs_stub = stubbed("ecs")
    ec2, ec2_stub = stubbed("ec2")
    planned = [PlannedFailure(0, 10.0), PlannedFailure(1, 15.0), PlannedFailure(2, 500.0)]
    terminator = Terminator(planned, ecs=ecs, ec2=ec2, cluster_arn="cluster")
    children = {
        0: job("arr:0", "RUNNING", started=100, container={"containerInstanceArn": "ci-0"}),
        1: job("arr:1", "SUCCEEDED", started=101, stopped=112),
        2: job("arr:2", "RUNNING", started=102, container={"containerInstanceArn": "ci-2"}),
    }
    ecs_stub.add_response("describe_container_instances", {"containerInstances": [
        {"containerInstanceArn": "ci-0", "ec2InstanceId": "i-0abc"}]}, {"cluster": "cluster", "containerInstances": ["ci-0"]})
    ec2_stub.add_response("terminate_instances", {"TerminatingInstances": []}, {"InstanceIds": ["i-0abc"]})

    terminator.tick(children, T0 + timedelta(seconds=100 + 20))

    ecs_stub.assert_no_pending_responses()
    ec2_stub.assert_no_pending_responses()
    outcomes = {r.job_id: (r.outcome, r.instance_id) for r in terminator.records}
    assert outcomes == {"arr:0": ("terminated", "i-0abc"), "arr:1": ("job already finished", None)}
    terminator.tick(children, T0 + timedelta(seconds=130))  # nothing new is due, no call is made
    assert len(terminator.records) == 2
