"""The reference: Ray's default scheduling, each task fetching its own data (the original's "manu" mode).

Every job is one task with the same resource request and the worker label selector; Ray places it
wherever a CPU is free. If the chosen node cannot read the data in place, the task fetches it first
(same transfer code and emulated links as the scheduler's staging) while holding its CPU, so transfers
never overlap computation and data location plays no part in placement.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import ray

from workloads.hybrid_ray.cluster_labels import WORKER_SELECTOR
from workloads.hybrid_ray.datasets import Dataset, StorageLayout
from workloads.hybrid_ray.emulated_link import EmulatedLinks
from workloads.hybrid_ray.jobs import ComputeFn, ComputeResult, Job, JobRecord, RunReport, timed_call
from workloads.hybrid_ray.topology import HybridTopology
from workloads.hybrid_ray.transfer import current_node, fetch_dataset


@ray.remote(max_retries=3)
def _fetch_and_compute(
    fn: ComputeFn, dataset: Dataset, layout: StorageLayout, links: EmulatedLinks | None, kwargs: dict
) -> ComputeResult:
    receipt = fetch_dataset(dataset, layout, links)
    value, seconds = timed_call(fn, receipt.path, kwargs)
    node_id, site = current_node()
    return ComputeResult(value, node_id, site, seconds, receipt.seconds, receipt.nbytes_moved)


def run_default(
    fn: ComputeFn,
    jobs: Sequence[Job],
    *,
    layout: StorageLayout,
    topology: HybridTopology,
    emulate_links: bool = True,
    num_cpus: float = 1,
    compute_selector: dict[str, str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    links = EmulatedLinks(topology=topology) if emulate_links else None
    selector = dict(WORKER_SELECTOR if compute_selector is None else compute_selector)
    task = _fetch_and_compute.options(num_cpus=num_cpus, label_selector=selector)
    started = time.monotonic()
    refs = {task.remote(fn, j.dataset, layout, links, j.kwargs): j for j in jobs}
    records: dict[str, JobRecord] = {}
    remaining = list(refs)
    while remaining:
        ready, remaining = ray.wait(remaining, num_returns=1)
        for ref in ready:
            job, result = refs[ref], ray.get(ref)
            records[job.job_id] = JobRecord(
                job_id=job.job_id,
                node_id=result.node_id,
                site=result.site,
                attempts=1,
                transfer_s=result.fetch_s,
                nbytes_moved=result.nbytes_fetched,
                compute_s=result.compute_s,
                value=result.value,
                finished_s=time.monotonic() - started,
            )
            if on_progress:
                on_progress(len(records), len(jobs))
    return RunReport(records, time.monotonic() - started)
