"""batch:submitJob and batch:submitJob.sync against a local backend (e.g. localcloud.services LocalBatch)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from localcloud.sfn.errors import TASK_FAILED, StatesError
from localcloud.sfn.resources import TaskContext, sdk_metadata


class BatchBackend(Protocol):
    """Batch's SubmitJob/DescribeJobs/TerminateJob taking the boto3 request as one camelCase dict
    (localcloud.services.batch_emulator.LocalBatch has exactly these)."""

    def submit_job(self, request: dict) -> dict: ...

    def describe_jobs(self, request: dict) -> dict: ...

    def terminate_job(self, request: dict) -> dict: ...


def _camel(value: Any, keep_keys: bool = False) -> Any:
    """Step Functions' PascalCase request -> the Batch API's camelCase (user maps keep their keys)."""
    if isinstance(value, dict):
        return {(k if keep_keys else k[:1].lower() + k[1:]): _camel(v, k in ("Parameters", "Tags"))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _pascal(value: Any, keep_keys: bool = False) -> Any:
    """The Batch API's camelCase response -> the PascalCase Step Functions returns."""
    if isinstance(value, dict):
        return {(k if keep_keys else k[:1].upper() + k[1:]): _pascal(v, k in ("parameters", "tags"))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


class BatchJobs:
    """batch:submitJob (returns JobArn/JobId/JobName) and batch:submitJob.sync (returns the DescribeJobs
    job when it SUCCEEDED; FAILED fails the task with States.TaskFailed and the job as Cause, like AWS)."""

    def __init__(self, backend: BatchBackend, poll_interval_s: float) -> None:
        self.backend = backend
        self.poll_interval_s = poll_interval_s

    def __call__(self, parameters: Any, context: TaskContext) -> Any:
        submitted = self._api("submit_job", _camel(parameters))
        if context.pattern != "sync":
            return {"JobArn": submitted["jobArn"], "JobId": submitted["jobId"], "JobName": submitted["jobName"],
                    **sdk_metadata()}
        while True:
            if context.cancelled.wait(self.poll_interval_s):
                # the task was abandoned; AWS stops the job of a .sync task that times out or is aborted
                if hasattr(self.backend, "terminate_job"):
                    self._api("terminate_job", {"jobId": submitted["jobId"], "reason": "Step Functions task ended"})
                return None
            jobs = self._api("describe_jobs", {"jobs": [submitted["jobId"]]})["jobs"]
            job = _pascal(jobs[0]) if jobs else None
            if job and job.get("Status") == "SUCCEEDED":
                return job
            if job and job.get("Status") == "FAILED":
                raise StatesError(TASK_FAILED, json.dumps(job))

    def _api(self, operation: str, request: dict) -> dict:
        try:
            return getattr(self.backend, operation)(request)
        except StatesError:
            raise
        except Exception as exc:
            raise StatesError(f"Batch.{getattr(exc, 'code', type(exc).__name__)}", str(exc)) from exc
