"""Fixtures: loopback rendezvous servers that stop by themselves."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from workloads.cosmic.rendezvous_server import ServerThread, running_server


@pytest.fixture
def server() -> Iterator[ServerThread]:
    """A rendezvous server on 127.0.0.1 with default timeouts."""
    with running_server() as srv:
        yield srv


@pytest.fixture
def make_server() -> Iterator[Callable[..., ServerThread]]:
    """Start servers with overridden settings: make_server(name_timeout_s=0.2)."""
    with contextlib.ExitStack() as stack:
        yield lambda **overrides: stack.enter_context(running_server(**overrides))
