"""Shared tiny problem for the seismic tests: 101 x 61 points at 10 m, 15 Hz, 0.5 s, 20-point absorbing layer
(built by workloads.seismic.verification, which the accuracy benchmark uses too)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from workloads.seismic.verification import (
    VERIFICATION_NBL,
    VERIFICATION_PEAK_HZ,
    VERIFICATION_RECORD_MS,
    Problem,
    verification_problem,
)

PEAK_HZ = VERIFICATION_PEAK_HZ
RECORD_MS = VERIFICATION_RECORD_MS
NBL = VERIFICATION_NBL
CPUS_AT_IMPORT = os.sched_getaffinity(0)  # before any kernel of ours has run in this process


@pytest.fixture(scope="package", autouse=True)
def _restore_cpu_affinity() -> Iterator[None]:
    """OpenMP pins this process's main thread to one core (OMP_PROC_BIND) when our kernels run here, and
    every process started afterwards would inherit that mask; give the rest of the test session the CPUs
    it had."""
    yield
    os.sched_setaffinity(0, CPUS_AT_IMPORT)


@pytest.fixture(scope="session")
def problem() -> Problem:
    """The problem the accuracy benchmark tabulates (workloads.seismic.verification)."""
    return verification_problem()
