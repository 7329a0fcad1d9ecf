"""A whole run on one machine: the coordinator and N nodes as threads, over TCP on 127.0.0.1.

Every participant has its own ZeroMQ context and socket, exactly as separate processes would; the
event log is built once and shared read-only (each node of a real deployment builds its own copy).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from . import data, max_error, results
from .automon_backend import AutomonApi
from .config import RunConfig
from .constants import AUTOMON
from .coordinator import DEFAULT_COORDINATOR_TIMEOUTS, CoordinatorTimeouts
from .node import DEFAULT_NODE_TIMEOUTS, NodeTimeouts
from .results import CoordinatorResult, NodeResult
from .runner import build_coordinator, run_node

LOOPBACK = "127.0.0.1"
T = TypeVar("T")


@dataclass(frozen=True)
class LocalRun:
    coordinator: CoordinatorResult
    nodes: list[NodeResult]
    max_error: dict | None = None  # AutoMon runs that completed: see max_error.py


MAX_ERROR_FILE = "max_error.json"


class _Worker(threading.Thread):
    """A thread that keeps its target's return value or exception for the caller."""

    def __init__(self, name: str, target: Callable[[], T]) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._target_fn()
        except BaseException as err:  # handed to the caller by LocalRun assembly
            self.error = err


def run_local(cfg: RunConfig, *, port: int = 0, results_dir: Path | None = None,
              coordinator_timeouts: CoordinatorTimeouts = DEFAULT_COORDINATOR_TIMEOUTS,
              node_timeouts: NodeTimeouts = DEFAULT_NODE_TIMEOUTS, api: AutomonApi | None = None,
              join_timeout_s: float | None = None) -> LocalRun:
    """Run coordinator + ``cfg.num_nodes`` nodes; write their results JSON into ``results_dir`` if given."""
    log = data.event_log(cfg)
    coordinator = build_coordinator(cfg, LOOPBACK, port, coordinator_timeouts, api,
                                    stats_dir=results_dir / "automon_stats" if results_dir else None)
    workers = [_Worker("coordinator", coordinator.run)]
    workers += [_Worker(f"node-{i}", lambda i=i: run_node(cfg, i, LOOPBACK, coordinator.port, node_timeouts, api, log))
                for i in range(cfg.num_nodes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(join_timeout_s)
        if w.is_alive():
            raise TimeoutError(f"{w.name} still running after {join_timeout_s} s")
        if w.error is not None:
            raise RuntimeError(f"{w.name} failed: {w.error}") from w.error
    coordinator_result: CoordinatorResult = workers[0].result  # type: ignore[assignment]
    nodes: list[NodeResult] = [w.result for w in workers[1:]]  # type: ignore[misc]
    error = None
    if cfg.algorithm == AUTOMON and coordinator_result.status == "completed":
        error = max_error.of_run(cfg, log, nodes[0].algorithm_summary, coordinator_result.algorithm_summary)
    run = LocalRun(coordinator_result, nodes, error)
    if results_dir is not None:
        results.write(run.coordinator, results.coordinator_path(results_dir))
        for node in run.nodes:
            results.write(node, results.node_path(results_dir, node.node_idx))
        if error is not None:
            (results_dir / MAX_ERROR_FILE).write_text(json.dumps(error, indent=2) + "\n")
    return run
