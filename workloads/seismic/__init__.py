"""Seismic imaging workload: Devito LS-RTM gradients of single shots (no AWS imports).

Units: squared slowness s²/km², velocity km/s, distances m, times ms; arrays are ``[ix, iz]``.

Public API (stable; the workflow and the worker call only these)
-----------------------------------------------------------------
Models and data
    ``Model(m, spacing, origin)``                 validated float32 squared slowness; ``Model.from_velocity``,
                                                  ``Model.from_arrays(m, shape=, spacing=, origin=, order=)``
                                                  (metadata checked), ``save_npz``/``load_npz``, ``.vp``, ``.extent``
    ``water_mask(model, water_velocity_km_s)``    True in the water column
    ``synthetic_model(shape, spacing, seed=)``    water + layers + salt, any size; ``smooth_model`` for a background
    ``Ricker(peak_frequency_hz, delay_ms)``       source wavelet
    ``Shot(src, rec, data, dt_ms, t0_ms, wavelet)``  one shot record, ``data`` is ``(nt, nrec)``
    ``read_shot(path, wavelet=)`` / ``write_shot(path, shot)``   SEG-Y with header scalars applied
    ``synthetic_shot(model, src, rec, record_ms=, ...)``, ``surface_acquisition(model, src_x)``

Gradient
    ``compute_gradient(model, shot, image=None, *, space_order=8, storage="auto", memory_budget_bytes=None,
    subsampling_factor=None, imaging="isic", preconditioning=None, aperture_buffer_m=5000.0,
    absorbing_layer=40, courant_fraction=0.9, dt_ms=None) -> GradientResult``
        ``GradientResult(gradient, misfit, timings, storage, details)``: the gradient of
        ``½ dt ‖M (J P x - d)‖²`` on the full model grid (``x`` = image, ``J`` = Born operator around
        ``model``; ``dm = P x``, so the Born modelling uses the current image). ``image=None`` (first
        iteration): the gradient is minus the RTM image. ``storage``: ``"auto"`` picks the fastest of
        ``subsampled`` (Nyquist-safe factor) / ``full`` / ``checkpointing`` (pyrevolve) that fits the budget.
    ``Preconditioning(depth_scaling, water_mute, water_mask, direct_wave_mute)``, ``DirectWaveMute(...)``
    ``SeismicInputError``: every bad input (shape/metadata mismatch, NaNs, a shot outside the model, ...)

Lower level (tests, demos)
    ``ShotPropagator`` (forward / born / adjoint on one model and acquisition), ``Discretization``,
    ``stable_dt``, ``plan_storage``; ``workloads.seismic.reference`` wraps Devito's reference solver.

Parallelism
    OpenMP with pinning: importing this package sets ``DEVITO_LANGUAGE=openmp``, ``OMP_PROC_BIND=close``,
    ``OMP_PLACES=cores`` (one disjoint core set per MPI rank on a node) and ``DEVITO_LOGGING=WARNING``
    unless already set (see ``runtime``). MPI: ``mpiexec -n 2 python -m workloads.seismic.mpi_gradient
    --model bg.npz --shot shot.segy --out grad.npy`` decomposes one shot's domain with Devito's MPI mode
    and gathers the gradient on rank 0.
"""

from importlib import import_module
from typing import Any

from .runtime import configure_environment

configure_environment()

# Light modules (numpy, scipy, segyio) are imported eagerly; the ones that import Devito load on first
# use, so reading models and SEG-Y stays cheap and the MPI entry point can set DEVITO_MPI first.
from .aperture import aperture_window, extend_to_full  # noqa: E402
from .discretization import Discretization, stable_dt  # noqa: E402
from .errors import SeismicInputError  # noqa: E402
from .model import Model, water_mask  # noqa: E402
from .preconditioning import DirectWaveMute, Preconditioning, depth_scaling  # noqa: E402
from .segy import read_shot, write_shot  # noqa: E402
from .shot import Shot, resample_traces  # noqa: E402
from .storage import StoragePlan, plan_storage  # noqa: E402
from .synthetic import smooth_model, synthetic_model  # noqa: E402
from .wavelet import Ricker  # noqa: E402

_LAZY = {
    "GradientResult": "gradient", "compute_gradient": "gradient", "ShotPropagator": "propagation",
    "surface_acquisition": "modelling", "synthetic_shot": "modelling", "born_curvature": "curvature",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Discretization", "DirectWaveMute", "born_curvature", "GradientResult", "Model", "Preconditioning", "Ricker",
    "SeismicInputError", "Shot", "ShotPropagator", "StoragePlan", "aperture_window", "compute_gradient",
    "configure_environment", "depth_scaling", "extend_to_full", "plan_storage", "read_shot",
    "resample_traces", "smooth_model", "stable_dt", "surface_acquisition", "synthetic_model",
    "synthetic_shot", "water_mask", "write_shot",
]
