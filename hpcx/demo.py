"""`hpcx demo`: what `make demo` runs (localcloud/demo.py)."""

from __future__ import annotations

import sys

import click

from hpcx.options import emit_json, json_option


@click.command()
@click.option("--verbose", is_flag=True, help="show the handlers' and workers' logs (stderr) instead of writing "
              "them to files under each run's workdir")
@json_option
def demo(verbose, as_json) -> None:
    """Synthesize every stack into cdk.out, summarize them, then run the LSRTM-SGD, cosmicai and AutoMon
    state machines locally (no AWS account; 2-5 minutes on 2 cores). Results: out/<experiment>-demo/.
    Progress and results go to stdout, then the time of each phase and the machine's cores and load
    (with --json: all of that on stderr, and on stdout one JSON report: per stack its resources and cdk-nag
    counts, per run its local-run summary, the IAM total, the phase times and the machine).

    \b
    Example:
      hpcx demo
      hpcx demo --json > demo.json
    """
    from localcloud.demo import main

    def emit(report: dict) -> None:
        from hpcx.local import summary

        emit_json({**report, "runs": {name: summary(run) for name, run in report.get("runs", {}).items()}})

    sys.exit(main(verbose=verbose, on_report=emit if as_json else None))
