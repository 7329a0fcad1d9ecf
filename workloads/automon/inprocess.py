"""The AutoMon cores of a whole run in one process, frames passed by function call (no sockets).

Used where a short, exact exchange is wanted before anything is deployed: the image's build-time
self-check and the coordinator's measurement of a full sync (pacing.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import functions
from .automon_backend import AutomonApi, AutomonCoordinatorCore, AutomonNodeCore
from .config import RunConfig


@dataclass
class InProcessRun:
    coordinator: AutomonCoordinatorCore
    nodes: list[AutomonNodeCore]

    @classmethod
    def of(cls, api: AutomonApi, cfg: RunConfig) -> InProcessRun:
        func = functions.build(cfg.node_type.name, d=cfg.d, window=cfg.window, num_nodes=cfg.num_nodes, xp=api.xp,
                               h_matrix=cfg.h_matrix, dnn_params=cfg.dnn_params).func
        return cls(AutomonCoordinatorCore(api, cfg, func), [AutomonNodeCore(api, cfg, i, func)
                                                            for i in range(cfg.num_nodes)])

    def round(self, tick: int, vectors: np.ndarray) -> None:
        """Every node applies its vector of this round, then the frames flow until none is in flight."""
        pending = []
        for i, node in enumerate(self.nodes):
            node.on_tick(tick)
            frame = node.on_local_vector(vectors[i])
            if frame:
                pending.append((i, frame))
        while pending:
            idx, frame = pending.pop(0)
            for target, reply in self.coordinator.on_message(idx, frame):
                answer = self.nodes[target].on_message(reply)
                if answer:
                    pending.append((target, answer))
