"""A stand-in for the ``automon`` package (hsivan/automon is on no registry and not installed here).

It implements the interface our backend drives, in the real wire format, and behaves like the package
where our runtime depends on it:
- nodes report a Violation when their drift-corrected vector leaves [l, u], then wait for a sync;
- the coordinator resolves violations lazily first (LazySync to the violating nodes when their vectors
  together are inside the thresholds, else it asks more nodes, LRU-free: lowest index first) and falls
  back to a full sync (GetLocalVector to the rest, then Sync to all) past half the nodes;
- the lazy step calls ``np.alltrue`` as the package does, so on NumPy 2 it raises AttributeError unless
  our compatibility alias is in place;
- a node waiting for a sync ignores GetLocalVector (its Violation carried the vector);
- a second Violation from a node whose first is still pending raises, as the package's does.
``Coordinator.full_sync_delay_s`` makes every full sync that much slower (a costly autodiff step).
"""

from __future__ import annotations

import enum
import sys
import time
import types

import numpy as np

from workloads.automon import protocol as p


class State(enum.Enum):
    Monitoring = 0
    WaitForSync = 1


class Node:
    def __init__(self, idx, func, domain=None, d=None):
        self.idx, self.func, self.d = idx, func, d
        self.x = None
        self.slack = np.zeros(d)
        self.l_thresh = self.u_thresh = None
        self.version = 0
        self.state = State.Monitoring

    def _inside(self) -> bool:
        return self.l_thresh is not None and self.l_thresh <= float(self.func(self.x - self.slack)) <= self.u_thresh

    def parse_message(self, frame):
        msg = p.decode(frame, self.d)
        if isinstance(msg, p.DataUpdate):
            self.x = msg.data_point
            if self.state is State.Monitoring and not self._inside():
                self.state = State.WaitForSync
                return p.encode(p.Violation(self.idx, self.version, p.ViolationOrigin.SAFE_ZONE, self.x))
            return None
        if isinstance(msg, p.GetLocalVector):
            if self.state is State.WaitForSync:
                return None  # its violation already carried the vector (the package ignores the request too)
            return p.encode(p.LocalVectorInfo(self.idx, msg.constraint_version, self.x))
        if isinstance(msg, p.Sync):
            self.slack, self.l_thresh, self.u_thresh = msg.node_slack, msg.l_thresh, msg.u_thresh
        elif isinstance(msg, p.LazySync):
            self.slack = msg.node_slack
        else:
            raise AssertionError(msg)
        self.version, self.state = msg.constraint_version, State.Monitoring
        return None


class Coordinator:
    full_sync_delay_s = 0.0

    def __init__(self, num_nodes, func, slack_type, sync_type, error_bound, neighborhood_size, domain, d):
        assert slack_type.value == 1 and sync_type.value == 2 and error_bound > 0
        self.n, self.func, self.d, self.eb = num_nodes, func, d, error_bound
        self.x = np.zeros((num_nodes, d))
        self.slack = np.zeros((num_nodes, d))
        self.updated = np.zeros(num_nodes, dtype=bool)  # local vector known in this round
        self.violation = np.zeros(num_nodes, dtype=bool)
        self.violation_prev = self.violation.copy()
        self.asked: set[int] = set()
        self.version = np.zeros(num_nodes, dtype=int)
        self.synced_once = False
        self.l_thresh = self.u_thresh = None

    def parse_message(self, frame):
        msg = p.decode(frame, self.d)
        i = msg.node_idx
        if msg.constraint_version != self.version[i]:
            return []  # an old round's message, as the package ignores it
        if isinstance(msg, p.Violation):
            if self.violation[i]:
                raise Exception(f"violation from node {i} while one is pending")
            self.violation[i] = True
        self.asked.discard(i)  # a Violation answers a request too: it carries the vector
        self.x[i], self.updated[i] = msg.local_vector, True
        return [] if self.asked else self._resolve()

    def _ask(self, nodes):
        self.asked.update(int(j) for j in nodes)
        return [(int(j), p.encode(p.GetLocalVector(int(j), int(self.version[j])))) for j in nodes]

    def _resolve(self):
        if not self.synced_once or self.updated.sum() > self.n // 2:
            missing = np.flatnonzero(~self.updated)
            return self._ask(missing) if len(missing) else self._full_sync()
        # the package's lazy step starts with this test (np.alltrue: NumPy 1 only)
        if not np.alltrue(self.violation_prev == self.violation):
            self.violation_prev = self.violation.copy()
        s = np.flatnonzero(self.updated)
        point = np.mean(self.x[s] - self.slack[s], axis=0)
        if len(s) > 1 and self.l_thresh <= float(self.func(point)) <= self.u_thresh:
            return self._lazy_sync(s, point)
        return self._ask(np.flatnonzero(~self.updated)[:1])

    def _end_round(self, nodes):
        self.version[nodes] += 1
        self.violation[:] = False
        self.violation_prev = self.violation.copy()
        self.updated[:] = False

    def _lazy_sync(self, s, point):
        self.slack[s] = self.x[s] - point
        self._end_round(s)
        return [(int(j), p.encode(p.LazySync(int(j), int(self.version[j]), self.slack[j]))) for j in s]

    def _full_sync(self):
        time.sleep(self.full_sync_delay_s)
        x0 = self.x.mean(axis=0)
        f0 = float(self.func(x0))
        self.l_thresh, self.u_thresh = f0 - self.eb, f0 + self.eb
        self.slack = self.x - x0
        self.synced_once = True
        everyone = np.arange(self.n)
        self._end_round(everyone)
        return [(int(j), p.encode(p.Sync(int(j), int(self.version[j]), x0, self.slack[j], self.l_thresh,
                                         self.u_thresh))) for j in everyone]


def install(monkeypatch) -> types.ModuleType:
    """Make ``import automon`` (and ``autograd.numpy``) give this stand-in for the test's duration."""
    package = types.ModuleType("automon")
    package.AutomonNode, package.AutomonCoordinator = Node, Coordinator
    package.SlackType = enum.IntEnum("SlackType", {"NoSlack": 0, "Drift": 1})
    package.SyncType = enum.IntEnum("SyncType", {"Eager": 0, "LazyRandom": 1, "LazyLRU": 2})
    package.__version__ = "stand-in"
    monkeypatch.setitem(sys.modules, "automon", package)
    monkeypatch.setitem(sys.modules, "autograd", types.ModuleType("autograd"))
    monkeypatch.setitem(sys.modules, "autograd.numpy", np)  # the functions only need numpy's API here
    monkeypatch.setattr(Coordinator, "full_sync_delay_s", 0.0)
    return package
