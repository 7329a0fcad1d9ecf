"""`hpcx demo`: what `make demo` runs (localcloud/demo.py)."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--verbose", is_flag=True, help="show the handlers' and workers' logs (stderr) instead of writing "
              "them to files under each run's workdir")
def demo(verbose) -> None:
    """Synthesize every stack into cdk.out, summarize them, then run the LSRTM-SGD, cosmicai and AutoMon
    state machines locally (no AWS account; 2-5 minutes on 2 cores). Results: out/<experiment>-demo/.
    Progress and results go to stdout, then the time of each phase and the machine's cores and load.

    \b
    Example:
      hpcx demo
    """
    from localcloud.demo import main

    sys.exit(main(verbose=verbose))
