"""Preconditioners of the LS-RTM gradient (as in the original worker), all linear and self-consistent.

The objective with preconditioning is ``f(x) = ½ dt ‖M (J P x - d)‖²`` where ``P`` is the model-side
preconditioner (water-column mute and ``√z`` depth scaling, both diagonal) and ``M`` the data mute of
the direct wave; the gradient is ``dt P J' M (M (J P x - d))``, so a Taylor test still holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import SeismicInputError
from .model import Model, water_mask
from .shot import Shot

__all__ = ["DirectWaveMute", "Preconditioning", "depth_scaling"]


def depth_scaling(model: Model) -> np.ndarray:
    """``√z`` with ``z`` the depth in km (0 at and above z = 0): compensates the geometric spreading."""
    depth_km = np.clip(model.z / 1000.0, 0.0, None)
    return np.broadcast_to(np.sqrt(depth_km)[None, :], model.shape).astype(np.float32)


@dataclass(frozen=True)
class DirectWaveMute:
    """Zero the data before the direct wave has passed, with a cosine taper.

    A sample at time ``t`` of the receiver at distance ``r`` from the source is muted when
    ``t < delay_ms + r / velocity_km_s`` and ramps up to 1 over ``taper_ms``. Defaults: ``delay_ms`` is
    twice the wavelet delay (the wavelet has died out by then), ``taper_ms`` one wavelet delay.
    """

    velocity_km_s: float = 1.5
    delay_ms: float | None = None
    taper_ms: float | None = None

    def __post_init__(self) -> None:
        if not self.velocity_km_s > 0:
            raise SeismicInputError(f"mute velocity must be positive, got {self.velocity_km_s}")

    def weights(self, shot: Shot, times_ms: np.ndarray) -> np.ndarray:
        """Mute weights ``(len(times_ms), nrec)`` in [0, 1]."""
        delay = 2.0 * shot.wavelet.delay if self.delay_ms is None else float(self.delay_ms)
        taper = shot.wavelet.delay if self.taper_ms is None else float(self.taper_ms)
        distance = np.hypot(shot.rec[:, 0] - shot.src[0], shot.rec[:, 1] - shot.src[1])
        onset = delay + distance / self.velocity_km_s  # m / (m/ms) = ms
        ramp = (np.asarray(times_ms)[:, None] - onset[None, :]) / max(taper, 1e-12)
        return (0.5 - 0.5 * np.cos(np.pi * np.clip(ramp, 0.0, 1.0))).astype(np.float32)


@dataclass(frozen=True)
class Preconditioning:
    """Which preconditioners to apply (the original worker used all three).

    ``water_mask``: a full-model boolean mask (True in water); by default it is derived from the model
    with :func:`workloads.seismic.model.water_mask`.
    """

    depth_scaling: bool = True
    water_mute: bool = True
    water_mask: np.ndarray | None = field(default=None, repr=False)
    direct_wave_mute: DirectWaveMute | None = field(default_factory=DirectWaveMute)

    def model_weights(self, model: Model) -> np.ndarray:
        """The diagonal of ``P`` on ``model``'s grid."""
        weights = np.ones(model.shape, dtype=np.float32)
        if self.water_mute:
            mask = water_mask(model) if self.water_mask is None else np.asarray(self.water_mask)
            if mask.shape != model.shape:
                raise SeismicInputError(f"water mask shape {mask.shape} does not match the model {model.shape}")
            weights *= 1.0 - mask.astype(np.float32)
        if self.depth_scaling:
            weights *= depth_scaling(model)
        return weights

    def data_weights(self, shot: Shot, times_ms: np.ndarray) -> np.ndarray | None:
        """The diagonal of ``M`` (None when no data mute is applied)."""
        return None if self.direct_wave_mute is None else self.direct_wave_mute.weights(shot, times_ms)
