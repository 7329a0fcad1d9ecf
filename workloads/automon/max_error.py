"""The approximation error of a run, as the paper's max-error figure computes it.

AutoMon's coordinator approximates f(global vector) by f(x0), the value at its last full sync, until
the next full sync (a lazy sync moves only slack). The true value at tick k is f at the mean of every
node's latest local vector, which we recompute from the run's event log.

- ``max_error`` (the paper's method, hsivan/automon plot_aws_stats.py): node 0's full-sync history
  gives the tick at which each full sync arrived; from that tick on, the approximation is the *true*
  value at that tick, until the next one;
- ``max_error_x0``: the same, with the coordinator's own f(x0) of each full sync (exact, not assumed).
Ticks before the first full sync are left out in both (nothing is approximated yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import data, functions
from .config import RunConfig
from .streams import EventLog


def true_values(cfg: RunConfig, log: EventLog) -> np.ndarray:
    """f(true global vector) after each tick (1-based tick k at index k-1); NaN until every node reported."""
    func = functions.build(cfg.node_type.name, d=cfg.d, window=cfg.window, num_nodes=cfg.num_nodes,
                           h_matrix=cfg.h_matrix, dnn_params=cfg.dnn_params).func
    latest: list[np.ndarray | None] = [None] * cfg.num_nodes
    values = []
    for tick in zip(*(data.local_vectors(cfg, log, i) for i in range(cfg.num_nodes)), strict=True):
        for i, vector in enumerate(tick):
            if vector is not None:
                latest[i] = vector
        complete = all(v is not None for v in latest)
        values.append(float(func(np.mean(np.stack(latest), axis=0))) if complete else np.nan)  # type: ignore[arg-type]
    return np.array(values)


def _held(ticks: Sequence[int], values: Sequence[float], length: int) -> np.ndarray:
    """values[i] from tick ticks[i] up to the next sync tick; NaN before the first."""
    approx = np.full(length, np.nan)
    for i, (tick, value) in enumerate(zip(ticks, values, strict=True)):
        end = ticks[i + 1] - 1 if i + 1 < len(ticks) else length
        approx[tick - 1:end] = value
    return approx


def max_error(true: np.ndarray, sync_ticks: Sequence[int], f_x0: Sequence[float] | None = None,
              error_bound: float | None = None) -> dict[str, Any]:
    """Maximum |approximation - true value| over the run; ``sync_ticks`` are 1-based and ascending."""
    ticks = list(sync_ticks)
    if ticks != sorted(ticks) or (ticks and not 1 <= ticks[0] <= ticks[-1] <= len(true)):
        raise ValueError(f"full-sync ticks must be ascending within 1..{len(true)}, got {ticks[:5]}...")

    def worst(approx: np.ndarray) -> float | None:
        err = np.abs(approx - true)
        return float(np.nanmax(err)) if np.any(np.isfinite(err)) else None

    paper = worst(_held(ticks, [true[t - 1] for t in ticks], len(true))) if ticks else None
    exact = None
    if ticks and f_x0 is not None and len(f_x0) == len(ticks):  # every full sync reached the node
        exact = worst(_held(ticks, list(f_x0), len(true)))
    result: dict[str, Any] = {"ticks": len(true), "full_syncs": len(ticks), "max_error": paper, "max_error_x0": exact,
                              "error_bound": error_bound}
    if error_bound is not None and paper is not None:
        result["within_bound"] = paper <= error_bound and (exact is None or exact <= error_bound)
    return result


def of_run(cfg: RunConfig, log: EventLog, node_summary: dict[str, Any],
           coordinator_summary: dict[str, Any]) -> dict[str, Any]:
    """The max error of an AutoMon run from node 0's and the coordinator's exported full-sync histories."""
    f_x0 = [s["f_x0"] for s in coordinator_summary.get("full_sync_history", [])]
    return max_error(true_values(cfg, log), node_summary["full_sync_ticks"], f_x0, cfg.error_bound)
