"""The SGD image update: x_k = x_{k-1} - step * (sum of the batch's gradients), as in the seed (a sum,
not a mean; a fixed step)."""

from __future__ import annotations

import numpy as np


def sgd_update(image: np.ndarray, gradient_sum: np.ndarray, step_size: float) -> np.ndarray:
    if image.shape != gradient_sum.shape:
        raise ValueError(f"image {image.shape} and gradient {gradient_sum.shape} differ in shape")
    out = image.astype(np.float32, copy=True)
    out -= np.float32(step_size) * gradient_sum.astype(np.float32, copy=False)
    return out
