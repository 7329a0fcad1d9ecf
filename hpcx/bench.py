"""`hpcx bench [NAME]`: the benchmarks in benchmarks/, each a script printing one JSON line last."""

from __future__ import annotations

import json
import subprocess
import sys

import click

from hpcx.options import json_option
from hpcx.paths import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"


def names() -> list[str]:
    """The scripts, not the modules they share (rendezvous_process.py has no __main__ of its own)."""
    return sorted(p.stem for p in BENCHMARKS.glob("*.py") if '__name__ == "__main__"' in p.read_text())


def run_script(name: str) -> subprocess.CompletedProcess:
    """One benchmark in its own interpreter (they start processes and servers of their own)."""
    return subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py")], cwd=REPO_ROOT,
                          stdout=subprocess.PIPE, text=True, check=False)


@click.command()
@click.argument("name", required=False, type=click.Choice(names()))
@json_option
def bench(name, as_json) -> None:
    """Run one benchmark, or all of them (slow: a few minutes each on 2 cores). Each compares ours with its
    reference in the same run (seismic_accuracy: the gradient's dot and Taylor tests against their
    targets); `--json` prints the list of their JSON results.

    \b
    Example:
      hpcx bench allreduce --json
    """
    results, failed = [], []
    for each in [name] if name else names():
        click.echo(f"== benchmarks/{each}.py", err=True)
        done = run_script(each)
        lines = done.stdout.strip().splitlines()
        if not as_json:
            click.echo(done.stdout, nl=False)
        if done.returncode != 0 or not lines:
            failed.append(each)
            continue
        results.append(json.loads(lines[-1]))
    if as_json:
        click.echo(json.dumps(results, indent=2))
    if failed:
        raise click.ClickException(f"benchmark(s) failed: {', '.join(failed)}")
