"""Devito's own reference solver (``examples.seismic``, shipped in the devito wheel) on our inputs.

Used by the tests and the benchmark to check and time our gradient against an independent
implementation: ``AcousticWaveSolver`` with full wavefield storage, its damping layer and its
cross-correlation gradient ``-Σ u v_tt``. Only the scale differs from our ``imaging="xcorr"`` gradient.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from . import runtime

runtime.configure_environment()

from examples.seismic import AcquisitionGeometry, SeismicModel  # noqa: E402
from examples.seismic.acoustic import AcousticWaveSolver  # noqa: E402

from .model import Model  # noqa: E402
from .shot import Shot, resample_traces  # noqa: E402

__all__ = ["reference_rtm_gradient"]


def reference_rtm_gradient(model: Model, shot: Shot, *, dt_ms: float, space_order: int = 8,
                           absorbing_layer: int = 40) -> tuple[np.ndarray, dict[str, float]]:
    """Gradient of ``½‖d_pred - d‖²`` at zero image (the RTM image up to sign and scale) on the model grid.

    ``dt_ms`` should be the step our solver uses, so both run the same number of steps.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with warnings.catch_warnings():  # the example model uses a Grid(subdomains=...) form Devito deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        ref_model = SeismicModel(vp=model.vp.astype(np.float32), origin=model.origin, spacing=model.spacing,
                                 shape=model.shape, space_order=space_order, nbl=absorbing_layer, bcs="damp")
    geometry = AcquisitionGeometry(ref_model, shot.rec, shot.src[None, :], t0=shot.t0_ms, tn=shot.tn_ms,
                                   f0=shot.wavelet.peak_frequency_hz / 1000.0, src_type="Ricker")
    geometry.resample(dt_ms)
    solver = AcousticWaveSolver(ref_model, geometry, space_order=space_order)
    observed = resample_traces(shot.data, shot.dt_ms, dt_ms, shot.t0_ms)
    residual = geometry.rec
    n = min(residual.data.shape[0], observed.shape[0])
    residual.data[:] = 0
    residual.data[:n] = -observed[:n]
    timings["setup"] = time.perf_counter() - start

    t0 = time.perf_counter()
    _, u, _ = solver.forward(save=True, dt=dt_ms)
    timings["forward"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    grad, _ = solver.jacobian_adjoint(residual, u, dt=dt_ms)
    timings["adjoint"] = time.perf_counter() - t0
    nbl = absorbing_layer
    gradient = np.array(grad.data[nbl:nbl + model.shape[0], nbl:nbl + model.shape[1]], dtype=np.float32)
    timings["total"] = time.perf_counter() - start
    return gradient, timings
