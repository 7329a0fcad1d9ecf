"""`hpcx synth`, `hpcx diff`, `hpcx deploy`: the pinned CDK CLI (node_modules) on the venv's Node, run in the
repository (where cdk.json is), as the Makefile does. diff and deploy check the credentials first."""

from __future__ import annotations

import os
import subprocess
import sys

import click

from hpcx.errors import Failure
from hpcx.paths import REPO_ROOT, VENV_BIN

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


def run_cdk(args: list[str]) -> int:
    """The CDK CLI with the venv's Node first on PATH (jsii needs Node 22/24), in the repository."""
    node = VENV_BIN / "node"
    if not node.exists() or not CDK.exists():
        raise Failure(f"the CDK CLI or the venv's Node is missing ({CDK}, {node}): run `make install`")
    env = {**os.environ, "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]),
           "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1"}
    return subprocess.run([str(node), str(CDK), *args], cwd=REPO_ROOT, env=env, check=False).returncode


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
def synth(context) -> None:
    """Synthesize every stack into cdk.out (cdk-nag runs as part of it).

    \b
    Example:
      hpcx synth -c prefix=lab2
    """
    sys.exit(run_cdk(["synth", "--quiet", *context]))


@click.command()
@click.argument("stack", required=False)
@context_option
def diff(stack, context) -> None:
    """Compare the app with the deployed stacks (all of them without STACK); needs AWS credentials.

    \b
    Example:
      hpcx diff BatchStack -c prefix=lab2
    """
    check_credentials()
    sys.exit(run_cdk(["diff", stack or "--all", *context]))


@click.command()
@click.argument("stack")
@context_option
@click.option("--yes", is_flag=True, help="no approval prompt for security-relevant changes")
def deploy(stack, context, yes) -> None:
    """Deploy one stack (needs AWS credentials and a bootstrapped account: see README, Deploying).

    \b
    Example:
      hpcx deploy BatchStack -c prefix=lab2 -c batch.nat_gateways=0
    """
    check_credentials()
    sys.exit(run_cdk(["deploy", stack, *context, *(["--require-approval", "never"] if yes else [])]))


COMMANDS = [synth, diff, deploy]
