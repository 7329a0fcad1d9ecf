"""The velocity model: squared slowness on a regular 2-D grid, with its metadata.

Units follow the original worker and Devito's examples: squared slowness in s²/km², velocity in km/s,
distances in m, times in ms (km/s = m/ms). Arrays are indexed ``[ix, iz]`` (x first, depth second).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SeismicInputError

__all__ = ["Model", "water_mask"]


def _pair(name: str, value: object) -> tuple[float, float]:
    try:
        pair = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise SeismicInputError(f"{name} must be two numbers (x, z), got {value!r}") from exc
    if len(pair) != 2 or not all(np.isfinite(pair)):
        raise SeismicInputError(f"{name} must be two finite numbers (x, z), got {value!r}")
    return pair[0], pair[1]


@dataclass(frozen=True)
class Model:
    """Squared slowness ``m`` (s²/km², float32, shape ``(nx, nz)``) with grid ``spacing`` and ``origin`` (m)."""

    m: np.ndarray = field(repr=False)
    spacing: tuple[float, float]
    origin: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        m = np.asarray(self.m)
        if m.ndim != 2:
            raise SeismicInputError(f"model must be 2-D (nx, nz), got {m.ndim}-D shape {m.shape}")
        if min(m.shape) < 3:
            raise SeismicInputError(f"model needs at least 3 points per axis, got shape {m.shape}")
        if not np.issubdtype(m.dtype, np.number):
            raise SeismicInputError(f"model values must be numeric, got dtype {m.dtype}")
        m = np.ascontiguousarray(m, dtype=np.float32)
        if not np.all(np.isfinite(m)):
            raise SeismicInputError(f"model contains {int(np.size(m) - np.isfinite(m).sum())} NaN/inf values")
        if np.any(m <= 0):
            raise SeismicInputError("squared slowness must be positive everywhere (got values <= 0)")
        spacing = _pair("spacing", self.spacing)
        if min(spacing) <= 0:
            raise SeismicInputError(f"spacing must be positive, got {spacing}")
        m.setflags(write=False)
        object.__setattr__(self, "m", m)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", _pair("origin", self.origin))

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def from_velocity(cls, vp: np.ndarray, spacing: tuple[float, float],
                      origin: tuple[float, float] = (0.0, 0.0)) -> Model:
        """Build from P-wave velocity in km/s."""
        vp = np.asarray(vp, dtype=np.float64)
        if vp.size and (not np.all(np.isfinite(vp)) or np.any(vp <= 0)):
            raise SeismicInputError("velocity must be finite and positive everywhere")
        return cls(m=(1.0 / vp**2).astype(np.float32), spacing=spacing, origin=origin)

    @classmethod
    def from_arrays(cls, m: np.ndarray, *, shape: tuple[int, int] | None = None,
                    spacing: tuple[float, float], origin: tuple[float, float] = (0.0, 0.0),
                    order: str = "C") -> Model:
        """Build from a (possibly flat) array plus metadata, checking that they agree.

        ``shape`` is the declared ``(nx, nz)`` (for example from the object tags ``shape=10789S1911``); a
        flat array is reshaped in ``order`` ("C" or "F"), a 2-D array must already have that shape.
        """
        arr = np.asarray(m)
        if shape is not None:
            try:
                shape = (int(shape[0]), int(shape[1]))
            except (TypeError, ValueError, IndexError) as exc:
                raise SeismicInputError(f"shape must be (nx, nz), got {shape!r}") from exc
            if arr.ndim == 1:
                if arr.size != shape[0] * shape[1]:
                    raise SeismicInputError(
                        f"model has {arr.size} values but metadata shape {shape} needs {shape[0] * shape[1]}")
                if order not in ("C", "F"):
                    raise SeismicInputError(f"order must be 'C' or 'F', got {order!r}")
                arr = arr.reshape(shape, order=order)  # type: ignore[call-overload]
            elif arr.shape != shape:
                raise SeismicInputError(f"model array shape {arr.shape} does not match metadata shape {shape}")
        return cls(m=arr, spacing=spacing, origin=origin)

    @classmethod
    def load_npz(cls, path: str | Path) -> Model:
        """Read a model written by :meth:`save_npz`."""
        with np.load(path) as f:
            missing = {"m", "spacing", "origin"} - set(f.files)
            if missing:
                raise SeismicInputError(f"{path}: missing arrays {sorted(missing)}")
            return cls(m=f["m"], spacing=tuple(f["spacing"]), origin=tuple(f["origin"]))

    def save_npz(self, path: str | Path) -> None:
        np.savez(path, m=self.m, spacing=np.asarray(self.spacing), origin=np.asarray(self.origin))

    # --- geometry -------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.m.shape[0]), int(self.m.shape[1]))

    @property
    def vp(self) -> np.ndarray:
        """Velocity in km/s."""
        return np.sqrt(1.0 / self.m)

    @property
    def x(self) -> np.ndarray:
        """Grid x coordinates (m)."""
        return self.origin[0] + self.spacing[0] * np.arange(self.shape[0])

    @property
    def z(self) -> np.ndarray:
        """Grid depth coordinates (m)."""
        return self.origin[1] + self.spacing[1] * np.arange(self.shape[1])

    @property
    def extent(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((xmin, xmax), (zmin, zmax)) in m, first and last grid points included."""
        x, z = self.x, self.z
        return (float(x[0]), float(x[-1])), (float(z[0]), float(z[-1]))

    def window_x(self, ix: slice) -> Model:
        """The sub-model of the columns ``ix`` (a step-1 slice), with its origin moved accordingly."""
        start, stop, step = ix.indices(self.shape[0])
        if step != 1 or stop - start < 3:
            raise SeismicInputError(f"window {ix} must be a step-1 slice of at least 3 columns")
        return Model(m=self.m[start:stop], spacing=self.spacing,
                     origin=(self.origin[0] + start * self.spacing[0], self.origin[1]))


def water_mask(model: Model, water_velocity_km_s: float = 1.51) -> np.ndarray:
    """Boolean mask (shape of the model), True in the water column.

    The water column of a trace is every cell from the top down to the first cell faster than
    ``water_velocity_km_s`` (BP 2004 water is about 1.49 km/s). Slow cells below the sea floor (gas,
    low-velocity sediments) are not water.
    """
    slow = model.vp <= water_velocity_km_s
    # Cumulative product along depth: stays True only until the first non-water cell of each trace.
    return np.cumprod(slow, axis=1).astype(bool)
