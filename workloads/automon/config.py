"""One run's settings, shared by the coordinator and every node, validated before anything starts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .constants import (
    ALGORITHMS,
    AUTOMON,
    CENTRALIZATION,
    CENTRALIZATION_SEND_INTERVAL_S,
    FIRST_UPDATE_DELAY_S,
    SYNTHETIC,
    SYNTHETIC_SEEDS,
    NodeType,
    node_type,
)
from .streams import VectorKind


@dataclass(frozen=True)
class RunConfig:
    node_type: NodeType
    algorithm: str = CENTRALIZATION
    num_nodes: int | None = None  # None: the node type's published default (same for every None below)
    iterations: int | None = None
    window: int | None = None
    error_bound: float | None = None  # AutoMon only
    synthetic: bool = False  # use the seeded stand-in instead of the external data set (kld, dnn)
    data_dir: Path = Path("data/automon")
    seed: int | None = None
    h_matrix: Path | None = None
    dnn_params: Path | None = None
    ls_latency_s: float | None = None
    fs_latency_s: float | None = None
    first_update_delay_s: float = FIRST_UPDATE_DELAY_S
    send_interval_s: float = CENTRALIZATION_SEND_INTERVAL_S
    # one-way delay each side adds to the frames it receives: 0 on a real network; local runs emulate
    # the experiment's WAN link with it (see constants.LOCAL_LINK_LATENCY_S)
    link_latency_s: float = 0.0

    def __post_init__(self) -> None:
        # Unset values take the node type's published defaults, so every field is concrete afterwards.
        nt = self.node_type
        defaults = {"num_nodes": nt.num_nodes, "iterations": nt.iterations, "window": nt.window,
                    "seed": SYNTHETIC_SEEDS[nt.name], "ls_latency_s": nt.ls_latency_s, "fs_latency_s": nt.fs_latency_s}
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)

    @classmethod
    def for_type(cls, name: str, **overrides) -> RunConfig:
        return cls(node_type=node_type(name), **overrides).validated()

    @property
    def d(self) -> int:
        return self.node_type.d

    @property
    def uses_synthetic_data(self) -> bool:
        return self.synthetic or self.node_type.data == SYNTHETIC

    @property
    def vector_kind(self) -> VectorKind:
        return "window_histograms" if self.node_type.name == "kld" else "window_mean"

    @property
    def neighborhood_size(self) -> float | None:
        return None if self.error_bound is None else self.node_type.neighborhood_size(self.error_bound)

    def validated(self) -> RunConfig:
        """Self, after checking every value; raises ValueError with a message meant for the user."""
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}; expected one of {', '.join(ALGORITHMS)}")
        for name, value in (("num_nodes", self.num_nodes), ("iterations", self.iterations), ("window", self.window)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.node_type.single_sample_per_round:
            if self.iterations < self.num_nodes * self.window:
                raise ValueError(f"{self.iterations} samples cannot fill {self.num_nodes} windows of {self.window}")
        elif self.iterations < self.window:
            raise ValueError(f"{self.iterations} rounds cannot fill a window of {self.window}")
        if self.node_type.name == "dnn" and not self.uses_synthetic_data and self.num_nodes != self.node_type.num_nodes:
            raise ValueError(f"the KDD stream is split over exactly {self.node_type.num_nodes} nodes")
        if self.algorithm == AUTOMON:
            if self.error_bound is None or self.error_bound <= 0:
                raise ValueError("AutoMon needs a positive --error-bound")
            self.node_type.neighborhood_size(self.error_bound)  # raises for an untuned bound
        for name, value in (("ls_latency", self.ls_latency_s), ("fs_latency", self.fs_latency_s),
                            ("first_update_delay", self.first_update_delay_s),
                            ("send_interval", self.send_interval_s), ("link_latency", self.link_latency_s)):
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        return self

    def with_overrides(self, **changes) -> RunConfig:
        return replace(self, **changes).validated()
