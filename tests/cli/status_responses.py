"""AWS responses for the `hpcx status` tests, shaped as the service documents them (Stubber checks each
against botocore's model): an execution, its history events, a Batch array job, a Map Run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

REGION, ACCOUNT = "us-east-1", "123456789012"
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def machine_arn(machine: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine}"


def execution_arn(machine: str, name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine}:{name}"


def described(machine: str, name: str, status: str, *, stop_after_s: int | None = None, **extra) -> dict:
    response = {"executionArn": execution_arn(machine, name), "stateMachineArn": machine_arn(machine),
                "name": name, "status": status, "startDate": START, **extra}
    if stop_after_s is not None:
        response["stopDate"] = START + timedelta(seconds=stop_after_s)
    return response


class History:
    """Events in the order they happen; `pages(n)` gives GetExecutionHistory pages newest first."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def add(self, kind: str, **details) -> History:
        event = {"timestamp": START + timedelta(seconds=len(self.events)), "type": kind, "id": len(self.events) + 1}
        if self.events:
            event["previousEventId"] = len(self.events)
        event.update(details)
        self.events.append(event)
        return self

    def state(self, kind: str, name: str, *, input: dict | None = None, output: dict | None = None) -> History:
        if kind.endswith("Entered"):
            return self.add(kind, stateEnteredEventDetails={"name": name, "input": json.dumps(input or {})})
        return self.add(kind, stateExitedEventDetails={"name": name, "output": json.dumps(output or {})})

    def pages(self, size: int) -> list[dict]:
        newest_first = list(reversed(self.events))
        chunks = [newest_first[i:i + size] for i in range(0, len(newest_first), size)]
        return [{"events": chunk, **({"nextToken": f"page-{i + 1}"} if i + 1 < len(chunks) else {})}
                for i, chunk in enumerate(chunks)]


def lsrtm_history(run: dict, *, misfits: list[float], computing: bool) -> History:
    """ValidateInput, then one ComputeGradient/NextIteration pair per finished iteration, then (computing)
    the next iteration's ComputeGradient, entered and waiting for its task token."""
    h = History().add("ExecutionStarted", executionStartedEventDetails={"input": "{}", "roleArn": "arn:aws:iam::1:role/r"})
    h.state("TaskStateEntered", "ValidateInput").state("TaskStateExited", "ValidateInput", output=run)
    state = dict(run)
    for k, misfit in enumerate(misfits, start=1):
        h.state("ChoiceStateEntered", "MoreIterations", input=state)
        h.state("TaskStateEntered", "ComputeGradient", input=state)
        h.add("TaskScheduled", taskScheduledEventDetails={"resourceType": "lambda", "resource": "invoke.waitForTaskToken",
                                                          "region": REGION, "parameters": "{}"})
        last = {"iteration": k, "misfit": misfit, "image_key": f"runs/{run['run_id']}/image_{k:04d}.npy"}
        h.state("TaskStateExited", "ComputeGradient", output={**state, "last": last})
        state = {**run, "iteration": k, "misfit": misfit, "image_key": last["image_key"]}
        h.state("PassStateEntered", "NextIteration").state("PassStateExited", "NextIteration", output=state)
    if computing:
        h.state("ChoiceStateEntered", "MoreIterations", input=state)
        h.state("TaskStateEntered", "ComputeGradient", input=state)
        h.add("TaskScheduled", taskScheduledEventDetails={"resourceType": "lambda", "resource": "invoke.waitForTaskToken",
                                                          "region": REGION, "parameters": "{}"})
    return h


def array_job(job_id: str, name: str, summary: dict[str, int], status: str = "RUNNING") -> dict:
    """A DescribeJobs entry of an array parent: statusSummary counts its children."""
    return {"jobName": name, "jobId": job_id, "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/hpcx-q",
            "status": status, "startedAt": 1_764_583_200_000,
            "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/hpcx-gradient:1",
            "arrayProperties": {"statusSummary": summary, "size": sum(summary.values())}}


def map_run(total: int, succeeded: int, running: int, failed: int = 0) -> dict:
    counts = {"pending": total - succeeded - running - failed, "running": running, "succeeded": succeeded,
              "failed": failed, "timedOut": 0, "aborted": 0, "total": total, "resultsWritten": succeeded}
    return {"mapRunArn": f"arn:aws:states:{REGION}:{ACCOUNT}:mapRun:hpcx-cosmicai/RunRanks:1",
            "executionArn": execution_arn("hpcx-cosmicai", "c-1"), "status": "RUNNING", "startDate": START,
            "maxConcurrency": 64, "toleratedFailurePercentage": 0.0, "toleratedFailureCount": 0,
            "itemCounts": counts, "executionCounts": counts}
