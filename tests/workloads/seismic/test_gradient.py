"""The LS-RTM objective and gradient of compute_gradient: Taylor test, Born around the image, options."""

from __future__ import annotations

import numpy as np
import pytest

from workloads.seismic import (
    Discretization,
    Model,
    Preconditioning,
    SeismicInputError,
    Shot,
    ShotPropagator,
    compute_gradient,
    plan_storage,
    water_mask,
)
from workloads.seismic.discretization import stability_limit_ms
from workloads.seismic.preconditioning import DirectWaveMute, depth_scaling
from workloads.seismic.verification import taylor_test
from workloads.seismic.wavelet import Ricker

from .conftest import NBL

OPTS = {"absorbing_layer": NBL}


@pytest.mark.slow
@pytest.mark.parametrize("space_order", [4, 8])  # 4: ISIC with order-2 first derivatives
def test_taylor_expansion_of_the_ls_objective_is_second_order(problem, space_order):
    """f(x + hδ) - f(x) - h<g, δ> shrinks 4x when h halves (with every preconditioner switched on)."""
    prec = Preconditioning(direct_wave_mute=DirectWaveMute())
    result = taylor_test(problem.background, problem.shot, space_order=space_order, nbl=NBL, preconditioning=prec)
    assert np.all((result.first_rates > 1.8) & (result.first_rates < 2.5)), result.first_rates
    assert np.all(np.abs(result.second_rates - 4.0) < 0.2), result.second_rates
    assert result.second[-1] < 0.1 * result.first[-1]


def test_first_iteration_misfit_and_born_around_the_image(problem):
    """misfit(0) = ½dt‖d‖²; misfit(x) = ½dt‖J x - d‖² with J x from an independent Born run (the
    published worker linearised around dm = 1 instead of the image)."""
    model, shot = problem.background, problem.shot
    rtm = compute_gradient(model, shot, storage="full", imaging="xcorr", **OPTS)
    dt = rtm.details["dt_ms"]
    observed = shot.resampled(dt)[: rtm.details["nt"]]
    assert rtm.misfit == pytest.approx(0.5 * dt * np.sum(observed.astype(np.float64) ** 2), rel=1e-6)

    x = -rtm.gradient / np.abs(rtm.gradient).max()
    result = compute_gradient(model, shot, x, storage="full", imaging="xcorr", **OPTS)
    disc = Discretization(space_order=8, nbl=NBL, dt_ms=dt, nt=rtm.details["nt"])
    prop = ShotPropagator(model, shot.src, shot.rec, disc, shot.wavelet, imaging="xcorr")
    predicted = prop.born(x)
    expected = 0.5 * dt * np.sum((predicted.astype(np.float64) - observed) ** 2)
    assert result.misfit == pytest.approx(expected, rel=1e-5)
    assert result.misfit < rtm.misfit  # a scaled RTM image already explains part of the data
    assert not np.allclose(result.gradient, rtm.gradient)


def test_model_preconditioning_is_applied_to_the_gradient(problem):
    model, shot = problem.background, problem.shot
    plain = compute_gradient(model, shot, storage="full", **OPTS).gradient
    prec = compute_gradient(model, shot, storage="full", preconditioning=Preconditioning(direct_wave_mute=None),
                            **OPTS).gradient
    water = water_mask(model)
    assert water[:, 0].all() and np.all(prec[water] == 0)
    expected = plain * depth_scaling(model) * (~water)
    np.testing.assert_allclose(prec, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_direct_wave_mute_weights(problem):
    shot = problem.shot
    times = np.arange(0.0, shot.tn_ms, 1.0)
    weights = DirectWaveMute(velocity_km_s=1.5, delay_ms=100.0, taper_ms=20.0).weights(shot, times)
    far = int(np.argmax(np.abs(shot.offsets)))
    onset = 100.0 + np.hypot(*(shot.rec[far] - shot.src)) / 1.5
    assert np.all(weights[times < onset, far] == 0)
    assert np.all(weights[times > onset + 20.0, far] == 1)
    assert 0 < weights[np.searchsorted(times, onset + 10.0), far] < 1


def test_aperture_restriction_zeroes_the_gradient_outside_the_window(problem):
    model, shot = problem.background, problem.shot
    near = np.abs(shot.offsets) <= 150.0
    narrow = Shot(src=shot.src, rec=shot.rec[near], data=shot.data[:, near], dt_ms=shot.dt_ms, wavelet=shot.wavelet)
    result = compute_gradient(model, narrow, aperture_buffer_m=100.0, storage="full", **OPTS)
    start, stop = result.details["window"]
    x = model.x
    assert x[start] <= narrow.x_range[0] - 100.0 + model.spacing[0] and x[stop - 1] >= narrow.x_range[1] + 100.0 - model.spacing[0]
    assert stop - start < model.shape[0]
    assert np.all(result.gradient[:start] == 0) and np.all(result.gradient[stop:] == 0)
    assert np.abs(result.gradient[start:stop]).max() > 0


def test_bad_inputs_are_rejected_before_propagation(problem):
    model, shot = problem.background, problem.shot
    outside = Shot(src=(5000.0, 10.0), rec=shot.rec, data=shot.data, dt_ms=shot.dt_ms)
    cases = [
        ((model, outside), {}, "outside the model"),
        ((model, shot, np.zeros((3, 3))), {}, "image shape"),
        ((model, shot, np.full(model.shape, np.nan)), {}, "NaN"),
        ((model, shot), {"storage": "tape"}, "storage must be one of"),
        ((model, shot), {"imaging": "rtm"}, "imaging must be one of"),
        ((model, shot), {"memory_budget_bytes": 1000}, r"budget 0\.000954 MiB is less than this process already holds"),
        ((model, shot), {"preconditioning": Preconditioning(water_mask=np.zeros((2, 2), bool))}, "water mask"),
        ((model, "shot.segy"), {}, "shot must be a Shot"),
        ((model, Shot(src=shot.src, rec=shot.rec, data=shot.data, dt_ms=shot.dt_ms, t0_ms=4.0)), {}, "t0_ms = 0"),
        ((model, shot), {"dt_ms": -1.0}, "dt must be a positive number of milliseconds, got -1.0"),
        ((model, shot), {"dt_ms": 2 * stability_limit_ms(model, 8)}, "exceeds the stability limit"),
        ((model, Shot(src=shot.src, rec=shot.rec, data=shot.data, dt_ms=shot.dt_ms, wavelet=Ricker(40.0))), {},
         r"1\.49 points per shortest wavelength .* need at least 2"),
        ((model, Shot(src=shot.src, rec=shot.rec, data=shot.data[:20], dt_ms=shot.dt_ms, wavelet=shot.wavelet)), {},
         "record length 38 ms is not longer than the wavelet's delay 66.6667 ms"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(SeismicInputError, match=message):
            compute_gradient(*args, **{**OPTS, **kwargs})


def test_plan_storage_for_a_real_grid_matches_what_runs(problem):
    result = compute_gradient(problem.background, problem.shot, **OPTS)  # auto, default budget
    assert result.storage == "subsampled"
    plan = result.details["plan"]
    again = plan_storage("auto", padded_shape=result.details["padded_shape"], space_order=8, nt=result.details["nt"],
                         dt_ms=result.details["dt_ms"], max_frequency_hz=problem.shot.wavelet.max_frequency_hz,
                         imaging="isic", budget_bytes=plan["budget_bytes"])
    assert again.as_dict() == plan
    assert isinstance(problem.background, Model) and result.gradient.shape == problem.background.shape
