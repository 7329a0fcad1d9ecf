"""The data-aware scheduler: a driver-side loop on stock Ray (no fork, no label updates at run time).

For each job it asks the planner for the node with the earliest estimated finish, then
  1. if the node cannot read the data in place, submits a staging task pinned to that node
     (``NodeAffinitySchedulingStrategy(soft=False)``, one ``transfer_slot`` so transfers queue per node);
  2. submits the compute task pinned to the same node with the staging task's ObjectRef as an argument,
     so Ray's dependency resolution holds it until the data is there. This replaces the fork's dynamic
     label, which stock Ray does not have.
Up to ``prefetch_depth`` jobs per node are committed beyond its CPU slots, so the next job's transfer
overlaps the current job's computation. Finished jobs teach the planner each node's speed and each
link's throughput. A node that dies (or leaves) has its jobs resubmitted elsewhere; staged copies on it
are forgotten, and a dataset whose only copy was on it fails the run with ``DatasetLostError``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import ray
from ray.exceptions import RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from workloads.hybrid_ray.cluster_labels import SITE_LABEL, TRANSFER_RESOURCE, WORKER_SELECTOR
from workloads.hybrid_ray.datasets import Dataset, HpcShare, NodeDisk, StorageLayout, home_site, in_place_path
from workloads.hybrid_ray.emulated_link import EmulatedLinks
from workloads.hybrid_ray.estimator import RateEstimator
from workloads.hybrid_ray.jobs import ComputeFn, ComputeResult, Job, JobRecord, RunReport, timed_call
from workloads.hybrid_ray.planner import Demand, Estimate, Planner
from workloads.hybrid_ray.topology import HybridTopology
from workloads.hybrid_ray.transfer import Receipt, current_node, fetch_dataset

log = logging.getLogger(__name__)


class DatasetLostError(RuntimeError):
    """The only copy of a dataset was on a node that is gone."""


class JobFailedError(RuntimeError):
    """A job's own code failed on every attempt."""


class NoComputeNodesError(RuntimeError):
    """No alive node matches the compute selector."""


@ray.remote(num_cpus=0, max_retries=0)
def _stage(dataset: Dataset, layout: StorageLayout, links: EmulatedLinks | None) -> Receipt:
    return fetch_dataset(dataset, layout, links)


@ray.remote(max_retries=0)
def _compute(fn: ComputeFn, data: Receipt | Dataset, layout: StorageLayout, kwargs: dict) -> ComputeResult:
    node_id, site = current_node()
    if isinstance(data, Receipt):
        if data.node_id != node_id:
            raise RuntimeError(f"job pinned to {data.node_id[:12]} ran on {node_id[:12]}")
        path = data.path
    else:
        here = in_place_path(data, layout, node_id, site)
        if here is None:
            raise RuntimeError(f"dataset {data.name} is not readable on node {node_id[:12]}")
        path = str(here)
    value, seconds = timed_call(fn, path, kwargs)
    return ComputeResult(value, node_id, site, seconds)


@dataclass
class _Attempt:
    job: Job
    node_id: str
    number: int
    stage_ref: ray.ObjectRef | None
    compute_ref: ray.ObjectRef
    submitted_at: float
    receipt: Receipt | None = None
    staged_at: float | None = None


@dataclass
class _RunState:
    pending: deque[Job]
    total: int
    started: float = field(default_factory=time.monotonic)
    active: dict[str, _Attempt] = field(default_factory=dict)  # job id -> its current attempt
    by_ref: dict[ray.ObjectRef, str] = field(default_factory=dict)  # refs in flight -> job id
    failures: dict[str, int] = field(default_factory=dict)  # the job's own errors
    tries: dict[str, int] = field(default_factory=dict)  # attempts launched, for any reason
    done: dict[str, JobRecord] = field(default_factory=dict)


class DataAwareScheduler:
    def __init__(
        self,
        fn: ComputeFn,
        *,
        layout: StorageLayout,
        topology: HybridTopology,
        emulate_links: bool = True,
        prefetch_depth: int = 2,
        num_cpus: float = 1,
        compute_selector: dict[str, str] | None = None,
        max_attempts: int = 3,
        default_speed: float | None = None,
        refresh_s: float = 1.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.fn = fn
        self.layout = layout
        self.topology = topology
        nominal = EmulatedLinks(topology=topology)
        self.links = nominal if emulate_links else None
        self.num_cpus = num_cpus
        self.selector = dict(WORKER_SELECTOR if compute_selector is None else compute_selector)
        self.max_attempts = max_attempts
        self.refresh_s = refresh_s
        self.on_progress = on_progress
        self.speeds = RateEstimator()
        self.throughput = RateEstimator()
        self.planner = Planner(
            prefetch_depth=prefetch_depth,
            speeds=self.speeds,
            throughput=self.throughput,
            link_seconds_prior=nominal.seconds,
            default_speed=default_speed,
        )
        self._node_sites: dict[str, str] = {}  # every alive node, compute or not
        self._replicas: dict[str, set[str]] = {}  # Dataset.key -> nodes holding a staged copy
        self._lost_nodes: list[str] = []

    # --- cluster view -------------------------------------------------------------------------------
    def _refresh_nodes(self) -> list[str]:
        """Sync with the cluster; returns the ids of the compute nodes that disappeared."""
        alive = [n for n in ray.nodes() if n["Alive"]]
        self._node_sites = {n["NodeID"]: n.get("Labels", {}).get(SITE_LABEL, "") for n in alive}
        compute = {}
        for n in alive:
            labels = n.get("Labels", {})
            slots = int(n.get("Resources", {}).get("CPU", 0) // self.num_cpus) if self.num_cpus else 1
            if slots >= 1 and all(labels.get(k) == v for k, v in self.selector.items()):
                compute[n["NodeID"]] = (labels.get(SITE_LABEL, ""), slots)
        gone = [node_id for node_id in self.planner.nodes if node_id not in compute]
        for node_id, (site, slots) in compute.items():
            self.planner.add_node(node_id, site, slots)
        return gone

    def _sources(self, dataset: Dataset) -> dict[str, str | None]:
        """For each compute node: None if it reads the dataset in place, else the site bytes come from."""
        holders = self._replicas.get(dataset.key, set())
        location = dataset.location
        if isinstance(location, NodeDisk) and location.node_id not in self._node_sites:
            # Its home node is gone: only nodes that staged a copy before can still run it.
            survivors = {n: None for n in self.planner.nodes if n in holders}
            if not survivors:
                raise DatasetLostError(f"dataset {dataset.name}: its node {location.node_id[:12]} is gone")
            return survivors
        source = home_site(location, self._node_sites)
        sources: dict[str, str | None] = {}
        for node_id, plan in self.planner.nodes.items():
            local = (
                node_id in holders
                or (isinstance(location, HpcShare) and plan.site == source)
                or (isinstance(location, NodeDisk) and location.node_id == node_id)
            )
            sources[node_id] = None if local else source
        return sources

    # --- submission ---------------------------------------------------------------------------------
    def _submit(self, job: Job, est: Estimate, number: int) -> _Attempt:
        pin = NodeAffinitySchedulingStrategy(node_id=est.node_id, soft=False)
        stage_ref = None
        data: ray.ObjectRef | Dataset = job.dataset
        if est.needs_transfer:
            stage_ref = _stage.options(resources={TRANSFER_RESOURCE: 1}, scheduling_strategy=pin).remote(
                job.dataset, self.layout, self.links
            )
            data = stage_ref
        compute_ref = _compute.options(num_cpus=self.num_cpus, scheduling_strategy=pin).remote(
            self.fn, data, self.layout, job.kwargs
        )
        self.planner.commit(est, job.job_id, job.work)
        return _Attempt(job, est.node_id, number, stage_ref, compute_ref, time.monotonic())

    # --- main loop ----------------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job]) -> RunReport:
        """Run every job to completion; raises if a job keeps failing or its data is lost."""
        ids = [j.job_id for j in jobs]
        if len(set(ids)) != len(ids):
            raise ValueError("job ids must be unique")
        state = _RunState(pending=deque(jobs), total=len(jobs))
        last_refresh = -float("inf")
        try:
            while state.pending or state.active:
                now = time.monotonic()
                if now - last_refresh >= self.refresh_s:
                    self._lose_nodes(state, self._refresh_nodes())
                    last_refresh = now
                    if not self.planner.nodes:
                        raise NoComputeNodesError(f"no alive node matches {self.selector}")
                self._launch(state, now)
                if not state.by_ref:
                    time.sleep(0.01)  # nothing in flight yet (nodes still joining): do not spin
                    continue
                for ref in self._wait(state):
                    if self._collect(state, ref):
                        last_refresh = time.monotonic()
        except BaseException:
            for ref in state.by_ref:
                ray.cancel(ref)
            raise
        return RunReport(state.done, time.monotonic() - state.started, list(self._lost_nodes))

    def _launch(self, state: _RunState, now: float) -> None:
        by_id = {job.job_id: job for job in state.pending}
        demands = [
            Demand(j.job_id, j.work, j.dataset.nbytes, self._sources(j.dataset)) for j in state.pending
        ]
        for job_id, est in self.planner.plan(demands, now):
            job = by_id[job_id]
            state.pending.remove(job)
            state.tries[job_id] = state.tries.get(job_id, 0) + 1
            attempt = self._submit(job, est, state.tries[job_id])
            state.active[job_id] = attempt
            for ref in (attempt.stage_ref, attempt.compute_ref):
                if ref is not None:
                    state.by_ref[ref] = job_id

    def _wait(self, state: _RunState) -> list[ray.ObjectRef]:
        """Refs that are ready: blocks for the first (at most ``refresh_s``), then takes all others ready."""
        ready, rest = ray.wait(list(state.by_ref), num_returns=1, timeout=self.refresh_s)
        if ready and rest:
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        return ready

    def _drop(self, state: _RunState, job_id: str, requeue: bool) -> None:
        attempt = state.active.pop(job_id)
        for ref in (attempt.stage_ref, attempt.compute_ref):
            state.by_ref.pop(ref, None)
        self.planner.finished(attempt.node_id, job_id)
        if requeue:
            state.pending.appendleft(attempt.job)

    def _lose_nodes(self, state: _RunState, gone: list[str]) -> None:
        for node_id in gone:
            log.warning("node %s is gone; resubmitting its jobs", node_id[:12])
            self._lost_nodes.append(node_id)
            for job_id in self.planner.remove_node(node_id):
                if job_id in state.active:
                    self._drop(state, job_id, requeue=True)
            for holders in self._replicas.values():
                holders.discard(node_id)

    def _collect(self, state: _RunState, ref: ray.ObjectRef) -> bool:
        """Handle one ready ref; returns True if the cluster view was refreshed."""
        job_id = state.by_ref.pop(ref, None)
        if job_id is None or job_id not in state.active:
            return False  # an attempt that was already dropped
        attempt = state.active[job_id]
        try:
            value = ray.get(ref)
        except RayTaskError as exc:  # the job's own code (or its staging) raised
            state.failures[job_id] = state.failures.get(job_id, 0) + 1
            give_up = state.failures[job_id] >= self.max_attempts
            self._drop(state, job_id, requeue=not give_up)
            if give_up:
                raise JobFailedError(f"job {job_id} failed {state.failures[job_id]} times") from exc
            log.warning("job %s failed on %s, retrying: %s", job_id, attempt.node_id[:12], exc)
            return False
        except RayError as exc:  # a system failure: the node or its worker died
            log.warning("job %s lost on %s (%s)", job_id, attempt.node_id[:12], type(exc).__name__)
            self._lose_nodes(state, self._refresh_nodes())
            if job_id in state.active:  # the node is still alive: a worker crash, try again
                if state.tries[job_id] > self.max_attempts + len(self._lost_nodes):
                    raise JobFailedError(f"job {job_id} lost {state.tries[job_id]} times") from exc
                self._drop(state, job_id, requeue=True)
            return True
        if ref == attempt.stage_ref:
            self._on_staged(attempt, value)
            return False
        if attempt.stage_ref is not None and attempt.receipt is None:
            # The compute task depended on the staging task, so that has finished too.
            state.by_ref.pop(attempt.stage_ref, None)
            self._on_staged(attempt, ray.get(attempt.stage_ref))
        state.done[job_id] = self._on_finished(attempt, value, state.started)
        self._drop(state, job_id, requeue=False)
        if self.on_progress:
            self.on_progress(len(state.done), state.total)
        return False

    def _on_staged(self, attempt: _Attempt, receipt: Receipt) -> None:
        attempt.receipt = receipt
        attempt.staged_at = time.monotonic()
        self.planner.staged(attempt.node_id, attempt.job.job_id, time.monotonic())
        self._replicas.setdefault(receipt.dataset, set()).add(attempt.node_id)
        if receipt.nbytes_moved:
            site = self._node_sites.get(attempt.node_id, "")
            self.throughput.observe((receipt.source_site, site), receipt.nbytes_moved, receipt.seconds)

    def _on_finished(self, attempt: _Attempt, result: ComputeResult, run_started: float) -> JobRecord:
        self.speeds.observe(attempt.node_id, attempt.job.work, result.compute_s)
        receipt = attempt.receipt
        return JobRecord(
            job_id=attempt.job.job_id,
            node_id=result.node_id,
            site=result.site,
            attempts=attempt.number,
            transfer_s=receipt.seconds if receipt else 0.0,
            nbytes_moved=receipt.nbytes_moved if receipt else 0,
            compute_s=result.compute_s,
            value=result.value,
            finished_s=time.monotonic() - run_started,
            submitted_s=attempt.submitted_at - run_started,
            staged_s=None if attempt.staged_at is None else attempt.staged_at - run_started,
        )
