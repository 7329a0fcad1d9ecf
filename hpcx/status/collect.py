"""What a deployed execution is doing, read from AWS into a plain Snapshot (no printing here).

Sources, cheapest first, and what each one gives:
- Step Functions DescribeExecution: status, start and stop, and the error and cause of a failed run;
- GetExecutionHistory (every page, newest first): the state it is in, the LSRTM iteration (the run state
  ComputeGradient was entered with carries the iterations done and the total), the misfit of each finished
  iteration (NextIteration's output), and Map progress (MapStateStarted lengths, MapIteration* events; a
  distributed Map's counts come from DescribeMapRun, since its items run as child executions);
- for an LSRTM iteration still computing (or the one a failed run stopped in): its manifest in S3 names the
  Batch job(s) the submit Lambda started (lambda/lsrtm_submit_gradient_job: one array job
  `<run>-it<k>`, or one multi-node job per shot), whose statusSummary Batch DescribeJobs gives, and the
  shots the reducer has summed are read from the accumulator (workloads/lsrtm/reduction.py) without
  downloading the gradient sum (s3_ranges.py).

The collectors take boto3 clients, so tests drive them with botocore Stubber responses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from hpcx.status.s3_ranges import RangedObject
from workloads.lsrtm import layout
from workloads.lsrtm.reduction import Accumulator

# arn:<partition>:states:<region>:<account>:execution:<state machine name>:<execution name>
EXECUTION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):(?P<account>\d{12}):"
    r"execution:(?P<machine>[^\s:]{1,80}):(?P<name>[^\s:]{1,80})$"
)
# the state machines this app deploys are named <prefix>-<suffix> (stacks/lsrtm/workflow.py,
# stacks/cosmic/workflow.py, stacks/automon/experiment.py); the longest suffix that matches wins
EXPERIMENTS = {
    "-LSRTM-SGD-MultiNode": "LSRTM-SGD",
    "-LSRTM-SGD": "LSRTM-SGD",
    "-cosmicai": "cosmicai",
    "-AutoMon-Experiment": "AutoMon",
}
BATCH_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
DESCRIBE_JOBS_MAX = 100  # ids per DescribeJobs call; a multi-node iteration has one job per shot


class BadExecution(ValueError):
    """The EXECUTION argument is not an execution ARN (nothing was asked of AWS)."""


@dataclass(frozen=True)
class ExecutionArn:
    arn: str
    region: str
    machine: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ExecutionArn:
        match = EXECUTION_ARN.fullmatch(text.strip())
        if not match:
            raise BadExecution(f"{text!r} is not an execution ARN (arn:aws:states:<region>:<account>:execution:"
                               "<state machine>:<execution>), nor a run id with --stack")
        return cls(text.strip(), match["region"], match["machine"], match["name"])


def experiment_of(machine: str) -> str | None:
    for suffix in sorted(EXPERIMENTS, key=len, reverse=True):
        if machine.endswith(suffix):
            return EXPERIMENTS[suffix]
    return None


@dataclass
class BatchProgress:
    """Children of the iteration's job(s) per Batch status (an array job's statusSummary, summed)."""

    job_ids: list[str]
    counts: dict[str, int]
    total: int

    @property
    def done(self) -> int:
        return self.counts.get("SUCCEEDED", 0) + self.counts.get("FAILED", 0)


@dataclass
class ReducerProgress:
    summed: int  # shots whose partial gradient is in the accumulator
    expected: int  # shots in the iteration's batch


@dataclass
class MapProgress:
    name: str
    total: int | None  # items the Map was started with (None when the history does not say)
    succeeded: int = 0
    failed: int = 0
    running: int = 0


@dataclass
class Snapshot:
    execution_arn: str
    name: str
    state_machine: str
    experiment: str | None
    status: str
    start: str
    stop: str | None
    error: str | None = None
    cause: str | None = None
    current_state: str | None = None
    iteration: int | None = None  # LSRTM: the iteration being computed (or the last one entered)
    iterations: int | None = None
    stage: str | None = None  # LSRTM: "gradient", or "curvature" while the exact rule's MeasureCurvature runs
    misfits: dict[int, float] = field(default_factory=dict)  # finished iteration -> misfit
    batch: BatchProgress | None = None
    reducer: ReducerProgress | None = None
    maps: list[MapProgress] = field(default_factory=list)
    events: int = 0
    collected_at: str = ""

    @property
    def finished(self) -> bool:
        return self.status != "RUNNING"


def collect(arn: ExecutionArn, sfn, batch, s3) -> Snapshot:
    """One Snapshot of the execution; the clients are boto3's (stepfunctions, batch, s3)."""
    described = sfn.describe_execution(executionArn=arn.arn)
    snap = Snapshot(
        execution_arn=arn.arn, name=described.get("name", arn.name), state_machine=arn.machine,
        experiment=experiment_of(arn.machine), status=described["status"],
        start=_iso(described["startDate"]), stop=_iso(described.get("stopDate")),
        error=described.get("error"), cause=described.get("cause"),
        collected_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    events = history(sfn, arn.arn)
    snap.events = len(events)
    snap.current_state = _current_state(events)
    snap.maps = _maps(events, sfn)
    if snap.experiment == "LSRTM-SGD":
        _lsrtm(snap, events, batch, s3)
    return snap


def history(sfn, arn: str) -> list[dict]:
    """Every event, newest first (GetExecutionHistory pages, reverseOrder)."""
    events: list[dict] = []
    kwargs = {"executionArn": arn, "reverseOrder": True, "maxResults": 1000, "includeExecutionData": True}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _current_state(events: list[dict]) -> str | None:
    for event in events:  # newest first: the state entered last
        if event["type"].endswith("StateEntered"):
            return event["stateEnteredEventDetails"]["name"]
    return None


def _json_of(details: dict | None, key: str) -> dict:
    try:
        value = json.loads((details or {}).get(key) or "{}")
    except ValueError:  # truncated data (over 256 KB) or none at all
        return {}
    return value if isinstance(value, dict) else {}


def _maps(events: list[dict], sfn) -> list[MapProgress]:
    """Per Map state name: items started, succeeded, failed, running (nested Maps add up over their runs)."""
    maps: dict[str, MapProgress] = {}
    names: dict[int, str] = {}  # event id -> the Map state it belongs to
    entered: str | None = None
    for event in reversed(events):  # oldest first: MapStateStarted follows its MapStateEntered
        kind = event["type"]
        # concurrent branches interleave their events: the previous event's Map, else the last one entered
        previous = names.get(event.get("previousEventId", -1), entered)
        if kind == "MapStateEntered":
            entered = names[event["id"]] = event["stateEnteredEventDetails"]["name"]
            maps.setdefault(entered, MapProgress(entered, None))
        elif kind == "MapStateStarted" and previous is not None:
            names[event["id"]] = previous
            progress = maps[previous]
            progress.total = (progress.total or 0) + int(event.get("mapStateStartedEventDetails", {}).get("length", 0))
        elif kind.startswith("MapIteration"):
            name = event.get(_details_key(kind), {}).get("name")
            progress = maps.setdefault(name, MapProgress(name, None))
            if kind == "MapIterationStarted":
                progress.running += 1
            elif kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
                progress.running -= 1
                if kind == "MapIterationSucceeded":
                    progress.succeeded += 1
                else:
                    progress.failed += 1
        elif kind == "MapRunStarted" and previous is not None:
            counts = sfn.describe_map_run(mapRunArn=event["mapRunStartedEventDetails"]["mapRunArn"])["itemCounts"]
            progress = maps[previous]
            progress.total = counts["total"]
            progress.succeeded, progress.running = counts["succeeded"], counts["running"]
            progress.failed = counts["failed"] + counts["timedOut"] + counts["aborted"]
    return list(maps.values())


def _details_key(kind: str) -> str:
    return kind[0].lower() + kind[1:] + "EventDetails"


def _lsrtm(snap: Snapshot, events: list[dict], batch, s3) -> None:
    entered = None
    for event in events:  # newest first
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        if event["type"] == "PassStateExited" and details.get("name") == "NextIteration":
            out = _json_of(details, "output")
            if isinstance(out.get("iteration"), int) and isinstance(out.get("misfit"), int | float):
                snap.misfits.setdefault(out["iteration"], float(out["misfit"]))
        elif event["type"] == "TaskStateEntered" and details.get("name") == "ComputeGradient" and entered is None:
            entered = _json_of(details, "input")
    snap.misfits = dict(sorted(snap.misfits.items()))
    if not entered or not isinstance(entered.get("iteration"), int):
        return
    snap.iteration, snap.iterations = entered["iteration"] + 1, entered.get("iterations")
    if snap.iteration in snap.misfits:
        return  # that iteration finished: nothing of it is running
    run_id, bucket = entered.get("run_id"), entered.get("bucket")
    manifest = _read_json(s3, bucket, layout.manifest_key(run_id, snap.iteration))
    if manifest is None:
        return  # the submit Lambda has not written it yet
    expected = len(set(manifest.get("shots", [])))
    if snap.current_state == "MeasureCurvature":  # the exact rule's second array job over the same shots
        snap.stage = "curvature"
        snap.batch = batch_progress(batch, manifest.get("curvature_job_ids", []))
        terms = (_read_json(s3, bucket, layout.curvature_key(run_id, snap.iteration)) or {}).get("terms", {})
        snap.reducer = ReducerProgress(summed=len(terms), expected=expected)
        return
    snap.stage = "gradient"
    snap.batch = batch_progress(batch, manifest.get("job_ids", []))
    if snap.finished:
        return  # the clean-up Lambda has deleted the accumulator: "0 summed" would be false
    summed = accumulated_shots(s3, bucket, layout.accumulator_key(run_id, snap.iteration))
    snap.reducer = ReducerProgress(summed=len(summed), expected=expected)


def batch_progress(batch, job_ids: list[str]) -> BatchProgress | None:
    """Children per status over the job(s): an array job counts its children, any other job itself."""
    if not job_ids:
        return None
    counts = dict.fromkeys(BATCH_STATUSES, 0)
    total = 0
    jobs = [job for i in range(0, len(job_ids), DESCRIBE_JOBS_MAX)
            for job in batch.describe_jobs(jobs=job_ids[i:i + DESCRIBE_JOBS_MAX])["jobs"]]
    for job in jobs:
        summary = job.get("arrayProperties", {}).get("statusSummary")
        if summary:
            size = int(job["arrayProperties"].get("size", sum(summary.values())))
            for status, n in summary.items():
                counts[status] = counts.get(status, 0) + int(n)
            total += size
        else:
            counts[job["status"]] = counts.get(job["status"], 0) + 1
            total += 1
    return BatchProgress(job_ids=list(job_ids), counts=counts, total=total)


def accumulated_shots(s3, bucket: str, key: str) -> set[int]:
    """The shots in the reducer's accumulator (empty before its first write or after clean-up)."""
    try:
        view = RangedObject(s3, bucket, key)
    except ClientError as exc:
        if _missing(exc):
            return set()
        raise
    return Accumulator.shots_in(view)


def _read_json(s3, bucket: str | None, key: str) -> dict | None:
    if not bucket:
        return None
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return json.loads(body)


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)
