"""The image transformation workload (the original's ``basics/image_tr``), in PIL, numpy and torch.

Per image: Gaussian blur (radius 20), one randomly chosen photometric op with a random magnitude (in the
spirit of TrivialAugmentWide; there is no CPU torchvision, so the ops are written in torch), transposes
with pow/mul three times, then a 64×64 thumbnail. A job is one dataset (a directory of images) and
returns a small summary per image, so results stay tiny whatever the image size.

Inputs are synthetic: smooth gradients, rectangles and noise, so PNG files are large (like the original's
10×-upscaled photos) and generation is deterministic.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from workloads.hybrid_ray.datasets import (
    BucketPrefix,
    Dataset,
    HpcShare,
    NodeDisk,
    StorageLayout,
    dataset_from_directory,
)
from workloads.hybrid_ray.jobs import Job
from workloads.hybrid_ray.object_store import LocalBucket

BLUR_RADIUS = 20
THUMBNAIL = (64, 64)
IMAGE_SUFFIX = ".png"


def synthetic_image(size: tuple[int, int], seed: int, noise: float = 24.0) -> Image.Image:
    """A deterministic RGB test image of ``size`` (width, height)."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, (xx + yy) / (w + h)], axis=-1) * 200.0
    for _ in range(6):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        base[y0 : y0 + h // 4, x0 : x0 + w // 4] += rng.uniform(-60, 60, size=3)
    pixels = base + rng.normal(0.0, noise, size=base.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")


# --- photometric ops on a float tensor (C, H, W) in [0, 1]; magnitude in [0, 1] ------------------------
def _brightness(x: torch.Tensor, m: float) -> torch.Tensor:
    return x * (0.5 + m)


def _contrast(x: torch.Tensor, m: float) -> torch.Tensor:
    mean = x.mean()
    return (x - mean) * (0.5 + m) + mean


def _posterize(x: torch.Tensor, m: float) -> torch.Tensor:
    levels = 2 ** (2 + round(m * 5))
    return torch.floor(x * (levels - 1) + 0.5) / (levels - 1)


def _solarize(x: torch.Tensor, m: float) -> torch.Tensor:
    return torch.where(x >= 1.0 - m, 1.0 - x, x)


def _autocontrast(x: torch.Tensor, m: float) -> torch.Tensor:
    lo = x.amin(dim=(1, 2), keepdim=True)
    hi = x.amax(dim=(1, 2), keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(1e-6)


def _identity(x: torch.Tensor, m: float) -> torch.Tensor:
    return x


OPS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "identity": _identity,
    "brightness": _brightness,
    "contrast": _contrast,
    "posterize": _posterize,
    "solarize": _solarize,
    "autocontrast": _autocontrast,
}


def transform_image(image: Image.Image, seed: int) -> tuple[Image.Image, str]:
    """The full per-image pipeline; returns the thumbnail and the name of the op applied."""
    gen = torch.Generator().manual_seed(seed)
    op_name = list(OPS)[int(torch.randint(len(OPS), (1,), generator=gen))]
    magnitude = float(torch.rand(1, generator=gen))
    blurred = image.convert("RGB").filter(ImageFilter.GaussianBlur(radius=BLUR_RADIUS))
    x = torch.from_numpy(np.asarray(blurred).copy()).permute(2, 0, 1).float().div_(255.0)
    x = OPS[op_name](x, magnitude).clamp(0.0, 1.0)
    for _ in range(3):  # transposed and back, so the output keeps the input's orientation
        x = x.transpose(1, 2).contiguous().pow(1.05).transpose(1, 2).contiguous().mul(0.99)
    out = Image.fromarray((x.permute(1, 2, 0).clamp(0, 1) * 255).to(torch.uint8).numpy(), mode="RGB")
    out.thumbnail(THUMBNAIL)
    return out, op_name


def transform_dataset(path: Path) -> list[dict]:
    """Compute function of a job: transform every image under ``path``; returns one summary per image."""
    summaries = []
    for file in sorted(Path(path).rglob(f"*{IMAGE_SUFFIX}")):
        with Image.open(file) as image:
            seed = int.from_bytes(hashlib.sha256(file.name.encode()).digest()[:4], "little")
            thumb, op = transform_image(image, seed)
        arr = np.asarray(thumb)
        summaries.append(
            {
                "image": file.name,
                "op": op,
                "size": list(thumb.size),
                "mean": [round(float(v), 3) for v in arr.reshape(-1, 3).mean(axis=0)],
                "digest": hashlib.sha256(arr.tobytes()).hexdigest()[:16],
            }
        )
    return summaries


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # fast to write; noise keeps files large anyway
    return buf.getvalue()


def write_images_to_share(
    layout: StorageLayout, count: int, size: tuple[int, int], prefix: str = "images"
) -> list[Dataset]:
    """``count`` one-image datasets on the HPC share (``<share>/<prefix>/img-NNN/img-NNN.png``)."""
    datasets = []
    for i in range(count):
        name = f"img-{i:03d}"
        directory = layout.share_root / prefix / name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}{IMAGE_SUFFIX}").write_bytes(_png_bytes(synthetic_image(size, seed=i)))
        datasets.append(dataset_from_directory(name, HpcShare(f"{prefix}/{name}"), directory))
    return datasets


def write_images_to_node(
    layout: StorageLayout, node_id: str, count: int, size: tuple[int, int], first: int = 0
) -> list[Dataset]:
    """One-image datasets left on one node's disk (``<scratch>/<node>/results/img-NNN``)."""
    datasets = []
    for i in range(first, first + count):
        name = f"img-{i:03d}"
        rel = f"results/{name}"
        directory = layout.node_scratch(node_id) / rel
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}{IMAGE_SUFFIX}").write_bytes(_png_bytes(synthetic_image(size, seed=i)))
        datasets.append(dataset_from_directory(name, NodeDisk(node_id, rel), directory))
    return datasets


def upload_images_to_bucket(
    layout: StorageLayout, count: int, size: tuple[int, int], prefix: str = "images"
) -> list[Dataset]:
    """One-image datasets in the S3 stand-in, under ``<prefix>/img-NNN/``."""
    bucket = LocalBucket(layout.bucket_root)
    datasets = []
    for i in range(count):
        name = f"img-{i:03d}"
        blob = _png_bytes(synthetic_image(size, seed=i))
        bucket.put(f"{prefix}/{name}/{name}{IMAGE_SUFFIX}", blob)
        datasets.append(
            Dataset(name, BucketPrefix(f"{prefix}/{name}"), (f"{name}{IMAGE_SUFFIX}",), len(blob))
        )
    return datasets


def image_jobs(datasets: list[Dataset], size: tuple[int, int]) -> list[Job]:
    """One job per dataset; work = pixels, so learned speeds are in pixels per second."""
    return [Job(job_id=d.name, dataset=d, work=float(size[0] * size[1] * len(d.files))) for d in datasets]
