"""The execution's event history, shaped like GetExecutionHistory, and the progress hook."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

_UNSET: Any = object()


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    previous_event_id: int
    type: str  # AWS event type names: ExecutionStarted, TaskStateEntered, TaskScheduled, MapIterationStarted...
    timestamp: datetime
    state_name: str | None = None
    input: Any = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # resource, resourceType, index, length, ...

    @property
    def is_state_entered(self) -> bool:
        return self.type.endswith("StateEntered")

    @property
    def is_state_exited(self) -> bool:
        return self.type.endswith("StateExited")


class Trail:
    """One thread of control (the run, a branch, an iteration): links each event to the one before it."""

    def __init__(self, last: int = 0) -> None:
        self.last = last


class History:
    def __init__(self, on_event: Callable[[HistoryEvent], None] | None = None) -> None:
        self._events: list[HistoryEvent] = []
        self._lock = threading.Lock()
        self._on_event = on_event

    def add(self, trail: Trail, event_type: str, *, state_name: str | None = None, input: Any = _UNSET,
            output: Any = _UNSET, error: str | None = None, cause: str | None = None, **details: Any) -> HistoryEvent:
        with self._lock:
            event = HistoryEvent(
                id=len(self._events) + 1,
                previous_event_id=trail.last,
                type=event_type,
                timestamp=datetime.now(UTC),
                state_name=state_name,
                input=None if input is _UNSET else copy.deepcopy(input),
                output=None if output is _UNSET else copy.deepcopy(output),
                error=error,
                cause=cause,
                details=details,
            )
            self._events.append(event)
            trail.last = event.id
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a broken progress display must not break the execution
                log.exception("on_event hook failed for %s", event_type)
        return event

    def snapshot(self) -> list[HistoryEvent]:
        with self._lock:
            return list(self._events)
