"""AstroMAE inputs: the course's `.pt` format, synthetic datasets of the right shapes, per-rank slices.

A dataset is `TensorDataset(images [N, 5, 32, 32] float32, magnitudes [N, 5], redshifts [N])`, saved with
torch.save (as `resized_inference.pt` is). Loading unpickles tensors and TensorDataset only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from workloads.cosmic.astromae import IMAGE_SHAPE, MAGNITUDES

# TensorDataset is the one class a dataset file may hold besides tensors. Allowed once for the process:
# torch's safe_globals() context adds on entry and removes on exit, process-wide, so ranks loading in
# threads at once (local runs, tests) could find it removed mid-load by another rank's exit.
torch.serialization.add_safe_globals([TensorDataset])


@dataclass(frozen=True)
class AstroData:
    images: torch.Tensor  # [N, 5, 32, 32] float32
    magnitudes: torch.Tensor  # [N, 5] float32
    redshifts: torch.Tensor  # [N] float32

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if tuple(self.images.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"images must be [N, {', '.join(map(str, IMAGE_SHAPE))}], got {list(self.images.shape)}")
        if tuple(self.magnitudes.shape) != (n, MAGNITUDES) or tuple(self.redshifts.shape) != (n,):
            raise ValueError(f"magnitudes must be [{n}, 5] and redshifts [{n}], got "
                             f"{list(self.magnitudes.shape)} and {list(self.redshifts.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def slice(self, start: int, stop: int) -> AstroData:
        return AstroData(self.images[start:stop], self.magnitudes[start:stop], self.redshifts[start:stop])

    @property
    def input_bits(self) -> int:
        """Bits of model input (images + magnitudes), the course's `throughput_bps` numerator."""
        return 8 * (self.images.element_size() * self.images.nelement()
                    + self.magnitudes.element_size() * self.magnitudes.nelement())


def rank_range(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Contiguous, balanced [start, stop) of rank `rank`: the first n % world_size ranks get one more."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside [0, {world_size})")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def from_tensors(images: torch.Tensor, magnitudes: torch.Tensor, redshifts: torch.Tensor) -> AstroData:
    """Normalise dtypes and shapes: float32, redshifts flattened, larger cut-outs centre-cropped to 32x32."""
    images = images.float()
    if images.ndim == 4 and images.shape[1] == IMAGE_SHAPE[0] and images.shape[2] > IMAGE_SHAPE[1]:
        top = (images.shape[2] - IMAGE_SHAPE[1]) // 2
        left = (images.shape[3] - IMAGE_SHAPE[2]) // 2
        images = images[:, :, top : top + IMAGE_SHAPE[1], left : left + IMAGE_SHAPE[2]]
    return AstroData(images.contiguous(), magnitudes.float().contiguous(), redshifts.float().reshape(-1))


def load_dataset(path: str | Path) -> AstroData:
    """A `.pt` file holding a TensorDataset, a (images, magnitudes, redshifts) tuple, or a dict with those keys."""
    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(obj, TensorDataset):
        tensors = obj.tensors
    elif isinstance(obj, dict):
        tensors = tuple(obj[k] for k in ("images", "magnitudes", "redshifts"))
    else:
        tensors = tuple(obj)
    if len(tensors) != 3:
        raise ValueError(f"{path}: expected images, magnitudes and redshifts, got {len(tensors)} tensors")
    return from_tensors(*tensors)


def save_dataset(data: AstroData, path: str | Path) -> None:
    """Write in the course's format (a TensorDataset)."""
    torch.save(TensorDataset(data.images, data.magnitudes, data.redshifts), str(path))


def synthetic_dataset(n: int, seed: int = 0) -> AstroData:
    """`n` galaxy-like samples: redshift ~ Gamma(2, 0.06) (peaks near 0.1 like SDSS), magnitudes that
    fade and redden with redshift, and images with a band flux from the magnitude, a size that shrinks
    with redshift, and sky noise. Shapes and ranges are realistic; the physics is only suggestive."""
    if n < 0:
        raise ValueError("n must be non-negative")
    rng = np.random.default_rng(seed)
    z = np.clip(rng.gamma(2.0, 0.06, n), 0.01, 0.8)
    r_mag = np.clip(17.0 + 2.2 * np.log10(z / 0.1) + rng.normal(0, 0.6, n), 13.0, 22.5)
    colours = np.stack([1.6 + 1.5 * z, 0.7 + 1.2 * z, 0.35 + 0.5 * z, 0.25 + 0.4 * z], axis=1)  # u-g g-r r-i i-z
    colours += rng.normal(0, 0.1, colours.shape)
    g_mag = r_mag + colours[:, 1]
    u_mag = g_mag + colours[:, 0]
    i_mag = r_mag - colours[:, 2]
    z_mag = i_mag - colours[:, 3]
    mags = np.stack([u_mag, g_mag, r_mag, i_mag, z_mag], axis=1)
    flux = 10.0 ** (-0.4 * (mags - 22.5))  # nanomaggies
    yy, xx = np.mgrid[0 : IMAGE_SHAPE[1], 0 : IMAGE_SHAPE[2]] - (IMAGE_SHAPE[1] - 1) / 2
    radius = np.clip(0.35 / z, 1.0, 8.0) * rng.uniform(0.7, 1.3, n)  # pixels
    axis_ratio = rng.uniform(0.4, 1.0, n)
    angle = rng.uniform(0, np.pi, n)
    images = np.empty((n, *IMAGE_SHAPE), dtype=np.float32)
    for start in range(0, n, 1024):  # bounded temporaries
        s = slice(start, min(n, start + 1024))
        c, sn = np.cos(angle[s])[:, None, None], np.sin(angle[s])[:, None, None]
        u = xx * c + yy * sn
        v = (-xx * sn + yy * c) / axis_ratio[s][:, None, None]
        profile = np.exp(-np.hypot(u, v) / radius[s][:, None, None])
        profile /= profile.sum(axis=(1, 2), keepdims=True)
        images[s] = (flux[s][:, :, None, None] * profile[:, None]).astype(np.float32)
    images += rng.normal(0, 0.05, images.shape).astype(np.float32)
    return AstroData(torch.from_numpy(images), torch.from_numpy(mags.astype(np.float32)),
                     torch.from_numpy(z.astype(np.float32)))
