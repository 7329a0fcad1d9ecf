"""The hpcx command under click.testing.CliRunner, and the cdk.out its offline commands read."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hpcx.main import cli


@pytest.fixture
def hpcx():
    """Invoke `hpcx ARGS...`; returns Click's Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(cli, list(args), prog_name="hpcx", **kwargs)

    return invoke


@pytest.fixture
def forbid(monkeypatch):
    """forbid(module, name): the test fails if that function is called (nothing may start)."""

    def install(module, name: str) -> None:
        def refuse(*a, **k):
            raise AssertionError(f"{module.__name__}.{name} was called: something started")

        monkeypatch.setattr(module, name, refuse)

    return install
