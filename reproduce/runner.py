"""Submit planned runs, wait for them with progress, collect their timings: one JSON file per run.

Resuming is safe: a run whose file exists is skipped; an execution that already exists (same name) is
waited for instead of started again; a direct job whose manifest already lists a job is not resubmitted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError

from adapters.s3_store import S3Store
from reproduce.chaos import PlannedFailure, Terminator
from reproduce.collect import (
    ITERATION,
    child_ids,
    collect_run,
    describe_jobs,
    execution_arn,
    image_written_at,
)
from reproduce.outputs import Deployment
from reproduce.plans import Plan
from reproduce.timings import RunTimings, run_file
from workloads.common.store import ObjectNotFound
from workloads.lsrtm import layout
from workloads.lsrtm.messages import IterationManifest

FINAL_JOB = ("SUCCEEDED", "FAILED")
# run_id, finished jobs, all jobs, status line
Progress = Callable[[str, int, int, str], None]


class RunFailed(RuntimeError):
    """A run ended without anything to record (nothing was submitted, or it timed out)."""


@dataclass
class Clients:
    batch: object
    sfn: object
    s3: object
    ecs: object | None = None
    ec2: object | None = None

    @classmethod
    def from_session(cls, session) -> Clients:
        return cls(*(session.client(n) for n in ("batch", "stepfunctions", "s3", "ecs", "ec2")))


class Runner:
    def __init__(
        self,
        clients: Clients,
        deployment: Deployment,
        out_dir: Path,
        *,
        poll_s: float = 30.0,
        max_wait_s: float = 6 * 3600,
        image_wait_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress: Progress | None = None,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.c, self.dep, self.out_dir = clients, deployment, Path(out_dir)
        self.poll_s, self.max_wait_s, self.image_wait_s = poll_s, max_wait_s, image_wait_s
        self.sleep, self.now, self.echo = sleep, now, echo
        self.progress = progress or (lambda *_: None)
        self.store = S3Store(deployment.bucket, client=clients.s3)

    # --- many runs -------------------------------------------------------------------------------
    def run_all(self, plans: list[Plan], *, cooldown_timeout_s: float | None = None,
                failures: dict[str, list[PlannedFailure]] | None = None) -> list[Path]:
        written = []
        todo = [p for p in plans if not run_file(self.out_dir, p.run_id).exists()]
        for plan in plans:
            if plan not in todo:
                self.echo(f"{plan.run_id}: already collected, skipped")
        for i, plan in enumerate(todo):
            timings = self.run(plan, failures=(failures or {}).get(plan.run_id))
            path = timings.save(self.out_dir)
            self.echo(f"{plan.run_id}: {'succeeded' if timings.succeeded else 'FAILED'}, saved {path}")
            written.append(path)
            if cooldown_timeout_s and i < len(todo) - 1:
                self.wait_scaled_down(plan.queue, cooldown_timeout_s)
        return written

    def run(self, plan: Plan, failures: list[PlannedFailure] | None = None) -> RunTimings:
        if plan.start_execution is not None:
            return self._run_execution(plan, failures)
        return self._run_job(plan)

    # --- executions of the state machine ---------------------------------------------------------------
    def _run_execution(self, plan: Plan, failures: list[PlannedFailure] | None) -> RunTimings:
        arn = self._start(plan.start_execution)
        queue = self.dep.queue(plan.queue) if failures else None
        terminator = (Terminator(failures, ecs=self.c.ecs, ec2=self.c.ec2, cluster_arn=queue.ecs_cluster_arn)
                      if failures else None)
        status = "RUNNING"
        for _ in self._polls():
            status = self.c.sfn.describe_execution(executionArn=arn)["status"]
            job_ids = self._job_ids(plan.run_id)
            if job_ids:
                parents = describe_jobs(self.c.batch, job_ids)
                done, total = _counts(parents)
                self.progress(plan.run_id, done, total, f"execution {status}")
                if terminator is not None:
                    terminator.tick(self._children(parents), self.now())
            else:
                self.progress(plan.run_id, 0, 0, f"execution {status}, no job yet")
            if status != "RUNNING":
                break
        else:
            raise RunFailed(f"{plan.run_id}: still running after {self.max_wait_s:.0f} s; collect it later")
        if not self._job_ids(plan.run_id):
            raise RunFailed(f"{plan.run_id}: execution {status} before any job was submitted")
        return self._collect(plan, execution_arn=arn, terminations=terminator.records if terminator else None)

    def _start(self, request: dict) -> str:
        try:
            return self.c.sfn.start_execution(**request)["executionArn"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            # an earlier launcher started it: wait for that one (execution names are unique per machine)
            return execution_arn(request["stateMachineArn"], request["name"])

    def _children(self, parents: list[dict]) -> dict[int, dict]:
        parent = parents[0]
        ids = child_ids(parent)
        jobs = describe_jobs(self.c.batch, ids) if ids != [parent["jobId"]] else [parent]
        return {i: job for i, job in enumerate(jobs)}

    # --- direct jobs -----------------------------------------------------------------------------
    def _run_job(self, plan: Plan) -> RunTimings:
        job_ids = self._job_ids(plan.run_id)
        if not job_ids:
            self.store.put(layout.parameters_key(plan.run_id), json.dumps(plan.run_parameters).encode())
            manifest = IterationManifest.model_validate(plan.manifest)
            self.store.put(layout.manifest_key(plan.run_id, ITERATION), manifest.to_json().encode())
            job_ids = [self.c.batch.submit_job(**plan.submit_job)["jobId"]]
            manifest.job_ids = job_ids
            self.store.put(layout.manifest_key(plan.run_id, ITERATION), manifest.to_json().encode())
        status = "SUBMITTED"
        for _ in self._polls():
            job = describe_jobs(self.c.batch, job_ids)[0]
            status = job["status"]
            self.progress(plan.run_id, int(status in FINAL_JOB), 1, f"job {status}")
            if status in FINAL_JOB:
                break
        else:
            raise RunFailed(f"{plan.run_id}: job {job_ids[0]} still {status} after {self.max_wait_s:.0f} s")
        if status == "SUCCEEDED":
            self._wait_for_image(plan.run_id)
        return self._collect(plan)

    def _wait_for_image(self, run_id: str) -> None:
        """The reducer writes the image after the job's message; wait for it (reduction time)."""
        for _ in self._polls(self.image_wait_s):
            if image_written_at(self.c.s3, self.dep.bucket, run_id) is not None:
                return
            self.progress(run_id, 1, 1, "waiting for the reduction")
        self.echo(f"{run_id}: no image after {self.image_wait_s:.0f} s; recorded without reduction time")

    # --- shared ----------------------------------------------------------------------------------
    def _polls(self, limit_s: float | None = None):
        """Yield until the time limit, sleeping between polls (not before the first)."""
        waited, limit = 0.0, self.max_wait_s if limit_s is None else limit_s
        while waited <= limit:
            yield waited
            self.sleep(self.poll_s)
            waited += self.poll_s

    def _job_ids(self, run_id: str) -> list[str]:
        try:
            manifest = IterationManifest.from_json(self.store.get(layout.manifest_key(run_id, ITERATION)))
        except ObjectNotFound:
            return []
        return manifest.job_ids

    def _collect(self, plan: Plan, **extra) -> RunTimings:
        return collect_run(batch=self.c.batch, s3=self.c.s3, bucket=self.dep.bucket, run_id=plan.run_id,
                           experiment=plan.experiment, parameters=plan.parameters, **extra)

    def wait_scaled_down(self, queue_name: str, timeout_s: float) -> bool:
        """Cool-down: wait until the queue's compute environment wants no vCPUs (instances are gone)."""
        ce = self.dep.queue(queue_name).compute_environment
        for waited in self._polls(timeout_s):
            described = self.c.batch.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"]
            desired = described[0].get("computeResources", {}).get("desiredvCpus", 0)
            self.progress("cool-down", 0, 0, f"{desired} vCPUs still desired after {waited:.0f} s")
            if desired == 0:
                return True
        self.echo(f"cool-down: {queue_name} did not scale to zero within {timeout_s:.0f} s; continuing")
        return False


def _counts(jobs: list[dict]) -> tuple[int, int]:
    done = total = 0
    for job in jobs:
        size = job.get("arrayProperties", {}).get("size")
        if size:
            summary = job["arrayProperties"].get("statusSummary", {})
            done += summary.get("SUCCEEDED", 0) + summary.get("FAILED", 0)
            total += size
        else:
            done += job["status"] in FINAL_JOB
            total += 1
    return done, total
