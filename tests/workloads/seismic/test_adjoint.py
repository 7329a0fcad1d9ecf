"""Dot-product test: the adjoint Born operator is the transpose of the Born operator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from workloads.seismic import Discretization, ShotPropagator, plan_storage, stable_dt
from workloads.seismic.shot import time_axis

from .conftest import NBL


@pytest.mark.parametrize("imaging", ["xcorr", "isic"])
def test_born_and_adjoint_born_pass_the_dot_product_test(problem, imaging):
    model, shot = problem.background, problem.shot
    dt = stable_dt(model, 8)
    disc = Discretization(space_order=8, nbl=NBL, dt_ms=dt, nt=time_axis(0.0, shot.tn_ms, dt).size)
    prop = ShotPropagator(model, shot.src, shot.rec, disc, shot.wavelet, imaging=imaging)
    plan = plan_storage("full", padded_shape=prop.padded_shape, space_order=8, nt=disc.nt, dt_ms=dt,
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
