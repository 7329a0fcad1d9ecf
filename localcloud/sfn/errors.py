"""ASL error names and the exception that carries an error through the interpreter."""

from __future__ import annotations

from typing import Any

ALL = "States.ALL"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
RUNTIME = "States.Runtime"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"

# AWS: "States.ALL ... cannot catch the States.DataLimitExceeded terminal error or Runtime error types";
# a States.Runtime error is not retriable and always fails the execution.
UNCATCHABLE = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})


class StatesError(Exception):
    """An error as Step Functions reports it: a name that Retry/Catch match on, and a cause. The name is
    None only for a Fail state without Error/ErrorPath: AWS then reports no error at all."""

    def __init__(self, error: str | None, cause: str | None = None) -> None:
        super().__init__(": ".join(part for part in (error, cause) if part) or "(no error)")
        self.error = error
        self.cause = cause

    def as_output(self) -> dict[str, Any]:
        """The error object a Catch hands to its ResultPath: {"Error": ..., "Cause": ...}."""
        out: dict[str, Any] = {}
        if self.error is not None:
            out["Error"] = self.error
        if self.cause is not None:
            out["Cause"] = self.cause
        return out


class Cancelled(BaseException):  # noqa: N818 - control flow, not an error; BaseException so no handler swallows it
    """Raised inside a branch whose execution was stopped, timed out, or whose sibling failed."""


class DefinitionError(ValueError):
    """The definition is invalid, or uses something this local runner does not implement (said up front)."""


def matches(error: str | None, error_equals: list[str]) -> bool:
    """Whether a Retrier's or Catcher's ErrorEquals covers an error name (AWS matching rules)."""
    if error in UNCATCHABLE:
        return False
    for name in error_equals:
        if name in (error, ALL):
            return True
        # States.TaskFailed is a wildcard for every error except timeouts
        if name == TASK_FAILED and error not in (TIMEOUT, HEARTBEAT_TIMEOUT):
            return True
        # a heartbeat timeout is also a States.Timeout
        if name == TIMEOUT and error == HEARTBEAT_TIMEOUT:
            return True
    return False
