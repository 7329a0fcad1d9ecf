"""The coordinator process: barrier, message loop, end of run. The algorithm lives in a core object.

Phases:
1. barrier -- wait until every node ``0..N-1`` has sent ``ready``, then send ``start`` to each;
2. run -- hand every node frame to the core and route its replies, until all nodes sent ``done``;
3. drain -- (AutoMon) keep serving until the nodes fall quiet, so a sync in flight completes;
4. ``bye`` to every node, then wait for every node's ``bye_ack`` before closing: a node never sees the
   connection drop before its ``bye``, and frames a node sent before its ack are booked here too.

A frame that breaks the protocol (unknown sender, multipart, bad header or payload, a control word out
of place) is counted under ``rejected`` with its reason and dropped; the coordinator keeps going.
A failure of the algorithm itself is not a peer's fault and is never absorbed: the run ends at once
with status ``algorithm_error`` (the core raised) or ``node_failed`` (a node sent ``abort``), and
``error`` says what failed. Runs also end early, with a status saying why, when the barrier times out,
when every connection is gone, or when no frame arrives for ``idle_timeout_s``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .accounting import TrafficLedger
from .protocol import ABORT, BYE, BYE_ACK, CONTROL_FRAMES, DONE, READY, START, ProtocolError, frame_kind
from .results import CoordinatorResult, CoordinatorStatus, RejectedModel, RunInfo, TrafficModel
from .transport import OTHER_PEER, CoordinatorSocket, Received, identity_of

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 30.0


class CoordinatorCore(Protocol):
    algorithm: str
    expects_replies: bool

    def on_message(self, node_idx: int, frame: bytes) -> list[tuple[int, bytes]]: ...

    def summary(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CoordinatorTimeouts:
    barrier_s: float = 600.0  # all nodes ready within this long
    idle_s: float = 600.0  # longest silence tolerated once started
    drain_s: float = 1.0  # quiet time that ends the drain phase (AutoMon)
    poll_s: float = 1.0  # how often an idle loop wakes to check connections and timeouts
    bye_ack_s: float = 60.0  # after 'bye', wait this long for every node's 'bye_ack' before closing


DEFAULT_COORDINATOR_TIMEOUTS = CoordinatorTimeouts()


class _Rejections:
    def __init__(self) -> None:
        self.by_reason: Counter[str] = Counter()
        self.bytes = 0

    def add(self, reason: str, frames: list[bytes], sender: bytes) -> None:
        self.by_reason[reason] += 1
        self.bytes += sum(len(f) for f in frames)
        log.warning("rejected a frame from %r: %s", sender[:32], reason)

    def model(self) -> RejectedModel:
        return RejectedModel(count=sum(self.by_reason.values()), bytes=self.bytes,
                             by_reason=dict(sorted(self.by_reason.items())))


class Coordinator:
    def __init__(self, core: CoordinatorCore, run: RunInfo, host: str, port: int,
                 timeouts: CoordinatorTimeouts = DEFAULT_COORDINATOR_TIMEOUTS) -> None:
        self._core = core
        self._run = run
        self._n = run.num_nodes
        self._timeouts = timeouts
        self._ledger = TrafficLedger()
        self._sock = CoordinatorSocket(host, port, {identity_of(i) for i in range(self._n)}, self._ledger,
                                       latency_s=run.link_latency_s)
        self.port = self._sock.port
        self._rejected = _Rejections()
        self._ready: set[int] = set()
        self._done: set[int] = set()
        self._acked: set[int] = set()
        self._frames = 0
        self._failure: tuple[CoordinatorStatus, str] | None = None

    def _fail(self, status: CoordinatorStatus, error: str) -> None:
        """End the run (the serving loop stops) with ``status``; the first failure is the one reported."""
        if self._failure is None:
            log.error("run failed (%s): %s", status, error)
            self._failure = (status, error)

    def _sender(self, msg: Received) -> int | None:
        """The sender's node index, or None after counting the frame as rejected."""
        text = msg.identity.decode("ascii", "replace")
        if not (text.isdigit() and int(text) < self._n and identity_of(int(text)) == msg.identity):
            self._rejected.add("unknown_peer", msg.frames, msg.identity)
            return None
        if len(msg.frames) != 1:
            self._rejected.add("multipart", msg.frames, msg.identity)
            return None
        return int(text)

    def _barrier(self) -> bool:
        deadline = time.monotonic() + self._timeouts.barrier_s
        while len(self._ready) < self._n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sorted(set(range(self._n)) - self._ready)
                log.error("barrier timed out; nodes never ready: %s", missing)
                return False
            msg = self._sock.receive(min(remaining, self._timeouts.poll_s))
            if msg is None:
                continue
            idx = self._sender(msg)
            if idx is None:
                continue
            if msg.frames[0] != READY:
                self._rejected.add("before_start", msg.frames, msg.identity)
            elif idx in self._ready:
                self._rejected.add("duplicate_ready", msg.frames, msg.identity)
            else:
                self._ready.add(idx)
                log.info("node %d ready (%d/%d)", idx, len(self._ready), self._n)
        for idx in range(self._n):
            self._sock.send(identity_of(idx), START)
        log.info("all %d nodes ready; start sent", self._n)
        return True

    def _handle(self, msg: Received) -> None:
        idx = self._sender(msg)
        if idx is None:
            return
        frame = msg.frames[0]
        if frame == DONE:
            if idx in self._done:
                self._rejected.add("duplicate_done", msg.frames, msg.identity)
            else:
                self._done.add(idx)
                log.info("node %d done (%d/%d)", idx, len(self._done), self._n)
            return
        if frame == ABORT:
            self._fail("node_failed", f"node {idx} aborted: its {self._core.algorithm} algorithm failed "
                                      f"(the error is in node_{idx}.json)")
            return
        if frame in CONTROL_FRAMES:
            self._rejected.add("unexpected_control", msg.frames, msg.identity)
            return
        try:
            replies = self._core.on_message(idx, frame)
        except ProtocolError as err:
            self._rejected.add(err.reason, msg.frames, msg.identity)
            return
        except Exception as err:  # the algorithm itself failed: its state is now unknown, so the run is over
            log.exception("the %s core failed on a frame from node %d", self._core.algorithm, idx)
            self._fail("algorithm_error", f"the {self._core.algorithm} coordinator failed on a {frame_kind(frame)} "
                                          f"frame from node {idx}: {type(err).__name__}: {err}")
            return
        for target, reply in replies:
            self._sock.send(identity_of(target), reply)

    def _serve(self, until: Callable[[], bool], quiet_s: float | None = None) -> CoordinatorStatus:
        """Handle frames until ``until()``; with ``quiet_s``, also stop after that much silence."""
        last_frame = last_report = time.monotonic()
        limit = quiet_s if quiet_s is not None else self._timeouts.idle_s
        while not until() and self._failure is None:
            msg = self._sock.receive(min(self._timeouts.poll_s, limit))
            if msg is not None:
                last_frame = time.monotonic()
                self._handle(msg)
                self._frames += 1
                if last_frame - last_report >= PROGRESS_EVERY_S:
                    last_report = last_frame
                    log.info("%d frames handled, %d/%d nodes done, %d rejected", self._frames, len(self._done),
                             self._n, sum(self._rejected.by_reason.values()))
                continue
            if self._sock.all_gone:
                return "nodes_lost"
            if time.monotonic() - last_frame >= limit:
                return "completed" if quiet_s is not None else "idle_timeout"
        return "completed"

    def run(self) -> CoordinatorResult:
        started = dt.datetime.now(dt.UTC)
        t0 = time.monotonic()
        try:
            status: CoordinatorStatus = "barrier_timeout"
            if self._barrier():
                status = self._serve(lambda: len(self._done) == self._n)
                if status == "completed" and self._core.expects_replies:
                    self._serve(lambda: False, quiet_s=self._timeouts.drain_s)
                if self._failure is not None:
                    status = self._failure[0]
                for idx in sorted(self._ready):
                    self._sock.send(identity_of(idx), BYE)
                self._await_acks()
        finally:
            self._sock.close()
        return self._result(status, started, time.monotonic() - t0)

    def _await_acks(self) -> None:
        """Wait until every ready node acknowledged 'bye' (frames before an ack are booked, not handled)."""
        deadline = time.monotonic() + self._timeouts.bye_ack_s
        while self._acked < self._ready and (remaining := deadline - time.monotonic()) > 0:
            msg = self._sock.receive(min(remaining, self._timeouts.poll_s))
            if msg is None:
                if self._sock.all_gone:
                    break
                continue
            idx = self._sender(msg)
            if idx is not None and msg.frames[0] == BYE_ACK:
                self._acked.add(idx)
        if self._acked < self._ready:
            log.warning("no bye_ack from nodes %s", sorted(self._ready - self._acked))

    def _result(self, status: CoordinatorStatus, started: dt.datetime, wall_s: float) -> CoordinatorResult:
        nodes = [str(i) for i in range(self._n)]
        return CoordinatorResult(
            run=self._run, status=status, error=self._failure[1] if self._failure else None,
            started_at=started.isoformat(), wall_s=round(wall_s, 6), port=self.port,
            nodes_ready=sorted(self._ready), nodes_done=sorted(self._done),
            traffic=TrafficModel.of(self._ledger.total(nodes)),
            traffic_per_node={p: TrafficModel.of(self._ledger.peer(p)) for p in nodes},
            traffic_other_peers=TrafficModel.of(self._ledger.peer(OTHER_PEER)),
            rejected=self._rejected.model(), algorithm_summary=self._core.summary(),
        )
