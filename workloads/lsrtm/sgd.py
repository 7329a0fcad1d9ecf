"""The SGD image update: x_k = x_{k-1} - step * (sum of the batch's gradients), as in the seed (a sum,
not a mean). The step is the seed's fixed one, or a Polyak step scaled by it; the exact rule's step (the
default) comes from the line search, workloads/lsrtm/line_search.py."""

from __future__ import annotations

import numpy as np


def sgd_update(image: np.ndarray, gradient_sum: np.ndarray, step_size: float) -> np.ndarray:
    if image.shape != gradient_sum.shape:
        raise ValueError(f"image {image.shape} and gradient {gradient_sum.shape} differ in shape")
    out = image.astype(np.float32, copy=True)
    out -= np.float32(step_size) * gradient_sum.astype(np.float32, copy=False)
    return out


def step_for(rule: str, step_size: float, misfit: float, gradient_sum: np.ndarray) -> float:
    """fixed: step_size. polyak: step_size * f / |g|^2 (f* = 0 for a least-squares misfit)."""
    if rule == "fixed":
        return step_size
    if rule == "polyak":
        norm2 = float(np.vdot(gradient_sum.astype(np.float64).ravel(), gradient_sum.astype(np.float64).ravel()))
        return step_size * misfit / norm2 if norm2 > 0 else 0.0
    raise ValueError(f"unknown step rule {rule!r}")
