"""AutoMon runs over TCP with the stand-in package (standin_automon.py): failures end runs loudly,
the NumPy-2 alias lets the lazy sync run, the emulated link makes counts repeatable, and the full-sync
histories give the run's max error."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from workloads.automon import automon_backend, cli, numpy_compat, pacing, selfcheck
from workloads.automon.config import RunConfig
from workloads.automon.constants import AUTODIFF_ENV
from workloads.automon.coordinator import CoordinatorTimeouts
from workloads.automon.local import MAX_ERROR_FILE, run_local
from workloads.automon.node import NodeTimeouts

from . import standin_automon

FAST_COORDINATOR = CoordinatorTimeouts(barrier_s=20, idle_s=20, drain_s=0.3, poll_s=0.05, bye_ack_s=10)
FAST_NODE = NodeTimeouts(start_s=20, bye_s=20)


@pytest.fixture(autouse=True)
def standin(monkeypatch):
    monkeypatch.setenv(AUTODIFF_ENV, "AutoGrad")
    return standin_automon.install(monkeypatch)


@pytest.fixture
def numpy_2_without_alias(monkeypatch):
    """NumPy 2 as shipped (no np.alltrue), and our alias switched off."""
    monkeypatch.delattr(np, "alltrue", raising=False)
    monkeypatch.setattr(numpy_compat, "apply", lambda: [])


def _config(**overrides) -> RunConfig:
    settings = {"error_bound": 0.2, "num_nodes": 4, "iterations": 40, "window": 5, "first_update_delay_s": 0.1,
                "ls_latency_s": 0.01} | overrides
    return RunConfig.for_type("inner_product", algorithm="automon", **settings)


def _run(cfg: RunConfig, **kwargs):
    return run_local(cfg, api=automon_backend.load(), join_timeout_s=60, coordinator_timeouts=FAST_COORDINATOR,
                     node_timeouts=FAST_NODE, **kwargs)


def test_an_algorithm_error_fails_the_coordinator_and_the_run(numpy_2_without_alias):
    run = _run(_config())
    c = run.coordinator
    assert c.status == "algorithm_error"
    assert "AttributeError" in c.error and "alltrue" in c.error and "VIOLATION frame from node" in c.error
    assert c.rejected.count == 0  # the algorithm's failure is not a peer's protocol violation
    # every node is told (bye) at once, says so, and acknowledges; none calls its run complete
    assert {n.status for n in run.nodes} == {"stopped_by_coordinator"}
    for node in run.nodes:
        assert node.traffic.sent.by_kind["bye_ack"].messages == 1
    assert run.max_error is None


def test_the_cli_exits_non_zero_and_writes_the_cause(numpy_2_without_alias, tmp_path, capsys):
    code = cli.main(["local", "--node-type", "inner_product", "--algorithm", "automon", "--error-bound", "0.2",
                     "--num-nodes", "4", "--iterations", "30", "--window", "5", "--first-update-delay", "0.1",
                     "--ls-latency", "0.01", "--link-latency", "0", "--results-dir", str(tmp_path)])
    assert code == cli.EXIT_EARLY_END
    doc = json.loads((tmp_path / "coordinator.json").read_text())
    assert doc["status"] == "algorithm_error" and "alltrue" in doc["error"]


def test_a_node_algorithm_error_fails_the_node_and_ends_the_run(monkeypatch):
    original = standin_automon.Node.parse_message

    def breaks_on_node_2(self, frame):
        if self.idx == 2 and self.x is not None:
            raise FloatingPointError("overflow in the safe-zone check")
        return original(self, frame)

    monkeypatch.setattr(standin_automon.Node, "parse_message", breaks_on_node_2)
    run = _run(_config())
    failed = run.nodes[2]
    assert failed.status == "algorithm_error" and failed.error == "FloatingPointError: overflow in the safe-zone check"
    assert failed.traffic.sent.by_kind["abort"].messages == 1
    assert run.coordinator.status == "node_failed" and "node 2 aborted" in run.coordinator.error
    assert all(n.status == "stopped_by_coordinator" for i, n in enumerate(run.nodes) if i != 2)


def test_with_the_numpy_alias_lazy_syncs_run_and_histories_give_the_max_error(tmp_path):
    cfg = _config()
    run = _run(cfg, results_dir=tmp_path)
    c = run.coordinator
    assert c.status == "completed" and c.error is None and c.rejected.count == 0
    assert all(n.status == "completed" for n in run.nodes)
    emitted = c.algorithm_summary["messages_emitted"]
    assert emitted["LAZY_SYNC"] >= 1 and emitted["SYNC"] >= 2 * cfg.num_nodes

    # every full sync reached every node, and each node recorded the tick it arrived in
    history = c.algorithm_summary["full_sync_history"]
    assert len(history) == emitted["SYNC"] // cfg.num_nodes
    ticks = cfg.iterations - cfg.window + 1
    for node in run.nodes:
        node_ticks = node.algorithm_summary["full_sync_ticks"]
        assert len(node_ticks) == len(history) and node_ticks == sorted(node_ticks) and node_ticks[-1] <= ticks
    err = run.max_error
    assert err["full_syncs"] == len(history) and err["ticks"] == ticks
    assert 0 < err["max_error"] and 0 < err["max_error_x0"]
    assert json.loads((tmp_path / MAX_ERROR_FILE).read_text()) == err


def test_the_emulated_link_delays_every_frame_and_repeats_counts():
    latency = 0.015
    # ticks hold a lazy sync's chain of round trips with room to spare, as the paper's 1 s ticks did its 56 ms RTT
    # 40 rounds: with 20, the first rounds' lazy syncs dominate and repeats differed by up to 5.3 % (150 vs 142);
    # with 40 they stay within 1.3 % (228, 230, 231)
    cfg = _config(iterations=40, ls_latency_s=0.2, link_latency_s=latency)
    first, second = _run(cfg), _run(cfg)
    counts = []
    for run in (first, second):
        assert run.coordinator.status == "completed" and run.coordinator.run.link_latency_s == latency
        counts.append(run.coordinator.traffic.received.messages + run.coordinator.traffic.sent.messages)
        # the barrier alone costs a round trip: 'ready' in, 'start' out, each held for the latency
        assert all(n.wall_s >= 2 * latency for n in run.nodes)
    assert abs(counts[0] - counts[1]) <= 0.05 * max(counts), counts


def test_the_selfcheck_runs_a_lazy_sync_and_fails_without_the_alias(monkeypatch, capsys):
    assert selfcheck.main() == 0
    assert "LAZY_SYNC" in capsys.readouterr().out
    monkeypatch.delattr(np, "alltrue", raising=False)
    monkeypatch.setattr(numpy_compat, "apply", lambda: [])
    assert selfcheck.main() == 1
    assert "FAILED: AttributeError" in capsys.readouterr().err


def test_a_bare_package_exception_carries_the_reason_the_package_logged(monkeypatch):
    def pending(self, frame):
        logging.getLogger("automon.common_coordinator").error("Got violation when there is a pending violation")
        raise Exception

    monkeypatch.setattr(standin_automon.Coordinator, "parse_message", pending)
    monkeypatch.setattr(standin_automon.Coordinator, "__module__", "automon.common_coordinator")
    run = _run(_config())
    assert run.coordinator.status == "algorithm_error"
    assert run.coordinator.error.endswith("RuntimeError: automon: Got violation when there is a pending violation")


@pytest.mark.parametrize("command", ["local", "coordinator"])
def test_a_full_sync_longer_than_the_tick_is_refused_with_the_measured_time(monkeypatch, capsys, command):
    monkeypatch.setattr(standin_automon.Coordinator, "full_sync_delay_s", 0.3)
    argv = [command, "--node-type", "inner_product", "--algorithm", "automon", "--error-bound", "0.2",
            "--num-nodes", "4", "--ls-latency", "0.1", "--port", "1"]
    assert cli.main(argv) == cli.EXIT_USAGE  # before any socket: port 1 would not bind
    err = capsys.readouterr().err
    assert re.search(r"a full sync of inner_product with AutoGrad took 0\.3\d s here, longer than the 0\.1 s tick", err)
    assert "Use --ls-latency 0.5 or more" in err


def test_a_full_sync_that_fits_its_tick_passes_the_check():
    standin_automon.Coordinator.full_sync_delay_s = 0.05  # the fixture restores it
    cfg = _config(ls_latency_s=1.0)
    assert 0.05 <= pacing.check(automon_backend.load(), cfg) < 1.0
