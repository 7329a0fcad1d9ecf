"""Every fixed fact of the AutoMon experiment, defined once: port, node types, their published defaults.

Values follow the original AWS harness (hsivan/automon at c62415f, aws_experiments/): node counts,
dimensions, sliding windows, iteration counts and the error-bound lists of its deploy script; the
neighbourhood-size tables its KLD and DNN experiments hard-coded; pacing of commit 8f9a218.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DEFAULT_PORT = 6400
DEFAULT_BIND_HOST = "0.0.0.0"  # the coordinator listens on every interface inside its container

# Algorithm names accepted by the CLI.
CENTRALIZATION = "centralization"
AUTOMON = "automon"
ALGORITHMS = (CENTRALIZATION, AUTOMON)

# AutoMon's coordinator settings of the experiment: slack_type 1 = drift, sync_type 2 = lazy LRU.
SLACK_TYPE_DRIFT = 1
SYNC_TYPE_LAZY_LRU = 2

# Pacing (seconds). AutoMon node update k is sent at FIRST_UPDATE_DELAY_S + (k-1)*ls_latency (plus
# fs_latency - ls_latency per full sync detected, DNN only); the centralization baseline sleeps
# CENTRALIZATION_SEND_INTERVAL_S after every update, as the original did.
FIRST_UPDATE_DELAY_S = 10.0
DEFAULT_LS_LATENCY_S = 1.0
DEFAULT_FS_LATENCY_S = 4.0
CENTRALIZATION_SEND_INTERVAL_S = 0.01
# Local runs delay every coordinator-node frame by this much each way: half the paper's average RTT of
# 56 ms between us-west-2 (coordinator) and us-east-2 (nodes).
LOCAL_LINK_LATENCY_S = 0.028

# The image takes the automon package as a pip requirement spec (the package is on no registry).
AUTOMON_BUILD_ARG = "AUTOMON_PIP_SPEC"
AUTOMON_REFERENCE_COMMIT = "c62415f"  # HEAD of hsivan/automon used by the reference; pin a full SHA
AUTOMON_PIP_SPEC_EXAMPLE = "automon @ git+https://github.com/hsivan/automon@<full commit sha>"
AUTODIFF_ENV = "AUTO_DIFFERENTIATION_TOOL"  # Jax | AutoGrad (the README's AUTO_GRAD_TOOL is wrong)

# Data sources.
SYNTHETIC = "synthetic"
AIR_QUALITY = "air_quality"
KDD = "kdd"


@dataclass(frozen=True)
class NodeType:
    """One monitored function of the experiment and the parameters the AWS runs used for it."""

    name: str
    num_nodes: int
    d: int  # length of a node's local vector
    window: int  # sliding-window size per node
    iterations: int  # rounds (round-robin types) or samples (single-sample-per-round types)
    tuning_iterations: int  # rows the original reserved for neighbourhood tuning, skipped here
    error_bounds: tuple[float, ...]  # the list the AWS deploy script ran
    data: str  # SYNTHETIC, AIR_QUALITY or KDD
    single_sample_per_round: bool = False  # DNN: each round feeds one sample to one node
    ls_latency_s: float = DEFAULT_LS_LATENCY_S
    fs_latency_s: float = DEFAULT_FS_LATENCY_S
    domain: tuple[float, float] | None = None
    # error bound -> neighbourhood size (None: AutoMon's default, no tuning needed)
    neighborhood_sizes: Mapping[float, float] = field(default_factory=lambda: MappingProxyType({}))

    def neighborhood_size(self, error_bound: float) -> float | None:
        if not self.neighborhood_sizes:
            return None
        try:
            return self.neighborhood_sizes[error_bound]
        except KeyError:
            known = ", ".join(str(e) for e in sorted(self.neighborhood_sizes))
            raise ValueError(
                f"{self.name}: no tuned neighbourhood size for error bound {error_bound}; known: {known}"
            ) from None


NODE_TYPES: Mapping[str, NodeType] = MappingProxyType({
    "inner_product": NodeType(
        name="inner_product", num_nodes=10, d=40, window=20, iterations=1020, tuning_iterations=0,
        error_bounds=(0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8), data=SYNTHETIC,
    ),
    "quadratic": NodeType(
        name="quadratic", num_nodes=10, d=40, window=20, iterations=1020, tuning_iterations=0,
        error_bounds=(0.015, 0.02, 0.03, 0.04, 0.05, 0.08, 0.1, 1.0), data=SYNTHETIC,
    ),
    # 8 of the 11 tuned bounds: 8 bounds x 12 nodes stays under the 100-task Fargate quota per region.
    "kld": NodeType(
        name="kld", num_nodes=12, d=20, window=200, iterations=30000, tuning_iterations=300,
        error_bounds=(0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.14), data=AIR_QUALITY, domain=(0.0, 1.0),
        neighborhood_sizes=MappingProxyType({
            0.003: 0.059895833333333336, 0.004: 0.0859375, 0.005: 0.08854166666666667,
            0.01: 0.10069444444444445, 0.02: 0.1527777777777778, 0.04: 0.25, 0.06: 0.2361111111111111,
            0.08: 0.2361111111111111, 0.1: 0.2361111111111111, 0.12: 0.2361111111111111,
            0.14: 0.2361111111111111,
        }),
    ),
    # 6 of the 10 tuned bounds (time and cost); slower pacing since commit 8f9a218.
    "dnn": NodeType(
        name="dnn", num_nodes=9, d=41, window=20, iterations=302973, tuning_iterations=500,
        error_bounds=(0.002, 0.003, 0.005, 0.007, 0.016, 0.05), data=KDD, single_sample_per_round=True,
        ls_latency_s=0.4, fs_latency_s=10.0,
        neighborhood_sizes=MappingProxyType({
            0.001: 0.010416666666666666, 0.002: 0.017361111111111112, 0.0027: 0.027777777777777776,
            0.003: 0.027777777777777776, 0.005: 0.03125, 0.007: 0.03125, 0.01: 0.041666666666666664,
            0.016: 0.041666666666666664, 0.025: 0.041666666666666664, 0.05: 0.041666666666666664,
        }),
    ),
})

# Fixed seeds of the synthetic streams (one per node type, so runs are reproducible across processes).
SYNTHETIC_SEEDS: Mapping[str, int] = MappingProxyType({
    "inner_product": 1020, "quadratic": 4040, "kld": 2013, "dnn": 1999,
})
# Seed of the quadratic form's matrix H (the original shipped H_matrix.txt; see functions.py).
QUADRATIC_H_SEED = 40
# Seed of the DNN weights used when no trained parameters are given (see functions.py).
DNN_WEIGHTS_SEED = 512
DNN_LAYER_SIZES = (41, 512, 64, 32, 16, 8, 1)

# KLD: PM10 -> P and PM2.5 -> Q, each binned into d/2 bins over [0, KLD_PM_MAX].
KLD_PM_MAX = 500.0  # PM10 / PM2.5 values are clipped to [0, 500] before binning


def node_type(name: str) -> NodeType:
    try:
        return NODE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown node type {name!r}; expected one of {', '.join(NODE_TYPES)}") from None
