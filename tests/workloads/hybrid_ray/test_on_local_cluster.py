"""The scheduler, the baseline and both workloads on a real 3-raylet Ray cluster on 127.0.0.1.

One cluster for the whole module (starting Ray takes ~15 s here): hpc-login (head), hpc-worker-0 and
cloud-0, 1 CPU and an 80 MB object store each. The node-loss test adds and kills a fourth node of its own.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
import ray

from tests.workloads.hybrid_ray.compute_fns import always_fails, read_and_wait
from workloads.hybrid_ray import image_transform as it
from workloads.hybrid_ray import param_server as ps
from workloads.hybrid_ray.baseline import run_default
from workloads.hybrid_ray.cluster_labels import NODE_LABEL, ROLE_LABEL, SITE_LABEL, TRANSFER_RESOURCE
from workloads.hybrid_ray.datasets import StorageLayout
from workloads.hybrid_ray.jobs import Job
from workloads.hybrid_ray.local_cluster import LocalHybridCluster, start_local_cluster, warm_up_workers
from workloads.hybrid_ray.run import run_workload, summary
from workloads.hybrid_ray.scheduler import DataAwareScheduler, JobFailedError
from workloads.hybrid_ray.topology import HybridTopology

pytestmark = pytest.mark.slow
SMALL = (96, 64)


@pytest.fixture(scope="module")
def cluster():
    local = start_local_cluster(object_store_mb=80)
    try:
        # Workers that already imported the code, so that timings do not include process start.
        warm_up_workers(["workloads.hybrid_ray.scheduler", "tests.workloads.hybrid_ray.compute_fns"])
        yield local
    finally:
        local.shutdown()


@pytest.fixture
def layout(tmp_path) -> StorageLayout:
    return StorageLayout(tmp_path / "share", tmp_path / "scratch", tmp_path / "bucket")


def _jobs(datasets, seconds: float = 0.0) -> list[Job]:
    return [Job(d.name, d, work=1.0, kwargs={"seconds": seconds}) for d in datasets]


def test_nodes_carry_the_testbed_labels(cluster: LocalHybridCluster):
    nodes = {n["Labels"][NODE_LABEL]: n for n in ray.nodes() if n["Alive"]}
    assert set(nodes) == {"hpc-login", "hpc-worker-0", "cloud-0"}
    assert nodes["hpc-login"]["Labels"][ROLE_LABEL] == "login"
    assert nodes["hpc-worker-0"]["Labels"][SITE_LABEL] == "hpc"
    assert nodes["cloud-0"]["Labels"][SITE_LABEL] == "cloud"
    assert all(n["Resources"][TRANSFER_RESOURCE] == 1 for n in nodes.values())


def test_jobs_run_where_their_data_is(cluster: LocalHybridCluster, layout: StorageLayout):
    cloud = cluster.node_ids["cloud-0"]
    on_share = it.write_images_to_share(layout, 3, SMALL)
    on_cloud = it.write_images_to_node(layout, cloud, 3, SMALL, first=10)
    # 0.2 Mbit/s: moving one image (~20 KB) costs ~1 s, far more than computing it.
    topo = HybridTopology.standard(wan_mbit=0.2)
    report = DataAwareScheduler(read_and_wait, layout=layout, topology=topo).run(_jobs(on_share + on_cloud))
    where = {job_id: r.node_id for job_id, r in report.records.items()}
    assert {where[d.name] for d in on_share} == {cluster.node_ids["hpc-worker-0"]}
    assert {where[d.name] for d in on_cloud} == {cloud}
    assert report.bytes_moved() == 0
    assert all(r.value["files"] == 1 for r in report.records.values())


def test_remote_data_is_staged_on_the_node_that_computes(cluster: LocalHybridCluster, layout: StorageLayout):
    # HPC-share data, but only cloud nodes may compute: a reader on the HPC site feeds a staging task
    # pinned to cloud-0, and the compute task follows it there.
    datasets = it.write_images_to_share(layout, 2, SMALL)
    topo = HybridTopology.standard(wan_mbit=50)
    report = DataAwareScheduler(
        it.transform_dataset, layout=layout, topology=topo, compute_selector={SITE_LABEL: "cloud"}
    ).run(it.image_jobs(datasets, SMALL))
    cloud = cluster.node_ids["cloud-0"]
    for d in datasets:
        record = report.records[d.name]
        assert record.node_id == cloud and record.site == "cloud"
        assert record.nbytes_moved == d.nbytes
        assert record.transfer_s >= topo.link("hpc", "cloud").rtt_ms / 2000 + d.nbytes * 8 / 50e6
        assert (layout.staged_dir(cloud, d) / f"{d.name}.png").read_bytes() == (
            layout.share_root / f"images/{d.name}/{d.name}.png"
        ).read_bytes()
    # Same results as computing on the share directly.
    expected = it.transform_dataset(layout.share_root / "images" / datasets[0].name)
    assert report.records[datasets[0].name].value == expected


def test_prefetch_overlaps_transfers_with_computation(cluster: LocalHybridCluster, layout: StorageLayout):
    # Bucket data, cloud only; each transfer ~0.6 s (emulated, ~18 KB at 0.25 Mbit/s), each computation 0.6 s:
    # long enough that a loaded machine's scheduling jitter does not decide the overlap (0.3 s did, once).
    topo = HybridTopology.standard(s3_from_cloud_mbit=0.25)
    makespans, overlapped = {}, {}
    for depth in (0, 2):
        datasets = it.upload_images_to_bucket(layout, 4, SMALL, prefix=f"depth{depth}")
        scheduler = DataAwareScheduler(
            read_and_wait,
            layout=layout,
            topology=topo,
            prefetch_depth=depth,
            compute_selector={SITE_LABEL: "cloud"},
        )
        report = scheduler.run(_jobs(datasets, seconds=0.6))
        assert all(r.nbytes_moved > 0 for r in report.records.values())
        makespans[depth] = report.makespan_s
        by_finish = sorted(report.records.values(), key=lambda r: r.finished_s)
        # A job overlapped if its data had arrived before the job ahead of it finished computing.
        overlapped[depth] = sum(b.staged_s < a.finished_s for a, b in pairwise(by_finish))
    assert overlapped == {0: 0, 2: 3}
    assert makespans[2] < 0.85 * makespans[0]


def test_node_lost_mid_run_and_the_job_still_completes(cluster: LocalHybridCluster, layout: StorageLayout):
    doomed = cluster.add_node("cloud-1", "cloud")
    datasets = it.upload_images_to_bucket(layout, 8, SMALL)
    topo = HybridTopology.standard(s3_from_cloud_mbit=1000)
    seen_running: list[int] = []

    def kill_after_two(done: int, total: int) -> None:
        if done == 2:
            seen_running.append(done)
            cluster.remove_node("cloud-1")

    scheduler = DataAwareScheduler(
        read_and_wait,
        layout=layout,
        topology=topo,
        compute_selector={SITE_LABEL: "cloud"},
        on_progress=kill_after_two,
    )
    report = scheduler.run(_jobs(datasets, seconds=0.4))
    assert seen_running == [2]
    assert report.lost_nodes == [doomed]
    assert set(report.records) == {d.name for d in datasets}
    assert all(r.value["files"] == 1 for r in report.records.values())
    # Jobs outstanding on the dead node were resubmitted and finished on the survivor.
    resubmitted = [r for r in report.records.values() if r.attempts > 1]
    assert resubmitted and all(r.node_id == cluster.node_ids["cloud-0"] for r in resubmitted)


def test_default_baseline_fetches_inside_the_task(cluster: LocalHybridCluster, layout: StorageLayout):
    datasets = it.write_images_to_share(layout, 2, SMALL)
    topo = HybridTopology.standard(wan_mbit=50)
    report = run_default(
        it.transform_dataset,
        it.image_jobs(datasets, SMALL),
        layout=layout,
        topology=topo,
        compute_selector={SITE_LABEL: "cloud"},
    )
    for d in datasets:
        record = report.records[d.name]
        assert record.site == "cloud" and record.nbytes_moved == d.nbytes
        assert record.transfer_s >= d.nbytes * 8 / 50e6
        assert record.value == it.transform_dataset(layout.share_root / "images" / d.name)


def test_parameter_server_trains_with_both_schedulers(cluster: LocalHybridCluster, layout: StorageLayout):
    server = ps.start_parameter_server(lr=0.05)
    where = ray.get(server.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))
    assert where == cluster.node_ids["hpc-login"]  # placed by the role=login label selector
    topo = HybridTopology.standard(wan_mbit=100)
    ours = DataAwareScheduler(ps.train_on_batch, layout=layout, topology=topo).run(
        ps.training_jobs(ps.write_batches_to_share(layout, 3, 8), server)
    )
    default = run_default(
        ps.train_on_batch,
        ps.training_jobs(ps.upload_batches_to_bucket(layout, 2, 8), server),
        layout=layout,
        topology=topo,
    )
    versions = sorted(r.value["version"] for r in [*ours.records.values(), *default.records.values()])
    assert versions == [1, 2, 3, 4, 5]  # every gradient was applied exactly once
    assert all(r.value["samples"] == 8 and r.value["loss"] > 0 for r in ours.records.values())
    assert all(r.nbytes_moved > 0 for r in default.records.values())  # bucket data is always fetched
    ray.kill(server)


@pytest.mark.parametrize(("workload", "data", "mode"), [("image", "s3", "default"), ("ps", "share", "ours")])
def test_run_entry_point(cluster: LocalHybridCluster, layout: StorageLayout, workload, data, mode):
    report = run_workload(workload, data, mode, layout, HybridTopology.standard(wan_mbit=200), count=2)
    assert len(report.records) == 2
    assert summary(report)["jobs_per_site"] == report.jobs_per_site()


def test_a_job_that_keeps_failing_stops_the_run(cluster: LocalHybridCluster, layout: StorageLayout):
    datasets = it.write_images_to_share(layout, 2, SMALL)
    scheduler = DataAwareScheduler(
        always_fails, layout=layout, topology=HybridTopology.standard(), max_attempts=2
    )
    with pytest.raises(JobFailedError, match="failed 2 times") as info:
        scheduler.run(_jobs(datasets))
    assert "cannot process" in str(info.value.__cause__)
