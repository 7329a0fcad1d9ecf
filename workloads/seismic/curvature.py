"""One shot's share of the exact line search along a search direction (the batch gradient).

LS-RTM is linear in the image, so shot s's misfit along ``x - a G`` is a quadratic in ``a``:

    f_s(x - a G) = f_s(x) - a c1_s + ½ a² c2_s,   c1_s = dt r_s·(M J P G),   c2_s = dt ‖M J P G‖²,

with ``r_s = M (J P x - d)`` the masked residual the gradient pass stored (``GradientResult.residual``).
``c1`` comes from that residual rather than from ``|G|²``: with subsampled snapshots ``G`` is only close to
the gradient, while ``r_s`` and ``M J P G`` are exact, so the predicted misfit stays exact along the step
actually taken. One Born modelling of ``P G`` per shot, with the same window, time axis and preconditioners
as the gradient pass (``prepare_shot``); no wavefield is stored.
"""

from __future__ import annotations

import numpy as np

from .discretization import DEFAULT_COURANT_FRACTION
from .errors import SeismicInputError
from .gradient import DEFAULT_APERTURE_BUFFER_M, _validate_inputs, prepare_shot
from .model import Model
from .preconditioning import Preconditioning
from .shot import Shot

__all__ = ["born_curvature"]


def born_curvature(model: Model, shot: Shot, direction: np.ndarray, residual: np.ndarray, *, space_order: int = 8,
                   imaging: str = "isic", preconditioning: Preconditioning | None = None,
                   aperture_buffer_m: float | None = DEFAULT_APERTURE_BUFFER_M, absorbing_layer: int = 40,
                   courant_fraction: float = DEFAULT_COURANT_FRACTION,
                   dt_ms: float | None = None) -> tuple[float, float]:
    """``(c1_s, c2_s)`` of this shot along ``direction`` (full model grid); see the module docstring.

    The keyword arguments must be those of the ``compute_gradient`` call that gave ``residual``: they
    decide the window, the time axis and the preconditioners, and so the operator ``M J P``."""
    _validate_inputs(model, shot, None, imaging)
    direction = np.asarray(direction)
    if direction.shape != model.shape:
        raise SeismicInputError(f"direction shape {direction.shape} does not match the model shape {model.shape}")
    if not np.all(np.isfinite(direction)):
        raise SeismicInputError("direction contains NaN/inf values")
    setup = prepare_shot(model, shot, space_order=space_order, imaging=imaging, preconditioning=preconditioning,
                         aperture_buffer_m=aperture_buffer_m, absorbing_layer=absorbing_layer,
                         courant_fraction=courant_fraction, dt_ms=dt_ms)
    residual = np.asarray(residual)
    expected = (setup.disc.nt, shot.nrec)
    if residual.shape != expected:
        raise SeismicInputError(f"residual shape {residual.shape} is not this shot's {expected}: it was computed "
                                "with another time step, record length or acquisition")
    dm = setup.windowed_image(direction.astype(np.float32))
    if not np.any(dm):
        return 0.0, 0.0  # the direction is zero where this shot sees the model: the shot's misfit cannot move
    modelled = setup.propagator.born(dm)  # no plan: nothing is kept for an adjoint pass
    if setup.data_weights is not None:
        modelled = modelled * setup.data_weights
    modelled = modelled.astype(np.float64)
    c1 = setup.dt * float(np.sum(residual.astype(np.float64) * modelled))
    c2 = setup.dt * float(np.sum(modelled * modelled))
    return c1, c2
