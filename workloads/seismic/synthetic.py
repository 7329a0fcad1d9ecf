"""Synthetic BP-2004-like models for demos, tests and benchmarks: water, sediment layers, a salt body.

Any size: geometry is defined in fractions of the model, so a 101 x 61 test model and a 1201 x 401
benchmark model have the same structure.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .errors import SeismicInputError
from .model import Model, water_mask

__all__ = ["synthetic_model", "smooth_model"]

WATER_VELOCITY = 1.49  # km/s, as in BP 2004
SALT_VELOCITY = 4.5  # km/s


def synthetic_model(shape: tuple[int, int], spacing: tuple[float, float] = (12.5, 12.5), *,
                    water_depth_fraction: float = 0.12, n_layers: int = 8, salt: bool = True,
                    seed: int = 0) -> Model:
    """Water layer over gently dipping, undulating sediment layers (1.6 to 3.6 km/s) and a salt body.

    The result is reproducible for a given ``seed``. Depth increases with the second index.
    """
    nx, nz = (int(shape[0]), int(shape[1]))
    if nx < 8 or nz < 8:
        raise SeismicInputError(f"synthetic model needs at least 8 x 8 points, got {shape}")
    if not 0.0 <= water_depth_fraction < 0.8:
        raise SeismicInputError(f"water_depth_fraction must be in [0, 0.8), got {water_depth_fraction}")
    rng = np.random.default_rng(seed)
    xs = np.linspace(0.0, 1.0, nx)[:, None]
    zs = np.linspace(0.0, 1.0, nz)[None, :]

    seafloor = water_depth_fraction * (1.0 + 0.15 * np.sin(2 * np.pi * (xs + rng.uniform())))
    vp = np.full((nx, nz), WATER_VELOCITY)
    # Layer interfaces: depths between the sea floor and the bottom, each with its own dip and undulation.
    tops = np.sort(rng.uniform(0.0, 1.0, n_layers))
    layer_velocity = np.linspace(1.6, 3.6, n_layers + 1)
    below_floor = (zs - seafloor) / np.maximum(1.0 - seafloor, 1e-6)
    vp = np.where(zs >= seafloor, layer_velocity[0], vp)
    for k, top in enumerate(tops):
        dip = rng.uniform(-0.08, 0.08)
        wobble = 0.03 * np.sin(2 * np.pi * (rng.uniform(0.5, 2.0) * xs + rng.uniform()))
        interface = top + dip * (xs - 0.5) + wobble
        vp = np.where((zs >= seafloor) & (below_floor >= interface), layer_velocity[k + 1], vp)

    if salt:
        # A salt body with a rugose top and a smooth base, centred at 60 % of the width.
        cx, width = 0.6, 0.22
        top = 0.35 + 0.06 * np.cos(6 * np.pi * (xs - cx)) + 0.25 * ((xs - cx) / width) ** 2
        base = 0.75 - 0.2 * ((xs - cx) / width) ** 2
        inside = (np.abs(xs - cx) < width) & (zs >= np.maximum(top, seafloor + 0.05)) & (zs <= base)
        vp = np.where(inside, SALT_VELOCITY, vp)
    return Model.from_velocity(vp.astype(np.float32), spacing=spacing)


def smooth_model(model: Model, sigma_m: float = 150.0, *, keep_water: bool = True) -> Model:
    """Migration background: Gaussian smoothing of the slowness with ``sigma_m`` (m) standard deviation.

    The water column is kept exact (``keep_water``), so the sea floor stays sharp as in practice.
    """
    if sigma_m <= 0:
        raise SeismicInputError(f"sigma_m must be positive, got {sigma_m}")
    slowness = np.sqrt(model.m.astype(np.float64))
    sigma = (sigma_m / model.spacing[0], sigma_m / model.spacing[1])
    smooth = gaussian_filter(slowness, sigma=sigma, mode="nearest")
    if keep_water:
        water = water_mask(model)
        smooth = np.where(water, slowness, smooth)
    return Model(m=(smooth**2).astype(np.float32), spacing=model.spacing, origin=model.origin)
