"""The resilience experiment's failures: terminate a fraction of a job's instances at random times.

As in the paper's test: k = round(rate x children) array children are chosen at random, each with a
time drawn uniformly from the window, counted from the moment the first child started. When its time
comes, the instance running that child is terminated (found through the compute environment's ECS
cluster); a child that has already finished is recorded as such, one not yet running is waited for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from reproduce.timings import Termination


@dataclass
class PlannedFailure:
    array_index: int
    after_s: float
    record: Termination | None = None


def plan_failures(children: int, rate: float, window_s: tuple[float, float], seed: int) -> list[PlannedFailure]:
    if not 0 < rate < 1:
        raise ValueError(f"failure rate must be between 0 and 1 (exclusive), got {rate}")
    count = max(1, round(rate * children))
    rng = np.random.default_rng(seed)
    indices = rng.choice(children, size=count, replace=False)
    times = rng.uniform(window_s[0], window_s[1], size=count)
    return sorted((PlannedFailure(int(i), float(t)) for i, t in zip(indices, times, strict=True)),
                  key=lambda f: f.after_s)


class Terminator:
    def __init__(self, planned: list[PlannedFailure], *, ecs, ec2, cluster_arn: str | None) -> None:
        self.planned = planned
        self.ecs, self.ec2, self.cluster_arn = ecs, ec2, cluster_arn

    @property
    def records(self) -> list[Termination]:
        return [p.record for p in self.planned if p.record is not None]

    def tick(self, children: dict[int, dict], now: datetime) -> None:
        """Act on every failure that is due. children: array index -> DescribeJobs entry."""
        starts = [c["startedAt"] for c in children.values() if c.get("startedAt")]
        if not starts:
            return
        elapsed = (now - datetime.fromtimestamp(min(starts) / 1000, tz=UTC)).total_seconds()
        for failure in self.planned:
            if failure.record is not None or elapsed < failure.after_s:
                continue
            child = children.get(failure.array_index)
            if child is None:
                continue
            if child["status"] in ("SUCCEEDED", "FAILED"):
                failure.record = Termination(job_id=child["jobId"], instance_id=None, planned_after_s=failure.after_s,
                                             done_at=now, outcome="job already finished")
            elif child["status"] == "RUNNING":
                failure.record = self._terminate(child, failure.after_s, now)

    def _terminate(self, child: dict, after_s: float, now: datetime) -> Termination:
        container_instance = child.get("container", {}).get("containerInstanceArn")
        instance_id = None
        if container_instance and self.cluster_arn:
            described = self.ecs.describe_container_instances(
                cluster=self.cluster_arn, containerInstances=[container_instance])["containerInstances"]
            instance_id = described[0]["ec2InstanceId"] if described else None
        if instance_id is None:
            return Termination(job_id=child["jobId"], instance_id=None, planned_after_s=after_s, done_at=now,
                               outcome="no instance found")
        self.ec2.terminate_instances(InstanceIds=[instance_id])
        return Termination(job_id=child["jobId"], instance_id=instance_id, planned_after_s=after_s, done_at=now,
                           outcome="terminated")
