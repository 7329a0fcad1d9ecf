from __future__ import annotations

import pytest

from workloads.seismic import SeismicInputError, plan_storage
from workloads.seismic.discretization import nyquist_subsampling_factor

GIB = 2**30
COMMON = {"padded_shape": (1281, 481), "space_order": 8, "nt": 2000, "dt_ms": 1.5, "imaging": "xcorr"}


def test_nyquist_factor():
    assert nyquist_subsampling_factor(1.5, 25.0) == 13  # 20 ms / 1.5 ms
    assert nyquist_subsampling_factor(1.0, 50.0) == 10
    assert nyquist_subsampling_factor(5.0, 200.0) == 1  # never below one step


def test_auto_prefers_subsampling_when_it_fits():
    plan = plan_storage("auto", max_frequency_hz=25.0, budget_bytes=4 * GIB, **COMMON)
    assert (plan.mode, plan.factor, plan.n_snapshots) == ("subsampled", 13, 2000 // 13 + 1)
    assert plan.estimated_bytes <= 4 * GIB


def test_auto_falls_back_to_full_then_checkpointing():
    # Source band so high that no subsampling is safe: full storage if it fits ...
    plan = plan_storage("auto", max_frequency_hz=400.0, budget_bytes=8 * GIB, **COMMON)
    assert (plan.mode, plan.factor) == ("full", 1)
    # ... and checkpointing with as many checkpoints as the budget holds when it does not.
    plan = plan_storage("auto", max_frequency_hz=400.0, budget_bytes=GIB // 4, **COMMON)
    assert plan.mode == "checkpointing"
    assert 1 <= plan.n_snapshots < 2001
    assert plan.estimated_bytes <= GIB // 4 < plan.estimated_bytes + plan.snapshot_bytes


def test_explicit_modes_and_errors():
    plan = plan_storage("subsampled", max_frequency_hz=25.0, budget_bytes=GIB, subsampling_factor=20, **COMMON)
    assert (plan.mode, plan.factor) == ("subsampled", 20)
    with pytest.raises(SeismicInputError, match="storage='full' needs about"):
        plan_storage("full", max_frequency_hz=25.0, budget_bytes=GIB, **COMMON)
    with pytest.raises(SeismicInputError, match="too small"):
        plan_storage("auto", max_frequency_hz=25.0, budget_bytes=2**20, **COMMON)
    with pytest.raises(SeismicInputError, match="storage must be one of"):
        plan_storage("disk", max_frequency_hz=25.0, budget_bytes=GIB, **COMMON)


def test_estimates_are_per_rank():
    one = plan_storage("full", max_frequency_hz=25.0, budget_bytes=64 * GIB, **COMMON)
    two = plan_storage("full", max_frequency_hz=25.0, budget_bytes=64 * GIB, n_ranks=2, **COMMON)
    assert abs(two.estimated_bytes * 2 - one.estimated_bytes) <= 16
