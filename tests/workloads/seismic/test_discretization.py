from __future__ import annotations

import numpy as np
import pytest

from workloads.seismic import Discretization, Model, Ricker, SeismicInputError, ShotPropagator, stable_dt
from workloads.seismic.discretization import damping_profile, pad_edge, second_derivative_weights


@pytest.mark.parametrize(("order", "expected"), [(2, [-2, 1]), (4, [-5 / 2, 4 / 3, -1 / 12])])
def test_second_derivative_weights_known_values(order, expected):
    np.testing.assert_allclose(second_derivative_weights(order), expected)


@pytest.mark.parametrize("order", [2, 4, 8, 12])
def test_second_derivative_weights_are_exact_on_polynomials(order):
    c = second_derivative_weights(order)
    k = np.arange(1, c.size)
    assert np.isclose(c[0] + 2 * c[1:].sum(), 0.0)  # constants
    assert np.isclose(2 * (c[1:] * k**2).sum(), 2.0)  # second derivative of x² is 2
    with pytest.raises(SeismicInputError):
        second_derivative_weights(order + 1)


def test_stable_dt_scales_with_spacing_over_velocity():
    base = stable_dt(Model.from_velocity(np.full((10, 10), 2.0), spacing=(10, 10)), 8)
    assert stable_dt(Model.from_velocity(np.full((10, 10), 4.0), spacing=(10, 10)), 8) == pytest.approx(base / 2, rel=2e-2)
    assert stable_dt(Model.from_velocity(np.full((10, 10), 2.0), spacing=(20, 20)), 8) == pytest.approx(base * 2, rel=2e-2)


def test_damping_is_zero_inside_and_grows_outward():
    m = pad_edge(np.full((20, 10), 0.25, dtype=np.float32), 5)
    eta = damping_profile(m, 5, (10.0, 10.0))
    assert np.all(eta[5:-5, 5:-5] == 0)
    assert np.all(np.diff(eta[:6, 12]) < 0) and eta[0, 0] > eta[0, 12] > 0


def _max_amplitude(model: Model, dt: float, nt: int) -> float:
    disc = Discretization(space_order=8, nbl=10, dt_ms=dt, nt=nt)
    src, rec = np.array([200.0, 200.0]), np.array([[100.0, 100.0], [300.0, 300.0]])
    data = ShotPropagator(model, src, rec, disc, Ricker(15.0)).forward()
    return float(np.nanmax(np.abs(data))) if np.all(np.isfinite(data)) else np.inf


def test_the_time_step_limit_is_the_stability_limit():
    """10 % below the computed limit the scheme is stable; 10 % above it blows up."""
    model = Model.from_velocity(np.full((41, 41), 3.0), spacing=(10, 10))
    limit = stable_dt(model, 8, courant_fraction=1.0)
    assert _max_amplitude(model, 0.9 * limit, 300) < 10.0
    assert _max_amplitude(model, 1.1 * limit, 300) > 1e6
