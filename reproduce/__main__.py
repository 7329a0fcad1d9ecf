"""Re-run the seismic imaging paper's experiments on a deployed BatchStack.

  hpcx reproduce weak --campaign jan [--batch-sizes 1 2 4 ...] [--runs 3]
  hpcx reproduce openmp --campaign jan --queue r5-spot-24 --threads 1 2 4 8 16 24
  hpcx reproduce mpi --campaign jan --queue c5n-mnp-18 --nodes 1 2 4 8 16
  hpcx reproduce hybrid --campaign jan
  hpcx reproduce cost --campaign jan [--shots 100]
  hpcx reproduce resilience --campaign jan --failure-rate 0.1 --confirm-terminate
  hpcx reproduce collect --campaign jan --run-id <run id> --experiment weak
  hpcx reproduce spot --instance-types c5n.18xlarge m4.4xlarge --days 7
  hpcx reproduce figures [--results out/experiments] [--out out/experiments/figures]

(`python -m reproduce` takes the same arguments; `hpcx reproduce` adds --plan and asks before costly runs.)

Queues, job definitions, the bucket and the state machine come from the stack's outputs (--stack).
--dry-run prints what would be submitted and submits nothing. Results: one JSON file per run in
--results; a run whose file exists is skipped, so the same command resumes after an interruption.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from reproduce import plans as P
from reproduce.outputs import DEFAULT_STACK, DeploymentError, read_deployment

DEFAULT_RESULTS = P.REPO_ROOT / "out" / "experiments"  # under the repository, whatever the working directory


def _parser(prog: str = "python -m reproduce") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def launcher(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--campaign", required=True, help="names the runs; reuse it to resume")
        p.add_argument("--runs", type=int, help="repeats of each setting")
        p.add_argument("--stack", default=DEFAULT_STACK, help=f"deployed BatchStack name (default {DEFAULT_STACK})")
        p.add_argument("--region")
        p.add_argument("--base-input", type=Path, help=f"execution input to start from (default {P.DEFAULT_BASE_INPUT.name})")
        p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
        p.add_argument("--poll", type=float, default=30.0, help="seconds between status checks")
        p.add_argument("--dry-run", action="store_true", help="print the submissions, submit nothing")
        return p

    p = launcher("weak", "weak scaling: one gradient of N shots on N instances, for each N")
    p.add_argument("--batch-sizes", type=int, nargs="+")
    p.add_argument("--cooldown-timeout", type=float, help="max seconds to wait for zero vCPUs between runs")
    p = launcher("openmp", "OpenMP strong scaling: one shot, several thread counts")
    p.add_argument("--queue")
    p.add_argument("--threads", type=int, nargs="+")
    p.add_argument("--hyperthreading", choices=["on", "off"],
                   help="what you expect of the queue; the pool's CPUs decide, a contradiction stops the launch")
    p.add_argument("--memory-mib", type=int)
    p.add_argument("--shot", type=int)
    p = launcher("mpi", "MPI strong scaling: one shot on 1..16 nodes of a multi-node queue")
    p.add_argument("--queue")
    p.add_argument("--nodes", type=int, nargs="+")
    p.add_argument("--threads", type=int)
    p.add_argument("--memory-mib", type=int)
    p.add_argument("--shot", type=int)
    p = launcher("hybrid", "2 MPI ranks x 24 threads vs 48 threads on one r5.24xlarge")
    p.add_argument("--queue")
    p.add_argument("--cases", nargs="+", choices=list(P.HYBRID_CASES))
    p.add_argument("--memory-mib", type=int)
    p.add_argument("--shot", type=int)
    p = launcher("cost", "one gradient of 100 shots (Batch vs fixed cluster)")
    p.add_argument("--shots", type=int)
    p = launcher("resilience", "a gradient while a fraction of its instances is terminated")
    p.add_argument("--shots", type=int)
    p.add_argument("--failure-rate", type=float, required=True, help="fraction of the job's instances, 0 < rate < 1")
    p.add_argument("--window", type=float, nargs=2, metavar=("START_S", "END_S"),
                   help="termination times after the first start (default 1 390)")
    p.add_argument("--seed", type=int)
    p.add_argument("--confirm-terminate", action="store_true", help="required: this terminates EC2 instances")

    p = sub.add_parser("collect", help="(re)collect the timings of runs by id")
    p.add_argument("--run-id", nargs="+", required=True)
    p.add_argument("--experiment", required=True, choices=["weak", "openmp", "mpi", "hybrid", "cost", "resilience"])
    p.add_argument("--stack", default=DEFAULT_STACK)
    p.add_argument("--region")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    p = sub.add_parser("spot", help="save spot price history by zone and instance type")
    p.add_argument("--instance-types", nargs="+", default=["m4.4xlarge", "r5.24xlarge", "c5n.18xlarge"])
    p.add_argument("--days", type=float, default=7)
    p.add_argument("--region")
    p.add_argument("--out", type=Path, default=DEFAULT_RESULTS / "spot_prices.json")

    p = sub.add_parser("figures", help="draw every figure: published numbers beside the new runs")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--spot", type=Path, help="spot history JSON (default <results>/spot_prices.json)")
    p.add_argument("--out", type=Path)
    p.add_argument("--penalty", type=float, default=60.0, help="restart penalty of the resilience model [s]")
    p.add_argument("--csv", action="store_true", help="also write <results>/summary.csv")
    return parser


# argparse option -> parameter field, for the options a launcher has
FIELDS = {
    "runs": "runs", "batch_sizes": "batch_sizes", "cooldown_timeout": "cooldown_timeout_s", "queue": "queue",
    "threads": "threads", "memory_mib": "memory_mib", "shot": "shot", "nodes": "nodes", "cases": "cases",
    "shots": "shots", "failure_rate": "failure_rate", "window": "window_s", "seed": "seed",
}
EXPERIMENTS = {
    "weak": (P.WeakParams, P.plan_weak),
    "openmp": (P.OpenMpParams, P.plan_openmp),
    "mpi": (P.MpiParams, P.plan_mpi),
    "hybrid": (P.HybridParams, P.plan_hybrid),
    "cost": (P.CostParams, P.plan_cost),
    "resilience": (P.ResilienceParams, P.plan_resilience),
}


def parameters(args: argparse.Namespace):
    """The validated parameters of a launcher command (raises PlanError with every problem)."""
    model, _ = EXPERIMENTS[args.command]
    raw = {field: getattr(args, opt) for opt, field in FIELDS.items() if getattr(args, opt, None) is not None}
    raw.update(campaign=args.campaign, base_input=P.load_base_input(args.base_input))
    if getattr(args, "hyperthreading", None) is not None:
        raw["hyperthreading"] = args.hyperthreading == "on"
    if args.command == "resilience":
        raw["confirm"] = args.confirm_terminate
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or args.command}: {e['msg']}" for e in exc.errors())
        raise P.PlanError(f"invalid {args.command} parameters: {problems}") from None


def main(argv: list[str] | None = None, session=None, confirm=None, prog: str = "python -m reproduce") -> int:
    """`confirm(plans, deployment) -> bool`, when given, is asked before anything is submitted (hpcx asks
    the user when the estimated cost is above its threshold); False submits nothing."""
    from reproduce.runner import RunFailed
    from tools.aws_errors import explain

    args = _parser(prog).parse_args(argv)
    try:
        if args.command in EXPERIMENTS:
            return _launch(args, session, confirm)
        if args.command == "collect":
            return _collect(args, session)
        if args.command == "spot":
            return _spot(args, session)
        return _figures(args)
    except (P.PlanError, DeploymentError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:  # the stack's outputs are read even for --dry-run
        line = explain(exc, region_option=True, region_given=getattr(args, "region", None) is not None)
        if line is None:
            raise
        print(f"error: {line}. (`figures` and `hpcx reproduce ... --plan` need no account.)", file=sys.stderr)
        return 2
    except RunFailed as exc:  # runs already collected are kept: the same command skips them
        print(f"error: {exc}. Runs finished so far are saved in {args.results}; run the same command again to "
              "resume (finished runs are skipped)", file=sys.stderr)
        return 1


def _session(args, session):
    if session is not None:
        return session
    import boto3

    return boto3.Session(region_name=args.region)


def _launch(args: argparse.Namespace, session, confirm=None) -> int:
    params = parameters(args)  # before any AWS call: bad input fails here
    session = _session(args, session)
    deployment = read_deployment(args.stack, session.client("cloudformation"), session.client("batch"))
    _, plan = EXPERIMENTS[args.command]
    plans = plan(params, deployment)
    failures = {}
    if args.command == "resilience":
        from reproduce.chaos import plan_failures

        failures = {p.run_id: plan_failures(params.shots, params.failure_rate, params.window_s, int(p.parameters["seed"]))
                    for p in plans}
    if args.dry_run:
        for p in plans:
            print(p.model_dump_json(indent=2, exclude_none=True))
            if p.run_id in failures:
                print(json.dumps({"terminations": [f.__dict__ for f in failures[p.run_id]]}, default=str))
        print(f"dry run: {len(plans)} run(s) planned, nothing submitted", file=sys.stderr)
        return 0
    if confirm is not None and not confirm(plans, deployment):
        print("nothing submitted", file=sys.stderr)
        return 1
    from reproduce.runner import Clients, Runner

    with _progress() as progress:
        runner = Runner(Clients.from_session(session), deployment, args.results / args.command, poll_s=args.poll,
                        progress=progress)
        cooldown = getattr(params, "cooldown_timeout_s", None)
        runner.run_all(plans, cooldown_timeout_s=cooldown, failures=failures)
    return 0


class _progress:
    """A rich progress bar per run (jobs finished of all jobs, and the status)."""

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn())
        self.tasks: dict[str, int] = {}
        self.bar.__enter__()
        return self

    def __call__(self, run_id: str, done: int, total: int, status: str) -> None:
        if run_id not in self.tasks:
            self.tasks[run_id] = self.bar.add_task(run_id, total=total or None, status=status)
        self.bar.update(self.tasks[run_id], completed=done, total=total or None, status=status)

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)


def _collect(args: argparse.Namespace, session) -> int:
    from reproduce.collect import recollect_run
    from reproduce.timings import RunTimings, run_file

    session = _session(args, session)
    cloudformation, batch, s3 = (session.client(n) for n in ("cloudformation", "batch", "s3"))
    deployment = read_deployment(args.stack, cloudformation, batch)
    folder = args.results / args.experiment
    for run_id in args.run_id:
        path = run_file(folder, run_id)
        if path.exists() and not args.force:
            print(f"{run_id}: already collected (--force to overwrite)")
            continue
        existing = RunTimings.load(path) if path.exists() else None
        timings = recollect_run(batch=batch, s3=s3, deployment=deployment, run_id=run_id,
                                experiment=args.experiment, existing=existing)
        print(f"{run_id}: saved {timings.save(folder)}")
    return 0


def _spot(args: argparse.Namespace, session) -> int:
    from reproduce.spot import save, spot_history, window

    try:
        start, end = window(args.days, datetime.now(UTC))
    except ValueError as exc:
        raise P.PlanError(str(exc)) from None
    rows = spot_history(_session(args, session).client("ec2"), args.instance_types, start, end)
    print(f"{len(rows)} prices saved to {save(rows, args.out)}")
    return 0


def _figures(args: argparse.Namespace) -> int:
    from reproduce.figures import render_all
    from reproduce.published import load
    from reproduce.timings import RunTimings, to_csv

    runs = [RunTimings.load(p) for p in sorted(args.results.glob("*/*.json")) if p.parent.name in EXPERIMENTS]
    spot_file = args.spot or args.results / "spot_prices.json"
    history = json.loads(spot_file.read_text()) if spot_file.exists() else []
    out = args.out or args.results / "figures"
    for path in render_all(load(), runs, out, history, penalty_s=args.penalty):
        print(path)
    if args.csv:
        (args.results / "summary.csv").write_text(to_csv(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
