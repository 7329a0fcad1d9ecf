"""The resilience model: hand-worked schedules, and the published factors within the model's noise."""

from __future__ import annotations

import pytest

from reproduce.published import load
from reproduce.resilience import makespan, resilience_curve

PUB = load().resilience
SERIES = {"restart_60s": (True, 60.0), "restart_120s": (True, 120.0), "no_restart": (False, 0.0)}


def test_no_failures_ends_with_the_longest_job():
    assert makespan([100, 200, 300], [None, None, None], restart=True) == 300
    assert makespan([100, 200, 300], [None, None, None], restart=False) == 300


def test_restart_reruns_the_job_after_the_penalty():
    # instance 2 dies at 250 s: a new one is ready at 250 + 60 and needs the whole 300 s again
    assert makespan([100, 200, 300], [None, None, 250], restart=True, penalty_s=60) == 250 + 60 + 300


def test_without_restart_the_least_loaded_survivor_takes_the_lost_work():
    # instance 2 dies at 250 s; the survivor free first (100 s) starts the 300 s job at 250 s
    assert makespan([100, 200, 300], [None, None, 250], restart=False) == 250 + 300
    # a failure of a finished instance costs nothing
    assert makespan([100, 200, 300], [150, None, None], restart=False) == 300
    assert makespan([100, 200, 300], [150, None, None], restart=True) == 300


def test_work_moved_twice_when_the_receiver_fails_too():
    # 2 dies at 50: its 300 s go to instance 0 (free at 100) -> 400; 0 dies at 120 with 400 s of work,
    # which moves to instance 1 (free at 200) -> 600
    assert makespan([100, 200, 300], [120, None, 50], restart=False) == 600


@pytest.mark.parametrize("case", ["memory", "checkpointing"])
@pytest.mark.parametrize("series", list(SERIES))
def test_published_factors_within_the_model_noise(case, series):
    restart, penalty = SERIES[series]
    curve = resilience_curve(PUB.mean_runtime_s[case], PUB.failure_fraction, restart=restart, penalty_s=penalty,
                             shots=PUB.shots, repeats=20, seed=0)
    for published, mean, std in zip(PUB.factors[case][series], curve.mean, curve.std, strict=True):
        low, high = published if isinstance(published, tuple) else (published, published)
        distance = max(low - mean, mean - high, 0.0)
        assert distance <= 2 * std, f"{case} {series}: model {mean:.3f} +- {std:.3f}, published {published}"


def test_restarts_keep_the_factor_flat_and_no_restart_degrades():
    fractions = [0.1, 0.5]
    restart = resilience_curve(296, fractions, restart=True, penalty_s=60, repeats=10)
    no_restart = resilience_curve(296, fractions, restart=False, repeats=10)
    assert restart.mean[0] - restart.mean[1] < 0.08
    assert no_restart.mean[0] - no_restart.mean[1] > 0.2
    # any failure roughly doubles the critical path
    assert 0.4 < restart.mean[1] < 0.6


def test_a_longer_penalty_costs_more_for_short_jobs():
    short = resilience_curve(296, [0.24], restart=True, penalty_s=60, seed=3).mean[0]
    long = resilience_curve(296, [0.24], restart=True, penalty_s=120, seed=3).mean[0]
    assert long < short


def test_rejects_bad_parameters():
    with pytest.raises(ValueError):
        resilience_curve(296, [1.0], restart=True)
    with pytest.raises(ValueError):
        resilience_curve(296, [0.1], restart=True, penalty_s=-1)
