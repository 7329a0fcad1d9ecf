"""Dataset locations, the bucket stand-in and the emulated link (no Ray)."""

import time

import pytest

from workloads.hybrid_ray.datasets import (
    BucketPrefix,
    Dataset,
    HpcShare,
    NodeDisk,
    StorageLayout,
    dataset_from_directory,
    home_site,
    in_place_path,
)
from workloads.hybrid_ray.emulated_link import EmulatedLinks
from workloads.hybrid_ray.object_store import LocalBucket
from workloads.hybrid_ray.topology import HybridTopology


@pytest.fixture
def layout(tmp_path) -> StorageLayout:
    return StorageLayout(tmp_path / "share", tmp_path / "scratch", tmp_path / "bucket")


def test_hpc_share_is_read_in_place_on_hpc_nodes_only(layout):
    ds = Dataset("a", HpcShare("data/a"), ("x.png",), 10)
    assert in_place_path(ds, layout, "n-hpc", "hpc") == layout.share_root / "data/a"
    assert in_place_path(ds, layout, "n-cloud", "cloud") is None
    layout.staged_dir("n-cloud", ds).mkdir(parents=True)  # once staged, the cloud node reads its copy
    assert in_place_path(ds, layout, "n-cloud", "cloud") == layout.staged_dir("n-cloud", ds)


def test_node_disk_is_local_to_its_node_only(layout):
    ds = Dataset("b", NodeDisk("n1", "results/b"), ("x.png",), 10)
    assert in_place_path(ds, layout, "n1", "cloud") == layout.node_scratch("n1") / "results/b"
    assert in_place_path(ds, layout, "n2", "cloud") is None
    assert home_site(ds.location, {"n1": "cloud"}) == "cloud"
    with pytest.raises(KeyError, match="not alive"):
        home_site(ds.location, {})


def test_bucket_data_is_never_in_place(layout):
    ds = Dataset("c", BucketPrefix("p/c"), ("x.png",), 10)
    assert in_place_path(ds, layout, "n1", "hpc") is None
    assert home_site(ds.location, {}) == "s3"


def test_dataset_validation_and_directory_listing(tmp_path):
    with pytest.raises(ValueError, match="plain file name"):
        Dataset("a/b", HpcShare("x"), ("f",), 1)
    with pytest.raises(ValueError, match="no files"):
        Dataset("a", HpcShare("x"), (), 1)
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "1.png").write_bytes(b"12345")
    (tmp_path / "0.png").write_bytes(b"12")
    ds = dataset_from_directory("d", HpcShare("d"), tmp_path)
    assert ds.files == ("0.png", "cls/1.png") and ds.nbytes == 7


def test_local_bucket_round_trip_and_key_checks(tmp_path):
    bucket = LocalBucket(tmp_path)
    bucket.put("p/a/1.bin", b"one")
    bucket.put("p/a/2.bin", b"two!")
    bucket.put("q/3.bin", b"x")
    assert bucket.get("p/a/2.bin") == b"two!" and bucket.size("p/a/1.bin") == 3
    assert bucket.list("p") == ["p/a/1.bin", "p/a/2.bin"]
    assert bucket.list("nothing") == []
    with pytest.raises(KeyError):
        bucket.get("p/a/9.bin")
    for bad in ("../escape", "/abs", "a/./b", ""):
        with pytest.raises(ValueError):
            bucket.put(bad, b"")


def test_emulated_link_time_and_throttle():
    links = EmulatedLinks(topology=HybridTopology.standard(wan_mbit=80, wan_rtt_ms=40))
    # 1 MB at 80 Mbit/s = 0.1 s, plus half the 40 ms round trip.
    assert links.seconds("hpc", "cloud", 1_000_000) == pytest.approx(0.12)
    assert links.seconds("cloud", "hpc", 1_000_000) == pytest.approx(0.12)
    assert links.seconds("cloud", "mars", 1_000_000) == 0.0  # no link: unconstrained
    started = time.monotonic()
    slept = links.throttle("hpc", "cloud", 250_000, started)  # 25 ms + 20 ms
    assert time.monotonic() - started >= 0.045 and slept > 0
    # A transfer that already took longer than the link would allow is not delayed further.
    assert links.throttle("hpc", "cloud", 1000, started - 5.0) == 0.0


def test_run_command_rejects_an_empty_run():
    from workloads.hybrid_ray.run import main

    with pytest.raises(SystemExit):
        main(["--count", "0"])
