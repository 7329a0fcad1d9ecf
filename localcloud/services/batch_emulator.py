"""AWS Batch on this machine: SubmitJob / DescribeJobs / TerminateJob over HTTP (the REST-JSON API boto3
speaks), each array child run as a local process, at most `max_parallel` at once.

Retries follow the job definition's RetryStrategy: an attempt killed by `kill_first_attempt_of` is
reported like a terminated host ("Host EC2 (instance ...) terminated.") and is retried; a non-zero
exit is an application error and matches `OnReason: *` -> EXIT. A child that fails for good fails
its array job and produces the "Batch Job State Change" event EventBridge would deliver.
Multi-node parallel jobs are refused: they need several hosts.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from localcloud.services.api_server import ApiError, LocalApiServer

HOST_TERMINATED = "Host EC2 (instance i-0local) terminated."
SHUT_DOWN = "emulator shut down"


@dataclass
class JobDefinitionSpec:
    arn: str
    name: str
    command: list[str]  # local command: the image's entrypoint mapped to a file of this repository
    environment: dict[str, str]
    attempts: int
    evaluate_on_exit: list[dict]
    timeout_s: float | None
    role_environment: dict[str, str] = field(default_factory=dict)  # the job role's session
    # the execution role's work before the container starts (image pull, log stream); raises when refused
    before_start: Callable[[str], None] | None = None


@dataclass
class Child:
    index: int | None
    status: str = "SUBMITTED"
    attempts: list[dict] = field(default_factory=list)
    process: subprocess.Popen | None = None
    status_reason: str = ""


@dataclass
class Job:
    job_id: str
    name: str
    queue: str
    definition: JobDefinitionSpec
    environment: dict[str, str]
    parameters: dict[str, str]
    children: list[Child]
    tags: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    terminated: bool = False

    @property
    def status(self) -> str:
        states = {c.status for c in self.children}
        if "FAILED" in states and states <= {"FAILED", "SUCCEEDED"}:
            return "FAILED"
        if states == {"SUCCEEDED"}:
            return "SUCCEEDED"
        if "RUNNING" in states or "SUCCEEDED" in states or "FAILED" in states:
            return "RUNNING"
        return "RUNNABLE"


class BatchError(ApiError):
    pass


class LocalBatch:
    def __init__(
        self,
        *,
        job_definitions: dict[str, JobDefinitionSpec],
        job_queues: set[str],
        base_environment: dict[str, str],
        log_dir: Path,
        max_parallel: int | None = None,
        on_event: Callable[[dict], None] | None = None,
        on_progress: Callable[[str, Job, Child], None] | None = None,
    ) -> None:
        self.job_definitions = job_definitions
        self.job_queues = job_queues
        self.base_environment = base_environment
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pool = ThreadPoolExecutor(max_workers=max_parallel or os.cpu_count() or 1)
        self.on_event = on_event or (lambda event: None)
        self.on_progress = on_progress or (lambda what, job, child: None)
        self.jobs: dict[str, Job] = {}
        self.kill_first_attempt_of: set[tuple[str, int | None]] = set()  # (job name prefix, index)
        self._lock = threading.Lock()
        self._processes_lock = threading.Lock()  # TerminateJob against a child's process start
        self._closing = False  # set by shutdown(): the children it kills did not fail

    # --- API ----------------------------------------------------------------------------------------
    def submit_job(self, request: dict) -> dict:
        if "nodeOverrides" in request:
            raise BatchError("ClientException", "multi-node parallel jobs need several hosts; not emulated locally")
        for required in ("jobName", "jobQueue", "jobDefinition"):
            if required not in request:
                raise BatchError("ClientException", f"{required} is required")
        if request["jobQueue"] not in self.job_queues:
            raise BatchError("ClientException", f"job queue {request['jobQueue']} does not exist")
        definition = self.job_definitions.get(request["jobDefinition"])
        if definition is None:
            raise BatchError("ClientException", f"job definition {request['jobDefinition']} does not exist")
        overrides = {e["name"]: e["value"] for e in request.get("containerOverrides", {}).get("environment", [])}
        size = request.get("arrayProperties", {}).get("size")
        if size is not None and not 2 <= size <= 10_000:
            raise BatchError("ClientException", f"array size must be between 2 and 10000, got {size}")
        job = Job(
            job_id=str(uuid.uuid4()),
            name=request["jobName"],
            queue=request["jobQueue"],
            definition=definition,
            environment={**definition.environment, **overrides},
            parameters=request.get("parameters", {}),
            children=[Child(i) for i in range(size)] if size else [Child(None)],
            tags=dict(request.get("tags", {})),
        )
        with self._lock:
            self.jobs[job.job_id] = job
        for child in job.children:
            self.pool.submit(self._run_child, job, child)
        arn = f"arn:aws:batch:us-east-1:123456789012:job/{job.job_id}"
        return {"jobArn": arn, "jobName": job.name, "jobId": job.job_id}

    def describe_jobs(self, request: dict) -> dict:
        out = []
        for job_id in request.get("jobs", []):
            job = self.jobs.get(job_id.split(":")[0])
            if job:
                out.append({"jobId": job.job_id, "jobName": job.name, "status": job.status,
                            "jobQueue": job.queue, "jobDefinition": job.definition.arn, "createdAt": int(job.created * 1000)})
        return {"jobs": out}

    def terminate_job(self, request: dict) -> dict:
        job = self.jobs.get(request.get("jobId", "").split(":")[0])
        if job is None:
            raise BatchError("ClientException", f"job {request.get('jobId')} does not exist")
        with self._processes_lock:  # a child between "RUNNING" and its process start sees the flag (_attempt)
            job.terminated = True
            for child in job.children:
                if child.status in ("SUBMITTED", "RUNNABLE", "RUNNING"):
                    child.status_reason = request.get("reason", "terminated")
                    if child.process and child.process.poll() is None:
                        child.process.kill()
        return {}

    def permissions(self, operation: str, request: dict) -> list[tuple[str, str, dict]]:
        """(IAM action, resource, condition context) a caller needs for one API request."""
        if operation == "submit_job":
            definition = self.job_definitions.get(request.get("jobDefinition", ""))
            return [("batch:SubmitJob", str(request.get("jobQueue")), {}),
                    ("batch:SubmitJob", definition.arn if definition else str(request.get("jobDefinition")), {})]
        if operation == "terminate_job":
            job = self.jobs.get(str(request.get("jobId", "")).split(":")[0])
            tags = {f"aws:ResourceTag/{k}": v for k, v in (job.tags if job else {}).items()}
            return [("batch:TerminateJob", f"arn:aws:batch:us-east-1:123456789012:job/{request.get('jobId')}", tags)]
        return [("batch:DescribeJobs", "*", {})]

    def shutdown(self) -> None:
        """Stop every child still running. A run ends once its results are in, when a worker may still be
        exiting: that kill is the emulator's own, so it emits no failure event (a failed-job handler would
        log a false ERROR for a run that succeeded) and reports no failure."""
        self._closing = True
        for job in list(self.jobs.values()):
            self.terminate_job({"jobId": job.job_id, "reason": SHUT_DOWN})
        self.pool.shutdown(wait=True, cancel_futures=True)

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(j.status in ("SUCCEEDED", "FAILED") for j in self.jobs.values()):
                return True
            time.sleep(0.1)
        return False

    # --- execution ----------------------------------------------------------------------------------
    def _run_child(self, job: Job, child: Child) -> None:
        definition = job.definition
        for attempt in range(1, definition.attempts + 1):
            if job.terminated:
                break
            child.status = "RUNNING"
            self.on_progress("started", job, child)
            exit_code, reason = self._attempt(job, child, attempt)
            child.attempts.append({"exitCode": exit_code, "statusReason": reason, "log": str(self._log_path(job, child, attempt))})
            if exit_code == 0:
                child.status = "SUCCEEDED"
                self.on_progress("succeeded", job, child)
                return
            child.status_reason = reason
            if job.terminated or not self._retry(definition, exit_code, reason) or attempt == definition.attempts:
                break
            self.on_progress("retrying", job, child)
        child.status = "FAILED"
        if self._closing and job.terminated:
            return  # killed by shutdown(): see there
        self.on_progress("failed", job, child)
        self.on_event(self._state_change_event(job, child))

    def _attempt(self, job: Job, child: Child, attempt: int) -> tuple[int | None, str]:
        env = {**self.base_environment, **job.definition.role_environment, **job.environment,
               "AWS_BATCH_JOB_ID": job.job_id,
               "AWS_BATCH_JOB_ATTEMPT": str(attempt)}
        if child.index is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(child.index)
            env["AWS_BATCH_JOB_ID"] = f"{job.job_id}:{child.index}"
        log_path = self._log_path(job, child, attempt)
        if job.definition.before_start is not None:
            try:
                job.definition.before_start(log_path.stem)
            except Exception as exc:  # as Batch reports an execution role that cannot pull or log
                log_path.write_text(f"{exc}\n")
                return None, f"ResourceInitializationError: {exc}"
        kill = attempt == 1 and any(
            job.name.startswith(prefix) and index == child.index for prefix, index in self.kill_first_attempt_of
        )
        with open(log_path, "wb") as log:
            with self._processes_lock:
                if job.terminated:  # terminated before this attempt's process existed: never start it
                    return None, child.status_reason or "terminated"
                child.process = subprocess.Popen(
                    job.definition.command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_all_cpus
                )
            try:
                if kill:
                    time.sleep(1.0)  # let it start working, then take the host away
                    child.process.send_signal(signal.SIGKILL)
                exit_code = child.process.wait(timeout=job.definition.timeout_s)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
                return None, "Job attempt duration exceeded timeout"
        if kill:
            return None, HOST_TERMINATED
        if job.terminated:
            return exit_code, child.status_reason or "terminated"
        return exit_code, "Essential container in task exited" if exit_code else ""

    def _log_path(self, job: Job, child: Child, attempt: int) -> Path:
        return self.log_dir / f"{job.name}-{child.index if child.index is not None else 0}-attempt{attempt}.log"

    @staticmethod
    def _retry(definition: JobDefinitionSpec, exit_code: int | None, reason: str) -> bool:
        for rule in definition.evaluate_on_exit:
            matches = True
            if "OnStatusReason" in rule:
                matches &= fnmatch.fnmatchcase(reason, rule["OnStatusReason"])
            if "OnReason" in rule:
                matches &= fnmatch.fnmatchcase(reason, rule["OnReason"])
            if "OnExitCode" in rule:
                matches &= exit_code is not None and fnmatch.fnmatchcase(str(exit_code), rule["OnExitCode"])
            if matches:
                return rule["Action"].upper() == "RETRY"
        return True  # no rule matched: Batch retries up to `attempts`

    def _state_change_event(self, job: Job, child: Child) -> dict:
        detail = {
            "jobName": job.name,
            "jobId": job.job_id if child.index is None else f"{job.job_id}:{child.index}",
            "jobQueue": job.queue,
            "status": "FAILED",
            "statusReason": child.status_reason,
            "parameters": job.parameters,
            # Batch's shape: each attempt's container carries its exit code and log stream (here: the log file)
            "attempts": [{"container": {"exitCode": a["exitCode"], "logStreamName": a["log"]},
                          "statusReason": a["statusReason"]} for a in child.attempts],
        }
        if child.index is not None:
            detail["arrayProperties"] = {"index": child.index}
        return {"version": "0", "source": "aws.batch", "detail-type": "Batch Job State Change", "detail": detail}


class BatchHttpServer(LocalApiServer):
    """Serves LocalBatch on 127.0.0.1 for boto3 (AWS_ENDPOINT_URL_BATCH; REST-JSON, one path per operation)."""

    ROUTES = {"/v1/submitjob": "submit_job", "/v1/describejobs": "describe_jobs", "/v1/terminatejob": "terminate_job"}

    def __init__(self, batch: LocalBatch, authorize: Callable[[object, str, str, dict], None] | None = None) -> None:
        """`authorize(headers, action, resource, context)` raises an ApiError for a caller who may not."""
        def dispatch(path: str, headers, body: dict) -> dict:
            operation = self.ROUTES.get(path.rstrip("/"))
            if operation is None:
                raise BatchError("ClientException", f"operation {path} is not emulated")
            if authorize is not None:
                for action, resource, context in batch.permissions(operation, body):
                    authorize(headers, action, resource, context)
            return getattr(batch, operation)(body)

        super().__init__(dispatch, "application/json")


def _all_cpus() -> None:
    """A Devito kernel run in this process pins it to one core (OpenMP); children must not inherit that."""
    os.sched_setaffinity(0, range(os.cpu_count() or 1))

