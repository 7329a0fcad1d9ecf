"""The exact line search of LSRTM-SGD: the quadratic model of the batch misfit along -G predicts the misfit
that compute_gradient then measures at the new image, and the step descends."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from workloads.seismic import Preconditioning, Ricker, compute_gradient, surface_acquisition, synthetic_shot
from workloads.seismic.curvature import born_curvature
from workloads.seismic.preconditioning import DirectWaveMute

from .conftest import NBL, PEAK_HZ, RECORD_MS


@pytest.fixture(scope="module")
def two_shots(problem):
    src, rec = surface_acquisition(problem.true, src_x=250.0)
    second = synthetic_shot(problem.true, src, rec, record_ms=RECORD_MS, wavelet=Ricker(PEAK_HZ),
                            absorbing_layer=NBL, output_dt_ms=2.0)
    return [problem.shot, second]


@pytest.mark.parametrize("storage", ["full", "subsampled"])  # subsampled: G only approximates the gradient
def test_predicted_misfit_after_the_exact_step_is_the_recomputed_one(problem, two_shots, storage):
    model = problem.background
    opts = {"absorbing_layer": NBL, "space_order": 4, "aperture_buffer_m": 300.0,
            "preconditioning": Preconditioning(direct_wave_mute=DirectWaveMute())}
    x = 0.02 * gaussian_filter(np.random.default_rng(7).standard_normal(model.shape), 2.0).astype(np.float32)
    passes = [compute_gradient(model, shot, x, storage=storage, **opts) for shot in two_shots]
    if storage == "subsampled":
        assert all(p.details["plan"]["factor"] > 1 for p in passes)
    misfit = sum(p.misfit for p in passes)
    G = sum(p.gradient.astype(np.float64) for p in passes).astype(np.float32)
    terms = [born_curvature(model, shot, G, p.residual, **opts) for shot, p in zip(two_shots, passes, strict=True)]
    c1, c2 = sum(t[0] for t in terms), sum(t[1] for t in terms)
    assert c1 > 0 and c2 > 0
    step = c1 / c2  # step_length 1: the minimiser along -G
    predicted = misfit - step * c1 + 0.5 * step**2 * c2
    after = sum(compute_gradient(model, shot, x - np.float32(step) * G, storage=storage, **opts).misfit
                for shot in two_shots)
    assert after == pytest.approx(predicted, rel=1e-3)
    assert after < misfit
