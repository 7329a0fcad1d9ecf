"""Shared tiny problem for the seismic tests: 101 x 61 points at 10 m, 15 Hz, 0.5 s, 20-point absorbing layer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from workloads.seismic import Model, Ricker, Shot, smooth_model, synthetic_model

SHAPE = (101, 61)
SPACING = (10.0, 10.0)
PEAK_HZ = 15.0
RECORD_MS = 500.0
NBL = 20
CPUS_AT_IMPORT = os.sched_getaffinity(0)  # before any kernel of ours has run in this process


@dataclass(frozen=True)
class Problem:
    true: Model
    background: Model
    shot: Shot  # observed in the true model, stored at 2 ms like field data


@pytest.fixture(scope="package", autouse=True)
def _restore_cpu_affinity() -> Iterator[None]:
    """OpenMP pins this process's main thread to one core (OMP_PROC_BIND) when our kernels run here, and
    every process started afterwards would inherit that mask; give the rest of the test session the CPUs
    it had."""
    yield
    os.sched_setaffinity(0, CPUS_AT_IMPORT)


@pytest.fixture(scope="session")
def problem() -> Problem:
    from workloads.seismic import surface_acquisition, synthetic_shot

    true = synthetic_model(SHAPE, SPACING, seed=1)
    background = smooth_model(true, sigma_m=60.0)
    src, rec = surface_acquisition(true, src_x=480.0)
    shot = synthetic_shot(true, src, rec, record_ms=RECORD_MS, wavelet=Ricker(PEAK_HZ), absorbing_layer=NBL,
                          output_dt_ms=2.0)
    return Problem(true=true, background=background, shot=shot)
