"""The paper's numbers, loaded from data/published.json and checked on load.

Every dataset carries a `source` (the paper figure or table and the section of the reference notes it
was recomputed from), so a figure can say where the line it draws beside a new run comes from.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

DATA_FILE = Path(__file__).with_name("data") / "published.json"


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _same_length(axis: list, series: dict[str, list], what: str) -> None:
    for name, values in series.items():
        if len(values) != len(axis):
            raise ValueError(f"{what} series {name!r} has {len(values)} values for {len(axis)} points")


class WeakScaling(_Data):
    source: str
    price_per_hour: float
    instances: list[int]
    job_s: list[float]
    job_ci90_s: list[float]
    container_s: list[float]
    reduction_s: list[float]
    startup_s: list[float]
    cost_usd: list[float]

    @model_validator(mode="after")
    def _columns(self) -> Self:
        _same_length(self.instances, {k: getattr(self, k) for k in ("job_s", "job_ci90_s", "container_s",
                                                                      "reduction_s", "startup_s", "cost_usd")}, "weak")
        return self


class OpenMpScaling(_Data):
    source: str
    cores: list[int]
    kernel_s: dict[str, list[float | None]]

    @model_validator(mode="after")
    def _columns(self) -> Self:
        _same_length(self.cores, self.kernel_s, "openmp")
        return self


class Prices(_Data):
    on_demand: float
    spot: float


class MpiScaling(_Data):
    source: str
    nodes: list[int]
    kernel_s: dict[str, list[float]]
    container_s_1_and_16_nodes: dict[str, tuple[float, float]]
    price_per_hour: dict[str, Prices]
    cost_per_gradient_usd: dict[str, list[float]]
    single_instance_spot_cost_usd: dict[str, float]

    @model_validator(mode="after")
    def _columns(self) -> Self:
        _same_length(self.nodes, self.kernel_s, "mpi kernel")
        _same_length(self.nodes, self.cost_per_gradient_usd, "mpi cost")
        return self


class HybridCase(_Data):
    case: str
    label: str
    kernel_s: float
    script_s: float
    container_s: float


class Hybrid(_Data):
    source: str
    cases: list[HybridCase]

    def case(self, name: str) -> HybridCase:
        return next(c for c in self.cases if c.case == name)


class ClusterRow(_Data):
    instances: int
    time_to_solution_s: float
    idle_min: float
    cost_usd: float
    vs_batch: float


class FixedCluster(_Data):
    source: str
    price_per_hour: float
    shots: int
    runtime_sum_s: float
    runtime_mean_s: float
    runtime_std_s: float
    runtime_min_s: float
    runtime_max_s: float
    batch_cost_usd: float
    cluster: list[ClusterRow]


class SgdCost(_Data):
    source: str
    iterations: int
    batchsize: int
    container_s: float
    price_per_hour: Prices
    lambda_invocations: int
    lambda_memory_mb: int
    cost_usd: dict[str, float]


class SpotPrices(_Data):
    source: str
    price_per_hour: dict[str, Prices]


# a published value may be a range where the re-run spread over it (e.g. "0.47-0.50")
Factor = float | tuple[float, float]


class Resilience(_Data):
    source: str
    mean_runtime_s: dict[str, float]
    shots: int
    failure_pct: list[float]
    failure_fraction: list[float]
    failure_fraction_note: str
    factors: dict[str, dict[str, list[Factor]]]

    @model_validator(mode="after")
    def _columns(self) -> Self:
        for case, series in self.factors.items():
            _same_length(self.failure_pct, series, f"resilience {case}")
        return self


class Published(_Data):
    paper: str
    provenance: str
    weak_scaling: WeakScaling
    openmp_scaling: OpenMpScaling
    mpi_scaling: MpiScaling
    hybrid: Hybrid
    fixed_cluster: FixedCluster
    sgd_cost: SgdCost
    spot_prices: SpotPrices
    resilience: Resilience


@cache
def load(path: Path = DATA_FILE) -> Published:
    return Published.model_validate(json.loads(Path(path).read_text()))
