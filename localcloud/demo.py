"""`make demo`: synthesize every stack into cdk.out, print what was built, then run the workflows locally.

For each stack: resources by type, outputs, and cdk-nag findings (unacknowledged, acknowledged).
Then the state machines from cdk.out run on this machine, each through its runner's command line
(localcloud/<experiment>.py, results under out/<experiment>-demo/): LSRTM-SGD (image, misfit curve and
report), cosmic with 4 ranks, and one AutoMon centralization experiment, each printing its IAM counters
(calls evaluated under the synthesized roles, distinct (role, action) pairs, refused), then their total,
and the time of each phase with the machine it ran on (demo_report.py).

Progress and results go to stdout. The handlers' and workers' logs go to files under each run's workdir
(one line says where): they are what a person debugging reads, not what a person watching the demo reads,
and interleaved with the progress they hid it. `--verbose` leaves them on stderr.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from stacks.node_runtime import prefer_venv_node

prefer_venv_node()

import aws_cdk as cdk  # noqa: E402
import cdk_nag  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import app as app_module  # noqa: E402
from localcloud import automon, cosmic, lsrtm  # noqa: E402
from localcloud.asl import state_machines_in_cdk_out  # noqa: E402
from localcloud.demo_report import PhaseTimer, Start, logs_to_file, phase_lines  # noqa: E402
from localcloud.runs import iam_total  # noqa: E402
from stacks.config import ConfigError  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
ACK_METADATA = "aws:cdk:acknowledged-rules"
RUNNERS = [  # (runner, phase name in the timing report, title)
    (lsrtm, "LSRTM", "LSRTM-SGD (BatchStack), executed locally from cdk.out"),
    (cosmic, "cosmicai", "cosmicai (FmiStack): 4 ranks with collectives through a local rendezvous server"),
    (automon, "AutoMon", "AutoMon experiment (AutoMonNodesStack): a coordinator and its nodes as local processes"),
]
STDERR_LOG = "stderr.log"  # in each run's workdir: what its processes wrote to stderr, unless --verbose


def acknowledged_findings(stack: cdk.Stack) -> int:
    return sum(
        sum(1 for rule in entry.data if "AwsSolutions-" in rule)
        for construct in stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == ACK_METADATA
    )


def synthesize(outdir: Path) -> dict[str, cdk.Stack]:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    cdk_app = cdk.App(outdir=str(outdir), context=context)
    stacks = app_module.build(cdk_app)
    cdk_app.synth()  # fails on any unacknowledged cdk-nag finding
    return stacks


def main(verbose: bool = False, on_report: Callable[[dict], None] | None = None) -> int:
    """on_report (hpcx demo --json): called at the end with what the demo found; everything the demo and
    its runners print then goes to stderr, so that stdout can hold the report alone."""
    if on_report is None:
        return _demo(verbose, None)
    with _stderr_copy() as progress, contextlib.redirect_stdout(progress):
        report: dict = {}
        status = _demo(verbose, report)
    if report:  # empty when the demo stopped before its runs (a configuration error, already printed)
        on_report(report)
    return status


def _stderr_copy():
    """A stream on a copy of file descriptor 2: while a workflow runs, fd 2 itself goes to its log file
    (logs_to_file), and the progress printed here must still reach the terminal. A stderr without a file
    descriptor (a test runner's) is used as it is."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return contextlib.nullcontext(sys.stderr)
    sys.stderr.flush()
    return os.fdopen(os.dup(fd), "w", buffering=1)


def _demo(verbose: bool, report: dict | None) -> int:
    console = Console(width=max(Console().width, 130), file=sys.stdout)  # sys.stdout as redirected
    outdir = REPO_ROOT / "cdk.out"
    start, timer = Start.now(), PhaseTimer()
    started = time.perf_counter()
    with timer.phase("synth"), console.status("synthesizing every stack into cdk.out (cdk-nag runs as part of synthesis)"):
        try:
            stacks = synthesize(outdir)
        except ConfigError as exc:
            console.print(f"[red]{exc}")
            return 2
    console.print(f"synthesized {len(stacks)} stack(s) in {time.perf_counter() - started:.1f} s into {outdir}")
    with timer.phase("summary"):
        stack_rows = summarize(console, stacks, outdir)

    statuses, runs = [], []
    for runner, phase, title in RUNNERS:
        console.rule(title)
        workdir = REPO_ROOT / "out" / f"{runner.EXPERIMENT}-demo"
        with timer.phase(phase), start.cpus_kept(), logs_to_file(workdir / STDERR_LOG, verbose=verbose) as stderr_log:
            statuses.append(runner.main(["--cdk-out", str(outdir), "--workdir", str(workdir)], on_result=runs.append))
        if stderr_log is not None:
            console.print(f"logs of its handlers, workers and tasks: under {workdir} (what they wrote to stderr: "
                          f"{stderr_log.name}; `hpcx demo --verbose` shows it here)", highlight=False)
    total = iam_total(runs)
    console.print(f"IAM, {len(runs)} workflows together: {total['calls_evaluated']} calls evaluated under the "
                  f"synthesized roles, {total['distinct_role_action_pairs']} distinct (role, action) pairs, "
                  f"{total['denied']} refused")
    for line in phase_lines(timer.seconds, start.machine()):
        console.print(line, highlight=False)
    console.print("next: `make test`; deploying needs an AWS account: see README, 'Deploying'.")
    if report is not None:
        report.update(stacks=stack_rows, runs={r.experiment: r for r in runs}, iam=total,
                      phases_s=dict(timer.seconds), machine=start.machine(), succeeded=max(statuses) == 0)
    return max(statuses)


def summarize(console: Console, stacks: dict[str, cdk.Stack], outdir: Path) -> dict[str, dict]:
    """Per stack: resources by type, outputs, cdk-nag findings; then the state machines in cdk.out.
    Returns the same per stack as plain numbers."""
    rows = {}
    table = Table(title="Stacks", show_lines=True)
    for column in ("stack", "resources by type", "outputs", "cdk-nag"):
        table.add_column(column, overflow="fold")
    for name, stack in stacks.items():
        template = json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())
        counts = collections.Counter(r["Type"] for r in template.get("Resources", {}).values())
        by_type = "\n".join(f"{n:3d}  {t.removeprefix('AWS::')}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        outputs = "\n".join(sorted(template.get("Outputs", {})))
        report = cdk_nag.AwsSolutionsChecks(verbose=False).validate_scope(stack)
        nag = f"{len(report.violations)} unacknowledged\n{acknowledged_findings(stack)} acknowledged"
        table.add_row(f"{name}\n({sum(counts.values())} resources)", by_type, outputs, nag)
        rows[name] = {"resources": sum(counts.values()), "outputs": sorted(template.get("Outputs", {})),
                      "nag_unacknowledged": len(report.violations), "nag_acknowledged": acknowledged_findings(stack)}
    console.print(table)

    machines = state_machines_in_cdk_out(outdir)
    console.print(f"state machines: {', '.join(machines)}")
    return rows


if __name__ == "__main__":
    sys.exit(main(verbose="--verbose" in sys.argv[1:]))
