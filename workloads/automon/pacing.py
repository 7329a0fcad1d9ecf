"""Does a full sync fit the run's tick? Measured with the package before the coordinator starts.

The package's node reports a violation on *every* data round outside its safe zone, even while it
waits for a sync; a second violation before the sync arrives makes the coordinator raise ("pending
violation"). So a sync must complete within one tick: LS_LATENCY, or FS_LATENCY for the types whose
nodes stretch their clock on a full sync (DNN). Autodiff makes full syncs costly (AutoGrad: 2-3 s for
KLD; one DNN eigenvalue search took about a minute), so the coordinator times one full sync of this
run's function in process, on seeded vectors in the function's domain, and refuses a configuration
whose sync cannot fit, naming the measured time. The network round trips come on top; the estimate is
a lower bound.
"""

from __future__ import annotations

import numpy as np

from .automon_backend import AutomonApi
from .config import RunConfig
from .inprocess import InProcessRun

PROBE_SEED = 11
HEADROOM = 1.5  # the suggested tick: the measured time with this much to spare


def measure_full_sync_s(api: AutomonApi, cfg: RunConfig) -> float:
    """Seconds the coordinator and the slowest node spent on the run's first full sync (in process)."""
    run = InProcessRun.of(api, cfg)
    lo, hi = cfg.node_type.domain or (-1.0, 1.0)
    vectors = np.random.default_rng(PROBE_SEED).uniform(lo, hi, size=(cfg.num_nodes, cfg.d))
    run.round(1, vectors)  # no constraints yet: every node violates and the coordinator syncs them all
    if not run.coordinator.full_syncs:
        raise RuntimeError("the package made no full sync on the first round; cannot time one")
    return run.coordinator.full_syncs[0]["duration_s"] + max(n.full_sync_max_s for n in run.nodes)


def tick_budget(cfg: RunConfig) -> tuple[float, str]:
    """(seconds a full sync has, the option that sets them)."""
    if cfg.node_type.single_sample_per_round:
        return cfg.fs_latency_s, "--fs-latency"
    return cfg.ls_latency_s, "--ls-latency"


def check(api: AutomonApi, cfg: RunConfig) -> float:
    """The measured full-sync time; raises ValueError (a message for the user) when it exceeds the tick."""
    took = measure_full_sync_s(api, cfg)
    budget, option = tick_budget(cfg)
    if took > budget:
        raise ValueError(
            f"a full sync of {cfg.node_type.name} with {api.autodiff} took {took:.2f} s here, longer than the "
            f"{budget:g} s tick it must fit in: nodes would report the next round's violation before the sync "
            f"arrives and the package would fail ('pending violation'). Use {option} {took * HEADROOM:.1f} or more.")
    return took
