"""The `hpcx` command: its groups, each in a module of its own (hpcx/<group>.py)."""

from __future__ import annotations

import click

from hpcx.errors import HpcxGroup
from hpcx.paths import use_repository

use_repository()

from hpcx import bench, cdk, data, demo, figures, images, local, reproduce  # noqa: E402
from hpcx.status.command import status  # noqa: E402


@click.group(cls=HpcxGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
def cli() -> None:
    """One command for this repository: local runs, datasets, the paper's experiments, benchmarks, images
    and the CDK. Works from any directory; results go under the repository's out/.

    \b
    Example:
      hpcx demo
      hpcx local lsrtm --shots 4 --iterations 2 --json
      hpcx reproduce weak --campaign jan --plan
      hpcx figures cosmic --json
      hpcx status <execution ARN>
    """


cli.add_command(demo.demo)
cli.add_command(local.local)
cli.add_command(data.data)
cli.add_command(reproduce.reproduce_command)
cli.add_command(status)
cli.add_command(bench.bench)
cli.add_command(figures.figures)
cli.add_command(images.images)
for command in cdk.COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="hpcx")
