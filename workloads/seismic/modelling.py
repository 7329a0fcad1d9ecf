"""Synthetic shots by forward modelling, for demos and tests."""

from __future__ import annotations

import numpy as np

from .discretization import Discretization, check_spatial_sampling, check_time_step, stable_dt
from .errors import SeismicInputError
from .model import Model
from .propagation import ShotPropagator
from .shot import Shot, resample_traces, time_axis
from .wavelet import Ricker

__all__ = ["synthetic_shot", "surface_acquisition"]


def surface_acquisition(model: Model, src_x: float, *, n_receivers: int | None = None,
                        depth_m: float | None = None, max_offset_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A source at ``src_x`` and a line of receivers at ``depth_m`` (default two grid cells below the top).

    Receivers span the model, or ``src_x ± max_offset_m`` clipped to it; ``n_receivers`` defaults to one
    per grid column in that span.
    """
    (x0, x1), (z0, _) = model.extent
    depth = z0 + 2 * model.spacing[1] if depth_m is None else depth_m
    if max_offset_m is not None:
        x0, x1 = max(x0, src_x - max_offset_m), min(x1, src_x + max_offset_m)
    n = n_receivers or int(round((x1 - x0) / model.spacing[0])) + 1
    rec = np.stack([np.linspace(x0, x1, n), np.full(n, depth)], axis=1)
    return np.array([src_x, depth]), rec


def synthetic_shot(model: Model, src: np.ndarray, rec: np.ndarray, *, record_ms: float,
                   wavelet: Ricker | None = None, space_order: int = 8, absorbing_layer: int = 40,
                   dt_ms: float | None = None, output_dt_ms: float | None = None) -> Shot:
    """Model one shot in ``model`` and return it as a :class:`Shot`.

    Propagation uses the stable step for the model (or ``dt_ms``); the traces are returned on that step
    or, with ``output_dt_ms``, resampled to it (e.g. 4 ms as in field data).
    """
    wavelet = wavelet or Ricker()
    if record_ms <= 0:
        raise SeismicInputError(f"record length must be positive, got {record_ms}")
    check_spatial_sampling(model, wavelet.max_frequency_hz)
    if dt_ms is not None:
        check_time_step(dt_ms, model, space_order)
    dt = dt_ms or stable_dt(model, space_order)
    nt = time_axis(0.0, record_ms, dt).size
    probe = Shot(src=src, rec=rec, data=np.zeros((2, np.asarray(rec).shape[0]), np.float32), dt_ms=dt,
                 wavelet=wavelet)
    probe.check_inside(model)
    disc = Discretization(space_order=space_order, nbl=absorbing_layer, dt_ms=dt, nt=nt)
    data = ShotPropagator(model, probe.src, probe.rec, disc, wavelet).forward()
    if output_dt_ms is not None:
        data = resample_traces(data, dt, output_dt_ms)
        dt = output_dt_ms
    return Shot(src=probe.src, rec=probe.rec, data=data, dt_ms=dt, wavelet=wavelet)
