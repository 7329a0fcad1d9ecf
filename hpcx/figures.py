"""`hpcx figures automon|cosmic|ray`: one experiment's figure, the paper's numbers beside new runs and models.

Each command draws from a results file given with --from, or runs the smallest local sweep that makes the
figure. The drawing lives in localcloud/<experiment>_plots.py; the paper's numbers in
workloads/<experiment>/published.py. A --from that holds no such result stops with one line and exit code
2 before anything is run or written.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from hpcx.errors import Failure, one_line
from hpcx.options import cdk_out_option, emit_json, json_option, require_stacks
from hpcx.paths import OUT, REPO_ROOT
from workloads.automon.constants import node_type

DEFAULT_OUT = OUT / "figures"
# the sweep's function (localcloud/automon_plots.SWEEP_NODE_TYPE) reports nothing before its window is full
AUTOMON_WINDOW = node_type("inner_product").window
RUNS = OUT / "figures"  # the sweeps' workdirs, wherever --out puts the PNG (docs/ gets only the picture)


def _progress(name: str):
    def say(message: str) -> None:
        click.echo(f"[figures {name}] {message}", err=True)
    return say


def from_option(f):
    return click.option("--from", "source", type=click.Path(exists=True, path_type=Path),
                        help="results to draw instead of running the local sweep")(f)


def out_option(f):
    return click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
                        help="folder the PNG goes to (a sweep's runs go under out/figures/)")(f)


def _load(loader, source: Path):
    """The loader's result, or exit 2 with its one-line reason (nothing has been written yet)."""
    try:
        return loader(source)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--from'") from None


def _sweep(run, *args, **kwargs):
    """A sweep's result; a run of it that failed ends the command with one line and exit code 1."""
    try:
        return run(*args, **kwargs)
    except RuntimeError as exc:
        raise click.ClickException(f"the sweep failed, no figure drawn: {one_line(str(exc))}") from None


def _finish(doc: dict, path: Path, as_json: bool) -> None:
    if as_json:
        emit_json(doc)
    else:
        click.echo(path)


@click.group()
def figures() -> None:
    """Draw one experiment's figure: what is published, what is a model and what ran here, each labelled.

    \b
    Example:
      hpcx figures cosmic --json
      hpcx figures ray --from out/bench/hybrid_scheduler.json --out docs/
    """


@figures.command()
@from_option
@out_option
@click.option("--iterations", type=click.IntRange(min=AUTOMON_WINDOW), default=60,
              help=f"rounds of each sweep run (without --from); at least the window, {AUTOMON_WINDOW}")
@json_option
def automon(source, out, iterations, as_json) -> None:
    """AutoMon vs centralization: messages and bytes per run, and the traffic reduction per error bound
    beside the paper's (SIGMOD 2022) AWS end points.

    --from: a run's coordinator.json, a workdir of `hpcx local automon` (or its --json output), or this
    command's --json output. Without it: centralization and AutoMon at error bounds 0.02 and 0.8 on inner
    product, 10 nodes, --iterations rounds, over ZeroMQ on 127.0.0.1 (about a minute on 2 cores at 60
    rounds; each round adds 0.8 s; the paper ran 1020). AutoMon needs the
    automon package (hsivan/automon, on no registry); without it only centralization runs, and the figure
    says so.

    \b
    Example:
      hpcx figures automon --from out/automon-local/results --out docs/
      hpcx figures automon --iterations 200 --json
    """
    from localcloud import automon_plots as plots
    from localcloud.figure_style import this_machine

    note = None
    if source is not None:
        runs, machine = _load(plots.load, source)
        where = machine.get("description") or "the machine that ran them (not recorded with the results)"
    else:
        say = _progress("automon")
        say("centralization and AutoMon on 127.0.0.1 (about a minute) ...")
        # the automon package configures logging onto stdout when imported; stdout is the --json result's
        with contextlib.redirect_stdout(sys.stderr):
            runs, note = _sweep(plots.sweep, RUNS / "automon-runs", say, iterations)
        where = this_machine()[0]
        machine = {"description": where, "cores": this_machine()[1]}
    if not runs:
        raise Failure("no AutoMon or centralization run to draw")
    path = plots.plot_traffic(runs, out / plots.FIGURE_FILE, where=where,
                              note="automon package not installed" if note else None)
    _finish(plots.document(runs, {**machine, "description": where}, path), path, as_json)


class WorldSizes(click.ParamType):
    """Comma-separated rank counts, e.g. 1,2,4."""

    name = "world_sizes"

    def convert(self, value, param, ctx) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        parts = [p.strip() for p in str(value).split(",")]
        if not parts or not all(p.isdigit() and int(p) >= 1 for p in parts):
            self.fail(f"{value!r} is not a comma-separated list of rank counts of at least 1 (e.g. 1,2,4)", param, ctx)
        return tuple(sorted({int(p) for p in parts}))


@figures.command()
@from_option
@out_option
@click.option("--world-sizes", type=WorldSizes(), default="1,2,4", help="ranks of the local sweep (without --from)")
@click.option("--samples", type=click.IntRange(min=1), default=1024, help="synthetic samples per sweep run")
@cdk_out_option
@json_option
def cosmic(source, out, world_sizes, samples, cdk_out, as_json) -> None:
    """cosmicai: inference throughput (samples/s) against ranks, local runs beside the CAI paper's Lambda runs.

    --from: a run's summary.json or workdir (several: every summary.json below it), `hpcx local cosmic
    --json` output, or this command's --json output. Without it: the synthesized state machine at each
    of --world-sizes with random weights (about 15 s per run on 2 cores; 1,2,4 takes about 50 s).

    \b
    Example:
      hpcx figures cosmic --world-sizes 1,2 --samples 128
    """
    from localcloud import cosmic_plots as plots

    if source is not None:
        points = _load(plots.load, source)
    else:
        from localcloud import cosmic as runner

        require_stacks(cdk_out, runner.STACK)
        say = _progress("cosmic")
        say(f"the cosmicai state machine at world sizes {', '.join(map(str, world_sizes))} ...")
        points = _sweep(plots.sweep, cdk_out, RUNS / "cosmic-runs", say, world_sizes=world_sizes, samples=samples)
    path = plots.plot_throughput(points, out / plots.FIGURE_FILE)
    _finish(plots.document(points, path), path, as_json)


@figures.command()
@from_option
@out_option
@json_option
def ray(source, out, as_json) -> None:
    """Hybrid Ray: makespan against WAN bandwidth, ours and Ray's default, with the fluid lower bound and the
    paper's "up to 20 %" drawn as a band.

    --from: a file holding benchmarks/hybrid_scheduler.py's last line, `hpcx bench hybrid_scheduler
    --json` output, or this command's --json output. Without it: that benchmark (24 images, 30/100/200
    Mbit/s, each mode twice; 2 to 3 minutes on 2 cores).

    \b
    Example:
      hpcx figures ray --from out/figures/ray.json
    """
    from localcloud import ray_plots as plots

    if source is not None:
        run = _load(plots.load, source)
    else:
        say = _progress("ray")
        say(f"benchmarks/{plots.BENCHMARK}.py (2 to 3 minutes) ...")
        run, _ = _sweep(plots.sweep, REPO_ROOT, say)
    path = plots.plot_makespan(run, out / plots.FIGURE_FILE)
    _finish(plots.document(run, path), path, as_json)
