"""Restrict the model to one shot's aperture and put the gradient back on the full model."""

from __future__ import annotations

import numpy as np

from .errors import SeismicInputError
from .model import Model
from .shot import Shot

__all__ = ["aperture_window", "extend_to_full"]


def aperture_window(model: Model, shot: Shot, buffer_m: float | None) -> slice:
    """Columns of ``model`` spanning the source and receivers plus ``buffer_m`` on each side.

    ``None`` keeps the whole model (the original worker used 5000 m; the hybrid runs 9352 m).
    """
    nx = model.shape[0]
    if buffer_m is None:
        return slice(0, nx)
    if buffer_m < 0:
        raise SeismicInputError(f"aperture buffer must be >= 0, got {buffer_m}")
    x0, x1 = shot.x_range
    ox, hx = model.origin[0], model.spacing[0]
    start = max(int(np.floor((x0 - buffer_m - ox) / hx)), 0)
    stop = min(int(np.ceil((x1 + buffer_m - ox) / hx)) + 1, nx)
    # Keep at least a few columns so a vertical line of receivers still has a model around it.
    if stop - start < 3:
        start, stop = max(min(start, nx - 3), 0), min(max(stop, start + 3), nx)
    return slice(start, stop)


def extend_to_full(window_values: np.ndarray, window: slice, full_shape: tuple[int, int]) -> np.ndarray:
    """Zero-pad an array of the windowed model back to the full model."""
    full = np.zeros(full_shape, dtype=np.float32)
    full[window] = window_values
    return full
