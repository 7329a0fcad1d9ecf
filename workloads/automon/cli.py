"""Command line: ``python -m workloads.automon {coordinator,node,local,schema} ...`` (container entrypoints).

Every option can also come from the environment variable named in its help (the container's task
definition sets NODE_TYPE, NODE_IDX, HOST, ERROR_BOUND, ...). Exit codes: 0 run completed; 1 run ended
early (see the status in the results); 2 bad arguments; 3 AutoMon requested but the package is missing;
4 a data set is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import automon_backend, pacing, results
from .config import RunConfig
from .constants import (
    ALGORITHMS,
    AUTOMON,
    CENTRALIZATION,
    DEFAULT_BIND_HOST,
    DEFAULT_PORT,
    LOCAL_LINK_LATENCY_S,
    NODE_TYPES,
)
from .coordinator import CoordinatorTimeouts
from .datasets import DataSetMissing, default_data_dir
from .node import NodeTimeouts

EXIT_OK, EXIT_EARLY_END, EXIT_USAGE, EXIT_AUTOMON_MISSING, EXIT_DATA_MISSING = 0, 1, 2, 3, 4

log = logging.getLogger("workloads.automon")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--node-type", choices=list(NODE_TYPES), default=_env("NODE_TYPE"),
                   required=_env("NODE_TYPE") is None, help="monitored function [NODE_TYPE]")
    g.add_argument("--algorithm", choices=ALGORITHMS, default=_env("ALGORITHM", CENTRALIZATION),
                   help="centralization (built in) or automon (needs the automon package) [ALGORITHM]")
    g.add_argument("--error-bound", type=float, default=_env("ERROR_BOUND"), help="AutoMon error bound [ERROR_BOUND]")
    g.add_argument("--num-nodes", type=int, default=_env("NUM_NODES"), help="default: the node type's [NUM_NODES]")
    g.add_argument("--iterations", type=int, default=_env("ITERATIONS"),
                   help="rounds (samples for dnn); default: the node type's [ITERATIONS]")
    g.add_argument("--window", type=int, default=_env("WINDOW"), help="sliding window; default: the node type's")
    g.add_argument("--synthetic", action="store_true", default=_env("SYNTHETIC") == "1",
                   help="kld/dnn: seeded stand-in stream instead of the external data set [SYNTHETIC=1]")
    g.add_argument("--data-dir", type=Path, default=default_data_dir(), help="external data root [AUTOMON_DATA_DIR]")
    g.add_argument("--seed", type=int, default=None, help="seed of the synthetic streams")
    g.add_argument("--h-matrix", type=Path, default=None, help="quadratic: d x d text matrix (default: seeded)")
    g.add_argument("--dnn-params", type=Path, default=None, help="dnn: .npz weights w0..w5, b0..b5 (default: seeded)")
    g.add_argument("--ls-latency", type=float, default=_env("LS_LATENCY"), help="AutoMon lazy-sync pacing s [LS_LATENCY]")
    g.add_argument("--fs-latency", type=float, default=_env("FS_LATENCY"), help="AutoMon full-sync pacing s [FS_LATENCY]")
    g.add_argument("--first-update-delay", type=float, default=None, help="AutoMon: seconds before tick 1 ends")
    g.add_argument("--send-interval", type=float, default=None, help="centralization: sleep after each update")
    g.add_argument("--link-latency", type=float, default=_env("LINK_LATENCY"),
                   help="one-way delay s added to every frame received (emulates a WAN link; 0 on a real "
                        "network; `local` defaults to the paper's 56 ms RTT / 2) [LINK_LATENCY]")
    g.add_argument("--results-dir", type=Path, default=Path(_env("RESULTS_DIR", "automon-results")),
                   help="where the results JSON goes [RESULTS_DIR]")
    g.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"), help="[LOG_LEVEL]")


def _config(args: argparse.Namespace) -> RunConfig:
    latency = args.link_latency if args.link_latency is not None else (
        LOCAL_LINK_LATENCY_S if args.command == "local" else None)
    optional = {"first_update_delay_s": args.first_update_delay, "send_interval_s": args.send_interval,
                "link_latency_s": latency}
    return RunConfig.for_type(
        args.node_type, algorithm=args.algorithm, num_nodes=args.num_nodes, iterations=args.iterations,
        window=args.window, error_bound=args.error_bound, synthetic=args.synthetic, data_dir=args.data_dir,
        seed=args.seed, h_matrix=args.h_matrix, dnn_params=args.dnn_params, ls_latency_s=args.ls_latency,
        fs_latency_s=args.fs_latency, **{k: v for k, v in optional.items() if v is not None},
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workloads.automon",
                                     description="AutoMon / centralization runtime over ZeroMQ.")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("coordinator", help="run the coordinator (ROUTER)")
    _add_run_options(c)
    c.add_argument("--bind", default=_env("BIND", DEFAULT_BIND_HOST), help="listen address [BIND]")
    c.add_argument("--port", type=int, default=int(_env("PORT", str(DEFAULT_PORT))), help="listen port [PORT]")
    c.add_argument("--barrier-timeout", type=float, default=600.0, help="seconds for all nodes to be ready")
    c.add_argument("--idle-timeout", type=float, default=600.0, help="longest silence once started")

    n = sub.add_parser("node", help="run one node (DEALER)")
    _add_run_options(n)
    n.add_argument("--node-idx", type=int, default=_env("NODE_IDX"), required=_env("NODE_IDX") is None,
                   help="this node's index, 0..N-1 [NODE_IDX]")
    n.add_argument("--host", default=_env("HOST"), required=_env("HOST") is None, help="coordinator address [HOST]")
    n.add_argument("--port", type=int, default=int(_env("PORT", str(DEFAULT_PORT))), help="coordinator port [PORT]")
    n.add_argument("--start-timeout", type=float, default=600.0, help="seconds to wait for 'start'")

    loc = sub.add_parser("local", help="coordinator + N nodes on 127.0.0.1 in one process")
    _add_run_options(loc)
    loc.add_argument("--port", type=int, default=0, help="0: any free port")

    sub.add_parser("schema", help="print the JSON Schemas of the results files")
    return parser


def _print_local_summary(run) -> None:
    rows = [("coordinator", run.coordinator.status, run.coordinator.traffic)]
    rows += [(f"node {r.node_idx}", r.status, r.traffic) for r in run.nodes]
    print(f"{'participant':<12} {'status':<16} {'sent msgs':>10} {'sent bytes':>12} {'recv msgs':>10} {'recv bytes':>12}")
    for name, status, t in rows:
        print(f"{name:<12} {status:<16} {t.sent.messages:>10} {t.sent.bytes:>12} "
              f"{t.received.messages:>10} {t.received.bytes:>12}")
    if run.coordinator.rejected.count:
        print(f"rejected frames: {run.coordinator.rejected.by_reason}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        print(json.dumps(results.json_schemas(), indent=2))
        return EXIT_OK
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = _config(args)
        if args.command == "node" and not 0 <= args.node_idx < cfg.num_nodes:
            raise ValueError(f"--node-idx {args.node_idx} outside 0..{cfg.num_nodes - 1}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    api = None
    if cfg.algorithm == AUTOMON:  # before any socket or data: say exactly what is missing
        try:
            api = automon_backend.load()
        except automon_backend.AutomonUnavailable as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_AUTOMON_MISSING
        if args.command in ("coordinator", "local"):  # the coordinator's side decides whether syncs fit
            try:
                took = pacing.check(api, cfg)
            except ValueError as err:
                print(f"error: {err}", file=sys.stderr)
                return EXIT_USAGE
            log.info("a full sync takes %.3f s here; the tick is %g s", took, pacing.tick_budget(cfg)[0])
    try:
        return _run(args, cfg, api)
    except DataSetMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_DATA_MISSING


def _run(args: argparse.Namespace, cfg: RunConfig, api) -> int:
    from .local import run_local
    from .runner import run_coordinator, run_node

    if args.command == "coordinator":
        result = run_coordinator(cfg, args.bind, args.port,
                                 CoordinatorTimeouts(barrier_s=args.barrier_timeout, idle_s=args.idle_timeout),
                                 api, stats_dir=args.results_dir / "automon_stats")
        path = results.write(result, results.coordinator_path(args.results_dir))
        log.info("coordinator %s; results in %s", result.status, path)
        return EXIT_OK if result.status == "completed" else EXIT_EARLY_END
    if args.command == "node":
        node_result = run_node(cfg, args.node_idx, args.host, args.port, NodeTimeouts(start_s=args.start_timeout), api)
        path = results.write(node_result, results.node_path(args.results_dir, args.node_idx))
        log.info("node %d %s; results in %s", args.node_idx, node_result.status, path)
        return EXIT_OK if node_result.status == "completed" else EXIT_EARLY_END
    run = run_local(cfg, port=args.port, results_dir=args.results_dir, api=api)
    _print_local_summary(run)
    print(f"results in {args.results_dir}/")
    ok = run.coordinator.status == "completed" and all(r.status == "completed" for r in run.nodes)
    return EXIT_OK if ok else EXIT_EARLY_END
