"""The local Batch: boto3 talks to it like to AWS Batch; children run as processes with Batch's retry rules."""

from __future__ import annotations

import sys
import textwrap
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.services.batch_emulator import BatchHttpServer, JobDefinitionSpec, LocalBatch
from stacks.lsrtm.jobs import RETRY_ON_STATUS_REASONS

QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/q"
JOB_DEF = "arn:aws:batch:us-east-1:123456789012:job-definition/d:1"
RULES = [{"Action": "RETRY", "OnStatusReason": r} for r in RETRY_ON_STATUS_REASONS] + [{"Action": "EXIT", "OnReason": "*"}]


@pytest.fixture
def batch(tmp_path, monkeypatch):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(f"""
        import os, pathlib, sys, time
        index = os.environ.get("AWS_BATCH_JOB_ARRAY_INDEX", "single")
        attempt = os.environ["AWS_BATCH_JOB_ATTEMPT"]
        time.sleep(float(os.environ.get("SLEEP", "0")))
        pathlib.Path(r"{tmp_path}", f"done-{{index}}-{{attempt}}").write_text(os.environ.get("MESSAGE", ""))
        sys.exit(int(os.environ.get("EXIT_CODE", "0")) if index == os.environ.get("FAIL_INDEX") else 0)
    """))
    events: list[dict] = []
    spec = JobDefinitionSpec(arn=JOB_DEF, name="d", command=[sys.executable, str(script)],
                             environment={"MESSAGE": "from-definition"}, attempts=3, evaluate_on_exit=RULES,
                             timeout_s=60)
    local = LocalBatch(job_definitions={JOB_DEF: spec}, job_queues={QUEUE}, base_environment={},
                       log_dir=tmp_path / "logs", max_parallel=2, on_event=events.append)
    with BatchHttpServer(local) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BATCH", server.url)
        yield local, boto3.client("batch", region_name="us-east-1"), events, tmp_path
    local.shutdown()


def test_an_array_job_runs_every_child_with_its_index_and_overrides(batch):
    local, client, events, tmp = batch
    job = client.submit_job(jobName="grad-it1", jobQueue=QUEUE, jobDefinition=JOB_DEF, arrayProperties={"size": 3},
                            containerOverrides={"environment": [{"name": "MESSAGE", "value": "override"}]})
    assert local.wait_idle(30)
    assert client.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["status"] == "SUCCEEDED"
    assert sorted(p.name for p in tmp.glob("done-*")) == ["done-0-1", "done-1-1", "done-2-1"]
    assert (tmp / "done-0-1").read_text() == "override"
    assert events == []


def test_an_application_error_exits_without_retry_and_emits_the_failure_event(batch):
    local, client, events, tmp = batch
    job = client.submit_job(jobName="grad-it2", jobQueue=QUEUE, jobDefinition=JOB_DEF, arrayProperties={"size": 2},
                            parameters={"run_id": "r", "iteration": "2"},
                            containerOverrides={"environment": [{"name": "FAIL_INDEX", "value": "1"},
                                                                {"name": "EXIT_CODE", "value": "3"}]})
    assert local.wait_idle(30)
    assert client.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["status"] == "FAILED"
    assert not (tmp / "done-1-2").exists()  # no second attempt
    (event,) = events
    assert event["detail"]["status"] == "FAILED" and event["detail"]["arrayProperties"] == {"index": 1}
    assert event["detail"]["parameters"] == {"run_id": "r", "iteration": "2"}


def test_a_killed_host_is_retried(batch):
    local, client, events, tmp = batch
    local.kill_first_attempt_of.add(("grad-it3", 0))
    client.submit_job(jobName="grad-it3", jobQueue=QUEUE, jobDefinition=JOB_DEF, arrayProperties={"size": 2},
                      containerOverrides={"environment": [{"name": "SLEEP", "value": "3"}]})
    assert local.wait_idle(60)
    assert (tmp / "done-0-2").exists() and not (tmp / "done-0-1").exists()
    assert events == []


def test_bad_requests_get_batch_style_errors(batch):
    _, client, _, _ = batch
    with pytest.raises(ClientError, match="does not exist"):
        client.submit_job(jobName="x", jobQueue="arn:aws:batch:us-east-1:123456789012:job-queue/nope", jobDefinition=JOB_DEF)
    with pytest.raises(ClientError, match="not emulated"):
        client.submit_job(jobName="x", jobQueue=QUEUE, jobDefinition=JOB_DEF, nodeOverrides={"numNodes": 2})


def test_children_still_running_at_shutdown_end_quietly_without_a_failure_event(batch):
    """A finished run stops the emulator while a worker may still be exiting: that is no job failure."""
    local, client, events, tmp = batch
    progress: list[str] = []
    local.on_progress = lambda what, job, child: progress.append(what)
    job = client.submit_job(jobName="grad-it4", jobQueue=QUEUE, jobDefinition=JOB_DEF,
                            containerOverrides={"environment": [{"name": "SLEEP", "value": "30"}]})
    deadline = time.monotonic() + 30
    while local.jobs[job["jobId"]].children[0].process is None and time.monotonic() < deadline:
        time.sleep(0.05)
    local.shutdown()
    assert events == [] and "failed" not in progress
    assert local.jobs[job["jobId"]].children[0].status_reason == "emulator shut down"


def test_a_job_terminated_through_the_api_still_emits_the_failure_event(batch):
    local, client, events, tmp = batch
    job = client.submit_job(jobName="grad-it5", jobQueue=QUEUE, jobDefinition=JOB_DEF,
                            containerOverrides={"environment": [{"name": "SLEEP", "value": "30"}]})
    client.terminate_job(jobId=job["jobId"], reason="cancelled by the run")
    assert local.wait_idle(30)
    (event,) = events
    assert event["detail"]["statusReason"] == "cancelled by the run"
