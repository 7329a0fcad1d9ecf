"""Builds a coordinator or a node for a run configuration (picking the algorithm's core) and runs it."""

from __future__ import annotations

from pathlib import Path

from . import data, functions
from .automon_backend import AutomonApi, AutomonCoordinatorCore, AutomonNodeCore
from .centralization import CentralizationCoordinator, CentralizationNode
from .config import RunConfig
from .constants import AUTOMON
from .coordinator import DEFAULT_COORDINATOR_TIMEOUTS, Coordinator, CoordinatorTimeouts
from .node import DEFAULT_NODE_TIMEOUTS, Node, NodePacing, NodeTimeouts
from .results import CoordinatorResult, NodeResult, RunInfo
from .streams import EventLog


def _function(cfg: RunConfig, api: AutomonApi | None) -> functions.FunctionSpec:
    xp = api.xp if api is not None else functions.np
    return functions.build(cfg.node_type.name, d=cfg.d, window=cfg.window, num_nodes=cfg.num_nodes, xp=xp,
                           h_matrix=cfg.h_matrix, dnn_params=cfg.dnn_params)


def _require_api(cfg: RunConfig, api: AutomonApi | None) -> None:
    if cfg.algorithm == AUTOMON and api is None:
        raise ValueError("the AutoMon algorithm needs the loaded automon package (automon_backend.load())")


def run_info(cfg: RunConfig, function_params: str) -> RunInfo:
    return RunInfo(
        node_type=cfg.node_type.name, algorithm=cfg.algorithm, num_nodes=cfg.num_nodes, d=cfg.d,
        window=cfg.window, iterations=cfg.iterations, error_bound=cfg.error_bound,
        neighborhood_size=cfg.neighborhood_size if cfg.algorithm == AUTOMON else None,
        data_source=data.source_label(cfg), function_params=function_params, seed=cfg.seed,
        link_latency_s=cfg.link_latency_s,
    )


def build_coordinator(cfg: RunConfig, host: str, port: int, timeouts: CoordinatorTimeouts = DEFAULT_COORDINATOR_TIMEOUTS,
                      api: AutomonApi | None = None, stats_dir: Path | None = None) -> Coordinator:
    """A coordinator bound to ``host:port`` (port 0: any free port, see ``.port``), not yet running."""
    _require_api(cfg, api)
    fspec = _function(cfg, api)
    if api is not None and cfg.algorithm == AUTOMON:
        core = AutomonCoordinatorCore(api, cfg, fspec.func, stats_dir)
    else:
        core = CentralizationCoordinator(cfg.num_nodes, cfg.d, fspec.func)
    return Coordinator(core, run_info(cfg, fspec.params), host, port, timeouts)


def pacing(cfg: RunConfig) -> NodePacing:
    if cfg.algorithm == AUTOMON:
        return NodePacing(paced=True, first_update_delay_s=cfg.first_update_delay_s, ls_latency_s=cfg.ls_latency_s,
                          fs_latency_s=cfg.fs_latency_s, count_full_syncs=cfg.node_type.single_sample_per_round)
    return NodePacing(paced=False, send_interval_s=cfg.send_interval_s)


def run_node(cfg: RunConfig, node_idx: int, host: str, port: int, timeouts: NodeTimeouts = DEFAULT_NODE_TIMEOUTS,
             api: AutomonApi | None = None, log: EventLog | None = None) -> NodeResult:
    """Run node ``node_idx`` to the end of its stream; ``log`` saves re-reading data shared in one process."""
    _require_api(cfg, api)
    if not 0 <= node_idx < cfg.num_nodes:
        raise ValueError(f"node index {node_idx} outside [0, {cfg.num_nodes})")
    events = log if log is not None else data.event_log(cfg)
    fspec = _function(cfg, api)
    if api is not None and cfg.algorithm == AUTOMON:
        core = AutomonNodeCore(api, cfg, node_idx, fspec.func)
    else:
        core = CentralizationNode(node_idx)
    updates = data.expected_updates(cfg, events)[node_idx]
    node = Node(core, run_info(cfg, fspec.params), node_idx, host, port, pacing(cfg), timeouts,
                progress_every=max(updates // 10, 1) if updates >= 1000 else 0)
    return node.run(data.local_vectors(cfg, events, node_idx))


def run_coordinator(cfg: RunConfig, host: str, port: int, timeouts: CoordinatorTimeouts = DEFAULT_COORDINATOR_TIMEOUTS,
                    api: AutomonApi | None = None, stats_dir: Path | None = None) -> CoordinatorResult:
    return build_coordinator(cfg, host, port, timeouts, api, stats_dir).run()
