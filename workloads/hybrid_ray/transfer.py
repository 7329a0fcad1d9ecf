"""Moving a dataset's files to the node that will compute on it.

``fetch_dataset`` runs inside a Ray task on the destination node; the scheduler calls it from a staging
task, the baseline from inside the compute task. Bytes travel the way they would on the testbed:
  * from the HPC share: a reader task on any HPC node (label selector ``site=hpc``), then Ray's object
    transfer to this node (the cloud has no mount of the HPC share);
  * from another node's disk: a reader task pinned to that node;
  * from the bucket: a download (the stand-in bucket is a local directory).
The copy lands in a temporary directory that is renamed into place, so a half-staged dataset is never
used; a node that already holds a staged copy reuses it. In single-machine runs ``links`` throttles the
transfer to the emulated link between the source site and this node's site.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from workloads.hybrid_ray.cluster_labels import SITE_HPC, SITE_LABEL
from workloads.hybrid_ray.datasets import (
    BucketPrefix,
    Dataset,
    HpcShare,
    NodeDisk,
    StorageLayout,
    home_site,
    in_place_path,
)
from workloads.hybrid_ray.emulated_link import EmulatedLinks
from workloads.hybrid_ray.object_store import LocalBucket


@dataclass(frozen=True)
class Receipt:
    """Where a dataset can be read on one node, and what it cost to get it there."""

    node_id: str
    dataset: str  # Dataset.key
    path: str
    source_site: str
    nbytes_moved: int  # 0 when the data was read in place or already staged
    seconds: float


def current_node() -> tuple[str, str]:
    """(node id, site label) of the node this code runs on."""
    ctx = ray.get_runtime_context()
    return ctx.get_node_id(), ctx.get_node_labels().get(SITE_LABEL, "")


def alive_node_sites() -> dict[str, str]:
    """Site label of every alive node, by node id."""
    return {n["NodeID"]: n.get("Labels", {}).get(SITE_LABEL, "") for n in ray.nodes() if n["Alive"]}


@ray.remote(num_cpus=0, max_retries=0)
def _read_files(directory: str, files: tuple[str, ...]) -> list[bytes]:
    root = Path(directory)
    return [(root / f).read_bytes() for f in files]


def _pull(dataset: Dataset, layout: StorageLayout) -> list[bytes]:
    match dataset.location:
        case HpcShare(relpath=rel):
            reader = _read_files.options(label_selector={SITE_LABEL: SITE_HPC})
            return ray.get(reader.remote(str(layout.share_root / rel), dataset.files))
        case NodeDisk(node_id=home, relpath=rel):
            pinned = NodeAffinitySchedulingStrategy(node_id=home, soft=False)
            reader = _read_files.options(scheduling_strategy=pinned)
            return ray.get(reader.remote(str(layout.node_scratch(home) / rel), dataset.files))
        case BucketPrefix(prefix=prefix):
            bucket = LocalBucket(layout.bucket_root)
            return [bucket.get(f"{prefix}/{f}") for f in dataset.files]
    raise TypeError(f"unknown location {dataset.location!r}")


def fetch_dataset(dataset: Dataset, layout: StorageLayout, links: EmulatedLinks | None) -> Receipt:
    """Make ``dataset`` readable on the current node; returns where, and what the transfer cost."""
    node_id, site = current_node()
    source = home_site(dataset.location, alive_node_sites())
    here = in_place_path(dataset, layout, node_id, site)
    if here is not None:
        return Receipt(node_id, dataset.key, str(here), source, 0, 0.0)
    started = time.monotonic()
    blobs = _pull(dataset, layout)
    staged = layout.staged_dir(node_id, dataset)
    tmp = staged.with_name(f".{staged.name}.{uuid.uuid4().hex}")
    for name, blob in zip(dataset.files, blobs, strict=True):
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    moved = sum(len(b) for b in blobs)
    if links is not None:
        links.throttle(source, site, moved, started)
    try:
        tmp.rename(staged)
    except OSError:
        # Another task staged the same dataset first; theirs is complete, keep it.
        shutil.rmtree(tmp, ignore_errors=True)
        if not staged.is_dir():
            raise
    return Receipt(node_id, dataset.key, str(staged), source, moved, time.monotonic() - started)
