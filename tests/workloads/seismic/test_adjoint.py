"""Dot-product test: the adjoint Born operator is the transpose of the Born operator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from workloads.seismic import Discretization, ShotPropagator, plan_storage, stable_dt
from workloads.seismic.shot import time_axis

from .conftest import NBL

# ISIC's first derivatives change stencil with the order (order 2 below space order 8): every order the
# input accepts is checked. Cross-correlation has no first derivatives; two orders suffice.
ORDERS = [("isic", so) for so in (2, 4, 6, 8, 12, 16)] + [("xcorr", 4), ("xcorr", 8)]


@pytest.mark.parametrize(("imaging", "space_order"), ORDERS, ids=[f"{i}-so{so}" for i, so in ORDERS])
def test_born_and_adjoint_born_pass_the_dot_product_test(problem, imaging, space_order):
    model, shot = problem.background, problem.shot
    dt = stable_dt(model, space_order)
    disc = Discretization(space_order=space_order, nbl=NBL, dt_ms=dt, nt=time_axis(0.0, shot.tn_ms, dt).size)
    prop = ShotPropagator(model, shot.src, shot.rec, disc, shot.wavelet, imaging=imaging)
    plan = plan_storage("full", padded_shape=prop.padded_shape, space_order=space_order, nt=disc.nt, dt_ms=dt,
                        max_frequency_hz=shot.wavelet.max_frequency_hz, imaging=imaging)
    rng = np.random.default_rng(7)
    dm = gaussian_filter(rng.standard_normal(model.shape), 1.0).astype(np.float32)
    y = rng.standard_normal((disc.nt, shot.nrec)).astype(np.float32)

    jdm = prop.born(dm, plan)
    jty = prop.adjoint(y, plan)
    lhs = float(np.dot(jdm.ravel().astype(np.float64), y.ravel()))
    rhs = float(np.dot(dm.ravel().astype(np.float64), jty.ravel()))
    assert abs(jdm).max() > 0 and abs(jty).max() > 0
    assert abs(lhs - rhs) / abs(lhs) < 1e-4, (lhs, rhs)
