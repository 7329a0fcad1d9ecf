"""`hpcx local ...`: one run of an experiment on this machine (localcloud/<experiment>.py, hybrid Ray's run.py).

Each state-machine command checks its input with the validator the deployed state machine runs (the
runner's check_input) before anything is modelled or started, then calls the runner's `run`.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from hpcx.errors import Failure, one_line
from hpcx.options import ExecutionInput, Shape, cdk_out_option, emit_json, json_option, require_stacks
from hpcx.paths import OUT

POSITIVE = click.IntRange(min=1)


@click.group()
def local() -> None:
    """Run one experiment's synthesized state machine on this machine (no AWS account).

    \b
    Example:
      hpcx local lsrtm --shots 4 --iterations 2
      hpcx local cosmic --input examples/cosmicai_synthetic.json --json
    """


def summary(run) -> dict:
    """The LocalRun part of a runner's result (what every experiment shares), plus its small extras."""
    from localcloud.runs import LocalRun

    shared = {f.name for f in dataclasses.fields(LocalRun)}
    out = {name: getattr(run, name) for name in shared}
    for name in ("submitted_jobs", "reducer_invocations", "retried_children", "report", "rendezvous", "weights", "alive_at_end"):
        if hasattr(run, name):
            out[name] = getattr(run, name)
    out["succeeded"] = run.succeeded
    return out


def _validate(check, *args):
    """What `check` returns, or a Failure (exit 2) with the validator's message."""
    from workloads.common.execution_input import InvalidInput

    try:
        return check(*args)
    except InvalidInput as exc:
        raise Failure(f"input rejected, nothing started: {one_line(str(exc))}") from None


def _finish(result, as_json: bool, figure: Path | None = None) -> None:
    out = summary(result)
    if figure is not None:
        out["figure"] = figure
    if as_json:
        emit_json(out)
    sys.exit(0 if result.succeeded else 1)


def _figure(draw, name: str) -> Path | None:
    """The run's figure in its workdir (hpcx figures draws the same from a sweep); a run that succeeded
    but left nothing to draw keeps its exit code and says why on stderr."""
    try:
        path = draw()
    except (OSError, ValueError, KeyError) as exc:
        click.echo(f"[{name}] no figure: {one_line(str(exc))}", err=True)
        return None
    click.echo(f"[{name}] figure: {path}", err=True)
    return path


def _cosmic_figure(result, workdir: Path) -> Path:
    from localcloud import cosmic_plots
    from localcloud.figure_style import this_machine

    machine, cores = this_machine()
    point = cosmic_plots.point_from_summary(result.output, random_weights=bool(result.weights and "random" in result.weights),
                                            machine=machine, cores=cores, source=str(result.results_dir))
    return cosmic_plots.plot_throughput([point], workdir / cosmic_plots.FIGURE_FILE)


def _automon_figure(result, workdir: Path) -> Path:
    from localcloud import automon_plots
    from localcloud.figure_style import this_machine

    runs, _ = automon_plots.load(result.results_dir)
    note = None if any(r.algorithm == automon_plots.AUTOMON for r in runs) else "this run was centralization only"
    return automon_plots.plot_traffic(runs, workdir / automon_plots.FIGURE_FILE, where=this_machine()[0], note=note)


@local.command()
@click.option("--input", "execution_input", type=ExecutionInput(), help="execution input (default: the example, at the local sizes)")
@click.option("--shots", type=POSITIVE, default=8, help="synthetic shots the run models and uploads")
@click.option("--iterations", type=POSITIVE, default=4, help="SGD iterations (without --input)")
@click.option("--batchsize", type=POSITIVE, default=8, help="shots per iteration (without --input)")
@click.option("--step-rule", type=click.Choice(["exact", "fixed", "polyak"]), default="exact", show_default=True,
              help="exact: the step minimising the batch misfit along the gradient (one more Born modelling per "
              "shot); fixed: step-length is the step; polyak: step-length * misfit / |gradient|^2 (without --input)")
@click.option("--step-length", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="exact: the fraction of the line-search step taken, in (0, 2) (without --input)")
@click.option("--shape", type=Shape(), default="161x61", help="model grid points")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=OUT / "lsrtm-local")
@cdk_out_option
@json_option
def lsrtm(execution_input, shots, iterations, batchsize, step_rule, step_length, shape, workdir, cdk_out,
          as_json) -> None:
    """LSRTM-SGD: Devito gradients as local Batch workers, the real Lambdas, from cdk.out.

    Prints per iteration: misfit before -> predicted after (step, alpha*) for the exact rule.

    \b
    Example:
      hpcx local lsrtm --shots 4 --batchsize 4 --iterations 2 --shape 101x41
    """
    from rich.console import Console

    from localcloud import lsrtm as runner

    require_stacks(cdk_out, runner.STACK)
    sizes = runner.LocalSizes(iterations=iterations, batchsize=batchsize, num_shots=shots, step_rule=step_rule,
                              step_length=step_length, shape=shape)
    request = execution_input if execution_input is not None else runner.default_input(sizes)
    _validate(runner.check_input, cdk_out, request, sizes)
    result = runner.run_and_show(cdk_out, workdir, sizes, Console(stderr=True), execution_input=request)
    _finish(result, as_json)


@local.command()
@click.option("--input", "execution_input", type=ExecutionInput(), help="execution input (default: the example, at the local sizes)")
@click.option("--world-size", type=POSITIVE, default=4, help="ranks (without --input)")
@click.option("--samples", type=POSITIVE, default=512, help="synthetic samples the run uploads")
@click.option("--no-weights", is_flag=True, help="seeded random weights instead of a state_dict from the code bucket")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=OUT / "cosmic-local")
@cdk_out_option
@json_option
def cosmic(execution_input, world_size, samples, no_weights, workdir, cdk_out, as_json) -> None:
    """cosmicai: AstroMAE inference over N rank processes with FMI collectives, from cdk.out.

    \b
    Example:
      hpcx local cosmic --world-size 2 --samples 128 --json
    """
    from localcloud import cosmic as runner

    require_stacks(cdk_out, runner.STACK)
    sizes = runner.LocalSizes(world_size=world_size, samples=samples)
    request = execution_input if execution_input is not None else runner.default_input(sizes, not no_weights)
    _validate(runner.check_input, cdk_out, request, not no_weights)
    result = runner.run(cdk_out, execution_input=request, sizes=sizes, with_weights=not no_weights,
                        workdir=workdir, on_progress=runner.progress)
    runner.show(result)
    figure = _figure(lambda: _cosmic_figure(result, workdir), "cosmicai") if result.succeeded else None
    _finish(result, as_json, figure)


@local.command()
@click.option("--input", "execution_input", type=ExecutionInput(), help="execution input (default: centralization of the inner-product nodes)")
@click.option("--iterations", type=POSITIVE, default=40, help="rounds per run (ITERATIONS)")
@click.option("--window", type=POSITIVE, default=None, help="sliding window (WINDOW); default: the node type's")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=OUT / "automon-local")
@cdk_out_option
@json_option
def automon(execution_input, iterations, window, workdir, cdk_out, as_json) -> None:
    """AutoMon: a coordinator and its nodes as local processes over ZeroMQ, from cdk.out.

    \b
    Example:
      hpcx local automon --iterations 20 --input '{"algorithm": "centralization"}'
    """
    from localcloud import automon as runner

    require_stacks(cdk_out, runner.STACK, runner.COORDINATOR_STACK)
    request = execution_input if execution_input is not None else runner.default_input()
    sizes = runner.LocalSizes(iterations, window)
    _validate(runner.check_input, cdk_out, request, sizes)
    result = runner.run(cdk_out, execution_input=request, sizes=sizes,
                        workdir=workdir, on_progress=runner.progress)
    runner.show(result, workdir)
    figure = _figure(lambda: _automon_figure(result, workdir), "automon") if result.succeeded else None
    _finish(result, as_json, figure)


RAY_OPTIONS = ("workload", "data", "mode", "count", "wan_mbit")


@local.command()
@click.option("--input", "execution_input", type=ExecutionInput(),
              help="the run as JSON: workload, data, mode, count, wan_mbit, wan_rtt_ms (instead of the options)")
@click.option("--workload", type=click.Choice(["image", "ps"]), default="image", help="image transform or parameter server")
@click.option("--data", type=click.Choice(["share", "s3"]), default="share", help="where the inputs live")
@click.option("--mode", type=click.Choice(["ours", "default"]), default="ours", help="data-aware scheduler or Ray's")
@click.option("--count", type=POSITIVE, default=12, help="images, or training batches")
@click.option("--wan-mbit", type=click.FloatRange(min=0, min_open=True), default=100.0, help="emulated WAN bandwidth")
@json_option
@click.pass_context
def ray(ctx, execution_input, workload, data, mode, count, wan_mbit, as_json) -> None:
    """Hybrid Ray: one workload on a local 3-raylet cluster (HPC login and worker, one cloud node) with an
    emulated WAN; prints the makespan, jobs per site and MB moved.

    \b
    Example:
      hpcx local ray --workload ps --data s3 --mode default
      hpcx local ray --input '{"mode": "default", "wan_mbit": 30}' --json
    """
    from workloads.hybrid_ray.run_input import RayRunInput

    given = [f"--{name.replace('_', '-')}" for name in RAY_OPTIONS
             if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]
    if execution_input is not None and given:
        raise click.UsageError(f"give either --input or {', '.join(given)}, not both")
    raw = execution_input if execution_input is not None else {
        "workload": workload, "data": data, "mode": mode, "count": count, "wan_mbit": wan_mbit}
    request = _validate(RayRunInput.parse, raw)  # before Ray starts
    from workloads.hybrid_ray.run import run

    click.echo("[ray] starting a local 3-raylet cluster (hpc-login, hpc-worker-0, cloud-0)", err=True)
    result = run(request)
    if as_json:
        emit_json(result)
        return
    sites = ", ".join(f"{site} {n}" for site, n in result["jobs_per_site"].items())
    click.echo(f"hybrid Ray {result['workload']} ({result['mode']} scheduler, data on {result['data']}, "
               f"WAN {result['wan_mbit']:g} Mbit/s): makespan {result['makespan_s']} s; jobs per site: {sites}; "
               f"{result['mb_moved']} MB moved across the WAN; lost nodes {result['lost_nodes']}")
