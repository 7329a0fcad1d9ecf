"""Run the LSRTM-SGD state machine *as synthesized into cdk.out* on this machine.

S3 and SQS: moto's server on 127.0.0.1. Lambda tasks: the real handlers in lambda/, found through each
function's image command in the template. Batch array jobs: tools.local_cloud.batch_emulator, which
runs the real worker entrypoint (containers/gradient_worker/worker.py) as processes. The SQS event
source mapping and the EventBridge failure rule are read from the template too. Nothing is hand-copied
from the stack: change the stack, and this runs the change.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import numpy as np

from tools.lambdas import invoke
from tools.local_cloud.batch_emulator import JobDefinitionSpec, LocalBatch
from tools.local_cloud.event_sources import SqsEventSource
from tools.local_cloud.template import ENTRYPOINTS, REPO_ROOT, SynthesizedStack, matches

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class LocalRun:
    status: str
    error: str | None
    cause: str | None
    output: object
    report: dict | None
    images: dict[int, np.ndarray]
    elapsed_s: float
    reducer_invocations: int
    events: list[str] = field(default_factory=list)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def local_bucket_name(logical_id: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", f"local-{logical_id.lower()}")[:63]


class LocalStack:
    """The synthesized stack's queues, buckets, functions, jobs and rules, wired to local stand-ins."""

    def __init__(self, stack: SynthesizedStack, moto_url: str, workdir: Path, max_parallel: int,
                 on_progress: Callable[[str], None]) -> None:
        self.stack = stack
        self.on_progress = on_progress
        self.s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
        self.sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1")
        self.overrides: dict[str, str] = {}
        for logical_id in stack.of_type("AWS::S3::Bucket"):
            name = local_bucket_name(logical_id)
            self.s3.create_bucket(Bucket=name)
            self.overrides[logical_id] = name
        self.queue_urls: dict[str, str] = {}
        for logical_id, queue in stack.of_type("AWS::SQS::Queue").items():
            props = queue["Properties"]
            attributes = {"FifoQueue": "true"} if props.get("FifoQueue") else {}
            url = self.sqs.create_queue(QueueName=props.get("QueueName", logical_id), Attributes=attributes)["QueueUrl"]
            self.queue_urls[logical_id] = url
            self.overrides[logical_id] = url
            self.overrides[f"{logical_id}.Arn"] = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.functions = stack.functions(self.overrides)
        self.handler_by_arn = {f.arn: f.handler_folder for f in self.functions.values()}
        self.batch = LocalBatch(
            job_definitions=self._job_definitions(),
            job_queues={stack.resolve({"Ref": q}) for q in stack.of_type("AWS::Batch::JobQueue")},
            base_environment={**os.environ, **FAKE_CREDENTIALS, "PYTHONPATH": str(REPO_ROOT)},
            log_dir=workdir / "batch-logs",
            max_parallel=max_parallel,
            on_event=self.deliver_event,
            on_progress=lambda what, job, child: on_progress(f"batch {job.name}[{child.index}] {what}"),
        )
        self.rules = stack.event_rules()

    def _job_definitions(self) -> dict[str, JobDefinitionSpec]:
        specs = {}
        for logical_id, jd in self.stack.of_type("AWS::Batch::JobDefinition").items():
            props = jd["Properties"]
            if props.get("Type") != "container":
                continue  # multi-node parallel jobs need several hosts
            container = props["ContainerProperties"]
            command = list(container["Command"])
            if command[-1] not in ENTRYPOINTS:
                raise ValueError(f"job definition {logical_id} runs {command}; no local entrypoint for it")
            env = {e["Name"]: e["Value"] for e in self.stack.resolve(container.get("Environment", []), self.overrides)}
            env["OMP_NUM_THREADS"] = "1"  # local workers share two cores
            retry = props.get("RetryStrategy", {})
            specs[self.stack.resolve({"Ref": logical_id})] = JobDefinitionSpec(
                arn=self.stack.resolve({"Ref": logical_id}),
                name=props.get("JobDefinitionName", logical_id),
                command=[sys.executable, str(ENTRYPOINTS[command[-1]])],
                environment=env,
                attempts=int(retry.get("Attempts", 1)),
                evaluate_on_exit=retry.get("EvaluateOnExit", []),
                timeout_s=props.get("Timeout", {}).get("AttemptDurationSeconds"),
            )
        return specs

    def lambda_environment(self) -> dict[str, str]:
        """Every function's variables at once (handlers run in this process); they must not conflict."""
        merged: dict[str, str] = {}
        for fn in self.functions.values():
            for key, value in fn.environment.items():
                if key == "POWERTOOLS_SERVICE_NAME":
                    continue  # each handler names its own service
                if merged.get(key, value) != value:
                    raise ValueError(f"functions disagree on {key}: {merged[key]!r} vs {value!r}")
                merged[key] = str(value)
        return merged

    def call_lambda(self, arn: str, payload: object) -> object:
        unqualified = re.sub(r"(:function:[^:]+):.*$", r"\1", arn)  # drop a version or alias
        folder = self.handler_by_arn.get(unqualified)
        if folder is None:
            raise KeyError(f"no function {arn} in the template")
        self.on_progress(f"lambda {folder}")
        return invoke(folder, payload)

    def deliver_event(self, event: dict) -> None:
        """EventBridge: every rule whose pattern matches invokes its target functions."""
        for pattern, targets in self.rules:
            if matches(pattern, event):
                for logical_id in targets:
                    self.on_progress(f"event {event['detail-type']} -> {self.functions[logical_id].handler_folder}")
                    invoke(self.functions[logical_id].handler_folder, event)

    def event_sources(self) -> list[SqsEventSource]:
        sources = []
        for queue_id, function_id, batch_size in self.stack.event_source_mappings():
            folder = self.functions[function_id].handler_folder
            sources.append(SqsEventSource(
                self.sqs, self.queue_urls[queue_id], self.overrides[f"{queue_id}.Arn"],
                lambda event, folder=folder: invoke(folder, event), batch_size=batch_size,
            ))
        return sources

    def data_bucket(self) -> str:
        buckets = {fn.environment.get("DATA_BUCKET") for fn in self.functions.values()} - {None}
        if len(buckets) != 1:
            raise ValueError(f"expected one DATA_BUCKET across functions, got {buckets}")
        return buckets.pop()
