"""The parameter-server workload (the original's ``ml/param-server-PASS``) with a small CNN.

A ``ParameterServer`` actor on the login node (label selector ``role=login``, as the original pinned it to
the head) holds the weights and applies SGD. Each job trains on one batch folder in ImageFolder layout
(``<batch>/<class>/<n>.png``): it pulls the weights, computes gradients and pushes them back. The original
used MobileNetV3 on PASS photos and ``nll_loss`` on raw outputs; here a small CNN on synthetic striped
images (one stripe orientation per class, so it can learn) and cross-entropy on logits.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import ray
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from workloads.hybrid_ray.cluster_labels import ROLE_LABEL, ROLE_LOGIN
from workloads.hybrid_ray.datasets import (
    BucketPrefix,
    Dataset,
    HpcShare,
    StorageLayout,
    dataset_from_directory,
)
from workloads.hybrid_ray.jobs import Job
from workloads.hybrid_ray.object_store import LocalBucket

NUM_CLASSES = 4
IMAGE_SIZE = 32


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def striped_image(label: int, rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """An RGB uint8 image whose stripe orientation encodes ``label`` (0..3)."""
    yy, xx = np.mgrid[0:size, 0:size]
    phase = rng.uniform(0, 2 * np.pi)
    coord = [yy, xx, xx + yy, xx - yy][label % 4]
    stripes = 0.5 + 0.5 * np.sin(coord * 2 * np.pi / rng.uniform(4, 8) + phase)
    color = rng.uniform(0.3, 1.0, size=3)
    pixels = stripes[..., None] * color * 255 + rng.normal(0, 20, size=(size, size, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _batch_files(batch: int, per_batch: int) -> dict[str, bytes]:
    rng = np.random.default_rng(batch)
    files = {}
    for i in range(per_batch):
        label = i % NUM_CLASSES
        buf = io.BytesIO()
        Image.fromarray(striped_image(label, rng)).save(buf, format="PNG")
        files[f"class{label}/{i:03d}.png"] = buf.getvalue()
    return files


def write_batches_to_share(
    layout: StorageLayout, batches: int, per_batch: int, prefix: str = "batches"
) -> list[Dataset]:
    datasets = []
    for b in range(batches):
        name = f"batch-{b:03d}"
        directory = layout.share_root / prefix / name
        for rel, blob in _batch_files(b, per_batch).items():
            (directory / rel).parent.mkdir(parents=True, exist_ok=True)
            (directory / rel).write_bytes(blob)
        datasets.append(dataset_from_directory(name, HpcShare(f"{prefix}/{name}"), directory))
    return datasets


def upload_batches_to_bucket(
    layout: StorageLayout, batches: int, per_batch: int, prefix: str = "batches"
) -> list[Dataset]:
    bucket = LocalBucket(layout.bucket_root)
    datasets = []
    for b in range(batches):
        name = f"batch-{b:03d}"
        files = _batch_files(b, per_batch)
        for rel, blob in files.items():
            bucket.put(f"{prefix}/{name}/{rel}", blob)
        datasets.append(
            Dataset(name, BucketPrefix(f"{prefix}/{name}"), tuple(files), sum(map(len, files.values())))
        )
    return datasets


def load_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of an ImageFolder directory (class = index of the sorted class folder)."""
    classes = sorted(p.name for p in Path(path).iterdir() if p.is_dir())
    xs, ys = [], []
    for label, cls in enumerate(classes):
        for file in sorted((Path(path) / cls).glob("*.png")):
            with Image.open(file) as im:
                xs.append(torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1))
            ys.append(label)
    if not xs:
        raise ValueError(f"no images under {path}")
    return torch.stack(xs).float().div_(255.0), torch.tensor(ys)


@ray.remote(num_cpus=0)
class ParameterServer:
    def __init__(self, lr: float = 0.05, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.model = SmallCNN()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.updates = 0

    def get_weights(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.model.state_dict().items()}

    def apply_gradients(self, grads: list[torch.Tensor]) -> int:
        self.optimizer.zero_grad()
        for p, g in zip(self.model.parameters(), grads, strict=True):
            p.grad = g
        self.optimizer.step()
        self.updates += 1
        return self.updates

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> float:
        with torch.no_grad():
            return float(F.cross_entropy(self.model(x), y))


def start_parameter_server(lr: float = 0.05, seed: int = 0) -> ray.actor.ActorHandle:
    """The server on the login node, found by its label (stock Ray label selector)."""
    return ParameterServer.options(label_selector={ROLE_LABEL: ROLE_LOGIN}).remote(lr, seed)


def gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item(), [p.grad.detach().clone() for p in model.parameters()]


def train_on_batch(path: Path, server: ray.actor.ActorHandle) -> dict:
    """Compute function of a job: one asynchronous SGD step on the server from this batch."""
    x, y = load_batch(path)
    model = SmallCNN()
    model.load_state_dict(ray.get(server.get_weights.remote()))
    loss, grads = gradients(model, x, y)
    version = ray.get(server.apply_gradients.remote(grads))
    return {"loss": loss, "version": version, "samples": len(y)}


def training_jobs(datasets: list[Dataset], server: ray.actor.ActorHandle) -> list[Job]:
    """One job per batch; work = number of files (samples)."""
    return [
        Job(job_id=d.name, dataset=d, work=float(len(d.files)), kwargs={"server": server}) for d in datasets
    ]
