"""The AutoMon algorithm, from the ``automon`` package (hsivan/automon), behind the same cores as the baseline.

The package is on no registry; the container image installs it from a pip requirement spec given as
the build argument ``AUTOMON_PIP_SPEC``. Without it, :func:`load` raises :class:`AutomonUnavailable`
whose message says exactly that, and the CLI exits before opening any socket.

Interface used (the package's transport-agnostic core, as its own ZeroMQ harness used it):
``AutomonNode(idx, func, domain=, d=)``, ``node.parse_message(frame) -> frame | None`` (data updates
are fed as DATA_UPDATE frames), ``node.state.name``; ``AutomonCoordinator(num_nodes, func,
slack_type=, sync_type=, error_bound=, neighborhood_size=, domain=, d=)``,
``coordinator.parse_message(frame) -> [(node_idx, frame)]``; optional ``dump_stats(folder)``.

Autodiff: the package picks Jax or AutoGrad from ``AUTO_DIFFERENTIATION_TOOL`` and silently falls back
to AutoGrad on modern JAX. We set it to AutoGrad unless the caller chose, build the monitored function
with the matching ``numpy`` namespace, and record the choice.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from . import numpy_compat
from .config import RunConfig
from .constants import (
    AUTODIFF_ENV,
    AUTOMON_BUILD_ARG,
    AUTOMON_PIP_SPEC_EXAMPLE,
    AUTOMON_REFERENCE_COMMIT,
    SLACK_TYPE_DRIFT,
    SYNC_TYPE_LAZY_LRU,
)
from .functions import MonitoredFunction
from .protocol import HEADER_SIZE, DataUpdate, MessageType, ProtocolError, decode_header, encode

log = logging.getLogger(__name__)

# Frames each side may send in AutoMon (anything else is a protocol error).
_NODE_TO_COORDINATOR = {MessageType.VIOLATION, MessageType.LOCAL_VECTOR_INFO}
_COORDINATOR_TO_NODE = {MessageType.GET_LOCAL_VECTOR, MessageType.SYNC, MessageType.LAZY_SYNC}
_WAITING_STATES = {"WaitForSync", "SuspectWaitForSync"}


class AutomonUnavailable(RuntimeError):
    """The automon package (or its autodiff library) cannot be imported."""


def missing_message(cause: BaseException | None = None) -> str:
    because = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return (
        f"--algorithm automon needs the 'automon' package, which is not importable here{because}. "
        f"It is on no package registry: build the image with "
        f"--build-arg {AUTOMON_BUILD_ARG}='{AUTOMON_PIP_SPEC_EXAMPLE}' "
        f"(the reference used commit {AUTOMON_REFERENCE_COMMIT}; pin the full SHA), "
        f"or outside a container run: pip install '{AUTOMON_PIP_SPEC_EXAMPLE}'. "
        f"The centralization baseline needs nothing extra: --algorithm centralization."
    )


@dataclass(frozen=True)
class AutomonApi:
    node_class: Any
    coordinator_class: Any
    slack_type: Any
    sync_type: Any
    xp: ModuleType  # numpy namespace the package differentiates (autograd.numpy or jax.numpy)
    autodiff: str
    version: str


def _autodiff_choice() -> str:
    choice = os.environ.setdefault(AUTODIFF_ENV, "AutoGrad")  # set before automon reads it at import
    if choice not in ("Jax", "AutoGrad"):
        raise AutomonUnavailable(f"{AUTODIFF_ENV} must be Jax or AutoGrad, not {choice!r}")
    return choice


def _autodiff_numpy(choice: str) -> ModuleType:
    if choice == "Jax":
        jax = importlib.import_module("jax")
        jax.config.update("jax_enable_x64", True)
        return importlib.import_module("jax.numpy")
    return importlib.import_module("autograd.numpy")


def load() -> AutomonApi:
    """Import the package and its autodiff library, or raise :class:`AutomonUnavailable`."""
    autodiff = _autodiff_choice()
    restored = numpy_compat.apply()  # before the import: the package binds numpy at import time
    if restored:
        log.info("NumPy 2 compatibility: restored numpy.%s for the automon package", ", numpy.".join(restored))
    try:
        package = importlib.import_module("automon")
        api = AutomonApi(package.AutomonNode, package.AutomonCoordinator, package.SlackType, package.SyncType,
                         _autodiff_numpy(autodiff), autodiff, str(getattr(package, "__version__", "unknown")))
    except Exception as err:  # ImportError, or an API that is not the one we drive
        raise AutomonUnavailable(missing_message(err)) from err
    log.info("automon %s with %s", api.version, api.autodiff)
    return api


def sync_reference_value(frame: bytes, d: int) -> float:
    """f(x0) of a SYNC frame: the midpoint of its thresholds (the package sets them to f(x0) -+ error bound).

    AutoMon's SYNC payload starts like the base one: u32 version, x0 and slack (d doubles each), then the
    lower and upper thresholds; what follows (neighbourhood size, DC type and argument) is not read.
    """
    offset = HEADER_SIZE + 4 + 16 * d
    l_thresh, u_thresh = np.frombuffer(frame, dtype=">f8", count=2, offset=offset)
    return float((l_thresh + u_thresh) / 2)


def _checked(frame: bytes, allowed: set[MessageType], expected_idx: int | None) -> None:
    header, _ = decode_header(frame)
    if header.type not in allowed:
        raise ProtocolError("unexpected_type", f"{header.type.name} is not sent in this direction")
    if expected_idx is not None and header.node_idx != expected_idx:
        raise ProtocolError("node_mismatch", f"header names node {header.node_idx}, expected {expected_idx}")


class _LastError(logging.Handler):
    """Keeps the last ERROR record's message (the package's reason for a bare ``raise Exception``)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()


class AutomonCoordinatorCore:
    algorithm = "automon"
    expects_replies = True  # a sync in flight at the end still has answers to collect

    def __init__(self, api: AutomonApi, cfg: RunConfig, func: MonitoredFunction,
                 stats_dir: Path | None = None) -> None:
        nt = cfg.node_type
        self._coordinator = api.coordinator_class(
            cfg.num_nodes, func, slack_type=api.slack_type(SLACK_TYPE_DRIFT), sync_type=api.sync_type(SYNC_TYPE_LAZY_LRU),
            error_bound=cfg.error_bound, neighborhood_size=cfg.neighborhood_size, domain=nt.domain, d=cfg.d)
        self._api = api
        self._d = cfg.d
        self._stats_dir = stats_dir
        self._handled = 0
        self._emitted: dict[str, int] = {}
        self._t0 = time.monotonic()
        self.full_syncs: list[dict[str, float]] = []
        self._package_errors = _LastError()
        logging.getLogger(api.coordinator_class.__module__.split(".")[0]).addHandler(self._package_errors)

    def on_message(self, node_idx: int, frame: bytes) -> list[tuple[int, bytes]]:
        _checked(frame, _NODE_TO_COORDINATOR, node_idx)
        t = time.monotonic()
        self._package_errors.message = None
        try:
            out = [(int(idx), bytes(msg)) for idx, msg in (self._coordinator.parse_message(frame) or [])]
        except Exception as err:
            if str(err) or self._package_errors.message is None:
                raise
            # the package logs its reason, then raises a bare Exception: put the reason in the error
            raise RuntimeError(f"automon: {self._package_errors.message}") from err
        took = time.monotonic() - t
        self._handled += 1
        syncs = []
        for _, msg in out:
            kind = MessageType(decode_header(msg)[0].type).name
            self._emitted[kind] = self._emitted.get(kind, 0) + 1
            if kind == "SYNC":
                syncs.append(msg)
        if syncs:  # a full sync: every node gets the new reference point x0 and thresholds
            self.full_syncs.append({"at_s": round(t - self._t0, 6), "duration_s": round(took, 6),
                                    "f_x0": sync_reference_value(syncs[0], self._d)})
        return out

    def summary(self) -> dict[str, Any]:
        if self._stats_dir is not None and hasattr(self._coordinator, "dump_stats"):
            self._stats_dir.mkdir(parents=True, exist_ok=True)
            self._coordinator.dump_stats(str(self._stats_dir))
        durations = [s["duration_s"] for s in self.full_syncs]
        return {"automon_version": self._api.version, "autodiff": self._api.autodiff,
                "messages_handled": self._handled, "messages_emitted": dict(sorted(self._emitted.items())),
                "full_sync_history": self.full_syncs, "full_sync_max_s": max(durations, default=None)}


class AutomonNodeCore:
    algorithm = "automon"

    def __init__(self, api: AutomonApi, cfg: RunConfig, node_idx: int, func: MonitoredFunction) -> None:
        self.node_idx = node_idx
        self._node = api.node_class(node_idx, func, domain=cfg.node_type.domain, d=cfg.d)
        self._api = api
        self.tick = 0
        self.data_updates = 0
        self.violations_sent = 0
        self.replies_sent = 0
        self.full_sync_ticks: list[int] = []  # the tick during which each full sync (SYNC) arrived
        self.full_sync_max_s = 0.0  # longest time the package took to apply a full sync here

    def on_tick(self, tick: int) -> None:
        self.tick = tick

    def on_local_vector(self, vector: np.ndarray) -> bytes | None:
        self.data_updates += 1
        out = self._node.parse_message(encode(DataUpdate(self.node_idx, vector)))
        if out:
            self.violations_sent += 1
            return bytes(out)
        return None

    def on_message(self, frame: bytes) -> bytes | None:
        _checked(frame, _COORDINATOR_TO_NODE, None)
        t = time.monotonic()
        out = self._node.parse_message(frame)
        if decode_header(frame)[0].type is MessageType.SYNC:
            self.full_sync_ticks.append(self.tick)
            self.full_sync_max_s = max(self.full_sync_max_s, time.monotonic() - t)
        if out:
            self.replies_sent += 1
            return bytes(out)
        return None

    def waiting_for_sync(self) -> bool:
        state = getattr(self._node, "state", None)
        return getattr(state, "name", None) in _WAITING_STATES

    def summary(self) -> dict[str, Any]:
        return {"automon_version": self._api.version, "autodiff": self._api.autodiff,
                "data_updates": self.data_updates, "violations_sent": self.violations_sent,
                "replies_sent": self.replies_sent, "full_sync_ticks": list(self.full_sync_ticks)}
