"""Hybrid scheduler: makespan of the image transformation, data-aware scheduler vs Ray's default.

Fixed sizes: 24 synthetic images of 1600 x 1600 (about 6.9 MB of PNG each, ~0.5 s of computation each
on one core here) on the HPC share, on the local 3-raylet cluster (hpc-login head, hpc-worker-0,
cloud-0; compute on the two workers, 1 CPU each, as the original kept compute off the login node).
The HPC worker reads the share in place; the cloud node gets each image over the emulated WAN
(``emulated_link``: sleep to RTT/2 + bytes / bandwidth, standing in for tc netem) at 30, 100 and
200 Mbit/s. With these sizes an image takes about as long to cross the link at 100 Mbit/s as to compute.

- ours: ``DataAwareScheduler`` (staging task + pinned compute task, prefetch depth 2, learned speeds);
- default: one task per image with Ray's default placement, fetching inside the task (the original's
  baseline).
Each pair runs twice, in alternating order, each run on an empty scratch area (nothing staged before).
Metrics per bandwidth: the mean makespans, ``makespan_<bw>mbit_ratio`` = ours / default (below 1: ours
faster; the issue's target of 1.3x faster is a ratio of at most 1/1.3 = 0.769), jobs on the cloud node,
MB moved across the link, and ``makespan_bound_s_<bw>mbit``: a lower bound on any placement's makespan
in a fluid model of the two nodes (``bounds``), from the run's median compute time, with
``ours_over_bound_<bw>mbit`` = ours / bound (1 = nothing left to gain by placement). At 30 Mbit/s the
link carries one image per 1.8 s, so the cloud can take only about a fifth of the work whoever places
it; 1.3x there needs the default to run at least 1.3x the bound.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from statistics import fmean, median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workloads.hybrid_ray import image_transform as it  # noqa: E402
from workloads.hybrid_ray.baseline import run_default  # noqa: E402
from workloads.hybrid_ray.bounds import best_makespan_s  # noqa: E402
from workloads.hybrid_ray.datasets import StorageLayout  # noqa: E402
from workloads.hybrid_ray.emulated_link import EmulatedLinks  # noqa: E402
from workloads.hybrid_ray.jobs import RunReport  # noqa: E402
from workloads.hybrid_ray.local_cluster import local_cluster, warm_up_workers  # noqa: E402
from workloads.hybrid_ray.scheduler import DataAwareScheduler  # noqa: E402
from workloads.hybrid_ray.topology import HybridTopology  # noqa: E402

IMAGES = 24
IMAGE_SIZE = (1600, 1600)
BANDWIDTHS_MBIT = (30, 100, 200)
REPEATS = 2
PREFETCH_DEPTH = 2
TARGET_SPEEDUP = 1.3
OBJECT_STORE_MB = 200


def run_once(mode: str, jobs, layout: StorageLayout, topology: HybridTopology) -> RunReport:
    shutil.rmtree(layout.scratch_root, ignore_errors=True)  # no copies left from an earlier run
    layout.scratch_root.mkdir(parents=True)
    if mode == "ours":
        scheduler = DataAwareScheduler(
            it.transform_dataset, layout=layout, topology=topology, prefetch_depth=PREFETCH_DEPTH
        )
        return scheduler.run(jobs)
    return run_default(it.transform_dataset, jobs, layout=layout, topology=topology)


def bound_metrics(
    tag: str, reports: dict[str, list[RunReport]], topology: HybridTopology, mb_per_image: float, ours: float
) -> dict[str, float]:
    """The least makespan any placement could reach here (fluid model, ``bounds``), from this run's median
    compute time and the emulated link, and how close ours came: how much room placement has left."""
    compute_s = median(x.compute_s for rep in reports["ours"] + reports["default"] for x in rep.records.values())
    transfer_s = EmulatedLinks(topology=topology).seconds("hpc", "cloud", round(mb_per_image * 1e6))
    bound = best_makespan_s(IMAGES, compute_s, transfer_s)
    return {
        f"compute_s_median_{tag}": round(compute_s, 3),
        f"makespan_bound_s_{tag}": round(bound, 2),
        f"ours_over_bound_{tag}": round(ours / bound, 3),
    }


def main() -> int:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="hybrid-bench-"))
    layout = StorageLayout(tmp / "share", tmp / "scratch", tmp / "bucket")
    try:
        print(f"writing {IMAGES} images of {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} to the share ...", flush=True)
        datasets = it.write_images_to_share(layout, IMAGES, IMAGE_SIZE)
        jobs = it.image_jobs(datasets, IMAGE_SIZE)
        mb_per_image = fmean(d.nbytes for d in datasets) / 1e6
        print(f"  {mb_per_image:.1f} MB per image", flush=True)
        metrics: dict[str, float | int | bool] = {"images": IMAGES, "mb_per_image": round(mb_per_image, 2)}
        print("starting the 3-raylet cluster ...", flush=True)
        with local_cluster(object_store_mb=OBJECT_STORE_MB) as cluster:
            cloud = cluster.node_ids["cloud-0"]
            warm_up_workers(
                [
                    "workloads.hybrid_ray.image_transform",
                    "workloads.hybrid_ray.scheduler",
                    "workloads.hybrid_ray.baseline",
                ]
            )
            speedups = []
            for i, bw in enumerate(BANDWIDTHS_MBIT):
                topology = HybridTopology.standard(wan_mbit=bw)
                reports: dict[str, list[RunReport]] = {"ours": [], "default": []}
                for r in range(REPEATS):
                    order = ("ours", "default") if (i + r) % 2 == 0 else ("default", "ours")
                    for mode in order:
                        report = run_once(mode, jobs, layout, topology)
                        assert len(report.records) == IMAGES
                        reports[mode].append(report)
                        on_cloud = sum(rec.node_id == cloud for rec in report.records.values())
                        print(
                            f"  {bw:>3} Mbit/s  {mode:<7} makespan {report.makespan_s:6.2f} s  "
                            f"cloud jobs {on_cloud:>2}  moved {report.bytes_moved() / 1e6:6.1f} MB",
                            flush=True,
                        )
                ours = fmean(rep.makespan_s for rep in reports["ours"])
                default = fmean(rep.makespan_s for rep in reports["default"])
                speedups.append(default / ours)
                tag = f"{bw}mbit"
                metrics |= {
                    f"makespan_ours_s_{tag}": round(ours, 2),
                    f"makespan_default_s_{tag}": round(default, 2),
                    f"makespan_{tag}_ratio": round(ours / default, 3),
                    f"cloud_jobs_ours_{tag}": round(
                        fmean(
                            sum(x.node_id == cloud for x in rep.records.values()) for rep in reports["ours"]
                        ),
                        1,
                    ),
                    f"cloud_jobs_default_{tag}": round(
                        fmean(
                            sum(x.node_id == cloud for x in rep.records.values())
                            for rep in reports["default"]
                        ),
                        1,
                    ),
                    f"mb_moved_ours_{tag}": round(
                        fmean(rep.bytes_moved() for rep in reports["ours"]) / 1e6, 1
                    ),
                    f"mb_moved_default_{tag}": round(
                        fmean(rep.bytes_moved() for rep in reports["default"]) / 1e6, 1
                    ),
                }
                bound = bound_metrics(tag, reports, topology, mb_per_image, ours)
                metrics |= bound
                print(
                    f"  {bw:>3} Mbit/s  speed-up {default / ours:.2f}x; ours / lower bound "
                    f"{bound[f'ours_over_bound_{tag}']:.2f}",
                    flush=True,
                )
        metrics |= {
            "min_speedup": round(min(speedups), 3),
            "target_speedup": TARGET_SPEEDUP,
            "target_met_at_every_bandwidth": min(speedups) >= TARGET_SPEEDUP,
            "wall_s": round(time.monotonic() - started, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"benchmark": "hybrid_scheduler", "metrics": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
