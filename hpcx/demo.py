"""`hpcx demo`: what `make demo` runs (localcloud/demo.py)."""

from __future__ import annotations

import sys

import click


@click.command()
def demo() -> None:
    """Synthesize every stack into cdk.out, summarize them, then run the LSRTM-SGD, cosmicai and AutoMon
    state machines locally (no AWS account; about 3 minutes on 2 cores). Results: out/<experiment>-demo/.

    \b
    Example:
      hpcx demo
    """
    from localcloud.demo import main

    sys.exit(main())
