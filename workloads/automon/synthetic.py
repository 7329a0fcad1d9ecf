"""Seeded synthetic event logs: the published inner-product and quadratic streams, and stand-ins.

``inner_product`` and ``quadratic`` are synthetic in the original too; these generators follow its
descriptions (same shapes and regimes) with numpy's seeded ``Generator``, so every process that builds
the log with the same seed gets the same bytes. ``kld`` and ``dnn`` use external data sets
(see :mod:`.datasets`); their stand-ins here only have the right shapes and types, for smoke runs and
tests, and are recorded as such in the results.
"""

from __future__ import annotations

import numpy as np

from .datasets import bin_pm
from .streams import EventLog, round_robin_owners

QUADRATIC_SPIKE_BLOCK = 40  # node 0: the first point of every second block of 40 points jumps to -10


def inner_product(num_nodes: int, rounds: int, d: int, seed: int) -> EventLog:
    """Points (x, y) with x ~ N(1, 0.01) and y chosen so <x, y> follows a 5-part target curve.

    The parts: a ramp 0 -> 1, a fast sine, a flat line with alternating +1 jumps, a slow sine and a ramp
    up by 1 (the original's regimes, which alternately stay inside and leave safe zones).
    """
    if d % 2:
        raise ValueError("inner product needs an even d")
    rng = np.random.default_rng(seed)
    n = num_nodes * rounds
    per_part = n // 5
    part1 = np.linspace(0, 1, per_part)
    part2 = np.sin(np.linspace(0, 10, per_part)) + part1[-1]
    part3 = np.full(per_part, part2[-1])
    part3[::2] += 1
    part4 = np.sin(np.linspace(0, 40, per_part)) + part3[-1]
    part5 = np.linspace(part4[-1], part4[-1] + 1, n - 4 * per_part)
    target = np.concatenate((part1, part2, part3, part4, part5))
    x = rng.normal(loc=1.0, scale=0.01, size=(n, d // 2))
    y = rng.normal(loc=(target / x.sum(axis=1))[:, None], scale=0.01, size=(n, d // 2))
    return EventLog(round_robin_owners(num_nodes, rounds), np.hstack((x, y)),
                    f"synthetic inner_product (seed {seed})")


def quadratic(num_nodes: int, rounds: int, d: int, seed: int) -> EventLog:
    """Points ~ N(0, 0.1); node 0's first point of every odd block of 40 rounds is ~ N(-10, 0.1)."""
    rng = np.random.default_rng(seed)
    points = rng.normal(loc=0.0, scale=0.1, size=(num_nodes * rounds, d))
    spike_rounds = np.arange(QUADRATIC_SPIKE_BLOCK, rounds, 2 * QUADRATIC_SPIKE_BLOCK)
    points[spike_rounds * num_nodes] += -10.0  # node 0 owns event r * num_nodes of round r
    return EventLog(round_robin_owners(num_nodes, rounds), points, f"synthetic quadratic (seed {seed})")


def kld_standin(num_nodes: int, rounds: int, bins: int, seed: int) -> EventLog:
    """Stand-in for the air-quality stations: per node a log-normal AR(1) PM series, binned like the real one."""
    rng = np.random.default_rng(seed)
    level = rng.normal(4.0, 0.3, size=num_nodes)
    log_pm = np.empty((rounds, num_nodes))
    state = level.copy()
    for r in range(rounds):
        state = level + 0.95 * (state - level) + rng.normal(0.0, 0.25, size=num_nodes)
        log_pm[r] = state
    pm10 = np.exp(log_pm)
    pm25 = pm10 * rng.uniform(0.4, 0.9, size=(rounds, num_nodes))
    points = np.stack((bin_pm(pm10.reshape(-1), bins), bin_pm(pm25.reshape(-1), bins)), axis=1).astype(np.float64)
    return EventLog(round_robin_owners(num_nodes, rounds), points, f"synthetic kld stand-in (seed {seed})")


def dnn_standin(num_nodes: int, samples: int, window: int, d: int, seed: int) -> EventLog:
    """Stand-in for the KDD stream: skewed random owners after an interleaved window-filling prefix,
    non-negative features normalized to unit L2 norm (as the original's Normalizer did)."""
    prefix = window * num_nodes
    if samples < prefix:
        raise ValueError(f"{samples} samples cannot fill {num_nodes} windows of {window}")
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 2.0, size=num_nodes)
    owners = np.concatenate((round_robin_owners(num_nodes, window),
                             rng.choice(num_nodes, size=samples - prefix, p=weights / weights.sum())))
    features = rng.gamma(shape=0.5, scale=1.0, size=(samples, d))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    return EventLog(owners, features, f"synthetic dnn stand-in (seed {seed})")
