"""Shared fixtures: fake AWS credentials, and the CDK app synthesized once per test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stacks.node_runtime import prefer_venv_node

prefer_venv_node()  # jsii must run on the venv's Node 24

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _fake_aws_credentials() -> Iterator[None]:
    """No test may reach a real account: fake credentials and a fixed region, for every test."""
    saved = {k: os.environ.get(k) for k in _FAKE_ENV}
    os.environ.update(_FAKE_ENV)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class SynthesizedApp:
    outdir: Path
    stacks: dict  # name -> aws_cdk.Stack
    templates: dict  # name -> aws_cdk.assertions.Template


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The real app (app.build, with cdk.json's context), synthesized into a temporary cdk.out.

    app.build adds cdk-nag to the app, so this synthesis itself fails on an unacknowledged finding.
    """
    import json

    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    import app as app_module

    outdir = tmp_path_factory.mktemp("cdk.out")
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    cdk_app = cdk.App(outdir=str(outdir), context=context)
    stacks = app_module.build(cdk_app)
    cdk_app.synth()
    templates = {name: Template.from_stack(stack) for name, stack in stacks.items()}
    return SynthesizedApp(outdir=outdir, stacks=stacks, templates=templates)

# Devito's compiled kernels set flush-to-zero in this process once one runs (tests/workloads/seismic),
# so hypothesis float strategies must not ask for subnormal numbers.
