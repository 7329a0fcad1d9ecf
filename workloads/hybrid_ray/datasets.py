"""Where a dataset lives, and the directories that stand in for the testbed's storage.

Three kinds of home, as in the original experiments:
  * ``HpcShare``: the HPC NFS share (EFS at ~/share), mounted on every node of the HPC site;
  * ``NodeDisk``: one node's local disk (e.g. results left on a cloud node);
  * ``BucketPrefix``: objects under a prefix of the S3 bucket (here the local stand-in of ``object_store``).
A dataset is a few files read together by one task (an image, a training batch folder).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from workloads.hybrid_ray.cluster_labels import SITE_HPC
from workloads.hybrid_ray.topology import SITE_S3


@dataclass(frozen=True)
class HpcShare:
    relpath: str  # directory under the share root


@dataclass(frozen=True)
class NodeDisk:
    node_id: str
    relpath: str  # directory under that node's scratch root


@dataclass(frozen=True)
class BucketPrefix:
    prefix: str  # key prefix in the bucket, without a trailing '/'


Location = HpcShare | NodeDisk | BucketPrefix


@dataclass(frozen=True)
class Dataset:
    name: str  # unique; names the staged copy on a node
    location: Location
    files: tuple[str, ...]  # relative to the location
    nbytes: int

    @property
    def key(self) -> str:
        """Name plus a fingerprint of where the data comes from: what a staged copy is filed under, so a
        copy is never reused for another dataset of the same name."""
        digest = hashlib.sha256(repr((self.location, self.files, self.nbytes)).encode()).hexdigest()
        return f"{self.name}-{digest[:12]}"

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"dataset name {self.name!r} must be a plain file name")
        if not self.files:
            raise ValueError(f"dataset {self.name!r} has no files")
        if self.nbytes < 0:
            raise ValueError(f"dataset {self.name!r} has a negative size")


@dataclass(frozen=True)
class StorageLayout:
    """Roots of the share, the nodes' scratch disks and the bucket.

    On the testbed: ~/share, a local disk per node, S3. In single-machine runs all three are directories
    of one file system, and each node gets its own subdirectory of ``scratch_root``.
    """

    share_root: Path
    scratch_root: Path
    bucket_root: Path

    def node_scratch(self, node_id: str) -> Path:
        return self.scratch_root / node_id

    def staged_dir(self, node_id: str, dataset: Dataset) -> Path:
        return self.node_scratch(node_id) / "staged" / dataset.key


def home_site(location: Location, node_sites: dict[str, str]) -> str:
    """The site a dataset's bytes come from (the node's site for ``NodeDisk``)."""
    match location:
        case HpcShare():
            return SITE_HPC
        case BucketPrefix():
            return SITE_S3
        case NodeDisk(node_id=node_id):
            if node_id not in node_sites:
                raise KeyError(f"the node holding this dataset ({node_id[:12]}) is not alive")
            return node_sites[node_id]
    raise TypeError(f"unknown location {location!r}")


def in_place_path(dataset: Dataset, layout: StorageLayout, node_id: str, node_site: str) -> Path | None:
    """The directory a task on this node can read the dataset from without a transfer, if any."""
    match dataset.location:
        case HpcShare(relpath=rel) if node_site == SITE_HPC:
            return layout.share_root / rel
        case NodeDisk(node_id=home, relpath=rel) if home == node_id:
            return layout.node_scratch(node_id) / rel
    staged = layout.staged_dir(node_id, dataset)
    return staged if staged.is_dir() else None


def dataset_from_directory(name: str, location: Location, directory: Path) -> Dataset:
    """A dataset made of every file under ``directory`` (which holds the location's files)."""
    files = tuple(sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()))
    return Dataset(
        name=name, location=location, files=files, nbytes=sum((directory / f).stat().st_size for f in files)
    )
