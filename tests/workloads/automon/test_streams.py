"""Event logs, sliding windows and the seeded generators."""

from __future__ import annotations

import numpy as np
import pytest

from workloads.automon import synthetic
from workloads.automon.config import RunConfig
from workloads.automon.constants import NODE_TYPES
from workloads.automon.data import event_log, local_vectors
from workloads.automon.datasets import bin_pm
from workloads.automon.streams import (
    EventLog,
    node_local_vectors,
    round_robin_owners,
    updates_per_node,
    windows_full_index,
)


def _brute_force_means(log: EventLog, node: int, num_nodes: int, window: int) -> list[np.ndarray]:
    full = windows_full_index(log.owners, num_nodes, window)
    own = [i for i in range(len(log.owners)) if log.owners[i] == node]
    first = [i for i in own if i <= full]
    out = [log.points[first[-window:]].mean(axis=0)]
    seen = list(first)
    for i in own:
        if i > full:
            seen.append(i)
            out.append(log.points[seen[-window:]].mean(axis=0))
    return out


def test_window_means_match_a_brute_force_mean():
    rng = np.random.default_rng(0)
    owners = rng.integers(0, 3, size=120)
    log = EventLog(owners, rng.normal(size=(120, 4)), "test")
    for node in range(3):
        got = list(node_local_vectors(log, node, 3, 7, 4, "window_mean"))
        want = _brute_force_means(log, node, 3, 7)
        assert len(got) == len(want) == updates_per_node(log, 3, 7)[node]
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=0, atol=1e-12)


def test_single_sample_rounds_tick_for_every_node():
    owners = np.array([0, 1, 0, 1, 1, 0, 1])
    log = EventLog(owners, np.arange(7.0)[:, None], "test")
    steps = list(node_local_vectors(log, 0, 2, 2, 1, "window_mean", single_sample_per_round=True))
    # windows full after event 3; then events 4 (node 1), 5 (node 0), 6 (node 1)
    assert [None if s is None else float(s[0]) for s in steps] == [1.0, None, 3.5, None]


def test_histogram_vectors_count_the_window():
    points = np.array([[0, 1], [1, 1], [2, 0], [0, 0]], dtype=float)
    log = EventLog(np.zeros(4, dtype=int), points, "test")
    vectors = list(node_local_vectors(log, 0, 1, 2, 6, "window_histograms"))
    np.testing.assert_array_equal(vectors[0], [0.5, 0.5, 0, 0, 1.0, 0])  # points 0, 1
    np.testing.assert_array_equal(vectors[-1], [0.5, 0, 0.5, 1.0, 0, 0])  # points 2, 3
    assert all(v.sum() == pytest.approx(2.0) for v in vectors)


def test_a_window_that_never_fills_is_an_error():
    log = EventLog(np.array([0, 0, 1]), np.zeros((3, 1)), "test")
    with pytest.raises(ValueError, match="node 1"):
        list(node_local_vectors(log, 0, 2, 2, 1, "window_mean"))


def test_round_robin_updates_per_node():
    log = EventLog(round_robin_owners(4, 30), np.zeros((120, 1)), "test")
    assert updates_per_node(log, 4, 5) == [26] * 4  # 30 rounds - 5 filling + 1 when full


@pytest.mark.parametrize("name", list(NODE_TYPES))
def test_streams_are_seeded_and_shaped(name):
    cfg = RunConfig.for_type(name, num_nodes=3, iterations=120, window=10, synthetic=True)
    a, b = event_log(cfg), event_log(cfg)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.owners, b.owners)
    other = event_log(cfg.with_overrides(seed=cfg.seed + 1))
    assert not np.array_equal(a.points, other.points)
    first = next(iter(local_vectors(cfg, a, 0)))
    assert first.shape == (cfg.d,) and np.all(np.isfinite(first))


def test_inner_product_stream_follows_its_target_curve():
    log = synthetic.inner_product(num_nodes=2, rounds=500, d=8, seed=1)
    x, y = log.points[:, :4], log.points[:, 4:]
    products = np.sum(x * y, axis=1)
    assert products[0] == pytest.approx(0.0, abs=0.1)  # part 1 ramps from 0 ...
    assert products[199] == pytest.approx(1.0, abs=0.1)  # ... to 1 over the first fifth
    assert np.all(np.abs(x - 1) < 0.1)


def test_quadratic_spikes_only_node_zero_every_other_block():
    log = synthetic.quadratic(num_nodes=3, rounds=200, d=2, seed=1)
    far = np.flatnonzero(np.abs(log.points[:, 0]) > 5)
    assert list(log.owners[far]) == [0, 0]
    assert list(far // 3) == [40, 120]


def test_pm_binning_uses_the_original_edges():
    # 10 bins over [0, 500]: 9 edges 55.6 apart, so the last bin stays empty
    assert bin_pm(np.array([-5.0, 0.0, 55.0, 56.0, 444.0, 445.0, 900.0]), 10).tolist() == [0, 0, 0, 1, 7, 8, 8]
