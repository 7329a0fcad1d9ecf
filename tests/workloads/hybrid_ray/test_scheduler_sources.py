"""Where the scheduler thinks each job's bytes come from (no Ray: the cluster view is set by hand)."""

import pytest

from workloads.hybrid_ray.datasets import BucketPrefix, Dataset, HpcShare, NodeDisk, StorageLayout
from workloads.hybrid_ray.scheduler import DataAwareScheduler, DatasetLostError
from workloads.hybrid_ray.topology import HybridTopology


@pytest.fixture
def scheduler(tmp_path) -> DataAwareScheduler:
    layout = StorageLayout(tmp_path / "share", tmp_path / "scratch", tmp_path / "bucket")
    s = DataAwareScheduler(print, layout=layout, topology=HybridTopology.standard())
    s._node_sites = {"login": "hpc", "w-hpc": "hpc", "w-cloud": "cloud"}
    s.planner.add_node("w-hpc", "hpc", 1)
    s.planner.add_node("w-cloud", "cloud", 1)
    return s


def test_sources_follow_the_data(scheduler):
    share = Dataset("a", HpcShare("a"), ("f",), 1)
    on_cloud = Dataset("b", NodeDisk("w-cloud", "b"), ("f",), 1)
    on_login = Dataset("c", NodeDisk("login", "c"), ("f",), 1)
    bucket = Dataset("d", BucketPrefix("d"), ("f",), 1)
    assert scheduler._sources(share) == {"w-hpc": None, "w-cloud": "hpc"}
    assert scheduler._sources(on_cloud) == {"w-hpc": "cloud", "w-cloud": None}
    assert scheduler._sources(on_login) == {"w-hpc": "hpc", "w-cloud": "hpc"}
    assert scheduler._sources(bucket) == {"w-hpc": "s3", "w-cloud": "s3"}
    scheduler._replicas[bucket.key] = {"w-cloud"}  # staged there by an earlier job
    assert scheduler._sources(bucket) == {"w-hpc": "s3", "w-cloud": None}


def test_data_on_a_dead_node_survives_only_as_a_staged_copy(scheduler):
    orphan = Dataset("e", NodeDisk("gone", "e"), ("f",), 1)
    with pytest.raises(DatasetLostError, match="is gone"):
        scheduler._sources(orphan)
    scheduler._replicas[orphan.key] = {"w-hpc"}
    assert scheduler._sources(orphan) == {"w-hpc": None}


def test_a_staged_copy_is_filed_under_name_and_origin():
    a = Dataset("img", BucketPrefix("run1/img"), ("f",), 1)
    b = Dataset("img", BucketPrefix("run2/img"), ("f",), 1)
    assert a.key != b.key and a.key.startswith("img-")
