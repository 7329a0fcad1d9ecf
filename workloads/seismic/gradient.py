"""The LS-RTM gradient of one shot: the worker's science in one call.

``compute_gradient(model, shot, image)`` evaluates ``f(x) = ½ dt ‖M (J P x - d)‖²`` and its gradient
``dt P J' M M (J P x - d)`` where ``x`` is the current image, ``J`` the Born operator linearised around
``model`` (the background), ``P``/``M`` the optional preconditioners and ``d`` the observed shot. With
no image (the first iteration) the residual is ``-d`` and the gradient is minus the RTM image. The
Born modelling uses the image (the published worker forgot to and linearised around ``dm = 1``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .aperture import aperture_window, extend_to_full
from .band_limit import source_band_lowpass
from .discretization import (
    DEFAULT_COURANT_FRACTION,
    Discretization,
    check_spatial_sampling,
    check_time_step,
    stable_dt,
)
from .errors import SeismicInputError
from .model import Model
from .operators import IMAGING_CONDITIONS
from .preconditioning import Preconditioning
from .propagation import ShotPropagator
from .shot import Shot, time_axis
from .storage import plan_storage, wavefield_budget

__all__ = ["GradientResult", "ShotSetup", "compute_gradient", "prepare_shot", "DEFAULT_APERTURE_BUFFER_M"]

DEFAULT_APERTURE_BUFFER_M = 5000.0  # as in the original worker


@dataclass
class GradientResult:
    """``gradient``: float32 on the full model grid (None on MPI ranks other than 0); ``misfit``: the LS
    objective at the image; ``timings``: seconds per phase; ``storage``: the wavefield storage mode used;
    ``details``: storage plan, time axis, aperture window and kernel statistics; ``residual``: the masked
    residual ``M (J P x - d)`` (float32, ``(nt, nrec)`` on the computational time axis), which the exact
    line search (``workloads.seismic.curvature``) needs."""

    gradient: np.ndarray | None
    misfit: float
    timings: dict[str, float]
    storage: str
    details: dict[str, object] = field(default_factory=dict)
    residual: np.ndarray | None = None


def _validate_inputs(model: Model, shot: Shot, image: np.ndarray | None, imaging: str) -> np.ndarray | None:
    if not isinstance(model, Model):
        raise SeismicInputError(f"model must be a Model, got {type(model).__name__}")
    if not isinstance(shot, Shot):
        raise SeismicInputError(f"shot must be a Shot, got {type(shot).__name__}")
    if imaging not in IMAGING_CONDITIONS:
        raise SeismicInputError(f"imaging must be one of {IMAGING_CONDITIONS}, got {imaging!r}")
    shot.check_inside(model)
    if shot.t0_ms != 0:
        # Modelling starts when the source fires; a record that starts later would need the early samples.
        raise SeismicInputError(f"records must start at the source time (t0_ms = 0), got t0_ms={shot.t0_ms}")
    if shot.tn_ms - shot.t0_ms <= shot.wavelet.delay:
        raise SeismicInputError(
            f"record length {shot.tn_ms - shot.t0_ms:g} ms is not longer than the wavelet's delay "
            f"{shot.wavelet.delay:g} ms: the source peak is never recorded")
    if image is None:
        return None
    image = np.asarray(image)
    if image.shape != model.shape:
        raise SeismicInputError(f"image shape {image.shape} does not match the model shape {model.shape}")
    if not np.all(np.isfinite(image)):
        raise SeismicInputError("image contains NaN/inf values")
    return image.astype(np.float32) if np.any(image) else None


@dataclass
class ShotSetup:
    """What the gradient pass and the curvature pass of one shot must share, so that they model the same
    operator: the aperture window, the time axis, the observed data on it, the preconditioners restricted
    to the window, and the propagator."""

    window: slice
    dt: float
    disc: Discretization
    times: np.ndarray
    observed: np.ndarray
    model_weights: np.ndarray | None
    data_weights: np.ndarray | None
    propagator: ShotPropagator
    setup_s: float

    def windowed_image(self, image: np.ndarray) -> np.ndarray:
        """``P x`` on the window: what the Born modelling takes as its perturbation."""
        return image[self.window] * (self.model_weights if self.model_weights is not None else 1.0)


def prepare_shot(model: Model, shot: Shot, *, space_order: int, imaging: str,
                 preconditioning: Preconditioning | None, aperture_buffer_m: float | None,
                 absorbing_layer: int, courant_fraction: float, dt_ms: float | None) -> ShotSetup:
    """Window, discretize and precondition one shot; deterministic in its arguments."""
    t_start = time.perf_counter()
    window = aperture_window(model, shot, aperture_buffer_m)
    sub_model = model.window_x(window)
    check_spatial_sampling(sub_model, shot.wavelet.max_frequency_hz)
    if dt_ms is not None:
        check_time_step(float(dt_ms), sub_model, space_order)
    dt = float(dt_ms) if dt_ms is not None else stable_dt(sub_model, space_order, courant_fraction)
    times = time_axis(shot.t0_ms, shot.tn_ms, dt)
    disc = Discretization(space_order=space_order, nbl=absorbing_layer, dt_ms=dt, nt=times.size,
                          t0_ms=shot.t0_ms)
    observed = shot.resampled(dt)[: disc.nt]

    model_weights = data_weights = None
    if preconditioning is not None:
        if preconditioning.water_mask is not None:
            mask = np.asarray(preconditioning.water_mask)
            if mask.shape != model.shape:
                raise SeismicInputError(f"water mask shape {mask.shape} does not match the model {model.shape}")
            preconditioning = Preconditioning(
                depth_scaling=preconditioning.depth_scaling, water_mute=preconditioning.water_mute,
                water_mask=mask[window], direct_wave_mute=preconditioning.direct_wave_mute)
        model_weights = preconditioning.model_weights(sub_model)
        data_weights = preconditioning.data_weights(shot, times)

    propagator = ShotPropagator(sub_model, shot.src, shot.rec, disc, shot.wavelet, imaging=imaging)
    return ShotSetup(window=window, dt=dt, disc=disc, times=times, observed=observed, model_weights=model_weights,
                     data_weights=data_weights, propagator=propagator, setup_s=time.perf_counter() - t_start)


def compute_gradient(model: Model, shot: Shot, image: np.ndarray | None = None, *, space_order: int = 8,
                     storage: str = "auto", memory_budget_bytes: int | None = None,
                     subsampling_factor: int | None = None, imaging: str = "isic",
                     preconditioning: Preconditioning | None = None,
                     aperture_buffer_m: float | None = DEFAULT_APERTURE_BUFFER_M, absorbing_layer: int = 40,
                     courant_fraction: float = DEFAULT_COURANT_FRACTION,
                     dt_ms: float | None = None) -> GradientResult:
    """LS-RTM objective and gradient of one shot; see the module docstring for the formulas.

    ``storage``: ``"auto"`` (fastest mode whose estimate fits ``memory_budget_bytes``, a budget for the whole
    process: what it already holds and the traces are counted first; default half the available memory), ``"subsampled"`` (every ``subsampling_factor``-th step, default the Nyquist-safe
    factor), ``"full"`` or ``"checkpointing"``. ``imaging``: ``"isic"`` (inverse-scattering imaging
    condition, the Born operator uses the matching linearised source) or ``"xcorr"`` (cross-correlation).
    ``aperture_buffer_m``: the model is restricted to the shot's x-range plus this buffer (None: whole
    model); the gradient is zero outside. ``dt_ms``: computational step (default: the stable step).
    """
    t_start = time.perf_counter()
    image = _validate_inputs(model, shot, image, imaging)
    setup = prepare_shot(model, shot, space_order=space_order, imaging=imaging, preconditioning=preconditioning,
                         aperture_buffer_m=aperture_buffer_m, absorbing_layer=absorbing_layer,
                         courant_fraction=courant_fraction, dt_ms=dt_ms)
    window, dt, disc, observed = setup.window, setup.dt, setup.disc, setup.observed
    model_weights, data_weights, propagator = setup.model_weights, setup.data_weights, setup.propagator
    dm = setup.windowed_image(image) if image is not None else None

    n_ranks = propagator.comm.size if propagator.comm is not None else 1
    budget = None
    if memory_budget_bytes is not None:  # a budget for the whole process: what it already holds is spent
        budget = wavefield_budget(int(memory_budget_bytes), disc.nt * shot.nrec * 4)
        if budget <= 0:
            raise SeismicInputError(
                f"memory budget {memory_budget_bytes / 2**20:.3g} MiB is less than this process already holds "
                f"with its traces ({(memory_budget_bytes - budget) / 2**20:.3g} MiB): no room for the wavefields")
    plan = plan_storage(storage, padded_shape=propagator.padded_shape, space_order=space_order, nt=disc.nt,
                        dt_ms=dt, max_frequency_hz=shot.wavelet.max_frequency_hz, imaging=imaging,
                        budget_bytes=budget, subsampling_factor=subsampling_factor,
                        born=dm is not None, n_ranks=n_ranks)
    setup_s = time.perf_counter() - t_start

    predicted = propagator.born(dm, plan)
    residual = -observed if predicted is None else predicted - observed
    if data_weights is not None:
        residual = residual * data_weights
    misfit = 0.5 * dt * float(np.sum(residual.astype(np.float64) ** 2))
    adjoint_source = residual * data_weights if data_weights is not None else residual
    if plan.factor > 1:  # subsampled snapshots: keep the imaging sum exact whatever the residual's band
        adjoint_source = source_band_lowpass(adjoint_source, dt, shot.wavelet.max_frequency_hz, plan.factor)
    sub_gradient = propagator.adjoint(adjoint_source, plan)

    gradient = None
    if sub_gradient is not None:
        sub_gradient *= dt
        if model_weights is not None:
            sub_gradient *= model_weights
        gradient = extend_to_full(sub_gradient, window, model.shape)

    timings = {"setup": setup_s, **propagator.timings, "total": time.perf_counter() - t_start}
    details: dict[str, object] = {
        "plan": plan.as_dict(), "dt_ms": dt, "nt": disc.nt, "window": (window.start, window.stop),
        "padded_shape": propagator.padded_shape, "imaging": imaging, "n_ranks": n_ranks,
        "kernel_points": propagator.kernel_points,
    }
    if plan.mode == "checkpointing":
        details["checkpointing"] = propagator.checkpoint_stats
    return GradientResult(gradient=gradient, misfit=misfit, timings=timings, storage=plan.mode, details=details,
                          residual=np.asarray(residual, dtype=np.float32))
