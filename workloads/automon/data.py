"""The event log a run's nodes read: synthetic for inner_product/quadratic, external (or stand-in) otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from . import datasets, synthetic
from .config import RunConfig
from .streams import EventLog, node_local_vectors, updates_per_node


def event_log(cfg: RunConfig) -> EventLog:
    name, n, r, d, seed = cfg.node_type.name, cfg.num_nodes, cfg.iterations, cfg.d, cfg.seed
    if name == "inner_product":
        return synthetic.inner_product(n, r, d, seed)
    if name == "quadratic":
        return synthetic.quadratic(n, r, d, seed)
    if name == "kld":
        if cfg.synthetic:
            return synthetic.kld_standin(n, r, d // 2, seed)
        return datasets.load_air_quality(cfg.data_dir, n, r, cfg.node_type.tuning_iterations, d // 2)
    if name == "dnn":
        if cfg.synthetic:
            return synthetic.dnn_standin(n, r, cfg.window, d, seed)
        return datasets.load_kdd(cfg.data_dir, r, cfg.node_type.tuning_iterations * n, cfg.window)
    raise ValueError(f"unknown node type {name!r}")


def source_label(cfg: RunConfig) -> str:
    """What ``event_log(cfg)`` reads, without reading it (the coordinator never loads the data)."""
    name = cfg.node_type.name
    if cfg.uses_synthetic_data:
        kind = "synthetic" if cfg.node_type.data == "synthetic" else "synthetic stand-in"
        return f"{kind} {name} (seed {cfg.seed})"
    return f"{cfg.node_type.data} ({cfg.data_dir})"


def local_vectors(cfg: RunConfig, log: EventLog, node_idx: int) -> Iterator[np.ndarray | None]:
    return node_local_vectors(log, node_idx, cfg.num_nodes, cfg.window, cfg.d, cfg.vector_kind,
                              cfg.node_type.single_sample_per_round)


def expected_updates(cfg: RunConfig, log: EventLog) -> list[int]:
    return updates_per_node(log, cfg.num_nodes, cfg.window)
