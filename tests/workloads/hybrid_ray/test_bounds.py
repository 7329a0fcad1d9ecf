"""The fluid-model bounds the benchmark reports next to its measured speed-ups."""

import pytest

from workloads.hybrid_ray.bounds import best_makespan_s, default_makespan_s, speedup_ceiling


def test_a_free_link_halves_the_work_and_a_dead_link_keeps_it_home():
    # x = 0: two equal nodes share 24 jobs of 1 s
    assert best_makespan_s(24, 1.0, 0.0) == pytest.approx(12.0)
    assert default_makespan_s(24, 1.0, 0.0) == pytest.approx(12.0)
    # a link 100x slower than compute: both end up with (nearly) all work on the HPC node
    assert best_makespan_s(24, 1.0, 100.0) == pytest.approx(24.0, rel=0.01)
    assert speedup_ceiling(24, 1.0, 100.0) == pytest.approx(1.0, abs=0.01)


def test_the_benchmark_sizes_leave_little_room_at_30_mbit():
    # 6.87 MB images, about 0.5 s of computation each: 1.83 s over 30 Mbit/s, 0.55 s over 100 Mbit/s
    at_30 = speedup_ceiling(24, 0.5, 6.87e6 * 8 / 30e6)
    at_100 = speedup_ceiling(24, 0.5, 6.87e6 * 8 / 100e6)
    assert 1.0 < at_30 < 1.1 < at_100 < 1.3


@pytest.mark.parametrize(("c", "x", "n", "makespan"), [(1.0, 2.0, 11, 8.0), (1.0, 0.5, 15, 8.0)])
def test_the_lower_bound_never_exceeds_an_explicit_schedule(c, x, n, makespan):
    # c=1, x=2: the HPC node runs 8 jobs by 8 s; the cloud receives at 2, 4, 6 and computes the last by 7.
    # c=1, x=0.5: the HPC node runs 8 jobs; the cloud's first arrives at 0.5, then 7 jobs end at 7.5.
    assert best_makespan_s(n, c, x) <= makespan


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        best_makespan_s(0, 1.0, 1.0)
    with pytest.raises(ValueError):
        speedup_ceiling(3, 0.0, 1.0)
