"""`hpcx synth`, `hpcx diff`, `hpcx deploy`: the pinned CDK CLI (node_modules) on the venv's Node, run in the
repository (where cdk.json is), as the Makefile does. diff and deploy check the credentials first."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from hpcx.errors import Failure
from hpcx.options import emit_json, json_option
from hpcx.paths import CDK_OUT, REPO_ROOT, VENV_BIN

CDK = REPO_ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"


def context_pair(ctx, param, values: tuple[str, ...]) -> list[str]:
    """-c key=value, as the CDK takes it (checked here so a typo fails before the CDK starts)."""
    for value in values:
        key, sep, _ = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not key=value (for example prefix=lab2)", ctx, param)
    return [arg for value in values for arg in ("-c", value)]


def context_option(f):
    return click.option("-c", "--context", "context", multiple=True, callback=context_pair,
                        metavar="KEY=VALUE", help="CDK context, repeatable (see README: Settings)")(f)


def _cdk_command(args: list[str]) -> tuple[list[str], dict]:
    node = VENV_BIN / "node"
    if not node.exists() or not CDK.exists():
        raise Failure(f"the CDK CLI or the venv's Node is missing ({CDK}, {node}): run `make install`")
    env = {**os.environ, "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]),
           "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1"}
    return [str(node), str(CDK), *args], env


def run_cdk(args: list[str], *, quiet_stdout: bool = False) -> int:
    """The CDK CLI with the venv's Node first on PATH (jsii needs Node 22/24), in the repository.

    quiet_stdout: the CDK's own stdout goes to stderr (with --json, stdout holds only our JSON)."""
    command, env = _cdk_command(args)
    return subprocess.run(command, cwd=REPO_ROOT, env=env, check=False,
                          stdout=sys.stderr if quiet_stdout else None).returncode


def run_cdk_echoed(args: list[str]) -> tuple[int, str]:
    """The CDK CLI with everything it prints passed on to stderr as it comes, and kept for reading."""
    command, env = _cdk_command(args)
    with subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        lines = []
        for line in process.stdout:
            sys.stderr.write(line)
            lines.append(line)
    return process.returncode, "".join(lines)


DIFF_COUNT = re.compile(r"Number of stacks with differences: (\d+)")  # the CDK CLI's closing line


def stacks_with_differences(cdk_output: str) -> int:
    found = DIFF_COUNT.findall(cdk_output)
    if not found:
        raise Failure("cdk diff did not say how many stacks differ; its messages are above")
    return int(found[-1])


def stack_summaries(cdk_out: Path) -> dict:
    """Per synthesized stack: its template, environment and how many resources and outputs it has."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    out = {}
    for name, artifact in sorted(manifest.get("artifacts", {}).items()):
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template_file = cdk_out / artifact["properties"]["templateFile"]
        template = json.loads(template_file.read_text())
        out[name] = {"template": str(template_file), "environment": artifact.get("environment"),
                     "resources": len(template.get("Resources", {})), "outputs": sorted(template.get("Outputs", {}))}
    return out


def check_credentials() -> None:
    """Who the CDK will deploy as, or a Failure saying what to configure (nothing is started)."""
    import boto3

    session = boto3.Session()
    if session.get_credentials() is None:
        from botocore.exceptions import NoCredentialsError

        raise NoCredentialsError()
    identity = session.client("sts").get_caller_identity()
    click.echo(f"as {identity['Arn']} in {session.region_name or '(region from the CDK environment)'}", err=True)


@click.command()
@context_option
@json_option
def synth(context, as_json) -> None:
    """Synthesize every stack into cdk.out (cdk-nag runs as part of it).

    \b
    Example:
      hpcx synth -c prefix=lab2
      hpcx synth --json     # per stack: template, environment, resources, outputs
    """
    code = run_cdk(["synth", "--quiet", *context], quiet_stdout=as_json)
    if as_json and code == 0:
        emit_json({"cdk_out": str(CDK_OUT), "stacks": stack_summaries(CDK_OUT)})
    sys.exit(code)


@click.command()
@click.argument("stack", required=False)
@context_option
@json_option
def diff(stack, context, as_json) -> None:
    """Compare the app with the deployed stacks (all of them without STACK); needs AWS credentials.

    \b
    Example:
      hpcx diff BatchStack -c prefix=lab2
      hpcx diff --json      # how many stacks differ, as JSON; the diff itself on stderr
    """
    check_credentials()
    args = ["diff", stack or "--all", *context]
    if not as_json:
        sys.exit(run_cdk(args))
    code, output = run_cdk_echoed(args)
    if code != 0:
        raise Failure(f"cdk diff failed (exit code {code}); its messages are above")
    differing = stacks_with_differences(output)
    emit_json({"stacks": stack or "all", "stacks_with_differences": differing, "differs": differing > 0})


@click.command()
@click.argument("stack")
@context_option
@click.option("--yes", is_flag=True, help="no approval prompt for security-relevant changes")
@json_option
def deploy(stack, context, yes, as_json) -> None:
    """Deploy one stack (needs AWS credentials and a bootstrapped account: see README, Deploying).

    \b
    Example:
      hpcx deploy BatchStack -c prefix=lab2 -c batch.nat_gateways=0
      hpcx deploy BatchStack --yes --json   # the stack's outputs as JSON on stdout
    """
    check_credentials()
    args = ["deploy", stack, *context, *(["--require-approval", "never"] if yes else [])]
    if not as_json:
        sys.exit(run_cdk(args))
    with tempfile.TemporaryDirectory(prefix="hpcx-deploy-") as tmp:
        outputs = Path(tmp) / "outputs.json"
        code = run_cdk([*args, "--outputs-file", str(outputs)], quiet_stdout=True)
        if code != 0:
            sys.exit(code)
        emit_json({"stack": stack, "outputs": json.loads(outputs.read_text()) if outputs.exists() else {}})


COMMANDS = [synth, diff, deploy]
