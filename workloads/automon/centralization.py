"""The centralization baseline: every node sends every local vector; the coordinator computes f itself.

Transport-agnostic cores (bytes in, bytes out); :mod:`.coordinator` and :mod:`.node` move the bytes.
The coordinator keeps the latest local vector of each node and, once every node has reported,
evaluates f at their mean (the global vector) after every update.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from .functions import MonitoredFunction
from .protocol import CentralizationUpdate, ProtocolError, decode_centralization_update, encode


class CentralizationCoordinator:
    algorithm = "centralization"
    expects_replies = False  # nodes never answer the coordinator, so nothing to drain at the end

    def __init__(self, num_nodes: int, d: int, func: MonitoredFunction) -> None:
        self._d = d
        self._func = func
        self._latest: list[np.ndarray | None] = [None] * num_nodes
        self._updates = [0] * num_nodes
        self._evaluations = 0
        self._value: float | None = None
        self._min = math.inf
        self._max = -math.inf

    def on_message(self, node_idx: int, frame: bytes) -> list[tuple[int, bytes]]:
        update = decode_centralization_update(frame, self._d)
        if update.node_idx != node_idx:
            raise ProtocolError("node_mismatch", f"header names node {update.node_idx}, sender is {node_idx}")
        self._latest[node_idx] = update.local_vector
        self._updates[node_idx] += 1
        if all(v is not None for v in self._latest):
            value = float(self._func(self.global_vector()))
            self._evaluations += 1
            self._value = value
            self._min, self._max = min(self._min, value), max(self._max, value)
        return []

    def global_vector(self) -> np.ndarray:
        return np.mean(np.stack(self._latest), axis=0)  # type: ignore[arg-type]

    def summary(self) -> dict[str, Any]:
        complete = all(v is not None for v in self._latest)
        return {
            "updates_per_node": list(self._updates),
            "function_evaluations": self._evaluations,
            "final_value": self._value,
            "min_value": self._min if self._evaluations else None,
            "max_value": self._max if self._evaluations else None,
            # Fingerprint of the final global vector: equal across runs iff every last vector arrived intact.
            "final_global_vector_sha256": (hashlib.sha256(self.global_vector().astype(">f8").tobytes()).hexdigest()
                                           if complete else None),
        }


class CentralizationNode:
    """Turns each local vector into one update frame; the coordinator never asks anything."""

    algorithm = "centralization"

    def __init__(self, node_idx: int) -> None:
        self.node_idx = node_idx
        self.updates_sent = 0

    def on_tick(self, tick: int) -> None:
        pass  # no state depends on the clock

    def on_local_vector(self, vector: np.ndarray) -> bytes:
        self.updates_sent += 1
        return encode(CentralizationUpdate(self.node_idx, vector))

    def on_message(self, frame: bytes) -> bytes | None:
        raise ProtocolError("unexpected_type", "the centralization coordinator sends no protocol messages")

    def waiting_for_sync(self) -> bool:
        return False

    def summary(self) -> dict[str, Any]:
        return {"updates_sent": self.updates_sent}
