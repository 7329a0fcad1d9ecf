"""One shot record: source and receiver positions, the traces and their time axis."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import make_interp_spline

from .errors import SeismicInputError
from .model import Model
from .wavelet import Ricker

__all__ = ["Shot", "time_axis", "resample_traces"]


def time_axis(t0_ms: float, tn_ms: float, dt_ms: float) -> np.ndarray:
    """Times t0, t0 + dt, ... up to tn (included when it falls on the grid, within rounding)."""
    n = int(np.floor((tn_ms - t0_ms) / dt_ms + 1e-6)) + 1
    return t0_ms + dt_ms * np.arange(n)


def resample_traces(data: np.ndarray, dt_in_ms: float, dt_out_ms: float, t0_ms: float = 0.0) -> np.ndarray:
    """Resample traces ``(nt, ntraces)`` to a new sampling interval by cubic splines (k = 3).

    The output covers the same record length (``t0`` to the last input sample). Resampling to a coarser
    interval assumes the data have no energy above the new Nyquist frequency.
    """
    data = np.asarray(data)
    t_in = t0_ms + dt_in_ms * np.arange(data.shape[0])
    if np.isclose(dt_in_ms, dt_out_ms, rtol=1e-9, atol=0.0):
        return np.asarray(data, dtype=np.float32)
    t_out = time_axis(t0_ms, float(t_in[-1]), dt_out_ms)
    spline = make_interp_spline(t_in, data.astype(np.float64), k=3, axis=0)
    return spline(t_out).astype(np.float32)


@dataclass(frozen=True)
class Shot:
    """A shot record.

    ``src``: source position ``(x, z)`` in m; ``rec``: receiver positions ``(nrec, 2)`` in m;
    ``data``: traces ``(nt, nrec)``; ``dt_ms``/``t0_ms``: sampling interval and first sample time;
    ``wavelet``: the source signature used for modelling.
    """

    src: np.ndarray
    rec: np.ndarray
    data: np.ndarray = field(repr=False)
    dt_ms: float
    t0_ms: float = 0.0
    wavelet: Ricker = field(default_factory=Ricker)

    def __post_init__(self) -> None:
        src = np.asarray(self.src, dtype=np.float64).reshape(-1)
        if src.shape != (2,) or not np.all(np.isfinite(src)):
            raise SeismicInputError(f"source position must be two finite numbers (x, z), got {self.src!r}")
        rec = np.asarray(self.rec, dtype=np.float64)
        if rec.ndim != 2 or rec.shape[1] != 2 or rec.shape[0] < 1:
            raise SeismicInputError(f"receiver positions must have shape (nrec, 2), got {rec.shape}")
        if not np.all(np.isfinite(rec)):
            raise SeismicInputError("receiver positions contain NaN/inf")
        data = np.asarray(self.data)
        if data.ndim != 2 or data.shape[1] != rec.shape[0]:
            raise SeismicInputError(
                f"data must have shape (nt, nrec) = (nt, {rec.shape[0]}), got {data.shape}")
        if data.shape[0] < 2:
            raise SeismicInputError(f"data needs at least 2 time samples, got {data.shape[0]}")
        data = np.ascontiguousarray(data, dtype=np.float32)
        if not np.all(np.isfinite(data)):
            raise SeismicInputError(f"data contain {int(data.size - np.isfinite(data).sum())} NaN/inf samples")
        if not (np.isfinite(self.dt_ms) and self.dt_ms > 0):
            raise SeismicInputError(f"dt_ms must be positive, got {self.dt_ms}")
        if not (np.isfinite(self.t0_ms) and self.t0_ms >= 0):
            raise SeismicInputError(f"t0_ms must be >= 0, got {self.t0_ms}")
        if not isinstance(self.wavelet, Ricker):
            raise SeismicInputError(f"wavelet must be a Ricker, got {type(self.wavelet).__name__}")
        for arr in (src, rec, data):
            arr.setflags(write=False)
        object.__setattr__(self, "src", src)
        object.__setattr__(self, "rec", rec)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "dt_ms", float(self.dt_ms))
        object.__setattr__(self, "t0_ms", float(self.t0_ms))

    @property
    def nt(self) -> int:
        return int(self.data.shape[0])

    @property
    def nrec(self) -> int:
        return int(self.data.shape[1])

    @property
    def tn_ms(self) -> float:
        """Time of the last sample."""
        return self.t0_ms + self.dt_ms * (self.nt - 1)

    @property
    def offsets(self) -> np.ndarray:
        """Horizontal source-receiver offsets (m), signed."""
        return self.rec[:, 0] - self.src[0]

    @property
    def x_range(self) -> tuple[float, float]:
        """Smallest and largest x of the source and receivers."""
        xs = np.concatenate([self.rec[:, 0], self.src[:1]])
        return float(xs.min()), float(xs.max())

    def resampled(self, dt_ms: float) -> np.ndarray:
        """The traces on the interval ``dt_ms`` over the same record (cubic spline)."""
        return resample_traces(self.data, self.dt_ms, dt_ms, self.t0_ms)

    def with_data(self, data: np.ndarray, dt_ms: float | None = None) -> Shot:
        """The same geometry with other traces (e.g. modelled or muted data)."""
        return Shot(src=self.src, rec=self.rec, data=data, dt_ms=self.dt_ms if dt_ms is None else dt_ms,
                    t0_ms=self.t0_ms, wavelet=self.wavelet)

    def check_inside(self, model: Model) -> None:
        """Raise :class:`SeismicInputError` if the source or a receiver lies outside the model."""
        (x0, x1), (z0, z1) = model.extent
        tol = 1e-6 * max(model.spacing)
        pts = np.vstack([self.src[None, :], self.rec])
        outside = ((pts[:, 0] < x0 - tol) | (pts[:, 0] > x1 + tol) | (pts[:, 1] < z0 - tol) | (pts[:, 1] > z1 + tol))
        if outside[0]:
            raise SeismicInputError(
                f"source at {tuple(self.src)} m is outside the model x [{x0}, {x1}] z [{z0}, {z1}] m")
        if outside[1:].any():
            bad = np.flatnonzero(outside[1:])
            raise SeismicInputError(
                f"{bad.size} receivers (first: #{bad[0]} at {tuple(self.rec[bad[0]])} m) are outside the model "
                f"x [{x0}, {x1}] z [{z0}, {z1}] m")
