"""Time step, absorbing layer and padding for the 2nd-order-in-time acoustic scheme.

The scheme is ``m (u[n+1] - 2u[n] + u[n-1]) / dt² - L u[n] + η (u[n+1] - u[n-1]) / (2 dt) = q[n]`` with
``L`` the centred Laplacian of order ``space_order`` and ``η = m σ`` a damping that is zero inside the
model and grows quadratically across an absorbing layer of ``nbl`` points on every side.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

from .errors import SeismicInputError
from .model import Model

__all__ = ["Discretization", "second_derivative_weights", "stable_dt", "stability_limit_ms", "check_time_step",
           "check_spatial_sampling", "damping_profile", "pad_edge", "nyquist_subsampling_factor"]

MIN_POINTS_PER_WAVELENGTH = 2.0  # spatial Nyquist at the wavelet's highest frequency that matters

DEFAULT_COURANT_FRACTION = 0.9
ABSORBING_REFLECTION = 1e-3  # target reflection coefficient of the absorbing layer


def second_derivative_weights(space_order: int) -> np.ndarray:
    """Weights ``c_0 .. c_p`` of the centred second derivative of order ``space_order = 2p`` (h = 1)."""
    if space_order < 2 or space_order % 2:
        raise SeismicInputError(f"space_order must be an even number >= 2, got {space_order}")
    p = space_order // 2
    ck = np.array([2.0 * (-1) ** (k + 1) * factorial(p) ** 2 / (k**2 * factorial(p - k) * factorial(p + k))
                   for k in range(1, p + 1)])
    return np.concatenate([[-2.0 * ck.sum()], ck])


def stable_dt(model: Model, space_order: int, courant_fraction: float = DEFAULT_COURANT_FRACTION) -> float:
    """Time step (ms): ``courant_fraction`` of the von Neumann limit of the scheme, to 3 significant digits.

    The limit is ``2 / (v_max sqrt(λ_max))`` with ``λ_max = Σ|c| Σ_d 1/h_d²`` the largest eigenvalue of the
    discrete Laplacian. Rounding down keeps the step stable and the value readable.
    """
    if not 0 < courant_fraction <= 1:
        raise SeismicInputError(f"courant_fraction must be in (0, 1], got {courant_fraction}")
    dt = courant_fraction * stability_limit_ms(model, space_order)
    digits = 2 - int(np.floor(np.log10(dt)))
    return float(np.floor(dt * 10**digits) / 10**digits)


def stability_limit_ms(model: Model, space_order: int) -> float:
    """The von Neumann limit of the time step (ms), unrounded: any larger step blows up."""
    c = second_derivative_weights(space_order)
    lam = (abs(c[0]) + 2 * np.abs(c[1:]).sum()) * sum(1.0 / h**2 for h in model.spacing)
    return 2.0 / (float(model.vp.max()) * np.sqrt(lam))


def check_time_step(dt_ms: float, model: Model, space_order: int) -> None:
    """Refuse a step that is not a positive number or exceeds the stability limit. An unstable step does
    not give NaN: the fields grow to huge finite values (6e32 was seen) that nothing downstream notices."""
    if not (np.isfinite(dt_ms) and dt_ms > 0):
        raise SeismicInputError(f"dt must be a positive number of milliseconds, got {dt_ms}")
    limit = stability_limit_ms(model, space_order)
    if dt_ms > limit:
        raise SeismicInputError(
            f"dt {dt_ms:g} ms exceeds the stability limit {limit:.4g} ms of this model (vp max "
            f"{float(model.vp.max()):g} km/s, spacing {tuple(model.spacing)} m, space order {space_order}); "
            f"leave dt unset for {stable_dt(model, space_order):g} ms")


def check_spatial_sampling(model: Model, max_frequency_hz: float) -> None:
    """Refuse a grid too coarse for the wavelet: fewer than ``MIN_POINTS_PER_WAVELENGTH`` points per
    shortest wavelength (slowest velocity, highest frequency that matters) is aliased, not imaged."""
    shortest_m = 1000.0 * float(model.vp.min()) / max_frequency_hz
    points = shortest_m / max(model.spacing)
    if points < MIN_POINTS_PER_WAVELENGTH:
        raise SeismicInputError(
            f"grid too coarse for the source: {points:.2f} points per shortest wavelength ({shortest_m:.1f} m at "
            f"{max_frequency_hz:g} Hz and vp {float(model.vp.min()):g} km/s, spacing {max(model.spacing):g} m); "
            f"need at least {MIN_POINTS_PER_WAVELENGTH:g}: lower the peak frequency or refine the grid")


def nyquist_subsampling_factor(dt_ms: float, max_frequency_hz: float) -> int:
    """Largest snapshot interval (in time steps) that keeps the imaging-condition time sum exact.

    The imaging integrand is a product of two fields band-limited to ``f_max``, so its spectrum reaches
    ``2 f_max``; a sum sampled every ``T`` equals the integral when ``1/T > 2 f_max``.
    """
    period_ms = 1000.0 / (2.0 * max_frequency_hz)
    return max(1, int(np.floor(period_ms / dt_ms)))


def pad_edge(values: np.ndarray, nbl: int) -> np.ndarray:
    """Extend a 2-D array by ``nbl`` points on every side, repeating the edge values."""
    return np.pad(values, nbl, mode="edge")


def damping_profile(padded_m: np.ndarray, nbl: int, spacing: tuple[float, float]) -> np.ndarray:
    """``η = m σ`` on the padded grid: zero inside, ``σ = σ_max (d/L)²`` in the layer of width ``L``.

    ``σ_max = 3 v / (2 L) ln(1/R)`` (the classic PML estimate with the local velocity ``v``) gives a
    reflection of about ``R`` for normal incidence.
    """
    if nbl == 0:
        return np.zeros_like(padded_m)
    nxp, nzp = padded_m.shape
    ramp = []
    for n, h in zip((nxp, nzp), spacing, strict=True):
        idx = np.arange(n)
        depth = np.maximum(nbl - idx, 0) + np.maximum(idx - (n - 1 - nbl), 0)  # points into the layer
        ramp.append((depth / nbl) ** 2 / (nbl * h))  # (d/L)² / L
    # The layers overlap in the corners: add the two directions, as a PML does.
    shape_factor = ramp[0][:, None] + ramp[1][None, :]
    v = np.sqrt(1.0 / padded_m.astype(np.float64))
    sigma = 1.5 * v * np.log(1.0 / ABSORBING_REFLECTION) * shape_factor
    return (padded_m * sigma).astype(np.float32)


@dataclass(frozen=True)
class Discretization:
    """Numerical settings of one propagation: time axis and grid padding."""

    space_order: int
    nbl: int
    dt_ms: float
    nt: int  # number of computational time samples (data are nt x nrec)
    t0_ms: float = 0.0

    def __post_init__(self) -> None:
        second_derivative_weights(self.space_order)  # validates the order
        if self.nbl < 0:
            raise SeismicInputError(f"absorbing layer width must be >= 0, got {self.nbl}")
        if not (np.isfinite(self.dt_ms) and self.dt_ms > 0):  # before nt, which a bad dt makes meaningless
            raise SeismicInputError(f"dt must be a positive number of milliseconds, got {self.dt_ms}")
        if self.nt < 2:
            raise SeismicInputError(f"need at least 2 time samples, got {self.nt}")

    @property
    def times(self) -> np.ndarray:
        return self.t0_ms + self.dt_ms * np.arange(self.nt)
