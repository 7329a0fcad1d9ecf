from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from stacks.config import AppConfig

BUCKET = "seismic-data"


class FakeStepFunctions:
    """Records task-token answers; a token can be answered once, like the real service."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple] = {}

    def _answer(self, token, value):
        from botocore.exceptions import ClientError

        if token in self.answers:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "already answered"}}, "SendTask")
        self.answers[token] = value

    def send_task_success(self, taskToken, output):
        self._answer(taskToken, ("success", output))

    def send_task_failure(self, taskToken, error, cause):
        self._answer(taskToken, ("failure", error, cause))


class FakeBatch:
    def __init__(self) -> None:
        self.submitted: list[dict] = []
        self.terminated: list[str] = []

    def submit_job(self, **request):
        self.submitted.append(request)
        return {"jobId": f"job-{len(self.submitted)}", "jobName": request["jobName"]}

    def terminate_job(self, jobId, reason):
        self.terminated.append(jobId)


@pytest.fixture
def aws(monkeypatch):
    """moto S3 with the data bucket; Step Functions and Batch as recording fakes."""
    import adapters.task_tokens as task_tokens

    sfn = FakeStepFunctions()
    batch = FakeBatch()
    monkeypatch.setattr(task_tokens, "_client", lambda client=None: sfn)
    real_client = boto3.client

    def client(service, *args, **kwargs):
        return batch if service == "batch" else real_client(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", client)
    monkeypatch.setenv("DATA_BUCKET", BUCKET)
    monkeypatch.setenv("JOB_LIMITS", json.dumps(AppConfig().batch.job_limits()))  # as the stack sets it
    monkeypatch.setenv("JOB_QUEUE", "arn:aws:batch:us-east-1:123456789012:job-queue/q")
    monkeypatch.setenv("JOB_DEFINITION", "arn:aws:batch:us-east-1:123456789012:job-definition/d:1")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "test")
    with mock_aws():
        s3 = real_client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        sqs = real_client("sqs", region_name="us-east-1")
        dead_letters = sqs.create_queue(QueueName="gradients-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dead_letters)
        yield type("Aws", (), {"s3": s3, "sfn": sfn, "batch": batch, "sqs": sqs, "dead_letters": dead_letters})
