"""The AutoMon path: what happens without the package, and our wiring driven by a stand-in package.

The real ``automon`` package is on no registry and not installed here. ``fake_automon`` below
implements the package interface our backend drives (node/coordinator ``parse_message``) with a plain
full-sync protocol in the real wire format, so these tests check our routing, pacing, draining and
accounting -- not AutoMon's algorithm.
"""

from __future__ import annotations

import enum
import socket
import sys
import types

import numpy as np
import pytest

from workloads.automon import automon_backend, cli
from workloads.automon import protocol as p
from workloads.automon.config import RunConfig
from workloads.automon.constants import AUTODIFF_ENV, AUTOMON_BUILD_ARG
from workloads.automon.coordinator import CoordinatorTimeouts
from workloads.automon.local import run_local
from workloads.automon.node import NodeTimeouts

THRESHOLD = 0.05


class _State(enum.Enum):
    Monitoring = 0
    WaitForSync = 1


class FakeNode:
    def __init__(self, idx, func, domain=None, d=None):
        self.idx, self.func, self.d = idx, func, d
        self.x = self.x0 = None
        self.version = 0
        self.state = _State.Monitoring

    def parse_message(self, frame):
        msg = p.decode(frame, self.d)
        if isinstance(msg, p.DataUpdate):
            self.x = msg.data_point
            drifted = self.x0 is None or abs(self.func(self.x) - self.func(self.x0)) > THRESHOLD
            if self.state is _State.Monitoring and drifted:
                self.state = _State.WaitForSync
                return p.encode(p.Violation(self.idx, self.version, p.ViolationOrigin.SAFE_ZONE, self.x))
            return None
        if isinstance(msg, p.GetLocalVector):
            return p.encode(p.LocalVectorInfo(self.idx, self.version, self.x))
        if isinstance(msg, p.Sync):
            self.x0, self.version, self.state = msg.global_vector, msg.constraint_version, _State.Monitoring
            return None
        raise AssertionError(msg)


class FakeCoordinator:
    def __init__(self, num_nodes, func, slack_type, sync_type, error_bound, neighborhood_size, domain, d):
        assert slack_type.value == 1 and sync_type.value == 2 and error_bound > 0
        self.n, self.func, self.d = num_nodes, func, d
        self.vectors = [None] * num_nodes
        self.pending: set[int] = set()
        self.version = 0

    def parse_message(self, frame):
        msg = p.decode(frame, self.d)
        self.vectors[msg.node_idx] = msg.local_vector
        if isinstance(msg, p.Violation) and not self.pending:
            self.version += 1
            self.pending = set(range(self.n)) - {msg.node_idx}
            return [(j, p.encode(p.GetLocalVector(j, self.version))) for j in sorted(self.pending)]
        self.pending.discard(msg.node_idx)
        if self.pending or any(v is None for v in self.vectors):
            return []
        x0 = np.mean(self.vectors, axis=0)
        f0 = float(self.func(x0))
        return [(j, p.encode(p.Sync(j, self.version, x0, np.zeros(self.d), f0 - 1, f0 + 1))) for j in range(self.n)]


@pytest.fixture(autouse=True)
def _autodiff_env_restored(monkeypatch):
    """load() sets AUTO_DIFFERENTIATION_TOOL when unset; start unset and restore whatever was there."""
    monkeypatch.setenv(AUTODIFF_ENV, "placeholder")
    monkeypatch.delenv(AUTODIFF_ENV)


@pytest.fixture
def fake_automon(monkeypatch):
    package = types.ModuleType("automon")
    package.AutomonNode, package.AutomonCoordinator = FakeNode, FakeCoordinator
    package.SlackType = enum.IntEnum("SlackType", {"NoSlack": 0, "Drift": 1})
    package.SyncType = enum.IntEnum("SyncType", {"Eager": 0, "LazyRandom": 1, "LazyLRU": 2})
    package.__version__ = "fake"
    autograd = types.ModuleType("autograd")
    monkeypatch.setitem(sys.modules, "automon", package)
    monkeypatch.setitem(sys.modules, "autograd", autograd)
    monkeypatch.setitem(sys.modules, "autograd.numpy", np)  # the functions only need numpy's API here
    return package


def test_automon_run_routes_replies_and_books_both_ends_alike(fake_automon):
    api = automon_backend.load()
    assert api.autodiff == "AutoGrad"
    cfg = RunConfig.for_type("inner_product", algorithm="automon", error_bound=0.05, num_nodes=4, iterations=30,
                             window=5, first_update_delay_s=0.05, ls_latency_s=0.004)
    run = run_local(cfg, api=api, join_timeout_s=30,
                    coordinator_timeouts=CoordinatorTimeouts(barrier_s=20, idle_s=20, drain_s=0.3, poll_s=0.05),
                    node_timeouts=NodeTimeouts(start_s=20, bye_s=20))
    c = run.coordinator
    assert c.status == "completed" and c.rejected.count == 0
    ticks = 30 - 5 + 1
    emitted = c.algorithm_summary["messages_emitted"]
    assert emitted["SYNC"] >= 4  # at least the first full sync reached every node
    for node in run.nodes:
        assert node.status == "completed" and node.algorithm_summary["data_updates"] == ticks
        assert node.wall_s >= 0.05 + (ticks - 1) * 0.004  # paced: tick k ends at delay + (k-1) * ls
        seen = c.traffic_per_node[str(node.node_idx)]
        assert seen.received == node.traffic.sent and seen.sent == node.traffic.received
        sent = node.traffic.sent.by_kind
        assert sent["VIOLATION"].messages == node.algorithm_summary["violations_sent"] >= 1
        assert sent["LOCAL_VECTOR_INFO"].messages == node.traffic.received.by_kind["GET_LOCAL_VECTOR"].messages
    for kind in ("GET_LOCAL_VECTOR", "SYNC"):
        assert emitted[kind] == sum(n.traffic.received.by_kind[kind].messages for n in run.nodes)


def test_missing_package_message_names_the_build_argument(monkeypatch):
    monkeypatch.setitem(sys.modules, "automon", None)  # import fails whatever is installed
    with pytest.raises(automon_backend.AutomonUnavailable) as err:
        automon_backend.load()
    assert f"--build-arg {AUTOMON_BUILD_ARG}='automon @ git+https://github.com/hsivan/automon@" in str(err.value)


def test_cli_stops_before_binding_when_automon_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "automon", None)
    with socket.socket() as held:  # the coordinator's port is taken: binding first would fail differently
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        code = cli.main(["coordinator", "--node-type", "kld", "--algorithm", "automon", "--error-bound", "0.01",
                         "--bind", "127.0.0.1", "--port", str(port)])
    assert code == cli.EXIT_AUTOMON_MISSING
    err = capsys.readouterr().err
    assert AUTOMON_BUILD_ARG in err and "--algorithm centralization" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["local", "--node-type", "kld", "--algorithm", "automon", "--error-bound", "0.011"], "no tuned neighbourhood"),
    (["local", "--node-type", "quadratic", "--algorithm", "automon"], "positive --error-bound"),
    (["node", "--node-type", "dnn", "--node-idx", "9", "--host", "127.0.0.1"], "outside 0..8"),
    (["local", "--node-type", "inner_product", "--iterations", "3"], "cannot fill a window"),
])
def test_cli_rejects_bad_settings_before_starting(argv, message, capsys):
    assert cli.main(argv) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_cli_reports_missing_data(tmp_path, capsys):
    code = cli.main(["local", "--node-type", "dnn", "--data-dir", str(tmp_path), "--results-dir", str(tmp_path)])
    assert code == cli.EXIT_DATA_MISSING
    assert "datasets fetch kdd" in capsys.readouterr().err
