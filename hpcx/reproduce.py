"""`hpcx reproduce ...`: the seismic paper's experiments (reproduce/, also `python -m reproduce`).

`--plan` prints the runs and their estimated cost from cdk.out alone (no deployed stack, no credentials);
a launch whose estimate is above the threshold asks first unless `--yes`. Everything else is passed to
reproduce's own command line unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hpcx.errors import Failure, remember_region
from hpcx.options import cdk_out_option, emit_json
from hpcx.paths import CDK_OUT

LAUNCHERS = ("weak", "openmp", "mpi", "hybrid", "cost", "resilience")
OTHERS = ("collect", "spot", "figures")
PROG = "hpcx reproduce"  # what reproduce's own parser calls itself in its usage and errors


class _ExperimentHelp(click.Command):
    """`hpcx reproduce EXPERIMENT --help` shows that experiment's options, which reproduce's own parser
    defines (Click would show this command's help instead, which does not list them)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in LAUNCHERS + OTHERS and {"--help", "-h"} & set(args[1:]):
            from reproduce.__main__ import main as reproduce_main

            ctx.exit(reproduce_main([args[0], "--help"], prog=PROG))
        return super().parse_args(ctx, args)


@click.command("reproduce", cls=_ExperimentHelp, context_settings={"ignore_unknown_options": True, "allow_interspersed_args": True},
               epilog="The options of each experiment: `hpcx reproduce EXPERIMENT --help`.")
@click.argument("experiment", type=click.Choice(LAUNCHERS + OTHERS))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--plan", "plan_only", is_flag=True, help="print the runs and their cost from cdk.out; submit nothing")
@click.option("--yes", is_flag=True, help="launch without asking, whatever the estimate")
@click.option("--json", "as_json", is_flag=True, help="with --plan: the plan and its estimate as JSON")
@cdk_out_option
def reproduce_command(experiment, args, plan_only, yes, as_json, cdk_out) -> None:
    """Re-run an experiment of the paper (Witte et al. 2020) on the deployed BatchStack.

    EXPERIMENT is one of the launchers (weak, openmp, mpi, hybrid, cost, resilience) or collect, spot,
    figures; ARGS are its options (--campaign NAME, --runs N, ...). Runs estimated above $5 ask first.

    \b
    Example:
      hpcx reproduce weak --campaign jan --plan          # offline: runs, instance-hours, dollars
      hpcx reproduce weak --campaign jan --batch-sizes 1 2 4 --runs 1
      hpcx reproduce figures
    """
    from reproduce.__main__ import main as reproduce_main

    argv = [experiment, *args]
    if experiment not in LAUNCHERS:
        if plan_only:
            raise Failure(f"--plan applies to the launchers ({', '.join(LAUNCHERS)}), not to {experiment}")
        sys.exit(reproduce_main(argv, prog=PROG))
    remember_region(click.get_current_context(), _option_value(args, "--region"))
    if plan_only:
        _plan(argv, cdk_out, as_json)
        return
    sys.exit(reproduce_main(argv, prog=PROG, confirm=lambda plans, deployment: _confirm(plans, deployment, yes)))


def _option_value(args, name: str) -> str | None:
    args = list(args)
    return args[args.index(name) + 1] if name in args[:-1] else None


def _plan(argv: list[str], cdk_out: Path, as_json: bool) -> None:
    from reproduce.__main__ import EXPERIMENTS, _parser, parameters
    from reproduce.estimate import estimate, summary_line
    from reproduce.offline import deployment_from_cdk_out

    args = _parser().parse_args(argv)  # argparse's own errors exit 2 with its usage line
    params = parameters(args)
    deployment = deployment_from_cdk_out(cdk_out or CDK_OUT)
    plans = EXPERIMENTS[args.command][1](params, deployment)
    est = estimate(plans, deployment)
    if as_json:
        emit_json({"experiment": args.command, "deployment": deployment.stack_name, "estimate": est.as_dict(),
                   "plans": [p.model_dump(mode="json", exclude_none=True) for p in plans]})
        return
    for run in est.runs:
        click.echo(f"{run.run_id}: {run.instances} x {run.instance_type}, {run.seconds_per_instance:.0f} s each"
                   f"{'' if run.usd is None else f', ${run.usd:.2f}'} ({run.basis})")
    click.echo(summary_line(est))
    click.echo("nothing submitted (plan only); `--json` prints every submission", err=True)


def _confirm(plans, deployment, yes: bool) -> bool:
    from reproduce.estimate import CONFIRM_ABOVE_USD, estimate, summary_line

    est = estimate(plans, deployment)
    click.echo(f"estimate: {summary_line(est)}", err=True)
    if yes or not est.needs_confirmation():
        return True
    return click.confirm(f"this is above ${CONFIRM_ABOVE_USD:.0f} (or unpriced); launch?", default=False, err=True)
