"""Placement by earliest estimated finish over the whole backlog, committing only a few jobs ahead.

Pure bookkeeping, no Ray: the scheduler feeds it events (committed, staged, finished, node gone) and asks,
at each event, which pending jobs to launch where. For a job on a candidate node the estimate is

    ready  = (when the node's transfer queue is free) + transfer time   (now, if the data is readable there)
    start  = max(ready, when one of the node's CPU slots is free)
    finish = start + work / speed(node)

Each round plans *every* pending job in order, on virtual copies of the nodes' timelines, giving each
to the node with the earliest estimated finish (list scheduling). Only the jobs that land on a node with
room (fewer than ``slots + prefetch_depth`` outstanding) are launched; the rest are re-planned at the next
event with fresher estimates. Planning the whole backlog matters: looking at one job at a time, a fast
data-local node with a short committed queue always looks best, and a remote node whose transfers could
overlap computation is never used. Transfers on a node run one at a time (one ``transfer_slot`` per node).
The transfer queue is modelled as a chain: a transfer that overran its estimate pushes back the ones
queued behind it, so a link slower than estimated stops attracting work the HPC side finishes sooner.

Speeds come from finished jobs (unknown nodes get the mean of known ones, or ``default_speed``; with no
knowledge at all compute time counts as zero, so the first jobs go where their data is). A node that has
neither finished nor been given a job gets a probe: the pending job cheapest to move there. Transfer times
come from observed throughput per (source site, node site), or the topology's nominal link until then.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from workloads.hybrid_ray.estimator import RateEstimator

LinkSeconds = Callable[[str, str, int], float]


@dataclass
class _Outstanding:
    job_id: str
    work: float
    needs_transfer: bool
    ready_at: float  # estimated until staged, then actual
    staged: bool
    transfer_s: float = 0.0  # estimated duration of its transfer (0 when read in place)


@dataclass
class NodePlan:
    node_id: str
    site: str
    slots: int
    jobs: list[_Outstanding] = field(default_factory=list)
    last_staged_at: float = float("-inf")  # when the node's transfer slot last became free


@dataclass(frozen=True)
class Demand:
    """A pending job as the planner sees it; ``sources`` maps node id -> source site (None: in place)."""

    job_id: str
    work: float
    nbytes: int
    sources: Mapping[str, str | None]


@dataclass(frozen=True)
class Estimate:
    node_id: str
    needs_transfer: bool
    transfer_s: float
    ready_at: float
    start_at: float
    finish_at: float


@dataclass
class _Timeline:
    """A node's future as the model sees it: when its transfer queue and each CPU slot are free."""

    transfer_free: float
    slots: list[float]  # a heap
    outstanding: int


class Planner:
    def __init__(
        self,
        *,
        prefetch_depth: int,
        speeds: RateEstimator,
        throughput: RateEstimator,
        link_seconds_prior: LinkSeconds,
        default_speed: float | None = None,
    ) -> None:
        if prefetch_depth < 0:
            raise ValueError("prefetch_depth must be >= 0")
        self.prefetch_depth = prefetch_depth
        self.speeds = speeds
        self.throughput = throughput
        self._prior = link_seconds_prior
        self.default_speed = default_speed
        self.nodes: dict[str, NodePlan] = {}

    # --- cluster membership -------------------------------------------------------------------------
    def add_node(self, node_id: str, site: str, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"node {node_id[:12]} has no CPU slot for a job")
        self.nodes.setdefault(node_id, NodePlan(node_id, site, slots))

    def remove_node(self, node_id: str) -> list[str]:
        """Forget a node; returns the ids of the jobs that were outstanding on it."""
        plan = self.nodes.pop(node_id, None)
        self.speeds.forget(node_id)
        return [j.job_id for j in plan.jobs] if plan else []

    # --- model --------------------------------------------------------------------------------------
    def limit(self, node_id: str) -> int:
        """How many jobs a node may have outstanding: one per CPU slot plus the prefetch depth."""
        return self.nodes[node_id].slots + self.prefetch_depth

    def compute_seconds(self, node_id: str, work: float) -> float:
        speed = self.speeds.rate(node_id) or self.speeds.mean_rate() or self.default_speed
        return work / speed if speed else 0.0

    def transfer_seconds(self, src_site: str, dst_site: str, nbytes: int) -> float:
        rate = self.throughput.rate((src_site, dst_site))
        return nbytes / rate if rate else self._prior(src_site, dst_site, nbytes)

    def _timeline(self, plan: NodePlan, now: float) -> _Timeline:
        transfer_free = now
        in_flight = True  # the first unstaged transfer is running; the others queue behind it
        slots = [now] * plan.slots
        for job in plan.jobs:
            if job.staged:
                ready = job.ready_at
            elif in_flight:
                # It started when the transfer before it ended (or as planned), and ends no sooner
                # than now once overdue.
                ready = max(job.ready_at, plan.last_staged_at + job.transfer_s, now)
                in_flight = False
            else:
                # Transfers run one at a time in commit order: an overrun pushes back every transfer
                # queued behind it. Letting each of them end "now" instead booked the link twice, so a
                # slow link kept looking free and kept attracting work that the HPC side would finish
                # sooner.
                ready = max(job.ready_at, transfer_free + job.transfer_s)
            if not job.staged:
                transfer_free = ready
            free = heapq.heappop(slots)
            # Outstanding means not finished: a job running longer than predicted ends "now" at the earliest.
            end = max(max(free, ready) + self.compute_seconds(plan.node_id, job.work), now)
            heapq.heappush(slots, end)
        return _Timeline(transfer_free, slots, len(plan.jobs))

    def _estimate_on(
        self, node_id: str, tl: _Timeline, work: float, source_site: str | None, nbytes: int, now: float
    ) -> Estimate:
        site = self.nodes[node_id].site
        xfer = 0.0 if source_site is None else self.transfer_seconds(source_site, site, nbytes)
        ready = now if source_site is None else tl.transfer_free + xfer
        start = max(ready, tl.slots[0])
        finish = start + self.compute_seconds(node_id, work)
        return Estimate(node_id, source_site is not None, xfer, ready, start, finish)

    def estimate(
        self, node_id: str, work: float, source_site: str | None, nbytes: int, now: float
    ) -> Estimate:
        """Estimate for one job on one node given what is outstanding there."""
        return self._estimate_on(
            node_id, self._timeline(self.nodes[node_id], now), work, source_site, nbytes, now
        )

    def plan(self, demands: Sequence[Demand], now: float) -> list[tuple[str, Estimate]]:
        """Jobs to launch now, with their node; the others wait for the next round."""
        order = {node_id: i for i, node_id in enumerate(self.nodes)}
        timelines = {node_id: self._timeline(plan, now) for node_id, plan in self.nodes.items()}
        launch: list[tuple[str, Estimate]] = []
        remaining = list(demands)

        def assign(demand: Demand, est: Estimate) -> None:
            tl = timelines[est.node_id]
            if tl.outstanding < self.limit(est.node_id):
                launch.append((demand.job_id, est))
            if est.needs_transfer:
                tl.transfer_free = est.ready_at
            heapq.heapreplace(tl.slots, est.finish_at)
            tl.outstanding += 1

        # Probes: a node that never finished a job and has none outstanding gets the job that is cheapest
        # to move there, since only running something on it can tell its speed.
        for node_id, tl in timelines.items():
            if self.speeds.count(node_id) or tl.outstanding:
                continue
            options = [
                (self._estimate_on(node_id, tl, d.work, d.sources[node_id], d.nbytes, now), i)
                for i, d in enumerate(remaining)
                if node_id in d.sources
            ]
            if options:
                est, i = min(options, key=lambda o: (o[0].needs_transfer, o[0].transfer_s, o[1]))
                assign(remaining.pop(i), est)

        for demand in remaining:
            candidates = [
                self._estimate_on(node_id, timelines[node_id], demand.work, src, demand.nbytes, now)
                for node_id, src in demand.sources.items()
                if node_id in timelines
            ]
            if candidates:
                best = min(
                    candidates,
                    key=lambda e: (
                        e.finish_at,
                        e.needs_transfer,
                        e.transfer_s,
                        timelines[e.node_id].outstanding,
                        order[e.node_id],
                    ),
                )
                assign(demand, best)
        return launch

    # --- events -------------------------------------------------------------------------------------
    def commit(self, estimate: Estimate, job_id: str, work: float) -> None:
        needs = estimate.needs_transfer
        self.nodes[estimate.node_id].jobs.append(
            _Outstanding(job_id, work, needs, estimate.ready_at, staged=not needs, transfer_s=estimate.transfer_s)
        )

    def staged(self, node_id: str, job_id: str, now: float) -> None:
        self.nodes[node_id].last_staged_at = now
        for job in self.nodes[node_id].jobs:
            if job.job_id == job_id:
                job.staged, job.ready_at = True, now

    def finished(self, node_id: str, job_id: str) -> None:
        plan = self.nodes.get(node_id)
        if plan is not None:
            plan.jobs = [j for j in plan.jobs if j.job_id != job_id]
