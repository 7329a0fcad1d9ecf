"""Subsampled and checkpointed gradients against full storage, and ours against Devito's reference."""

from __future__ import annotations

import numpy as np
import pytest

from workloads.seismic import compute_gradient

from .conftest import NBL


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def full_isic(problem):
    return compute_gradient(problem.background, problem.shot, storage="full", absorbing_layer=NBL)


def test_subsampled_gradient_matches_full_storage(problem, full_isic):
    sub = compute_gradient(problem.background, problem.shot, storage="subsampled", absorbing_layer=NBL)
    assert sub.storage == "subsampled" and sub.details["plan"]["factor"] >= 5
    assert sub.details["plan"]["n_snapshots"] < full_isic.details["plan"]["n_snapshots"] / 4
    assert corr(sub.gradient, full_isic.gradient) >= 0.98
    assert sub.misfit == pytest.approx(full_isic.misfit)


def test_checkpointed_gradient_matches_full_storage(problem, full_isic):
    nxp, nzp = full_isic.details["padded_shape"]
    checkpoint_bytes = 2 * (nxp + 16) * (nzp + 16) * 4  # two time levels of u with its order-8 halo
    budget = full_isic.details["plan"]["working_bytes"] + 10 * checkpoint_bytes  # room for 10 checkpoints
    ckp = compute_gradient(problem.background, problem.shot, storage="auto", memory_budget_bytes=budget,
                           absorbing_layer=NBL, subsampling_factor=1)
    assert ckp.storage == "checkpointing"
    stats = ckp.details["checkpointing"]
    n_steps = full_isic.details["nt"] + 1
    assert stats["n_checkpoints"] == 10
    assert stats["forward_steps"] > n_steps  # some of the forward sweep was recomputed
    assert corr(ckp.gradient, full_isic.gradient) >= 0.999
    np.testing.assert_allclose(ckp.gradient, full_isic.gradient, rtol=0, atol=1e-5 * np.abs(full_isic.gradient).max())


@pytest.mark.slow
def test_gradient_agrees_with_devitos_reference_solver(problem):
    from workloads.seismic.reference import reference_rtm_gradient

    ours = compute_gradient(problem.background, problem.shot, storage="full", imaging="xcorr",
                            aperture_buffer_m=None, absorbing_layer=NBL)
    ref, _ = reference_rtm_gradient(problem.background, problem.shot, dt_ms=ours.details["dt_ms"],
                                    absorbing_layer=NBL)
    assert np.abs(ref).max() > 0
    assert corr(ours.gradient, ref) >= 0.99
