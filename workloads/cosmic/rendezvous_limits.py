"""Operating-system limits of the rendezvous server: file descriptors, and what happens when they run out.

Every connection holds one file descriptor, and the usual soft limit is 1,024: a server configured for
10,000 connections would run out long before its own cap, and asyncio then logs a traceback for every
failed accept (tens of thousands a second) while pairing stops. So the server raises its soft limit to
what it needs (at most the hard limit), keeps its connection cap below the limit it got, and counts
accept failures instead of logging each one.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from typing import Any

from workloads.cosmic import jsonlog
from workloads.cosmic.constants import FD_RESERVE

log = logging.getLogger("cosmic.rendezvous")

_ACCEPT_FAILED = "socket.accept() out of system resource"


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (never above the hard limit, never lower it);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # e.g. a container whose hard limit changed under us: keep what we have
            return soft
        return target
    return soft


def fit_connections(max_connections: int, fd_limit: int) -> int:
    """The connection cap that fits under `fd_limit`, with a warning when it had to shrink."""
    usable = max(2, fd_limit - FD_RESERVE)
    if fd_limit == resource.RLIM_INFINITY or max_connections <= usable:
        return max_connections
    jsonlog.log_event(
        log, logging.WARNING, "max_connections lowered to fit the file-descriptor limit",
        requested=max_connections, max_connections=usable, fd_limit=fd_limit,
        hint="raise the hard limit (ulimit -Hn, or the container's nofile ulimit)",
    )
    return usable


class AcceptErrorFilter:
    """An event-loop exception handler that turns asyncio's per-accept EMFILE tracebacks into a counter
    and one warning per `every_s`; every other error goes to the handler that was there before."""

    def __init__(self, count: Callable[[], None], every_s: float = 10.0) -> None:
        self._count, self._every_s = count, every_s
        self._previous: Callable[[Any, dict], None] | None = None
        self._last_warning = float("-inf")
        self._suppressed = 0

    def install(self, loop: Any) -> None:
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self)

    def __call__(self, loop: Any, context: dict) -> None:
        if context.get("message") != _ACCEPT_FAILED:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self._count()
        now = time.monotonic()
        if now - self._last_warning < self._every_s:
            self._suppressed += 1
            return
        error = context.get("exception")
        jsonlog.log_event(log, logging.WARNING, "accept failed: out of file descriptors or memory",
                          error=repr(error), similar_since_last_warning=self._suppressed)
        self._last_warning, self._suppressed = now, 0
