"""Correctness checks of Born, adjoint Born and the LS-RTM gradient, as numbers rather than assertions.

The tests (tests/workloads/seismic) assert on these numbers for a few settings; the accuracy benchmark
(benchmarks/seismic_accuracy.py) tabulates them over every space order, two time steps and noisy data.
One implementation, so what the table shows is what the tests check.

- ``dot_test``: ``<J dm, y>`` against ``<dm, J' y>`` (Born against adjoint Born, full storage).
- ``taylor_test``: for ``f(x) = ½ dt ‖J x - d‖²`` and its gradient ``g``, ``|f(x + hδ) - f(x)|`` shrinks
  like ``h`` and ``|f(x + hδ) - f(x) - h<g, δ>|`` like ``h²``: error ratios ~2 and ~4 when ``h`` halves.
- ``subsampled_vs_full``: relative difference of the subsampled-storage gradient from full storage.
- ``verification_problem``: the small problem both use (101 x 61 points at 10 m, 15 Hz, 0.5 s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from .discretization import Discretization, stable_dt
from .model import Model
from .preconditioning import Preconditioning
from .shot import Shot, time_axis
from .storage import plan_storage
from .synthetic import smooth_model, synthetic_model
from .wavelet import Ricker

__all__ = ["Problem", "DotTest", "TaylorTest", "verification_problem", "smooth_random", "with_white_noise",
           "dot_test", "taylor_test", "subsampled_vs_full"]

VERIFICATION_NBL = 20  # absorbing layer of the small problem (points)
VERIFICATION_PEAK_HZ = 15.0  # its Ricker wavelet
VERIFICATION_RECORD_MS = 500.0  # its record length


@dataclass(frozen=True)
class Problem:
    true: Model
    background: Model
    shot: Shot  # observed in the true model, stored at 2 ms like field data


def verification_problem() -> Problem:
    """101 x 61 points at 10 m, one shot at x = 480 m, 15 Hz Ricker, 0.5 s record: seconds per gradient."""
    from .modelling import surface_acquisition, synthetic_shot

    true = synthetic_model((101, 61), (10.0, 10.0), seed=1)
    background = smooth_model(true, sigma_m=60.0)
    src, rec = surface_acquisition(true, src_x=480.0)
    shot = synthetic_shot(true, src, rec, record_ms=VERIFICATION_RECORD_MS, wavelet=Ricker(VERIFICATION_PEAK_HZ),
                          absorbing_layer=VERIFICATION_NBL, output_dt_ms=2.0)
    return Problem(true=true, background=background, shot=shot)


def smooth_random(shape: tuple[int, ...], seed: int, sigma: float = 2.0) -> np.ndarray:
    """A smooth random field (a model perturbation the grid resolves)."""
    return gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma).astype(np.float32)


def with_white_noise(shot: Shot, fraction: float, seed: int = 3) -> Shot:
    """The shot plus Gaussian white noise whose RMS is ``fraction`` times the data's (1.0: 100 % noise)."""
    rng = np.random.default_rng(seed)
    noise = fraction * np.sqrt(np.mean(shot.data.astype(np.float64) ** 2)) * rng.standard_normal(shot.data.shape)
    return shot.with_data((shot.data + noise).astype(np.float32))


@dataclass(frozen=True)
class DotTest:
    lhs: float  # <J dm, y>
    rhs: float  # <dm, J' y>
    born_max: float  # max |J dm| and max |J' y|: a test on zero arrays would pass trivially
    adjoint_max: float

    @property
    def relative_error(self) -> float:
        return abs(self.lhs - self.rhs) / abs(self.lhs)


def dot_test(model: Model, shot: Shot, *, imaging: str, space_order: int, nbl: int, dt_ms: float | None = None,
             data: str = "random", seed: int = 7) -> DotTest:
    """Born against adjoint Born for a smooth random ``dm``. ``y`` is ``data="random"`` (standard normal)
    or ``"shot"``: the shot's traces resampled to the step, so clean or noisy data are what is tested.
    ``dt_ms``: the step (default the stable step of ``model`` at this order)."""
    from .propagation import ShotPropagator

    dt = stable_dt(model, space_order) if dt_ms is None else float(dt_ms)
    disc = Discretization(space_order=space_order, nbl=nbl, dt_ms=dt, nt=time_axis(0.0, shot.tn_ms, dt).size)
    prop = ShotPropagator(model, shot.src, shot.rec, disc, shot.wavelet, imaging=imaging)
    plan = plan_storage("full", padded_shape=prop.padded_shape, space_order=space_order, nt=disc.nt, dt_ms=dt,
                        max_frequency_hz=shot.wavelet.max_frequency_hz, imaging=imaging)
    rng = np.random.default_rng(seed)
    dm = gaussian_filter(rng.standard_normal(model.shape), 1.0).astype(np.float32)
    if data == "random":
        y = rng.standard_normal((disc.nt, shot.nrec)).astype(np.float32)
    elif data == "shot":
        y = shot.resampled(dt)[: disc.nt].astype(np.float32)
    else:
        raise ValueError(f"data must be 'random' or 'shot', got {data!r}")
    jdm = prop.born(dm, plan)
    jty = prop.adjoint(y, plan)
    return DotTest(lhs=float(np.dot(jdm.ravel().astype(np.float64), y.ravel())),
                   rhs=float(np.dot(dm.ravel().astype(np.float64), jty.ravel())),
                   born_max=float(np.abs(jdm).max()), adjoint_max=float(np.abs(jty).max()))


@dataclass(frozen=True)
class TaylorTest:
    steps: tuple[float, ...]
    first: tuple[float, ...]  # |f(x + hδ) - f(x)| per step
    second: tuple[float, ...]  # |f(x + hδ) - f(x) - h<g, δ>| per step
    dt_ms: float

    @property
    def first_rates(self) -> np.ndarray:
        """Error ratio between successive steps (2 for a first-order error when h halves)."""
        return np.array(self.first[:-1]) / np.array(self.first[1:])

    @property
    def second_rates(self) -> np.ndarray:
        """Error ratio between successive steps (4 for a second-order error when h halves)."""
        return np.array(self.second[:-1]) / np.array(self.second[1:])


def taylor_test(model: Model, shot: Shot, *, space_order: int, nbl: int, imaging: str = "isic",
                dt_ms: float | None = None, preconditioning: Preconditioning | None = None,
                steps: tuple[float, ...] = (0.1, 0.05, 0.025)) -> TaylorTest:
    """Taylor test of ``compute_gradient`` (full storage) around a smooth random image ``x``.

    ``δ`` is scaled so the first-order change at ``h = 1`` is a tenth of the misfit: large against float32
    rounding, while the default steps keep the first-order term dominant. ``dt_ms``: the step (default
    the stable step ``compute_gradient`` picks)."""
    from .gradient import compute_gradient

    kwargs = {"storage": "full", "preconditioning": preconditioning, "space_order": space_order,
              "imaging": imaging, "absorbing_layer": nbl, "dt_ms": dt_ms}
    x0 = 0.05 * smooth_random(model.shape, 5)  # any image: the objective is quadratic in it
    base = compute_gradient(model, shot, x0, **kwargs)
    delta = smooth_random(model.shape, 3)
    slope = float(np.dot(base.gradient.ravel().astype(np.float64), delta.ravel()))
    scale = 0.1 * base.misfit / abs(slope)
    delta, slope = delta * scale, slope * scale
    first, second = [], []
    for h in steps:
        f = compute_gradient(model, shot, x0 + h * delta, **kwargs).misfit
        first.append(abs(f - base.misfit))
        second.append(abs(f - base.misfit - h * slope))
    return TaylorTest(steps=tuple(steps), first=tuple(first), second=tuple(second), dt_ms=base.details["dt_ms"])


def subsampled_vs_full(model: Model, shot: Shot, *, space_order: int, nbl: int, imaging: str = "isic",
                       dt_ms: float | None = None) -> tuple[float, int]:
    """``‖g_sub - g_full‖ / ‖g_full‖`` of the first-iteration gradient, and the subsampling factor used."""
    from .gradient import compute_gradient

    kwargs = {"space_order": space_order, "imaging": imaging, "absorbing_layer": nbl, "dt_ms": dt_ms}
    full = compute_gradient(model, shot, storage="full", **kwargs)
    sub = compute_gradient(model, shot, storage="subsampled", **kwargs)
    diff = np.linalg.norm(sub.gradient.astype(np.float64) - full.gradient) / np.linalg.norm(full.gradient)
    return float(diff), int(sub.details["plan"]["factor"])
