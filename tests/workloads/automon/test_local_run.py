"""Whole runs over TCP on 127.0.0.1: a coordinator and 4 nodes, with exact traffic derived from the protocol."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import zmq

from workloads.automon import protocol as p
from workloads.automon.accounting import zmtp_frame_bytes
from workloads.automon.config import RunConfig
from workloads.automon.coordinator import CoordinatorTimeouts
from workloads.automon.data import event_log, local_vectors
from workloads.automon.local import LOOPBACK, run_local
from workloads.automon.node import NodeTimeouts
from workloads.automon.results import CoordinatorResult, NodeResult, coordinator_path, node_path
from workloads.automon.runner import build_coordinator, run_node

N, ROUNDS, WINDOW = 4, 30, 5
FAST_COORDINATOR = CoordinatorTimeouts(barrier_s=20, idle_s=20, drain_s=0.3, poll_s=0.05, bye_ack_s=10)
FAST_NODE = NodeTimeouts(start_s=20, bye_s=20, send_s=10)


def _config(**overrides) -> RunConfig:
    settings = {"num_nodes": N, "iterations": ROUNDS, "window": WINDOW, "send_interval_s": 0.0} | overrides
    return RunConfig.for_type("inner_product", **settings)


def _tally(frames: list[bytes]) -> dict:
    return {"messages": len(frames), "bytes": sum(len(f) for f in frames),
            "zmtp_bytes": sum(zmtp_frame_bytes(len(f)) for f in frames)}


def _final_value(cfg: RunConfig) -> float:
    """f at the mean of every node's last local vector, computed without any socket."""
    log = event_log(cfg)
    finals = [list(local_vectors(cfg, log, i))[-1] for i in range(cfg.num_nodes)]
    x = np.mean(np.stack(finals), axis=0)
    return float(x[: cfg.d // 2] @ x[cfg.d // 2:])


def test_centralization_traffic_is_exactly_what_the_protocol_says(tmp_path):
    cfg = _config()
    run = run_local(cfg, results_dir=tmp_path, coordinator_timeouts=FAST_COORDINATOR, node_timeouts=FAST_NODE,
                    join_timeout_s=30)

    # From the protocol: each node reports once when all windows are full (after WINDOW rounds), then once
    # per later round; every update is a 12-byte header + d doubles (no constraint version).
    updates = ROUNDS - WINDOW + 1
    update_bytes = 12 + 8 * cfg.d
    node_sent = {"ready": _tally([b"ready"]), "done": _tally([b"done"]), "bye_ack": _tally([b"bye_ack"]),
                 "LOCAL_VECTOR_INFO": _tally([b"x" * update_bytes] * updates)}
    node_received = {"start": _tally([b"start"]), "bye": _tally([b"bye"])}
    sent_total = _tally([b"ready", b"done", b"bye_ack", *[b"x" * update_bytes] * updates])
    assert sent_total == {"messages": updates + 3, "bytes": 16 + updates * 332,
                          "zmtp_bytes": 22 + updates * (332 + 9)}  # > 255 bytes: 9-byte ZMTP frame header

    c = run.coordinator
    assert c.status == "completed" and c.nodes_ready == c.nodes_done == list(range(N))
    for node in run.nodes:
        assert node.status == "completed" and node.local_vectors == updates
        t = node.traffic.model_dump()
        assert {k: v for k, v in t["sent"].items() if k != "by_kind"} == sent_total
        assert t["sent"]["by_kind"] == node_sent
        assert t["received"]["by_kind"] == node_received
        # the coordinator booked the same frames for this node, in the opposite direction
        seen = c.traffic_per_node[str(node.node_idx)]
        assert seen.received == node.traffic.sent and seen.sent == node.traffic.received
    assert c.traffic.received.messages == N * (updates + 3)
    assert c.traffic.received.bytes == N * (16 + updates * update_bytes)
    assert c.traffic.sent.messages == 2 * N and c.traffic.sent.bytes == N * 8
    assert c.rejected.count == 0 and c.traffic_other_peers.received.messages == 0

    summary = c.algorithm_summary
    assert summary["updates_per_node"] == [updates] * N
    assert summary["final_value"] == pytest.approx(_final_value(cfg), rel=1e-12)

    assert CoordinatorResult.model_validate_json(coordinator_path(tmp_path).read_text()) == c
    for node in run.nodes:
        assert NodeResult.model_validate_json(node_path(tmp_path, node.node_idx).read_text()) == node


class _RawNode:
    """A hand-driven DEALER, counting what it sends, to put malformed frames on a real connection."""

    def __init__(self, ctx: zmq.Context, identity: bytes, port: int) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, identity)
        self.sock.setsockopt(zmq.LINGER, 2000)
        monitor = self.sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.sock.connect(f"tcp://{LOOPBACK}:{port}")
        assert monitor.poll(5000), "no ZMTP handshake with the coordinator"
        self.sock.disable_monitor()
        monitor.close(linger=0)
        self.sent: list[bytes] = []
        self.sent_messages = 0

    def send(self, *frames: bytes) -> None:
        self.sock.send_multipart(list(frames))
        self.sent.extend(frames)
        self.sent_messages += 1

    def expect(self, frame: bytes) -> None:
        assert self.sock.poll(10000), f"no {frame!r} from the coordinator"
        assert self.sock.recv() == frame


def test_bad_frames_are_counted_and_the_run_still_completes():
    cfg = _config()
    d, hand_idx = cfg.d, N - 1
    coordinator = build_coordinator(cfg, LOOPBACK, 0, FAST_COORDINATOR)
    coord_thread = threading.Thread(target=lambda: results.append(coordinator.run()))
    results: list[CoordinatorResult] = []
    coord_thread.start()
    ctx = zmq.Context()
    try:
        # strangers: an unknown identity and an out-of-range node index
        rogue, stray = _RawNode(ctx, b"rogue", coordinator.port), _RawNode(ctx, b"7", coordinator.port)
        rogue.send(p.READY)
        rogue.send(b"\x00" * 40)
        stray.send(p.READY)
        # node 3 is hand-driven: data before 'ready', then a duplicate 'ready', all during the barrier
        hand = _RawNode(ctx, str(hand_idx).encode(), coordinator.port)
        hand.send(p.encode(p.CentralizationUpdate(hand_idx, np.zeros(d))))
        hand.send(p.READY)
        hand.send(p.READY)
        time.sleep(0.3)  # the barrier cannot pass before nodes 0-2 start, so all of the above is seen in it
        others = [threading.Thread(target=lambda i=i: run_node(cfg, i, LOOPBACK, coordinator.port, FAST_NODE))
                  for i in range(N - 1)]
        for t in others:
            t.start()
        hand.expect(p.START)

        header = p.HEADER.pack
        bad = [
            (b"", "short_header"),
            (header(9, hand_idx, 0), "unknown_type"),
            (header(2, hand_idx, 8) + bytes(16), "length_mismatch"),
            (p.encode(p.CentralizationUpdate(hand_idx, np.zeros(d - 1))), "payload_size"),
            (p.encode(p.CentralizationUpdate(hand_idx, np.full(d, np.nan))), "non_finite"),
            (p.encode(p.CentralizationUpdate(2, np.ones(d))), "node_mismatch"),
            (p.encode(p.Violation(hand_idx, 0, p.ViolationOrigin.SAFE_ZONE, np.ones(d))), "unexpected_type"),
            (p.READY, "unexpected_control"),
            (p.START, "unexpected_control"),
        ]
        for frame, _ in bad:
            hand.send(frame)
        hand.send(b"part one", b"part two")
        log = event_log(cfg)
        for vector in local_vectors(cfg, log, hand_idx):
            hand.send(p.encode(p.CentralizationUpdate(hand_idx, vector)))
        hand.send(p.DONE)
        hand.expect(p.BYE)
        hand.send(p.BYE_ACK)
        coord_thread.join(30)
        for t in others:
            t.join(30)
    finally:
        ctx.destroy(linger=0)

    c = results[0]
    updates = ROUNDS - WINDOW + 1
    assert c.status == "completed" and c.nodes_done == list(range(N))
    assert c.algorithm_summary["updates_per_node"] == [updates] * N
    assert c.algorithm_summary["final_value"] == pytest.approx(_final_value(cfg), rel=1e-12)
    expected_reasons = {"unknown_peer": 3, "before_start": 1, "duplicate_ready": 1, "multipart": 1}
    for _, reason in bad:
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    assert c.rejected.by_reason == expected_reasons
    rejected_frames = [rogue.sent[0], rogue.sent[1], stray.sent[0], hand.sent[0], hand.sent[2],
                       *(f for f, _ in bad), b"part one", b"part two"]
    assert c.rejected.bytes == sum(len(f) for f in rejected_frames)
    # strangers' traffic is booked apart; node 3's row holds every frame it sent, good or bad
    assert c.traffic_other_peers.received.messages == 3
    assert c.traffic_other_peers.received.bytes == len(p.READY) * 2 + 40
    hand_row = c.traffic_per_node[str(hand_idx)].received
    assert hand_row.messages == hand.sent_messages and hand_row.bytes == sum(len(f) for f in hand.sent)
    assert hand_row.zmtp_bytes == sum(zmtp_frame_bytes(len(f)) for f in hand.sent)


def test_timeouts_end_runs_with_a_status_instead_of_hanging():
    cfg = _config()
    lonely = build_coordinator(cfg, LOOPBACK, 0, CoordinatorTimeouts(barrier_s=0.3, poll_s=0.05))
    free_port = lonely.port
    result = lonely.run()
    assert result.status == "barrier_timeout" and result.nodes_ready == []
    node = run_node(cfg, 0, LOOPBACK, free_port, NodeTimeouts(start_s=0.3))  # nobody listens there any more
    assert node.status == "start_timeout" and node.local_vectors == 0
    assert node.traffic.received.messages == 0


def test_the_coordinator_closes_only_after_every_node_acknowledged_bye():
    """The shutdown race: a coordinator that closed right after 'bye' could be seen gone before its 'bye'
    was read, and frames a node sent meanwhile were booked by the node only."""
    cfg = _config(num_nodes=1)
    coordinator = build_coordinator(cfg, LOOPBACK, 0, FAST_COORDINATOR)
    results: list[CoordinatorResult] = []
    coord_thread = threading.Thread(target=lambda: results.append(coordinator.run()))
    coord_thread.start()
    ctx = zmq.Context()
    try:
        hand = _RawNode(ctx, b"0", coordinator.port)
        gone = hand.sock.get_monitor_socket(zmq.EVENT_DISCONNECTED, addr="inproc://bye-ack-test")
        hand.send(p.READY)
        hand.expect(p.START)
        for vector in local_vectors(cfg, event_log(cfg), 0):
            hand.send(p.encode(p.CentralizationUpdate(0, vector)))
        hand.send(p.DONE)
        hand.expect(p.BYE)
        time.sleep(0.5)  # a slow node: the coordinator must still be there
        assert not gone.poll(0), "the coordinator closed before this node acknowledged 'bye'"
        hand.send(p.BYE_ACK)
        coord_thread.join(30)
        assert gone.poll(5000)  # and then it closes
        hand.sock.disable_monitor()
        gone.close(linger=0)
    finally:
        ctx.destroy(linger=0)
    (c,) = results
    assert c.status == "completed"
    booked = c.traffic_per_node["0"].received
    assert booked.by_kind["bye_ack"].messages == 1
    assert booked.messages == hand.sent_messages and booked.bytes == sum(len(f) for f in hand.sent)
