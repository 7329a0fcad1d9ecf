"""Build-time check of the AutoMon path: import the package and run one lazy sync through our cores.

    python -m workloads.automon.selfcheck          # exit 0 and one line of counts, or exit 1 and the error

The image runs this right after installing the package (build argument AUTOMON_PIP_SPEC), so a package
that imports but cannot run on the pinned stack (it called np.alltrue, which NumPy 2 removed) fails the
build instead of every later run. No sockets: the coordinator and node cores pass frames in process.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import automon_backend
from .config import RunConfig
from .inprocess import InProcessRun

NODES = 4
ERROR_BOUND = 0.3
STEP = 0.05  # random-walk step of every local vector per round: small drifts that lazy syncs resolve
MAX_ROUNDS = 500
SEED = 7


def run(api: automon_backend.AutomonApi | None = None) -> dict[str, Any]:
    """Feed random walks until the coordinator has sent a LAZY_SYNC; returns its message counts."""
    api = api or automon_backend.load()
    cfg = RunConfig.for_type("inner_product", algorithm="automon", error_bound=ERROR_BOUND, num_nodes=NODES)
    run_ = InProcessRun.of(api, cfg)
    rng = np.random.default_rng(SEED)
    x = rng.uniform(-1, 1, size=(NODES, cfg.d))
    for tick in range(1, MAX_ROUNDS + 1):
        x += rng.normal(0, STEP, size=x.shape)
        run_.round(tick, x)
        emitted = run_.coordinator.summary()["messages_emitted"]
        if emitted.get("LAZY_SYNC"):
            return {"rounds": tick, "messages_emitted": emitted, "automon_version": api.version,
                    "autodiff": api.autodiff}
    raise RuntimeError(f"no lazy sync in {MAX_ROUNDS} rounds (emitted {emitted}): the package does not behave "
                       "as the experiment expects")


def main() -> int:
    try:
        result = run()
    except Exception as err:  # the point of the check: any failure is the build's failure, named
        print(f"automon self-check FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"automon self-check ok: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
