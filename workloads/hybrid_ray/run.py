"""Run one workload with one scheduler, on the local 3-raylet cluster or on a running Ray cluster.

    python -m workloads.hybrid_ray.run --workload image --data share --mode ours --wan-mbit 100
    python -m workloads.hybrid_ray.run --workload ps --data s3 --mode default
    python -m workloads.hybrid_ray.run --address auto --share ~/share --no-emulation ...   (on the testbed)

Without ``--address`` a local cluster starts (hpc-login, hpc-worker-0, cloud-0 on 127.0.0.1) and the WAN is
emulated in the transfer code (`hpcx local ray` runs it this way). On the testbed pass ``--no-emulation`` (tc netem shapes the real network)
and ``--data share``: the bucket here is the local stand-in, since runtime code does not talk to AWS.
Inputs are generated under the share (or the stand-in bucket) before the run. Prints one JSON summary.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Literal

import ray

from workloads.common.execution_input import InvalidInput
from workloads.hybrid_ray import image_transform as it
from workloads.hybrid_ray import param_server as ps
from workloads.hybrid_ray.baseline import run_default
from workloads.hybrid_ray.datasets import Dataset, StorageLayout
from workloads.hybrid_ray.jobs import Job, RunReport
from workloads.hybrid_ray.local_cluster import local_cluster
from workloads.hybrid_ray.run_input import RayRunInput
from workloads.hybrid_ray.scheduler import DataAwareScheduler
from workloads.hybrid_ray.topology import HybridTopology

Workload = Literal["image", "ps"]
DataHome = Literal["share", "s3"]
Mode = Literal["ours", "default"]
IMAGE_SIZE = (800, 800)
BATCH_SIZE = 16


def prepare(
    workload: Workload, data: DataHome, layout: StorageLayout, count: int
) -> tuple[list[Job], object]:
    """Write the inputs and build the jobs; returns (jobs, parameter server or None)."""
    server = None
    if workload == "image":
        size = IMAGE_SIZE
        writer = it.write_images_to_share if data == "share" else it.upload_images_to_bucket
        datasets: list[Dataset] = writer(layout, count, size)
        return it.image_jobs(datasets, size), server
    writer = ps.write_batches_to_share if data == "share" else ps.upload_batches_to_bucket
    datasets = writer(layout, count, BATCH_SIZE)
    server = ps.start_parameter_server()
    return ps.training_jobs(datasets, server), server


def run_workload(
    workload: Workload,
    data: DataHome,
    mode: Mode,
    layout: StorageLayout,
    topology: HybridTopology,
    count: int,
    emulate_links: bool = True,
) -> RunReport:
    """Run on the Ray cluster this process is connected to."""
    jobs, server = prepare(workload, data, layout, count)
    fn = it.transform_dataset if workload == "image" else ps.train_on_batch
    try:
        if mode == "ours":
            scheduler = DataAwareScheduler(fn, layout=layout, topology=topology, emulate_links=emulate_links)
            return scheduler.run(jobs)
        return run_default(fn, jobs, layout=layout, topology=topology, emulate_links=emulate_links)
    finally:
        if server is not None:
            ray.kill(server)


def summary(report: RunReport) -> dict:
    return {
        "makespan_s": round(report.makespan_s, 2),
        "jobs_per_site": report.jobs_per_site(),
        "mb_moved": round(report.bytes_moved() / 1e6, 1),
        "lost_nodes": len(report.lost_nodes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=["image", "ps"], default="image")
    parser.add_argument("--data", choices=["share", "s3"], default="share")
    parser.add_argument("--mode", choices=["ours", "default"], default="ours")
    parser.add_argument("--count", type=int, default=12, help="images, or training batches")
    parser.add_argument("--wan-mbit", type=float, default=100.0)
    parser.add_argument("--wan-rtt-ms", type=float, default=0.3)
    parser.add_argument("--address", help="join a running cluster (e.g. auto) instead of starting one")
    parser.add_argument("--share", type=Path, help="HPC share root (default: a temporary directory)")
    parser.add_argument("--scratch", type=Path, help="node scratch root (default: a temporary directory)")
    parser.add_argument("--no-emulation", action="store_true", help="the network is really shaped (netem)")
    args = parser.parse_args(argv)
    try:
        request = RayRunInput.parse({"workload": args.workload, "data": args.data, "mode": args.mode,
                                     "count": args.count, "wan_mbit": args.wan_mbit, "wan_rtt_ms": args.wan_rtt_ms})
    except InvalidInput as exc:
        parser.error(str(exc))
    result = run(request, address=args.address, share=args.share, scratch=args.scratch,
                 emulate_links=not args.no_emulation)
    print(json.dumps(result))
    return 0


def run(request: RayRunInput, *, address: str | None = None, share: Path | None = None,
        scratch: Path | None = None, emulate_links: bool = True) -> dict:
    """One run: on the cluster at `address`, or on a local 3-raylet cluster started for it; its summary."""
    tmp = Path(tempfile.mkdtemp(prefix="hybrid-ray-"))
    layout = StorageLayout(share or tmp / "share", scratch or tmp / "scratch", tmp / "bucket")
    topology = HybridTopology.standard(wan_mbit=request.wan_mbit, wan_rtt_ms=request.wan_rtt_ms)
    options = dict(layout=layout, topology=topology, count=request.count, emulate_links=emulate_links)
    if address:
        ray.init(address=address)
        report = run_workload(request.workload, request.data, request.mode, **options)
    else:
        with local_cluster():
            report = run_workload(request.workload, request.data, request.mode, **options)
    return {**request.model_dump(), **summary(report)}


if __name__ == "__main__":
    raise SystemExit(main())
