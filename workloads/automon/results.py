"""Results JSON of a coordinator or a node: a versioned schema (pydantic), written atomically.

Field names are the contract with whatever collects the files (the experiment state machine); change
them only with a new ``schema`` version. ``python -m workloads.automon schema`` prints the JSON Schemas.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .accounting import PeerTraffic

# v2: `error`, the statuses algorithm_error / node_failed / stopped_by_coordinator, and the bye_ack frame
COORDINATOR_SCHEMA = "automon.coordinator/v2"
NODE_SCHEMA = "automon.node/v2"

# algorithm_error: the algorithm raised on a frame; node_failed: a node's algorithm raised (it sent 'abort')
CoordinatorStatus = Literal["completed", "barrier_timeout", "idle_timeout", "nodes_lost", "algorithm_error",
                            "node_failed"]
# stopped_by_coordinator: 'bye' came before the end of this node's stream (the coordinator ended the run)
NodeStatus = Literal["completed", "start_timeout", "coordinator_lost", "bye_timeout", "algorithm_error",
                     "stopped_by_coordinator"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TallyModel(_Strict):
    messages: int = Field(ge=0)
    bytes: int = Field(ge=0)
    zmtp_bytes: int = Field(ge=0)


class DirectionModel(TallyModel):
    by_kind: dict[str, TallyModel]


class TrafficModel(_Strict):
    sent: DirectionModel
    received: DirectionModel

    @classmethod
    def of(cls, traffic: PeerTraffic) -> TrafficModel:
        return cls.model_validate(traffic.to_dict())


class RunInfo(_Strict):
    node_type: str
    algorithm: str
    num_nodes: int
    d: int
    window: int
    iterations: int
    error_bound: float | None
    neighborhood_size: float | None
    data_source: str
    function_params: str
    seed: int
    link_latency_s: float = 0.0  # one-way delay emulated on every coordinator-node frame (local runs)


class RejectedModel(_Strict):
    count: int = Field(ge=0)
    bytes: int = Field(ge=0)
    by_reason: dict[str, int]


class CoordinatorResult(_Strict):
    schema_: Literal["automon.coordinator/v2"] = Field(COORDINATOR_SCHEMA, alias="schema")
    run: RunInfo
    status: CoordinatorStatus
    error: str | None = None  # what failed, when status is algorithm_error or node_failed
    started_at: str  # ISO 8601, UTC
    wall_s: float
    port: int
    nodes_ready: list[int]
    nodes_done: list[int]
    traffic: TrafficModel  # all expected nodes together (the coordinator's own sends and receives)
    traffic_per_node: dict[str, TrafficModel]
    traffic_other_peers: TrafficModel  # identities that are not nodes of this run
    rejected: RejectedModel
    algorithm_summary: dict[str, Any]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NodeResult(_Strict):
    schema_: Literal["automon.node/v2"] = Field(NODE_SCHEMA, alias="schema")
    run: RunInfo
    node_idx: int
    status: NodeStatus
    error: str | None = None  # the algorithm's exception, when status is algorithm_error
    started_at: str
    wall_s: float
    local_vectors: int  # local vectors this node produced (its own updates)
    traffic: TrafficModel
    algorithm_summary: dict[str, Any]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def write(result: CoordinatorResult | NodeResult, path: Path) -> Path:
    """Write ``result`` as indented JSON; a temporary file and a rename keep readers from half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result.model_dump(mode="json", by_alias=True), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def coordinator_path(results_dir: Path) -> Path:
    return results_dir / "coordinator.json"


def node_path(results_dir: Path, node_idx: int) -> Path:
    return results_dir / f"node_{node_idx}.json"


def json_schemas() -> dict[str, Any]:
    return {COORDINATOR_SCHEMA: CoordinatorResult.model_json_schema(by_alias=True),
            NODE_SCHEMA: NodeResult.model_json_schema(by_alias=True)}
