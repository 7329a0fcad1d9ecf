"""Cancellation: the execution, each Map iteration set and each Parallel branch set is a Scope; stopping
a scope stops everything below it, and wakes whatever is waiting inside it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from localcloud.sfn.errors import Cancelled


class Scope:
    def __init__(self, parent: Scope | None = None) -> None:
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._children: set[Scope] = set()
        self._waiters: set[threading.Event] = set()
        self._parent = parent
        if parent is not None:
            parent._adopt(self)

    def _adopt(self, child: Scope) -> None:
        with self._lock:
            self._children.add(child)
            cancelled = self._cancelled.is_set()
        if cancelled:
            child.cancel()

    def child(self) -> Scope:
        return Scope(self)

    def close(self) -> None:
        """Forget this scope in its parent once its work is over (long Maps make many)."""
        if self._parent is not None:
            with self._parent._lock:
                self._parent._children.discard(self)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled.set()
            children, waiters = list(self._children), list(self._waiters)
        for waiter in waiters:
            waiter.set()
        for child in children:
            child.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled()

    @contextmanager
    def wakes(self, event: threading.Event) -> Iterator[None]:
        """Within the block, cancelling this scope also sets `event` (so a wait on it returns)."""
        with self._lock:
            self._waiters.add(event)
            cancelled = self._cancelled.is_set()
        if cancelled:
            event.set()
        try:
            yield
        finally:
            with self._lock:
                self._waiters.discard(event)

    def sleep(self, seconds: float) -> None:
        """Sleep unless cancelled first (then raise Cancelled)."""
        if seconds > 0:
            self._cancelled.wait(seconds)
        self.check()
