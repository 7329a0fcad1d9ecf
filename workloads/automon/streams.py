"""Data streams: the global event log of an experiment and each node's sliding-window local vector.

An :class:`EventLog` is the experiment's data in arrival order: event ``i`` gives data point
``points[i]`` to node ``owners[i]``. Every node reads the whole log (as in the original, which baked the
data into the image) and keeps its own window. Nothing is reported until every node's window is full;
from then on each of a node's events yields its new local vector. With ``single_sample_per_round``
(DNN) every event is a round for every node, so events of other nodes yield ``None`` ticks, which
keep the nodes' clocks in step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

VectorKind = Literal["window_mean", "window_histograms"]


@dataclass(frozen=True)
class EventLog:
    owners: np.ndarray  # (S,) int: the node that receives event i
    points: np.ndarray  # (S, p) float: the data point of event i
    source: str  # where the data came from, recorded in the results

    def __post_init__(self) -> None:
        if self.owners.ndim != 1 or self.points.ndim != 2 or len(self.owners) != len(self.points):
            raise ValueError(f"event log shapes disagree: owners {self.owners.shape}, points {self.points.shape}")


def round_robin_owners(num_nodes: int, rounds: int) -> np.ndarray:
    """Owners of ``rounds`` rounds in which every node receives one point, in node order."""
    return np.tile(np.arange(num_nodes), rounds)


def windows_full_index(owners: np.ndarray, num_nodes: int, window: int) -> int:
    """Index of the event after which every node's window holds ``window`` points."""
    last = -1
    for node in range(num_nodes):
        positions = np.flatnonzero(owners == node)
        if len(positions) < window:
            raise ValueError(f"node {node} receives {len(positions)} points, fewer than its window of {window}")
        last = max(last, int(positions[window - 1]))
    return last


class _WindowMean:
    """Mean of the last ``window`` points."""

    def __init__(self, window: int, point_len: int) -> None:
        self._buf = np.zeros((window, point_len))
        self._n = 0

    def push(self, point: np.ndarray) -> None:
        self._buf[self._n % len(self._buf)] = point
        self._n += 1

    def vector(self) -> np.ndarray:
        filled = self._buf if self._n >= len(self._buf) else self._buf[: self._n]
        return filled.mean(axis=0)


class _WindowHistograms:
    """Two concatenated frequency vectors (P from column 0, Q from column 1) over the last points."""

    def __init__(self, window: int, bins: int) -> None:
        self._bins = bins
        self._ring = np.zeros((window, 2), dtype=np.int64)
        self._counts = np.zeros(2 * bins)
        self._n = 0

    def push(self, point: np.ndarray) -> None:
        p, q = int(point[0]), int(point[1])
        if not (0 <= p < self._bins and 0 <= q < self._bins):
            raise ValueError(f"bin indices {p}, {q} outside [0, {self._bins})")
        slot = self._n % len(self._ring)
        if self._n >= len(self._ring):
            old_p, old_q = self._ring[slot]
            self._counts[old_p] -= 1
            self._counts[self._bins + old_q] -= 1
        self._ring[slot] = (p, q)
        self._counts[p] += 1
        self._counts[self._bins + q] += 1
        self._n += 1

    def vector(self) -> np.ndarray:
        return self._counts / min(self._n, len(self._ring))


def _accumulator(kind: VectorKind, window: int, d: int, point_len: int) -> _WindowMean | _WindowHistograms:
    if kind == "window_mean":
        if point_len != d:
            raise ValueError(f"data points of length {point_len} cannot average into local vectors of length {d}")
        return _WindowMean(window, d)
    if point_len != 2 or d % 2:
        raise ValueError("histogram vectors need 2-column points and an even d")
    return _WindowHistograms(window, d // 2)


def node_local_vectors(log: EventLog, node_idx: int, num_nodes: int, window: int, d: int,
                       kind: VectorKind, single_sample_per_round: bool = False) -> Iterator[np.ndarray | None]:
    """Node ``node_idx``'s local vectors: the first when all windows are full, then one per own event.

    Yields ``None`` for rounds that belong to other nodes when ``single_sample_per_round`` is set.
    """
    if not 0 <= node_idx < num_nodes:
        raise ValueError(f"node index {node_idx} outside [0, {num_nodes})")
    full = windows_full_index(log.owners, num_nodes, window)
    acc = _accumulator(kind, window, d, log.points.shape[1])
    for i in range(full + 1):
        if log.owners[i] == node_idx:
            acc.push(log.points[i])
    yield acc.vector()
    for i in range(full + 1, len(log.owners)):
        if log.owners[i] == node_idx:
            acc.push(log.points[i])
            yield acc.vector()
        elif single_sample_per_round:
            yield None


def updates_per_node(log: EventLog, num_nodes: int, window: int) -> list[int]:
    """How many local vectors each node reports: 1 when the windows fill, then one per own event."""
    full = windows_full_index(log.owners, num_nodes, window)
    tail = log.owners[full + 1:]
    return [1 + int(np.count_nonzero(tail == n)) for n in range(num_nodes)]
