"""`hpcx status EXECUTION`: the command; collecting is collect.py, drawing render.py."""

from __future__ import annotations

import re
import time

import click

from hpcx.errors import Failure, remember_region
from hpcx.options import emit_json, json_option
from hpcx.status.collect import BadExecution, ExecutionArn, collect

RUN_ID = re.compile(r"^[^\s:/]{1,80}$")  # an execution name: 1-80 characters, no whitespace or ':'
STATE_MACHINE_OUTPUT = "StateMachineArn"  # BatchStack also has MultiNodeStateMachineArn: every *StateMachineArn


@click.command()
@click.argument("execution")
@click.option("--stack", help="with a run id instead of an ARN: the deployed stack whose state machine(s) ran it "
              "(e.g. hpcx-batch)")
@click.option("--region", help="the stack's region, with --stack (an ARN names its own)")
@click.option("--interval", type=click.FloatRange(min=1), default=10.0, help="seconds between refreshes")
@click.option("--once", is_flag=True, help="print one snapshot and exit")
@json_option
def status(execution, stack, region, interval, once, as_json) -> None:
    """Progress of a deployed execution: its state, the iteration's Batch jobs, the reducer, the misfit
    per iteration (LSRTM-SGD), or its Map items (cosmicai, AutoMon). Refreshes until the execution ends;
    Ctrl-C stops watching (the execution goes on). Reads only (DescribeExecution, GetExecutionHistory,
    DescribeMapRun, Batch DescribeJobs, S3 GetObject/HeadObject on the run's manifest and accumulator).

    \b
    Example:
      hpcx status arn:aws:states:us-east-1:123456789012:execution:hpcx-LSRTM-SGD:run-1
      hpcx status run-1 --stack hpcx-batch --json
    """
    target = _parse(execution, stack, region)
    session = _session(target.region if target else region)
    if session.get_credentials() is None:
        from botocore.exceptions import NoCredentialsError

        raise NoCredentialsError()
    sfn = session.client("stepfunctions")
    target = target or _resolve(session, sfn, stack, execution)
    batch, s3 = session.client("batch"), session.client("s3")
    snap = collect(target, sfn, batch, s3)
    if as_json:
        emit_json(snap)
        return
    from rich.console import Console

    from hpcx.status.render import render

    console = Console()
    if once or snap.finished:
        console.print(render(snap))
        return
    _watch(console, snap, lambda: collect(target, sfn, batch, s3), interval)


def _parse(execution: str, stack: str | None, region: str | None) -> ExecutionArn | None:
    """The ARN, or None for a run id to look up in --stack; bad input is refused before any AWS call."""
    if execution.startswith("arn:"):
        try:
            arn = ExecutionArn.parse(execution)
        except BadExecution as exc:
            raise Failure(str(exc)) from None
        if region and region != arn.region:
            raise Failure(f"--region {region} differs from the ARN's region {arn.region}: leave --region out")
        return arn
    if not stack:
        raise Failure(f"{execution!r} is not an execution ARN (arn:aws:states:...:execution:...); "
                      "for a run id, name its stack with --stack")
    if not RUN_ID.fullmatch(execution):
        raise Failure(f"{execution!r} is not an execution name (1-80 characters, no whitespace, ':' or '/')")
    return None


def _session(region: str | None):
    import boto3

    remember_region(click.get_current_context(), region)
    return boto3.Session(region_name=region)


def _resolve(session, sfn, stack: str, run_id: str) -> ExecutionArn:
    """The execution named run_id of the stack's state machine(s), from the stack's outputs."""
    outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    machines = [o["OutputValue"] for o in outputs if o["OutputKey"].endswith(STATE_MACHINE_OUTPUT)]
    if not machines:
        raise Failure(f"stack {stack} has no state machine output (*{STATE_MACHINE_OUTPUT})")
    for machine in machines:
        arn = machine.replace(":stateMachine:", ":execution:", 1) + f":{run_id}"
        try:
            sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            continue
        return ExecutionArn.parse(arn)
    names = ", ".join(m.rsplit(":", 1)[-1] for m in machines)
    raise Failure(f"no execution {run_id!r} in stack {stack}'s state machine(s) {names}")


def _watch(console, snap, refresh, interval: float) -> None:
    """Redraw every `interval` seconds until the execution ends; Ctrl-C leaves the execution running."""
    from rich.live import Live

    from hpcx.status.render import render

    try:
        with Live(render(snap), console=console, refresh_per_second=1) as live:
            while not snap.finished:
                time.sleep(interval)
                snap = refresh()
                live.update(render(snap))
        if not console.is_terminal:
            console.line()  # rich's last frame to a pipe or file ends without one
    except KeyboardInterrupt:
        click.echo("stopped watching; the execution goes on", err=True)
