"""A node process: connect, ready/start barrier, stream local vectors, done, answer until bye, bye_ack.

If the algorithm raises (on a local vector or on a coordinator frame) the node stops at once with
status ``algorithm_error`` and the exception in ``error``, and tells the coordinator with ``abort``;
only frames that break the protocol are counted and dropped (``rejected_from_coordinator``).

The algorithm lives in a core object (centralization or AutoMon) that turns a local vector into an
optional frame for the coordinator and answers the coordinator's frames. One thread and one DEALER:
between two paced updates the node serves the coordinator's requests.

Pacing:
- ``paced=False`` (centralization): send, then sleep ``send_interval_s``, as the original baseline did;
- ``paced=True`` (AutoMon): tick ``k`` ends at ``first_update_delay + (k-1)*ls_latency`` seconds after
  start, plus ``fs_latency - ls_latency`` per full sync detected (single-sample-per-round types only,
  as in the original harness).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .accounting import TrafficLedger
from .protocol import ABORT, BYE, BYE_ACK, DONE, READY, START, ProtocolError
from .results import NodeResult, NodeStatus, RunInfo, TrafficModel
from .transport import COORDINATOR_PEER, CoordinatorLost, NodeSocket

log = logging.getLogger(__name__)


class NodeCore(Protocol):
    algorithm: str

    def on_tick(self, tick: int) -> None: ...

    def on_local_vector(self, vector: np.ndarray) -> bytes | None: ...

    def on_message(self, frame: bytes) -> bytes | None: ...

    def waiting_for_sync(self) -> bool: ...

    def summary(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class NodePacing:
    paced: bool
    send_interval_s: float = 0.0
    first_update_delay_s: float = 0.0
    ls_latency_s: float = 0.0
    fs_latency_s: float = 0.0
    count_full_syncs: bool = False  # only single-sample-per-round types stretch the clock on full sync


@dataclass(frozen=True)
class NodeTimeouts:
    start_s: float = 600.0  # wait this long for 'start' after 'ready'
    bye_s: float = 600.0  # after 'done', wait this long for 'bye' (serving requests meanwhile)
    send_s: float = 60.0  # a send blocked this long (queue full) means the coordinator is gone


DEFAULT_NODE_TIMEOUTS = NodeTimeouts()


class Node:
    def __init__(self, core: NodeCore, run: RunInfo, node_idx: int, host: str, port: int,
                 pacing: NodePacing, timeouts: NodeTimeouts = DEFAULT_NODE_TIMEOUTS, progress_every: int = 0) -> None:
        self._core = core
        self._run = run
        self._idx = node_idx
        self._pacing = pacing
        self._timeouts = timeouts
        self._ledger = TrafficLedger()
        self._sock = NodeSocket(host, port, node_idx, self._ledger, send_timeout_s=timeouts.send_s,
                                latency_s=run.link_latency_s)
        self._progress_every = progress_every
        self.local_vectors = 0
        self.rejected: dict[str, int] = {}
        self.error: str | None = None

    def _answer(self, frame: bytes) -> bool:
        """Handle one frame from the coordinator; True if it was 'bye'."""
        if frame == BYE:
            return True
        if frame == START:
            self._reject("duplicate_start")
            return False
        try:
            reply = self._core.on_message(frame)
        except ProtocolError as err:
            self._reject(err.reason)
            return False
        if reply:
            self._sock.send(reply)
        return False

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        log.warning("node %d: rejected a frame from the coordinator: %s", self._idx, reason)

    def _serve_until(self, deadline: float) -> bool:
        """Answer the coordinator until ``deadline`` (monotonic); True if 'bye' came first."""
        while True:
            remaining = deadline - time.monotonic()
            frame = self._sock.receive(min(max(remaining, 0.0), 1.0))
            if frame is not None:
                if self._answer(frame):
                    return True
                continue
            self._sock.check()  # only once the queue is empty: a 'bye' may precede the disconnect
            if remaining <= 0:
                return False

    def _wait_start(self) -> bool:
        deadline = time.monotonic() + self._timeouts.start_s
        while (remaining := deadline - time.monotonic()) > 0:
            frame = self._sock.receive(min(remaining, 1.0))
            if frame == START:
                return True
            if frame is not None:
                self._reject("before_start")
        return False

    def _stream(self, vectors: Iterable[np.ndarray | None], t_start: float) -> bool:
        """Feed every local vector; True if 'bye' arrived early (coordinator ended the run)."""
        p = self._pacing
        ticks = full_syncs = 0
        for vector in vectors:
            ticks += 1
            self._core.on_tick(ticks)
            if vector is not None:
                self.local_vectors += 1
                frame = self._core.on_local_vector(vector)
                if frame:
                    self._sock.send(frame)
                if self._progress_every and self.local_vectors % self._progress_every == 0:
                    log.info("node %d: %d local vectors", self._idx, self.local_vectors)
            if not p.paced:
                if vector is not None and p.send_interval_s > 0:
                    time.sleep(p.send_interval_s)
                if ticks % 100 == 0:
                    self._sock.check()  # a coordinator that gave up must not leave us filling a queue
                continue
            deadline = t_start + p.first_update_delay_s + (ticks - 1) * p.ls_latency_s
            if self._serve_until(deadline + full_syncs * (p.fs_latency_s - p.ls_latency_s)):
                return True
            if p.count_full_syncs and self._core.waiting_for_sync():
                full_syncs += 1
                log.info("node %d: full sync detected after %d ticks", self._idx, ticks)
                if self._serve_until(deadline + full_syncs * (p.fs_latency_s - p.ls_latency_s)):
                    return True
        return False

    def _session(self, vectors: Iterable[np.ndarray | None]) -> NodeStatus:
        self._sock.send(READY)
        if not self._wait_start():
            return "start_timeout"
        log.info("node %d: started", self._idx)
        if self._stream(vectors, time.monotonic()):
            status: NodeStatus = "stopped_by_coordinator"
        else:
            self._sock.send(DONE)
            if not self._serve_until(time.monotonic() + self._timeouts.bye_s):
                return "bye_timeout"
            status = "completed"
        self._sock.send(BYE_ACK)  # the coordinator closes once every node sent this (see coordinator.py)
        return status

    def run(self, vectors: Iterable[np.ndarray | None]) -> NodeResult:
        started = dt.datetime.now(dt.UTC)
        t0 = time.monotonic()
        status: NodeStatus = "start_timeout"
        try:
            status = self._session(vectors)
        except CoordinatorLost as err:
            log.error("node %d: %s", self._idx, err)
            status = "coordinator_lost"
        except Exception as err:  # the algorithm failed: never carry on with a state we do not know
            log.exception("node %d: the %s algorithm failed", self._idx, self._core.algorithm)
            status, self.error = "algorithm_error", f"{type(err).__name__}: {err}"
            self._sock.send_nowait(ABORT)
        finally:
            self._sock.close(flush=status not in ("coordinator_lost", "start_timeout"))
        summary = {**self._core.summary(), "rejected_from_coordinator": dict(sorted(self.rejected.items()))}
        return NodeResult(run=self._run, node_idx=self._idx, status=status, error=self.error,
                          started_at=started.isoformat(), wall_s=round(time.monotonic() - t0, 6),
                          local_vectors=self.local_vectors,
                          traffic=TrafficModel.of(self._ledger.peer(COORDINATOR_PEER)), algorithm_summary=summary)
